/* tests/gpu_linear.c — the quantized linear layer on the GPU against the CPU layer (suite
 * "gpu_linear", skipped without a CUDA device). Written against the public APIs only.
 *
 * Shapes: x [BT, C], W [OC, C], y/dy [BT, OC] with BT = 256, C = 128, OC = 64.
 *   1. fake-quant CPU vs GPU for nvfp4, mxfp4, nvfp4-1d-weights: every quantized operand (codes,
 *      scales, amax, s_dec) bit-identical; y, dx, dW, db within relative Frobenius 1e-5 (FP32
 *      summation order).
 *   2. plain fp32/bf16 CPU vs GPU: outputs within 1e-5.
 *   3. nvfp4 on the GPU: fake-quant vs true-quant (packed FP4 GEMM) within 1e-5.
 *   4. BF16 activation views on the device (see test_bf16_activations).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/fp4kit.h"
#include "fp4kit/formats_inline.h"
#include "fp4kit/linear.h"
#include "harness.h"

enum { BT = 256, C = 128, OC = 64 };

static fp4_context *ctx;

static int suite_init(void) {
    if (!fp4t_have_gpu()) return 0;
    return fp4_context_create_cuda(0, NULL, &ctx) == FP4_OK ? 0 : 1;
}
static int suite_clean(void) {
    fp4_context_destroy(ctx);
    ctx = NULL;
    return 0;
}

static void fill(float *p, int64_t n, uint64_t seed, double scale) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(scale * fp4t_rng_normal(&r));
}

static double rel_frob(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* Host results of one forward + backward. */
typedef struct {
    float y[BT * OC], dx[BT * C], dw[OC * C], db[OC];
} results;

static float hw[OC * C], hb[OC], hx[BT * C], hdy[BT * OC];

static void make_data(void) {
    fill(hw, OC * C, 1, 0.5);
    fill(hb, OC, 2, 0.1);
    fill(hx, BT * C, 3, 1.0);
    fill(hdy, BT * OC, 4, 0.01);
    hx[5] = 40.0f; /* an outlier, so block scales vary */
}

/* Run the layer on the host (dev = 0) or the device (dev = 1); results copied to r. The layer is
 * left initialized (caller frees); device buffers are returned in bufs for freeing. */
static void run(int dev, const char *recipe, fp4_linear_mode mode, fp4_linear *l, results *r, void *bufs[6]) {
    fp4_recipe rc;
    FP4T_ASSERT_OK(fp4_recipe_parse(recipe, &rc));
    const size_t sz[6] = {sizeof hw, sizeof hb, sizeof hx, sizeof hdy, sizeof r->dx, sizeof r->y};
    float *p[8];
    float zdw[OC * C], zdb[OC];
    memset(zdw, 0, sizeof zdw);
    memset(zdb, 0, sizeof zdb);
    const fp4_location loc = dev ? FP4_DEVICE : FP4_HOST;
    float *dW, *db;
    if (dev) {
        for (int i = 0; i < 6; i++) {
            FP4T_ASSERT_OK(fp4_device_alloc(sz[i], &bufs[i]));
            p[i] = bufs[i];
        }
        FP4T_ASSERT_OK(fp4_copy_to_device(ctx, p[0], hw, sizeof hw));
        FP4T_ASSERT_OK(fp4_copy_to_device(ctx, p[1], hb, sizeof hb));
        FP4T_ASSERT_OK(fp4_copy_to_device(ctx, p[2], hx, sizeof hx));
        FP4T_ASSERT_OK(fp4_copy_to_device(ctx, p[3], hdy, sizeof hdy));
        void *a, *b;
        FP4T_ASSERT_OK(fp4_device_alloc(sizeof zdw, &a));
        FP4T_ASSERT_OK(fp4_device_alloc(sizeof zdb, &b));
        dW = a;
        db = b;
        FP4T_ASSERT_OK(fp4_copy_to_device(ctx, dW, zdw, sizeof zdw));
        FP4T_ASSERT_OK(fp4_copy_to_device(ctx, db, zdb, sizeof zdb));
    } else {
        p[0] = hw, p[1] = hb, p[2] = hx, p[3] = hdy, p[4] = r->dx, p[5] = r->y;
        memset(r->dw, 0, sizeof r->dw);
        memset(r->db, 0, sizeof r->db);
        dW = r->dw;
        db = r->db;
        for (int i = 0; i < 6; i++) bufs[i] = NULL;
    }
    FP4T_ASSERT_OK(fp4_linear_init(l, p[0], p[1], OC, C, loc, &rc, mode, 7, 4242));
    fp4_view x = fp4_view_make(p[2], FP4_DTYPE_F32, BT, C, loc), y = fp4_view_make(p[5], FP4_DTYPE_F32, BT, OC, loc);
    fp4_view dy = fp4_view_make(p[3], FP4_DTYPE_F32, BT, OC, loc), dx = fp4_view_make(p[4], FP4_DTYPE_F32, BT, C, loc);
    FP4T_ASSERT_OK(fp4_linear_forward(dev ? ctx : NULL, l, &x, &y, 3));
    FP4T_ASSERT_OK(fp4_linear_backward(dev ? ctx : NULL, l, &dy, &dx, dW, db));
    if (dev) {
        FP4T_ASSERT_OK(fp4_context_sync(ctx));
        FP4T_ASSERT_OK(fp4_copy_to_host(ctx, r->y, p[5], sizeof r->y));
        FP4T_ASSERT_OK(fp4_copy_to_host(ctx, r->dx, p[4], sizeof r->dx));
        FP4T_ASSERT_OK(fp4_copy_to_host(ctx, r->dw, dW, sizeof r->dw));
        FP4T_ASSERT_OK(fp4_copy_to_host(ctx, r->db, db, sizeof r->db));
        fp4_device_free(dW);
        fp4_device_free(db);
    }
}

