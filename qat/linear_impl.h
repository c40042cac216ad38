/* qat/linear_impl.h — private to qat/: the high-precision primitives of the linear layer, each
 * with a host version (qat/matmul_ref.c, OpenMP) and a device version (qat/linear.cu), selected by
 * qat/linear.c from the layer's location. Arguments are validated by the caller; device versions
 * queue work on fp4_context_stream(ctx).
 *
 * Exact fp32 operation order, identical on both sides (so CPU and GPU agree bit for bit where the
 * inputs agree; tests rely on it):
 *   gemm_tn:  acc = 0; for k = 0..K-1: acc = acc + A[m,k]*B[n,k]   (product rounded, then the sum;
 *             never an FMA); out = acc; if bias: out = out + bias[n]; if accumulate: out = out + D[m,n];
 *             D[m,n] = out.
 *   convert:  dst(j,i) or dst(i,j) = src(i,j) read as fp32 (F32 or BF16), RNE-rounded to BF16 when
 *             round_bf16 is set or dst is BF16.
 *   colsum:   s = 0; for r = 0..R-1: s = s + src[r,c]; db[c] = db[c] + s.
 *   bias_add: y[m,n] = y[m,n] + bias[n].
 * The device colsum and bias_add also take BF16 src / y (read as fp32; y rounded back to BF16).
 * The device BF16 GEMMs of the layer (TN fprop, NN dgrad, NT wgrad on cuBLASLt, no transposed
 * copies) go through fp4_lt_matmul (kernels/cublaslt.h).
 */
#ifndef FP4KIT_QAT_LINEAR_IMPL_H
#define FP4KIT_QAT_LINEAR_IMPL_H

#include <stdint.h>

#include "fp4kit/context.h"
#include "fp4kit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* D [M, N] (ldd) from A [M, K] (lda) and B [N, K] (ldb), all FP32. bias [N] or NULL. */
fp4_status fp4_lin_gemm_tn_ref(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                               int64_t ldb, float *D, int64_t ldd, const float *bias, int accumulate);
/* src [R, C] (lds, F32 or BF16) -> dst [R, C] or, with transpose, [C, R] (ldd, F32 or BF16). */
fp4_status fp4_lin_convert_ref(int64_t R, int64_t C, const void *src, fp4_dtype sdt, int64_t lds, void *dst,
                               fp4_dtype ddt, int64_t ldd, int transpose, int round_bf16);
fp4_status fp4_lin_colsum_ref(int64_t R, int64_t C, const float *src, int64_t lds, float *db);
fp4_status fp4_lin_bias_add_ref(int64_t M, int64_t N, float *y, int64_t ldy, const float *bias);

#ifdef FP4KIT_HAVE_CUDA
fp4_status fp4_lin_gemm_tn_cuda(fp4_context *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                const float *B, int64_t ldb, float *D, int64_t ldd, const float *bias, int accumulate);
fp4_status fp4_lin_convert_cuda(fp4_context *ctx, int64_t R, int64_t C, const void *src, fp4_dtype sdt, int64_t lds,
                                void *dst, fp4_dtype ddt, int64_t ldd, int transpose, int round_bf16);
/* Side stream of a device layer (fp4_linear.side): a context on the current device with its own
 * stream and workspace; events created on first use (timing disabled), recorded on ctx's stream,
 * waited on by another context's stream. */
fp4_status fp4_lin_side_create(fp4_context **side);
fp4_status fp4_lin_event_record(fp4_context *ctx, void **ev);
fp4_status fp4_lin_event_wait(fp4_context *ctx, void *ev);
void fp4_lin_event_destroy(void *ev);
fp4_status fp4_lin_colsum_cuda(fp4_context *ctx, int64_t R, int64_t C, const void *src, fp4_dtype sdt, int64_t lds,
                               float *db);
fp4_status fp4_lin_bias_add_cuda(fp4_context *ctx, int64_t M, int64_t N, void *y, fp4_dtype ydt, int64_t ldy,
                                 const float *bias);
#endif

#ifdef __cplusplus
}
#endif
#endif
