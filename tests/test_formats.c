/* tests/test_formats.c — exhaustive checks of the bit-exact codecs in fp4kit/formats_inline.h.
 *
 * Every expected value is computed independently of the code under test: decoders from the bit
 * definitions with ldexp in double (spec nvfp4-recipe.md §1.1, §2.1, §2.2); encoders by a slow
 * nearest-value search over the format's finite values (ties to the even code / even mantissa,
 * saturation at the largest finite value); E8M0 scale rules from their log2 definitions in
 * double. Sweeps: all 65536 bf16 bit patterns, strided fp32 bit patterns, explicit ties.
 * SR (spec §6.2): exact up-counts by enumerating all 256 random bytes, and unbiasedness over
 * Philox draws. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "fp4kit/formats_inline.h"
#include "harness.h"

static float f32(uint32_t u) { return fp4_bits_f32(u); }
static uint32_t bits(float f) { return fp4_f32_bits(f); }

/* ---------------------------------------------------------------------------------------- */
/* independent tables                                                                         */

static double e2m1_value(int code) { /* s e1 e0 m, bias 1 */
    const int s = (code >> 3) & 1, e = (code >> 1) & 3, m = code & 1;
    const double mag = e == 0 ? m * 0.5 : ldexp(1.0 + m / 2.0, e - 1);
    return s ? -mag : mag;
}

static double e4m3_value(int b) { /* s eeee mmm, bias 7; NaN for e=15,m=7 */
    const int s = (b >> 7) & 1, e = (b >> 3) & 15, m = b & 7;
    if (e == 15 && m == 7) return NAN;
    const double mag = e == 0 ? ldexp((double)m, -9) : ldexp(1.0 + m / 8.0, e - 7);
    return s ? -mag : mag;
}

/* Slow RNE onto a sorted list of finite non-negative values vals[0..n-1] (vals[0] = 0), with
 * ties to the index whose code is even (codes are the indices) and saturation at vals[n-1]. */
static int nearest_code(double a, const double *vals, int n) {
    if (a >= vals[n - 1]) return n - 1;
    int lo = 0, hi = n - 1; /* binary search: vals[lo] <= a < vals[hi] */
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (vals[mid] <= a) lo = mid;
        else hi = mid;
    }
    const double dl = a - vals[lo], dh = vals[hi] - a;
    if (dl < dh) return lo;
    if (dh < dl) return hi;
    return (lo & 1) ? hi : lo;
}

static double E2M1_POS[8], E4M3_POS[127];

static void init_tables(void) {
    for (int c = 0; c < 8; c++) E2M1_POS[c] = e2m1_value(c);
    for (int c = 0; c < 127; c++) E4M3_POS[c] = e4m3_value(c);
}

static uint8_t slow_e2m1(float v) {
    if (isnan(v)) return 0x7;
    const uint8_t s = signbit(v) ? 8 : 0;
    return (uint8_t)(s | nearest_code(fabs((double)v), E2M1_POS, 8));
}

static uint8_t slow_e4m3(float v) {
    if (isnan(v)) return 0x7f;
    const uint8_t s = signbit(v) ? 0x80 : 0;
    return (uint8_t)(s | nearest_code(fabs((double)v), E4M3_POS, 127));
}

/* bf16 RNE by comparing the two truncation candidates in double; Inf acts as 2^128 (IEEE overflow). */
static uint16_t slow_bf16(float f) {
    const uint32_t u = bits(f);
    if (isnan(f)) return 0; /* not used for NaN */
    const uint32_t lo = u & 0xffff0000u;
    const double a = fabs((double)f);
    const double vlo = fabs((double)f32(lo));
    const uint32_t hib = (lo & 0x7fffffffu) + 0x10000u;
    const double vhi = hib >= 0x7f800000u ? ldexp(1.0, 128) : fabs((double)f32(hib));
    const double dl = a - vlo, dh = vhi - a;
    uint32_t pick;
    if (dl < dh) pick = lo;
    else if (dh < dl) pick = (u & 0x80000000u) | hib;
    else pick = ((lo >> 16) & 1u) ? ((u & 0x80000000u) | hib) : lo;
    return (uint16_t)(pick >> 16);
}

