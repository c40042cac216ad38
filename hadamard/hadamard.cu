/* hadamard/hadamard.cu — CUDA fast Walsh–Hadamard transform / random Hadamard transform / MR-GPTQ
 * block rotations (fp4kit/hadamard.h), bit-identical to hadamard/hadamard_ref.c.
 *
 * Shapes: x, y device views [R, C] (F32 or BF16, row strides ldx, ldy; y may be x). Chunks of
 * d = 2^L elements along rows (C % d == 0) or, for d <= 128, along columns (R % d == 0).
 *
 * Bit-exactness: the transform is the same sequence of fp32 operations as the reference — sign
 * flips, butterfly stages at strides 1, 2, ..., d/2 (in that order; within a stage the pairs are
 * independent, so any distribution of pairs over threads gives the same bits), one multiply by
 * fp32(1/sqrt d), sign flips for the inverse. "a - b" is always (lower index) - (upper index),
 * computed by whichever thread owns the result. Device arithmetic goes through
 * __fadd_rn/__fsub_rn/__fmul_rn (no FMA contraction).
 *
 * Kernels:
 *   hadamard_rows_small_kernel<L>  d <= 256: d/8 threads per chunk, 8 consecutive elements per
 *       thread (one 16-byte load for BF16, two for F32); strides 1, 2, 4 in registers, strides
 *       8 .. d/2 by warp shuffles among the chunk's lanes. 256 threads = 2048/d chunks per CTA.
 *   hadamard_rows_large_kernel<L>  d >= 512: one chunk per CTA iteration, T = clamp(d/32, 32, 512)
 *       threads, G = d/(8T) groups of 8 per thread (2 .. 8, all loaded before the first use); strides 1..128 in registers + shuffles as above,
 *       then the chunk goes to shared memory (d floats, up to 128 KB) and strides 256 .. d/2 run in
 *       passes of up to 3 stages (8 values per work item in registers, a barrier between passes).
 *   hadamard_cols_kernel<L>  along columns, d <= 128: a tile of d rows x 32 columns in shared
 *       memory (padded rows), every stage in passes of up to 3; coalesced 32-column row accesses.
 *   hadamard_signs_kernel  the d/32 sign words (fp4h_sign_word) into the context workspace.
 * Global traffic: each element read once and written once.
 */
#include "cuda_common.cuh"
#include "hadamard_impl.h"

namespace {

struct had_io {
    const void *x;
    void *y;
    int64_t ldx, ldy;
    int xbf16, ybf16;
    int vec; /* 16-byte aligned rows and pointers: vector loads/stores of 8 elements */
};

__device__ __forceinline__ void load8(const void *p, int64_t off, int bf16, int vec, float v[8]) {
    if (bf16) {
        const uint16_t *q = (const uint16_t *)p + off;
        if (vec) {
            const uint4 r = *(const uint4 *)q;
            const uint32_t w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
            for (int k = 0; k < 4; k++) {
                v[2 * k] = fp4_bits_f32(w[k] << 16);
                v[2 * k + 1] = fp4_bits_f32(w[k] & 0xffff0000u);
            }
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) v[e] = fp4_bf16_to_f32(q[e]);
        }
    } else {
        const float *q = (const float *)p + off;
        if (vec) {
            const float4 a = ((const float4 *)q)[0], b = ((const float4 *)q)[1];
            v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
            v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) v[e] = q[e];
        }
    }
}

__device__ __forceinline__ void store8(void *p, int64_t off, int bf16, int vec, const float v[8]) {
    if (bf16) {
        uint16_t *q = (uint16_t *)p + off;
        if (vec) {
            uint32_t w[4];
#pragma unroll
            for (int k = 0; k < 4; k++)
                w[k] = (uint32_t)fp4_f32_to_bf16(v[2 * k]) | ((uint32_t)fp4_f32_to_bf16(v[2 * k + 1]) << 16);
            *(uint4 *)q = make_uint4(w[0], w[1], w[2], w[3]);
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) q[e] = fp4_f32_to_bf16(v[e]);
        }
    } else {
        float *q = (float *)p + off;
        if (vec) {
            ((float4 *)q)[0] = make_float4(v[0], v[1], v[2], v[3]);
            ((float4 *)q)[1] = make_float4(v[4], v[5], v[6], v[7]);
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) q[e] = v[e];
        }
    }
}

__device__ __forceinline__ float load1(const void *p, int64_t off, int bf16) {
    return bf16 ? fp4_bf16_to_f32(((const uint16_t *)p)[off]) : ((const float *)p)[off];
}

__device__ __forceinline__ void store1(void *p, int64_t off, int bf16, float v) {
    if (bf16) ((uint16_t *)p)[off] = fp4_f32_to_bf16(v);
    else ((float *)p)[off] = v;
}

