/* tests/test_linear.c — the quantized linear layer on the CPU (qat/linear.c).
 *
 * Shapes: x [BT, C], W [OC, C], y/dy [BT, OC]. Checks: finite-difference gradients in fp32 mode;
 * for every FP4 preset the operand qtensors the layer builds carry the spec's format, block,
 * rounding, Hadamard, SR seed/stream and orientation; Fprop/Dgrad see bit-identical 16x16 weight
 * quantizations; SR is fresh across steps/layers and repeats on rerun; fake-quant equals an
 * explicit composition (fp4_fake_quant / fp4_hadamard of the operands, then an FP32 GEMM in the
 * documented order) bit for bit; true-quant (reference fp4_gemm) agrees with fake-quant; saved
 * memory accounting; bad shapes, modes and recipes are rejected with messages naming the field. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/fp4kit.h"
#include "fp4kit/formats_inline.h"
#include "fp4kit/hadamard.h"
#include "fp4kit/linear.h"
#include "harness.h"

enum { BT = 64, C = 64, OC = 32 };

static void fill(float *p, int64_t n, uint64_t seed, double scale) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(scale * fp4t_rng_normal(&r));
}

/* The documented GEMM order: acc = sum_k a*b (k ascending, fp32), + bias, + D (accumulate). */
static void ref_gemm(int64_t M, int64_t N, int64_t K, const float *A, const float *B, float *D, const float *bias,
                     int accumulate) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < K; k++) acc = acc + A[m * K + k] * B[n * K + k];
            float out = acc;
            if (bias) out = out + bias[n];
            if (accumulate) out = out + D[m * N + n];
            D[m * N + n] = out;
        }
}

static void transpose(int64_t R, int64_t Cc, const float *src, float *dst) {
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < Cc; c++) dst[c * R + r] = src[r * Cc + c];
}

static double rel_frob(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static uint8_t qcode(const fp4_qtensor *q, int64_t r, int64_t c) {
    const uint8_t b = q->data[r * (q->cols / 2) + c / 2];
    return (c & 1) ? (uint8_t)(b >> 4) : (uint8_t)(b & 0xf);
}
static uint8_t qscale(const fp4_qtensor *q, int64_t r, int64_t c) {
    const int bc = fp4_block_cols(q->cfg.block);
    return q->scales[r * (q->cols / bc) + c / bc];
}

/* A host layer with its own weights, run forward + backward once. */
typedef struct {
    float w[OC * C], b[OC], x[BT * C], y[BT * OC], dy[BT * OC], dx[BT * C], dw[OC * C], db[OC];
    fp4_linear l;
} rig;

static fp4_status rig_run(rig *g, const char *recipe, fp4_linear_mode mode, uint32_t layer, uint32_t step, uint64_t seed) {
    fp4_recipe r;
    FP4_TRY(fp4_recipe_parse(recipe, &r));
    fill(g->w, OC * C, 1, 0.5);
    fill(g->b, OC, 2, 0.1);
    fill(g->x, BT * C, 3, 1.0);
    fill(g->dy, BT * OC, 4, 0.01);
    memset(g->dw, 0, sizeof g->dw);
    memset(g->db, 0, sizeof g->db);
    FP4_TRY(fp4_linear_init(&g->l, g->w, g->b, OC, C, FP4_HOST, &r, mode, layer, seed));
    fp4_view x = fp4_view_make(g->x, FP4_DTYPE_F32, BT, C, FP4_HOST), y = fp4_view_make(g->y, FP4_DTYPE_F32, BT, OC, FP4_HOST);
    fp4_view dy = fp4_view_make(g->dy, FP4_DTYPE_F32, BT, OC, FP4_HOST), dx = fp4_view_make(g->dx, FP4_DTYPE_F32, BT, C, FP4_HOST);
    FP4_TRY(fp4_linear_forward(NULL, &g->l, &x, &y, step));
    return fp4_linear_backward(NULL, &g->l, &dy, &dx, g->dw, g->db);
}

/* ---------------------------------------------------------------------------------------------- */

static double loss(const float *y, const float *g, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)y[i] * g[i];
    return s;
}

/* Central differences on L = sum(y*g) in fp32 mode. L is linear in each parameter, so the only error
 * is fp32 rounding of y: |fd - analytic| <= 2e-3 * max(1, |analytic|) with eps = 0.05. */
