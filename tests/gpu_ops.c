/* tests/gpu_ops.c — the CUDA model ops (qat/ops_*.cu) against the host references (qat/ops_ref.c),
 * suite "gpu_ops" (skipped loudly without a GPU).
 *
 * For every op: random inputs on the host (never zeros), the reference fp4_<op> with a NULL
 * context in F32, then the CUDA version with F32 views and with BF16 views (inputs rounded to
 * BF16 first, so both sides see the same numbers; the reference runs on the rounded values).
 * Outputs that the op overwrites are poisoned with NaN first (every element must be written).
 * Metric: relative Frobenius error ||gpu - ref|| / ||ref|| (NaN fails). Bounds:
 *   F32: 1e-5 — FP32 arithmetic in another order (warp trees, cuBLAS tiles) lands near 1e-7.
 *        Attention and cross-entropy: 1e-4 — T-long FP32 sums in cuBLAS's order and, for
 *        cross-entropy, exp2f of a log2(e)-scaled argument against the reference's double exp
 *        (both ~1e-6; 1e-4 leaves room without hiding an indexing error, which gives O(1)).
 *   BF16: the output is rounded to BF16 (unit roundoff u = 2^-9 ~ 2e-3 per element, so a
 *        Frobenius error <= u); 4e-3 = 2u for element-wise ops and RoPE, 1e-2 (~5u) where
 *        BF16 intermediates feed a reduction (rmsnorm backward, cross-entropy gradient), and
 *        attention 2e-2 (forward) / 5e-2 (backward): the scores and dP pass through BF16 before
 *        the softmax (llm.c's design), and dS = p (dP - sum p dP) cancels.
 *   Exact: AdamW, scale, convert, encoder forward (F32) and encoder backward (F32 adds in the
 *        reference's order, and BF16 dout converts exactly to F32, so both dtypes are exact);
 *        the encoder backward also runs twice and must be bit-identical (determinism).
 *   grad-norm: the double result within 1e-12 relative of the reference's.
 *   Flash attention (BF16 only): see flash_case.
 * Shapes: small odd ones (B=2, T=5, NH=3, hs=8, V=37, Vp=40 / 37) that take the unaligned scalar
 * paths, and one GPT-2-like layer (B=4, T=256, C=768, NH=12, V=50257, Vp=50304).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/fp4kit.h"
#include "fp4kit/formats_inline.h"
#include "harness.h"
#include "ops.h"

static fp4_context *ctx;
static fp4t_rng rng;

static int suite_init(void) {
    fp4t_rng_seed(&rng, 0x0b5eedull);
    return fp4_context_create_cuda(0, NULL, &ctx) == FP4_OK ? 0 : 1;
}
static int suite_clean(void) {
    fp4_context_destroy(ctx);
    ctx = NULL;
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static const fp4_dtype dtypes[2] = {FP4_DTYPE_F32, FP4_DTYPE_BF16};

static float *hrandn(size_t n, float scale) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = (float)(scale * fp4t_rng_normal(&rng));
    return p;
}
static float *hcopy(const float *a, size_t n) {
    float *p = malloc(n * sizeof(float));
    memcpy(p, a, n * sizeof(float));
    return p;
}
static void round_bf16(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = fp4_bf16_to_f32(fp4_f32_to_bf16(p[i]));
}

/* A device buffer of rows x cols (ld = cols) of dtype holding the host floats h (or NaN poison if
 * h is NULL). */
static fp4_view dup(const float *h, fp4_dtype dt, int64_t rows, int64_t cols) {
    const size_t n = (size_t)(rows * cols), es = fp4_dtype_size(dt);
    void *d = NULL;
    FP4T_ASSERT_OK(fp4_device_alloc(n * es, &d));
    void *tmp = malloc(n * es);
    for (size_t i = 0; i < n; i++) {
        const float v = h ? h[i] : NAN;
        if (dt == FP4_DTYPE_BF16) ((uint16_t *)tmp)[i] = fp4_f32_to_bf16(v);
        else ((float *)tmp)[i] = v;
    }
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, d, tmp, n * es));
    free(tmp);
    return fp4_view_make(d, dt, rows, cols, FP4_DEVICE);
}
static void *dupraw(const void *h, size_t bytes) {
    void *d = NULL;
    FP4T_ASSERT_OK(fp4_device_alloc(bytes, &d));
    FP4T_ASSERT_OK(fp4_copy_to_device(ctx, d, h, bytes));
    return d;
}
/* Device view (ld may exceed cols only through the allocation: we fetch rows*ld elements) -> host floats. */
static float *fetch(const fp4_view *v, size_t n) {
    const size_t es = fp4_dtype_size(v->dtype);
    void *tmp = malloc(n * es);
    float *out = malloc(n * sizeof(float));
    FP4T_ASSERT_OK(fp4_context_sync(ctx));
    FP4T_ASSERT_OK(fp4_copy_to_host(ctx, tmp, v->data, n * es));
    for (size_t i = 0; i < n; i++)
        out[i] = v->dtype == FP4_DTYPE_BF16 ? fp4_bf16_to_f32(((uint16_t *)tmp)[i]) : ((float *)tmp)[i];
    free(tmp);
    return out;
}
static float *fetchf(const float *d, size_t n) {
    float *out = malloc(n * sizeof(float));
    FP4T_ASSERT_OK(fp4_context_sync(ctx));
    FP4T_ASSERT_OK(fp4_copy_to_host(ctx, out, d, n * sizeof(float)));
    return out;
}

