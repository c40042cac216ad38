/* qat/ops_flash.cu — flash-style causal multi-head attention of qat/ops.h (fp4_flash_attention_*),
 * BF16 tensor cores (mma.sync m16n8k16, FP32 accumulation), online softmax, no T x T buffer.
 *
 * Shapes: qkv / dqkv [B*T, 3C] BF16 (q | k | v; head h at columns h*hs .. h*hs+hs-1 of each),
 * out / dout [B*T, C] BF16, lse [B*NH*T] FP32 (row (b*NH + h)*T + t: natural-log logsumexp of the
 * scaled scores s = scale * q_t·k_t2 over t2 <= t), scale = 1/sqrt(hs), hs in {16, 32, 64}.
 * Needs 16-byte aligned qkv / out / dout / dqkv bases (C % 8 == 0 follows from hs % 8 == 0).
 *
 * forward  flash_fwd_kernel1: one CTA of 4 warps per (64-query tile, b*NH + h); warp w owns
 *          queries q0+16w .. q0+16w+15, its Q fragments in registers. Key/value tiles of 64 rows
 *          (0 .. the diagonal tile) stream through shared memory, two cp.async stages. Per tile:
 *          S = Q K^T (mma), causal mask on the diagonal tile, running max m and sum l (log2
 *          units), O = O*exp2(m_old - m_new) + P V with P rounded to BF16 (the C fragments of S
 *          become the A fragments of P V; V's B fragments by ldmatrix.trans). out = O / l (BF16),
 *          lse = (m + log2 l) * ln 2.
 * backward (FlashAttention-2's algorithm split in two passes so that every output has one writer
 *          — no atomics, deterministic):
 *          flash_bwd_dot_kernel1   D[row] = dout_row · out_row over the head (FP32).
 *          flash_bwd_dkdv_kernel1  one CTA per (64-key tile, b*NH + h), warp w owns 16 keys (K and
 *                                  V fragments in registers); query tiles from the diagonal to the
 *                                  end stream through shared memory (Q, dO, lse, D; two stages):
 *                                  S^T = K Q^T, P^T = exp2(S^T*scale*log2e - lse*log2e) (masked),
 *                                  dP^T = V dO^T, dS^T = P^T (dP^T - D) * scale; dV += P^T dO,
 *                                  dK += dS^T Q (P^T, dS^T rounded to BF16).
 *          flash_bwd_dq_kernel1    one CTA per (64-query tile, b*NH + h): S, P, dP, dS recomputed
 *                                  per key tile, dQ += dS K.
 *          So the backward does 7 tile GEMMs where FA2 with atomics does 5.
 * Padding rows (t >= T in the last tile) are zero-filled by cp.async, masked out of P and never
 * stored. Work per CTA grows with the query tile index: tiles are issued heaviest first.
 */
#include <cuda_bf16.h>

#include "ops_cuda_internal.h"

#define FA_BM 64     /* queries (keys) per tile */
#define FA_WARPS 4
#define FA_THREADS (FA_WARPS * 32)
#define FA_PAD 8     /* bf16 elements of padding per smem row: conflict-free 32-bit and ldmatrix accesses */
#define FA_LOG2E 1.4426950408889634f
#define FA_LN2 0.6931471805599453f

/* ---- device helpers ------------------------------------------------------------------------------ */

__device__ __forceinline__ void fa_cp16(void *smem, const void *gmem, bool pred) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    const int n = pred ? 16 : 0; /* 0: zero-fill, nothing read */
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void fa_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void fa_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

/* d += a·b for one m16n8k16 tile (row.col, BF16 in, FP32 accumulate). */
__device__ __forceinline__ void fa_mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Four transposed 8x8 BF16 matrices: lane l gives the address of row (l & 7) of matrix l >> 3. */
__device__ __forceinline__ void fa_ldsm_t(uint32_t (&r)[4], const void *smem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

__device__ __forceinline__ uint32_t fa_pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi); /* .x = lo (low half) */
    return *reinterpret_cast<uint32_t *>(&v);
}

