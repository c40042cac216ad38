/* tests/test_recipe.c — recipes and layer policies: presets match the spec tables (nvfp4-recipe.md
 * §4, §7.2, §9), parse/print round trips (presets, overrides, random recipes), bad strings are
 * rejected with messages naming the field and value, and the BF16 policy picks the right blocks. */
#include <string.h>

#include "fp4kit/recipe.h"
#include "harness.h"

#define OP(r, g, i) (&(r).op[FP4_##g][i])

static void expect_fail(const char *s, const char *needle1, const char *needle2) {
    fp4_recipe r;
    fp4_status st = fp4_recipe_parse(s, &r);
    CU_ASSERT_EQUAL(st, FP4_ERR_INVALID_ARG);
    if (st == FP4_OK) { fprintf(stderr, "\n    accepted bad recipe '%s'\n", s); return; }
    const char *m = fp4_last_error();
    const int ok = strstr(m, needle1) && (!needle2 || strstr(m, needle2));
    if (!ok) fprintf(stderr, "\n    '%s': message '%s' lacks '%s'/'%s'\n", s, m, needle1, needle2 ? needle2 : "");
    CU_ASSERT(ok);
}

static void test_presets_match_spec(void) {
    fp4_recipe r;
    FP4T_ASSERT_OK(fp4_recipe_parse("nvfp4", &r));
    CU_ASSERT_EQUAL(OP(r, FPROP, 0)->prec, FP4_PREC_NVFP4);
    CU_ASSERT_EQUAL(OP(r, FPROP, 0)->block, FP4_BLOCK_1x16);
    CU_ASSERT_EQUAL(OP(r, FPROP, 1)->block, FP4_BLOCK_16x16);
    CU_ASSERT_EQUAL(OP(r, DGRAD, 1)->block, FP4_BLOCK_16x16);
    CU_ASSERT_EQUAL(OP(r, DGRAD, 0)->rounding, FP4_ROUND_SR);
    CU_ASSERT_EQUAL(OP(r, WGRAD, 0)->rounding, FP4_ROUND_SR);
    CU_ASSERT_EQUAL(OP(r, WGRAD, 1)->rounding, FP4_ROUND_RNE);
    CU_ASSERT_EQUAL(OP(r, FPROP, 1)->rounding, FP4_ROUND_RNE);
    CU_ASSERT_EQUAL(OP(r, WGRAD, 0)->hadamard, 16);
    CU_ASSERT_EQUAL(OP(r, WGRAD, 1)->hadamard, 16);
    CU_ASSERT_EQUAL(OP(r, FPROP, 0)->hadamard, 0);
    CU_ASSERT_EQUAL(OP(r, DGRAD, 0)->hadamard, 0);
    FP4T_ASSERT_OK(fp4_recipe_parse("mxfp4", &r));
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 2; i++) {
            CU_ASSERT_EQUAL(r.op[g][i].prec, FP4_PREC_MXFP4);
            CU_ASSERT_EQUAL(r.op[g][i].block, FP4_BLOCK_1x32);
            CU_ASSERT_EQUAL(r.op[g][i].scale, FP4_SCALE_RCEIL);
            CU_ASSERT_EQUAL(r.op[g][i].hadamard, g == FP4_WGRAD ? 32 : 0);
            CU_ASSERT_EQUAL(r.op[g][i].rounding, (g != FP4_FPROP && i == 0) ? FP4_ROUND_SR : FP4_ROUND_RNE);
        }
    FP4T_ASSERT_OK(fp4_recipe_parse("nvfp4-rtn", &r));
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 2; i++) {
            CU_ASSERT_EQUAL(r.op[g][i].block, FP4_BLOCK_1x16);
            CU_ASSERT_EQUAL(r.op[g][i].rounding, FP4_ROUND_RNE);
            CU_ASSERT_EQUAL(r.op[g][i].hadamard, 0);
        }
    FP4T_ASSERT_OK(fp4_recipe_parse("bf16", &r));
    CU_ASSERT_FALSE(fp4_recipe_is_quantized(&r));
    FP4T_ASSERT_OK(fp4_recipe_parse("nvfp4-1d-weights", &r));
    CU_ASSERT_EQUAL(OP(r, FPROP, 1)->block, FP4_BLOCK_1x16);
    CU_ASSERT_EQUAL(OP(r, DGRAD, 1)->block, FP4_BLOCK_1x16);
    CU_ASSERT_EQUAL(OP(r, WGRAD, 0)->hadamard, 16);
}

