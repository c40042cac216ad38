/* tests/gpu_train.c — the trainer on the GPU against the CPU (suite "gpu_train", skipped without a
 * CUDA device). Same seed, config and batches on both back ends:
 *   1. F32 (recipe fp32, mode plain; the LM head is fp32 too for an all-fp32 recipe), tiny GPT and
 *      MLP LM: the loss of each of 5 optimizer steps within 1e-4 relative, the parameters after
 *      them within 1e-4 relative Frobenius (the device FP32 linear GEMM follows the host's
 *      operation order; attention, norms, reductions differ in summation order only).
 *   2. nvfp4 fake-quant, GPT and MLP: the first step's loss within 1e-4 relative (the quantized
 *      operands are bit-identical by design; the device GEMMs run the decoded FP4 values on
 *      cuBLASLt with the tensor scales in alpha). Later steps drift by summation order (a last-bit
 *      difference can move a value across a rounding boundary); asserted: losses within 2e-2,
 *      parameters within 5e-2 relative Frobenius after 5 steps (measured values printed).
 *      nvfp4 true-quant on the GPU vs fake-quant on the CPU: first loss within 1e-3.
 *   Tests 1-2 and the bf16 comparison keep F32 activations on the GPU (act_f32 = 1), so they test
 *   the GEMM paths against the CPU at FP32 tolerances.
 *   3. The default GPU path for the GPT — BF16 activations and residual stream, flash attention
 *      (asserted to be the path taken) — against the FP32 CPU: bf16 plain and nvfp4 true-quant.
 *      Every activation is rounded to BF16 once more than on the CPU (u = 2^-9 per element; the
 *      losses are means over B*T positions of values that move by ~u times the logits); the first
 *      loss within 3e-3 (bf16) / 5e-3 (nvfp4: a rounded activation can also cross an FP4 rounding
 *      boundary), later losses 2e-2 / 3e-2, parameters 5e-2 / 8e-2 relative Frobenius.
 *   4. The side stream of true-quant layers: bit-identical to the main stream alone and run to run.
 *   5. Checkpoints cross devices: 2 steps on the GPU, resume on the CPU for 2 more (and the other
 *      way round) — runs, finishes, final loss close to an all-CPU run; a GPU checkpoint evaluates
 *      on both back ends to the same loss (5e-3: BF16 activations on the GPU).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/data.h"
#include "harness.h"
#include "ops.h"
#include "train_impl.h"

static fp4_context *ctx;
static char data_dir[1024];

static int suite_init(void) {
    if (!fp4t_have_gpu()) return 0;
    if (fp4_context_create_cuda(0, NULL, &ctx) != FP4_OK) return 1;
    return fp4t_tiny_corpus(data_dir, sizeof data_dir) != FP4_OK;
}

static int suite_clean(void) {
    fp4_context_destroy(ctx);
    ctx = NULL;
    return 0;
}

static fp4_model_config gpt_cfg(void) {
    fp4_model_config c = fp4_model_config_default(FP4_MODEL_GPT);
    c.V = 64; c.T = 16; c.C = 32; c.L = 2; c.NH = 2; c.mlp_ratio = 2;
    return c;
}

static fp4_model_config mlp_cfg(void) {
    fp4_model_config c = fp4_model_config_default(FP4_MODEL_MLP);
    c.V = 64; c.T = 16; c.C = 16; c.L = 2; c.W = 4; c.mlp_ratio = 2;
    return c;
}

static void make_batch(int32_t *batch, int B, int T, int V, uint64_t seed) {
    fp4t_rng r;
    fp4t_rng_seed(&r, seed);
    for (int b = 0; b < B; b++) {
        int32_t x = (int32_t)(fp4t_rng_u64(&r) % (uint64_t)V);
        for (int t = 0; t <= T; t++) {
            batch[b * (T + 1) + t] = x;
            x = (fp4t_rng_u64(&r) % 5 == 0) ? (int32_t)(fp4t_rng_u64(&r) % (uint64_t)V) : (x * 7 + 3) % V;
        }
    }
}

enum { STEPS = 5, B = 4 };

/* STEPS optimizer steps on c (NULL = host); losses[STEPS]; *params (malloc'ed host copy). */
enum { NO_SIDE = 2 }; /* flag with act_f32 (bit 0): Wgrad quantization on the main stream */