__device__ __forceinline__ uint32_t fa_ld32(const bf16_t *p) { return *reinterpret_cast<const uint32_t *>(p); }

/* rows [0, 64) x HS of a tile whose row 0 is g (row stride ld elements) into sm (row stride HS +
 * FA_PAD); rows >= nvalid are zero-filled. One 16-byte cp.async per 8 elements. */
template <int HS>
__device__ __forceinline__ void fa_load_tile(bf16_t *sm, const bf16_t *g, int64_t ld, int nvalid) {
    constexpr int CH = HS / 8;
    for (int i = threadIdx.x; i < FA_BM * CH; i += FA_THREADS) {
        const int r = i / CH, c = (i % CH) * 8;
        const bool ok = r < nvalid;
        fa_cp16(sm + r * (HS + FA_PAD) + c, g + (int64_t)(ok ? r : 0) * ld + c, ok);
    }
}

/* A fragments of rows r0 .. r0+15 of a [.., HS] smem tile (row stride HS + FA_PAD): a[kk] for
 * columns 16kk .. 16kk+15. */
/* Key block j of nkb is about to be used: start loading block j + 1 of K and V into the other
 * buffers (if any), wait for block j's group, and barrier. */
template <int HS>
__device__ __forceinline__ void fa_next_kv(bf16_t (*Ks)[FA_BM * (HS + FA_PAD)], bf16_t (*Vs)[FA_BM * (HS + FA_PAD)],
                                           const bf16_t *kbase, const bf16_t *vbase, int64_t ld, int T, int j,
                                           int nkb) {
    if (j + 1 < nkb) {
        const int k0 = (j + 1) * FA_BM;
        fa_load_tile<HS>(Ks[(j + 1) & 1], kbase + (int64_t)k0 * ld, ld, T - k0);
        fa_load_tile<HS>(Vs[(j + 1) & 1], vbase + (int64_t)k0 * ld, ld, T - k0);
        fa_commit();
        fa_wait<1>();
    } else {
        fa_wait<0>();
    }
    __syncthreads();
}

template <int HS>
__device__ __forceinline__ void fa_load_afrag(uint32_t (&a)[HS / 16][4], const bf16_t *sm, int r0) {
    const int lane = threadIdx.x & 31, g = lane >> 2, c = (lane & 3) * 2;
#pragma unroll
    for (int kk = 0; kk < HS / 16; kk++) {
        const bf16_t *p = sm + (r0 + g) * (HS + FA_PAD) + kk * 16 + c;
        a[kk][0] = fa_ld32(p);
        a[kk][1] = fa_ld32(p + 8 * (HS + FA_PAD));
        a[kk][2] = fa_ld32(p + 8);
        a[kk][3] = fa_ld32(p + 8 * (HS + FA_PAD) + 8);
    }
}

/* acc[nt] (16 x 64) = A (16 x HS, fragments a) · X^T where X is a [64, HS] smem tile (rows = the
 * 64 columns of the product): B[k = d][n = row] = X[row][d], contiguous pairs. */
template <int HS>
__device__ __forceinline__ void fa_mma_abt(float (&acc)[8][4], const uint32_t (&a)[HS / 16][4], const bf16_t *sm) {
    const int lane = threadIdx.x & 31, g = lane >> 2, c = (lane & 3) * 2;
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
#pragma unroll
        for (int k = 0; k < 4; k++) acc[nt][k] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < HS / 16; kk++) {
            const bf16_t *p = sm + (nt * 8 + g) * (HS + FA_PAD) + kk * 16 + c;
            fa_mma(acc[nt], a[kk], fa_ld32(p), fa_ld32(p + 8));
        }
    }
}

/* acc (16 x HS) += P (16 x 64, C fragments p, rounded to BF16) · X where X is a [64, HS] smem tile
 * (B[k = row][n = d] = X[row][d], loaded by ldmatrix.trans). */
