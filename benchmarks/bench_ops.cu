/* benchmarks/bench_ops.cu — the CUDA model ops (qat/ops_*.cu) at GPT-2-124M shapes in BF16:
 * B = 16, T = 1024, C = 768, NH = 12 (hs = 64), V = 50257 padded to Vp = 50304, N = B*T rows.
 * Memory-bound ops report GB/s of the minimal bytes (each input read once, each output written
 * once; "accumulate" outputs read + written) and % of the device-to-device copy measured in this
 * run; attention reports TFLOP/s of its GEMMs counted in full (4 B NH T^2 hs forward, 8 backward;
 * the causal half is computed too, as in llm.c) and the effective rate of the causal half.
 * Bytes per op (2 = BF16, 4 = F32):
 *   encoder_forward   N C (4 + 2)                 encoder_backward  N C 2 + 2 * U C 4 (U distinct tokens)
 *   rmsnorm_forward   2 N C 2                     rmsnorm_backward  4 N C 2 (dout, inp, dinp r+w)
 *   rope_forward      2 * N 2C 2 (q and k)        gelu_forward      2 N 4C 2   gelu_backward 3 N 4C 2
 *   residual_forward  3 N C 2                     crossentropy      2 N Vp 2 (read + in-place write)
 *   adamw (n = 124M)  n (4 * 4 + 3 * 4 + 1)       grad_norm_sq      4 n
 * Timing: CUDA events, 3 warm-ups, median of 20; inputs of the small ops rotate over 4 sets so L2
 * (50 MB) never holds the previous call's data. In-place ops (rope, cross-entropy, rmsnorm
 * backward's dinp) run repeatedly on their own outputs (never zeros). RESULT| lines, then a table.
 * Run: ./build/benchmarks/bench_ops
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/formats_inline.h"

#include "bench_common.cuh"
#include "fp4kit/fp4kit.h"
#include "../qat/ops.h"

#define SETS 4

struct row {
    const char *name;
    double us, gbps, tflops;
};
static row rows[32];
static int nrows;
static double copy_gbps;

static void report(const char *name, float ms, double bytes, double flops) {
    row r = {name, ms * 1e3, bytes > 0 ? bytes / (ms * 1e-3) / 1e9 : 0, flops > 0 ? flops / (ms * 1e-3) / 1e12 : 0};
    rows[nrows++] = r;
    if (bytes > 0)
        BENCH_RESULT("bench_ops|%s|us=%.1f|gbps=%.0f|pct_copy=%.1f", name, r.us, r.gbps, 100.0 * r.gbps / copy_gbps);
    else
        BENCH_RESULT("bench_ops|%s|us=%.1f|tflops=%.1f", name, r.us, r.tflops);
}

#define OPS_OK(call)                                                                           \
    do {                                                                                       \
        fp4_status s_ = (call);                                                                \
        if (s_ != FP4_OK) {                                                                    \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, fp4_last_error());   \
            ok = 0;                                                                            \
        }                                                                                      \
    } while (0)

static uint16_t *bf16_buf(size_t n, uint64_t seed, float scale) {
    uint16_t *p = NULL;
    if (cudaMalloc(&p, n * 2) != cudaSuccess) return NULL;
    bench_fill_bf16(p, n, seed, scale);
    return p;
}

__global__ void to_f32_kernel(float *dst, const uint16_t *src, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (; i < n; i += (size_t)gridDim.x * blockDim.x) dst[i] = fp4_bf16_to_f32(src[i]);
}
static float *f32_buf(size_t n, uint64_t seed, float scale) {
    uint16_t *t = bf16_buf(n, seed, scale);
    float *p = NULL;
    if (!t || cudaMalloc(&p, n * 4) != cudaSuccess) return NULL;
    to_f32_kernel<<<1024, 256>>>(p, t, n);
    cudaDeviceSynchronize();
    cudaFree(t);
    return p;
}

int main(void) {
    const int64_t B = 16, T = 1024, C = 768, NH = 12, hs = C / NH, V = 50257, Vp = 50304, N = B * T;
    const int64_t nparam = 124000000;
    bench_print_device();
    fp4_context *ctx = NULL;
    if (fp4_context_create_cuda(0, NULL, &ctx) != FP4_OK) {
        fprintf(stderr, "no CUDA context: %s\n", fp4_last_error());
        return 1;
    }
    cudaStream_t s = (cudaStream_t)fp4_context_stream(ctx);
    copy_gbps = bench_copy_gbps(s);
    printf("copy ceiling: %.0f GB/s\n", copy_gbps);
    BENCH_RESULT("bench_ops|copy|gbps=%.0f", copy_gbps);
    int ok = 1;
    const fp4_dtype bf = FP4_DTYPE_BF16;

    /* activations [N, C] x SETS, [N, 4C] x 2, qkv [N, 3C] */
    uint16_t *x[SETS], *y[SETS], *dy[SETS];
    for (int k = 0; k < SETS; k++) {
        x[k] = bf16_buf((size_t)(N * C), 11 + k, 1.0f);
        y[k] = bf16_buf((size_t)(N * C), 21 + k, 1.0f);
        dy[k] = bf16_buf((size_t)(N * C), 31 + k, 0.1f);
    }
    uint16_t *h[2], *dh[2];
    for (int k = 0; k < 2; k++) h[k] = bf16_buf((size_t)(N * 4 * C), 41 + k, 1.0f), dh[k] = bf16_buf((size_t)(N * 4 * C), 51 + k, 0.1f);
    uint16_t *qkv = bf16_buf((size_t)(N * 3 * C), 61, 1.0f), *dqkv = bf16_buf((size_t)(N * 3 * C), 62, 1.0f);
    uint16_t *att = bf16_buf((size_t)(B * NH * T * T), 63, 1.0f), *datt = bf16_buf((size_t)(B * NH * T * T), 64, 1.0f);
    float *wte = f32_buf((size_t)(Vp * C), 71, 0.02f), *dwte = f32_buf((size_t)(Vp * C), 72, 0.001f);
    float *w = f32_buf((size_t)C, 73, 1.0f), *dw = f32_buf((size_t)C, 74, 0.1f), *rstd = f32_buf((size_t)N, 75, 1.0f);
    int32_t *tok = NULL, *tgt = NULL;
    int32_t *htok = (int32_t *)malloc((size_t)N * 4);
    uint64_t r = 0x12345;
    for (int64_t i = 0; i < N; i++) { r ^= r << 13; r ^= r >> 7; r ^= r << 17; htok[i] = (int32_t)(r % (uint64_t)V); }
    char *seen = (char *)calloc((size_t)V, 1);
    int64_t U = 0;
    for (int64_t i = 0; i < N; i++) U += !seen[htok[i]], seen[htok[i]] = 1;
    BENCH_CHECK(cudaMalloc(&tok, (size_t)N * 4));
    BENCH_CHECK(cudaMalloc(&tgt, (size_t)N * 4));
    BENCH_CHECK(cudaMemcpy(tok, htok, (size_t)N * 4, cudaMemcpyHostToDevice));
    BENCH_CHECK(cudaMemcpy(tgt, htok, (size_t)N * 4, cudaMemcpyHostToDevice));
    uint16_t *logits = bf16_buf((size_t)(N * Vp), 81, 2.0f);
    float *losses = NULL;
    BENCH_CHECK(cudaMalloc(&losses, (size_t)N * 4));
    float *hc = (float *)malloc((size_t)(T * hs / 2) * 4), *hsn = (float *)malloc((size_t)(T * hs / 2) * 4), *cs, *sn;
    fp4_rope_tables(hc, hsn, T, (int)hs, 10000.0);
    BENCH_CHECK(cudaMalloc(&cs, (size_t)(T * hs / 2) * 4));
    BENCH_CHECK(cudaMalloc(&sn, (size_t)(T * hs / 2) * 4));
    BENCH_CHECK(cudaMemcpy(cs, hc, (size_t)(T * hs / 2) * 4, cudaMemcpyHostToDevice));
    BENCH_CHECK(cudaMemcpy(sn, hsn, (size_t)(T * hs / 2) * 4, cudaMemcpyHostToDevice));
    if (!wte || !dwte || !logits || !att || !datt || !qkv) { fprintf(stderr, "allocation failed\n"); return 1; }

    auto V2 = [&](void *p, int64_t rr, int64_t cc) { return fp4_view_make(p, bf, rr, cc, FP4_DEVICE); };
    const double nc2 = (double)N * C * 2;
    float ms;

    ms = bench_time_ms(s, 3, 20, [&](int i) { fp4_view o = V2(y[i % SETS], N, C); OPS_OK(fp4_encoder_forward(ctx, &o, tok, wte, V)); });
    report("encoder_forward", ms, (double)N * C * 6, 0);
    ms = bench_time_ms(s, 3, 20, [&](int i) { fp4_view d = V2(dy[i % SETS], N, C); OPS_OK(fp4_encoder_backward(ctx, dwte, &d, tok, V)); });
    report("encoder_backward", ms, nc2 + 2.0 * U * C * 4, 0);
    ms = bench_time_ms(s, 3, 20, [&](int i) {
        fp4_view o = V2(y[i % SETS], N, C), in = V2(x[i % SETS], N, C);
        OPS_OK(fp4_rmsnorm_forward(ctx, &o, rstd, &in, w, 1e-5f));
    });
    report("rmsnorm_forward", ms, 2 * nc2, 0);
    ms = bench_time_ms(s, 3, 20, [&](int i) {
        fp4_view di = V2(y[i % SETS], N, C), d = V2(dy[i % SETS], N, C), in = V2(x[(i + 1) % SETS], N, C);
        OPS_OK(fp4_rmsnorm_backward(ctx, &di, dw, &d, &in, w, rstd));
    });
    report("rmsnorm_backward", ms, 4 * nc2, 0);
    ms = bench_time_ms(s, 3, 20, [&](int) {
        fp4_view q = {qkv, bf, N, 2 * C, 3 * C, FP4_DEVICE};
        OPS_OK(fp4_rope_forward(ctx, &q, cs, sn, T, (int)(2 * NH)));
    });
    report("rope_forward(q,k)", ms, 2.0 * N * 2 * C * 2, 0);
    ms = bench_time_ms(s, 3, 20, [&](int i) { fp4_view o = V2(dh[i % 2], N, 4 * C), in = V2(h[i % 2], N, 4 * C); OPS_OK(fp4_gelu_forward(ctx, &o, &in)); });
    report("gelu_forward", ms, 2.0 * N * 4 * C * 2, 0);
    ms = bench_time_ms(s, 3, 20, [&](int i) {
        fp4_view o = V2(dh[i % 2], N, 4 * C), in = V2(h[i % 2], N, 4 * C);
        OPS_OK(fp4_gelu_backward(ctx, &o, &in, &o));
    });
    report("gelu_backward", ms, 3.0 * N * 4 * C * 2, 0);
    ms = bench_time_ms(s, 3, 20, [&](int i) {
        fp4_view o = V2(y[i % SETS], N, C), a = V2(x[i % SETS], N, C), b = V2(dy[(i + 2) % SETS], N, C);
        OPS_OK(fp4_residual_forward(ctx, &o, &a, &b));
    });
    report("residual_forward", ms, 3 * nc2, 0);
    ms = bench_time_ms(s, 3, 20, [&](int) {
        fp4_view z = V2(logits, N, Vp);
        OPS_OK(fp4_crossentropy_forward(ctx, losses, &z, tgt, V, 1.0f / N, 1));
    });
    report("crossentropy_fused", ms, 2.0 * N * Vp * 2, 0);

    /* attention */
    const double fl_fwd = 4.0 * B * NH * T * T * hs;
    ms = bench_time_ms(s, 3, 20, [&](int) {
        fp4_view o = V2(y[0], N, C), a = V2(att, B * NH * T, T), q = V2(qkv, N, 3 * C);
        OPS_OK(fp4_attention_forward(ctx, &o, &a, &q, B, T, (int)NH));
    });
    report("attention_forward", ms, 0, fl_fwd);
    ms = bench_time_ms(s, 3, 20, [&](int) {
        fp4_view dq = V2(dqkv, N, 3 * C), da = V2(datt, B * NH * T, T), d = V2(dy[0], N, C), q = V2(qkv, N, 3 * C),
                 a = V2(att, B * NH * T, T);
        OPS_OK(fp4_attention_backward(ctx, &dq, &da, &d, &q, &a, B, T, (int)NH));
    });
    report("attention_backward", ms, 0, 2 * fl_fwd);
    /* flash-style attention (no T x T buffer): reported at the same full-T^2 FLOP count, so the
     * rates compare with the rows above; the causal work is half of it, and the backward does 7
     * tile GEMMs where 4 would be counted (dQ pass recomputes S, dP) */
    float *lse = NULL;
    BENCH_CHECK(cudaMalloc(&lse, (size_t)(B * NH * T) * sizeof(float)));
    ms = bench_time_ms(s, 3, 20, [&](int) {
        fp4_view o = V2(y[0], N, C), q = V2(qkv, N, 3 * C);
        OPS_OK(fp4_flash_attention_forward(ctx, &o, lse, &q, B, T, (int)NH));
    });
    report("flash_attention_forward", ms, 0, fl_fwd);
    ms = bench_time_ms(s, 3, 20, [&](int) {
        fp4_view dq = V2(dqkv, N, 3 * C), d = V2(dy[1], N, C), q = V2(qkv, N, 3 * C), o = V2(y[0], N, C);
        OPS_OK(fp4_flash_attention_backward(ctx, &dq, &d, &q, &o, lse, B, T, (int)NH));
    });
    report("flash_attention_backward", ms, 0, 2 * fl_fwd);
    cudaFree(lse);

    /* optimizer on 124M parameters */
    cudaFree(logits);
    cudaFree(att);
    cudaFree(datt);
    float *p = f32_buf((size_t)nparam, 91, 0.02f), *g = f32_buf((size_t)nparam, 92, 0.01f);
    float *m = f32_buf((size_t)nparam, 93, 0.001f), *v = f32_buf((size_t)nparam, 94, 0.0001f);
    uint8_t *mask = NULL;
    BENCH_CHECK(cudaMalloc(&mask, (size_t)nparam));
    BENCH_CHECK(cudaMemset(mask, 1, (size_t)nparam));
    if (!p || !g || !m || !v) { fprintf(stderr, "allocation failed\n"); return 1; }
    const fp4_adamw_step st = fp4_adamw_step_make(6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 10, 1.0f);
    ms = bench_time_ms(s, 3, 20, [&](int) { OPS_OK(fp4_adamw_update(ctx, p, g, m, v, mask, nparam, &st)); });
    report("adamw_124M", ms, (double)nparam * 29, 0);
    double nsq = 0;
    ms = bench_time_ms(s, 3, 20, [&](int) { OPS_OK(fp4_grad_norm_sq(ctx, g, nparam, &nsq)); });
    report("grad_norm_sq_124M(sync)", ms, (double)nparam * 4, 0);

    printf("\n%-26s %10s %10s %8s %10s\n", "op (BF16, GPT-2 124M)", "time us", "GB/s", "% copy", "TFLOP/s");
    for (int i = 0; i < nrows; i++) {
        if (rows[i].gbps > 0)
            printf("%-26s %10.1f %10.0f %7.1f%% %10s\n", rows[i].name, rows[i].us, rows[i].gbps,
                   100.0 * rows[i].gbps / copy_gbps, "-");
        else
            printf("%-26s %10.1f %10s %8s %10.1f\n", rows[i].name, rows[i].us, "-", "-", rows[i].tflops);
    }
    printf("attention: FLOPs counted in full (causal half included); useful causal rate = half of that.\n");
    printf("%s\n", ok ? "all calls OK" : "SOME CALLS FAILED");
    fp4_context_destroy(ctx);
    return ok ? 0 : 1;
}
