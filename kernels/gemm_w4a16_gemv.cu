/* kernels/gemm_w4a16_gemv.cu — W4A16 GEMM for decode-sized batches (M <= 16): the default FUSED
 * / AUTO kernel for M <= 16 with an aligned BF16 activation.
 *
 *   D[M,N] = alpha * alpha_t * A[M,K] · W[N,K]ᵀ (+ beta C),  A BF16 [M, ld] (16-byte aligned,
 *   ld % 8 == 0), W packed E2M1 [N, K/2] (16-byte aligned) with block scales [N, K/bw] (4-byte
 *   aligned; NVFP4: E4M3 per 16, MXFP4: E8M0 per 32), K % 128 == 0, 1 <= M <= 16.
 *
 * w4a16_gemv_kernel<MT8, NV> — about one CTA per SM, 512 threads = 16 warps, one launch:
 *   grid (ceil(N / 16 RG), S). CTA (x, y) owns weight rows [16 RG x, +16 RG) and the K slice of
 *   128-K chunks [y cps, (y+1) cps). Warp w = (rg = w % RG, kw = w / RG) owns the 16 rows
 *   16 rg .. +15 of the tile and the slice's chunks kw, kw + KW, kw + 2 KW, ... (KW = 16 / RG):
 *   the KW warps of a row group read KW neighbouring chunks of the same rows at any time.
 *   RG and S are chosen so that about one CTA runs per SM (gemm_gemv_launch): S = 1 whenever the
 *   activation slice fits in shared memory, else 2, 4, 8 (CTAs (x, 0 .. S-1), no cluster).
 *   - Programmatic dependent launch (pdl >= 1, the default on sm_90): every CTA signals
 *     griddepcontrol.launch_dependents at its start, so the next PDL launch on the stream (the
 *     next layer's call) gets SMs as soon as this grid's CTAs leave them; the index math and the
 *     decode-table build run before griddepcontrol.wait, every global access (weights,
 *     activations, tensor scale, C, D) after it. pdl = 2 (the default) also asks L2
 *     (prefetch.global.L2) for the weight lines of the warp's first P steps (P = 1 by default;
 *     hinting the scale lines too was 0.3-0.5 µs slower, notes run 11) before the wait, so DRAM
 *     works during the previous grid's tail — a hint only: L2 is the coherence point, the
 *     loads after the wait see the previous grid's writes. pdl = 1: no hint; pdl = 0: no PDL,
 *     the loads go out before the table build (the run-5 order).
 *   - Weights are the mma's A operand (m16 = 16 weight rows), activations its B operand (n8 =
 *     8 rows of A; MT8 = 2 tiles for M 9..16). Lane (g, t) loads rows 16 rg + g and + 8, 16 B
 *     each per chunk (codes K 32t .. 32t+31 of the chunk) and their scale bytes into two
 *     register buffers; the load for step j + 2 is issued once step j is decoded (no copies).
 *   - Decode by table, exact: each packed byte holds two codes of consecutive K = one bf16x2
 *     fragment register. A 64 KB shared table row v (256 B) holds 32 copies (one per lane: no
 *     bank conflicts) of the bf16x2 pair (e2m1(v & 15), e2m1(v >> 4)) and 32 copies of the
 *     block-scale value s(v) (E4M3 or E8M0 as bf16, NaN kept). One PRMT builds the address
 *     v·256 + 4·lane from a code word, one LDS fetches the pair, one mul.rn.bf16x2 by the
 *     scale gives the operand e2m1·s — exact (<= 6 significant bits, >= 2^-10 for NVFP4), no
 *     bias, no subnormal intermediates.
 *   - mma k-slots: step 2j of a chunk takes bytes 4j, 4j+1 of the lane's 16 (K 32t+8j .. +3),
 *     step 2j+1 bytes 4j+2, 4j+3 (K +4 .. +7); the activation fragments of both steps are the
 *     16 bytes A[m][32t+8j .. +7] = one LDS.128 from the staged slice (row stride ≡ 16 mod 128,
 *     16-byte unit u at u ^ (((u >> 3) & 1) << 1): conflict-free). Lanes whose activation row
 *     g (+8) is >= M skip that load (their output column is never stored).
 *   - Activation slice [M][cps*128] staged by cp.async in two groups: the chunks of every warp's
 *     first two steps, then the rest while those are computed.
 *   - Reduction, fixed order (bit-identical run to run): the KW warps of a row group write their
 *     FP32 partials to shared memory, summed in kw order; S > 1: every CTA writes its slice's sums
 *     to the context workspace [tile][slice][M x R] and counts itself in on the tile's counter
 *     (fp4_context_counters; atomicInc wraps it back to zero), and the last CTA of the tile sums
 *     the S slices in slice order and runs the epilogue (measured faster than the earlier
 *     cluster / distributed-shared-memory reduction, notes run 11, and needs no co-residency).
 * Shared memory: 64 KB table + max(activation slice, reduction tile).
 */