static double rel_err(const float *got, const float *ref, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)got[i] - (double)ref[i];
        if (isnan(got[i]) != isnan(ref[i])) return INFINITY;
        if (isnan(ref[i])) continue;
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void check(const char *what, fp4_dtype dt, const float *got, const float *ref, size_t n, double tol32,
                  double tol16) {
    const double e = rel_err(got, ref, n), tol = dt == FP4_DTYPE_BF16 ? tol16 : tol32;
    printf("\n    %-44s %-4s rel %.3e (<= %.0e)", what, fp4_dtype_name(dt), e, tol);
    CU_ASSERT(e <= tol);
}
static void check_exact(const char *what, const float *got, const float *ref, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += memcmp(&got[i], &ref[i], sizeof(float)) != 0;
    printf("\n    %-44s exact: %zu of %zu differ", what, bad, n);
    CU_ASSERT_EQUAL(bad, 0);
}

static fp4_view hview(float *p, int64_t rows, int64_t cols) { return fp4_view_make(p, FP4_DTYPE_F32, rows, cols, FP4_HOST); }

/* ---- encoder --------------------------------------------------------------------------------- */

static void encoder_case(int64_t N, int64_t C, int64_t V, int64_t Vp, int64_t Vused) {
    int32_t *tok = malloc((size_t)N * sizeof(int32_t));
    for (int64_t i = 0; i < N; i++) tok[i] = (int32_t)(fp4t_rng_u64(&rng) % (uint64_t)Vused); /* repeats */
    float *wte = hrandn((size_t)(Vp * C), 1.0f), *out = malloc((size_t)(N * C) * sizeof(float));
    fp4_view ho = hview(out, N, C);
    FP4T_ASSERT_OK(fp4_encoder_forward(NULL, &ho, tok, wte, V));
    int32_t *dtok = dupraw(tok, (size_t)N * sizeof(int32_t));
    float *dwte = dupraw(wte, (size_t)(Vp * C) * sizeof(float));
    for (int d = 0; d < 2; d++) {
        fp4_view o = dup(NULL, dtypes[d], N, C);
        FP4T_ASSERT_OK(fp4_encoder_forward(ctx, &o, dtok, dwte, V));
        float *g = fetch(&o, (size_t)(N * C));
        float *r = hcopy(out, (size_t)(N * C));
        if (d) round_bf16(r, (size_t)(N * C));
        check_exact(d ? "encoder_forward BF16 (= rounded ref)" : "encoder_forward F32", g, r, (size_t)(N * C));
        free(g), free(r), fp4_device_free(o.data);
    }
    /* backward: dwte starts non-zero (accumulate) */
    float *dw0 = hrandn((size_t)(Vp * C), 0.1f), *dy = hrandn((size_t)(N * C), 1.0f);
    for (int d = 0; d < 2; d++) {
        float *dyr = hcopy(dy, (size_t)(N * C));
        if (d) round_bf16(dyr, (size_t)(N * C));
        float *ref = hcopy(dw0, (size_t)(Vp * C));
        fp4_view hdy = hview(dyr, N, C);
        FP4T_ASSERT_OK(fp4_encoder_backward(NULL, ref, &hdy, tok, V));
        fp4_view ddy = dup(dyr, dtypes[d], N, C);
        float *g[2];
        for (int run = 0; run < 2; run++) {
            float *ddw = dupraw(dw0, (size_t)(Vp * C) * sizeof(float));
            FP4T_ASSERT_OK(fp4_encoder_backward(ctx, ddw, &ddy, dtok, V));
            g[run] = fetchf(ddw, (size_t)(Vp * C));
            fp4_device_free(ddw);
        }
        check_exact(d ? "encoder_backward BF16 dout vs ref" : "encoder_backward F32 vs ref", g[0], ref, (size_t)(Vp * C));
        check_exact("encoder_backward run 1 vs run 2", g[1], g[0], (size_t)(Vp * C));
        free(g[0]), free(g[1]), free(ref), free(dyr), fp4_device_free(ddy.data);
    }
    free(tok), free(wte), free(out), free(dw0), free(dy);
    fp4_device_free(dtok), fp4_device_free(dwte);
}

