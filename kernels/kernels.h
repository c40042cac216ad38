/* kernels/kernels.h — C-linkage entry points of the CUDA operators (not installed).
 * Each has the same contract as its public dispatcher in lib/ (fp4kit/quantize.h) and is called
 * only for device-resident tensors with arguments already validated. All work is queued on
 * fp4_context_stream(ctx); launch errors are returned as FP4_ERR_CUDA with the kernel's name. */
#ifndef FP4KIT_KERNELS_H
#define FP4KIT_KERNELS_H

#include "fp4kit/quantize.h"

#ifdef __cplusplus
extern "C" {
#endif

fp4_status fp4_amax_cuda(fp4_context *ctx, const fp4_view *x, float *amax);
fp4_status fp4_quantize_cuda(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, fp4_qtensor *rowwise,
                             fp4_qtensor *columnwise);
fp4_status fp4_dequantize_cuda(fp4_context *ctx, const fp4_qtensor *q, fp4_view *y);
fp4_status fp4_gemm_cuda(fp4_context *ctx, const fp4_qtensor *a, const fp4_qtensor *b, float alpha, const fp4_view *c,
                         float beta, fp4_view *d, fp4_alpha_mode mode);

#ifdef __cplusplus
}
#endif
#endif
