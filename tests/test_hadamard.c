/* tests/test_hadamard.c — CPU tests of fp4kit/hadamard.h: orthogonality of the transform matrix,
 * inner products, inverse, the TE RHT16 matrix, MR-GPTQ rotations, the fused Wgrad reference
 * against the unfused composition (fp4_hadamard then fp4_quantize), the Wgrad identity
 * sum_m (XᵀH)(dYᵀH)ᵀ = XᵀdY, and argument checking. fp64 references; tolerances derived from
 * the fp32 unit roundoff and log2(d) (each butterfly stage adds at most eps relative to the norm). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/fp4kit.h"
#include "hadamard_impl.h"
#include "harness.h"

static const double EPS32 = 5.9604644775390625e-08; /* 2^-24, fp32 unit roundoff */

static float *rand_f32(size_t n, uint64_t seed, double scale) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    float *p = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) p[i] = (float)(fp4t_rng_normal(&r) * scale);
    return p;
}

static uint16_t *rand_bf16(size_t n, uint64_t seed, double scale) {
    float *f = rand_f32(n, seed, scale);
    uint16_t *p = malloc(sizeof(uint16_t) * n);
    for (size_t i = 0; i < n; i++) p[i] = fp4_f32_to_bf16(f[i]);
    free(f);
    return p;
}

static double tol_norm(int d) { return 2.0 * (fp4h_log2(d) + 2) * EPS32; }

/* H built row by row as the transform of the unit vectors: H[i][:] = e_i · H. */
static float *build_matrix(const fp4_hadamard_desc *h) {
    const int d = h->d;
    float *e = calloc((size_t)d * d, sizeof(float)), *m = malloc(sizeof(float) * (size_t)d * d);
    for (int i = 0; i < d; i++) e[(size_t)i * d + i] = 1.0f;
    fp4_view x = fp4_view_make(e, FP4_DTYPE_F32, d, d, FP4_HOST), y = fp4_view_make(m, FP4_DTYPE_F32, d, d, FP4_HOST);
    CU_ASSERT_EQUAL(fp4_hadamard(NULL, &x, &y, h), FP4_OK);
    free(e);
    return m;
}

static void test_orthogonal(void) {
    const int ds[] = {16, 32, 128};
    for (int t = 0; t < 3; t++) {
        for (int variant = 0; variant < 3; variant++) {
            const int d = ds[t];
            fp4_hadamard_desc h = variant == 0 ? fp4_hadamard_plain(d) : fp4_hadamard_rht(d, variant == 1 ? 0 : 77);
            float *m = build_matrix(&h);
            double worst = 0;
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) {
                    double s = 0;
                    for (int k = 0; k < d; k++) s += (double)m[(size_t)i * d + k] * m[(size_t)j * d + k];
                    worst = fmax(worst, fabs(s - (i == j)));
                }
            CU_ASSERT(worst <= 1e-6);
            /* entries are +-fp32(1/sqrt d) exactly, with the sign pattern s_i * (-1)^popcount(i&j) */
            const float sc = fp4_hadamard_scale(d);
            int bad = 0;
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) {
                    const int si = h.random_signs ? fp4_hadamard_sign(d, h.seed, i) : 1;
                    const float want = (float)(si * ((__builtin_popcount((unsigned)(i & j)) & 1) ? -1 : 1)) * sc;
                    bad += m[(size_t)i * d + j] != want;
                }
            CU_ASSERT_EQUAL(bad, 0);
            free(m);
        }
    }
}

