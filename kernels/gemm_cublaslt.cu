/* kernels/gemm_cublaslt.cu — cuBLASLt BF16 GEMM (fp4_gemm_bf16 on the device) and the two-pass
 * FP4 baseline (FP4_GEMM_ALGO_TWO_PASS).
 *
 * Layout: fp4kit's TN product D[M,N] = A[M,K] · B[N,K]ᵀ, all row-major, is cuBLASLt's column-major
 * Dᵀ[N,M] = op(B)·op(A) with transa = T on B (K x N, ld = ldb) and transb = N on A (K x M,
 * ld = lda): the "TN" layout every Hopper tensor-core kernel (and FP8) supports.
 *
 * The cuBLASLt call itself (handle, plan cache, split-K rule, workspace) is fp4_lt_matmul
 * (kernels/cublaslt.h), shared with the model ops and the linear layer.
 *
 * Two-pass: decode_bf16_kernel1 writes each FP4 operand as BF16 e2m1 · block scale (exact) into
 * the workspace [rows, K]; alpha_kernel1 writes alpha * alpha_t (alpha_t from tscale_dev, no host
 * round trip) and beta to two device floats; cuBLASLt then runs in device pointer mode. Needs
 * C of D's dtype (cuBLASLt), else FP4_ERR_DTYPE.
 */
#include <string.h>

#include <algorithm>

#include "cublaslt.h"
#include "gemm_common.cuh"
#include "gemm_internal.h"

#define LT_WORKSPACE FP4_LT_WORKSPACE

/* D = alpha * A·Bᵀ + beta * C with A [M,K] (lda), B [N,K] (ldb) BF16 device pointers, through
 * fp4_lt_matmul: our row-major TN product is cuBLASLt's column-major Dᵀ[N,M] = op(B)·op(A) with
 * transa = T on B (K x N, ld ldb) and transb = N on A (K x M, ld lda). dev_ab: device {alpha, beta}
 * (then alpha and beta are ignored). ws: cuBLASLt's workspace (LT_WORKSPACE bytes). */
static fp4_status lt_bf16_gemm(fp4_context *ctx, const void *A, int64_t lda, const void *B, int64_t ldb, int64_t M,
                               int64_t N, int64_t K, const fp4_view *c, fp4_view *d, float alpha, float beta,
                               const float *dev_ab, void *ws) {
    fp4_lt_args g;
    memset(&g, 0, sizeof g);
    g.ta = 1, g.tb = 0, g.m = N, g.n = M, g.k = K;
    g.A = B, g.lda = ldb, g.B = A, g.ldb = lda;
    g.C = c ? c->data : NULL, g.ldc = c ? c->ld : 0;
    g.D = d->data, g.ldd = d->ld, g.batch = 1;
    g.alpha = alpha, g.beta = beta, g.dev_alpha_beta = dev_ab;
    g.ab_dtype = FP4_DTYPE_BF16, g.d_dtype = d->dtype, g.ws = ws;
    return fp4_lt_matmul(ctx, &g);
}

extern "C" fp4_status fp4_gemm_bf16_cuda(fp4_context *ctx, const fp4_view *a, const fp4_view *b, float alpha,
                                         const fp4_view *c, float beta, fp4_view *d) {
    if (c && c->dtype != d->dtype)
        return fp4_fail(FP4_ERR_DTYPE, "fp4_gemm_bf16: C must have D's dtype on the device (cuBLASLt)");
    return lt_bf16_gemm(ctx, a->data, a->ld, b->data, b->ld, a->rows, b->rows, a->cols, c, d, alpha,
                        c ? beta : 0.0f, NULL, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* two-pass baseline                                                                          */

/* FP4 [rows, K] → BF16 [rows, K] (ld K): each thread decodes 4 packed bytes (8 codes). */
template <bool NV>
__global__ void decode_bf16_kernel1(const uint8_t *data, const uint8_t *scales, int64_t rows, int64_t K,
                                    uint16_t *out) {
    const int64_t words = rows * K / 8; /* K % 16 == 0: whole 4-byte words per row */
    const int bw = NV ? 16 : 32;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < words; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t e = 8 * i, r = e / K, k = e % K;
        const uint8_t *p = data + e / 2;
        const uint32_t w = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
        const uint32_t sc = scale_bf16x2<NV>(scales[r * (K / bw) + k / bw]);
        uint32_t o[4];
        e2m1x8_biased(w, o);
        uint32_t *dst = (uint32_t *)(out + e);
#pragma unroll
        for (int j = 0; j < 4; j++) dst[j] = bf16x2_scale(o[j], sc);
    }
}

/* Same with whole-word accesses: 8 codes per thread and iteration, one 4-byte load and one
 * 16-byte store (coalesced: a warp reads 128 contiguous bytes and writes 512). Needs 4-byte
 * aligned data and a 16-byte aligned output (K % 16 == 0 holds for every FP4 tensor). */
template <bool NV>
__global__ void decode_bf16_vec_kernel1(const uint8_t *data, const uint8_t *scales, int64_t rows, int64_t K,
                                        uint16_t *out) {
    const int64_t words = rows * K / 8;
    const int bw = NV ? 16 : 32;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < words; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t e = 8 * i, r = e / K, k = e - r * K;
        const uint32_t w = __ldg((const uint32_t *)data + i);
        const uint32_t sc = scale_bf16x2<NV>(__ldg(scales + r * (K / bw) + k / bw));
        uint32_t o[4];
        e2m1x8_biased(w, o);
        *(uint4 *)(out + e) = make_uint4(bf16x2_scale(o[0], sc), bf16x2_scale(o[1], sc), bf16x2_scale(o[2], sc),
                                         bf16x2_scale(o[3], sc));
    }
}

