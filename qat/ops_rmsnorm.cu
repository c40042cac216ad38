/* qat/ops_rmsnorm.cu — CUDA RMSNorm of qat/ops.h (llm.c's layernorm kernels adapted: no mean, no
 * bias). inp, out, dout, dinp [N, C] F32 or BF16; weight, dweight [C] and rstd [N] FP32.
 *   forward  (rmsnorm_forward_kernel1): one warp per row; pass 1 sums x^2 (each lane its strided
 *            16-byte chunks, then a butterfly), rstd = 1/sqrtf(ss/C + eps), pass 2 writes
 *            x*rstd*weight (the row is re-read from L1/L2).
 *   backward (rmsnorm_backward_kernel1 + rmsnorm_dweight_kernel1): a block of 8 warps owns a fixed
 *            chunk of RMS_BWD_ROWS rows, warp w its rows w, w+8, ...; per row: dot = mean(g*xhat)
 *            by a butterfly, then dinp += rstd*(g - xhat*dot), and the lane adds dout*xhat for its
 *            own channels into the warp's shared-memory row (no races, no atomics). The block then
 *            sums its 8 warp rows in order into partial[block, C] (context workspace) and
 *            rmsnorm_dweight_kernel1 adds the partials to dweight in block order. Every sum has a
 *            fixed order that depends only on N and C: deterministic. Shared memory 8*C*4 bytes
 *            (C <= 7264 on an H100).
 * Vector paths (16-byte loads of 4 floats / 8 BF16) need C % 8 == 0 and 16-byte aligned rows;
 * otherwise the same kernels run one element per lane step.
 */
#include "ops_cuda_internal.h"

template <typename T, int N>
__global__ void rmsnorm_forward_kernel1(T *out, float *rstd, const T *inp, const float *weight, int64_t Nr, int C,
                                        float eps) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= Nr) return;
    const T *x = inp + row * C;
    T *y = out + row * C;
    float ss = 0.0f;
    for (int c = lane * N; c < C; c += 32 * N) {
        float f[N];
        ops_load<T, N>(f, x + c);
#pragma unroll
        for (int k = 0; k < N; k++) ss += f[k] * f[k];
    }
    ss = ops_warp_sum(ss);
    const float r = 1.0f / sqrtf(ss / (float)C + eps);
    for (int c = lane * N; c < C; c += 32 * N) {
        float f[N], w[N];
        ops_load<T, N>(f, x + c);
        ops_load<float, N>(w, weight + c);
#pragma unroll
        for (int k = 0; k < N; k++) f[k] = f[k] * r * w[k];
        ops_store<T, N>(y + c, f);
    }
    if (lane == 0) rstd[row] = r;
}

template <typename T>
static fp4_status rmsnorm_forward_run(fp4_context *ctx, fp4_view *out, float *rstd, const fp4_view *inp,
                                      const float *weight, float eps) {
    const int64_t Nr = inp->rows;
    const int C = (int)inp->cols;
    cudaStream_t s = ops_stream(ctx);
    const unsigned grid = fp4_cdiv(Nr, 8);
    if (C % 8 == 0 && ops_aligned(inp->data, 16) && ops_aligned(out->data, 16) && ops_aligned(weight, 16))
        rmsnorm_forward_kernel1<T, ops_vec<T>::N><<<grid, 256, 0, s>>>((T *)out->data, rstd, (const T *)inp->data,
                                                                        weight, Nr, C, eps);
    else
        rmsnorm_forward_kernel1<T, 1><<<grid, 256, 0, s>>>((T *)out->data, rstd, (const T *)inp->data, weight, Nr, C,
                                                            eps);
    FP4_LAUNCH_CHECK("rmsnorm_forward_kernel1");
    return FP4_OK;
}

fp4_status fp4_rmsnorm_forward_cuda(fp4_context *ctx, fp4_view *out, float *rstd, const fp4_view *inp,
                                    const float *weight, float eps) {
    if (inp->cols > INT32_MAX) return fp4_fail(FP4_ERR_SHAPE, "fp4_rmsnorm_forward: C = %lld", (long long)inp->cols);
#define RUN(T) rmsnorm_forward_run<T>(ctx, out, rstd, inp, weight, eps)
    OPS_DISPATCH(inp, "fp4_rmsnorm_forward", RUN);
#undef RUN
}

/* ---- backward ---------------------------------------------------------------------------------- */

#define RMS_BWD_ROWS 32
#define RMS_BWD_WARPS 8

