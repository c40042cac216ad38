/* lib/ref.h — the plain-C reference operators (the oracles every kernel is tested against).
 * Not installed. Arguments are already validated by the public dispatchers in lib/quantize.c
 * (host locations, shapes consistent with the block, allocated outputs). */
#ifndef FP4KIT_REF_H
#define FP4KIT_REF_H

#include "fp4kit/quantize.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Read element (r, c) of a host view as fp32 (F32, BF16 or F16). */
float fp4_view_get_f32(const fp4_view *x, int64_t r, int64_t c);

fp4_status fp4_amax_ref(const fp4_view *x, float *amax);
fp4_status fp4_quantize_ref(const fp4_view *x, const fp4_config *cfg, fp4_qtensor *rowwise, fp4_qtensor *columnwise);
fp4_status fp4_dequantize_ref(const fp4_qtensor *q, fp4_view *y);
fp4_status fp4_gemm_ref(const fp4_qtensor *a, const fp4_qtensor *b, float alpha, const fp4_view *c, float beta,
                        fp4_view *d, fp4_alpha_mode mode);

#ifdef __cplusplus
}
#endif
#endif
