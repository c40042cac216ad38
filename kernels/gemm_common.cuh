/* kernels/gemm_common.cuh — device pieces shared by the FP4 GEMM kernels (gemm_w4a4.cu,
 * gemm_w4a16.cu, gemm_cublaslt.cu): exact E2M1 → BF16 decode in registers, block-scale → BF16,
 * the BF16 tensor-core instruction (mma.sync m16n8k16, FP32 accumulate), ldmatrix, cp.async,
 * and the FP32 epilogue (tensor scales read on the device, alpha, beta·C, F32/BF16 store).
 *
 * Decode (exact, no table): for 8 codes in a 32-bit word (element i in nibble i, i.e. element
 * 2j in the low nibble of byte j) e2m1x8_biased() returns 4 bf16x2 words holding the pairs
 * (0,1) (2,3) (4,5) (6,7) with each value equal to e2m1 · 2^-126: the code's sign goes to bf16
 * bit 15 and its 3 magnitude bits (e1 e0 m) to bf16 bits 8..6, i.e. exponent field e1e0 and
 * mantissa m — exactly E2M1's own encoding (incl. its subnormal 0.5) shifted down by 2^126.
 * bf16x2_scale() then multiplies by 2^126 and by the block scale (bf16 multiplies, exact: the
 * operands have 2 and <= 4 significant bits). PTX bf16 arithmetic has no flush-to-zero mode, so
 * the subnormal intermediate is kept.
 *
 * mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 fragments (PTX ISA), lane = 4g + t:
 *   A (16x16, row): a0 = A[g][2t..2t+1]   a1 = A[g+8][2t..]   a2 = A[g][2t+8..]   a3 = A[g+8][2t+8..]
 *   B (16x8, col):  b0 = B[2t..2t+1][g]   b1 = B[2t+8..2t+9][g]   (B[k][n] = W[n][k]: a K-major row)
 *   C (16x8):       c0,c1 = C[g][2t..2t+1]   c2,c3 = C[g+8][2t..2t+1]
 */
#ifndef FP4KIT_GEMM_COMMON_CUH
#define FP4KIT_GEMM_COMMON_CUH

#include <stdint.h>

#include "cuda_common.cuh"

/* ---------------------------------------------------------------------------------------- */
/* decode                                                                                     */

__device__ __forceinline__ void e2m1x8_biased(uint32_t w, uint32_t out[4]) {
    const uint32_t lo = w << 4; /* byte j of lo: low nibble of w's byte j in bits 7..4 */
#pragma unroll
    for (int j = 0; j < 4; j++) {
        /* byte 1 <- lo.byte j (low nibble of byte j in bits 15..12), byte 3 <- w.byte j (high
         * nibble in bits 31..28); bytes 0 and 2 are don't-care (masked below). */
        const uint32_t x = __byte_perm(lo, w, (uint32_t)((j << 4) | ((4 + j) << 12)));
        out[j] = (x & 0x80008000u) | ((x >> 6) & 0x01C001C0u);
    }
}

__device__ __forceinline__ uint32_t bf16x2_mul(uint32_t a, uint32_t b) {
    uint32_t d;
    asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
    return d;
}

/* biased e2m1 pair · 2^126 · scale pair (both exact). */
__device__ __forceinline__ uint32_t bf16x2_scale(uint32_t biased, uint32_t scale2) {
    return bf16x2_mul(bf16x2_mul(biased, 0x7E807E80u), scale2);
}

/* 16 packed bytes (32 E2M1 codes, element 2j in the low nibble of byte j) → 16 bf16x2 words of
 * decoded values: out[4i + j] = pair j of 32-bit word i, times sc0 for words 0-1 and sc1 for words
 * 2-3 (NVFP4: the two 16-element blocks' scales; MXFP4: sc0 == sc1). Exact (see above). */
__device__ __forceinline__ void decode_q16(const uint4 q, uint32_t sc0, uint32_t sc1, uint32_t out[16]) {
    const uint32_t words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t o[4];
        e2m1x8_biased(words[i], o);
#pragma unroll
        for (int j = 0; j < 4; j++) out[4 * i + j] = bf16x2_scale(o[j], i < 2 ? sc0 : sc1);
    }
}

