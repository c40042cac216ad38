/* qat/ops_ref.c — host (FP32, OpenMP) reference of the model ops declared in qat/ops.h; the
 * oracles for the CUDA back end. Arguments arrive validated by qat/ops.c (F32, contiguous except
 * the rope view, host memory). Every output element is computed by one thread in a fixed order,
 * so results do not depend on the thread count. Shapes use llm.c's letters (B, T, C, NH, hs, V).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/formats_inline.h"
#include "ops.h"

#define F(v) ((float *)(v)->data)
#define CF(v) ((const float *)(v)->data)

/* ---- encoder ----------------------------------------------------------------------------------- */

fp4_status fp4_encoder_forward_ref(fp4_context *ctx, fp4_view *out, const int32_t *tokens, const float *wte,
                                   int64_t V) {
    (void)ctx; (void)V;
    const int64_t N = out->rows, C = out->cols;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) memcpy(F(out) + i * C, wte + (int64_t)tokens[i] * C, (size_t)C * sizeof(float));
    return FP4_OK;
}

/* Parallel over channels: each (v, c) sums its rows in increasing i. */
fp4_status fp4_encoder_backward_ref(fp4_context *ctx, float *dwte, const fp4_view *dout, const int32_t *tokens,
                                    int64_t V) {
    (void)ctx; (void)V;
    const int64_t N = dout->rows, C = dout->cols;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < N; i++) dwte[(int64_t)tokens[i] * C + c] += CF(dout)[i * C + c];
    return FP4_OK;
}

/* ---- rmsnorm ----------------------------------------------------------------------------------- */

fp4_status fp4_rmsnorm_forward_ref(fp4_context *ctx, fp4_view *out, float *rstd, const fp4_view *inp,
                                   const float *weight, float eps) {
    (void)ctx;
    const int64_t N = inp->rows, C = inp->cols;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) {
        const float *x = CF(inp) + i * C;
        float *y = F(out) + i * C;
        float ss = 0.0f;
        for (int64_t c = 0; c < C; c++) ss += x[c] * x[c];
        const float r = 1.0f / sqrtf(ss / (float)C + eps);
        for (int64_t c = 0; c < C; c++) y[c] = x[c] * r * weight[c];
        rstd[i] = r;
    }
    return FP4_OK;
}

fp4_status fp4_rmsnorm_backward_ref(fp4_context *ctx, fp4_view *dinp, float *dweight, const fp4_view *dout,
                                    const fp4_view *inp, const float *weight, const float *rstd) {
    (void)ctx;
    const int64_t N = inp->rows, C = inp->cols;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) {
        const float *x = CF(inp) + i * C, *dy = CF(dout) + i * C;
        float *dx = F(dinp) + i * C;
        const float r = rstd[i];
        float dot = 0.0f; /* mean of g * xhat */
        for (int64_t c = 0; c < C; c++) dot += dy[c] * weight[c] * (x[c] * r);
        dot /= (float)C;
        for (int64_t c = 0; c < C; c++) dx[c] += r * (dy[c] * weight[c] - x[c] * r * dot);
    }
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        float s = 0.0f;
        for (int64_t i = 0; i < N; i++) s += CF(dout)[i * C + c] * (CF(inp)[i * C + c] * rstd[i]);
        dweight[c] += s;
    }
    return FP4_OK;
}

/* ---- rope -------------------------------------------------------------------------------------- */

static void rope_apply(fp4_view *x, const float *cs, const float *sn, int64_t T, int NH, float sign) {
    const int64_t N = x->rows, C = x->cols, hs = C / NH, h = hs / 2;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < N; r++) {
        const int64_t t = r % T;
        float *row = F(x) + r * x->ld;
        for (int64_t hd = 0; hd < NH; hd++) {
            float *p = row + hd * hs;
            for (int64_t j = 0; j < h; j++) {
                const float c = cs[t * h + j], s = sign * sn[t * h + j];
                const float a = p[j], b = p[j + h];
                p[j] = a * c - b * s;
                p[j + h] = a * s + b * c;
            }
        }
    }
}

fp4_status fp4_rope_forward_ref(fp4_context *ctx, fp4_view *x, const float *cos_t, const float *sin_t, int64_t T,
                                int NH) {
    (void)ctx;
    rope_apply(x, cos_t, sin_t, T, NH, 1.0f);
    return FP4_OK;
}

