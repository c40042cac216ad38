/* tests/test_ops.c — the model ops of qat/ops.h on the host: every backward against central finite
 * differences of its forward (through a random linear functional of the output, in FP32 with an
 * NMSE bound), cross-entropy against a direct FP64 computation, AdamW one step against a hand
 * computation, the global norm, and the dispatchers' refusals (bad shapes, dtypes, locations).
 * Run: build-train/tests/test_ops
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops.h"

static fp4t_rng rng;

static float *randv(int64_t n, double scale) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = (float)(scale * fp4t_rng_normal(&rng));
    return p;
}

static fp4_view V2(float *p, int64_t r, int64_t c) { return fp4_view_make(p, FP4_DTYPE_F32, r, c, FP4_HOST); }

/* f(x) = sum_i w_i * out_i, where out = op(x); the FD of f w.r.t. x[k] vs the analytic gradient. */
typedef void (*fwd_fn)(float *x, float *out, void *ctx);

static double fd_nmse(fwd_fn f, void *c, float *x, int64_t nx, int64_t nout, const float *w, const float *grad,
                      float h) {
    float *out = malloc(sizeof(float) * (size_t)nout);
    double num = 0.0, den = 0.0;
    for (int64_t k = 0; k < nx; k++) {
        const float keep = x[k];
        double fp = 0.0, fm = 0.0;
        x[k] = keep + h;
        f(x, out, c);
        for (int64_t i = 0; i < nout; i++) fp += (double)w[i] * out[i];
        x[k] = keep - h;
        f(x, out, c);
        for (int64_t i = 0; i < nout; i++) fm += (double)w[i] * out[i];
        x[k] = keep;
        const double fd = (fp - fm) / (2.0 * h);
        num += (fd - grad[k]) * (fd - grad[k]);
        den += fd * fd;
    }
    free(out);
    return den > 0 ? num / den : num;
}

/* ---- element-wise activations --------------------------------------------------------------- */

static int act_kind;
static void act_f(float *x, float *out, void *c) {
    int64_t n = *(int64_t *)c;
    fp4_view vi = V2(x, 1, n), vo = V2(out, 1, n);
    if (act_kind == 0) fp4_gelu_forward(NULL, &vo, &vi);
    else fp4_relu2_forward(NULL, &vo, &vi);
}

static void test_activations(void) {
    int64_t n = 64;
    for (act_kind = 0; act_kind < 2; act_kind++) {
        float *x = randv(n, 1.5), *w = randv(n, 1.0), *g = malloc(sizeof(float) * (size_t)n);
        if (act_kind == 1) /* keep FD away from the kink at 0 */
            for (int64_t i = 0; i < n; i++) if (fabsf(x[i]) < 0.05f) x[i] = 0.3f;
        fp4_view vx = V2(x, 4, 16), vw = V2(w, 4, 16), vg = V2(g, 4, 16);
        FP4T_ASSERT_OK(act_kind == 0 ? fp4_gelu_backward(NULL, &vg, &vx, &vw) : fp4_relu2_backward(NULL, &vg, &vx, &vw));
        const double e = fd_nmse(act_f, &n, x, n, n, w, g, 1e-3f);
        CU_ASSERT(e < 1e-5);
        /* in place backward (dinp aliases dout) gives the same */
        float *w2 = malloc(sizeof(float) * (size_t)n);
        memcpy(w2, w, sizeof(float) * (size_t)n);
        fp4_view vw2 = V2(w2, 4, 16);
        FP4T_ASSERT_OK(act_kind == 0 ? fp4_gelu_backward(NULL, &vw2, &vx, &vw2) : fp4_relu2_backward(NULL, &vw2, &vx, &vw2));
        CU_ASSERT(memcmp(w2, g, sizeof(float) * (size_t)n) == 0);
        free(x); free(w); free(g); free(w2);
    }
    /* gelu(1) by the formula */
    float one = 1.0f, y;
    fp4_view a = V2(&one, 1, 1), b = V2(&y, 1, 1);
    FP4T_ASSERT_OK(fp4_gelu_forward(NULL, &b, &a));
    CU_ASSERT_DOUBLE_EQUAL(y, 0.5 * (1 + tanh(sqrt(2 / M_PI) * (1 + 0.044715))), 1e-6);
}

/* ---- rmsnorm ------------------------------------------------------------------------------------ */

