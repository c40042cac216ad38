/* tests/gpu_gemm.c — the CUDA GEMMs against the CPU references (suites "gpu...", skipped loudly
 * without a GPU).
 *
 *   fused W4A4 (fp4_gemm, NVFP4 both alpha modes, MXFP4)  vs fp4_gemm_ref (lib/gemm_ref.c)
 *   fused W4A16 (fp4_gemm_w4a16, NVFP4 1x16 / MXFP4)      vs fp4_gemm_w4a16_ref
 *   two-pass (decode + cuBLASLt) vs fused, same tolerance
 *   fp4_gemm_bf16 (cuBLASLt)                               vs fp4_gemm_bf16_ref, F32 out
 *   K not a multiple of the block: FP4_ERR_SHAPE with a message
 * Shapes cover M = 1, M and N not multiples of the tiles (skinny: 16/64 x 128, tiled: 128 x 128),
 * K = 16·odd (NVFP4) and 32·odd (MXFP4) — the unaligned staging paths — and aligned K with
 * several K tiles / split-K slices; BF16 and F32 outputs; beta != 0 with C in either dtype.
 * Pass: relative Frobenius error <= 1e-5, no NaN/Inf, every output written (D is poisoned with
 * NaN before each call); BF16 outputs may differ by 1 BF16 ulp on <= 0.1% of the elements
 * (rounding-boundary flips from the FP32 summation order; see rel_err). Operands are random codes with random valid scale bytes (no quantizer
 * needed). Runs in well under a minute on an H100 (the CPU references dominate).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/fp4kit.h"
#include "fp4kit/formats_inline.h"
#include "fp4kit/gemm.h"
#include "harness.h"

static fp4_context *ctx;

static int suite_init(void) { return fp4_context_create_cuda(0, NULL, &ctx) == FP4_OK ? 0 : 1; }
static int suite_clean(void) {
    fp4_context_destroy(ctx);
    ctx = NULL;
    return 0;
}

/* ---- operands ------------------------------------------------------------------------------ */

typedef struct {
    fp4_qtensor h, d;
} qpair;

static void fill_q(fp4t_rng *r, fp4_qtensor *q) {
    const size_t db = fp4_qtensor_data_bytes(q), sb = fp4_qtensor_scale_bytes(q);
    for (size_t i = 0; i < db; i++) q->data[i] = (uint8_t)fp4t_rng_u64(r);
    const int nv = q->cfg.format == FP4_FORMAT_NVFP4;
    for (size_t i = 0; i < sb; i++)
        q->scales[i] = nv ? (uint8_t)(0x08 + fp4t_rng_u64(r) % 0x70) : (uint8_t)(118 + fp4t_rng_u64(r) % 19);
    q->amax = (float)(1.0 + 10.0 * fp4t_rng_uniform(r));
    q->s_enc = nv ? fp4_nvfp4_global_enc(q->amax) : 1.0f;
    q->s_dec = nv ? fp4_nvfp4_global_dec(q->s_enc) : 1.0f;
}

static void make_q(fp4t_rng *r, fp4_config cfg, int64_t rows, int64_t cols, qpair *p) {
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&p->h, rows, cols, &cfg, FP4_HOST));
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&p->d, rows, cols, &cfg, FP4_DEVICE));
    fill_q(r, &p->h);
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, p->d.data, p->h.data, fp4_qtensor_data_bytes(&p->h)));
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, p->d.scales, p->h.scales, fp4_qtensor_scale_bytes(&p->h)));
    const float ts[3] = {p->h.amax, p->h.s_enc, p->h.s_dec};
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, p->d.tscale_dev, ts, sizeof ts));
    p->d.amax = p->h.amax, p->d.s_enc = p->h.s_enc, p->d.s_dec = p->h.s_dec;
}

static void free_q(qpair *p) {
    fp4_qtensor_free(&p->h);
    fp4_qtensor_free(&p->d);
}

/* A host + device matrix [rows, cols] with row stride ld. */
typedef struct {
    fp4_view h, d;
} vpair;

static void make_v(fp4t_rng *r, fp4_dtype dt, int64_t rows, int64_t cols, int64_t ld, vpair *p) {
    const size_t es = fp4_dtype_size(dt), bytes = es * (size_t)(rows * ld);
    void *hp = malloc(bytes), *dp = NULL;
    FP4T_ASSERT_OK(fp4_device_alloc(bytes, &dp));
    for (int64_t i = 0; i < rows * ld; i++) {
        const float v = (float)fp4t_rng_normal(r);
        if (dt == FP4_DTYPE_F32) ((float *)hp)[i] = v;
        else ((uint16_t *)hp)[i] = fp4_f32_to_bf16(v);
    }
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, dp, hp, bytes));
    p->h = (fp4_view){hp, dt, rows, cols, ld, FP4_HOST};
    p->d = (fp4_view){dp, dt, rows, cols, ld, FP4_DEVICE};
}

