/* qat/ops_crossentropy.cu — CUDA softmax cross-entropy of qat/ops.h fused with its gradient
 * (llm.c's fused_classifier). logits [N, Vp] F32 or BF16 (columns >= V are padding), targets [N]
 * int32 (-1 = ignored row), losses [N] FP32 or NULL.
 * crossentropy_kernel1: one block of CE_THREADS per row.
 *   pass 1 (read): each thread keeps an online (max, sum of exp) over its 16-byte chunks of the
 *          row's first V columns (one rescale per chunk), then a fixed butterfly/shared-memory tree
 *          merges the pairs: M = max, S = sum exp(z - M) (deterministic).
 *   loss = log S - (z[target] - M)  (z[target] read before any write).
 *   pass 2 (read, L2-resident, + write): with write_grad the row is overwritten in place by
 *          dloss * (exp(z - M - log S) - onehot(target)) for j < V, 0 for V <= j < Vp.
 * Exponentials are exp2f of log2(e)-scaled arguments (relative error ~1e-6 against the
 * reference's double exp; the tests allow 1e-4). 16-byte accesses when Vp and the base allow.
 */
#include "ops_cuda_internal.h"

#define CE_THREADS 512
#define CE_LOG2E 1.4426950408889634f
#define CE_LN2 0.6931471805599453f

/* Merge (m, s) with (m2, s2): both sums are relative to their own max (in log2 units). */
__device__ __forceinline__ void ce_merge(float &m, float &s, float m2, float s2) {
    const float mn = fmaxf(m, m2);
    if (mn == -INFINITY) return; /* both empty */
    s = s * exp2f(m - mn) + s2 * exp2f(m2 - mn);
    m = mn;
}

template <typename T, int N>
__global__ void __launch_bounds__(CE_THREADS)
    crossentropy_kernel1(float *losses, T *logits, const int32_t *targets, int64_t V, int64_t Vp, float dloss,
                         int write_grad) {
    __shared__ float sm_m[CE_THREADS / 32], sm_s[CE_THREADS / 32];
    __shared__ float res[2];
    const int64_t row = blockIdx.x;
    T *z = logits + row * Vp;
    const int32_t y = targets[row];
    if (y < 0) {
        if (losses && threadIdx.x == 0) losses[row] = 0.0f;
        if (write_grad) {
            float zero[N];
#pragma unroll
            for (int k = 0; k < N; k++) zero[k] = 0.0f;
            for (int64_t j = (int64_t)threadIdx.x * N; j < Vp; j += (int64_t)CE_THREADS * N) ops_store<T, N>(z + j, zero);
        }
        return;
    }
    /* pass 1: online max / sum in log2 units */
    float m = -INFINITY, s = 0.0f;
    for (int64_t j = (int64_t)threadIdx.x * N; j < V; j += (int64_t)CE_THREADS * N) {
        float f[N];
        ops_load<T, N>(f, z + j);
        float vm = -INFINITY;
#pragma unroll
        for (int k = 0; k < N; k++) {
            f[k] = (j + k < V) ? f[k] * CE_LOG2E : -INFINITY;
            vm = fmaxf(vm, f[k]);
        }
        const float mn = fmaxf(m, vm);
        if (mn == -INFINITY) continue; /* nothing seen yet (only masked columns) */
        float add = 0.0f;
#pragma unroll
        for (int k = 0; k < N; k++) add += exp2f(f[k] - mn);
        s = s * exp2f(m - mn) + add; /* m == -inf: s == 0 and exp2f(-inf) == 0 */
        m = mn;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        ce_merge(m, s, m2, s2);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) sm_m[warp] = m, sm_s[warp] = s;
    const float zy = ops_f(z[y]); /* every thread reads it before the barrier; written only after */
    __syncthreads();
    if (warp == 0) {
        m = lane < CE_THREADS / 32 ? sm_m[lane] : -INFINITY;
        s = lane < CE_THREADS / 32 ? sm_s[lane] : 0.0f;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
            ce_merge(m, s, m2, s2);
        }
        if (lane == 0) res[0] = m, res[1] = log2f(s);
    }
    __syncthreads();
    const float M = res[0], L = res[1]; /* log2 sum exp2(z*log2e - M) */
    if (losses && threadIdx.x == 0) losses[row] = (L - (zy * CE_LOG2E - M)) * CE_LN2;
    if (!write_grad) return;
    const float off = M + L;
    for (int64_t j = (int64_t)threadIdx.x * N; j < Vp; j += (int64_t)CE_THREADS * N) {
        float f[N];
        ops_load<T, N>(f, z + j);
#pragma unroll
        for (int k = 0; k < N; k++) {
            const int64_t jj = j + k;
            f[k] = jj < V ? dloss * (exp2f(f[k] * CE_LOG2E - off) - (jj == y ? 1.0f : 0.0f)) : 0.0f;
        }
        ops_store<T, N>(z + j, f);
    }
}

template <typename T>
static fp4_status crossentropy_run(fp4_context *ctx, float *losses, fp4_view *logits, const int32_t *targets,
                                   int64_t V, float dloss, int write_grad) {
    const int64_t Nr = logits->rows, Vp = logits->cols;
    constexpr int VEC = ops_vec<T>::N;
    cudaStream_t s = ops_stream(ctx);
    if (Vp % VEC == 0 && ops_aligned(logits->data, 16))
        crossentropy_kernel1<T, VEC><<<(unsigned)Nr, CE_THREADS, 0, s>>>(losses, (T *)logits->data, targets, V, Vp,
                                                                         dloss, write_grad);
    else
        crossentropy_kernel1<T, 1><<<(unsigned)Nr, CE_THREADS, 0, s>>>(losses, (T *)logits->data, targets, V, Vp,
                                                                       dloss, write_grad);
    FP4_LAUNCH_CHECK("crossentropy_kernel1");
    return FP4_OK;
}

fp4_status fp4_crossentropy_forward_cuda(fp4_context *ctx, float *losses, fp4_view *logits, const int32_t *targets,
                                         int64_t V, float dloss, int write_grad) {
#define RUN(T) crossentropy_run<T>(ctx, losses, logits, targets, V, dloss, write_grad)
    OPS_DISPATCH(logits, "fp4_crossentropy_forward", RUN);
#undef RUN
}
