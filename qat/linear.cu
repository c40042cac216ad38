/* qat/linear.cu — device versions of the linear layer's high-precision primitives (see
 * qat/linear_impl.h for the exact fp32 operation order, which these kernels follow so that CPU and
 * GPU agree bit for bit on the same inputs):
 *   gemm_tn_kernel   D [M, N] = A [M, K] · B [N, K]ᵀ (+ bias) (+ D): 16x16 output tiles, A and B
 *                    K-tiles staged in shared memory, one thread per output, k ascending,
 *                    __fmul_rn/__fadd_rn so nothing is contracted into an FMA. A plain FP32 GEMM
 *                    for the fake-quant and plain paths (not tensor cores, not cuBLASLt).
 *   convert_kernel   F32/BF16 -> F32/BF16 with BF16 rounding (grid-stride); with transpose the
 *                    32x32 shared-memory tile kernel transpose_convert_kernel (coalesced reads
 *                    and writes; the same per-element conversion).
 *   colsum_kernel    db[c] += sum_r src[r, c] (one thread per column, r ascending; src F32 or BF16).
 *   bias_add_kernel  y[m, n] += bias[n] (y F32 or BF16).
 * All launches are queued on fp4_context_stream(ctx) and checked. Also the side-stream helpers
 * (a second context, events) of fp4_linear.side.
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "fp4kit/formats_inline.h"
#include "internal.h"
#include "linear_impl.h"

#define TILE 16

/* Blocks of 256 for n elements of a grid-stride loop (capped; the loop covers the rest). */
static unsigned grid_1d(int64_t n) {
    const int64_t b = (n + 255) / 256;
    return (unsigned)(b < 1 ? 1 : (b > 65536 ? 65536 : b));
}

static fp4_status launch_check(const char *kernel) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return fp4_fail(FP4_ERR_CUDA, "%s launch failed: %s (%s)", kernel, cudaGetErrorString(e), cudaGetErrorName(e));
    return FP4_OK;
}

__global__ void gemm_tn_kernel(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                               int64_t ldb, float *D, int64_t ldd, const float *bias, int accumulate) {
    __shared__ float As[TILE][TILE + 1], Bs[TILE][TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t m = (int64_t)blockIdx.y * TILE + ty, n = (int64_t)blockIdx.x * TILE + tx;
    const int64_t mA = (int64_t)blockIdx.y * TILE + ty, nB = (int64_t)blockIdx.x * TILE + ty;
    float acc = 0.0f;
    for (int64_t k0 = 0; k0 < K; k0 += TILE) {
        As[ty][tx] = (mA < M && k0 + tx < K) ? A[mA * lda + k0 + tx] : 0.0f;
        Bs[ty][tx] = (nB < N && k0 + tx < K) ? B[nB * ldb + k0 + tx] : 0.0f;
        __syncthreads();
        const int kn = (int)(K - k0 < TILE ? K - k0 : TILE);
        for (int k = 0; k < kn; k++) acc = __fadd_rn(acc, __fmul_rn(As[ty][k], Bs[tx][k]));
        __syncthreads();
    }
    if (m < M && n < N) {
        float out = acc;
        if (bias) out = __fadd_rn(out, bias[n]);
        if (accumulate) out = __fadd_rn(out, D[m * ldd + n]);
        D[m * ldd + n] = out;
    }
}

__global__ void convert_kernel(int64_t R, int64_t C, const void *src, int sbf16, int64_t lds, void *dst, int dbf16,
                               int64_t ldd, int transpose, int round_bf16) {
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < R * C; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = e / C, c = e % C, i = r * lds + c;
        const float v = sbf16 ? fp4_bf16_to_f32(((const uint16_t *)src)[i]) : ((const float *)src)[i];
        const int64_t o = transpose ? c * ldd + r : r * ldd + c;
        if (dbf16) ((uint16_t *)dst)[o] = fp4_f32_to_bf16(v);
        else ((float *)dst)[o] = round_bf16 ? fp4_bf16_to_f32(fp4_f32_to_bf16(v)) : v;
    }
}

/* dst[c, r] = conv(src[r, c]) through a 32x33 shared tile; block (32, 8), grid over (C/32, R/32). */
__global__ void transpose_convert_kernel(int64_t R, int64_t C, const void *src, int sbf16, int64_t lds, void *dst,
                                         int dbf16, int64_t ldd, int round_bf16) {
    __shared__ float tile[32][33];
    const int64_t c0 = (int64_t)blockIdx.x * 32, r0 = (int64_t)blockIdx.y * 32;
    for (int j = threadIdx.y; j < 32; j += 8) {
        const int64_t r = r0 + j, c = c0 + threadIdx.x;
        if (r < R && c < C) {
            const int64_t i = r * lds + c;
            tile[j][threadIdx.x] = sbf16 ? fp4_bf16_to_f32(((const uint16_t *)src)[i]) : ((const float *)src)[i];
        }
    }
    __syncthreads();
    for (int j = threadIdx.y; j < 32; j += 8) {
        const int64_t c = c0 + j, r = r0 + threadIdx.x; /* output row c, column r */
        if (r < R && c < C) {
            const float v = tile[threadIdx.x][j];
            const int64_t o = c * ldd + r;
            if (dbf16) ((uint16_t *)dst)[o] = fp4_f32_to_bf16(v);
            else ((float *)dst)[o] = round_bf16 ? fp4_bf16_to_f32(fp4_f32_to_bf16(v)) : v;
        }
    }
}