static void test_rht16_matches_te(void) {
    /* TE's vector (spec §5.2) */
    const int s_te[16] = {1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1};
    for (int i = 0; i < 16; i++) CU_ASSERT_EQUAL(fp4_hadamard_sign(16, 0, i), s_te[i]);
    CU_ASSERT_EQUAL(fp4_hadamard_sign_word(16, 0, 0), 0xD7E8u);
    /* other sizes/seeds: bit i of fp4_sr_block16(seed, FP4_HADAMARD_SIGN_STREAM, i/128) word (i/32)%4 */
    uint32_t w[4];
    fp4_sr_block16(5, FP4_HADAMARD_SIGN_STREAM, 1, w);
    CU_ASSERT_EQUAL(fp4_hadamard_sign_word(256, 5, 6), w[2]);
    fp4_sr_block16(0, FP4_HADAMARD_SIGN_STREAM, 0, w);
    CU_ASSERT_EQUAL(fp4_hadamard_sign_word(32, 0, 0), w[0]);
    CU_ASSERT_EQUAL(fp4_hadamard_sign_word(16, 3, 0), fp4_hadamard_sign_word(32, 3, 0) & 0xffffu);
    /* y = x · (1/4) diag(s) H16 on random fp32 rows vs the fp64 matrix product */
    const int R = 64;
    float *x = rand_f32((size_t)R * 16, 11, 1.0), *y = malloc(sizeof(float) * R * 16);
    fp4_view vx = fp4_view_make(x, FP4_DTYPE_F32, R, 16, FP4_HOST), vy = fp4_view_make(y, FP4_DTYPE_F32, R, 16, FP4_HOST);
    fp4_hadamard_desc h = fp4_hadamard_rht(16, 0);
    FP4T_ASSERT_OK(fp4_hadamard(NULL, &vx, &vy, &h));
    int bad = 0;
    for (int r = 0; r < R; r++) {
        double l1 = 0;
        for (int i = 0; i < 16; i++) l1 += fabs(x[r * 16 + i]);
        for (int j = 0; j < 16; j++) {
            double ref = 0;
            for (int i = 0; i < 16; i++)
                ref += 0.25 * s_te[i] * ((__builtin_popcount((unsigned)(i & j)) & 1) ? -1 : 1) * x[r * 16 + i];
            /* correctly rounded when the sum is exact; else within the butterfly's error bound */
            if (fabs(y[r * 16 + j] - ref) > 4 * EPS32 * l1 * 0.25 + fabs(ref) * EPS32) bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* small-integer (BF16-like) inputs: every butterfly is exact, so y equals the product exactly */
    for (int i = 0; i < R * 16; i++) x[i] = (float)((int)(x[i] * 64.0f));
    FP4T_ASSERT_OK(fp4_hadamard(NULL, &vx, &vy, &h));
    bad = 0;
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 16; j++) {
            double ref = 0;
            for (int i = 0; i < 16; i++)
                ref += 0.25 * s_te[i] * ((__builtin_popcount((unsigned)(i & j)) & 1) ? -1 : 1) * x[r * 16 + i];
            bad += (double)y[r * 16 + j] != ref;
        }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(fp4_hadamard_scale(16), 0.25f);
    CU_ASSERT_EQUAL(fp4_hadamard_scale(32), (float)(1.0 / sqrt(32.0)));
    CU_ASSERT_EQUAL(fp4_hadamard_scale(2048), (float)(1.0 / sqrt(2048.0)));
    CU_ASSERT_EQUAL(fp4_hadamard_scale(4096), 1.0f / 64.0f);
    free(x);
    free(y);
}

static void test_inner_products(void) {
    for (int d = 16; d <= 4096; d *= 4) {
        const int R = 8, n = R * d;
        float *u = rand_f32(n, 21 + d, 1.0), *v = rand_f32(n, 99 + d, 3.0);
        float *uh = malloc(sizeof(float) * n), *vh = malloc(sizeof(float) * n);
        fp4_view a = fp4_view_make(u, FP4_DTYPE_F32, R, d, FP4_HOST), b = fp4_view_make(v, FP4_DTYPE_F32, R, d, FP4_HOST);
        fp4_view ah = fp4_view_make(uh, FP4_DTYPE_F32, R, d, FP4_HOST), bh = fp4_view_make(vh, FP4_DTYPE_F32, R, d, FP4_HOST);
        fp4_hadamard_desc h = fp4_hadamard_rht(d, 5);
        FP4T_ASSERT_OK(fp4_hadamard(NULL, &a, &ah, &h));
        FP4T_ASSERT_OK(fp4_hadamard(NULL, &b, &bh, &h));
        for (int r = 0; r < R; r++) {
            double dot = 0, doth = 0, nu = 0, nv = 0;
            for (int i = 0; i < d; i++) {
                const size_t k = (size_t)r * d + i;
                dot += (double)u[k] * v[k];
                doth += (double)uh[k] * vh[k];
                nu += (double)u[k] * u[k];
                nv += (double)v[k] * v[k];
            }
            CU_ASSERT(fabs(dot - doth) <= tol_norm(d) * sqrt(nu * nv));
        }
        free(u); free(v); free(uh); free(vh);
    }
}

static void test_inverse_all_sizes(void) {
    for (int d = 16; d <= 32768; d *= 2) {
        const int R = d >= 4096 ? 2 : 6, n = R * d;
        float *x = rand_f32(n, 1000 + d, 2.0), *y = malloc(sizeof(float) * n), *z = malloc(sizeof(float) * n);
        fp4_view vx = fp4_view_make(x, FP4_DTYPE_F32, R, d, FP4_HOST), vy = fp4_view_make(y, FP4_DTYPE_F32, R, d, FP4_HOST),
                 vz = fp4_view_make(z, FP4_DTYPE_F32, R, d, FP4_HOST);
        fp4_hadamard_desc h = fp4_hadamard_rht(d, 0);
        FP4T_ASSERT_OK(fp4_hadamard(NULL, &vx, &vy, &h));
        h.inverse = 1;
        FP4T_ASSERT_OK(fp4_hadamard(NULL, &vy, &vz, &h));
        for (int r = 0; r < R; r++) {
            double e = 0, nx = 0;
            for (int i = 0; i < d; i++) {
                const size_t k = (size_t)r * d + i;
                e += ((double)z[k] - x[k]) * ((double)z[k] - x[k]);
                nx += (double)x[k] * x[k];
            }
            CU_ASSERT(sqrt(e) <= tol_norm(d) * sqrt(nx));
        }
        /* in place gives the same bits as out of place */
        memcpy(z, x, sizeof(float) * n);
        h.inverse = 0;
        FP4T_ASSERT_OK(fp4_hadamard(NULL, &vz, &vz, &h));
        CU_ASSERT_EQUAL(memcmp(z, y, sizeof(float) * n), 0);
        free(x); free(y); free(z);
    }
}

static void test_bf16_output_is_rne(void) {
    const int R = 5, C = 256;
    uint16_t *x = rand_bf16((size_t)R * C, 3, 10.0), *yb = malloc(2 * R * C);
    float *yf = malloc(4 * R * C);
    fp4_view vx = fp4_view_make(x, FP4_DTYPE_BF16, R, C, FP4_HOST), vf = fp4_view_make(yf, FP4_DTYPE_F32, R, C, FP4_HOST),
             vb = fp4_view_make(yb, FP4_DTYPE_BF16, R, C, FP4_HOST);
    fp4_hadamard_desc h = fp4_hadamard_rht(64, 9);
    FP4T_ASSERT_OK(fp4_hadamard(NULL, &vx, &vf, &h));
    FP4T_ASSERT_OK(fp4_hadamard(NULL, &vx, &vb, &h));
    int bad = 0;
    for (int i = 0; i < R * C; i++) bad += fp4_f32_to_bf16(yf[i]) != yb[i];
    CU_ASSERT_EQUAL(bad, 0);
    free(x); free(yb); free(yf);
}

static void test_rotations(void) {
    const int R = 256, C = 384;
    float *w = rand_f32((size_t)R * C, 42, 0.02), *a = malloc(4 * R * C), *b = malloc(4 * R * C);
    float *wt = malloc(4 * R * C), *at = malloc(4 * R * C);
    for (int k = 16; k <= 128; k *= 2) {
        for (int axis = 0; axis < 2; axis++) {
            fp4_view vw = fp4_view_make(w, FP4_DTYPE_F32, R, C, FP4_HOST), va = fp4_view_make(a, FP4_DTYPE_F32, R, C, FP4_HOST),
                     vb = fp4_view_make(b, FP4_DTYPE_F32, R, C, FP4_HOST);
            FP4T_ASSERT_OK(fp4_rotate_blocks(NULL, &vw, &va, k, (fp4_had_axis)axis));
            FP4T_ASSERT_OK(fp4_rotate_blocks(NULL, &va, &vb, k, (fp4_had_axis)axis)); /* H_k is its own inverse */
            double e = 0, n = 0;
            for (int i = 0; i < R * C; i++) {
                e += ((double)b[i] - w[i]) * ((double)b[i] - w[i]);
                n += (double)w[i] * w[i];
            }
            CU_ASSERT(sqrt(e) <= tol_norm(k) * sqrt(n));
        }
        /* along columns == transpose, along rows, transpose (same operations, same bits) */
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) wt[(size_t)c * R + r] = w[(size_t)r * C + c];
        fp4_view vw = fp4_view_make(w, FP4_DTYPE_F32, R, C, FP4_HOST), va = fp4_view_make(a, FP4_DTYPE_F32, R, C, FP4_HOST);
        fp4_view vwt = fp4_view_make(wt, FP4_DTYPE_F32, C, R, FP4_HOST), vat = fp4_view_make(at, FP4_DTYPE_F32, C, R, FP4_HOST);
        FP4T_ASSERT_OK(fp4_rotate_blocks(NULL, &vw, &va, k, FP4_HAD_ALONG_COLS));
        FP4T_ASSERT_OK(fp4_rotate_blocks(NULL, &vwt, &vat, k, FP4_HAD_ALONG_ROWS));
        int bad = 0;
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) bad += a[(size_t)r * C + c] != at[(size_t)c * R + r];
        CU_ASSERT_EQUAL(bad, 0);
    }
    free(w); free(a); free(b); free(wt); free(at);
}