static void run_steps(fp4_context *c, fp4_model_config cfg, const char *recipe, fp4_linear_mode mode, int flags,
                      float *losses, float **params, size_t *n) {
    const int act_f32 = flags & 1;
    fp4_model m;
    fp4_model_options o;
    memset(&o, 0, sizeof o);
    FP4T_ASSERT_OK(fp4_recipe_parse(recipe, &o.recipe));
    o.mode = mode;
    o.seed = 7;
    o.Bmax = B;
    o.act_f32 = act_f32;
    FP4T_ASSERT_OK(fp4_model_create(c, &cfg, &o, 11, &m));
    if (c && cfg.kind == FP4_MODEL_GPT && !act_f32) CU_ASSERT(m.act_dtype == FP4_DTYPE_BF16 && m.flash == 1);
    if (!c || act_f32) CU_ASSERT(m.act_dtype == FP4_DTYPE_F32);
    if (c && mode == FP4_LINEAR_TRUE && cfg.kind == FP4_MODEL_GPT) CU_ASSERT(m.side != NULL && m.lin[0].side == m.side);
    if (flags & NO_SIDE)
        for (int i = 0; i < m.n_lin; i++) m.lin[i].side = NULL;
    fp4_optim opt;
    FP4T_ASSERT_OK(fp4_optim_create(c, &m, &opt));
    fp4_optim_config oc = fp4_optim_config_default();
    oc.lr = 1e-2f; oc.warmup = 2; oc.steps = STEPS;
    const int T = cfg.T;
    int32_t *batch = malloc(sizeof(int32_t) * (size_t)B * (T + 1));
    for (int s = 0; s < STEPS; s++) {
        make_batch(batch, B, T, cfg.V, 100 + (uint64_t)s);
        float gn, lr;
        FP4T_ASSERT_OK(fp4_model_zero_grad(c, &m));
        FP4T_ASSERT_OK(fp4_model_forward(c, &m, batch, batch + 1, T + 1, B, (uint32_t)s, &losses[s]));
        FP4T_ASSERT_OK(fp4_model_backward(c, &m, 1.0f / (float)(B * T)));
        FP4T_ASSERT_OK(fp4_optim_step(c, &opt, &m, &oc, &gn, &lr));
    }
    *n = m.n_params;
    *params = malloc(m.n_params * sizeof(float));
    if (c) FP4T_ASSERT_OK(fp4_copy_to_host(c, *params, m.params, m.n_params * sizeof(float)));
    else memcpy(*params, m.params, m.n_params * sizeof(float));
    free(batch);
    fp4_optim_free(&opt);
    fp4_model_free(&m);
}

static double rel_frob(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-30); }

/* Compare CPU and GPU; tol_first for step 0, tol_loss for the rest, tol_param for the parameters. */
static void compare_act(const char *what, fp4_model_config cfg, const char *recipe, fp4_linear_mode cpu_mode,
                        fp4_linear_mode gpu_mode, int act_f32, double tol_first, double tol_loss, double tol_param) {
    float lc[STEPS], lg[STEPS], *pc = NULL, *pg = NULL;
    size_t nc = 0, ng = 0;
    run_steps(NULL, cfg, recipe, cpu_mode, 1, lc, &pc, &nc);
    run_steps(ctx, cfg, recipe, gpu_mode, act_f32, lg, &pg, &ng);
    CU_ASSERT_EQUAL_FATAL(nc, ng);
    printf("\n    %s:", what);
    for (int s = 0; s < STEPS; s++) {
        printf(" [%d] cpu %.7f gpu %.7f (rel %.2e)", s, (double)lc[s], (double)lg[s], rel(lg[s], lc[s]));
        CU_ASSERT(isfinite(lg[s]));
        CU_ASSERT(rel(lg[s], lc[s]) <= (s == 0 ? tol_first : tol_loss));
    }
    const double pf = rel_frob(pg, pc, nc);
    printf(" params rel %.2e", pf);
    CU_ASSERT(pf <= tol_param);
    free(pc);
    free(pg);
}

