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
 * Every device path (AUTO, FUSED, TWO_PASS) runs each case. Pass: F32 output within relative
 * Frobenius error 1e-5 of the F32 reference, no NaN/Inf, every output written (D is poisoned with
 * NaN before each call); BF16 output: every element within 1 BF16 ulp of that F32 reference value
 * (check_bf16), and the case's F32-output run meets the Frobenius bound. Operands are random codes with random valid scale bytes (no quantizer
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

/* F32 outputs: relative Frobenius error of got vs the reference (FP32 accumulation in another
 * order: expect ~1e-7, pass <= 1e-5), no non-finite value. */
static void check_f32(const char *what, const fp4_view *v, const float *got, const float *ref, int64_t K) {
    double num = 0, den = 0;
    int nf = 0;
    for (int64_t m = 0; m < v->rows; m++)
        for (int64_t n = 0; n < v->cols; n++) {
            const double g = got[m * v->ld + n], w = ref[m * v->ld + n];
            if (!isfinite(g)) nf++;
            num += (g - w) * (g - w);
            den += w * w;
        }
    const double e = sqrt(num / (den > 0 ? den : 1));
    const int ok = e <= 1e-5 && nf == 0;
    if (!ok)
        printf("\n    %s M=%lld N=%lld K=%lld out=f32: rel err %.3g, %d non-finite\n", what, (long long)v->rows,
               (long long)v->cols, (long long)K, e, nf);
    CU_ASSERT(ok);
}

/* One BF16 ulp at |x| (BF16 has FP32's exponent range, 8 significant bits). */
static double bf16_ulp(double x) {
    x = fabs(x);
    if (x < 0x1p-126) return 0x1p-133;
    return ldexp(1.0, ilogb(x) - 7);
}

/* BF16 outputs: every element within 1 BF16 ulp of the FP32-output reference value `ref` (the
 * correctly rounded value is within 1/2 ulp; the GPU's FP32 sum differs from the CPU's by
 * summation order, which may move an element sitting on a rounding boundary to the other
 * neighbour), plus the FP32 error bound of the two sums, 2^-17 * mag with mag = |alpha| *
 * alpha_t * sum_k |a||b| + |beta||C| (the reference on sign-cleared operands): that term only
 * matters where alpha*acc and beta*C cancel (seen: 184 ulp of a near-zero result that is 1e-7
 * of mag). A wrong product, a lost block or a second rounding is >= 2^-10 * mag away and fails.
 * The F32-output run of the same case checks the accuracy in norm. */
static void check_bf16(const char *what, const fp4_view *v, const uint16_t *got, const float *ref, const float *mag,
                       int64_t ldr, int64_t K) {
    int64_t bad = 0, flips = 0;
    double worst = 0;
    for (int64_t m = 0; m < v->rows; m++)
        for (int64_t n = 0; n < v->cols; n++) {
            const double g = fp4_bf16_to_f32(got[m * v->ld + n]), r = ref[m * ldr + n];
            const double u = fabs(g - r) / (bf16_ulp(r) + 0x1p-17 * mag[m * ldr + n]);
            if (!isfinite(g) || !(u <= 1.0)) bad++;
            if (isfinite(g) && u > 0.5) flips++;
            if (isfinite(u) && u > worst) worst = u;
        }
    if (bad)
        printf("\n    %s M=%lld N=%lld K=%lld out=bf16: %lld elements beyond 1 ulp (worst %.3g ulp), %lld rounded "
               "to the far neighbour\n",
               what, (long long)v->rows, (long long)v->cols, (long long)K, (long long)bad, worst, (long long)flips);
    CU_ASSERT(bad == 0);
}

/* ---- cases --------------------------------------------------------------------------------- */

#define F32 FP4_DTYPE_F32
#define BF16 FP4_DTYPE_BF16

typedef struct {
    int64_t M, N, K;
    fp4_dtype dt_d, dt_c; /* dt_c: C's dtype when beta != 0 */
    float alpha, beta;
} gcase;

static const fp4_gemm_algo algos[3] = {FP4_GEMM_ALGO_AUTO, FP4_GEMM_ALGO_FUSED, FP4_GEMM_ALGO_TWO_PASS};
static const char *algo_name[3] = {"auto", "fused", "two-pass"};

/* Runs `call` (the device GEMM into d32 / dbf) for every algorithm: the F32-output run against the
 * F32 reference (Frobenius), and for BF16 cases the BF16-output run against the same reference
 * (1 ulp). Two-pass (cuBLASLt) needs C of D's dtype, so it skips the runs where C differs. */
typedef fp4_status (*gemm_call)(void *arg, fp4_gemm_algo algo, fp4_view *d);

