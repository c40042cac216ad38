/* fp4kit/quantize.h — quantize, dequantize, fake-quant and the block-scaled GEMM.
 *
 * One function, two back ends: each call runs the CPU reference (lib/..._ref.c, OpenMP) when the
 * tensors live on the host, and the CUDA kernel (kernels/) when they live on the device of
 * `ctx`. Mixing locations is an error. ctx may be NULL for host-only calls.
 *
 * The CPU reference is the specification in code: it follows TransformerEngine's operation
 * order exactly (spec/nvfp4-recipe.md §3.1–3.3, §4, §6, §9) and every kernel is tested for
 * bit equality with it.
 */
#ifndef FP4KIT_QUANTIZE_H
#define FP4KIT_QUANTIZE_H

#include "fp4kit/context.h"
#include "fp4kit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Quantize x [R, C] (F32 or BF16).
 *   rowwise    (may be NULL): [R, C], blocks along C. Must be allocated by the caller with
 *              fp4_qtensor_alloc(rowwise, R, C, cfg, loc).
 *   columnwise (may be NULL): [C, R], the quantized transpose, blocks along R; allocated as
 *              fp4_qtensor_alloc(columnwise, C, R, cfg, loc). Its own amax equals the rowwise
 *              amax (no transform); SR uses stream ^ FP4_STREAM_COLUMNWISE.
 * At least one of the two is required. Shapes: C (resp. R) a multiple of the block width;
 * for 16x16 blocks both R and C multiples of 16. With 16x16 blocks the columnwise copy is
 * bit-identical to the transposed rowwise copy.
 * SR element index: the linear index r*cols + c of the element in the *output* tensor. */
fp4_status fp4_quantize(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, fp4_qtensor *rowwise,
                        fp4_qtensor *columnwise);

/* Dequantize q into y (F32 or BF16, same shape). NVFP4: y = fp32(fp32(e2m1 * e4m3) * s_dec);
 * MXFP4: y = e2m1 * 2^(b-127). BF16 output is the RNE rounding of that fp32 value. */
fp4_status fp4_dequantize(fp4_context *ctx, const fp4_qtensor *q, fp4_view *y);

/* Fake-quant: y = dequantize(quantize(x)) in one call (y may alias x). Rowwise blocks. */
fp4_status fp4_fake_quant(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, fp4_view *y);

/* Tensor amax (NaN ignored, Inf counts) of a view. */
fp4_status fp4_amax(fp4_context *ctx, const fp4_view *x, float *amax);

/* How the GEMM applies the two tensor scales of NVFP4 operands (spec §3.4, §3.5 item 7). */
typedef enum fp4_alpha_mode {
    FP4_ALPHA_SDEC = 0, /* default: alpha_t = fp32(s_dec_A * s_dec_B) */
    FP4_ALPHA_AMAX = 1  /* TE/cuBLAS form: fp32(fp32(amax_A * amax_B) * fp32(1/7225344)), 7225344 = 36*448^2 */
} fp4_alpha_mode;

/* Block-scaled GEMM D[M,N] = alpha * alpha_t * sum_k A[m,k] B[n,k] + beta * C[M,N] for two
 * quantized operands of the same format and block width (TN: both K-major, A [M,K], B [N,K]).
 * Reference math (what tensor cores do): for each K block b, the partial dot product of the
 * E2M1 values is multiplied by both decoded block scales and accumulated in FP32 in increasing
 * b; then alpha_t (1 for MXFP4) and alpha scale it once; beta*C is added in FP32; the result is
 * stored as F32 or BF16 (RNE). c may be NULL when beta == 0. */
fp4_status fp4_gemm(fp4_context *ctx, const fp4_qtensor *a, const fp4_qtensor *b, float alpha, const fp4_view *c,
                    float beta, fp4_view *d, fp4_alpha_mode mode);

/* The alpha_t that fp4_gemm applies for two operands. */
float fp4_gemm_tensor_alpha(const fp4_qtensor *a, const fp4_qtensor *b, fp4_alpha_mode mode);

#ifdef __cplusplus
}
#endif
#endif
