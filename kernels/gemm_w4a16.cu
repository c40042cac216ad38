/* kernels/gemm_w4a16.cu — the skinny FP4 GEMM (M <= 128, memory-bound on the weight) and the
 * W4A16 entry point fp4_gemm_w4a16_cuda.
 *
 *   D[M,N] = alpha * alpha_t * A[M,K] · B[N,K]ᵀ (+ beta C),  A BF16 (W4A16) or FP4 (W4A4),
 *   B packed FP4 [N, K/2] with block scales [N, K/bw], K % bw == 0.
 *
 * skinny_kernel1<MT, A_FP4, NV, VEC> — split-K, tensor cores, weight streamed once:
 *   grid (ceil(N/128), splits, ceil(M/(16*MT))), 256 threads = 8 warps; warp w owns the 16
 *   weight rows n0 + 16w .. +15 (two n8 groups) over the CTA's K slice [k_begin, k_begin + KS),
 *   KS a multiple of 128. The A rows of the M tile (16*MT rows x KS, BF16; FP4 A is decoded to
 *   BF16 while staging) sit in shared memory.
 *   Per 128-wide K chunk each lane (g = lane/4, t = lane%4) loads 16 bytes = 32 codes of weight
 *   row g of each n8 group (K offsets 32t .. 32t+31: 4 lanes read one 64-byte row segment) and
 *   decodes them in registers. The mma's k index is permuted (free, as long as A and B agree):
 *   in step s (0..7) lane (g, t) supplies mma-k {2t, 2t+1} = K {32t+4s, +1} and mma-k
 *   {2t+8, 2t+9} = K {32t+4s+2, +3}, i.e. bytes 2s and 2s+1 of its own 16 bytes; the matching A
 *   values are 4 consecutive BF16 = one 8-byte shared load per row (rows g and g+8).
 *   Shared A rows: stride KS*2 + 8 bytes and 8-byte unit u stored at u ^ (((u >> 4) & 1) << 2):
 *   the 32 lanes' 8-byte loads of one step are then bank-conflict free.
 *   Next chunk's weight bytes are loaded before the current one is decoded (distance-1 prefetch).
 *   splits == 1: the epilogue runs in the kernel. splits > 1: FP32 partials [splits][M][N] go to
 *   the context workspace and skinny_finalize_kernel1 sums them in split order (deterministic)
 *   and runs the epilogue.
 *   VEC (16-byte weight loads) needs K % 32 == 0 and a 16-byte aligned weight; otherwise byte
 *   loads (correct, slower). A BF16 rows use 8-byte loads when 8-byte aligned with ld % 4 == 0.
 */
#include <algorithm>
#include <stdlib.h>
#include <string.h>

#include "gemm_common.cuh"
#include "gemm_internal.h"

#define SK_THREADS 256
#define SK_NTILE 128
#define SK_KCHUNK 128

/* 4 consecutive A values (K c .. c+3 of row m) as 2 bf16x2 words, zero outside [.., k_end). */
template <bool A_FP4, bool NV>
__device__ __forceinline__ uint2 skinny_load_a4(const gemm_operand &a, int64_t m, int64_t c, int64_t K, bool vec8) {
    uint2 v = make_uint2(0u, 0u);
    if (A_FP4) {
        const uint8_t *row = (const uint8_t *)a.data + m * (K / 2);
        const int bw = NV ? 16 : 32;
        const uint8_t sb = a.scales[m * (K / bw) + c / bw];
        const float s = NV ? fp4_e4m3_decode(sb) : fp4_e8m0_decode(sb);
        const uint8_t b0 = row[c / 2], b1 = row[c / 2 + 1];
        const uint32_t h0 = fp4_f32_to_bf16(fp4_e2m1_decode(b0 & 0xf) * s);
        const uint32_t h1 = fp4_f32_to_bf16(fp4_e2m1_decode(b0 >> 4) * s);
        const uint32_t h2 = fp4_f32_to_bf16(fp4_e2m1_decode(b1 & 0xf) * s);
        const uint32_t h3 = fp4_f32_to_bf16(fp4_e2m1_decode(b1 >> 4) * s);
        v.x = h0 | (h1 << 16);
        v.y = h2 | (h3 << 16);
    } else {
        const uint16_t *p = (const uint16_t *)a.data + m * a.ld + c;
        if (vec8) return *(const uint2 *)p;
        v.x = (uint32_t)p[0] | ((uint32_t)p[1] << 16);
        v.y = (uint32_t)p[2] | ((uint32_t)p[3] << 16);
    }
    return v;
}