static void run_algos(const char *what, gemm_call call, void *arg, const gcase *g, vpair *d32, vpair *dbf,
                      const float *ref, const float *mag) {
    float *got32 = malloc(v_bytes(&d32->h));
    uint16_t *gotbf = dbf ? malloc(v_bytes(&dbf->h)) : NULL;
    char name[96];
    for (int i = 0; i < 3; i++) {
        const int two = algos[i] == FP4_GEMM_ALGO_TWO_PASS;
        snprintf(name, sizeof name, "%s %s", what, algo_name[i]);
        if (!two || g->beta == 0 || g->dt_c == F32) {
            poison(d32);
            FP4T_ASSERT_OK(call(arg, algos[i], &d32->d));
            fetch(d32, got32);
            check_f32(name, &d32->h, got32, ref, g->K);
        }
        if (dbf && (!two || g->beta == 0 || g->dt_c == BF16)) {
            poison(dbf);
            FP4T_ASSERT_OK(call(arg, algos[i], &dbf->d));
            fetch(dbf, gotbf);
            check_bf16(name, &dbf->h, gotbf, ref, mag, d32->h.ld, g->K);
        }
    }
    free(got32);
    free(gotbf);
}

typedef struct {
    const fp4_view *x, *c;
    const fp4_qtensor *w, *a;
    float alpha, beta;
    fp4_alpha_mode mode;
} call_args;

static fp4_status call_w4a16(void *p, fp4_gemm_algo algo, fp4_view *d) {
    const call_args *c = p;
    if (algo == FP4_GEMM_ALGO_AUTO) return fp4_gemm_w4a16(ctx, c->x, c->w, c->alpha, c->c, c->beta, d);
    return fp4_gemm_w4a16_ex(ctx, c->x, c->w, c->alpha, c->c, c->beta, d, algo);
}

static fp4_status call_w4a4(void *p, fp4_gemm_algo algo, fp4_view *d) {
    const call_args *c = p;
    if (algo == FP4_GEMM_ALGO_AUTO) return fp4_gemm(ctx, c->a, c->w, c->alpha, c->c, c->beta, d, c->mode);
    return fp4_gemm_ex(ctx, c->a, c->w, c->alpha, c->c, c->beta, d, c->mode, algo);
}

/* Sign-cleared host copies (mag in check_bf16): FP4 codes & 0x7 (scales are positive here),
 * |BF16| / |F32| values. */
static void abs_q(const fp4_qtensor *src, fp4_qtensor *dst) {
    FP4T_ASSERT_OK(fp4_qtensor_alloc(dst, src->rows, src->cols, &src->cfg, FP4_HOST));
    const size_t db = fp4_qtensor_data_bytes(src);
    for (size_t i = 0; i < db; i++) dst->data[i] = src->data[i] & 0x77;
    memcpy(dst->scales, src->scales, fp4_qtensor_scale_bytes(src));
    dst->amax = src->amax, dst->s_enc = src->s_enc, dst->s_dec = src->s_dec;
}
static fp4_view abs_v(const fp4_view *v) {
    const size_t n = (size_t)(v->rows * v->ld), es = fp4_dtype_size(v->dtype);
    void *p = malloc(es * n);
    for (size_t i = 0; i < n; i++) {
        if (v->dtype == F32) ((float *)p)[i] = fabsf(((const float *)v->data)[i]);
        else ((uint16_t *)p)[i] = ((const uint16_t *)v->data)[i] & 0x7fff;
    }
    fp4_view o = *v;
    o.data = p;
    return o;
}

/* x has row stride ldx; returns (when `det` is set) after also checking that two FUSED runs
 * give bit-identical F32 outputs. */
static void run_w4a16_case_ld(fp4_config cfg, gcase g, uint64_t seed, int64_t ldx, int det) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    qpair w;
    vpair x, c, d32, dbf;
    make_q(&r, cfg, g.N, g.K, &w);
    make_v(&r, FP4_DTYPE_BF16, g.M, g.K, ldx, &x);
    make_v(&r, g.dt_c, g.M, g.N, g.N, &c);
    make_v(&r, F32, g.M, g.N, g.N + 1, &d32);
    if (g.dt_d == BF16) make_v(&r, BF16, g.M, g.N, g.N + 1, &dbf);
    const fp4_view *cp = g.beta != 0 ? &c.h : NULL, *cdp = g.beta != 0 ? &c.d : NULL;
    float *ref = malloc(v_bytes(&d32.h));
    poison(&d32);
    FP4T_ASSERT_OK(fp4_gemm_w4a16(NULL, &x.h, &w.h, g.alpha, cp, g.beta, &d32.h));
    memcpy(ref, d32.h.data, v_bytes(&d32.h));
    float *mag = malloc(v_bytes(&d32.h));
    {
        fp4_qtensor wa;
        abs_q(&w.h, &wa);
        fp4_view xa = abs_v(&x.h), ca = abs_v(&c.h);
        fp4_view ma = d32.h;
        ma.data = mag;
        FP4T_ASSERT_OK(fp4_gemm_w4a16(NULL, &xa, &wa, fabsf(g.alpha), g.beta != 0 ? &ca : NULL, fabsf(g.beta), &ma));
        fp4_qtensor_free(&wa);
        free(xa.data), free(ca.data);
    }
    call_args args = {&x.d, cdp, &w.d, NULL, g.alpha, g.beta, FP4_ALPHA_SDEC};
    run_algos(cfg.format == FP4_FORMAT_NVFP4 ? "w4a16 nvfp4" : "w4a16 mxfp4", call_w4a16, &args, &g, &d32,
              g.dt_d == BF16 ? &dbf : NULL, ref, mag);
    if (det) { /* the fused kernels reduce in a fixed order: two runs agree to the bit */
        float *r1 = malloc(v_bytes(&d32.h)), *r2 = malloc(v_bytes(&d32.h));
        poison(&d32);
        FP4T_ASSERT_OK(call_w4a16(&args, FP4_GEMM_ALGO_FUSED, &d32.d));
        fetch(&d32, r1);
        poison(&d32);
        FP4T_ASSERT_OK(call_w4a16(&args, FP4_GEMM_ALGO_FUSED, &d32.d));
        fetch(&d32, r2);
        CU_ASSERT(memcmp(r1, r2, v_bytes(&d32.h)) == 0);
        free(r1), free(r2);
    }
    free(ref), free(mag);
    free_q(&w), free_v(&x), free_v(&c), free_v(&d32);
    if (g.dt_d == BF16) free_v(&dbf);
}