typedef struct { int64_t N, C; float *w, *rstd; int wrt_weight; float *x; } norm_ctx;
static void norm_f(float *p, float *out, void *vc) {
    norm_ctx *c = vc;
    fp4_view vi = V2(c->wrt_weight ? c->x : p, c->N, c->C), vo = V2(out, c->N, c->C);
    fp4_rmsnorm_forward(NULL, &vo, c->rstd, &vi, c->wrt_weight ? p : c->w, 1e-5f);
}

static void test_rmsnorm(void) {
    const int64_t N = 5, C = 12;
    float *x = randv(N * C, 1.0), *w = randv(C, 1.0), *dy = randv(N * C, 1.0), *y = malloc(sizeof(float) * N * C);
    float *rstd = malloc(sizeof(float) * N), *dx = calloc((size_t)(N * C), sizeof(float)), *dw = calloc((size_t)C, sizeof(float));
    fp4_view vx = V2(x, N, C), vy = V2(y, N, C), vdy = V2(dy, N, C), vdx = V2(dx, N, C);
    FP4T_ASSERT_OK(fp4_rmsnorm_forward(NULL, &vy, rstd, &vx, w, 1e-5f));
    FP4T_ASSERT_OK(fp4_rmsnorm_backward(NULL, &vdx, dw, &vdy, &vx, w, rstd));
    norm_ctx c = {N, C, w, rstd, 0, x};
    CU_ASSERT(fd_nmse(norm_f, &c, x, N * C, N * C, dy, dx, 1e-3f) < 1e-5);
    c.wrt_weight = 1;
    CU_ASSERT(fd_nmse(norm_f, &c, w, C, N * C, dy, dw, 1e-3f) < 1e-5);
    /* accumulate: a second backward doubles */
    float d0 = dx[3];
    FP4T_ASSERT_OK(fp4_rmsnorm_backward(NULL, &vdx, dw, &vdy, &vx, w, rstd));
    CU_ASSERT_DOUBLE_EQUAL(dx[3], 2 * d0, 1e-5);
    free(x); free(w); free(dy); free(y); free(rstd); free(dx); free(dw);
}

/* ---- rope ---------------------------------------------------------------------------------------- */

typedef struct { int64_t T; int NH; int64_t rows, cols, ld; float *cs, *sn; } rope_ctx;
static void rope_f(float *x, float *out, void *vc) {
    rope_ctx *c = vc;
    memcpy(out, x, sizeof(float) * (size_t)(c->rows * c->ld));
    fp4_view v = V2(out, c->rows, c->cols);
    v.ld = c->ld;
    fp4_rope_forward(NULL, &v, c->cs, c->sn, c->T, c->NH);
}