static void compare(const char *what, fp4_model_config cfg, const char *recipe, fp4_linear_mode cpu_mode,
                    fp4_linear_mode gpu_mode, double tol_first, double tol_loss, double tol_param) {
    compare_act(what, cfg, recipe, cpu_mode, gpu_mode, 1, tol_first, tol_loss, tol_param);
}

static void test_f32_gpt(void) { compare("gpt fp32", gpt_cfg(), "fp32", FP4_LINEAR_PLAIN, FP4_LINEAR_PLAIN, 1e-4, 1e-4, 1e-4); }
static void test_f32_mlp(void) { compare("mlp fp32", mlp_cfg(), "fp32", FP4_LINEAR_PLAIN, FP4_LINEAR_PLAIN, 1e-4, 1e-4, 1e-4); }
static void test_nvfp4_fake_gpt(void) {
    compare("gpt nvfp4 fake", gpt_cfg(), "nvfp4", FP4_LINEAR_FAKE, FP4_LINEAR_FAKE, 1e-4, 2e-2, 5e-2);
}
static void test_nvfp4_fake_mlp(void) {
    compare("mlp nvfp4 fake", mlp_cfg(), "nvfp4", FP4_LINEAR_FAKE, FP4_LINEAR_FAKE, 1e-4, 2e-2, 5e-2);
}
static void test_nvfp4_true_gpt(void) {
    compare("gpt nvfp4 true(gpu) vs fake(cpu)", gpt_cfg(), "nvfp4", FP4_LINEAR_FAKE, FP4_LINEAR_TRUE, 1e-3, 2e-2, 5e-2);
}
static void test_bf16_gpt(void) {
    compare("gpt bf16 plain", gpt_cfg(), "bf16", FP4_LINEAR_PLAIN, FP4_LINEAR_PLAIN, 1e-3, 1e-2, 2e-2);
}

static void test_bf16_act_gpt(void) {
    compare_act("gpt bf16 plain, BF16 activations + flash attention", gpt_cfg(), "bf16", FP4_LINEAR_PLAIN,
                FP4_LINEAR_PLAIN, 0, 3e-3, 2e-2, 5e-2);
    compare_act("gpt nvfp4 true (GPU, BF16 activations) vs fake (CPU)", gpt_cfg(), "nvfp4", FP4_LINEAR_FAKE,
                FP4_LINEAR_TRUE, 0, 5e-3, 3e-2, 8e-2);
}

/* The side stream (Wgrad operands quantized concurrently, ordered by events) computes the same bits
 * as the main stream alone, and two runs agree bit for bit (a missing dependency would show as a
 * difference here). */
static void test_side_stream(void) {
    float l1[STEPS], l2[STEPS], l3[STEPS], *p1 = NULL, *p2 = NULL, *p3 = NULL;
    size_t n1, n2, n3;
    run_steps(ctx, gpt_cfg(), "nvfp4", FP4_LINEAR_TRUE, 0, l1, &p1, &n1);
    run_steps(ctx, gpt_cfg(), "nvfp4", FP4_LINEAR_TRUE, 0, l2, &p2, &n2);
    run_steps(ctx, gpt_cfg(), "nvfp4", FP4_LINEAR_TRUE, NO_SIDE, l3, &p3, &n3);
    CU_ASSERT_EQUAL_FATAL(n1, n3);
    const int same12 = !memcmp(l1, l2, sizeof l1) && !memcmp(p1, p2, n1 * sizeof(float));
    const int same13 = !memcmp(l1, l3, sizeof l1) && !memcmp(p1, p3, n1 * sizeof(float));
    printf("\n    nvfp4 true, 5 steps: side stream twice %s, side vs main stream %s", same12 ? "bit-identical" : "DIFFERENT",
           same13 ? "bit-identical" : "DIFFERENT");
    CU_ASSERT(same12 && same13);
    free(p1), free(p2), free(p3);
}

/* ---- checkpoints across devices --------------------------------------------------------------- */