/* Sign byte of elements i .. i+7 (i a multiple of 8); 0 without signs. */
__device__ __forceinline__ uint32_t sign_byte(const uint32_t *sw, int i) {
    return sw ? (sw[i >> 5] >> (i & 24)) & 0xffu : 0u;
}

__device__ __forceinline__ void flip8(float v[8], uint32_t sb) {
#pragma unroll
    for (int e = 0; e < 8; e++) v[e] = fp4h_flip(v[e], sb >> e);
}

/* Butterfly stage at stride m between lanes (lane bit m <-> element index bit 8m). */
__device__ __forceinline__ void shfl_stage8(float v[8], int lane_in_chunk, int m) {
    const bool upper = (lane_in_chunk & m) != 0;
#pragma unroll
    for (int e = 0; e < 8; e++) {
        const float p = __shfl_xor_sync(0xffffffffu, v[e], m);
        v[e] = upper ? fp4h_sub(p, v[e]) : fp4h_add(v[e], p);
    }
}

/* One shared-memory pass: butterfly stages at strides 2^b .. 2^(b+NB-1). Element (i, c) of the
 * tile lives at sm[i * RS + c], c < NC. Work items own disjoint element sets; barrier at the end. */
template <int NB, int NC, int RS>
__device__ __forceinline__ void smem_pass(float *sm, int b, int nitems, int t, int nthreads) {
    for (int id = t; id < nitems * NC; id += nthreads) {
        const int c = id % NC, w = id / NC;
        const int base = (w & ((1 << b) - 1)) | ((w >> b) << (b + NB));
        float u[1 << NB];
#pragma unroll
        for (int e = 0; e < (1 << NB); e++) u[e] = sm[(base + (e << b)) * RS + c];
        fp4h_fwht_stages(u, 1 << NB);
#pragma unroll
        for (int e = 0; e < (1 << NB); e++) sm[(base + (e << b)) * RS + c] = u[e];
    }
    __syncthreads();
}

/* Stages at strides 2^B0 .. 2^(L-1), up to three per pass, in increasing order. */
template <int L, int B0, int NC, int RS>
__device__ __forceinline__ void smem_passes(float *sm, int t, int nthreads) {
    if constexpr (B0 < L) {
        constexpr int NB = (L - B0) < 3 ? (L - B0) : 3;
        smem_pass<NB, NC, RS>(sm, B0, (1 << L) >> NB, t, nthreads);
        smem_passes<L, B0 + NB, NC, RS>(sm, t, nthreads);
    }
}

__global__ void hadamard_signs_kernel(uint32_t *sw, int d, uint64_t seed, int nw) {
    const int w = blockIdx.x * blockDim.x + threadIdx.x;
    if (w < nw) sw[w] = fp4h_sign_word(d, seed, (uint32_t)w);
}

template <int L>
__global__ void __launch_bounds__(256) hadamard_rows_small_kernel(had_io io, int64_t rows, int64_t cpr,
                                                                  const uint32_t *sw, float scale, int inverse) {
    constexpr int D = 1 << L, P = D / 8, CPC = 256 / P;
    const int lt = threadIdx.x % P;
    const int64_t nchunks = rows * cpr, nctas = (nchunks + CPC - 1) / CPC;
    const uint32_t sb = sign_byte(sw, lt * 8);
    for (int64_t cta = blockIdx.x; cta < nctas; cta += gridDim.x) { /* uniform trip count per CTA */
        const int64_t ch = cta * CPC + threadIdx.x / P;
        const bool valid = ch < nchunks;
        int64_t r = 0, c = 0;
        float v[8];
        if (valid) {
            r = ch / cpr;
            c = (ch - r * cpr) * D + lt * 8;
            load8(io.x, r * io.ldx + c, io.xbf16, io.vec, v);
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) v[e] = 0.0f;
        }
        if (!inverse) flip8(v, sb);
        fp4h_fwht_stages(v, 8);
#pragma unroll
        for (int m = 1; m < P; m <<= 1) shfl_stage8(v, lt, m);
#pragma unroll
        for (int e = 0; e < 8; e++) v[e] = fp4h_mul(v[e], scale);
        if (inverse) flip8(v, sb);
        if (valid) store8(io.y, r * io.ldy + c, io.ybf16, io.vec, v);
    }
}

/* Threads per chunk for d >= 512: d/32 clamped to [32, 512], so every thread holds G = d/(8T) >= 2
 * (4 from d = 1024 on) groups of 8 and issues G independent 16-byte loads before the first use:
 * more bytes in flight per SM than one load per thread (the copy-rate limit at d = 4096). */
