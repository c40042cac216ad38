/* kernels/quantize_common.cuh — device helpers shared by the CUDA quantize kernels
 * (kernels/amax.cu, quantize_rowwise.cu, quantize_tiled.cu, quantize.cu; design in
 * docs/kernels-quantize.md).
 *
 * Every rounding decision goes through fp4kit/formats_inline.h (the same source the CPU
 * reference runs), so the bits agree with lib/quantize_ref.c by construction:
 *   NVFP4 block:  s_b = fp4_nvfp4_block_scale(amax_b, S_enc); enc = fp4_nvfp4_block_enc(s_b, S_dec);
 *                 code_i = E2M1(x_i * enc)          (RNE, or SR with fp4_sr_block16 bits)
 *   MXFP4 block:  s_b = fp4_e8m0_rceil(amax_b) | fp4_e8m0_ocp(amax_b); code_i = E2M1(x_i * 2^(127-s_b))
 *
 * The context workspace (one per call) is laid out as:
 *   bytes [0, 16)   host block {float amax, float s_enc, float s_dec, uint32 nonfinite}, copied to
 *                   the host once at the end of a call
 *   bytes [32, 40)  strict-mode error path: index of the first non-finite element
 *   bytes [64, ..)  partials: uint2 {amax bits, nonfinite flag} per CTA of the pass that produced
 *                   them (amax pass for NVFP4, the quantize pass itself for MXFP4)
 * Reducing the partials in each consumer CTA (at most FP4Q_MAX_PARTIALS of them) avoids atomics
 * and any zeroing of the workspace: every slot a consumer reads was written earlier in the call. */
#ifndef FP4KIT_QUANTIZE_COMMON_CUH
#define FP4KIT_QUANTIZE_COMMON_CUH

#include "cuda_common.cuh"
#include "fp4kit/context.h"
#include "fp4kit/tensor.h"

#define FP4Q_THREADS 256
#define FP4Q_MAX_PARTIALS 4096
#define FP4Q_PARTIALS_OFFSET 64
#define FP4Q_WORKSPACE_BYTES (FP4Q_PARTIALS_OFFSET + 8 * FP4Q_MAX_PARTIALS)

/* Format of a quantize kernel instantiation. */
enum { FP4Q_NV1x16 = 0, FP4Q_NV16x16 = 1, FP4Q_MX32 = 2 };

/* Host block at the start of the workspace. */
struct fp4q_host_block {
    float amax, s_enc, s_dec;
    uint32_t nonfinite;
};

/* Everything a quantize kernel needs besides the input pointer and the element type. */
struct fp4q_args {
    int64_t rows, cols, ld;  /* input view [rows, cols], row stride ld (elements) */
    int vec;                 /* 1: input rows may be read with 16-byte loads */
    int strict;              /* 1: FP4_NONFINITE_ERROR */
    int mx_ocp;              /* MXFP4: 1 = ocp scale rule, 0 = rceil */
    uint64_t seed, stream;   /* SR Philox key and rowwise stream (columnwise: ^ FP4_STREAM_COLUMNWISE) */
    uint8_t *row_data, *row_scales; /* rowwise output [rows, cols] (NULL: not requested) */
    uint8_t *col_data, *col_scales; /* columnwise output [cols, rows] (NULL: not requested) */
    float *row_tscale, *col_tscale; /* tscale_dev of each output (may be NULL) */
    const uint2 *partials_in;       /* NVFP4: amax-pass partials to reduce */
    int n_partials_in;
    uint2 *partials_out;            /* MXFP4: this pass's own per-CTA partials */
    fp4q_host_block *host_block;
};

/* ---- element access ---------------------------------------------------------------------- */

__device__ __forceinline__ float fp4q_to_f32(float v) { return v; }
__device__ __forceinline__ float fp4q_to_f32(uint16_t v) { return fp4_bf16_to_f32(v); }

/* Unpack one 16-byte chunk into floats (8 BF16 or 4 F32). */
__device__ __forceinline__ void fp4q_unpack(uint4 u, float *out, uint16_t) {
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        out[2 * i] = fp4_bits_f32(w[i] << 16);
        out[2 * i + 1] = fp4_bits_f32(w[i] & 0xffff0000u);
    }
}
__device__ __forceinline__ void fp4q_unpack(uint4 u, float *out, float) {
    out[0] = fp4_bits_f32(u.x);
    out[1] = fp4_bits_f32(u.y);
    out[2] = fp4_bits_f32(u.z);
    out[3] = fp4_bits_f32(u.w);
}

