/* benchmarks/bench_train.cu — training step time of a GPT-2-124M-shaped model on the device
 * (d = 768, 12 layers, 12 heads, context 1024, vocabulary 50,304, tied embeddings, batch 16
 * sequences), random init and synthetic tokens (no dataset), for recipes bf16 and nvfp4 (mode auto:
 * plain for bf16, true-quant for nvfp4) and fp32 with BENCH_TRAIN_FP32=1.
 *
 * One step = zero_grad + forward (token upload included) + backward + clip + AdamW, synchronized;
 * median of BENCH_TRAIN_STEPS (default 10) timed steps after 3 warm-up steps.
 *   tokens/s = B*T / step time
 *   FLOPs per token = 6*N + 12*L*T*C  (N = all parameters, the tied wte counted once — it is the
 *                     LM head's matrix; 12*L*T*C = attention QK^T and PV forward + backward, PaLM
 *                     convention, full T x T although the mask halves the useful work)
 *   MFU = FLOPs per token * tokens/s / (cuBLASLt BF16 8192^3 GEMM rate measured in this run)
 * Peak device memory: cudaMemGetInfo before the model is created vs after the timed steps (every
 * buffer the trainer allocates is kept for reuse, so this is the high-water mark of its
 * allocations; cuBLASLt's internal memory and the context workspace are included).
 * Env: BENCH_TRAIN_B (16), BENCH_TRAIN_STEPS (10), BENCH_TRAIN_RECIPES ("bf16,nvfp4").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fp4kit/formats_inline.h"
#include "bench_common.cuh"
#include "fp4kit/fp4kit.h"
#include "fp4kit/gemm.h"
#include "../qat/train_impl.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double bf16_ceiling_tflops(fp4_context *ctx) {
    const int64_t n = 8192;
    uint16_t *a = NULL, *b = NULL, *d = NULL;
    if (cudaMalloc(&a, n * n * 2) != cudaSuccess || cudaMalloc(&b, n * n * 2) != cudaSuccess ||
        cudaMalloc(&d, n * n * 2) != cudaSuccess)
        return -1.0;
    if (bench_fill_bf16(a, (size_t)(n * n), 1, 1.0f) || bench_fill_bf16(b, (size_t)(n * n), 2, 1.0f)) return -1.0;
    fp4_view av = fp4_view_make(a, FP4_DTYPE_BF16, n, n, FP4_DEVICE), bv = fp4_view_make(b, FP4_DTYPE_BF16, n, n, FP4_DEVICE);
    fp4_view dv = fp4_view_make(d, FP4_DTYPE_BF16, n, n, FP4_DEVICE);
    fp4_status st = FP4_OK;
    const float ms = bench_time_ms((cudaStream_t)fp4_context_stream(ctx), 3, 20, [&](int) {
        if (st == FP4_OK) st = fp4_gemm_bf16(ctx, &av, &bv, 1.0f, NULL, 0.0f, &dv);
    });
    cudaFree(a);
    cudaFree(b);
    cudaFree(d);
    if (st != FP4_OK || ms <= 0) {
        fprintf(stderr, "bf16 ceiling: %s\n", fp4_last_error());
        return -1.0;
    }
    return 2.0 * n * n * n / (ms * 1e-3) / 1e12;
}

typedef struct result {
    char recipe[32];
    double step_ms, tok_s, mfu, mem_gib;
    float loss0, loss1;
    int ok;
} result;

static int run_recipe(fp4_context *ctx, const char *recipe, int B, int steps, double ceiling, result *res) {
    memset(res, 0, sizeof *res);
    snprintf(res->recipe, sizeof res->recipe, "%s", recipe);
    fp4_model_config cfg = fp4_model_config_default(FP4_MODEL_GPT);
    cfg.V = 50304; cfg.T = 1024; cfg.C = 768; cfg.L = 12; cfg.NH = 12; cfg.mlp_ratio = 4; cfg.tied = 1;
    fp4_model_options o;
    memset(&o, 0, sizeof o);
    if (fp4_recipe_parse(recipe, &o.recipe) != FP4_OK) return fprintf(stderr, "%s\n", fp4_last_error()), 1;
    o.mode = fp4_recipe_is_quantized(&o.recipe) ? FP4_LINEAR_TRUE : FP4_LINEAR_PLAIN;
    o.seed = 1;
    o.Bmax = B;
    size_t free0 = 0, free1 = 0, total = 0;
    fp4_context_sync(ctx);
    cudaMemGetInfo(&free0, &total);
    fp4_model m;
    fp4_optim opt;
    memset(&opt, 0, sizeof opt);
    fp4_status st = fp4_model_create(ctx, &cfg, &o, 1337, &m);
    if (st == FP4_OK) st = fp4_optim_create(ctx, &m, &opt);
    if (st != FP4_OK) {
        fprintf(stderr, "%s: create: %s\n", recipe, fp4_last_error());
        return 1;
    }
    fp4_optim_config oc = fp4_optim_config_default();
    oc.lr = 6e-4f; oc.warmup = 10; oc.steps = 1000;
    const int T = cfg.T;
    int32_t *batch = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * (T + 1));
    uint64_t x = 88172645463325252ull;
    const int warm = 3;
    float *ms = (float *)malloc(sizeof(float) * (size_t)steps);
    for (int s = 0; st == FP4_OK && s < warm + steps; s++) {
        for (int i = 0; i < B * (T + 1); i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            batch[i] = (int32_t)(x % (uint64_t)cfg.V);
        }
        const double t0 = now_s();
        float loss = 0, gn = 0, lr = 0;
        st = fp4_model_zero_grad(ctx, &m);
        if (st == FP4_OK) st = fp4_model_forward(ctx, &m, batch, batch + 1, T + 1, B, (uint32_t)s, &loss);
        if (st == FP4_OK) st = fp4_model_backward(ctx, &m, 1.0f / (float)(B * T));
        if (st == FP4_OK) st = fp4_optim_step(ctx, &opt, &m, &oc, &gn, &lr);
        if (st == FP4_OK) st = fp4_context_sync(ctx);
        const double dt = now_s() - t0;
        if (s == 0) res->loss0 = loss;
        res->loss1 = loss;
        if (s >= warm) ms[s - warm] = (float)(dt * 1e3);
        printf("  %s step %d: %.2f ms, loss %.4f, grad norm %.3f\n", recipe, s, dt * 1e3, (double)loss, (double)gn);
    }
    if (st != FP4_OK) fprintf(stderr, "%s: step: %s\n", recipe, fp4_last_error());
    cudaMemGetInfo(&free1, &total);
    if (st == FP4_OK) {
        res->step_ms = bench_median(ms, steps);
        res->tok_s = (double)B * T / (res->step_ms * 1e-3);
        const double fpt = 6.0 * (double)m.n_params + 12.0 * cfg.L * (double)cfg.T * cfg.C;
        res->mfu = fpt * res->tok_s / (ceiling * 1e12);
        res->mem_gib = (double)(free0 - free1) / (1024.0 * 1024.0 * 1024.0);
        res->ok = 1;
        printf("  %s: N = %zu params, %.3g FLOP/token\n", recipe, m.n_params, fpt);
    }
    free(ms);
    free(batch);
    fp4_optim_free(&opt);
    fp4_model_free(&m);
    return st == FP4_OK ? 0 : 1;
}

int main(void) {
    bench_print_device();
    const char *eb = getenv("BENCH_TRAIN_B"), *es = getenv("BENCH_TRAIN_STEPS"), *er = getenv("BENCH_TRAIN_RECIPES");
    const int B = eb ? atoi(eb) : 16, steps = es ? atoi(es) : 10;
    char recipes[256];
    snprintf(recipes, sizeof recipes, "%s", er ? er : (getenv("BENCH_TRAIN_FP32") ? "bf16,nvfp4,fp32" : "bf16,nvfp4"));
    fp4_context *ctx = NULL;
    if (fp4_context_create_cuda(0, NULL, &ctx) != FP4_OK) {
        fprintf(stderr, "no CUDA context: %s\n", fp4_last_error());
        return 1;
    }
    const double ceil = bf16_ceiling_tflops(ctx);
    printf("cuBLASLt BF16 8192^3: %.1f TFLOP/s\n", ceil);
    BENCH_RESULT("bench_train|ceiling bf16 8192^3|tflops=%.1f", ceil);
    if (ceil <= 0) return 1;
    result r[8];
    int nr = 0, rc = 0;
    double bf16_ms = 0;
    for (char *save = NULL, *tok = strtok_r(recipes, ",", &save); tok && nr < 8; tok = strtok_r(NULL, ",", &save)) {
        rc |= run_recipe(ctx, tok, B, steps, ceil, &r[nr]);
        if (r[nr].ok && !strcmp(tok, "bf16")) bf16_ms = r[nr].step_ms;
        nr++;
    }
    printf("\nGPT-2 124M shape, B = %d, T = 1024, median of %d steps (H100 BF16 ceiling %.1f TFLOP/s)\n", B, steps, ceil);
    printf("| recipe | step ms | tokens/s | MFU | step / bf16 | peak device GiB | loss first -> last |\n");
    printf("|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nr; i++) {
        if (!r[i].ok) {
            printf("| %s | failed | | | | | |\n", r[i].recipe);
            continue;
        }
        const double ratio = bf16_ms > 0 ? r[i].step_ms / bf16_ms : 0;
        printf("| %s | %.1f | %.0f | %.1f %% | %.2f | %.2f | %.3f -> %.3f |\n", r[i].recipe, r[i].step_ms, r[i].tok_s,
               100 * r[i].mfu, ratio, r[i].mem_gib, (double)r[i].loss0, (double)r[i].loss1);
        BENCH_RESULT("bench_train|gpt2-124m B=%d %s|step_ms=%.2f|tokens_per_s=%.0f|mfu_pct=%.1f|ratio_vs_bf16=%.3f|peak_gib=%.2f",
                     B, r[i].recipe, r[i].step_ms, r[i].tok_s, 100 * r[i].mfu, ratio, r[i].mem_gib);
    }
    fp4_context_destroy(ctx);
    return rc;
}