/* 32 codes of weight row `row` from K index kpos (zeros past k_end) and their scale bytes. */
template <bool NV, bool VEC>
__device__ __forceinline__ void skinny_load_w(const gemm_operand &b, int64_t row, bool row_ok, int64_t kpos,
                                              int64_t K, int64_t k_end, uint4 &q, uint32_t &sc) {
    q = make_uint4(0u, 0u, 0u, 0u);
    sc = 0u;
    const int64_t valid = k_end - kpos;
    if (!row_ok || valid <= 0) return;
    const uint8_t *p = (const uint8_t *)b.data + row * (K / 2) + kpos / 2;
    if (VEC && valid >= 32) {
        q = __ldg((const uint4 *)p);
    } else {
        uint32_t w[4] = {0u, 0u, 0u, 0u};
        for (int i = 0; i < 16; i++)
            if (2 * i < valid) w[i >> 2] |= (uint32_t)__ldg(p + i) << (8 * (i & 3));
        q = make_uint4(w[0], w[1], w[2], w[3]);
    }
    const uint8_t *s = b.scales + row * (K / (NV ? 16 : 32)) + kpos / (NV ? 16 : 32);
    sc = __ldg(s);
    if (NV && valid > 16) sc |= (uint32_t)__ldg(s + 1) << 8;
}

/* One k16 x 8 sweep of the mma over the shared A tile (rows 16·MT, RS bytes per row, 8-byte units
 * XOR-swizzled by bit 4 of the unit index) against the decoded weight fragments bw: units u0 .. u0+7
 * (u0 = this thread's first unit), into acc. Shared by skinny_kernel1 and small_kernel1. */
template <int MT>
__device__ __forceinline__ void mma_a_tile(float (&acc)[MT][2][4], const uint8_t *sa, int RS, int u0, int g,
                                           const uint32_t (&bw)[2][16]) {
#pragma unroll
    for (int s = 0; s < 8; s++) {
        const int u = u0 + s;
        const int us = u ^ (((u >> 4) & 1) << 2);
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            const uint2 lo = *(const uint2 *)(sa + (16 * mt + g) * RS + us * 8);
            const uint2 hi = *(const uint2 *)(sa + (16 * mt + g + 8) * RS + us * 8);
            const uint32_t af[4] = {lo.x, hi.x, lo.y, hi.y};
            mma_bf16_16816(acc[mt][0], af, bw[0][2 * s], bw[0][2 * s + 1]);
            mma_bf16_16816(acc[mt][1], af, bw[1][2 * s], bw[1][2 * s + 1]);
        }
    }
}

