/* benchmarks/bench_hadamard.cu — throughput of the Hadamard kernels (hadamard/hadamard.cu,
 * hadamard/rht_quantize.cu) on BF16 8192x8192, against the device-to-device copy bandwidth
 * measured in the same run.
 *
 * Modes (B = input bytes = 128 MiB, O = bytes of the quantized [K, M] copy = codes + scales):
 *   rht16_nvfp4_rne      fused Wgrad operand of X: RHT16 + BF16 + post-RHT amax + NVFP4 1x16 RNE.
 *                        Two passes over x (amax pass, then transform+quantize): bytes 2B + O.
 *                        Pass 2 walks the tiles in reverse, so part of its read may hit L2; the
 *                        byte count still charges both reads in full.
 *   rht16_nvfp4_sr       the same with SR (the dY operand)                          2B + O
 *   rht16_nvfp4_rne_api  rht16_nvfp4_rne through the public call (+ one 12-byte D2H copy and sync)
 *   rht32_mxfp4_{rne,sr} RHT32 + MXFP4 1x32 rceil (no tensor scale: one pass)        B + O
 *   fwht{16,128,4096}    standalone RHT along rows, BF16 -> BF16                      2B
 *   rht16_pass1_amax     diagnostics: NVFP4 pass 1 alone (B), pass 2 alone RNE / SR (B + O)
 *   rht16_pass2_{rne,sr}
 *   rht16_*_old          A/B: the pass-2 kernel that was the default before notes run 8
 *   rht32_mxfp4_rne_old  A/B: the same for MXFP4 (its default before notes run 11)
 *   rht16_pass2_*_s8     the default strip kernel with 8-item strips forced (= default at 8192²)
 * BENCH_HADAMARD_MODES=a,b limits the run to those modes (e.g. under ncu).
 * Timing: WARM warm-up calls, median of REPS calls enqueued back to back with an event after each
 * (bench_time_ms_b2b: the GPU runs behind the host as in a training loop, so host launch latency
 * is not charged); the column "sync ms" is the older method (synchronize after every call, which
 * charges each call its first launch's delay: several µs for the 3 stream operations of a fused
 * call). Inputs and outputs rotate over 2 sets (256 MiB of input) so L2 never holds a whole
 * input from the previous run. "split" lines time pass 1 and pass 2 separately inside the fused
 * back-to-back loop (an event between them).
 * Before timing, each mode is validated bit-for-bit against the CPU reference on a small shape
 * (PASS/FAIL). Run: ./build/benchmarks/bench_hadamard  (RESULT| lines, then a short table). */
#include "fp4kit/formats_inline.h"

#include "bench_common.cuh"
#include "fp4kit/fp4kit.h"
#include "hadamard_impl.h"

#include <string.h>

#define NSETS 2
/* Per mode: WARM untimed calls first (≈ 15–25 ms of work at 8192²), then REPS timed calls. With 5
 * warm-ups the first mode timed ran ≈ 8 % slower than the same kernels timed later in the same run
 * (notes run 10; clocks still settling is the likely cause). */
#define WARM 100
#define REPS 50

typedef struct {
    const char *name;
    int fused;   /* 1: fp4_rht_quantize_columnwise; 0: fp4_hadamard */
    int d;
    fp4_format fmt;
    fp4_rounding rnd;
    int api;
    int passes;  /* reads of the input counted in the bytes */
    int pmask;   /* fused kernels: 3 both passes; 1 pass 1 only (bytes B); 2 pass 2 only (bytes B + O) */
    int variant; /* fused kernels, A/B (rht_quantize.cu's fp4_rht_quantize_bench_variant): 0 default */
} hmode;

/* rht_quantize.cu's benchmark hook: which NVFP4 passes run (bit 0 amax, bit 1 quantize). */
extern "C" void fp4_rht_quantize_bench_passes(int passes);
extern "C" void fp4_rht_quantize_bench_variant(int v);