static void run_w4a16_case(fp4_config cfg, gcase g, uint64_t seed) {
    run_w4a16_case_ld(cfg, g, seed, g.K + (seed % 2 ? 3 : 0), 0); /* odd ld: unaligned activation path */
}

static void run_w4a4_case(fp4_config cfg, gcase g, fp4_alpha_mode mode, uint64_t seed) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    qpair a, b;
    vpair c, d32, dbf;
    make_q(&r, cfg, g.M, g.K, &a);
    make_q(&r, cfg, g.N, g.K, &b);
    make_v(&r, g.dt_c, g.M, g.N, g.N + 2, &c);
    make_v(&r, F32, g.M, g.N, g.N, &d32);
    if (g.dt_d == BF16) make_v(&r, BF16, g.M, g.N, g.N, &dbf);
    const fp4_view *cp = g.beta != 0 ? &c.h : NULL, *cdp = g.beta != 0 ? &c.d : NULL;
    float *ref = malloc(v_bytes(&d32.h));
    poison(&d32);
    FP4T_ASSERT_OK(fp4_gemm(NULL, &a.h, &b.h, g.alpha, cp, g.beta, &d32.h, mode));
    memcpy(ref, d32.h.data, v_bytes(&d32.h));
    float *mag = malloc(v_bytes(&d32.h));
    {
        fp4_qtensor aa, ba;
        abs_q(&a.h, &aa);
        abs_q(&b.h, &ba);
        fp4_view ca = abs_v(&c.h), ma = d32.h;
        ma.data = mag;
        FP4T_ASSERT_OK(fp4_gemm(NULL, &aa, &ba, fabsf(g.alpha), g.beta != 0 ? &ca : NULL, fabsf(g.beta), &ma, mode));
        fp4_qtensor_free(&aa), fp4_qtensor_free(&ba);
        free(ca.data);
    }
    char what[64];
    snprintf(what, sizeof what, "w4a4 %s %s", fp4_format_name(cfg.format), mode == FP4_ALPHA_AMAX ? "amax" : "sdec");
    call_args args = {NULL, cdp, &b.d, &a.d, g.alpha, g.beta, mode};
    run_algos(what, call_w4a4, &args, &g, &d32, g.dt_d == BF16 ? &dbf : NULL, ref, mag);
    free(ref), free(mag);
    free_q(&a), free_q(&b), free_v(&c), free_v(&d32);
    if (g.dt_d == BF16) free_v(&dbf);
}

/* M: 1, 7, 16 (small/skinny MT=1), 45, 128 (MT=4), 130, 300 (tiled / two-pass). K % 128 == 0
 * takes the small-M streaming kernel (cluster split-K; K = 16384 and 8192: two rounds per CTA;
 * K = 1664, 2432: a short last slice / round), other K the skinny kernel. */