/* sum over tokens of (XᵀH)(dYᵀH)ᵀ = XᵀdY without quantization (H orthogonal, same H both sides). */
static void test_wgrad_identity(void) {
    const int M = 128, K = 24, N = 40;
    float *x = rand_f32((size_t)M * K, 7, 1.0), *dy = rand_f32((size_t)M * N, 8, 0.1);
    float *xh = malloc(4 * M * K), *dyh = malloc(4 * M * N);
    fp4_view vx = fp4_view_make(x, FP4_DTYPE_F32, M, K, FP4_HOST), vxh = fp4_view_make(xh, FP4_DTYPE_F32, M, K, FP4_HOST);
    fp4_view vd = fp4_view_make(dy, FP4_DTYPE_F32, M, N, FP4_HOST), vdh = fp4_view_make(dyh, FP4_DTYPE_F32, M, N, FP4_HOST);
    fp4_hadamard_desc h = fp4_hadamard_rht(16, 0);
    h.axis = FP4_HAD_ALONG_COLS; /* chunks of 16 tokens: (Xᵀ H)ᵀ = Hᵀ X */
    FP4T_ASSERT_OK(fp4_hadamard(NULL, &vx, &vxh, &h));
    FP4T_ASSERT_OK(fp4_hadamard(NULL, &vd, &vdh, &h));
    int bad = 0;
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) {
            double ref = 0, got = 0, nx = 0, nd = 0;
            for (int m = 0; m < M; m++) {
                ref += (double)x[m * K + k] * dy[m * N + n];
                got += (double)xh[m * K + k] * dyh[m * N + n];
                nx += (double)x[m * K + k] * x[m * K + k];
                nd += (double)dy[m * N + n] * dy[m * N + n];
            }
            if (fabs(ref - got) > tol_norm(16) * sqrt(nx * nd)) bad++;
        }
    CU_ASSERT_EQUAL(bad, 0);
    free(x); free(dy); free(xh); free(dyh);
}