static void test_rope(void) {
    const int64_t T = 5, B = 2, NH = 2, hs = 6, C = NH * hs, ld = 3 * C;
    float *cs = malloc(sizeof(float) * T * hs / 2), *sn = malloc(sizeof(float) * T * hs / 2);
    fp4_rope_tables(cs, sn, T, (int)hs, 10000.0);
    CU_ASSERT_DOUBLE_EQUAL(cs[0], 1.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(sn[(T - 1) * hs / 2], sin((double)(T - 1)), 1e-6);
    float *x = randv(B * T * ld, 1.0), *w = randv(B * T * ld, 1.0);
    /* backward is the transpose of forward (a rotation): apply to w, compare with FD */
    float *g = malloc(sizeof(float) * B * T * ld);
    memcpy(g, w, sizeof(float) * B * T * ld);
    fp4_view vg = V2(g, B * T, C);
    vg.ld = ld;
    FP4T_ASSERT_OK(fp4_rope_backward(NULL, &vg, cs, sn, T, (int)NH));
    rope_ctx c = {T, (int)NH, B * T, C, ld, cs, sn};
    CU_ASSERT(fd_nmse(rope_f, &c, x, B * T * ld, B * T * ld, w, g, 1e-2f) < 1e-6);
    /* forward then backward is the identity; columns outside the slice untouched */
    float *y = malloc(sizeof(float) * B * T * ld);
    memcpy(y, x, sizeof(float) * B * T * ld);
    fp4_view vy = V2(y, B * T, C);
    vy.ld = ld;
    FP4T_ASSERT_OK(fp4_rope_forward(NULL, &vy, cs, sn, T, (int)NH));
    FP4T_ASSERT_OK(fp4_rope_backward(NULL, &vy, cs, sn, T, (int)NH));
    double md = 0;
    for (int64_t i = 0; i < B * T * ld; i++) md = fmax(md, fabs(y[i] - x[i]));
    CU_ASSERT(md < 1e-5);
    /* odd head size refused */
    fp4_view bad = V2(y, B * T, 10);
    CU_ASSERT_EQUAL(fp4_rope_forward(NULL, &bad, cs, sn, T, 2), FP4_ERR_SHAPE);
    free(cs); free(sn); free(x); free(w); free(g); free(y);
}

/* ---- attention ---------------------------------------------------------------------------------- */

typedef struct { int64_t B, T; int NH; int64_t C; float *att; } att_ctx;
static void att_f(float *qkv, float *out, void *vc) {
    att_ctx *c = vc;
    fp4_view vq = V2(qkv, c->B * c->T, 3 * c->C), vo = V2(out, c->B * c->T, c->C),
             va = V2(c->att, c->B * c->NH * c->T, c->T);
    fp4_attention_forward(NULL, &vo, &va, &vq, c->B, c->T, c->NH);
}

static void test_attention(void) {
    const int64_t B = 2, T = 5, NH = 2, C = 8;
    float *qkv = randv(B * T * 3 * C, 1.0), *dy = randv(B * T * C, 1.0), *y = malloc(sizeof(float) * B * T * C);
    float *att = malloc(sizeof(float) * B * NH * T * T), *datt = malloc(sizeof(float) * B * NH * T * T);
    float *dqkv = malloc(sizeof(float) * B * T * 3 * C);
    fp4_view vq = V2(qkv, B * T, 3 * C), vy = V2(y, B * T, C), va = V2(att, B * NH * T, T), vda = V2(datt, B * NH * T, T);
    fp4_view vdy = V2(dy, B * T, C), vdq = V2(dqkv, B * T, 3 * C);
    FP4T_ASSERT_OK(fp4_attention_forward(NULL, &vy, &va, &vq, B, T, (int)NH));
    /* causal: rows sum to 1, upper triangle 0; position 0 copies v_0 */
    for (int64_t r = 0; r < B * NH * T; r++) {
        const int64_t t = r % T;
        double s = 0;
        for (int64_t t2 = 0; t2 < T; t2++) s += att[r * T + t2];
        CU_ASSERT_DOUBLE_EQUAL(s, 1.0, 1e-5);
        for (int64_t t2 = t + 1; t2 < T; t2++) CU_ASSERT_EQUAL(att[r * T + t2], 0.0f);
    }
    CU_ASSERT_DOUBLE_EQUAL(y[0], qkv[2 * C], 1e-6);
    FP4T_ASSERT_OK(fp4_attention_backward(NULL, &vdq, &vda, &vdy, &vq, &va, B, T, (int)NH));
    att_ctx c = {B, T, (int)NH, C, att};
    CU_ASSERT(fd_nmse(att_f, &c, qkv, B * T * 3 * C, B * T * C, dy, dqkv, 1e-3f) < 1e-5);
    /* shape refusals name the argument */
    fp4_view small = V2(att, B * NH * T, T - 1);
    CU_ASSERT_EQUAL(fp4_attention_forward(NULL, &vy, &small, &vq, B, T, (int)NH), FP4_ERR_SHAPE);
    CU_ASSERT(strstr(fp4_last_error(), "att") != NULL);
    CU_ASSERT_EQUAL(fp4_attention_forward(NULL, &vy, &va, &vq, B, T, 3), FP4_ERR_SHAPE);
    free(qkv); free(dy); free(y); free(att); free(datt); free(dqkv);
}

/* Flash-style reference: the same out as the materialized attention, lse consistent with att
 * (att = exp(s - lse) on and below the diagonal), the same dqkv; backward also vs finite
 * differences of its forward. */
static void flash_f(float *qkv, float *out, void *vc) {
    att_ctx *c = vc;
    fp4_view vq = V2(qkv, c->B * c->T, 3 * c->C), vo = V2(out, c->B * c->T, c->C);
    fp4_flash_attention_forward(NULL, &vo, c->att, &vq, c->B, c->T, c->NH);
}

static void test_flash_attention_ref(void) {
    const int64_t B = 2, T = 6, NH = 2, C = 8;
    float *qkv = randv(B * T * 3 * C, 1.0), *dy = randv(B * T * C, 1.0);
    float *y = malloc(sizeof(float) * B * T * C), *yf = malloc(sizeof(float) * B * T * C);
    float *att = malloc(sizeof(float) * B * NH * T * T), *datt = malloc(sizeof(float) * B * NH * T * T);
    float *lse = malloc(sizeof(float) * B * NH * T);
    float *dq = malloc(sizeof(float) * B * T * 3 * C), *dqf = malloc(sizeof(float) * B * T * 3 * C);
    fp4_view vq = V2(qkv, B * T, 3 * C), vy = V2(y, B * T, C), vyf = V2(yf, B * T, C), va = V2(att, B * NH * T, T);
    fp4_view vda = V2(datt, B * NH * T, T), vdy = V2(dy, B * T, C), vdq = V2(dq, B * T, 3 * C),
             vdqf = V2(dqf, B * T, 3 * C);
    FP4T_ASSERT_OK(fp4_attention_forward(NULL, &vy, &va, &vq, B, T, (int)NH));
    FP4T_ASSERT_OK(fp4_flash_attention_forward(NULL, &vyf, lse, &vq, B, T, (int)NH));
    double e = 0;
    for (int64_t i = 0; i < B * T * C; i++) e = fmax(e, fabs((double)yf[i] - y[i]));
    CU_ASSERT(e < 1e-5);
    /* lse against the kept probabilities: p = exp(s - lse), so log p + lse = s, and sum p = 1 means
     * lse = log sum exp(s): check exp(log att[t][0] + lse) consistency through the row sum of
     * exp(s - lse) with s recomputed */
    const float scale = 1.0f / sqrtf((float)(C / NH));
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++)
            for (int64_t t = 0; t < T; t++) {
                double sum = 0;
                for (int64_t t2 = 0; t2 <= t; t2++) {
                    double s = 0;
                    for (int64_t i = 0; i < C / NH; i++)
                        s += (double)qkv[(b * T + t) * 3 * C + h * (C / NH) + i] *
                             qkv[(b * T + t2) * 3 * C + C + h * (C / NH) + i];
                    const double p = exp(s * scale - lse[(b * NH + h) * T + t]);
                    CU_ASSERT_DOUBLE_EQUAL(p, att[((b * NH + h) * T + t) * T + t2], 1e-5);
                    sum += p;
                }
                CU_ASSERT_DOUBLE_EQUAL(sum, 1.0, 1e-5);
            }
    FP4T_ASSERT_OK(fp4_attention_backward(NULL, &vdq, &vda, &vdy, &vq, &va, B, T, (int)NH));
    FP4T_ASSERT_OK(fp4_flash_attention_backward(NULL, &vdqf, &vdy, &vq, &vyf, lse, B, T, (int)NH));
    e = 0;
    double mx = 0;
    for (int64_t i = 0; i < B * T * 3 * C; i++) e = fmax(e, fabs((double)dqf[i] - dq[i])), mx = fmax(mx, fabs(dq[i]));
    CU_ASSERT(e < 1e-5 * mx);
    att_ctx c = {B, T, (int)NH, C, lse};
    CU_ASSERT(fd_nmse(flash_f, &c, qkv, B * T * 3 * C, B * T * C, dy, dqf, 1e-3f) < 1e-5);
    /* refusals: NULL lse, F32 is the only host dtype */
    CU_ASSERT_EQUAL(fp4_flash_attention_forward(NULL, &vyf, NULL, &vq, B, T, (int)NH), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_flash_attention_backward(NULL, &vdqf, &vdy, &vq, &vyf, NULL, B, T, (int)NH), FP4_ERR_INVALID_ARG);
    fp4_view bad = vq;
    bad.dtype = FP4_DTYPE_BF16;
    CU_ASSERT_EQUAL(fp4_flash_attention_forward(NULL, &vyf, lse, &bad, B, T, (int)NH), FP4_ERR_DTYPE);
    free(qkv); free(dy); free(y); free(yf); free(att); free(datt); free(lse); free(dq); free(dqf);
}