/* ceil/floor of log2 of a positive finite double, exactly (frexp). */
static int ceil_log2(double q) {
    int ex;
    const double f = frexp(q, &ex); /* q = f * 2^ex, f in [0.5, 1) */
    return f == 0.5 ? ex - 1 : ex;
}
static int floor_log2(double q) {
    int ex;
    frexp(q, &ex);
    return ex - 1;
}
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* rceil rounds the fp32 quotient q = fp32(amax/6) up to a power of two (what cvt.rp.ue8m0 does
 * to an fp32 input). For normal q this equals ceil(log2(amax/6)) on the exact quotient (a quotient
 * of a 24-bit significand by 3 is never within half an ulp of a power of two); it differs only
 * when q is an fp32 subnormal and the division rounded down onto 2^-127 (see test_e8m0_rules). */
static uint8_t slow_rceil(float amax) {
    if (amax == 0.0f) return 0;
    if (isinf(amax)) return 254;
    const float q = amax / 6.0f;
    if (q == 0.0f) return 0;
    return (uint8_t)(clampi(ceil_log2((double)q), -127, 127) + 127);
}
static uint8_t slow_ocp(float amax) {
    if (amax == 0.0f) return 0;
    if (isinf(amax)) return 254;
    return (uint8_t)clampi(floor_log2((double)amax) - 2 + 127, 0, 254);
}

/* ---------------------------------------------------------------------------------------- */
/* decoders                                                                                   */

static void test_decode_tables(void) {
    init_tables();
    for (int c = 0; c < 16; c++) {
        const float got = fp4_e2m1_decode((uint8_t)c);
        CU_ASSERT_EQUAL((double)got, e2m1_value(c));
        CU_ASSERT_EQUAL(!!signbit(got), c >= 8); /* code 8 is -0.0 */
        CU_ASSERT_EQUAL(bits(fp4_e2m1_decode((uint8_t)(c | 0xf0))), bits(got)); /* upper bits ignored */
    }
    for (int b = 0; b < 256; b++) {
        const float got = fp4_e4m3_decode((uint8_t)b);
        const double want = e4m3_value(b);
        if (isnan(want)) {
            CU_ASSERT(isnan(got));
        } else {
            CU_ASSERT_EQUAL((double)got, want);
            CU_ASSERT_EQUAL(!!signbit(got), b >= 128);
        }
    }
    CU_ASSERT_EQUAL(fp4_e4m3_decode(0x7e), 448.0f);
    CU_ASSERT_EQUAL(fp4_e4m3_decode(0x01), 0.001953125f);
    CU_ASSERT_EQUAL(fp4_e4m3_decode(0x67), 60.0f);
    for (int b = 0; b < 256; b++) {
        const float got = fp4_e8m0_decode((uint8_t)b);
        if (b == 255) {
            CU_ASSERT(isnan(got));
            continue;
        }
        CU_ASSERT_EQUAL((double)got, ldexp(1.0, b - 127));
        CU_ASSERT_EQUAL((double)fp4_e8m0_inverse((uint8_t)b), ldexp(1.0, 127 - b));
    }
    CU_ASSERT_EQUAL(bits(fp4_e8m0_decode(0)), 0x00400000u);
}

/* ---------------------------------------------------------------------------------------- */
/* encoders vs slow search                                                                    */

static int e2m1_mismatch(float v) {
    const uint8_t got = fp4_e2m1_encode_rne(v), want = slow_e2m1(v);
    if (got != want) {
        fprintf(stderr, "\n    e2m1_rne(%a = 0x%08x): got 0x%x want 0x%x\n", (double)v, bits(v), got, want);
        return 1;
    }
    return 0;
}

static int e4m3_mismatch(float v) {
    const uint8_t got = fp4_e4m3_encode_rne(v), want = slow_e4m3(v);
    if (got != want) {
        fprintf(stderr, "\n    e4m3_rne(%a = 0x%08x): got 0x%02x want 0x%02x\n", (double)v, bits(v), got, want);
        return 1;
    }
    return 0;
}

static void test_encoders_all_bf16(void) {
    init_tables();
    int bad2 = 0, bad4 = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float v = fp4_bf16_to_f32((uint16_t)h);
        if (bad2 < 5) bad2 += e2m1_mismatch(v);
        if (bad4 < 5) bad4 += e4m3_mismatch(v);
    }
    CU_ASSERT_EQUAL(bad2, 0);
    CU_ASSERT_EQUAL(bad4, 0);
}