static void free_v(vpair *p) {
    free(p->h.data);
    fp4_device_free(p->d.data);
}

static size_t v_bytes(const fp4_view *v) { return fp4_dtype_size(v->dtype) * (size_t)(v->rows * v->ld); }

/* Fill D with NaN on both sides (poison: every output must be written). */
static void poison(vpair *d) {
    memset(d->h.data, 0xff, v_bytes(&d->h));
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, d->d.data, d->h.data, v_bytes(&d->h)));
}

/* Copy the device D back into `out` (host buffer of D's size) and sync. */
static void fetch(const vpair *d, void *out) {
    FP4T_ASSERT_OK(fp4_context_sync(ctx));
    FP4T_ASSERT_OK(fp4_copy_to_host(ctx, out, d->d.data, v_bytes(&d->d)));
}

static double get(const fp4_view *v, const void *data, int64_t m, int64_t n) {
    return v->dtype == FP4_DTYPE_F32 ? (double)((const float *)data)[m * v->ld + n]
                                     : (double)fp4_bf16_to_f32(((const uint16_t *)data)[m * v->ld + n]);
}

/* Relative Frobenius error of got vs want over [rows, cols]; counts non-finite values of got.
 * BF16 outputs: the GPU's FP32 value differs from the CPU's by FP32 summation order (~1e-7
 * relative), which flips the RNE rounding to BF16 on the rare element that sits on a rounding
 * boundary: a 1-ulp BF16 difference (~4e-3 relative) that alone would exceed 1e-5 in Frobenius
 * norm. Such 1-ulp differences are counted in *flips (must stay <= 0.1% of the elements) and left
 * out of the norm; any larger difference counts in full. */
static double rel_err(const fp4_view *v, const void *got, const void *want, int *nonfinite, int64_t *flips) {
    double num = 0, den = 0;
    *nonfinite = 0;
    *flips = 0;
    for (int64_t m = 0; m < v->rows; m++)
        for (int64_t n = 0; n < v->cols; n++) {
            const double g = get(v, got, m, n), w = get(v, want, m, n);
            if (!isfinite(g)) (*nonfinite)++;
            den += w * w;
            if (v->dtype == FP4_DTYPE_BF16 && g != w) {
                const uint16_t gb = ((const uint16_t *)got)[m * v->ld + n], wb = ((const uint16_t *)want)[m * v->ld + n];
                const int d = (int)(gb & 0x7fff) - (int)(wb & 0x7fff);
                if ((gb & 0x8000) == (wb & 0x8000) && (d == 1 || d == -1)) {
                    (*flips)++;
                    continue;
                }
            }
            num += (g - w) * (g - w);
        }
    return sqrt(num / (den > 0 ? den : 1));
}

static void check(const char *what, const fp4_view *v, const void *got, const void *want, int64_t M, int64_t N,
                  int64_t K) {
    int nf = 0;
    int64_t flips = 0;
    const double e = rel_err(v, got, want, &nf, &flips);
    const int ok = e <= 1e-5 && nf == 0 && flips * 1000 <= M * N;
    if (!ok)
        printf("\n    %s M=%lld N=%lld K=%lld out=%s: rel err %.3g, %d non-finite, %lld 1-ulp bf16 flips\n", what,
               (long long)M, (long long)N, (long long)K, fp4_dtype_name(v->dtype), e, nf, (long long)flips);
    CU_ASSERT(ok);
}

/* ---- cases --------------------------------------------------------------------------------- */

typedef struct {
    int64_t M, N, K;
    fp4_dtype dt_d, dt_c; /* dt_c: C's dtype when beta != 0 */
    float alpha, beta;
} gcase;

