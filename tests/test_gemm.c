/* tests/test_gemm.c — the CPU reference block-scaled GEMM (lib/gemm_ref.c) through fp4_gemm.
 *
 * D[M,N] = alpha * alpha_t * A[M,K]·B[N,K]ᵀ + beta * C[M,N], A and B quantized (NVFP4 or MXFP4).
 * Checks: (1) against an FP64 GEMM of the dequantized operands, relative Frobenius error <= 1e-6
 * (the reference's only roundings are the fp32 accumulation over K blocks, alpha_t and the
 * epilogue, each ~2^-24 relative; the dequantized operands carry one 2^-24 rounding each);
 * (2) bit equality with a loop written here from the documented operation order, so GPU authors
 * can rely on that comment; alpha/beta/C, aliasing, BF16 output, both alpha modes, error paths. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/fp4kit.h"
#include "fp4kit/formats_inline.h"
#include "harness.h"

static float *gauss(int64_t n, uint64_t seed) {
    float *x = malloc((size_t)n * sizeof(float));
    fp4t_rng g;
    fp4t_rng_seed(&g, seed);
    double mag = 1.0;
    for (int64_t i = 0; i < n; i++) {
        if (i % 16 == 0) mag = exp(1.5 * fp4t_rng_normal(&g));
        x[i] = (float)(fp4t_rng_normal(&g) * mag);
    }
    return x;
}

static void quant(const float *x, int64_t R, int64_t C, const fp4_config *cfg, fp4_qtensor *q) {
    fp4_view v = fp4_view_make((void *)x, FP4_DTYPE_F32, R, C, FP4_HOST);
    FP4T_ASSERT_OK(fp4_qtensor_alloc(q, R, C, cfg, FP4_HOST));
    FP4T_ASSERT_OK(fp4_quantize(NULL, &v, cfg, q, NULL));
}

static float *dequant(const fp4_qtensor *q) {
    float *y = malloc(sizeof(float) * (size_t)(q->rows * q->cols));
    fp4_view v = fp4_view_make(y, FP4_DTYPE_F32, q->rows, q->cols, FP4_HOST);
    if (fp4_dequantize(NULL, q, &v) != FP4_OK) CU_FAIL("dequantize");
    return y;
}

/* The documented order, re-implemented: per K block an exact fp32 partial of E2M1 products, times
 * the fp32 scale product, accumulated in increasing block order; then alpha * (alpha_t * acc). */
static float documented(const fp4_qtensor *a, const fp4_qtensor *b, int64_t m, int64_t n, float alpha_t) {
    const int bw = fp4_block_cols(a->cfg.block);
    float acc = 0.0f;
    for (int64_t kb = 0; kb < a->cols / bw; kb++) {
        float partial = 0.0f;
        for (int64_t k = kb * bw; k < kb * bw + bw; k++) {
            const uint8_t ca = (a->data[m * (a->cols / 2) + k / 2] >> (4 * (k & 1))) & 0xf;
            const uint8_t cb = (b->data[n * (b->cols / 2) + k / 2] >> (4 * (k & 1))) & 0xf;
            partial += fp4_e2m1_decode(ca) * fp4_e2m1_decode(cb);
        }
        const uint8_t sa = a->scales[m * (a->cols / bw) + kb], sb = b->scales[n * (b->cols / bw) + kb];
        const float sab = a->cfg.format == FP4_FORMAT_NVFP4 ? fp4_e4m3_decode(sa) * fp4_e4m3_decode(sb)
                                                            : ldexpf(1.0f, sa + sb - 254);
        acc += partial * sab;
    }
    return alpha_t * acc;
}

typedef struct { int64_t M, N, K; } shape;