/* Block-scale byte → bf16x2 (s, s). NVFP4: E4M3 (exact in bf16); MXFP4: E8M0 2^(b-127)
 * (exact; 0xFF gives NaN). */
template <bool NV>
__device__ __forceinline__ uint32_t scale_bf16x2(uint8_t s) {
    const float f = NV ? fp4_e4m3_decode(s) : fp4_e8m0_decode(s);
    const uint32_t h = fp4_f32_to_bf16(f);
    return h | (h << 16);
}

/* ---------------------------------------------------------------------------------------- */
/* tensor core, ldmatrix, cp.async                                                           */

__device__ __forceinline__ void mma_bf16_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *smem) {
    const uint32_t p = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(p));
}

/* 16-byte async copy; src_bytes = 0 zero-fills the destination (out-of-range tile rows). */
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, int src_bytes) {
    const uint32_t p = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(p), "l"(gmem), "r"(src_bytes));
}
/* 8- and 4-byte async copies (.ca: the only form for sizes below 16); src_bytes 0 zero-fills. */
__device__ __forceinline__ void cp_async8(void *smem, const void *gmem, int src_bytes) {
    const uint32_t p = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;\n" ::"r"(p), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async4(void *smem, const void *gmem, int src_bytes) {
    const uint32_t p = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(p), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

/* ---------------------------------------------------------------------------------------- */
/* epilogue: D = alpha * (alpha_t * acc) (+ beta * C), the reference's order (lib/gemm_ref.c)  */

enum { FP4_TS_ONE = 0, FP4_TS_SDEC = 1, FP4_TS_AMAX = 2 };

struct fp4_epilogue {
    void *d;
    const void *c; /* NULL when beta == 0 */
    int64_t ldd, ldc;
    int d_bf16, c_bf16;
    float alpha, beta;
    const float *ts_a, *ts_b; /* device {amax, s_enc, s_dec}; ts_a NULL for W4A16 */
    int ts_mode;
};

__device__ __forceinline__ float epi_alpha_t(const fp4_epilogue &e) {
    if (e.ts_mode == FP4_TS_ONE) return 1.0f;
    if (e.ts_mode == FP4_TS_SDEC) return e.ts_a ? __fmul_rn(e.ts_a[2], e.ts_b[2]) : e.ts_b[2];
    /* 7225344 = 36 * 448^2 (fp4_gemm_tensor_alpha, lib/quantize.c; the spec text misprints it) */
    return __fmul_rn(__fmul_rn(e.ts_a[0], e.ts_b[0]), 1.0f / 7225344.0f);
}

__device__ __forceinline__ void epi_store(const fp4_epilogue &e, float at, int64_t m, int64_t n, float acc) {
    float v = __fmul_rn(e.alpha, __fmul_rn(at, acc));
    if (e.c) {
        const float cv = e.c_bf16 ? fp4_bf16_to_f32(((const uint16_t *)e.c)[m * e.ldc + n])
                                  : ((const float *)e.c)[m * e.ldc + n];
        v = __fadd_rn(v, __fmul_rn(e.beta, cv));
    }
    if (e.d_bf16) ((uint16_t *)e.d)[m * e.ldd + n] = fp4_f32_to_bf16(v);
    else ((float *)e.d)[m * e.ldd + n] = v;
}

/* ---------------------------------------------------------------------------------------- */
/* host side: operand descriptions and the launchers shared between the gemm_*.cu files       */

#include "fp4kit/context.h"
#include "fp4kit/tensor.h"

/* One GEMM operand [rows, K], K-major: BF16 (data = bf16, ld in elements) or FP4 (data = packed
 * codes [rows, K/2], scales [rows, K/bw]). */
struct gemm_operand {
    const void *data;
    const uint8_t *scales; /* NULL for BF16 */
    int64_t rows, ld;      /* ld: elements for BF16; K/2 bytes implied for FP4 */
    int fp4, nv;           /* fp4: 1 packed FP4; nv: NVFP4 (E4M3 / 16) vs MXFP4 (E8M0 / 32) */
};

static inline gemm_operand gemm_operand_fp4(const fp4_qtensor *q) {
    gemm_operand o = {q->data, q->scales, q->rows, q->cols / 2, 1, q->cfg.format == FP4_FORMAT_NVFP4};
    return o;
}
static inline gemm_operand gemm_operand_bf16(const fp4_view *v) {
    gemm_operand o = {v->data, NULL, v->rows, v->ld, 0, 0};
    return o;
}

static inline fp4_epilogue gemm_epilogue(const fp4_view *c, float beta, fp4_view *d, float alpha, const float *ts_a,
                                         const float *ts_b, int ts_mode) {
    fp4_epilogue e;
    e.d = d->data;
    e.ldd = d->ld;
    e.d_bf16 = d->dtype == FP4_DTYPE_BF16;
    e.c = c ? c->data : NULL;
    e.ldc = c ? c->ld : 0;
    e.c_bf16 = c ? c->dtype == FP4_DTYPE_BF16 : 0;
    e.alpha = alpha;
    e.beta = beta;
    e.ts_a = ts_a;
    e.ts_b = ts_b;
    e.ts_mode = ts_mode;
    return e;
}

/* gemm_w4a4.cu: the tiled tensor-core kernel, A BF16 or FP4, B FP4 (M, N any; K % bw == 0). */
fp4_status gemm_tiled_launch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                             const fp4_epilogue &epi);
/* gemm_w4a16.cu: the skinny (M <= 128) split-K kernel, A BF16 or FP4, B FP4. */
fp4_status gemm_skinny_launch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                              const fp4_epilogue &epi);
/* gemm_w4a16.cu: the small-M streaming kernel (M <= 128; cp.async weight slices, cluster
 * split-K reduction). gemm_small_ok says whether its fast-path conditions hold. */