template <int HS>
__device__ __forceinline__ void fa_mma_px(float (&acc)[HS / 8][4], const float (&p)[8][4], const bf16_t *sm) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int t = 0; t < 4; t++) { /* rows 16t .. 16t+15 of X = columns of P */
        uint32_t a[4];
        a[0] = fa_pack(p[2 * t][0], p[2 * t][1]);
        a[1] = fa_pack(p[2 * t][2], p[2 * t][3]);
        a[2] = fa_pack(p[2 * t + 1][0], p[2 * t + 1][1]);
        a[3] = fa_pack(p[2 * t + 1][2], p[2 * t + 1][3]);
        const int row = 16 * t + (lane & 7) + ((lane >> 3) & 1) * 8;
#pragma unroll
        for (int dp = 0; dp < HS / 16; dp++) {
            uint32_t b[4];
            fa_ldsm_t(b, sm + row * (HS + FA_PAD) + dp * 16 + (lane >> 4) * 8);
            fa_mma(acc[2 * dp], a, b[0], b[1]);
            fa_mma(acc[2 * dp + 1], a, b[2], b[3]);
        }
    }
}

/* ---- forward ------------------------------------------------------------------------------------- */

template <int HS>
__global__ void __launch_bounds__(FA_THREADS)
    flash_fwd_kernel1(bf16_t *out, float *lse, const bf16_t *qkv, int T, int NH, int C, float scale_log2) {
    __shared__ __align__(16) bf16_t Qs[FA_BM * (HS + FA_PAD)];
    __shared__ __align__(16) bf16_t Ks[2][FA_BM * (HS + FA_PAD)];
    __shared__ __align__(16) bf16_t Vs[2][FA_BM * (HS + FA_PAD)];
    const int nqb = (T + FA_BM - 1) / FA_BM;
    const int qb = nqb - 1 - (int)blockIdx.x; /* heaviest tiles first */
    const int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c2 = (lane & 3) * 2;
    const int64_t ld = 3 * (int64_t)C;
    const bf16_t *qbase = qkv + (int64_t)b * T * ld + (int64_t)h * HS;
    const bf16_t *kbase = qbase + C, *vbase = qbase + 2 * C;
    const int q0 = qb * FA_BM;
    fa_load_tile<HS>(Qs, qbase + (int64_t)q0 * ld, ld, T - q0);
    fa_load_tile<HS>(Ks[0], kbase, ld, T);
    fa_load_tile<HS>(Vs[0], vbase, ld, T);
    fa_commit();
    float o[HS / 8][4];
#pragma unroll
    for (int i = 0; i < HS / 8; i++)
#pragma unroll
        for (int k = 0; k < 4; k++) o[i][k] = 0.0f;
    float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.0f, 0.0f};
    uint32_t qf[HS / 16][4];
    const int nkb = qb + 1;
    const int row0 = q0 + warp * 16 + g; /* this thread's rows: row0 and row0 + 8 */
    for (int j = 0; j < nkb; j++) {
        fa_next_kv<HS>(Ks, Vs, kbase, vbase, ld, T, j, nkb);
        if (j == 0) fa_load_afrag<HS>(qf, Qs, warp * 16);
        float s[8][4];
        fa_mma_abt<HS>(s, qf, Ks[j & 1]);
        const int k0 = j * FA_BM;
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int row = row0 + (e >> 1) * 8, key = k0 + nt * 8 + c2 + (e & 1);
                float v = s[nt][e] * scale_log2;
                if (j == qb && key > row) v = -INFINITY;
                s[nt][e] = v;
                mx[e >> 1] = fmaxf(mx[e >> 1], v);
            }
        float alpha[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
            const float mn = fmaxf(mrow[i], mx[i]); /* finite: key 0 .. row are unmasked somewhere */
            alpha[i] = exp2f(mrow[i] - mn);
            mrow[i] = mn;
            lrow[i] *= alpha[i];
        }
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float p = exp2f(s[nt][e] - mrow[e >> 1]);
                s[nt][e] = p;
                lrow[e >> 1] += p;
            }
