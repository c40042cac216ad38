/* qat/ops_act.cu — CUDA element-wise ops of qat/ops.h on [N, M] activation views (F32 or BF16):
 *   gelu forward/backward (tanh approximation), relu2 (squared ReLU) forward/backward,
 *   residual add out = a + b.
 * One thread per 16 bytes (4 floats / 8 BF16) when every pointer is 16-byte aligned and N*M is a
 * multiple of that width, else one thread per element; math in FP32 with the reference's formulas
 * (tanhf, coshf — no fast intrinsics), BF16 results rounded to nearest even. Outputs may alias
 * inputs as the contract allows (each thread reads its elements before writing them).
 */
#include "ops_cuda_internal.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

struct gelu_fwd_op {
    __device__ float operator()(float x) const {
        return 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
    }
};
struct gelu_bwd_op { /* (inp, dout) -> dinp */
    __device__ float operator()(float x, float dy) const {
        const float u = GELU_K * (x + 0.044715f * x * x * x);
        const float th = tanhf(u), ch = coshf(u);
        const float sech2 = 1.0f / (ch * ch);
        const float g = 0.5f * (1.0f + th) + x * 0.5f * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        return g * dy;
    }
};
struct relu2_fwd_op {
    __device__ float operator()(float x) const {
        const float r = x > 0.0f ? x : 0.0f;
        return r * r;
    }
};
struct relu2_bwd_op {
    __device__ float operator()(float x, float dy) const {
        const float r = x > 0.0f ? x : 0.0f;
        return 2.0f * r * dy;
    }
};
struct add_op {
    __device__ float operator()(float a, float b) const { return a + b; }
};

/* out[i..i+N) = f(a[i..i+N)) */
template <typename T, int N, typename F> __global__ void ew1_kernel1(T *out, const T *a, int64_t n, F f) {
    const int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * N;
    if (i >= n) return;
    float x[N], y[N];
    ops_load<T, N>(x, a + i);
#pragma unroll
    for (int k = 0; k < N; k++) y[k] = f(x[k]);
    ops_store<T, N>(out + i, y);
}

/* out[i..i+N) = f(a[i..i+N), b[i..i+N)) */
template <typename T, int N, typename F> __global__ void ew2_kernel1(T *out, const T *a, const T *b, int64_t n, F f) {
    const int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * N;
    if (i >= n) return;
    float x[N], y[N];
    ops_load<T, N>(x, a + i);
    ops_load<T, N>(y, b + i);
#pragma unroll
    for (int k = 0; k < N; k++) y[k] = f(x[k], y[k]);
    ops_store<T, N>(out + i, y);
}

template <typename T, typename F>
static fp4_status ew1(fp4_context *ctx, const char *name, fp4_view *out, const fp4_view *a, F f) {
    const int64_t n = a->rows * a->cols;
    constexpr int V = ops_vec<T>::N;
    cudaStream_t s = ops_stream(ctx);
    if (n % V == 0 && ops_aligned(out->data, 16) && ops_aligned(a->data, 16))
        ew1_kernel1<T, V, F><<<fp4_cdiv(n / V, 256), 256, 0, s>>>((T *)out->data, (const T *)a->data, n, f);
    else
        ew1_kernel1<T, 1, F><<<fp4_cdiv(n, 256), 256, 0, s>>>((T *)out->data, (const T *)a->data, n, f);
    FP4_LAUNCH_CHECK(name);
    return FP4_OK;
}

template <typename T, typename F>
static fp4_status ew2(fp4_context *ctx, const char *name, fp4_view *out, const fp4_view *a, const fp4_view *b, F f) {
    const int64_t n = a->rows * a->cols;
    constexpr int V = ops_vec<T>::N;
    cudaStream_t s = ops_stream(ctx);
    if (n % V == 0 && ops_aligned(out->data, 16) && ops_aligned(a->data, 16) && ops_aligned(b->data, 16))
        ew2_kernel1<T, V, F><<<fp4_cdiv(n / V, 256), 256, 0, s>>>((T *)out->data, (const T *)a->data,
                                                                   (const T *)b->data, n, f);
    else
        ew2_kernel1<T, 1, F><<<fp4_cdiv(n, 256), 256, 0, s>>>((T *)out->data, (const T *)a->data,
                                                               (const T *)b->data, n, f);
    FP4_LAUNCH_CHECK(name);
    return FP4_OK;
}

fp4_status fp4_gelu_forward_cuda(fp4_context *ctx, fp4_view *out, const fp4_view *inp) {
#define RUN(T) ew1<T>(ctx, "gelu_forward_kernel1", out, inp, gelu_fwd_op())
    OPS_DISPATCH(inp, "fp4_gelu_forward", RUN);
#undef RUN
}

fp4_status fp4_gelu_backward_cuda(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout) {
#define RUN(T) ew2<T>(ctx, "gelu_backward_kernel1", dinp, inp, dout, gelu_bwd_op())
    OPS_DISPATCH(inp, "fp4_gelu_backward", RUN);
#undef RUN
}

fp4_status fp4_relu2_forward_cuda(fp4_context *ctx, fp4_view *out, const fp4_view *inp) {
#define RUN(T) ew1<T>(ctx, "relu2_forward_kernel1", out, inp, relu2_fwd_op())
    OPS_DISPATCH(inp, "fp4_relu2_forward", RUN);
#undef RUN
}

fp4_status fp4_relu2_backward_cuda(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout) {
#define RUN(T) ew2<T>(ctx, "relu2_backward_kernel1", dinp, inp, dout, relu2_bwd_op())
    OPS_DISPATCH(inp, "fp4_relu2_backward", RUN);
#undef RUN
}

fp4_status fp4_residual_forward_cuda(fp4_context *ctx, fp4_view *out, const fp4_view *a, const fp4_view *b) {
#define RUN(T) ew2<T>(ctx, "residual_forward_kernel1", out, a, b, add_op())
    OPS_DISPATCH(a, "fp4_residual_forward", RUN);
#undef RUN
}