/* Load N consecutive elements starting at p as floats: 16-byte loads when vec (p 16-byte
 * aligned), else scalar loads. N is a multiple of 16 / sizeof(T). */
template <typename T, int N>
__device__ __forceinline__ void fp4q_load(const T *p, int vec, float *v) {
    constexpr int PER = 16 / (int)sizeof(T);
    if (vec) {
        uint4 u[N / PER];
#pragma unroll
        for (int j = 0; j < N / PER; j++) u[j] = __ldg(reinterpret_cast<const uint4 *>(p) + j);
#pragma unroll
        for (int j = 0; j < N / PER; j++) fp4q_unpack(u[j], v + j * PER, T());
    } else {
#pragma unroll
        for (int j = 0; j < N; j++) v[j] = fp4q_to_f32(p[j]);
    }
}

__device__ __forceinline__ uint32_t fp4q_nonfinite(float v) {
    return (fp4_f32_bits(v) & 0x7f800000u) == 0x7f800000u ? 1u : 0u;
}

/* max(0, max_i |v_i|) ignoring NaN: the same value as folding fp4_amax_step from 0 (max is exact
 * and order-free; fmaxf returns the non-NaN operand; |v| is never -0). */
template <int N>
__device__ __forceinline__ float fp4q_amax(const float *v) {
    /* Fixed trip counts only: a `w >>= 1` outer loop is not unrolled for N = 32 and put m[] in
     * local memory (64-byte stack frame of the MXFP4 kernels, runs 1-2). */
    static_assert(N == 16 || N == 32, "block width");
    float m[N / 2];
#pragma unroll
    for (int i = 0; i < N / 2; i++) m[i] = fmaxf(fabsf(v[2 * i]), fabsf(v[2 * i + 1]));
#pragma unroll
    for (int i = 0; i < N / 4; i++) m[i] = fmaxf(m[i], m[i + N / 4]);
#pragma unroll
    for (int i = 0; i < N / 8; i++) m[i] = fmaxf(m[i], m[i + N / 8]);
#pragma unroll
    for (int i = 0; i < N / 16; i++) m[i] = fmaxf(m[i], m[i + N / 16]);
    if (N == 32) m[0] = fmaxf(m[0], m[1]);
    return fmaxf(0.0f, m[0]);
}

/* ---- block encoders ---------------------------------------------------------------------- */

/* Fast RNE E2M1 magnitude for a non-NaN v, mostly on the FMA pipe: with a = |v| the code is
 * RNE(m(a)) capped at 7, m(a) = min(2a, a + 2, a/2 + 4) (concave, piecewise linear: maps the grid
 * 0,.5,1,1.5,2,3,4,6 onto 0..7 and each rounding interval onto [k-.5, k+.5], the table's ties to
 * the even code). Each piece is ONE rounding of an exact value onto the integers (fma / add into
 * 2^23, whose ulp is 1), and rounding is monotone so min commutes with it. Returns the fp32 bits
 * 0x4B000000 + code. Inf gives 7. Proven equal to fp4_e2m1_encode_rne on every non-NaN fp32 (with
 * the sign bit of v as bit 3; exhaustive host check of fp4q_rne_code_fast). */
__host__ __device__ __forceinline__ uint32_t fp4q_rne_mag_bits(float v) {
    const float a = fabsf(v);
    const float t1 = fmaf(a, 2.0f, 8388608.0f);
    const float t2 = a + 8388610.0f;
    const float t3 = fmaf(a, 0.5f, 8388612.0f);
    return fp4_f32_bits(fminf(fminf(t1, t2), fminf(t3, 8388615.0f)));
}
__host__ __device__ __forceinline__ uint32_t fp4q_rne_code_fast(float v) {
    return (fp4q_rne_mag_bits(v) - 0x4B000000u) | ((fp4_f32_bits(v) >> 31) << 3);
}

