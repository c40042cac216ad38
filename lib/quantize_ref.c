/* PLACEHOLDER — replaced by the reference quantizer. */
#include "ref.h"
float fp4_view_get_f32(const fp4_view *x, int64_t r, int64_t c) { (void)x; (void)r; (void)c; return 0.0f; }
fp4_status fp4_amax_ref(const fp4_view *x, float *amax) { (void)x; (void)amax; return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
fp4_status fp4_quantize_ref(const fp4_view *x, const fp4_config *cfg, fp4_qtensor *r, fp4_qtensor *c) { (void)x; (void)cfg; (void)r; (void)c; return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
fp4_status fp4_dequantize_ref(const fp4_qtensor *q, fp4_view *y) { (void)q; (void)y; return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
