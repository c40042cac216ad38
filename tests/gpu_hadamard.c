/* tests/gpu_hadamard.c — the CUDA Hadamard kernels are BIT-IDENTICAL to the CPU references, through
 * the public API (host views run the hadamard/ references, device views the hadamard/ kernels):
 *   - fp4_hadamard along rows, d = 16 .. 32768 (all sizes, so both the register/shuffle kernel and
 *     the shared-memory kernel with 1-3 passes are covered), plain / random signs / seeded /
 *     inverse, F32 and BF16 in and out, ld > cols (the padding must stay untouched), odd strides
 *     (scalar path), in place;
 *   - fp4_rotate_blocks k = 16 .. 128 along rows and columns, cols not a multiple of 32;
 *   - fp4_rht_quantize_columnwise: NVFP4 (d = 16) and MXFP4 rceil/ocp (d = 32), RNE and SR, F32
 *     and BF16, M = 16 / 48 / 64 / 4096, K = 16 .. 8192 incl. K not a multiple of the thread width,
 *     ld > cols; data: normal at random scales, outliers, NaN/Inf (hardware mode), all zero;
 *     codes, scales, amax/s_enc/s_dec (host fields and tscale_dev) and cfg/hadamard fields; strict
 *     mode returns the same status.
 * Outputs are poisoned (0xA5) before each run so unwritten bytes show. A failure prints the case.
 * Run: ./build/tests/gpu_hadamard */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "fp4kit/fp4kit.h"
#include "fp4kit/formats_inline.h"
#include "harness.h"

static fp4_context *g_ctx;

static int suite_init(void) { return fp4_context_create_cuda(0, NULL, &g_ctx) == FP4_OK ? 0 : 1; }
static int suite_clean(void) {
    fp4_context_destroy(g_ctx);
    g_ctx = NULL;
    return 0;
}

static void *dev_from_host(const void *h, size_t bytes) {
    void *d = NULL;
    if (fp4_device_alloc(bytes, &d) != FP4_OK) return NULL;
    if (fp4_copy_to_device(g_ctx, d, h, bytes) != FP4_OK) {
        fp4_device_free(d);
        return NULL;
    }
    return d;
}

static void fill_random(void *buf, fp4_dtype dt, size_t n, fp4t_rng *rng, double scale) {
    for (size_t i = 0; i < n; i++) {
        const double v = fp4t_rng_normal(rng) * scale;
        if (dt == FP4_DTYPE_BF16) ((uint16_t *)buf)[i] = fp4_f32_to_bf16((float)v);
        else ((float *)buf)[i] = (float)v;
    }
}

static size_t first_diff(const void *a, const void *b, size_t n) {
    const uint8_t *p = a, *q = b;
    for (size_t i = 0; i < n; i++)
        if (p[i] != q[i]) return i;
    return (size_t)-1;
}

/* One fp4_hadamard case: host vs device, whole output buffer (padding included) compared. */
static int run_fwht_case(int64_t R, int64_t C, int64_t ldx, int64_t ldy, fp4_dtype dx, fp4_dtype dy,
                         const fp4_hadamard_desc *h, int in_place, uint64_t seed) {
    const size_t nx = (size_t)R * ldx * fp4_dtype_size(dx), ny = (size_t)R * ldy * fp4_dtype_size(dy);
    fp4t_rng rng;
    fp4t_rng_seed(&rng, seed);
    void *hx = malloc(nx), *hy = malloc(ny), *gy = malloc(ny);
    fill_random(hx, dx, (size_t)R * ldx, &rng, ldexp(1.0, (int)(seed % 9) - 4));
    memset(hy, 0xA5, ny);
    void *dxp = dev_from_host(hx, nx), *dyp = in_place ? dxp : dev_from_host(hy, ny);
    int ok = dxp && dyp;
    if (ok) {
        fp4_view vx = {hx, dx, R, C, ldx, FP4_HOST}, vy = {in_place ? hx : hy, dy, R, C, ldy, FP4_HOST};
        fp4_view gx = {dxp, dx, R, C, ldx, FP4_DEVICE}, gyv = {dyp, dy, R, C, ldy, FP4_DEVICE};
        fp4_status s1 = fp4_hadamard(NULL, &vx, &vy, h), s2 = fp4_hadamard(g_ctx, &gx, &gyv, h);
        if (s2 == FP4_OK) s2 = fp4_context_sync(g_ctx);
        ok = s1 == FP4_OK && s2 == FP4_OK && fp4_copy_to_host(g_ctx, gy, dyp, ny) == FP4_OK;
        if (ok) {
            const size_t at = first_diff(in_place ? hx : hy, gy, ny);
            if (at != (size_t)-1) {
                ok = 0;
                fprintf(stderr, "\n    FWHT mismatch d=%d axis=%d signs=%d seed=%llu inv=%d [%lld x %lld] ld=%lld/%lld %s->%s%s at byte %zu\n",
                        h->d, (int)h->axis, h->random_signs, (unsigned long long)h->seed, h->inverse, (long long)R,
                        (long long)C, (long long)ldx, (long long)ldy, fp4_dtype_name(dx), fp4_dtype_name(dy),
                        in_place ? " in place" : "", at);
            }
        } else {
            fprintf(stderr, "\n    FWHT d=%d: %s\n", h->d, fp4_last_error());
        }
    }
    fp4_device_free(dxp);
    if (!in_place) fp4_device_free(dyp);
    free(hx); free(hy); free(gy);
    return ok;
}