template <int MT, bool A_FP4, bool NV, bool VEC>
__global__ void __launch_bounds__(SK_THREADS) skinny_kernel1(gemm_operand a, gemm_operand b, int64_t K, int KS,
                                                             int a_vec8, float *partial, fp4_epilogue epi) {
    extern __shared__ __align__(16) uint8_t sk_smem[];
    const int64_t M = a.rows, N = b.rows;
    const int64_t k_begin = (int64_t)blockIdx.y * KS;
    const int64_t k_end = min(K, k_begin + KS);
    const int64_t m0 = (int64_t)blockIdx.z * 16 * MT;
    const int RS = KS * 2 + 8; /* bytes per shared A row */

    /* stage the A rows of this M tile (zeros outside M and past k_end) */
    const int units = KS / 4;
    for (int i = threadIdx.x; i < 16 * MT * units; i += SK_THREADS) {
        const int r = i / units, u = i - r * units;
        const int64_t c = k_begin + 4 * (int64_t)u;
        uint2 v = make_uint2(0u, 0u);
        if (m0 + r < M && c < k_end) v = skinny_load_a4<A_FP4, NV>(a, m0 + r, c, K, a_vec8 != 0);
        const int us = u ^ (((u >> 4) & 1) << 2);
        *(uint2 *)(sk_smem + r * RS + us * 8) = v;
    }
    __syncthreads();

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int64_t nb = (int64_t)blockIdx.x * SK_NTILE + warp * 16;
    const int64_t row0 = nb + g, row1 = nb + 8 + g;
    const bool ok0 = row0 < N, ok1 = row1 < N;
    float acc[MT][2][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int i = 0; i < 4; i++) acc[mt][j][i] = 0.0f;

    uint4 q0, q1;
    uint32_t s0, s1;
    skinny_load_w<NV, VEC>(b, row0, ok0, k_begin + 32 * t, K, k_end, q0, s0);
    skinny_load_w<NV, VEC>(b, row1, ok1, k_begin + 32 * t, K, k_end, q1, s1);
    for (int kk = 0; kk < KS && k_begin + kk < k_end; kk += SK_KCHUNK) {
        uint4 n0q, n1q;
        uint32_t n0s, n1s;
        skinny_load_w<NV, VEC>(b, row0, ok0, k_begin + kk + SK_KCHUNK + 32 * t, K, k_end, n0q, n0s);
        skinny_load_w<NV, VEC>(b, row1, ok1, k_begin + kk + SK_KCHUNK + 32 * t, K, k_end, n1q, n1s);
        /* decode: bw[grp][2s], bw[grp][2s+1] = the B fragment of step s */
        uint32_t bw[2][16];
#pragma unroll
        for (int grp = 0; grp < 2; grp++) {
            const uint4 q = grp ? q1 : q0;
            const uint32_t s = grp ? s1 : s0;
            const uint32_t sc0 = scale_bf16x2<NV>((uint8_t)(s & 0xff));
            const uint32_t sc1 = NV ? scale_bf16x2<NV>((uint8_t)(s >> 8)) : sc0;
            decode_q16(q, sc0, sc1, bw[grp]);
        }
        mma_a_tile<MT>(acc, sk_smem, RS, kk / 4 + 8 * t, g, bw);
        q0 = n0q, q1 = n1q, s0 = n0s, s1 = n1s;
    }

    /* acc[mt][grp][i]: row m0 + 16mt + g (+8 for i >= 2), col nb + 8grp + 2t + (i & 1) */
    const float at = partial ? 0.0f : epi_alpha_t(epi);
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int grp = 0; grp < 2; grp++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int64_t m = m0 + 16 * mt + g + (i >= 2 ? 8 : 0);
                const int64_t n = nb + 8 * grp + 2 * t + (i & 1);
                if (m >= M || n >= N) continue;
                if (partial) partial[((int64_t)blockIdx.y * M + m) * N + n] = acc[mt][grp][i];
                else epi_store(epi, at, m, n, acc[mt][grp][i]);
            }
}

/* Sum the split-K partials [splits][M][N] in split order, then the epilogue. */
__global__ void skinny_finalize_kernel1(const float *partial, int splits, int64_t M, int64_t N, fp4_epilogue epi) {
    const float at = epi_alpha_t(epi);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < M * N; i += (int64_t)gridDim.x * blockDim.x) {
        float acc = 0.0f;
        for (int s = 0; s < splits; s++) acc = __fadd_rn(acc, partial[(int64_t)s * M * N + i]);
        epi_store(epi, at, i / N, i % N, acc);
    }
}

int gemm_sm_count(void) {
    static int cached[64];
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return 132;
    if (!cached[dev]) {
        int n = 0;
        if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) n = 132;
        cached[dev] = n;
    }
    return cached[dev];
}

template <int MT, bool A_FP4, bool NV, bool VEC>
static fp4_status skinny_run(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K, int KS,
                             int splits, float *partial, const fp4_epilogue &epi, int a_vec8) {
    const size_t smem = (size_t)16 * MT * (KS * 2 + 8);
    auto kern = skinny_kernel1<MT, A_FP4, NV, VEC>;
    static int attr_done[64]; /* per device: the shared-memory attribute was raised (once) */
    FP4_TRY(gemm_smem_attr((const void *)kern, smem, attr_done));
    const dim3 grid(fp4_cdiv(b.rows, SK_NTILE), (unsigned)splits, fp4_cdiv(a.rows, 16 * MT));
    kern<<<grid, SK_THREADS, smem, (cudaStream_t)fp4_context_stream(ctx)>>>(a, b, K, KS, a_vec8, partial, epi);
    FP4_LAUNCH_CHECK("skinny_kernel1");
    return FP4_OK;
}