#pragma unroll
        for (int i = 0; i < HS / 8; i++) {
            o[i][0] *= alpha[0], o[i][1] *= alpha[0];
            o[i][2] *= alpha[1], o[i][3] *= alpha[1];
        }
        fa_mma_px<HS>(o, s, Vs[j & 1]);
        __syncthreads(); /* the stage read here is refilled by the next iteration's prefetch */
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        lrow[i] += __shfl_xor_sync(0xffffffffu, lrow[i], 1);
        lrow[i] += __shfl_xor_sync(0xffffffffu, lrow[i], 2);
    }
    const float inv[2] = {1.0f / lrow[0], 1.0f / lrow[1]};
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int row = row0 + i * 8;
        if (row >= T) continue;
        bf16_t *op = out + ((int64_t)b * T + row) * C + (int64_t)h * HS + c2;
#pragma unroll
        for (int nt = 0; nt < HS / 8; nt++)
            *reinterpret_cast<uint32_t *>(op + nt * 8) = fa_pack(o[nt][2 * i] * inv[i], o[nt][2 * i + 1] * inv[i]);
        if ((lane & 3) == 0) lse[(int64_t)bh * T + row] = (mrow[i] + log2f(lrow[i])) * FA_LN2;
    }
}

/* ---- backward ------------------------------------------------------------------------------------ */

/* D[(b*NH + h)*T + t] = sum_d dout[b*T + t, h*hs + d] * out[...]: one thread per (row, head). */
template <int HS>
__global__ void flash_bwd_dot_kernel1(float *D, const bf16_t *dout, const bf16_t *out, int64_t BT, int T, int NH,
                                      int C) {
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= BT * NH) return;
    const int64_t r = idx / NH;
    const int h = (int)(idx % NH);
    const bf16_t *a = dout + r * C + (int64_t)h * HS, *o = out + r * C + (int64_t)h * HS;
    float s = 0.0f;
#pragma unroll
    for (int d = 0; d < HS; d += 8) {
        float x[8], y[8];
        ops_load<bf16_t, 8>(x, a + d);
        ops_load<bf16_t, 8>(y, o + d);
#pragma unroll
        for (int k = 0; k < 8; k++) s += x[k] * y[k];
    }
    const int64_t b = r / T, t = r % T;
    D[(b * NH + h) * T + t] = s;
}

