/* tests/test_layout.c — the 128x4-tile scale swizzle (fp4kit/layout.h, spec §10.2) on the host.
 * The library's swizzle (lib/layout_ref.c walks the output in (rb, cb, d3, d4, d5) order) is
 * checked against the spec's other description, written independently here: the swizzled
 * buffer viewed as [Mp/128, Kp/4, 32, 4, 4], permute(0, 3, 2, 1, 4), reshaped to [Mp, Kp], must
 * be the zero-padded compact scale matrix. Also: fp4_swizzle_offset, the byte count, the
 * public dispatcher's argument checks. */
#include <stdlib.h>
#include <string.h>

#include "fp4kit/fp4kit.h"
#include "fp4kit/layout.h"
#include "harness.h"

/* Unswizzle by the permute description: element [a, b, c, d, e] of the 5-D view moves to
 * [a, d, c, b, e] of the permuted tensor of shape [Mp/128, 4, 32, Kp/4, 4] = row (a*4+d)*32+c,
 * column b*4+e of [Mp, Kp]. */
static void unswizzle_permute(const uint8_t *swz, int64_t mp, int64_t kp, uint8_t *full) {
    const int64_t A = mp / 128, B = kp / 4;
    for (int64_t a = 0; a < A; a++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t c = 0; c < 32; c++)
                for (int64_t d = 0; d < 4; d++)
                    for (int64_t e = 0; e < 4; e++) {
                        const int64_t src = (((a * B + b) * 32 + c) * 4 + d) * 4 + e;
                        const int64_t row = (a * 4 + d) * 32 + c, col = b * 4 + e;
                        full[row * kp + col] = swz[src];
                    }
}

static void test_swizzle_vs_permute(void) {
    static const int64_t shapes[][2] = {{1, 1}, {5, 3}, {128, 4}, {129, 5}, {256, 8}, {300, 13}, {64, 2}};
    for (int s = 0; s < 7; s++) {
        const int64_t rows = shapes[s][0], kb = shapes[s][1];
        const int64_t mp = (rows + 127) / 128 * 128, kp = (kb + 3) / 4 * 4;
        uint8_t *sc = malloc((size_t)(rows * kb)), *swz = malloc((size_t)(mp * kp)), *full = malloc((size_t)(mp * kp));
        for (int64_t i = 0; i < rows * kb; i++) sc[i] = (uint8_t)(1 + (i * 131 + 7) % 254);
        memset(swz, 0xEE, (size_t)(mp * kp));
        fp4_scales_swizzle_host(sc, rows, kb, swz);
        unswizzle_permute(swz, mp, kp, full);
        int bad = 0;
        for (int64_t r = 0; r < mp; r++)
            for (int64_t c = 0; c < kp; c++) {
                const uint8_t want = (r < rows && c < kb) ? sc[r * kb + c] : 0;
                if (full[r * kp + c] != want && !bad) {
                    printf("\n    swizzle [%lld x %lld]: (%lld, %lld) = 0x%02x, want 0x%02x\n", (long long)rows, (long long)kb,
                           (long long)r, (long long)c, full[r * kp + c], want);
                    bad = 1;
                }
                if (r < rows && c < kb && swz[fp4_swizzle_offset(r, c, kb)] != sc[r * kb + c]) bad = 1;
            }
        CU_ASSERT_EQUAL(bad, 0);
        free(sc); free(swz); free(full);
    }
}

static void test_swizzle_tile_example(void) {
    /* spec §10.2: inside one tile, row r = 32*d4 + d3 and column d5 land at d3*16 + d4*4 + d5 */
    CU_ASSERT_EQUAL(fp4_swizzle_offset(0, 0, 4), 0);
    CU_ASSERT_EQUAL(fp4_swizzle_offset(1, 0, 4), 16);
    CU_ASSERT_EQUAL(fp4_swizzle_offset(32, 0, 4), 4);
    CU_ASSERT_EQUAL(fp4_swizzle_offset(33, 3, 4), 16 + 4 + 3);
    CU_ASSERT_EQUAL(fp4_swizzle_offset(0, 4, 8), 512);      /* next tile column */
    CU_ASSERT_EQUAL(fp4_swizzle_offset(128, 0, 8), 1024);   /* next tile row: 2 tiles per tile row */
    CU_ASSERT_EQUAL(fp4_swizzle_offset(128, 0, 5), 1024);   /* Kb = 5 pads to 8 */
}

static void test_swizzle_api(void) {
    fp4_config cfg = fp4_config_nvfp4();
    fp4_qtensor q;
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&q, 130, 80, &cfg, FP4_HOST)); /* kb = 5 */
    CU_ASSERT_EQUAL(fp4_scales_swizzled_bytes(&q), (size_t)256 * 8);
    for (size_t i = 0; i < fp4_qtensor_scale_bytes(&q); i++) q.scales[i] = (uint8_t)(i * 7 + 1);
    uint8_t *out = malloc(256 * 8), *ref = malloc(256 * 8);
    CU_ASSERT_EQUAL(fp4_scales_swizzle(NULL, &q, out, 256 * 8 - 1), FP4_ERR_SHAPE);
    CU_ASSERT_EQUAL(fp4_scales_swizzle(NULL, &q, NULL, 256 * 8), FP4_ERR_INVALID_ARG);
    FP4T_ASSERT_OK(fp4_scales_swizzle(NULL, &q, out, 256 * 8));
    fp4_scales_swizzle_host(q.scales, 130, 5, ref);
    CU_ASSERT_EQUAL(memcmp(out, ref, 256 * 8), 0);
    /* a "device" tensor without a CUDA context is refused before anything is touched */
    fp4_qtensor d = q;
    d.loc = FP4_DEVICE;
    CU_ASSERT_EQUAL(fp4_scales_swizzle(NULL, &d, out, 256 * 8), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "CUDA context"));
    cfg = fp4_config_mxfp4();
    fp4_qtensor m;
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&m, 1, 32, &cfg, FP4_HOST));
    CU_ASSERT_EQUAL(fp4_scales_swizzled_bytes(&m), (size_t)128 * 4);
    fp4_qtensor_free(&m);
    free(out); free(ref);
    fp4_qtensor_free(&q);
}

static CU_TestInfo layout_tests[] = {
    {"swizzle == reshape/permute description", test_swizzle_vs_permute},
    {"swizzle offsets of the spec example", test_swizzle_tile_example},
    {"fp4_scales_swizzle API and checks", test_swizzle_api},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"layout", NULL, NULL, NULL, NULL, layout_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
