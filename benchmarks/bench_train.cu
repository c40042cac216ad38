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
 * Env: BENCH_TRAIN_B (16), BENCH_TRAIN_STEPS (10), BENCH_TRAIN_RECIPES ("bf16,nvfp4"; a recipe
 * followed by ":f32" keeps F32 activations and the materialized attention — the run-1 path — for
 * comparison; ":sync" keeps the quantizers' per-call host synchronization, async_quant = 0;
 * ":noside" quantizes the Wgrad operands on the main stream, fp4_linear.side = NULL),
 * BENCH_TRAIN_PROFILE (1 = default: after the timed steps, one more step with a CUDA
 * event recorded at every op boundary through the model's profiling hook; the per-op table sums
 * the intervals by op name over all layers. The events add a few µs per op, so the profiled step's
 * total is reported next to the median of the unprofiled ones).
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

/* ---- per-op profile: one CUDA event per op boundary ------------------------------------------- */
#define PROF_MAX 8192
static struct {
    int active, n;
    cudaStream_t stream;
    cudaEvent_t ev[PROF_MAX];
    char name[PROF_MAX][40];
} prof;

static void prof_mark(void *user, const char *tag, const char *stage) {
    (void)user;
    if (!prof.active || prof.n >= PROF_MAX) return;
    snprintf(prof.name[prof.n], sizeof prof.name[0], "%s.%s", tag ? tag : "lin", stage);
    cudaEventRecord(prof.ev[prof.n], prof.stream);
    prof.n++;
}

typedef struct prof_row {
    char name[40];
    double ms;
    int count;
} prof_row;