static void test_encoder(void) {
    encoder_case(2 * 5, 24, 37, 40, 7);
    encoder_case(10, 21, 37, 37, 37);
    encoder_case(4 * 256, 768, 50257, 50304, 300);
}

/* ---- rmsnorm --------------------------------------------------------------------------------- */

static void rmsnorm_case(int64_t N, int64_t C) {
    const size_t n = (size_t)(N * C);
    float *x = hrandn(n, 1.5f), *w = hrandn((size_t)C, 1.0f), *dy = hrandn(n, 1.0f), *dx0 = hrandn(n, 0.5f);
    float *dw0 = hrandn((size_t)C, 0.5f);
    for (int d = 0; d < 2; d++) {
        float *xr = hcopy(x, n), *dyr = hcopy(dy, n), *dxr = hcopy(dx0, n);
        if (d) round_bf16(xr, n), round_bf16(dyr, n), round_bf16(dxr, n);
        float *out = malloc(n * sizeof(float)), *rstd = malloc((size_t)N * sizeof(float)), *dwr = hcopy(dw0, (size_t)C);
        fp4_view hx = hview(xr, N, C), ho = hview(out, N, C), hdy = hview(dyr, N, C), hdx = hview(dxr, N, C);
        FP4T_ASSERT_OK(fp4_rmsnorm_forward(NULL, &ho, rstd, &hx, w, 1e-5f));
        FP4T_ASSERT_OK(fp4_rmsnorm_backward(NULL, &hdx, dwr, &hdy, &hx, w, rstd));
        fp4_view dx = dup(xr, dtypes[d], N, C), dout = dup(NULL, dtypes[d], N, C), ddy = dup(dyr, dtypes[d], N, C);
        fp4_view ddx = dup(d ? dx0 : dx0, dtypes[d], N, C);
        float *dw = dupraw(w, (size_t)C * sizeof(float)), *drstd = dupraw(rstd, (size_t)N * sizeof(float));
        float *ddw = dupraw(dw0, (size_t)C * sizeof(float));
        FP4T_ASSERT_OK(fp4_ops_zero(ctx, drstd, (size_t)N * sizeof(float)));
        FP4T_ASSERT_OK(fp4_rmsnorm_forward(ctx, &dout, drstd, &dx, dw, 1e-5f));
        float *g = fetch(&dout, n), *gr = fetchf(drstd, (size_t)N);
        check("rmsnorm_forward out", dtypes[d], g, out, n, 1e-5, 4e-3);
        check("rmsnorm_forward rstd", dtypes[d], gr, rstd, (size_t)N, 1e-5, 1e-5);
        free(g), free(gr);
        /* backward from the reference's rstd (same numbers on both sides) */
        FP4T_ASSERT_OK(fp4_copy_to_device(ctx, drstd, rstd, (size_t)N * sizeof(float)));
        FP4T_ASSERT_OK(fp4_rmsnorm_backward(ctx, &ddx, ddw, &ddy, &dx, dw, drstd));
        g = fetch(&ddx, n);
        gr = fetchf(ddw, (size_t)C);
        check("rmsnorm_backward dinp (accumulated)", dtypes[d], g, dxr, n, 1e-5, 1e-2);
        check("rmsnorm_backward dweight (accumulated)", dtypes[d], gr, dwr, (size_t)C, 1e-5, 1e-5);
        free(g), free(gr);
        free(xr), free(dyr), free(dxr), free(out), free(rstd), free(dwr);
        fp4_device_free(dx.data), fp4_device_free(dout.data), fp4_device_free(ddy.data), fp4_device_free(ddx.data);
        fp4_device_free(dw), fp4_device_free(drstd), fp4_device_free(ddw);
    }
    free(x), free(w), free(dy), free(dx0), free(dw0);
}

static void test_rmsnorm(void) {
    rmsnorm_case(10, 24);
    rmsnorm_case(7, 37);
    rmsnorm_case(4 * 256, 768);
}

/* ---- rope ---------------------------------------------------------------------------------------- */

