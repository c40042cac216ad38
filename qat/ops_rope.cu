/* qat/ops_rope.cu — CUDA rotary position embedding of qat/ops.h, in place.
 * x [B*T, NH*hs] (F32 or BF16, row stride ld >= cols: q or k as a column slice of qkv), cos/sin
 * tables [T, hs/2] FP32 from fp4_rope_tables. Row r has position t = r % T; in head hd, pair
 * (j, j + hs/2): x'[j] = x[j]*c - x[j+h]*s, x'[j+h] = x[j]*s + x[j+h]*c, with s negated for the
 * backward (the inverse rotation). rope_kernel1: one thread per (row, head, N consecutive j):
 * 16-byte accesses (N = 4 F32 / 8 BF16) when hs/2, ld and the base allow, else N = 1.
 */
#include "ops_cuda_internal.h"

template <typename T, int N>
__global__ void rope_kernel1(T *x, const float *cos_t, const float *sin_t, int64_t rows, int64_t ld, int64_t T_,
                             int NH, int h, float sign) {
    const int per_head = h / N;
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= rows * NH * per_head) return;
    const int j = (int)(idx % per_head) * N;
    const int64_t rh = idx / per_head;
    const int hd = (int)(rh % NH);
    const int64_t r = rh / NH;
    const int64_t t = r % T_;
    T *p = x + r * ld + (int64_t)hd * 2 * h + j;
    float a[N], b[N], c[N], s[N];
    ops_load<T, N>(a, p);
    ops_load<T, N>(b, p + h);
    ops_load<float, N>(c, cos_t + t * h + j);
    ops_load<float, N>(s, sin_t + t * h + j);
#pragma unroll
    for (int k = 0; k < N; k++) {
        const float sn = sign * s[k];
        const float a2 = a[k] * c[k] - b[k] * sn;
        b[k] = a[k] * sn + b[k] * c[k];
        a[k] = a2;
    }
    ops_store<T, N>(p, a);
    ops_store<T, N>(p + h, b);
}

template <typename T>
static fp4_status rope_run(fp4_context *ctx, fp4_view *x, const float *cos_t, const float *sin_t, int64_t T_, int NH,
                           float sign) {
    const int64_t rows = x->rows;
    const int h = (int)(x->cols / NH / 2);
    constexpr int V = ops_vec<T>::N;
    cudaStream_t s = ops_stream(ctx);
    if (h % V == 0 && (x->ld * sizeof(T)) % 16 == 0 && ops_aligned(x->data, 16) && ops_aligned(cos_t, 16) &&
        ops_aligned(sin_t, 16))
        rope_kernel1<T, V><<<fp4_cdiv(rows * NH * (h / V), 256), 256, 0, s>>>((T *)x->data, cos_t, sin_t, rows, x->ld,
                                                                             T_, NH, h, sign);
    else
        rope_kernel1<T, 1><<<fp4_cdiv(rows * NH * h, 256), 256, 0, s>>>((T *)x->data, cos_t, sin_t, rows, x->ld, T_,
                                                                       NH, h, sign);
    FP4_LAUNCH_CHECK("rope_kernel1");
    return FP4_OK;
}

fp4_status fp4_rope_forward_cuda(fp4_context *ctx, fp4_view *x, const float *cos_t, const float *sin_t, int64_t T,
                                 int NH) {
#define RUN(TT) rope_run<TT>(ctx, x, cos_t, sin_t, T, NH, 1.0f)
    OPS_DISPATCH(x, "fp4_rope_forward", RUN);
#undef RUN
}

fp4_status fp4_rope_backward_cuda(fp4_context *ctx, fp4_view *dx, const float *cos_t, const float *sin_t, int64_t T,
                                  int NH) {
#define RUN(TT) rope_run<TT>(ctx, dx, cos_t, sin_t, T, NH, -1.0f)
    OPS_DISPATCH(dx, "fp4_rope_backward", RUN);
#undef RUN
}