static const hmode modes[] = {
    {"rht16_nvfp4_rne", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_RNE, 0, 2, 3},
    {"rht16_nvfp4_sr", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_SR, 0, 2, 3},
    {"rht16_nvfp4_rne_api", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_RNE, 1, 2, 3},
    {"rht32_mxfp4_rne", 1, 32, FP4_FORMAT_MXFP4, FP4_ROUND_RNE, 0, 1, 3},
    {"rht32_mxfp4_sr", 1, 32, FP4_FORMAT_MXFP4, FP4_ROUND_SR, 0, 1, 3},
    {"fwht16", 0, 16, FP4_FORMAT_NVFP4, FP4_ROUND_RNE, 0, 1, 3},
    {"fwht128", 0, 128, FP4_FORMAT_NVFP4, FP4_ROUND_RNE, 0, 1, 3},
    {"fwht4096", 0, 4096, FP4_FORMAT_NVFP4, FP4_ROUND_RNE, 0, 1, 3},
    /* diagnostics: the two NVFP4 passes alone (pass 2 reuses the amax left by the modes above) */
    {"rht16_pass1_amax", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_RNE, 0, 1, 1},
    {"rht16_pass2_rne", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_RNE, 0, 1, 2},
    {"rht16_pass2_sr", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_SR, 0, 1, 2},
    /* A/B: rht_quant_kernel, the default pass 2 before run 8 (variant 5); the strip kernel with
     * 8-item strips forced (variant 6: validates full strips on the small check shapes too) */
    {"rht16_nvfp4_rne_old", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_RNE, 0, 2, 3, 5},
    {"rht16_nvfp4_sr_old", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_SR, 0, 2, 3, 5},
    {"rht16_pass2_rne_old", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_RNE, 0, 1, 2, 5},
    {"rht16_pass2_sr_old", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_SR, 0, 1, 2, 5},
    {"rht32_mxfp4_rne_old", 1, 32, FP4_FORMAT_MXFP4, FP4_ROUND_RNE, 0, 1, 3, 5},
    {"rht16_pass2_rne_s8", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_RNE, 0, 1, 2, 6},
    {"rht16_pass2_sr_s8", 1, 16, FP4_FORMAT_NVFP4, FP4_ROUND_SR, 0, 1, 2, 6},
};
#define NMODES ((int)(sizeof modes / sizeof modes[0]))

