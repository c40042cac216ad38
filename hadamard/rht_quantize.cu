/* hadamard/rht_quantize.cu — the fused Wgrad operand (fp4kit/hadamard.h,
 * fp4_rht_quantize_columnwise): RHT along tokens + BF16 rounding + post-RHT amax + columnwise
 * NVFP4 1x16 (d = 16) or MXFP4 1x32 (d = 32) quantization, bit-identical to
 * hadamard/rht_quantize_ref.c.
 *
 * Shapes: x device view [M tokens, K] (BF16 or F32, row stride ld), M % d == 0; out [K, M] with
 * data [K, M/2] and scales [K, M/d]. One RHT chunk (d consecutive tokens of one column) is exactly
 * one quantization block of one output row, so a thread that holds a chunk can quantize it alone.
 *
 * Tiling (both kernels): a CTA of 256 threads takes a tile of 256 tokens x TK columns. Thread
 * (c, g) = (t / D, t % D) holds chunk c (d tokens) of CW consecutive columns: d = 16: CW = 8 (BF16)
 * or 4 (F32), 16-byte row loads, 256 raw bytes per thread, TK = 128 / 64; d = 32: CW = 2 (BF16) or
 * 1 (F32), 4-byte row loads, 128 raw bytes per thread (keeps it under 128 registers), TK = 64 / 32.
 * Either way a warp reads 256 (d = 16) or 128 (d = 32) contiguous bytes of a row per load.
 * Per chunk the sign flips are XORed into the raw words (a chunk row is one token, one sign);
 * per column: butterflies 1..d/2, * fp32(1/sqrt d), RNE to BF16 — the operations of
 * fp4h_rht_chunk_bf16 (the reference). Block scales and codes use the shared formats_inline.h
 * helpers; the only device-specific rewrite is the NaN-ignoring max as fmaxf(m, |v|) (equal to
 * fp4_amax_step since m starts at +0 and is never NaN). SR is a template parameter.
 *
 * Passes (NVFP4, what the benchmark counts as bytes):
 *   1. rht_amax_kernel: read x, transform, amax of the BF16 values -> one atomicMax per CTA into
 *      tscale_dev[0] (float bits as unsigned: all values are >= 0). Strict mode also records the
 *      smallest [K, M] linear index of a non-finite value (atomicMin), checked on the host before
 *      pass 2 (the only extra synchronization).
 *   2. rht_quant_kernel: read x again (tiles in reverse order, so the first tiles it reads are the
 *      ones pass 1 read last and may still sit in the 50 MB L2), transform, S_enc/S_dec from
 *      tscale_dev[0], block scale + codes per chunk (fp4h_nvfp4_block16, shared with the
 *      reference), staged in shared memory (XOR-swizzled 8/16-byte units, conflict-free) and
 *      written as contiguous 128-byte row segments of the [K, M] output; scale bytes likewise.
 *      CTA 0 writes tscale_dev[1..2] = {S_enc, S_dec}.
 *   Minimal traffic: 2 reads of x + M*K/2 code bytes + M*K/16 scale bytes.
 *   MXFP4 has no tensor scale: one pass (rht_quant_kernel also accumulates the informational amax);
 *   strict mode runs the amax/check pass first.
 * The host copies {amax, s_enc, s_dec} to out's host fields with one synchronization at the end.
 */
#include "cuda_common.cuh"
#include "hadamard_impl.h"