template <typename T> __device__ __forceinline__ float lin_ld(const T *p);
template <> __device__ __forceinline__ float lin_ld<float>(const float *p) { return *p; }
template <> __device__ __forceinline__ float lin_ld<uint16_t>(const uint16_t *p) { return fp4_bf16_to_f32(*p); }
__device__ __forceinline__ void lin_st(float *p, float v) { *p = v; }
__device__ __forceinline__ void lin_st(uint16_t *p, float v) { *p = fp4_f32_to_bf16(v); }

template <typename T> __global__ void colsum_kernel(int64_t R, int64_t C, const T *src, int64_t lds, float *db) {
    const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int64_t r = 0; r < R; r++) s = __fadd_rn(s, lin_ld(src + r * lds + c));
    db[c] = __fadd_rn(db[c], s);
}

template <typename T> __global__ void bias_add_kernel(int64_t M, int64_t N, T *y, int64_t ldy, const float *bias) {
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < M * N; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t m = e / N, n = e % N;
        lin_st(y + m * ldy + n, __fadd_rn(lin_ld(y + m * ldy + n), bias[n]));
    }
}

extern "C" fp4_status fp4_lin_gemm_tn_cuda(fp4_context *ctx, int64_t M, int64_t N, int64_t K, const float *A,
                                           int64_t lda, const float *B, int64_t ldb, float *D, int64_t ldd,
                                           const float *bias, int accumulate) {
    if ((N + TILE - 1) / TILE > INT32_MAX || (M + TILE - 1) / TILE > 65535)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_linear GEMM: [%lld, %lld] output is too large for one launch", (long long)M,
                        (long long)N);
    cudaStream_t st = (cudaStream_t)fp4_context_stream(ctx);
    dim3 block(TILE, TILE), grid((unsigned)((N + TILE - 1) / TILE), (unsigned)((M + TILE - 1) / TILE));
    gemm_tn_kernel<<<grid, block, 0, st>>>(M, N, K, A, lda, B, ldb, D, ldd, bias, accumulate);
    return launch_check("gemm_tn_kernel");
}

extern "C" fp4_status fp4_lin_convert_cuda(fp4_context *ctx, int64_t R, int64_t C, const void *src, fp4_dtype sdt,
                                           int64_t lds, void *dst, fp4_dtype ddt, int64_t ldd, int transpose,
                                           int round_bf16) {
    cudaStream_t st = (cudaStream_t)fp4_context_stream(ctx);
    if (transpose && (R + 31) / 32 <= 65535 && (C + 31) / 32 <= INT32_MAX) {
        dim3 block(32, 8), grid((unsigned)((C + 31) / 32), (unsigned)((R + 31) / 32));
        transpose_convert_kernel<<<grid, block, 0, st>>>(R, C, src, sdt == FP4_DTYPE_BF16, lds, dst,
                                                         ddt == FP4_DTYPE_BF16, ldd, round_bf16);
        return launch_check("transpose_convert_kernel");
    }
    convert_kernel<<<grid_1d(R * C), 256, 0, st>>>(R, C, src, sdt == FP4_DTYPE_BF16, lds, dst, ddt == FP4_DTYPE_BF16, ldd,
                                           transpose, round_bf16);
    return launch_check("convert_kernel");
}

extern "C" fp4_status fp4_lin_colsum_cuda(fp4_context *ctx, int64_t R, int64_t C, const void *src, fp4_dtype sdt,
                                          int64_t lds, float *db) {
    cudaStream_t st = (cudaStream_t)fp4_context_stream(ctx);
    if (sdt == FP4_DTYPE_BF16)
        colsum_kernel<uint16_t><<<(unsigned)((C + 255) / 256), 256, 0, st>>>(R, C, (const uint16_t *)src, lds, db);
    else
        colsum_kernel<float><<<(unsigned)((C + 255) / 256), 256, 0, st>>>(R, C, (const float *)src, lds, db);
    return launch_check("colsum_kernel");
}

extern "C" fp4_status fp4_lin_bias_add_cuda(fp4_context *ctx, int64_t M, int64_t N, void *y, fp4_dtype ydt,
                                            int64_t ldy, const float *bias) {
    cudaStream_t st = (cudaStream_t)fp4_context_stream(ctx);
    if (ydt == FP4_DTYPE_BF16)
        bias_add_kernel<uint16_t><<<grid_1d(M * N), 256, 0, st>>>(M, N, (uint16_t *)y, ldy, bias);
    else
        bias_add_kernel<float><<<grid_1d(M * N), 256, 0, st>>>(M, N, (float *)y, ldy, bias);
    return launch_check("bias_add_kernel");
}

extern "C" fp4_status fp4_lin_side_create(fp4_context **side) {
    int dev = 0;
    FP4_CUDA_TRY(cudaGetDevice(&dev));
    return fp4_context_create_cuda(dev, NULL, side);
}

extern "C" fp4_status fp4_lin_event_record(fp4_context *ctx, void **ev) {
    if (!*ev) {
        cudaEvent_t e;
        FP4_CUDA_TRY(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
        *ev = (void *)e;
    }
    FP4_CUDA_TRY(cudaEventRecord((cudaEvent_t)*ev, (cudaStream_t)fp4_context_stream(ctx)));
    return FP4_OK;
}

extern "C" fp4_status fp4_lin_event_wait(fp4_context *ctx, void *ev) {
    FP4_CUDA_TRY(cudaStreamWaitEvent((cudaStream_t)fp4_context_stream(ctx), (cudaEvent_t)ev, 0));
    return FP4_OK;
}

extern "C" void fp4_lin_event_destroy(void *ev) {
    if (ev) cudaEventDestroy((cudaEvent_t)ev);
}