/* BENCH_HADAMARD_MODES=name1,name2 runs only those modes (profiling); default: all. */
static int mode_selected(const hmode *m) {
    const char *sel = getenv("BENCH_HADAMARD_MODES");
    if (!sel || !*sel) return 1;
    const size_t n = strlen(m->name);
    for (const char *p = sel; (p = strstr(p, m->name)) != NULL; p += n)
        if ((p == sel || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return 1;
    return 0;
}

static fp4_config mode_cfg(const hmode *m) {
    fp4_config c = m->fmt == FP4_FORMAT_NVFP4 ? fp4_config_nvfp4() : fp4_config_mxfp4();
    c.rounding = m->rnd;
    c.seed = 0x5eed;
    c.stream = 7;
    return c;
}

static int run_mode(fp4_context *ctx, const hmode *m, const fp4_view *x, fp4_qtensor *q, fp4_view *y) {
    fp4_status st;
    if (m->fused) {
        const fp4_config cfg = mode_cfg(m);
        fp4_rht_quantize_bench_passes(m->pmask);
        fp4_rht_quantize_bench_variant(m->variant);
        st = m->api ? fp4_rht_quantize_columnwise(ctx, x, &cfg, m->d, 0, q)
                    : fp4_rht_quantize_columnwise_cuda(ctx, x, &cfg, m->d, 0, q, 0);
    } else {
        const fp4_hadamard_desc h = fp4_hadamard_rht(m->d, 0);
        st = fp4_hadamard(ctx, x, y, &h);
    }
    if (st != FP4_OK) {
        fprintf(stderr, "%s: %s: %s\n", m->name, fp4_status_str(st), fp4_last_error());
        return 1;
    }
    return 0;
}

/* Bit-exact check of one mode against the CPU reference on an R x C BF16 tensor (ld > cols). */
static int validate_shape(fp4_context *ctx, const hmode *m, int64_t R, int64_t C, int64_t ld) {
    uint16_t *hx = (uint16_t *)malloc((size_t)R * ld * 2);
    for (int64_t i = 0; i < R * ld; i++) {
        uint64_t z = (uint64_t)i * 0x9E3779B97F4A7C15ull;
        z ^= z >> 29; z *= 0xBF58476D1CE4E5B9ull; z ^= z >> 32;
        hx[i] = fp4_f32_to_bf16(((float)(z & 0xffffff) / 16777216.0f - 0.5f) * 4.0f);
    }
    void *dx = NULL, *dy = NULL;
    int ok = fp4_device_alloc((size_t)R * ld * 2, &dx) == FP4_OK && fp4_device_alloc((size_t)R * C * 2, &dy) == FP4_OK &&
             fp4_copy_to_device(ctx, dx, hx, (size_t)R * ld * 2) == FP4_OK;
    fp4_view vh = {hx, FP4_DTYPE_BF16, R, C, ld, FP4_HOST}, vd = {dx, FP4_DTYPE_BF16, R, C, ld, FP4_DEVICE};
    if (ok && m->fused) {
        const fp4_config cfg = mode_cfg(m);
        fp4_rht_quantize_bench_passes(3);
        fp4_rht_quantize_bench_variant(m->variant);
        fp4_qtensor a, b;
        ok = fp4_qtensor_alloc(&a, C, R, &cfg, FP4_HOST) == FP4_OK && fp4_qtensor_alloc(&b, C, R, &cfg, FP4_DEVICE) == FP4_OK &&
             fp4_rht_quantize_columnwise(NULL, &vh, &cfg, m->d, 0, &a) == FP4_OK &&
             fp4_rht_quantize_columnwise(ctx, &vd, &cfg, m->d, 0, &b) == FP4_OK;
        if (ok) {
            const size_t db = fp4_qtensor_data_bytes(&a), sb = fp4_qtensor_scale_bytes(&a);
            uint8_t *gd = (uint8_t *)malloc(db), *gs = (uint8_t *)malloc(sb);
            ok = fp4_copy_to_host(ctx, gd, b.data, db) == FP4_OK && fp4_copy_to_host(ctx, gs, b.scales, sb) == FP4_OK &&
                 !memcmp(gd, a.data, db) && !memcmp(gs, a.scales, sb) && a.amax == b.amax && a.s_enc == b.s_enc &&
                 a.s_dec == b.s_dec;
            free(gd);
            free(gs);
        }
        fp4_qtensor_free(&a);
        fp4_qtensor_free(&b);
    } else if (ok) {
        const fp4_hadamard_desc h = fp4_hadamard_rht(m->d, 0);
        uint16_t *hy = (uint16_t *)malloc((size_t)R * C * 2), *gy = (uint16_t *)malloc((size_t)R * C * 2);
        fp4_view yh = {hy, FP4_DTYPE_BF16, R, C, C, FP4_HOST}, yd = {dy, FP4_DTYPE_BF16, R, C, C, FP4_DEVICE};
        ok = fp4_hadamard(NULL, &vh, &yh, &h) == FP4_OK && fp4_hadamard(ctx, &vd, &yd, &h) == FP4_OK &&
             fp4_copy_to_host(ctx, gy, dy, (size_t)R * C * 2) == FP4_OK && !memcmp(hy, gy, (size_t)R * C * 2);
        free(hy);
        free(gy);
    }
    if (!ok && fp4_last_error()[0]) fprintf(stderr, "%s: %s\n", m->name, fp4_last_error());
    fp4_device_free(dx);
    fp4_device_free(dy);
    free(hx);
    if (!ok) printf("validate %-20s [%lld x %lld] ld %lld FAIL\n", m->name, (long long)R, (long long)C, (long long)ld);
    return ok;
}

/* 1024 x 4096 (ld 4104); fused modes also on 832 x 192 (M % 512 != 0, M % 256 != 0: a 5-item
 * tail strip) and 768 x 128 (M % 256 == 0, a 4-item tail strip). */
static int validate(fp4_context *ctx, const hmode *m) {
    int ok = validate_shape(ctx, m, 1024, 4096, 4104);
    if (m->fused) ok = validate_shape(ctx, m, 832, 192, 200) & validate_shape(ctx, m, 768, 128, 136) & ok;
    printf("validate %-20s %s\n", m->name, ok ? "PASS" : "FAIL");
    return ok;
}

int main(void) {
    bench_print_device();
    fp4_context *ctx = NULL;
    if (fp4_context_create_cuda(0, NULL, &ctx) != FP4_OK) {
        fprintf(stderr, "no CUDA context: %s\n", fp4_last_error());
        return 1;
    }
    cudaStream_t s = (cudaStream_t)fp4_context_stream(ctx);
    int valid[NMODES];
    for (int i = 0; i < NMODES; i++) valid[i] = mode_selected(&modes[i]) ? validate(ctx, &modes[i]) : 0;
    const double copy = bench_copy_gbps(s);
    printf("copy bandwidth (read + write): %.0f GB/s\n", copy);
    BENCH_RESULT("hadamard|copy|GBps=%.1f", copy);

    const int64_t M = 8192, K = 8192;
    const size_t B = (size_t)M * K * 2;
    uint16_t *x[NSETS], *y[NSETS];
    fp4_qtensor q[NSETS][2]; /* [set][0: NVFP4, 1: MXFP4] */
    const fp4_config nv = fp4_config_nvfp4(), mx = fp4_config_mxfp4();
    for (int i = 0; i < NSETS; i++) {
        BENCH_CHECK(cudaMalloc(&x[i], B));
        BENCH_CHECK(cudaMalloc(&y[i], B));
        if (bench_fill_bf16(x[i], (size_t)M * K, 1234 + i, 1.0f)) return 1;
        if (fp4_qtensor_alloc(&q[i][0], K, M, &nv, FP4_DEVICE) != FP4_OK ||
            fp4_qtensor_alloc(&q[i][1], K, M, &mx, FP4_DEVICE) != FP4_OK) {
            fprintf(stderr, "alloc: %s\n", fp4_last_error());
            return 1;
        }
    }
    double gbps[NMODES], ms_[NMODES], ms_sync[NMODES];
    for (int mi = 0; mi < NMODES; mi++) {
        const hmode *m = &modes[mi];
        gbps[mi] = ms_[mi] = ms_sync[mi] = -1;
        if (!mode_selected(m)) continue;
        const int qi = m->fmt == FP4_FORMAT_MXFP4;
        int err = 0;
        auto call = [&](int it) {
            const int k = it % NSETS;
            fp4_view vx = fp4_view_make(x[k], FP4_DTYPE_BF16, M, K, FP4_DEVICE);
            fp4_view vy = fp4_view_make(y[k], FP4_DTYPE_BF16, M, K, FP4_DEVICE);
            err |= run_mode(ctx, m, &vx, &q[k][qi], &vy);
        };
        const float ms = bench_time_ms_b2b(s, WARM, REPS, call);
        ms_sync[mi] = bench_time_ms(s, WARM, REPS, call);
        if (ms <= 0 || err) {
            fprintf(stderr, "%s: timing failed\n", m->name);
            continue;
        }
        double bytes;
        if (m->fused)
            bytes = (double)m->passes * B +
                    (m->pmask & 2 ? (double)fp4_qtensor_data_bytes(&q[0][qi]) + fp4_qtensor_scale_bytes(&q[0][qi]) : 0.0);
        else bytes = 2.0 * B;
        ms_[mi] = ms;
        gbps[mi] = bytes / (ms * 1e-3) / 1e9;
        BENCH_RESULT("hadamard|%s|shape=%lldx%lld|ms=%.4f|GBps=%.1f|pct_copy=%.1f|input_reads=%d|ms_sync=%.4f|valid=%s",
                     m->name, (long long)M, (long long)K, ms, gbps[mi], 100.0 * gbps[mi] / copy, m->fused ? m->passes : 1,
                     ms_sync[mi], valid[mi] ? "PASS" : "FAIL");
    }
    printf("\n%-22s %10s %10s %8s %9s %6s  (BF16 %lldx%lld; copy %.0f GB/s)\n", "mode", "ms", "GB/s", "% copy",
           "sync ms", "check", (long long)M, (long long)K, copy);
    for (int mi = 0; mi < NMODES; mi++)
        printf("%-22s %10.4f %10.1f %7.1f%% %9.4f %6s\n", modes[mi].name, ms_[mi], gbps[mi], 100.0 * gbps[mi] / copy,
               ms_sync[mi], valid[mi] ? "PASS" : "FAIL");
    /* pass 1 and pass 2 timed inside the fused back-to-back loop (default, and variant 5: the old pass 2) */
    if (!getenv("BENCH_HADAMARD_MODES")) {
        const int vars[2] = {0, 5};
        for (int vi = 0; vi < 2; vi++) {
            const int reps = REPS, warm = WARM;
            cudaEvent_t ev[3 * REPS];
            for (int i = 0; i < 3 * reps; i++) cudaEventCreate(&ev[i]);
            const fp4_config cfg = mode_cfg(&modes[0]);
            fp4_rht_quantize_bench_variant(vars[vi]);
            int err = 0;
            for (int it = 0; it < warm + reps; it++) {
                const int k = it % NSETS, r = it - warm;
                fp4_view vx = fp4_view_make(x[k], FP4_DTYPE_BF16, M, K, FP4_DEVICE);
                if (r >= 0) cudaEventRecord(ev[3 * r], s);
                fp4_rht_quantize_bench_passes(1);
                err |= fp4_rht_quantize_columnwise_cuda(ctx, &vx, &cfg, 16, 0, &q[k][0], 0) != FP4_OK;
                if (r >= 0) cudaEventRecord(ev[3 * r + 1], s);
                fp4_rht_quantize_bench_passes(2);
                err |= fp4_rht_quantize_columnwise_cuda(ctx, &vx, &cfg, 16, 0, &q[k][0], 0) != FP4_OK;
                if (r >= 0) cudaEventRecord(ev[3 * r + 2], s);
            }
            cudaEventSynchronize(ev[3 * reps - 1]);
            float t1[REPS], t2[REPS], tt[REPS];
            for (int r = 0; r < reps; r++) {
                cudaEventElapsedTime(&t1[r], ev[3 * r], ev[3 * r + 1]);
                cudaEventElapsedTime(&t2[r], ev[3 * r + 1], ev[3 * r + 2]);
                cudaEventElapsedTime(&tt[r], ev[3 * r], ev[3 * r + 2]);
            }
            for (int i = 0; i < 3 * reps; i++) cudaEventDestroy(ev[i]);
            const double p1 = bench_median(t1, reps), p2 = bench_median(t2, reps), pt = bench_median(tt, reps);
            const double bytes = 2.0 * B + (double)fp4_qtensor_data_bytes(&q[0][0]) + fp4_qtensor_scale_bytes(&q[0][0]);
            printf("split variant %d: pass1 %.4f ms, pass2 %.4f ms, call %.4f ms (%.1f%% copy)%s\n", vars[vi], p1, p2, pt,
                   100.0 * bytes / (pt * 1e-3) / 1e9 / copy, err ? " ERROR" : "");
            BENCH_RESULT("hadamard|split_v%d|pass1_ms=%.4f|pass2_ms=%.4f|call_ms=%.4f", vars[vi], p1, p2, pt);
        }
    }
    fp4_rht_quantize_bench_passes(3);
    fp4_rht_quantize_bench_variant(0);
    for (int i = 0; i < NSETS; i++) {
        cudaFree(x[i]);
        cudaFree(y[i]);
        fp4_qtensor_free(&q[i][0]);
        fp4_qtensor_free(&q[i][1]);
    }
    fp4_context_destroy(ctx);
    return 0;
}
