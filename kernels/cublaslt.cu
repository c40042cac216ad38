/* kernels/cublaslt.cu — fp4_lt_matmul (kernels/cublaslt.h): the library's one cached cuBLASLt
 * matmul, column-major, optional transposes, strided batch, F32/BF16 operands, F32/BF16 C and D,
 * host or device alpha/beta, FP32 accumulation. Split-K is allowed only with an FP32 reduction
 * (CUBLASLT_REDUCTION_SCHEME_NONE | COMPUTE_TYPE): the heuristic otherwise picks, for some
 * small-M / short-K shapes with BF16 D, split-K reduced in the output type (partial sums rounded
 * to BF16, ~30 % of elements 1 ulp off; seen with the two-pass MXFP4 GEMM, K = 608 and 2048).
 */
#include <cublasLt.h>
#include <pthread.h>
#include <string.h>

#include "cuda_common.cuh"
#include "cublaslt.h"

#define LTM_WORKSPACE FP4_LT_WORKSPACE
#define LTM_CACHE 128

#define LTM_TRY(call)                                                                              \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                          \
            return fp4_fail(FP4_ERR_CUBLAS, "%s:%d: %s failed: %s", __FILE__, __LINE__, #call,       \
                            cublasLtGetStatusName(st_));                                           \
    } while (0)

static pthread_mutex_t ltm_mutex = PTHREAD_MUTEX_INITIALIZER;
static cublasLtHandle_t ltm_handles[64];

struct ltm_key {
    int ta, tb, ab, d, batch, dev, al_a, al_b, al_c, al_d, dev_ptr;
    int64_t m, n, k, lda, ldb, ldc, ldd, sa, sb, sc, sd;
};
struct ltm_plan {
    ltm_key key;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc, ld;
    cublasLtMatmulAlgo_t algo;
    int valid;
};
static ltm_plan ltm_cache[LTM_CACHE];
static int ltm_next;

/* The alignment (bytes, <= 16) every column start of an operand has: the base pointer's, the
 * leading dimension's and (batched) the stride's in bytes. cuBLASLt's MIN_ALIGNMENT preference
 * describes the pointer only; an algorithm picked for an aligned pointer with an odd BF16 ld
 * wrote misaligned 4-byte stores (compute-sanitizer, gpu_gemm with ldd = 301). */
static int ltm_align(const void *p, int64_t ld, int64_t stride, int batch, size_t es) {
    uintptr_t u = (uintptr_t)p | (uintptr_t)(ld * (int64_t)es);
    if (batch > 1) u |= (uintptr_t)(stride * (int64_t)es);
    return (u % 16 == 0) ? 16 : (u % 8 == 0) ? 8 : (u % 4 == 0) ? 4 : (u % 2 == 0) ? 2 : 1;
}

static void ltm_plan_destroy(ltm_plan *p) {
    if (p->op) cublasLtMatmulDescDestroy(p->op);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
    if (p->ld) cublasLtMatrixLayoutDestroy(p->ld);
    memset(p, 0, sizeof *p);
}

static fp4_status ltm_layout(cublasLtMatrixLayout_t *l, cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld,
                             int batch, int64_t stride) {
    LTM_TRY(cublasLtMatrixLayoutCreate(l, t, (uint64_t)rows, (uint64_t)cols, ld));
    if (batch > 1) {
        int32_t bc = batch;
        LTM_TRY(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof bc));
        LTM_TRY(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
    }
    return FP4_OK;
}

static fp4_status ltm_plan_build(cublasLtHandle_t h, const ltm_key &k, ltm_plan *p) {
    memset(p, 0, sizeof *p);
    p->key = k;
    const cudaDataType_t tab = k.ab ? CUDA_R_16BF : CUDA_R_32F, td = k.d ? CUDA_R_16BF : CUDA_R_32F;
    LTM_TRY(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = k.ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = k.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    LTM_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LTM_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    const cublasLtPointerMode_t pm = k.dev_ptr ? CUBLASLT_POINTER_MODE_DEVICE : CUBLASLT_POINTER_MODE_HOST;
    LTM_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_POINTER_MODE, &pm, sizeof pm));
    FP4_TRY(ltm_layout(&p->la, tab, k.ta ? k.k : k.m, k.ta ? k.m : k.k, k.lda, k.batch, k.sa));
    FP4_TRY(ltm_layout(&p->lb, tab, k.tb ? k.n : k.k, k.tb ? k.k : k.n, k.ldb, k.batch, k.sb));
    FP4_TRY(ltm_layout(&p->lc, td, k.m, k.n, k.ldc, k.batch, k.sc));
    FP4_TRY(ltm_layout(&p->ld, td, k.m, k.n, k.ldd, k.batch, k.sd));
    cublasLtMatmulPreference_t pref;
    LTM_TRY(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = LTM_WORKSPACE;
    uint32_t al[4] = {(uint32_t)k.al_a, (uint32_t)k.al_b, (uint32_t)k.al_c, (uint32_t)k.al_d};
    const uint32_t red_mask = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al[0], 4);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al[1], 4);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al[2], 4);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al[3], 4);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &red_mask,
                                                  sizeof red_mask);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(h, p->op, p->la, p->lb, p->lc, p->ld, pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found == 0)
        return fp4_fail(FP4_ERR_CUBLAS,
                        "cuBLASLt has no algorithm for the %s->%s GEMM %c%c m=%lld n=%lld k=%lld (lda %lld ldb %lld "
                        "ldd %lld, batch %d): %s",
                        k.ab ? "BF16" : "F32", k.d ? "BF16" : "F32", k.ta ? 'T' : 'N', k.tb ? 'T' : 'N',
                        (long long)k.m, (long long)k.n, (long long)k.k, (long long)k.lda, (long long)k.ldb,
                        (long long)k.ldd, k.batch, st != CUBLAS_STATUS_SUCCESS ? cublasLtGetStatusName(st) : "none found");
    p->algo = res.algo;
    p->valid = 1;
    return FP4_OK;
}