template <int L>
struct large_shape {
    static constexpr int D = 1 << L;
    static constexpr int T = D / 32 < 32 ? 32 : (D / 32 > 512 ? 512 : D / 32);
    static constexpr int G = D / (8 * T);
};

template <int L>
__global__ void __launch_bounds__(512) hadamard_rows_large_kernel(had_io io, int64_t rows, int64_t cpr,
                                                                  const uint32_t *sw, float scale, int inverse) {
    constexpr int D = 1 << L, T = large_shape<L>::T, G = large_shape<L>::G;
    extern __shared__ float4 sm4[];
    float *sm = (float *)sm4;
    const int t = threadIdx.x, lane = t & 31;
    const int64_t nchunks = rows * cpr;
    for (int64_t ch = blockIdx.x; ch < nchunks; ch += gridDim.x) {
        const int64_t r = ch / cpr, c0 = (ch - r * cpr) * D;
        float v[G][8];
#pragma unroll
        for (int q = 0; q < G; q++) load8(io.x, r * io.ldx + c0 + 8 * (q * T + t), io.xbf16, io.vec, v[q]);
#pragma unroll
        for (int q = 0; q < G; q++) {
            if (!inverse) flip8(v[q], sign_byte(sw, 8 * (q * T + t)));
            fp4h_fwht_stages(v[q], 8);
#pragma unroll
            for (int m = 1; m < 32; m <<= 1) shfl_stage8(v[q], lane, m); /* T % 32 == 0: lane = index bits 3..7 */
            float4 *s = (float4 *)(sm + 8 * (q * T + t));
            s[0] = make_float4(v[q][0], v[q][1], v[q][2], v[q][3]);
            s[1] = make_float4(v[q][4], v[q][5], v[q][6], v[q][7]);
        }
        __syncthreads();
        smem_passes<L, 8, 1, 1>(sm, t, T);
#pragma unroll
        for (int q = 0; q < G; q++) {
            const int i = 8 * (q * T + t);
            const float4 a = ((const float4 *)(sm + i))[0], b = ((const float4 *)(sm + i))[1];
            float u[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
            for (int e = 0; e < 8; e++) u[e] = fp4h_mul(u[e], scale);
            if (inverse) flip8(u, sign_byte(sw, i));
            store8(io.y, r * io.ldy + c0 + i, io.ybf16, io.vec, u);
        }
        __syncthreads(); /* the next chunk reuses sm */
    }
}

template <int L>
__global__ void __launch_bounds__(256) hadamard_cols_kernel(had_io io, int64_t rows, int64_t cols, const uint32_t *sw,
                                                            float scale, int inverse) {
    constexpr int D = 1 << L, TW = 32, RS = TW + 1;
    __shared__ float sm[D * RS];
    const int t = threadIdx.x;
    const int64_t tc = (cols + TW - 1) / TW, ntiles = (rows / D) * tc;
    for (int64_t tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
        const int64_t r0 = (tile / tc) * D, c0 = (tile % tc) * TW;
        for (int id = t; id < D * TW; id += 256) {
            const int i = id / TW, c = id % TW;
            float v = 0.0f;
            if (c0 + c < cols) v = load1(io.x, (r0 + i) * io.ldx + c0 + c, io.xbf16);
            if (sw && !inverse) v = fp4h_flip(v, sw[i >> 5] >> (i & 31));
            sm[i * RS + c] = v;
        }
        __syncthreads();
        smem_passes<L, 0, TW, RS>(sm, t, 256);
        for (int id = t; id < D * TW; id += 256) {
            const int i = id / TW, c = id % TW;
            float v = fp4h_mul(sm[i * RS + c], scale);
            if (sw && inverse) v = fp4h_flip(v, sw[i >> 5] >> (i & 31));
            if (c0 + c < cols) store1(io.y, (r0 + i) * io.ldy + c0 + c, io.ybf16, v);
        }
        __syncthreads();
    }
}

constexpr int64_t kMaxGrid = 1 << 20;

inline unsigned grid_of(int64_t n) { return (unsigned)(n < kMaxGrid ? (n > 0 ? n : 1) : kMaxGrid); }

template <int L>
fp4_status launch_rows(const had_io &io, int64_t rows, int64_t cpr, const uint32_t *sw, float scale, int inverse,
                       cudaStream_t s) {
    constexpr int D = 1 << L;
    const int64_t nchunks = rows * cpr;
    if constexpr (L <= 8) {
        constexpr int CPC = 256 / (D / 8);
        hadamard_rows_small_kernel<L><<<grid_of((nchunks + CPC - 1) / CPC), 256, 0, s>>>(io, rows, cpr, sw, scale, inverse);
        FP4_LAUNCH_CHECK("hadamard_rows_small_kernel");
    } else {
        constexpr int T = large_shape<L>::T;
        const size_t smem = sizeof(float) * (size_t)D;
        if (smem > 48 * 1024)
            FP4_CUDA_TRY(cudaFuncSetAttribute(hadamard_rows_large_kernel<L>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              (int)smem));
        hadamard_rows_large_kernel<L><<<grid_of(nchunks), T, smem, s>>>(io, rows, cpr, sw, scale, inverse);
        FP4_LAUNCH_CHECK("hadamard_rows_large_kernel");
    }
    return FP4_OK;
}

template <int L>
fp4_status launch_cols(const had_io &io, int64_t rows, int64_t cols, const uint32_t *sw, float scale, int inverse,
                       cudaStream_t s) {
    const int64_t ntiles = (rows >> L) * ((cols + 31) / 32);
    hadamard_cols_kernel<L><<<grid_of(ntiles), 256, 0, s>>>(io, rows, cols, sw, scale, inverse);
    FP4_LAUNCH_CHECK("hadamard_cols_kernel");
    return FP4_OK;
}

} // namespace

