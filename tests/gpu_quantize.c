/* tests/gpu_quantize.c — CUDA quantize / dequantize / amax / scale swizzle are BIT-IDENTICAL to the
 * CPU reference, through the public API (host tensors run lib/quantize_ref.c, device tensors run
 * kernels/). For every case: codes, scale bytes, amax/s_enc/s_dec (host fields and tscale_dev),
 * cfg and status must match; outputs are poisoned (0xA5) before each run so unwritten bytes show.
 *
 * Cases: NVFP4 1x16 / 16x16, MXFP4 rceil / ocp; RNE / SR; rowwise, columnwise, both; F32 and BF16;
 * ld == cols and ld > cols; 1 row, odd rows, rows/cols not multiples of the 64x64 tile,
 * columnwise-only with odd cols; data kinds: normal at random scales, 1e4x outliers, zero
 * blocks, subnormals, Inf/NaN (default mode), all-zero tensor; strict mode errors; one tensor of
 * 2^26 elements; dequantize to F32/BF16; swizzle GPU == CPU; device tensors with a CPU context.
 * A failure prints the case (shape, mode, output) and the first differing byte offset.
 * Run: ./build/tests/gpu_quantize (about a minute on an H100 plus the CPU reference time). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/fp4kit.h"
#include "fp4kit/formats_inline.h"
#include "fp4kit/layout.h"
#include "harness.h"

static fp4_context *g_ctx;

static int suite_init(void) { return fp4_context_create_cuda(0, NULL, &g_ctx) == FP4_OK ? 0 : 1; }
static int suite_clean(void) {
    fp4_context_destroy(g_ctx);
    g_ctx = NULL;
    return 0;
}

enum { OUT_ROW = 1, OUT_COL = 2, OUT_BOTH = 3 };
enum { K_NORMAL, K_OUTLIER, K_ZEROBLK, K_SUBNORMAL, K_SPECIAL, K_ALLZERO, K_NKINDS };
static const char *kind_name[] = {"normal", "outliers", "zero-blocks", "subnormal", "inf-nan", "all-zero"};

typedef struct {
    fp4_config cfg;
    fp4_dtype dt;
    int64_t rows, cols, ld;
    int outs, kind;
} qcase;

static void describe(const qcase *c, char *buf, size_t n) {
    snprintf(buf, n, "%s %s %s %s %s [%lld x %lld] ld=%lld out=%s data=%s strict=%d", fp4_format_name(c->cfg.format),
             fp4_block_name(c->cfg.block), fp4_scale_rule_name(c->cfg.scale_rule), fp4_rounding_name(c->cfg.rounding),
             fp4_dtype_name(c->dt), (long long)c->rows, (long long)c->cols, (long long)c->ld,
             c->outs == OUT_ROW ? "row" : c->outs == OUT_COL ? "col" : "row+col", kind_name[c->kind],
             (int)c->cfg.nonfinite);
}

/* Fill a host [rows, ld] buffer (only the first cols of each row matter; the rest is junk that
 * must never be read into a result). */
static void fill(void *buf, const qcase *c, fp4t_rng *rng) {
    const double scale = ldexp(1.0, (int)(fp4t_rng_u64(rng) % 21) - 10);
    const int bc = 16;
    for (int64_t r = 0; r < c->rows; r++)
        for (int64_t j = 0; j < c->ld; j++) {
            double v = fp4t_rng_normal(rng) * scale;
            if (j >= c->cols) v = 1e30; /* padding: would poison any amax that reads it */
            else switch (c->kind) {
            case K_OUTLIER: if (fp4t_rng_u64(rng) % 97 == 0) v *= 1e4; break;
            case K_ZEROBLK: if (((r / 16) * 7 + (j / bc) * 3) % 5 == 0 || ((r * 31 + j / 32) % 7) == 0) v = 0.0; break;
            case K_SUBNORMAL: v = fp4t_rng_normal(rng) * (c->dt == FP4_DTYPE_F32 ? 1e-40 : 2e-39); break;
            case K_SPECIAL: {
                const uint64_t k = fp4t_rng_u64(rng) % 211;
                if (k == 0) v = INFINITY;
                else if (k == 1) v = -INFINITY;
                else if (k == 2) v = NAN;
                break;
            }
            case K_ALLZERO: v = 0.0; break;
            default: break;
            }
            const float f = (float)v;
            if (c->dt == FP4_DTYPE_F32) ((float *)buf)[r * c->ld + j] = f;
            else ((uint16_t *)buf)[r * c->ld + j] = fp4_f32_to_bf16(f);
        }
}

