/* lib/quantize_ref.c — the CPU reference quantizer: amax, NVFP4 / MXFP4 quantize, dequantize.
 *
 * This file is the oracle: every CUDA quantize kernel must reproduce its codes and scale bytes
 * bit for bit. Every rounding decision is delegated to fp4kit/formats_inline.h (the same source
 * the kernels compile), so this file only fixes the *order* of operations and the data layout.
 *
 * Shapes: x is a host view [R, C] (F32, BF16; F16 readable) with row stride ld.
 *   rowwise    q [R, C]: blocks along C.            data [R, C/2], scales [R, C/bw]
 *   columnwise q [C, R]: quantized Xᵀ, blocks along R. data [C, R/2], scales [C, R/bw]
 * Both copies are made from the high-precision input; the columnwise copy never re-quantizes
 * the rowwise one.
 *
 * NVFP4 (spec nvfp4-recipe.md §3.1-3.3, §4, §6):
 *   amax   = max |x| over the whole tensor (NaN ignored, Inf counts)
 *   S_enc  = fp4_nvfp4_global_enc(amax), S_dec = fp4_nvfp4_global_dec(S_enc)
 *   block  = 16 consecutive elements of an output row (1x16) or a 16x16 tile (one amax over the
 *            tile; its scale byte is replicated into the 16 rows' scale entries)
 *   s_b    = fp4_nvfp4_block_scale(amax_b, S_enc);  enc_b = fp4_nvfp4_block_enc(s_b, S_dec)
 *   code   = E2M1_RNE(x * enc_b) or E2M1_SR(x * enc_b, fp4_sr_bits8(seed, stream, r*cols + c))
 *            with (r, c) the element's position in the OUTPUT tensor, stream = cfg->stream for the
 *            rowwise copy and cfg->stream ^ FP4_STREAM_COLUMNWISE for the columnwise copy.
 *   A 16x16 tile's amax, s_b and enc_b are symmetric under transposition, so with RNE the
 *   columnwise copy equals the transposed rowwise copy bit for bit.
 * MXFP4 (spec §9, mxfp4-mrgptq-qlora.md §2): 32 elements per block, scale byte
 *   b = fp4_e8m0_rceil(amax_b) or fp4_e8m0_ocp(amax_b); code = E2M1(x * fp4_e8m0_inverse(b)).
 *   s_enc = s_dec = 1; q->amax = tensor amax (informational).
 * Non-finite inputs: FP4_NONFINITE_SATURATE = hardware semantics (NaN -> code 7, +-Inf -> +-6,
 *   amax ignores NaN; an Inf amax gives S_enc = 1 and a saturated 448 block scale).
 *   FP4_NONFINITE_ERROR scans the input first and fails with FP4_ERR_NONFINITE naming the first
 *   offending (row, col) in row-major order; nothing is written.
 * Packing: element 2j in the low nibble, 2j+1 in the high nibble.
 *
 * Parallelism: OpenMP over output rows (or 16-row tiles). Every output byte is a pure function
 * of the input and the config, and the amax is a max (order-free), so results do not depend on
 * the thread count. The SR bits of an aligned group of 16 elements come from one Philox call,
 * which is exactly fp4_sr_bits8 for each of them (blocks are 16 or 32 wide, so a group never
 * straddles two rows).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fp4kit/formats_inline.h"
#include "internal.h"
#include "ref.h"

/* ---------------------------------------------------------------------------------------- */
/* reading views                                                                              */

/* IEEE binary16 -> fp32, exact. */
static float f16_to_f32(uint16_t h) {
    const uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0u) {
        const float f = ldexpf((float)m, -24);
        return s ? -f : f;
    }
    if (e == 31u) return fp4_bits_f32(s | 0x7f800000u | (m << 13));
    return fp4_bits_f32(s | ((e + 112u) << 23) | (m << 13));
}

float fp4_view_get_f32(const fp4_view *x, int64_t r, int64_t c) {
    const int64_t off = r * x->ld + c;
    switch (x->dtype) {
    case FP4_DTYPE_F32: return ((const float *)x->data)[off];
    case FP4_DTYPE_BF16: return fp4_bf16_to_f32(((const uint16_t *)x->data)[off]);
    case FP4_DTYPE_F16: return f16_to_f32(((const uint16_t *)x->data)[off]);
    }
    return fp4_bits_f32(0x7fc00000u);
}

/* Element (i, j) of the output tensor: x(i, j) for the rowwise copy, x(j, i) for the columnwise. */
static inline float get_oriented(const fp4_view *x, int trans, int64_t i, int64_t j) {
    return trans ? fp4_view_get_f32(x, j, i) : fp4_view_get_f32(x, i, j);
}