static void test_preset_roundtrip(void) {
    const char *const *names;
    const int n = fp4_recipe_presets(&names);
    CU_ASSERT_EQUAL(n, 8);
    for (int p = 0; p < n; p++) {
        fp4_recipe r, r2;
        char buf[512];
        FP4T_ASSERT_OK(fp4_recipe_parse(names[p], &r));
        FP4T_ASSERT_OK(fp4_recipe_print(&r, buf, sizeof buf));
        CU_ASSERT_STRING_EQUAL(buf, names[p]);
        FP4T_ASSERT_OK(fp4_recipe_parse(buf, &r2));
        CU_ASSERT(fp4_recipe_equal(&r, &r2));
        for (int q = 0; q < n; q++) { /* presets are pairwise distinct */
            fp4_recipe o;
            FP4T_ASSERT_OK(fp4_recipe_preset(names[q], &o));
            CU_ASSERT_EQUAL(fp4_recipe_equal(&r, &o), p == q);
        }
    }
}

static void test_overrides_equal_ablations(void) {
    const char *pairs[][2] = {{"nvfp4,wgrad.hadamard=0", "nvfp4-no-rht"},
                              {"nvfp4,dy.round=rne", "nvfp4-no-sr"},
                              {"nvfp4,w.block=1x16", "nvfp4-1d-weights"},
                              {"nvfp4,format=nvfp4", "nvfp4-rtn"},
                              {"fp32,format=bf16", "bf16"},
                              {"nvfp4-rtn,w.block=16x16,dy.round=sr,wgrad.hadamard=16", "nvfp4"}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        fp4_recipe a, b;
        char buf[512];
        FP4T_ASSERT_OK(fp4_recipe_parse(pairs[k][0], &a));
        FP4T_ASSERT_OK(fp4_recipe_parse(pairs[k][1], &b));
        CU_ASSERT(fp4_recipe_equal(&a, &b));
        FP4T_ASSERT_OK(fp4_recipe_print(&a, buf, sizeof buf));
        CU_ASSERT_STRING_EQUAL(buf, pairs[k][1]);
    }
    fp4_recipe r;
    char buf[512];
    FP4T_ASSERT_OK(fp4_recipe_parse("bf16,fprop.format=nvfp4", &r));
    CU_ASSERT_EQUAL(OP(r, FPROP, 0)->prec, FP4_PREC_NVFP4);
    CU_ASSERT_EQUAL(OP(r, FPROP, 1)->prec, FP4_PREC_NVFP4);
    CU_ASSERT_EQUAL(OP(r, DGRAD, 0)->prec, FP4_PREC_BF16);
    FP4T_ASSERT_OK(fp4_recipe_print(&r, buf, sizeof buf));
    CU_ASSERT_STRING_EQUAL(buf, "bf16,fprop.x.format=nvfp4,fprop.w.format=nvfp4");
    FP4T_ASSERT_OK(fp4_recipe_parse("mxfp4,scale=ocp", &r));
    FP4T_ASSERT_OK(fp4_recipe_print(&r, buf, sizeof buf));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "wgrad.x.scale=ocp"));
    CU_ASSERT_EQUAL(fp4_recipe_print(&r, buf, 20), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "too small"));
}

