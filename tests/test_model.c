/* tests/test_model.c — whole-model checks on the CPU (qat/model.h, qat/gpt.c, qat/mlp.c):
 *   - gradient check of a tiny GPT (gelu, tied) and a tiny MLP LM (relu2, untied) in FP32 mode:
 *     every parameter's analytic gradient vs central differences of the mean loss;
 *   - the loss goes down on a tiny GPT and MLP with the nvfp4 recipe in fake-quant mode;
 *   - determinism: two runs with one seed give bit-identical parameters; another seed differs;
 *   - bad configs are refused with messages.
 * Run: build-train/tests/test_model
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model.h"
#include "ops.h"
#include "train_impl.h"

static fp4_model_options opts(const char *recipe, fp4_linear_mode mode, int B) {
    fp4_model_options o;
    memset(&o, 0, sizeof o);
    fp4_recipe_parse(recipe, &o.recipe);
    o.mode = mode;
    o.seed = 7;
    o.Bmax = B;
    return o;
}

/* Deterministic pseudo-text: rows of (B, T+1) tokens with structure (next = f(previous)). */
static void make_batch(int32_t *batch, int B, int T, int V, uint64_t seed) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    for (int b = 0; b < B; b++) {
        int32_t x = (int32_t)(fp4t_rng_u64(&r) % (uint64_t)V);
        for (int t = 0; t <= T; t++) {
            batch[b * (T + 1) + t] = x;
            x = (fp4t_rng_u64(&r) % 4 == 0) ? (int32_t)(fp4t_rng_u64(&r) % (uint64_t)V) : (x * 5 + 3) % V;
        }
    }
}

static double loss_of(fp4_model *m, const int32_t *batch, int B) {
    float l = NAN;
    fp4_status st = fp4_model_forward(NULL, m, batch, batch + 1, m->cfg.T + 1, B, 0, &l);
    CU_ASSERT_EQUAL(st, FP4_OK);
    return l;
}

static void gradcheck(fp4_model_config cfg, const char *label) {
    const int B = 2, T = cfg.T;
    fp4_model m;
    fp4_model_options o = opts("fp32", FP4_LINEAR_PLAIN, B);
    FP4T_ASSERT_OK(fp4_model_create(NULL, &cfg, &o, 1, &m));
    /* larger weights than the init so every path carries signal */
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 8.0f;
    for (int i = 0; i < m.n_info; i++)
        if (strstr(m.info[i].name, "norm"))
            for (int64_t j = 0; j < m.info[i].rows; j++) m.params[m.info[i].offset + j] = 1.0f + 0.1f * (float)(j % 5);
    int32_t *batch = malloc(sizeof(int32_t) * (size_t)B * (T + 1));
    make_batch(batch, B, T, cfg.V, 3);
    float l0;
    FP4T_ASSERT_OK(fp4_model_zero_grad(NULL, &m));
    FP4T_ASSERT_OK(fp4_model_forward(NULL, &m, batch, batch + 1, T + 1, B, 0, &l0));
    FP4T_ASSERT_OK(fp4_model_backward(NULL, &m, 1.0f / (float)(B * T)));
    float *g = malloc(m.n_params * sizeof(float));
    memcpy(g, m.grads, m.n_params * sizeof(float));
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < m.n_info; i++) {
        const fp4_param_info *p = &m.info[i];
        const int64_t n = p->rows * (p->cols ? p->cols : 1);
        double num = 0.0, den = 0.0;
        for (int64_t j = 0; j < n; j++) {
            const size_t k = p->offset + (size_t)j;
            if ((!strcmp(p->name, "wte") || !strcmp(p->name, "lm_head")) && j >= (int64_t)cfg.V * p->cols) continue;
            const float keep = m.params[k], h = 1e-2f;
            m.params[k] = keep + h;
            const double lp = loss_of(&m, batch, B);
            m.params[k] = keep - h;
            const double lm = loss_of(&m, batch, B);
            m.params[k] = keep;
            const double fd = (lp - lm) / (2.0 * h);
            num += (fd - g[k]) * (fd - g[k]);
            den += fd * fd;
        }
        const double nmse = den > 0 ? num / den : num;
        if (nmse > worst) { worst = nmse; worst_name = p->name; }
        if (nmse > 1e-3) fprintf(stderr, "\n    %s %s: NMSE %.3e (|fd|^2 %.3e)\n", label, p->name, nmse, den);
        CU_ASSERT(nmse < 1e-3);
    }
    fprintf(stderr, " [%s worst NMSE %.2e in %s] ", label, worst, worst_name);
    free(g);
    free(batch);
    fp4_model_free(&m);
}

