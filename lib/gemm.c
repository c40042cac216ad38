/* lib/gemm.c — public dispatchers of fp4kit/gemm.h: fp4_gemm_ex (W4A4 with an algorithm choice),
 * fp4_gemm_w4a16(_ex) and fp4_gemm_bf16. Each validates every argument (NULLs, dtypes, shapes,
 * K against the block, locations, alpha mode, algorithm), then runs the CPU reference for host
 * tensors (lib/gemm_ref.c, lib/gemm_w4a16_ref.c) or the CUDA path for device tensors
 * (kernels/gemm_*.cu). Mixing host and device tensors is an error; there is no silent fallback.
 * AUTO on the device: the fused sm_90a wgmma kernel for large M when it can run
 * (fp4_gemm_wgmma_*_auto, kernels/gemm_wgmma.cu), else the CUDA side's own AUTO rule. */
#include "fp4kit/gemm.h"

#include <stdio.h>

#include "dispatch.h"
#include "gemm_internal.h"
#include "internal.h"
#include "ref.h"

/* fp4_check_view, plus "BF16 only" for the operands that must be BF16. */
static fp4_status check_view2d(const fp4_view *v, const char *what, int bf16_only) {
    FP4_TRY(fp4_check_view(v, what));
    if (bf16_only && v->dtype != FP4_DTYPE_BF16)
        return fp4_fail(FP4_ERR_DTYPE, "%s: dtype %s is not supported (expected bf16)", what, fp4_dtype_name(v->dtype));
    return FP4_OK;
}

static fp4_status check_qt(const fp4_qtensor *q, const char *what) {
    if (!q) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: quantized tensor is NULL", what);
    if (!q->data || !q->scales) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: quantized tensor is not allocated", what);
    FP4_TRY(fp4_config_validate(&q->cfg));
    const int bw = fp4_block_cols(q->cfg.block);
    if (q->rows <= 0 || q->cols <= 0 || q->cols % bw)
        return fp4_fail(FP4_ERR_SHAPE, "%s: shape [%lld, %lld]: K = %lld must be a positive multiple of the %s block width %d",
                        what, (long long)q->rows, (long long)q->cols, (long long)q->cols,
                        fp4_format_name(q->cfg.format), bw);
    if (q->loc == FP4_DEVICE && q->cfg.format == FP4_FORMAT_NVFP4 && !q->tscale_dev)
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: device NVFP4 tensor has no tscale_dev (device tensor scales)", what);
    return FP4_OK;
}

/* C (when beta != 0) and D against the expected [M, N] and D's location. */
static fp4_status check_out(const char *op, const fp4_view *c, float beta, const fp4_view *d, int64_t M, int64_t N) {
    char what[64];
    snprintf(what, sizeof what, "%s: D", op);
    FP4_TRY(check_view2d(d, what, 0));
    if (d->rows != M || d->cols != N)
        return fp4_fail(FP4_ERR_SHAPE, "%s: D is [%lld, %lld] but the product is [%lld, %lld]", op, (long long)d->rows,
                        (long long)d->cols, (long long)M, (long long)N);
    if (beta != 0.0f) {
        snprintf(what, sizeof what, "%s: C (beta != 0)", op);
        FP4_TRY(check_view2d(c, what, 0));
        if (c->rows != M || c->cols != N)
            return fp4_fail(FP4_ERR_SHAPE, "%s: C is [%lld, %lld] but D is [%lld, %lld]", op, (long long)c->rows,
                            (long long)c->cols, (long long)M, (long long)N);
        if (c->loc != d->loc)
            return fp4_fail(FP4_ERR_INVALID_ARG, "%s: C and D live in different places (host and device)", op);
    }
    return FP4_OK;
}

/* Locations first, so a mixed call is INVALID_ARG whatever else is wrong with it. */
static fp4_status check_locs(const char *op, fp4_location la, fp4_location lb, const fp4_view *d) {
    if (!d) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: D: view is NULL", op);
    if (la != d->loc || lb != d->loc)
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: operands live in different places (host and device)", op);
    return FP4_OK;
}

static fp4_status check_algo(const char *op, fp4_gemm_algo algo) {
    if (algo != FP4_GEMM_ALGO_AUTO && algo != FP4_GEMM_ALGO_FUSED && algo != FP4_GEMM_ALGO_TWO_PASS)
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: invalid algorithm %d", op, (int)algo);
    return FP4_OK;
}

/* The checks every GEMM entry point ends with, and its back end: K of the operands equal (an, bn
 * name them in the message), C/D shapes [ar, br], the location's back end (*cuda), and the C to
 * pass on (*cc: NULL when beta == 0). */
static fp4_status check_product(const char *op, const char *an, int64_t ar, int64_t ac, const char *bn, int64_t br,
                                int64_t bc, const fp4_view *c, float beta, fp4_view *d, fp4_context *ctx, int *cuda,
                                const fp4_view **cc) {
    if (ac != bc)
        return fp4_fail(FP4_ERR_SHAPE, "%s: K mismatch: %s is [%lld, %lld], %s is [%lld, %lld]", op, an, (long long)ar,
                        (long long)ac, bn, (long long)br, (long long)bc);
    FP4_TRY(check_out(op, c, beta, d, ar, br));
    FP4_TRY(fp4_pick_backend(ctx, d->loc, op, cuda));
    *cc = beta != 0.0f ? c : NULL;
    return FP4_OK;
}