#include <stdlib.h>
#include <string.h>

#include "gemm_common.cuh"

#define GV_W 16                /* warps per CTA (32 warps at 64 registers spill) */
#define GV_T (32 * GV_W)
#define GV_LUT_BYTES 65536     /* 256 rows x (32 pair copies + 32 scale copies) x 4 B */
#define GV_KCHUNK 128

/* 16 bytes, read-only, not kept in L1, L2 fetches 256 B around it (the row's next chunks). */
__device__ __forceinline__ uint4 gv_ldg16(const void *p) {
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0,%1,%2,%3}, [%4];"
        : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
        : "l"(p));
    return r;
}

/* 16-byte shared load when p != 0; otherwise the registers keep whatever they held (used for
 * activation rows >= M, whose output columns are discarded). */
__device__ __forceinline__ uint4 gv_lds16_if(uint32_t addr, int p) {
    uint4 r;
    asm volatile("{\n .reg .pred q;\n setp.ne.s32 q, %5, 0;\n @q ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];\n}\n"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
                 : "r"(addr), "r"(p)
                 : "memory");
    return r;
}

/* Table address of byte `sel` of w for this lane: (byte << 8) | lane4 (lane4 = 4 * lane). */
#define GV_ADDR(w, lane4, sel) __byte_perm((w), (lane4), 0x5504u | ((uint32_t)(sel) << 4))

/* One lane's share of one chunk: codes of rows g (q0) and g + 8 (q1), their scale bytes (s0, s1). */
struct gv_chunk {
    uint4 q0, q1;
    uint32_t s0, s1;
};

template <bool NV>
__device__ __forceinline__ void gv_load(gv_chunk &b, const uint8_t *pw0, const uint8_t *pw1, const uint8_t *ps0,
                                        const uint8_t *ps1) {
    b.q0 = gv_ldg16(pw0);
    b.q1 = gv_ldg16(pw1);
    if (NV) {
        b.s0 = __ldg((const unsigned short *)ps0);
        b.s1 = __ldg((const unsigned short *)ps1);
    } else {
        b.s0 = __ldg(ps0);
        b.s1 = __ldg(ps1);
    }
}

