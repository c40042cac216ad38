/* hadamard/hadamard.c — public entry points of fp4kit/hadamard.h: descriptors, sign vectors,
 * argument validation with messages, and dispatch by location (host views -> the CPU references in
 * hadamard_ref.c / rht_quantize_ref.c, device views with a CUDA context -> hadamard.cu /
 * rht_quantize.cu). Mixing locations, or device views without a CUDA context, is an error; a build
 * without CUDA answers device calls with FP4_ERR_UNSUPPORTED. */
#include "fp4kit/hadamard.h"

#include <string.h>

#include "dispatch.h"
#include "hadamard_impl.h"
#include "internal.h"

fp4_hadamard_desc fp4_hadamard_plain(int d) {
    fp4_hadamard_desc h;
    memset(&h, 0, sizeof h);
    h.d = d;
    h.axis = FP4_HAD_ALONG_ROWS;
    return h;
}

fp4_hadamard_desc fp4_hadamard_rht(int d, uint64_t seed) {
    fp4_hadamard_desc h = fp4_hadamard_plain(d);
    h.random_signs = 1;
    h.seed = seed;
    return h;
}

static int valid_d(int d) { return d >= FP4_HADAMARD_MIN_D && d <= FP4_HADAMARD_MAX_D && fp4h_log2(d) >= 0; }

float fp4_hadamard_scale(int d) { return valid_d(d) ? fp4h_scale_log2(fp4h_log2(d)) : 0.0f; }

uint32_t fp4_hadamard_sign_word(int d, uint64_t seed, int w) {
    if (!valid_d(d) || w < 0 || w >= (d + 31) / 32) return 0u;
    return fp4h_sign_word(d, seed, (uint32_t)w);
}

int fp4_hadamard_sign(int d, uint64_t seed, int i) {
    if (!valid_d(d) || i < 0 || i >= d) return 1;
    return (fp4h_sign_word(d, seed, (uint32_t)(i >> 5)) >> (i & 31)) & 1u ? -1 : 1;
}

fp4_status fp4_hadamard_validate(const fp4_hadamard_desc *h, int64_t rows, int64_t cols) {
    if (!h) return fp4_fail(FP4_ERR_INVALID_ARG, "Hadamard descriptor is NULL");
    if (fp4h_log2(h->d) < 0)
        return fp4_fail(FP4_ERR_INVALID_ARG, "Hadamard size d = %d is not a power of two", h->d);
    if (h->d < FP4_HADAMARD_MIN_D || h->d > FP4_HADAMARD_MAX_D)
        return fp4_fail(FP4_ERR_INVALID_ARG, "Hadamard size d = %d is outside [%d, %d]", h->d, FP4_HADAMARD_MIN_D,
                        FP4_HADAMARD_MAX_D);
    if (h->axis != FP4_HAD_ALONG_ROWS && h->axis != FP4_HAD_ALONG_COLS)
        return fp4_fail(FP4_ERR_INVALID_ARG, "Hadamard axis %d is neither along rows (0) nor along columns (1)",
                        (int)h->axis);
    if (h->axis == FP4_HAD_ALONG_COLS && h->d > FP4_HADAMARD_MAX_D_COLS)
        return fp4_fail(FP4_ERR_UNSUPPORTED, "Hadamard along columns supports d <= %d, got d = %d",
                        FP4_HADAMARD_MAX_D_COLS, h->d);
    if (rows <= 0 || cols <= 0)
        return fp4_fail(FP4_ERR_SHAPE, "Hadamard input shape [%lld, %lld] must be positive", (long long)rows,
                        (long long)cols);
    if (h->axis == FP4_HAD_ALONG_ROWS && cols % h->d)
        return fp4_fail(FP4_ERR_SHAPE, "Hadamard along rows: cols = %lld is not a multiple of d = %d", (long long)cols,
                        h->d);
    if (h->axis == FP4_HAD_ALONG_COLS && rows % h->d)
        return fp4_fail(FP4_ERR_SHAPE, "Hadamard along columns: rows = %lld is not a multiple of d = %d",
                        (long long)rows, h->d);
    return FP4_OK;
}

