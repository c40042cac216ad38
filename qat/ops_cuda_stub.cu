/* qat/ops_cuda_stub.cu — placeholder CUDA back end of the model ops (qat/ops_cuda.h): every
 * fp4_<op>_cuda answers FP4_ERR_UNSUPPORTED "not implemented yet". The CUDA engineer replaces this
 * file with the kernels (qat/ops*.cu); the host path (qat/ops_ref.c) is unaffected.
 */
#include "ops_cuda.h"

#define FP4_OPS_STUB(name) return fp4_fail(FP4_ERR_UNSUPPORTED, "%s: CUDA kernel not implemented yet", name)

fp4_status fp4_encoder_forward_cuda(fp4_context *ctx, fp4_view *out, const int32_t *tokens, const float *wte, int64_t V) {
    (void)ctx; (void)out; (void)tokens; (void)wte; (void)V;
    FP4_OPS_STUB("fp4_encoder_forward_cuda");
}
fp4_status fp4_encoder_backward_cuda(fp4_context *ctx, float *dwte, const fp4_view *dout, const int32_t *tokens, int64_t V) {
    (void)ctx; (void)dwte; (void)dout; (void)tokens; (void)V;
    FP4_OPS_STUB("fp4_encoder_backward_cuda");
}
fp4_status fp4_rmsnorm_forward_cuda(fp4_context *ctx, fp4_view *out, float *rstd, const fp4_view *inp, const float *weight, float eps) {
    (void)ctx; (void)out; (void)rstd; (void)inp; (void)weight; (void)eps;
    FP4_OPS_STUB("fp4_rmsnorm_forward_cuda");
}
fp4_status fp4_rmsnorm_backward_cuda(fp4_context *ctx, fp4_view *dinp, float *dweight, const fp4_view *dout, const fp4_view *inp, const float *weight, const float *rstd) {
    (void)ctx; (void)dinp; (void)dweight; (void)dout; (void)inp; (void)weight; (void)rstd;
    FP4_OPS_STUB("fp4_rmsnorm_backward_cuda");
}
fp4_status fp4_rope_forward_cuda(fp4_context *ctx, fp4_view *x, const float *cos_t, const float *sin_t, int64_t T, int NH) {
    (void)ctx; (void)x; (void)cos_t; (void)sin_t; (void)T; (void)NH;
    FP4_OPS_STUB("fp4_rope_forward_cuda");
}
fp4_status fp4_rope_backward_cuda(fp4_context *ctx, fp4_view *dx, const float *cos_t, const float *sin_t, int64_t T, int NH) {
    (void)ctx; (void)dx; (void)cos_t; (void)sin_t; (void)T; (void)NH;
    FP4_OPS_STUB("fp4_rope_backward_cuda");
}
fp4_status fp4_attention_forward_cuda(fp4_context *ctx, fp4_view *out, fp4_view *att, const fp4_view *qkv, int64_t B, int64_t T, int NH) {
    (void)ctx; (void)out; (void)att; (void)qkv; (void)B; (void)T; (void)NH;
    FP4_OPS_STUB("fp4_attention_forward_cuda");
}
fp4_status fp4_attention_backward_cuda(fp4_context *ctx, fp4_view *dqkv, fp4_view *datt, const fp4_view *dout, const fp4_view *qkv, const fp4_view *att, int64_t B, int64_t T, int NH) {
    (void)ctx; (void)dqkv; (void)datt; (void)dout; (void)qkv; (void)att; (void)B; (void)T; (void)NH;
    FP4_OPS_STUB("fp4_attention_backward_cuda");
}
fp4_status fp4_gelu_forward_cuda(fp4_context *ctx, fp4_view *out, const fp4_view *inp) {
    (void)ctx; (void)out; (void)inp;
    FP4_OPS_STUB("fp4_gelu_forward_cuda");
}
fp4_status fp4_gelu_backward_cuda(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout) {
    (void)ctx; (void)dinp; (void)inp; (void)dout;
    FP4_OPS_STUB("fp4_gelu_backward_cuda");
}
fp4_status fp4_relu2_forward_cuda(fp4_context *ctx, fp4_view *out, const fp4_view *inp) {
    (void)ctx; (void)out; (void)inp;
    FP4_OPS_STUB("fp4_relu2_forward_cuda");
}
fp4_status fp4_relu2_backward_cuda(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout) {
    (void)ctx; (void)dinp; (void)inp; (void)dout;
    FP4_OPS_STUB("fp4_relu2_backward_cuda");
}
fp4_status fp4_residual_forward_cuda(fp4_context *ctx, fp4_view *out, const fp4_view *a, const fp4_view *b) {
    (void)ctx; (void)out; (void)a; (void)b;
    FP4_OPS_STUB("fp4_residual_forward_cuda");
}
fp4_status fp4_crossentropy_forward_cuda(fp4_context *ctx, float *losses, fp4_view *logits, const int32_t *targets, int64_t V, float dloss, int write_grad) {
    (void)ctx; (void)losses; (void)logits; (void)targets; (void)V; (void)dloss; (void)write_grad;
    FP4_OPS_STUB("fp4_crossentropy_forward_cuda");
}
fp4_status fp4_adamw_update_cuda(fp4_context *ctx, float *param, const float *grad, float *m, float *v, const uint8_t *wd_mask, int64_t n, const fp4_adamw_step *s) {
    (void)ctx; (void)param; (void)grad; (void)m; (void)v; (void)wd_mask; (void)n; (void)s;
    FP4_OPS_STUB("fp4_adamw_update_cuda");
}
fp4_status fp4_grad_norm_sq_cuda(fp4_context *ctx, const float *g, int64_t n, double *out) {
    (void)ctx; (void)g; (void)n; (void)out;
    FP4_OPS_STUB("fp4_grad_norm_sq_cuda");
}
fp4_status fp4_scale_cuda(fp4_context *ctx, float *x, int64_t n, float s) {
    (void)ctx; (void)x; (void)n; (void)s;
    FP4_OPS_STUB("fp4_scale_cuda");
}
fp4_status fp4_ops_zero_cuda(fp4_context *ctx, void *p, size_t bytes) {
    (void)ctx; (void)p; (void)bytes;
    FP4_OPS_STUB("fp4_ops_zero_cuda");
}
fp4_status fp4_ops_convert_cuda(fp4_context *ctx, fp4_view *dst, const fp4_view *src) {
    (void)ctx; (void)dst; (void)src;
    FP4_OPS_STUB("fp4_ops_convert_cuda");
}
