/* kernels/quantize_rowwise.cu — rowwise NVFP4 1x16 and MXFP4 1x32 quantization of a device view
 * x [rows, cols] (F32 or BF16, row stride ld) into data [rows, cols/2] and scales [rows, cols/B].
 * Used when only the rowwise copy with 1-D blocks is requested; 16x16 blocks and columnwise
 * copies go through kernels/quantize_tiled.cu.
 *
 * NVFP4: the tensor amax comes from the amax pass (kernels/amax.cu) as per-CTA partials; every
 * CTA reduces them (<= 4 per SM, a few KB from L2), derives S_enc/S_dec with the shared inline
 * helpers, and CTA 0 publishes {amax, S_enc, S_dec} to tscale_dev and the host block. In strict
 * mode a set nonfinite flag makes every CTA return before writing anything.
 * MXFP4: no tensor scale; each CTA emits a partial {amax, nonfinite} of what it read and
 * amax_finalize_kernel publishes it (amax is informational for MXFP4).
 *
 * Versions (llm.c style, both kept for the benchmark):
 *   1  quantize_rowwise_kernel1: one thread per block, flat index divided per block, scalar loads.
 *   2  quantize_rowwise_kernel2: persistent grid sized by the occupancy calculator; each thread
 *      owns K blocks per iteration (BF16 1x16: 4 blocks = 8 x 16-byte loads, all issued before
 *      use), walked from the end of the tensor backwards (L2 reuse of the amax pass's tail),
 *      (row, block) advanced incrementally, 8-byte (NVFP4) / 16-byte (MXFP4) code stores,
 *      coalesced across the warp because consecutive threads own consecutive blocks of a row;
 *      NVFP4 enc_b looked up in a per-CTA table of fp4_nvfp4_block_enc over the 256 scale bytes.
 * SR: one fp4_sr_block16 call per 16 outputs; 16-group index = (r*cols + c)/16 of the output. */
#include "quantize_common.cuh"

template <typename T, int FMT, bool SR>
__device__ __forceinline__ void rowwise_block(const float *v, int64_t r, int64_t b, float s_enc, float s_dec,
                                              const fp4q_args &a, float &tmax, uint32_t &tflag) {
    constexpr int BW = FMT == FP4Q_MX32 ? 32 : 16;
    float am = 0.0f;
#pragma unroll
    for (int i = 0; i < BW; i++) am = fp4_amax_step(am, v[i]);
    const uint64_t group = ((uint64_t)r * (uint64_t)a.cols + (uint64_t)b * BW) >> 4;
    const int64_t nb = a.cols / BW;
    uint8_t sb;
    if (FMT == FP4Q_MX32) {
        const uint4 o = fp4q_mx_block<SR>(v, am, a.mx_ocp, a.seed, a.stream, group, &sb);
        *reinterpret_cast<uint4 *>(a.row_data + r * (a.cols / 2) + b * 16) = o;
        tmax = fp4_amax_step(tmax, am);
        if (a.strict) {
#pragma unroll
            for (int i = 0; i < BW; i++) tflag |= fp4q_nonfinite(v[i]);
        }
    } else {
        const uint2 o = fp4q_nv_block<SR>(v, am, s_enc, s_dec, a.seed, a.stream, group, &sb);
        *reinterpret_cast<uint2 *>(a.row_data + r * (a.cols / 2) + b * 8) = o;
    }
    a.row_scales[r * nb + b] = sb;
}

/* Prologue shared by both versions. NVFP4: reduce the amax partials and publish; returns 0 if
 * the CTA must stop (strict mode and a non-finite input). */
template <int FMT>
__device__ __forceinline__ int rowwise_prologue(const fp4q_args &a, float &s_enc, float &s_dec, uint2 *scratch) {
    s_enc = 1.0f;
    s_dec = 1.0f;
    if (FMT == FP4Q_MX32) return 1;
    float amax;
    uint32_t flag;
    fp4q_reduce_partials(a.partials_in, a.n_partials_in, amax, flag, scratch);
    s_enc = fp4_nvfp4_global_enc(amax);
    s_dec = fp4_nvfp4_global_dec(s_enc);
    fp4q_publish(a, amax, s_enc, s_dec, flag);
    return !(a.strict && flag);
}

template <int FMT>
__device__ __forceinline__ void rowwise_epilogue(const fp4q_args &a, float tmax, uint32_t tflag, uint2 *scratch) {
    if (FMT != FP4Q_MX32) return;
    fp4q_cta_reduce(tmax, tflag, scratch);
    if (threadIdx.x == 0) a.partials_out[blockIdx.x] = make_uint2(fp4_f32_bits(tmax), tflag);
}