/* dK, dV for 64 keys. */
template <int HS>
__global__ void __launch_bounds__(FA_THREADS)
    flash_bwd_dkdv_kernel1(bf16_t *dqkv, const bf16_t *qkv, const bf16_t *dout, const float *lse, const float *D,
                           int T, int NH, int C, float scale, float scale_log2) {
    __shared__ __align__(16) bf16_t Qs[2][FA_BM * (HS + FA_PAD)];
    __shared__ __align__(16) bf16_t Os[2][FA_BM * (HS + FA_PAD)]; /* dO */
    __shared__ float Ls[2][FA_BM], Ds[2][FA_BM];
    const int kb = blockIdx.x; /* heaviest (most query tiles) first */
    const int nqb = (T + FA_BM - 1) / FA_BM;
    const int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c2 = (lane & 3) * 2;
    const int64_t ld = 3 * (int64_t)C;
    const bf16_t *qbase = qkv + (int64_t)b * T * ld + (int64_t)h * HS;
    const bf16_t *obase = dout + (int64_t)b * T * C + (int64_t)h * HS;
    const float *lbase = lse + (int64_t)bh * T, *dbase = D + (int64_t)bh * T;
    const int k0 = kb * FA_BM;
    /* K and V fragments of this warp's 16 keys: staged through Qs[1] / Os[1] before the loop */
    fa_load_tile<HS>(Qs[1], qbase + C + (int64_t)k0 * ld, ld, T - k0);
    fa_load_tile<HS>(Os[1], qbase + 2 * C + (int64_t)k0 * ld, ld, T - k0);
    fa_commit();
    fa_wait<0>();
    __syncthreads();
    uint32_t kf[HS / 16][4], vf[HS / 16][4];
    fa_load_afrag<HS>(kf, Qs[1], warp * 16);
    fa_load_afrag<HS>(vf, Os[1], warp * 16);
    __syncthreads();
    auto load_q = [&](int i, int st) {
        const int q0 = i * FA_BM;
        fa_load_tile<HS>(Qs[st], qbase + (int64_t)q0 * ld, ld, T - q0);
        fa_load_tile<HS>(Os[st], obase + (int64_t)q0 * C, C, T - q0);
        for (int r = threadIdx.x; r < FA_BM; r += FA_THREADS) {
            const bool ok = q0 + r < T;
            Ls[st][r] = ok ? lbase[q0 + r] * FA_LOG2E : 0.0f;
            Ds[st][r] = ok ? dbase[q0 + r] : 0.0f;
        }
        fa_commit();
    };
    float dk[HS / 8][4], dv[HS / 8][4];
#pragma unroll
    for (int i = 0; i < HS / 8; i++)
#pragma unroll
        for (int k = 0; k < 4; k++) dk[i][k] = dv[i][k] = 0.0f;
    const int key0 = k0 + warp * 16 + g; /* this thread's keys: key0 and key0 + 8 */
    load_q(kb, 0);
    for (int i = kb; i < nqb; i++) {
        const int st = (i - kb) & 1;
        if (i + 1 < nqb) {
            load_q(i + 1, st ^ 1);
            fa_wait<1>();
        } else {
            fa_wait<0>();
        }
        __syncthreads();
        const int q0 = i * FA_BM;
        float p[8][4], dp[8][4];
        fa_mma_abt<HS>(p, kf, Qs[st]);  /* S^T [key][q] */
        fa_mma_abt<HS>(dp, vf, Os[st]); /* dP^T [key][q] */
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = key0 + (e >> 1) * 8, ql = nt * 8 + c2 + (e & 1), q = q0 + ql;
                const bool ok = q >= key && q < T;
                const float pv = ok ? exp2f(p[nt][e] * scale_log2 - Ls[st][ql]) : 0.0f;
                p[nt][e] = pv;
                dp[nt][e] = pv * (dp[nt][e] - Ds[st][ql]) * scale;
            }
        fa_mma_px<HS>(dv, p, Os[st]);  /* dV += P^T dO */
        fa_mma_px<HS>(dk, dp, Qs[st]); /* dK += dS^T Q */
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int key = key0 + i * 8;
        if (key >= T) continue;
        bf16_t *kp = dqkv + ((int64_t)b * T + key) * ld + C + (int64_t)h * HS + c2;
        bf16_t *vp = kp + C;
#pragma unroll
        for (int nt = 0; nt < HS / 8; nt++) {
            *reinterpret_cast<uint32_t *>(kp + nt * 8) = fa_pack(dk[nt][2 * i], dk[nt][2 * i + 1]);
            *reinterpret_cast<uint32_t *>(vp + nt * 8) = fa_pack(dv[nt][2 * i], dv[nt][2 * i + 1]);
        }
    }
}

