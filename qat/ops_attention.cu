/* qat/ops_attention.cu — CUDA causal multi-head attention of qat/ops.h (llm.c's attention with
 * cuBLAS batched GEMMs and a fused causal softmax), F32 or BF16.
 * qkv [B*T, 3C] (q | k | v, head h at columns h*hs .. h*hs+hs-1 of each), out [B*T, C],
 * att / datt [B*NH*T, T] (row (b*NH + h)*T + t), dqkv [B*T, 3C], scale = 1/sqrt(hs).
 *
 * No permuted copies: every per-(b, h) matrix is a strided view of qkv / out / dqkv (row stride
 * 3C or C) or of att (row stride T), so each GEMM is one cuBLASLt strided-batched call per b
 * (batch over h, stride hs) or per h (batch over b, stride T*3C) — min(B, NH) calls. FP32
 * accumulation (CUBLAS_COMPUTE_32F: true FP32 for F32 views, no TF32), outputs in the views'
 * dtype. Column-major cuBLAS view of our row-major matrices (X row-major [r, c], ld l = X^T
 * column-major [c, r], ld l):
 *   forward   S = scale * Q K^T     -> att   (TN: m = n = T, k = hs)
 *             att_softmax_forward_kernel1: in place, p = softmax(S[t, 0..t]) (max subtracted,
 *             expf), 0 for t2 > t; one warp per row, 16-byte accesses, the masked half only
 *             written.
 *             out = P V              (NN: m = hs, n = T, k = T)
 *   backward  dP = dout V^T          -> datt  (TN)
 *             att_softmax_backward_kernel1: in place, dS = p * (dP - sum_t2 p dP) * scale for
 *             t2 <= t, 0 above.
 *             dq = dS K  (NN),  dk = dS^T Q  (NT),  dv = P^T dout  (NT), written into dqkv.
 * The cuBLASLt handle is one per device (created on first use, kept for the process); plans
 * (descriptor, layouts, heuristic algorithm) are cached by shape, strides, dtype and alignment;
 * 32 MiB of the context workspace is cuBLASLt's. The GEMMs compute the full T x T products
 * (the masked half is multiplied by zeros), as llm.c does.
 */
#include <cublasLt.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "ops_cuda_internal.h"

#define ATT_LT_WORKSPACE ((size_t)32 << 20)

#define ATT_LT_TRY(call)                                                                           \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                          \
            return fp4_fail(FP4_ERR_CUBLAS, "%s:%d: %s failed: %s", __FILE__, __LINE__, #call,       \
                            cublasLtGetStatusName(st_));                                           \
    } while (0)

/* ---- cuBLASLt strided-batched GEMM (column-major, cuBLAS conventions) ------------------------- */

static pthread_mutex_t att_mutex = PTHREAD_MUTEX_INITIALIZER;
static cublasLtHandle_t att_handles[64];

struct att_key {
    int ta, tb, dtype, batch, dev, al_a, al_b, al_d;
    int64_t m, n, k, lda, ldb, ldd, sa, sb, sd;
};
struct att_plan {
    att_key key;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulAlgo_t algo;
    int valid;
};
#define ATT_CACHE 64
static att_plan att_cache[ATT_CACHE];
static int att_next;

static int att_align(const void *p) {
    const uintptr_t u = (uintptr_t)p;
    return (u % 16 == 0) ? 16 : (u % 8 == 0) ? 8 : (u % 4 == 0) ? 4 : 2;
}

static void att_plan_destroy(att_plan *p) {
    if (p->op) cublasLtMatmulDescDestroy(p->op);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->ld) cublasLtMatrixLayoutDestroy(p->ld);
    memset(p, 0, sizeof *p);
}

static fp4_status att_layout(cublasLtMatrixLayout_t *l, cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld,
                             int batch, int64_t stride) {
    ATT_LT_TRY(cublasLtMatrixLayoutCreate(l, t, (uint64_t)rows, (uint64_t)cols, ld));
    int32_t bc = batch;
    ATT_LT_TRY(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof bc));
    ATT_LT_TRY(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
    return FP4_OK;
}

