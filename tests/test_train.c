/* tests/test_train.c — the trainer on the CPU (qat/train.c, qat/checkpoint.c, qat/optim.c,
 * qat/sample.c) with a synthetic shard written by the test:
 *   - resume equality: N steps vs N/2 + checkpoint + resume + N/2 give bit-identical parameters,
 *     AdamW state, checkpoint file and loss history (nvfp4 fake-quant, gradient accumulation);
 *   - checkpoint round trip (save, load into a fresh model, save again: identical bytes);
 *   - corrupt, truncated and mismatched checkpoints refused with clear messages;
 *   - bad train configs refused with messages; schedules; non-finite loss stops with the step and
 *     keeps the last good checkpoint; eval and sample run on the result.
 * Run: build-train/tests/test_train
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fp4kit/safetensors.h"
#include "train_impl.h"

static char data_dir[1024];

static int init(void) {
    return fp4t_tiny_corpus(data_dir, sizeof data_dir) != FP4_OK;
}

static fp4_train_config tiny(const char *out, const char *recipe) {
    fp4_train_config tc = fp4_train_config_default(FP4_MODEL_GPT);
    tc.model.V = 64; tc.model.T = 16; tc.model.C = 32; tc.model.L = 2; tc.model.NH = 2; tc.model.mlp_ratio = 2;
    snprintf(tc.recipe, sizeof tc.recipe, "%s", recipe);
    tc.data_dir = data_dir;
    tc.out_dir = out;
    tc.B = 4;
    tc.accum = 2;
    tc.optim.steps = 8;
    tc.optim.warmup = 2;
    tc.optim.lr = 1e-2f;
    tc.eval_every = 4;
    tc.eval_batches = 2;
    tc.ckpt_every = 0;
    tc.seed = 3;
    tc.device = FP4_DEVICE_CPU;
    return tc;
}

static char *slurp(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

/* CSV rows without the timing columns (tokens_per_s, elapsed_s). */
static void strip_timing(char *csv) {
    char *w = csv;
    for (char *line = strtok(csv, "\n"); line; line = strtok(NULL, "\n")) {
        int commas = 0;
        char *p = line;
        while (*p && commas < 6) if (*p++ == ',') commas++;
        const size_t l = (size_t)(p - line);
        memmove(w, line, l);
        w += l;
        *w++ = '\n';
    }
    *w = 0;
}

static void test_resume_equality(void) {
    char a[1100], b[1100], pa[1200], pb[1200];
    snprintf(a, sizeof a, "%s/full", fp4t_tmpdir());
    snprintf(b, sizeof b, "%s/split", fp4t_tmpdir());
    fp4_train_result ra, rb;
    fp4_train_config ta = tiny(a, "nvfp4");
    FP4T_ASSERT_OK(fp4_train_run(&ta, &ra));
    CU_ASSERT_EQUAL(ra.steps_done, 8);
    fp4_train_config tb = tiny(b, "nvfp4");
    tb.stop_after = 4;
    FP4T_ASSERT_OK(fp4_train_run(&tb, &rb));
    CU_ASSERT_EQUAL(rb.steps_done, 4);
    tb.stop_after = 0;
    tb.resume = 1;
    FP4T_ASSERT_OK(fp4_train_run(&tb, &rb));
    CU_ASSERT_EQUAL(rb.steps_done, 8);
    CU_ASSERT_EQUAL(ra.last_loss, rb.last_loss);
    CU_ASSERT_EQUAL(ra.first_loss, rb.first_loss);
    CU_ASSERT_EQUAL(ra.val_loss, rb.val_loss);
    size_t la, lb;
    snprintf(pa, sizeof pa, "%s/ckpt.safetensors", a);
    snprintf(pb, sizeof pb, "%s/ckpt.safetensors", b);
    char *fa = slurp(pa, &la), *fb = slurp(pb, &lb);
    CU_ASSERT_FATAL(fa && fb);
    CU_ASSERT(la == lb && memcmp(fa, fb, la) == 0); /* parameters, m, v, loader position, metadata */
    free(fa); free(fb);
    snprintf(pa, sizeof pa, "%s/metrics.csv", a);
    snprintf(pb, sizeof pb, "%s/metrics.csv", b);
    fa = slurp(pa, &la);
    fb = slurp(pb, &lb);
    CU_ASSERT_FATAL(fa && fb);
    strip_timing(fa);
    strip_timing(fb);
    CU_ASSERT_STRING_EQUAL(fa, fb); /* the whole loss history, one row per step */
    free(fa); free(fb);
}

