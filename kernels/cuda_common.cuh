/* kernels/cuda_common.cuh — shared helpers for the CUDA sources: error checks that return an
 * fp4_status (never exit), BF16 load/store, 16-byte vector types. */
#ifndef FP4KIT_CUDA_COMMON_CUH
#define FP4KIT_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "fp4kit/formats_inline.h"
#include "fp4kit/status.h"

#define FP4_CUDA_TRY(call)                                                                     \
    do {                                                                                       \
        cudaError_t fp4_ce_ = (call);                                                          \
        if (fp4_ce_ != cudaSuccess)                                                            \
            return fp4_fail(FP4_ERR_CUDA, "%s:%d: %s failed: %s (%s)", __FILE__, __LINE__,     \
                            #call, cudaGetErrorString(fp4_ce_), cudaGetErrorName(fp4_ce_));   \
    } while (0)

/* After a launch: report a launch-configuration error with the kernel's name. */
#define FP4_LAUNCH_CHECK(name)                                                                 \
    do {                                                                                       \
        cudaError_t fp4_le_ = cudaGetLastError();                                              \
        if (fp4_le_ != cudaSuccess)                                                            \
            return fp4_fail(FP4_ERR_CUDA, "%s:%d: launching %s failed: %s", __FILE__, __LINE__, \
                            (name), cudaGetErrorString(fp4_le_));                              \
    } while (0)

static inline unsigned fp4_cdiv(long long a, long long b) { return (unsigned)((a + b - 1) / b); }

#endif