namespace {

constexpr int kThreads = 256, kTileTok = 256;

template <bool BF16, int D>
struct tile_shape {
    static constexpr int ES = BF16 ? 2 : 4;           /* input element bytes */
    static constexpr int RAWB = D == 16 ? 256 : 128;  /* raw input bytes per thread (register budget) */
    static constexpr int CW = RAWB / (D * ES);        /* columns per thread: 8, 4 (d=16); 2, 1 (d=32) */
    static constexpr int WPR = CW * ES / 4;           /* 32-bit words per thread row load (4 or 1) */
    static constexpr int TC = kTileTok / D;           /* chunks per tile (16 or 8) */
    static constexpr int TG = kThreads / TC;          /* threads across the tile's columns (= D) */
    static constexpr int TK = TG * CW;                /* tile columns */
    static constexpr int UNIT = D / 2;                /* code bytes of one chunk */
};

/* Load the d rows of chunk (m0, k0 .. k0+CW-1) as raw words; zeros outside the tensor. */
template <bool BF16, int D, bool VEC>
__device__ __forceinline__ void load_chunk(const void *x, int64_t ldx, int64_t M, int64_t K, int64_t m0, int64_t k0,
                                           uint32_t raw[D][tile_shape<BF16, D>::WPR]) {
    using S = tile_shape<BF16, D>;
    const bool mvalid = m0 < M;
#pragma unroll
    for (int i = 0; i < D; i++) {
        if (VEC) {
            if (mvalid && k0 < K) {
                const char *p = (const char *)x + ((m0 + i) * ldx + k0) * S::ES;
                if constexpr (S::WPR == 4) {
                    const uint4 r = *(const uint4 *)p;
                    raw[i][0] = r.x; raw[i][1] = r.y; raw[i][2] = r.z; raw[i][3] = r.w;
                } else if constexpr (S::WPR == 2) {
                    const uint2 r = *(const uint2 *)p;
                    raw[i][0] = r.x; raw[i][1] = r.y;
                } else {
                    raw[i][0] = *(const uint32_t *)p;
                }
            } else {
#pragma unroll
                for (int w = 0; w < S::WPR; w++) raw[i][w] = 0u;
            }
        } else {
#pragma unroll
            for (int w = 0; w < S::WPR; w++) raw[i][w] = 0u;
#pragma unroll
            for (int j = 0; j < S::CW; j++) {
                if (mvalid && k0 + j < K) {
                    const int64_t off = (m0 + i) * ldx + k0 + j;
                    if (BF16) raw[i][j >> 1] |= (uint32_t)((const uint16_t *)x)[off] << (16 * (j & 1));
                    else raw[i][j] = fp4_f32_bits(((const float *)x)[off]);
                }
            }
        }
    }
}

/* Column j (compile-time after unrolling) of one raw row, as fp32. */
template <bool BF16, int WPR>
__device__ __forceinline__ float col_val(const uint32_t raw[WPR], int j) {
    if (BF16) return fp4_bits_f32((j & 1) ? (raw[j >> 1] & 0xffff0000u) : (raw[j >> 1] << 16));
    return fp4_bits_f32(raw[j]);
}

/* Sign flips applied to the raw words: row i is token m0+i, so both BF16 halves (or the F32) of
 * every word of row i flip with s_i. A sign-bit XOR, exactly what fp4h_flip does per element. */
template <bool BF16, int D, int WPR>
__device__ __forceinline__ void flip_raw(uint32_t raw[D][WPR], uint32_t sw) {
#pragma unroll
    for (int i = 0; i < D; i++) {
        const uint32_t m = ((sw >> i) & 1u) * (BF16 ? 0x80008000u : 0x80000000u);
#pragma unroll
        for (int w = 0; w < WPR; w++) raw[i][w] ^= m;
    }
}

/* Column j of the (already sign-flipped) chunk -> butterflies -> * scale -> BF16 RNE: the same
 * operations as fp4h_rht_chunk_bf16 on the host. */
template <bool BF16, int D, int WPR>
__device__ __forceinline__ void rht_column(const uint32_t raw[D][WPR], int j, float scale, float v[D]) {
#pragma unroll
    for (int i = 0; i < D; i++) v[i] = col_val<BF16, WPR>(raw[i], j);
    fp4h_fwht_stages(v, D);
#pragma unroll
    for (int i = 0; i < D; i++) v[i] = fp4_bf16_to_f32(fp4_f32_to_bf16(fp4h_mul(v[i], scale)));
}

/* NaN-ignoring |v| max: fmaxf returns the non-NaN operand and m is never NaN (it starts at +0),
 * so this equals the fp4_amax_step chain of the reference; one FMNMX per element. */
__device__ __forceinline__ float amax_dev(float m, float v) { return fmaxf(m, fabsf(v)); }

/* One quantization block (= one RHT chunk) of the [K, M] output: scale byte returned, D/2 code
 * bytes in codes. Same operations as fp4h_nvfp4_block16 / fp4h_mxfp4_block32. */
template <int D, bool SR>
__device__ __forceinline__ uint8_t quant_block(const float v[D], float s_enc, float s_dec, int ocp, uint64_t seed,
                                               uint64_t stream, uint64_t grp, uint8_t *codes) {
    float amax_b = 0.0f;
#pragma unroll
    for (int i = 0; i < D; i++) amax_b = amax_dev(amax_b, v[i]);
    if constexpr (D == 16) {
        const uint8_t s_b = fp4_nvfp4_block_scale(amax_b, s_enc);
        fp4h_encode_run(v, 16, fp4_nvfp4_block_enc(s_b, s_dec), SR, seed, stream, grp, codes);
        return s_b;
    } else {
        const uint8_t b = ocp ? fp4_e8m0_ocp(amax_b) : fp4_e8m0_rceil(amax_b);
        fp4h_encode_run(v, 32, fp4_e8m0_inverse(b), SR, seed, stream, grp, codes);
        return b;
    }
}

/* Max over the CTA (values >= 0, NaN-free), one atomicMax on the float bits by thread 0. */
__device__ __forceinline__ void cta_amax_to(float m, float *dst) {
    __shared__ float wmax[kThreads / 32];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if ((threadIdx.x & 31) == 0) wmax[threadIdx.x >> 5] = m;
    __syncthreads();
    if (threadIdx.x == 0) {
        float r = 0.0f;
#pragma unroll
        for (int w = 0; w < kThreads / 32; w++) r = fmaxf(r, wmax[w]);
        atomicMax((unsigned int *)dst, fp4_f32_bits(r));
    }
    __syncthreads();
}

template <bool BF16, int D, bool VEC>
__global__ void __launch_bounds__(kThreads, 2)
    rht_amax_kernel(const void *x, int64_t ldx, int64_t M, int64_t K, uint32_t sw, float scale, float *amax_out,
                    unsigned long long *bad) {
    using S = tile_shape<BF16, D>;
    const int g = threadIdx.x % S::TG, c = threadIdx.x / S::TG;
    const int64_t ntk = (K + S::TK - 1) / S::TK, ntiles = ((M + kTileTok - 1) / kTileTok) * ntk;
    float m = 0.0f;
    for (int64_t tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
        const int64_t m0 = (tile / ntk) * kTileTok + c * D, k0 = (tile % ntk) * S::TK + g * S::CW;
        uint32_t raw[D][S::WPR];
        load_chunk<BF16, D, VEC>(x, ldx, M, K, m0, k0, raw);
        flip_raw<BF16, D, S::WPR>(raw, sw);
#pragma unroll
        for (int j = 0; j < S::CW; j++) {
            float v[D];
            rht_column<BF16, D, S::WPR>(raw, j, scale, v);
#pragma unroll
            for (int i = 0; i < D; i++) m = amax_dev(m, v[i]);
            if (bad && m0 < M && k0 + j < K) {
#pragma unroll
                for (int i = 0; i < D; i++)
                    if (!isfinite(v[i])) atomicMin(bad, (unsigned long long)((k0 + j) * M + m0 + i));
            }
        }
    }
    cta_amax_to(m, amax_out);
}

template <bool BF16, int D, bool VEC, bool SR>
__global__ void __launch_bounds__(kThreads, 2)
    rht_quant_kernel(const void *x, int64_t ldx, int64_t M, int64_t K, uint32_t sw, float scale, uint8_t *data,
                     uint8_t *scales, float *tscale, uint64_t seed, uint64_t stream, int ocp, int reverse,
                     int accumulate_amax) {
    using S = tile_shape<BF16, D>;
    __shared__ __align__(16) uint8_t so[S::TK * 128];       /* codes: TK rows x 128 bytes, swizzled units */
    __shared__ uint8_t ss[S::TK * (S::TC + 1)];            /* scale bytes, rows padded by one */
    const int t = threadIdx.x, g = t % S::TG, c = t / S::TG;
    const int64_t ntk = (K + S::TK - 1) / S::TK, ntiles = ((M + kTileTok - 1) / kTileTok) * ntk;
    float s_enc = 1.0f, s_dec = 1.0f;
    if (D == 16) {
        s_enc = fp4_nvfp4_global_enc(tscale[0]);
        s_dec = fp4_nvfp4_global_dec(s_enc);
    }
    if (blockIdx.x == 0 && t == 0) {
        tscale[1] = s_enc;
        tscale[2] = s_dec;
    }
    float m = 0.0f;
    for (int64_t it = blockIdx.x; it < ntiles; it += gridDim.x) {
        const int64_t tile = reverse ? ntiles - 1 - it : it;
        const int64_t tm0 = (tile / ntk) * kTileTok, tk0 = (tile % ntk) * S::TK;
        const int64_t m0 = tm0 + c * D, k0 = tk0 + g * S::CW;
        uint32_t raw[D][S::WPR];
        load_chunk<BF16, D, VEC>(x, ldx, M, K, m0, k0, raw);
        flip_raw<BF16, D, S::WPR>(raw, sw);
#pragma unroll
        for (int j = 0; j < S::CW; j++) {
            float v[D];
            rht_column<BF16, D, S::WPR>(raw, j, scale, v);
            if (accumulate_amax) {
#pragma unroll
                for (int i = 0; i < D; i++) m = amax_dev(m, v[i]);
            }
            if (m0 < M && k0 + j < K) {
                const uint64_t grp = (uint64_t)((k0 + j) * M + m0) >> 4;
                uint8_t codes[S::UNIT];
                const uint8_t sb = quant_block<D, SR>(v, s_enc, s_dec, ocp, seed, stream, grp, codes);
                const int r = g * S::CW + j, phys = c ^ (g & (S::TC - 1));
                uint32_t w[S::UNIT / 4];
#pragma unroll
                for (int q = 0; q < S::UNIT / 4; q++)
                    w[q] = (uint32_t)codes[4 * q] | ((uint32_t)codes[4 * q + 1] << 8) |
                           ((uint32_t)codes[4 * q + 2] << 16) | ((uint32_t)codes[4 * q + 3] << 24);
                uint8_t *dst = so + r * 128 + phys * S::UNIT;
                if constexpr (S::UNIT == 8) *(uint2 *)dst = make_uint2(w[0], w[1]);
                else *(uint4 *)dst = make_uint4(w[0], w[1], w[2], w[3]);
                ss[r * (S::TC + 1) + c] = sb;
            }
        }
        __syncthreads();
        for (int id = t; id < S::TK * S::TC; id += kThreads) {
            const int r = id / S::TC, u = id % S::TC;
            const int64_t k = tk0 + r, mm = tm0 + (int64_t)u * D;
            if (k < K && mm < M) {
                const uint8_t *src = so + r * 128 + (u ^ ((r / S::CW) & (S::TC - 1))) * S::UNIT;
                uint8_t *dst = data + k * (M / 2) + mm / 2;
                if constexpr (S::UNIT == 8) *(uint2 *)dst = *(const uint2 *)src;
                else *(uint4 *)dst = *(const uint4 *)src;
                scales[k * (M / D) + mm / D] = ss[r * (S::TC + 1) + u];
            }
        }
        __syncthreads(); /* so/ss are reused by the next tile */
    }
    if (accumulate_amax) cta_amax_to(m, tscale);
}

constexpr int64_t kMaxGrid = 1 << 20;

template <bool BF16, int D, bool VEC>
fp4_status launch_pair(const fp4_view *x, uint32_t sw, float scale, fp4_qtensor *out, const fp4_config *cfg,
                       unsigned long long *bad, int strict, cudaStream_t s) {
    using S = tile_shape<BF16, D>;
    const int64_t M = x->rows, K = x->cols;
    const int64_t ntiles = ((M + kTileTok - 1) / kTileTok) * ((K + S::TK - 1) / S::TK);
    const unsigned grid = (unsigned)(ntiles < kMaxGrid ? ntiles : kMaxGrid);
    const int need_amax_pass = D == 16 || strict;
    FP4_CUDA_TRY(cudaMemsetAsync(out->tscale_dev, 0, sizeof(float), s));
    if (need_amax_pass) {
        rht_amax_kernel<BF16, D, VEC><<<grid, kThreads, 0, s>>>(x->data, x->ld, M, K, sw, scale, out->tscale_dev,
                                                                 strict ? bad : NULL);
        FP4_LAUNCH_CHECK("rht_amax_kernel");
        if (strict) {
            unsigned long long first = 0;
            FP4_CUDA_TRY(cudaMemcpyAsync(&first, bad, sizeof first, cudaMemcpyDeviceToHost, s));
            FP4_CUDA_TRY(cudaStreamSynchronize(s));
            if (first != ~0ull)
                return fp4_fail(FP4_ERR_NONFINITE,
                                "fp4_rht_quantize_columnwise: RHT%d(x)ᵀ[%lld, %lld] is not finite (strict non-finite mode)",
                                D, (long long)(first / (unsigned long long)M), (long long)(first % (unsigned long long)M));
        }
    }
    if (cfg->rounding == FP4_ROUND_SR)
        rht_quant_kernel<BF16, D, VEC, true><<<grid, kThreads, 0, s>>>(
            x->data, x->ld, M, K, sw, scale, out->data, out->scales, out->tscale_dev, cfg->seed,
            cfg->stream ^ FP4_STREAM_COLUMNWISE, cfg->scale_rule == FP4_SCALE_OCP, need_amax_pass, !need_amax_pass);
    else
        rht_quant_kernel<BF16, D, VEC, false><<<grid, kThreads, 0, s>>>(
            x->data, x->ld, M, K, sw, scale, out->data, out->scales, out->tscale_dev, cfg->seed,
            cfg->stream ^ FP4_STREAM_COLUMNWISE, cfg->scale_rule == FP4_SCALE_OCP, need_amax_pass, !need_amax_pass);
    FP4_LAUNCH_CHECK("rht_quant_kernel");
    return FP4_OK;
}

template <bool BF16, int D>
fp4_status launch_vec(const fp4_view *x, uint32_t sw, float scale, fp4_qtensor *out, const fp4_config *cfg,
                      unsigned long long *bad, int strict, cudaStream_t s) {
    using S = tile_shape<BF16, D>;
    const size_t vb = (size_t)S::CW * S::ES;
    const int vec = ((uintptr_t)x->data % vb == 0) && ((size_t)x->ld * S::ES) % vb == 0 && x->cols % S::CW == 0;
    if (vec) return launch_pair<BF16, D, true>(x, sw, scale, out, cfg, bad, strict, s);
    return launch_pair<BF16, D, false>(x, sw, scale, out, cfg, bad, strict, s);
}

} // namespace