/* version 1: the straightforward port of the reference loop */
template <typename T, int FMT, bool SR>
__global__ void __launch_bounds__(FP4Q_THREADS) quantize_rowwise_kernel1(const T *__restrict__ x, fp4q_args a) {
    __shared__ uint2 scratch[32];
    constexpr int BW = FMT == FP4Q_MX32 ? 32 : 16;
    float s_enc, s_dec;
    if (!rowwise_prologue<FMT>(a, s_enc, s_dec, scratch)) return;
    const int64_t nb = a.cols / BW, total = a.rows * nb;
    float tmax = 0.0f;
    uint32_t tflag = 0u;
    for (int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; g < total; g += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = g / nb, b = g % nb;
        float v[BW];
        for (int i = 0; i < BW; i++) v[i] = fp4q_to_f32(x[r * a.ld + b * BW + i]);
        rowwise_block<T, FMT, SR>(v, r, b, s_enc, s_dec, a, tmax, tflag);
    }
    rowwise_epilogue<FMT>(a, tmax, tflag, scratch);
}

/* version 2 (the fast one): persistent grid; each thread owns K blocks per iteration (K*BW
 * elements = 128 bytes of BF16 1x16 input, 8 x 16-byte loads) and issues all of their loads before
 * using any, so a resident warp keeps ~4 KB in flight. Block k of a thread is S = gridDim*blockDim
 * blocks after block k-1, so each load instruction of a warp covers 32 consecutive blocks
 * (coalesced). The walk goes from the END of the tensor backwards: the amax pass walks forwards,
 * so the tail it read last is still in L2 when this pass starts there.
 * NVFP4: enc_b depends only on the scale byte once S_dec is known, so each CTA tabulates
 * fp4_nvfp4_block_enc for all 256 bytes in shared memory (the IEEE division runs 256 times per CTA
 * instead of once per block); the block amax is a NaN-ignoring fmaxf tree (== fp4_amax_step). */
template <typename T>
__device__ __forceinline__ uint4 rw_load16(const T *p, int vec) {
    if (vec) return __ldg(reinterpret_cast<const uint4 *>(p));
    constexpr int PER = 16 / (int)sizeof(T);
    uint32_t w[4] = {0u, 0u, 0u, 0u};
#pragma unroll
    for (int i = 0; i < PER; i++) {
        if (sizeof(T) == 4) w[i] = fp4_f32_bits(fp4q_to_f32(p[i]));
        else w[i >> 1] |= (uint32_t)reinterpret_cast<const uint16_t *>(p)[i] << (16 * (i & 1));
    }
    return make_uint4(w[0], w[1], w[2], w[3]);
}

template <typename T, int FMT, bool SR>
__global__ void __launch_bounds__(FP4Q_THREADS) quantize_rowwise_kernel2(const T *__restrict__ x, fp4q_args a) {
    __shared__ uint2 scratch[32];
    __shared__ float enc_tab[256];
    static_assert(FP4Q_THREADS == 256, "one enc_tab entry per thread");
    constexpr int BW = FMT == FP4Q_MX32 ? 32 : 16;
    constexpr int PER = 16 / (int)sizeof(T);
    constexpr int LPB = BW / PER;                 /* 16-byte loads per block: 2, 4 or 8 */
    constexpr int K = LPB >= 8 ? 1 : 8 / LPB;     /* blocks per thread per iteration */
    float s_enc, s_dec;
    if (!rowwise_prologue<FMT>(a, s_enc, s_dec, scratch)) return;
    if (FMT != FP4Q_MX32) {
        enc_tab[threadIdx.x] = fp4_nvfp4_block_enc((uint8_t)threadIdx.x, s_dec);
        __syncthreads();
    }
    const int64_t nb = a.cols / BW, total = a.rows * nb;
    const int64_t S = (int64_t)gridDim.x * blockDim.x;
    const int64_t sq = S / nb, sb = S % nb;
    int64_t L = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t r = 0, b = 0;
    if (L < total) { const int64_t P = total - 1 - L; r = P / nb; b = P % nb; }
    float tmax = 0.0f;
    uint32_t tflag = 0u;
    for (; L < total; L += (int64_t)K * S) {
        uint4 q[K][LPB];
        int64_t rk[K], bk[K];
#pragma unroll
        for (int k = 0; k < K; k++) {
            rk[k] = r;
            bk[k] = b;
            if (L + (int64_t)k * S < total) {
                const T *p = x + r * a.ld + b * BW;
#pragma unroll
                for (int j = 0; j < LPB; j++) q[k][j] = rw_load16<T>(p + j * PER, a.vec);
            }
            r -= sq;
            b -= sb;
            if (b < 0) { b += nb; r--; }
        }
#pragma unroll
        for (int k = 0; k < K; k++) {
            if (L + (int64_t)k * S >= total) break;
            float v[BW];
#pragma unroll
            for (int j = 0; j < LPB; j++) fp4q_unpack(q[k][j], v + j * PER, T());
            const float am = fp4q_amax<BW>(v);
            const int64_t rr = rk[k], bb = bk[k];
            const uint64_t group = ((uint64_t)rr * (uint64_t)a.cols + (uint64_t)bb * BW) >> 4;
            uint8_t sbyte;
            if (FMT == FP4Q_MX32) {
                const uint4 o = fp4q_mx_block<SR>(v, am, a.mx_ocp, a.seed, a.stream, group, &sbyte);
                *reinterpret_cast<uint4 *>(a.row_data + rr * (a.cols / 2) + bb * 16) = o;
                tmax = fmaxf(tmax, am);
                if (a.strict) {
#pragma unroll
                    for (int i = 0; i < BW; i++) tflag |= fp4q_nonfinite(v[i]);
                }
            } else {
                sbyte = fp4_nvfp4_block_scale(am, s_enc);
                const float enc = enc_tab[sbyte];
                uint32_t rb[4] = {0u, 0u, 0u, 0u};
                if (SR) fp4_sr_block16(a.seed, a.stream, group, rb);
                const uint2 o = fp4q_encode16<SR>(v, enc, rb);
                *reinterpret_cast<uint2 *>(a.row_data + rr * (a.cols / 2) + bb * 8) = o;
            }
            a.row_scales[rr * nb + bb] = sbyte;
        }
    }
    rowwise_epilogue<FMT>(a, tmax, tflag, scratch);
}

