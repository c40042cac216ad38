/* qat/optim.c — AdamW over the model's flat FP32 parameter buffer, learning-rate schedules
 * (linear warmup, then cosine or WSD = warmup-stable-decay) and gradient clipping by global norm.
 * The element-wise work is fp4_adamw_update / fp4_grad_norm_sq (qat/ops.h), so it runs where the
 * model lives. Gradient accumulation is the caller's: micro-batch backwards add into the same
 * gradient buffer with dloss_scale = 1/(accum*B*T), then one fp4_optim_step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "train_impl.h"

const char *fp4_schedule_name(fp4_schedule s) { return s == FP4_SCHED_WSD ? "wsd" : "cosine"; }

fp4_status fp4_schedule_parse(const char *s, fp4_schedule *out) {
    if (s && !strcmp(s, "cosine")) { *out = FP4_SCHED_COSINE; return FP4_OK; }
    if (s && !strcmp(s, "wsd")) { *out = FP4_SCHED_WSD; return FP4_OK; }
    return fp4_fail(FP4_ERR_INVALID_ARG, "unknown schedule '%s' (cosine or wsd)", s ? s : "(null)");
}

fp4_optim_config fp4_optim_config_default(void) {
    fp4_optim_config o = {3e-3f, 0.1f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 20, 200, FP4_SCHED_COSINE, 0.2f};
    return o;
}

fp4_status fp4_optim_config_validate(const fp4_optim_config *o) {
    if (!o) return fp4_fail(FP4_ERR_INVALID_ARG, "optimizer config is NULL");
    if (!(o->lr > 0.0f) || !isfinite(o->lr)) return fp4_fail(FP4_ERR_INVALID_ARG, "lr = %g must be > 0", (double)o->lr);
    if (!(o->min_lr_frac >= 0.0f && o->min_lr_frac <= 1.0f))
        return fp4_fail(FP4_ERR_INVALID_ARG, "min lr fraction = %g not in [0, 1]", (double)o->min_lr_frac);
    if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f) || !(o->beta2 >= 0.0f && o->beta2 < 1.0f))
        return fp4_fail(FP4_ERR_INVALID_ARG, "betas (%g, %g) must be in [0, 1)", (double)o->beta1, (double)o->beta2);
    if (!(o->eps > 0.0f)) return fp4_fail(FP4_ERR_INVALID_ARG, "adam eps = %g must be > 0", (double)o->eps);
    if (!(o->weight_decay >= 0.0f) || !isfinite(o->weight_decay))
        return fp4_fail(FP4_ERR_INVALID_ARG, "weight decay = %g must be >= 0", (double)o->weight_decay);
    if (!(o->clip >= 0.0f) || !isfinite(o->clip))
        return fp4_fail(FP4_ERR_INVALID_ARG, "clip = %g must be >= 0 (0 = off)", (double)o->clip);
    if (o->steps < 1) return fp4_fail(FP4_ERR_INVALID_ARG, "steps = %lld must be >= 1", (long long)o->steps);
    if (o->warmup < 0 || o->warmup > o->steps)
        return fp4_fail(FP4_ERR_INVALID_ARG, "warmup = %lld not in [0, steps = %lld]", (long long)o->warmup,
                        (long long)o->steps);
    if (o->schedule != FP4_SCHED_COSINE && o->schedule != FP4_SCHED_WSD)
        return fp4_fail(FP4_ERR_INVALID_ARG, "unknown schedule %d", (int)o->schedule);
    if (!(o->decay_frac >= 0.0f && o->decay_frac <= 1.0f))
        return fp4_fail(FP4_ERR_INVALID_ARG, "WSD decay fraction = %g not in [0, 1]", (double)o->decay_frac);
    return FP4_OK;
}

float fp4_lr_at(const fp4_optim_config *o, int64_t step) {
    const double lr = o->lr, lo = (double)o->lr * o->min_lr_frac;
    if (step < o->warmup) return (float)(lr * (double)(step + 1) / (double)o->warmup);
    if (step >= o->steps) return (float)lo;
    if (o->schedule == FP4_SCHED_COSINE) {
        const int64_t span = o->steps - o->warmup;
        const double r = span > 1 ? (double)(step - o->warmup) / (double)(span - 1) : 1.0;
        return (float)(lo + 0.5 * (lr - lo) * (1.0 + cos(3.141592653589793 * r)));
    }
    /* WSD: stable until decay_start, then linear to lo at the last step */
    const int64_t nd = (int64_t)llround((double)o->decay_frac * (double)o->steps);
    const int64_t decay_start = o->steps - nd > o->warmup ? o->steps - nd : o->warmup;
    if (step < decay_start || nd == 0) return (float)lr;
    const int64_t span = o->steps - decay_start;
    const double r = span > 1 ? (double)(step - decay_start + 1) / (double)span : 1.0;
    return (float)(lr + (lo - lr) * r);
}

fp4_status fp4_optim_create(fp4_context *ctx, const fp4_model *model, fp4_optim *o) {
    memset(o, 0, sizeof *o);
    o->n = model->n_params;
    o->loc = model->loc;
    const size_t bytes = o->n * sizeof(float);
    fp4_status st = FP4_OK;
    if (o->loc == FP4_DEVICE) {
        st = fp4_device_alloc(bytes, (void **)&o->m);
        if (st == FP4_OK) st = fp4_device_alloc(bytes, (void **)&o->v);
    } else {
        o->m = malloc(bytes ? bytes : 1);
        o->v = malloc(bytes ? bytes : 1);
        if (!o->m || !o->v) st = fp4_fail(FP4_ERR_NOMEM, "AdamW state: 2 x %zu bytes", bytes);
    }
    if (st == FP4_OK) st = fp4_ops_zero(ctx, o->m, bytes);
    if (st == FP4_OK) st = fp4_ops_zero(ctx, o->v, bytes);
    if (st != FP4_OK) fp4_optim_free(o);
    return st;
}

void fp4_optim_free(fp4_optim *o) {
    if (!o) return;
    if (o->loc == FP4_DEVICE) {
        fp4_device_free(o->m);
        fp4_device_free(o->v);
    } else {
        free(o->m);
        free(o->v);
    }
    memset(o, 0, sizeof *o);
}

fp4_status fp4_optim_step(fp4_context *ctx, fp4_optim *o, fp4_model *model, const fp4_optim_config *oc,
                          float *grad_norm, float *lr) {
    double ss = 0.0;
    FP4_TRY(fp4_grad_norm_sq(ctx, model->grads, (int64_t)model->n_params, &ss));
    const double norm = sqrt(ss);
    if (grad_norm) *grad_norm = (float)norm;
    if (!isfinite(norm))
        return fp4_fail(FP4_ERR_NONFINITE, "gradient norm is %g at optimizer step %lld", norm, (long long)o->t + 1);
    float scale = 1.0f;
    if (oc->clip > 0.0f && norm > (double)oc->clip) scale = (float)((double)oc->clip / norm);
    const float l = fp4_lr_at(oc, o->t);
    if (lr) *lr = l;
    const fp4_adamw_step s = fp4_adamw_step_make(l, oc->beta1, oc->beta2, oc->eps, oc->weight_decay, o->t + 1, scale);
    FP4_TRY(fp4_adamw_update(ctx, model->params, model->grads, o->m, o->v, model->wd_mask, (int64_t)o->n, &s));
    o->t++;
    return FP4_OK;
}