static void test_fwht_bits(void) {
    int cases = 0, fails = 0;
    for (int d = 16; d <= 32768; d *= 2) {
        const int64_t R = d >= 8192 ? 3 : 7, C = d >= 8192 ? d : 2 * d;
        for (int v = 0; v < 4; v++) {
            fp4_hadamard_desc h = v == 0 ? fp4_hadamard_plain(d) : fp4_hadamard_rht(d, v == 1 ? 0 : 0xABCDEFull * v);
            h.inverse = v == 3;
            const fp4_dtype dts[4][2] = {{FP4_DTYPE_F32, FP4_DTYPE_F32}, {FP4_DTYPE_BF16, FP4_DTYPE_BF16},
                                         {FP4_DTYPE_BF16, FP4_DTYPE_F32}, {FP4_DTYPE_F32, FP4_DTYPE_BF16}};
            const fp4_dtype *p = dts[v];
            fails += !run_fwht_case(R, C, C, C, p[0], p[1], &h, 0, 100 + d + v);
            fails += !run_fwht_case(R, C, C + 8, C + 16, p[0], p[1], &h, 0, 200 + d + v); /* ld > cols, aligned */
            fails += !run_fwht_case(R, C, C + 3, C + 1, p[0], p[1], &h, 0, 300 + d + v);  /* scalar path */
            cases += 3;
        }
        fp4_hadamard_desc h = fp4_hadamard_rht(d, 0);
        fails += !run_fwht_case(R, C, C, C, FP4_DTYPE_BF16, FP4_DTYPE_BF16, &h, 1, 400 + d);
        cases++;
    }
    /* a taller case for the grid loops */
    fp4_hadamard_desc h = fp4_hadamard_rht(128, 0);
    fails += !run_fwht_case(4096, 1024, 1024, 1024, FP4_DTYPE_BF16, FP4_DTYPE_BF16, &h, 0, 77);
    h = fp4_hadamard_rht(16, 0);
    fails += !run_fwht_case(2048, 4096, 4096, 4096, FP4_DTYPE_BF16, FP4_DTYPE_F32, &h, 0, 78);
    cases += 2;
    printf("\n    %d FWHT cases, %d mismatches ", cases, fails);
    CU_ASSERT_EQUAL(fails, 0);
}

static void test_rotation_bits(void) {
    int fails = 0;
    for (int k = 16; k <= 128; k *= 2) {
        for (int axis = 0; axis < 2; axis++) {
            fp4_hadamard_desc h = fp4_hadamard_plain(k);
            h.axis = (fp4_had_axis)axis;
            const int64_t R = axis ? 3 * k : 37, C = axis ? 40 : 3 * k;
            fails += !run_fwht_case(R, C, C, C, FP4_DTYPE_F32, FP4_DTYPE_F32, &h, 0, 500 + k + axis);
            fails += !run_fwht_case(R, C, C + 5, C + 2, FP4_DTYPE_BF16, FP4_DTYPE_BF16, &h, 0, 600 + k + axis);
            fails += !run_fwht_case(R, C, C, C, FP4_DTYPE_BF16, FP4_DTYPE_BF16, &h, 1, 700 + k + axis);
            h.random_signs = 1;
            h.inverse = 1;
            fails += !run_fwht_case(R, C, C + 4, C, FP4_DTYPE_F32, FP4_DTYPE_BF16, &h, 0, 800 + k + axis);
        }
    }
    CU_ASSERT_EQUAL(fails, 0);
}