static void test_gradcheck_gpt(void) {
    fp4_model_config c = fp4_model_config_default(FP4_MODEL_GPT);
    c.V = 40; c.T = 6; c.C = 8; c.L = 2; c.NH = 2; c.mlp_ratio = 2; c.tied = 1; c.act = FP4_ACT_GELU;
    gradcheck(c, "gpt");
    c.tied = 0; c.act = FP4_ACT_RELU2; c.L = 1;
    gradcheck(c, "gpt-untied-relu2");
}

static void test_gradcheck_mlp(void) {
    fp4_model_config c = fp4_model_config_default(FP4_MODEL_MLP);
    c.V = 40; c.T = 6; c.C = 6; c.L = 2; c.W = 3; c.mlp_ratio = 2; c.act = FP4_ACT_GELU;
    gradcheck(c, "mlp");
}

/* Train with the given recipe/mode; returns first and last loss (averaged over 3 steps). */
static void train_tiny(fp4_model_config cfg, const char *recipe, fp4_linear_mode mode, int steps, uint64_t seed,
                       float *first, float *last, float **params_out) {
    const int B = 4, T = cfg.T;
    fp4_model m;
    fp4_model_options o = opts(recipe, mode, B);
    FP4T_ASSERT_OK(fp4_model_create(NULL, &cfg, &o, seed, &m));
    fp4_optim opt;
    FP4T_ASSERT_OK(fp4_optim_create(NULL, &m, &opt));
    fp4_optim_config oc = fp4_optim_config_default();
    oc.lr = 1e-2f; oc.warmup = 5; oc.steps = steps; oc.weight_decay = 0.0f;
    int32_t *batch = malloc(sizeof(int32_t) * (size_t)B * (T + 1));
    double s0 = 0, s1 = 0;
    for (int s = 0; s < steps; s++) {
        make_batch(batch, B, T, cfg.V, 100 + (uint64_t)s);
        float l, gn, lr;
        FP4T_ASSERT_OK(fp4_model_zero_grad(NULL, &m));
        FP4T_ASSERT_OK(fp4_model_forward(NULL, &m, batch, batch + 1, T + 1, B, (uint32_t)s, &l));
        FP4T_ASSERT_OK(fp4_model_backward(NULL, &m, 1.0f / (float)(B * T)));
        FP4T_ASSERT_OK(fp4_optim_step(NULL, &opt, &m, &oc, &gn, &lr));
        if (s < 3) s0 += l;
        if (s >= steps - 3) s1 += l;
    }
    *first = (float)(s0 / 3);
    *last = (float)(s1 / 3);
    if (params_out) {
        *params_out = malloc(m.n_params * sizeof(float));
        memcpy(*params_out, m.params, m.n_params * sizeof(float));
    }
    free(batch);
    fp4_optim_free(&opt);
    fp4_model_free(&m);
}

static void test_loss_decreases_nvfp4(void) {
    fp4_model_config c = fp4_model_config_default(FP4_MODEL_GPT);
    c.V = 64; c.T = 16; c.C = 32; c.L = 2; c.NH = 2; c.mlp_ratio = 2;
    float a, b;
    train_tiny(c, "nvfp4", FP4_LINEAR_FAKE, 40, 1, &a, &b, NULL);
    fprintf(stderr, " [gpt nvfp4 fake: %.3f -> %.3f] ", a, b);
    CU_ASSERT(b < a - 0.5f);
    fp4_model_config mc = fp4_model_config_default(FP4_MODEL_MLP);
    mc.V = 64; mc.T = 16; mc.C = 16; mc.L = 2; mc.W = 2; mc.mlp_ratio = 4;
    train_tiny(mc, "nvfp4", FP4_LINEAR_FAKE, 40, 1, &a, &b, NULL);
    fprintf(stderr, " [mlp nvfp4 fake: %.3f -> %.3f] ", a, b);
    CU_ASSERT(b < a - 0.5f);
}