extern "C" fp4_status fp4_hadamard_cuda(fp4_context *ctx, const fp4_view *x, fp4_view *y, const fp4_hadamard_desc *h) {
    cudaStream_t s = (cudaStream_t)fp4_context_stream(ctx);
    const int d = h->d, L = fp4h_log2(d);
    const float scale = fp4h_scale_log2(L);
    const uint32_t *sw = NULL;
    if (h->random_signs) {
        const int nw = d >= 32 ? d / 32 : 1;
        void *ws = NULL;
        FP4_TRY(fp4_context_workspace(ctx, sizeof(uint32_t) * (size_t)nw, &ws));
        hadamard_signs_kernel<<<fp4_cdiv(nw, 256), 256, 0, s>>>((uint32_t *)ws, d, h->seed, nw);
        FP4_LAUNCH_CHECK("hadamard_signs_kernel");
        sw = (const uint32_t *)ws;
    }
    had_io io;
    io.x = x->data;
    io.y = y->data;
    io.ldx = x->ld;
    io.ldy = y->ld;
    io.xbf16 = x->dtype == FP4_DTYPE_BF16;
    io.ybf16 = y->dtype == FP4_DTYPE_BF16;
    const size_t ex = fp4_dtype_size(x->dtype), ey = fp4_dtype_size(y->dtype);
    io.vec = ((uintptr_t)x->data % 16 == 0) && ((uintptr_t)y->data % 16 == 0) && ((size_t)x->ld * ex) % 16 == 0 &&
             ((size_t)y->ld * ey) % 16 == 0;
    const int inv = h->inverse;
    if (h->axis == FP4_HAD_ALONG_COLS) {
        switch (L) {
        case 4: return launch_cols<4>(io, x->rows, x->cols, sw, scale, inv, s);
        case 5: return launch_cols<5>(io, x->rows, x->cols, sw, scale, inv, s);
        case 6: return launch_cols<6>(io, x->rows, x->cols, sw, scale, inv, s);
        case 7: return launch_cols<7>(io, x->rows, x->cols, sw, scale, inv, s);
        default: return fp4_fail(FP4_ERR_UNSUPPORTED, "fp4_hadamard_cuda: d = %d along columns", d);
        }
    }
    const int64_t cpr = x->cols / d;
    switch (L) {
    case 4: return launch_rows<4>(io, x->rows, cpr, sw, scale, inv, s);
    case 5: return launch_rows<5>(io, x->rows, cpr, sw, scale, inv, s);
    case 6: return launch_rows<6>(io, x->rows, cpr, sw, scale, inv, s);
    case 7: return launch_rows<7>(io, x->rows, cpr, sw, scale, inv, s);
    case 8: return launch_rows<8>(io, x->rows, cpr, sw, scale, inv, s);
    case 9: return launch_rows<9>(io, x->rows, cpr, sw, scale, inv, s);
    case 10: return launch_rows<10>(io, x->rows, cpr, sw, scale, inv, s);
    case 11: return launch_rows<11>(io, x->rows, cpr, sw, scale, inv, s);
    case 12: return launch_rows<12>(io, x->rows, cpr, sw, scale, inv, s);
    case 13: return launch_rows<13>(io, x->rows, cpr, sw, scale, inv, s);
    case 14: return launch_rows<14>(io, x->rows, cpr, sw, scale, inv, s);
    case 15: return launch_rows<15>(io, x->rows, cpr, sw, scale, inv, s);
    default: return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_hadamard_cuda: d = %d", d);
    }
}