static const gcase nv_cases[] = {
    {1, 45, 16 * 7, F32, F32, 1.0f, 0.0f},      {7, 130, 16 * 37, BF16, BF16, 0.5f, 0.25f},
    {16, 257, 1024, F32, BF16, 1.0f, -1.0f},    {45, 200, 16 * 11, BF16, F32, 2.0f, 0.5f},
    {128, 129, 2048, F32, F32, 1.0f, 1.0f},     {130, 131, 16 * 13, F32, F32, 1.0f, 0.0f},
    {300, 260, 1024, BF16, BF16, -0.5f, 2.0f},  {257, 384, 512, F32, BF16, 1.0f, 0.0f},
    {1, 1000, 4096, F32, F32, 1.0f, 0.0f},      {3, 70, 16384, BF16, BF16, 1.0f, 0.0f},
    {40, 96, 8192, BF16, F32, 1.0f, 0.5f},      {5, 300, 1664, F32, F32, 1.0f, 0.0f},
    {100, 136, 2432, BF16, BF16, 1.0f, 0.0f},
};
static const gcase mx_cases[] = {
    {1, 33, 32 * 5, F32, F32, 1.0f, 0.0f},      {9, 140, 32 * 19, BF16, BF16, 1.5f, -0.5f},
    {64, 129, 1024, F32, F32, 1.0f, 1.0f},      {200, 136, 32 * 7, F32, BF16, 0.75f, 0.5f},
    {259, 300, 2048, BF16, F32, 1.0f, 0.0f},    {1, 700, 4096, BF16, BF16, 1.0f, 0.0f},
    {20, 260, 8192, F32, F32, 1.0f, 0.0f},
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
        if (g.dt_d == F32) {
            check_f32("bf16 cuBLASLt", &d.h, got, want, g.K);
        } else { /* BF16 out: 1 ulp of the F32-output reference (C is BF16 here, read the same way) */
            fp4_view d32h = {malloc(4 * (size_t)(g.M * g.N)), F32, g.M, g.N, g.N, FP4_HOST};
            FP4T_ASSERT_OK(fp4_gemm_bf16(NULL, &a.h, &b.h, g.alpha, g.beta != 0 ? &c.h : NULL, g.beta, &d32h));
            fp4_view aa = abs_v(&a.h), ba = abs_v(&b.h), ca = abs_v(&c.h), mh = d32h;
            mh.data = malloc(4 * (size_t)(g.M * g.N));
            FP4T_ASSERT_OK(fp4_gemm_bf16(NULL, &aa, &ba, fabsf(g.alpha), g.beta != 0 ? &ca : NULL, fabsf(g.beta), &mh));
            check_bf16("bf16 cuBLASLt", &d.h, got, d32h.data, mh.data, g.N, g.K);
            free(d32h.data), free(mh.data), free(aa.data), free(ba.data), free(ca.data);
        }
        free(want), free(got);
        free_v(&a), free_v(&b), free_v(&c), free_v(&d);
    }
}

/* M <= 16 with an aligned activation (16-byte rows, ld % 8 == 0) and K % 128 == 0: the
 * gemv kernel (kernels/gemm_w4a16_gemv.cu). Covers every M tile shape (M 1..8: one n8 tile,
 * 9..16: two), one K slice where the activation slice fits and workspace split-K slices where
 * it does not (K = 8192 and 16384 at M = 16), the bench shapes N = K = 4096, N off the 16-row
 * tile, chunk counts that do not divide among the warps (K = 128, 640, 1152), ld > K, beta with
 * C in either dtype, F32 and BF16 out; two FUSED runs must agree to the bit. */
static const gcase gv_nv_cases[] = {
    {1, 4096, 4096, F32, F32, 1.0f, 0.0f},      {2, 1000, 1152, BF16, BF16, 0.5f, 0.25f},
    {4, 257, 2048, F32, BF16, 1.0f, -1.0f},     {5, 130, 640, BF16, F32, 2.0f, 0.5f},
    {8, 700, 4096, F32, F32, 1.0f, 0.0f},       {9, 300, 1024, BF16, BF16, 1.0f, 0.0f},
    {13, 129, 2560, F32, F32, -0.5f, 1.0f},     {16, 2056, 8192, BF16, F32, 1.0f, 0.5f},
    {16, 64, 16384, F32, F32, 1.0f, 0.0f},      {3, 70, 16384, BF16, BF16, 1.0f, 0.0f},
    {1, 33, 128, F32, F32, 1.0f, 0.0f},
};
static const gcase gv_mx_cases[] = {
    {1, 700, 4096, BF16, BF16, 1.0f, 0.0f},     {6, 257, 1024, F32, F32, 1.5f, -0.5f},
    {12, 1030, 2048, F32, BF16, 1.0f, 1.0f},    {16, 96, 8192, BF16, BF16, 1.0f, 0.0f},
    {16, 4096, 4096, F32, F32, 1.0f, 0.0f},
};

static void test_w4a16_small_m(void) {
    for (size_t i = 0; i < NCASE(gv_nv_cases); i++)
        run_w4a16_case_ld(fp4_config_nvfp4(), gv_nv_cases[i], 1000 + i, gv_nv_cases[i].K + (i % 2 ? 8 : 0), i % 3 == 0);
    for (size_t i = 0; i < NCASE(gv_mx_cases); i++)
        run_w4a16_case_ld(fp4_config_mxfp4(), gv_mx_cases[i], 1100 + i, gv_mx_cases[i].K + (i % 2 ? 8 : 0), i % 2 == 0);
}

/* Set an env switch for a block of cases and restore it after (keep: the saved value or NULL). */
static char *env_push(const char *name, const char *val) {
    const char *old = getenv(name);
    char *keep = old ? strdup(old) : NULL;
    setenv(name, val, 1);
    return keep;
}
static void env_pop(const char *name, char *keep) {
    if (keep) setenv(name, keep, 1);
    else unsetenv(name);
    free(keep);
}