/* Fast SR E2M1 magnitude for a finite-or-Inf (non-NaN) s and the element's random byte r given
 * as the exact float fr = r (0..255). fp4_e2m1_encode_sr computes t = RN(a + u*step(a)) with
 * u = r/256, step = 0.5 / 1 / 2 for a < 2 / < 4 / >= 4, and truncates t onto the grid at t's
 * own spacing: code = floor(m(t)) capped at 7 with m(t) = min(2t, t + 2, t/2 + 4) (the same
 * concave map as the RNE path). Here the three candidate t's are all formed,
 *   t1 = RN(a + r*2^-9), t2 = RN(a + r*2^-8), t3 = RN(a + r*2^-7)   (r*2^-k*... exact: one fma)
 * (t1 <= t2 <= t3: RN is monotone) and code = min(floor(2 t1), floor(t2 + 2), floor(t3/2 + 4), 7):
 * the candidates of the two pieces the reference does not select never undercut its own (e.g.
 * a < 2: t2 + 2 >= t1 + 2 >= 2 t1 while t1 <= 2, and t1 < 2.5; a >= 4: a + u + 2 >= a/2 + u + 4);
 * the exhaustive host check below is the proof. Each floor is ONE round-down op into 2^23
 * (ulp 1): RD(x + 2^23) = 2^23 + floor(x) for 0 <= x < 2^23, and >= 2^24 (> 2^23 + 7) beyond.
 * Returns the fp32 bits 0x4B000000 + code. Proven equal to fp4_e2m1_encode_sr on the host
 * (fp4q_sr_code_fast model; benchmarks/notes/quantize.md run 3 lists the exhaustive ranges). */
__device__ __forceinline__ uint32_t fp4q_sr_mag_bits(float s, float fr) {
    const float a = fabsf(s);
    const float t1 = fmaf(fr, 0.001953125f, a); /* r * 2^-9 = u * 0.5 */
    const float t2 = fmaf(fr, 0.00390625f, a);  /* r * 2^-8 = u * 1 */
    const float t3 = fmaf(fr, 0.0078125f, a);   /* r * 2^-7 = u * 2 */
    const float c1 = __fmaf_rd(t1, 2.0f, 8388608.0f);
    const float c2 = __fadd_rd(t2, 8388610.0f);
    const float c3 = __fmaf_rd(t3, 0.5f, 8388612.0f);
    return fp4_f32_bits(fminf(fminf(c1, c2), fminf(c3, 8388615.0f)));
}

/* Random byte k (0..3) of word w as the exact float k-th byte value, via one byte permute
 * (0x4B000000 | byte = 2^23 + byte) and one exact subtraction. */
__device__ __forceinline__ float fp4q_rbyte_f32(uint32_t w, int k) {
    return __uint_as_float(__byte_perm(w, 0x4B000000u, 0x7650u | (uint32_t)k)) - 8388608.0f;
}

/* fp4_e8m0_rceil for amax in [0, Inf] (never NaN: block amaxes ignore NaN) without the IEEE
 * division: for a normal quotient q = RN(amax/6) (amax >= 2^-123, finite) the byte is
 * E(amax) - 2 + (mantissa(amax) > 1.5), i.e. ((bits + 0x3FFFFF) >> 23) - 2: amax = 2^e * M,
 * M in [1, 2): M > 1.5 -> q in 2^(e-2) * (1, 4/3) -> E+1 of q's exponent e-2; M = 1.5 -> q = 2^(e-2)
 * exactly; M < 1.5 -> q in 2^(e-3) * [4/3, 2) (never rounds up to 2^(e-2): 4M/3 <= 2 - 2^-22.4)
 * with mantissa bits set -> (e-3)+1. Saturation cannot trigger below Inf (FLT_MAX gives 253).
 * Tiny amax and Inf take the shared helper. Exhaustively checked against fp4_e8m0_rceil for
 * every amax bit pattern in [0, 0x7f800000] (host, run 3). */
__host__ __device__ __forceinline__ uint8_t fp4q_e8m0_rceil_fast(float amax) {
    const uint32_t ab = fp4_f32_bits(amax);
    if (ab < 0x02000000u || ab >= 0x7f800000u) return fp4_e8m0_rceil(amax);
    return (uint8_t)(((ab + 0x3FFFFFu) >> 23) - 2u);
}