static void rope_case(int64_t B, int64_t T, int NH, int hs) {
    const int64_t C = (int64_t)NH * hs, N = B * T, n = N * 3 * C;
    float *cs = malloc((size_t)(T * hs / 2) * sizeof(float)), *sn = malloc((size_t)(T * hs / 2) * sizeof(float));
    fp4_rope_tables(cs, sn, T, hs, 10000.0);
    float *dcs = dupraw(cs, (size_t)(T * hs / 2) * sizeof(float)), *dsn = dupraw(sn, (size_t)(T * hs / 2) * sizeof(float));
    float *qkv = hrandn((size_t)n, 1.0f);
    for (int d = 0; d < 2; d++) {
        for (int dir = 0; dir < 2; dir++) {
            float *ref = hcopy(qkv, (size_t)n);
            if (d) round_bf16(ref, (size_t)n);
            fp4_view dq = dup(ref, dtypes[d], N, 3 * C);
            /* rotate q and k (cols [0, 2C), ld 3C) as one view of 2*NH heads; v must stay untouched */
            fp4_view hx = {ref, FP4_DTYPE_F32, N, 2 * C, 3 * C, FP4_HOST};
            fp4_view dx = {dq.data, dtypes[d], N, 2 * C, 3 * C, FP4_DEVICE};
            if (dir == 0) {
                FP4T_ASSERT_OK(fp4_rope_forward(NULL, &hx, cs, sn, T, 2 * NH));
                FP4T_ASSERT_OK(fp4_rope_forward(ctx, &dx, dcs, dsn, T, 2 * NH));
            } else {
                FP4T_ASSERT_OK(fp4_rope_backward(NULL, &hx, cs, sn, T, 2 * NH));
                FP4T_ASSERT_OK(fp4_rope_backward(ctx, &dx, dcs, dsn, T, 2 * NH));
            }
            float *g = fetch(&dq, (size_t)n);
            check(dir ? "rope_backward (q,k slice of qkv)" : "rope_forward (q,k slice of qkv)", dtypes[d], g, ref,
                  (size_t)n, 1e-5, 4e-3);
            size_t vbad = 0;
            for (int64_t r = 0; r < N; r++)
                for (int64_t c = 2 * C; c < 3 * C; c++) vbad += g[r * 3 * C + c] != ref[r * 3 * C + c];
            CU_ASSERT_EQUAL(vbad, 0);
            free(g), free(ref), fp4_device_free(dq.data);
        }
    }
    free(cs), free(sn), free(qkv), fp4_device_free(dcs), fp4_device_free(dsn);
}

static void test_rope(void) {
    rope_case(2, 5, 3, 8);
    rope_case(2, 5, 3, 6);
    rope_case(4, 256, 12, 64);
}

/* ---- attention --------------------------------------------------------------------------------- */

static void attention_case(int64_t B, int64_t T, int NH, int hs) {
    const int64_t C = (int64_t)NH * hs, N = B * T;
    const size_t nq = (size_t)(N * 3 * C), no = (size_t)(N * C), na = (size_t)(B * NH * T * T);
    float *qkv = hrandn(nq, 1.0f), *dy = hrandn(no, 1.0f);
    for (int d = 0; d < 2; d++) {
        float *q = hcopy(qkv, nq), *dyr = hcopy(dy, no);
        if (d) round_bf16(q, nq), round_bf16(dyr, no);
        float *out = malloc(no * sizeof(float)), *att = malloc(na * sizeof(float)), *datt = malloc(na * sizeof(float));
        float *dq = malloc(nq * sizeof(float));
        fp4_view hq = hview(q, N, 3 * C), ho = hview(out, N, C), ha = hview(att, B * NH * T, T);
        fp4_view hda = hview(datt, B * NH * T, T), hdq = hview(dq, N, 3 * C), hdy = hview(dyr, N, C);
        FP4T_ASSERT_OK(fp4_attention_forward(NULL, &ho, &ha, &hq, B, T, NH));
        FP4T_ASSERT_OK(fp4_attention_backward(NULL, &hdq, &hda, &hdy, &hq, &ha, B, T, NH));
        fp4_view dqv = dup(q, dtypes[d], N, 3 * C), dov = dup(NULL, dtypes[d], N, C);
        fp4_view dav = dup(NULL, dtypes[d], B * NH * T, T), ddav = dup(NULL, dtypes[d], B * NH * T, T);
        fp4_view ddq = dup(NULL, dtypes[d], N, 3 * C), ddy = dup(dyr, dtypes[d], N, C);
        FP4T_ASSERT_OK(fp4_attention_forward(ctx, &dov, &dav, &dqv, B, T, NH));
        float *g = fetch(&dov, no), *ga = fetch(&dav, na);
        check("attention_forward out", dtypes[d], g, out, no, 1e-4, 2e-2);
        check("attention_forward att (p, zeros above diagonal)", dtypes[d], ga, att, na, 1e-4, 2e-2);
        size_t above = 0;
        for (int64_t r = 0; r < B * NH * T; r++)
            for (int64_t t2 = r % T + 1; t2 < T; t2++) above += ga[r * T + t2] != 0.0f;
        CU_ASSERT_EQUAL(above, 0);
        free(g), free(ga);
        FP4T_ASSERT_OK(fp4_attention_backward(ctx, &ddq, &ddav, &ddy, &dqv, &dav, B, T, NH));
        g = fetch(&ddq, nq);
        check("attention_backward dqkv", dtypes[d], g, dq, nq, 1e-4, 5e-2);
        free(g);
        free(q), free(dyr), free(out), free(att), free(datt), free(dq);
        fp4_device_free(dqv.data), fp4_device_free(dov.data), fp4_device_free(dav.data);
        fp4_device_free(ddav.data), fp4_device_free(ddq.data), fp4_device_free(ddy.data);
    }
    free(qkv), free(dy);
}