bool gemm_small_ok(const gemm_operand &a, const gemm_operand &b, int64_t K);
fp4_status gemm_small_launch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                             const fp4_epilogue &epi);
/* gemm_w4a16_gemv.cu: the M <= 16 W4A16 kernel (BF16 A 16-byte aligned with ld % 8 == 0,
 * K % 128 == 0). gemm_gemv_launch returns false (nothing launched) when its activation slice
 * cannot fit in shared memory; *st is the launch status otherwise. */
bool gemm_gemv_ok(const gemm_operand &a, const gemm_operand &b, int64_t K);
bool gemm_gemv_launch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                      const fp4_epilogue &epi, fp4_status *st);
/* gemm_cublaslt.cu: decode FP4 operands to BF16 in the workspace, then cuBLASLt BF16 with the
 * device scalar alpha * alpha_t (the epilogue's tensor scales). */
fp4_status gemm_two_pass(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                         const fp4_epilogue &epi, const fp4_view *c, fp4_view *d);
/* gemm_w4a16.cu: FUSED (small/skinny for M <= 128, tiled above) and AUTO (FUSED for M <= 128,
 * two-pass above when cuBLASLt can take C and the workspace can grow). */
fp4_status gemm_fused_dispatch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                               const fp4_epilogue &epi);
fp4_status gemm_auto_dispatch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                              const fp4_epilogue &epi, const fp4_view *c, fp4_view *d);
/* Multiprocessor count of the current device (cached). */
int gemm_sm_count(void);

/* Raise a kernel's dynamic shared-memory limit once per device (done[dev] remembers the largest
 * size set), so steady-state calls make no driver call besides the launch (and stay capturable
 * in a CUDA graph). */
static inline fp4_status gemm_smem_attr(const void *kern, size_t smem, int done[64]) {
    int dev = 0;
    FP4_CUDA_TRY(cudaGetDevice(&dev));
    if (dev >= 0 && dev < 64 && done[dev] >= (int)smem) return FP4_OK;
    FP4_CUDA_TRY(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    if (dev >= 0 && dev < 64) done[dev] = (int)smem;
    return FP4_OK;
}

#endif