static fp4_train_config tiny(const char *out, fp4_device_choice dev) {
    fp4_train_config tc = fp4_train_config_default(FP4_MODEL_GPT);
    tc.model = gpt_cfg();
    snprintf(tc.recipe, sizeof tc.recipe, "nvfp4");
    tc.data_dir = data_dir;
    tc.out_dir = out;
    tc.B = 4;
    tc.optim.steps = 4;
    tc.optim.warmup = 1;
    tc.optim.lr = 1e-2f;
    tc.eval_every = 0;
    tc.eval_batches = 2;
    tc.ckpt_every = 0;
    tc.seed = 3;
    tc.device = dev;
    return tc;
}

static void cross(fp4_device_choice first, fp4_device_choice second, const char *name, float ref_loss) {
    char out[1024];
    fp4t_tmppath(out, sizeof out, name);
    fp4_train_result r;
    fp4_train_config tc = tiny(out, first);
    tc.stop_after = 2;
    FP4T_ASSERT_OK(fp4_train_run(&tc, &r));
    CU_ASSERT_EQUAL(r.steps_done, 2);
    tc = tiny(out, second);
    tc.resume = 1;
    FP4T_ASSERT_OK(fp4_train_run(&tc, &r));
    CU_ASSERT_EQUAL(r.steps_done, 4);
    printf("\n    %s: last loss %.6f (all-CPU %.6f, rel %.2e), val %.6f", name, (double)r.last_loss, (double)ref_loss,
           rel(r.last_loss, ref_loss), (double)r.val_loss);
    CU_ASSERT(isfinite(r.last_loss) && isfinite(r.val_loss));
    CU_ASSERT(rel(r.last_loss, ref_loss) <= 2e-2);
}

static void test_checkpoint_cross_device(void) {
    char out[1024];
    fp4t_tmppath(out, sizeof out, "ck_cpu");
    fp4_train_result ref;
    fp4_train_config tc = tiny(out, FP4_DEVICE_CPU);
    FP4T_ASSERT_OK(fp4_train_run(&tc, &ref));
    cross(FP4_DEVICE_CUDA, FP4_DEVICE_CPU, "ck_gpu_then_cpu", ref.last_loss);
    cross(FP4_DEVICE_CPU, FP4_DEVICE_CUDA, "ck_cpu_then_gpu", ref.last_loss);
    /* a GPU-written checkpoint evaluates to the same loss on both back ends */
    char ck[1100];
    snprintf(ck, sizeof ck, "%s/ckpt.safetensors", fp4t_tmppath(out, sizeof out, "ck_cpu_then_gpu"));
    double lc, lg;
    int64_t nc, ng;
    FP4T_ASSERT_OK(fp4_eval_run(ck, data_dir, "pretrain", FP4_DEVICE_CPU, 4, 4, &lc, &nc));
    FP4T_ASSERT_OK(fp4_eval_run(ck, data_dir, "pretrain", FP4_DEVICE_CUDA, 4, 4, &lg, &ng));
    printf("\n    eval of a GPU checkpoint: cpu %.6f gpu %.6f (rel %.2e)", lc, lg, rel(lg, lc));
    CU_ASSERT_EQUAL(nc, ng);
    CU_ASSERT(rel(lg, lc) <= 5e-3);
}

static CU_TestInfo tests[] = {
    {"fp32 GPT: CPU == GPU (5 steps)", test_f32_gpt},
    {"fp32 MLP: CPU == GPU (5 steps)", test_f32_mlp},
    {"nvfp4 fake GPT: CPU vs GPU", test_nvfp4_fake_gpt},
    {"nvfp4 fake MLP: CPU vs GPU", test_nvfp4_fake_mlp},
    {"nvfp4 true (GPU) vs fake (CPU) GPT", test_nvfp4_true_gpt},
    {"bf16 plain GPT: CPU vs GPU (cuBLASLt)", test_bf16_gpt},
    {"GPT default GPU path (BF16 activations, flash attention) vs CPU", test_bf16_act_gpt},
    {"nvfp4 true: side-stream Wgrad quantization == main stream, deterministic", test_side_stream},
    {"checkpoints: GPU -> CPU and CPU -> GPU", test_checkpoint_cross_device},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"gpu_train", suite_init, suite_clean, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