static void free_bufs(void *bufs[6]) {
    for (int i = 0; i < 6; i++) fp4_device_free(bufs[i]);
}

/* Device operand == host operand, byte for byte (codes, scales, tensor scales, recorded config). */
static int same_operand(const fp4_qtensor *h, const fp4_qtensor *d) {
    if (!h || !d) return h == d;
    if (h->rows != d->rows || h->cols != d->cols || h->cfg.format != d->cfg.format || h->cfg.block != d->cfg.block ||
        h->cfg.rounding != d->cfg.rounding || h->cfg.stream != d->cfg.stream || h->hadamard != d->hadamard)
        return 0;
    const size_t nd = fp4_qtensor_data_bytes(h), ns = fp4_qtensor_scale_bytes(h);
    uint8_t *a = malloc(nd), *b = malloc(ns);
    int ok = fp4_copy_to_host(ctx, a, d->data, nd) == FP4_OK && fp4_copy_to_host(ctx, b, d->scales, ns) == FP4_OK;
    ok = ok && !memcmp(a, h->data, nd) && !memcmp(b, h->scales, ns);
    ok = ok && !memcmp(&h->amax, &d->amax, 4) && !memcmp(&h->s_dec, &d->s_dec, 4);
    free(a);
    free(b);
    return ok;
}

static void compare_cpu_gpu(const char *recipe, fp4_linear_mode mode) {
    static results rh, rd;
    fp4_linear lh, ld;
    void *bh[6], *bd[6];
    make_data();
    run(0, recipe, mode, &lh, &rh, bh);
    run(1, recipe, mode, &ld, &rd, bd);
    for (int t = 0; t < 6; t++) {
        const int ok = same_operand(fp4_linear_operand(&lh, (fp4_gemm_kind)(t / 2), t % 2),
                                    fp4_linear_operand(&ld, (fp4_gemm_kind)(t / 2), t % 2));
        if (!ok) fprintf(stderr, "\n    %s: operand %d differs between CPU and GPU\n", recipe, t);
        CU_ASSERT(ok);
    }
    const double ey = rel_frob(rd.y, rh.y, BT * OC), ex = rel_frob(rd.dx, rh.dx, BT * C);
    const double ew = rel_frob(rd.dw, rh.dw, OC * C), eb = rel_frob(rd.db, rh.db, OC);
    fprintf(stderr, "\n    %s %s: rel frob y %.2e dx %.2e dW %.2e db %.2e", recipe, fp4_linear_mode_name(mode), ey, ex,
            ew, eb);
    CU_ASSERT(ey <= 1e-5 && ex <= 1e-5 && ew <= 1e-5 && eb <= 1e-5);
    CU_ASSERT_EQUAL(fp4_linear_saved_bytes(&lh), fp4_linear_saved_bytes(&ld));
    fp4_linear_free(&lh);
    fp4_linear_free(&ld);
    free_bufs(bd);
}

