/* PLACEHOLDER — replaced by the CUDA GEMM kernels. */
#include "cuda_common.cuh"
#include "kernels.h"
extern "C" fp4_status fp4_gemm_cuda(fp4_context *, const fp4_qtensor *, const fp4_qtensor *, float, const fp4_view *, float, fp4_view *, fp4_alpha_mode) { return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