__global__ void alpha_kernel1(fp4_epilogue epi, float *out) {
    out[0] = __fmul_rn(epi.alpha, epi_alpha_t(epi));
    out[1] = epi.beta;
}

static fp4_status decode_operand(fp4_context *ctx, const gemm_operand &op, int64_t K, uint16_t *out) {
    const int64_t words = op.rows * K / 8;
    const unsigned blocks = (unsigned)((words + 255) / 256 < 8LL * gemm_sm_count() ? (words + 255) / 256 : 8LL * gemm_sm_count());
    cudaStream_t s = (cudaStream_t)fp4_context_stream(ctx);
    if ((uintptr_t)op.data % 4 == 0 && (uintptr_t)out % 16 == 0) {
        const unsigned vb = (unsigned)std::min<int64_t>((words + 255) / 256, 16LL * gemm_sm_count());
        if (op.nv) decode_bf16_vec_kernel1<true><<<vb, 256, 0, s>>>((const uint8_t *)op.data, op.scales, op.rows, K, out);
        else decode_bf16_vec_kernel1<false><<<vb, 256, 0, s>>>((const uint8_t *)op.data, op.scales, op.rows, K, out);
        FP4_LAUNCH_CHECK("decode_bf16_vec_kernel1");
        return FP4_OK;
    }
    if (op.nv) decode_bf16_kernel1<true><<<blocks, 256, 0, s>>>((const uint8_t *)op.data, op.scales, op.rows, K, out);
    else decode_bf16_kernel1<false><<<blocks, 256, 0, s>>>((const uint8_t *)op.data, op.scales, op.rows, K, out);
    FP4_LAUNCH_CHECK("decode_bf16_kernel1");
    return FP4_OK;
}

fp4_status gemm_two_pass(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                         const fp4_epilogue &epi, const fp4_view *c, fp4_view *d) {
    if (c && c->dtype != d->dtype)
        return fp4_fail(FP4_ERR_DTYPE, "two-pass GEMM: C must have D's dtype (cuBLASLt); C is %s, D is %s",
                        fp4_dtype_name(c->dtype), fp4_dtype_name(d->dtype));
    const size_t ab = a.fp4 ? (((size_t)a.rows * (size_t)K * 2 + 255) & ~(size_t)255) : 0;
    const size_t bb = ((size_t)b.rows * (size_t)K * 2 + 255) & ~(size_t)255;
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, LT_WORKSPACE + 256 + ab + bb, &ws));
    uint8_t *base = (uint8_t *)ws;
    void *lt_ws = base;
    float *scal = (float *)(base + LT_WORKSPACE);
    uint16_t *da = (uint16_t *)(base + LT_WORKSPACE + 256);
    uint16_t *db = (uint16_t *)(base + LT_WORKSPACE + 256 + ab);
    if (a.fp4) FP4_TRY(decode_operand(ctx, a, K, da));
    FP4_TRY(decode_operand(ctx, b, K, db));
    alpha_kernel1<<<1, 1, 0, (cudaStream_t)fp4_context_stream(ctx)>>>(epi, scal);
    FP4_LAUNCH_CHECK("alpha_kernel1");
    const void *A = a.fp4 ? (const void *)da : a.data;
    const int64_t lda = a.fp4 ? K : a.ld;
    return lt_bf16_gemm(ctx, A, lda, db, K, a.rows, b.rows, K, c, d, 0.0f, 0.0f, scal, lt_ws);
}