static void test_fake_cpu_gpu(void) {
    compare_cpu_gpu("nvfp4", FP4_LINEAR_FAKE);
    compare_cpu_gpu("mxfp4", FP4_LINEAR_FAKE);
    compare_cpu_gpu("nvfp4-1d-weights", FP4_LINEAR_FAKE);
}

static void test_plain_cpu_gpu(void) {
    compare_cpu_gpu("fp32", FP4_LINEAR_PLAIN);
    compare_cpu_gpu("bf16", FP4_LINEAR_PLAIN);
}

static void test_true_vs_fake_gpu(void) {
    static results rf, rt;
    fp4_linear lf, lt;
    void *bf[6], *bt[6];
    make_data();
    run(1, "nvfp4", FP4_LINEAR_FAKE, &lf, &rf, bf);
    run(1, "nvfp4", FP4_LINEAR_TRUE, &lt, &rt, bt);
    const double ey = rel_frob(rt.y, rf.y, BT * OC), ex = rel_frob(rt.dx, rf.dx, BT * C), ew = rel_frob(rt.dw, rf.dw, OC * C);
    fprintf(stderr, "\n    nvfp4 true vs fake: rel frob y %.2e dx %.2e dW %.2e", ey, ex, ew);
    CU_ASSERT(ey <= 1e-5 && ex <= 1e-5 && ew <= 1e-5);
    /* and the GPU true-quant agrees with the CPU true-quant (reference FP4 GEMM) */
    static results rc;
    fp4_linear lc;
    void *bc[6];
    run(0, "nvfp4", FP4_LINEAR_TRUE, &lc, &rc, bc);
    CU_ASSERT(rel_frob(rt.y, rc.y, BT * OC) <= 1e-5 && rel_frob(rt.dw, rc.dw, OC * C) <= 1e-5);
    fp4_linear_free(&lf);
    fp4_linear_free(&lt);
    fp4_linear_free(&lc);
    free_bufs(bf);
    free_bufs(bt);
}

/* ---- BF16 activations (device) -------------------------------------------------------------------
 * x, y, dy, dx as BF16 device views; hx and hdy rounded to BF16 first so that the F32 runs see the
 * same values. Bounds: a BF16 output is the FP32 result rounded once (unit roundoff u = 2^-9, so a
 * relative Frobenius error <= u ~ 2e-3; 4e-3 = 2u); FP32 outputs (dW, db) computed from the same
 * operands keep 1e-5. */
static void to_bf16_host(const float *f, uint16_t *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) b[i] = fp4_f32_to_bf16(f[i]);
}
static void from_bf16_host(const uint16_t *b, float *f, int64_t n) {
    for (int64_t i = 0; i < n; i++) f[i] = fp4_bf16_to_f32(b[i]);
}

static fp4_context *g_side; /* fp4_linear.side of run_bf16's layers (NULL: none) */