fp4_status fp4_amax_ref(const fp4_view *x, float *amax) {
    const int64_t R = x->rows, C = x->cols;
    float m = 0.0f;
#pragma omp parallel for reduction(max : m) schedule(static)
    for (int64_t r = 0; r < R; r++) {
        float mr = 0.0f;
        for (int64_t c = 0; c < C; c++) mr = fp4_amax_step(mr, fp4_view_get_f32(x, r, c));
        if (mr > m) m = mr;
    }
    *amax = m;
    return FP4_OK;
}

/* Strict mode: first non-finite element in row-major order, or -1. */
static int64_t first_nonfinite(const fp4_view *x) {
    const int64_t R = x->rows, C = x->cols;
    int64_t first = INT64_MAX;
#pragma omp parallel for reduction(min : first) schedule(static)
    for (int64_t r = 0; r < R; r++) {
        for (int64_t c = 0; c < C; c++) {
            if (!isfinite(fp4_view_get_f32(x, r, c))) {
                const int64_t idx = r * C + c;
                if (idx < first) first = idx;
                break;
            }
        }
    }
    return first == INT64_MAX ? -1 : first;
}

/* ---------------------------------------------------------------------------------------- */
/* element conversion of one block                                                            */

typedef struct qjob {
    const fp4_view *x;
    int trans;          /* 0: rowwise copy, 1: columnwise copy (quantize Xᵀ) */
    int64_t rows, cols; /* output shape */
    int sr;
    uint64_t seed, stream;
    fp4_qtensor *q;
} qjob;

/* Convert output elements (i, j0 .. j0+n-1) with multiplier `mul` and store their codes.
 * n is 16 or 32 and j0 a multiple of 16, so each aligned 16-group maps to one Philox block. */
static void convert_run(const qjob *jb, int64_t i, int64_t j0, int n, float mul) {
    uint8_t *row = jb->q->data + i * (jb->cols / 2);
    for (int g = 0; g < n; g += 16) {
        uint32_t w[4] = {0, 0, 0, 0};
        const int64_t jg = j0 + g;
        if (jb->sr) fp4_sr_block16(jb->seed, jb->stream, (uint64_t)(i * jb->cols + jg) >> 4, w);
        for (int t = 0; t < 16; t += 2) {
            uint8_t code[2];
            for (int h = 0; h < 2; h++) {
                const int k = t + h; /* == (linear index) % 16 since jg and i*cols are multiples of 16 */
                const float v = get_oriented(jb->x, jb->trans, i, jg + k) * mul;
                if (jb->sr) {
                    const uint32_t rb = (w[(k >> 2) & 3] >> (8 * (k & 3))) & 0xffu;
                    code[h] = fp4_e2m1_encode_sr(v, rb);
                } else {
                    code[h] = fp4_e2m1_encode_rne(v);
                }
            }
            row[(jg + t) / 2] = (uint8_t)(code[0] | (code[1] << 4));
        }
    }
}

/* NVFP4 with 1x16 blocks: one scale per 16 consecutive elements of an output row. */
static void nvfp4_1x16(const qjob *jb, float s_enc, float s_dec) {
    const int64_t nb = jb->cols / 16;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < jb->rows; i++) {
        for (int64_t kb = 0; kb < nb; kb++) {
            float amax_b = 0.0f;
            for (int k = 0; k < 16; k++) amax_b = fp4_amax_step(amax_b, get_oriented(jb->x, jb->trans, i, kb * 16 + k));
            const uint8_t s_b = fp4_nvfp4_block_scale(amax_b, s_enc);
            jb->q->scales[i * nb + kb] = s_b;
            convert_run(jb, i, kb * 16, 16, fp4_nvfp4_block_enc(s_b, s_dec));
        }
    }
}

/* NVFP4 with 16x16 tiles: one amax and scale per tile, replicated into its 16 rows. */
static void nvfp4_16x16(const qjob *jb, float s_enc, float s_dec) {
    const int64_t nb = jb->cols / 16, nt = jb->rows / 16;
#pragma omp parallel for schedule(static)
    for (int64_t ti = 0; ti < nt; ti++) {
        for (int64_t kb = 0; kb < nb; kb++) {
            float amax_b = 0.0f;
            for (int r = 0; r < 16; r++)
                for (int k = 0; k < 16; k++)
                    amax_b = fp4_amax_step(amax_b, get_oriented(jb->x, jb->trans, ti * 16 + r, kb * 16 + k));
            const uint8_t s_b = fp4_nvfp4_block_scale(amax_b, s_enc);
            const float enc_b = fp4_nvfp4_block_enc(s_b, s_dec);
            for (int r = 0; r < 16; r++) {
                jb->q->scales[(ti * 16 + r) * nb + kb] = s_b;
                convert_run(jb, ti * 16 + r, kb * 16, 16, enc_b);
            }
        }
    }
}

