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
 *   2  quantize_rowwise_kernel2: one thread per block, persistent grid sized by the occupancy
 *      calculator, 16-byte loads (2 per BF16 1x16 block, all issued before use), (row, block)
 *      advanced incrementally, 8-byte (NVFP4) / 16-byte (MXFP4) code stores, coalesced across
 *      the warp because consecutive threads own consecutive blocks of a row.
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

/* version 2: persistent grid, 16-byte loads, incremental (row, block) */
template <typename T, int FMT, bool SR>
__global__ void __launch_bounds__(FP4Q_THREADS) quantize_rowwise_kernel2(const T *__restrict__ x, fp4q_args a) {
    __shared__ uint2 scratch[32];
    constexpr int BW = FMT == FP4Q_MX32 ? 32 : 16;
    float s_enc, s_dec;
    if (!rowwise_prologue<FMT>(a, s_enc, s_dec, scratch)) return;
    const int64_t nb = a.cols / BW, total = a.rows * nb;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t r = g / nb, b = g % nb;
    const int64_t sq = stride / nb, sb = stride % nb;
    float tmax = 0.0f;
    uint32_t tflag = 0u;
    for (; g < total; g += stride) {
        float v[BW];
        fp4q_load<T, BW>(x + r * a.ld + b * BW, a.vec, v);
        rowwise_block<T, FMT, SR>(v, r, b, s_enc, s_dec, a, tmax, tflag);
        r += sq;
        b += sb;
        if (b >= nb) { b -= nb; r++; }
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
