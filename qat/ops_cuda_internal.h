/* qat/ops_cuda_internal.h — private helpers shared by the CUDA model ops (qat/ops_*.cu):
 * element load/store for the two activation dtypes (F32 as float, BF16 as its uint16_t bits,
 * converted with round-to-nearest-even), 16-byte vector loads/stores of VEC elements, warp and
 * block reductions in a fixed order (deterministic), the stream of a context, and the dtype
 * dispatch. Not installed; CUDA sources only.
 */
#ifndef FP4KIT_QAT_OPS_CUDA_INTERNAL_H
#define FP4KIT_QAT_OPS_CUDA_INTERNAL_H

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda_common.cuh"
#include "ops_cuda.h"

typedef uint16_t bf16_t; /* BF16 bits */

static inline cudaStream_t ops_stream(fp4_context *ctx) { return (cudaStream_t)fp4_context_stream(ctx); }

/* 1 if p is aligned to `a` bytes. */
static inline int ops_aligned(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

/* ---- scalar conversions ------------------------------------------------------------------------ */
__device__ __forceinline__ float ops_f(float x) { return x; }
__device__ __forceinline__ float ops_f(bf16_t x) { return __uint_as_float((uint32_t)x << 16); }
__device__ __forceinline__ void ops_st(float *p, float x) { *p = x; }
__device__ __forceinline__ void ops_st(bf16_t *p, float x) { *p = __bfloat16_as_ushort(__float2bfloat16_rn(x)); }
template <typename T> __device__ __forceinline__ T ops_cvt(float x);
template <> __device__ __forceinline__ float ops_cvt<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16_t ops_cvt<bf16_t>(float x) {
    return __bfloat16_as_ushort(__float2bfloat16_rn(x));
}

/* Elements of T in 16 bytes: 4 floats or 8 BF16. */
template <typename T> struct ops_vec { static constexpr int N = 16 / (int)sizeof(T); };

/* Load N consecutive elements of T at p as floats: 16-byte accesses when N*sizeof(T) is 16 or 32,
 * one 8-byte access when it is 8 — the caller guarantees the alignment — else element by element. */
template <typename T, int N> __device__ __forceinline__ void ops_load(float (&f)[N], const T *p) {
    if constexpr (N * sizeof(T) == 16) {
        union { int4 v; T e[N]; } u;
        u.v = *reinterpret_cast<const int4 *>(p);
#pragma unroll
        for (int k = 0; k < N; k++) f[k] = ops_f(u.e[k]);
    } else if constexpr (N * sizeof(T) == 32) {
        union { int4 v[2]; T e[N]; } u;
        u.v[0] = reinterpret_cast<const int4 *>(p)[0];
        u.v[1] = reinterpret_cast<const int4 *>(p)[1];
#pragma unroll
        for (int k = 0; k < N; k++) f[k] = ops_f(u.e[k]);
    } else if constexpr (N * sizeof(T) == 8) {
        union { uint2 v; T e[N]; } u;
        u.v = *reinterpret_cast<const uint2 *>(p);
#pragma unroll
        for (int k = 0; k < N; k++) f[k] = ops_f(u.e[k]);
    } else {
#pragma unroll
        for (int k = 0; k < N; k++) f[k] = ops_f(p[k]);
    }
}

template <typename T, int N> __device__ __forceinline__ void ops_store(T *p, const float (&f)[N]) {
    if constexpr (N * sizeof(T) == 16) {
        union { int4 v; T e[N]; } u;
#pragma unroll
        for (int k = 0; k < N; k++) u.e[k] = ops_cvt<T>(f[k]);
        *reinterpret_cast<int4 *>(p) = u.v;
    } else if constexpr (N * sizeof(T) == 32) {
        union { int4 v[2]; T e[N]; } u;
#pragma unroll
        for (int k = 0; k < N; k++) u.e[k] = ops_cvt<T>(f[k]);
        reinterpret_cast<int4 *>(p)[0] = u.v[0];
        reinterpret_cast<int4 *>(p)[1] = u.v[1];
    } else if constexpr (N * sizeof(T) == 8) {
        union { uint2 v; T e[N]; } u;
#pragma unroll
        for (int k = 0; k < N; k++) u.e[k] = ops_cvt<T>(f[k]);
        *reinterpret_cast<uint2 *>(p) = u.v;
    } else {
#pragma unroll
        for (int k = 0; k < N; k++) p[k] = ops_cvt<T>(f[k]);
    }
}

/* ---- reductions in a fixed order (butterfly: every lane ends with the same value) -------------- */
__device__ __forceinline__ float ops_warp_sum(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}
__device__ __forceinline__ float ops_warp_max(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
__device__ __forceinline__ double ops_warp_sum_d(double x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

/* Run `fn` with T = float or bf16_t according to the view's dtype. */
#define OPS_DISPATCH(view, op, fn)                                                                       \
    do {                                                                                                 \
        if ((view)->dtype == FP4_DTYPE_F32) return fn(float);                                            \
        if ((view)->dtype == FP4_DTYPE_BF16) return fn(bf16_t);                                          \
        return fp4_fail(FP4_ERR_DTYPE, "%s: dtype %s is not handled by the CUDA kernel", op,             \
                        fp4_dtype_name((view)->dtype));                                                  \
    } while (0)

#endif
