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
 * The GEMMs go through fp4_lt_matmul (kernels/cublaslt.h: cached cuBLASLt plans). They compute the
 * full T x T products (the masked half is multiplied by zeros), as llm.c does. The GPT on a device
 * with BF16 activations uses the flash-style kernels of qat/ops_flash.cu instead (no att buffer);
 * this path serves F32 activations and head sizes the flash kernels lack.
 */
#include <math.h>
#include <string.h>

#include "cublaslt.h"
#include "ops_cuda_internal.h"

/* D[m, n] = alpha * op(A)[m, k] · op(B)[k, n] for `batch` matrices at strides sa / sb / sd
 * (column-major, ld in elements; g's members up to alpha), all of dtype F32 / BF16 (bf16), FP32
 * accumulation, beta = 0. */
static fp4_status att_gemm(fp4_context *ctx, int bf16, fp4_lt_args g) {
    g.ab_dtype = g.d_dtype = bf16 ? FP4_DTYPE_BF16 : FP4_DTYPE_F32;
    g.beta = 0.0f;
    fp4_status st = fp4_lt_matmul(ctx, &g);
    if (st != FP4_OK) return fp4_fail_context(st, "attention");
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
    const T *q = (const T *)qkv->data, *kk = q + C, *v = q + 2 * C;
    T *a = (T *)att->data, *o = (T *)out->data;
    for (int64_t i = 0; i < g.nouter; i++) { /* S = scale * Q K^T: col-major S^T[t2, t] = K[t2, :]·Q[t, :] */
        fp4_lt_args s = {1, 0, T_, T_, g.hs, kk + g.o_qkv(i), 3 * C, g.s_qkv, q + g.o_qkv(i), 3 * C, g.s_qkv,
                         a + g.o_att(i), T_, g.s_att, g.batch, scale};
        FP4_TRY(att_gemm(ctx, bf, s));
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
        fp4_lt_args s = {0, 0, g.hs, T_, T_, v + g.o_qkv(i), 3 * C, g.s_qkv, a + g.o_att(i), T_, g.s_att,
                         o + g.o_out(i), C, g.s_out, g.batch, 1.0f};
        FP4_TRY(att_gemm(ctx, bf, s));
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
    const T *q = (const T *)qkv->data, *kk = q + C, *v = q + 2 * C;
    const T *a = (const T *)att->data, *dy = (const T *)dout->data;
    T *da = (T *)datt->data, *dq = (T *)dqkv->data, *dk = dq + C, *dv = dq + 2 * C;
    for (int64_t i = 0; i < g.nouter; i++) { /* dP = dout V^T */
        fp4_lt_args s = {1, 0, T_, T_, g.hs, v + g.o_qkv(i), 3 * C, g.s_qkv, dy + g.o_out(i), C, g.s_out,
                         da + g.o_att(i), T_, g.s_att, g.batch, 1.0f};
        FP4_TRY(att_gemm(ctx, bf, s));
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
        fp4_lt_args s1 = {0, 0, g.hs, T_, T_, kk + g.o_qkv(i), 3 * C, g.s_qkv, da + g.o_att(i), T_, g.s_att,
                          dq + g.o_qkv(i), 3 * C, g.s_qkv, g.batch, 1.0f};
        FP4_TRY(att_gemm(ctx, bf, s1));
        /* dk = dS^T Q: col-major dk^T[d, t2] = Q^T[d, :]·dS[:, t2]  (NT) */
        fp4_lt_args s2 = {0, 1, g.hs, T_, T_, q + g.o_qkv(i), 3 * C, g.s_qkv, da + g.o_att(i), T_, g.s_att,
                          dk + g.o_qkv(i), 3 * C, g.s_qkv, g.batch, 1.0f};
        FP4_TRY(att_gemm(ctx, bf, s2));
        /* dv = P^T dout: col-major dv^T[d, t2] = dout^T[d, :]·P[:, t2]  (NT) */
        fp4_lt_args s3 = {0, 1, g.hs, T_, T_, dy + g.o_out(i), C, g.s_out, a + g.o_att(i), T_, g.s_att,
                          dv + g.o_qkv(i), 3 * C, g.s_qkv, g.batch, 1.0f};
        FP4_TRY(att_gemm(ctx, bf, s3));
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