template <int MT>
static fp4_status skinny_dispatch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K, int KS,
                                  int splits, float *partial, const fp4_epilogue &epi, int a_vec8, bool vec) {
#define SK_CASE(AF, NVV, VV)                                                                   \
    if (a.fp4 == AF && b.nv == NVV && vec == VV) return skinny_run<MT, AF, NVV, VV>(ctx, a, b, K, KS, splits, partial, epi, a_vec8)
    SK_CASE(false, true, true);
    SK_CASE(false, true, false);
    SK_CASE(false, false, true);
    SK_CASE(false, false, false);
    SK_CASE(true, true, true);
    SK_CASE(true, true, false);
    SK_CASE(true, false, true);
    SK_CASE(true, false, false);
#undef SK_CASE
    return fp4_fail(FP4_ERR_INVALID_ARG, "skinny GEMM: unsupported operand combination");
}

fp4_status gemm_skinny_launch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                              const fp4_epilogue &epi) {
    const int64_t M = a.rows, N = b.rows;
    const int MT = M <= 16 ? 1 : 4;
    const int64_t mtiles = (M + 16 * MT - 1) / (16 * MT), ntiles = (N + SK_NTILE - 1) / SK_NTILE;
    const int64_t kchunks = (K + SK_KCHUNK - 1) / SK_KCHUNK;
    /* about 4 CTAs per SM; A slice in shared memory at most 64 KB */
    const int64_t target = 4LL * gemm_sm_count();
    int64_t splits = (target + ntiles * mtiles - 1) / (ntiles * mtiles);
    const int64_t max_chunks_smem = (64 * 1024 / (16 * MT * 2)) / SK_KCHUNK; /* 16 (MT=1) or 4 (MT=4) */
    splits = std::max<int64_t>(splits, (kchunks + max_chunks_smem - 1) / max_chunks_smem);
    splits = std::min<int64_t>(std::max<int64_t>(splits, 1), kchunks);
    const int64_t KS = ((kchunks + splits - 1) / splits) * SK_KCHUNK;
    splits = (K + KS - 1) / KS;
    float *partial = NULL;
    if (splits > 1) {
        void *ws = NULL;
        FP4_TRY(fp4_context_workspace(ctx, (size_t)splits * (size_t)M * (size_t)N * sizeof(float), &ws));
        partial = (float *)ws;
    }
    const bool vec = (K % 32) == 0 && ((uintptr_t)b.data % 16) == 0 && (!a.fp4 || ((uintptr_t)a.data % 16) == 0);
    const int a_vec8 = !a.fp4 && ((uintptr_t)a.data % 8) == 0 && (a.ld % 4) == 0;
    if (MT == 1) FP4_TRY(skinny_dispatch<1>(ctx, a, b, K, (int)KS, (int)splits, partial, epi, a_vec8, vec));
    else FP4_TRY(skinny_dispatch<4>(ctx, a, b, K, (int)KS, (int)splits, partial, epi, a_vec8, vec));
    if (partial) {
        const int64_t total = M * N;
        const unsigned blocks = (unsigned)std::min<int64_t>((total + 255) / 256, 4LL * gemm_sm_count());
        skinny_finalize_kernel1<<<blocks, 256, 0, (cudaStream_t)fp4_context_stream(ctx)>>>(partial, (int)splits, M, N,
                                                                                             epi);
        FP4_LAUNCH_CHECK("skinny_finalize_kernel1");
    }
    return FP4_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* small_kernel1<MT, A_FP4, NV, A_ASYNC> — the small-M streaming kernel (M <= 128).             */
/*
 * Why a second kernel: skinny_kernel1 keeps only one 128-K chunk of weights in flight per lane
 * (a distance-1 register prefetch) and stages A with synchronous loads before the first weight
 * byte is requested, so each CTA spends most of its life waiting on latency (~20% of HBM
 * bandwidth measured). Here every CTA requests its whole weight slice at once:
 *   grid (ceil(N/128), S, ceil(M/(16 MT))), 256 threads, cluster (1, S, 1) when S > 1.
 *   CTA y owns K chunks [y cpc, (y+1) cpc) (chunk = 128 K), processed in rounds of <= nch chunks.
 *   Per round: cp.async of A (8-byte pieces, zero-filled rows >= M; A_ASYNC) and of the packed
 *   weights and scale bytes in sub-rounds of 4 chunks, one commit group each; a copy
 *   instruction reads 2 rows x 256 contiguous bytes: up to nch * 9 KB in flight per CTA, two
 *   CTAs per SM. Sub-round s: wait for group s, __syncwarp (each warp copies only its own 16
 *   rows), then per chunk decode + mma exactly as skinny_kernel1 (same k permutation, same
 *   swizzled A rows in shared memory).
 *   S > 1: the CTAs of one cluster are the S K-slices of one output tile. Each writes its FP32
 *   tile to shared memory; after cluster.sync() CTA r sums rows/cols of its share over the S
 *   slices in slice order 0..S-1 (deterministic) through distributed shared memory and runs the
 *   epilogue: no workspace, no second launch.
 * Conditions (gemm_small_ok): K % 128 == 0, 16-byte aligned packed weights, 4-byte aligned
 * scales; A_ASYNC needs a BF16 A with 8-byte aligned data and ld % 4 == 0 (else A is staged with
 * ordinary loads after the weight copies are issued).
 */
#include <cooperative_groups.h>

#define SM_THREADS 256
#define SM_WCHUNK (SK_NTILE * 64) /* packed bytes of one 128-K chunk of 128 weight rows */
#define SM_RED_LD 132             /* floats per row of the reduction tile (padded) */

template <bool NV>
__device__ __forceinline__ constexpr int sm_scale_bytes() { return NV ? 8 : 4; }

__device__ __forceinline__ void cp_async_wait_dyn(int pending) {
    switch (pending) {
    case 0: cp_async_wait<0>(); break;
    case 1: cp_async_wait<1>(); break;
    case 2: cp_async_wait<2>(); break;
    case 3: cp_async_wait<3>(); break;
    case 4: cp_async_wait<4>(); break;
    case 5: cp_async_wait<5>(); break;
    case 6: cp_async_wait<6>(); break;
    default: cp_async_wait<7>(); break;
    }
}

template <int MT, bool A_FP4, bool NV, bool A_ASYNC>
__global__ void __launch_bounds__(SM_THREADS, 2) small_kernel1(gemm_operand a, gemm_operand b, int64_t K, int cpc,
                                                               int nch, int a_vec8, fp4_epilogue epi) {
    extern __shared__ __align__(16) uint8_t sm_smem[];
    constexpr int SB = sm_scale_bytes<NV>();
    const int64_t M = a.rows, N = b.rows;
    const int64_t kchunks = K / SK_KCHUNK;
    const int64_t c_begin = (int64_t)blockIdx.y * cpc;
    const int64_t c_end = min(kchunks, c_begin + cpc);
    const int64_t m0 = (int64_t)blockIdx.z * 16 * MT;
    const int64_t n0 = (int64_t)blockIdx.x * SK_NTILE;
    const int RS = nch * 256 + 8; /* bytes per shared A row */
    uint8_t *sA = sm_smem;
    uint8_t *sW = sA + 16 * MT * RS;          /* [nch][8 warps][2 grp][32 lanes][16 B] */
    uint8_t *sS = sW + nch * SM_WCHUNK;       /* [nch][8 warps][2 grp][8 g][SB] */
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;

    float acc[MT][2][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int i = 0; i < 4; i++) acc[mt][j][i] = 0.0f;

    for (int64_t cr = c_begin; cr < c_end; cr += nch) {
        const int nc = (int)min((int64_t)nch, c_end - cr);
        const int64_t kb = cr * SK_KCHUNK;
        const int units = nc * (SK_KCHUNK / 4);
        __syncthreads(); /* the previous round's shared A / scales are no longer read */
        if (A_ASYNC) {
            for (int i = threadIdx.x; i < 16 * MT * units; i += SM_THREADS) {
                const int r = i / units, u = i - r * units;
                const bool ok = m0 + r < M;
                const uint16_t *src = (const uint16_t *)a.data + (ok ? (m0 + r) * a.ld + kb + 4 * u : 0);
                const int us = u ^ (((u >> 4) & 1) << 2);
                cp_async8(sA + r * RS + us * 8, src, ok ? 8 : 0);
            }
        }
        /* Weights: sub-rounds of 4 chunks (256 B of each row), one commit group each. One copy
         * instruction covers 2 rows x 256 contiguous bytes (lanes 0-15 row a, 16-31 row b): long
         * DRAM runs (a 64-byte-per-row pattern measured ~0.7-0.8 TB/s). Piece (row, chunk c,
         * quarter q) goes where lane (g, q) of the row's warp reads it. Scale bytes: 4-byte
         * pieces per (row, chunk), into the same group. */
        const int nsub = (nc + 3) / 4;
        for (int sr = 0; sr < nsub; sr++) {
            const int cs = 4 * sr, cn = min(4, nc - cs);
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const int rl = 2 * i + (lane >> 4); /* row within the warp's 16 */
                const int p = lane & 15, c = cs + (p >> 2), q = p & 3;
                const int64_t row = n0 + 16 * warp + rl;
                if (c < cs + cn) {
                    const bool ok = row < N;
                    const uint8_t *src =
                        (const uint8_t *)b.data + (ok ? row * (K / 2) + (kb + (int64_t)c * SK_KCHUNK) / 2 + 16 * q : 0);
                    const int grp = rl >> 3, gg = rl & 7;
                    cp_async16(sW + c * SM_WCHUNK + ((warp * 2 + grp) * 32 + gg * 4 + q) * 16, src, ok ? 16 : 0);
                }
            }
            for (int c = cs; c < cs + cn; c++) {
                const int64_t k0 = kb + (int64_t)c * SK_KCHUNK;
                /* NV 8 B per row (lanes t = 2 grp + half copy 4 B each), MX 4 B (lane t = grp) */
                if (NV || t < 2) {
                    const int grp = NV ? (t >> 1) : t, half = NV ? (t & 1) : 0;
                    const int64_t row = n0 + 16 * warp + 8 * grp + g;
                    const bool ok = row < N;
                    const uint8_t *src =
                        b.scales + (ok ? row * (K / (NV ? 16 : 32)) + k0 / (NV ? 16 : 32) + 4 * half : 0);
                    cp_async4(sS + c * (SK_NTILE * SB) + ((warp * 2 + grp) * 8 + g) * SB + 4 * half, src, ok ? 4 : 0);
                }
            }
            cp_async_commit();
        }
        if (!A_ASYNC) {
            /* ordinary loads (FP4 A decoded to BF16, or unaligned BF16 A) while the weights fly */
            for (int i = threadIdx.x; i < 16 * MT * units; i += SM_THREADS) {
                const int r = i / units, u = i - r * units;
                uint2 v = make_uint2(0u, 0u);
                if (m0 + r < M) v = skinny_load_a4<A_FP4, NV>(a, m0 + r, kb + 4 * (int64_t)u, K, a_vec8 != 0);
                const int us = u ^ (((u >> 4) & 1) << 2);
                *(uint2 *)(sA + r * RS + us * 8) = v;
            }
        }
        for (int c = 0; c < nc; c++) {
            if ((c & 3) == 0) {
                cp_async_wait_dyn(nsub - 1 - (c >> 2));
                if (c == 0) __syncthreads(); /* A (all threads) */
                else __syncwarp();           /* weights / scale bytes copied by sibling lanes */
            }
            uint32_t bw[2][16];
#pragma unroll
            for (int grp = 0; grp < 2; grp++) {
                const uint4 q = *(const uint4 *)(sW + c * SM_WCHUNK + ((warp * 2 + grp) * 32 + lane) * 16);
                const uint8_t *sp = sS + c * (SK_NTILE * SB) + ((warp * 2 + grp) * 8 + g) * SB;
                const uint32_t sc0 = scale_bf16x2<NV>(sp[NV ? 2 * t : t]);
                const uint32_t sc1 = NV ? scale_bf16x2<NV>(sp[2 * t + 1]) : sc0;
                decode_q16(q, sc0, sc1, bw[grp]);
            }
            mma_a_tile<MT>(acc, sA, RS, c * 32 + 8 * t, g, bw);
        }
    }

    const float at = epi_alpha_t(epi);
    if (gridDim.y == 1) {
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int grp = 0; grp < 2; grp++)
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const int64_t m = m0 + 16 * mt + g + (i >= 2 ? 8 : 0);
                    const int64_t n = n0 + 16 * warp + 8 * grp + 2 * t + (i & 1);
                    if (m < M && n < N) epi_store(epi, at, m, n, acc[mt][grp][i]);
                }
        return;
    }
    /* cluster split-K reduction through distributed shared memory */
    namespace cg = cooperative_groups;
    cg::cluster_group cluster = cg::this_cluster();
    __syncthreads(); /* every warp is done with sA / sW / sS */
    float *red = (float *)sm_smem; /* [16 MT][SM_RED_LD] */
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int grp = 0; grp < 2; grp++)
#pragma unroll
            for (int h = 0; h < 2; h++)
                *(float2 *)(red + (16 * mt + g + 8 * h) * SM_RED_LD + 16 * warp + 8 * grp + 2 * t) =
                    make_float2(acc[mt][grp][2 * h], acc[mt][grp][2 * h + 1]);
    cluster.sync();
    const int S = (int)gridDim.y, rank = (int)blockIdx.y;
    const int E4 = 16 * MT * (SK_NTILE / 4);
    const int j0 = rank * E4 / S, j1 = (rank + 1) * E4 / S;
    for (int j = j0 + (int)threadIdx.x; j < j1; j += SM_THREADS) {
        const int r = j / (SK_NTILE / 4), c4 = 4 * (j % (SK_NTILE / 4));
        float4 sum = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        for (int s = 0; s < S; s++) {
            const float4 p = *(const float4 *)(cluster.map_shared_rank(red, s) + r * SM_RED_LD + c4);
            sum.x = __fadd_rn(sum.x, p.x), sum.y = __fadd_rn(sum.y, p.y);
            sum.z = __fadd_rn(sum.z, p.z), sum.w = __fadd_rn(sum.w, p.w);
        }
        const int64_t m = m0 + r;
        const float v[4] = {sum.x, sum.y, sum.z, sum.w};
        if (m < M)
#pragma unroll
            for (int e = 0; e < 4; e++)
                if (n0 + c4 + e < N) epi_store(epi, at, m, n0 + c4 + e, v[e]);
    }
    cluster.sync(); /* keep this CTA's shared memory alive until every reader is done */
}

