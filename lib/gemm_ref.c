/* lib/gemm_ref.c — the CPU reference block-scaled FP4 GEMM (TN): D = alpha*alpha_t*A·Bᵀ + beta*C.
 *
 * Shapes: A is a quantized [M, K], B a quantized [N, K] (both K-major, same format and block
 * width bw: 16 for NVFP4, 32 for MXFP4), C (optional) and D are host views [M, N] (F32 or BF16,
 * row stride ld). Arguments were validated by fp4_gemm (lib/quantize.c).
 *
 * Exact order of operations (what tensor cores do, spec nvfp4-recipe.md §3.4; GPU GEMMs are
 * compared against this with a relative Frobenius tolerance, so only the fp32 summation order
 * of `acc` may legitimately differ):
 *
 *   for each (m, n):
 *     acc = 0.0f
 *     for kb = 0, 1, ..., K/bw - 1 (increasing):
 *       partial = sum_{k in block kb} e2m1(A[m,k]) * e2m1(B[n,k])      fp32, EXACT: every
 *                 product is a multiple of 1/4 with |.| <= 36, so |partial| <= 36*32 needs
 *                 at most 13 significant bits
 *       sab     = scale_A[m,kb] * scale_B[n,kb]                          fp32
 *                 NVFP4: e4m3 decoded values, <= 4 significant bits each, >= 2^-18: EXACT
 *                 MXFP4: ldexpf(1, ea + eb - 254) = 2^(ea-127) * 2^(eb-127): exact unless
 *                        ea + eb - 254 < -149 (underflows to 0) or > 127 (overflows to Inf);
 *                        either needs block scales far outside any realistic tensor
 *       acc     = acc + partial * sab      (partial*sab is exact for NVFP4 — 13 + 8 bits — and
 *                                            for MXFP4 unless it leaves the normal range; only
 *                                            the addition rounds)
 *     out = alpha * (alpha_t * acc)         alpha_t = fp4_gemm_tensor_alpha(A, B, mode)
 *                                          (1 for MXFP4; s_decA*s_decB or the amax form for NVFP4)
 *     if C: out = out + beta * C[m,n]       (beta*C rounded, then the sum rounded)
 *     D[m,n] = out (F32) or fp4_f32_to_bf16(out) (BF16, RNE)
 *
 * A NaN scale byte (E4M3 0x7F/0xFF, E8M0 0xFF) yields a NaN scale product, so NaN propagates.
 * C and D may alias: each D element is written after its own C element is read.
 * Parallelism: OpenMP over rows m; each output is computed by one thread in the fixed order
 * above, so results do not depend on the thread count.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fp4kit/formats_inline.h"
#include "internal.h"
#include "ref.h"

/* Decode all codes of q into fp32 values [rows, cols]. */
static void decode_codes(const fp4_qtensor *q, float *out) {
    const int64_t R = q->rows, C = q->cols;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) {
        for (int64_t c = 0; c < C; c += 2) {
            const uint8_t byte = q->data[r * (C / 2) + c / 2];
            out[r * C + c] = fp4_e2m1_decode((uint8_t)(byte & 0xfu));
            out[r * C + c + 1] = fp4_e2m1_decode((uint8_t)(byte >> 4));
        }
    }
}

static inline float scale_product(int nvfp4, uint8_t sa, uint8_t sb) {
    if (nvfp4) return fp4_e4m3_decode(sa) * fp4_e4m3_decode(sb);
    if (sa == 0xffu || sb == 0xffu) return fp4_bits_f32(0x7fc00000u);
    return ldexpf(1.0f, (int)sa + (int)sb - 254);
}

fp4_status fp4_gemm_ref(const fp4_qtensor *a, const fp4_qtensor *b, float alpha, const fp4_view *c, float beta,
                        fp4_view *d, fp4_alpha_mode mode) {
    if (d->dtype != FP4_DTYPE_F32 && d->dtype != FP4_DTYPE_BF16)
        return fp4_fail(FP4_ERR_DTYPE, "fp4_gemm: D dtype %s is not supported (f32 or bf16)", fp4_dtype_name(d->dtype));
    const int64_t M = a->rows, N = b->rows, K = a->cols;
    const int bw = fp4_block_cols(a->cfg.block);
    const int64_t nb = K / bw;
    float *va = NULL, *vb = NULL;
    FP4_MALLOC_TRY(va, (size_t)M * (size_t)K * sizeof(float), "fp4_gemm_ref: decoded A");
    vb = malloc((size_t)N * (size_t)K * sizeof(float) + 1);
    if (!vb) {
        free(va);
        return fp4_fail(FP4_ERR_NOMEM, "out of host memory allocating %zu bytes for fp4_gemm_ref: decoded B",
                        (size_t)N * (size_t)K * sizeof(float));
    }
    decode_codes(a, va);
    decode_codes(b, vb);
    const float alpha_t = fp4_gemm_tensor_alpha(a, b, mode);
    const int nv = a->cfg.format == FP4_FORMAT_NVFP4;
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; m++) {
        const float *ar = va + m * K;
        const uint8_t *sar = a->scales + m * nb;
        for (int64_t n = 0; n < N; n++) {
            const float *br = vb + n * K;
            const uint8_t *sbr = b->scales + n * nb;
            float acc = 0.0f;
            for (int64_t kb = 0; kb < nb; kb++) {
                float partial = 0.0f;
                for (int k = 0; k < bw; k++) partial += ar[kb * bw + k] * br[kb * bw + k];
                acc += partial * scale_product(nv, sar[kb], sbr[kb]);
            }
            float out = alpha * (alpha_t * acc);
            if (c) out = out + beta * fp4_view_get_f32(c, m, n);
            if (d->dtype == FP4_DTYPE_F32) ((float *)d->data)[m * d->ld + n] = out;
            else ((uint16_t *)d->data)[m * d->ld + n] = fp4_f32_to_bf16(out);
        }
    }
    free(va);
    free(vb);
    return FP4_OK;
}