static fp4_status att_plan_build(cublasLtHandle_t h, const att_key &k, att_plan *p) {
    memset(p, 0, sizeof *p);
    p->key = k;
    const cudaDataType_t t = k.dtype ? CUDA_R_16BF : CUDA_R_32F;
    ATT_LT_TRY(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = k.ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = k.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    ATT_LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    ATT_LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    FP4_TRY(att_layout(&p->la, t, k.ta ? k.k : k.m, k.ta ? k.m : k.k, k.lda, k.batch, k.sa));
    FP4_TRY(att_layout(&p->lb, t, k.tb ? k.n : k.k, k.tb ? k.k : k.n, k.ldb, k.batch, k.sb));
    FP4_TRY(att_layout(&p->ld, t, k.m, k.n, k.ldd, k.batch, k.sd));
    cublasLtMatmulPreference_t pref;
    ATT_LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = ATT_LT_WORKSPACE;
    uint32_t al[3] = {(uint32_t)k.al_a, (uint32_t)k.al_b, (uint32_t)k.al_d};
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al[0], 4);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al[1], 4);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al[2], 4);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al[2], 4);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(h, p->op, p->la, p->lb, p->ld, p->ld, pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found == 0)
        return fp4_fail(FP4_ERR_CUBLAS,
                        "attention: cuBLASLt has no algorithm for the %s batched GEMM %c%c m=%lld n=%lld k=%lld "
                        "(lda %lld ldb %lld ldd %lld, batch %d): %s",
                        k.dtype ? "BF16" : "F32", k.ta ? 'T' : 'N', k.tb ? 'T' : 'N', (long long)k.m, (long long)k.n,
                        (long long)k.k, (long long)k.lda, (long long)k.ldb, (long long)k.ldd, k.batch,
                        st != CUBLAS_STATUS_SUCCESS ? cublasLtGetStatusName(st) : "none found");
    p->algo = res.algo;
    p->valid = 1;
    return FP4_OK;
}

/* D[m, n] = alpha * op(A)[m, k] · op(B)[k, n] for `batch` matrices at strides sa / sb / sd
 * (column-major, ld in elements), all of dtype (F32 / BF16), FP32 accumulation, beta = 0. */
struct att_gemm_args {
    int ta, tb;
    int64_t m, n, k;
    const void *A;
    int64_t lda, sa;
    const void *B;
    int64_t ldb, sb;
    void *D;
    int64_t ldd, sd;
    int batch;
    float alpha;
};

static fp4_status att_gemm(fp4_context *ctx, int bf16, const att_gemm_args &g, void *ws) {
    att_key k;
    memset(&k, 0, sizeof k);
    k.ta = g.ta, k.tb = g.tb, k.dtype = bf16, k.batch = g.batch;
    k.m = g.m, k.n = g.n, k.k = g.k, k.lda = g.lda, k.ldb = g.ldb, k.ldd = g.ldd, k.sa = g.sa, k.sb = g.sb, k.sd = g.sd;
    k.al_a = att_align(g.A), k.al_b = att_align(g.B), k.al_d = att_align(g.D);
    FP4_CUDA_TRY(cudaGetDevice(&k.dev));
    if (k.dev < 0 || k.dev >= 64) return fp4_fail(FP4_ERR_UNSUPPORTED, "attention: device index %d", k.dev);
    pthread_mutex_lock(&att_mutex);
    fp4_status st = FP4_OK;
    if (!att_handles[k.dev]) {
        const cublasStatus_t cs = cublasLtCreate(&att_handles[k.dev]);
        if (cs != CUBLAS_STATUS_SUCCESS) {
            att_handles[k.dev] = NULL;
            pthread_mutex_unlock(&att_mutex);
            return fp4_fail(FP4_ERR_CUBLAS, "attention: cublasLtCreate failed: %s", cublasLtGetStatusName(cs));
        }
    }
    cublasLtHandle_t h = att_handles[k.dev];
    att_plan *p = NULL;
    for (int i = 0; i < ATT_CACHE; i++)
        if (att_cache[i].valid && memcmp(&att_cache[i].key, &k, sizeof k) == 0) {
            p = &att_cache[i];
            break;
        }
    if (!p) {
        p = &att_cache[att_next];
        att_next = (att_next + 1) % ATT_CACHE;
        att_plan_destroy(p);
        st = att_plan_build(h, k, p);
        if (st != FP4_OK) att_plan_destroy(p);
    }
    cublasStatus_t cs = CUBLAS_STATUS_SUCCESS;
    if (st == FP4_OK) {
        const float beta = 0.0f;
        cs = cublasLtMatmul(h, p->op, &g.alpha, g.A, p->la, g.B, p->lb, &beta, g.D, p->ld, g.D, p->ld, &p->algo, ws,
                            ATT_LT_WORKSPACE, ops_stream(ctx));
    }
    pthread_mutex_unlock(&att_mutex);
    if (st != FP4_OK) return st;
    if (cs != CUBLAS_STATUS_SUCCESS)
        return fp4_fail(FP4_ERR_CUBLAS, "attention: cublasLtMatmul (m=%lld n=%lld k=%lld batch %d) failed: %s",
                        (long long)g.m, (long long)g.n, (long long)g.k, g.batch, cublasLtGetStatusName(cs));
    return FP4_OK;
}