bool gemm_small_ok(const gemm_operand &a, const gemm_operand &b, int64_t K) {
    if (K % SK_KCHUNK || a.rows > 128) return false;
    if ((uintptr_t)b.data % 16 || (uintptr_t)b.scales % 4) return false;
    return true;
}

template <int MT, bool A_FP4, bool NV, bool A_ASYNC>
static fp4_status small_run(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K, int S,
                            int cpc, int nch, const fp4_epilogue &epi, int a_vec8) {
    const size_t body = (size_t)16 * MT * (nch * 256 + 8) + (size_t)nch * SM_WCHUNK +
                        (size_t)nch * SK_NTILE * (NV ? 8 : 4);
    const size_t red = (size_t)16 * MT * SM_RED_LD * 4;
    const size_t smem = body > red ? body : red;
    auto kern = small_kernel1<MT, A_FP4, NV, A_ASYNC>;
    static int attr_done[64];
    FP4_TRY(gemm_smem_attr((const void *)kern, smem, attr_done));
    cudaLaunchConfig_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.gridDim = dim3(fp4_cdiv(b.rows, SK_NTILE), (unsigned)S, fp4_cdiv(a.rows, 16 * MT));
    cfg.blockDim = dim3(SM_THREADS);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = (cudaStream_t)fp4_context_stream(ctx);
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = 1;
    attr[0].val.clusterDim.y = (unsigned)S;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = S > 1 ? 1 : 0;
    FP4_CUDA_TRY(cudaLaunchKernelEx(&cfg, kern, a, b, K, cpc, nch, a_vec8, epi));
    FP4_LAUNCH_CHECK("small_kernel1");
    return FP4_OK;
}

