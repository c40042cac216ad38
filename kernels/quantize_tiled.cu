/* kernels/quantize_tiled.cu — NVFP4 (1x16, 16x16) and MXFP4 (1x32) quantization of a device view
 * x [rows, cols] (F32 or BF16, row stride ld) through 64x64 shared-memory tiles, producing in ONE
 * pass over x any of:
 *   rowwise    data [rows, cols/2],  scales [rows, cols/B]   (blocks along cols)
 *   columnwise data [cols, rows/2],  scales [cols, rows/B]   (the quantized transpose, blocks
 *              along rows, from the high-precision input, never requantized)
 * Shapes: rowwise needs cols % B == 0; columnwise needs rows % B == 0 (cols arbitrary);
 * 16x16 needs both multiples of 16. Partial tiles at the bottom/right edges are zero-filled in
 * shared memory (zeros never change an amax) and their out-of-range blocks are not written.
 *
 * Thread mapping (256 threads, one 64x64 tile per iteration of a persistent grid):
 *   load:       16-byte chunks, 8 consecutive threads per 128-byte BF16 row segment (coalesced),
 *               converted to fp32 into tile[64][68] (row stride 68 floats: the rowwise phase's
 *               float4 reads by 8 consecutive rows hit 32 distinct banks);
 *   rowwise:    thread t owns row t%64, block t/64 (NVFP4: 4 blocks of 16 per tile row; MXFP4:
 *               threads < 128, 2 blocks of 32);
 *   columnwise: thread t owns tile column t%64, row block t/64 (consecutive threads read
 *               consecutive banks).
 *   16x16:      the 16 threads covering one 16x16 tile are 16 consecutive lanes of one warp in
 *               both phases, so the tile amax is a 4-step __shfl_xor max; the scale byte is then
 *               replicated into each of the tile's 16 rows (rowwise) or columns (columnwise).
 * Tensor scales: as in quantize_rowwise.cu (NVFP4 reduces the amax-pass partials, MXFP4 emits
 * its own partials). SR: 16-group index = (r*cols_out + c)/16 of the element in the OUTPUT
 * tensor; the columnwise copy uses stream ^ FP4_STREAM_COLUMNWISE. */
#include "quantize_common.cuh"

#define TILE 64
#define TSTRIDE 68

/* Issue the global loads of one tile into registers (16-byte chunks, 8 consecutive threads per
 * 128-byte BF16 row segment; out-of-range chunks are zero). Vector path only. */
template <typename T>
struct tile_regs {
    static constexpr int PER = 16 / (int)sizeof(T);
    static constexpr int CPR = TILE / PER;                 /* chunks per tile row */
    static constexpr int NCH = TILE * CPR / FP4Q_THREADS;  /* chunks per thread: 2 (BF16) or 4 (F32) */
    uint4 q[NCH];
};

template <typename T>
__device__ __forceinline__ void tiled_issue(const T *__restrict__ x, const fp4q_args &a, int64_t row0, int64_t col0,
                                            tile_regs<T> &tr) {
    constexpr int PER = tile_regs<T>::PER, CPR = tile_regs<T>::CPR;
#pragma unroll
    for (int k = 0; k < tile_regs<T>::NCH; k++) {
        const int id = threadIdx.x + k * FP4Q_THREADS;
        const int lr = id / CPR, lc = (id % CPR) * PER;
        const int64_t gr = row0 + lr, gc = col0 + lc;
        tr.q[k] = make_uint4(0u, 0u, 0u, 0u);
        if (gr < a.rows && gc < a.cols) tr.q[k] = __ldg(reinterpret_cast<const uint4 *>(x + gr * a.ld + gc));
    }
}

/* Registers -> fp32 tile in shared memory (+ strict-mode nonfinite flag). */
template <typename T>
__device__ __forceinline__ void tiled_commit(const fp4q_args &a, const tile_regs<T> &tr, float *tile, uint32_t &tflag) {
    constexpr int PER = tile_regs<T>::PER, CPR = tile_regs<T>::CPR;
#pragma unroll
    for (int k = 0; k < tile_regs<T>::NCH; k++) {
        const int id = threadIdx.x + k * FP4Q_THREADS;
        const int lr = id / CPR, lc = (id % CPR) * PER;
        float v[PER];
        fp4q_unpack(tr.q[k], v, T());
        if (a.strict) {
#pragma unroll
            for (int i = 0; i < PER; i++) tflag |= fp4q_nonfinite(v[i]);
        }
#pragma unroll
        for (int i = 0; i < PER; i += 4)
            *reinterpret_cast<float4 *>(tile + lr * TSTRIDE + lc + i) = make_float4(v[i], v[i + 1], v[i + 2], v[i + 3]);
    }
}