static void test_gradcheck_fp32(void) {
    enum { b = 5, c = 7, oc = 3 };
    float w[oc * c], bias[oc], x[b * c], y[b * oc], g[b * oc], dx[b * c], dw[oc * c], db[oc];
    fill(w, oc * c, 11, 1.0);
    fill(bias, oc, 12, 1.0);
    fill(x, b * c, 13, 1.0);
    fill(g, b * oc, 14, 1.0);
    fp4_recipe r;
    FP4T_ASSERT_OK(fp4_recipe_parse("fp32", &r));
    fp4_linear l;
    FP4T_ASSERT_OK(fp4_linear_init(&l, w, bias, oc, c, FP4_HOST, &r, FP4_LINEAR_PLAIN, 0, 0));
    fp4_view xv = fp4_view_make(x, FP4_DTYPE_F32, b, c, FP4_HOST), yv = fp4_view_make(y, FP4_DTYPE_F32, b, oc, FP4_HOST);
    fp4_view gv = fp4_view_make(g, FP4_DTYPE_F32, b, oc, FP4_HOST), dxv = fp4_view_make(dx, FP4_DTYPE_F32, b, c, FP4_HOST);
    memset(dw, 0, sizeof dw);
    memset(db, 0, sizeof db);
    FP4T_ASSERT_OK(fp4_linear_forward(NULL, &l, &xv, &yv, 0));
    FP4T_ASSERT_OK(fp4_linear_backward(NULL, &l, &gv, &dxv, dw, db));
    const float eps = 0.05f;
    float *params[3] = {x, w, bias};
    const float *grads[3] = {dx, dw, db};
    const int n[3] = {b * c, oc * c, oc};
    int bad = 0;
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < n[t]; i++) {
            const float keep = params[t][i];
            params[t][i] = keep + eps;
            FP4T_ASSERT_OK(fp4_linear_forward(NULL, &l, &xv, &yv, 0));
            const double lp = loss(y, g, b * oc);
            params[t][i] = keep - eps;
            FP4T_ASSERT_OK(fp4_linear_forward(NULL, &l, &xv, &yv, 0));
            const double lm = loss(y, g, b * oc);
            params[t][i] = keep;
            const double fd = (lp - lm) / (2.0 * eps), an = grads[t][i];
            if (fabs(fd - an) > 2e-3 * fmax(1.0, fabs(an))) bad++;
        }
    CU_ASSERT_EQUAL(bad, 0);
    /* dW and db accumulate: a second backward doubles them */
    float dw1[oc * c], db1[oc];
    memcpy(dw1, dw, sizeof dw);
    memcpy(db1, db, sizeof db);
    FP4T_ASSERT_OK(fp4_linear_forward(NULL, &l, &xv, &yv, 0));
    FP4T_ASSERT_OK(fp4_linear_backward(NULL, &l, &gv, NULL, dw, db));
    for (int i = 0; i < oc * c; i++) CU_ASSERT_EQUAL(dw[i], dw1[i] + dw1[i]);
    for (int i = 0; i < oc; i++) CU_ASSERT_EQUAL(db[i], db1[i] + db1[i]);
    CU_ASSERT_EQUAL(fp4_linear_saved_bytes(&l), (size_t)b * c * 4);
    fp4_linear_free(&l);
}

/* ---------------------------------------------------------------------------------------------- */

typedef struct { int fmt, block, rnd, had; int64_t rows, cols; } expect_q;
#define NV FP4_FORMAT_NVFP4
#define MX FP4_FORMAT_MXFP4
#define B16 FP4_BLOCK_1x16
#define T16 FP4_BLOCK_16x16
#define B32 FP4_BLOCK_1x32
#define RN FP4_ROUND_RNE
#define SR FP4_ROUND_SR

/* The spec's table (nvfp4-recipe.md §4, §5.3, §6.1, §7.2, §9), written out per preset and operand
 * in the order fprop.x, fprop.w, dgrad.dy, dgrad.w, wgrad.dy, wgrad.x. */
