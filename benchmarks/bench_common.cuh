/* benchmarks/bench_common.cuh — what every benchmark shares: the ceilings measured in the same
 * run (device-to-device copy bandwidth, cuBLASLt BF16 and FP8 GEMM rates), CUDA-event timing with
 * warm-up and medians, input rotation so the 50 MB L2 never holds the working set, and a result
 * line format that tools/gpu-run.sh collects into benchmarks/RESULTS.md.
 *
 * Rules (shared/perf/ceilings.md, .library/device/METHOD.md): count the minimal bytes (each input
 * read once per pass it needs, each output written once); report GB/s and % of the copy measured
 * here; GEMMs report TFLOP/s and % of cuBLASLt measured here. Never time zeros. */
#ifndef FP4KIT_BENCH_COMMON_CUH
#define FP4KIT_BENCH_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fp4kit/context.h"
#include "fp4kit/formats_inline.h"
#include "fp4kit/status.h"
#include "fp4kit/tensor.h"

/* An fp4kit call that must succeed: print the status and the library's message, and exit. */
#define BENCH_FP4(st)                                                                          \
    do {                                                                                       \
        fp4_status s_ = (st);                                                                  \
        if (s_ != FP4_OK) {                                                                    \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, fp4_status_str(s_), fp4_last_error()); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

#define BENCH_CHECK(call)                                                                      \
    do {                                                                                       \
        cudaError_t e_ = (call);                                                               \
        if (e_ != cudaSuccess) {                                                               \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            return 1;                                                                          \
        }                                                                                      \
    } while (0)

/* Median of n floats (sorts in place). */
static inline float bench_median(float *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) { float t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

/* Time fn(i) (i = repetition index, use it to rotate inputs) with CUDA events: `warm` untimed
 * calls, then `reps` timed calls, each timed alone; returns the median in milliseconds or a
 * negative value if a CUDA error occurred. fn must enqueue its work on `stream`. */
template <typename F>
static float bench_time_ms(cudaStream_t stream, int warm, int reps, F fn) {
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    for (int i = 0; i < warm; i++) fn(i);
    float *t = (float *)malloc(sizeof(float) * (size_t)reps);
    for (int i = 0; i < reps; i++) {
        cudaEventRecord(a, stream);
        fn(warm + i);
        cudaEventRecord(b, stream);
        cudaEventSynchronize(b);
        cudaEventElapsedTime(&t[i], a, b);
    }
    float m = bench_median(t, reps);
    free(t);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    if (cudaGetLastError() != cudaSuccess) return -1.0f;
    return m;
}

/* Back-to-back timing: `reps` calls enqueued without a host synchronization between them, an
 * event recorded after each; returns the median of the per-call differences. The GPU runs behind
 * the host, as in a training loop, so host launch latency is not charged to a call (bench_time_ms,
 * which synchronizes after every call, charges each call the delay of its first launch). */
template <typename F>
static float bench_time_ms_b2b(cudaStream_t stream, int warm, int reps, F fn) {
    cudaEvent_t *ev = (cudaEvent_t *)malloc(sizeof(cudaEvent_t) * (size_t)(reps + 1));
    float *t = (float *)malloc(sizeof(float) * (size_t)reps);
    for (int i = 0; i <= reps; i++) cudaEventCreate(&ev[i]);
    for (int i = 0; i < warm; i++) fn(i);
    cudaEventRecord(ev[0], stream);
    for (int i = 0; i < reps; i++) {
        fn(warm + i);
        cudaEventRecord(ev[i + 1], stream);
    }
    cudaEventSynchronize(ev[reps]);
    for (int i = 0; i < reps; i++) cudaEventElapsedTime(&t[i], ev[i], ev[i + 1]);
    float m = bench_median(t, reps);
    for (int i = 0; i <= reps; i++) cudaEventDestroy(ev[i]);
    free(ev);
    free(t);
    if (cudaGetLastError() != cudaSuccess) return -1.0f;
    return m;
}

/* Random device bytes (splitmix-style hash of seed and index): mode 0 any byte; 1 an E4M3 block
 * scale in [2^-3, 60]; 2 an E8M0 scale in [2^-5, 2^5]; 3 FP8 E4M3 data without NaN. */
__global__ void bench_fill_bytes_kernel(uint8_t *p, size_t n, uint64_t seed, int mode) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint64_t x = seed ^ (i * 0x9E3779B97F4A7C15ull);
        x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
        uint8_t b = (uint8_t)x;
        if (mode == 1) b = (uint8_t)(0x20 + (x >> 8) % 0x38);
        if (mode == 2) b = (uint8_t)(122 + (x >> 8) % 11);
        if (mode == 3) b = (uint8_t)((b & 0x80) | (0x20 + (x >> 8) % 0x30));
        p[i] = b;
    }
}

