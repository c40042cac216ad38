/* kernels/cuda_common.cuh — shared helpers for the CUDA sources: error checks that return an
 * fp4_status (never exit; FP4_CUDA_TRY comes from lib/internal.h), BF16 load/store, 16-byte vector types. */
#ifndef FP4KIT_CUDA_COMMON_CUH
#define FP4KIT_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "fp4kit/formats_inline.h"
#include "fp4kit/status.h"
#include "internal.h" /* FP4_CUDA_TRY, FP4_MALLOC_TRY */

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
