/* lib/gemm_w4a16_ref.c — CPU references for the W4A16 GEMM and the BF16 GEMM (fp4kit/gemm.h).
 *
 * Shapes (TN, both operands K-major):
 *   W4A16: x BF16 view [M, K], w quantized [N, K] (NVFP4 1x16/16x16 or MXFP4), D/C [M, N].
 *   BF16:  a BF16 view [M, K], b BF16 view [N, K], D/C [M, N].
 * C and D are F32 or BF16 host views (row stride ld). Arguments were validated by lib/gemm.c.
 *
 * Exact order of operations (the GPU kernels differ only in the fp32 summation order of acc):
 *   W4A16, for each (m, n):
 *     acc = 0.0f
 *     for k = 0 .. K-1 (increasing):
 *       wv  = e2m1(w[n,k]) * blockscale(w[n, k/bw])     fp32, exact (<= 6 significant bits;
 *                                                      MXFP4 exact while 2^(b-127) stays normal)
 *       acc = acc + bf16(x[m,k]) * wv                   product exact (8 + 6 bits), sum rounds
 *     out = alpha * (t_w * acc)                         t_w = s_dec (NVFP4) or 1 (MXFP4)
 *     if C: out = out + beta * C[m,n]
 *     D[m,n] = out (F32) or RNE bf16(out)
 *   BF16: acc = sum over k increasing of a*b (products exact: 8 + 8 bits), out = alpha * acc,
 *     + beta * C, store.
 * C and D may alias (each D element is written after its C element is read). OpenMP over rows;
 * each output is computed by one thread in the fixed order above.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fp4kit/formats_inline.h"
#include "gemm_internal.h"
#include "internal.h"
#include "ref.h"

static inline void store_out(fp4_view *d, int64_t m, int64_t n, float v) {
    if (d->dtype == FP4_DTYPE_F32) ((float *)d->data)[m * d->ld + n] = v;
    else ((uint16_t *)d->data)[m * d->ld + n] = fp4_f32_to_bf16(v);
}

/* Decoded weight row-block value: e2m1 * block scale (fp32, exact). */
static void decode_weight(const fp4_qtensor *w, float *out) {
    const int64_t N = w->rows, K = w->cols;
    const int bw = fp4_block_cols(w->cfg.block);
    const int nv = w->cfg.format == FP4_FORMAT_NVFP4;
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < K; k++) {
            const uint8_t byte = w->data[n * (K / 2) + k / 2];
            const uint8_t code = (uint8_t)((k & 1) ? (byte >> 4) : (byte & 0xfu));
            const uint8_t sb = w->scales[n * (K / bw) + k / bw];
            const float s = nv ? fp4_e4m3_decode(sb) : fp4_e8m0_decode(sb);
            out[n * K + k] = fp4_e2m1_decode(code) * s;
        }
    }
}

fp4_status fp4_gemm_w4a16_ref(const fp4_view *x, const fp4_qtensor *w, float alpha, const fp4_view *c, float beta,
                              fp4_view *d) {
    const int64_t M = x->rows, N = w->rows, K = w->cols;
    float *wv = NULL;
    FP4_MALLOC_TRY(wv, (size_t)N * (size_t)K * sizeof(float), "fp4_gemm_w4a16_ref: decoded weight");
    decode_weight(w, wv);
    const float tw = w->cfg.format == FP4_FORMAT_NVFP4 ? w->s_dec : 1.0f;
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; m++) {
        const uint16_t *xr = (const uint16_t *)x->data + m * x->ld;
        for (int64_t n = 0; n < N; n++) {
            const float *wr = wv + n * K;
            float acc = 0.0f;
            for (int64_t k = 0; k < K; k++) acc = acc + fp4_bf16_to_f32(xr[k]) * wr[k];
            float out = alpha * (tw * acc);
            if (c) out = out + beta * fp4_view_get_f32(c, m, n);
            store_out(d, m, n, out);
        }
    }
    free(wv);
    return FP4_OK;
}

fp4_status fp4_gemm_bf16_ref(const fp4_view *a, const fp4_view *b, float alpha, const fp4_view *c, float beta,
                             fp4_view *d) {
    const int64_t M = a->rows, N = b->rows, K = a->cols;
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; m++) {
        const uint16_t *ar = (const uint16_t *)a->data + m * a->ld;
        for (int64_t n = 0; n < N; n++) {
            const uint16_t *br = (const uint16_t *)b->data + n * b->ld;
            float acc = 0.0f;
            for (int64_t k = 0; k < K; k++) acc = acc + fp4_bf16_to_f32(ar[k]) * fp4_bf16_to_f32(br[k]);
            float out = alpha * acc;
            if (c) out = out + beta * fp4_view_get_f32(c, m, n);
            store_out(d, m, n, out);
        }
    }
    return FP4_OK;
}