static void run_case(const fp4_config *cfg, shape s, float alpha, float beta, uint64_t seed) {
    const int64_t M = s.M, N = s.N, K = s.K;
    float *xa = gauss(M * K, seed), *xb = gauss(N * K, seed + 1), *c = gauss(M * N, seed + 2);
    fp4_qtensor a, b;
    quant(xa, M, K, cfg, &a);
    quant(xb, N, K, cfg, &b);
    float *da = dequant(&a), *db = dequant(&b);
    float *d = malloc(sizeof(float) * M * N);
    fp4_view cv = fp4_view_make(c, FP4_DTYPE_F32, M, N, FP4_HOST), dv = fp4_view_make(d, FP4_DTYPE_F32, M, N, FP4_HOST);
    FP4T_ASSERT_OK(fp4_gemm(NULL, &a, &b, alpha, beta != 0.0f ? &cv : NULL, beta, &dv, FP4_ALPHA_SDEC));
    const float alpha_t = fp4_gemm_tensor_alpha(&a, &b, FP4_ALPHA_SDEC);
    double num = 0, den = 0;
    int notbit = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double ref = 0;
            for (int64_t k = 0; k < K; k++) ref += (double)da[m * K + k] * (double)db[n * K + k];
            ref = alpha * ref + (double)beta * c[m * N + n];
            num += (d[m * N + n] - ref) * (d[m * N + n] - ref);
            den += ref * ref;
            float want = alpha * documented(&a, &b, m, n, alpha_t);
            if (beta != 0.0f) want = want + beta * c[m * N + n];
            notbit += fp4_f32_bits(want) != fp4_f32_bits(d[m * N + n]);
        }
    const double rel = sqrt(num / den);
    if (!(rel <= 1e-6))
        fprintf(stderr, "\n    %s M=%lld N=%lld K=%lld: rel frob %.3g\n", fp4_format_name(cfg->format), (long long)M,
                (long long)N, (long long)K, rel);
    CU_ASSERT(rel <= 1e-6);
    CU_ASSERT_EQUAL(notbit, 0);
    fp4_qtensor_free(&a);
    fp4_qtensor_free(&b);
    free(xa); free(xb); free(c); free(da); free(db); free(d);
}

static void test_vs_fp64_nvfp4(void) {
    fp4_config cfg = fp4_config_nvfp4();
    const shape sh[] = {{1, 7, 16 * 3}, {1, 1, 16}, {5, 3, 16 * 5}, {17, 9, 16 * 7}, {33, 20, 16 * 9}, {8, 64, 16 * 33}};
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) run_case(&cfg, sh[i], 1.0f, 0.0f, 100 + i);
    cfg.block = FP4_BLOCK_16x16; /* 16x16 weights feed the same 1x16-shaped scale tensor */
    const shape sq[] = {{16, 32, 48}, {32, 16, 16 * 5}};
    for (size_t i = 0; i < 2; i++) run_case(&cfg, sq[i], 1.0f, 0.0f, 200 + i);
}

static void test_vs_fp64_mxfp4(void) {
    fp4_config cfg = fp4_config_mxfp4();
    const shape sh[] = {{1, 5, 32 * 3}, {6, 7, 32 * 5}, {13, 11, 32}, {1, 40, 32 * 7}};
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) run_case(&cfg, sh[i], 1.0f, 0.0f, 300 + i);
    cfg.scale_rule = FP4_SCALE_OCP;
    run_case(&cfg, sh[1], 1.0f, 0.0f, 310);
}

static void test_alpha_beta(void) {
    fp4_config nv = fp4_config_nvfp4(), mx = fp4_config_mxfp4();
    const shape s1 = {9, 12, 16 * 3}, s2 = {4, 6, 64};
    run_case(&nv, s1, 0.5f, 2.0f, 400);
    run_case(&nv, s1, -3.0f, 1.0f, 401);
    run_case(&mx, s2, 1.75f, -0.5f, 402);
    /* C aliasing D: D = A·Bᵀ + 1·D equals the out-of-place result */
    const int64_t M = 5, N = 6, K = 48;
    float *xa = gauss(M * K, 7), *xb = gauss(N * K, 8), *c = gauss(M * N, 9);
    fp4_qtensor a, b;
    quant(xa, M, K, &nv, &a);
    quant(xb, N, K, &nv, &b);
    float d[30], inplace[30];
    memcpy(inplace, c, sizeof inplace);
    fp4_view cv = fp4_view_make(c, FP4_DTYPE_F32, M, N, FP4_HOST), dv = fp4_view_make(d, FP4_DTYPE_F32, M, N, FP4_HOST);
    fp4_view iv = fp4_view_make(inplace, FP4_DTYPE_F32, M, N, FP4_HOST);
    FP4T_ASSERT_OK(fp4_gemm(NULL, &a, &b, 1.0f, &cv, 1.0f, &dv, FP4_ALPHA_SDEC));
    FP4T_ASSERT_OK(fp4_gemm(NULL, &a, &b, 1.0f, &iv, 1.0f, &iv, FP4_ALPHA_SDEC));
    CU_ASSERT_EQUAL(memcmp(d, inplace, sizeof d), 0);
    /* beta = 0 ignores C entirely (NaN in C does not leak) */
    for (int i = 0; i < 30; i++) c[i] = NAN;
    FP4T_ASSERT_OK(fp4_gemm(NULL, &a, &b, 1.0f, &cv, 0.0f, &dv, FP4_ALPHA_SDEC));
    int nan = 0;
    for (int i = 0; i < 30; i++) nan += isnan(d[i]);
    CU_ASSERT_EQUAL(nan, 0);
    fp4_qtensor_free(&a);
    fp4_qtensor_free(&b);
    free(xa); free(xb); free(c);
}

