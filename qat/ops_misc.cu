/* qat/ops_misc.cu — CUDA memory helpers of qat/ops.h:
 *   fp4_ops_zero:    cudaMemsetAsync on the context's stream.
 *   fp4_ops_convert: dst = src element-wise, F32 <-> BF16 (round to nearest even, NaN kept quiet
 *                    with its sign: fp4_f32_to_bf16, the reference's own function, so the result
 *                    is bit-identical to fp4_ops_convert_ref) or a copy for equal dtypes. Both
 *                    views contiguous [rows, cols]; one thread per 8 elements when aligned.
 */
#include "ops_cuda_internal.h"

template <typename S, typename D, int N> __global__ void convert_kernel1(D *dst, const S *src, int64_t n) {
    const int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * N;
    if (i >= n) return;
    float f[N];
    ops_load<S, N>(f, src + i);
    if constexpr (sizeof(D) == 2) {
        D o[N];
#pragma unroll
        for (int k = 0; k < N; k++) o[k] = fp4_f32_to_bf16(f[k]);
        if constexpr (N == 8) {
            *reinterpret_cast<int4 *>(dst + i) = *reinterpret_cast<const int4 *>(o);
        } else {
#pragma unroll
            for (int k = 0; k < N; k++) dst[i + k] = o[k];
        }
    } else {
        ops_store<D, N>(dst + i, f);
    }
}

template <typename S, typename D> static fp4_status convert_run(fp4_context *ctx, void *dst, const void *src, int64_t n) {
    cudaStream_t s = ops_stream(ctx);
    if (n % 8 == 0 && ops_aligned(dst, 16) && ops_aligned(src, 16))
        convert_kernel1<S, D, 8><<<fp4_cdiv(n / 8, 256), 256, 0, s>>>((D *)dst, (const S *)src, n);
    else
        convert_kernel1<S, D, 1><<<fp4_cdiv(n, 256), 256, 0, s>>>((D *)dst, (const S *)src, n);
    FP4_LAUNCH_CHECK("convert_kernel1");
    return FP4_OK;
}

fp4_status fp4_ops_zero_cuda(fp4_context *ctx, void *p, size_t bytes) {
    FP4_CUDA_TRY(cudaMemsetAsync(p, 0, bytes, ops_stream(ctx)));
    return FP4_OK;
}

fp4_status fp4_ops_convert_cuda(fp4_context *ctx, fp4_view *dst, const fp4_view *src) {
    const int64_t n = src->rows * src->cols;
    if (src->ld != src->cols || dst->ld != dst->cols)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_ops_convert: views must be contiguous");
    if (src->dtype == dst->dtype) {
        FP4_CUDA_TRY(cudaMemcpyAsync(dst->data, src->data, (size_t)n * fp4_dtype_size(src->dtype),
                                     cudaMemcpyDeviceToDevice, ops_stream(ctx)));
        return FP4_OK;
    }
    if (src->dtype == FP4_DTYPE_F32 && dst->dtype == FP4_DTYPE_BF16) return convert_run<float, bf16_t>(ctx, dst->data, src->data, n);
    if (src->dtype == FP4_DTYPE_BF16 && dst->dtype == FP4_DTYPE_F32) return convert_run<bf16_t, float>(ctx, dst->data, src->data, n);
    return fp4_fail(FP4_ERR_DTYPE, "fp4_ops_convert: %s -> %s is not handled by the CUDA kernel",
                    fp4_dtype_name(src->dtype), fp4_dtype_name(dst->dtype));
}