static void test_preset_tensors(void) {
    struct { const char *name; expect_q e[6]; } cases[] = {
        {"nvfp4", {{NV, B16, RN, 0, BT, C}, {NV, T16, RN, 0, OC, C}, {NV, B16, SR, 0, BT, OC}, {NV, T16, RN, 0, C, OC},
                   {NV, B16, SR, 16, OC, BT}, {NV, B16, RN, 16, C, BT}}},
        {"mxfp4", {{MX, B32, RN, 0, BT, C}, {MX, B32, RN, 0, OC, C}, {MX, B32, SR, 0, BT, OC}, {MX, B32, RN, 0, C, OC},
                   {MX, B32, SR, 32, OC, BT}, {MX, B32, RN, 32, C, BT}}},
        {"nvfp4-no-rht", {{NV, B16, RN, 0, BT, C}, {NV, T16, RN, 0, OC, C}, {NV, B16, SR, 0, BT, OC},
                          {NV, T16, RN, 0, C, OC}, {NV, B16, SR, 0, OC, BT}, {NV, B16, RN, 0, C, BT}}},
        {"nvfp4-no-sr", {{NV, B16, RN, 0, BT, C}, {NV, T16, RN, 0, OC, C}, {NV, B16, RN, 0, BT, OC},
                         {NV, T16, RN, 0, C, OC}, {NV, B16, RN, 16, OC, BT}, {NV, B16, RN, 16, C, BT}}},
        {"nvfp4-1d-weights", {{NV, B16, RN, 0, BT, C}, {NV, B16, RN, 0, OC, C}, {NV, B16, SR, 0, BT, OC},
                              {NV, B16, RN, 0, C, OC}, {NV, B16, SR, 16, OC, BT}, {NV, B16, RN, 16, C, BT}}},
        {"nvfp4-rtn", {{NV, B16, RN, 0, BT, C}, {NV, B16, RN, 0, OC, C}, {NV, B16, RN, 0, BT, OC},
                       {NV, B16, RN, 0, C, OC}, {NV, B16, RN, 0, OC, BT}, {NV, B16, RN, 0, C, BT}}},
    };
    static rig g;
    const uint32_t layer = 5, step = 9;
    const uint64_t seed = 1234;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (int mode = FP4_LINEAR_FAKE; mode <= FP4_LINEAR_TRUE; mode++) {
            FP4T_ASSERT_OK(rig_run(&g, cases[k].name, (fp4_linear_mode)mode, layer, step, seed));
            for (int t = 0; t < 6; t++) {
                const int gi = t / 2, i = t % 2;
                const expect_q *e = &cases[k].e[t];
                const fp4_qtensor *q = fp4_linear_operand(&g.l, (fp4_gemm_kind)gi, i);
                CU_ASSERT_PTR_NOT_NULL_FATAL(q);
                const int ok = (int)q->cfg.format == e->fmt && (int)q->cfg.block == e->block &&
                               (int)q->cfg.rounding == e->rnd && q->hadamard == e->had && q->rows == e->rows &&
                               q->cols == e->cols && q->hadamard_seed == 0;
                if (!ok)
                    fprintf(stderr, "\n    %s %s.%s: got %s %s %s h%d [%lld, %lld]\n", cases[k].name,
                            fp4_gemm_kind_name((fp4_gemm_kind)gi), fp4_operand_name((fp4_gemm_kind)gi, i),
                            fp4_format_name(q->cfg.format), fp4_block_name(q->cfg.block),
                            fp4_rounding_name(q->cfg.rounding), q->hadamard, (long long)q->rows, (long long)q->cols);
                CU_ASSERT(ok);
                if (e->rnd == SR) { /* seeded per (seed, layer, tensor, step); columnwise copies flip bit 63 */
                    uint64_t s = fp4_linear_sr_stream(layer, t, step);
                    if (gi == FP4_WGRAD) s ^= FP4_STREAM_COLUMNWISE;
                    CU_ASSERT_EQUAL(q->cfg.seed, seed);
                    if (q->cfg.stream != s) fprintf(stderr, "\n    %s t%d stream %llx want %llx\n", cases[k].name, t, (unsigned long long)q->cfg.stream, (unsigned long long)s);
                    CU_ASSERT_EQUAL(q->cfg.stream, s);
                }
            }
            fp4_linear_free(&g.l);
        }
    }
    /* high-precision recipes build no quantized operands */
    FP4T_ASSERT_OK(rig_run(&g, "bf16", FP4_LINEAR_PLAIN, 0, 0, 0));
    for (int t = 0; t < 6; t++) CU_ASSERT_PTR_NULL(fp4_linear_operand(&g.l, (fp4_gemm_kind)(t / 2), t % 2));
    fp4_linear_free(&g.l);
}