fp4_status fp4_rope_backward_ref(fp4_context *ctx, fp4_view *dx, const float *cos_t, const float *sin_t, int64_t T,
                                 int NH) {
    (void)ctx;
    rope_apply(dx, cos_t, sin_t, T, NH, -1.0f);
    return FP4_OK;
}

/* ---- attention (llm.c's attention_forward/backward with a causal mask and saved probabilities) --- */

fp4_status fp4_attention_forward_ref(fp4_context *ctx, fp4_view *out, fp4_view *att, const fp4_view *qkv, int64_t B,
                                     int64_t T, int NH) {
    (void)ctx;
    const int64_t C3 = qkv->cols, C = C3 / 3, hs = C / NH;
    const float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for collapse(3) schedule(static)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++)
            for (int64_t t = 0; t < T; t++) {
                const float *q = CF(qkv) + (b * T + t) * C3 + h * hs;
                float *p = F(att) + ((b * NH + h) * T + t) * T;
                float maxv = -INFINITY;
                for (int64_t t2 = 0; t2 <= t; t2++) {
                    const float *k = CF(qkv) + (b * T + t2) * C3 + C + h * hs;
                    float s = 0.0f;
                    for (int64_t i = 0; i < hs; i++) s += q[i] * k[i];
                    s *= scale;
                    p[t2] = s;
                    if (s > maxv) maxv = s;
                }
                float sum = 0.0f;
                for (int64_t t2 = 0; t2 <= t; t2++) {
                    const float e = expf(p[t2] - maxv);
                    p[t2] = e;
                    sum += e;
                }
                const float inv = 1.0f / sum;
                for (int64_t t2 = 0; t2 < T; t2++) p[t2] = t2 <= t ? p[t2] * inv : 0.0f;
                float *o = F(out) + (b * T + t) * C + h * hs;
                for (int64_t i = 0; i < hs; i++) o[i] = 0.0f;
                for (int64_t t2 = 0; t2 <= t; t2++) {
                    const float *v = CF(qkv) + (b * T + t2) * C3 + 2 * C + h * hs;
                    for (int64_t i = 0; i < hs; i++) o[i] += p[t2] * v[i];
                }
            }
    return FP4_OK;
}

/* Two passes so that every output has one writer: (1) per (b, h, t): datt = dout·v, then
 * dpreatt = p * (datt - sum p*datt) * scale stored in datt, and dq; (2) per (b, h, t2): dk, dv
 * summed over t >= t2 in increasing t. */
fp4_status fp4_attention_backward_ref(fp4_context *ctx, fp4_view *dqkv, fp4_view *datt, const fp4_view *dout,
                                      const fp4_view *qkv, const fp4_view *att, int64_t B, int64_t T, int NH) {
    (void)ctx;
    const int64_t C3 = qkv->cols, C = C3 / 3, hs = C / NH;
    const float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for collapse(3) schedule(static)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++)
            for (int64_t t = 0; t < T; t++) {
                const float *p = CF(att) + ((b * NH + h) * T + t) * T;
                float *dp = F(datt) + ((b * NH + h) * T + t) * T;
                const float *dy = CF(dout) + (b * T + t) * C + h * hs;
                float dot = 0.0f;
                for (int64_t t2 = 0; t2 <= t; t2++) {
                    const float *v = CF(qkv) + (b * T + t2) * C3 + 2 * C + h * hs;
                    float s = 0.0f;
                    for (int64_t i = 0; i < hs; i++) s += dy[i] * v[i];
                    dp[t2] = s;
                    dot += p[t2] * s;
                }
                for (int64_t t2 = 0; t2 < T; t2++) dp[t2] = t2 <= t ? p[t2] * (dp[t2] - dot) * scale : 0.0f;
                float *dq = F(dqkv) + (b * T + t) * C3 + h * hs;
                for (int64_t i = 0; i < hs; i++) dq[i] = 0.0f;
                for (int64_t t2 = 0; t2 <= t; t2++) {
                    const float *k = CF(qkv) + (b * T + t2) * C3 + C + h * hs;
                    for (int64_t i = 0; i < hs; i++) dq[i] += dp[t2] * k[i];
                }
            }