static void test_deterministic(void) {
    fp4_model_config c = fp4_model_config_default(FP4_MODEL_GPT);
    c.V = 64; c.T = 16; c.C = 32; c.L = 1; c.NH = 2; c.mlp_ratio = 2;
    float a1, b1, a2, b2, a3, b3, *p1, *p2, *p3;
    train_tiny(c, "nvfp4", FP4_LINEAR_FAKE, 6, 5, &a1, &b1, &p1);
    train_tiny(c, "nvfp4", FP4_LINEAR_FAKE, 6, 5, &a2, &b2, &p2);
    train_tiny(c, "nvfp4", FP4_LINEAR_FAKE, 6, 6, &a3, &b3, &p3);
    fp4_model m;
    fp4_model_options o = opts("nvfp4", FP4_LINEAR_FAKE, 4);
    FP4T_ASSERT_OK(fp4_model_create(NULL, &c, &o, 5, &m));
    CU_ASSERT(memcmp(p1, p2, m.n_params * sizeof(float)) == 0);
    CU_ASSERT(memcmp(p1, p3, m.n_params * sizeof(float)) != 0);
    CU_ASSERT(b1 == b2);
    fp4_model_free(&m);
    free(p1); free(p2); free(p3);
}

static void test_bad_configs(void) {
    fp4_model_config c = fp4_model_config_default(FP4_MODEL_GPT);
    fp4_model m;
    fp4_model_options o = opts("fp32", FP4_LINEAR_PLAIN, 2);
    c.NH = 3; /* 64 % 3 */
    CU_ASSERT_EQUAL(fp4_model_create(NULL, &c, &o, 1, &m), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "heads") != NULL);
    c = fp4_model_config_default(FP4_MODEL_GPT);
    c.L = 0;
    CU_ASSERT_EQUAL(fp4_model_create(NULL, &c, &o, 1, &m), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "layers") != NULL);
    c = fp4_model_config_default(FP4_MODEL_GPT);
    fp4_model_options q = opts("nvfp4", FP4_LINEAR_PLAIN, 2);
    CU_ASSERT_EQUAL(fp4_model_create(NULL, &c, &q, 1, &m), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "plain") != NULL);
    c.C = 40; c.NH = 4; /* 40 not a multiple of 16: the linear layer refuses nvfp4 */
    q.mode = FP4_LINEAR_FAKE;
    CU_ASSERT_NOT_EQUAL(fp4_model_create(NULL, &c, &q, 1, &m), FP4_OK);
    CU_ASSERT(strstr(fp4_last_error(), "linear layer") != NULL);
    fp4_model_config mc = fp4_model_config_default(FP4_MODEL_MLP);
    mc.tied = 1;
    CU_ASSERT_EQUAL(fp4_model_config_validate(&mc), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "tied") != NULL);
    /* config string round trip and refusals */
    char buf[512];
    fp4_model_config d = fp4_model_config_default(FP4_MODEL_GPT), e;
    FP4T_ASSERT_OK(fp4_model_config_print(&d, buf, sizeof buf));
    FP4T_ASSERT_OK(fp4_model_config_parse(buf, &e));
    CU_ASSERT(memcmp(&d, &e, sizeof d) == 0);
    CU_ASSERT_EQUAL(fp4_model_config_parse("model=gpt,vocab=256", &e), FP4_ERR_FORMAT);
    CU_ASSERT(strstr(fp4_last_error(), "missing") != NULL);
    /* out-of-vocabulary token */
    c = fp4_model_config_default(FP4_MODEL_GPT);
    c.T = 4;
    FP4T_ASSERT_OK(fp4_model_create(NULL, &c, &o, 1, &m));
    int32_t bad[5] = {1, 2, 300, 4, 5};
    CU_ASSERT_EQUAL(fp4_model_forward(NULL, &m, bad, bad + 1, 5, 1, 0, NULL), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_model_forward(NULL, &m, bad, bad + 1, 5, 3, 0, NULL), FP4_ERR_SHAPE);
    fp4_model_free(&m);
}

static CU_TestInfo tests[] = {
    {"gradient check, tiny GPT (fp32)", test_gradcheck_gpt},
    {"gradient check, tiny MLP LM (fp32)", test_gradcheck_mlp},
    {"loss decreases, nvfp4 fake-quant", test_loss_decreases_nvfp4},
    {"deterministic for a seed", test_deterministic},
    {"bad configs refused", test_bad_configs},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"model", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
