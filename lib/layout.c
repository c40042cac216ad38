/* lib/layout.c — public scale-layout entry points (fp4kit/layout.h): argument checks, then the
 * host reference (lib/layout_ref.c) for host tensors or the CUDA kernel (kernels/swizzle.cu) for
 * device tensors. */
#include "fp4kit/layout.h"

#include "dispatch.h"

#ifdef FP4KIT_HAVE_CUDA
#include "quantize_cuda.h"
#endif

size_t fp4_scales_swizzled_bytes(const fp4_qtensor *q) {
    if (!q || q->rows <= 0 || q->cols <= 0) return 0;
    const int64_t kb = q->cols / fp4_block_cols(q->cfg.block);
    return (size_t)((q->rows + 127) / 128 * 128) * (size_t)((kb + 3) / 4 * 4);
}

fp4_status fp4_scales_swizzle(fp4_context *ctx, const fp4_qtensor *q, uint8_t *out, size_t out_bytes) {
    if (!q) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_scales_swizzle: q is NULL");
    if (!out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_scales_swizzle: out is NULL");
    if (!q->scales) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_scales_swizzle: quantized tensor is not allocated");
    FP4_TRY(fp4_config_validate(&q->cfg));
    const size_t need = fp4_scales_swizzled_bytes(q);
    if (out_bytes < need)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_scales_swizzle: out holds %zu bytes but a [%lld, %lld] tensor needs %zu",
                        out_bytes, (long long)q->rows, (long long)q->cols, need);
    int cuda = 0;
    FP4_TRY(fp4_pick_backend(ctx, q->loc, "fp4_scales_swizzle", &cuda));
#ifdef FP4KIT_HAVE_CUDA
    if (cuda) return fp4_scales_swizzle_cuda(ctx, q, out, out_bytes);
#endif
    fp4_scales_swizzle_host(q->scales, q->rows, q->cols / fp4_block_cols(q->cfg.block), out);
    return FP4_OK;
}
