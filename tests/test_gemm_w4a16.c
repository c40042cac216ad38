/* tests/test_gemm_w4a16.c — CPU tests of the W4A16 and BF16 GEMM references (lib/gemm_w4a16_ref.c)
 * and of the argument checks in lib/gemm.c.
 *
 * Operands are built directly (random E2M1 codes, random valid scale bytes, random BF16
 * activations), so the test does not depend on the quantizer. The oracle is an FP64 GEMM of the
 * dequantized operands: relative Frobenius error of the F32 output <= 1e-6; the BF16 output
 * must be exactly the RNE rounding of the F32 output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/fp4kit.h"
#include "fp4kit/formats_inline.h"
#include "fp4kit/gemm.h"
#include "harness.h"

/* Random host quantized tensor [rows, cols] with every byte filled (codes, valid scales). */
static void fill_q(fp4t_rng *r, fp4_qtensor *q) {
    const size_t db = fp4_qtensor_data_bytes(q), sb = fp4_qtensor_scale_bytes(q);
    for (size_t i = 0; i < db; i++) q->data[i] = (uint8_t)fp4t_rng_u64(r);
    const int nv = q->cfg.format == FP4_FORMAT_NVFP4;
    for (size_t i = 0; i < sb; i++)
        q->scales[i] = nv ? (uint8_t)(0x08 + fp4t_rng_u64(r) % 0x70) /* E4M3 in [2^-6, 240], no NaN */
                          : (uint8_t)(120 + fp4t_rng_u64(r) % 15); /* 2^-7 .. 2^7 */
    q->amax = 3.5f;
    q->s_enc = nv ? 2688.0f / 3.5f : 1.0f;
    q->s_dec = nv ? 1.0f / q->s_enc : 1.0f;
}

static double q_value(const fp4_qtensor *q, int64_t r, int64_t c) {
    const uint8_t byte = q->data[r * (q->cols / 2) + c / 2];
    const uint8_t code = (uint8_t)((c & 1) ? byte >> 4 : byte & 0xf);
    const int bw = fp4_block_cols(q->cfg.block);
    const uint8_t s = q->scales[r * (q->cols / bw) + c / bw];
    const double sv = q->cfg.format == FP4_FORMAT_NVFP4 ? (double)fp4_e4m3_decode(s) : ldexp(1.0, (int)s - 127);
    return (double)fp4_e2m1_decode(code) * sv;
}

static void fill_bf16(fp4t_rng *r, uint16_t *p, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) p[i] = fp4_f32_to_bf16((float)(fp4t_rng_normal(r) * scale));
}

