/* fp4kit/gemm.h — the GEMMs beyond fp4_gemm: W4A16 (BF16 activations × FP4 weight), plain BF16
 * through cuBLASLt, and a choice of algorithm for the FP4 GEMMs (fused kernel or two-pass
 * decode + cuBLASLt baseline).
 *
 * Every GEMM here is TN like fp4_gemm (fp4kit/quantize.h): both operands K-major,
 *   D[M,N] = alpha * alpha_t * sum_k A[m,k] * B[n,k]  (+ beta * C[M,N]),
 * FP32 accumulation, C and D are F32 or BF16 views [M, N] with row stride ld, c may be NULL
 * when beta == 0. Host tensors run the CPU reference (lib/), device tensors the CUDA kernels;
 * mixing locations is an error. K must be a multiple of the FP4 block (16 NVFP4, 32 MXFP4).
 *
 * Tensor scales: NVFP4 operands carry a tensor decode scale s_dec (and amax). For device
 * tensors the kernels read them from fp4_qtensor.tscale_dev = {amax, s_enc, s_dec} on the device,
 * so a GEMM never waits for the host; the caller keeps tscale_dev current (the quantizers do).
 *
 *   fp4_gemm_w4a16(ctx, &x, &w, 1.0f, NULL, 0.0f, &y);   // y[M,N] = x[M,K] · dequant(w[N,K])ᵀ
 */
#ifndef FP4KIT_GEMM_H
#define FP4KIT_GEMM_H

#include "fp4kit/quantize.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How a device FP4 GEMM is computed. Host tensors always run the CPU reference. */
typedef enum fp4_gemm_algo {
    FP4_GEMM_ALGO_AUTO = 0,     /* fastest measured on H100: FUSED for M <= 16 (the decode-sized
                                   kernels), and for W4A16 16 < M <= 64 when N·K >= 8192²; TWO_PASS
                                   otherwise (decode once, then cuBLASLt BF16 at wgmma speed) when
                                   C is NULL or has D's dtype and the workspace can grow to
                                   2·(N + M)·K bytes + 32 MiB, else FUSED. Two-pass measured
                                   faster than the fused kernels at W4A4 M = 32..8192, W4A16
                                   M = 96..8192 and W4A16 M = 32..64 at 4096² (the fused wgmma
                                   kernel at M >= 2048: W4A16 67-76 %, W4A4 54-60 % of cuBLASLt
                                   BF16; benchmarks/notes/gemm.md runs 6, 7, 12) */
    FP4_GEMM_ALGO_FUSED = 1,    /* tensor-core kernels reading packed codes and block scales
                                   directly; no BF16 copy of an FP4 operand is ever written.
                                   M > 128 on compute capability 9.0 (H100/H200): the
                                   warp-specialized wgmma kernel (kernels/gemm_wgmma.cu, needs
                                   K % 32 == 0, or NVFP4 K % 16 == 0, and for W4A16 an activation
                                   row stride % 8 == 0); otherwise the mma.sync tiled kernel */
    FP4_GEMM_ALGO_TWO_PASS = 2  /* baseline / cross-check: decode each FP4 operand to a BF16
                                   buffer (e2m1 * block scale, exact) in the context workspace,
                                   then cuBLASLt BF16 with alpha * alpha_t as a device scalar */
} fp4_gemm_algo;

/* fp4_gemm with an explicit algorithm (fp4_gemm = FP4_GEMM_ALGO_AUTO). */
fp4_status fp4_gemm_ex(fp4_context *ctx, const fp4_qtensor *a, const fp4_qtensor *b, float alpha, const fp4_view *c,
                       float beta, fp4_view *d, fp4_alpha_mode mode, fp4_gemm_algo algo);

/* W4A16: D[M,N] = alpha * t_w * sum_k x[m,k] * w[n,k] (+ beta * C).
 *   x  BF16 view [M, K] (activations; any M >= 1, row stride ld)
 *   w  quantized [N, K], NVFP4 (1x16 or 16x16 blocks) or MXFP4
 *   t_w = s_dec of w for NVFP4, 1 for MXFP4.
 * Reference order (lib/gemm_w4a16_ref.c): acc = sum over k increasing of fp32 products
 * x * (e2m1 * block scale) (each exact), out = alpha * (t_w * acc), + beta * C, store. */
fp4_status fp4_gemm_w4a16(fp4_context *ctx, const fp4_view *x, const fp4_qtensor *w, float alpha, const fp4_view *c,
                          float beta, fp4_view *d);
fp4_status fp4_gemm_w4a16_ex(fp4_context *ctx, const fp4_view *x, const fp4_qtensor *w, float alpha,
                             const fp4_view *c, float beta, fp4_view *d, fp4_gemm_algo algo);

/* BF16 × BF16: D[M,N] = alpha * sum_k a[m,k] * b[n,k] (+ beta * C); a [M,K], b [N,K] BF16.
 * Device: cuBLASLt (cached handle per device, the context workspace, heuristic algorithm);
 * C must then have D's dtype (cuBLASLt's rule), else FP4_ERR_DTYPE. Host: reference with
 * fp32 accumulation over k increasing, out = alpha * acc, + beta * C. */
fp4_status fp4_gemm_bf16(fp4_context *ctx, const fp4_view *a, const fp4_view *b, float alpha, const fp4_view *c,
                         float beta, fp4_view *d);

#ifdef __cplusplus
}
#endif
#endif