#pragma omp parallel for collapse(3) schedule(static)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++)
            for (int64_t t2 = 0; t2 < T; t2++) {
                float *dk = F(dqkv) + (b * T + t2) * C3 + C + h * hs;
                float *dv = F(dqkv) + (b * T + t2) * C3 + 2 * C + h * hs;
                for (int64_t i = 0; i < hs; i++) dk[i] = dv[i] = 0.0f;
                for (int64_t t = t2; t < T; t++) {
                    const float dpv = CF(datt)[((b * NH + h) * T + t) * T + t2];
                    const float pv = CF(att)[((b * NH + h) * T + t) * T + t2];
                    const float *q = CF(qkv) + (b * T + t) * C3 + h * hs;
                    const float *dy = CF(dout) + (b * T + t) * C + h * hs;
                    for (int64_t i = 0; i < hs; i++) {
                        dk[i] += dpv * q[i];
                        dv[i] += pv * dy[i];
                    }
                }
            }
    return FP4_OK;
}

/* ---- flash-style attention reference: the same maths, lse instead of the probabilities ---------- */

/* Per (b, h, t): scores s[t2] (t2 <= t) into the scratch row, lse = max + log(sum exp(s - max)). */
static float flash_scores(const fp4_view *qkv, int64_t b, int64_t h, int64_t t, int64_t T, int64_t C, int64_t hs,
                          float scale, float *s) {
    const int64_t C3 = 3 * C;
    const float *q = CF(qkv) + (b * T + t) * C3 + h * hs;
    float maxv = -INFINITY;
    for (int64_t t2 = 0; t2 <= t; t2++) {
        const float *k = CF(qkv) + (b * T + t2) * C3 + C + h * hs;
        float acc = 0.0f;
        for (int64_t i = 0; i < hs; i++) acc += q[i] * k[i];
        s[t2] = acc * scale;
        if (s[t2] > maxv) maxv = s[t2];
    }
    float sum = 0.0f;
    for (int64_t t2 = 0; t2 <= t; t2++) sum += expf(s[t2] - maxv);
    return maxv + logf(sum);
}

fp4_status fp4_flash_attention_forward_ref(fp4_context *ctx, fp4_view *out, float *lse, const fp4_view *qkv,
                                           int64_t B, int64_t T, int NH) {
    (void)ctx;
    const int64_t C = qkv->cols / 3, hs = C / NH;
    const float scale = 1.0f / sqrtf((float)hs);
    float *scratch = malloc((size_t)T * sizeof(float) * (size_t)B * NH);
    if (!scratch) return fp4_fail(FP4_ERR_NOMEM, "fp4_flash_attention_forward: %lld floats of scratch", (long long)(B * NH * T));
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++) {
            float *s = scratch + (b * NH + h) * T;
            for (int64_t t = 0; t < T; t++) {
                const float l = flash_scores(qkv, b, h, t, T, C, hs, scale, s);
                lse[(b * NH + h) * T + t] = l;
                float *o = F(out) + (b * T + t) * C + h * hs;
                for (int64_t i = 0; i < hs; i++) o[i] = 0.0f;
                for (int64_t t2 = 0; t2 <= t; t2++) {
                    const float p = expf(s[t2] - l);
                    const float *v = CF(qkv) + (b * T + t2) * 3 * C + 2 * C + h * hs;
                    for (int64_t i = 0; i < hs; i++) o[i] += p * v[i];
                }
            }
        }
    free(scratch);
    return FP4_OK;
}

/* Two passes, one writer per output: (1) per (b, h, t): dq; (2) per (b, h, t2): dk, dv summed over
 * t >= t2 in increasing t. p and ds are recomputed from qkv, lse and D in both. */