static int qt_equal(const fp4_qtensor *a, const fp4_qtensor *b) {
    return a->rows == b->rows && a->cols == b->cols &&
           !memcmp(a->data, b->data, fp4_qtensor_data_bytes(a)) && !memcmp(a->scales, b->scales, fp4_qtensor_scale_bytes(a)) &&
           fp4_f32_bits(a->amax) == fp4_f32_bits(b->amax) && fp4_f32_bits(a->s_enc) == fp4_f32_bits(b->s_enc) &&
           fp4_f32_bits(a->s_dec) == fp4_f32_bits(b->s_dec);
}

/* fused reference == fp4_hadamard(BF16 out) of xᵀ, then fp4_quantize of that [K, M] tensor. */
static void check_fused_vs_unfused(int M, int K, int ld, fp4_dtype dt, fp4_config cfg, int d, uint64_t seed) {
    const size_t es = fp4_dtype_size(dt);
    void *x = malloc(es * (size_t)M * ld);
    float *f = rand_f32((size_t)M * ld, 1234 + M + K + d, 3.0);
    for (size_t i = 0; i < (size_t)M * ld; i++) {
        if (dt == FP4_DTYPE_BF16) ((uint16_t *)x)[i] = fp4_f32_to_bf16(f[i]);
        else ((float *)x)[i] = f[i];
    }
    fp4_view vx = {x, dt, M, K, ld, FP4_HOST};
    fp4_qtensor fused, un;
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&fused, K, M, &cfg, FP4_HOST));
    FP4T_ASSERT_OK(fp4_rht_quantize_columnwise(NULL, &vx, &cfg, d, seed, &fused));
    CU_ASSERT_EQUAL(fused.hadamard, d);
    CU_ASSERT_EQUAL(fused.hadamard_seed, seed);
    CU_ASSERT_EQUAL(fused.cfg.stream, cfg.stream ^ FP4_STREAM_COLUMNWISE);
    /* explicit transpose in F32 (exact), RHT along rows with BF16 output */
    float *xt = malloc(sizeof(float) * (size_t)K * M);
    uint16_t *t = malloc(2 * (size_t)K * M);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++)
            xt[(size_t)k * M + m] = dt == FP4_DTYPE_BF16 ? fp4_bf16_to_f32(((uint16_t *)x)[(size_t)m * ld + k])
                                                         : ((float *)x)[(size_t)m * ld + k];
    fp4_view vxt = fp4_view_make(xt, FP4_DTYPE_F32, K, M, FP4_HOST), vt = fp4_view_make(t, FP4_DTYPE_BF16, K, M, FP4_HOST);
    fp4_hadamard_desc h = fp4_hadamard_rht(d, seed);
    FP4T_ASSERT_OK(fp4_hadamard(NULL, &vxt, &vt, &h));
    fp4_config c2 = cfg;
    c2.stream = cfg.stream ^ FP4_STREAM_COLUMNWISE;
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&un, K, M, &cfg, FP4_HOST));
    fp4_status st = fp4_quantize(NULL, &vt, &c2, &un, NULL);
    if (st == FP4_ERR_UNSUPPORTED) {
        fprintf(stderr, "\n    NOTE: fp4_quantize reference not available yet (%s); unfused check skipped\n", fp4_last_error());
    } else {
        FP4T_ASSERT_OK(st);
        CU_ASSERT(qt_equal(&fused, &un));
        /* same thing through fp4_quantize's own columnwise path on Tᵀ [M, K] */
        uint16_t *tt = malloc(2 * (size_t)K * M);
        for (int k = 0; k < K; k++)
            for (int m = 0; m < M; m++) tt[(size_t)m * K + k] = t[(size_t)k * M + m];
        fp4_view vtt = fp4_view_make(tt, FP4_DTYPE_BF16, M, K, FP4_HOST);
        fp4_qtensor col;
        FP4T_ASSERT_OK(fp4_qtensor_alloc(&col, K, M, &cfg, FP4_HOST));
        FP4T_ASSERT_OK(fp4_quantize(NULL, &vtt, &cfg, NULL, &col));
        CU_ASSERT(qt_equal(&fused, &col));
        fp4_qtensor_free(&col);
        free(tt);
    }
    /* the transformed transpose itself */
    uint16_t *t2 = malloc(2 * (size_t)K * M);
    FP4T_ASSERT_OK(fp4_rht_transpose_bf16_ref(&vx, d, seed, t2));
    CU_ASSERT_EQUAL(memcmp(t, t2, 2 * (size_t)K * M), 0);
    fp4_qtensor_free(&fused);
    fp4_qtensor_free(&un);
    free(x); free(f); free(xt); free(t); free(t2);
}

