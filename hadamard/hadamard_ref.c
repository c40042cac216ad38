/* hadamard/hadamard_ref.c — CPU reference of the normalized fast Walsh–Hadamard transform and
 * the random Hadamard transform (fp4kit/hadamard.h), the oracle for hadamard/hadamard.cu.
 *
 * Shapes: x, y host views [R, C] (F32 or BF16, row stride ld). Along rows each row is cut into
 * C/d chunks of d consecutive columns; along columns each column into R/d chunks of d
 * consecutive rows. Each chunk u (length d) is copied to an fp32 buffer and becomes
 *   forward: flip signs -> butterflies h = 1, 2, ..., d/2 -> * fp32(1/sqrt d)
 *   inverse: butterflies h = 1, 2, ..., d/2 -> * fp32(1/sqrt d) -> flip signs
 * with the helpers of hadamard_impl.h (the kernels use the same ones), then written to y
 * (BF16: RNE of the fp32 value). Within a stage the pairs are independent, so only the stage order
 * matters for the bits; every fp32 value is a pure function of the input chunk.
 *
 * Parallelism: OpenMP over chunks; each thread has its own d-float buffer. Because a chunk is read
 * completely before it is written, y may be x itself (same pointer, dtype and ld).
 */
#include <omp.h>
#include <stdlib.h>

#include "hadamard_impl.h"
#include "internal.h"

static inline float view_load(const fp4_view *x, int64_t r, int64_t c) {
    const int64_t off = r * x->ld + c;
    if (x->dtype == FP4_DTYPE_BF16) return fp4_bf16_to_f32(((const uint16_t *)x->data)[off]);
    return ((const float *)x->data)[off];
}

static inline void view_store(fp4_view *y, int64_t r, int64_t c, float v) {
    const int64_t off = r * y->ld + c;
    if (y->dtype == FP4_DTYPE_BF16) ((uint16_t *)y->data)[off] = fp4_f32_to_bf16(v);
    else ((float *)y->data)[off] = v;
}

/* Transform one chunk in place. sw: sign words (NULL = plain). */
static void hadamard_chunk_ref(float *u, int d, const uint32_t *sw, float scale, int inverse) {
    if (sw && !inverse)
        for (int i = 0; i < d; i++) u[i] = fp4h_flip(u[i], sw[i >> 5] >> (i & 31));
    fp4h_fwht_stages(u, d);
    for (int i = 0; i < d; i++) u[i] = fp4h_mul(u[i], scale);
    if (sw && inverse)
        for (int i = 0; i < d; i++) u[i] = fp4h_flip(u[i], sw[i >> 5] >> (i & 31));
}

fp4_status fp4_hadamard_ref(const fp4_view *x, fp4_view *y, const fp4_hadamard_desc *h) {
    const int d = h->d, L = fp4h_log2(d);
    const float scale = fp4h_scale_log2(L);
    const int nw = d >= 32 ? d / 32 : 1;
    const int rows_axis = h->axis == FP4_HAD_ALONG_ROWS;
    const int64_t R = x->rows, C = x->cols;
    const int64_t nchunks = rows_axis ? R * (C / d) : (R / d) * C;
    const int nth = omp_get_max_threads();
    uint32_t *sw = NULL;
    float *buf = NULL;
    if (h->random_signs) {
        FP4_MALLOC_TRY(sw, sizeof(uint32_t) * (size_t)nw, "Hadamard sign words");
        for (int w = 0; w < nw; w++) sw[w] = fp4h_sign_word(d, h->seed, (uint32_t)w);
    }
    buf = malloc(sizeof(float) * (size_t)d * (size_t)nth);
    if (!buf) {
        free(sw);
        return fp4_fail(FP4_ERR_NOMEM, "fp4_hadamard_ref: out of host memory for %d chunk buffers of %d floats", nth, d);
    }
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int64_t ch = 0; ch < nchunks; ch++) {
        float *u = buf + (size_t)omp_get_thread_num() * (size_t)d;
        if (rows_axis) {
            const int64_t r = ch / (C / d), c0 = (ch % (C / d)) * d;
            for (int i = 0; i < d; i++) u[i] = view_load(x, r, c0 + i);
            hadamard_chunk_ref(u, d, sw, scale, h->inverse);
            for (int i = 0; i < d; i++) view_store(y, r, c0 + i, u[i]);
        } else {
            const int64_t r0 = (ch / C) * d, c = ch % C;
            for (int i = 0; i < d; i++) u[i] = view_load(x, r0 + i, c);
            hadamard_chunk_ref(u, d, sw, scale, h->inverse);
            for (int i = 0; i < d; i++) view_store(y, r0 + i, c, u[i]);
        }
    }
    free(buf);
    free(sw);
    return FP4_OK;
}
