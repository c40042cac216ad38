/* kernels/gemm_w4a4.cu — the tiled FP4 GEMM (compute-bound sizes) and the W4A4 entry points
 * fp4_gemm_cuda / fp4_gemm_w4a4_cuda.
 *
 *   D[M,N] = alpha * alpha_t * A[M,K] · B[N,K]ᵀ (+ beta C),  B packed FP4 [N, K/2] + scales,
 *   A packed FP4 (W4A4) or BF16 [M, K] (W4A16, M > 128). K % bw == 0; M, N anything.
 *
 * tiled_kernel1<A_FP4, NV, VEC>: CTA tile 128 x 128 x 64 (M x N x K), 256 threads = 8 warps as
 * 2 (M) x 4 (N), warp tile 64 x 32 = 4 x 4 mma.sync m16n8k16 (BF16 in, FP32 accumulate).
 *   Global → shared: a 4-stage cp.async pipeline holding the PACKED operand tiles (128 rows x
 *   32 bytes per FP4 operand; 128 x 64 BF16 for a BF16 A). Scale bytes go global → registers one
 *   k-tile ahead (each thread loads exactly the scales of the 32 codes it decodes).
 *   Per k-tile: wait for the stage; each thread decodes 32 codes (row tid/2, K half tid%2) of each
 *   FP4 operand to BF16 (e2m1 · block scale, exact; see gemm_common.cuh) into a swizzled 128 x 64
 *   BF16 tile (16-byte chunk c of row r stored at c ^ (r & 7): conflict-free stores and ldmatrix);
 *   barrier; ldmatrix.x4 + mma.sync over the 4 k16 steps. A BF16 A is used straight from its stage
 *   (same swizzle, written by cp.async). Two barriers per k-tile; two CTAs per SM overlap one
 *   CTA's decode with the other's tensor-core work.
 *   Out-of-range rows/k are zero-filled (cp.async src-size 0) with zero scales, so they add 0.
 *   VEC: 16-byte cp.async needs K % 32 == 0, 16-byte aligned packed data, and for a BF16 A a
 *   16-byte aligned pointer with ld % 8 == 0. Otherwise the same kernel stages with guarded
 *   scalar loads (correct, slower).
 * Epilogue in FP32: alpha * (alpha_t * acc) (+ beta * C), alpha_t read from the operands'
 * tscale_dev on the device (never a host round trip).
 * gemm_tiled_launch runs the sm_90a wgmma kernel instead (kernels/gemm_wgmma.cu) when
 * gemm_wgmma_ok() says it can: compute capability 9.0, aligned operands (see gemm_wgmma.h).
 */
#include "gemm_common.cuh"
#include "gemm_internal.h"
#include "gemm_wgmma.h"
#include "kernels.h"

#define TL_BM 128
#define TL_BN 128
#define TL_BK 64
#define TL_STAGES 4
#define TL_THREADS 256
#define TL_PACKED_STAGE (TL_BM * TL_BK / 2)   /* 4 KB */
#define TL_BF16_TILE (TL_BM * TL_BK * 2)      /* 16 KB */

/* Stage one packed FP4 tile (rows r0.., k-tile k0) into smem [128][32 B]. */
template <bool VEC>
__device__ __forceinline__ void tl_load_packed(uint8_t *dst, const gemm_operand &op, int64_t r0, int64_t k0,
                                               int64_t K) {
    const int tid = threadIdx.x, r = tid >> 1, ch = tid & 1;
    const int64_t row = r0 + r, kc = k0 + 32 * ch;
    const uint8_t *src = (const uint8_t *)op.data + row * (K / 2) + kc / 2;
    uint8_t *d = dst + r * 32 + ch * 16;
    const bool ok = row < op.rows && kc < K;
    if (VEC) {
        cp_async16(d, ok ? (const void *)src : op.data, ok ? 16 : 0);
    } else {
        uint32_t w[4] = {0u, 0u, 0u, 0u};
        if (ok)
            for (int i = 0; i < 16; i++)
                if (kc + 2 * i < K) w[i >> 2] |= (uint32_t)src[i] << (8 * (i & 3));
        *(uint4 *)d = make_uint4(w[0], w[1], w[2], w[3]);
    }
}