/* BF16 output is the RNE rounding of the F32 output; a BF16 C is read exactly; ld is honoured. */
static void test_bf16_output(void) {
    const int64_t M = 7, N = 10, K = 64, ld = 13;
    for (int f = 0; f < 2; f++) {
        fp4_config cfg = f ? fp4_config_mxfp4() : fp4_config_nvfp4();
        float *xa = gauss(M * K, 11), *xb = gauss(N * K, 12), *c = gauss(M * N, 13);
        fp4_qtensor a, b;
        quant(xa, M, K, &cfg, &a);
        quant(xb, N, K, &cfg, &b);
        uint16_t cb[7 * 10], db[7 * 13];
        float cf[7 * 10], df[7 * 10];
        for (int i = 0; i < M * N; i++) {
            cb[i] = fp4_f32_to_bf16(c[i]);
            cf[i] = fp4_bf16_to_f32(cb[i]);
        }
        for (int i = 0; i < M * ld; i++) db[i] = 0xBEEF;
        fp4_view cfv = fp4_view_make(cf, FP4_DTYPE_F32, M, N, FP4_HOST), cbv = fp4_view_make(cb, FP4_DTYPE_BF16, M, N, FP4_HOST);
        fp4_view dfv = fp4_view_make(df, FP4_DTYPE_F32, M, N, FP4_HOST);
        fp4_view dbv = {db, FP4_DTYPE_BF16, M, N, ld, FP4_HOST};
        FP4T_ASSERT_OK(fp4_gemm(NULL, &a, &b, 0.75f, &cfv, 0.5f, &dfv, FP4_ALPHA_SDEC));
        FP4T_ASSERT_OK(fp4_gemm(NULL, &a, &b, 0.75f, &cbv, 0.5f, &dbv, FP4_ALPHA_SDEC));
        int bad = 0;
        for (int64_t m = 0; m < M; m++)
            for (int64_t j = 0; j < ld; j++)
                bad += j < N ? db[m * ld + j] != fp4_f32_to_bf16(df[m * N + j]) : db[m * ld + j] != 0xBEEF;
        CU_ASSERT_EQUAL(bad, 0);
        fp4_qtensor_free(&a);
        fp4_qtensor_free(&b);
        free(xa); free(xb); free(c);
    }
}

/* The two NVFP4 alpha forms differ by a few ulps at most (spec §3.5 item 7); MXFP4 alpha is 1. */
static void test_alpha_modes(void) {
    float x[32] = {0};
    x[0] = 10.0f;
    for (int i = 1; i < 32; i++) x[i] = (float)(i % 7) * 0.3f - 0.9f;
    fp4_config nv = fp4_config_nvfp4();
    fp4_qtensor a, b;
    quant(x, 1, 32, &nv, &a);
    quant(x, 1, 32, &nv, &b);
    const float t0 = fp4_gemm_tensor_alpha(&a, &b, FP4_ALPHA_SDEC), t1 = fp4_gemm_tensor_alpha(&a, &b, FP4_ALPHA_AMAX);
    /* spec §3.5 item 7: S_dec^2 = 1.3840173e-05 and amax^2 * fp32(1/(36*448^2)) = 1.3840172e-05.
     * (The spec's text writes the constant as 1/1806336 = 1/(9*448^2), a typo: 100/1806336 is
     * 5.536e-05; its stated value and §3.4's formula both mean 36*448^2 = 7225344.) */
    CU_ASSERT(fabs(t0 - 1.3840173e-05) < 1e-12);
    CU_ASSERT(fabs(t1 - 1.3840172e-05) < 1e-12);
    CU_ASSERT(abs((int)fp4_f32_bits(t0) - (int)fp4_f32_bits(t1)) <= 4);
    fp4_qtensor_free(&a);
    fp4_qtensor_free(&b);
    const int64_t M = 6, N = 8, K = 80;
    float *xa = gauss(M * K, 21), *xb = gauss(N * K, 22);
    quant(xa, M, K, &nv, &a);
    quant(xb, N, K, &nv, &b);
    float d0[48], d1[48];
    fp4_view v0 = fp4_view_make(d0, FP4_DTYPE_F32, M, N, FP4_HOST), v1 = fp4_view_make(d1, FP4_DTYPE_F32, M, N, FP4_HOST);
    FP4T_ASSERT_OK(fp4_gemm(NULL, &a, &b, 1.0f, NULL, 0.0f, &v0, FP4_ALPHA_SDEC));
    FP4T_ASSERT_OK(fp4_gemm(NULL, &a, &b, 1.0f, NULL, 0.0f, &v1, FP4_ALPHA_AMAX));
    /* Same accumulator; alpha_t differs by <= 4 ulp and one more rounding: <= 6 ulp relative. */
    int bad = 0;
    for (int i = 0; i < 48; i++) bad += !(fabsf(d0[i] - d1[i]) <= 6.0f * FLT_EPSILON * fabsf(d0[i]));
    CU_ASSERT_EQUAL(bad, 0);
    fp4_qtensor_free(&a);
    fp4_qtensor_free(&b);
    fp4_config mx = fp4_config_mxfp4();
    quant(xa, 2, 64, &mx, &a);
    quant(xb, 3, 64, &mx, &b);
    CU_ASSERT_EQUAL(fp4_gemm_tensor_alpha(&a, &b, FP4_ALPHA_SDEC), 1.0f);
    CU_ASSERT_EQUAL(fp4_gemm_tensor_alpha(&a, &b, FP4_ALPHA_AMAX), 1.0f);
    fp4_qtensor_free(&a);
    fp4_qtensor_free(&b);
    free(xa); free(xb);
}