/* Scalar path (unaligned rows / cols not a multiple of the chunk): straight into shared memory. */
template <typename T>
__device__ __forceinline__ void tiled_load_scalar(const T *__restrict__ x, const fp4q_args &a, int64_t row0,
                                                  int64_t col0, float *tile, uint32_t &tflag) {
#pragma unroll 4
    for (int k = 0; k < TILE * TILE / FP4Q_THREADS; k++) {
        const int id = threadIdx.x + k * FP4Q_THREADS;
        const int lr = id / TILE, lc = id % TILE;
        const int64_t gr = row0 + lr, gc = col0 + lc;
        float v = 0.0f;
        if (gr < a.rows && gc < a.cols) v = fp4q_to_f32(x[gr * a.ld + gc]);
        if (a.strict) tflag |= fp4q_nonfinite(v);
        tile[lr * TSTRIDE + lc] = v;
    }
}

/* Max over the 16 consecutive lanes of a 16x16 tile (all 32 lanes must call). */
__device__ __forceinline__ float tile16_max(float m) {
#pragma unroll
    for (int o = 1; o < 16; o <<= 1) m = fp4_amax_step(m, __shfl_xor_sync(0xffffffffu, m, o));
    return m;
}

/* Staged outputs of one tile and one direction (rowwise: per tile row; columnwise: per tile
 * column): the codes of its NB blocks (NB*BW/8 words) padded to SW words so that the 8/16-byte
 * stores of the compute phase (32 consecutive tile rows/columns per warp) spread over the banks,
 * and its NB scale bytes. */
template <int FMT>
struct tile_stage {
    static constexpr int BW = FMT == FP4Q_MX32 ? 32 : 16;
    static constexpr int NB = TILE / BW;
    static constexpr int WPB = BW / 8;          /* code words per block: 2 (NVFP4) / 4 (MXFP4) */
    static constexpr int SW = NB * WPB + WPB;    /* 10 / 12 words per line */
    uint32_t code[TILE * SW];
    uint8_t scale[TILE * NB];
};

/* Quantize one block (compute phase): codes and scale byte into the stage. */
template <int FMT, bool SR>
__device__ __forceinline__ void tiled_block(const float *v, float am, float s_enc, const float *enc_tab, const fp4q_args &a,
                                            uint64_t stream, uint64_t group, uint32_t *code, uint8_t *scale) {
    uint8_t sb;
    if (FMT == FP4Q_MX32) {
        const uint4 o = fp4q_mx_block<SR>(v, am, a.mx_ocp, a.seed, stream, group, &sb);
        *reinterpret_cast<uint4 *>(code) = o;
    } else {
        sb = fp4_nvfp4_block_scale(am, s_enc);
        uint32_t rb[4] = {0u, 0u, 0u, 0u};
        if (SR) fp4_sr_block16(a.seed, stream, group, rb);
        const uint2 o = fp4q_encode16<SR>(v, enc_tab[sb], rb);
        *reinterpret_cast<uint2 *>(code) = o;
    }
    *scale = sb;
}

/* Store phase: thread t writes block t % NB of line t / NB (consecutive threads -> consecutive
 * blocks of a line, so a warp covers 8 (NVFP4) / 16 (MXFP4) whole 32-byte line pieces). line0 =
 * first output row of the tile in this direction, nlines = output rows, ncols_out = columns of
 * the output (blocks along it), blk0 = first block index of the tile along the output row. */
template <int FMT>
__device__ __forceinline__ void tiled_store(const tile_stage<FMT> &st, uint8_t *data, uint8_t *scales, int64_t line0,
                                            int64_t nlines, int64_t ncols_out, int64_t blk0) {
    using S = tile_stage<FMT>;
    const int t = threadIdx.x;
    if (t >= TILE * S::NB) return;
    const int line = t / S::NB, b = t % S::NB;
    const int64_t gl = line0 + line, gb = blk0 + b;
    const int64_t nbo = ncols_out / S::BW;
    if (gl >= nlines || gb >= nbo) return;
    const uint32_t *c = st.code + line * S::SW + b * S::WPB;
    if (FMT == FP4Q_MX32)
        *reinterpret_cast<uint4 *>(data + gl * (ncols_out / 2) + gb * 16) = *reinterpret_cast<const uint4 *>(c);
    else
        *reinterpret_cast<uint2 *>(data + gl * (ncols_out / 2) + gb * 8) = *reinterpret_cast<const uint2 *>(c);
    scales[gl * nbo + gb] = st.scale[line * S::NB + b];
}