enum { D_NORMAL, D_OUTLIER, D_SPECIAL, D_ZERO, D_TINY, D_HUGE };

static int run_fused_case(int64_t M, int64_t K, int64_t ld, fp4_dtype dt, fp4_config cfg, int d, uint64_t sseed,
                          int kind, uint64_t seed) {
    const size_t es = fp4_dtype_size(dt), nx = (size_t)M * ld * es;
    fp4t_rng rng;
    fp4t_rng_seed(&rng, seed);
    void *hx = malloc(nx);
    fill_random(hx, dt, (size_t)M * ld, &rng, ldexp(1.0, (int)(fp4t_rng_u64(&rng) % 21) - 10));
    for (size_t i = 0; i < (size_t)M * ld; i++) {
        float v = dt == FP4_DTYPE_BF16 ? fp4_bf16_to_f32(((uint16_t *)hx)[i]) : ((float *)hx)[i];
        const uint64_t u = fp4t_rng_u64(&rng) % 1000;
        if (kind == D_ZERO) v = 0.0f;
        else if (kind == D_OUTLIER && u < 3) v *= 1e4f;
        else if (kind == D_SPECIAL && u == 0) v = NAN;
        else if (kind == D_SPECIAL && u == 1) v = -INFINITY;
        /* D_TINY: a quarter of the elements and every second 16-token chunk of each 64 scaled by
         * 2^-128 (BF16 subnormals, some flushed to ±0); D_HUGE: 1 % of the elements scaled by 2^115
         * (butterfly sums near and past the FP32 range). Both exercise the range guards of the
         * kernels' exact rewrites (rht_quantize.cu, quant_chunk's FOLD). */
        else if (kind == D_TINY && (u < 250 || ((i / (size_t)ld) / 16) % 2 == 1)) v = ldexpf(v, -128);
        else if (kind == D_HUGE && u < 10) v = ldexpf(v, 115);
        if ((int64_t)(i % ld) >= K) v = 1e30f; /* padding: must never reach a result */
        if (dt == FP4_DTYPE_BF16) ((uint16_t *)hx)[i] = fp4_f32_to_bf16(v);
        else ((float *)hx)[i] = v;
    }
    fp4_qtensor hq, gq;
    int ok = fp4_qtensor_alloc(&hq, K, M, &cfg, FP4_HOST) == FP4_OK && fp4_qtensor_alloc(&gq, K, M, &cfg, FP4_DEVICE) == FP4_OK;
    const size_t db = fp4_qtensor_data_bytes(&hq), sb = fp4_qtensor_scale_bytes(&hq);
    uint8_t *gd = malloc(db), *gs = malloc(sb);
    memset(hq.data, 0xA5, db);
    memset(hq.scales, 0xA5, sb);
    memset(gd, 0xA5, db);
    memset(gs, 0xA5, sb);
    void *dx = dev_from_host(hx, nx);
    ok = ok && dx && fp4_copy_to_device(g_ctx, gq.data, gd, db) == FP4_OK &&
         fp4_copy_to_device(g_ctx, gq.scales, gs, sb) == FP4_OK;
    char what[256];
    snprintf(what, sizeof what, "%s %s %s %s [%lld x %lld] ld=%lld d=%d seed=%llu kind=%d strict=%d",
             fp4_format_name(cfg.format), fp4_scale_rule_name(cfg.scale_rule), fp4_rounding_name(cfg.rounding),
             fp4_dtype_name(dt), (long long)M, (long long)K, (long long)ld, d, (unsigned long long)sseed, kind,
             (int)cfg.nonfinite);
    if (ok) {
        fp4_view vx = {hx, dt, M, K, ld, FP4_HOST}, gx = {dx, dt, M, K, ld, FP4_DEVICE};
        const fp4_status s1 = fp4_rht_quantize_columnwise(NULL, &vx, &cfg, d, sseed, &hq);
        const fp4_status s2 = fp4_rht_quantize_columnwise(g_ctx, &gx, &cfg, d, sseed, &gq);
        float ts[3] = {0, 0, 0};
        if (s1 != s2) {
            ok = 0;
            fprintf(stderr, "\n    %s: status %s (CPU) vs %s (GPU): %s\n", what, fp4_status_str(s1), fp4_status_str(s2),
                    fp4_last_error());
        } else if (s1 == FP4_OK) {
            ok = fp4_copy_to_host(g_ctx, gd, gq.data, db) == FP4_OK && fp4_copy_to_host(g_ctx, gs, gq.scales, sb) == FP4_OK &&
                 fp4_copy_to_host(g_ctx, ts, gq.tscale_dev, sizeof ts) == FP4_OK;
            const size_t a = first_diff(hq.data, gd, db), b = first_diff(hq.scales, gs, sb);
            const int t_ok = fp4_f32_bits(hq.amax) == fp4_f32_bits(gq.amax) && fp4_f32_bits(hq.s_enc) == fp4_f32_bits(gq.s_enc) &&
                             fp4_f32_bits(hq.s_dec) == fp4_f32_bits(gq.s_dec) && fp4_f32_bits(ts[0]) == fp4_f32_bits(hq.amax) &&
                             fp4_f32_bits(ts[1]) == fp4_f32_bits(hq.s_enc) && fp4_f32_bits(ts[2]) == fp4_f32_bits(hq.s_dec);
            const int f_ok = gq.hadamard == d && gq.hadamard_seed == sseed && gq.cfg.stream == hq.cfg.stream &&
                             gq.cfg.rounding == cfg.rounding;
            if (!ok || a != (size_t)-1 || b != (size_t)-1 || !t_ok || !f_ok) {
                fprintf(stderr, "\n    %s: data diff at %zd, scale diff at %zd, amax %a/%a s_enc %a/%a s_dec %a/%a dev %a %a %a, fields %d\n",
                        what, (ssize_t)a, (ssize_t)b, hq.amax, gq.amax, hq.s_enc, gq.s_enc, hq.s_dec, gq.s_dec, ts[0], ts[1],
                        ts[2], f_ok);
                ok = 0;
            }
        }
    } else {
        fprintf(stderr, "\n    %s: setup failed: %s\n", what, fp4_last_error());
    }
    fp4_device_free(dx);
    fp4_qtensor_free(&hq);
    fp4_qtensor_free(&gq);
    free(hx); free(gd); free(gs);
    return ok;
}