extern "C" fp4_status fp4_lt_matmul(fp4_context *ctx, const fp4_lt_args *g) {
    if ((g->ab_dtype != FP4_DTYPE_F32 && g->ab_dtype != FP4_DTYPE_BF16) ||
        (g->d_dtype != FP4_DTYPE_F32 && g->d_dtype != FP4_DTYPE_BF16))
        return fp4_fail(FP4_ERR_DTYPE, "fp4_lt_matmul: operands %s, output %s (F32 or BF16)",
                        fp4_dtype_name(g->ab_dtype), fp4_dtype_name(g->d_dtype));
    if (g->m < 1 || g->n < 1 || g->k < 1 || g->batch < 1)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_lt_matmul: m = %lld, n = %lld, k = %lld, batch = %d", (long long)g->m,
                        (long long)g->n, (long long)g->k, g->batch);
    void *ws = g->ws;
    if (!ws) FP4_TRY(fp4_context_workspace(ctx, LTM_WORKSPACE, &ws));
    const void *C = g->C ? g->C : g->D;
    ltm_key k;
    memset(&k, 0, sizeof k);
    k.ta = g->ta, k.tb = g->tb, k.ab = g->ab_dtype == FP4_DTYPE_BF16, k.d = g->d_dtype == FP4_DTYPE_BF16;
    k.batch = g->batch, k.dev_ptr = g->dev_alpha_beta != NULL;
    k.m = g->m, k.n = g->n, k.k = g->k, k.lda = g->lda, k.ldb = g->ldb, k.ldc = g->C ? g->ldc : g->ldd, k.ldd = g->ldd;
    if (g->batch > 1) k.sa = g->sa, k.sb = g->sb, k.sc = g->C ? g->sc : g->sd, k.sd = g->sd;
    const size_t esab = fp4_dtype_size(g->ab_dtype), esd = fp4_dtype_size(g->d_dtype);
    k.al_a = ltm_align(g->A, g->lda, g->sa, g->batch, esab), k.al_b = ltm_align(g->B, g->ldb, g->sb, g->batch, esab);
    k.al_c = ltm_align(C, k.ldc, k.sc, g->batch, esd), k.al_d = ltm_align(g->D, g->ldd, g->sd, g->batch, esd);
    FP4_CUDA_TRY(cudaGetDevice(&k.dev));
    if (k.dev < 0 || k.dev >= 64) return fp4_fail(FP4_ERR_UNSUPPORTED, "fp4_lt_matmul: device index %d", k.dev);
    pthread_mutex_lock(&ltm_mutex);
    if (!ltm_handles[k.dev]) {
        const cublasStatus_t cs = cublasLtCreate(&ltm_handles[k.dev]);
        if (cs != CUBLAS_STATUS_SUCCESS) {
            ltm_handles[k.dev] = NULL;
            pthread_mutex_unlock(&ltm_mutex);
            return fp4_fail(FP4_ERR_CUBLAS, "fp4_lt_matmul: cublasLtCreate failed: %s", cublasLtGetStatusName(cs));
        }
    }
    cublasLtHandle_t h = ltm_handles[k.dev];
    ltm_plan *p = NULL;
    for (int i = 0; i < LTM_CACHE; i++)
        if (ltm_cache[i].valid && memcmp(&ltm_cache[i].key, &k, sizeof k) == 0) {
            p = &ltm_cache[i];
            break;
        }
    fp4_status st = FP4_OK;
    if (!p) {
        p = &ltm_cache[ltm_next];
        ltm_next = (ltm_next + 1) % LTM_CACHE;
        ltm_plan_destroy(p);
        st = ltm_plan_build(h, k, p);
        if (st != FP4_OK) ltm_plan_destroy(p);
    }
    cublasStatus_t cs = CUBLAS_STATUS_SUCCESS;
    if (st == FP4_OK)
        cs = cublasLtMatmul(h, p->op, g->dev_alpha_beta ? (const void *)g->dev_alpha_beta : (const void *)&g->alpha, g->A,
                            p->la, g->B, p->lb,
                            g->dev_alpha_beta ? (const void *)(g->dev_alpha_beta + 1) : (const void *)&g->beta, C, p->lc,
                            g->D, p->ld, &p->algo, ws, LTM_WORKSPACE, (cudaStream_t)fp4_context_stream(ctx));
    pthread_mutex_unlock(&ltm_mutex);
    if (st != FP4_OK) return st;
    if (cs != CUBLAS_STATUS_SUCCESS)
        return fp4_fail(FP4_ERR_CUBLAS, "cublasLtMatmul (%c%c m=%lld n=%lld k=%lld batch %d) failed: %s",
                        g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', (long long)g->m, (long long)g->n, (long long)g->k,
                        g->batch, cublasLtGetStatusName(cs));
    return FP4_OK;
}