/* Sum over i < 8 of 0x4B000000 << 4i, mod 2^32: the packing below adds the raw fp32 bits. */
constexpr uint32_t fp4q_pack_bias() {
    uint32_t c = 0u;
    for (int i = 0; i < 8; i++) c += 0x4B000000u << (4 * i);
    return c;
}

/* 16 values -> 8 packed bytes (element 2j in the low nibble of byte j). rb: the 4 Philox words
 * of this 16-group (SR only). RNE: when no value is NaN/Inf (fma(v, 0, z) stays 0) the codes come
 * from fp4q_rne_mag_bits, packed by adding bits << 4i (no carries: code <= 7) minus a constant,
 * with the sign bits ORed in (enc > 0 so sign(v*enc) = sign(v)); otherwise the shared encoder. */
template <bool SR>
__device__ __forceinline__ uint2 fp4q_encode16(const float *v, float enc, const uint32_t *rb) {
    {
        float z0 = 0.0f, z1 = 0.0f;
#pragma unroll
        for (int i = 0; i < 16; i += 2) {
            z0 = fmaf(v[i], 0.0f, z0);
            z1 = fmaf(v[i + 1], 0.0f, z1);
        }
        if (z0 + z1 == 0.0f) {
            uint32_t w[2];
#pragma unroll
            for (int h = 0; h < 2; h++) {
                uint32_t acc = 0u, sg = 0u;
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    const int e = 8 * h + i;
                    const float x = v[e];
                    if (SR) acc += fp4q_sr_mag_bits(x * enc, fp4q_rbyte_f32(rb[e >> 2], e & 3)) << (4 * i);
                    else acc += fp4q_rne_mag_bits(x * enc) << (4 * i);
                    sg |= (fp4_f32_bits(x) >> 31) << (4 * i + 3);
                }
                w[h] = (acc - fp4q_pack_bias()) | sg;
            }
            return make_uint2(w[0], w[1]);
        }
    }
    uint32_t w[2] = {0u, 0u};
#pragma unroll
    for (int i = 0; i < 16; i++) {
        const float s = v[i] * enc;
        uint32_t c;
        if (SR) c = fp4_e2m1_encode_sr(s, rb[i >> 2] >> (8 * (i & 3)));
        else c = fp4_e2m1_encode_rne(s);
        w[i >> 3] |= c << (4 * (i & 7));
    }
    return make_uint2(w[0], w[1]);
}

/* Quantize one 16-element NVFP4 block whose scale comes from amax_b (its own amax for 1x16, the
 * tile amax for 16x16). group = index of the 16-group in the output stream (SR). Writes the
 * scale byte to *sb and returns the packed codes. */
template <bool SR>
__device__ __forceinline__ uint2 fp4q_nv_block(const float *v, float amax_b, float s_enc, float s_dec, uint64_t seed,
                                              uint64_t stream, uint64_t group, uint8_t *sb) {
    const uint8_t s = fp4_nvfp4_block_scale(amax_b, s_enc);
    const float enc = fp4_nvfp4_block_enc(s, s_dec);
    uint32_t rb[4] = {0u, 0u, 0u, 0u};
    if (SR) fp4_sr_block16(seed, stream, group, rb);
    *sb = s;
    return fp4q_encode16<SR>(v, enc, rb);
}

/* E8M0 scale byte of an MXFP4 block. */
__device__ __forceinline__ uint8_t fp4q_mx_scale(float amax_b, int ocp) {
    return ocp ? fp4_e8m0_ocp(amax_b) : fp4q_e8m0_rceil_fast(amax_b);
}

/* Quantize one 32-element MXFP4 block; group0 = index of its first 16-group (SR). */
template <bool SR>
__device__ __forceinline__ uint4 fp4q_mx_block(const float *v, float amax_b, int ocp, uint64_t seed, uint64_t stream,
                                              uint64_t group0, uint8_t *sb) {
    const uint8_t s = fp4q_mx_scale(amax_b, ocp);
    const float enc = fp4_e8m0_inverse(s);
    uint32_t rb0[4] = {0u, 0u, 0u, 0u}, rb1[4] = {0u, 0u, 0u, 0u};
    if (SR) {
        fp4_sr_block16(seed, stream, group0, rb0);
        fp4_sr_block16(seed, stream, group0 + 1, rb1);
    }
    *sb = s;
    const uint2 a = fp4q_encode16<SR>(v, enc, rb0);
    const uint2 b = fp4q_encode16<SR>(v + 16, enc, rb1);
    return make_uint4(a.x, a.y, b.x, b.y);
}

