/* lib/gemm_internal.h — private entry points of the extra GEMMs (fp4kit/gemm.h), shared by the
 * dispatchers (lib/gemm.c), the CPU references (lib/gemm_w4a16_ref.c) and the CUDA sources
 * (kernels/gemm_*.cu). Not installed. Arguments reaching these functions are validated: shapes
 * agree, K is a multiple of the block, locations agree, C is non-NULL iff beta != 0. */
#ifndef FP4KIT_GEMM_INTERNAL_H
#define FP4KIT_GEMM_INTERNAL_H

#include "fp4kit/gemm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CPU references (host views / host quantized tensors). */
fp4_status fp4_gemm_w4a16_ref(const fp4_view *x, const fp4_qtensor *w, float alpha, const fp4_view *c, float beta,
                              fp4_view *d);
fp4_status fp4_gemm_bf16_ref(const fp4_view *a, const fp4_view *b, float alpha, const fp4_view *c, float beta,
                             fp4_view *d);

/* CUDA (kernels/gemm_*.cu). fp4_gemm_cuda (kernels.h) is fp4_gemm_w4a4_cuda(..., AUTO). */
fp4_status fp4_gemm_w4a4_cuda(fp4_context *ctx, const fp4_qtensor *a, const fp4_qtensor *b, float alpha,
                              const fp4_view *c, float beta, fp4_view *d, fp4_alpha_mode mode, fp4_gemm_algo algo);
fp4_status fp4_gemm_w4a16_cuda(fp4_context *ctx, const fp4_view *x, const fp4_qtensor *w, float alpha,
                               const fp4_view *c, float beta, fp4_view *d, fp4_gemm_algo algo);
/* kernels/gemm_wgmma.cu: nonzero when AUTO should run the fused sm_90a wgmma kernel (M above
 * GEMM_WGMMA_AUTO_MIN_M, device and operands eligible) instead of the two-pass path. */
int fp4_gemm_wgmma_w4a4_auto(const fp4_qtensor *a, const fp4_qtensor *b);
int fp4_gemm_wgmma_w4a16_auto(const fp4_view *x, const fp4_qtensor *w);
fp4_status fp4_gemm_bf16_cuda(fp4_context *ctx, const fp4_view *a, const fp4_view *b, float alpha, const fp4_view *c,
                              float beta, fp4_view *d);

#ifdef __cplusplus
}
#endif
#endif