/* MXFP4 1x32: E8M0 scale per 32 elements, elements multiplied by the exact power-of-two inverse. */
static void mxfp4_1x32(const qjob *jb, fp4_scale_rule rule) {
    const int64_t nb = jb->cols / 32;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < jb->rows; i++) {
        for (int64_t kb = 0; kb < nb; kb++) {
            float amax_b = 0.0f;
            for (int k = 0; k < 32; k++) amax_b = fp4_amax_step(amax_b, get_oriented(jb->x, jb->trans, i, kb * 32 + k));
            const uint8_t b = rule == FP4_SCALE_OCP ? fp4_e8m0_ocp(amax_b) : fp4_e8m0_rceil(amax_b);
            jb->q->scales[i * nb + kb] = b;
            convert_run(jb, i, kb * 32, 32, fp4_e8m0_inverse(b));
        }
    }
}

static void quantize_one(const fp4_view *x, const fp4_config *cfg, int trans, float amax, fp4_qtensor *q) {
    qjob jb;
    jb.x = x;
    jb.trans = trans;
    jb.rows = trans ? x->cols : x->rows;
    jb.cols = trans ? x->rows : x->cols;
    jb.sr = cfg->rounding == FP4_ROUND_SR;
    jb.seed = cfg->seed;
    jb.stream = trans ? (cfg->stream ^ FP4_STREAM_COLUMNWISE) : cfg->stream;
    jb.q = q;
    q->cfg = *cfg;
    q->cfg.stream = jb.stream;
    q->hadamard = 0;
    q->hadamard_seed = 0;
    q->amax = amax;
    if (cfg->format == FP4_FORMAT_NVFP4) {
        const float s_enc = fp4_nvfp4_global_enc(amax), s_dec = fp4_nvfp4_global_dec(s_enc);
        q->s_enc = s_enc;
        q->s_dec = s_dec;
        if (cfg->block == FP4_BLOCK_16x16) nvfp4_16x16(&jb, s_enc, s_dec);
        else nvfp4_1x16(&jb, s_enc, s_dec);
    } else {
        q->s_enc = 1.0f;
        q->s_dec = 1.0f;
        mxfp4_1x32(&jb, cfg->scale_rule);
    }
}

fp4_status fp4_quantize_ref(const fp4_view *x, const fp4_config *cfg, fp4_qtensor *rowwise, fp4_qtensor *columnwise) {
    if (x->dtype != FP4_DTYPE_F32 && x->dtype != FP4_DTYPE_BF16 && x->dtype != FP4_DTYPE_F16)
        return fp4_fail(FP4_ERR_DTYPE, "fp4_quantize_ref: unsupported input dtype %d", (int)x->dtype);
    if (cfg->nonfinite == FP4_NONFINITE_ERROR) {
        const int64_t at = first_nonfinite(x);
        if (at >= 0) {
            const int64_t r = at / x->cols, c = at % x->cols;
            const float v = fp4_view_get_f32(x, r, c);
            return fp4_fail(FP4_ERR_NONFINITE, "fp4_quantize: x[%lld, %lld] = %s (strict non-finite mode)",
                            (long long)r, (long long)c, isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
        }
    }
    float amax = 0.0f;
    FP4_TRY(fp4_amax_ref(x, &amax));
    if (rowwise) quantize_one(x, cfg, 0, amax, rowwise);
    if (columnwise) quantize_one(x, cfg, 1, amax, columnwise);
    return FP4_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* dequantize                                                                                 */

fp4_status fp4_dequantize_ref(const fp4_qtensor *q, fp4_view *y) {
    if (y->dtype != FP4_DTYPE_F32 && y->dtype != FP4_DTYPE_BF16)
        return fp4_fail(FP4_ERR_DTYPE, "fp4_dequantize: output dtype %s is not supported (f32 or bf16)",
                        fp4_dtype_name(y->dtype));
    const int bw = fp4_block_cols(q->cfg.block);
    const int64_t R = q->rows, C = q->cols, nb = C / bw;
    const int nv = q->cfg.format == FP4_FORMAT_NVFP4;
    const float s_dec = q->s_dec;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) {
        for (int64_t kb = 0; kb < nb; kb++) {
            const uint8_t sb = q->scales[r * nb + kb];
            const float scale = nv ? fp4_e4m3_decode(sb) : fp4_e8m0_decode(sb);
            for (int k = 0; k < bw; k++) {
                const int64_t c = kb * bw + k;
                const uint8_t byte = q->data[r * (C / 2) + c / 2];
                const float e = fp4_e2m1_decode((c & 1) ? (uint8_t)(byte >> 4) : (uint8_t)(byte & 0xfu));
                const float v = nv ? (e * scale) * s_dec : e * scale;
                if (y->dtype == FP4_DTYPE_F32) ((float *)y->data)[r * y->ld + c] = v;
                else ((uint16_t *)y->data)[r * y->ld + c] = fp4_f32_to_bf16(v);
            }
        }
    }
    return FP4_OK;
}