fp4_status fp4_hadamard(fp4_context *ctx, const fp4_view *x, fp4_view *y, const fp4_hadamard_desc *h) {
    FP4_TRY(fp4_check_view(x, "fp4_hadamard: x"));
    FP4_TRY(fp4_check_view(y, "fp4_hadamard: y"));
    if (!h) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_hadamard: descriptor is NULL");
    if (y->rows != x->rows || y->cols != x->cols)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_hadamard: y is [%lld, %lld] but x is [%lld, %lld]", (long long)y->rows,
                        (long long)y->cols, (long long)x->rows, (long long)x->cols);
    if (y->loc != x->loc) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_hadamard: x and y live in different places");
    if (y->data == x->data && (y->dtype != x->dtype || y->ld != x->ld))
        return fp4_fail(FP4_ERR_INVALID_ARG,
                        "fp4_hadamard: in-place use needs the same dtype and row stride for x and y (got %s/%lld and %s/%lld)",
                        fp4_dtype_name(x->dtype), (long long)x->ld, fp4_dtype_name(y->dtype), (long long)y->ld);
    fp4_status st = fp4_hadamard_validate(h, x->rows, x->cols);
    if (st != FP4_OK) return fp4_fail_context(st, "fp4_hadamard");
    if (h->random_signs != 0 && h->random_signs != 1)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_hadamard: random_signs = %d (expected 0 or 1)", h->random_signs);
    int cuda = 0;
    FP4_TRY(fp4_pick_backend(ctx, x->loc, "fp4_hadamard", &cuda));
#ifdef FP4KIT_HAVE_CUDA
    if (cuda) return fp4_hadamard_cuda(ctx, x, y, h);
#endif
    (void)cuda;
    return fp4_hadamard_ref(x, y, h);
}

fp4_status fp4_rotate_blocks(fp4_context *ctx, const fp4_view *x, fp4_view *y, int k, fp4_had_axis axis) {
    if (k != 16 && k != 32 && k != 64 && k != 128)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_rotate_blocks: block size k = %d (expected 16, 32, 64 or 128)", k);
    fp4_hadamard_desc h = fp4_hadamard_plain(k);
    h.axis = axis;
    fp4_status st = fp4_hadamard(ctx, x, y, &h);
    if (st != FP4_OK) return fp4_fail_context(st, "fp4_rotate_blocks");
    return FP4_OK;
}

fp4_status fp4_rht_quantize_columnwise(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, int d,
                                       uint64_t sign_seed, fp4_qtensor *out) {
    const char *op = "fp4_rht_quantize_columnwise";
    FP4_TRY(fp4_check_view(x, "fp4_rht_quantize_columnwise: x"));
    if (!cfg) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: cfg is NULL", op);
    if (!out) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: out is NULL", op);
    FP4_TRY(fp4_config_validate(cfg));
    if (cfg->format == FP4_FORMAT_NVFP4 && cfg->block != FP4_BLOCK_1x16)
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: the NVFP4 Wgrad operand uses 1x16 blocks, not %s", op,
                        fp4_block_name(cfg->block));
    const int want = cfg->format == FP4_FORMAT_NVFP4 ? 16 : 32;
    if (fp4h_log2(d) < 0) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: Hadamard size d = %d is not a power of two", op, d);
    if (d != want)
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: %s needs an RHT of size %d (the block width), got d = %d", op,
                        fp4_format_name(cfg->format), want, d);
    if (x->rows % d)
        return fp4_fail(FP4_ERR_SHAPE, "%s: M = %lld tokens (rows of x) is not a multiple of %d", op,
                        (long long)x->rows, d);
    if (!out->data || !out->scales) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: out is not allocated", op);
    if (out->rows != x->cols || out->cols != x->rows)
        return fp4_fail(FP4_ERR_SHAPE, "%s: out is [%lld, %lld] but must be the transpose [%lld, %lld] of x", op,
                        (long long)out->rows, (long long)out->cols, (long long)x->cols, (long long)x->rows);
    if (out->cfg.format != cfg->format || out->cfg.block != cfg->block)
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: out was allocated for %s %s, not %s %s", op,
                        fp4_format_name(out->cfg.format), fp4_block_name(out->cfg.block), fp4_format_name(cfg->format),
                        fp4_block_name(cfg->block));
    if (out->loc != x->loc) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: x and out live in different places", op);
    if (out->loc == FP4_DEVICE && !out->tscale_dev)
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: device tensor out has no tscale_dev (allocate it with fp4_qtensor_alloc)", op);
    int cuda = 0;
    FP4_TRY(fp4_pick_backend(ctx, x->loc, op, &cuda));
#ifdef FP4KIT_HAVE_CUDA
    if (cuda) return fp4_rht_quantize_columnwise_cuda(ctx, x, cfg, d, sign_seed, out, 1);
#endif
    (void)cuda;
    return fp4_rht_quantize_columnwise_ref(x, cfg, d, sign_seed, out);
}
