/* qat/lt_matmul.h — private to qat/: one cuBLASLt matmul with cuBLAS's column-major conventions,
 * transposes and strided batches, for the model ops (attention's batched GEMMs) and the linear
 * layer's BF16 GEMMs (TN fprop, NN dgrad, NT wgrad without materialized transposes).
 *
 *   D[m, n] = alpha * op(A)[m, k] · op(B)[k, n] + beta * C[m, n]   (column-major, C == D in place)
 *   op(X) = X (t = 0, stored [rows, cols] = [m, k] / [k, n], leading dimension ld) or Xᵀ (t = 1,
 *   stored [k, m] / [n, k]). A row-major [r, c] matrix with row stride l is a column-major
 *   [c, r] matrix with leading dimension l, so a row-major product Y = X·Wᵀ is the column-major
 *   Yᵀ = W·Xᵀ: m = OC, n = rows of X, A = W with t = 1, B = X with t = 0.
 * A and B share a dtype (F32 or BF16); D (and C, when beta != 0) is F32 or BF16. FP32 accumulation
 * (CUBLAS_COMPUTE_32F: true FP32 for F32 operands, no TF32), alpha/beta FP32. `batch` matrices at
 * strides sa, sb, sd elements (batch 1: strides ignored).
 * One cuBLASLt handle per device (created on first use, kept for the process); plans (descriptor,
 * layouts, heuristic algorithm) are cached by shape, strides, dtypes and pointer alignment behind a
 * mutex; 32 MiB of the context workspace is cuBLASLt's. Queued on fp4_context_stream(ctx).
 */
#ifndef FP4KIT_QAT_LT_MATMUL_H
#define FP4KIT_QAT_LT_MATMUL_H

#include <stdint.h>

#include "fp4kit/context.h"
#include "fp4kit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fp4_lt_args {
    int ta, tb;
    int64_t m, n, k;
    const void *A;
    int64_t lda, sa;
    const void *B;
    int64_t ldb, sb;
    void *D; /* also C when beta != 0 */
    int64_t ldd, sd;
    int batch;
    float alpha, beta;
    fp4_dtype ab_dtype; /* F32 or BF16 */
    fp4_dtype d_dtype;  /* F32 or BF16 */
} fp4_lt_args;

#ifdef FP4KIT_HAVE_CUDA
fp4_status fp4_lt_matmul(fp4_context *ctx, const fp4_lt_args *g);
#endif

#ifdef __cplusplus
}
#endif
#endif