extern "C" fp4_status fp4_rht_quantize_columnwise_cuda(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, int d,
                                                       uint64_t sign_seed, fp4_qtensor *out, int sync_host) {
    cudaStream_t s = (cudaStream_t)fp4_context_stream(ctx);
    const uint32_t sw = fp4h_sign_word(d, sign_seed, 0);
    const float scale = fp4h_scale_log2(fp4h_log2(d));
    const int strict = cfg->nonfinite == FP4_NONFINITE_ERROR;
    unsigned long long *bad = NULL;
    if (strict) {
        void *ws = NULL;
        FP4_TRY(fp4_context_workspace(ctx, sizeof(unsigned long long), &ws));
        bad = (unsigned long long *)ws;
        FP4_CUDA_TRY(cudaMemsetAsync(bad, 0xff, sizeof(unsigned long long), s));
    }
    const int bf16 = x->dtype == FP4_DTYPE_BF16;
    fp4_status st;
    if (d == 16) st = bf16 ? launch_vec<true, 16>(x, sw, scale, out, cfg, bad, strict, s)
                           : launch_vec<false, 16>(x, sw, scale, out, cfg, bad, strict, s);
    else if (d == 32) st = bf16 ? launch_vec<true, 32>(x, sw, scale, out, cfg, bad, strict, s)
                                : launch_vec<false, 32>(x, sw, scale, out, cfg, bad, strict, s);
    else st = fp4_fail(FP4_ERR_INVALID_ARG, "fp4_rht_quantize_columnwise_cuda: d = %d (16 or 32)", d);
    if (st != FP4_OK) return st;
    out->cfg = *cfg;
    out->cfg.stream = cfg->stream ^ FP4_STREAM_COLUMNWISE;
    out->hadamard = d;
    out->hadamard_seed = sign_seed;
    if (sync_host) {
        float h[3];
        FP4_CUDA_TRY(cudaMemcpyAsync(h, out->tscale_dev, sizeof h, cudaMemcpyDeviceToHost, s));
        FP4_CUDA_TRY(cudaStreamSynchronize(s));
        out->amax = h[0];
        out->s_enc = h[1];
        out->s_dec = h[2];
    }
    return FP4_OK;
}
