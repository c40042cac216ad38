/* qat/ops.c — the dispatchers of the model ops (qat/ops.h): check every argument (pointers,
 * shapes, dtypes, locations against the context), then run the host reference (qat/ops_ref.c) for
 * a host context or the CUDA back end (qat/ops_cuda.h) for a CUDA context. Messages name the op
 * and the argument ("fp4_attention_forward: qkv is [64, 96], expected [64, 3*C = 96]"...).
 */
#include <math.h>
#include <stdint.h>

#include "ops_cuda.h"

/* ---- validation helpers ------------------------------------------------------------------------ */

/* allow_ld: bit 0 = the row stride may exceed cols; bit 1 = BF16 is fine on the host too. */
/* Where the call runs: 1 device, 0 host; fails for a CUDA context without CUDA in the build. */
static fp4_status backend(fp4_context *ctx, const char *op, int *dev) {
    *dev = fp4_context_is_cuda(ctx);
#ifndef FP4KIT_HAVE_CUDA
    if (*dev) return fp4_fail(FP4_ERR_UNSUPPORTED, "%s: this fp4kit was built without CUDA", op);
#else
    (void)op;
#endif
    return FP4_OK;
}

static fp4_status check_view(const char *op, const char *name, const fp4_view *v, int dev, int64_t rows, int64_t cols,
                             int allow_ld) {
    if (!v || !v->data) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: %s is NULL", op, name);
    if (v->loc != (dev ? FP4_DEVICE : FP4_HOST))
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: %s is %s memory but the context is a %s context", op, name,
                        v->loc == FP4_DEVICE ? "device" : "host", dev ? "CUDA" : "host");
    if (v->dtype != FP4_DTYPE_F32 && v->dtype != FP4_DTYPE_BF16)
        return fp4_fail(FP4_ERR_DTYPE, "%s: %s has dtype %s (F32 or BF16 expected)", op, name, fp4_dtype_name(v->dtype));
    if (!dev && v->dtype != FP4_DTYPE_F32 && !(allow_ld & 2))
        return fp4_fail(FP4_ERR_DTYPE, "%s: %s is %s; the host reference implements F32 only", op, name,
                        fp4_dtype_name(v->dtype));
    if ((rows >= 0 && v->rows != rows) || (cols >= 0 && v->cols != cols) || v->rows < 1 || v->cols < 1)
        return fp4_fail(FP4_ERR_SHAPE, "%s: %s is [%lld, %lld], expected [%lld, %lld]", op, name, (long long)v->rows,
                        (long long)v->cols, (long long)(rows >= 0 ? rows : v->rows),
                        (long long)(cols >= 0 ? cols : v->cols));
    if ((allow_ld & 1) ? v->ld < v->cols : v->ld != v->cols)
        return fp4_fail(FP4_ERR_SHAPE, "%s: %s has row stride %lld for %lld columns (%s)", op, name, (long long)v->ld,
                        (long long)v->cols, (allow_ld & 1) ? "ld >= cols needed" : "must be contiguous");
    return FP4_OK;
}

static fp4_status same_dtype(const char *op, const fp4_view *a, const fp4_view *b) {
    if (a->dtype != b->dtype)
        return fp4_fail(FP4_ERR_DTYPE, "%s: views mix %s and %s (one dtype per call)", op, fp4_dtype_name(a->dtype),
                        fp4_dtype_name(b->dtype));
    return FP4_OK;
}