template <typename T, int N>
__global__ void __launch_bounds__(RMS_BWD_WARPS * 32)
    rmsnorm_backward_kernel1(T *dinp, float *partial, const T *dout, const T *inp, const float *weight,
                             const float *rstd, int64_t Nr, int C) {
    extern __shared__ float acc[]; /* [RMS_BWD_WARPS][C] */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float *wacc = acc + (size_t)warp * C;
    for (int c = lane; c < C; c += 32) wacc[c] = 0.0f;
    __syncwarp();
    const int64_t r0 = (int64_t)blockIdx.x * RMS_BWD_ROWS;
    for (int64_t row = r0 + warp; row < r0 + RMS_BWD_ROWS && row < Nr; row += RMS_BWD_WARPS) {
        const T *x = inp + row * C, *dy = dout + row * C;
        T *dx = dinp + row * C;
        const float r = rstd[row];
        float dot = 0.0f;
        for (int c = lane * N; c < C; c += 32 * N) {
            float xf[N], gf[N], w[N];
            ops_load<T, N>(xf, x + c);
            ops_load<T, N>(gf, dy + c);
            ops_load<float, N>(w, weight + c);
#pragma unroll
            for (int k = 0; k < N; k++) dot += gf[k] * w[k] * (xf[k] * r);
        }
        dot = ops_warp_sum(dot) / (float)C;
        for (int c = lane * N; c < C; c += 32 * N) {
            float xf[N], gf[N], w[N], d[N];
            ops_load<T, N>(xf, x + c);
            ops_load<T, N>(gf, dy + c);
            ops_load<float, N>(w, weight + c);
            ops_load<T, N>(d, dx + c);
#pragma unroll
            for (int k = 0; k < N; k++) {
                const float xh = xf[k] * r;
                d[k] += r * (gf[k] * w[k] - xh * dot);
                wacc[N == 1 ? c : c / N + k * (C / N)] += gf[k] * xh; /* lane-consecutive: no bank conflicts */
            }
            ops_store<T, N>(dx + c, d);
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += RMS_BWD_WARPS * 32) {
        float s = 0.0f;
        const int j = N == 1 ? c : c / N + (c % N) * (C / N);
#pragma unroll
        for (int w = 0; w < RMS_BWD_WARPS; w++) s += acc[(size_t)w * C + j];
        partial[(int64_t)blockIdx.x * C + c] = s;
    }
}

/* dweight[c] += sum over blocks b in order of partial[b, c]. */
__global__ void rmsnorm_dweight_kernel1(float *dweight, const float *partial, int64_t nb, int C) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int64_t b = 0; b < nb; b++) s += partial[b * C + c];
    dweight[c] += s;
}

template <typename T>
static fp4_status rmsnorm_backward_run(fp4_context *ctx, fp4_view *dinp, float *dweight, const fp4_view *dout,
                                       const fp4_view *inp, const float *weight, const float *rstd) {
    const int64_t Nr = inp->rows;
    const int C = (int)inp->cols;
    const int64_t nb = (Nr + RMS_BWD_ROWS - 1) / RMS_BWD_ROWS;
    const size_t smem = (size_t)RMS_BWD_WARPS * C * sizeof(float);
    int dev = 0, maxsm = 0;
    FP4_CUDA_TRY(cudaGetDevice(&dev));
    FP4_CUDA_TRY(cudaDeviceGetAttribute(&maxsm, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (smem > (size_t)maxsm)
        return fp4_fail(FP4_ERR_UNSUPPORTED, "fp4_rmsnorm_backward: C = %d needs %zu bytes of shared memory (max %d)", C,
                        smem, maxsm);
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, (size_t)nb * C * sizeof(float), &ws));
    float *partial = (float *)ws;
    cudaStream_t s = ops_stream(ctx);
    const int vec = C % 8 == 0 && ops_aligned(inp->data, 16) && ops_aligned(dout->data, 16) &&
                    ops_aligned(dinp->data, 16) && ops_aligned(weight, 16);
    if (vec) {
        auto k = rmsnorm_backward_kernel1<T, ops_vec<T>::N>;
        if (smem > 48 * 1024) FP4_CUDA_TRY(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        k<<<(unsigned)nb, RMS_BWD_WARPS * 32, smem, s>>>((T *)dinp->data, partial, (const T *)dout->data,
                                                          (const T *)inp->data, weight, rstd, Nr, C);
    } else {
        auto k = rmsnorm_backward_kernel1<T, 1>;
        if (smem > 48 * 1024) FP4_CUDA_TRY(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        k<<<(unsigned)nb, RMS_BWD_WARPS * 32, smem, s>>>((T *)dinp->data, partial, (const T *)dout->data,
                                                          (const T *)inp->data, weight, rstd, Nr, C);
    }
    FP4_LAUNCH_CHECK("rmsnorm_backward_kernel1");
    rmsnorm_dweight_kernel1<<<fp4_cdiv(C, 128), 128, 0, s>>>(dweight, partial, nb, C);
    FP4_LAUNCH_CHECK("rmsnorm_dweight_kernel1");
    return FP4_OK;
}

fp4_status fp4_rmsnorm_backward_cuda(fp4_context *ctx, fp4_view *dinp, float *dweight, const fp4_view *dout,
                                     const fp4_view *inp, const float *weight, const float *rstd) {
    if (inp->cols > INT32_MAX) return fp4_fail(FP4_ERR_SHAPE, "fp4_rmsnorm_backward: C = %lld", (long long)inp->cols);
#define RUN(T) rmsnorm_backward_run<T>(ctx, dinp, dweight, dout, inp, weight, rstd)
    OPS_DISPATCH(inp, "fp4_rmsnorm_backward", RUN);
#undef RUN
}