/* One CTA per 64x64 tile of a persistent grid, loads of tile i+1 in flight (registers) while
 * tile i is quantized from shared memory; outputs staged in shared memory and written with
 * consecutive threads on consecutive blocks of an output row. Barriers per tile:
 *   A  (previous compute done reading `tile`, previous stores done reading the stages)
 *   commit registers -> tile;  B;  issue loads of the next tile;  compute -> stages;  C;  stores. */
template <typename T, int FMT, bool SR>
__global__ void __launch_bounds__(FP4Q_THREADS) quantize_tiled_kernel(const T *__restrict__ x, fp4q_args a) {
    __shared__ __align__(16) float tile[TILE * TSTRIDE];
    __shared__ __align__(16) tile_stage<FMT> rst;
    __shared__ __align__(16) tile_stage<FMT> cst;
    __shared__ uint2 scratch[32];
    __shared__ float enc_tab[256];
    static_assert(FP4Q_THREADS == 256, "one enc_tab entry per thread");
    constexpr int BW = FMT == FP4Q_MX32 ? 32 : 16;
    constexpr int NB = TILE / BW; /* blocks per tile row / column: 4 or 2 */
    constexpr int SW = tile_stage<FMT>::SW, WPB = tile_stage<FMT>::WPB;
    float s_enc = 1.0f, s_dec = 1.0f;
    if (FMT != FP4Q_MX32) {
        float amax;
        uint32_t flag;
        fp4q_reduce_partials(a.partials_in, a.n_partials_in, amax, flag, scratch);
        s_enc = fp4_nvfp4_global_enc(amax);
        s_dec = fp4_nvfp4_global_dec(s_enc);
        fp4q_publish(a, amax, s_enc, s_dec, flag);
        if (a.strict && flag) return; /* uniform across the CTA */
        enc_tab[threadIdx.x] = fp4_nvfp4_block_enc((uint8_t)threadIdx.x, s_dec);
        /* visible after barrier B of the first tile */
    }
    const uint64_t col_stream = a.stream ^ FP4_STREAM_COLUMNWISE;
    const int64_t tcols = (a.cols + TILE - 1) / TILE;
    const int64_t ntiles = ((a.rows + TILE - 1) / TILE) * tcols;
    const int tid = threadIdx.x;
    const int active = tid < NB * TILE; /* MXFP4: threads 0..127 own a block in each phase */
    const int blk = tid / TILE, lane64 = tid % TILE;
    float tmax = 0.0f;
    uint32_t tflag = 0u;
    tile_regs<T> tr;
    int64_t t = blockIdx.x;
    if (a.vec && t < ntiles) tiled_issue<T>(x, a, (t / tcols) * TILE, (t % tcols) * TILE, tr);
    for (; t < ntiles; t += gridDim.x) {
        const int64_t row0 = (t / tcols) * TILE, col0 = (t % tcols) * TILE;
        __syncthreads(); /* A */
        if (a.vec) tiled_commit<T>(a, tr, tile, tflag);
        else tiled_load_scalar<T>(x, a, row0, col0, tile, tflag);
        __syncthreads(); /* B */
        {
            const int64_t tn = t + gridDim.x;
            if (a.vec && tn < ntiles) tiled_issue<T>(x, a, (tn / tcols) * TILE, (tn % tcols) * TILE, tr);
        }
        if (a.row_data) {
            /* rowwise: row lane64 of the tile, block blk */
            const int64_t gr = row0 + lane64, gc = col0 + (int64_t)blk * BW;
            float v[BW];
            if (active) {
#pragma unroll
                for (int i = 0; i < BW; i += 4) {
                    const float4 f = *reinterpret_cast<const float4 *>(tile + lane64 * TSTRIDE + blk * BW + i);
                    v[i] = f.x; v[i + 1] = f.y; v[i + 2] = f.z; v[i + 3] = f.w;
                }
            } else {
#pragma unroll
                for (int i = 0; i < BW; i++) v[i] = 0.0f;
            }
            float am = fp4q_amax<BW>(v);
            if (FMT == FP4Q_NV16x16) am = tile16_max(am);
            if (FMT == FP4Q_MX32) tmax = fmaxf(tmax, am);
            if (active && gr < a.rows && gc < a.cols) {
                const uint64_t group = ((uint64_t)gr * (uint64_t)a.cols + (uint64_t)gc) >> 4;
                tiled_block<FMT, SR>(v, am, s_enc, enc_tab, a, a.stream, group, rst.code + lane64 * SW + blk * WPB,
                                     rst.scale + lane64 * NB + blk);
            }
        }
        if (a.col_data) {
            /* columnwise: tile column lane64 (output row col0+lane64), row block blk */
            const int64_t gc = col0 + lane64, gr = row0 + (int64_t)blk * BW;
            float v[BW];
#pragma unroll
            for (int i = 0; i < BW; i++) v[i] = active ? tile[(blk * BW + i) * TSTRIDE + lane64] : 0.0f;
            float am = fp4q_amax<BW>(v);
            if (FMT == FP4Q_NV16x16) am = tile16_max(am);
            if (FMT == FP4Q_MX32 && !a.row_data) tmax = fmaxf(tmax, am);
            if (active && gc < a.cols && gr < a.rows) {
                const uint64_t group = ((uint64_t)gc * (uint64_t)a.rows + (uint64_t)gr) >> 4;
                tiled_block<FMT, SR>(v, am, s_enc, enc_tab, a, col_stream, group, cst.code + lane64 * SW + blk * WPB,
                                     cst.scale + lane64 * NB + blk);
            }
        }
        __syncthreads(); /* C */
        if (a.row_data) tiled_store<FMT>(rst, a.row_data, a.row_scales, row0, a.rows, a.cols, col0 / BW);
        if (a.col_data) tiled_store<FMT>(cst, a.col_data, a.col_scales, col0, a.cols, a.rows, row0 / BW);
    }
    if (FMT == FP4Q_MX32) {
        fp4q_cta_reduce(tmax, tflag, scratch);
        if (threadIdx.x == 0) a.partials_out[blockIdx.x] = make_uint2(fp4_f32_bits(tmax), tflag);
    }
}

