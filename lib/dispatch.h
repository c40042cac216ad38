/* lib/dispatch.h — argument checks and the host/device choice shared by the public dispatchers
 * (lib/quantize.c, lib/gemm.c, lib/layout.c, hadamard/hadamard.c). Not installed. */
#ifndef FP4KIT_DISPATCH_H
#define FP4KIT_DISPATCH_H

#include "fp4kit/context.h"
#include "fp4kit/tensor.h"

/* A 2-D F32 or BF16 view: non-NULL data, positive shape, ld >= cols, a valid location.
 * `what` names the argument in the message ("fp4_quantize: x"). */
fp4_status fp4_check_view(const fp4_view *v, const char *what);

/* An allocated quantized tensor with a valid config. */
fp4_status fp4_check_qtensor(const fp4_qtensor *q, const char *what);

/* Host memory -> *use_cuda = 0. Device memory -> 1, or an error when ctx is not a CUDA context
 * (FP4_ERR_INVALID_ARG) or the build has no CUDA (FP4_ERR_UNSUPPORTED). */
fp4_status fp4_pick_backend(fp4_context *ctx, fp4_location loc, const char *op, int *use_cuda);

#endif