/* Random sequences of overrides: every accepted recipe prints canonically and parses back equal. */
static void test_random_roundtrip(void) {
    static const char *items[] = {"format=nvfp4", "format=mxfp4", "format=bf16", "format=fp32", "block=1x16",
                                  "block=16x16", "block=1x32", "round=sr", "round=rne", "scale=ocp", "scale=rceil",
                                  "scale=nv", "hadamard=0", "hadamard=16", "hadamard=32"};
    static const char *targets[] = {"", "fprop.", "dgrad.", "wgrad.", "x.", "w.", "dy.", "fprop.x.", "fprop.w.",
                                    "dgrad.dy.", "dgrad.w.", "wgrad.dy.", "wgrad.x."};
    const char *const *names;
    const int np = fp4_recipe_presets(&names);
    fp4t_rng rng;
    fp4t_rng_seed(&rng, 7);
    int accepted = 0;
    for (int t = 0; t < 4000; t++) {
        char s[512];
        int len = snprintf(s, sizeof s, "%s", names[fp4t_rng_u64(&rng) % (uint64_t)np]);
        const int n = (int)(fp4t_rng_u64(&rng) % 5);
        for (int k = 0; k < n; k++)
            len += snprintf(s + len, sizeof s - (size_t)len, ",%s%s", targets[fp4t_rng_u64(&rng) % 13],
                            items[fp4t_rng_u64(&rng) % 15]);
        fp4_recipe r, r2;
        if (fp4_recipe_parse(s, &r) != FP4_OK) {
            CU_ASSERT(strlen(fp4_last_error()) > 0);
            continue;
        }
        accepted++;
        char buf[1024];
        FP4T_ASSERT_OK(fp4_recipe_print(&r, buf, sizeof buf));
        FP4T_ASSERT_OK(fp4_recipe_parse(buf, &r2));
        if (!fp4_recipe_equal(&r, &r2)) fprintf(stderr, "\n    '%s' -> '%s' does not round trip\n", s, buf);
        CU_ASSERT(fp4_recipe_equal(&r, &r2));
        char buf2[1024];
        FP4T_ASSERT_OK(fp4_recipe_print(&r2, buf2, sizeof buf2));
        CU_ASSERT_STRING_EQUAL(buf, buf2);
    }
    CU_ASSERT(accepted > 500); /* the generator must exercise the valid space, not just errors */
}

static void test_bad_recipes(void) {
    expect_fail("nvfp5", "nvfp5", "preset");
    expect_fail("", "preset", NULL);
    expect_fail("nvfp4,wgrad.hadamard=8", "wgrad.hadamard", "'8'");
    expect_fail("nvfp4,fprop.hadamard=16", "fprop.x.hadamard", "wgrad");
    expect_fail("nvfp4,wgrad.x.hadamard=0", "wgrad.dy.hadamard=16", "wgrad.x.hadamard=0");
    expect_fail("mxfp4,wgrad.hadamard=16", "wgrad.dy.hadamard", "32");
    expect_fail("nvfp4,fprop.dy.round=sr", "fprop has no operand 'dy'", NULL);
    expect_fail("nvfp4,fprop.x.block=1x32", "fprop.x", "1x32");
    expect_fail("nvfp4,fprop.x.block=8x8", "fprop.x.block", "8x8");
    expect_fail("mxfp4,w.scale=nv", "fprop.w", "nv");
    expect_fail("nvfp4,x.scale=rceil", "fprop.x", "rceil");
    expect_fail("bf16,round=sr", "round", "bf16");
    expect_fail("nvfp4,foo=1", "unknown field 'foo'", NULL);
    expect_fail("nvfp4,bogus.round=sr", "bogus", NULL);
    expect_fail("nvfp4,fprop.x.w.round=sr", "too many parts", NULL);
    expect_fail("nvfp4,,", "empty override", NULL);
    expect_fail("nvfp4,round", "not of the form", NULL);
    expect_fail("nvfp4,round=", "empty value", NULL);
    expect_fail("nvfp4,round=up", "round", "'up'");
    expect_fail("nvfp4,wgrad.format=fp8", "wgrad", "fp8");
    expect_fail("nvfp4,wgrad.block=16x16", "16x16", "hadamard");
    /* struct-level validation names the field too */
    fp4_recipe r;
    FP4T_ASSERT_OK(fp4_recipe_preset("bf16", &r));
    r.op[FP4_DGRAD][1].block = FP4_BLOCK_1x16;
    CU_ASSERT_EQUAL(fp4_recipe_validate(&r), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "dgrad.w"));
    fp4_config c;
    CU_ASSERT_EQUAL(fp4_operand_config(&r.op[FP4_FPROP][0], &c), FP4_ERR_INVALID_ARG);
}