fp4_status gemm_small_launch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                             const fp4_epilogue &epi) {
    fp4_status st2 = FP4_OK;
    if (gemm_gemv_ok(a, b, K) && gemm_gemv_launch(ctx, a, b, K, epi, &st2)) return st2; /* M <= 16 */
    const int64_t M = a.rows, N = b.rows;
    const int MT = M <= 16 ? 1 : 4;
    const int nch_max = MT == 1 ? 8 : 4; /* ~105 KB of shared memory: two CTAs per SM */
    const int64_t base = fp4_cdiv(N, SK_NTILE) * fp4_cdiv(M, 16 * MT);
    const int64_t kchunks = K / SK_KCHUNK;
    /* K slices: as many as keep all CTAs co-resident (2 per SM), at most 8 (portable cluster) */
    int64_t S = (2LL * gemm_sm_count()) / base;
    S = std::max<int64_t>(1, std::min<int64_t>(S, std::min<int64_t>(8, kchunks)));
    const int64_t cpc = (kchunks + S - 1) / S;
    S = (kchunks + cpc - 1) / cpc;
    const int64_t rounds = (cpc + nch_max - 1) / nch_max;
    const int nch = (int)((cpc + rounds - 1) / rounds);
    const bool a_async = !a.fp4 && ((uintptr_t)a.data % 8) == 0 && (a.ld % 4) == 0;
    const int a_vec8 = a_async ? 1 : 0;
#define SMALL_CASE(MTV, AF, NVV, AS)                                                           \
    if (MT == MTV && a.fp4 == AF && b.nv == NVV && a_async == AS)                              \
    return small_run<MTV, AF, NVV, AS>(ctx, a, b, K, (int)S, (int)cpc, nch, epi, a_vec8)
    SMALL_CASE(1, false, true, true);
    SMALL_CASE(1, false, true, false);
    SMALL_CASE(1, false, false, true);
    SMALL_CASE(1, false, false, false);
    SMALL_CASE(1, true, true, false);
    SMALL_CASE(1, true, false, false);
    SMALL_CASE(4, false, true, true);
    SMALL_CASE(4, false, true, false);
    SMALL_CASE(4, false, false, true);
    SMALL_CASE(4, false, false, false);
    SMALL_CASE(4, true, true, false);
    SMALL_CASE(4, true, false, false);
#undef SMALL_CASE
    return fp4_fail(FP4_ERR_INVALID_ARG, "small GEMM: unsupported operand combination");
}