static void run_w4a16_case(fp4_config cfg, gcase g, uint64_t seed) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    qpair w;
    vpair x, c, d;
    make_q(&r, cfg, g.N, g.K, &w);
    const int64_t ldx = g.K + (seed % 2 ? 3 : 0); /* odd ld: unaligned activation path */
    make_v(&r, FP4_DTYPE_BF16, g.M, g.K, ldx, &x);
    make_v(&r, g.dt_c, g.M, g.N, g.N, &c);
    make_v(&r, g.dt_d, g.M, g.N, g.N + 1, &d);
    const fp4_view *cp = g.beta != 0 ? &c.h : NULL, *cdp = g.beta != 0 ? &c.d : NULL;
    void *want = malloc(v_bytes(&d.h)), *got = malloc(v_bytes(&d.h));
    poison(&d);
    FP4T_ASSERT_OK(fp4_gemm_w4a16(NULL, &x.h, &w.h, g.alpha, cp, g.beta, &d.h));
    memcpy(want, d.h.data, v_bytes(&d.h));
    FP4T_ASSERT_OK(fp4_gemm_w4a16(ctx, &x.d, &w.d, g.alpha, cdp, g.beta, &d.d));
    fetch(&d, got);
    check(cfg.format == FP4_FORMAT_NVFP4 ? "w4a16 nvfp4 fused" : "w4a16 mxfp4 fused", &d.h, got, want, g.M, g.N, g.K);
    if (g.beta == 0 || g.dt_c == g.dt_d) { /* two-pass (cuBLASLt) needs C of D's dtype */
        poison(&d);
        FP4T_ASSERT_OK(fp4_gemm_w4a16_ex(ctx, &x.d, &w.d, g.alpha, cdp, g.beta, &d.d, FP4_GEMM_ALGO_TWO_PASS));
        fetch(&d, want);
        check("w4a16 two-pass vs fused", &d.h, want, got, g.M, g.N, g.K);
    }
    free(want), free(got);
    free_q(&w), free_v(&x), free_v(&c), free_v(&d);
}

static void run_w4a4_case(fp4_config cfg, gcase g, fp4_alpha_mode mode, uint64_t seed) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    qpair a, b;
    vpair c, d;
    make_q(&r, cfg, g.M, g.K, &a);
    make_q(&r, cfg, g.N, g.K, &b);
    make_v(&r, g.dt_c, g.M, g.N, g.N + 2, &c);
    make_v(&r, g.dt_d, g.M, g.N, g.N, &d);
    const fp4_view *cp = g.beta != 0 ? &c.h : NULL, *cdp = g.beta != 0 ? &c.d : NULL;
    void *want = malloc(v_bytes(&d.h)), *got = malloc(v_bytes(&d.h));
    poison(&d);
    FP4T_ASSERT_OK(fp4_gemm(NULL, &a.h, &b.h, g.alpha, cp, g.beta, &d.h, mode));
    memcpy(want, d.h.data, v_bytes(&d.h));
    FP4T_ASSERT_OK(fp4_gemm(ctx, &a.d, &b.d, g.alpha, cdp, g.beta, &d.d, mode));
    fetch(&d, got);
    char what[64];
    snprintf(what, sizeof what, "w4a4 %s %s fused", fp4_format_name(cfg.format), mode == FP4_ALPHA_AMAX ? "amax" : "sdec");
    check(what, &d.h, got, want, g.M, g.N, g.K);
    if (g.beta == 0 || g.dt_c == g.dt_d) {
        poison(&d);
        FP4T_ASSERT_OK(fp4_gemm_ex(ctx, &a.d, &b.d, g.alpha, cdp, g.beta, &d.d, mode, FP4_GEMM_ALGO_TWO_PASS));
        fetch(&d, want);
        check("w4a4 two-pass vs fused", &d.h, want, got, g.M, g.N, g.K);
    }
    free(want), free(got);
    free_q(&a), free_q(&b), free_v(&c), free_v(&d);
}

#define F32 FP4_DTYPE_F32
#define BF16 FP4_DTYPE_BF16

/* M: 1, 7, 16 (skinny MT=1), 45, 128 (skinny MT=4), 130, 300 (tiled). */
static const gcase nv_cases[] = {
    {1, 45, 16 * 7, F32, F32, 1.0f, 0.0f},      {7, 130, 16 * 37, BF16, BF16, 0.5f, 0.25f},
    {16, 257, 1024, F32, BF16, 1.0f, -1.0f},    {45, 200, 16 * 11, BF16, F32, 2.0f, 0.5f},
    {128, 129, 2048, F32, F32, 1.0f, 1.0f},     {130, 131, 16 * 13, F32, F32, 1.0f, 0.0f},
    {300, 260, 1024, BF16, BF16, -0.5f, 2.0f},  {257, 384, 512, F32, BF16, 1.0f, 0.0f},
    {1, 1000, 4096, F32, F32, 1.0f, 0.0f},
};
static const gcase mx_cases[] = {
    {1, 33, 32 * 5, F32, F32, 1.0f, 0.0f},      {9, 140, 32 * 19, BF16, BF16, 1.5f, -0.5f},
    {64, 129, 1024, F32, F32, 1.0f, 1.0f},      {200, 136, 32 * 7, F32, BF16, 0.75f, 0.5f},
    {259, 300, 2048, BF16, F32, 1.0f, 0.0f},    {1, 700, 4096, BF16, BF16, 1.0f, 0.0f},
};
#define NCASE(a) (sizeof(a) / sizeof((a)[0]))