/* ---- encoder ------------------------------------------------------------------------------------- */

static void test_encoder(void) {
    const int64_t V = 7, Vp = 8, C = 4, N = 6;
    int32_t tok[6] = {1, 3, 1, 6, 0, 3};
    float *wte = randv(Vp * C, 1.0), *out = malloc(sizeof(float) * N * C), *dout = randv(N * C, 1.0);
    float *dw = calloc((size_t)(Vp * C), sizeof(float));
    fp4_view vo = V2(out, N, C), vd = V2(dout, N, C);
    FP4T_ASSERT_OK(fp4_encoder_forward(NULL, &vo, tok, wte, V));
    CU_ASSERT(memcmp(out + 3 * C, wte + 6 * C, sizeof(float) * C) == 0);
    FP4T_ASSERT_OK(fp4_encoder_backward(NULL, dw, &vd, tok, V));
    for (int64_t c = 0; c < C; c++) {
        CU_ASSERT_EQUAL(dw[1 * C + c], dout[0 * C + c] + dout[2 * C + c]);
        CU_ASSERT_EQUAL(dw[2 * C + c], 0.0f);
        CU_ASSERT_EQUAL(dw[7 * C + c], 0.0f);
    }
    tok[2] = 7;
    CU_ASSERT_EQUAL(fp4_encoder_forward(NULL, &vo, tok, wte, V), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "tokens[2]") != NULL);
    free(wte); free(out); free(dout); free(dw);
}

