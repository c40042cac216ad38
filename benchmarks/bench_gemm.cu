/* benchmarks/bench_gemm.cu — FP4 GEMMs on Hopper against cuBLASLt BF16 and FP8, same run.
 *
 * Shapes: N = K in {4096, 8192}, M in {1, 16, 128, 2048, 8192} (TN: A/x [M,K], W [N,K], D [M,N]
 * BF16, beta = 0). Variants:
 *   w4a16_nv   fp4_gemm_w4a16, NVFP4 weight (fused kernel)     w4a16_mx  same, MXFP4 weight
 *   w4a16_2p   the two-pass baseline (decode to BF16 + cuBLASLt BF16), NVFP4 weight
 *   w4a4_nv    fp4_gemm NVFP4 x NVFP4 (fused)                   w4a4_mx   MXFP4 x MXFP4
 *   w4a4_2p    W4A4 NVFP4 two-pass baseline (decode both operands + cuBLASLt BF16)
 *   lt_bf16    cuBLASLt BF16 (through fp4_gemm_bf16: cached handle and plan)
 *   lt_fp8     cuBLASLt FP8 E4M3 x E4M3, per-tensor scales (device pointers), BF16 out, TN
 * Method (.library/device/METHOD.md): every variant is validated once vs the host reference on
 * small shapes (PASS/FAIL) before timing; random data only (never zeros); medians of 20
 * event-timed samples after warm-up; for M <= 128 each sample replays a CUDA graph of `inner` = 10
 * calls (host enqueue time never shows up as GPU idle time); weights rotate over enough copies that the
 * working set exceeds the 50 MB L2 for the memory-bound (small M) cases.
 * Reported: µs per call, TFLOP/s (2MNK), weight GB/s (packed codes + scales, or BF16/FP8 bytes),
 * speedup vs lt_bf16 and vs lt_fp8 (time ratio), RESULT lines, then a short table.
 * Same-run floors for M <= 16 (µs per call, same graph-of-10 method, same weight copies):
 *   rd_floor   a plain kernel reading the NVFP4 weight bytes once (codes + scales, 16-byte loads):
 *              what any W4A16 kernel must at least pay
 *   empty      an empty kernel of one CTA per SM: the per-call launch cost inside a graph
 *   rd_pdl / empty_pdl  the same two launched with programmatic dependent launch (each kernel
 *              triggers its dependents at its start and waits before its loads): the floors of
 *              a PDL kernel such as w4a16_gemv_kernel's default
 *   rd_act     rd_floor with one CTA per SM that also reads the whole BF16 activation [M, K]
 *              (what a design staging all of A in every CTA pays on top: the L2 broadcast)
 * Build: cmake --build build --target bench_gemm ; run: ./build/benchmarks/bench_gemm
 *   [quick | small | mid | gemv | gemvq [NK [M]]]  (quick: no M = 8192; small: only M <= 16; mid:
 *   M = 32, 64, 96, 128, the range where AUTO switches to two-pass (GEMM_AUTO_TWO_PASS_M*); gemv: only
 *   M <= 16 and only w4a16_nv, w4a16_mx, lt_bf16, lt_fp8 and the floors; gemvq: only w4a16_nv —
 *   for A/B runs of the small-M kernel under its diagnostic env switches, see
 *   kernels/gemm_w4a16_gemv.cu; NK / M: only that shape)
 */
#include <cublasLt.h>
#include <math.h>
#include <string.h>

#include "fp4kit/formats_inline.h" /* before bench_common.cuh, which uses its BF16 codec */
#include "bench_common.cuh"
#include "fp4kit/fp4kit.h"
#include "fp4kit/gemm.h"

#define LTCK(call)                                                                             \
    do {                                                                                       \
        cublasStatus_t s_ = (call);                                                            \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                     \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cublasLtGetStatusName(s_)); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static fp4_context *ctx;
static cudaStream_t stream;

/* ---- random device bytes (bench_common.cuh) ------------------------------------------------ */
static void fill_bytes(void *p, size_t n, uint64_t seed, int mode) {
    if (bench_fill_bytes(p, n, seed, mode, stream)) exit(1);
}

static void make_dev_q(fp4_qtensor *q, int64_t rows, int64_t cols, fp4_config cfg, uint64_t seed) {
    bench_make_q(ctx, stream, q, rows, cols, cfg, seed);
}

/* ---- cuBLASLt FP8 baseline (TN, per-tensor scales, BF16 out) ------------------------------ */
/* Hopper FP8 rules (shared/style/anchors.md §3.1): TN (both operands K-major), dims and lds
 * multiples of 16, 16-byte aligned pointers, compute 32F / scale 32F, scale pointers set before
 * the heuristic, D BF16 with C BF16. M is padded to a multiple of 16 (Mp rows of A and D; what a
 * caller would do for M = 1); the heuristic's candidates are tried in order on real buffers and
 * the first that runs is kept, every failure is printed. */
typedef struct {
    cublasLtHandle_t h;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulHeuristicResult_t res[8];
    int nres, pick;
    int64_t Mp;
    float *scales; /* device: scale_A (float 0), scale_B (float 4) */
    void *ws;
    int ok;
} fp8_plan;

