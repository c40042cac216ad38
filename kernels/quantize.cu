/* PLACEHOLDER — replaced by the CUDA quantization kernels. */
#include "cuda_common.cuh"
#include "kernels.h"
extern "C" fp4_status fp4_amax_cuda(fp4_context *, const fp4_view *, float *) { return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
extern "C" fp4_status fp4_quantize_cuda(fp4_context *, const fp4_view *, const fp4_config *, fp4_qtensor *, fp4_qtensor *) { return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
extern "C" fp4_status fp4_dequantize_cuda(fp4_context *, const fp4_qtensor *, fp4_view *) { return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