/* ---- reductions -------------------------------------------------------------------------- */

/* CTA-wide max (non-negative floats or -0) and OR; result valid in every thread. Must be called
 * by all threads of the CTA. scratch: __shared__ uint2[32]. */
__device__ __forceinline__ void fp4q_cta_reduce(float &m, uint32_t &f, uint2 *scratch) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        m = fp4_amax_step(m, __shfl_xor_sync(0xffffffffu, m, o));
        f |= __shfl_xor_sync(0xffffffffu, f, o);
    }
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = (blockDim.x + 31) >> 5;
    __syncthreads(); /* scratch may still be read by a previous call */
    if (lane == 0) scratch[warp] = make_uint2(fp4_f32_bits(m), f);
    __syncthreads();
    m = 0.0f;
    f = 0u;
    for (int i = 0; i < nw; i++) {
        m = fp4_amax_step(m, fp4_bits_f32(scratch[i].x));
        f |= scratch[i].y;
    }
}

/* Reduce n partials (amax bits, flag) in a whole CTA. */
__device__ __forceinline__ void fp4q_reduce_partials(const uint2 *p, int n, float &amax, uint32_t &flag,
                                                     uint2 *scratch) {
    float m = 0.0f;
    uint32_t f = 0u;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const uint2 e = p[i];
        m = fp4_amax_step(m, fp4_bits_f32(e.x));
        f |= e.y;
    }
    fp4q_cta_reduce(m, f, scratch);
    amax = m;
    flag = f;
}

/* Thread 0 of CTA 0 publishes the tensor scales: tscale_dev of each output and the host block. */
__device__ __forceinline__ void fp4q_publish(const fp4q_args &a, float amax, float s_enc, float s_dec, uint32_t flag) {
    if (blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0) {
        if (a.row_tscale) { a.row_tscale[0] = amax; a.row_tscale[1] = s_enc; a.row_tscale[2] = s_dec; }
        if (a.col_tscale) { a.col_tscale[0] = amax; a.col_tscale[1] = s_enc; a.col_tscale[2] = s_dec; }
        if (a.host_block) {
            a.host_block->amax = amax;
            a.host_block->s_enc = s_enc;
            a.host_block->s_dec = s_dec;
            a.host_block->nonfinite = flag;
        }
    }
}

/* ---- launchers (kernels/*.cu), all queue on `stream` and return FP4_ERR_CUDA on failure ------ */

/* Amax pass: writes n_partials (<= FP4Q_MAX_PARTIALS) partials. */
fp4_status fp4q_launch_amax(cudaStream_t stream, const fp4_view *x, int strict, uint2 *partials, int *n_partials);
/* One CTA: reduces partials, publishes {amax, s_enc, s_dec, flag} (nvfp4: two-level scales, else 1, 1). */
fp4_status fp4q_launch_finalize(cudaStream_t stream, const uint2 *partials, int n, int nvfp4, float *tscale_a,
                                float *tscale_b, fp4q_host_block *hb);
/* Rowwise 1x16 / 1x32 streaming quantizer. version 1: one thread per block, scalar loads, flat
 * index; version 2: the fast one. For MXFP4 the launcher sets a.partials_out and *n_partials. */
fp4_status fp4q_launch_rowwise(cudaStream_t stream, const fp4_view *x, const fp4_config *cfg, fp4q_args *a,
                               int version, int *n_partials);
/* Tiled quantizer (64x64 tiles in shared memory): 16x16 blocks, columnwise, or both copies. */
fp4_status fp4q_launch_tiled(cudaStream_t stream, const fp4_view *x, const fp4_config *cfg, fp4q_args *a,
                             int *n_partials);

/* Strict mode error path: locate the first NaN/Inf (row-major) and fail with FP4_ERR_NONFINITE
 * and the reference's message "op: x[r, c] = NaN (strict non-finite mode)". Synchronizes. */
fp4_status fp4q_report_nonfinite(fp4_context *ctx, const fp4_view *x, const char *op);

/* SMs of the current device (cached per process). */
int fp4q_num_sms(void);

#endif