/* The gemv kernel's other launch modes (kernels/gemm_w4a16_gemv.cu, FP4KIT_GEMM_GEMV_PDL /
 * _PFS): no PDL (loads before the table build), PDL without the L2 hint, and the hint over 8
 * steps per warp; a subset of the cases above, same bounds (one-slice, split-K and MXFP4 cases). */
static void test_w4a16_small_m_modes(void) {
    static const int pick_nv[] = {0, 3, 7, 8, 10}, pick_mx[] = {1, 4};
    const char *modes[3][2] = {{"0", "2"}, {"1", "2"}, {"2", "8"}};
    for (int md = 0; md < 3; md++) {
        char *kp = env_push("FP4KIT_GEMM_GEMV_PDL", modes[md][0]), *kr = env_push("FP4KIT_GEMM_GEMV_PFS", modes[md][1]);
        for (size_t j = 0; j < NCASE(pick_nv); j++) {
            const int i = pick_nv[j];
            run_w4a16_case_ld(fp4_config_nvfp4(), gv_nv_cases[i], 1200 + 20 * md + i, gv_nv_cases[i].K + (i % 2 ? 8 : 0), 1);
        }
        for (size_t j = 0; j < NCASE(pick_mx); j++) {
            const int i = pick_mx[j];
            run_w4a16_case_ld(fp4_config_mxfp4(), gv_mx_cases[i], 1300 + 20 * md + i, gv_mx_cases[i].K + (i % 2 ? 8 : 0), 1);
        }
        env_pop("FP4KIT_GEMM_GEMV_PFS", kr), env_pop("FP4KIT_GEMM_GEMV_PDL", kp);
    }
}

/* The gemv kernel's split-K over S CTAs reduced through the context workspace (the default
 * where the activation slice does not fit one CTA; FP4KIT_GEMM_GEMV_S forces S): every M tile
 * shape with S = 2, 4, 8 and slice counts that do not divide the chunks (K = 1152: 9 chunks),
 * row tiles off N, more CTAs than SMs (S = 8 at N = 4096), vs the reference and run to run to
 * the bit (whichever CTA of a tile comes last sums the slices in slice order). */
static void test_w4a16_small_m_split(void) {
    static const gcase nv[] = {
        {1, 4096, 4096, F32, F32, 1.0f, 0.0f},  {5, 300, 1152, BF16, BF16, 1.0f, 0.5f},
        {9, 2056, 8192, F32, BF16, -1.0f, 1.0f}, {16, 4096, 4096, BF16, F32, 1.0f, 0.0f},
        {16, 129, 1152, F32, F32, 0.5f, 0.0f},
    };
    static const gcase mx[] = {{12, 1030, 2048, F32, BF16, 1.0f, 1.0f}, {16, 8192, 1024, BF16, BF16, 1.0f, 0.0f}};
    static const char *ss[] = {"2", "4", "8"};
    for (int si = 0; si < 3; si++) {
        char *ks = env_push("FP4KIT_GEMM_GEMV_S", ss[si]);
        for (size_t i = 0; i < NCASE(nv); i++)
            run_w4a16_case_ld(fp4_config_nvfp4(), nv[i], 1500 + 20 * si + i, nv[i].K + (i % 2 ? 8 : 0), 1);
        for (size_t i = 0; i < NCASE(mx); i++)
            run_w4a16_case_ld(fp4_config_mxfp4(), mx[i], 1510 + 20 * si + i, mx[i].K, 1);
        env_pop("FP4KIT_GEMM_GEMV_S", ks);
    }
}

/* Programmatic dependent launch: `steps` gemv calls queued back to back, call i reading the
 * BF16 output of call i-1 as its activation (read after write) and writing the buffer call i-1
 * read (write after read; the other buffer starts as NaN poison). With PDL, call i starts while
 * call i-1 still runs and must wait (griddepcontrol.wait) before every global access: a load
 * issued early reads poison or a stale layer and the chain differs. The queued chain must equal
 * to the bit the same chain with a device sync after every call, and its first call the CPU
 * reference (bounds as above). alpha = 1 / rms of the first layer's output keeps the values
 * in range along the chain. */