static inline int bench_fill_bytes(void *p, size_t n, uint64_t seed, int mode, cudaStream_t s) {
    bench_fill_bytes_kernel<<<1024, 256, 0, s>>>((uint8_t *)p, n, seed, mode);
    BENCH_CHECK(cudaGetLastError());
    return 0;
}

/* Device memory that must be granted (exit otherwise). */
static inline void *bench_dev_alloc(size_t bytes) {
    void *p = NULL;
    BENCH_FP4(fp4_device_alloc(bytes, &p));
    return p;
}

/* A device FP4 operand of random codes and valid random scale bytes (never NaN), amax 6 and the
 * tensor scales the format implies (NVFP4: spec encode/decode pair; MXFP4: 1), as the GEMM
 * benchmarks time it. */
static inline void bench_make_q(fp4_context *ctx, cudaStream_t s, fp4_qtensor *q, int64_t rows, int64_t cols,
                                fp4_config cfg, uint64_t seed) {
    const int nv = cfg.format == FP4_FORMAT_NVFP4;
    BENCH_FP4(fp4_qtensor_alloc(q, rows, cols, &cfg, FP4_DEVICE));
    if (bench_fill_bytes(q->data, fp4_qtensor_data_bytes(q), seed, 0, s) ||
        bench_fill_bytes(q->scales, fp4_qtensor_scale_bytes(q), seed + 1, nv ? 1 : 2, s))
        exit(1);
    q->amax = 6.0f;
    q->s_enc = nv ? fp4_nvfp4_global_enc(q->amax) : 1.0f;
    q->s_dec = nv ? fp4_nvfp4_global_dec(q->s_enc) : 1.0f;
    const float ts[3] = {q->amax, q->s_enc, q->s_dec};
    BENCH_FP4(fp4_copy_to_device(ctx, q->tscale_dev, ts, sizeof ts));
}

/* Fill n bf16 values with N(0,1)-ish data (xorshift + sum of uniforms) on the device. */
__global__ void bench_fill_bf16_kernel(uint16_t *p, size_t n, uint64_t seed, float scale) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint64_t x = seed ^ (i * 0x9E3779B97F4A7C15ull);
        x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
        float u = ((float)(x & 0xffffff) + (float)((x >> 24) & 0xffffff) + (float)((x >> 48) & 0xffff) * 256.0f) /
                      16777216.0f - 1.5f;
        p[i] = fp4_f32_to_bf16(u * 2.0f * scale);
    }
}

static inline int bench_fill_bf16(uint16_t *p, size_t n, uint64_t seed, float scale) {
    bench_fill_bf16_kernel<<<1024, 256>>>(p, n, seed, scale);
    BENCH_CHECK(cudaGetLastError());
    BENCH_CHECK(cudaDeviceSynchronize());
    return 0;
}

/* Device-to-device copy bandwidth (bytes read + written per second, GB/s) over a 1 GiB buffer. */
static inline double bench_copy_gbps(cudaStream_t s) {
    const size_t bytes = (size_t)1 << 30;
    void *src = NULL, *dst = NULL;
    if (cudaMalloc(&src, bytes) != cudaSuccess || cudaMalloc(&dst, bytes) != cudaSuccess) return -1.0;
    cudaMemsetAsync(src, 0x3c, bytes, s);
    float ms = bench_time_ms(s, 3, 20, [&](int) { cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s); });
    cudaFree(src);
    cudaFree(dst);
    return ms > 0 ? 2.0 * (double)bytes / (ms * 1e-3) / 1e9 : -1.0;
}

/* One result line, machine-readable: RESULT|bench|case|metric=value|...  tools/gpu-run.sh greps these. */
#define BENCH_RESULT(...)                                                                      \
    do {                                                                                       \
        printf("RESULT|");                                                                     \
        printf(__VA_ARGS__);                                                                   \
        printf("\n");                                                                          \
        fflush(stdout);                                                                        \
    } while (0)

static inline void bench_print_device(void) {
    cudaDeviceProp p;
    int dev = 0;
    cudaGetDevice(&dev);
    if (cudaGetDeviceProperties(&p, dev) == cudaSuccess)
        printf("device: %s, %d SMs, L2 %d MB, sm_%d%d\n", p.name, p.multiProcessorCount, p.l2CacheSize >> 20, p.major,
               p.minor);
}

#endif
