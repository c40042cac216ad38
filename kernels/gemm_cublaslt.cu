/* kernels/gemm_cublaslt.cu — cuBLASLt BF16 GEMM (fp4_gemm_bf16 on the device) and the two-pass
 * FP4 baseline (FP4_GEMM_ALGO_TWO_PASS).
 *
 * Layout: fp4kit's TN product D[M,N] = A[M,K] · B[N,K]ᵀ, all row-major, is cuBLASLt's column-major
 * Dᵀ[N,M] = op(B)·op(A) with transa = T on B (K x N, ld = ldb) and transb = N on A (K x M,
 * ld = lda): the "TN" layout every Hopper tensor-core kernel (and FP8) supports.
 *
 * Handle: one cublasLtHandle_t per device, created on first use and kept for the process (a
 * mutex guards creation). Plans (matmul descriptor, four layouts, the heuristic's first
 * algorithm) are cached by shape, strides, dtypes, pointer mode and pointer alignments, so a
 * repeated call costs one cublasLtMatmul. Workspace: 32 MiB of the context's workspace.
 *
 * Two-pass: decode_bf16_kernel1 writes each FP4 operand as BF16 e2m1 · block scale (exact) into
 * the workspace [rows, K]; alpha_kernel1 writes alpha * alpha_t (alpha_t from tscale_dev, no host
 * round trip) and beta to two device floats; cuBLASLt then runs in device pointer mode. Needs
 * C of D's dtype (cuBLASLt), else FP4_ERR_DTYPE.
 */
#include <cublasLt.h>
#include <pthread.h>
#include <string.h>

#include <algorithm>

#include "gemm_common.cuh"
#include "gemm_internal.h"

#define LT_WORKSPACE ((size_t)32 << 20)

#define LT_TRY(call)                                                                           \
    do {                                                                                       \
        cublasStatus_t lt_st_ = (call);                                                        \
        if (lt_st_ != CUBLAS_STATUS_SUCCESS)                                                   \
            return fp4_fail(FP4_ERR_CUBLAS, "%s:%d: %s failed: %s", __FILE__, __LINE__, #call,   \
                            cublasLtGetStatusName(lt_st_));                                    \
    } while (0)

static pthread_mutex_t lt_mutex = PTHREAD_MUTEX_INITIALIZER;
static cublasLtHandle_t lt_handles[64];

static fp4_status lt_handle(cublasLtHandle_t *out) {
    int dev = 0;
    FP4_CUDA_TRY(cudaGetDevice(&dev));
    if (dev < 0 || dev >= 64) return fp4_fail(FP4_ERR_UNSUPPORTED, "cuBLASLt: device index %d out of range", dev);
    pthread_mutex_lock(&lt_mutex);
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    if (!lt_handles[dev]) st = cublasLtCreate(&lt_handles[dev]);
    *out = lt_handles[dev];
    pthread_mutex_unlock(&lt_mutex);
    if (st != CUBLAS_STATUS_SUCCESS)
        return fp4_fail(FP4_ERR_CUBLAS, "cublasLtCreate failed: %s", cublasLtGetStatusName(st));
    return FP4_OK;
}

struct lt_key {
    int64_t m, n, k, lda, ldb, ldc, ldd;
    int dtype_d, has_c, device_ptr, align_a, align_b, align_c, align_d, dev;
};
struct lt_plan {
    lt_key key;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc, ld;
    cublasLtMatmulAlgo_t algo;
    int valid;
};
#define LT_CACHE 32
static lt_plan lt_cache[LT_CACHE];
static int lt_next;

static int ptr_align(const void *p) {
    const uintptr_t u = (uintptr_t)p;
    return (u % 16 == 0) ? 16 : (u % 8 == 0) ? 8 : (u % 4 == 0) ? 4 : 2;
}

static void lt_plan_destroy(lt_plan *p) {
    if (p->op) cublasLtMatmulDescDestroy(p->op);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
    if (p->ld) cublasLtMatrixLayoutDestroy(p->ld);
    memset(p, 0, sizeof *p);
}

