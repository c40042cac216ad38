/* lib/quantize.c — public quantize / dequantize / fake-quant / amax / GEMM entry points.
 * Validates every argument (NULLs, dtypes, shapes against the block, locations), then runs the
 * CPU reference (lib/..._ref.c) for host tensors or the CUDA kernel (kernels/) for device tensors.
 * Mixing host and device tensors, or device tensors without a CUDA context, is an error. */
#include "fp4kit/quantize.h"

#include <stdlib.h>

#include "dispatch.h"
#include "internal.h"
#include "ref.h"
#ifdef FP4KIT_HAVE_CUDA
#include "kernels.h"
#endif

#define SAME_LOC(a, b, op)                                                                     \
    if ((a) != (b)) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: operands live in different places (host and device)", op)

fp4_status fp4_amax(fp4_context *ctx, const fp4_view *x, float *amax) {
    FP4_TRY(fp4_check_view(x, "fp4_amax: x"));
    if (!amax) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_amax: amax is NULL");
    int cuda = 0;
    FP4_TRY(fp4_pick_backend(ctx, x->loc, "fp4_amax", &cuda));
#ifdef FP4KIT_HAVE_CUDA
    if (cuda) return fp4_amax_cuda(ctx, x, amax);
#endif
    (void)cuda;
    return fp4_amax_ref(x, amax);
}

fp4_status fp4_quantize(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, fp4_qtensor *rowwise,
                        fp4_qtensor *columnwise) {
    FP4_TRY(fp4_check_view(x, "fp4_quantize: x"));
    FP4_TRY(fp4_config_validate(cfg));
    if (!rowwise && !columnwise)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_quantize: neither a rowwise nor a columnwise output was given");
    const int bc = fp4_block_cols(cfg->block), br = fp4_block_rows(cfg->block);
    if (rowwise) {
        FP4_TRY(fp4_check_qtensor(rowwise, "fp4_quantize: rowwise"));
        if (rowwise->rows != x->rows || rowwise->cols != x->cols)
            return fp4_fail(FP4_ERR_SHAPE, "fp4_quantize: rowwise output is [%lld, %lld] but x is [%lld, %lld]",
                            (long long)rowwise->rows, (long long)rowwise->cols, (long long)x->rows, (long long)x->cols);
        if (rowwise->cfg.format != cfg->format || rowwise->cfg.block != cfg->block)
            return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_quantize: rowwise output was allocated for %s %s, not %s %s",
                            fp4_format_name(rowwise->cfg.format), fp4_block_name(rowwise->cfg.block),
                            fp4_format_name(cfg->format), fp4_block_name(cfg->block));
        SAME_LOC(rowwise->loc, x->loc, "fp4_quantize");
    }
    if (columnwise) {
        FP4_TRY(fp4_check_qtensor(columnwise, "fp4_quantize: columnwise"));
        if (columnwise->rows != x->cols || columnwise->cols != x->rows)
            return fp4_fail(FP4_ERR_SHAPE,
                            "fp4_quantize: columnwise output is [%lld, %lld] but must be the transpose [%lld, %lld]",
                            (long long)columnwise->rows, (long long)columnwise->cols, (long long)x->cols,
                            (long long)x->rows);
        if (columnwise->cfg.format != cfg->format || columnwise->cfg.block != cfg->block)
            return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_quantize: columnwise output was allocated for another format/block");
        SAME_LOC(columnwise->loc, x->loc, "fp4_quantize");
    }
    if (x->cols % bc && rowwise)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_quantize: cols = %lld is not a multiple of the block width %d",
                        (long long)x->cols, bc);
    if (columnwise && x->rows % bc)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_quantize: rows = %lld must be a multiple of %d for a columnwise copy",
                        (long long)x->rows, bc);
    if (br > 1 && (x->rows % br || x->cols % br))
        return fp4_fail(FP4_ERR_SHAPE, "fp4_quantize: 16x16 blocks need rows and cols multiples of 16, got [%lld, %lld]",
                        (long long)x->rows, (long long)x->cols);
    int cuda = 0;
    FP4_TRY(fp4_pick_backend(ctx, x->loc, "fp4_quantize", &cuda));
#ifdef FP4KIT_HAVE_CUDA
    if (cuda) return fp4_quantize_cuda(ctx, x, cfg, rowwise, columnwise);
#endif
    (void)cuda;
    return fp4_quantize_ref(x, cfg, rowwise, columnwise);
}

