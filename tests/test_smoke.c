/* tests/test_smoke.c — the build links and the basic API answers: status strings, configs,
 * parse/print round trips, shape checks on allocation. */
#include <string.h>

#include "fp4kit/fp4kit.h"
#include "harness.h"

static void test_config_roundtrip(void) {
    fp4_config c = fp4_config_nvfp4();
    CU_ASSERT_EQUAL(fp4_config_validate(&c), FP4_OK);
    c.block = FP4_BLOCK_1x32;
    CU_ASSERT_EQUAL(fp4_config_validate(&c), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "NVFP4"));
    fp4_config m = fp4_config_mxfp4();
    CU_ASSERT_EQUAL(fp4_config_validate(&m), FP4_OK);
    fp4_block b;
    CU_ASSERT_EQUAL(fp4_block_parse("16x16", &b), FP4_OK);
    CU_ASSERT_EQUAL(b, FP4_BLOCK_16x16);
    CU_ASSERT_STRING_EQUAL(fp4_block_name(b), "16x16");
    CU_ASSERT_EQUAL(fp4_block_parse("8x8", &b), FP4_ERR_INVALID_ARG);
    fp4_scale_rule r;
    CU_ASSERT_EQUAL(fp4_scale_rule_parse("ocp", &r), FP4_OK);
    CU_ASSERT_STRING_EQUAL(fp4_scale_rule_name(r), "ocp");
}

static void test_alloc_shapes(void) {
    fp4_qtensor q;
    fp4_config c = fp4_config_nvfp4();
    CU_ASSERT_EQUAL(fp4_qtensor_alloc(&q, 3, 40, &c, FP4_HOST), FP4_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "40"));
    FP4T_ASSERT_OK(fp4_qtensor_alloc(&q, 3, 48, &c, FP4_HOST));
    CU_ASSERT_EQUAL(fp4_qtensor_data_bytes(&q), 3 * 24);
    CU_ASSERT_EQUAL(fp4_qtensor_scale_bytes(&q), 3 * 3);
    fp4_qtensor_free(&q);
    c.block = FP4_BLOCK_16x16;
    CU_ASSERT_EQUAL(fp4_qtensor_alloc(&q, 8, 16, &c, FP4_HOST), FP4_ERR_SHAPE);
    CU_ASSERT_STRING_EQUAL(fp4_status_str(FP4_ERR_SHAPE), "FP4_ERR_SHAPE");
}

static void test_no_cuda_is_loud(void) {
    if (fp4_build_has_cuda()) return;
    fp4_context *ctx = NULL;
    CU_ASSERT_EQUAL(fp4_context_create_cuda(0, NULL, &ctx), FP4_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NULL(ctx);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "without CUDA"));
}

static CU_TestInfo smoke_tests[] = {
    {"config parse/print/validate", test_config_roundtrip},
    {"allocation shape checks", test_alloc_shapes},
    {"CUDA entry points fail loudly without CUDA", test_no_cuda_is_loud},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"smoke", NULL, NULL, NULL, NULL, smoke_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
