/* fp4kit/formats_inline.h — bit-exact codecs shared by the C reference and the CUDA kernels.
 *
 * Every function here is `static inline` and, under nvcc, __host__ __device__, so the CPU
 * reference (lib/) and the kernels (kernels/, hadamard/) execute the *same* source for every
 * rounding decision. That is what makes "GPU bits == CPU bits" a property of the code rather
 * than of luck. Each function is a single IEEE fp32 operation chain with no place for the
 * compiler to contract a multiply and an add into an FMA, so -ffp-contract / --fmad settings
 * cannot change results.
 *
 * Formats (spec: shared/spec/nvfp4-recipe.md §1, §2, §3, §6, §9):
 *   E2M1  4-bit element: s e1 e0 m, bias 1, values {0,.5,1,1.5,2,3,4,6} and negatives; code 8 = -0.
 *   E4M3  8-bit "fn" scale: bias 7, max 448, 0x7F/0xFF NaN, no Inf, min subnormal 2^-9.
 *   E8M0  8-bit power-of-two scale 2^(b-127); 0xFF NaN; no zero.
 *   BF16  upper half of an fp32.
 *
 * Non-finite semantics ("hardware" mode, the default): E2M1 encoders map NaN to +6 (code 0x7)
 * and +-Inf to +-6; the amax helpers ignore NaN (a NaN never wins a max). Strict mode lives in
 * the quantizers (they scan and report instead).
 */
#ifndef FP4KIT_FORMATS_INLINE_H
#define FP4KIT_FORMATS_INLINE_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define FP4_HD __host__ __device__ __forceinline__
#else
#define FP4_HD static inline
#endif

/* ---------------------------------------------------------------------------------------- */
/* bit casts                                                                                  */

FP4_HD uint32_t fp4_f32_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
#endif
}

FP4_HD float fp4_bits_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}

/* ---------------------------------------------------------------------------------------- */
/* BF16                                                                                       */

FP4_HD float fp4_bf16_to_f32(uint16_t h) { return fp4_bits_f32((uint32_t)h << 16); }

