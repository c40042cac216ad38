/* hadamard/hadamard_impl.h — private to hadamard/: the fp32 building blocks that the CPU reference
 * (hadamard_ref.c, rht_quantize_ref.c) and the CUDA kernels (hadamard.cu, rht_quantize.cu) both
 * compile, so every rounding happens in the same order on both sides, plus the C entry points of
 * the two back ends (arguments already validated by hadamard/hadamard.c).
 *
 * Device arithmetic uses __fadd_rn/__fsub_rn/__fmul_rn so nvcc can never contract a multiply and
 * an add into an FMA (the host side is built with -ffp-contract=off). */
#ifndef FP4KIT_HADAMARD_IMPL_H
#define FP4KIT_HADAMARD_IMPL_H

#include <stdint.h>

#include "fp4kit/formats_inline.h"
#include "fp4kit/hadamard.h"

#if defined(__CUDACC__)
#define FP4H_UNROLL _Pragma("unroll")
#else
#define FP4H_UNROLL
#endif

FP4_HD float fp4h_add(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

FP4_HD float fp4h_sub(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

FP4_HD float fp4h_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

/* s * v for s = -1 when bit is 1: a sign-bit flip (exact, also for zeros, Inf and NaN). */
FP4_HD float fp4h_flip(float v, uint32_t bit) { return fp4_bits_f32(fp4_f32_bits(v) ^ ((bit & 1u) << 31)); }

/* log2(d) for a power of two d >= 1, else -1. */
FP4_HD int fp4h_log2(int64_t d) {
    if (d <= 0 || (d & (d - 1))) return -1;
    int l = 0;
    while ((1ll << l) < d) l++;
    return l;
}

/* fp32(1/sqrt(2^L)), built from its bits: 2^-L/2 for even L, fp32(1/sqrt 2) * 2^-(L-1)/2 for odd
 * L (scaling by a power of two keeps the correctly rounded value correctly rounded). */
FP4_HD float fp4h_scale_log2(int L) {
    if (L & 1) return fp4_bits_f32(0x3F3504F3u - ((uint32_t)((L - 1) / 2) << 23));
    return fp4_bits_f32((uint32_t)(127 - L / 2) << 23);
}

/* Word w of the sign vector (bit i of the vector = bit i%32 of word i/32; set => s_i = -1). */
FP4_HD uint32_t fp4h_sign_word(int d, uint64_t seed, uint32_t w) {
    uint32_t r;
    if (d == 16 && seed == 0) {
        r = w == 0 ? FP4_RHT16_SIGN_MASK : 0u;
    } else {
        uint32_t o[4];
        fp4_sr_block16(seed, FP4_HADAMARD_SIGN_STREAM, (uint64_t)(w >> 2), o);
        r = o[w & 3u];
    }
    if (d < 32) r &= (1u << d) - 1u;
    return r;
}

/* One butterfly: (a, b) -> (a + b, a - b), a the element whose index has the stage bit clear. */
#define FP4H_BUTTERFLY(va, vb)                                                                 \
    do {                                                                                       \
        const float fp4h_a_ = (va), fp4h_b_ = (vb);                                            \
        (va) = fp4h_add(fp4h_a_, fp4h_b_);                                                     \
        (vb) = fp4h_sub(fp4h_a_, fp4h_b_);                                                     \
    } while (0)

/* The log2(n) butterfly stages on v[0..n-1], strides 1, 2, ..., n/2 in that order (no scaling). */
FP4_HD void fp4h_fwht_stages(float *v, int n) {
    FP4H_UNROLL
    for (int h = 1; h < n; h <<= 1) {
        FP4H_UNROLL
        for (int i = 0; i < n; i++)
            if (!(i & h)) FP4H_BUTTERFLY(v[i], v[i + h]);
    }
}

/* The RHT of one Wgrad chunk (n = 16 or 32 consecutive tokens of one column), as the fused paths
 * do it: sign flips from `sw` (bit i => s_i = -1), butterflies, one multiply by `scale`, then RNE
 * to BF16 (returned as the exact fp32 value of that BF16). */
FP4_HD void fp4h_rht_chunk_bf16(float *v, int n, uint32_t sw, float scale) {
    FP4H_UNROLL
    for (int i = 0; i < n; i++) v[i] = fp4h_flip(v[i], sw >> i);
    fp4h_fwht_stages(v, n);
    FP4H_UNROLL
    for (int i = 0; i < n; i++) v[i] = fp4_bf16_to_f32(fp4_f32_to_bf16(fp4h_mul(v[i], scale)));
}

/* Encode n (16 or 32) values with multiplier `mul` into n/2 packed bytes (element 2t low nibble),
 * RNE or SR; the SR bits of values 16q .. 16q+15 come from fp4_sr_block16(seed, stream, g0 + q),
 * which is fp4_sr_bits8 of their linear output index when that index is 16 * g0 + position.
 * The same operations, in the same order, as lib/quantize_ref.c's convert_run. */
FP4_HD void fp4h_encode_run(const float *v, int n, float mul, int sr, uint64_t seed, uint64_t stream, uint64_t g0,
                            uint8_t *out) {
    FP4H_UNROLL
    for (int q = 0; q < n; q += 16) {
        uint32_t w[4] = {0u, 0u, 0u, 0u};
        if (sr) fp4_sr_block16(seed, stream, g0 + (uint64_t)(q >> 4), w);
        FP4H_UNROLL
        for (int t = 0; t < 16; t += 2) {
            uint8_t c[2];
            FP4H_UNROLL
            for (int h = 0; h < 2; h++) {
                const int k = t + h;
                const float x = fp4h_mul(v[q + k], mul);
                c[h] = sr ? fp4_e2m1_encode_sr(x, (w[k >> 2] >> (8 * (k & 3))) & 0xffu) : fp4_e2m1_encode_rne(x);
            }
            out[(q + t) >> 1] = (uint8_t)(c[0] | (c[1] << 4));
        }
    }
}

/* NVFP4 1x16 block: scale byte returned, 8 code bytes in out (spec §3.2-3.3 order). */
FP4_HD uint8_t fp4h_nvfp4_block16(const float *v, float s_enc, float s_dec, int sr, uint64_t seed, uint64_t stream,
                                  uint64_t g, uint8_t *out) {
    float amax_b = 0.0f;
    FP4H_UNROLL
    for (int k = 0; k < 16; k++) amax_b = fp4_amax_step(amax_b, v[k]);
    const uint8_t s_b = fp4_nvfp4_block_scale(amax_b, s_enc);
    fp4h_encode_run(v, 16, fp4_nvfp4_block_enc(s_b, s_dec), sr, seed, stream, g, out);
    return s_b;
}

/* MXFP4 1x32 block: E8M0 byte returned (rceil or ocp), 16 code bytes in out. */
FP4_HD uint8_t fp4h_mxfp4_block32(const float *v, int ocp, int sr, uint64_t seed, uint64_t stream, uint64_t g,
                                  uint8_t *out) {
    float amax_b = 0.0f;
    FP4H_UNROLL
    for (int k = 0; k < 32; k++) amax_b = fp4_amax_step(amax_b, v[k]);
    const uint8_t b = ocp ? fp4_e8m0_ocp(amax_b) : fp4_e8m0_rceil(amax_b);
    fp4h_encode_run(v, 32, fp4_e8m0_inverse(b), sr, seed, stream, g, out);
    return b;
}

#ifdef __cplusplus
extern "C" {
#endif

/* CPU references (host views). */
fp4_status fp4_hadamard_ref(const fp4_view *x, fp4_view *y, const fp4_hadamard_desc *h);
/* t [K, M] row-major uint16 BF16 = RHT_d of xᵀ along M (what the Wgrad path quantizes). */
fp4_status fp4_rht_transpose_bf16_ref(const fp4_view *x, int d, uint64_t sign_seed, uint16_t *t);
fp4_status fp4_rht_quantize_columnwise_ref(const fp4_view *x, const fp4_config *cfg, int d, uint64_t sign_seed,
                                           fp4_qtensor *out);

#ifdef FP4KIT_HAVE_CUDA
/* CUDA back ends (device views, CUDA context). */
fp4_status fp4_hadamard_cuda(fp4_context *ctx, const fp4_view *x, fp4_view *y, const fp4_hadamard_desc *h);
/* sync_host = 0 leaves {amax, s_enc, s_dec} only in out->tscale_dev (no host synchronization;
 * strict non-finite mode still synchronizes once to check); 1 also fills the host fields. */
fp4_status fp4_rht_quantize_columnwise_cuda(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, int d,
                                            uint64_t sign_seed, fp4_qtensor *out, int sync_host);
#endif

#ifdef __cplusplus
}
#endif
#endif
