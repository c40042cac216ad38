/* benchmarks/bench_gemm_wgmma.cu — limits of the sm_90a wgmma FP4 GEMM (kernels/gemm_wgmma.cu)
 * and the M where AUTO should switch to it; the official GEMM table is bench_gemm's.
 *
 * Part 1, N = K in {4096, 8192}, M in {2048, 8192}: FUSED W4A4 / W4A16 NVFP4 (the wgmma kernel,
 * FP4KIT_GEMM_WGMMA=1), W4A4 with and without CTA pairs sharing the decoded activation tile
 * (FP4KIT_GEMM_WGMMA_CL = 2 / 1), the pairs' weight rows decoded into wgmma A registers or
 * shared memory (_RS = 1 / 0), the consumers decoding 1 or 2 K-steps ahead (_AHEAD), with
 * FP4KIT_GEMM_WGMMA_DBG=1 (no decode: the wgmma + pipeline ceiling) and =2 (no wgmma: the
 * decode's own speed), RS only: =3 (the producer skips its activation decode) and =4 (the
 * consumers skip their weight decode) — DBG results are wrong by design —, MXFP4, and cuBLASLt
 * BF16, same run.
 * Part 2, M in {256, 512, 1024}: FUSED (wgmma) vs TWO_PASS for W4A4 and W4A16, and BF16.
 * Random data (never zeros), BF16 out, beta = 0; medians of 10 event-timed calls after 3 warm-up;
 * part 1 runs 3 rounds per shape (cuBLASLt first, an untimed warm-up of the default W4A4 kernel,
 * then the variants) and reports the median round.
 * Run: ./build/benchmarks/bench_gemm_wgmma [part1]  (sm_90 only; prints SKIPPED elsewhere; part1:
 *      part 1 only);
 *      ./build/benchmarks/bench_gemm_wgmma one w4a4|w4a16 nv|mx M N K reps  (one default call
 *      shape, for profilers)
 */
#include <stdlib.h>
#include <string.h>

#include "fp4kit/formats_inline.h" /* before bench_common.cuh, which uses its BF16 codec */
#include "bench_common.cuh"
#include "fp4kit/fp4kit.h"
#include "fp4kit/gemm.h"


static fp4_context *ctx;
static cudaStream_t stream;

static void make_q(fp4_qtensor *q, int64_t rows, int64_t cols, uint64_t seed, int mx) {
    bench_make_q(ctx, stream, q, rows, cols, mx ? fp4_config_mxfp4() : fp4_config_nvfp4(), seed);
}

template <typename F>
static double time_us(F fn) {
    const float ms = bench_time_ms(stream, 3, 10, [&](int) { fn(); });
    return ms > 0 ? 1e3 * ms : -1.0;
}

static void env(const char *wg, const char *dbg) {
    setenv("FP4KIT_GEMM_WGMMA", wg, 1);
    if (dbg) setenv("FP4KIT_GEMM_WGMMA_DBG", dbg, 1);
    else unsetenv("FP4KIT_GEMM_WGMMA_DBG");
}

/* `one w4a4|w4a16 nv|mx M N K reps`: only the default FUSED call of one shape, reps times (for
 * ncu: -k regex:wgmma_kernel1 -s 2 -c 1); prints the median µs and % of cuBLASLt BF16. */