static int first_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return (int)(i > 0x7fffffff ? 0x7fffffff : i);
    return -1;
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Compare a device qtensor with a host one; returns 0 if identical, else prints and returns 1. */
static int compare_q(const fp4_qtensor *h, const fp4_qtensor *d, const char *what, const char *desc) {
    const size_t db = fp4_qtensor_data_bytes(h), sb = fp4_qtensor_scale_bytes(h);
    uint8_t *dd = malloc(db), *ds = malloc(sb);
    float ts[3] = {0, 0, 0};
    int bad = 0;
    if (fp4_copy_to_host(g_ctx, dd, d->data, db) != FP4_OK || fp4_copy_to_host(g_ctx, ds, d->scales, sb) != FP4_OK ||
        fp4_copy_to_host(g_ctx, ts, d->tscale_dev, sizeof ts) != FP4_OK) {
        printf("\n    FAIL %s [%s]: copy back failed: %s\n", desc, what, fp4_last_error());
        bad = 1;
    } else {
        int i = first_diff(h->data, dd, db);
        if (i >= 0) {
            printf("\n    FAIL %s [%s]: data differs at byte %d (row %lld): host 0x%02x device 0x%02x\n", desc, what, i,
                   (long long)(i / (h->cols / 2)), h->data[i], dd[i]);
            bad = 1;
        }
        i = first_diff(h->scales, ds, sb);
        if (i >= 0) {
            printf("\n    FAIL %s [%s]: scales differ at byte %d: host 0x%02x device 0x%02x\n", desc, what, i, h->scales[i],
                   ds[i]);
            bad = 1;
        }
        if (fbits(h->amax) != fbits(d->amax) || fbits(h->s_enc) != fbits(d->s_enc) || fbits(h->s_dec) != fbits(d->s_dec)) {
            printf("\n    FAIL %s [%s]: tensor scales host {%a %a %a} device {%a %a %a}\n", desc, what, h->amax, h->s_enc,
                   h->s_dec, d->amax, d->s_enc, d->s_dec);
            bad = 1;
        }
        if (fbits(ts[0]) != fbits(d->amax) || fbits(ts[1]) != fbits(d->s_enc) || fbits(ts[2]) != fbits(d->s_dec)) {
            printf("\n    FAIL %s [%s]: tscale_dev {%a %a %a} != host fields {%a %a %a}\n", desc, what, ts[0], ts[1], ts[2],
                   d->amax, d->s_enc, d->s_dec);
            bad = 1;
        }
        const fp4_config *a = &h->cfg, *b = &d->cfg;
        if (a->format != b->format || a->block != b->block || a->scale_rule != b->scale_rule ||
            a->rounding != b->rounding || a->nonfinite != b->nonfinite || a->seed != b->seed || a->stream != b->stream ||
            h->hadamard != d->hadamard) {
            printf("\n    FAIL %s [%s]: cfg/hadamard fields differ (stream host %llx device %llx)\n", desc, what,
                   (unsigned long long)h->cfg.stream, (unsigned long long)d->cfg.stream);
            bad = 1;
        }
    }
    free(dd);
    free(ds);
    return bad;
}

static void poison(fp4_qtensor *q) {
    const size_t db = fp4_qtensor_data_bytes(q), sb = fp4_qtensor_scale_bytes(q);
    uint8_t *p = malloc(db > sb ? db : sb);
    memset(p, 0xA5, db > sb ? db : sb);
    fp4_copy_to_device(g_ctx, q->data, p, db);
    fp4_copy_to_device(g_ctx, q->scales, p, sb);
    free(p);
}

