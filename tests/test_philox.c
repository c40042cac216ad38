/* tests/test_philox.c — Philox4x32-10 and the SR random-bit mapping (fp4kit/formats_inline.h).
 *
 * Known-answer vectors: Random123 kat_vectors, philox4x32 with 10 rounds (ctr[4], key[2] -> out[4]).
 * Mapping: fp4_sr_block16(seed, stream, g) = philox(ctr = {g lo, g hi, stream lo, stream hi},
 * key = {seed lo, seed hi}); fp4_sr_bits8(seed, stream, idx) = byte (idx % 4) of word
 * ((idx / 4) % 4) of fp4_sr_block16(seed, stream, idx / 16). */
#include <math.h>
#include <string.h>

#include "fp4kit/formats_inline.h"
#include "harness.h"

static void check_kat(const uint32_t ctr[4], const uint32_t key[2], const uint32_t want[4]) {
    uint32_t out[4];
    fp4_philox4x32_10(ctr, key, out);
    for (int i = 0; i < 4; i++) {
        if (out[i] != want[i])
            fprintf(stderr, "\n    philox word %d: got 0x%08x want 0x%08x\n", i, out[i], want[i]);
        CU_ASSERT_EQUAL(out[i], want[i]);
    }
}

static void test_kat_vectors(void) {
    const uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
    const uint32_t w0[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
    check_kat(c0, k0, w0);
    const uint32_t c1[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, k1[2] = {0xffffffffu, 0xffffffffu};
    const uint32_t w1[4] = {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu};
    check_kat(c1, k1, w1);
    const uint32_t c2[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, k2[2] = {0xa4093822u, 0x299f31d0u};
    const uint32_t w2[4] = {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u};
    check_kat(c2, k2, w2);
}

/* fp4_sr_block16 places (g, stream) in the counter and seed in the key, 64-bit halves lo first. */
static void test_block16_counter_layout(void) {
    const uint64_t seeds[3] = {0, 0x299f31d0a4093822ull, 0xffffffffffffffffull};
    const uint64_t streams[3] = {0, 0x0370734413198a2eull, 0x8000000000000001ull};
    const uint64_t gs[3] = {0, 0x85a308d3243f6a88ull, 12345};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++) {
                const uint32_t ctr[4] = {(uint32_t)gs[k], (uint32_t)(gs[k] >> 32), (uint32_t)streams[j],
                                         (uint32_t)(streams[j] >> 32)};
                const uint32_t key[2] = {(uint32_t)seeds[i], (uint32_t)(seeds[i] >> 32)};
                uint32_t want[4], got[4];
                fp4_philox4x32_10(ctr, key, want);
                fp4_sr_block16(seeds[i], streams[j], gs[k], got);
                CU_ASSERT_EQUAL(memcmp(want, got, sizeof want), 0);
            }
    /* The KAT vector 3 through the block16 interface. */
    uint32_t out[4];
    fp4_sr_block16(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull, out);
    CU_ASSERT_EQUAL(out[0], 0xd16cfe09u);
    CU_ASSERT_EQUAL(out[3], 0x24126ea1u);
}

static void test_bits8_mapping(void) {
    const uint64_t seed = 0x0123456789abcdefull, stream = 0xfedcba9876543210ull;
    /* idx ranges: the start, and one straddling g = 2^32 (the counter's high word). */
    const uint64_t starts[2] = {0, (1ull << 36) - 64};
    for (int s = 0; s < 2; s++) {
        for (uint64_t idx = starts[s]; idx < starts[s] + 4096; idx++) {
            uint32_t w[4];
            fp4_sr_block16(seed, stream, idx / 16, w);
            const uint32_t want = (w[(idx / 4) % 4] >> (8 * (idx % 4))) & 0xffu;
            if (fp4_sr_bits8(seed, stream, idx) != want) {
                CU_FAIL("fp4_sr_bits8 mapping");
                return;
            }
        }
    }
    /* Every bit of seed and stream matters (the high halves included). */
    int differ_seed = 0, differ_stream = 0;
    for (uint64_t idx = 0; idx < 64; idx++) {
        differ_seed += fp4_sr_bits8(seed, stream, idx) != fp4_sr_bits8(seed ^ (1ull << 63), stream, idx);
        differ_stream += fp4_sr_bits8(seed, stream, idx) != fp4_sr_bits8(seed, stream ^ (1ull << 63), idx);
    }
    /* 64 independent bytes all colliding has probability 256^-64 under the null. */
    CU_ASSERT(differ_seed > 0);
    CU_ASSERT(differ_stream > 0);
}

/* Byte uniformity: chi-square over 256 bins with 2^20 draws. Under H0 the statistic has 255
 * degrees of freedom (mean 255, sd sqrt(510) = 22.6); the threshold 255 + 7 sd = 413 is exceeded
 * with probability < 1e-8 (Wilson-Hilferty), while a broken mapping (e.g. always byte 0 of a word,
 * or a constant) is far above it. Also checks each of the 8 bit positions is set ~half the time. */
static void test_bits8_uniform(void) {
    enum { N = 1 << 20 };
    static uint32_t hist[256];
    memset(hist, 0, sizeof hist);
    uint32_t bitcount[8] = {0};
    for (uint64_t idx = 0; idx < N; idx++) {
        const uint32_t b = fp4_sr_bits8(42, 7, idx);
        hist[b]++;
        for (int k = 0; k < 8; k++) bitcount[k] += (b >> k) & 1u;
    }
    const double e = (double)N / 256.0;
    double chi2 = 0;
    for (int i = 0; i < 256; i++) chi2 += ((double)hist[i] - e) * ((double)hist[i] - e) / e;
    CU_ASSERT(chi2 < 255.0 + 7.0 * sqrt(510.0));
    /* each bit: Binomial(N, 1/2), sd = 512; 6 sd = 3072 (two-sided p ~ 2e-9). */
    for (int k = 0; k < 8; k++) CU_ASSERT(fabs((double)bitcount[k] - N / 2.0) < 6.0 * 512.0);
}

static CU_TestInfo philox_tests[] = {
    {"Random123 known-answer vectors (philox4x32-10)", test_kat_vectors},
    {"sr_block16 counter/key layout", test_block16_counter_layout},
    {"sr_bits8 byte/word/block mapping", test_bits8_mapping},
    {"sr_bits8 bytes are uniform (chi-square)", test_bits8_uniform},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"philox", NULL, NULL, NULL, NULL, philox_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