/* The per-(b, h) operand bases of one call: outer index o runs over b (batch over h) or over h
 * (batch over b), whichever is shorter. */
struct att_geom {
    int64_t B, T, C, NH, hs;
    int outer_b;     /* 1: loop over b, batch NH; 0: loop over h, batch B */
    int64_t nouter;  /* number of calls */
    int batch;
    int64_t s_qkv;   /* batch stride in qkv / dqkv elements */
    int64_t s_out;   /* in out / dout */
    int64_t s_att;   /* in att / datt */
    /* offsets of call o */
    int64_t o_qkv(int64_t o) const { return outer_b ? o * T * 3 * C : o * hs; }
    int64_t o_out(int64_t o) const { return outer_b ? o * T * C : o * hs; }
    int64_t o_att(int64_t o) const { return outer_b ? o * NH * T * T : o * T * T; }
};

static att_geom att_geometry(int64_t B, int64_t T, int64_t C, int NH) {
    att_geom g;
    g.B = B, g.T = T, g.C = C, g.NH = NH, g.hs = C / NH;
    g.outer_b = B <= NH;
    g.nouter = g.outer_b ? B : NH;
    g.batch = (int)(g.outer_b ? NH : B);
    g.s_qkv = g.outer_b ? g.hs : T * 3 * C;
    g.s_out = g.outer_b ? g.hs : T * C;
    g.s_att = g.outer_b ? T * T : NH * T * T;
    return g;
}

/* ---- fused causal softmax kernels -------------------------------------------------------------- */

__device__ __forceinline__ void sm_merge(float &m, float &s, float m2, float s2) {
    const float mn = fmaxf(m, m2);
    if (mn == -INFINITY) return;
    s = s * expf(m - mn) + s2 * expf(m2 - mn);
    m = mn;
}

/* att row r (t = r % T): p = softmax(att[r, 0..t]), zeros for t2 > t. One warp per row. */
template <typename T, int N> __global__ void att_softmax_forward_kernel1(T *att, int64_t rows, int T_) {
    const int lane = threadIdx.x & 31;
    const int64_t r = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= rows) return;
    const int len = (int)(r % T_) + 1;
    T *p = att + r * T_;
    float m = -INFINITY, s = 0.0f;
    for (int j = lane * N; j < len; j += 32 * N) {
        float f[N];
        ops_load<T, N>(f, p + j);
        float vm = -INFINITY;
#pragma unroll
        for (int k = 0; k < N; k++) {
            f[k] = j + k < len ? f[k] : -INFINITY;
            vm = fmaxf(vm, f[k]);
        }
        const float mn = fmaxf(m, vm);
        float add = 0.0f;
#pragma unroll
        for (int k = 0; k < N; k++) add += j + k < len ? expf(f[k] - mn) : 0.0f;
        s = s * expf(m - mn) + add; /* m == -inf on the first chunk: s == 0, expf(-inf) == 0 */
        m = mn;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        sm_merge(m, s, m2, s2);
    }
    const float inv = 1.0f / s;
    for (int j = lane * N; j < T_; j += 32 * N) {
        float f[N];
        if (j < len) {
            ops_load<T, N>(f, p + j);
#pragma unroll
            for (int k = 0; k < N; k++) f[k] = j + k < len ? expf(f[k] - m) * inv : 0.0f;
        } else {
#pragma unroll
            for (int k = 0; k < N; k++) f[k] = 0.0f;
        }
        ops_store<T, N>(p + j, f);
    }
}