/* Run one case on host and device; returns the number of failures (0 or 1). */
static int run_case(const qcase *c, uint64_t seed) {
    char desc[256];
    describe(c, desc, sizeof desc);
    const size_t es = fp4_dtype_size(c->dt), bytes = (size_t)c->rows * (size_t)c->ld * es;
    void *hx = malloc(bytes), *dx = NULL;
    fp4t_rng rng;
    fp4t_rng_seed(&rng, seed);
    fill(hx, c, &rng);
    if (fp4_device_alloc(bytes, &dx) != FP4_OK || fp4_copy_to_device(g_ctx, dx, hx, bytes) != FP4_OK) {
        printf("\n    FAIL %s: device setup: %s\n", desc, fp4_last_error());
        free(hx);
        return 1;
    }
    fp4_view xh = {hx, c->dt, c->rows, c->cols, c->ld, FP4_HOST}, xd = {dx, c->dt, c->rows, c->cols, c->ld, FP4_DEVICE};
    fp4_qtensor hr, hc, dr, dc;
    memset(&hr, 0, sizeof hr); memset(&hc, 0, sizeof hc); memset(&dr, 0, sizeof dr); memset(&dc, 0, sizeof dc);
    int bad = 0;
    const int row = c->outs & OUT_ROW, col = (c->outs & OUT_COL) != 0;
    fp4_status s1 = FP4_OK, s2 = FP4_OK;
    if (row && (fp4_qtensor_alloc(&hr, c->rows, c->cols, &c->cfg, FP4_HOST) != FP4_OK ||
                fp4_qtensor_alloc(&dr, c->rows, c->cols, &c->cfg, FP4_DEVICE) != FP4_OK)) s1 = FP4_ERR_NOMEM;
    if (col && (fp4_qtensor_alloc(&hc, c->cols, c->rows, &c->cfg, FP4_HOST) != FP4_OK ||
                fp4_qtensor_alloc(&dc, c->cols, c->rows, &c->cfg, FP4_DEVICE) != FP4_OK)) s1 = FP4_ERR_NOMEM;
    if (s1 != FP4_OK) {
        printf("\n    FAIL %s: alloc: %s\n", desc, fp4_last_error());
        bad = 1;
        goto done;
    }
    if (row) poison(&dr);
    if (col) poison(&dc);
    s1 = fp4_quantize(NULL, &xh, &c->cfg, row ? &hr : NULL, col ? &hc : NULL);
    char msg1[1024];
    snprintf(msg1, sizeof msg1, "%s", fp4_last_error());
    s2 = fp4_quantize(g_ctx, &xd, &c->cfg, row ? &dr : NULL, col ? &dc : NULL);
    if (s1 != s2) {
        printf("\n    FAIL %s: status host %s (%s) device %s (%s)\n", desc, fp4_status_str(s1), msg1, fp4_status_str(s2),
               fp4_last_error());
        bad = 1;
        goto done;
    }
    if (s1 != FP4_OK) goto done; /* same error on both sides (strict mode): outputs are unspecified */
    if (row) bad |= compare_q(&hr, &dr, "rowwise", desc);
    if (col) bad |= compare_q(&hc, &dc, "columnwise", desc);
done:
    fp4_qtensor_free(&hr); fp4_qtensor_free(&hc); fp4_qtensor_free(&dr); fp4_qtensor_free(&dc);
    fp4_device_free(dx);
    free(hx);
    return bad;
}

static fp4_config mode_cfg(int m, int sr) {
    fp4_config cfg = m < 2 ? fp4_config_nvfp4() : fp4_config_mxfp4();
    if (m == 1) cfg.block = FP4_BLOCK_16x16;
    if (m == 3) cfg.scale_rule = FP4_SCALE_OCP;
    if (sr) {
        cfg.rounding = FP4_ROUND_SR;
        cfg.seed = 0x1234567887654321ull + (uint64_t)m;
        cfg.stream = 42 + (uint64_t)m;
    }
    return cfg;
}

/* Is this shape valid for (mode, outputs)? */
static int shape_ok(const fp4_config *cfg, int outs, int64_t rows, int64_t cols) {
    const int bc = fp4_block_cols(cfg->block), br = fp4_block_rows(cfg->block);
    if ((outs & OUT_ROW) && cols % bc) return 0;
    if ((outs & OUT_COL) && rows % bc) return 0;
    if (br > 1 && (rows % br || cols % br)) return 0;
    return 1;
}