template <typename T, int FMT, bool SR>
static fp4_status launch_tiled_t(cudaStream_t stream, const T *x, fp4q_args *a, int *n_partials) {
    const int64_t ntiles = ((a->rows + TILE - 1) / TILE) * ((a->cols + TILE - 1) / TILE);
    static int occ = 0;
    if (!occ) {
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, quantize_tiled_kernel<T, FMT, SR>, FP4Q_THREADS, 0) !=
                cudaSuccess ||
            occ < 1) {
            (void)cudaGetLastError();
            occ = 4;
        }
    }
    int64_t grid = ntiles, cap = (int64_t)occ * fp4q_num_sms();
    if (cap > FP4Q_MAX_PARTIALS) cap = FP4Q_MAX_PARTIALS;
    if (grid > cap) grid = cap;
    if (grid < 1) grid = 1;
    quantize_tiled_kernel<T, FMT, SR><<<(unsigned)grid, FP4Q_THREADS, 0, stream>>>(x, *a);
    FP4_LAUNCH_CHECK("quantize_tiled_kernel");
    *n_partials = (int)grid;
    return FP4_OK;
}

template <typename T>
static fp4_status launch_tiled_dt(cudaStream_t stream, const T *x, const fp4_config *cfg, fp4q_args *a, int *np) {
    const int sr = cfg->rounding == FP4_ROUND_SR;
    if (cfg->format == FP4_FORMAT_MXFP4)
        return sr ? launch_tiled_t<T, FP4Q_MX32, true>(stream, x, a, np) : launch_tiled_t<T, FP4Q_MX32, false>(stream, x, a, np);
    if (cfg->block == FP4_BLOCK_16x16)
        return sr ? launch_tiled_t<T, FP4Q_NV16x16, true>(stream, x, a, np)
                  : launch_tiled_t<T, FP4Q_NV16x16, false>(stream, x, a, np);
    return sr ? launch_tiled_t<T, FP4Q_NV1x16, true>(stream, x, a, np) : launch_tiled_t<T, FP4Q_NV1x16, false>(stream, x, a, np);
}

fp4_status fp4q_launch_tiled(cudaStream_t stream, const fp4_view *x, const fp4_config *cfg, fp4q_args *a,
                             int *n_partials) {
    if (x->dtype == FP4_DTYPE_BF16) return launch_tiled_dt<uint16_t>(stream, (const uint16_t *)x->data, cfg, a, n_partials);
    return launch_tiled_dt<float>(stream, (const float *)x->data, cfg, a, n_partials);
}
