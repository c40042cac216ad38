/* PLACEHOLDER — being replaced by kernels/gemm_*.cu (fused W4A4 / W4A16 kernels, cuBLASLt). */
#include "cuda_common.cuh"
#include "gemm_internal.h"
#include "kernels.h"
extern "C" fp4_status fp4_gemm_cuda(fp4_context *, const fp4_qtensor *, const fp4_qtensor *, float, const fp4_view *, float, fp4_view *, fp4_alpha_mode) { return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
extern "C" fp4_status fp4_gemm_w4a4_cuda(fp4_context *, const fp4_qtensor *, const fp4_qtensor *, float, const fp4_view *, float, fp4_view *, fp4_alpha_mode, fp4_gemm_algo) { return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
extern "C" fp4_status fp4_gemm_w4a16_cuda(fp4_context *, const fp4_view *, const fp4_qtensor *, float, const fp4_view *, float, fp4_view *, fp4_gemm_algo) { return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
extern "C" fp4_status fp4_gemm_bf16_cuda(fp4_context *, const fp4_view *, const fp4_view *, float, const fp4_view *, float, fp4_view *) { return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
