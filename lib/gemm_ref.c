/* PLACEHOLDER — replaced by the reference GEMM. */
#include "ref.h"
fp4_status fp4_gemm_ref(const fp4_qtensor *a, const fp4_qtensor *b, float alpha, const fp4_view *c, float beta, fp4_view *d, fp4_alpha_mode mode) { (void)a; (void)b; (void)alpha; (void)c; (void)beta; (void)d; (void)mode; return fp4_fail(FP4_ERR_UNSUPPORTED, "not implemented yet"); }