/* Programmatic dependent launch (sm_90; no-ops when the launch had no PDL attribute). */
__device__ __forceinline__ void gv_pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void gv_pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
/* L2 prefetch hint for the line holding p (no register result, no ordering). */
__device__ __forceinline__ void gv_prefetch_l2(const void *p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

/* Decode one chunk (exact) and issue its 8 MT8 mma. Scale byte k (0: first 16 codes, 1: second;
 * MXFP4 one byte) of row g / g+8 sits where PRMT selector sel0 / sel1 (0x5504 | byte << 4) picks
 * it from s0 / s1. aLo / aHi: activation addresses of words j < 2 / j >= 2 (row g); mt = 1 adds
 * RS8 (8 rows). */
template <int MT8, bool NV>
__device__ __forceinline__ void gv_mma_chunk(float (&acc)[MT8][4], const gv_chunk &b, uint32_t sel0, uint32_t sel1,
                                             const uint8_t *lut, uint32_t lane4, uint32_t aLo, uint32_t aHi,
                                             uint32_t RS8, int pa0, int pa1) {
    uint32_t sc0[2], sc1[2]; /* bf16x2 (s, s) of [row g / g+8][K half of the lane's 32] */
    sc0[0] = *(const uint32_t *)(lut + 128 + __byte_perm(b.s0, lane4, sel0));
    sc1[0] = *(const uint32_t *)(lut + 128 + __byte_perm(b.s1, lane4, sel0));
    sc0[1] = NV ? *(const uint32_t *)(lut + 128 + __byte_perm(b.s0, lane4, sel1)) : sc0[0];
    sc1[1] = NV ? *(const uint32_t *)(lut + 128 + __byte_perm(b.s1, lane4, sel1)) : sc1[0];
    const uint32_t w0v[4] = {b.q0.x, b.q0.y, b.q0.z, b.q0.w}, w1v[4] = {b.q1.x, b.q1.y, b.q1.z, b.q1.w};
#pragma unroll
    for (int j = 0; j < 4; j++) {
        uint32_t p0[4], p1[4];
#pragma unroll
        for (int y = 0; y < 4; y++) {
            p0[y] = bf16x2_mul(*(const uint32_t *)(lut + GV_ADDR(w0v[j], lane4, y)), sc0[j >> 1]);
            p1[y] = bf16x2_mul(*(const uint32_t *)(lut + GV_ADDR(w1v[j], lane4, y)), sc1[j >> 1]);
        }
        const uint32_t af0[4] = {p0[0], p1[0], p0[1], p1[1]};
        const uint32_t af1[4] = {p0[2], p1[2], p0[3], p1[3]};
        const uint32_t ad = (j < 2 ? aLo : aHi) + 16u * j;
#pragma unroll
        for (int mt = 0; mt < MT8; mt++) {
            const uint4 x = gv_lds16_if(ad + (mt ? RS8 : 0u), mt ? pa1 : pa0);
            mma_bf16_16816(acc[mt], af0, x.x, x.y);
            mma_bf16_16816(acc[mt], af1, x.z, x.w);
        }
    }
}

template <int MT8, bool NV>
__global__ void __launch_bounds__(GV_T, 1) w4a16_gemv_kernel(gemm_operand a, gemm_operand b, int64_t K, int lgRG,
                                                           int cps, int mode, float *wsp, unsigned *cnt,
                                                           fp4_epilogue epi) {
    extern __shared__ __align__(128) uint8_t gv_smem[];
    constexpr int BW = NV ? 16 : 32;
    const int64_t M = a.rows, N = b.rows;
    const int RG = 1 << lgRG, KW = GV_W >> lgRG, R = 16 * RG;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int rg = warp & (RG - 1), kw = warp >> lgRG;
    const int64_t kch = K / GV_KCHUNK;
    const int64_t cb = (int64_t)blockIdx.y * cps;     /* CTA's first chunk */
    const int nc = (int)min((int64_t)cps, kch - cb); /* chunks in the CTA's slice (>= 1) */
    const int wn = nc > kw ? (nc - kw + KW - 1) / KW : 0; /* this warp: steps j = chunks kw + j KW */
    gv_pdl_trigger(); /* the next PDL grid may take SMs as this grid's CTAs leave them */
    const int pdl = mode & 3, pfs = mode >> 4; /* launch mode, steps hinted to L2 (pdl = 2) */
    const int64_t n0 = (int64_t)blockIdx.x * R;
    const bool split = gridDim.y > 1;
    uint8_t *sA = gv_smem + GV_LUT_BYTES;
    const int RS = cps * 256 + 16;
    const uint32_t smem0 = (uint32_t)__cvta_generic_to_shared(gv_smem);

    /* weight rows of this lane (clamped: rows >= N compute values never stored) */
    const int64_t r0 = min(n0 + 16 * rg + g, N - 1), r1 = min(n0 + 16 * rg + 8 + g, N - 1);
    const int64_t c0 = cb + kw;
    const uint8_t *pw0 = (const uint8_t *)b.data + r0 * (K / 2) + c0 * 64 + 16 * t;
    const uint8_t *pw1 = (const uint8_t *)b.data + r1 * (K / 2) + c0 * 64 + 16 * t;
    /* scale bytes of the lane's 32 codes: u16 (NVFP4, two blocks) or u8 (MXFP4) */
    const uint8_t *ps0 = b.scales + r0 * (K / BW) + c0 * (GV_KCHUNK / BW) + (NV ? 2 * t : t);
    const uint8_t *ps1 = b.scales + r1 * (K / BW) + c0 * (GV_KCHUNK / BW) + (NV ? 2 * t : t);
    const int wst = 64 * KW, sst = (GV_KCHUNK / BW) * KW; /* bytes between a warp's steps */
    const uint32_t sel0 = 0x5504u, sel1 = 0x5514u;

    /* 1. the first two steps' weights into registers, then the activation slice [M][nc*128] ->
     * shared (cp.async), 16-byte unit u of row m at m*RS + 16*(u ^ sw), in two groups: the chunks
     * of every warp's first two steps (the prefix 0 .. 2KW-1), then the rest. Without PDL this
     * runs before the table build (hides the DRAM latency under it); with PDL after the wait. */
    gv_chunk bA, bB;
    auto issue_loads = [&]() {
        if (wn > 0) gv_load<NV>(bA, pw0, pw1, ps0, ps1);
        if (wn > 1) gv_load<NV>(bB, pw0 + wst, pw1 + wst, ps0 + sst, ps1 + sst);
        const int upr = nc * 16, u0 = min(upr, 32 * KW);
        for (int m = 0; m < (int)M; m++) {
            const uint16_t *src = (const uint16_t *)a.data + m * a.ld + cb * GV_KCHUNK;
            for (int u = threadIdx.x; u < u0; u += GV_T)
                cp_async16(sA + m * RS + 16 * (u ^ (((u >> 3) & 1) << 1)), src + 8 * u, 16);
        }
        cp_async_commit();
        for (int m = 0; m < (int)M; m++) {
            const uint16_t *src = (const uint16_t *)a.data + m * a.ld + cb * GV_KCHUNK;
            for (int u = u0 + threadIdx.x; u < upr; u += GV_T)
                cp_async16(sA + m * RS + 16 * (u ^ (((u >> 3) & 1) << 1)), src + 8 * u, 16);
        }
        cp_async_commit();
    };
    if (!pdl) issue_loads();
    else if (pdl == 2) /* L2 hint for the first pfs steps' weight lines (before the wait) */
        for (int j = 0; j < min(wn, pfs); j++) gv_prefetch_l2(pw0 + j * wst), gv_prefetch_l2(pw1 + j * wst);

    /* 2. decode table: thread (v, h) fills half-row h of row v; pieces rotated by thread so a
     * quarter-warp's 16-byte stores hit 8 different bank groups */
    {
        const int v = threadIdx.x >> 1, h = threadIdx.x & 1;
        uint32_t val;
        if (h == 0) {
            val = (uint32_t)fp4_f32_to_bf16(fp4_e2m1_decode((uint8_t)(v & 15))) |
                  ((uint32_t)fp4_f32_to_bf16(fp4_e2m1_decode((uint8_t)(v >> 4))) << 16);
        } else {
            const uint32_t sv = fp4_f32_to_bf16(NV ? fp4_e4m3_decode((uint8_t)v) : fp4_e8m0_decode((uint8_t)v));
            val = sv | (sv << 16);
        }
        const uint4 v4 = make_uint4(val, val, val, val);
#pragma unroll
        for (int q = 0; q < 8; q++) *(uint4 *)(gv_smem + v * 256 + h * 128 + 16 * ((q + threadIdx.x) & 7)) = v4;
    }
    /* everything above touched no global memory: wait here for the previous grid (PDL) */
    if (pdl) {
        gv_pdl_wait();
        issue_loads();
    }
    const float at = epi_alpha_t(epi);
    cp_async_wait<1>();
    __syncthreads();

    /* 3. stream: step j = chunk kw + j KW */
    const uint32_t lane4 = 4u * (uint32_t)lane;
    const uint8_t *lut = gv_smem;
    const uint32_t abase = smem0 + GV_LUT_BYTES + (uint32_t)(g * RS + 64 * t + 256 * kw);
    const uint32_t sw = (t >> 1) ? 32u : 0u;
    uint32_t aLo = abase + sw, aHi = abase - sw; /* word j < 2 at aLo + 16 j, j >= 2 at aHi + 16 j */
    const uint32_t RS8 = 8u * (uint32_t)RS, ast = 256u * (uint32_t)KW;
    const int pa0 = g < M, pa1 = g + 8 < M;
    float acc[MT8][4];
#pragma unroll
    for (int mt = 0; mt < MT8; mt++)
#pragma unroll
        for (int i = 0; i < 4; i++) acc[mt][i] = 0.0f;

    {
        /* two register buffers; the load for step j + 2 is issued once step j is decoded */
        if (wn > 0) {
            gv_mma_chunk<MT8, NV>(acc, bA, sel0, sel1, lut, lane4, aLo, aHi, RS8, pa0, pa1);
            if (wn > 2) gv_load<NV>(bA, pw0 + 2 * wst, pw1 + 2 * wst, ps0 + 2 * sst, ps1 + 2 * sst);
        }
        if (wn > 1) {
            gv_mma_chunk<MT8, NV>(acc, bB, sel0, sel1, lut, lane4, aLo + ast, aHi + ast, RS8, pa0, pa1);
            if (wn > 3) gv_load<NV>(bB, pw0 + 3 * wst, pw1 + 3 * wst, ps0 + 3 * sst, ps1 + 3 * sst);
        }
        cp_async_wait<0>();
        __syncthreads(); /* the rest of the activation slice */
        for (int j = 2; j < wn; j += 2) {
            pw0 += 2 * wst, pw1 += 2 * wst, ps0 += 2 * sst, ps1 += 2 * sst;
            aLo += 2 * ast, aHi += 2 * ast;
            gv_mma_chunk<MT8, NV>(acc, bA, sel0, sel1, lut, lane4, aLo, aHi, RS8, pa0, pa1);
            if (j + 2 < wn) gv_load<NV>(bA, pw0 + 2 * wst, pw1 + 2 * wst, ps0 + 2 * sst, ps1 + 2 * sst);
            if (j + 1 < wn) {
                gv_mma_chunk<MT8, NV>(acc, bB, sel0, sel1, lut, lane4, aLo + ast, aHi + ast, RS8, pa0, pa1);
                if (j + 3 < wn) gv_load<NV>(bB, pw0 + 3 * wst, pw1 + 3 * wst, ps0 + 3 * sst, ps1 + 3 * sst);
            }
        }
    }

    /* 4. reduction: red[kw][m][R + 4] (fp32) summed in kw order; S > 1: every CTA pushes the
     * entries another slice owns into that CTA's receive buffer (distributed shared memory), one
     * cluster barrier, and the owner sums the S slices in slice order */
    const int RP = R + 4;
    __syncthreads(); /* every warp is done with sA */
    float *red = (float *)sA;
#pragma unroll
    for (int mt = 0; mt < MT8; mt++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int m = 8 * mt + 2 * t + (i & 1);
            const int nl = 16 * rg + g + 8 * (i >> 1);
            if (m < M) red[(kw * 8 * MT8 + m) * RP + nl] = acc[mt][i];
        }
    __syncthreads();
    const int E = (int)M * R;
    /* entry e = (m, nl) of this CTA's slice: the KW warps' partials in kw order */
    auto slice_sum = [&](int m, int nl) {
        float s = red[m * RP + nl];
        for (int k2 = 1; k2 < KW; k2++) s = __fadd_rn(s, red[(k2 * 8 * MT8 + m) * RP + nl]);
        return s;
    };
    if (!split) {
        for (int e = threadIdx.x; e < E; e += GV_T) {
            const int m = e >> (4 + lgRG), nl = e & (R - 1);
            if (n0 + nl < N) epi_store(epi, at, m, n0 + nl, slice_sum(m, nl));
        }
        return;
    }
    /* S > 1: every CTA writes its slice's sums to wsp[tile][slice][E] and counts itself in on
     * cnt[tile] (atomicInc wraps it back to 0: the counters stay zero between calls); the last
     * CTA of the tile sums the S slices in slice order (bit-identical whichever CTA comes last)
     * and runs the epilogue. */
    const int S = (int)gridDim.y, y = (int)blockIdx.y;
    float *tws = wsp + (size_t)blockIdx.x * S * E;
    volatile int *last = (volatile int *)gv_smem; /* the decode table is dead by now */
    for (int e = threadIdx.x; e < E; e += GV_T) {
        const int m = e >> (4 + lgRG), nl = e & (R - 1);
        const float s = slice_sum(m, nl);
        red[m * RP + nl] = s; /* kw = 0's entry: read again only by this thread */
        __stcg(tws + (size_t)y * E + e, s);
    }
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        *last = atomicInc(cnt + blockIdx.x, (unsigned)S - 1u) == (unsigned)S - 1u;
        __threadfence();
    }
    __syncthreads();
    if (!*last) return;
    for (int e = threadIdx.x; e < E; e += GV_T) {
        const int m = e >> (4 + lgRG), nl = e & (R - 1);
        float s = 0.0f;
        for (int y2 = 0; y2 < S; y2++) {
            const float p = y2 == y ? red[m * RP + nl] : __ldcg(tws + (size_t)y2 * E + e);
            s = y2 ? __fadd_rn(s, p) : p;
        }
        if (n0 + nl < N) epi_store(epi, at, m, n0 + nl, s);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* launch                                                                                     */

bool gemm_gemv_ok(const gemm_operand &a, const gemm_operand &b, int64_t K) {
    if (a.fp4 || a.rows < 1 || a.rows > 16 || K % GV_KCHUNK) return false;
    if ((uintptr_t)a.data % 16 || a.ld % 8) return false;
    if ((uintptr_t)b.data % 16 || (uintptr_t)b.scales % 4) return false;
    return true;
}

static int gv_smem_optin(void) {
    static int cached[64];
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return 227 * 1024;
    if (!cached[dev]) {
        int v = 0;
        if (cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess || v <= 0)
            v = 227 * 1024;
        cached[dev] = v;
    }
    return cached[dev];
}

/* Diagnostics (benchmarks/notes/gemm.md runs 5, 8): FP4KIT_GEMM_GEMV_S=n forces n K slices;
 * FP4KIT_GEMM_GEMV_PDL=0|1|2 the programmatic-dependent-launch mode (see the kernel comment;
 * default GV_PDL_DEFAULT on compute capability >= 9.0, 0 below); FP4KIT_GEMM_GEMV_PFS=n the
 * steps per warp hinted to L2 in mode 2 (default GV_PFS_DEFAULT). Same results in every mode. */
static int gv_env(const char *name, int dflt) {
    const char *e = getenv(name);
    return e && e[0] ? atoi(e) : dflt;
}
static int gv_env_s(void) { /* read per call (tests switch it) */
    const int v = gv_env("FP4KIT_GEMM_GEMV_S", 0);
    return v < 0 || v > 8 ? 0 : v;
}
#ifndef GV_PDL_DEFAULT
#define GV_PDL_DEFAULT 2
#endif
#ifndef GV_PFS_DEFAULT
#define GV_PFS_DEFAULT 1 /* notes run 11: 1 step 0.1-0.3 µs faster than 2 at 4096², 0.1 slower at 8192², M = 1 */
#endif

/* read per call (tests switch it); the compute capability is cached per device */
static int gv_pdl_mode(void) {
    static int cc_cached[64]; /* major + 1 */
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return 0;
    if (!cc_cached[dev]) {
        int cc = 0;
        if (cudaDeviceGetAttribute(&cc, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) cc = 0;
        cc_cached[dev] = cc + 1;
    }
    const int v = gv_env("FP4KIT_GEMM_GEMV_PDL", GV_PDL_DEFAULT);
    return v < 0 || v > 2 || cc_cached[dev] - 1 < 9 ? 0 : v;
}

template <int MT8, bool NV>
static fp4_status gv_run(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K, int lgRG, int S,
                         int cps, size_t smem, const fp4_epilogue &epi) {
    auto kern = w4a16_gemv_kernel<MT8, NV>;
    static int attr_done[64];
    FP4_TRY(gemm_smem_attr((const void *)kern, smem, attr_done));
    cudaLaunchConfig_t cfg;
    memset(&cfg, 0, sizeof cfg);
    const int64_t ntiles = fp4_cdiv(b.rows, 16 << lgRG);
    cfg.gridDim = dim3((unsigned)ntiles, (unsigned)S, 1);
    cfg.blockDim = dim3(GV_T);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = (cudaStream_t)fp4_context_stream(ctx);
    float *wsp = NULL;
    unsigned *cnt = NULL;
    if (S > 1) { /* slice sums [ntiles][S][M * 16 RG] and one arrival counter per row tile */
        void *p = NULL;
        FP4_TRY(fp4_context_workspace(ctx, (size_t)ntiles * S * a.rows * (16 << lgRG) * sizeof(float), &p));
        FP4_TRY(fp4_context_counters(ctx, (size_t)ntiles, &cnt));
        wsp = (float *)p;
    }
    cudaLaunchAttribute attr[1];
    unsigned na = 0;
    const int pdl = gv_pdl_mode();
    if (pdl) { /* may start under the previous kernel's tail; the kernel waits before any global access */
        attr[na].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[na].val.programmaticStreamSerializationAllowed = 1;
        na++;
    }
    cfg.attrs = attr;
    cfg.numAttrs = na;
    int pfs = gv_env("FP4KIT_GEMM_GEMV_PFS", GV_PFS_DEFAULT);
    pfs = pfs < 0 ? 0 : pfs > 64 ? 64 : pfs;
    const int mode = pdl | pfs << 4;
    FP4_CUDA_TRY(cudaLaunchKernelEx(&cfg, kern, a, b, K, lgRG, cps, mode, wsp, cnt, epi));
    FP4_LAUNCH_CHECK("w4a16_gemv_kernel");
    return FP4_OK;
}

/* Plan and launch. Returns false (nothing launched) when the activation slice cannot fit in
 * shared memory with at most 8 slices; the caller then uses small_kernel1. */
bool gemm_gemv_launch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                      const fp4_epilogue &epi, fp4_status *st) {
    const int64_t M = a.rows, N = b.rows, kch = K / GV_KCHUNK;
    const int sms = gemm_sm_count(), MT8 = M <= 8 ? 1 : 2;
    const size_t optin = (size_t)gv_smem_optin();
    /* rows per CTA for S slices: 16 RG, the smallest RG (power of 2, <= 16) that keeps the grid to
     * one CTA per SM */
    auto plan_rg = [&](int S) {
        int lg = 0;
        while ((1 << lg) < GV_W && (int64_t)fp4_cdiv(N, 16 << lg) * S > sms) lg++;
        return lg;
    };
    /* shared memory of a plan; *cps_out / *sa_out: chunks per slice, slices used */
    auto plan_smem = [&](int S, int lg, int *cps_out, int *sa_out) {
        const int cps = (int)((kch + S - 1) / S), Sa = (int)((kch + cps - 1) / cps), R = 16 << lg;
        const size_t abytes = (size_t)M * (cps * 256 + 16);
        const size_t rbytes = (size_t)(GV_W >> lg) * 8 * MT8 * (R + 4) * 4;
        *cps_out = cps, *sa_out = Sa;
        return GV_LUT_BYTES + (abytes > rbytes ? abytes : rbytes);
    };
    /* K slices: one when the activation slice fits (measured fastest: run 5, and run 11 at 4096²,
     * M = 16: 12.0 µs vs 13.5 / 14.8 / 19.2 with 2 / 4 / 8 slices), else 2, 4, 8; more when few
     * row tiles leave SMs idle. */
    int S = gv_env_s() ? gv_env_s() : 1, cps, Sa;
    if (S > kch) S = (int)kch;
    if (!gv_env_s()) {
        while (S < 8 && S < kch && plan_smem(S, plan_rg(S), &cps, &Sa) > optin) S *= 2;
        const int64_t ntiles = fp4_cdiv(N, 16 << plan_rg(S));
        while (S < 8 && 2 * S <= kch && ntiles * 2 * S <= sms) S *= 2;
    }
    for (;;) {
        const int lgRG = plan_rg(S);
        const size_t smem = plan_smem(S, lgRG, &cps, &Sa);
        if (smem <= optin) {
            if (MT8 == 1) *st = b.nv ? gv_run<1, true>(ctx, a, b, K, lgRG, Sa, cps, smem, epi)
                                     : gv_run<1, false>(ctx, a, b, K, lgRG, Sa, cps, smem, epi);
            else *st = b.nv ? gv_run<2, true>(ctx, a, b, K, lgRG, Sa, cps, smem, epi)
                            : gv_run<2, false>(ctx, a, b, K, lgRG, Sa, cps, smem, epi);
            return true;
        }
        if (S >= 8 || S >= kch) return false;
        S *= 2;
    }
}
