/* kernels/cublaslt.h — private to the library: the one cuBLASLt matmul wrapper (handle and plan
 * cache) behind fp4_gemm_bf16 and the two-pass FP4 baseline (kernels/gemm_cublaslt.cu), the model
 * ops' batched attention GEMMs (qat/ops_attention.cu) and the linear layer's BF16 GEMMs (TN fprop,
 * NN dgrad, NT wgrad without materialized transposes; qat/linear.c). cuBLAS's column-major
 * conventions, transposes and strided batches:
 *
 *   D[m, n] = alpha * op(A)[m, k] · op(B)[k, n] + beta * C[m, n]   (column-major; C NULL: C = D)
 *   op(X) = X (t = 0, stored [rows, cols] = [m, k] / [k, n], leading dimension ld) or Xᵀ (t = 1,
 *   stored [k, m] / [n, k]). A row-major [r, c] matrix with row stride l is a column-major
 *   [c, r] matrix with leading dimension l, so a row-major product Y = X·Wᵀ is the column-major
 *   Yᵀ = W·Xᵀ: m = OC, n = rows of X, A = W with t = 1, B = X with t = 0.
 * A and B share a dtype (F32 or BF16); C and D are F32 or BF16 (the same dtype: cuBLASLt's rule).
 * FP32 accumulation (CUBLAS_COMPUTE_32F: true FP32 for F32 operands, no TF32), alpha/beta FP32:
 * host values, or (dev_alpha_beta != NULL) read from the device floats dev_alpha_beta[0..1] when the
 * GEMM runs (no host round trip). `batch` matrices at strides sa, sb, sc, sd elements (batch 1:
 * strides ignored). Split-K only with an FP32 reduction (the accumulation contract).
 * One cuBLASLt handle per device (created on first use, kept for the process); plans (descriptor,
 * layouts, heuristic algorithm) are cached by shape, strides, dtypes, pointer mode and pointer
 * alignment behind a mutex. cuBLASLt's workspace: FP4_LT_WORKSPACE bytes at `ws`, or (ws NULL) at
 * the start of the context workspace. Queued on fp4_context_stream(ctx).
 */
#ifndef FP4KIT_CUBLASLT_H
#define FP4KIT_CUBLASLT_H

#include <stdint.h>

#include "fp4kit/context.h"
#include "fp4kit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FP4_LT_WORKSPACE ((size_t)32 << 20)

typedef struct fp4_lt_args { /* members after alpha may be left out of a positional initializer */
    int ta, tb;
    int64_t m, n, k;
    const void *A;
    int64_t lda, sa;
    const void *B;
    int64_t ldb, sb;
    void *D;
    int64_t ldd, sd;
    int batch;
    float alpha, beta;
    const void *C; /* NULL: C = D (read only when beta != 0) */
    int64_t ldc, sc;
    const float *dev_alpha_beta; /* non-NULL: alpha, beta are these two device floats */
    fp4_dtype ab_dtype;          /* F32 or BF16 */
    fp4_dtype d_dtype;           /* F32 or BF16 (C too) */
    void *ws;                    /* FP4_LT_WORKSPACE bytes of device memory, or NULL (context) */
} fp4_lt_args;

#ifdef FP4KIT_HAVE_CUDA
fp4_status fp4_lt_matmul(fp4_context *ctx, const fp4_lt_args *g);
#endif

#ifdef __cplusplus
}
#endif
#endif