static void test_checkpoint_roundtrip_and_refusals(void) {
    char out[1100], p1[1200], p2[1200], p3[1200];
    snprintf(out, sizeof out, "%s/ck", fp4t_tmpdir());
    fp4_train_config tc = tiny(out, "nvfp4");
    tc.optim.steps = 3;
    tc.policy[0] = 0;
    snprintf(tc.policy, sizeof tc.policy, "bf16-last=1");
    fp4_train_result r;
    FP4T_ASSERT_OK(fp4_train_run(&tc, &r));
    snprintf(p1, sizeof p1, "%s/ckpt.safetensors", out);
    /* round trip: load into a fresh model + optimizer, save, compare bytes */
    fp4_model_config cfg;
    fp4_model_options mo;
    fp4_ckpt_state st;
    memset(&mo, 0, sizeof mo);
    FP4T_ASSERT_OK(fp4_ckpt_read_config(p1, &cfg, &mo.recipe, &mo.policy, &st));
    CU_ASSERT_EQUAL(st.step, 3);
    CU_ASSERT_EQUAL(mo.policy.bf16_last, 1);
    CU_ASSERT(memcmp(&cfg, &tc.model, sizeof cfg) == 0);
    mo.mode = FP4_LINEAR_FAKE;
    mo.seed = 3;
    mo.Bmax = 4;
    fp4_model m;
    fp4_optim o;
    FP4T_ASSERT_OK(fp4_model_create(NULL, &cfg, &mo, 999, &m));
    FP4T_ASSERT_OK(fp4_optim_create(NULL, &m, &o));
    FP4T_ASSERT_OK(fp4_ckpt_load(NULL, p1, &m, &o, &st));
    st.optim = tc.optim;
    snprintf(p2, sizeof p2, "%s/copy.safetensors", out);
    FP4T_ASSERT_OK(fp4_ckpt_save(NULL, p2, &m, &o, &st));
    size_t l1, l2;
    char *f1 = slurp(p1, &l1), *f2 = slurp(p2, &l2);
    CU_ASSERT(l1 == l2 && memcmp(f1, f2, l1) == 0);

    /* corrupt one data byte: checksum mismatch */
    snprintf(p3, sizeof p3, "%s/bad.safetensors", out);
    f2[l2 - 100] ^= 0x40;
    FILE *f = fopen(p3, "wb");
    fwrite(f2, 1, l2, f);
    fclose(f);
    CU_ASSERT_EQUAL(fp4_ckpt_load(NULL, p3, &m, &o, NULL), FP4_ERR_FORMAT);
    CU_ASSERT(strstr(fp4_last_error(), "checksum") != NULL);
    /* truncated */
    f = fopen(p3, "wb");
    fwrite(f1, 1, l1 / 2, f);
    fclose(f);
    CU_ASSERT_EQUAL(fp4_ckpt_load(NULL, p3, &m, &o, NULL), FP4_ERR_FORMAT);
    CU_ASSERT(strstr(fp4_last_error(), "bad.safetensors") != NULL);
    /* not a training checkpoint: a plain safetensors file */
    fp4_st_writer *w;
    FP4T_ASSERT_OK(fp4_st_writer_create(&w));
    const int64_t sh[1] = {2};
    const float two[2] = {1, 2};
    FP4T_ASSERT_OK(fp4_st_writer_add(w, "x", FP4_ST_F32, 1, sh, two, sizeof two));
    FP4T_ASSERT_OK(fp4_st_writer_save(w, p3));
    fp4_st_writer_free(w);
    CU_ASSERT_EQUAL(fp4_ckpt_load(NULL, p3, &m, &o, NULL), FP4_ERR_FORMAT);
    CU_ASSERT(strstr(fp4_last_error(), "not an fp4kit training checkpoint") != NULL);
    /* mismatched model: width 64 */
    fp4_model m2;
    fp4_model_config c2 = cfg;
    c2.C = 64;
    FP4T_ASSERT_OK(fp4_model_create(NULL, &c2, &mo, 1, &m2));
    CU_ASSERT_EQUAL(fp4_ckpt_load(NULL, p1, &m2, NULL, NULL), FP4_ERR_FORMAT);
    CU_ASSERT(strstr(fp4_last_error(), "width=32") != NULL && strstr(fp4_last_error(), "width=64") != NULL);
    fp4_model_free(&m2);
    /* resume with another recipe or seed refused */
    tc.resume = 1;
    snprintf(tc.recipe, sizeof tc.recipe, "mxfp4");
    CU_ASSERT_EQUAL(fp4_train_run(&tc, &r), FP4_ERR_FORMAT);
    CU_ASSERT(strstr(fp4_last_error(), "recipe") != NULL);
    snprintf(tc.recipe, sizeof tc.recipe, "nvfp4");
    tc.seed = 4;
    CU_ASSERT_EQUAL(fp4_train_run(&tc, &r), FP4_ERR_FORMAT);
    CU_ASSERT(strstr(fp4_last_error(), "seed") != NULL);
    free(f1); free(f2);
    fp4_optim_free(&o);
    fp4_model_free(&m);
}