/* datt row r in place: dS = p * (dP - sum_{t2<=t} p dP) * scale for t2 <= t, 0 above. */
template <typename T, int N>
__global__ void att_softmax_backward_kernel1(T *datt, const T *att, int64_t rows, int T_, float scale) {
    const int lane = threadIdx.x & 31;
    const int64_t r = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= rows) return;
    const int len = (int)(r % T_) + 1;
    T *dp = datt + r * T_;
    const T *pp = att + r * T_;
    float dot = 0.0f;
    for (int j = lane * N; j < len; j += 32 * N) {
        float a[N], d[N];
        ops_load<T, N>(a, pp + j);
        ops_load<T, N>(d, dp + j);
#pragma unroll
        for (int k = 0; k < N; k++) dot += j + k < len ? a[k] * d[k] : 0.0f;
    }
    dot = ops_warp_sum(dot);
    for (int j = lane * N; j < T_; j += 32 * N) {
        float a[N], d[N];
        if (j < len) {
            ops_load<T, N>(a, pp + j);
            ops_load<T, N>(d, dp + j);
#pragma unroll
            for (int k = 0; k < N; k++) d[k] = j + k < len ? a[k] * (d[k] - dot) * scale : 0.0f;
        } else {
#pragma unroll
            for (int k = 0; k < N; k++) d[k] = 0.0f;
        }
        ops_store<T, N>(dp + j, d);
    }
}

/* ---- forward / backward ------------------------------------------------------------------------- */

template <typename T>
static fp4_status att_forward_run(fp4_context *ctx, fp4_view *out, fp4_view *att, const fp4_view *qkv, int64_t B,
                                  int64_t T_, int NH) {
    const int64_t C = qkv->cols / 3;
    const att_geom g = att_geometry(B, T_, C, NH);
    const int bf = sizeof(T) == 2;
    const float scale = 1.0f / sqrtf((float)g.hs);
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, ATT_LT_WORKSPACE, &ws));
    const T *q = (const T *)qkv->data, *kk = q + C, *v = q + 2 * C;
    T *a = (T *)att->data, *o = (T *)out->data;
    for (int64_t i = 0; i < g.nouter; i++) { /* S = scale * Q K^T: col-major S^T[t2, t] = K[t2, :]·Q[t, :] */
        att_gemm_args s = {1, 0, T_, T_, g.hs, kk + g.o_qkv(i), 3 * C, g.s_qkv, q + g.o_qkv(i), 3 * C, g.s_qkv,
                           a + g.o_att(i), T_, g.s_att, g.batch, scale};
        FP4_TRY(att_gemm(ctx, bf, s, ws));
    }
    const int64_t rows = B * NH * T_;
    cudaStream_t st = ops_stream(ctx);
    constexpr int V = ops_vec<T>::N;
    if (T_ % V == 0 && ops_aligned(a, 16))
        att_softmax_forward_kernel1<T, V><<<fp4_cdiv(rows, 8), 256, 0, st>>>(a, rows, (int)T_);
    else
        att_softmax_forward_kernel1<T, 1><<<fp4_cdiv(rows, 8), 256, 0, st>>>(a, rows, (int)T_);
    FP4_LAUNCH_CHECK("att_softmax_forward_kernel1");
    for (int64_t i = 0; i < g.nouter; i++) { /* out = P V: col-major out^T[d, t] = V^T[d, :]·P^T[:, t] */
        att_gemm_args s = {0, 0, g.hs, T_, T_, v + g.o_qkv(i), 3 * C, g.s_qkv, a + g.o_att(i), T_, g.s_att,
                           o + g.o_out(i), C, g.s_out, g.batch, 1.0f};
        FP4_TRY(att_gemm(ctx, bf, s, ws));
    }
    return FP4_OK;
}