static void test_fused_bits(void) {
    int cases = 0, fails = 0;
    const int64_t Ms[] = {16, 48, 64, 4096};
    const int64_t Ks[] = {16, 40, 130, 1000, 8192};
    for (int fmt = 0; fmt < 3; fmt++) {
        fp4_config cfg = fmt == 0 ? fp4_config_nvfp4() : fp4_config_mxfp4();
        if (fmt == 2) cfg.scale_rule = FP4_SCALE_OCP;
        const int d = fmt == 0 ? 16 : 32;
        for (int rnd = 0; rnd < 2; rnd++) {
            cfg.rounding = rnd ? FP4_ROUND_SR : FP4_ROUND_RNE;
            cfg.seed = 0x5EEDull + (uint64_t)rnd;
            cfg.stream = 3;
            for (int mi = 0; mi < 4; mi++)
                for (int ki = 0; ki < 5; ki++) {
                    const int64_t M = Ms[mi], K = Ks[ki];
                    if (M % d) continue;
                    if (M * K > (int64_t)4096 * 1000 && !(rnd == 0 && fmt == 0)) continue; /* one big case per format */
                    const fp4_dtype dt = (mi + ki) % 2 ? FP4_DTYPE_F32 : FP4_DTYPE_BF16;
                    const int64_t ld = ki % 2 ? K + 8 : K;
                    const int kind = (mi + ki + rnd) % 6;
                    fails += !run_fused_case(M, K, ld, dt, cfg, d, ki == 3 ? 12345 : 0, kind, 1000 + mi * 10 + ki);
                    cases++;
                }
            /* odd row stride (scalar loads) and the other dtype on one shape */
            fails += !run_fused_case(64, 72, 75, FP4_DTYPE_BF16, cfg, d, 0, D_NORMAL, 9);
            fails += !run_fused_case(64, 72, 73, FP4_DTYPE_F32, cfg, d, 0, D_OUTLIER, 10);
            cases += 2;
        }
        /* strict mode: same status on both sides, with and without non-finite values */
        cfg.rounding = FP4_ROUND_RNE;
        cfg.nonfinite = FP4_NONFINITE_ERROR;
        fails += !run_fused_case(64, 48, 48, FP4_DTYPE_BF16, cfg, d, 0, D_SPECIAL, 11);
        fails += !run_fused_case(64, 48, 48, FP4_DTYPE_BF16, cfg, d, 0, D_NORMAL, 12);
        cases += 2;
    }
    /* the benchmark's shape, BF16 NVFP4 RNE */
    fails += !run_fused_case(8192, 8192, 8192, FP4_DTYPE_BF16, fp4_config_nvfp4(), 16, 0, D_NORMAL, 13);
    cases++;
    printf("\n    %d fused RHT+quantize cases, %d mismatches ", cases, fails);
    CU_ASSERT_EQUAL(fails, 0);
}