static void expect_fail(fp4_status got, fp4_status want, const char *needle) {
    CU_ASSERT_EQUAL(got, want);
    if (needle) CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), needle));
}

static void test_rejects(void) {
    float x[64 * 64] = {0};
    for (int i = 0; i < 64 * 64; i++) x[i] = (float)((i * 37) % 11) - 5.0f;
    fp4_config nv = fp4_config_nvfp4(), mx = fp4_config_mxfp4();
    fp4_qtensor a, b, bk, bm;
    quant(x, 4, 64, &nv, &a);
    quant(x, 5, 64, &nv, &b);
    quant(x, 5, 48, &nv, &bk);
    quant(x, 5, 64, &mx, &bm);
    float d[64], c[64];
    fp4_view dv = fp4_view_make(d, FP4_DTYPE_F32, 4, 5, FP4_HOST);
    fp4_view bad_d = fp4_view_make(d, FP4_DTYPE_F32, 5, 4, FP4_HOST);
    fp4_view bad_c = fp4_view_make(c, FP4_DTYPE_F32, 4, 6, FP4_HOST);
    FP4T_ASSERT_OK(fp4_gemm(NULL, &a, &b, 1.0f, NULL, 0.0f, &dv, FP4_ALPHA_SDEC));
    expect_fail(fp4_gemm(NULL, &a, &bm, 1.0f, NULL, 0.0f, &dv, FP4_ALPHA_SDEC), FP4_ERR_INVALID_ARG, "mxfp4");
    expect_fail(fp4_gemm(NULL, &a, &bk, 1.0f, NULL, 0.0f, &dv, FP4_ALPHA_SDEC), FP4_ERR_SHAPE, "K mismatch");
    expect_fail(fp4_gemm(NULL, &a, &b, 1.0f, NULL, 0.0f, &bad_d, FP4_ALPHA_SDEC), FP4_ERR_SHAPE, "[5, 4]");
    expect_fail(fp4_gemm(NULL, &a, &b, 1.0f, &bad_c, 1.0f, &dv, FP4_ALPHA_SDEC), FP4_ERR_SHAPE, "[4, 6]");
    expect_fail(fp4_gemm(NULL, &a, &b, 1.0f, NULL, 1.0f, &dv, FP4_ALPHA_SDEC), FP4_ERR_INVALID_ARG, "C");
    expect_fail(fp4_gemm(NULL, NULL, &b, 1.0f, NULL, 0.0f, &dv, FP4_ALPHA_SDEC), FP4_ERR_INVALID_ARG, NULL);
    expect_fail(fp4_gemm(NULL, &a, &b, 1.0f, NULL, 0.0f, &dv, (fp4_alpha_mode)7), FP4_ERR_INVALID_ARG, "alpha");
    fp4_view d16 = fp4_view_make(d, FP4_DTYPE_F16, 4, 5, FP4_HOST);
    expect_fail(fp4_gemm(NULL, &a, &b, 1.0f, NULL, 0.0f, &d16, FP4_ALPHA_SDEC), FP4_ERR_DTYPE, NULL);
    fp4_qtensor_free(&a);
    fp4_qtensor_free(&b);
    fp4_qtensor_free(&bk);
    fp4_qtensor_free(&bm);
}

static CU_TestInfo gemm_tests[] = {
    {"NVFP4 vs FP64 of dequantized operands (incl. M=1, K=16*odd)", test_vs_fp64_nvfp4},
    {"MXFP4 vs FP64 of dequantized operands (incl. K=32*odd)", test_vs_fp64_mxfp4},
    {"alpha, beta, C, aliasing", test_alpha_beta},
    {"BF16 output and BF16 C, ld honoured", test_bf16_output},
    {"alpha modes SDEC vs AMAX", test_alpha_modes},
    {"mismatched shapes/formats rejected", test_rejects},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gemm", NULL, NULL, NULL, NULL, gemm_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