static void test_attention(void) {
    attention_case(2, 5, 3, 8);
    attention_case(4, 256, 12, 64);
}

/* ---- flash-style attention ----------------------------------------------------------------------
 * GPU (BF16 only) against the host reference on the same BF16-rounded inputs. The GPU forward's out
 * and lse feed the GPU backward, the reference's its own. Bounds from the BF16 roundings the kernels
 * make (u = 2^-9, RMS of one rounding ~u/sqrt(3) ~ 1.1e-3 relative): out = (sum of BF16-rounded p
 * times v) / l, then rounded to BF16: ~1.6e-3 relative Frobenius -> 1e-2; lse is FP32 throughout
 * (exp2f of log2(e)-scaled scores vs expf, other summation order: ~1e-6) -> 1e-4; dqkv: ds and p
 * rounded to BF16 before the products, outputs rounded: ~2e-3 (plus D from the rounded out) -> 2e-2.
 * An indexing or masking error gives O(1). The backward runs twice and must be bit-identical. */
static void flash_case(int64_t B, int64_t T, int NH, int hs) {
    const int64_t C = (int64_t)NH * hs, N = B * T;
    const size_t nq = (size_t)(N * 3 * C), no = (size_t)(N * C), nl = (size_t)(B * NH * T);
    float *q = hrandn(nq, 1.0f), *dy = hrandn(no, 1.0f);
    round_bf16(q, nq), round_bf16(dy, no);
    float *out = malloc(no * sizeof(float)), *lse = malloc(nl * sizeof(float)), *dq = malloc(nq * sizeof(float));
    fp4_view hq = hview(q, N, 3 * C), ho = hview(out, N, C), hdq = hview(dq, N, 3 * C), hdy = hview(dy, N, C);
    FP4T_ASSERT_OK(fp4_flash_attention_forward(NULL, &ho, lse, &hq, B, T, NH));
    FP4T_ASSERT_OK(fp4_flash_attention_backward(NULL, &hdq, &hdy, &hq, &ho, lse, B, T, NH));
    fp4_view dqv = dup(q, FP4_DTYPE_BF16, N, 3 * C), dov = dup(NULL, FP4_DTYPE_BF16, N, C);
    fp4_view ddq = dup(NULL, FP4_DTYPE_BF16, N, 3 * C), ddy = dup(dy, FP4_DTYPE_BF16, N, C);
    fp4_view dl = dup(NULL, FP4_DTYPE_F32, 1, (int64_t)nl);
    printf("\n    flash B=%lld T=%lld NH=%d hs=%d:", (long long)B, (long long)T, NH, hs);
    FP4T_ASSERT_OK(fp4_flash_attention_forward(ctx, &dov, (float *)dl.data, &dqv, B, T, NH));
    float *g = fetch(&dov, no), *gl = fetch(&dl, nl);
    check("flash_forward out", FP4_DTYPE_BF16, g, out, no, 0, 1e-2);
    check("flash_forward lse", FP4_DTYPE_BF16, gl, lse, nl, 0, 1e-4);
    free(g), free(gl);
    FP4T_ASSERT_OK(fp4_flash_attention_backward(ctx, &ddq, &ddy, &dqv, &dov, (const float *)dl.data, B, T, NH));
    g = fetch(&ddq, nq);
    check("flash_backward dqkv", FP4_DTYPE_BF16, g, dq, nq, 0, 2e-2);
    /* q, k, v parts separately: a part that is all wrong cannot hide behind the others */
    for (int part = 0; part < 3; part++) {
        double num = 0, den = 0;
        for (int64_t r = 0; r < N; r++)
            for (int64_t c = part * C; c < (part + 1) * C; c++) {
                const double d = (double)g[r * 3 * C + c] - dq[r * 3 * C + c];
                num += d * d;
                den += (double)dq[r * 3 * C + c] * dq[r * 3 * C + c];
            }
        const double e = sqrt(num / den);
        printf("\n    %-44s BF16 rel %.3e (<= 2e-02)", part == 0 ? "flash_backward dq" : part == 1 ? "flash_backward dk" : "flash_backward dv", e);
        CU_ASSERT(e <= 2e-2);
    }
    fp4_view ddq2 = dup(NULL, FP4_DTYPE_BF16, N, 3 * C);
    FP4T_ASSERT_OK(fp4_flash_attention_backward(ctx, &ddq2, &ddy, &dqv, &dov, (const float *)dl.data, B, T, NH));
    float *g2 = fetch(&ddq2, nq);
    check_exact("flash_backward run twice (deterministic)", g2, g, nq);
    free(g), free(g2);
    free(q), free(dy), free(out), free(lse), free(dq);
    fp4_device_free(dqv.data), fp4_device_free(dov.data), fp4_device_free(ddq.data), fp4_device_free(ddy.data);
    fp4_device_free(dl.data), fp4_device_free(ddq2.data);
}