static int run_one(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: bench_gemm_wgmma one w4a4|w4a16 nv|mx M N K reps\n");
        return 2;
    }
    const int w4a4 = !strcmp(argv[2], "w4a4"), mx = !strcmp(argv[3], "mx");
    const int64_t M = atoll(argv[4]), N = atoll(argv[5]), K = atoll(argv[6]);
    const int reps = atoi(argv[7]);
    fp4_qtensor a, w;
    make_q(&a, M, K, 11, mx);
    make_q(&w, N, K, 21, mx);
    uint16_t *x = (uint16_t *)bench_dev_alloc(2 * M * K), *wb = (uint16_t *)bench_dev_alloc(2 * N * K), *d = (uint16_t *)bench_dev_alloc(2 * M * N);
    bench_fill_bf16(x, M * K, 31, 1.0f);
    bench_fill_bf16(wb, N * K, 41, 1.0f);
    fp4_view xv = fp4_view_make(x, FP4_DTYPE_BF16, M, K, FP4_DEVICE), wv = fp4_view_make(wb, FP4_DTYPE_BF16, N, K, FP4_DEVICE);
    fp4_view dv = fp4_view_make(d, FP4_DTYPE_BF16, M, N, FP4_DEVICE);
    const double bf = time_us([&] { BENCH_FP4(fp4_gemm_bf16(ctx, &xv, &wv, 1, NULL, 0, &dv)); });
    float *t = (float *)malloc(sizeof(float) * (reps > 0 ? reps : 1));
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0), cudaEventCreate(&e1);
    for (int r = 0; r < reps; r++) {
        cudaEventRecord(e0, stream);
        if (w4a4) BENCH_FP4(fp4_gemm_ex(ctx, &a, &w, 1, NULL, 0, &dv, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_FUSED));
        else BENCH_FP4(fp4_gemm_w4a16_ex(ctx, &xv, &w, 1, NULL, 0, &dv, FP4_GEMM_ALGO_FUSED));
        cudaEventRecord(e1, stream);
        cudaEventSynchronize(e1);
        cudaEventElapsedTime(&t[r], e0, e1);
    }
    for (int i = 1; i < reps; i++) /* insertion sort: reps is small */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) { const float z = t[j]; t[j] = t[j - 1], t[j - 1] = z; }
    const double us = reps > 0 ? 1e3 * t[reps / 2] : -1.0;
    printf("one %s %s M=%lld N=%lld K=%lld: %.1f us, cuBLASLt BF16 %.1f us, %.0f %% of BF16\n", argv[2], argv[3],
           (long long)M, (long long)N, (long long)K, us, bf, 100.0 * bf / us);
    free(t);
    fp4_qtensor_free(&a), fp4_qtensor_free(&w);
    fp4_device_free(x), fp4_device_free(wb), fp4_device_free(d);
    return 0;
}