/* dQ for 64 queries. */
template <int HS>
__global__ void __launch_bounds__(FA_THREADS)
    flash_bwd_dq_kernel1(bf16_t *dqkv, const bf16_t *qkv, const bf16_t *dout, const float *lse, const float *D, int T,
                         int NH, int C, float scale, float scale_log2) {
    __shared__ __align__(16) bf16_t Ks[2][FA_BM * (HS + FA_PAD)];
    __shared__ __align__(16) bf16_t Vs[2][FA_BM * (HS + FA_PAD)];
    const int nqb = (T + FA_BM - 1) / FA_BM;
    const int qb = nqb - 1 - (int)blockIdx.x;
    const int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c2 = (lane & 3) * 2;
    const int64_t ld = 3 * (int64_t)C;
    const bf16_t *qbase = qkv + (int64_t)b * T * ld + (int64_t)h * HS;
    const bf16_t *kbase = qbase + C, *vbase = qbase + 2 * C;
    const bf16_t *obase = dout + (int64_t)b * T * C + (int64_t)h * HS;
    const int q0 = qb * FA_BM;
    /* Q and dO fragments, staged through Ks[1] / Vs[1] */
    fa_load_tile<HS>(Ks[1], qbase + (int64_t)q0 * ld, ld, T - q0);
    fa_load_tile<HS>(Vs[1], obase + (int64_t)q0 * C, C, T - q0);
    fa_commit();
    fa_wait<0>();
    __syncthreads();
    uint32_t qf[HS / 16][4], of[HS / 16][4];
    fa_load_afrag<HS>(qf, Ks[1], warp * 16);
    fa_load_afrag<HS>(of, Vs[1], warp * 16);
    __syncthreads();
    const int row0 = q0 + warp * 16 + g;
    float lr[2], dr[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int row = row0 + i * 8;
        lr[i] = row < T ? lse[(int64_t)bh * T + row] * FA_LOG2E : 0.0f;
        dr[i] = row < T ? D[(int64_t)bh * T + row] : 0.0f;
    }
    float dq[HS / 8][4];
#pragma unroll
    for (int i = 0; i < HS / 8; i++)
#pragma unroll
        for (int k = 0; k < 4; k++) dq[i][k] = 0.0f;
    fa_load_tile<HS>(Ks[0], kbase, ld, T);
    fa_load_tile<HS>(Vs[0], vbase, ld, T);
    fa_commit();
    const int nkb = qb + 1;
    for (int j = 0; j < nkb; j++) {
        fa_next_kv<HS>(Ks, Vs, kbase, vbase, ld, T, j, nkb);
        const int k0 = j * FA_BM;
        float p[8][4], dp[8][4];
        fa_mma_abt<HS>(p, qf, Ks[j & 1]);  /* S [q][key] */
        fa_mma_abt<HS>(dp, of, Vs[j & 1]); /* dP [q][key] */
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int row = row0 + (e >> 1) * 8, key = k0 + nt * 8 + c2 + (e & 1);
                const bool ok = key <= row && row < T;
                const float pv = ok ? exp2f(p[nt][e] * scale_log2 - lr[e >> 1]) : 0.0f;
                dp[nt][e] = pv * (dp[nt][e] - dr[e >> 1]) * scale;
            }
        fa_mma_px<HS>(dq, dp, Ks[j & 1]); /* dQ += dS K */
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int row = row0 + i * 8;
        if (row >= T) continue;
        bf16_t *qp = dqkv + ((int64_t)b * T + row) * ld + (int64_t)h * HS + c2;
#pragma unroll
        for (int nt = 0; nt < HS / 8; nt++)
            *reinterpret_cast<uint32_t *>(qp + nt * 8) = fa_pack(dq[nt][2 * i], dq[nt][2 * i + 1]);
    }
}

/* ---- launchers ----------------------------------------------------------------------------------- */

static fp4_status flash_check(const char *op, const fp4_view *qkv, int64_t B, int64_t T, int NH, int *hs,
                              const void *p1, const void *p2, const void *p3) {
    if (qkv->dtype != FP4_DTYPE_BF16)
        return fp4_fail(FP4_ERR_DTYPE, "%s: the CUDA kernel takes BF16 views, got %s", op, fp4_dtype_name(qkv->dtype));
    const int64_t C = qkv->cols / 3;
    *hs = (int)(C / NH);
    if (!fp4_flash_attention_supported(*hs))
        return fp4_fail(FP4_ERR_UNSUPPORTED, "%s: head size %d (the CUDA kernel has 16, 32 and 64)", op, *hs);
    if (T > INT32_MAX / 2 || C > INT32_MAX / 4 || B * NH > 65535 || (T + FA_BM - 1) / FA_BM > INT32_MAX)
        return fp4_fail(FP4_ERR_SHAPE, "%s: B = %lld, T = %lld, NH = %d too large for the CUDA kernel", op,
                        (long long)B, (long long)T, NH);
    if (!ops_aligned(qkv->data, 16) || !ops_aligned(p1, 16) || !ops_aligned(p2, 16) || (p3 && !ops_aligned(p3, 16)))
        return fp4_fail(FP4_ERR_INVALID_ARG, "%s: views must be 16-byte aligned", op);
    return FP4_OK;
}

