/* qat/ops_adamw.cu — CUDA optimizer ops of qat/ops.h on flat FP32 buffers of n elements:
 *   fp4_adamw_update:  AdamW with the contract's exact operation sequence, every operation an
 *                      explicitly rounded intrinsic (__fmul_rn, __fadd_rn, __fsub_rn, __fdiv_rn,
 *                      __fsqrt_rn) so nvcc cannot contract into FMAs: bit-identical to the host
 *                      reference (built with -ffp-contract=off).
 *   fp4_grad_norm_sq:  sum of g^2 in FP64: one block per chunk of FP4_OPS_NORM_CHUNK elements
 *                      (grad_norm_kernel1: 256 threads, thread j sums elements j, j+256, ... of the
 *                      chunk in increasing order, then a fixed shuffle/shared-memory tree), then one
 *                      block adds the chunk partials (grad_norm_kernel2: fixed strided split, fixed
 *                      tree). Deterministic and independent of the device; the order inside a chunk
 *                      differs from the host's serial sum, which moves the FP64 result by a few ulp
 *                      (far below the 1e-12 the tests allow). Synchronizes the stream.
 *   fp4_scale:         x = x * s (__fmul_rn), bit-identical.
 */
#include "ops_cuda_internal.h"

__device__ __forceinline__ void adamw_one(float &p, float gr, float &m, float &v, uint8_t mask, const fp4_adamw_step s) {
    const float g = __fmul_rn(gr, s.grad_scale);
    const float mn = __fadd_rn(__fmul_rn(s.beta1, m), __fmul_rn(__fsub_rn(1.0f, s.beta1), g));
    const float vn = __fadd_rn(__fmul_rn(s.beta2, v), __fmul_rn(__fmul_rn(__fsub_rn(1.0f, s.beta2), g), g));
    const float mhat = __fdiv_rn(mn, s.bc1), vhat = __fdiv_rn(vn, s.bc2);
    const float wd = mask ? s.weight_decay : 0.0f;
    const float upd = __fadd_rn(__fdiv_rn(mhat, __fadd_rn(__fsqrt_rn(vhat), s.eps)), __fmul_rn(wd, p));
    p = __fsub_rn(p, __fmul_rn(s.lr, upd));
    m = mn;
    v = vn;
}

/* N = 4: float4 accesses (all pointers 16-byte aligned, n % 4 == 0); N = 1 otherwise. */
template <int N>
__global__ void adamw_kernel1(float *param, const float *grad, float *m, float *v, const uint8_t *mask, int64_t n,
                              const fp4_adamw_step s) {
    const int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * N;
    if (i >= n) return;
    if constexpr (N == 4) {
        float4 p = *reinterpret_cast<const float4 *>(param + i);
        const float4 g = *reinterpret_cast<const float4 *>(grad + i);
        float4 mm = *reinterpret_cast<const float4 *>(m + i);
        float4 vv = *reinterpret_cast<const float4 *>(v + i);
        uchar4 k = mask ? *reinterpret_cast<const uchar4 *>(mask + i) : make_uchar4(1, 1, 1, 1);
        adamw_one(p.x, g.x, mm.x, vv.x, k.x, s);
        adamw_one(p.y, g.y, mm.y, vv.y, k.y, s);
        adamw_one(p.z, g.z, mm.z, vv.z, k.z, s);
        adamw_one(p.w, g.w, mm.w, vv.w, k.w, s);
        *reinterpret_cast<float4 *>(param + i) = p;
        *reinterpret_cast<float4 *>(m + i) = mm;
        *reinterpret_cast<float4 *>(v + i) = vv;
    } else {
        float p = param[i], mm = m[i], vv = v[i];
        adamw_one(p, grad[i], mm, vv, mask ? mask[i] : (uint8_t)1, s);
        param[i] = p;
        m[i] = mm;
        v[i] = vv;
    }
}

fp4_status fp4_adamw_update_cuda(fp4_context *ctx, float *param, const float *grad, float *m, float *v,
                                 const uint8_t *wd_mask, int64_t n, const fp4_adamw_step *s) {
    cudaStream_t st = ops_stream(ctx);
    const int vec = n % 4 == 0 && ops_aligned(param, 16) && ops_aligned(grad, 16) && ops_aligned(m, 16) &&
                    ops_aligned(v, 16) && (!wd_mask || ops_aligned(wd_mask, 4));
    if (vec)
        adamw_kernel1<4><<<fp4_cdiv(n / 4, 256), 256, 0, st>>>(param, grad, m, v, wd_mask, n, *s);
    else
        adamw_kernel1<1><<<fp4_cdiv(n, 256), 256, 0, st>>>(param, grad, m, v, wd_mask, n, *s);
    FP4_LAUNCH_CHECK("adamw_kernel1");
    return FP4_OK;
}