template <typename T>
static fp4_status att_backward_run(fp4_context *ctx, fp4_view *dqkv, fp4_view *datt, const fp4_view *dout,
                                   const fp4_view *qkv, const fp4_view *att, int64_t B, int64_t T_, int NH) {
    const int64_t C = qkv->cols / 3;
    const att_geom g = att_geometry(B, T_, C, NH);
    const int bf = sizeof(T) == 2;
    const float scale = 1.0f / sqrtf((float)g.hs);
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, ATT_LT_WORKSPACE, &ws));
    const T *q = (const T *)qkv->data, *kk = q + C, *v = q + 2 * C;
    const T *a = (const T *)att->data, *dy = (const T *)dout->data;
    T *da = (T *)datt->data, *dq = (T *)dqkv->data, *dk = dq + C, *dv = dq + 2 * C;
    for (int64_t i = 0; i < g.nouter; i++) { /* dP = dout V^T */
        att_gemm_args s = {1, 0, T_, T_, g.hs, v + g.o_qkv(i), 3 * C, g.s_qkv, dy + g.o_out(i), C, g.s_out,
                           da + g.o_att(i), T_, g.s_att, g.batch, 1.0f};
        FP4_TRY(att_gemm(ctx, bf, s, ws));
    }
    const int64_t rows = B * NH * T_;
    cudaStream_t st = ops_stream(ctx);
    constexpr int V = ops_vec<T>::N;
    if (T_ % V == 0 && ops_aligned(da, 16) && ops_aligned(a, 16))
        att_softmax_backward_kernel1<T, V><<<fp4_cdiv(rows, 8), 256, 0, st>>>(da, a, rows, (int)T_, scale);
    else
        att_softmax_backward_kernel1<T, 1><<<fp4_cdiv(rows, 8), 256, 0, st>>>(da, a, rows, (int)T_, scale);
    FP4_LAUNCH_CHECK("att_softmax_backward_kernel1");
    for (int64_t i = 0; i < g.nouter; i++) {
        /* dq = dS K: col-major dq^T[d, t] = K^T[d, :]·dS^T[:, t]  (NN) */
        att_gemm_args s1 = {0, 0, g.hs, T_, T_, kk + g.o_qkv(i), 3 * C, g.s_qkv, da + g.o_att(i), T_, g.s_att,
                            dq + g.o_qkv(i), 3 * C, g.s_qkv, g.batch, 1.0f};
        FP4_TRY(att_gemm(ctx, bf, s1, ws));
        /* dk = dS^T Q: col-major dk^T[d, t2] = Q^T[d, :]·dS[:, t2]  (NT) */
        att_gemm_args s2 = {0, 1, g.hs, T_, T_, q + g.o_qkv(i), 3 * C, g.s_qkv, da + g.o_att(i), T_, g.s_att,
                            dk + g.o_qkv(i), 3 * C, g.s_qkv, g.batch, 1.0f};
        FP4_TRY(att_gemm(ctx, bf, s2, ws));
        /* dv = P^T dout: col-major dv^T[d, t2] = dout^T[d, :]·P[:, t2]  (NT) */
        att_gemm_args s3 = {0, 1, g.hs, T_, T_, dy + g.o_out(i), C, g.s_out, a + g.o_att(i), T_, g.s_att,
                            dv + g.o_qkv(i), 3 * C, g.s_qkv, g.batch, 1.0f};
        FP4_TRY(att_gemm(ctx, bf, s3, ws));
    }
    return FP4_OK;
}

fp4_status fp4_attention_forward_cuda(fp4_context *ctx, fp4_view *out, fp4_view *att, const fp4_view *qkv, int64_t B,
                                      int64_t T, int NH) {
    if (T > INT32_MAX) return fp4_fail(FP4_ERR_SHAPE, "fp4_attention_forward: T = %lld", (long long)T);
#define RUN(TT) att_forward_run<TT>(ctx, out, att, qkv, B, T, NH)
    OPS_DISPATCH(qkv, "fp4_attention_forward", RUN);
#undef RUN
}

fp4_status fp4_attention_backward_cuda(fp4_context *ctx, fp4_view *dqkv, fp4_view *datt, const fp4_view *dout,
                                       const fp4_view *qkv, const fp4_view *att, int64_t B, int64_t T, int NH) {
    if (T > INT32_MAX) return fp4_fail(FP4_ERR_SHAPE, "fp4_attention_backward: T = %lld", (long long)T);
#define RUN(TT) att_backward_run<TT>(ctx, dqkv, datt, dout, qkv, att, B, T, NH)
    OPS_DISPATCH(qkv, "fp4_attention_backward", RUN);
#undef RUN
}
