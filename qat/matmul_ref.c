/* qat/matmul_ref.c — host versions of the linear layer's high-precision primitives (plain FP32
 * GEMM TN, dtype conversion / transpose, column sums, bias add); the exact operation order is
 * written in qat/linear_impl.h and the device versions in qat/linear.cu follow it.
 *
 * gemm_tn: D [M, N] = A [M, K] · B [N, K]ᵀ (+ bias [N]) (+ D). Both operands K-major, so each
 * output is one dot product of two contiguous rows; OpenMP over rows of D, each output computed by
 * one thread with k ascending, so the result does not depend on the thread count. The host is
 * compiled with -ffp-contract=off: products and sums are rounded separately, as on the device.
 */
#include <stdint.h>

#include "fp4kit/formats_inline.h"
#include "linear_impl.h"

fp4_status fp4_lin_gemm_tn_ref(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                               int64_t ldb, float *D, int64_t ldd, const float *bias, int accumulate) {
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; m++) {
        const float *a = A + m * lda;
        for (int64_t n = 0; n < N; n++) {
            const float *b = B + n * ldb;
            float acc = 0.0f;
            for (int64_t k = 0; k < K; k++) acc = acc + a[k] * b[k];
            float out = acc;
            if (bias) out = out + bias[n];
            if (accumulate) out = out + D[m * ldd + n];
            D[m * ldd + n] = out;
        }
    }
    return FP4_OK;
}

static inline float load_f(const void *src, fp4_dtype dt, int64_t i) {
    return dt == FP4_DTYPE_BF16 ? fp4_bf16_to_f32(((const uint16_t *)src)[i]) : ((const float *)src)[i];
}

fp4_status fp4_lin_convert_ref(int64_t R, int64_t C, const void *src, fp4_dtype sdt, int64_t lds, void *dst,
                               fp4_dtype ddt, int64_t ldd, int transpose, int round_bf16) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) {
        for (int64_t c = 0; c < C; c++) {
            const float v = load_f(src, sdt, r * lds + c);
            const int64_t o = transpose ? c * ldd + r : r * ldd + c;
            if (ddt == FP4_DTYPE_BF16) ((uint16_t *)dst)[o] = fp4_f32_to_bf16(v);
            else ((float *)dst)[o] = round_bf16 ? fp4_bf16_to_f32(fp4_f32_to_bf16(v)) : v;
        }
    }
    return FP4_OK;
}

fp4_status fp4_lin_colsum_ref(int64_t R, int64_t C, const float *src, int64_t lds, float *db) {
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        float s = 0.0f;
        for (int64_t r = 0; r < R; r++) s = s + src[r * lds + c];
        db[c] = db[c] + s;
    }
    return FP4_OK;
}

fp4_status fp4_lin_bias_add_ref(int64_t M, int64_t N, float *y, int64_t ldy, const float *bias) {
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) y[m * ldy + n] = y[m * ldy + n] + bias[n];
    return FP4_OK;
}