/* ---- residual, cross-entropy --------------------------------------------------------------------- */

static void test_residual_crossentropy(void) {
    float a[4] = {1, 2, 3, 4}, b[4] = {0.5f, -1, 0, 2};
    fp4_view va = V2(a, 2, 2), vb = V2(b, 2, 2);
    FP4T_ASSERT_OK(fp4_residual_forward(NULL, &va, &va, &vb)); /* in place */
    CU_ASSERT(a[0] == 1.5f && a[1] == 1.0f && a[3] == 6.0f);

    const int64_t N = 3, V = 5, Vp = 8;
    float *z = randv(N * Vp, 2.0), *z0 = malloc(sizeof(float) * N * Vp), losses[3];
    memcpy(z0, z, sizeof(float) * N * Vp);
    int32_t tg[3] = {4, 0, -1};
    fp4_view vz = V2(z, N, Vp);
    FP4T_ASSERT_OK(fp4_crossentropy_forward(NULL, losses, &vz, tg, V, 0.5f, 1));
    for (int64_t i = 0; i < N; i++) {
        double mx = -1e30, s = 0;
        for (int64_t j = 0; j < V; j++) mx = fmax(mx, z0[i * Vp + j]);
        for (int64_t j = 0; j < V; j++) s += exp(z0[i * Vp + j] - mx);
        if (tg[i] < 0) {
            CU_ASSERT_EQUAL(losses[i], 0.0f);
            for (int64_t j = 0; j < Vp; j++) CU_ASSERT_EQUAL(z[i * Vp + j], 0.0f);
            continue;
        }
        CU_ASSERT_DOUBLE_EQUAL(losses[i], log(s) - (z0[i * Vp + tg[i]] - mx), 1e-5);
        for (int64_t j = 0; j < V; j++)
            CU_ASSERT_DOUBLE_EQUAL(z[i * Vp + j], 0.5 * (exp(z0[i * Vp + j] - mx) / s - (j == tg[i])), 1e-6);
        for (int64_t j = V; j < Vp; j++) CU_ASSERT_EQUAL(z[i * Vp + j], 0.0f);
    }
    int32_t bad[3] = {5, 0, 0};
    CU_ASSERT_EQUAL(fp4_crossentropy_forward(NULL, losses, &vz, bad, V, 1, 0), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_crossentropy_forward(NULL, losses, &vz, tg, 9, 1, 0), FP4_ERR_SHAPE);
    free(z); free(z0);
}

/* ---- AdamW, grad norm, scale --------------------------------------------------------------------- */