/* Stage one BF16 tile [128][64] (swizzled 16-byte chunks). */
template <bool VEC>
__device__ __forceinline__ void tl_load_bf16(uint8_t *dst, const gemm_operand &op, int64_t r0, int64_t k0,
                                             int64_t K) {
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int idx = threadIdx.x + TL_THREADS * i, r = idx >> 3, ch = idx & 7;
        const int64_t row = r0 + r, kc = k0 + 8 * ch;
        const uint16_t *src = (const uint16_t *)op.data + row * op.ld + kc;
        uint8_t *d = dst + r * 128 + ((ch ^ (r & 7)) * 16);
        const bool ok = row < op.rows && kc < K;
        if (VEC) {
            cp_async16(d, ok ? (const void *)src : op.data, ok ? 16 : 0);
        } else {
            uint32_t w[4] = {0u, 0u, 0u, 0u};
            if (ok)
                for (int e = 0; e < 8; e++)
                    if (kc + e < K) w[e >> 1] |= (uint32_t)src[e] << (16 * (e & 1));
            *(uint4 *)d = make_uint4(w[0], w[1], w[2], w[3]);
        }
    }
}

/* This thread's scale bytes for its decode slice (row r0 + tid/2, K k0 + 32*(tid%2) .. +31):
 * NVFP4 two bytes (byte 0 = first 16 codes), MXFP4 one. Zero outside the tensor. */
template <bool NV>
__device__ __forceinline__ uint32_t tl_load_scales(const gemm_operand &op, int64_t r0, int64_t k0, int64_t K) {
    const int tid = threadIdx.x;
    const int64_t row = r0 + (tid >> 1), kc = k0 + 32 * (tid & 1);
    if (row >= op.rows || kc >= K) return 0u;
    const int bw = NV ? 16 : 32;
    const uint8_t *s = op.scales + row * (K / bw) + kc / bw;
    uint32_t v = __ldg(s);
    if (NV && kc + 16 < K) v |= (uint32_t)__ldg(s + 1) << 8;
    return v;
}

/* Decode this thread's 32 codes from a packed stage into the swizzled BF16 tile. */
template <bool NV>
__device__ __forceinline__ void tl_decode(uint8_t *dec, const uint8_t *packed, uint32_t sbytes) {
    const int tid = threadIdx.x, r = tid >> 1, h = tid & 1;
    const uint4 q = *(const uint4 *)(packed + r * 32 + h * 16);
    const uint32_t sc0 = scale_bf16x2<NV>((uint8_t)(sbytes & 0xff));
    const uint32_t sc1 = NV ? scale_bf16x2<NV>((uint8_t)(sbytes >> 8)) : sc0;
    uint32_t v[16];
    decode_q16(q, sc0, sc1, v);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int ch = 4 * h + i;
        *(uint4 *)(dec + r * 128 + ((ch ^ (r & 7)) * 16)) = make_uint4(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]);
    }
}