fp4_status fp4_gemm_ex(fp4_context *ctx, const fp4_qtensor *a, const fp4_qtensor *b, float alpha, const fp4_view *c,
                       float beta, fp4_view *d, fp4_alpha_mode mode, fp4_gemm_algo algo) {
    const char *op = "fp4_gemm_ex";
    FP4_TRY(check_qt(a, "fp4_gemm_ex: A"));
    FP4_TRY(check_qt(b, "fp4_gemm_ex: B"));
    FP4_TRY(check_algo(op, algo));
    FP4_TRY(check_locs(op, a->loc, b->loc, d));
    if (a->cfg.format != b->cfg.format || fp4_block_cols(a->cfg.block) != fp4_block_cols(b->cfg.block))
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: A is %s and B is %s; both operands need the same format", op,
                        fp4_format_name(a->cfg.format), fp4_format_name(b->cfg.format));
    if (mode != FP4_ALPHA_SDEC && mode != FP4_ALPHA_AMAX)
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: invalid alpha mode %d", op, (int)mode);
    int cuda = 0;
    const fp4_view *cc = NULL;
    FP4_TRY(check_product(op, "A", a->rows, a->cols, "B", b->rows, b->cols, c, beta, d, ctx, &cuda, &cc));
#ifdef FP4KIT_HAVE_CUDA
    if (cuda) {
        if (algo == FP4_GEMM_ALGO_AUTO && fp4_gemm_wgmma_w4a4_auto(a, b)) algo = FP4_GEMM_ALGO_FUSED;
        return fp4_gemm_w4a4_cuda(ctx, a, b, alpha, cc, beta, d, mode, algo);
    }
#endif
    return fp4_gemm_ref(a, b, alpha, cc, beta, d, mode);
}

fp4_status fp4_gemm_w4a16_ex(fp4_context *ctx, const fp4_view *x, const fp4_qtensor *w, float alpha,
                             const fp4_view *c, float beta, fp4_view *d, fp4_gemm_algo algo) {
    const char *op = "fp4_gemm_w4a16";
    FP4_TRY(check_view2d(x, "fp4_gemm_w4a16: x", 1));
    FP4_TRY(check_qt(w, "fp4_gemm_w4a16: w"));
    FP4_TRY(check_algo(op, algo));
    FP4_TRY(check_locs(op, x->loc, w->loc, d));
    int cuda = 0;
    const fp4_view *cc = NULL;
    FP4_TRY(check_product(op, "x", x->rows, x->cols, "w", w->rows, w->cols, c, beta, d, ctx, &cuda, &cc));
#ifdef FP4KIT_HAVE_CUDA
    if (cuda) {
        if (algo == FP4_GEMM_ALGO_AUTO && fp4_gemm_wgmma_w4a16_auto(x, w)) algo = FP4_GEMM_ALGO_FUSED;
        return fp4_gemm_w4a16_cuda(ctx, x, w, alpha, cc, beta, d, algo);
    }
#endif
    return fp4_gemm_w4a16_ref(x, w, alpha, cc, beta, d);
}

fp4_status fp4_gemm_w4a16(fp4_context *ctx, const fp4_view *x, const fp4_qtensor *w, float alpha, const fp4_view *c,
                          float beta, fp4_view *d) {
    return fp4_gemm_w4a16_ex(ctx, x, w, alpha, c, beta, d, FP4_GEMM_ALGO_AUTO);
}

fp4_status fp4_gemm_bf16(fp4_context *ctx, const fp4_view *a, const fp4_view *b, float alpha, const fp4_view *c,
                         float beta, fp4_view *d) {
    const char *op = "fp4_gemm_bf16";
    FP4_TRY(check_view2d(a, "fp4_gemm_bf16: A", 1));
    FP4_TRY(check_view2d(b, "fp4_gemm_bf16: B", 1));
    FP4_TRY(check_locs(op, a->loc, b->loc, d));
    int cuda = 0;
    const fp4_view *cc = NULL;
    FP4_TRY(check_product(op, "A", a->rows, a->cols, "B", b->rows, b->cols, c, beta, d, ctx, &cuda, &cc));
#ifdef FP4KIT_HAVE_CUDA
    if (cuda) {
        if (cc && cc->dtype != d->dtype)
            return fp4_fail(FP4_ERR_DTYPE, "%s: on the device C must have D's dtype (C %s, D %s; cuBLASLt rule)", op,
                            fp4_dtype_name(cc->dtype), fp4_dtype_name(d->dtype));
        return fp4_gemm_bf16_cuda(ctx, a, b, alpha, cc, beta, d);
    }
#endif
    return fp4_gemm_bf16_ref(a, b, alpha, cc, beta, d);
}