static void test_fused_reference(void) {
    fp4_config nv = fp4_config_nvfp4(), mx = fp4_config_mxfp4();
    for (int rnd = 0; rnd < 2; rnd++) {
        nv.rounding = mx.rounding = rnd ? FP4_ROUND_SR : FP4_ROUND_RNE;
        nv.seed = mx.seed = 0x1234567ull;
        nv.stream = mx.stream = 42;
        check_fused_vs_unfused(48, 40, 40, FP4_DTYPE_BF16, nv, 16, 0);
        check_fused_vs_unfused(64, 33, 37, FP4_DTYPE_F32, nv, 16, 99);
        check_fused_vs_unfused(96, 24, 30, FP4_DTYPE_BF16, mx, 32, 0);
        mx.scale_rule = FP4_SCALE_OCP;
        check_fused_vs_unfused(64, 17, 17, FP4_DTYPE_F32, mx, 32, 5);
        mx.scale_rule = FP4_SCALE_RCEIL;
    }
}

static void test_strict_nonfinite(void) {
    const int M = 32, K = 8;
    float *x = rand_f32((size_t)M * K, 5, 1.0);
    x[20 * K + 3] = NAN; /* token 20 -> chunk 16..31 of column 3 */
    fp4_view vx = fp4_view_make(x, FP4_DTYPE_F32, M, K, FP4_HOST);
    fp4_config cfg = fp4_config_nvfp4();
    cfg.nonfinite = FP4_NONFINITE_ERROR;
    fp4_qtensor q;
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&q, K, M, &cfg, FP4_HOST));
    CU_ASSERT_EQUAL(fp4_rht_quantize_columnwise(NULL, &vx, &cfg, 16, 0, &q), FP4_ERR_NONFINITE);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "[3, 16]"));
    cfg.nonfinite = FP4_NONFINITE_SATURATE;
    FP4T_ASSERT_OK(fp4_rht_quantize_columnwise(NULL, &vx, &cfg, 16, 0, &q));
    CU_ASSERT(isfinite(q.amax));
    fp4_qtensor_free(&q);
    free(x);
}