/* One forward + backward on the device with BF16 activation views (borrow: borrow_x). */
static void run_bf16(const char *recipe, fp4_linear_mode mode, int borrow, int async, fp4_linear *l, results *r,
                     size_t *saved) {
    fp4_recipe rc;
    FP4T_ASSERT_OK(fp4_recipe_parse(recipe, &rc));
    static uint16_t bx[BT * C], bdy[BT * OC], by[BT * OC], bdx[BT * C];
    to_bf16_host(hx, bx, BT * C);
    to_bf16_host(hdy, bdy, BT * OC);
    void *w, *b, *x, *dy, *y, *dx, *dW, *db;
    FP4T_ASSERT_OK(fp4_device_alloc(sizeof hw, &w));
    FP4T_ASSERT_OK(fp4_device_alloc(sizeof hb, &b));
    FP4T_ASSERT_OK(fp4_device_alloc(sizeof bx, &x));
    FP4T_ASSERT_OK(fp4_device_alloc(sizeof bdy, &dy));
    FP4T_ASSERT_OK(fp4_device_alloc(sizeof by, &y));
    FP4T_ASSERT_OK(fp4_device_alloc(sizeof bdx, &dx));
    FP4T_ASSERT_OK(fp4_device_alloc(sizeof r->dw, &dW));
    FP4T_ASSERT_OK(fp4_device_alloc(sizeof r->db, &db));
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, w, hw, sizeof hw));
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, b, hb, sizeof hb));
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, x, bx, sizeof bx));
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, dy, bdy, sizeof bdy));
    memset(r->dw, 0, sizeof r->dw);
    memset(r->db, 0, sizeof r->db);
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, dW, r->dw, sizeof r->dw));
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, db, r->db, sizeof r->db));
    memset(by, 0xff, sizeof by); /* NaN poison: every output element must be written */
    memset(bdx, 0xff, sizeof bdx);
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, y, by, sizeof by));
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, dx, bdx, sizeof bdx));
    FP4T_ASSERT_OK(fp4_linear_init(l, w, b, OC, C, FP4_DEVICE, &rc, mode, 7, 4242));
    l->borrow_x = borrow;
    l->async_quant = async;
    l->side = g_side;
    fp4_view vx = fp4_view_make(x, FP4_DTYPE_BF16, BT, C, FP4_DEVICE), vy = fp4_view_make(y, FP4_DTYPE_BF16, BT, OC, FP4_DEVICE);
    fp4_view vdy = fp4_view_make(dy, FP4_DTYPE_BF16, BT, OC, FP4_DEVICE), vdx = fp4_view_make(dx, FP4_DTYPE_BF16, BT, C, FP4_DEVICE);
    FP4T_ASSERT_OK(fp4_linear_forward(ctx, l, &vx, &vy, 3));
    *saved = fp4_linear_saved_bytes(l);
    FP4T_ASSERT_OK(fp4_linear_backward(ctx, l, &vdy, &vdx, dW, db));
    FP4T_ASSERT_OK(fp4_context_sync(ctx));
    FP4T_ASSERT_OK(fp4_copy_to_host(ctx, by, y, sizeof by));
    FP4T_ASSERT_OK(fp4_copy_to_host(ctx, bdx, dx, sizeof bdx));
    FP4T_ASSERT_OK(fp4_copy_to_host(ctx, r->dw, dW, sizeof r->dw));
    FP4T_ASSERT_OK(fp4_copy_to_host(ctx, r->db, db, sizeof r->db));
    from_bf16_host(by, r->y, BT * OC);
    from_bf16_host(bdx, r->dx, BT * C);
    /* the caller only inspects the layer's operands and frees it: W and b can go now */
    fp4_device_free(x), fp4_device_free(dy), fp4_device_free(y), fp4_device_free(dx);
    fp4_device_free(dW), fp4_device_free(db), fp4_device_free(w), fp4_device_free(b);
}

/* Two device operands: the same codes, scales and device tensor scales {amax, s_enc, s_dec}
 * (and, with host, the same host fields). */
static int same_operand_dd(const fp4_qtensor *a, const fp4_qtensor *b, int host) {
    if (!a || !b) return a == b;
    if (a->rows != b->rows || a->cols != b->cols || a->cfg.format != b->cfg.format || a->cfg.block != b->cfg.block ||
        a->cfg.stream != b->cfg.stream || a->hadamard != b->hadamard)
        return 0;
    const size_t nd = fp4_qtensor_data_bytes(a), ns = fp4_qtensor_scale_bytes(a);
    uint8_t *x = malloc(2 * (nd + ns));
    float ta[3] = {0, 0, 0}, tb[3] = {0, 0, 0};
    int ok = fp4_copy_to_host(ctx, x, a->data, nd) == FP4_OK && fp4_copy_to_host(ctx, x + nd, b->data, nd) == FP4_OK &&
             fp4_copy_to_host(ctx, x + 2 * nd, a->scales, ns) == FP4_OK &&
             fp4_copy_to_host(ctx, x + 2 * nd + ns, b->scales, ns) == FP4_OK;
    ok = ok && !memcmp(x, x + nd, nd) && !memcmp(x + 2 * nd, x + 2 * nd + ns, ns);
    if (a->tscale_dev && b->tscale_dev)
        ok = ok && fp4_copy_to_host(ctx, ta, a->tscale_dev, sizeof ta) == FP4_OK &&
             fp4_copy_to_host(ctx, tb, b->tscale_dev, sizeof tb) == FP4_OK && !memcmp(ta, tb, sizeof ta);
    if (host) ok = ok && !memcmp(&a->amax, &b->amax, 4) && !memcmp(&a->s_dec, &b->s_dec, 4);
    free(x);
    return ok;
}