/* ---------------------------------------------------------------------------------------- */
/* W4A16 entry (and W4A4's dispatch, gemm_w4a4.cu). FUSED: M <= 128 the small-M kernel
 * (skinny_kernel1 where its conditions fail), the tiled / wgmma kernel above. AUTO picks between
 * that and the two-pass path (decode the weight to BF16 once, then cuBLASLt BF16) by M and the
 * weight size, as measured on the H100 (benchmarks/notes/gemm.md run 12, bench_gemm mid):
 *   - M <= 16: the fused small-M kernels (w4a16_gemv_kernel: 2.4-3x faster than BF16);
 *   - W4A4, M > 16: two-pass (1.7-2.4x faster than the fused small kernel at M = 32..128);
 *   - W4A16, 16 < M <= 64: fused when N·K >= 8192² (8192²: 107 / 112 µs vs 118 / 119 at M = 32 /
 *     64), two-pass for smaller weights (4096²: 28 vs 34 µs);
 *   - M > 64: two-pass (W4A16 8192² M = 96: 120 vs 139 µs; large M: 74-105 % of cuBLASLt BF16).
 * Two-pass also needs cuBLASLt to take C (same dtype as D) and the workspace to grow; otherwise
 * the fused path runs. */
static bool gemm_auto_two_pass(const gemm_operand &a, const gemm_operand &b, int64_t K) {
    const int64_t M = a.rows;
    if (M <= 16) return false;
    if (a.fp4 || M > 64) return true;
    return (double)b.rows * (double)K < 8192.0 * 8192.0;
}