/* ---- gradient norm ------------------------------------------------------------------------------ */

#define GN_THREADS 256

/* Block-wide FP64 sum in a fixed order (warp butterflies, then warp 0 over the 8 warp sums). */
__device__ double gn_block_sum(double x) {
    __shared__ double w[GN_THREADS / 32];
    x = ops_warp_sum_d(x);
    if ((threadIdx.x & 31) == 0) w[threadIdx.x >> 5] = x;
    __syncthreads();
    double r = threadIdx.x < GN_THREADS / 32 ? w[threadIdx.x] : 0.0;
    if (threadIdx.x < 32) r = ops_warp_sum_d(r);
    return r; /* valid in thread 0 */
}

/* part[c] = sum of g[i]^2 over chunk c. */
__global__ void __launch_bounds__(GN_THREADS) grad_norm_kernel1(const float *g, int64_t n, double *part) {
    const int64_t lo = (int64_t)blockIdx.x * FP4_OPS_NORM_CHUNK;
    const int64_t hi = lo + FP4_OPS_NORM_CHUNK < n ? lo + FP4_OPS_NORM_CHUNK : n;
    double acc = 0.0;
    for (int64_t i = lo + threadIdx.x; i < hi; i += GN_THREADS) {
        const double x = (double)g[i];
        acc += x * x;
    }
    acc = gn_block_sum(acc);
    if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

/* out[0] = sum of part[0..nc). */
__global__ void __launch_bounds__(GN_THREADS) grad_norm_kernel2(const double *part, int64_t nc, double *out) {
    double acc = 0.0;
    for (int64_t c = threadIdx.x; c < nc; c += GN_THREADS) acc += part[c];
    acc = gn_block_sum(acc);
    if (threadIdx.x == 0) out[0] = acc;
}

fp4_status fp4_grad_norm_sq_cuda(fp4_context *ctx, const float *g, int64_t n, double *out) {
    const int64_t nc = (n + FP4_OPS_NORM_CHUNK - 1) / FP4_OPS_NORM_CHUNK;
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, (size_t)(nc + 1) * sizeof(double), &ws));
    double *part = (double *)ws, *res = part + nc;
    cudaStream_t st = ops_stream(ctx);
    grad_norm_kernel1<<<(unsigned)nc, GN_THREADS, 0, st>>>(g, n, part);
    FP4_LAUNCH_CHECK("grad_norm_kernel1");
    grad_norm_kernel2<<<1, GN_THREADS, 0, st>>>(part, nc, res);
    FP4_LAUNCH_CHECK("grad_norm_kernel2");
    double h = 0.0;
    FP4_CUDA_TRY(cudaMemcpyAsync(&h, res, sizeof h, cudaMemcpyDeviceToHost, st));
    FP4_CUDA_TRY(cudaStreamSynchronize(st));
    *out = h;
    return FP4_OK;
}

/* ---- scale ------------------------------------------------------------------------------------------ */

template <int N> __global__ void scale_kernel1(float *x, int64_t n, float s) {
    const int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * N;
    if (i >= n) return;
    if constexpr (N == 4) {
        float4 v = *reinterpret_cast<const float4 *>(x + i);
        v.x = __fmul_rn(v.x, s), v.y = __fmul_rn(v.y, s), v.z = __fmul_rn(v.z, s), v.w = __fmul_rn(v.w, s);
        *reinterpret_cast<float4 *>(x + i) = v;
    } else {
        x[i] = __fmul_rn(x[i], s);
    }
}

fp4_status fp4_scale_cuda(fp4_context *ctx, float *x, int64_t n, float s) {
    cudaStream_t st = ops_stream(ctx);
    if (n % 4 == 0 && ops_aligned(x, 16))
        scale_kernel1<4><<<fp4_cdiv(n / 4, 256), 256, 0, st>>>(x, n, s);
    else
        scale_kernel1<1><<<fp4_cdiv(n, 256), 256, 0, st>>>(x, n, s);
    FP4_LAUNCH_CHECK("scale_kernel1");
    return FP4_OK;
}
