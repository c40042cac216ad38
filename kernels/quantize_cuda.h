/* kernels/quantize_cuda.h — extra C-linkage entry points of the CUDA quantizer (not installed),
 * beside fp4_quantize_cuda / fp4_dequantize_cuda / fp4_amax_cuda of kernels.h.
 *
 * fp4_quantize_cuda = fp4_quantize_cuda_async + fp4_quantize_cuda_finish. The split lets the
 * benchmark time the queued kernels alone (no host round trip) and lets a future training step
 * defer the one synchronization. Arguments are validated by lib/quantize.c before these run. */
#ifndef FP4KIT_QUANTIZE_CUDA_H
#define FP4KIT_QUANTIZE_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "fp4kit/quantize.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Queue every kernel of a quantization on the context's stream; nothing is synchronized and the
 * host fields of the outputs (amax, s_enc, s_dec, cfg) are not yet set. The device fields
 * (data, scales, tscale_dev) are complete when the stream reaches this point.
 * version: 2 = the fast kernels (what fp4_quantize uses); 1 = the straightforward rowwise kernel
 * (rowwise 1x16 / 1x32 only; other modes ignore it). */
fp4_status fp4_quantize_cuda_async(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, fp4_qtensor *rowwise,
                                   fp4_qtensor *columnwise, int version);

/* Copy {amax, s_enc, s_dec, nonfinite flag} to the host (one 16-byte copy + one stream sync),
 * fill the host fields of the outputs, and report FP4_ERR_NONFINITE in strict mode. */
fp4_status fp4_quantize_cuda_finish(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, fp4_qtensor *rowwise,
                                    fp4_qtensor *columnwise);

/* The NVFP4 amax pass alone (partials into the context workspace), queued, no synchronization:
 * lets the benchmark time the pass's share of an NVFP4 quantization. */
fp4_status fp4_amax_cuda_pass_async(fp4_context *ctx, const fp4_view *x);

/* Dequantize queued on the stream, no synchronization (fp4_dequantize_cuda is the same call). */
fp4_status fp4_dequantize_cuda_async(fp4_context *ctx, const fp4_qtensor *q, fp4_view *y);

/* Swizzle the compact scales of a device tensor into out (device memory, out_bytes >=
 * fp4_scales_swizzled_bytes(q)); queued on the stream, synchronized before returning. */
fp4_status fp4_scales_swizzle_cuda(fp4_context *ctx, const fp4_qtensor *q, uint8_t *out, size_t out_bytes);

#ifdef __cplusplus
}
#endif
#endif