fp4_status fp4_flash_attention_backward_ref(fp4_context *ctx, fp4_view *dqkv, const fp4_view *dout,
                                            const fp4_view *qkv, const fp4_view *out, const float *lse, int64_t B,
                                            int64_t T, int NH) {
    (void)ctx;
    const int64_t C = qkv->cols / 3, C3 = 3 * C, hs = C / NH;
    const float scale = 1.0f / sqrtf((float)hs);
    float *Dd = malloc((size_t)(B * NH * T) * sizeof(float));
    if (!Dd) return fp4_fail(FP4_ERR_NOMEM, "fp4_flash_attention_backward: %lld floats of scratch", (long long)(B * NH * T));
#pragma omp parallel for collapse(3) schedule(static)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++)
            for (int64_t t = 0; t < T; t++) {
                const float *dy = CF(dout) + (b * T + t) * C + h * hs, *o = CF(out) + (b * T + t) * C + h * hs;
                float d = 0.0f;
                for (int64_t i = 0; i < hs; i++) d += dy[i] * o[i];
                Dd[(b * NH + h) * T + t] = d;
            }
    /* ds(t, t2) = p (dout_t · v_t2 - D_t) * scale with p = exp(q_t · k_t2 * scale - lse_t) */
#define FLASH_DS(b, h, t, t2, p_out, ds_out)                                                                   \
    do {                                                                                                       \
        const float *q_ = CF(qkv) + ((b) * T + (t)) * C3 + (h) * hs;                                           \
        const float *k_ = CF(qkv) + ((b) * T + (t2)) * C3 + C + (h) * hs;                                      \
        const float *v_ = CF(qkv) + ((b) * T + (t2)) * C3 + 2 * C + (h) * hs;                                  \
        const float *dy_ = CF(dout) + ((b) * T + (t)) * C + (h) * hs;                                          \
        float s_ = 0.0f, dp_ = 0.0f;                                                                           \
        for (int64_t i_ = 0; i_ < hs; i_++) s_ += q_[i_] * k_[i_];                                             \
        for (int64_t i_ = 0; i_ < hs; i_++) dp_ += dy_[i_] * v_[i_];                                           \
        const float p_ = expf(s_ * scale - lse[((b) * NH + (h)) * T + (t)]);                                   \
        p_out = p_;                                                                                            \
        ds_out = p_ * (dp_ - Dd[((b) * NH + (h)) * T + (t)]) * scale;                                          \
    } while (0)
#pragma omp parallel for collapse(3) schedule(static)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++)
            for (int64_t t = 0; t < T; t++) {
                float *dq = F(dqkv) + (b * T + t) * C3 + h * hs;
                for (int64_t i = 0; i < hs; i++) dq[i] = 0.0f;
                for (int64_t t2 = 0; t2 <= t; t2++) {
                    float p, ds;
                    FLASH_DS(b, h, t, t2, p, ds);
                    (void)p;
                    const float *k = CF(qkv) + (b * T + t2) * C3 + C + h * hs;
                    for (int64_t i = 0; i < hs; i++) dq[i] += ds * k[i];
                }
            }
#pragma omp parallel for collapse(3) schedule(static)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++)
            for (int64_t t2 = 0; t2 < T; t2++) {
                float *dk = F(dqkv) + (b * T + t2) * C3 + C + h * hs, *dv = dk + C;
                for (int64_t i = 0; i < hs; i++) dk[i] = dv[i] = 0.0f;
                for (int64_t t = t2; t < T; t++) {
                    float p, ds;
                    FLASH_DS(b, h, t, t2, p, ds);
                    const float *q = CF(qkv) + (b * T + t) * C3 + h * hs;
                    const float *dy = CF(dout) + (b * T + t) * C + h * hs;
                    for (int64_t i = 0; i < hs; i++) {
                        dk[i] += ds * q[i];
                        dv[i] += p * dy[i];
                    }
                }
            }
#undef FLASH_DS
    free(Dd);
    return FP4_OK;
}

/* ---- non-linearities, residual ----------------------------------------------------------------- */

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

fp4_status fp4_gelu_forward_ref(fp4_context *ctx, fp4_view *out, const fp4_view *inp) {
    (void)ctx;
    const int64_t n = inp->rows * inp->cols;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float x = CF(inp)[i];
        F(out)[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
    }
    return FP4_OK;
}

fp4_status fp4_gelu_backward_ref(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout) {
    (void)ctx;
    const int64_t n = inp->rows * inp->cols;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float x = CF(inp)[i];
        const float u = GELU_K * (x + 0.044715f * x * x * x);
        const float th = tanhf(u), ch = coshf(u);
        const float sech2 = 1.0f / (ch * ch);
        const float g = 0.5f * (1.0f + th) + x * 0.5f * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        F(dinp)[i] = g * CF(dout)[i];
    }
    return FP4_OK;
}

fp4_status fp4_relu2_forward_ref(fp4_context *ctx, fp4_view *out, const fp4_view *inp) {
    (void)ctx;
    const int64_t n = inp->rows * inp->cols;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float r = CF(inp)[i] > 0.0f ? CF(inp)[i] : 0.0f;
        F(out)[i] = r * r;
    }
    return FP4_OK;
}

fp4_status fp4_relu2_backward_ref(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout) {
    (void)ctx;
    const int64_t n = inp->rows * inp->cols;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float r = CF(inp)[i] > 0.0f ? CF(inp)[i] : 0.0f;
        F(dinp)[i] = 2.0f * r * CF(dout)[i];
    }
    return FP4_OK;
}