fp4_status gemm_fused_dispatch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                               const fp4_epilogue &epi) {
    if (a.rows <= 128) {
        if (gemm_small_ok(a, b, K)) return gemm_small_launch(ctx, a, b, K, epi);
        return gemm_skinny_launch(ctx, a, b, K, epi);
    }
    return gemm_tiled_launch(ctx, a, b, K, epi);
}

fp4_status gemm_auto_dispatch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                              const fp4_epilogue &epi, const fp4_view *c, fp4_view *d) {
    if (gemm_auto_two_pass(a, b, K) && (!c || c->dtype == d->dtype)) {
        const fp4_status st = gemm_two_pass(ctx, a, b, K, epi, c, d);
        if (st != FP4_ERR_NOMEM) return st;
    }
    return gemm_fused_dispatch(ctx, a, b, K, epi);
}

extern "C" fp4_status fp4_gemm_w4a16_cuda(fp4_context *ctx, const fp4_view *x, const fp4_qtensor *w, float alpha,
                                          const fp4_view *c, float beta, fp4_view *d, fp4_gemm_algo algo) {
    const gemm_operand a = gemm_operand_bf16(x), b = gemm_operand_fp4(w);
    const int nv = w->cfg.format == FP4_FORMAT_NVFP4;
    const fp4_epilogue epi = gemm_epilogue(c, beta, d, alpha, NULL, nv ? w->tscale_dev : NULL, nv ? FP4_TS_SDEC : FP4_TS_ONE);
    if (algo == FP4_GEMM_ALGO_TWO_PASS) return gemm_two_pass(ctx, a, b, w->cols, epi, c, d);
    if (algo == FP4_GEMM_ALGO_FUSED) return gemm_fused_dispatch(ctx, a, b, w->cols, epi);
    return gemm_auto_dispatch(ctx, a, b, w->cols, epi, c, d);
}