static void test_bad_configs_and_schedules(void) {
    char out[1100];
    snprintf(out, sizeof out, "%s/bad", fp4t_tmpdir());
    fp4_train_config tc = tiny(out, "nvfp4");
    fp4_train_result r;
    snprintf(tc.recipe, sizeof tc.recipe, "nvfp5");
    CU_ASSERT_EQUAL(fp4_train_run(&tc, &r), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "--recipe") != NULL);
    tc = tiny(out, "nvfp4");
    snprintf(tc.policy, sizeof tc.policy, "bf16-first=2,bf16-last=1");
    CU_ASSERT_EQUAL(fp4_train_config_validate(&tc), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "policy") != NULL);
    tc = tiny(out, "nvfp4");
    tc.mode = FP4_LINEAR_PLAIN;
    CU_ASSERT_EQUAL(fp4_train_config_validate(&tc), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "plain") != NULL);
    tc = tiny(out, "nvfp4");
    tc.B = 3;
    tc.model.T = 5;
    CU_ASSERT_EQUAL(fp4_train_config_validate(&tc), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "multiple of 32") != NULL);
    tc = tiny(out, "nvfp4");
    tc.optim.warmup = 100;
    CU_ASSERT_EQUAL(fp4_train_config_validate(&tc), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "warmup") != NULL);
    tc = tiny(out, "nvfp4");
    tc.model.NH = 5;
    CU_ASSERT_EQUAL(fp4_train_config_validate(&tc), FP4_ERR_INVALID_ARG);
    tc = tiny(out, "nvfp4");
    tc.data_dir = "/nonexistent-fp4";
    CU_ASSERT_NOT_EQUAL(fp4_train_run(&tc, &r), FP4_OK);
    CU_ASSERT(strstr(fp4_last_error(), "pretrain_train.bin") != NULL);
    tc = tiny(out, "nvfp4");
    tc.model.V = 32; /* data has 64 */
    CU_ASSERT_EQUAL(fp4_train_run(&tc, &r), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "vocabulary") != NULL);
    /* schedules */
    fp4_optim_config o = fp4_optim_config_default();
    o.lr = 1.0f; o.min_lr_frac = 0.1f; o.warmup = 10; o.steps = 110;
    CU_ASSERT_DOUBLE_EQUAL(fp4_lr_at(&o, 0), 0.1, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(fp4_lr_at(&o, 9), 1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(fp4_lr_at(&o, 10), 1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(fp4_lr_at(&o, 109), 0.1, 1e-6);
    CU_ASSERT(fp4_lr_at(&o, 60) < 0.6 && fp4_lr_at(&o, 60) > 0.5);
    o.schedule = FP4_SCHED_WSD;
    o.decay_frac = 0.2f;
    CU_ASSERT_DOUBLE_EQUAL(fp4_lr_at(&o, 80), 1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(fp4_lr_at(&o, 109), 0.1, 1e-6);
    CU_ASSERT(fp4_lr_at(&o, 100) < 1.0f && fp4_lr_at(&o, 100) > 0.1f);
}

static void test_nonfinite_and_use(void) {
    char out[1100], ck[1200];
    snprintf(out, sizeof out, "%s/nan", fp4t_tmpdir());
    fp4_train_config tc = tiny(out, "fp32");
    tc.optim.lr = 1e30f; /* the first update blows the weights up */
    tc.optim.warmup = 0;
    tc.optim.clip = 0;
    tc.optim.weight_decay = 0;
    tc.ckpt_every = 1;
    tc.eval_every = 0;
    fp4_train_result r;
    fp4_status st = fp4_train_run(&tc, &r);
    CU_ASSERT_EQUAL(st, FP4_ERR_NONFINITE);
    CU_ASSERT(r.nonfinite_step >= 2);
    CU_ASSERT(strstr(fp4_last_error(), "step") != NULL);
    CU_ASSERT(strstr(fp4_last_error(), "last good checkpoint") != NULL);
    snprintf(ck, sizeof ck, "%s/ckpt.safetensors", out);
    CU_ASSERT_STRING_EQUAL(r.checkpoint, ck);
    int64_t step = -1;
    FP4T_ASSERT_OK(fp4_checkpoint_info(ck, NULL, NULL, 0, NULL, 0, &step, NULL));
    CU_ASSERT_EQUAL(step, r.nonfinite_step - 1);

    /* eval and sample on a good run */
    snprintf(out, sizeof out, "%s/good", fp4t_tmpdir());
    tc = tiny(out, "nvfp4");
    tc.optim.steps = 4;
    FP4T_ASSERT_OK(fp4_train_run(&tc, &r));
    snprintf(ck, sizeof ck, "%s/ckpt.safetensors", out);
    double loss;
    int64_t ntok;
    FP4T_ASSERT_OK(fp4_eval_run(ck, data_dir, "pretrain", FP4_DEVICE_CPU, 4, 2, &loss, &ntok));
    CU_ASSERT_EQUAL(ntok, 2 * 4 * 16);
    CU_ASSERT_DOUBLE_EQUAL(loss, r.val_loss, 1e-4);
    /* vocabulary 64 is not the byte tokenizer's: sampling asks for the GPT-2 files */
    char *text = NULL;
    CU_ASSERT_EQUAL(fp4_sample_run(ck, "ab", 5, 0.8f, 10, 1, FP4_DEVICE_CPU, NULL, &text), FP4_ERR_INVALID_ARG);
    CU_ASSERT(strstr(fp4_last_error(), "gpt2") != NULL);
    /* the CUDA device without CUDA */
    if (!fp4_build_has_cuda()) {
        tc.device = FP4_DEVICE_CUDA;
        CU_ASSERT_EQUAL(fp4_train_run(&tc, &r), FP4_ERR_UNSUPPORTED);
    }
}

static CU_TestInfo tests[] = {
    {"resume equality (bit-identical)", test_resume_equality},
    {"checkpoint round trip; corrupt/truncated/mismatched refused", test_checkpoint_roundtrip_and_refusals},
    {"bad configs refused; schedules", test_bad_configs_and_schedules},
    {"non-finite loss stops, keeps checkpoint; eval", test_nonfinite_and_use},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"train", init, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