fp4_status fp4_dequantize(fp4_context *ctx, const fp4_qtensor *q, fp4_view *y) {
    if (!q) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_dequantize: q is NULL");
    FP4_TRY(fp4_check_qtensor(q, "fp4_dequantize: q"));
    FP4_TRY(fp4_check_view(y, "fp4_dequantize: y"));
    if (y->rows != q->rows || y->cols != q->cols)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_dequantize: y is [%lld, %lld] but q is [%lld, %lld]", (long long)y->rows,
                        (long long)y->cols, (long long)q->rows, (long long)q->cols);
    SAME_LOC(q->loc, y->loc, "fp4_dequantize");
    int cuda = 0;
    FP4_TRY(fp4_pick_backend(ctx, y->loc, "fp4_dequantize", &cuda));
#ifdef FP4KIT_HAVE_CUDA
    if (cuda) return fp4_dequantize_cuda(ctx, q, y);
#endif
    (void)cuda;
    return fp4_dequantize_ref(q, y);
}

fp4_status fp4_fake_quant(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, fp4_view *y) {
    FP4_TRY(fp4_check_view(x, "fp4_fake_quant: x"));
    FP4_TRY(fp4_check_view(y, "fp4_fake_quant: y"));
    if (y->rows != x->rows || y->cols != x->cols)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_fake_quant: y is [%lld, %lld] but x is [%lld, %lld]", (long long)y->rows,
                        (long long)y->cols, (long long)x->rows, (long long)x->cols);
    SAME_LOC(x->loc, y->loc, "fp4_fake_quant");
    fp4_qtensor q;
    FP4_TRY(fp4_qtensor_alloc(&q, x->rows, x->cols, cfg, x->loc));
    fp4_status st = fp4_quantize(ctx, x, cfg, &q, NULL);
    if (st == FP4_OK) st = fp4_dequantize(ctx, &q, y);
    if (st == FP4_OK && x->loc == FP4_DEVICE) st = fp4_context_sync(ctx);
    fp4_qtensor_free(&q);
    return st;
}

float fp4_gemm_tensor_alpha(const fp4_qtensor *a, const fp4_qtensor *b, fp4_alpha_mode mode) {
    if (a->cfg.format != FP4_FORMAT_NVFP4) return 1.0f;
    if (mode == FP4_ALPHA_AMAX) {
        const float k = 1.0f / 7225344.0f; /* fp32(1/(6*6*448*448)); the spec text misprints 1/1806336 */
        return (a->amax * b->amax) * k;
    }
    return a->s_dec * b->s_dec;
}

fp4_status fp4_gemm(fp4_context *ctx, const fp4_qtensor *a, const fp4_qtensor *b, float alpha, const fp4_view *c,
                    float beta, fp4_view *d, fp4_alpha_mode mode) {
    if (!a || !b) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_gemm: operand is NULL");
    FP4_TRY(fp4_check_qtensor(a, "fp4_gemm: A"));
    FP4_TRY(fp4_check_qtensor(b, "fp4_gemm: B"));
    FP4_TRY(fp4_check_view(d, "fp4_gemm: D"));
    if (a->cfg.format != b->cfg.format || fp4_block_cols(a->cfg.block) != fp4_block_cols(b->cfg.block))
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_gemm: A is %s and B is %s; both operands need the same format",
                        fp4_format_name(a->cfg.format), fp4_format_name(b->cfg.format));
    if (a->cols != b->cols)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_gemm: K mismatch: A is [%lld, %lld], B is [%lld, %lld]", (long long)a->rows,
                        (long long)a->cols, (long long)b->rows, (long long)b->cols);
    if (d->rows != a->rows || d->cols != b->rows)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_gemm: D is [%lld, %lld] but A·Bᵀ is [%lld, %lld]", (long long)d->rows,
                        (long long)d->cols, (long long)a->rows, (long long)b->rows);
    if (mode != FP4_ALPHA_SDEC && mode != FP4_ALPHA_AMAX)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_gemm: invalid alpha mode %d", (int)mode);
    if (beta != 0.0f) {
        FP4_TRY(fp4_check_view(c, "fp4_gemm: C"));
        if (c->rows != d->rows || c->cols != d->cols)
            return fp4_fail(FP4_ERR_SHAPE, "fp4_gemm: C is [%lld, %lld] but D is [%lld, %lld]", (long long)c->rows,
                            (long long)c->cols, (long long)d->rows, (long long)d->cols);
        SAME_LOC(c->loc, d->loc, "fp4_gemm");
    }
    SAME_LOC(a->loc, d->loc, "fp4_gemm");
    SAME_LOC(b->loc, d->loc, "fp4_gemm");
    int cuda = 0;
    FP4_TRY(fp4_pick_backend(ctx, d->loc, "fp4_gemm", &cuda));
#ifdef FP4KIT_HAVE_CUDA
    if (cuda) return fp4_gemm_cuda(ctx, a, b, alpha, beta != 0.0f ? c : NULL, beta, d, mode);
#endif
    (void)cuda;
    return fp4_gemm_ref(a, b, alpha, beta != 0.0f ? c : NULL, beta, d, mode);
}