static void test_all_modes(void) {
    static const int64_t shapes[][2] = {{1, 64},   {1, 4096}, {3, 96},   {17, 32},  {64, 64},  {96, 160},
                                        {80, 192}, {200, 48}, {128, 7},  {32, 100}, {256, 1024}, {160, 2080},
                                        {33, 512}, {64, 1}};
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    int ncase = 0, nfail = 0;
    uint64_t seed = 1;
    for (int m = 0; m < 4; m++)
        for (int sr = 0; sr < 2; sr++)
            for (int outs = 1; outs <= 3; outs++)
                for (int dt = 0; dt < 2; dt++)
                    for (int s = 0; s < nshapes; s++)
                        for (int pad = 0; pad < 2; pad++) {
                            qcase c;
                            c.cfg = mode_cfg(m, sr);
                            c.dt = dt ? FP4_DTYPE_BF16 : FP4_DTYPE_F32;
                            c.rows = shapes[s][0];
                            c.cols = shapes[s][1];
                            if (!shape_ok(&c.cfg, outs, c.rows, c.cols)) continue;
                            c.ld = c.cols + (pad ? 8 + (int64_t)(seed % 3) : 0); /* odd pads break 16-byte alignment */
                            c.outs = outs;
                            c.kind = (int)(seed % (K_NKINDS - 1)); /* all-zero has its own test */
                            ncase++;
                            nfail += run_case(&c, seed++);
                        }
    printf("\n    %d cases, %d failed ", ncase, nfail);
    CU_ASSERT_EQUAL(nfail, 0);
}

static void test_special_tensors(void) {
    int nfail = 0;
    for (int m = 0; m < 4; m++)
        for (int kind = K_SUBNORMAL; kind < K_NKINDS; kind++)
            for (int outs = 1; outs <= 3; outs++) {
                qcase c = {mode_cfg(m, kind == K_SPECIAL), FP4_DTYPE_BF16, 96, 128, 128, outs, kind};
                nfail += run_case(&c, 1000 + (uint64_t)kind);
                c.dt = FP4_DTYPE_F32;
                nfail += run_case(&c, 2000 + (uint64_t)kind);
            }
    CU_ASSERT_EQUAL(nfail, 0);
}

static void test_strict(void) {
    int nfail = 0;
    for (int m = 0; m < 4; m++)
        for (int outs = 1; outs <= 3; outs++)
            for (int kind = K_NORMAL; kind <= K_SPECIAL; kind += K_SPECIAL) {
                qcase c = {mode_cfg(m, 0), FP4_DTYPE_BF16, 64, 256, 256, outs, kind};
                c.cfg.nonfinite = FP4_NONFINITE_ERROR;
                nfail += run_case(&c, 3000 + (uint64_t)m); /* run_case checks the statuses agree */
                fp4_status st = FP4_OK;
                if (kind == K_SPECIAL) { /* and that the error really is reported on the device */
                    void *dx = NULL;
                    uint16_t h[64 * 256];
                    for (int i = 0; i < 64 * 256; i++) h[i] = fp4_f32_to_bf16(i == 4321 ? NAN : 1.0f);
                    fp4_device_alloc(sizeof h, &dx);
                    fp4_copy_to_device(g_ctx, dx, h, sizeof h);
                    fp4_view x = {dx, FP4_DTYPE_BF16, 64, 256, 256, FP4_DEVICE};
                    fp4_qtensor q;
                    fp4_qtensor_alloc(&q, 64, 256, &c.cfg, FP4_DEVICE);
                    st = fp4_quantize(g_ctx, &x, &c.cfg, &q, NULL);
                    CU_ASSERT_EQUAL(st, FP4_ERR_NONFINITE);
                    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "NaN"));
                    fp4_qtensor_free(&q);
                    fp4_device_free(dx);
                }
            }
    CU_ASSERT_EQUAL(nfail, 0);
}

static void test_large(void) {
    /* 8192 x 8192 = 2^26 elements, both copies in one pass, and an SR rowwise MXFP4 pass */
    qcase c = {mode_cfg(0, 0), FP4_DTYPE_BF16, 8192, 8192, 8192, OUT_BOTH, K_OUTLIER};
    CU_ASSERT_EQUAL(run_case(&c, 77), 0);
    qcase d = {mode_cfg(2, 1), FP4_DTYPE_BF16, 8192, 8192, 8192, OUT_ROW, K_NORMAL};
    CU_ASSERT_EQUAL(run_case(&d, 78), 0);
}