/* fp32 -> bf16, round to nearest even; NaN stays a (quiet) NaN with its sign. */
FP4_HD uint16_t fp4_f32_to_bf16(float f) {
    uint32_t u = fp4_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* ---------------------------------------------------------------------------------------- */
/* E2M1                                                                                       */

/* Decode a 4-bit code (upper bits ignored) to its value; code 8 decodes to -0.0f. */
FP4_HD float fp4_e2m1_decode(uint8_t code) {
    const uint32_t c = code & 0x7u;
    /* value = c<2 ? c*0.5 : 2^((c>>1)-1) * (1 + (c&1)/2) */
    float mag = (c < 2u) ? 0.5f * (float)c : (float)(2u + (c & 1u)) * (float)(1u << ((c >> 1))) * 0.25f;
    return (code & 0x8u) ? -mag : mag;
}

/* Round-to-nearest-even onto the E2M1 grid with saturation at +-6 (spec §1.2 table, the
 * semantics of PTX cvt.rn.satfinite.e2m1x2.f32). Ties go to the even code (0,2,4,6).
 * The sign is kept, so -0.0 and small negatives give code 8; NaN gives +6 (0x7). */
FP4_HD uint8_t fp4_e2m1_encode_rne(float v) {
    /* Branch-free form of the threshold table
     *   a <= 0.25 -> 0, < 0.75 -> 1, <= 1.25 -> 2, < 1.75 -> 3, <= 2.5 -> 4, < 3.5 -> 5, <= 5 -> 6, else 7
     * (a = |v|). With a clamped to 6 (fminf also maps Inf to 6):
     *   a < 2:  the grid spacing is 0.5 = the fp32 ulp of 2^22, so the IEEE add a + 2^22 rounds a to
     *           the nearest multiple of 0.5, ties to even multiple = even code; code = ulps above 2^22.
     *   a >= 2: one mantissa bit: round the fp32 bits to 1 mantissa bit (ties to even) and rebase the
     *           exponent (2.0 = 0x40000000 -> code 4).
     * Identical to the table for every fp32 input (exhaustive check over all 2^32 patterns). */
    const uint32_t u = fp4_f32_bits(v);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7u; /* NaN */
    const float a = fminf(fabsf(v), 6.0f);
    const uint32_t ab = fp4_f32_bits(a);
    const uint32_t lo = fp4_f32_bits(a + 4194304.0f) - 0x4A800000u;
    const uint32_t hi = (ab + 0x1FFFFFu + ((ab >> 22) & 1u) - 0x3F000000u) >> 22;
    const uint32_t c = a < 2.0f ? lo : hi;
    return (uint8_t)(((u >> 28) & 0x8u) | c);
}

/* Stochastic rounding onto the E2M1 grid from 8 random bits (spec §6.2, TE's software
 * definition): t = |v| + u*step with u = rbits8/256 and step the grid spacing at |v|;
 * the result is t truncated onto the grid at t's own spacing, saturated at 6, with v's sign.
 * P(round up) = (#k in [0,255] with |v| + k*step/256 >= upper neighbour)/256. NaN -> +6. */
FP4_HD uint8_t fp4_e2m1_encode_sr(float v, uint32_t rbits8) {
    if (v != v) return 0x7u;
    const uint8_t s = (fp4_f32_bits(v) >> 31) ? 0x8u : 0x0u;
    const float a = fabsf(v);
    /* u = rbits8/256 exactly: 1 + r/256 built on the bits, minus 1 (exact; no int->float convert) */
    const float u = fp4_bits_f32(0x3F800000u | ((rbits8 & 0xffu) << 15)) - 1.0f;
    const float step = a >= 4.0f ? 2.0f : (a >= 2.0f ? 1.0f : 0.5f);
    const float t = fmaf(u, step, a); /* u*step is exact: this is RN(a + u*step) */
    /* Truncate t onto the grid at t's own spacing (0.5 below 2, 1 in [2,4), 2 from 4) and
     * saturate at 6, i.e. floor(t / step_t) * step_t capped at 6, then encode:
     *   t < 1: code 0 or 1 (t >= 0.5);  t >= 1: the fp32 bits truncated to one mantissa bit,
     *   exponent rebased (1.0 = 0x3F800000 -> code 2), capped at 7 (6.0; also Inf). */
    const uint32_t tb = fp4_f32_bits(t);
    uint32_t c = t < 1.0f ? (t >= 0.5f ? 1u : 0u) : (tb >> 22) - 252u;
    if (c > 7u) c = 7u;
    return (uint8_t)(s | c);
}

/* ---------------------------------------------------------------------------------------- */
/* E4M3 (fn)                                                                                  */

/* Decode an E4M3 byte. 0x7F/0xFF decode to NaN. */
FP4_HD float fp4_e4m3_decode(uint8_t b) {
    const uint32_t e = (b >> 3) & 0xfu, m = b & 0x7u;
    float mag;
    if (e == 15u && m == 7u) return fp4_bits_f32(0x7fc00000u);
    if (e == 0u) mag = (float)m * (1.0f / 512.0f); /* m * 2^-9 */
    else mag = fp4_bits_f32(((e + 120u) << 23) | (m << 20)); /* 2^(e-7) * (1 + m/8) */
    return (b & 0x80u) ? -mag : mag;
}

/* fp32 -> E4M3 with round-to-nearest-even and saturation to +-448 (the semantics of
 * __nv_fp8_e4m3 / cvt.rn.satfinite.e4m3x2.f32). NaN -> 0x7F. Values below 2^-10 flush to 0;
 * 2^-10 itself is a tie and rounds to 0 (even). */
FP4_HD uint8_t fp4_e4m3_encode_rne(float v) {
    const uint32_t u = fp4_f32_bits(v);
    const uint8_t s = (uint8_t)((u >> 24) & 0x80u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return 0x7fu;
    if (a >= 0x43e00000u) return (uint8_t)(s | 0x7eu); /* >= 448 (Inf too): saturate */
    if (a < 0x3c800000u) {                            /* < 2^-6: subnormal range, m * 2^-9 */
        const float q = fp4_bits_f32(a) * 512.0f;     /* exact */
        const uint32_t r = (uint32_t)rintf(q);        /* RNE under the default rounding mode */
        return (uint8_t)(s | r);                      /* r == 8 encodes 2^-6 correctly */
    }
    uint32_t e = (a >> 23) - 120u; /* biased E4M3 exponent, 1..15 */
    uint32_t m = a & 0x7fffffu;
    uint32_t keep = m >> 20, rem = m & 0xfffffu;
    if (rem > 0x80000u || (rem == 0x80000u && (keep & 1u))) keep++;
    if (keep == 8u) { keep = 0; e++; }
    uint32_t code = (e << 3) | keep;
    if (code > 0x7eu) code = 0x7eu;
    return (uint8_t)(s | code);
}

/* ---------------------------------------------------------------------------------------- */
/* E8M0                                                                                       */

/* 2^(b-127) for b in [0,254] (b = 0 gives the fp32 subnormal 2^-127); NaN for 0xFF. */
FP4_HD float fp4_e8m0_decode(uint8_t b) {
    if (b == 0xffu) return fp4_bits_f32(0x7fc00000u);
    if (b == 0u) return fp4_bits_f32(0x00400000u);
    return fp4_bits_f32((uint32_t)b << 23);
}

/* 2^(127-b): the exact reciprocal of fp4_e8m0_decode(b), b in [0,254]. */
FP4_HD float fp4_e8m0_inverse(uint8_t b) {
    const int e = 127 - (int)b; /* in [-127, 127] */
    if (e >= -126) return fp4_bits_f32((uint32_t)(e + 127) << 23);
    return fp4_bits_f32(0x00400000u); /* 2^-127 */
}

/* MXFP4 scale rule "rceil" (spec §9; cuBLAS/TE, never clips): X = 2^ceil(log2(amax/6)).
 * Computed exactly on the bits of q = fp32(amax/6): biased exponent E plus one if any mantissa
 * bit is set; subnormal q rounds to byte 1 only if q > 2^-127; saturates at 254; amax 0 -> 0. */
FP4_HD uint8_t fp4_e8m0_rceil(float amax) {
    const float q = amax / 6.0f;
    const uint32_t u = fp4_f32_bits(q) & 0x7fffffffu;
    if (u == 0u) return 0u;
    const uint32_t e = u >> 23, m = u & 0x7fffffu;
    if (e == 0u) return m > 0x400000u ? 1u : 0u;
    uint32_t b = e + (m != 0u ? 1u : 0u);
    return (uint8_t)(b > 254u ? 254u : b);
}

/* MXFP4 scale rule "ocp" (OCP MX v1.0 §6.3): X = 2^(floor(log2 amax) - 2); clips when the
 * block maximum's significand exceeds 1.5. amax 0 (or fp32-subnormal amax) -> byte 0. */
FP4_HD uint8_t fp4_e8m0_ocp(float amax) {
    const uint32_t u = fp4_f32_bits(amax) & 0x7fffffffu;
    const int e = (int)(u >> 23);
    if (e >= 255) return 254u;
    int b = e - 2;
    if (b < 0) b = 0;
    return (uint8_t)(b > 254 ? 254 : b);
}

/* ---------------------------------------------------------------------------------------- */
/* NVFP4 two-level scaling (spec §3.1-3.3, TransformerEngine's exact operation order)        */

/* NaN-ignoring running max of |x| (fmaxf semantics: a NaN never wins). */
FP4_HD float fp4_amax_step(float m, float x) {
    const float a = fabsf(x);
    return a > m ? a : m;
}

/* Global encode scale S_enc = fp32(2688/amax), capped at FLT_MAX; 1 when amax is 0 or Inf. */
FP4_HD float fp4_nvfp4_global_enc(float amax) {
    if (amax == 0.0f) return 1.0f;
    float s = 2688.0f / amax;
    if (s > FLT_MAX) s = FLT_MAX;
    if (s == 0.0f) s = 1.0f;
    return s;
}

/* Global decode scale S_dec = fp32(1/S_enc). */
FP4_HD float fp4_nvfp4_global_dec(float s_enc) { return 1.0f / s_enc; }

/* Block scale byte: E4M3_RNE_SAT(min(amax_b * fp32(S_enc * fp32(1/6)), FLT_MAX)). */
FP4_HD uint8_t fp4_nvfp4_block_scale(float amax_b, float s_enc) {
    const float mult = s_enc * 0.16666667163372040f; /* fp32(1/6) = 0x3E2AAAAB */
    float sdb = amax_b * mult;
    if (sdb > FLT_MAX) sdb = FLT_MAX;
    return fp4_e4m3_encode_rne(sdb);
}

/* Per-block element multiplier enc_b = min(fp32(1 / fp32(float(s_b) * S_dec)), FLT_MAX). */
FP4_HD float fp4_nvfp4_block_enc(uint8_t s_b, float s_dec) {
    const float d = fp4_e4m3_decode(s_b) * s_dec;
    float e = 1.0f / d;
    if (e > FLT_MAX) e = FLT_MAX;
    return e;
}

/* ---------------------------------------------------------------------------------------- */
/* Philox4x32-10 (Salmon et al.; identical to cuRAND's curandStatePhilox4_32_10_t output)    */

FP4_HD void fp4_philox4x32_10(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4]) {
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int r = 0; r < 10; r++) {
        if (r) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        const uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        const uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        const uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        const uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* The 128 random bits that serve elements 16g .. 16g+15 of a stream:
 *   key = (seed lo32, seed hi32), counter = (g lo32, g hi32, stream lo32, stream hi32).
 * This equals curand_init(seed, stream, 4*g, &st); curand4(&st) for g < 2^62 (cuRAND takes the
 * offset 4*g as a 64-bit count); checked on the GPU by tests/gpu_philox.cu. */
FP4_HD void fp4_sr_block16(uint64_t seed, uint64_t stream, uint64_t g, uint32_t out[4]) {
    const uint32_t ctr[4] = {(uint32_t)g, (uint32_t)(g >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    fp4_philox4x32_10(ctr, key, out);
}

/* 8 random bits for element idx of a stream: byte (idx % 4) of word ((idx / 4) % 4) of
 * fp4_sr_block16(seed, stream, idx / 16). A pure function of (seed, stream, idx), so any
 * thread count or launch geometry draws the same bits. */
FP4_HD uint32_t fp4_sr_bits8(uint64_t seed, uint64_t stream, uint64_t idx) {
    uint32_t w[4];
    fp4_sr_block16(seed, stream, idx >> 4, w);
    return (w[(idx >> 2) & 3u] >> (8u * (uint32_t)(idx & 3u))) & 0xffu;
}

#endif
