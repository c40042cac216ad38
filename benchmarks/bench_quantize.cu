/* benchmarks/bench_quantize.cu — throughput of the CUDA quantizers (kernels/quantize*.cu, amax.cu,
 * dequantize.cu) on BF16 inputs of 4096x4096, 8192x8192 and 16384x8192, against the device-to-
 * device copy bandwidth measured in the same run.
 *
 * Modes (B = input bytes, O = bytes of one quantized copy = codes + scales):
 *   nv1x16_rne_row      NVFP4 1x16 RNE rowwise, incl. its amax pass      bytes 2B + O
 *   nv1x16_rne_row_v1   the same with quantize_rowwise_kernel1 (version 1: scalar loads)
 *   nv1x16_rne_row_api  the same through fp4_quantize (incl. the one 16-byte D2H copy + sync)
 *   nv1x16_rne_both     rowwise + columnwise in one tiled pass (+ amax pass)   2B + 2O
 *   nv1x16_sr_row       NVFP4 1x16 SR rowwise                           2B + O
 *   nv16x16_rne_row     NVFP4 16x16 RNE rowwise (tiled kernel)          2B + O
 *   mx_rceil_row        MXFP4 1x32 rceil RNE rowwise (amax fused)       B + O
 *   dequant_bf16        NVFP4 1x16 -> BF16                               O + B
 *   amax_pass           the NVFP4 amax pass alone (its share of the nv* modes)  B
 * Minimal bytes: every pass that needs the input reads it once (the NVFP4 amax pass counts as a
 * read), every output is written once. Timing: CUDA events around each call, 5 warm-ups, median of
 * 25, inputs and outputs rotated over 3 buffer sets (>= 96 MB of input) so L2 never holds them.
 * Each mode is first validated bit-for-bit against the CPU reference on 1024x2048 (PASS/FAIL).
 * Run: ./build/benchmarks/bench_quantize  (prints RESULT| lines and a final table). */
#include "fp4kit/formats_inline.h"

#include "bench_common.cuh"
#include "fp4kit/fp4kit.h"
#include "quantize_cuda.h"

#include <math.h>
#include <string.h>

#define NSETS 3

typedef struct {
    const char *name;
    fp4_format fmt;
    fp4_block blk;
    fp4_rounding rnd;
    int both, version, api, dequant, amax;
} mode_t_;

static const mode_t_ modes[] = {
    {"nv1x16_rne_row", FP4_FORMAT_NVFP4, FP4_BLOCK_1x16, FP4_ROUND_RNE, 0, 2, 0, 0},
    {"nv1x16_rne_row_v1", FP4_FORMAT_NVFP4, FP4_BLOCK_1x16, FP4_ROUND_RNE, 0, 1, 0, 0},
    {"nv1x16_rne_row_api", FP4_FORMAT_NVFP4, FP4_BLOCK_1x16, FP4_ROUND_RNE, 0, 2, 1, 0},
    {"nv1x16_rne_both", FP4_FORMAT_NVFP4, FP4_BLOCK_1x16, FP4_ROUND_RNE, 1, 2, 0, 0},
    {"nv1x16_sr_row", FP4_FORMAT_NVFP4, FP4_BLOCK_1x16, FP4_ROUND_SR, 0, 2, 0, 0},
    {"nv16x16_rne_row", FP4_FORMAT_NVFP4, FP4_BLOCK_16x16, FP4_ROUND_RNE, 0, 2, 0, 0},
    {"mx_rceil_row", FP4_FORMAT_MXFP4, FP4_BLOCK_1x32, FP4_ROUND_RNE, 0, 2, 0, 0},
    {"dequant_bf16", FP4_FORMAT_NVFP4, FP4_BLOCK_1x16, FP4_ROUND_RNE, 0, 2, 0, 1},
    {"amax_pass", FP4_FORMAT_NVFP4, FP4_BLOCK_1x16, FP4_ROUND_RNE, 0, 2, 0, 0, 1},
};
#define NMODES ((int)(sizeof modes / sizeof modes[0]))

