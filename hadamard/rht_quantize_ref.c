/* hadamard/rht_quantize_ref.c — CPU reference of the Wgrad operand: RHT along tokens, BF16
 * rounding, post-RHT amax, columnwise NVFP4 1x16 / MXFP4 1x32 quantization (spec nvfp4-recipe.md
 * §5.3, §3, §6, §9; fp4kit/hadamard.h). The oracle for hadamard/rht_quantize.cu.
 *
 * Shapes: x host view [M tokens, K] (F32 or BF16, row stride ld), M a multiple of d (16 for NVFP4,
 * 32 for MXFP4). out: [K, M] quantized tensor (blocks along M), data [K, M/2], scales [K, M/d].
 *
 * Written unfused on purpose, as the composition the fused kernel must equal:
 *   1. t[k, m0+j] = BF16( (sum over butterflies of s_i * x[m0+i, k]) * fp32(1/sqrt d) )   (T = RHT(xᵀ))
 *   2. strict mode: fail on the first non-finite t in [K, M] row-major order, writing nothing
 *   3. amax = max |t| (NaN ignored); NVFP4: S_enc, S_dec from it (spec §3.1)
 *   4. every block of d consecutive t of a row (= one RHT chunk) is quantized like fp4_quantize's
 *      rowwise path of T with stream cfg->stream ^ FP4_STREAM_COLUMNWISE (SR index k*M + m).
 */
#include <math.h>
#include <stdlib.h>

#include "hadamard_impl.h"
#include "internal.h"

static inline float load_xt(const fp4_view *x, int64_t m, int64_t k) {
    const int64_t off = m * x->ld + k;
    if (x->dtype == FP4_DTYPE_BF16) return fp4_bf16_to_f32(((const uint16_t *)x->data)[off]);
    return ((const float *)x->data)[off];
}

fp4_status fp4_rht_transpose_bf16_ref(const fp4_view *x, int d, uint64_t sign_seed, uint16_t *t) {
    const int64_t M = x->rows, K = x->cols;
    const uint32_t sw = fp4h_sign_word(d, sign_seed, 0);
    const float scale = fp4h_scale_log2(fp4h_log2(d));
    if (d != 16 && d != 32) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_rht_transpose_bf16_ref: d = %d (16 or 32)", d);
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < K; k++) {
        float v[32];
        for (int64_t m0 = 0; m0 < M; m0 += d) {
            for (int i = 0; i < d; i++) v[i] = load_xt(x, m0 + i, k);
            fp4h_rht_chunk_bf16(v, d, sw, scale);
            for (int i = 0; i < d; i++) t[k * M + m0 + i] = fp4_f32_to_bf16(v[i]);
        }
    }
    return FP4_OK;
}

fp4_status fp4_rht_quantize_columnwise_ref(const fp4_view *x, const fp4_config *cfg, int d, uint64_t sign_seed,
                                           fp4_qtensor *out) {
    const int64_t M = x->rows, K = x->cols;
    uint16_t *t = NULL;
    FP4_MALLOC_TRY(t, sizeof(uint16_t) * (size_t)M * (size_t)K, "the RHT-transformed transpose");
    fp4_status st = fp4_rht_transpose_bf16_ref(x, d, sign_seed, t);
    if (st != FP4_OK) {
        free(t);
        return st;
    }
    const int64_t n = M * K;
    if (cfg->nonfinite == FP4_NONFINITE_ERROR) {
        int64_t first = INT64_MAX;
#pragma omp parallel for reduction(min : first) schedule(static)
        for (int64_t i = 0; i < n; i++)
            if (i < first && !isfinite(fp4_bf16_to_f32(t[i]))) first = i;
        if (first != INT64_MAX) {
            free(t);
            return fp4_fail(FP4_ERR_NONFINITE,
                            "fp4_rht_quantize_columnwise: RHT%d(x)ᵀ[%lld, %lld] is not finite (strict non-finite mode)",
                            d, (long long)(first / M), (long long)(first % M));
        }
    }
    float amax = 0.0f;
#pragma omp parallel for reduction(max : amax) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float a = fp4_amax_step(0.0f, fp4_bf16_to_f32(t[i]));
        if (a > amax) amax = a;
    }
    const int sr = cfg->rounding == FP4_ROUND_SR;
    const uint64_t stream = cfg->stream ^ FP4_STREAM_COLUMNWISE;
    const int nv = cfg->format == FP4_FORMAT_NVFP4;
    const float s_enc = nv ? fp4_nvfp4_global_enc(amax) : 1.0f;
    const float s_dec = nv ? fp4_nvfp4_global_dec(s_enc) : 1.0f;
    const int64_t nb = M / d;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < K; k++) {
        float v[32];
        for (int64_t b = 0; b < nb; b++) {
            const int64_t m0 = b * d, lin = k * M + m0;
            for (int i = 0; i < d; i++) v[i] = fp4_bf16_to_f32(t[lin + i]);
            uint8_t *codes = out->data + lin / 2;
            if (nv)
                out->scales[k * nb + b] = fp4h_nvfp4_block16(v, s_enc, s_dec, sr, cfg->seed, stream, (uint64_t)lin >> 4, codes);
            else
                out->scales[k * nb + b] = fp4h_mxfp4_block32(v, cfg->scale_rule == FP4_SCALE_OCP, sr, cfg->seed, stream,
                                                             (uint64_t)lin >> 4, codes);
        }
    }
    free(t);
    out->cfg = *cfg;
    out->cfg.stream = stream;
    out->hadamard = d;
    out->hadamard_seed = sign_seed;
    out->amax = amax;
    out->s_enc = s_enc;
    out->s_dec = s_dec;
    return FP4_OK;
}