static void test_w4a16_nvfp4(void) {
    for (size_t i = 0; i < NCASE(nv_cases); i++) run_w4a16_case(fp4_config_nvfp4(), nv_cases[i], 100 + i);
}
static void test_w4a16_mxfp4(void) {
    for (size_t i = 0; i < NCASE(mx_cases); i++) run_w4a16_case(fp4_config_mxfp4(), mx_cases[i], 200 + i);
}
static void test_w4a4_nvfp4(void) {
    for (size_t i = 0; i < NCASE(nv_cases); i++) {
        run_w4a4_case(fp4_config_nvfp4(), nv_cases[i], FP4_ALPHA_SDEC, 300 + i);
        run_w4a4_case(fp4_config_nvfp4(), nv_cases[i], FP4_ALPHA_AMAX, 400 + i);
    }
}
static void test_w4a4_mxfp4(void) {
    for (size_t i = 0; i < NCASE(mx_cases); i++) run_w4a4_case(fp4_config_mxfp4(), mx_cases[i], FP4_ALPHA_SDEC, 500 + i);
}

static void test_bf16(void) {
    const gcase cs[] = {{1, 77, 64, F32, F32, 1.0f, 0.0f}, {130, 200, 136, F32, F32, 0.5f, -1.0f},
                        {512, 256, 1024, F32, F32, 1.0f, 0.0f}, {33, 65, 96, BF16, BF16, 1.0f, 1.0f}};
    for (size_t i = 0; i < NCASE(cs); i++) {
        const gcase g = cs[i];
        fp4t_rng r;
        fp4t_rng_seed(&r, 600 + i);
        vpair a, b, c, d;
        make_v(&r, BF16, g.M, g.K, g.K, &a);
        make_v(&r, BF16, g.N, g.K, g.K + 8, &b);
        make_v(&r, g.dt_c, g.M, g.N, g.N, &c);
        make_v(&r, g.dt_d, g.M, g.N, g.N, &d);
        void *want = malloc(v_bytes(&d.h)), *got = malloc(v_bytes(&d.h));
        poison(&d);
        FP4T_ASSERT_OK(fp4_gemm_bf16(NULL, &a.h, &b.h, g.alpha, g.beta != 0 ? &c.h : NULL, g.beta, &d.h));
        memcpy(want, d.h.data, v_bytes(&d.h));
        FP4T_ASSERT_OK(fp4_gemm_bf16(ctx, &a.d, &b.d, g.alpha, g.beta != 0 ? &c.d : NULL, g.beta, &d.d));
        fetch(&d, got);
        check("bf16 cuBLASLt", &d.h, got, want, g.M, g.N, g.K);
        free(want), free(got);
        free_v(&a), free_v(&b), free_v(&c), free_v(&d);
    }
}

static void test_rejects(void) {
    fp4t_rng r;
    fp4t_rng_seed(&r, 700);
    qpair w;
    vpair x, d;
    make_q(&r, fp4_config_nvfp4(), 8, 64, &w);
    make_v(&r, BF16, 4, 40, 40, &x);
    make_v(&r, F32, 4, 8, 8, &d);
    fp4_qtensor bad = w.d;
    bad.cols = 40; /* not a multiple of 16 */
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(ctx, &x.d, &bad, 1, NULL, 0, &d.d), FP4_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "multiple of"));
    CU_ASSERT_EQUAL(fp4_gemm_ex(ctx, &bad, &bad, 1, NULL, 0, &d.d, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_AUTO), FP4_ERR_SHAPE);
    /* device tensors with a host context, mixed locations */
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(NULL, &x.d, &w.d, 1, NULL, 0, &d.d), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(ctx, &x.h, &w.d, 1, NULL, 0, &d.d), FP4_ERR_INVALID_ARG);
    free_q(&w), free_v(&x), free_v(&d);
}

static CU_TestInfo gemm_tests[] = {
    {"W4A16 NVFP4 fused / two-pass vs reference", test_w4a16_nvfp4},
    {"W4A16 MXFP4 fused / two-pass vs reference", test_w4a16_mxfp4},
    {"W4A4 NVFP4 (sdec, amax) fused / two-pass vs reference", test_w4a4_nvfp4},
    {"W4A4 MXFP4 fused / two-pass vs reference", test_w4a4_mxfp4},
    {"BF16 cuBLASLt vs reference", test_bf16},
    {"K not a multiple of the block, locations", test_rejects},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gpu_gemm", suite_init, suite_clean, NULL, NULL, gemm_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