static void test_amax(void) {
    int nfail = 0;
    for (int k = 0; k < 12; k++) {
        qcase c = {fp4_config_nvfp4(), k & 1 ? FP4_DTYPE_BF16 : FP4_DTYPE_F32, 1 + k * 37, 16 + 48 * k, 16 + 48 * k + (k % 3),
                   OUT_ROW, k % K_NKINDS};
        const size_t es = fp4_dtype_size(c.dt), bytes = (size_t)c.rows * (size_t)c.ld * es;
        void *hx = malloc(bytes), *dx = NULL;
        fp4t_rng rng;
        fp4t_rng_seed(&rng, 500 + (uint64_t)k);
        fill(hx, &c, &rng);
        fp4_device_alloc(bytes, &dx);
        fp4_copy_to_device(g_ctx, dx, hx, bytes);
        fp4_view xh = {hx, c.dt, c.rows, c.cols, c.ld, FP4_HOST}, xd = {dx, c.dt, c.rows, c.cols, c.ld, FP4_DEVICE};
        float a = -1, b = -2;
        FP4T_ASSERT_OK(fp4_amax(NULL, &xh, &a));
        FP4T_ASSERT_OK(fp4_amax(g_ctx, &xd, &b));
        if (fbits(a) != fbits(b)) {
            printf("\n    FAIL amax [%lld x %lld] ld=%lld %s: host %a device %a\n", (long long)c.rows, (long long)c.cols,
                   (long long)c.ld, kind_name[c.kind], a, b);
            nfail++;
        }
        fp4_device_free(dx);
        free(hx);
    }
    CU_ASSERT_EQUAL(nfail, 0);
}

static void test_dequantize(void) {
    int nfail = 0;
    for (int m = 0; m < 4; m++)
        for (int od = 0; od < 4; od++) {
            /* ld 264: 16-byte vector stores; ld 259: scalar-store path */
            const int64_t rows = 48, cols = 256, ld = od < 2 ? 264 : 256 + 3;
            const fp4_dtype dt = (od & 1) ? FP4_DTYPE_BF16 : FP4_DTYPE_F32;
            fp4_config cfg = mode_cfg(m, 0);
            qcase c = {cfg, FP4_DTYPE_F32, rows, cols, cols, OUT_ROW, K_OUTLIER};
            float *hx = malloc((size_t)rows * cols * 4);
            fp4t_rng rng;
            fp4t_rng_seed(&rng, 900 + (uint64_t)m);
            fill(hx, &c, &rng);
            fp4_view xh = fp4_view_make(hx, FP4_DTYPE_F32, rows, cols, FP4_HOST);
            fp4_qtensor hq, dq;
            FP4T_ASSERT_OK(fp4_qtensor_alloc(&hq, rows, cols, &cfg, FP4_HOST));
            FP4T_ASSERT_OK(fp4_quantize(NULL, &xh, &cfg, &hq, NULL));
            FP4T_ASSERT_OK(fp4_qtensor_alloc(&dq, rows, cols, &cfg, FP4_DEVICE));
            fp4_copy_to_device(g_ctx, dq.data, hq.data, fp4_qtensor_data_bytes(&hq));
            fp4_copy_to_device(g_ctx, dq.scales, hq.scales, fp4_qtensor_scale_bytes(&hq));
            dq.amax = hq.amax; dq.s_enc = hq.s_enc; dq.s_dec = hq.s_dec; dq.cfg = hq.cfg;
            const size_t es = fp4_dtype_size(dt), yb = (size_t)rows * ld * es;
            uint8_t *hy = malloc(yb), *dyh = malloc(yb);
            memset(hy, 0x5A, yb);
            memset(dyh, 0x5A, yb);
            void *dy = NULL;
            fp4_device_alloc(yb, &dy);
            fp4_copy_to_device(g_ctx, dy, dyh, yb);
            fp4_view yh = {hy, dt, rows, cols, ld, FP4_HOST}, yd = {dy, dt, rows, cols, ld, FP4_DEVICE};
            FP4T_ASSERT_OK(fp4_dequantize(NULL, &hq, &yh));
            FP4T_ASSERT_OK(fp4_dequantize(g_ctx, &dq, &yd));
            FP4T_ASSERT_OK(fp4_copy_to_host(g_ctx, dyh, dy, yb));
            for (int64_t r = 0; r < rows; r++) { /* padding between rows is not part of the result */
                const int i = first_diff(hy + r * ld * es, dyh + r * ld * es, (size_t)cols * es);
                if (i >= 0) {
                    printf("\n    FAIL dequantize %s %s -> %s ld=%lld: row %lld byte %d differs\n", fp4_format_name(cfg.format),
                           fp4_block_name(cfg.block), fp4_dtype_name(dt), (long long)ld, (long long)r, i);
                    nfail++;
                    break;
                }
            }
            fp4_device_free(dy);
            free(hy); free(dyh); free(hx);
            fp4_qtensor_free(&hq);
            fp4_qtensor_free(&dq);
        }
    CU_ASSERT_EQUAL(nfail, 0);
}