static void test_flash_attention(void) {
    flash_case(2, 5, 3, 16);   /* one partial tile */
    flash_case(1, 77, 2, 32);  /* two tiles, the second partial */
    flash_case(2, 130, 2, 64); /* three tiles */
    flash_case(4, 256, 12, 64);
    flash_case(1, 1024, 12, 64); /* the GPT-2 context */
    /* refusals: F32 views on the device, a head size without a kernel */
    const int64_t B = 1, T = 8, NH = 2, hs = 16, C = NH * hs;
    fp4_view fq = dup(NULL, FP4_DTYPE_F32, B * T, 3 * C), fo = dup(NULL, FP4_DTYPE_F32, B * T, C);
    fp4_view l = dup(NULL, FP4_DTYPE_F32, 1, B * NH * T);
    CU_ASSERT_EQUAL(fp4_flash_attention_forward(ctx, &fo, (float *)l.data, &fq, B, T, NH), FP4_ERR_DTYPE);
    fp4_view bq = dup(NULL, FP4_DTYPE_BF16, B * T, 3 * C), bo = dup(NULL, FP4_DTYPE_BF16, B * T, C);
    CU_ASSERT_EQUAL(fp4_flash_attention_forward(ctx, &bo, (float *)l.data, &bq, B, T, 4), FP4_ERR_UNSUPPORTED); /* hs 8 */
    CU_ASSERT(fp4_flash_attention_supported(64) && !fp4_flash_attention_supported(8) && !fp4_flash_attention_supported(128));
    fp4_device_free(fq.data), fp4_device_free(fo.data), fp4_device_free(l.data);
    fp4_device_free(bq.data), fp4_device_free(bo.data);
}


/* ---- element-wise ------------------------------------------------------------------------------ */

typedef fp4_status (*unary_fn)(fp4_context *, fp4_view *, const fp4_view *);
typedef fp4_status (*binary_fn)(fp4_context *, fp4_view *, const fp4_view *, const fp4_view *);

static void ew_case(int64_t N, int64_t M) {
    const size_t n = (size_t)(N * M);
    float *a = hrandn(n, 2.0f), *b = hrandn(n, 1.0f);
    const unary_fn uf[2] = {fp4_gelu_forward, fp4_relu2_forward};
    const binary_fn bf[3] = {fp4_gelu_backward, fp4_relu2_backward, fp4_residual_forward};
    const char *un[2] = {"gelu_forward", "relu2_forward"};
    const char *bn[3] = {"gelu_backward", "relu2_backward", "residual_forward"};
    for (int d = 0; d < 2; d++) {
        float *ar = hcopy(a, n), *br = hcopy(b, n), *ref = malloc(n * sizeof(float));
        if (d) round_bf16(ar, n), round_bf16(br, n);
        fp4_view ha = hview(ar, N, M), hb = hview(br, N, M), hr = hview(ref, N, M);
        fp4_view da = dup(ar, dtypes[d], N, M), db = dup(br, dtypes[d], N, M);
        for (int f = 0; f < 2; f++) {
            FP4T_ASSERT_OK(uf[f](NULL, &hr, &ha));
            fp4_view o = dup(NULL, dtypes[d], N, M);
            FP4T_ASSERT_OK(uf[f](ctx, &o, &da));
            float *g = fetch(&o, n);
            check(un[f], dtypes[d], g, ref, n, 1e-5, 4e-3);
            free(g);
            /* in place: out aliases inp */
            FP4T_ASSERT_OK(fp4_ops_convert(ctx, &o, &da));
            FP4T_ASSERT_OK(uf[f](ctx, &o, &o));
            g = fetch(&o, n);
            check("  ... in place", dtypes[d], g, ref, n, 1e-5, 4e-3);
            free(g), fp4_device_free(o.data);
        }
        for (int f = 0; f < 3; f++) {
            FP4T_ASSERT_OK(bf[f](NULL, &hr, &ha, &hb));
            fp4_view o = dup(NULL, dtypes[d], N, M);
            FP4T_ASSERT_OK(bf[f](ctx, &o, &da, &db));
            float *g = fetch(&o, n);
            check(bn[f], dtypes[d], g, ref, n, 1e-5, 4e-3);
            free(g);
            /* aliased: out = second argument (dinp = dout, or out = b) */
            FP4T_ASSERT_OK(fp4_ops_convert(ctx, &o, &db));
            FP4T_ASSERT_OK(bf[f](ctx, &o, &da, &o));
            g = fetch(&o, n);
            check("  ... aliased", dtypes[d], g, ref, n, 1e-5, 4e-3);
            free(g), fp4_device_free(o.data);
        }
        free(ar), free(br), free(ref), fp4_device_free(da.data), fp4_device_free(db.data);
    }
    free(a), free(b);
}