static void test_bad_arguments(void) {
    float buf[64 * 48];
    memset(buf, 0, sizeof buf);
    fp4_view x = fp4_view_make(buf, FP4_DTYPE_F32, 48, 64, FP4_HOST), y = x;
    fp4_hadamard_desc h = fp4_hadamard_plain(24);
    CU_ASSERT_EQUAL(fp4_hadamard(NULL, &x, &y, &h), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "power of two"));
    h = fp4_hadamard_plain(8);
    CU_ASSERT_EQUAL(fp4_hadamard(NULL, &x, &y, &h), FP4_ERR_INVALID_ARG);
    h = fp4_hadamard_plain(65536);
    CU_ASSERT_EQUAL(fp4_hadamard(NULL, &x, &y, &h), FP4_ERR_INVALID_ARG);
    h = fp4_hadamard_plain(128);
    CU_ASSERT_EQUAL(fp4_hadamard(NULL, &x, &y, &h), FP4_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "cols = 64"));
    h = fp4_hadamard_plain(32);
    h.axis = FP4_HAD_ALONG_COLS;
    CU_ASSERT_EQUAL(fp4_hadamard(NULL, &x, &y, &h), FP4_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "rows = 48"));
    h = fp4_hadamard_plain(256);
    h.axis = FP4_HAD_ALONG_COLS;
    CU_ASSERT_EQUAL(fp4_hadamard(NULL, &x, &y, &h), FP4_ERR_UNSUPPORTED);
    h = fp4_hadamard_plain(16);
    y.dtype = FP4_DTYPE_BF16; /* same pointer, other dtype: not a valid in-place call */
    CU_ASSERT_EQUAL(fp4_hadamard(NULL, &x, &y, &h), FP4_ERR_INVALID_ARG);
    y = x;
    y.cols = 32;
    CU_ASSERT_EQUAL(fp4_hadamard(NULL, &x, &y, &h), FP4_ERR_SHAPE);
    CU_ASSERT_EQUAL(fp4_hadamard(NULL, &x, &x, NULL), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_rotate_blocks(NULL, &x, &x, 256, FP4_HAD_ALONG_ROWS), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_rotate_blocks(NULL, &x, &x, 8, FP4_HAD_ALONG_ROWS), FP4_ERR_INVALID_ARG);
    /* Wgrad operand */
    fp4_config cfg = fp4_config_nvfp4();
    fp4_qtensor q;
    fp4_view x40 = fp4_view_make(buf, FP4_DTYPE_F32, 40, 64, FP4_HOST);
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&q, 64, 48, &cfg, FP4_HOST));
    CU_ASSERT_EQUAL(fp4_rht_quantize_columnwise(NULL, &x40, &cfg, 16, 0, &q), FP4_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "M = 40"));
    CU_ASSERT_EQUAL(fp4_rht_quantize_columnwise(NULL, &x, &cfg, 32, 0, &q), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_rht_quantize_columnwise(NULL, &x, &cfg, 12, 0, &q), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "power of two"));
    fp4_view xt = fp4_view_make(buf, FP4_DTYPE_F32, 64, 48, FP4_HOST); /* out must be [K, M] = [48, 64] */
    CU_ASSERT_EQUAL(fp4_rht_quantize_columnwise(NULL, &xt, &cfg, 16, 0, &q), FP4_ERR_SHAPE);
    FP4T_ASSERT_OK(fp4_rht_quantize_columnwise(NULL, &x, &cfg, 16, 0, &q));
    fp4_qtensor_free(&q);
    cfg.block = FP4_BLOCK_16x16;
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&q, 64, 48, &cfg, FP4_HOST));
    CU_ASSERT_EQUAL(fp4_rht_quantize_columnwise(NULL, &x, &cfg, 16, 0, &q), FP4_ERR_INVALID_ARG);
    fp4_qtensor_free(&q);
    fp4_config mx = fp4_config_mxfp4();
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&q, 64, 64, &mx, FP4_HOST));
    fp4_view x64 = fp4_view_make(buf, FP4_DTYPE_F32, 64, 48, FP4_HOST);
    CU_ASSERT_EQUAL(fp4_rht_quantize_columnwise(NULL, &x64, &mx, 16, 0, &q), FP4_ERR_INVALID_ARG);
    fp4_qtensor_free(&q);
}

static CU_TestInfo hadamard_tests[] = {
    {"H Hᵀ = I; entries +-1/sqrt(d) with the sign pattern (d = 16, 32, 128)", test_orthogonal},
    {"RHT16 = (1/4) diag(s) H16 with TE's 0xD7E8 signs; Philox sign words", test_rht16_matches_te},
    {"transforms preserve inner products", test_inner_products},
    {"inverse(transform(x)) = x for d = 16 .. 32768; in place", test_inverse_all_sizes},
    {"BF16 output = RNE of the fp32 output", test_bf16_output_is_rne},
    {"MR-GPTQ rotations: self-inverse along rows and columns", test_rotations},
    {"Wgrad: sum over tokens of (XᵀH)(dYᵀH)ᵀ = XᵀdY", test_wgrad_identity},
    {"fused RHT + quantize reference = unfused composition", test_fused_reference},
    {"strict non-finite mode", test_strict_nonfinite},
    {"bad arguments are rejected with messages", test_bad_arguments},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"hadamard", NULL, NULL, NULL, NULL, hadamard_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