/* Every 63rd fp32 bit pattern in [0, 500] (odd stride: every low-bit residue is visited), both signs. */
static void test_encoders_fp32_sweep(void) {
    init_tables();
    int bad2 = 0, bad4 = 0;
    const uint32_t end = bits(500.0f);
    for (uint32_t u = 0; u <= end && bad2 + bad4 < 10; u += 63) {
        for (int s = 0; s < 2; s++) {
            const float v = f32(u | (s ? 0x80000000u : 0u));
            bad2 += e2m1_mismatch(v);
            bad4 += e4m3_mismatch(v);
        }
    }
    CU_ASSERT_EQUAL(bad2, 0);
    CU_ASSERT_EQUAL(bad4, 0);
}

/* Every midpoint between neighbouring grid values, and its fp32 neighbours, both signs. */
static void test_encoders_ties(void) {
    init_tables();
    int bad = 0;
    for (int i = 0; i + 1 < 8; i++) {
        const float mid = (float)((E2M1_POS[i] + E2M1_POS[i + 1]) / 2); /* exact in fp32 */
        const float pts[3] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, INFINITY)};
        for (int k = 0; k < 3; k++) bad += e2m1_mismatch(pts[k]) + e2m1_mismatch(-pts[k]);
        /* the tie itself goes to the even code */
        const uint8_t c = fp4_e2m1_encode_rne(mid);
        CU_ASSERT_EQUAL(c & 1, 0);
    }
    for (int i = 0; i + 1 < 127; i++) {
        const float mid = (float)((E4M3_POS[i] + E4M3_POS[i + 1]) / 2);
        const float pts[3] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, INFINITY)};
        for (int k = 0; k < 3; k++) bad += e4m3_mismatch(pts[k]) + e4m3_mismatch(-pts[k]);
        CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(mid) & 1, 0);
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* the explicit E2M1 ties of spec §1.2 */
    const float tie[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
    const uint8_t want[7] = {0, 2, 2, 4, 4, 6, 6};
    for (int i = 0; i < 7; i++) {
        CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(tie[i]), want[i]);
        CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(-tie[i]), want[i] | 8);
    }
}

static void test_encoder_specials(void) {
    /* E2M1 */
    CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(0.0f), 0x0);
    CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(-0.0f), 0x8);
    CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(-0.1f), 0x8);
    CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(NAN), 0x7);
    CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(-NAN), 0x7);
    CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(INFINITY), 0x7);
    CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(-INFINITY), 0xF);
    CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(1e30f), 0x7);
    CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(5.0000005f), 0x7);
    CU_ASSERT_EQUAL(fp4_e2m1_encode_rne(f32(1)), 0x0); /* smallest subnormal */
    /* E4M3 pitfalls (spec §2.1) */
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(ldexpf(1.0f, -10)), 0x00);          /* tie -> 0 (even) */
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(nextafterf(ldexpf(1.0f, -10), 1)), 0x01);
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(ldexpf(3.0f, -10)), 0x02);          /* tie 1|2 -> 2 */
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(ldexpf(15.0f, -10)), 0x08);         /* tie 7|8 (2^-6) -> 8 */
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(448.0f), 0x7e);
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(nextafterf(448.0f, 1000.0f)), 0x7e);
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(464.0f), 0x7e); /* would be 480 (NaN slot) without saturation */
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(500.0f), 0x7e);
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(FLT_MAX), 0x7e);
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(INFINITY), 0x7e);
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(-INFINITY), 0xfe);
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(NAN), 0x7f);
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(432.0f), 0x7e); /* tie 416|448 -> 448 (m=6 even) */
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(58.099998f), 0x67); /* spec §3.5: 58.1 -> 60 */
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(ldexpf(1.0f, -6)), 0x08);
    CU_ASSERT_EQUAL(fp4_e4m3_encode_rne(1e-30f), 0x00);
}

/* ---------------------------------------------------------------------------------------- */
/* BF16                                                                                       */