fp4_status fp4_residual_forward_ref(fp4_context *ctx, fp4_view *out, const fp4_view *a, const fp4_view *b) {
    (void)ctx;
    const int64_t n = a->rows * a->cols;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) F(out)[i] = CF(a)[i] + CF(b)[i];
    return FP4_OK;
}

/* ---- cross-entropy ----------------------------------------------------------------------------- */

fp4_status fp4_crossentropy_forward_ref(fp4_context *ctx, float *losses, fp4_view *logits, const int32_t *targets,
                                        int64_t V, float dloss, int write_grad) {
    (void)ctx;
    const int64_t N = logits->rows, Vp = logits->cols;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) {
        float *z = F(logits) + i * Vp;
        const int32_t y = targets[i];
        if (y < 0) {
            if (losses) losses[i] = 0.0f;
            if (write_grad) memset(z, 0, (size_t)Vp * sizeof(float));
            continue;
        }
        float maxv = -INFINITY;
        for (int64_t j = 0; j < V; j++) maxv = z[j] > maxv ? z[j] : maxv;
        double sum = 0.0;
        for (int64_t j = 0; j < V; j++) sum += exp((double)(z[j] - maxv));
        const double lse = log(sum);
        if (losses) losses[i] = (float)(lse - (double)(z[y] - maxv));
        if (write_grad) {
            for (int64_t j = 0; j < V; j++) {
                const float p = (float)exp((double)(z[j] - maxv) - lse);
                z[j] = dloss * (p - (j == y ? 1.0f : 0.0f));
            }
            for (int64_t j = V; j < Vp; j++) z[j] = 0.0f;
        }
    }
    return FP4_OK;
}

/* ---- optimizer --------------------------------------------------------------------------------- */

fp4_status fp4_adamw_update_ref(fp4_context *ctx, float *param, const float *grad, float *m, float *v,
                                const uint8_t *wd_mask, int64_t n, const fp4_adamw_step *s) {
    (void)ctx;
    const float b1 = s->beta1, b2 = s->beta2;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float g = grad[i] * s->grad_scale;
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        const float mhat = m[i] / s->bc1, vhat = v[i] / s->bc2;
        const float wd = (!wd_mask || wd_mask[i]) ? s->weight_decay : 0.0f;
        param[i] = param[i] - s->lr * (mhat / (sqrtf(vhat) + s->eps) + wd * param[i]);
    }
    return FP4_OK;
}

fp4_status fp4_grad_norm_sq_ref(fp4_context *ctx, const float *g, int64_t n, double *out) {
    (void)ctx;
    const int64_t nc = (n + FP4_OPS_NORM_CHUNK - 1) / FP4_OPS_NORM_CHUNK;
    double *part = malloc((size_t)nc * sizeof(double));
    if (!part) return fp4_fail(FP4_ERR_NOMEM, "fp4_grad_norm_sq: %lld partial sums", (long long)nc);
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        const int64_t lo = c * FP4_OPS_NORM_CHUNK, hi = lo + FP4_OPS_NORM_CHUNK < n ? lo + FP4_OPS_NORM_CHUNK : n;
        double s = 0.0;
        for (int64_t i = lo; i < hi; i++) s += (double)g[i] * (double)g[i];
        part[c] = s;
    }
    double s = 0.0;
    for (int64_t c = 0; c < nc; c++) s += part[c];
    free(part);
    *out = s;
    return FP4_OK;
}

fp4_status fp4_scale_ref(fp4_context *ctx, float *x, int64_t n, float s) {
    (void)ctx;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] * s;
    return FP4_OK;
}

fp4_status fp4_ops_zero_ref(fp4_context *ctx, void *p, size_t bytes) {
    (void)ctx;
    memset(p, 0, bytes);
    return FP4_OK;
}

fp4_status fp4_ops_convert_ref(fp4_context *ctx, fp4_view *dst, const fp4_view *src) {
    (void)ctx;
    const int64_t n = src->rows * src->cols;
    const int64_t lds = src->ld, C = src->cols;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = i / C, c = i % C;
        const float v = src->dtype == FP4_DTYPE_BF16 ? fp4_bf16_to_f32(((const uint16_t *)src->data)[r * lds + c])
                                                      : ((const float *)src->data)[r * lds + c];
        if (dst->dtype == FP4_DTYPE_BF16) ((uint16_t *)dst->data)[i] = fp4_f32_to_bf16(v);
        else ((float *)dst->data)[i] = v;
    }
    return FP4_OK;
}
