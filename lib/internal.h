/* lib/internal.h — private helpers shared by the library's C sources (not installed).
 *
 * Check macros turn failures of CUDA runtime calls and allocations into statuses with a
 * message naming the call, file and line (llm.c's cudaCheck idea, without exit()).
 */
#ifndef FP4KIT_INTERNAL_H
#define FP4KIT_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>

#include "fp4kit/status.h"

#ifdef FP4KIT_HAVE_CUDA
#include <cuda_runtime_api.h>
#define FP4_CUDA_TRY(call)                                                                     \
    do {                                                                                       \
        cudaError_t fp4_ce_ = (call);                                                          \
        if (fp4_ce_ != cudaSuccess)                                                            \
            return fp4_fail(FP4_ERR_CUDA, "%s:%d: %s failed: %s (%s)", __FILE__, __LINE__,     \
                            #call, cudaGetErrorString(fp4_ce_), cudaGetErrorName(fp4_ce_));   \
    } while (0)
#endif

/* Checked host allocation: returns FP4_ERR_NOMEM with the size and purpose on failure. */
#define FP4_MALLOC_TRY(ptr, bytes, what)                                                       \
    do {                                                                                       \
        size_t fp4_mb_ = (size_t)(bytes);                                                      \
        (ptr) = malloc(fp4_mb_ ? fp4_mb_ : 1);                                                 \
        if (!(ptr)) return fp4_fail(FP4_ERR_NOMEM, "out of host memory allocating %zu bytes for %s", fp4_mb_, (what)); \
    } while (0)

/* Zero-initialised device counters owned by a CUDA context (at least n, grown on demand), for
 * kernels that count CTA arrivals (last-CTA-reduces split-K): every kernel that uses them must
 * leave them zero when it completes (atomicInc with wrap-around does). Stream-ordered on the
 * context's stream. */
#ifdef __cplusplus
extern "C" {
#endif
struct fp4_context;
fp4_status fp4_context_counters(struct fp4_context *ctx, size_t n, unsigned **ptr);
#ifdef __cplusplus
}
#endif

/* a*b for sizes, failing on overflow. */
static inline int fp4_mul_overflows(uint64_t a, uint64_t b, uint64_t *out) {
    if (a && b > UINT64_MAX / a) return 1;
    *out = a * b;
    return 0;
}

#endif