#define FP8_WS ((size_t)32 << 20)

static void fp8_plan_make(fp8_plan *p, int64_t M, int64_t N, int64_t K) {
    memset(p, 0, sizeof *p);
    p->Mp = (M + 15) / 16 * 16;
    p->pick = -1;
    LTCK(cublasLtCreate(&p->h));
    LTCK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t T = CUBLAS_OP_T, Nn = CUBLAS_OP_N;
    LTCK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &T, sizeof T));
    LTCK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &Nn, sizeof Nn));
    /* scale_A at byte 0, scale_B at byte 16: cuBLASLt refuses (NOT_SUPPORTED at run time, the
     * heuristic still returns algorithms) scale pointers that are not 16-byte aligned */
    p->scales = (float *)bench_dev_alloc(8 * sizeof(float));
    const float one[8] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    BENCH_FP4(fp4_copy_to_device(ctx, p->scales, one, sizeof one));
    LTCK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &p->scales, sizeof(void *)));
    float *sb = p->scales + 4;
    LTCK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sb, sizeof(void *)));
    if (N % 16 || K % 16) {
        printf("lt_fp8 M=%lld N=%lld K=%lld: skipped (FP8 on Hopper needs N, K multiples of 16)\n", (long long)M,
               (long long)N, (long long)K);
        return;
    }
    LTCK(cublasLtMatrixLayoutCreate(&p->la, CUDA_R_8F_E4M3, K, N, K));
    LTCK(cublasLtMatrixLayoutCreate(&p->lb, CUDA_R_8F_E4M3, K, p->Mp, K));
    LTCK(cublasLtMatrixLayoutCreate(&p->lc, CUDA_R_16BF, N, p->Mp, N));
    cublasLtMatmulPreference_t pref;
    LTCK(cublasLtMatmulPreferenceCreate(&pref));
    size_t wsb = FP8_WS;
    LTCK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb));
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(p->h, p->op, p->la, p->lb, p->lc, p->lc, pref, 8, p->res, &p->nres);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st == CUBLAS_STATUS_SUCCESS && p->nres > 0) {
        p->ok = 1;
        p->ws = bench_dev_alloc(wsb);
    } else {
        printf("lt_fp8 M=%lld N=%lld K=%lld: no cuBLASLt algorithm (%s, %d found)\n", (long long)M, (long long)N,
               (long long)K, cublasLtGetStatusName(st), p->nres);
    }
}
static cublasStatus_t fp8_run_algo(fp8_plan *p, int i, const void *A, const void *W, void *D) {
    const float alpha = 1.0f, beta = 0.0f;
    return cublasLtMatmul(p->h, p->op, &alpha, W, p->la, A, p->lb, &beta, D, p->lc, D, p->lc, &p->res[i].algo, p->ws,
                          FP8_WS, stream);
}
/* Try the candidates on real buffers (A: Mp x K, D: Mp x N); keep the first that runs cleanly. */
static void fp8_pick(fp8_plan *p, const void *A, const void *W, void *D) {
    if (!p->ok) return;
    for (int i = 0; i < p->nres && p->pick < 0; i++) {
        (void)cudaGetLastError();
        const cublasStatus_t cs = fp8_run_algo(p, i, A, W, D);
        const cudaError_t se = cudaStreamSynchronize(stream);
        const cudaError_t le = cudaGetLastError();
        if (cs == CUBLAS_STATUS_SUCCESS && se == cudaSuccess) {
            p->pick = i;
            if (le != cudaSuccess) printf("lt_fp8: candidate %d ran; cleared a stale CUDA error (%s)\n", i, cudaGetErrorName(le));
        } else {
            printf("lt_fp8: candidate %d of %d failed: cuBLASLt %s, stream %s, last error %s\n", i, p->nres,
                   cublasLtGetStatusName(cs), cudaGetErrorName(se), cudaGetErrorName(le));
        }
    }
    if (p->pick < 0) p->ok = 0;
}
static cublasStatus_t fp8_run(fp8_plan *p, const void *A, const void *W, void *D) {
    return fp8_run_algo(p, p->pick, A, W, D);
}
static void fp8_plan_free(fp8_plan *p) {
    cublasLtMatmulDescDestroy(p->op);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
    cublasLtDestroy(p->h);
    fp4_device_free(p->scales);
    if (p->ws) fp4_device_free(p->ws);
}

/* Events around fn, median of reps after warm-up; -1 only when the stream reports an error (a
 * stale non-sticky error left by a library call is cleared and printed, not counted). */