static void test_swizzle(void) {
    static const int64_t shapes[][2] = {{1, 16}, {130, 48}, {256, 64}, {128, 160}, {300, 96}};
    for (int s = 0; s < 5; s++)
        for (int m = 0; m < 3; m += 2) {
            fp4_config cfg = mode_cfg(m, 0);
            const int64_t rows = shapes[s][0], cols = shapes[s][1] * (m == 2 ? 2 : 1);
            fp4_qtensor hq, dq;
            FP4T_ASSERT_OK(fp4_qtensor_alloc(&hq, rows, cols, &cfg, FP4_HOST));
            FP4T_ASSERT_OK(fp4_qtensor_alloc(&dq, rows, cols, &cfg, FP4_DEVICE));
            const size_t sb = fp4_qtensor_scale_bytes(&hq), n = fp4_scales_swizzled_bytes(&hq);
            for (size_t i = 0; i < sb; i++) hq.scales[i] = (uint8_t)(1 + (i * 37) % 251);
            fp4_copy_to_device(g_ctx, dq.scales, hq.scales, sb);
            uint8_t *a = malloc(n), *b = malloc(n);
            void *d = NULL;
            memset(b, 0xEE, n);
            fp4_device_alloc(n, &d);
            fp4_copy_to_device(g_ctx, d, b, n);
            FP4T_ASSERT_OK(fp4_scales_swizzle(NULL, &hq, a, n));
            FP4T_ASSERT_OK(fp4_scales_swizzle(g_ctx, &dq, d, n));
            fp4_copy_to_host(g_ctx, b, d, n);
            const int i = first_diff(a, b, n);
            if (i >= 0) printf("\n    FAIL swizzle [%lld x %lld] %s: byte %d differs\n", (long long)rows, (long long)cols,
                               fp4_format_name(cfg.format), i);
            CU_ASSERT_EQUAL(i, -1);
            fp4_device_free(d);
            free(a); free(b);
            fp4_qtensor_free(&hq);
            fp4_qtensor_free(&dq);
        }
}

static void test_cpu_context_rejects_device(void) {
    fp4_context *cpu = NULL;
    FP4T_ASSERT_OK(fp4_context_create_cpu(&cpu));
    fp4_config cfg = fp4_config_nvfp4();
    void *dx = NULL;
    FP4T_ASSERT_OK(fp4_device_alloc(64 * 64 * 2, &dx));
    fp4_view x = {dx, FP4_DTYPE_BF16, 64, 64, 64, FP4_DEVICE};
    fp4_qtensor q;
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&q, 64, 64, &cfg, FP4_DEVICE));
    CU_ASSERT_EQUAL(fp4_quantize(cpu, &x, &cfg, &q, NULL), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "not a CUDA context"));
    float a;
    CU_ASSERT_EQUAL(fp4_amax(cpu, &x, &a), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_dequantize(NULL, &q, &x), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "CUDA context"));
    uint8_t out[512];
    CU_ASSERT_EQUAL(fp4_scales_swizzle(cpu, &q, out, sizeof out), FP4_ERR_INVALID_ARG);
    fp4_qtensor_free(&q);
    fp4_device_free(dx);
    fp4_context_destroy(cpu);
}

static CU_TestInfo gpu_tests[] = {
    {"quantize: every mode x shape x dtype x ld, bit-identical", test_all_modes},
    {"quantize: subnormal, Inf/NaN, all-zero tensors", test_special_tensors},
    {"quantize: strict non-finite mode", test_strict},
    {"quantize: 2^26-element tensors", test_large},
    {"amax: device == host", test_amax},
    {"dequantize: F32/BF16, ld > cols", test_dequantize},
    {"swizzle: device == host", test_swizzle},
    {"device tensors with a CPU context are rejected", test_cpu_context_rejects_device},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gpu_quantize", suite_init, suite_clean, NULL, NULL, gpu_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