static void run_gemv_chain(fp4_config cfg, int64_t M, int64_t NK, int steps, uint64_t seed, int check_ref) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    qpair w[2];
    make_q(&r, cfg, NK, NK, &w[0]);
    make_q(&r, cfg, NK, NK, &w[1]);
    vpair x0, buf[2], d32;
    make_v(&r, BF16, M, NK, NK, &x0);
    make_v(&r, BF16, M, NK, NK, &buf[0]);
    make_v(&r, BF16, M, NK, NK, &buf[1]);
    make_v(&r, F32, M, NK, NK, &d32);
    /* alpha from the CPU reference of layer 0's first row */
    fp4_view x1 = x0.h, o1 = d32.h;
    x1.rows = o1.rows = 1;
    FP4T_ASSERT_OK(fp4_gemm_w4a16(NULL, &x1, &w[0].h, 1.0f, NULL, 0, &o1));
    double ss = 0;
    for (int64_t i = 0; i < NK; i++) ss += (double)((float *)d32.h.data)[i] * ((float *)d32.h.data)[i];
    const float alpha = (float)(1.0 / sqrt(ss / (double)NK + 1e-30));
    const size_t vb = v_bytes(&x0.h);
    uint16_t *res[2][2];
    for (int run = 0; run < 2; run++) { /* 0: queued, 1: sync after each call */
        FP4T_ASSERT_OK(fp4_copy_to_device(ctx, buf[0].d.data, x0.h.data, vb));
        memset(buf[1].h.data, 0xff, vb);
        FP4T_ASSERT_OK(fp4_copy_to_device(ctx, buf[1].d.data, buf[1].h.data, vb));
        FP4T_ASSERT_OK(fp4_context_sync(ctx));
        for (int i = 0; i < steps; i++) {
            FP4T_ASSERT_OK(fp4_gemm_w4a16(ctx, &buf[i & 1].d, &w[i & 1].d, alpha, NULL, 0, &buf[(i + 1) & 1].d));
            if (run) FP4T_ASSERT_OK(fp4_context_sync(ctx));
        }
        for (int j = 0; j < 2; j++) {
            res[run][j] = malloc(vb);
            fetch(&buf[j], res[run][j]);
        }
    }
    int nonfinite = 0;
    for (int64_t i = 0; i < M * NK; i++) nonfinite += !isfinite(fp4_bf16_to_f32(res[0][steps & 1][i]));
    CU_ASSERT_EQUAL(nonfinite, 0);
    CU_ASSERT(memcmp(res[0][0], res[1][0], vb) == 0);
    CU_ASSERT(memcmp(res[0][1], res[1][1], vb) == 0);
    if (nonfinite || memcmp(res[0][0], res[1][0], vb) || memcmp(res[0][1], res[1][1], vb))
        fprintf(stderr, "gemv chain %s M=%lld NK=%lld steps=%d: queued != synced (%d non-finite)\n",
                fp4_format_name(cfg.format), (long long)M, (long long)NK, steps, nonfinite);
    /* layer 0 on the device (F32 out) vs the CPU reference */
    if (check_ref) {
        float *ref = malloc(v_bytes(&d32.h)), *got = malloc(v_bytes(&d32.h));
        FP4T_ASSERT_OK(fp4_gemm_w4a16(NULL, &x0.h, &w[0].h, alpha, NULL, 0, &d32.h));
        memcpy(ref, d32.h.data, v_bytes(&d32.h));
        FP4T_ASSERT_OK(fp4_copy_to_device(ctx, buf[0].d.data, x0.h.data, vb));
        FP4T_ASSERT_OK(fp4_gemm_w4a16(ctx, &buf[0].d, &w[0].d, alpha, NULL, 0, &d32.d));
        fetch(&d32, got);
        check_f32("gemv chain layer 0", &d32.h, got, ref, NK);
        free(ref), free(got);
    }
    for (int run = 0; run < 2; run++) free(res[run][0]), free(res[run][1]);
    free_q(&w[0]), free_q(&w[1]);
    free_v(&x0), free_v(&buf[0]), free_v(&buf[1]), free_v(&d32);
}

static void test_gemv_pdl_chain(void) {
    const char *modes[3] = {"1", "2", "0"};
    for (int md = 0; md < 3; md++) {
        char *kp = env_push("FP4KIT_GEMM_GEMV_PDL", modes[md]);
        run_gemv_chain(fp4_config_nvfp4(), 1, 4096, 8, 1400 + md, md == 0);
        run_gemv_chain(fp4_config_nvfp4(), 16, 4096, 6, 1410 + md, md == 0);
        run_gemv_chain(fp4_config_mxfp4(), 13, 2048, 6, 1420 + md, md == 0);
        run_gemv_chain(fp4_config_nvfp4(), 16, 8192, 4, 1430 + md, 0); /* S = 2: workspace split-K */
        env_pop("FP4KIT_GEMM_GEMV_PDL", kp);
    }
}

static void test_rejects(void) {
    fp4t_rng r;
    fp4t_rng_seed(&r, 700);
    qpair w;
    vpair x, d;
    make_q(&r, fp4_config_nvfp4(), 8, 64, &w);
    make_v(&r, BF16, 4, 64, 64, &x); /* consistent with w: only the tested defect is wrong */
    make_v(&r, F32, 4, 8, 8, &d);
    fp4_qtensor bad = w.d;
    bad.cols = 40; /* not a multiple of 16 */
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(ctx, &x.d, &bad, 1, NULL, 0, &d.d), FP4_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "multiple of"));
    CU_ASSERT_EQUAL(fp4_gemm_ex(ctx, &bad, &bad, 1, NULL, 0, &d.d, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_AUTO), FP4_ERR_SHAPE);
    /* device tensors with a host context, mixed locations */
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(NULL, &x.d, &w.d, 1, NULL, 0, &d.d), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(ctx, &x.h, &w.d, 1, NULL, 0, &d.d), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(ctx, &x.d, &w.d, 1, NULL, 0, &d.h), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_gemm_ex(ctx, &w.h, &w.d, 1, NULL, 0, &d.d, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_AUTO),
                    FP4_ERR_INVALID_ARG);
    /* the same calls with consistent locations succeed (the checks above test locations only) */
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(ctx, &x.d, &w.d, 1, NULL, 0, &d.d), FP4_OK);
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(NULL, &x.h, &w.h, 1, NULL, 0, &d.h), FP4_OK);
    free_q(&w), free_v(&x), free_v(&d);
}