int main(int argc, char **argv) {
    BENCH_FP4(fp4_context_create_cuda(0, NULL, &ctx));
    stream = (cudaStream_t)fp4_context_stream(ctx);
    if (argc > 1 && !strcmp(argv[1], "one")) return run_one(argc, argv);
    bench_print_device();
    int dev = 0, ma = 0, mi = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&ma, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&mi, cudaDevAttrComputeCapabilityMinor, dev);
    if (ma != 9 || mi != 0) {
        printf("SKIPPED: the wgmma kernel needs compute capability 9.0 (this is %d.%d)\n", ma, mi);
        return 0;
    }
    /* variant: name, W4A4?, MXFP4?, FP4KIT_GEMM_WGMMA, _AHEAD, _DBG (NULL: unset), _CL, _RS; last = lt_bf16 */
    struct var { const char *name; int w4a4, mx; const char *wg, *ah, *dbg, *cl, *rs; };
    const var vs[] = {{"w4a4_ss", 1, 0, "1", "1", NULL, "2", "0"},       {"w4a4_rs", 1, 0, "1", "1", NULL, "2", "1"},
                      {"w4a4_rs_nodec", 1, 0, "1", "1", "1", "2", "1"},  {"w4a4_rs_nomma", 1, 0, "1", "1", "2", "2", "1"},
                      {"w4a4_rs_noq", 1, 0, "1", "1", "3", "2", "1"},    {"w4a4_rs_nop", 1, 0, "1", "1", "4", "2", "1"},
                      {"w4a4_cl1", 1, 0, "1", "1", NULL, "1", "0"},      {"w4a4_mx_ss", 1, 1, "1", "1", NULL, "2", "0"},
                      {"w4a4_mx_rs", 1, 1, "1", "1", NULL, "2", "1"},    {"w4a16_ah2", 0, 0, "1", "2", NULL, "1", "0"},
                      {"w4a16_mx", 0, 1, "1", "2", NULL, "1", "0"},
                      {"lt_bf16", 0, 0, NULL, NULL, NULL, NULL, NULL}};
    enum { NV1 = sizeof vs / sizeof vs[0], BF16 = NV1 - 1 };
    static char tab[8192];
    int tl = 0;
    {
        int o = snprintf(tab, sizeof tab, "\npart 1: us per call (%% of lt_bf16's TFLOP/s)\n%-5s %-5s", "N=K", "M");
        tl += o;
        for (int v = 0; v < NV1; v++) tl += snprintf(tab + tl, sizeof tab - tl, " %14s", vs[v].name);
        tl += snprintf(tab + tl, sizeof tab - tl, "\n");
    }
    const int64_t sh1[4][2] = {{2048, 4096}, {8192, 4096}, {2048, 8192}, {8192, 8192}};
    for (int si = 0; si < 4; si++) {
        const int64_t M = sh1[si][0], N = sh1[si][1], K = N;
        fp4_qtensor a, w, am, wm;
        make_q(&a, M, K, 11 + si, 0);
        make_q(&w, N, K, 21 + si, 0);
        make_q(&am, M, K, 81 + si, 1);
        make_q(&wm, N, K, 91 + si, 1);
        uint16_t *x = (uint16_t *)bench_dev_alloc(2 * M * K), *wb = (uint16_t *)bench_dev_alloc(2 * N * K), *d = (uint16_t *)bench_dev_alloc(2 * M * N);
        bench_fill_bf16(x, M * K, 31 + si, 1.0f);
        bench_fill_bf16(wb, N * K, 41 + si, 1.0f);
        fp4_view xv = fp4_view_make(x, FP4_DTYPE_BF16, M, K, FP4_DEVICE), wv = fp4_view_make(wb, FP4_DTYPE_BF16, N, K, FP4_DEVICE);
        fp4_view dv = fp4_view_make(d, FP4_DTYPE_BF16, M, N, FP4_DEVICE);
        BENCH_FP4(fp4_context_sync(ctx));
        /* 3 rounds, lt_bf16 first in each, then an untimed warm-up of the default W4A4 kernel (the
         * variant timed right after cuBLASLt read ~5 points low at 8192², notes run 10), then the
         * variants in order; the median of the rounds is reported */
        double us[NV1], ur[3][NV1];
        for (int r = 0; r < 3; r++) {
            ur[r][BF16] = time_us([&] { BENCH_FP4(fp4_gemm_bf16(ctx, &xv, &wv, 1, NULL, 0, &dv)); });
            env("1", NULL);
            for (int i = 0; i < 5; i++) BENCH_FP4(fp4_gemm_ex(ctx, &a, &w, 1, NULL, 0, &dv, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_FUSED));
            for (int v = 0; v < BF16; v++) {
                env(vs[v].wg, vs[v].dbg);
                setenv("FP4KIT_GEMM_WGMMA_AHEAD", vs[v].ah, 1);
                setenv("FP4KIT_GEMM_WGMMA_CL", vs[v].cl, 1);
                setenv("FP4KIT_GEMM_WGMMA_RS", vs[v].rs, 1);
                const fp4_qtensor *qa = vs[v].mx ? &am : &a, *qw = vs[v].mx ? &wm : &w;
                if (vs[v].w4a4)
                    ur[r][v] = time_us([&] { BENCH_FP4(fp4_gemm_ex(ctx, qa, qw, 1, NULL, 0, &dv, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_FUSED)); });
                else ur[r][v] = time_us([&] { BENCH_FP4(fp4_gemm_w4a16_ex(ctx, &xv, qw, 1, NULL, 0, &dv, FP4_GEMM_ALGO_FUSED)); });
            }
        }
        for (int v = 0; v < NV1; v++) { /* median of 3 */
            const double x0 = ur[0][v], x1 = ur[1][v], x2 = ur[2][v];
            us[v] = fmax(fmin(x0, x1), fmin(fmax(x0, x1), x2));
        }
        unsetenv("FP4KIT_GEMM_WGMMA_AHEAD");
        unsetenv("FP4KIT_GEMM_WGMMA_CL");
        unsetenv("FP4KIT_GEMM_WGMMA_RS");
        env("1", NULL);
        int o = snprintf(tab + tl, sizeof tab - tl, "%-5lld %-5lld", (long long)N, (long long)M);
        tl += o > 0 ? o : 0;
        for (int v = 0; v < NV1; v++) {
            o = snprintf(tab + tl, sizeof tab - tl, " %7.1f (%3.0f%%)", us[v], 100.0 * us[BF16] / us[v]);
            tl += o > 0 ? o : 0;
            BENCH_RESULT("gemm_wgmma|%s M=%lld N=K=%lld|us=%.2f|tflops=%.1f|pct_of_bf16=%.1f", vs[v].name, (long long)M, (long long)N,
                         us[v], 2.0 * M * N * K / (us[v] * 1e6), 100.0 * us[BF16] / us[v]);
        }
        o = snprintf(tab + tl, sizeof tab - tl, "\n");
        tl += o > 0 ? o : 0;
        fp4_qtensor_free(&a), fp4_qtensor_free(&w), fp4_qtensor_free(&am), fp4_qtensor_free(&wm);
        fp4_device_free(x), fp4_device_free(wb), fp4_device_free(d);
    }

    if (argc > 1 && !strcmp(argv[1], "part1")) { /* part 1 only */
        unsetenv("FP4KIT_GEMM_WGMMA");
        fputs(tab, stdout);
        fp4_context_destroy(ctx);
        return 0;
    }
    enum { A4_FU, A4_2P, A16_FU, A16_2P, LT, NV2 };
    const char *n2[NV2] = {"w4a4_wgmma", "w4a4_2p", "w4a16_wgmma", "w4a16_2p", "lt_bf16"};
    tl += snprintf(tab + tl, sizeof tab - tl, "\npart 2: us per call (AUTO threshold)\n%-5s %-5s", "N=K", "M");
    for (int v = 0; v < NV2; v++) tl += snprintf(tab + tl, sizeof tab - tl, " %12s", n2[v]);
    tl += snprintf(tab + tl, sizeof tab - tl, "\n");
    env("1", NULL);
    const int64_t Ms[3] = {256, 512, 1024}, NKs[2] = {4096, 8192};
    for (int ni = 0; ni < 2; ni++)
        for (int mi2 = 0; mi2 < 3; mi2++) {
            const int64_t M = Ms[mi2], N = NKs[ni], K = N;
            fp4_qtensor a, w;
            make_q(&a, M, K, 51 + mi2, 0);
            make_q(&w, N, K, 61 + ni, 0);
            uint16_t *x = (uint16_t *)bench_dev_alloc(2 * M * K), *wb = (uint16_t *)bench_dev_alloc(2 * N * K), *d = (uint16_t *)bench_dev_alloc(2 * M * N);
            bench_fill_bf16(x, M * K, 71, 1.0f);
            bench_fill_bf16(wb, N * K, 72, 1.0f);
            fp4_view xv = fp4_view_make(x, FP4_DTYPE_BF16, M, K, FP4_DEVICE), wv = fp4_view_make(wb, FP4_DTYPE_BF16, N, K, FP4_DEVICE);
            fp4_view dv = fp4_view_make(d, FP4_DTYPE_BF16, M, N, FP4_DEVICE);
            BENCH_FP4(fp4_context_sync(ctx));
            double us[NV2];
            us[A4_FU] = time_us([&] { BENCH_FP4(fp4_gemm_ex(ctx, &a, &w, 1, NULL, 0, &dv, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_FUSED)); });
            us[A4_2P] = time_us([&] { BENCH_FP4(fp4_gemm_ex(ctx, &a, &w, 1, NULL, 0, &dv, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_TWO_PASS)); });
            us[A16_FU] = time_us([&] { BENCH_FP4(fp4_gemm_w4a16_ex(ctx, &xv, &w, 1, NULL, 0, &dv, FP4_GEMM_ALGO_FUSED)); });
            us[A16_2P] = time_us([&] { BENCH_FP4(fp4_gemm_w4a16_ex(ctx, &xv, &w, 1, NULL, 0, &dv, FP4_GEMM_ALGO_TWO_PASS)); });
            us[LT] = time_us([&] { BENCH_FP4(fp4_gemm_bf16(ctx, &xv, &wv, 1, NULL, 0, &dv)); });
            tl += snprintf(tab + tl, sizeof tab - tl, "%-5lld %-5lld", (long long)N, (long long)M);
            for (int v = 0; v < NV2; v++) {
                tl += snprintf(tab + tl, sizeof tab - tl, " %12.1f", us[v]);
                BENCH_RESULT("gemm_wgmma|%s M=%lld N=K=%lld|us=%.2f|tflops=%.1f", n2[v], (long long)M, (long long)N, us[v],
                             2.0 * M * N * K / (us[v] * 1e6));
            }
            tl += snprintf(tab + tl, sizeof tab - tl, "\n");
            fp4_qtensor_free(&a), fp4_qtensor_free(&w);
            fp4_device_free(x), fp4_device_free(wb), fp4_device_free(d);
        }
    unsetenv("FP4KIT_GEMM_WGMMA");
    fputs(tab, stdout);
    fp4_context_destroy(ctx);
    return 0;
}