static void test_bf16_activations(void) {
    static results rf, rb, rb2, rt32, rtb;
    make_data();
    for (int i = 0; i < BT * C; i++) hx[i] = fp4_bf16_to_f32(fp4_f32_to_bf16(hx[i]));
    for (int i = 0; i < BT * OC; i++) hdy[i] = fp4_bf16_to_f32(fp4_f32_to_bf16(hdy[i]));
    /* bf16 plain: BF16 views vs the host F32 layer on the same values */
    fp4_linear lh, lb, lb2;
    void *bh[6];
    size_t sb = 0, sb2 = 0;
    run(0, "bf16", FP4_LINEAR_PLAIN, &lh, &rf, bh);
    run_bf16("bf16", FP4_LINEAR_PLAIN, 0, 0, &lb, &rb, &sb);
    run_bf16("bf16", FP4_LINEAR_PLAIN, 1, 0, &lb2, &rb2, &sb2);
    double ey = rel_frob(rb.y, rf.y, BT * OC), ex = rel_frob(rb.dx, rf.dx, BT * C);
    double ew = rel_frob(rb.dw, rf.dw, OC * C), eb = rel_frob(rb.db, rf.db, OC);
    fprintf(stderr, "\n    bf16 plain, BF16 views vs host F32: rel frob y %.2e dx %.2e dW %.2e db %.2e; saved %zu / "
            "borrowed %zu bytes", ey, ex, ew, eb, sb, sb2);
    CU_ASSERT(ey <= 4e-3 && ex <= 4e-3 && ew <= 1e-5 && eb <= 1e-5);
    CU_ASSERT(ey > 0); /* the outputs really are BF16-rounded */
    CU_ASSERT_EQUAL(sb, (size_t)BT * C * 2);
    CU_ASSERT_EQUAL(sb2, 0);
    CU_ASSERT(!memcmp(rb.y, rb2.y, sizeof rb.y) && !memcmp(rb.dx, rb2.dx, sizeof rb.dx) &&
              !memcmp(rb.dw, rb2.dw, sizeof rb.dw));
    /* nvfp4 true-quant: BF16 views vs F32 views on the device: the same quantized operands */
    fp4_linear l32, lbt;
    void *b32[6];
    size_t st = 0;
    run(1, "nvfp4", FP4_LINEAR_TRUE, &l32, &rt32, b32);
    run_bf16("nvfp4", FP4_LINEAR_TRUE, 1, 0, &lbt, &rtb, &st);
    for (int t = 0; t < 6; t++) {
        const int ok = same_operand_dd(fp4_linear_operand(&l32, (fp4_gemm_kind)(t / 2), t % 2),
                                       fp4_linear_operand(&lbt, (fp4_gemm_kind)(t / 2), t % 2), 1);
        if (!ok) fprintf(stderr, "\n    nvfp4 BF16 views: operand %d differs from the F32-view run\n", t);
        CU_ASSERT(ok);
    }
    ey = rel_frob(rtb.y, rt32.y, BT * OC), ex = rel_frob(rtb.dx, rt32.dx, BT * C);
    ew = rel_frob(rtb.dw, rt32.dw, OC * C), eb = rel_frob(rtb.db, rt32.db, OC);
    fprintf(stderr, "\n    nvfp4 true, BF16 views vs F32 views: rel frob y %.2e dx %.2e dW %.2e db %.2e", ey, ex, ew, eb);
    CU_ASSERT(ey <= 4e-3 && ex <= 4e-3 && ew <= 1e-5 && eb <= 1e-5);
    /* async_quant: the same operands (codes, scales, device tensor scales) and bit-identical
     * results, host tensor scales NaN (not filled) */
    static results rta;
    fp4_linear lta;
    size_t sa = 0;
    run_bf16("nvfp4", FP4_LINEAR_TRUE, 1, 1, &lta, &rta, &sa);
    for (int t = 0; t < 6; t++) {
        const fp4_qtensor *qa = fp4_linear_operand(&lta, (fp4_gemm_kind)(t / 2), t % 2);
        const int ok = same_operand_dd(qa, fp4_linear_operand(&lbt, (fp4_gemm_kind)(t / 2), t % 2), 0);
        if (!ok) fprintf(stderr, "\n    nvfp4 async_quant: operand %d differs from the synchronized run\n", t);
        CU_ASSERT(ok);
        CU_ASSERT(qa && isnan(qa->s_dec));
    }
    const int same = !memcmp(rta.y, rtb.y, sizeof rta.y) && !memcmp(rta.dx, rtb.dx, sizeof rta.dx) &&
                     !memcmp(rta.dw, rtb.dw, sizeof rta.dw) && !memcmp(rta.db, rtb.db, sizeof rta.db);
    fprintf(stderr, "\n    nvfp4 true, async_quant vs synchronized: %s", same ? "bit-identical" : "DIFFERENT");
    CU_ASSERT(same);
    /* side stream for the Wgrad operands: the same operands and results, bit for bit */
    static results rts;
    fp4_linear lts;
    size_t ss = 0;
    FP4T_ASSERT_OK(fp4_context_create_cuda(0, NULL, &g_side));
    run_bf16("nvfp4", FP4_LINEAR_TRUE, 1, 1, &lts, &rts, &ss);
    for (int t = 0; t < 6; t++) {
        const int ok = same_operand_dd(fp4_linear_operand(&lts, (fp4_gemm_kind)(t / 2), t % 2),
                                       fp4_linear_operand(&lta, (fp4_gemm_kind)(t / 2), t % 2), 0);
        if (!ok) fprintf(stderr, "\n    nvfp4 side stream: operand %d differs\n", t);
        CU_ASSERT(ok);
    }
    const int same_side = !memcmp(rts.y, rta.y, sizeof rts.y) && !memcmp(rts.dx, rta.dx, sizeof rts.dx) &&
                          !memcmp(rts.dw, rta.dw, sizeof rts.dw) && !memcmp(rts.db, rta.db, sizeof rts.db);
    fprintf(stderr, "\n    nvfp4 true, side stream vs main stream: %s", same_side ? "bit-identical" : "DIFFERENT");
    CU_ASSERT(same_side);
    fp4_linear_free(&lts);
    fp4_context_destroy(g_side);
    g_side = NULL;
    fp4_linear_free(&lta);
    /* the host refuses BF16 activations */
    fp4_view hb16 = fp4_view_make(hx, FP4_DTYPE_BF16, BT, C, FP4_HOST), hy = fp4_view_make(rf.y, FP4_DTYPE_F32, BT, OC, FP4_HOST);
    CU_ASSERT_EQUAL(fp4_linear_forward(NULL, &lh, &hb16, &hy, 0), FP4_ERR_DTYPE);
    fp4_linear_free(&lh);
    fp4_linear_free(&lb);
    fp4_linear_free(&lb2);
    fp4_linear_free(&l32);
    fp4_linear_free(&lbt);
    free_bufs(b32);
}

static CU_TestInfo gpu_tests[] = {
    {"fake-quant: CPU and GPU operands bit-identical, outputs within 1e-5", test_fake_cpu_gpu},
    {"plain fp32/bf16: CPU and GPU within 1e-5", test_plain_cpu_gpu},
    {"nvfp4 GPU: fake-quant vs true-quant within 1e-5", test_true_vs_fake_gpu},
    {"BF16 activation views: bf16 plain vs host, nvfp4 operands bit-identical, borrow_x, async_quant, side",
     test_bf16_activations},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gpu_linear", suite_init, suite_clean, NULL, NULL, gpu_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