static void test_elementwise(void) {
    ew_case(5, 7);
    ew_case(4 * 256, 4 * 768);
}

/* ---- cross-entropy ------------------------------------------------------------------------------- */

static void ce_case(int64_t N, int64_t V, int64_t Vp) {
    const size_t n = (size_t)(N * Vp);
    float *z = hrandn(n, 3.0f);
    int32_t *y = malloc((size_t)N * sizeof(int32_t));
    for (int64_t i = 0; i < N; i++) y[i] = i % 7 == 3 ? -1 : (int32_t)(fp4t_rng_u64(&rng) % (uint64_t)V);
    int32_t *dy = dupraw(y, (size_t)N * sizeof(int32_t));
    const float dloss = 1.0f / (float)N;
    for (int d = 0; d < 2; d++) {
        float *zr = hcopy(z, n), *loss = malloc((size_t)N * sizeof(float));
        if (d) round_bf16(zr, n);
        fp4_view dz = dup(zr, dtypes[d], N, Vp);
        fp4_view hz = hview(zr, N, Vp);
        FP4T_ASSERT_OK(fp4_crossentropy_forward(NULL, loss, &hz, y, V, dloss, 1));
        float *dl = dupraw(loss, (size_t)N * sizeof(float));
        FP4T_ASSERT_OK(fp4_ops_zero(ctx, dl, (size_t)N * sizeof(float)));
        FP4T_ASSERT_OK(fp4_crossentropy_forward(ctx, dl, &dz, dy, V, dloss, 1));
        float *gl = fetchf(dl, (size_t)N), *gz = fetch(&dz, n);
        check("crossentropy losses", dtypes[d], gl, loss, (size_t)N, 1e-4, 1e-4);
        check("crossentropy dlogits (in place, padding 0)", dtypes[d], gz, zr, n, 1e-4, 1e-2);
        size_t pad = 0;
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = V; j < Vp; j++) pad += gz[i * Vp + j] != 0.0f;
        CU_ASSERT_EQUAL(pad, 0);
        free(gl), free(gz), free(zr), free(loss), fp4_device_free(dz.data), fp4_device_free(dl);
    }
    /* losses only (write_grad 0): logits untouched */
    fp4_view dz = dup(z, FP4_DTYPE_F32, N, Vp);
    float *dl = NULL;
    FP4T_ASSERT_OK(fp4_device_alloc((size_t)N * sizeof(float), (void **)&dl));
    FP4T_ASSERT_OK(fp4_crossentropy_forward(ctx, dl, &dz, dy, V, dloss, 0));
    float *gz = fetch(&dz, n);
    check_exact("crossentropy write_grad=0 leaves logits", gz, z, n);
    free(gz), fp4_device_free(dz.data), fp4_device_free(dl);
    free(z), free(y), fp4_device_free(dy);
}

static void test_crossentropy(void) {
    ce_case(10, 37, 40);
    ce_case(10, 37, 37);
    ce_case(64, 50257, 50304);
}

/* ---- optimizer, norms, helpers --------------------------------------------------------------------- */

static void adamw_case(int64_t n, int masked) {
    float *p = hrandn((size_t)n, 0.5f), *m = hrandn((size_t)n, 0.01f), *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = (float)(1e-4 * fp4t_rng_uniform(&rng));
    uint8_t *mask = NULL;
    if (masked) {
        mask = malloc((size_t)n);
        for (int64_t i = 0; i < n; i++) mask[i] = (uint8_t)(fp4t_rng_u64(&rng) & 1);
    }
    float *dp = dupraw(p, (size_t)n * 4), *dm = dupraw(m, (size_t)n * 4), *dv = dupraw(v, (size_t)n * 4);
    uint8_t *dmask = mask ? dupraw(mask, (size_t)n) : NULL;
    for (int t = 1; t <= 3; t++) {
        float *g = hrandn((size_t)n, 0.02f);
        float *dg = dupraw(g, (size_t)n * 4);
        const fp4_adamw_step s = fp4_adamw_step_make(6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, t, 0.7f);
        FP4T_ASSERT_OK(fp4_adamw_update(NULL, p, g, m, v, mask, n, &s));
        FP4T_ASSERT_OK(fp4_adamw_update(ctx, dp, dg, dm, dv, dmask, n, &s));
        free(g), fp4_device_free(dg);
    }
    float *gp = fetchf(dp, (size_t)n), *gm = fetchf(dm, (size_t)n), *gv = fetchf(dv, (size_t)n);
    check_exact(masked ? "adamw param (3 steps, wd mask)" : "adamw param (3 steps)", gp, p, (size_t)n);
    check_exact("adamw m", gm, m, (size_t)n);
    check_exact("adamw v", gv, v, (size_t)n);
    free(gp), free(gm), free(gv), free(p), free(m), free(v), free(mask);
    fp4_device_free(dp), fp4_device_free(dm), fp4_device_free(dv), fp4_device_free(dmask);
}