/* Large M through the sm_90a wgmma kernel (kernels/gemm_wgmma.cu; FUSED takes it for M > 128 on
 * compute capability 9.0; FP4KIT_GEMM_WGMMA=1 forces it on), with the consumers decoding 1 and
 * 2 K-steps ahead (FP4KIT_GEMM_WGMMA_AHEAD), then a few of the same cases with
 * FP4KIT_GEMM_WGMMA=0 (the mma.sync tiled kernel, the path of other GPUs). Tiles are 256 (M) x
 * 128 (N) x 64 (K): M, N off the tile, N = 1, 1, 2, 3 and many K-steps, K % 64 = 16 (NVFP4 K = 16·odd:
 * 8-byte staging) and 32 (half a K-step), M-tile counts above the raster group of 8, alpha/beta
 * with C in either dtype, F32 and BF16 out. Even seeds give W4A16 an aligned x (TMA); odd seeds
 * an odd ld (fallback to the tiled kernel). Device without sm_90: every case runs the tiled
 * kernel and must pass the same way. */
static const gcase wg_nv_cases[] = {
    {513, 129, 16 * 37, F32, F32, 1.0f, 0.0f},    {257, 384, 32 * 19, BF16, F32, 1.5f, 0.5f},
    {700, 200, 1536, F32, BF16, 1.0f, -1.0f},     {129, 1, 64, F32, F32, 2.0f, 0.0f},
    {2100, 260, 256, BF16, BF16, 1.0f, 0.0f},     {300, 131, 16 * 5, BF16, BF16, -0.5f, 2.0f},
    {257, 130, 16 * 11, F32, BF16, 1.0f, 0.5f},
};
static const gcase wg_mx_cases[] = {
    {300, 260, 32 * 7, F32, F32, 1.0f, 0.0f},     {700, 130, 32 * 33, BF16, BF16, 0.75f, 0.5f},
    {2049, 64, 128, F32, BF16, 1.0f, 0.0f},
};

static void run_wgmma_cases(uint64_t seed0, int n_nv, int n_mx) {
    for (int i = 0; i < n_nv; i++) {
        const uint64_t sd = seed0 + 2 * (uint64_t)i;
        run_w4a4_case(fp4_config_nvfp4(), wg_nv_cases[i], FP4_ALPHA_SDEC, sd);
        run_w4a4_case(fp4_config_nvfp4(), wg_nv_cases[i], FP4_ALPHA_AMAX, sd + 1);
        run_w4a16_case(fp4_config_nvfp4(), wg_nv_cases[i], sd + (i == 5)); /* case 5: odd ld */
    }
    for (int i = 0; i < n_mx; i++) {
        const uint64_t sd = seed0 + 100 + 2 * (uint64_t)i;
        run_w4a4_case(fp4_config_mxfp4(), wg_mx_cases[i], FP4_ALPHA_SDEC, sd);
        run_w4a16_case(fp4_config_mxfp4(), wg_mx_cases[i], sd);
    }
}

/* W4A4 through the wgmma kernel twice (FUSED): the F32 outputs agree to the bit (fixed summation
 * order, no atomics; with CTA pairs the peer's decoded half must land the same every run). */
static void wgmma_w4a4_det(fp4_config cfg, gcase g, uint64_t seed) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    qpair a, b;
    vpair d;
    make_q(&r, cfg, g.M, g.K, &a);
    make_q(&r, cfg, g.N, g.K, &b);
    make_v(&r, F32, g.M, g.N, g.N, &d);
    call_args args = {NULL, NULL, &b.d, &a.d, g.alpha, 0.0f, FP4_ALPHA_SDEC};
    float *r1 = malloc(v_bytes(&d.h)), *r2 = malloc(v_bytes(&d.h));
    poison(&d);
    FP4T_ASSERT_OK(call_w4a4(&args, FP4_GEMM_ALGO_FUSED, &d.d));
    fetch(&d, r1);
    poison(&d);
    FP4T_ASSERT_OK(call_w4a4(&args, FP4_GEMM_ALGO_FUSED, &d.d));
    fetch(&d, r2);
    CU_ASSERT(memcmp(r1, r2, v_bytes(&d.h)) == 0);
    free(r1), free(r2);
    free_q(&a), free_q(&b), free_v(&d);
}