template <bool A_FP4, bool NV, bool VEC>
__global__ void __launch_bounds__(TL_THREADS, 2) tiled_kernel1(gemm_operand a, gemm_operand b, int64_t K,
                                                               fp4_epilogue epi) {
    extern __shared__ __align__(128) uint8_t tl_smem[];
    const int A_STAGE = A_FP4 ? TL_PACKED_STAGE : TL_BF16_TILE;
    uint8_t *sA = tl_smem;                                   /* [STAGES][A_STAGE] */
    uint8_t *sB = sA + TL_STAGES * A_STAGE;                  /* [STAGES][4 KB] packed */
    uint8_t *decB = sB + TL_STAGES * TL_PACKED_STAGE;        /* [128][64] bf16 */
    uint8_t *decA = decB + TL_BF16_TILE;                     /* [128][64] bf16 (A_FP4 only) */

    const int64_t m0 = (int64_t)blockIdx.y * TL_BM, n0 = (int64_t)blockIdx.x * TL_BN;
    const int KT = (int)((K + TL_BK - 1) / TL_BK);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int wm = warp >> 2, wn = warp & 3;

    auto load_stage = [&](int kt) {
        const int st = kt % TL_STAGES;
        const int64_t k0 = (int64_t)kt * TL_BK;
        if (A_FP4) tl_load_packed<VEC>(sA + st * A_STAGE, a, m0, k0, K);
        else tl_load_bf16<VEC>(sA + st * A_STAGE, a, m0, k0, K);
        tl_load_packed<VEC>(sB + st * TL_PACKED_STAGE, b, n0, k0, K);
    };

#pragma unroll
    for (int s = 0; s < TL_STAGES - 1; s++) {
        if (s < KT) load_stage(s);
        cp_async_commit();
    }
    uint32_t scA = A_FP4 ? tl_load_scales<NV>(a, m0, 0, K) : 0u;
    uint32_t scB = tl_load_scales<NV>(b, n0, 0, K);

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

    for (int kt = 0; kt < KT; kt++) {
        cp_async_wait<TL_STAGES - 2>();
        __syncthreads(); /* stage kt visible to all; last iteration's mma done with dec / stage kt-1 */
        if (kt + TL_STAGES - 1 < KT) load_stage(kt + TL_STAGES - 1);
        cp_async_commit();
        const int64_t k1 = (int64_t)(kt + 1) * TL_BK;
        const uint32_t nscA = (A_FP4 && kt + 1 < KT) ? tl_load_scales<NV>(a, m0, k1, K) : 0u;
        const uint32_t nscB = kt + 1 < KT ? tl_load_scales<NV>(b, n0, k1, K) : 0u;
        const int st = kt % TL_STAGES;
        tl_decode<NV>(decB, sB + st * TL_PACKED_STAGE, scB);
        if (A_FP4) tl_decode<NV>(decA, sA + st * A_STAGE, scA);
        __syncthreads();
        const uint8_t *tA = A_FP4 ? decA : sA + st * A_STAGE;
#pragma unroll
        for (int ks = 0; ks < TL_BK / 16; ks++) {
            uint32_t af[4][4], bfr[2][4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int r = wm * 64 + i * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
                const int ch = 2 * ks + (lane >> 4);
                ldmatrix_x4(af[i], tA + r * 128 + ((ch ^ (r & 7)) * 16));
            }
#pragma unroll
            for (int j = 0; j < 2; j++) {
                const int r = wn * 32 + j * 16 + (lane & 7) + 8 * (lane >> 4);
                const int ch = 2 * ks + ((lane >> 3) & 1);
                ldmatrix_x4(bfr[j], decB + r * 128 + ((ch ^ (r & 7)) * 16));
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) mma_bf16_16816(acc[i][j], af[i], bfr[j >> 1][2 * (j & 1)], bfr[j >> 1][2 * (j & 1) + 1]);
        }
        scA = nscA;
        scB = nscB;
    }
    cp_async_wait<0>();

    const float at = epi_alpha_t(epi);
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int64_t m = m0 + wm * 64 + i * 16 + g + (e >= 2 ? 8 : 0);
                const int64_t n = n0 + wn * 32 + j * 8 + 2 * t + (e & 1);
                if (m < a.rows && n < b.rows) epi_store(epi, at, m, n, acc[i][j][e]);
            }
}

