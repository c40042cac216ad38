/* lib/dispatch.c — see dispatch.h. */
#include "dispatch.h"

fp4_status fp4_check_view(const fp4_view *v, const char *what) {
    if (!v) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: view is NULL", what);
    if (!v->data) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: data pointer is NULL", what);
    if (v->dtype != FP4_DTYPE_F32 && v->dtype != FP4_DTYPE_BF16)
        return fp4_fail(FP4_ERR_DTYPE, "%s: dtype %s is not supported (expected f32 or bf16)", what,
                        fp4_dtype_name(v->dtype));
    if (v->rows <= 0 || v->cols <= 0)
        return fp4_fail(FP4_ERR_SHAPE, "%s: shape [%lld, %lld] must be positive", what, (long long)v->rows,
                        (long long)v->cols);
    if (v->ld < v->cols)
        return fp4_fail(FP4_ERR_SHAPE, "%s: row stride %lld is smaller than cols %lld", what, (long long)v->ld,
                        (long long)v->cols);
    if (v->loc != FP4_HOST && v->loc != FP4_DEVICE)
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: invalid location %d", what, (int)v->loc);
    return FP4_OK;
}

fp4_status fp4_check_qtensor(const fp4_qtensor *q, const char *what) {
    if (!q) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: quantized tensor is NULL", what);
    if (!q->data || !q->scales) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: quantized tensor is not allocated", what);
    return fp4_config_validate(&q->cfg);
}

fp4_status fp4_pick_backend(fp4_context *ctx, fp4_location loc, const char *op, int *use_cuda) {
    *use_cuda = 0;
    if (loc == FP4_HOST) return FP4_OK;
    if (loc != FP4_DEVICE) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: invalid location %d", op, (int)loc);
    if (!fp4_context_is_cuda(ctx))
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: tensors are on the device but the context is not a CUDA context", op);
#ifdef FP4KIT_HAVE_CUDA
    *use_cuda = 1;
    return FP4_OK;
#else
    return fp4_fail(FP4_ERR_UNSUPPORTED, "%s: this fp4kit was built without CUDA", op);
#endif
}