static int prof_cmp(const void *a, const void *b) {
    const double x = ((const prof_row *)a)->ms, y = ((const prof_row *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Sum the intervals between consecutive marks by the name of the mark that opens them. */
static void prof_report(const char *recipe, double step_ms) {
    static prof_row rows[512];
    int nr = 0;
    double total = 0;
    for (int i = 0; i + 1 < prof.n; i++) {
        float ms = 0;
        cudaEventElapsedTime(&ms, prof.ev[i], prof.ev[i + 1]);
        total += ms;
        int j = 0;
        while (j < nr && strcmp(rows[j].name, prof.name[i])) j++;
        if (j == nr && nr < 512) {
            snprintf(rows[nr].name, sizeof rows[nr].name, "%s", prof.name[i]);
            rows[nr].ms = 0, rows[nr].count = 0;
            nr++;
        }
        if (j < 512) rows[j].ms += ms, rows[j].count++;
    }
    qsort(rows, (size_t)nr, sizeof rows[0], prof_cmp);
    printf("\n  %s per-op profile (profiled step %.2f ms; median unprofiled step %.2f ms):\n", recipe, total, step_ms);
    printf("  | op (tag.stage) | ms | calls | %% of step |\n  |---|---:|---:|---:|\n");
    for (int i = 0; i < nr; i++) {
        printf("  | %s | %.3f | %d | %.1f %% |\n", rows[i].name, rows[i].ms, rows[i].count, 100.0 * rows[i].ms / total);
        BENCH_RESULT("bench_train|profile %s|op=%s|ms=%.4f|calls=%d", recipe, rows[i].name, rows[i].ms, rows[i].count);
    }
}

typedef struct result {
    char recipe[32];
    double step_ms, tok_s, mfu, mem_gib;
    float loss0, loss1;
    int ok;
} result;

static int run_recipe(fp4_context *ctx, const char *recipe_arg, int B, int steps, double ceiling, int profile,
                      result *res) {
    memset(res, 0, sizeof *res);
    snprintf(res->recipe, sizeof res->recipe, "%s", recipe_arg);
    char recipe[32];
    snprintf(recipe, sizeof recipe, "%s", recipe_arg);
    char *colon = strchr(recipe, ':');
    const int act_f32 = colon && !strcmp(colon, ":f32"), sync_quant = colon && !strcmp(colon, ":sync");
    const int no_side = colon && !strcmp(colon, ":noside");
    if (colon) *colon = 0;
    fp4_model_config cfg = fp4_model_config_default(FP4_MODEL_GPT);
    cfg.V = 50304; cfg.T = 1024; cfg.C = 768; cfg.L = 12; cfg.NH = 12; cfg.mlp_ratio = 4; cfg.tied = 1;
    fp4_model_options o;
    memset(&o, 0, sizeof o);
    if (fp4_recipe_parse(recipe, &o.recipe) != FP4_OK) return fprintf(stderr, "%s\n", fp4_last_error()), 1;
    o.mode = fp4_recipe_is_quantized(&o.recipe) ? FP4_LINEAR_TRUE : FP4_LINEAR_PLAIN;
    o.seed = 1;
    o.Bmax = B;
    o.act_f32 = act_f32;
    o.mark = prof_mark;
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
    for (int i = 0; i < m.n_lin; i++) {
        if (sync_quant) m.lin[i].async_quant = 0;
        if (no_side) m.lin[i].side = NULL;
    }
    printf("  %s: activations %s, attention %s, Wgrad quantization on %s\n", recipe_arg,
           fp4_dtype_name(m.act_dtype), m.flash ? "flash (no T x T buffer)" : "materialized (cuBLASLt + softmax)",
           m.lin[0].side ? "a side stream" : "the main stream");
    fp4_optim_config oc = fp4_optim_config_default();
    oc.lr = 6e-4f; oc.warmup = 10; oc.steps = 1000;
    const int T = cfg.T;
    int32_t *batch = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * (T + 1));
    uint64_t x = 88172645463325252ull;
    const int warm = 3;
    float *ms = (float *)malloc(sizeof(float) * (size_t)steps);
    const int total_steps = warm + steps + (profile ? 1 : 0);
    for (int s = 0; st == FP4_OK && s < total_steps; s++) {
        const int profiling = profile && s == warm + steps;
        prof.active = profiling;
        prof.n = 0;
        prof.stream = (cudaStream_t)fp4_context_stream(ctx);
        if (profiling) prof_mark(NULL, "step", "zero_grad");
        for (int i = 0; i < B * (T + 1); i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            batch[i] = (int32_t)(x % (uint64_t)cfg.V);
        }
        const double t0 = now_s();
        float loss = 0, gn = 0, lr = 0;
        st = fp4_model_zero_grad(ctx, &m);
        if (st == FP4_OK) st = fp4_model_forward(ctx, &m, batch, batch + 1, T + 1, B, (uint32_t)s, &loss);
        if (st == FP4_OK) st = fp4_model_backward(ctx, &m, 1.0f / (float)(B * T));
        if (profiling) prof_mark(NULL, "step", "optimizer");
        if (st == FP4_OK) st = fp4_optim_step(ctx, &opt, &m, &oc, &gn, &lr);
        if (profiling) prof_mark(NULL, "step", "end");
        if (st == FP4_OK) st = fp4_context_sync(ctx);
        prof.active = 0;
        const double dt = now_s() - t0;
        if (profiling) {
            printf("  %s profiled step: %.2f ms (host clock)\n", recipe_arg, dt * 1e3);
            continue;
        }
        if (s == 0) res->loss0 = loss;
        res->loss1 = loss;
        if (s >= warm) ms[s - warm] = (float)(dt * 1e3);
        printf("  %s step %d: %.2f ms, loss %.4f, grad norm %.3f\n", recipe, s, dt * 1e3, (double)loss, (double)gn);
    }
    if (st != FP4_OK) fprintf(stderr, "%s: step: %s\n", recipe, fp4_last_error());
    cudaMemGetInfo(&free1, &total);
    if (st == FP4_OK) {
        res->step_ms = bench_median(ms, steps);
        if (profile) prof_report(recipe_arg, res->step_ms);
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
    const char *ep = getenv("BENCH_TRAIN_PROFILE");
    const int profile = ep ? atoi(ep) : 1;
    fp4_context *ctx = NULL;
    if (fp4_context_create_cuda(0, NULL, &ctx) != FP4_OK) {
        fprintf(stderr, "no CUDA context: %s\n", fp4_last_error());
        return 1;
    }
    for (int i = 0; i < PROF_MAX; i++)
        if (cudaEventCreate(&prof.ev[i]) != cudaSuccess) {
            fprintf(stderr, "cudaEventCreate failed\n");
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
        rc |= run_recipe(ctx, tok, B, steps, ceil, profile, &r[nr]);
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