static void test_policy(void) {
    fp4_layer_policy p;
    char buf[64];
    FP4T_ASSERT_OK(fp4_policy_parse("bf16-first=1,bf16-last=2", &p));
    CU_ASSERT_EQUAL(p.bf16_first, 1);
    CU_ASSERT_EQUAL(p.bf16_last, 2);
    FP4T_ASSERT_OK(fp4_policy_print(&p, buf, sizeof buf));
    CU_ASSERT_STRING_EQUAL(buf, "bf16-first=1,bf16-last=2");
    fp4_layer_policy p2;
    FP4T_ASSERT_OK(fp4_policy_parse(buf, &p2));
    CU_ASSERT(p2.bf16_first == p.bf16_first && p2.bf16_last == p.bf16_last);
    FP4T_ASSERT_OK(fp4_policy_parse("bf16-last=4", &p));
    CU_ASSERT(p.bf16_first == 0 && p.bf16_last == 4);
    FP4T_ASSERT_OK(fp4_policy_parse("", &p));
    CU_ASSERT(p.bf16_first == 0 && p.bf16_last == 0);
    FP4T_ASSERT_OK(fp4_policy_print(&p, buf, sizeof buf));
    CU_ASSERT_STRING_EQUAL(buf, "bf16-first=0,bf16-last=0");
    const char *bad[][2] = {{"bf16-first=-1", "bf16-first"}, {"bf16-first=1,bf16-first=2", "twice"},
                            {"bf16-middle=1", "bf16-middle"}, {"bf16-first=x", "'x'"},
                            {"bf16-first=1,", "trailing"}, {"bf16-first", "key=value"}};
    for (int k = 0; k < 6; k++) {
        CU_ASSERT_EQUAL(fp4_policy_parse(bad[k][0], &p), FP4_ERR_INVALID_ARG);
        CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), bad[k][1]));
    }
    fp4_recipe nv, bf, out;
    FP4T_ASSERT_OK(fp4_recipe_preset("nvfp4", &nv));
    FP4T_ASSERT_OK(fp4_recipe_preset("bf16", &bf));
    FP4T_ASSERT_OK(fp4_policy_parse("bf16-first=1,bf16-last=2", &p));
    for (int b = 0; b < 6; b++) {
        FP4T_ASSERT_OK(fp4_policy_recipe_for_block(&p, &nv, b, 6, &out));
        const int kept = b == 0 || b >= 4;
        CU_ASSERT(fp4_recipe_equal(&out, kept ? &bf : &nv));
    }
    CU_ASSERT_EQUAL(fp4_policy_recipe_for_block(&p, &nv, 6, 6, &out), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "block_index 6"));
    p.bf16_last = 10; /* more kept than blocks: everything BF16 */
    FP4T_ASSERT_OK(fp4_policy_recipe_for_block(&p, &nv, 3, 6, &out));
    CU_ASSERT(fp4_recipe_equal(&out, &bf));
}

static CU_TestInfo recipe_tests[] = {
    {"presets carry the spec's per-GEMM table", test_presets_match_spec},
    {"preset parse/print round trip", test_preset_roundtrip},
    {"overrides reproduce the ablation presets", test_overrides_equal_ablations},
    {"random recipes round trip canonically", test_random_roundtrip},
    {"bad recipes name the field and value", test_bad_recipes},
    {"layer policy parse/print and per-block recipe", test_policy},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"recipe", NULL, NULL, NULL, NULL, recipe_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
