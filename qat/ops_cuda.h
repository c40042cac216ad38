/* qat/ops_cuda.h — the CUDA back end of the model ops of qat/ops.h: fp4_<op>_cuda, one per op,
 * with exactly the arguments of fp4_<op> (already validated by the dispatcher in qat/ops.c: shapes,
 * dtypes, locations; every pointer is device memory of ctx's device). Each queues its work on
 * fp4_context_stream(ctx) and returns without synchronizing, except fp4_grad_norm_sq_cuda, which
 * returns a host value. Errors are statuses with messages (FP4_ERR_CUDA with the failing call,
 * FP4_ERR_DTYPE for a dtype the kernel does not handle), never exit().
 *
 * The semantics, shapes and the determinism rule are those documented in qat/ops.h; the host
 * versions fp4_<op>_ref in qat/ops_ref.c are the oracles. Implemented in qat/ops_*.cu
 * (tests/gpu_ops.c compares each with its reference). Only declared when the build has CUDA
 * (FP4KIT_HAVE_CUDA).
 */
#ifndef FP4KIT_QAT_OPS_CUDA_H
#define FP4KIT_QAT_OPS_CUDA_H

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef FP4KIT_HAVE_CUDA
fp4_status fp4_encoder_forward_cuda(fp4_context *ctx, fp4_view *out, const int32_t *tokens, const float *wte,
                                   int64_t V);
fp4_status fp4_encoder_backward_cuda(fp4_context *ctx, float *dwte, const fp4_view *dout, const int32_t *tokens,
                                    int64_t V);
fp4_status fp4_rmsnorm_forward_cuda(fp4_context *ctx, fp4_view *out, float *rstd, const fp4_view *inp,
                                   const float *weight, float eps);
fp4_status fp4_rmsnorm_backward_cuda(fp4_context *ctx, fp4_view *dinp, float *dweight, const fp4_view *dout,
                                    const fp4_view *inp, const float *weight, const float *rstd);
fp4_status fp4_rope_forward_cuda(fp4_context *ctx, fp4_view *x, const float *cos_t, const float *sin_t, int64_t T,
                                int NH);
fp4_status fp4_rope_backward_cuda(fp4_context *ctx, fp4_view *dx, const float *cos_t, const float *sin_t, int64_t T,
                                 int NH);
fp4_status fp4_attention_forward_cuda(fp4_context *ctx, fp4_view *out, fp4_view *att, const fp4_view *qkv, int64_t B,
                                     int64_t T, int NH);
fp4_status fp4_attention_backward_cuda(fp4_context *ctx, fp4_view *dqkv, fp4_view *datt, const fp4_view *dout,
                                      const fp4_view *qkv, const fp4_view *att, int64_t B, int64_t T, int NH);
fp4_status fp4_flash_attention_forward_cuda(fp4_context *ctx, fp4_view *out, float *lse, const fp4_view *qkv,
                                            int64_t B, int64_t T, int NH);
fp4_status fp4_flash_attention_backward_cuda(fp4_context *ctx, fp4_view *dqkv, const fp4_view *dout,
                                             const fp4_view *qkv, const fp4_view *out, const float *lse, int64_t B,
                                             int64_t T, int NH);
fp4_status fp4_gelu_forward_cuda(fp4_context *ctx, fp4_view *out, const fp4_view *inp);
fp4_status fp4_gelu_backward_cuda(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout);
fp4_status fp4_relu2_forward_cuda(fp4_context *ctx, fp4_view *out, const fp4_view *inp);
fp4_status fp4_relu2_backward_cuda(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout);
fp4_status fp4_residual_forward_cuda(fp4_context *ctx, fp4_view *out, const fp4_view *a, const fp4_view *b);
fp4_status fp4_crossentropy_forward_cuda(fp4_context *ctx, float *losses, fp4_view *logits, const int32_t *targets,
                                        int64_t V, float dloss, int write_grad);
fp4_status fp4_adamw_update_cuda(fp4_context *ctx, float *param, const float *grad, float *m, float *v,
                                const uint8_t *wd_mask, int64_t n, const fp4_adamw_step *s);
fp4_status fp4_grad_norm_sq_cuda(fp4_context *ctx, const float *g, int64_t n, double *out);
fp4_status fp4_scale_cuda(fp4_context *ctx, float *x, int64_t n, float s);
fp4_status fp4_ops_zero_cuda(fp4_context *ctx, void *p, size_t bytes);
fp4_status fp4_ops_convert_cuda(fp4_context *ctx, fp4_view *dst, const fp4_view *src);
#endif

#ifdef __cplusplus
}
#endif
#endif