template <typename T, int FMT, bool SR>
static fp4_status launch_rowwise_t(cudaStream_t stream, const T *x, fp4q_args *a, int version, int *n_partials) {
    constexpr int BW = FMT == FP4Q_MX32 ? 32 : 16;
    const int64_t total = a->rows * (a->cols / BW);
    int64_t grid = (total + FP4Q_THREADS - 1) / FP4Q_THREADS;
    static int occ = 0; /* resident CTAs per SM of version 2 (per instantiation) */
    if (!occ) {
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, quantize_rowwise_kernel2<T, FMT, SR>, FP4Q_THREADS, 0) !=
                cudaSuccess ||
            occ < 1) {
            (void)cudaGetLastError();
            occ = 4;
        }
    }
    int64_t cap = (int64_t)occ * fp4q_num_sms();
    if (cap > FP4Q_MAX_PARTIALS) cap = FP4Q_MAX_PARTIALS;
    if (grid > cap) grid = cap;
    if (grid < 1) grid = 1;
    if (version == 1) {
        quantize_rowwise_kernel1<T, FMT, SR><<<(unsigned)grid, FP4Q_THREADS, 0, stream>>>(x, *a);
        FP4_LAUNCH_CHECK("quantize_rowwise_kernel1");
    } else {
        quantize_rowwise_kernel2<T, FMT, SR><<<(unsigned)grid, FP4Q_THREADS, 0, stream>>>(x, *a);
        FP4_LAUNCH_CHECK("quantize_rowwise_kernel2");
    }
    *n_partials = (int)grid;
    return FP4_OK;
}

template <typename T>
static fp4_status launch_rowwise_dt(cudaStream_t stream, const T *x, const fp4_config *cfg, fp4q_args *a, int version,
                                    int *n_partials) {
    const int sr = cfg->rounding == FP4_ROUND_SR;
    if (cfg->format == FP4_FORMAT_MXFP4)
        return sr ? launch_rowwise_t<T, FP4Q_MX32, true>(stream, x, a, version, n_partials)
                  : launch_rowwise_t<T, FP4Q_MX32, false>(stream, x, a, version, n_partials);
    return sr ? launch_rowwise_t<T, FP4Q_NV1x16, true>(stream, x, a, version, n_partials)
              : launch_rowwise_t<T, FP4Q_NV1x16, false>(stream, x, a, version, n_partials);
}

fp4_status fp4q_launch_rowwise(cudaStream_t stream, const fp4_view *x, const fp4_config *cfg, fp4q_args *a,
                               int version, int *n_partials) {
    if (cfg->block == FP4_BLOCK_16x16)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4q_launch_rowwise: 16x16 blocks use the tiled kernel");
    if (x->dtype == FP4_DTYPE_BF16)
        return launch_rowwise_dt<uint16_t>(stream, (const uint16_t *)x->data, cfg, a, version, n_partials);
    return launch_rowwise_dt<float>(stream, (const float *)x->data, cfg, a, version, n_partials);
}