static fp4_status lt_plan_build(cublasLtHandle_t h, const lt_key &k, lt_plan *p) {
    memset(p, 0, sizeof *p);
    p->key = k;
    const cudaDataType_t td = k.dtype_d ? CUDA_R_16BF : CUDA_R_32F;
    LT_TRY(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t tA = CUBLAS_OP_T, tB = CUBLAS_OP_N;
    LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &tA, sizeof tA));
    LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tB, sizeof tB));
    const cublasLtPointerMode_t pm = k.device_ptr ? CUBLASLT_POINTER_MODE_DEVICE : CUBLASLT_POINTER_MODE_HOST;
    LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_POINTER_MODE, &pm, sizeof pm));
    /* cuBLASLt's A = our B (K x N col-major, ld ldb), its B = our A (K x M, ld lda). */
    LT_TRY(cublasLtMatrixLayoutCreate(&p->la, CUDA_R_16BF, (uint64_t)k.k, (uint64_t)k.n, k.ldb));
    LT_TRY(cublasLtMatrixLayoutCreate(&p->lb, CUDA_R_16BF, (uint64_t)k.k, (uint64_t)k.m, k.lda));
    LT_TRY(cublasLtMatrixLayoutCreate(&p->lc, td, (uint64_t)k.n, (uint64_t)k.m, k.has_c ? k.ldc : k.ldd));
    LT_TRY(cublasLtMatrixLayoutCreate(&p->ld, td, (uint64_t)k.n, (uint64_t)k.m, k.ldd));
    cublasLtMatmulPreference_t pref;
    LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = LT_WORKSPACE;
    uint32_t al[4] = {(uint32_t)k.align_b, (uint32_t)k.align_a, (uint32_t)k.align_c, (uint32_t)k.align_d};
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al[0], 4);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al[1], 4);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al[2], 4);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al[3], 4);
    /* Split-K only with an FP32 reduction: the contract is FP32 accumulation. The heuristic
     * otherwise picks, for some small-M / short-K shapes with BF16 D, split-K reduced in the
     * output type (INPLACE / OUTPUT_TYPE): partial sums rounded to BF16, ~30% of elements 1 ulp
     * off (seen: two-pass MXFP4, K = 608 and 2048, BF16 out). */
    const uint32_t red_mask = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &red_mask,
                                                  sizeof red_mask);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(h, p->op, p->la, p->lb, p->lc, p->ld, pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS)
        return fp4_fail(FP4_ERR_CUBLAS, "cuBLASLt heuristic for BF16 GEMM M=%lld N=%lld K=%lld failed: %s",
                        (long long)k.m, (long long)k.n, (long long)k.k, cublasLtGetStatusName(st));
    if (found == 0)
        return fp4_fail(FP4_ERR_CUBLAS, "cuBLASLt found no algorithm for BF16 GEMM M=%lld N=%lld K=%lld (lda %lld ldb %lld)",
                        (long long)k.m, (long long)k.n, (long long)k.k, (long long)k.lda, (long long)k.ldb);
    p->algo = res.algo;
    p->valid = 1;
    return FP4_OK;
}

/* D = alpha * A·Bᵀ + beta * C with A [M,K] (lda), B [N,K] (ldb) BF16 device pointers. alpha and
 * beta are host floats or (device_ptr) device pointers to floats. */
static fp4_status lt_bf16_gemm(fp4_context *ctx, const void *A, int64_t lda, const void *B, int64_t ldb, int64_t M,
                               int64_t N, int64_t K, const fp4_view *c, fp4_view *d, const void *alpha,
                               const void *beta, int device_ptr, void *ws) {
    cublasLtHandle_t h;
    FP4_TRY(lt_handle(&h));
    lt_key k;
    memset(&k, 0, sizeof k);
    k.m = M, k.n = N, k.k = K, k.lda = lda, k.ldb = ldb, k.ldc = c ? c->ld : 0, k.ldd = d->ld;
    k.dtype_d = d->dtype == FP4_DTYPE_BF16, k.has_c = c != NULL, k.device_ptr = device_ptr;
    k.align_a = ptr_align(A), k.align_b = ptr_align(B), k.align_c = ptr_align(c ? c->data : d->data),
    k.align_d = ptr_align(d->data);
    FP4_CUDA_TRY(cudaGetDevice(&k.dev));
    pthread_mutex_lock(&lt_mutex);
    lt_plan *p = NULL;
    for (int i = 0; i < LT_CACHE; i++)
        if (lt_cache[i].valid && !memcmp(&lt_cache[i].key, &k, sizeof k)) p = &lt_cache[i];
    fp4_status st = FP4_OK;
    lt_plan plan;
    if (!p) {
        st = lt_plan_build(h, k, &plan);
        if (st == FP4_OK) {
            lt_plan *slot = &lt_cache[lt_next];
            lt_next = (lt_next + 1) % LT_CACHE;
            if (slot->valid) lt_plan_destroy(slot);
            *slot = plan;
            p = slot;
        } else {
            lt_plan_destroy(&plan);
        }
    }
    if (st == FP4_OK) plan = *p; /* descriptors stay valid: evicting needs this mutex */
    cublasStatus_t cs = CUBLAS_STATUS_SUCCESS;
    if (st == FP4_OK)
        cs = cublasLtMatmul(h, plan.op, alpha, B, plan.la, A, plan.lb, beta, c ? c->data : d->data, plan.lc, d->data,
                            plan.ld, &plan.algo, ws, LT_WORKSPACE, (cudaStream_t)fp4_context_stream(ctx));
    pthread_mutex_unlock(&lt_mutex);
    FP4_TRY(st);
    if (cs != CUBLAS_STATUS_SUCCESS)
        return fp4_fail(FP4_ERR_CUBLAS, "cublasLtMatmul (BF16, M=%lld N=%lld K=%lld) failed: %s", (long long)M,
                        (long long)N, (long long)K, cublasLtGetStatusName(cs));
    return FP4_OK;
}

extern "C" fp4_status fp4_gemm_bf16_cuda(fp4_context *ctx, const fp4_view *a, const fp4_view *b, float alpha,
                                         const fp4_view *c, float beta, fp4_view *d) {
    if (c && c->dtype != d->dtype)
        return fp4_fail(FP4_ERR_DTYPE, "fp4_gemm_bf16: C must have D's dtype on the device (cuBLASLt)");
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, LT_WORKSPACE, &ws));
    const float zero = 0.0f;
    return lt_bf16_gemm(ctx, a->data, a->ld, b->data, b->ld, a->rows, b->rows, a->cols, c, d, &alpha,
                        c ? &beta : &zero, 0, ws);
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
    return lt_bf16_gemm(ctx, A, lda, db, K, a.rows, b.rows, K, c, d, scal, scal + 1, 1, lt_ws);
}