static fp4_config mode_cfg(const mode_t_ *m) {
    fp4_config c = m->fmt == FP4_FORMAT_NVFP4 ? fp4_config_nvfp4() : fp4_config_mxfp4();
    c.block = m->blk;
    c.rounding = m->rnd;
    c.seed = 0x5eed;
    c.stream = 7;
    return c;
}

static int run_mode(fp4_context *ctx, const mode_t_ *m, const fp4_view *x, fp4_qtensor *r, fp4_qtensor *c, fp4_view *y) {
    const fp4_config cfg = mode_cfg(m);
    fp4_status st;
    if (m->amax) st = fp4_amax_cuda_pass_async(ctx, x);
    else if (m->dequant) st = fp4_dequantize_cuda_async(ctx, r, y);
    else if (m->api) st = fp4_quantize(ctx, x, &cfg, r, m->both ? c : NULL);
    else st = fp4_quantize_cuda_async(ctx, x, &cfg, r, m->both ? c : NULL, m->version);
    if (st != FP4_OK) {
        fprintf(stderr, "%s: %s: %s\n", m->name, fp4_status_str(st), fp4_last_error());
        return 1;
    }
    return 0;
}

/* Bit-exact check of one mode against the CPU reference on a 1024x2048 BF16 tensor. */
static int validate(fp4_context *ctx, const mode_t_ *m) {
    const int64_t R = 1024, C = 2048;
    const fp4_config cfg = mode_cfg(m);
    uint16_t *hx = (uint16_t *)malloc((size_t)R * C * 2);
    for (int64_t i = 0; i < R * C; i++) {
        uint64_t z = (uint64_t)i * 0x9E3779B97F4A7C15ull;
        z ^= z >> 29; z *= 0xBF58476D1CE4E5B9ull; z ^= z >> 32;
        float v = ((float)(z & 0xffffff) / 16777216.0f - 0.5f) * 4.0f;
        if ((z >> 40) % 301 == 0) v *= 1e4f;
        hx[i] = fp4_f32_to_bf16(v);
    }
    void *dx = NULL, *dy = NULL;
    int ok = 1;
    fp4_view xh = fp4_view_make(hx, FP4_DTYPE_BF16, R, C, FP4_HOST);
    fp4_qtensor hr, hc, dr, dc;
    fp4_qtensor_alloc(&hr, R, C, &cfg, FP4_HOST);
    fp4_qtensor_alloc(&hc, C, R, &cfg, FP4_HOST);
    fp4_qtensor_alloc(&dr, R, C, &cfg, FP4_DEVICE);
    fp4_qtensor_alloc(&dc, C, R, &cfg, FP4_DEVICE);
    fp4_device_alloc((size_t)R * C * 2, &dx);
    fp4_device_alloc((size_t)R * C * 2, &dy);
    fp4_copy_to_device(ctx, dx, hx, (size_t)R * C * 2);
    fp4_view xd = fp4_view_make(dx, FP4_DTYPE_BF16, R, C, FP4_DEVICE), yd = fp4_view_make(dy, FP4_DTYPE_BF16, R, C, FP4_DEVICE);
    if (m->amax) { /* fp4_amax (the same amax pass + finalize) against the host */
        float ha = -1.0f, da = -2.0f;
        ok = fp4_amax(NULL, &xh, &ha) == FP4_OK && fp4_amax(ctx, &xd, &da) == FP4_OK && !memcmp(&ha, &da, 4);
        printf("  validate %-20s %s\n", m->name, ok ? "PASS" : "FAIL");
        fp4_qtensor_free(&hr); fp4_qtensor_free(&hc); fp4_qtensor_free(&dr); fp4_qtensor_free(&dc);
        fp4_device_free(dx);
        fp4_device_free(dy);
        free(hx);
        return ok;
    }
    if (fp4_quantize(NULL, &xh, &cfg, &hr, m->both ? &hc : NULL) != FP4_OK) {
        printf("  validate %-20s reference failed: %s\n", m->name, fp4_last_error());
        ok = 0;
    }
    if (ok && !m->dequant) {
        ok = !run_mode(ctx, m, &xd, &dr, &dc, NULL) && fp4_quantize_cuda_finish(ctx, &xd, &cfg, &dr, m->both ? &dc : NULL) == FP4_OK;
    } else if (ok) {
        ok = fp4_quantize(ctx, &xd, &cfg, &dr, NULL) == FP4_OK && !run_mode(ctx, m, &xd, &dr, &dc, &yd) &&
             fp4_context_sync(ctx) == FP4_OK;
    }
    for (int k = 0; ok && k < (m->both ? 2 : 1); k++) {
        const fp4_qtensor *h = k ? &hc : &hr, *d = k ? &dc : &dr;
        const size_t db = fp4_qtensor_data_bytes(h), sb = fp4_qtensor_scale_bytes(h);
        uint8_t *a = (uint8_t *)malloc(db), *b = (uint8_t *)malloc(sb);
        fp4_copy_to_host(ctx, a, d->data, db);
        fp4_copy_to_host(ctx, b, d->scales, sb);
        if (memcmp(a, h->data, db) || memcmp(b, h->scales, sb) || memcmp(&h->amax, &d->amax, 4) ||
            memcmp(&h->s_dec, &d->s_dec, 4))
            ok = 0;
        free(a);
        free(b);
    }
    if (ok && m->dequant) {
        uint16_t *hy = (uint16_t *)malloc((size_t)R * C * 2), *dyh = (uint16_t *)malloc((size_t)R * C * 2);
        fp4_view yh = fp4_view_make(hy, FP4_DTYPE_BF16, R, C, FP4_HOST);
        ok = fp4_dequantize(NULL, &hr, &yh) == FP4_OK && fp4_copy_to_host(ctx, dyh, dy, (size_t)R * C * 2) == FP4_OK &&
             !memcmp(hy, dyh, (size_t)R * C * 2);
        free(hy);
        free(dyh);
    }
    printf("  validate %-20s %s\n", m->name, ok ? "PASS" : "FAIL");
    fp4_qtensor_free(&hr); fp4_qtensor_free(&hc); fp4_qtensor_free(&dr); fp4_qtensor_free(&dc);
    fp4_device_free(dx);
    fp4_device_free(dy);
    free(hx);
    return ok;
}