template <typename F>
static float time_ms(int warm, int reps, F fn) {
    (void)cudaGetLastError();
    const float m = bench_time_ms(stream, warm, reps, fn);
    if (m > 0) return m;
    const cudaError_t se = cudaStreamSynchronize(stream);
    if (se != cudaSuccess) {
        printf("timing: stream error %s\n", cudaGetErrorName(se));
        return -1.0f;
    }
    printf("timing: a library call left a non-sticky CUDA error; re-timing\n");
    (void)cudaGetLastError();
    const float m2 = bench_time_ms(stream, 1, reps, fn);
    if (m2 > 0) return m2;
    (void)cudaGetLastError();
    /* still reported: time without the error check (the stream itself is healthy) */
    cudaEvent_t a, b;
    cudaEventCreate(&a), cudaEventCreate(&b);
    float t[64];
    const int n = reps < 64 ? reps : 64;
    for (int i = 0; i < n; i++) {
        cudaEventRecord(a, stream);
        fn(i);
        cudaEventRecord(b, stream);
        cudaEventSynchronize(b);
        cudaEventElapsedTime(&t[i], a, b);
    }
    cudaEventDestroy(a), cudaEventDestroy(b);
    (void)cudaGetLastError();
    return cudaStreamSynchronize(stream) == cudaSuccess ? bench_median(t, n) : -1.0f;
}