static void test_adamw_norm(void) {
    float p[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.1f, -0.3f, 2.0f}, m[3] = {0.01f, 0, -0.2f}, v[3] = {0.001f, 0, 0.5f};
    uint8_t mask[3] = {1, 0, 1};
    float p0[3], m0[3], v0[3];
    memcpy(p0, p, sizeof p); memcpy(m0, m, sizeof m); memcpy(v0, v, sizeof v);
    const fp4_adamw_step s = fp4_adamw_step_make(1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 3, 0.5f);
    CU_ASSERT_DOUBLE_EQUAL(s.bc1, 1 - pow(0.9, 3), 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(s.bc2, 1 - pow(0.95, 3), 1e-7);
    FP4T_ASSERT_OK(fp4_adamw_update(NULL, p, g, m, v, mask, 3, &s));
    for (int i = 0; i < 3; i++) {
        const double gg = 0.5 * g[i], mm = 0.9 * m0[i] + 0.1 * gg, vv = 0.95 * v0[i] + 0.05 * gg * gg;
        const double upd = (mm / (1 - pow(0.9, 3))) / (sqrt(vv / (1 - pow(0.95, 3))) + 1e-8) + (mask[i] ? 0.1 * p0[i] : 0);
        CU_ASSERT_DOUBLE_EQUAL(m[i], mm, 1e-7);
        CU_ASSERT_DOUBLE_EQUAL(v[i], vv, 1e-7);
        CU_ASSERT_DOUBLE_EQUAL(p[i], p0[i] - 1e-2 * upd, 1e-6);
    }
    fp4_adamw_step bad = s;
    bad.beta1 = 1.0f;
    CU_ASSERT_EQUAL(fp4_adamw_update(NULL, p, g, m, v, mask, 3, &bad), FP4_ERR_INVALID_ARG);

    const int64_t n = 3 * FP4_OPS_NORM_CHUNK + 17;
    float *x = randv(n, 1.0);
    double ss = 0, ref = 0;
    for (int64_t i = 0; i < n; i++) ref += (double)x[i] * x[i];
    FP4T_ASSERT_OK(fp4_grad_norm_sq(NULL, x, n, &ss));
    CU_ASSERT_DOUBLE_EQUAL(ss, ref, 1e-9 * ref);
    FP4T_ASSERT_OK(fp4_scale(NULL, x, n, 2.0f));
    double ss2;
    FP4T_ASSERT_OK(fp4_grad_norm_sq(NULL, x, n, &ss2));
    CU_ASSERT_DOUBLE_EQUAL(ss2, 4 * ss, 1e-9 * ss2);
    x[5] = NAN;
    FP4T_ASSERT_OK(fp4_grad_norm_sq(NULL, x, n, &ss));
    CU_ASSERT(isnan(ss));
    free(x);
}

/* ---- dispatcher refusals, conversion --------------------------------------------------------------- */

static void test_refusals_convert(void) {
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8];
    uint16_t h[8];
    fp4_view va = V2(a, 2, 4), vb = V2(b, 2, 4), vh = fp4_view_make(h, FP4_DTYPE_BF16, 2, 4, FP4_HOST);
    /* BF16 on the host: the reference is F32-only for the ops, but conversion works */
    CU_ASSERT_EQUAL(fp4_gelu_forward(NULL, &vh, &vh), FP4_ERR_DTYPE);
    FP4T_ASSERT_OK(fp4_ops_convert(NULL, &vh, &va));
    FP4T_ASSERT_OK(fp4_ops_convert(NULL, &vb, &vh));
    CU_ASSERT(memcmp(a, b, sizeof a) == 0);
    /* a device view with a host context */
    fp4_view vd = va;
    vd.loc = FP4_DEVICE;
    CU_ASSERT_EQUAL(fp4_gelu_forward(NULL, &vd, &va), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "device") != NULL);
    /* mismatched shapes, strided where contiguity is needed */
    fp4_view vs = V2(b, 4, 2);
    CU_ASSERT_EQUAL(fp4_residual_forward(NULL, &vs, &va, &va), FP4_ERR_SHAPE);
    fp4_view vl = va;
    vl.cols = 3;
    CU_ASSERT_EQUAL(fp4_gelu_forward(NULL, &vl, &vl), FP4_ERR_SHAPE);
    CU_ASSERT_EQUAL(fp4_gelu_forward(NULL, NULL, &va), FP4_ERR_INVALID_ARG);
    FP4T_ASSERT_OK(fp4_ops_zero(NULL, b, sizeof b));
    CU_ASSERT_EQUAL(b[7], 0.0f);
}

static int init(void) {
    fp4t_rng_seed(&rng, 42);
    return 0;
}

static CU_TestInfo tests[] = {
    {"gelu / relu2 backward vs finite differences", test_activations},
    {"rmsnorm backward vs finite differences", test_rmsnorm},
    {"rope: tables, backward = transpose, inverse", test_rope},
    {"causal attention: mask, softmax rows, backward vs FD", test_attention},
    {"flash attention reference: = materialized, lse, backward vs FD", test_flash_attention_ref},
    {"encoder forward/backward, token checks", test_encoder},
    {"residual; cross-entropy vs direct FP64", test_residual_crossentropy},
    {"AdamW one step by hand; grad norm; scale", test_adamw_norm},
    {"dispatcher refusals; BF16 conversion", test_refusals_convert},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"ops", init, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