int main(void) {
    cudaStream_t stream;
    BENCH_CHECK(cudaSetDevice(0));
    BENCH_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    fp4_context *ctx = NULL;
    if (fp4_context_create_cuda(0, stream, &ctx) != FP4_OK) {
        fprintf(stderr, "context: %s\n", fp4_last_error());
        return 1;
    }
    bench_print_device();
    const double copy = bench_copy_gbps(stream);
    printf("device-to-device copy: %.0f GB/s (read + write)\n", copy);
    BENCH_RESULT("bench_quantize|copy|gbps=%.1f", copy);

    int valid[NMODES];
    for (int i = 0; i < NMODES; i++) valid[i] = validate(ctx, &modes[i]);

    static const int64_t sizes[][2] = {{4096, 4096}, {8192, 8192}, {16384, 8192}};
    double gbps[3][NMODES], ms_t[3][NMODES];
    for (int s = 0; s < 3; s++) {
        const int64_t R = sizes[s][0], C = sizes[s][1];
        const size_t in_bytes = (size_t)R * C * 2;
        void *x[NSETS], *y[NSETS];
        fp4_view xv[NSETS], yv[NSETS];
        fp4_qtensor qr[NSETS], qc[NSETS];
        fp4_config base = fp4_config_nvfp4();
        for (int k = 0; k < NSETS; k++) {
            BENCH_CHECK(cudaMalloc(&x[k], in_bytes));
            BENCH_CHECK(cudaMalloc(&y[k], in_bytes));
            if (bench_fill_bf16((uint16_t *)x[k], (size_t)R * C, 1000 + (uint64_t)k, 1.0f)) return 1;
            xv[k] = fp4_view_make(x[k], FP4_DTYPE_BF16, R, C, FP4_DEVICE);
            yv[k] = fp4_view_make(y[k], FP4_DTYPE_BF16, R, C, FP4_DEVICE);
        }
        for (int i = 0; i < NMODES; i++) {
            const mode_t_ *m = &modes[i];
            const fp4_config cfg = mode_cfg(m);
            for (int k = 0; k < NSETS; k++) {
                if (fp4_qtensor_alloc(&qr[k], R, C, &cfg, FP4_DEVICE) != FP4_OK ||
                    fp4_qtensor_alloc(&qc[k], C, R, &cfg, FP4_DEVICE) != FP4_OK) {
                    fprintf(stderr, "alloc: %s\n", fp4_last_error());
                    return 1;
                }
                if (m->dequant && fp4_quantize(ctx, &xv[k], &base, &qr[k], NULL) != FP4_OK) return 1;
            }
            const size_t out_bytes = fp4_qtensor_data_bytes(&qr[0]) + fp4_qtensor_scale_bytes(&qr[0]);
            double bytes;
            if (m->amax) bytes = (double)in_bytes;
            else if (m->dequant) bytes = (double)out_bytes + (double)in_bytes;
            else if (m->fmt == FP4_FORMAT_MXFP4) bytes = (double)in_bytes + (double)out_bytes;
            else bytes = 2.0 * (double)in_bytes + (double)out_bytes * (m->both ? 2 : 1);
            int err = 0;
            const float ms = bench_time_ms(stream, 5, 25, [&](int it) {
                const int k = it % NSETS;
                err |= run_mode(ctx, m, &xv[k], &qr[k], &qc[k], &yv[k]);
            });
            const double g = (ms > 0 && !err) ? bytes / (ms * 1e-3) / 1e9 : -1.0;
            gbps[s][i] = g;
            ms_t[s][i] = ms;
            BENCH_RESULT("bench_quantize|%s|%lldx%lld|ms=%.4f|gbps=%.1f|pct_copy=%.1f|valid=%s", m->name, (long long)R,
                         (long long)C, ms, g, 100.0 * g / copy, valid[i] ? "PASS" : "FAIL");
            for (int k = 0; k < NSETS; k++) {
                fp4_qtensor_free(&qr[k]);
                fp4_qtensor_free(&qc[k]);
            }
        }
        for (int k = 0; k < NSETS; k++) {
            cudaFree(x[k]);
            cudaFree(y[k]);
        }
    }

    printf("\n%-20s %6s | %22s | %22s | %22s\n", "mode", "valid", "4096x4096", "8192x8192", "16384x8192");
    for (int i = 0; i < NMODES; i++) {
        printf("%-20s %6s", modes[i].name, valid[i] ? "PASS" : "FAIL");
        for (int s = 0; s < 3; s++) printf(" | %7.3f ms %5.0f GB/s %3.0f%%", ms_t[s][i], gbps[s][i], 100.0 * gbps[s][i] / copy);
        printf("\n");
    }
    printf("copy ceiling %.0f GB/s. Targets: nv1x16_rne_row >= 80%%, nv1x16_rne_both >= 70%%, SR <= 15%% over RNE, "
           "16x16 and MXFP4 >= 75%%.\n",
           copy);
    for (int s = 0; s < 3; s++)
        printf("SR time over RNE at %lldx%lld: %+.1f%%\n", (long long)sizes[s][0], (long long)sizes[s][1],
               100.0 * (ms_t[s][4] / ms_t[s][0] - 1.0));
    fp4_context_destroy(ctx);
    cudaStreamDestroy(stream);
    for (int i = 0; i < NMODES; i++)
        if (!valid[i]) return 1;
    return 0;
}