static void test_adamw(void) {
    adamw_case(1001, 1);
    adamw_case(3 * 4096 + 4, 0);
    adamw_case(1 << 20, 1);
}

static void test_norm_scale_convert(void) {
    const int64_t sizes[3] = {17, 3 * 4096 + 17, (1 << 20) + 5};
    for (int k = 0; k < 3; k++) {
        const int64_t n = sizes[k];
        float *g = hrandn((size_t)n, 0.3f);
        float *dg = dupraw(g, (size_t)n * 4);
        double ref = 0.0, got = 0.0, got2 = 0.0;
        FP4T_ASSERT_OK(fp4_grad_norm_sq(NULL, g, n, &ref));
        FP4T_ASSERT_OK(fp4_grad_norm_sq(ctx, dg, n, &got));
        FP4T_ASSERT_OK(fp4_grad_norm_sq(ctx, dg, n, &got2));
        printf("\n    grad_norm_sq n=%-10lld rel %.3e, repeat %s", (long long)n, fabs(got - ref) / ref,
               got == got2 ? "identical" : "DIFFERS");
        CU_ASSERT(fabs(got - ref) <= 1e-12 * ref);
        CU_ASSERT(got == got2);
        /* scale */
        FP4T_ASSERT_OK(fp4_scale(NULL, g, n, 0.37f));
        FP4T_ASSERT_OK(fp4_scale(ctx, dg, n, 0.37f));
        float *gs = fetchf(dg, (size_t)n);
        check_exact("scale", gs, g, (size_t)n);
        /* convert F32 -> BF16 -> F32 against the host conversion */
        fp4_view src = fp4_view_make(dg, FP4_DTYPE_F32, 1, n, FP4_DEVICE);
        fp4_view mid = dup(NULL, FP4_DTYPE_BF16, 1, n), back = dup(NULL, FP4_DTYPE_F32, 1, n);
        FP4T_ASSERT_OK(fp4_ops_convert(ctx, &mid, &src));
        FP4T_ASSERT_OK(fp4_ops_convert(ctx, &back, &mid));
        uint16_t *hb = malloc((size_t)n * 2), *rb = malloc((size_t)n * 2);
        fp4_view hs = fp4_view_make(g, FP4_DTYPE_F32, 1, n, FP4_HOST), hm = fp4_view_make(rb, FP4_DTYPE_BF16, 1, n, FP4_HOST);
        FP4T_ASSERT_OK(fp4_ops_convert(NULL, &hm, &hs));
        FP4T_ASSERT_OK(fp4_context_sync(ctx));
        FP4T_ASSERT_OK(fp4_copy_to_host(ctx, hb, mid.data, (size_t)n * 2));
        CU_ASSERT_EQUAL(memcmp(hb, rb, (size_t)n * 2), 0);
        float *gb = fetchf(back.data, (size_t)n), *rf = malloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++) rf[i] = fp4_bf16_to_f32(rb[i]);
        check_exact("convert F32->BF16->F32", gb, rf, (size_t)n);
        /* zero */
        FP4T_ASSERT_OK(fp4_ops_zero(ctx, back.data, (size_t)n * 4));
        float *gz = fetchf(back.data, (size_t)n);
        size_t nz = 0;
        for (int64_t i = 0; i < n; i++) nz += gz[i] != 0.0f;
        CU_ASSERT_EQUAL(nz, 0);
        free(g), free(gs), free(hb), free(rb), free(gb), free(rf), free(gz);
        fp4_device_free(dg), fp4_device_free(mid.data), fp4_device_free(back.data);
    }
}

static CU_TestInfo ops_tests[] = {
    {"encoder forward/backward (exact, deterministic)", test_encoder},
    {"rmsnorm forward/backward", test_rmsnorm},
    {"rope forward/backward on a qkv slice", test_rope},
    {"attention forward/backward", test_attention},
    {"flash attention forward/backward (BF16)", test_flash_attention},
    {"gelu, relu2, residual (incl. aliasing)", test_elementwise},
    {"cross-entropy fused gradient", test_crossentropy},
    {"adamw bit-exact", test_adamw},
    {"grad norm, scale, convert, zero", test_norm_scale_convert},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gpu_ops", suite_init, suite_clean, NULL, NULL, ops_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