/* W4A4 runs with CTA pairs sharing the decoded activation tile (FP4KIT_GEMM_WGMMA_CL=2: odd
 * N-tile counts give a pair whose second CTA lies past N), the pairs' weight rows decoded into
 * wgmma A registers (FP4KIT_GEMM_WGMMA_RS=1, the default) or into shared memory (=0), and without
 * pairs (=1). */
static void test_wgmma(void) {
    const char *old = getenv("FP4KIT_GEMM_WGMMA"), *olda = getenv("FP4KIT_GEMM_WGMMA_AHEAD"),
               *oldc = getenv("FP4KIT_GEMM_WGMMA_CL"), *oldr = getenv("FP4KIT_GEMM_WGMMA_RS");
    char *keep = old ? strdup(old) : NULL, *keepa = olda ? strdup(olda) : NULL, *keepc = oldc ? strdup(oldc) : NULL,
         *keepr = oldr ? strdup(oldr) : NULL;
    setenv("FP4KIT_GEMM_WGMMA", "1", 1);
    setenv("FP4KIT_GEMM_WGMMA_CL", "2", 1);
    setenv("FP4KIT_GEMM_WGMMA_RS", "1", 1); /* W4A4 pairs with P decoded into wgmma A registers */
    run_wgmma_cases(1300, (int)NCASE(wg_nv_cases), (int)NCASE(wg_mx_cases));
    const gcase det = {700, 260, 1536, F32, F32, 1.0f, 0.0f};
    wgmma_w4a4_det(fp4_config_nvfp4(), det, 1203);
    wgmma_w4a4_det(fp4_config_mxfp4(), det, 1204);
    setenv("FP4KIT_GEMM_WGMMA_RS", "0", 1); /* ... P decoded into shared memory */
    setenv("FP4KIT_GEMM_WGMMA_AHEAD", "1", 1); /* consumers decode 1 K-step ahead */
    run_wgmma_cases(800, (int)NCASE(wg_nv_cases), (int)NCASE(wg_mx_cases));
    setenv("FP4KIT_GEMM_WGMMA_AHEAD", "2", 1); /* ... 2 K-steps ahead */
    run_wgmma_cases(1000, (int)NCASE(wg_nv_cases), (int)NCASE(wg_mx_cases));
    wgmma_w4a4_det(fp4_config_nvfp4(), det, 1200);
    wgmma_w4a4_det(fp4_config_mxfp4(), det, 1201);
    setenv("FP4KIT_GEMM_WGMMA_CL", "1", 1); /* W4A4 without CTA pairs */
    run_wgmma_cases(1100, (int)NCASE(wg_nv_cases), (int)NCASE(wg_mx_cases));
    wgmma_w4a4_det(fp4_config_nvfp4(), det, 1202);
    setenv("FP4KIT_GEMM_WGMMA", "0", 1);
    run_wgmma_cases(900, 2, 1);
    if (keep) setenv("FP4KIT_GEMM_WGMMA", keep, 1);
    else unsetenv("FP4KIT_GEMM_WGMMA");
    if (keepa) setenv("FP4KIT_GEMM_WGMMA_AHEAD", keepa, 1);
    else unsetenv("FP4KIT_GEMM_WGMMA_AHEAD");
    if (keepc) setenv("FP4KIT_GEMM_WGMMA_CL", keepc, 1);
    else unsetenv("FP4KIT_GEMM_WGMMA_CL");
    if (keepr) setenv("FP4KIT_GEMM_WGMMA_RS", keepr, 1);
    else unsetenv("FP4KIT_GEMM_WGMMA_RS");
    free(keep), free(keepa), free(keepc), free(keepr);
}

static CU_TestInfo gemm_tests[] = {
    {"W4A16 NVFP4 fused / two-pass vs reference", test_w4a16_nvfp4},
    {"W4A16 MXFP4 fused / two-pass vs reference", test_w4a16_mxfp4},
    {"W4A16 M <= 16, aligned activations (gemv kernel) vs reference", test_w4a16_small_m},
    {"W4A16 M <= 16, gemv launch modes (PDL off, no L2 hint, hint over 8 steps)", test_w4a16_small_m_modes},
    {"W4A16 M <= 16, gemv calls chained under PDL vs synced", test_gemv_pdl_chain},
    {"W4A16 M <= 16, gemv split-K through the workspace (S 2/4/8) vs reference", test_w4a16_small_m_split},
    {"W4A4 NVFP4 (sdec, amax) fused / two-pass vs reference", test_w4a4_nvfp4},
    {"W4A4 MXFP4 fused / two-pass vs reference", test_w4a4_mxfp4},
    {"large M: wgmma (sm_90a) and mma.sync tiled kernels vs reference", test_wgmma},
    {"BF16 cuBLASLt vs reference", test_bf16},
    {"K not a multiple of the block, locations", test_rejects},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gpu_gemm", suite_init, suite_clean, NULL, NULL, gemm_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