static double rel_frob(const float *got, const double *want, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = (double)got[i] - want[i];
        num += e * e;
        den += want[i] * want[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static void run_w4a16(fp4_config cfg, int64_t M, int64_t N, int64_t K, float alpha, float beta, uint64_t seed) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    fp4_qtensor w;
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&w, N, K, &cfg, FP4_HOST));
    fill_q(&r, &w);
    const int64_t ldx = K + 3;
    uint16_t *x = malloc(sizeof(uint16_t) * (size_t)(M * ldx));
    float *cm = malloc(sizeof(float) * (size_t)(M * N)), *d = malloc(sizeof(float) * (size_t)(M * N));
    uint16_t *db = malloc(sizeof(uint16_t) * (size_t)(M * N));
    double *want = malloc(sizeof(double) * (size_t)(M * N));
    fill_bf16(&r, x, (size_t)(M * ldx), 1.0);
    for (int64_t i = 0; i < M * N; i++) cm[i] = (float)fp4t_rng_normal(&r);
    const double tw = cfg.format == FP4_FORMAT_NVFP4 ? (double)w.s_dec : 1.0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)fp4_bf16_to_f32(x[m * ldx + k]) * q_value(&w, n, k);
            want[m * N + n] = (double)alpha * tw * s + (double)beta * cm[m * N + n];
        }
    fp4_view xv = {x, FP4_DTYPE_BF16, M, K, ldx, FP4_HOST};
    fp4_view cv = fp4_view_make(cm, FP4_DTYPE_F32, M, N, FP4_HOST);
    fp4_view dv = fp4_view_make(d, FP4_DTYPE_F32, M, N, FP4_HOST);
    fp4_view dbv = fp4_view_make(db, FP4_DTYPE_BF16, M, N, FP4_HOST);
    FP4T_ASSERT_OK(fp4_gemm_w4a16(NULL, &xv, &w, alpha, beta != 0 ? &cv : NULL, beta, &dv));
    const double err = rel_frob(d, want, (size_t)(M * N));
    if (!(err <= 1e-6)) printf("\n    w4a16 %s M=%lld N=%lld K=%lld: rel err %.3g\n", fp4_format_name(cfg.format),
                               (long long)M, (long long)N, (long long)K, err);
    CU_ASSERT(err <= 1e-6);
    FP4T_ASSERT_OK(fp4_gemm_w4a16(NULL, &xv, &w, alpha, beta != 0 ? &cv : NULL, beta, &dbv));
    int same = 1;
    for (int64_t i = 0; i < M * N; i++) same &= db[i] == fp4_f32_to_bf16(d[i]);
    CU_ASSERT(same);
    /* The two-pass / fused choice does not change the host result. */
    FP4T_ASSERT_OK(fp4_gemm_w4a16_ex(NULL, &xv, &w, alpha, beta != 0 ? &cv : NULL, beta, &dbv, FP4_GEMM_ALGO_TWO_PASS));
    fp4_qtensor_free(&w);
    free(x), free(cm), free(d), free(db), free(want);
}

static void test_w4a16_nvfp4(void) {
    run_w4a16(fp4_config_nvfp4(), 1, 37, 16 * 9, 1.0f, 0.0f, 1);
    run_w4a16(fp4_config_nvfp4(), 19, 45, 16 * 13, 0.75f, -0.5f, 2);
    fp4_config c16 = fp4_config_nvfp4();
    c16.block = FP4_BLOCK_16x16;
    run_w4a16(c16, 5, 32, 64, 2.0f, 1.0f, 3);
}

static void test_w4a16_mxfp4(void) {
    run_w4a16(fp4_config_mxfp4(), 1, 29, 32 * 7, 1.0f, 0.0f, 4);
    run_w4a16(fp4_config_mxfp4(), 17, 40, 32 * 5, -1.25f, 0.5f, 5);
}

static void test_bf16_ref(void) {
    fp4t_rng r;
    fp4t_rng_seed(&r, 7);
    const int64_t M = 13, N = 21, K = 77, lda = 80, ldb = 77;
    uint16_t *a = malloc(2 * (size_t)(M * lda)), *b = malloc(2 * (size_t)(N * ldb)), *cb = malloc(2 * (size_t)(M * N));
    float *d = malloc(4 * (size_t)(M * N));
    double *want = malloc(8 * (size_t)(M * N));
    fill_bf16(&r, a, (size_t)(M * lda), 1.0);
    fill_bf16(&r, b, (size_t)(N * ldb), 0.5);
    fill_bf16(&r, cb, (size_t)(M * N), 1.0);
    const float alpha = 1.5f, beta = -2.0f;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (double)fp4_bf16_to_f32(a[m * lda + k]) * (double)fp4_bf16_to_f32(b[n * ldb + k]);
            want[m * N + n] = alpha * s + beta * (double)fp4_bf16_to_f32(cb[m * N + n]);
        }
    fp4_view av = {a, FP4_DTYPE_BF16, M, K, lda, FP4_HOST}, bv = {b, FP4_DTYPE_BF16, N, K, ldb, FP4_HOST};
    fp4_view cv = fp4_view_make(cb, FP4_DTYPE_BF16, M, N, FP4_HOST), dv = fp4_view_make(d, FP4_DTYPE_F32, M, N, FP4_HOST);
    FP4T_ASSERT_OK(fp4_gemm_bf16(NULL, &av, &bv, alpha, &cv, beta, &dv));
    const double err = rel_frob(d, want, (size_t)(M * N));
    CU_ASSERT(err <= 1e-6);
    free(a), free(b), free(cb), free(d), free(want);
}

