/* qat/ops_encoder.cu — CUDA token embedding of qat/ops.h.
 *   forward:  out [N, C] (F32 or BF16) row i = wte[tokens[i], :], wte [Vp, C] FP32.
 *             encoder_forward_kernel1: one thread per 4 channels (float4 read of wte, 16- or
 *             8-byte write) when C % 4 == 0 and the rows are aligned, else one per channel.
 *   backward: dwte [Vp, C] FP32 += sum over i with tokens[i] == v of dout[i, :], in increasing i
 *             for every v, starting from the value already in dwte: exactly the reference's
 *             sequence of FP32 additions, so the result is bit-identical to it (F32 dout) and
 *             does not depend on the launch (no atomics).
 *             1. iota + cub::DeviceRadixSort::SortPairs (a stable LSD radix sort) of (token, i):
 *                rows grouped by token, each group in increasing i (workspace: 3 N ints + cub's
 *                temporary storage).
 *             2. encoder_backward_kernel1, grid (N, channel groups): the block at sorted
 *                position p continues only if p starts a group (p == 0 or key[p-1] != key[p]);
 *                each thread owns VEC channels of that token's dwte row and adds the group's
 *                dout rows in order (serial in i by construction; a token that occurs k times
 *                costs k dependent adds per thread, the rows' loads are independent).
 */
#include <cub/device/device_radix_sort.cuh>

#include "ops_cuda_internal.h"

template <typename T, int N>
__global__ void encoder_forward_kernel1(T *out, const int32_t *tokens, const float *wte, int64_t Nrows, int64_t C) {
    const int64_t idx = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * N;
    if (idx >= Nrows * C) return;
    const int64_t i = idx / C, c = idx % C;
    float f[N];
    ops_load<float, N>(f, wte + (int64_t)tokens[i] * C + c);
    ops_store<T, N>(out + idx, f);
}

template <typename T>
static fp4_status encoder_forward_run(fp4_context *ctx, fp4_view *out, const int32_t *tokens, const float *wte) {
    const int64_t N = out->rows, C = out->cols;
    cudaStream_t s = ops_stream(ctx);
    if (C % 4 == 0 && ops_aligned(wte, 16) && ops_aligned(out->data, 4 * sizeof(T)))
        encoder_forward_kernel1<T, 4><<<fp4_cdiv(N * C / 4, 256), 256, 0, s>>>((T *)out->data, tokens, wte, N, C);
    else
        encoder_forward_kernel1<T, 1><<<fp4_cdiv(N * C, 256), 256, 0, s>>>((T *)out->data, tokens, wte, N, C);
    FP4_LAUNCH_CHECK("encoder_forward_kernel1");
    return FP4_OK;
}

fp4_status fp4_encoder_forward_cuda(fp4_context *ctx, fp4_view *out, const int32_t *tokens, const float *wte,
                                    int64_t V) {
    (void)V;
#define RUN(T) encoder_forward_run<T>(ctx, out, tokens, wte)
    OPS_DISPATCH(out, "fp4_encoder_forward", RUN);
#undef RUN
}

/* ---- backward ---------------------------------------------------------------------------------- */

__global__ void iota_kernel1(int32_t *p, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) p[i] = (int32_t)i;
}

#define ENC_BWD_THREADS 128

template <typename T, int N>
__global__ void __launch_bounds__(ENC_BWD_THREADS)
    encoder_backward_kernel1(float *dwte, const T *dout, const int32_t *key, const int32_t *row, int64_t Nrows,
                             int64_t C) {
    const int64_t p = blockIdx.x;
    const int32_t v = key[p];
    if (p > 0 && key[p - 1] == v) return; /* not the first row of its token's group */
    const int64_t c = ((int64_t)blockIdx.y * ENC_BWD_THREADS + threadIdx.x) * N;
    if (c >= C) return;
    float acc[N], d[N];
    float *dst = dwte + (int64_t)v * C + c;
    ops_load<float, N>(acc, dst);
    int64_t q = p;
    int32_t i = row[q];
    while (true) {
        ops_load<T, N>(d, dout + (int64_t)i * C + c);
        const int64_t qn = q + 1;
        const bool more = qn < Nrows && key[qn] == v;
        const int32_t in = more ? row[qn] : 0;
#pragma unroll
        for (int k = 0; k < N; k++) acc[k] += d[k];
        if (!more) break;
        q = qn;
        i = in;
    }
    ops_store<float, N>(dst, acc);
}

static int key_bits(int64_t V) {
    int b = 1;
    while (b < 31 && ((int64_t)1 << b) < V) b++;
    return b;
}

template <typename T>
static fp4_status encoder_backward_run(fp4_context *ctx, float *dwte, const fp4_view *dout, const int32_t *tokens,
                                       int64_t V) {
    const int64_t N = dout->rows, C = dout->cols;
    if (N > INT32_MAX || C / 4 / ENC_BWD_THREADS >= 65535)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_encoder_backward: [%lld, %lld] is too large for the CUDA kernel", (long long)N, (long long)C);
    cudaStream_t s = ops_stream(ctx);
    size_t tmp = 0;
    cudaError_t ce = cub::DeviceRadixSort::SortPairs(NULL, tmp, (const int32_t *)NULL, (int32_t *)NULL,
                                                     (const int32_t *)NULL, (int32_t *)NULL, (int)N, 0, key_bits(V), s);
    if (ce != cudaSuccess)
        return fp4_fail(FP4_ERR_CUDA, "fp4_encoder_backward: cub SortPairs size query failed: %s", cudaGetErrorString(ce));
    const size_t ints = ((size_t)N * sizeof(int32_t) + 255) & ~(size_t)255;
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, 3 * ints + tmp + 256, &ws));
    int32_t *iota = (int32_t *)ws;
    int32_t *key = (int32_t *)((char *)ws + ints);
    int32_t *row = (int32_t *)((char *)ws + 2 * ints);
    void *cubtmp = (char *)ws + 3 * ints;
    iota_kernel1<<<fp4_cdiv(N, 256), 256, 0, s>>>(iota, N);
    FP4_LAUNCH_CHECK("iota_kernel1");
    ce = cub::DeviceRadixSort::SortPairs(cubtmp, tmp, tokens, key, iota, row, (int)N, 0, key_bits(V), s);
    if (ce != cudaSuccess)
        return fp4_fail(FP4_ERR_CUDA, "fp4_encoder_backward: cub SortPairs failed: %s", cudaGetErrorString(ce));
    const int vec = C % 4 == 0 && ops_aligned(dwte, 16) && ops_aligned(dout->data, 4 * sizeof(T));
    const int n = vec ? 4 : 1;
    const dim3 grid((unsigned)N, fp4_cdiv(C / n, ENC_BWD_THREADS));
    if (vec)
        encoder_backward_kernel1<T, 4><<<grid, ENC_BWD_THREADS, 0, s>>>(dwte, (const T *)dout->data, key, row, N, C);
    else
        encoder_backward_kernel1<T, 1><<<grid, ENC_BWD_THREADS, 0, s>>>(dwte, (const T *)dout->data, key, row, N, C);
    FP4_LAUNCH_CHECK("encoder_backward_kernel1");
    return FP4_OK;
}

fp4_status fp4_encoder_backward_cuda(fp4_context *ctx, float *dwte, const fp4_view *dout, const int32_t *tokens,
                                     int64_t V) {
#define RUN(T) encoder_backward_run<T>(ctx, dwte, dout, tokens, V)
    OPS_DISPATCH(dout, "fp4_encoder_backward", RUN);
#undef RUN
}