/* rht_quantize.cu's A/B hook (CUDA builds only; weak so that a CPU-only build links). */
extern void fp4_rht_quantize_bench_variant(int v) __attribute__((weak));

/* The BF16 strip-kernel shapes (M % 64 == 0, K % 64 == 0) under every pass-2 variant the
 * benchmark compares (0 default, 5 previous kernel, 6 forced 8-item strips), for NVFP4 (RHT16, TE
 * signs) and MXFP4 (RHT32, rceil and OCP scales, default and seeded signs), with RNE and SR, on
 * normal, tiny, huge, special and zero data. */
static void test_strip_variants(void) {
    if (!fp4_rht_quantize_bench_variant) {
        printf("\n    no variant hook in this build ");
        return;
    }
    int cases = 0, fails = 0;
    const int vars[] = {0, 5, 6};
    const int64_t shapes[][2] = {{64, 64}, {832, 192}, {4096, 1024}, {1024, 320}};
    const int kinds[] = {D_NORMAL, D_TINY, D_HUGE, D_SPECIAL, D_ZERO};
    for (int fmt = 0; fmt < 3; fmt++)
        for (int vi = 0; vi < 3; vi++)
            for (int rnd = 0; rnd < 2; rnd++)
                for (int si = 0; si < 4; si++)
                    for (int ki = 0; ki < 5; ki++) {
                        fp4_config cfg = fmt == 0 ? fp4_config_nvfp4() : fp4_config_mxfp4();
                        if (fmt == 2) cfg.scale_rule = FP4_SCALE_OCP;
                        cfg.rounding = rnd ? FP4_ROUND_SR : FP4_ROUND_RNE;
                        cfg.seed = 0xF01Dull + (uint64_t)ki;
                        cfg.stream = 5;
                        const uint64_t sseed = fmt && (si + ki) % 2 ? 777 + (uint64_t)ki : 0;
                        fp4_rht_quantize_bench_variant(vars[vi]);
                        const int ok = run_fused_case(shapes[si][0], shapes[si][1], shapes[si][1], FP4_DTYPE_BF16, cfg,
                                                      fmt ? 32 : 16, sseed, kinds[ki],
                                                      7000 + 100 * si + 10 * ki + rnd + 1000 * fmt);
                        if (!ok) fprintf(stderr, "    (variant %d)\n", vars[vi]);
                        fails += !ok;
                        cases++;
                    }
    fp4_rht_quantize_bench_variant(0);
    printf("\n    %d strip-kernel variant cases, %d mismatches ", cases, fails);
    CU_ASSERT_EQUAL(fails, 0);
}

static CU_TestInfo gpu_hadamard_tests[] = {
    {"FWHT/RHT d = 16 .. 32768 bit-identical to the CPU", test_fwht_bits},
    {"MR-GPTQ rotations bit-identical (rows, columns)", test_rotation_bits},
    {"fused RHT + columnwise quantize bit-identical (NVFP4, MXFP4; RNE, SR)", test_fused_bits},
    {"fused RHT + quantize strip-kernel variants bit-identical (NVFP4, MXFP4; tiny, huge, special)", test_strip_variants},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gpu_hadamard", suite_init, suite_clean, NULL, NULL, gpu_hadamard_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