static void test_argument_checks(void) {
    fp4_config cfg = fp4_config_nvfp4();
    fp4_qtensor w;
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&w, 8, 64, &cfg, FP4_HOST));
    fp4t_rng r;
    fp4t_rng_seed(&r, 9);
    fill_q(&r, &w);
    uint16_t x[4 * 64] = {0};
    float d[4 * 8];
    fp4_view xv = fp4_view_make(x, FP4_DTYPE_BF16, 4, 64, FP4_HOST), dv = fp4_view_make(d, FP4_DTYPE_F32, 4, 8, FP4_HOST);
    /* K not a multiple of the block: rejected with a message naming K and the block. */
    fp4_qtensor bad = w;
    bad.cols = 40;
    fp4_view xb = fp4_view_make(x, FP4_DTYPE_BF16, 4, 40, FP4_HOST);
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(NULL, &xb, &bad, 1, NULL, 0, &dv), FP4_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "K = 40"));
    CU_ASSERT_EQUAL(fp4_gemm_ex(NULL, &bad, &bad, 1, NULL, 0, &dv, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_AUTO), FP4_ERR_SHAPE);
    /* K mismatch, wrong D shape, F32 activations, missing C with beta != 0, bad algo. */
    fp4_view x48 = fp4_view_make(x, FP4_DTYPE_BF16, 4, 48, FP4_HOST);
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(NULL, &x48, &w, 1, NULL, 0, &dv), FP4_ERR_SHAPE);
    fp4_view d2 = fp4_view_make(d, FP4_DTYPE_F32, 4, 7, FP4_HOST);
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(NULL, &xv, &w, 1, NULL, 0, &d2), FP4_ERR_SHAPE);
    fp4_view xf = fp4_view_make(d, FP4_DTYPE_F32, 2, 64, FP4_HOST);
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(NULL, &xf, &w, 1, NULL, 0, &dv), FP4_ERR_DTYPE);
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(NULL, &xv, &w, 1, NULL, 0.5f, &dv), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_gemm_w4a16_ex(NULL, &xv, &w, 1, NULL, 0, &dv, (fp4_gemm_algo)7), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(NULL, &xv, NULL, 1, NULL, 0, &dv), FP4_ERR_INVALID_ARG);
    /* Host/device mixing and device tensors without a CUDA context. */
    fp4_view dd = dv;
    dd.loc = FP4_DEVICE;
    CU_ASSERT_EQUAL(fp4_gemm_w4a16(NULL, &xv, &w, 1, NULL, 0, &dd), FP4_ERR_INVALID_ARG);
    fp4_view bf = fp4_view_make(x, FP4_DTYPE_BF16, 4, 64, FP4_HOST);
    fp4_view bw8 = fp4_view_make(x, FP4_DTYPE_BF16, 8, 32, FP4_HOST);
    CU_ASSERT_EQUAL(fp4_gemm_bf16(NULL, &bf, &bw8, 1, NULL, 0, &dv), FP4_ERR_SHAPE);
    /* A valid call succeeds. */
    FP4T_ASSERT_OK(fp4_gemm_w4a16(NULL, &xv, &w, 1, NULL, 0, &dv));
    fp4_qtensor_free(&w);
}

static CU_TestInfo w4a16_tests[] = {
    {"W4A16 NVFP4 reference vs FP64 (1x16, 16x16, beta)", test_w4a16_nvfp4},
    {"W4A16 MXFP4 reference vs FP64", test_w4a16_mxfp4},
    {"BF16 GEMM reference vs FP64", test_bf16_ref},
    {"argument checks", test_argument_checks},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gemm_w4a16_ref", NULL, NULL, NULL, NULL, w4a16_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