#define NONNULL(op, p)                                                                                 \
    do {                                                                                               \
        if (!(p)) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: %s is NULL", op, #p);                      \
    } while (0)

#ifdef FP4KIT_HAVE_CUDA
#define DISPATCH(name, ...) return dev ? name##_cuda(__VA_ARGS__) : name##_ref(__VA_ARGS__)
#else
#define DISPATCH(name, ...) return name##_ref(__VA_ARGS__)
#endif

/* V >= 1, and on the host every token id in [0, V) (device ids cannot be read here; the caller
 * validates them on the host before uploading). */
static fp4_status check_tokens(const char *op, const int32_t *tokens, int64_t n, int64_t V, int dev) {
    if (V < 1) return fp4_fail(FP4_ERR_SHAPE, "%s: vocabulary V = %lld", op, (long long)V);
    if (!dev)
        for (int64_t i = 0; i < n; i++)
            if (tokens[i] < 0 || tokens[i] >= V)
                return fp4_fail(FP4_ERR_INVALID_ARG, "%s: tokens[%lld] = %d outside [0, V = %lld)", op, (long long)i,
                                (int)tokens[i], (long long)V);
    return FP4_OK;
}

/* ---- encoder -------------------------------------------------------------------------------------- */

fp4_status fp4_encoder_forward(fp4_context *ctx, fp4_view *out, const int32_t *tokens, const float *wte, int64_t V) {
    static const char op[] = "fp4_encoder_forward";
    int dev;
    FP4_TRY(backend(ctx, op, &dev));
    FP4_TRY(check_view(op, "out", out, dev, -1, -1, 0));
    NONNULL(op, tokens);
    NONNULL(op, wte);
    FP4_TRY(check_tokens(op, tokens, out->rows, V, dev));
    DISPATCH(fp4_encoder_forward, ctx, out, tokens, wte, V);
}

fp4_status fp4_encoder_backward(fp4_context *ctx, float *dwte, const fp4_view *dout, const int32_t *tokens,
                                int64_t V) {
    static const char op[] = "fp4_encoder_backward";
    int dev;
    FP4_TRY(backend(ctx, op, &dev));
    FP4_TRY(check_view(op, "dout", dout, dev, -1, -1, 0));
    NONNULL(op, tokens);
    NONNULL(op, dwte);
    FP4_TRY(check_tokens(op, tokens, dout->rows, V, dev));
    DISPATCH(fp4_encoder_backward, ctx, dwte, dout, tokens, V);
}

/* ---- rmsnorm ---------------------------------------------------------------------------------------- */

fp4_status fp4_rmsnorm_forward(fp4_context *ctx, fp4_view *out, float *rstd, const fp4_view *inp, const float *weight,
                               float eps) {
    static const char op[] = "fp4_rmsnorm_forward";
    int dev;
    FP4_TRY(backend(ctx, op, &dev));
    FP4_TRY(check_view(op, "inp", inp, dev, -1, -1, 0));
    FP4_TRY(check_view(op, "out", out, dev, inp->rows, inp->cols, 0));
    FP4_TRY(same_dtype(op, out, inp));
    NONNULL(op, rstd);
    NONNULL(op, weight);
    if (!(eps >= 0.0f)) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: eps = %g must be >= 0", op, (double)eps);
    DISPATCH(fp4_rmsnorm_forward, ctx, out, rstd, inp, weight, eps);
}

fp4_status fp4_rmsnorm_backward(fp4_context *ctx, fp4_view *dinp, float *dweight, const fp4_view *dout,
                                const fp4_view *inp, const float *weight, const float *rstd) {
    static const char op[] = "fp4_rmsnorm_backward";
    int dev;
    FP4_TRY(backend(ctx, op, &dev));
    FP4_TRY(check_view(op, "inp", inp, dev, -1, -1, 0));
    FP4_TRY(check_view(op, "dout", dout, dev, inp->rows, inp->cols, 0));
    FP4_TRY(check_view(op, "dinp", dinp, dev, inp->rows, inp->cols, 0));
    FP4_TRY(same_dtype(op, dinp, inp));
    FP4_TRY(same_dtype(op, dout, inp));
    NONNULL(op, dweight);
    NONNULL(op, weight);
    NONNULL(op, rstd);
    DISPATCH(fp4_rmsnorm_backward, ctx, dinp, dweight, dout, inp, weight, rstd);
}

/* ---- rope --------------------------------------------------------------------------------------------- */

static fp4_status rope_check(const char *op, fp4_context *ctx, fp4_view *x, const float *c, const float *s,
                             int64_t T, int NH, int *dev) {
    FP4_TRY(backend(ctx, op, dev));
    FP4_TRY(check_view(op, "x", x, *dev, -1, -1, 1));
    NONNULL(op, c);
    NONNULL(op, s);
    if (T < 1 || NH < 1 || x->rows % T != 0 || x->cols % NH != 0 || (x->cols / NH) % 2 != 0)
        return fp4_fail(FP4_ERR_SHAPE, "%s: x [%lld, %lld] with T = %lld, NH = %d: rows must be a multiple of T and "
                        "cols = NH * hs with hs even", op, (long long)x->rows, (long long)x->cols, (long long)T, NH);
    return FP4_OK;
}

fp4_status fp4_rope_forward(fp4_context *ctx, fp4_view *x, const float *cos_t, const float *sin_t, int64_t T, int NH) {
    int dev;
    FP4_TRY(rope_check("fp4_rope_forward", ctx, x, cos_t, sin_t, T, NH, &dev));
    DISPATCH(fp4_rope_forward, ctx, x, cos_t, sin_t, T, NH);
}

fp4_status fp4_rope_backward(fp4_context *ctx, fp4_view *dx, const float *cos_t, const float *sin_t, int64_t T,
                             int NH) {
    int dev;
    FP4_TRY(rope_check("fp4_rope_backward", ctx, dx, cos_t, sin_t, T, NH, &dev));
    DISPATCH(fp4_rope_backward, ctx, dx, cos_t, sin_t, T, NH);
}

void fp4_rope_tables(float *cos_t, float *sin_t, int64_t T, int hs, double theta) {
    const int h = hs / 2;
    for (int64_t t = 0; t < T; t++)
        for (int j = 0; j < h; j++) {
            const double a = (double)t * pow(theta, -2.0 * j / hs);
            cos_t[t * h + j] = (float)cos(a);
            sin_t[t * h + j] = (float)sin(a);
        }
}

/* ---- attention ---------------------------------------------------------------------------------------- */

/* The checks every attention op starts with: the context's back end (*dev), qkv a valid view of
 * that location, B, T, NH >= 1, qkv [B*T, 3C] with C a multiple of NH; *C = its C. */
static fp4_status att_qkv(fp4_context *ctx, const char *op, int *dev, int64_t B, int64_t T, int NH,
                          const fp4_view *qkv, int64_t *C) {
    FP4_TRY(backend(ctx, op, dev));
    FP4_TRY(check_view(op, "qkv", qkv, *dev, -1, -1, 0));
    if (B < 1 || T < 1 || NH < 1) return fp4_fail(FP4_ERR_SHAPE, "%s: B = %lld, T = %lld, NH = %d", op, (long long)B,
                                                  (long long)T, NH);
    if (qkv->cols % 3 != 0 || (qkv->cols / 3) % NH != 0)
        return fp4_fail(FP4_ERR_SHAPE, "%s: qkv must be [B*T, 3C] with C a multiple of NH = %d", op, NH);
    *C = qkv->cols / 3;
    return check_view(op, "qkv", qkv, *dev, B * T, 3 * *C, 0);
}

fp4_status fp4_attention_forward(fp4_context *ctx, fp4_view *out, fp4_view *att, const fp4_view *qkv, int64_t B,
                                 int64_t T, int NH) {
    static const char op[] = "fp4_attention_forward";
    int dev;
    int64_t C = 0;
    FP4_TRY(att_qkv(ctx, op, &dev, B, T, NH, qkv, &C));
    FP4_TRY(check_view(op, "out", out, dev, B * T, C, 0));
    FP4_TRY(check_view(op, "att", att, dev, B * NH * T, T, 0));
    FP4_TRY(same_dtype(op, out, qkv));
    FP4_TRY(same_dtype(op, att, qkv));
    DISPATCH(fp4_attention_forward, ctx, out, att, qkv, B, T, NH);
}

fp4_status fp4_attention_backward(fp4_context *ctx, fp4_view *dqkv, fp4_view *datt, const fp4_view *dout,
                                  const fp4_view *qkv, const fp4_view *att, int64_t B, int64_t T, int NH) {
    static const char op[] = "fp4_attention_backward";
    int dev;
    int64_t C = 0;
    FP4_TRY(att_qkv(ctx, op, &dev, B, T, NH, qkv, &C));
    FP4_TRY(check_view(op, "dqkv", dqkv, dev, B * T, 3 * C, 0));
    FP4_TRY(check_view(op, "dout", dout, dev, B * T, C, 0));
    FP4_TRY(check_view(op, "att", att, dev, B * NH * T, T, 0));
    FP4_TRY(check_view(op, "datt", datt, dev, B * NH * T, T, 0));
    FP4_TRY(same_dtype(op, dqkv, qkv));
    FP4_TRY(same_dtype(op, dout, qkv));
    FP4_TRY(same_dtype(op, att, qkv));
    FP4_TRY(same_dtype(op, datt, qkv));
    DISPATCH(fp4_attention_backward, ctx, dqkv, datt, dout, qkv, att, B, T, NH);
}

int fp4_flash_attention_supported(int hs) { return hs == 16 || hs == 32 || hs == 64; }

fp4_status fp4_flash_attention_forward(fp4_context *ctx, fp4_view *out, float *lse, const fp4_view *qkv, int64_t B,
                                       int64_t T, int NH) {
    static const char op[] = "fp4_flash_attention_forward";
    int dev;
    int64_t C = 0;
    FP4_TRY(att_qkv(ctx, op, &dev, B, T, NH, qkv, &C));
    FP4_TRY(check_view(op, "out", out, dev, B * T, C, 0));
    FP4_TRY(same_dtype(op, out, qkv));
    NONNULL(op, lse);
    DISPATCH(fp4_flash_attention_forward, ctx, out, lse, qkv, B, T, NH);
}

fp4_status fp4_flash_attention_backward(fp4_context *ctx, fp4_view *dqkv, const fp4_view *dout, const fp4_view *qkv,
                                        const fp4_view *out, const float *lse, int64_t B, int64_t T, int NH) {
    static const char op[] = "fp4_flash_attention_backward";
    int dev;
    int64_t C = 0;
    FP4_TRY(att_qkv(ctx, op, &dev, B, T, NH, qkv, &C));
    FP4_TRY(check_view(op, "dqkv", dqkv, dev, B * T, 3 * C, 0));
    FP4_TRY(check_view(op, "dout", dout, dev, B * T, C, 0));
    FP4_TRY(check_view(op, "out", out, dev, B * T, C, 0));
    FP4_TRY(same_dtype(op, dqkv, qkv));
    FP4_TRY(same_dtype(op, dout, qkv));
    FP4_TRY(same_dtype(op, out, qkv));
    NONNULL(op, lse);
    DISPATCH(fp4_flash_attention_backward, ctx, dqkv, dout, qkv, out, lse, B, T, NH);
}

/* ---- element-wise ---------------------------------------------------------------------------------------- */

static fp4_status ew2(const char *op, fp4_context *ctx, const fp4_view *a, const char *an, const fp4_view *b,
                      const char *bn, int *dev) {
    FP4_TRY(backend(ctx, op, dev));
    FP4_TRY(check_view(op, bn, b, *dev, -1, -1, 0));
    FP4_TRY(check_view(op, an, a, *dev, b->rows, b->cols, 0));
    return same_dtype(op, a, b);
}

fp4_status fp4_gelu_forward(fp4_context *ctx, fp4_view *out, const fp4_view *inp) {
    int dev;
    FP4_TRY(ew2("fp4_gelu_forward", ctx, out, "out", inp, "inp", &dev));
    DISPATCH(fp4_gelu_forward, ctx, out, inp);
}

fp4_status fp4_gelu_backward(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout) {
    int dev;
    FP4_TRY(ew2("fp4_gelu_backward", ctx, dinp, "dinp", inp, "inp", &dev));
    FP4_TRY(ew2("fp4_gelu_backward", ctx, dout, "dout", inp, "inp", &dev));
    DISPATCH(fp4_gelu_backward, ctx, dinp, inp, dout);
}

fp4_status fp4_relu2_forward(fp4_context *ctx, fp4_view *out, const fp4_view *inp) {
    int dev;
    FP4_TRY(ew2("fp4_relu2_forward", ctx, out, "out", inp, "inp", &dev));
    DISPATCH(fp4_relu2_forward, ctx, out, inp);
}

fp4_status fp4_relu2_backward(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout) {
    int dev;
    FP4_TRY(ew2("fp4_relu2_backward", ctx, dinp, "dinp", inp, "inp", &dev));
    FP4_TRY(ew2("fp4_relu2_backward", ctx, dout, "dout", inp, "inp", &dev));
    DISPATCH(fp4_relu2_backward, ctx, dinp, inp, dout);
}

fp4_status fp4_residual_forward(fp4_context *ctx, fp4_view *out, const fp4_view *a, const fp4_view *b) {
    int dev;
    FP4_TRY(ew2("fp4_residual_forward", ctx, out, "out", a, "a", &dev));
    FP4_TRY(ew2("fp4_residual_forward", ctx, b, "b", a, "a", &dev));
    DISPATCH(fp4_residual_forward, ctx, out, a, b);
}

/* ---- cross-entropy ----------------------------------------------------------------------------------------- */

fp4_status fp4_crossentropy_forward(fp4_context *ctx, float *losses, fp4_view *logits, const int32_t *targets,
                                    int64_t V, float dloss, int write_grad) {
    static const char op[] = "fp4_crossentropy_forward";
    int dev;
    FP4_TRY(backend(ctx, op, &dev));
    FP4_TRY(check_view(op, "logits", logits, dev, -1, -1, 0));
    NONNULL(op, targets);
    if (!losses && !write_grad) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: losses is NULL and write_grad is 0", op);
    if (V < 1 || V > logits->cols)
        return fp4_fail(FP4_ERR_SHAPE, "%s: V = %lld but logits have %lld columns (V <= Vp needed)", op, (long long)V,
                        (long long)logits->cols);
    if (!dev)
        for (int64_t i = 0; i < logits->rows; i++)
            if (targets[i] < -1 || targets[i] >= V)
                return fp4_fail(FP4_ERR_INVALID_ARG, "%s: targets[%lld] = %d outside [-1, V = %lld)", op,
                                (long long)i, (int)targets[i], (long long)V);
    DISPATCH(fp4_crossentropy_forward, ctx, losses, logits, targets, V, dloss, write_grad);
}

/* ---- optimizer --------------------------------------------------------------------------------------------- */

fp4_adamw_step fp4_adamw_step_make(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t,
                                   float grad_scale) {
    fp4_adamw_step s;
    s.lr = lr;
    s.beta1 = beta1;
    s.beta2 = beta2;
    s.eps = eps;
    s.weight_decay = weight_decay;
    s.bc1 = (float)(1.0 - pow((double)beta1, (double)t));
    s.bc2 = (float)(1.0 - pow((double)beta2, (double)t));
    s.grad_scale = grad_scale;
    return s;
}

fp4_status fp4_adamw_update(fp4_context *ctx, float *param, const float *grad, float *m, float *v,
                            const uint8_t *wd_mask, int64_t n, const fp4_adamw_step *s) {
    static const char op[] = "fp4_adamw_update";
    int dev;
    FP4_TRY(backend(ctx, op, &dev));
    NONNULL(op, param);
    NONNULL(op, grad);
    NONNULL(op, m);
    NONNULL(op, v);
    NONNULL(op, s);
    if (n < 0) return fp4_fail(FP4_ERR_SHAPE, "%s: n = %lld", op, (long long)n);
    if (!(s->bc1 > 0.0f) || !(s->bc2 > 0.0f) || !(s->beta1 >= 0.0f && s->beta1 < 1.0f) ||
        !(s->beta2 >= 0.0f && s->beta2 < 1.0f) || !(s->eps > 0.0f) || !isfinite(s->lr) || !isfinite(s->grad_scale))
        return fp4_fail(FP4_ERR_INVALID_ARG,
                        "%s: bad hyper-parameters (lr %g, beta1 %g, beta2 %g, eps %g, bc1 %g, bc2 %g, scale %g)", op,
                        (double)s->lr, (double)s->beta1, (double)s->beta2, (double)s->eps, (double)s->bc1,
                        (double)s->bc2, (double)s->grad_scale);
    if (n == 0) return FP4_OK;
    DISPATCH(fp4_adamw_update, ctx, param, grad, m, v, wd_mask, n, s);
}

fp4_status fp4_grad_norm_sq(fp4_context *ctx, const float *g, int64_t n, double *out) {
    static const char op[] = "fp4_grad_norm_sq";
    int dev;
    FP4_TRY(backend(ctx, op, &dev));
    NONNULL(op, g);
    NONNULL(op, out);
    if (n < 0) return fp4_fail(FP4_ERR_SHAPE, "%s: n = %lld", op, (long long)n);
    if (n == 0) { *out = 0.0; return FP4_OK; }
    DISPATCH(fp4_grad_norm_sq, ctx, g, n, out);
}

fp4_status fp4_scale(fp4_context *ctx, float *x, int64_t n, float s) {
    static const char op[] = "fp4_scale";
    int dev;
    FP4_TRY(backend(ctx, op, &dev));
    NONNULL(op, x);
    if (n < 0) return fp4_fail(FP4_ERR_SHAPE, "%s: n = %lld", op, (long long)n);
    if (n == 0) return FP4_OK;
    DISPATCH(fp4_scale, ctx, x, n, s);
}

fp4_status fp4_ops_zero(fp4_context *ctx, void *p, size_t bytes) {
    static const char op[] = "fp4_ops_zero";
    int dev;
    FP4_TRY(backend(ctx, op, &dev));
    if (bytes == 0) return FP4_OK;
    NONNULL(op, p);
    DISPATCH(fp4_ops_zero, ctx, p, bytes);
}

fp4_status fp4_ops_convert(fp4_context *ctx, fp4_view *dst, const fp4_view *src) {
    static const char op[] = "fp4_ops_convert";
    int dev;
    FP4_TRY(backend(ctx, op, &dev));
    FP4_TRY(check_view(op, "src", src, dev, -1, -1, 2));
    /* a host BF16 view is allowed here (conversion is the point), so check dst by hand */
    if (!dst || !dst->data) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: dst is NULL", op);
    if (dst->loc != src->loc) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: dst and src live in different places", op);
    if (dst->rows != src->rows || dst->cols != src->cols || dst->ld != dst->cols)
        return fp4_fail(FP4_ERR_SHAPE, "%s: dst [%lld, %lld] (ld %lld) vs src [%lld, %lld]", op, (long long)dst->rows,
                        (long long)dst->cols, (long long)dst->ld, (long long)src->rows, (long long)src->cols);
    if (dst->dtype != FP4_DTYPE_F32 && dst->dtype != FP4_DTYPE_BF16)
        return fp4_fail(FP4_ERR_DTYPE, "%s: dst dtype %s", op, fp4_dtype_name(dst->dtype));
    DISPATCH(fp4_ops_convert, ctx, dst, src);
}