/* Dgrad's Wᵀ operand is the transposed Fprop W operand, code for code and scale for scale (16x16);
 * with 1x16 weights ("nvfp4-1d-weights") the two differ, as the paper's chain-rule argument says. */
static void test_weight_consistency(void) {
    static rig g;
    const char *names[2] = {"nvfp4", "nvfp4-1d-weights"};
    for (int k = 0; k < 2; k++) {
        FP4T_ASSERT_OK(rig_run(&g, names[k], FP4_LINEAR_FAKE, 0, 0, 0));
        const fp4_qtensor *f = fp4_linear_operand(&g.l, FP4_FPROP, 1), *d = fp4_linear_operand(&g.l, FP4_DGRAD, 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        int64_t diff = 0;
        for (int64_t r = 0; r < OC; r++)
            for (int64_t c = 0; c < C; c++)
                diff += qcode(f, r, c) != qcode(d, c, r) || qscale(f, r, c) != qscale(d, c, r);
        if (k == 0) {
            CU_ASSERT_EQUAL(diff, 0);
            CU_ASSERT_EQUAL(memcmp(&f->s_dec, &d->s_dec, 4), 0);
            CU_ASSERT_EQUAL(memcmp(&f->amax, &d->amax, 4), 0);
            /* and it is the 16x16 quantization of the master W, not something else */
            fp4_config cfg = fp4_config_nvfp4();
            cfg.block = FP4_BLOCK_16x16;
            fp4_qtensor q;
            fp4_view wv = fp4_view_make(g.w, FP4_DTYPE_F32, OC, C, FP4_HOST);
            FP4T_ASSERT_OK(fp4_qtensor_alloc(&q, OC, C, &cfg, FP4_HOST));
            FP4T_ASSERT_OK(fp4_quantize(NULL, &wv, &cfg, &q, NULL));
            CU_ASSERT_EQUAL(memcmp(q.data, f->data, fp4_qtensor_data_bytes(&q)), 0);
            CU_ASSERT_EQUAL(memcmp(q.scales, f->scales, fp4_qtensor_scale_bytes(&q)), 0);
            fp4_qtensor_free(&q);
        } else {
            CU_ASSERT(diff > 0);
        }
        fp4_linear_free(&g.l);
    }
}

/* SR: step 1 vs step 2 differ, a rerun of step 1 repeats, another layer id differs. */
static void test_sr_seeding(void) {
    static rig a, b;
    int64_t nd = BT * OC / 2;
    uint8_t s1[BT * OC / 2], s1w[OC * BT / 2];
    FP4T_ASSERT_OK(rig_run(&a, "nvfp4", FP4_LINEAR_FAKE, 3, 1, 77));
    memcpy(s1, fp4_linear_operand(&a.l, FP4_DGRAD, 0)->data, (size_t)nd);
    memcpy(s1w, fp4_linear_operand(&a.l, FP4_WGRAD, 0)->data, (size_t)nd);
    float dx1[BT * C];
    memcpy(dx1, a.dx, sizeof dx1);
    fp4_linear_free(&a.l);
    FP4T_ASSERT_OK(rig_run(&b, "nvfp4", FP4_LINEAR_FAKE, 3, 2, 77));
    CU_ASSERT_NOT_EQUAL(memcmp(s1, fp4_linear_operand(&b.l, FP4_DGRAD, 0)->data, (size_t)nd), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(s1w, fp4_linear_operand(&b.l, FP4_WGRAD, 0)->data, (size_t)nd), 0);
    /* RNE operands do not depend on the step */
    CU_ASSERT_EQUAL(fp4_linear_operand(&b.l, FP4_FPROP, 0)->cfg.rounding, FP4_ROUND_RNE);
    fp4_linear_free(&b.l);
    FP4T_ASSERT_OK(rig_run(&b, "nvfp4", FP4_LINEAR_FAKE, 3, 1, 77));
    CU_ASSERT_EQUAL(memcmp(s1, fp4_linear_operand(&b.l, FP4_DGRAD, 0)->data, (size_t)nd), 0);
    CU_ASSERT_EQUAL(memcmp(s1w, fp4_linear_operand(&b.l, FP4_WGRAD, 0)->data, (size_t)nd), 0);
    CU_ASSERT_EQUAL(memcmp(dx1, b.dx, sizeof dx1), 0);
    fp4_linear_free(&b.l);
    FP4T_ASSERT_OK(rig_run(&b, "nvfp4", FP4_LINEAR_FAKE, 4, 1, 77));
    CU_ASSERT_NOT_EQUAL(memcmp(s1, fp4_linear_operand(&b.l, FP4_DGRAD, 0)->data, (size_t)nd), 0);
    fp4_linear_free(&b.l);
    FP4T_ASSERT_OK(rig_run(&b, "nvfp4", FP4_LINEAR_FAKE, 3, 1, 78));
    CU_ASSERT_NOT_EQUAL(memcmp(s1, fp4_linear_operand(&b.l, FP4_DGRAD, 0)->data, (size_t)nd), 0);
    fp4_linear_free(&b.l);
    /* the stream layout keeps (layer, tensor, step) apart */
    CU_ASSERT_NOT_EQUAL(fp4_linear_sr_stream(1, 2, 3), fp4_linear_sr_stream(1, 4, 3));
    CU_ASSERT_NOT_EQUAL(fp4_linear_sr_stream(1, 2, 3), fp4_linear_sr_stream(2, 2, 3));
    CU_ASSERT_EQUAL(fp4_linear_sr_stream(1, 2, 3), (1ull << 40) | (2ull << 32) | 3ull);
}

/* fake_quant(src) with cfg and the given stream into dst (same shape). */
static void fq(const float *src, int64_t R, int64_t Cc, const char *block, fp4_rounding rnd, uint64_t seed,
               uint64_t stream, float *dst) {
    fp4_config cfg = fp4_config_nvfp4();
    fp4_block_parse(block, &cfg.block);
    cfg.rounding = rnd;
    cfg.seed = seed;
    cfg.stream = stream;
    fp4_view x = fp4_view_make((void *)src, FP4_DTYPE_F32, R, Cc, FP4_HOST), y = fp4_view_make(dst, FP4_DTYPE_F32, R, Cc, FP4_HOST);
    FP4T_ASSERT_OK(fp4_fake_quant(NULL, &x, &cfg, &y));
}

/* RHT16 along rows of src [R, Cc] (BF16-rounded), returned as fp32. */
static void rht(const float *src, int64_t R, int64_t Cc, float *dst) {
    uint16_t *tmp = malloc((size_t)(R * Cc) * 2);
    fp4_view x = fp4_view_make((void *)src, FP4_DTYPE_F32, R, Cc, FP4_HOST), y = fp4_view_make(tmp, FP4_DTYPE_BF16, R, Cc, FP4_HOST);
    fp4_hadamard_desc h = fp4_hadamard_rht(16, 0);
    FP4T_ASSERT_OK(fp4_hadamard(NULL, &x, &y, &h));
    for (int64_t i = 0; i < R * Cc; i++) dst[i] = fp4_bf16_to_f32(tmp[i]);
    free(tmp);
}

/* Fake-quant forward/backward == fp4_fake_quant (and fp4_hadamard) of each operand + the FP32 GEMM. */
static void test_fake_quant_composition(void) {
    static rig g;
    static float xq[BT * C], wq[OC * C], y[BT * OC], dyq[BT * OC], wt[C * OC], wtq[C * OC], dx[BT * C];
    static float dyt[OC * BT], dytq[OC * BT], xt[C * BT], xtq[C * BT], dw[OC * C], t1[OC * BT], t2[C * BT];
    const uint32_t layer = 2, step = 6;
    const uint64_t seed = 99;
    for (int rht_on = 0; rht_on < 2; rht_on++) {
        FP4T_ASSERT_OK(rig_run(&g, rht_on ? "nvfp4" : "nvfp4-no-rht", FP4_LINEAR_FAKE, layer, step, seed));
        fq(g.x, BT, C, "1x16", FP4_ROUND_RNE, 0, 0, xq);
        fq(g.w, OC, C, "16x16", FP4_ROUND_RNE, 0, 0, wq);
        ref_gemm(BT, OC, C, xq, wq, y, g.b, 0);
        CU_ASSERT_EQUAL(memcmp(y, g.y, sizeof y), 0);
        fq(g.dy, BT, OC, "1x16", FP4_ROUND_SR, seed, fp4_linear_sr_stream(layer, 2, step), dyq);
        transpose(OC, C, g.w, wt);
        fq(wt, C, OC, "16x16", FP4_ROUND_RNE, 0, 0, wtq);
        ref_gemm(BT, C, OC, dyq, wtq, dx, NULL, 0);
        CU_ASSERT_EQUAL(memcmp(dx, g.dx, sizeof dx), 0);
        transpose(BT, OC, g.dy, dyt);
        transpose(BT, C, g.x, xt);
        if (rht_on) {
            rht(dyt, OC, BT, t1);
            rht(xt, C, BT, t2);
            memcpy(dyt, t1, sizeof dyt);
            memcpy(xt, t2, sizeof xt);
        }
        fq(dyt, OC, BT, "1x16", FP4_ROUND_SR, seed, fp4_linear_sr_stream(layer, 4, step) ^ FP4_STREAM_COLUMNWISE, dytq);
        fq(xt, C, BT, "1x16", FP4_ROUND_RNE, 0, 0, xtq);
        memset(dw, 0, sizeof dw);
        ref_gemm(OC, C, BT, dytq, xtq, dw, NULL, 1);
        CU_ASSERT_EQUAL(memcmp(dw, g.dw, sizeof dw), 0);
        for (int n = 0; n < OC; n++) {
            float s = 0.0f;
            for (int m = 0; m < BT; m++) s = s + g.dy[m * OC + n];
            CU_ASSERT_EQUAL(g.db[n], s);
        }
        fp4_linear_free(&g.l);
    }
}

/* Plain bf16: operands RNE-rounded to BF16, FP32 GEMM. */
static void test_plain_bf16(void) {
    static rig g;
    static float xb[BT * C], wb[OC * C], y[BT * OC];
    FP4T_ASSERT_OK(rig_run(&g, "bf16", FP4_LINEAR_PLAIN, 0, 0, 0));
    for (int i = 0; i < BT * C; i++) xb[i] = fp4_bf16_to_f32(fp4_f32_to_bf16(g.x[i]));
    for (int i = 0; i < OC * C; i++) wb[i] = fp4_bf16_to_f32(fp4_f32_to_bf16(g.w[i]));
    ref_gemm(BT, OC, C, xb, wb, y, g.b, 0);
    CU_ASSERT_EQUAL(memcmp(y, g.y, sizeof y), 0);
    CU_ASSERT_EQUAL(fp4_linear_saved_bytes(&g.l), (size_t)BT * C * 2);
    fp4_linear_free(&g.l);
}

/* True-quant (reference fp4_gemm on the host) agrees with fake-quant to FP32 summation order. */
static void test_true_vs_fake(void) {
    static rig f, t;
    const char *names[2] = {"nvfp4", "mxfp4"};
    for (int k = 0; k < 2; k++) {
        FP4T_ASSERT_OK(rig_run(&f, names[k], FP4_LINEAR_FAKE, 1, 3, 5));
        FP4T_ASSERT_OK(rig_run(&t, names[k], FP4_LINEAR_TRUE, 1, 3, 5));
        CU_ASSERT(rel_frob(t.y, f.y, BT * OC) <= 1e-5);
        CU_ASSERT(rel_frob(t.dx, f.dx, BT * C) <= 1e-5);
        CU_ASSERT(rel_frob(t.dw, f.dw, OC * C) <= 1e-5);
        /* the quantized operands are the same bits in both modes */
        for (int q = 0; q < 6; q++) {
            const fp4_qtensor *a = fp4_linear_operand(&f.l, (fp4_gemm_kind)(q / 2), q % 2);
            const fp4_qtensor *b = fp4_linear_operand(&t.l, (fp4_gemm_kind)(q / 2), q % 2);
            CU_ASSERT_EQUAL(memcmp(a->data, b->data, fp4_qtensor_data_bytes(a)), 0);
        }
        /* and the quantization error is real: fake-quant y is not the fp32 y */
        static rig p;
        FP4T_ASSERT_OK(rig_run(&p, "fp32", FP4_LINEAR_PLAIN, 1, 3, 5));
        const double e = rel_frob(f.y, p.y, BT * OC);
        CU_ASSERT(e > 1e-3 && e < 0.3);
        fp4_linear_free(&p.l);
        fp4_linear_free(&f.l);
        fp4_linear_free(&t.l);
    }
}

static void test_saved_bytes(void) {
    static rig g;
    FP4T_ASSERT_OK(rig_run(&g, "nvfp4", FP4_LINEAR_FAKE, 0, 0, 0));
    /* Xᵀ [C, BT] NVFP4: codes C*BT/2, E4M3 scales C*BT/16, 3 tensor floats; Wᵀ [C, OC] likewise */
    const size_t want = (C * BT / 2 + C * BT / 16 + 12) + (C * OC / 2 + C * OC / 16 + 12);
    CU_ASSERT_EQUAL(fp4_linear_saved_bytes(&g.l), want);
    fp4_linear_free(&g.l);
    FP4T_ASSERT_OK(rig_run(&g, "fp32", FP4_LINEAR_PLAIN, 0, 0, 0));
    CU_ASSERT_EQUAL(fp4_linear_saved_bytes(&g.l), (size_t)BT * C * 4);
    fp4_linear_free(&g.l);
    FP4T_ASSERT_OK(rig_run(&g, "mxfp4", FP4_LINEAR_FAKE, 0, 0, 0));
    CU_ASSERT_EQUAL(fp4_linear_saved_bytes(&g.l),
                    (size_t)(C * BT / 2 + C * BT / 32 + 12) + (size_t)(C * OC / 2 + C * OC / 32 + 12));
    fp4_linear_free(&g.l);
}

static void expect_msg(fp4_status got, fp4_status want, const char *n1, const char *n2) {
    CU_ASSERT_EQUAL(got, want);
    const char *m = fp4_last_error();
    const int ok = strstr(m, n1) && (!n2 || strstr(m, n2));
    if (!ok) fprintf(stderr, "\n    message '%s' lacks '%s'/'%s'\n", m, n1, n2 ? n2 : "");
    CU_ASSERT(ok);
}

static void test_rejections(void) {
    static float w[OC * C], x[40 * C], y[40 * OC], xb[BT * C];
    fp4_recipe nv, bf, mixed;
    FP4T_ASSERT_OK(fp4_recipe_parse("nvfp4", &nv));
    FP4T_ASSERT_OK(fp4_recipe_parse("bf16", &bf));
    FP4T_ASSERT_OK(fp4_recipe_parse("bf16,fprop.x.format=nvfp4", &mixed));
    fp4_linear l;
    expect_msg(fp4_linear_init(&l, w, NULL, OC, 24, FP4_HOST, &nv, FP4_LINEAR_FAKE, 0, 0), FP4_ERR_SHAPE, "fprop.x",
               "C = 24");
    expect_msg(fp4_linear_init(&l, w, NULL, 24, 32, FP4_HOST, &nv, FP4_LINEAR_FAKE, 0, 0), FP4_ERR_SHAPE, "fprop.w",
               "16x16");
    expect_msg(fp4_linear_init(&l, w, NULL, OC, C, FP4_HOST, &nv, FP4_LINEAR_PLAIN, 0, 0), FP4_ERR_INVALID_ARG,
               "mode plain", "fprop.x");
    expect_msg(fp4_linear_init(&l, w, NULL, OC, C, FP4_HOST, &mixed, FP4_LINEAR_TRUE, 0, 0), FP4_ERR_UNSUPPORTED,
               "fprop.x is nvfp4", "fprop.w is bf16");
    expect_msg(fp4_linear_init(&l, w, NULL, OC, C, FP4_HOST, &nv, FP4_LINEAR_FAKE, 1u << 23, 0), FP4_ERR_INVALID_ARG,
               "layer_id", NULL);
    expect_msg(fp4_linear_init(&l, NULL, NULL, OC, C, FP4_HOST, &nv, FP4_LINEAR_FAKE, 0, 0), FP4_ERR_INVALID_ARG, "w is NULL",
               NULL);
    fp4_recipe badr = nv;
    badr.op[FP4_WGRAD][1].hadamard = 0;
    expect_msg(fp4_linear_init(&l, w, NULL, OC, C, FP4_HOST, &badr, FP4_LINEAR_FAKE, 0, 0), FP4_ERR_INVALID_ARG,
               "wgrad.x.hadamard=0", NULL);
    /* mixed operands are fine in fake mode */
    FP4T_ASSERT_OK(fp4_linear_init(&l, w, NULL, OC, C, FP4_HOST, &mixed, FP4_LINEAR_FAKE, 0, 0));
    fp4_linear_free(&l);
    FP4T_ASSERT_OK(fp4_linear_init(&l, w, NULL, OC, C, FP4_HOST, &nv, FP4_LINEAR_FAKE, 0, 0));
    fp4_view xv = fp4_view_make(x, FP4_DTYPE_F32, 40, C, FP4_HOST), yv = fp4_view_make(y, FP4_DTYPE_F32, 40, OC, FP4_HOST);
    fill(x, 40 * C, 1, 1.0);
    fill(w, OC * C, 2, 1.0);
    expect_msg(fp4_linear_backward(NULL, &l, &yv, NULL, NULL, NULL), FP4_ERR_INVALID_ARG, "no forward", NULL);
    expect_msg(fp4_linear_forward(NULL, &l, &xv, &yv, 0), FP4_ERR_SHAPE, "wgrad", "BT = 40");
    fp4_view x2 = fp4_view_make(x, FP4_DTYPE_F32, 32, 48, FP4_HOST);
    expect_msg(fp4_linear_forward(NULL, &l, &x2, &yv, 0), FP4_ERR_SHAPE, "x is [32, 48]", NULL);
    fp4_view x3 = fp4_view_make(xb, FP4_DTYPE_BF16, BT, C, FP4_HOST);
    expect_msg(fp4_linear_forward(NULL, &l, &x3, &yv, 0), FP4_ERR_DTYPE, "x has dtype bf16", NULL);
    fp4_view x4 = fp4_view_make(x, FP4_DTYPE_F32, 32, C, FP4_HOST), y4 = fp4_view_make(y, FP4_DTYPE_F32, 32, OC, FP4_HOST);
    FP4T_ASSERT_OK(fp4_linear_forward(NULL, &l, &x4, &y4, 0));
    fp4_view dyw = fp4_view_make(y, FP4_DTYPE_F32, 16, OC, FP4_HOST);
    expect_msg(fp4_linear_backward(NULL, &l, &dyw, NULL, NULL, NULL), FP4_ERR_SHAPE, "dy is [16, 32]", "[32, 32]");
    fp4_view dyd = y4;
    dyd.loc = FP4_DEVICE;
    expect_msg(fp4_linear_backward(NULL, &l, &dyd, NULL, NULL, NULL), FP4_ERR_INVALID_ARG, "dy is on the device", NULL);
    fp4_linear_free(&l);
    /* a device layer needs a CUDA context (and a CUDA build) */
    FP4T_ASSERT_OK(fp4_linear_init(&l, w, NULL, OC, C, FP4_DEVICE, &bf, FP4_LINEAR_PLAIN, 0, 0));
    fp4_view xd = x4, yd = y4;
    xd.loc = yd.loc = FP4_DEVICE;
    expect_msg(fp4_linear_forward(NULL, &l, &xd, &yd, 0), FP4_ERR_INVALID_ARG, "not a CUDA context", NULL);
    fp4_linear_free(&l);
    fp4_linear_mode m;
    expect_msg(fp4_linear_mode_parse("fast", &m), FP4_ERR_INVALID_ARG, "'fast'", NULL);
    FP4T_ASSERT_OK(fp4_linear_mode_parse("true", &m));
    CU_ASSERT_EQUAL(m, FP4_LINEAR_TRUE);
}

static CU_TestInfo linear_tests[] = {
    {"fp32 finite-difference gradients (dx, dW, db), accumulation", test_gradcheck_fp32},
    {"preset operand tensors carry the spec's format/block/rounding/RHT", test_preset_tensors},
    {"Fprop and Dgrad see bit-identical 16x16 weights", test_weight_consistency},
    {"SR fresh per step/layer/seed, repeatable", test_sr_seeding},
    {"fake-quant equals explicit fake_quant + FP32 GEMM", test_fake_quant_composition},
    {"plain bf16 equals explicit BF16 rounding + FP32 GEMM", test_plain_bf16},
    {"true-quant (reference FP4 GEMM) agrees with fake-quant", test_true_vs_fake},
    {"saved activation memory accounting", test_saved_bytes},
    {"bad shapes, modes and recipes are rejected by name", test_rejections},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"linear", NULL, NULL, NULL, NULL, linear_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