/* ---- validation on small shapes ----------------------------------------------------------- */
static double rel_err_f32(const float *g, const float *w, size_t n, int *nonfinite) {
    double num = 0, den = 0;
    *nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(g[i])) (*nonfinite)++;
        num += ((double)g[i] - w[i]) * ((double)g[i] - w[i]);
        den += (double)w[i] * w[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static void host_q(fp4_qtensor *h, fp4_qtensor *d, int64_t rows, int64_t cols, fp4_config cfg, uint64_t seed) {
    make_dev_q(d, rows, cols, cfg, seed);
    BENCH_FP4(fp4_qtensor_alloc(h, rows, cols, &cfg, FP4_HOST));
    BENCH_FP4(fp4_context_sync(ctx));
    BENCH_FP4(fp4_copy_to_host(ctx, h->data, d->data, fp4_qtensor_data_bytes(d)));
    BENCH_FP4(fp4_copy_to_host(ctx, h->scales, d->scales, fp4_qtensor_scale_bytes(d)));
    h->amax = d->amax, h->s_enc = d->s_enc, h->s_dec = d->s_dec;
}

static int validate_all(void) {
    int fails = 0;
    const int64_t Ms[2] = {5, 200}, N = 203, K = 512;
    for (int mi = 0; mi < 2; mi++) {
        const int64_t M = Ms[mi];
        fp4_qtensor wnh, wnd, wmh, wmd, anh, and_, amh, amd;
        host_q(&wnh, &wnd, N, K, fp4_config_nvfp4(), 11);
        host_q(&wmh, &wmd, N, K, fp4_config_mxfp4(), 12);
        host_q(&anh, &and_, M, K, fp4_config_nvfp4(), 13);
        host_q(&amh, &amd, M, K, fp4_config_mxfp4(), 14);
        uint16_t *xd = (uint16_t *)bench_dev_alloc(2 * M * K), *bd = (uint16_t *)bench_dev_alloc(2 * N * K);
        bench_fill_bf16(xd, M * K, 15, 1.0f);
        bench_fill_bf16(bd, N * K, 16, 1.0f);
        uint16_t *xh = (uint16_t *)malloc(2 * M * K), *bh = (uint16_t *)malloc(2 * N * K);
        BENCH_FP4(fp4_copy_to_host(ctx, xh, xd, 2 * M * K));
        BENCH_FP4(fp4_copy_to_host(ctx, bh, bd, 2 * N * K));
        float *dd = (float *)bench_dev_alloc(4 * M * N), *got = (float *)malloc(4 * M * N), *want = (float *)malloc(4 * M * N);
        fp4_view xv = fp4_view_make(xd, FP4_DTYPE_BF16, M, K, FP4_DEVICE), xhv = fp4_view_make(xh, FP4_DTYPE_BF16, M, K, FP4_HOST);
        fp4_view bv = fp4_view_make(bd, FP4_DTYPE_BF16, N, K, FP4_DEVICE), bhv = fp4_view_make(bh, FP4_DTYPE_BF16, N, K, FP4_HOST);
        fp4_view dv = fp4_view_make(dd, FP4_DTYPE_F32, M, N, FP4_DEVICE), dhv = fp4_view_make(want, FP4_DTYPE_F32, M, N, FP4_HOST);
        for (int v = 0; v < 8; v++) {
            const char *name = "";
            cudaMemsetAsync(dd, 0xff, 4 * M * N, stream);
            switch (v) {
            case 0: name = "w4a16_nv"; BENCH_FP4(fp4_gemm_w4a16(ctx, &xv, &wnd, 1, NULL, 0, &dv)); BENCH_FP4(fp4_gemm_w4a16(NULL, &xhv, &wnh, 1, NULL, 0, &dhv)); break;
            case 1: name = "w4a16_mx"; BENCH_FP4(fp4_gemm_w4a16(ctx, &xv, &wmd, 1, NULL, 0, &dv)); BENCH_FP4(fp4_gemm_w4a16(NULL, &xhv, &wmh, 1, NULL, 0, &dhv)); break;
            case 2: name = "w4a16_2p"; BENCH_FP4(fp4_gemm_w4a16_ex(ctx, &xv, &wnd, 1, NULL, 0, &dv, FP4_GEMM_ALGO_TWO_PASS)); BENCH_FP4(fp4_gemm_w4a16(NULL, &xhv, &wnh, 1, NULL, 0, &dhv)); break;
            case 3: name = "w4a4_nv"; BENCH_FP4(fp4_gemm(ctx, &and_, &wnd, 1, NULL, 0, &dv, FP4_ALPHA_SDEC)); BENCH_FP4(fp4_gemm(NULL, &anh, &wnh, 1, NULL, 0, &dhv, FP4_ALPHA_SDEC)); break;
            case 4: name = "w4a4_mx"; BENCH_FP4(fp4_gemm(ctx, &amd, &wmd, 1, NULL, 0, &dv, FP4_ALPHA_SDEC)); BENCH_FP4(fp4_gemm(NULL, &amh, &wmh, 1, NULL, 0, &dhv, FP4_ALPHA_SDEC)); break;
            case 6: name = "w4a16_fu"; BENCH_FP4(fp4_gemm_w4a16_ex(ctx, &xv, &wnd, 1, NULL, 0, &dv, FP4_GEMM_ALGO_FUSED)); BENCH_FP4(fp4_gemm_w4a16(NULL, &xhv, &wnh, 1, NULL, 0, &dhv)); break;
            case 7: name = "w4a4_fu"; BENCH_FP4(fp4_gemm_ex(ctx, &and_, &wnd, 1, NULL, 0, &dv, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_FUSED)); BENCH_FP4(fp4_gemm(NULL, &anh, &wnh, 1, NULL, 0, &dhv, FP4_ALPHA_SDEC)); break;
            case 5: name = "lt_bf16"; BENCH_FP4(fp4_gemm_bf16(ctx, &xv, &bv, 1, NULL, 0, &dv)); BENCH_FP4(fp4_gemm_bf16(NULL, &xhv, &bhv, 1, NULL, 0, &dhv)); break;
            }
            BENCH_FP4(fp4_context_sync(ctx));
            BENCH_FP4(fp4_copy_to_host(ctx, got, dd, 4 * M * N));
            int nf = 0;
            const double e = rel_err_f32(got, want, M * N, &nf);
            const int ok = e <= 1e-5 && nf == 0;
            fails += !ok;
            printf("validate %-9s M=%-4lld N=%lld K=%lld: rel err %.2e, non-finite %d: %s\n", name, (long long)M,
                   (long long)N, (long long)K, e, nf, ok ? "PASS" : "FAIL");
        }
        /* FP8 baseline: E4M3 bytes vs an FP64 host product */
        {
            const int64_t N8 = (N + 15) / 16 * 16, Mp = (M + 15) / 16 * 16; /* FP8: multiples of 16 */
            uint8_t *a8 = (uint8_t *)bench_dev_alloc(Mp * K), *w8 = (uint8_t *)bench_dev_alloc(N8 * K);
            fill_bytes(a8, Mp * K, 17, 3);
            fill_bytes(w8, N8 * K, 18, 3);
            uint16_t *d16 = (uint16_t *)bench_dev_alloc(2 * Mp * N8);
            fp8_plan p;
            fp8_plan_make(&p, M, N8, K);
            fp8_pick(&p, a8, w8, d16);
            if (p.ok) {
                LTCK(fp8_run(&p, a8, w8, d16));
                BENCH_FP4(fp4_context_sync(ctx));
                uint8_t *ah = (uint8_t *)malloc(M * K), *wh = (uint8_t *)malloc(N * K);
                uint16_t *oh = (uint16_t *)malloc(2 * M * N8);
                BENCH_FP4(fp4_copy_to_host(ctx, ah, a8, M * K));
                BENCH_FP4(fp4_copy_to_host(ctx, wh, w8, N * K));
                BENCH_FP4(fp4_copy_to_host(ctx, oh, d16, 2 * M * N8));
                for (int64_t m = 0; m < M; m++)
                    for (int64_t n = 0; n < N; n++) {
                        double s = 0;
                        for (int64_t k = 0; k < K; k++) s += (double)fp4_e4m3_decode(ah[m * K + k]) * fp4_e4m3_decode(wh[n * K + k]);
                        want[m * N + n] = (float)s;
                        got[m * N + n] = fp4_bf16_to_f32(oh[m * N8 + n]);
                    }
                int nf = 0;
                const double e = rel_err_f32(got, want, M * N, &nf);
                const int ok = e <= 1e-2 && nf == 0; /* BF16 output: ~2^-9 relative */
                fails += !ok;
                printf("validate %-9s M=%-4lld N=%lld K=%lld: rel err %.2e (bf16 out; run as M=%lld N=%lld): %s\n", "lt_fp8",
                       (long long)M, (long long)N, (long long)K, e, (long long)Mp, (long long)N8, ok ? "PASS" : "FAIL");
                free(ah), free(wh), free(oh);
            } else {
                printf("validate %-9s M=%-4lld N=%lld K=%lld: no runnable algorithm: FAIL\n", "lt_fp8", (long long)M,
                       (long long)N8, (long long)K);
                fails++;
            }
            fp8_plan_free(&p);
            fp4_device_free(a8), fp4_device_free(w8), fp4_device_free(d16);
        }
        fp4_qtensor_free(&wnh), fp4_qtensor_free(&wnd), fp4_qtensor_free(&wmh), fp4_qtensor_free(&wmd);
        fp4_qtensor_free(&anh), fp4_qtensor_free(&and_), fp4_qtensor_free(&amh), fp4_qtensor_free(&amd);
        fp4_device_free(xd), fp4_device_free(bd), fp4_device_free(dd);
        free(xh), free(bh), free(got), free(want);
    }
    return fails;
}

/* ---- timing ------------------------------------------------------------------------------- */
/* w4a16_nv / w4a4_nv / _mx: the default call (AUTO); w4a16_fu / w4a4_fu: FP4_GEMM_ALGO_FUSED
 * (the fused kernels alone, NVFP4); w4a16_2p: TWO_PASS. */
enum { V_W4A16_NV, V_W4A16_FU, V_W4A16_MX, V_W4A16_2P, V_W4A4_NV, V_W4A4_FU, V_W4A4_MX, V_W4A4_2P, V_BF16, V_FP8, NV_ };
static const char *vname[NV_] = {"w4a16_nv", "w4a16_fu", "w4a16_mx", "w4a16_2p", "w4a4_nv",
                                 "w4a4_fu",  "w4a4_mx",  "w4a4_2p",  "lt_bf16",  "lt_fp8"};

typedef struct {
    int64_t M, NK;
    double us[NV_];
    double rd_us, empty_us, rdp_us, emp_us, rda_us; /* floors (M <= 16), -1 when not measured */
} row_t;

static int only_gemv; /* mode "gemv" (1) or "gemvq" (2) */

/* ---- floors for the weight-streaming (small M) cases ------------------------------------- */
/* Read n16 16-byte words of codes and ns16 of scales once (grid-stride, 4 loads in flight per
 * thread); the XOR is stored only if it hits an impossible value, so nothing is optimized away. */
__device__ __forceinline__ void floor_pdl(int pdl) {
    if (pdl) asm volatile("griddepcontrol.launch_dependents;\n griddepcontrol.wait;" ::: "memory");
}
__global__ void floor_read_kernel(const uint4 *codes, size_t n16, const uint4 *scales, size_t ns16, unsigned *sink,
                                  int pdl, const uint4 *act, size_t na16) {
    floor_pdl(pdl);
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    uint32_t x = 0;
    for (size_t j = threadIdx.x; j < na16; j += blockDim.x) { /* rd_act: the whole activation per CTA */
        const uint4 v = __ldg(act + j);
        x ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    for (; i + 3 * stride < n16; i += 4 * stride) {
        uint4 v[4];
#pragma unroll
        for (int u = 0; u < 4; u++) v[u] = __ldg(codes + i + u * stride);
#pragma unroll
        for (int u = 0; u < 4; u++) x ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
    }
    for (; i < n16; i += stride) {
        const uint4 v = __ldg(codes + i);
        x ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < ns16; j += stride) {
        const uint4 v = __ldg(scales + j);
        x ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (x == 0x9e3779b9u) *sink = x;
}
__global__ void floor_empty_kernel(int pdl) { floor_pdl(pdl); }

/* Graph of 10 calls (as the GEMMs), rotating over the same weight copies; µs per call.
 * which: 0 rd_floor, 1 empty, 2 rd_pdl, 3 empty_pdl, 4 rd_act (act: the BF16 activation). */
static double floor_time(int which, fp4_qtensor *w, int rot, unsigned *sink, const void *act, size_t act_bytes) {
    int sms = 132;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    const int pdl = which == 2 || which == 3, rd = which != 1 && which != 3;
    auto call = [&](int i) {
        for (int j = 0; j < 10; j++) {
            const fp4_qtensor *q = &w[(i * 10 + j) % rot];
            cudaLaunchConfig_t cfg;
            memset(&cfg, 0, sizeof cfg);
            cudaLaunchAttribute at[1];
            at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
            at[0].val.programmaticStreamSerializationAllowed = 1;
            cfg.gridDim = dim3(rd && which != 4 ? 2 * sms : sms);
            cfg.blockDim = dim3(512);
            cfg.stream = stream;
            cfg.attrs = at;
            cfg.numAttrs = pdl;
            if (rd)
                cudaLaunchKernelEx(&cfg, floor_read_kernel, (const uint4 *)q->data, fp4_qtensor_data_bytes(q) / 16,
                                   (const uint4 *)q->scales, fp4_qtensor_scale_bytes(q) / 16, sink, pdl,
                                   (const uint4 *)act, which == 4 ? act_bytes / 16 : (size_t)0);
            else cudaLaunchKernelEx(&cfg, floor_empty_kernel, pdl);
        }
    };
    call(0);
    cudaStreamSynchronize(stream);
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    float ms = -1.0f;
    if (cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess) {
        call(0);
        if (cudaStreamEndCapture(stream, &graph) == cudaSuccess && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess)
            ms = time_ms(3, 20, [&](int) { cudaGraphLaunch(exec, stream); });
    }
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    return ms > 0 ? 1e3 * ms / 10 : -1.0;
}

static void bench_shape(int64_t M, int64_t NK, row_t *row) {
    const int64_t N = NK, K = NK;
    const double wbytes_nv = (double)N * K * 0.5625, wbytes_mx = (double)N * K * 0.53125;
    const double wbytes[NV_] = {wbytes_nv, wbytes_nv, wbytes_mx, wbytes_nv, wbytes_nv,
                                wbytes_nv, wbytes_mx, wbytes_nv, (double)N * K * 2, (double)N * K};
    /* rotation: enough weight copies that each variant's set exceeds ~150 MB for small M */
    int rot[NV_];
    for (int v = 0; v < NV_; v++) {
        int r = (int)ceil(150e6 / wbytes[v]);
        rot[v] = M >= 2048 ? 1 : (r < 2 ? 2 : (r > 16 ? 16 : r));
    }
    const int inner = M <= 128 ? 10 : 1;
    fp4_qtensor wn[16], wm[16], an, am;
    uint16_t *wb[16];
    uint8_t *w8[16];
    for (int v = 0; v < NV_; v++) /* variants sharing a weight set rotate over the same copies */
        if (v == V_W4A16_FU || v == V_W4A16_2P || v == V_W4A4_NV || v == V_W4A4_FU || v == V_W4A4_2P) rot[v] = rot[V_W4A16_NV];
        else if (v == V_W4A4_MX) rot[v] = rot[V_W4A16_MX];
    for (int i = 0; i < rot[V_W4A16_NV]; i++) make_dev_q(&wn[i], N, K, fp4_config_nvfp4(), 100 + i);
    for (int i = 0; i < rot[V_W4A16_MX]; i++) make_dev_q(&wm[i], N, K, fp4_config_mxfp4(), 200 + i);
    for (int i = 0; i < rot[V_BF16]; i++) { wb[i] = (uint16_t *)bench_dev_alloc(2 * N * K); bench_fill_bf16(wb[i], N * K, 300 + i, 1.0f); }
    for (int i = 0; i < rot[V_FP8]; i++) { w8[i] = (uint8_t *)bench_dev_alloc(N * K); fill_bytes(w8[i], N * K, 400 + i, 3); }
    make_dev_q(&an, M, K, fp4_config_nvfp4(), 500);
    make_dev_q(&am, M, K, fp4_config_mxfp4(), 501);
    uint16_t *x = (uint16_t *)bench_dev_alloc(2 * M * K), *d = (uint16_t *)bench_dev_alloc(2 * M * N);
    fp8_plan p8;
    fp8_plan_make(&p8, M, N, K);
    uint8_t *x8 = (uint8_t *)bench_dev_alloc(p8.Mp * K);
    uint16_t *d8 = (uint16_t *)bench_dev_alloc(2 * p8.Mp * N);
    bench_fill_bf16(x, M * K, 600, 1.0f);
    fill_bytes(x8, p8.Mp * K, 601, 3);
    fp8_pick(&p8, x8, w8[0], d8);
    fp4_view xv = fp4_view_make(x, FP4_DTYPE_BF16, M, K, FP4_DEVICE), dv = fp4_view_make(d, FP4_DTYPE_BF16, M, N, FP4_DEVICE);
    BENCH_FP4(fp4_context_sync(ctx));
    for (int v = 0; v < NV_; v++) {
        row->us[v] = -1;
        if (v == V_FP8 && !p8.ok) continue;
        if (only_gemv == 1 && v != V_W4A16_NV && v != V_W4A16_MX && v != V_BF16 && v != V_FP8) continue;
        if (only_gemv == 2 && v != V_W4A16_NV) continue;
        int fail = 0;
        auto call = [&](int i) {
            for (int j = 0; j < inner; j++) {
                const int r = (i * inner + j) % rot[v];
                fp4_status st = FP4_OK;
                switch (v) {
                case V_W4A16_NV: st = fp4_gemm_w4a16(ctx, &xv, &wn[r], 1, NULL, 0, &dv); break;
                case V_W4A16_MX: st = fp4_gemm_w4a16(ctx, &xv, &wm[r], 1, NULL, 0, &dv); break;
                case V_W4A16_FU: st = fp4_gemm_w4a16_ex(ctx, &xv, &wn[r], 1, NULL, 0, &dv, FP4_GEMM_ALGO_FUSED); break;
                case V_W4A4_FU: st = fp4_gemm_ex(ctx, &an, &wn[r], 1, NULL, 0, &dv, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_FUSED); break;
                case V_W4A16_2P: st = fp4_gemm_w4a16_ex(ctx, &xv, &wn[r], 1, NULL, 0, &dv, FP4_GEMM_ALGO_TWO_PASS); break;
                case V_W4A4_NV: st = fp4_gemm(ctx, &an, &wn[r], 1, NULL, 0, &dv, FP4_ALPHA_SDEC); break;
                case V_W4A4_MX: st = fp4_gemm(ctx, &am, &wm[r], 1, NULL, 0, &dv, FP4_ALPHA_SDEC); break;
                case V_W4A4_2P: st = fp4_gemm_ex(ctx, &an, &wn[r], 1, NULL, 0, &dv, FP4_ALPHA_SDEC, FP4_GEMM_ALGO_TWO_PASS); break;
                case V_BF16: {
                    fp4_view bv = fp4_view_make(wb[r], FP4_DTYPE_BF16, N, K, FP4_DEVICE);
                    st = fp4_gemm_bf16(ctx, &xv, &bv, 1, NULL, 0, &dv);
                    break;
                }
                case V_FP8: {
                    const cublasStatus_t cs = fp8_run(&p8, x8, w8[r], d8);
                    if (cs != CUBLAS_STATUS_SUCCESS) {
                        if (!fail) fprintf(stderr, "lt_fp8: cublasLtMatmul: %s\n", cublasLtGetStatusName(cs));
                        fail = 1;
                    }
                    break;
                }
                }
                if (st != FP4_OK) {
                    if (!fail) fprintf(stderr, "%s: %s\n", vname[v], fp4_last_error());
                    fail = 1;
                }
            }
        };
        /* small M: capture `inner` calls (one pass over the rotation) in a CUDA graph, so launch
         * and host overheads of both fp4kit and cuBLASLt stay out of the GPU time; fall back to
         * direct calls if capture fails. */
        float ms = -1.0f;
        if (inner > 1) {
            call(0);
            cudaStreamSynchronize(stream);
            cudaGraph_t graph = NULL;
            cudaGraphExec_t exec = NULL;
            int cap_fail = fail;
            if (!cap_fail && cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess) {
                call(0);
                cap_fail |= fail;
                if (cudaStreamEndCapture(stream, &graph) != cudaSuccess || cap_fail ||
                    cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess)
                    cap_fail = 1;
            } else {
                cap_fail = 1;
            }
            (void)cudaGetLastError();
            fail = 0;
            if (!cap_fail) ms = time_ms(3, 20, [&](int) { cudaGraphLaunch(exec, stream); });
            else printf("%s M=%lld N=K=%lld: graph capture failed, timing direct calls\n", vname[v], (long long)M, (long long)NK);
            if (exec) cudaGraphExecDestroy(exec);
            if (graph) cudaGraphDestroy(graph);
        }
        if (ms <= 0) ms = time_ms(3, 20, call);
        if (fail || ms <= 0) { printf("%s M=%lld N=K=%lld: FAILED to run\n", vname[v], (long long)M, (long long)NK); continue; }
        row->us[v] = 1e3 * ms / inner;
    }
    for (int v = 0; v < NV_; v++) {
        if (row->us[v] <= 0) continue;
        const double t = row->us[v] * 1e-6;
        const double tf = 2.0 * M * N * K / t / 1e12, gb = wbytes[v] / t / 1e9;
        const double xb = row->us[V_BF16] > 0 ? row->us[V_BF16] / row->us[v] : 0;
        const double x8r = row->us[V_FP8] > 0 ? row->us[V_FP8] / row->us[v] : 0;
        BENCH_RESULT("gemm|%s M=%lld N=K=%lld|us=%.2f|tflops=%.1f|weight_gbps=%.0f|speedup_vs_bf16=%.2f|speedup_vs_fp8=%.2f",
                     vname[v], (long long)M, (long long)NK, row->us[v], tf, gb, xb, x8r);
    }
    row->M = M, row->NK = NK;
    row->rd_us = row->empty_us = row->rdp_us = row->emp_us = row->rda_us = -1;
    if (M <= 16) {
        unsigned *sink = (unsigned *)bench_dev_alloc(sizeof(unsigned));
        row->rd_us = floor_time(0, wn, rot[V_W4A16_NV], sink, x, 2 * M * K);
        row->empty_us = floor_time(1, wn, rot[V_W4A16_NV], sink, x, 2 * M * K);
        row->rdp_us = floor_time(2, wn, rot[V_W4A16_NV], sink, x, 2 * M * K);
        row->emp_us = floor_time(3, wn, rot[V_W4A16_NV], sink, x, 2 * M * K);
        row->rda_us = floor_time(4, wn, rot[V_W4A16_NV], sink, x, 2 * M * K);
        fp4_device_free(sink);
        if (row->rdp_us > 0)
            BENCH_RESULT("gemm|rd_pdl M=%lld N=K=%lld|us=%.2f|weight_gbps=%.0f", (long long)M, (long long)NK, row->rdp_us,
                         wbytes_nv / (row->rdp_us * 1e-6) / 1e9);
        if (row->emp_us > 0) BENCH_RESULT("gemm|empty_pdl M=%lld N=K=%lld|us=%.2f", (long long)M, (long long)NK, row->emp_us);
        if (row->rda_us > 0) BENCH_RESULT("gemm|rd_act M=%lld N=K=%lld|us=%.2f", (long long)M, (long long)NK, row->rda_us);
        if (row->rd_us > 0)
            BENCH_RESULT("gemm|rd_floor M=%lld N=K=%lld|us=%.2f|weight_gbps=%.0f", (long long)M, (long long)NK, row->rd_us,
                         wbytes_nv / (row->rd_us * 1e-6) / 1e9);
        if (row->empty_us > 0) BENCH_RESULT("gemm|empty M=%lld N=K=%lld|us=%.2f", (long long)M, (long long)NK, row->empty_us);
    }
    fp8_plan_free(&p8);
    for (int i = 0; i < rot[V_W4A16_NV]; i++) fp4_qtensor_free(&wn[i]);
    for (int i = 0; i < rot[V_W4A16_MX]; i++) fp4_qtensor_free(&wm[i]);
    for (int i = 0; i < rot[V_BF16]; i++) fp4_device_free(wb[i]);
    for (int i = 0; i < rot[V_FP8]; i++) fp4_device_free(w8[i]);
    fp4_qtensor_free(&an), fp4_qtensor_free(&am);
    fp4_device_free(x), fp4_device_free(d), fp4_device_free(x8), fp4_device_free(d8);
}

int main(int argc, char **argv) {
    only_gemv = argc > 1 && !strcmp(argv[1], "gemv") ? 1 : argc > 1 && !strcmp(argv[1], "gemvq") ? 2 : 0;
    const long long only_nk = only_gemv && argc > 2 ? atoll(argv[2]) : 0, only_m = only_gemv && argc > 3 ? atoll(argv[3]) : 0;
    const int quick = argc > 1 && (!strcmp(argv[1], "quick") || !strcmp(argv[1], "small") || only_gemv);
    const int small = argc > 1 && (!strcmp(argv[1], "small") || only_gemv); /* M <= 16 only */
    BENCH_FP4(fp4_context_create_cuda(0, NULL, &ctx));
    stream = (cudaStream_t)fp4_context_stream(ctx);
    bench_print_device();
    const double copy = bench_copy_gbps(stream);
    printf("device-to-device copy: %.0f GB/s (read + write)\n", copy);
    BENCH_RESULT("gemm|ceiling copy|gbps=%.0f", copy);
    const int fails = validate_all();
    printf("validation: %s\n", fails ? "FAIL" : "PASS");
    const int mid = argc > 1 && !strcmp(argv[1], "mid");
    const int64_t Ms_full[5] = {1, 16, 128, 2048, 8192}, Ms_mid[5] = {32, 64, 96, 128, 0}, NKs[2] = {4096, 8192};
    const int64_t *Ms = mid ? Ms_mid : Ms_full;
    row_t rows[10];
    int nr = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 5; b++) {
            if (!Ms[b]) continue;
            if (quick && Ms[b] == 8192) continue;
            if (small && Ms[b] > 16) continue;
            if ((only_nk && NKs[a] != only_nk) || (only_m && Ms[b] != only_m)) continue;
            bench_shape(Ms[b], NKs[a], &rows[nr++]);
        }
    printf("\n%-6s %-5s", "N=K", "M");
    for (int v = 0; v < NV_; v++) printf(" %9s", vname[v]);
    printf("   (µs per call; w4a16_nv speedup vs bf16 / fp8; w4a16_nv, w4a4_nv TFLOP/s and %% of lt_bf16)\n");
    for (int i = 0; i < nr; i++) {
        printf("%-6lld %-5lld", (long long)rows[i].NK, (long long)rows[i].M);
        for (int v = 0; v < NV_; v++) printf(" %9.1f", rows[i].us[v]);
        const double *u = rows[i].us;
        const double fl = 2.0 * rows[i].M * rows[i].NK * rows[i].NK;
        printf("   %.2fx %.2fx  %.0f %.0f  %.0f%% %.0f%%\n", u[V_BF16] > 0 ? u[V_BF16] / u[V_W4A16_NV] : 0,
               u[V_FP8] > 0 ? u[V_FP8] / u[V_W4A16_NV] : 0, fl / (u[V_W4A16_NV] * 1e6), fl / (u[V_W4A4_NV] * 1e6),
               100.0 * u[V_BF16] / u[V_W4A16_NV], 100.0 * u[V_BF16] / u[V_W4A4_NV]);
    }
    printf("\n%-6s %-5s %9s %9s %9s %9s %9s %9s %9s %9s %9s   (µs; floors: rd_floor = read the NVFP4 weight once, "
           "empty = launch, _pdl = the same under PDL, rd_act = rd_floor + A read by every CTA)\n",
           "N=K", "M", "w4a16_nv", "w4a16_mx", "rd_floor", "empty", "rd_pdl", "empty_pdl", "rd_act", "need", "vs_bf16");
    for (int i = 0; i < nr; i++) {
        if (rows[i].M > 16) continue;
        const double *u = rows[i].us;
        const double need = u[V_BF16] > 0 && u[V_FP8] > 0 ? fmin(u[V_BF16] / 2.5, u[V_FP8]) : -1;
        printf("%-6lld %-5lld %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %8.2fx  %s\n", (long long)rows[i].NK,
               (long long)rows[i].M, u[V_W4A16_NV], u[V_W4A16_MX], rows[i].rd_us, rows[i].empty_us, rows[i].rdp_us,
               rows[i].emp_us, rows[i].rda_us, need, u[V_BF16] / u[V_W4A16_NV],
               u[V_W4A16_NV] > 0 && u[V_W4A16_NV] <= need && u[V_W4A16_NV] < u[V_FP8] ? "target met" : "target missed");
    }
    fp4_context_destroy(ctx);
    return fails ? 1 : 0;
}