template <bool A_FP4, bool NV, bool VEC>
static fp4_status tiled_run(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                            const fp4_epilogue &epi) {
    const size_t smem = (size_t)TL_STAGES * (A_FP4 ? TL_PACKED_STAGE : TL_BF16_TILE) + (size_t)TL_STAGES * TL_PACKED_STAGE +
                        (size_t)(A_FP4 ? 2 : 1) * TL_BF16_TILE;
    auto kern = tiled_kernel1<A_FP4, NV, VEC>;
    static int attr_done[64]; /* per device: the shared-memory attribute was raised (once) */
    FP4_TRY(gemm_smem_attr((const void *)kern, smem, attr_done));
    const dim3 grid(fp4_cdiv(b.rows, TL_BN), fp4_cdiv(a.rows, TL_BM));
    if (grid.y > 65535) return fp4_fail(FP4_ERR_SHAPE, "tiled GEMM: M = %lld is too large", (long long)a.rows);
    kern<<<grid, TL_THREADS, smem, (cudaStream_t)fp4_context_stream(ctx)>>>(a, b, K, epi);
    FP4_LAUNCH_CHECK("tiled_kernel1");
    return FP4_OK;
}

fp4_status gemm_tiled_launch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                             const fp4_epilogue &epi) {
    /* sm_90 (H100/H200): the warp-specialized wgmma kernel (kernels/gemm_wgmma.cu) when it can
     * take these operands; tiled_kernel1 below otherwise. */
    if (gemm_wgmma_ok(a, b, K)) return gemm_wgmma_launch(ctx, a, b, K, epi);
    bool vec = (K % 32) == 0 && ((uintptr_t)b.data % 16) == 0;
    if (a.fp4) vec = vec && ((uintptr_t)a.data % 16) == 0;
    else vec = vec && ((uintptr_t)a.data % 16) == 0 && (a.ld % 8) == 0;
#define TL_CASE(AF, NVV, VV)                                                                   \
    if (a.fp4 == AF && b.nv == NVV && vec == VV) return tiled_run<AF, NVV, VV>(ctx, a, b, K, epi)
    TL_CASE(true, true, true);
    TL_CASE(true, true, false);
    TL_CASE(true, false, true);
    TL_CASE(true, false, false);
    TL_CASE(false, true, true);
    TL_CASE(false, true, false);
    TL_CASE(false, false, true);
    TL_CASE(false, false, false);
#undef TL_CASE
    return fp4_fail(FP4_ERR_INVALID_ARG, "tiled GEMM: unsupported operand combination");
}

/* ---------------------------------------------------------------------------------------- */
/* W4A4 entry points                                                                          */

extern "C" fp4_status fp4_gemm_w4a4_cuda(fp4_context *ctx, const fp4_qtensor *a, const fp4_qtensor *b, float alpha,
                                         const fp4_view *c, float beta, fp4_view *d, fp4_alpha_mode mode,
                                         fp4_gemm_algo algo) {
    const gemm_operand oa = gemm_operand_fp4(a), ob = gemm_operand_fp4(b);
    const int nv = a->cfg.format == FP4_FORMAT_NVFP4;
    if (nv && (!a->tscale_dev || !b->tscale_dev))
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_gemm: device NVFP4 operand without tscale_dev (device tensor scales)");
    const int ts = !nv ? FP4_TS_ONE : (mode == FP4_ALPHA_AMAX ? FP4_TS_AMAX : FP4_TS_SDEC);
    const fp4_epilogue epi = gemm_epilogue(c, beta, d, alpha, a->tscale_dev, b->tscale_dev, ts);
    if (algo == FP4_GEMM_ALGO_TWO_PASS) return gemm_two_pass(ctx, oa, ob, a->cols, epi, c, d);
    if (algo == FP4_GEMM_ALGO_FUSED) return gemm_fused_dispatch(ctx, oa, ob, a->cols, epi);
    return gemm_auto_dispatch(ctx, oa, ob, a->cols, epi, c, d);
}

extern "C" fp4_status fp4_gemm_cuda(fp4_context *ctx, const fp4_qtensor *a, const fp4_qtensor *b, float alpha,
                                    const fp4_view *c, float beta, fp4_view *d, fp4_alpha_mode mode) {
    return fp4_gemm_w4a4_cuda(ctx, a, b, alpha, c, beta, d, mode, FP4_GEMM_ALGO_AUTO);
}