template <int HS>
static fp4_status flash_fwd_run(fp4_context *ctx, fp4_view *out, float *lse, const fp4_view *qkv, int64_t B, int64_t T,
                                int NH) {
    const int C = (int)(qkv->cols / 3);
    const float scale_log2 = (1.0f / sqrtf((float)HS)) * FA_LOG2E;
    const dim3 grid(fp4_cdiv(T, FA_BM), (unsigned)(B * NH));
    flash_fwd_kernel1<HS><<<grid, FA_THREADS, 0, ops_stream(ctx)>>>((bf16_t *)out->data, lse,
                                                                     (const bf16_t *)qkv->data, (int)T, NH, C,
                                                                     scale_log2);
    FP4_LAUNCH_CHECK("flash_fwd_kernel1");
    return FP4_OK;
}

template <int HS>
static fp4_status flash_bwd_run(fp4_context *ctx, fp4_view *dqkv, const fp4_view *dout, const fp4_view *qkv,
                                const fp4_view *out, const float *lse, int64_t B, int64_t T, int NH) {
    const int C = (int)(qkv->cols / 3);
    const float scale = 1.0f / sqrtf((float)HS), scale_log2 = scale * FA_LOG2E;
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, (size_t)(B * NH * T) * sizeof(float), &ws));
    float *D = (float *)ws;
    cudaStream_t s = ops_stream(ctx);
    flash_bwd_dot_kernel1<HS><<<fp4_cdiv(B * T * NH, 256), 256, 0, s>>>(D, (const bf16_t *)dout->data,
                                                                       (const bf16_t *)out->data, B * T, (int)T, NH,
                                                                       C);
    FP4_LAUNCH_CHECK("flash_bwd_dot_kernel1");
    const dim3 grid(fp4_cdiv(T, FA_BM), (unsigned)(B * NH));
    flash_bwd_dkdv_kernel1<HS><<<grid, FA_THREADS, 0, s>>>((bf16_t *)dqkv->data, (const bf16_t *)qkv->data,
                                                            (const bf16_t *)dout->data, lse, D, (int)T, NH, C, scale,
                                                            scale_log2);
    FP4_LAUNCH_CHECK("flash_bwd_dkdv_kernel1");
    flash_bwd_dq_kernel1<HS><<<grid, FA_THREADS, 0, s>>>((bf16_t *)dqkv->data, (const bf16_t *)qkv->data,
                                                          (const bf16_t *)dout->data, lse, D, (int)T, NH, C, scale,
                                                          scale_log2);
    FP4_LAUNCH_CHECK("flash_bwd_dq_kernel1");
    return FP4_OK;
}

fp4_status fp4_flash_attention_forward_cuda(fp4_context *ctx, fp4_view *out, float *lse, const fp4_view *qkv,
                                            int64_t B, int64_t T, int NH) {
    int hs = 0;
    FP4_TRY(flash_check("fp4_flash_attention_forward", qkv, B, T, NH, &hs, out->data, out->data, NULL));
    if (hs == 16) return flash_fwd_run<16>(ctx, out, lse, qkv, B, T, NH);
    if (hs == 32) return flash_fwd_run<32>(ctx, out, lse, qkv, B, T, NH);
    return flash_fwd_run<64>(ctx, out, lse, qkv, B, T, NH);
}

fp4_status fp4_flash_attention_backward_cuda(fp4_context *ctx, fp4_view *dqkv, const fp4_view *dout,
                                             const fp4_view *qkv, const fp4_view *out, const float *lse, int64_t B,
                                             int64_t T, int NH) {
    int hs = 0;
    FP4_TRY(flash_check("fp4_flash_attention_backward", qkv, B, T, NH, &hs, dqkv->data, dout->data, out->data));
    if (hs == 16) return flash_bwd_run<16>(ctx, dqkv, dout, qkv, out, lse, B, T, NH);
    if (hs == 32) return flash_bwd_run<32>(ctx, dqkv, dout, qkv, out, lse, B, T, NH);
    return flash_bwd_run<64>(ctx, dqkv, dout, qkv, out, lse, B, T, NH);
}