static void test_bf16(void) {
    int bad = 0;
    /* round trip: every non-NaN bf16 survives f32 and back; NaN stays NaN with its sign */
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = fp4_bf16_to_f32((uint16_t)h);
        CU_ASSERT_EQUAL(bits(f), h << 16);
        const uint16_t back = fp4_f32_to_bf16(f);
        if (isnan(f)) bad += !(isnan(fp4_bf16_to_f32(back)) && (back & 0x8000u) == (h & 0x8000u));
        else bad += back != h;
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* fp32 -> bf16 RNE against the slow definition, every 63rd fp32 pattern of both signs */
    bad = 0;
    for (uint64_t u = 0; u < 0x100000000ull && bad < 5; u += 63) {
        const float f = f32((uint32_t)u);
        if (isnan(f)) {
            bad += !isnan(fp4_bf16_to_f32(fp4_f32_to_bf16(f)));
            continue;
        }
        const uint16_t got = fp4_f32_to_bf16(f), want = slow_bf16(f);
        if (got != want) {
            fprintf(stderr, "\n    bf16(0x%08x): got 0x%04x want 0x%04x\n", (uint32_t)u, got, want);
            bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* explicit ties and near-ties */
    CU_ASSERT_EQUAL(fp4_f32_to_bf16(f32(0x3f808000u)), 0x3f80); /* tie, even stays */
    CU_ASSERT_EQUAL(fp4_f32_to_bf16(f32(0x3f818000u)), 0x3f82); /* tie, odd rounds up */
    CU_ASSERT_EQUAL(fp4_f32_to_bf16(f32(0x3f808001u)), 0x3f81);
    CU_ASSERT_EQUAL(fp4_f32_to_bf16(f32(0x3f807fffu)), 0x3f80);
    CU_ASSERT_EQUAL(fp4_f32_to_bf16(f32(0xbf818000u)), 0xbf82);
    CU_ASSERT_EQUAL(fp4_f32_to_bf16(f32(0x7f7f8000u)), 0x7f80); /* overflow to Inf by RNE */
    CU_ASSERT_EQUAL(fp4_f32_to_bf16(f32(0x7f7f7fffu)), 0x7f7f);
    CU_ASSERT_EQUAL(fp4_f32_to_bf16(INFINITY), 0x7f80);
    CU_ASSERT_EQUAL(fp4_f32_to_bf16(f32(0x7f800001u)) & 0x7fc0u, 0x7fc0); /* sNaN stays NaN */
}

/* ---------------------------------------------------------------------------------------- */
/* E8M0 scale rules                                                                           */

static int e8m0_mismatch(float amax) {
    const uint8_t r = fp4_e8m0_rceil(amax), rw = slow_rceil(amax);
    const uint8_t o = fp4_e8m0_ocp(amax), ow = slow_ocp(amax);
    if (r != rw || o != ow) {
        fprintf(stderr, "\n    e8m0(%a): rceil %u want %u, ocp %u want %u\n", (double)amax, r, rw, o, ow);
        return 1;
    }
    return 0;
}

static void test_e8m0_rules(void) {
    int bad = 0;
    const float pts[] = {0.0f, f32(1), f32(0x00400000u), f32(0x007fffffu), FLT_MIN, 7.0f, 5.0f, 3.0001f, 6.0f, 1.0f,
                         1.296875f, 1e30f, 1e38f, FLT_MAX, INFINITY, 1.5f * ldexpf(1.0f, -124),
                         nextafterf(1.5f * ldexpf(1.0f, -124), 1.0f), 1.5f * ldexpf(1.0f, -123),
                         nextafterf(1.5f * ldexpf(1.0f, -123), 1.0f)};
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) bad += e8m0_mismatch(pts[i]);
    for (int k = -149; k <= 125; k++) { /* 6 * 2^k exactly and its neighbours */
        const float v = ldexpf(6.0f, k);
        if (v == 0.0f || isinf(v)) continue;
        bad += e8m0_mismatch(v) + e8m0_mismatch(nextafterf(v, 0.0f)) + e8m0_mismatch(nextafterf(v, INFINITY));
        bad += e8m0_mismatch(ldexpf(1.0f, k)) + e8m0_mismatch(ldexpf(1.75f, k));
    }
    for (uint32_t u = 0; u < 0x7f800000u && bad < 5; u += 4099) bad += e8m0_mismatch(f32(u));
    for (uint32_t u = 0; u < 0x00800000u && bad < 5; u += 97) bad += e8m0_mismatch(f32(u)); /* subnormals */
    CU_ASSERT_EQUAL(bad, 0);
    /* Normal-range quotients: the fp32 quotient and the exact quotient give the same byte. */
    for (uint32_t u = 0x01000000u; u < 0x7f800000u && bad < 5; u += 4099) {
        const float a = f32(u);
        const uint8_t exact = (uint8_t)(clampi(ceil_log2((double)a / 6.0), -127, 127) + 127);
        if (fp4_e8m0_rceil(a) != exact) bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* The one documented divergence from the exact-real definition: amax = (1.5 + 2^-22) 2^-125
     * gives amax/6 = 2^-127 + 2^-149/3, which fp32 division rounds to 2^-127 -> byte 0 (X = 2^-127,
     * amax/X = 6 (1 + 2^-23 / 1.5) still rounds to code 6: no visible clipping). */
    CU_ASSERT_EQUAL(fp4_e8m0_rceil(f32(0x01400001u)), 0);
    /* the spec's worked examples (mxfp4 §2.2): a = 7 -> FLOOR X = 1, RCEIL X = 2; a = 5 -> X = 1 both */
    CU_ASSERT_EQUAL(fp4_e8m0_ocp(7.0f), 127);
    CU_ASSERT_EQUAL(fp4_e8m0_rceil(7.0f), 128);
    CU_ASSERT_EQUAL(fp4_e8m0_ocp(5.0f), 127);
    CU_ASSERT_EQUAL(fp4_e8m0_rceil(5.0f), 127);
    CU_ASSERT_EQUAL(fp4_e8m0_rceil(1.296875f), 125); /* spec §3.5: 2^-2 */
    CU_ASSERT_EQUAL(fp4_e8m0_rceil(0.0f), 0);
    CU_ASSERT_EQUAL(fp4_e8m0_rceil(INFINITY), 254);
    /* rceil never clips: amax * inverse(rceil(amax)) <= 6 for every swept amax */
    int clipped = 0;
    for (uint32_t u = 1; u < 0x7f800000u; u += 12289) {
        const float a = f32(u);
        clipped += (double)a * ldexp(1.0, 127 - fp4_e8m0_rceil(a)) > 6.0;
    }
    CU_ASSERT_EQUAL(clipped, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* stochastic rounding                                                                        */

/* Exact number of rbits k in [0, 255] that round a (= lo + step*j/1024) up: k with
 * j/1024 + k/256 >= 1, i.e. 4k >= 1024 - j. Integer arithmetic only. */
static int sr_up_count(int j) {
    int n = 0;
    for (int k = 0; k < 256; k++) n += 4 * k >= 1024 - j;
    return n;
}

static void test_sr_enumeration(void) {
    const double lo[7] = {0, 0.5, 1, 1.5, 2, 3, 4}, step[7] = {0.5, 0.5, 0.5, 0.5, 1, 1, 2};
    const uint8_t lo_code[7] = {0, 1, 2, 3, 4, 5, 6};
    int bad = 0;
    for (int iv = 0; iv < 7; iv++) {
        for (int j = 0; j < 1024; j++) {
            const float a = (float)(lo[iv] + step[iv] * j / 1024.0); /* exact */
            for (int s = 0; s < 2; s++) {
                const float v = s ? -a : a;
                int up = 0, other = 0;
                for (uint32_t k = 0; k < 256; k++) {
                    const uint8_t c = fp4_e2m1_encode_sr(v, k | 0xabcd00u); /* upper bits ignored */
                    const uint8_t sign = (uint8_t)(s ? 8 : 0);
                    if (c == (sign | (lo_code[iv] + 1))) up++;
                    else if (c != (sign | lo_code[iv])) other++;
                    /* monotone in k: once up, stays up */
                    if (k && c != (sign | (lo_code[iv] + 1)) && fp4_e2m1_encode_sr(v, k - 1) == (sign | (lo_code[iv] + 1)))
                        other++;
                }
                if (up != sr_up_count(j) || other) {
                    if (bad < 5) fprintf(stderr, "\n    sr(%g): up %d want %d, other %d\n", (double)v, up, sr_up_count(j), other);
                    bad++;
                }
            }
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* spec §6.2 example: v = 2.24 -> P(3) = 61/256 exactly */
    int up = 0;
    for (uint32_t k = 0; k < 256; k++) up += fp4_e2m1_encode_sr(2.24f, k) == 0x5;
    CU_ASSERT_EQUAL(up, 61);
    /* saturation and specials: every rbits value */
    for (uint32_t k = 0; k < 256; k++) {
        CU_ASSERT_EQUAL(fp4_e2m1_encode_sr(6.0f, k), 0x7);
        CU_ASSERT_EQUAL(fp4_e2m1_encode_sr(7.5f, k), 0x7);
        CU_ASSERT_EQUAL(fp4_e2m1_encode_sr(-1e30f, k), 0xF);
        CU_ASSERT_EQUAL(fp4_e2m1_encode_sr(INFINITY, k), 0x7);
        CU_ASSERT_EQUAL(fp4_e2m1_encode_sr(-INFINITY, k), 0xF);
        CU_ASSERT_EQUAL(fp4_e2m1_encode_sr(NAN, k), 0x7);
        CU_ASSERT_EQUAL(fp4_e2m1_encode_sr(0.0f, k), 0x0);
        CU_ASSERT_EQUAL(fp4_e2m1_encode_sr(-0.0f, k), 0x8);
        CU_ASSERT_EQUAL(fp4_e2m1_encode_sr(4.0f, k), 0x6); /* grid values are kept exactly */
    }
}

/* Unbiasedness over Philox draws. SR with 8 bits rounds up with probability floor(256 f)/256
 * (f = fractional position in the interval), so it is exactly unbiased when 256 f is an integer
 * and biased toward zero by less than step/256 otherwise; we test the mean against that exact
 * expectation. With N draws the sample mean of q has standard error step*sqrt(p(1-p)/N); each
 * check allows 5 standard errors (two-sided false-failure probability ~5.7e-7 per check under
 * the normal approximation, ~1e-5 over all checks). A rounding that ignored the random bits or
 * used RNE would miss by ~step/2 >> 5 SE. */
static void test_sr_unbiased(void) {
    const int N = 200000;
    const float vs[] = {2.24f, 0.1f, 0.3f, 1.1f, 4.7f, 5.9f, 3.3f, -2.24f, -0.7f, 1.0f + 77.0f / 512.0f, 2.0f + 13.0f / 256.0f, 4.0f + 255.0f / 128.0f};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        const double a = fabs((double)vs[i]);
        const double step = a >= 4 ? 2 : (a >= 2 ? 1 : 0.5);
        const double lo = floor(a / step) * step;
        const double f = (a - lo) / step;
        const double p = floor(256.0 * f) / 256.0; /* exact: a, lo, step are dyadic */
        const double expect = (lo + p * step) * (vs[i] < 0 ? -1 : 1);
        double sum = 0;
        for (int n = 0; n < N; n++) sum += fp4_e2m1_decode(fp4_e2m1_encode_sr(vs[i], fp4_sr_bits8(99, 5, (uint64_t)n)));
        const double mean = sum / N;
        const double se = step * sqrt(p * (1 - p) / N);
        if (!(fabs(mean - expect) <= 5 * se + 1e-12))
            fprintf(stderr, "\n    sr mean(%g) = %.6f, expect %.6f (se %.2g)\n", (double)vs[i], mean, expect, se);
        CU_ASSERT(fabs(mean - expect) <= 5 * se + 1e-12);
        /* and the bias relative to v itself is below step/256 */
        CU_ASSERT(fabs(expect - (double)vs[i]) < step / 256.0 + 1e-12);
    }
}

static CU_TestInfo format_tests[] = {
    {"E2M1/E4M3/E8M0 decode every code", test_decode_tables},
    {"E2M1/E4M3 RNE on every bf16 pattern", test_encoders_all_bf16},
    {"E2M1/E4M3 RNE on an fp32 sweep [-500, 500]", test_encoders_fp32_sweep},
    {"E2M1/E4M3 ties and their neighbours", test_encoders_ties},
    {"specials: -0, NaN, Inf, saturation, E4M3 pitfalls", test_encoder_specials},
    {"BF16 RNE and round trip", test_bf16},
    {"E8M0 rceil/ocp vs log2 definitions", test_e8m0_rules},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo sr_tests[] = {
    {"SR up-counts by enumerating all 256 rbits", test_sr_enumeration},
    {"SR is unbiased over Philox draws", test_sr_unbiased},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"formats", NULL, NULL, NULL, NULL, format_tests},
    {"stochastic rounding", NULL, NULL, NULL, NULL, sr_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
