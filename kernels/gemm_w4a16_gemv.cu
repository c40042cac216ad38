/* kernels/gemm_w4a16_gemv.cu — W4A16 GEMM for decode-sized batches (M <= 16): the default FUSED
 * / AUTO kernel for M <= 16 with an aligned BF16 activation.
 *
 *   D[M,N] = alpha * alpha_t * A[M,K] · W[N,K]ᵀ (+ beta C),  A BF16 [M, ld] (16-byte aligned,
 *   ld % 8 == 0), W packed E2M1 [N, K/2] (16-byte aligned) with block scales [N, K/bw]
 *   (NVFP4: E4M3 per 16, MXFP4: E8M0 per 32), K % 128 == 0, 1 <= M <= 16.
 *
 * w4a16_gemv_kernel<MT8, NV> — one CTA per SM, 512 threads = 16 warps, no workspace:
 *   grid (ceil(N / 16 RG), S). CTA (x, y) owns weight rows [16 RG x, +16 RG) and the K slice of
 *   128-K chunks [y cps, (y+1) cps). Warp w = (rg = w % RG, kw = w / RG) owns the 16 rows
 *   16 rg .. +15 of the tile over its share kw of the CTA's chunks (the KW = 16 / RG warps of a
 *   row group split the slice). RG and S are chosen so that about one CTA runs per SM
 *   (gemm_gemv_launch); S > 1 CTAs of one row tile form a thread-block cluster (1, S, 1).
 *   - Weights are the mma's A operand (m16 = 16 weight rows), activations its B operand (n8 =
 *     8 rows of A; MT8 = 2 tiles for M 9..16). Lane (g, t) streams rows 16 rg + g and + 8, 16 B
 *     each per chunk (codes K 32t .. 32t+31 of the chunk: LDG.128 with an L2::256B hint) plus
 *     their scale bytes, GV_D chunks ahead in registers; no barrier in the loop.
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
 *   - MT8 = 1: two accumulator chains (even / odd steps), summed at the end; MT8 = 2: the two
 *     tiles' chains interleave.
 *   - Reduction, fixed order (bit-identical run to run): the KW warps of a row group write
 *     their FP32 partials to shared memory and are summed in kw order; S > 1: each CTA keeps
 *     its slice's tile, cluster.sync(), CTA r sums its share of the tile over the S slices in
 *     slice order through distributed shared memory and runs the epilogue.
 *   - Prologue order: weight prefetch and the tensor-scale load first, then the activation
 *     slice (cp.async) and the table, one barrier.
 * Shared memory: 64 KB table + max(M · (cps·256 + 16) activation bytes, reduction tile).
 */
#include <cooperative_groups.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_common.cuh"

#define GV_WARPS 16
#define GV_THREADS (32 * GV_WARPS)
#define GV_D 2                 /* chunks in flight per lane */
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

template <int MT8, bool NV>
__global__ void __launch_bounds__(GV_THREADS, 1)
    w4a16_gemv_kernel(gemm_operand a, gemm_operand b, int64_t K, int RG, int cps, fp4_epilogue epi) {
    extern __shared__ __align__(128) uint8_t gv_smem[];
    constexpr int BW = NV ? 16 : 32;
    const int64_t M = a.rows, N = b.rows;
    const int KW = GV_WARPS / RG, R = 16 * RG;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int rg = warp % RG, kw = warp / RG;
    const int64_t kch = K / GV_KCHUNK;
    const int64_t cb = (int64_t)blockIdx.y * cps;     /* CTA's first chunk */
    const int nc = (int)min((int64_t)cps, kch - cb); /* chunks in the CTA's slice (>= 1) */
    const int w0 = kw * nc / KW, w1 = (kw + 1) * nc / KW, wn = w1 - w0;
    const int64_t n0 = (int64_t)blockIdx.x * R;

    /* 1. weight stream: rows of this lane (clamped: rows >= N compute values never stored) */
    const int64_t r0 = min(n0 + 16 * rg + g, N - 1), r1 = min(n0 + 16 * rg + 8 + g, N - 1);
    const int64_t c0 = cb + w0;
    const uint8_t *pw0 = (const uint8_t *)b.data + r0 * (K / 2) + c0 * 64 + 16 * t;
    const uint8_t *pw1 = (const uint8_t *)b.data + r1 * (K / 2) + c0 * 64 + 16 * t;
    const uint8_t *ps0 = b.scales + r0 * (K / BW) + c0 * (GV_KCHUNK / BW) + (NV ? 2 * t : t);
    const uint8_t *ps1 = b.scales + r1 * (K / BW) + c0 * (GV_KCHUNK / BW) + (NV ? 2 * t : t);
    uint4 wq0[GV_D], wq1[GV_D];
    uint32_t sq0[GV_D], sq1[GV_D];
#pragma unroll
    for (int d = 0; d < GV_D; d++) {
        wq0[d] = wq1[d] = make_uint4(0u, 0u, 0u, 0u);
        sq0[d] = sq1[d] = 0u;
        if (d < wn) {
            wq0[d] = gv_ldg16(pw0 + 64 * d);
            wq1[d] = gv_ldg16(pw1 + 64 * d);
            if (NV) {
                sq0[d] = __ldg((const unsigned short *)(ps0 + 8 * d));
                sq1[d] = __ldg((const unsigned short *)(ps1 + 8 * d));
            } else {
                sq0[d] = __ldg(ps0 + 4 * d);
                sq1[d] = __ldg(ps1 + 4 * d);
            }
        }
    }
    const float at = epi_alpha_t(epi);

    /* 2. activation slice [M][nc*128] -> shared, 16-byte unit u of row m at m*RS + 16*(u ^ sw) */
    uint8_t *sA = gv_smem + GV_LUT_BYTES;
    const int RS = cps * 256 + 16;
    {
        const int upr = nc * 16;
        for (int m = 0; m < (int)M; m++) {
            const uint16_t *src = (const uint16_t *)a.data + m * a.ld + cb * GV_KCHUNK;
            for (int u = threadIdx.x; u < upr; u += GV_THREADS)
                cp_async16(sA + m * RS + 16 * (u ^ (((u >> 3) & 1) << 1)), src + 8 * u, 16);
        }
        cp_async_commit();
    }
    /* 3. decode table: thread (v, h) fills half-row h of row v; pieces rotated by thread so a
     * quarter-warp's 16-byte stores hit 8 different bank groups */
    {
        const int v = threadIdx.x >> 1, h = threadIdx.x & 1;
        uint32_t val;
        if (h == 0) {
            val = (uint32_t)fp4_f32_to_bf16(fp4_e2m1_decode((uint8_t)(v & 15))) |
                  ((uint32_t)fp4_f32_to_bf16(fp4_e2m1_decode((uint8_t)(v >> 4))) << 16);
        } else {
            const uint32_t s = fp4_f32_to_bf16(NV ? fp4_e4m3_decode((uint8_t)v) : fp4_e8m0_decode((uint8_t)v));
            val = s | (s << 16);
        }
        const uint4 v4 = make_uint4(val, val, val, val);
#pragma unroll
        for (int q = 0; q < 8; q++) *(uint4 *)(gv_smem + v * 256 + h * 128 + 16 * ((q + threadIdx.x) & 7)) = v4;
    }
    cp_async_wait<0>();
    __syncthreads();

    /* 4. stream: per chunk 2 x 16 codes bytes per lane -> 32 pairs -> 8 MT8 mma */
    const uint32_t lane4 = 4u * (uint32_t)lane;
    const uint8_t *lut = gv_smem;
    const uint32_t sAaddr = (uint32_t)__cvta_generic_to_shared(sA);
    const uint32_t abase = sAaddr + (uint32_t)(g * RS + 64 * t + 256 * w0);
    const uint32_t sw = (t >> 1) ? 32u : 0u;
    const uint32_t aLo = abase + sw, aHi = abase - sw; /* word j < 2 at aLo + 16 j, j >= 2 at aHi + 16 j */
    const int pa0 = g < M, pa1 = g + 8 < M;
    constexpr int NCH = MT8 == 1 ? 2 : 1; /* accumulator chains per tile (MT8 = 2: the two tiles interleave) */
    float acc[MT8][NCH][4];
#pragma unroll
    for (int mt = 0; mt < MT8; mt++)
#pragma unroll
        for (int e = 0; e < NCH; e++)
#pragma unroll
            for (int i = 0; i < 4; i++) acc[mt][e][i] = 0.0f;

    for (int cc = 0; cc < wn; cc += GV_D) {
#pragma unroll
        for (int d = 0; d < GV_D; d++) {
            const int c = cc + d;
            if (c >= wn) break;
            const uint4 q0 = wq0[d], q1 = wq1[d];
            const uint32_t s0 = sq0[d], s1 = sq1[d];
            if (c + GV_D < wn) {
                wq0[d] = gv_ldg16(pw0 + 64 * (c + GV_D));
                wq1[d] = gv_ldg16(pw1 + 64 * (c + GV_D));
                if (NV) {
                    sq0[d] = __ldg((const unsigned short *)(ps0 + 8 * (c + GV_D)));
                    sq1[d] = __ldg((const unsigned short *)(ps1 + 8 * (c + GV_D)));
                } else {
                    sq0[d] = __ldg(ps0 + 4 * (c + GV_D));
                    sq1[d] = __ldg(ps1 + 4 * (c + GV_D));
                }
            }
            /* block scales as bf16x2 (s, s): [row g / g+8][K half of the lane's 32] */
            uint32_t sc0[2], sc1[2];
            sc0[0] = *(const uint32_t *)(lut + 128 + GV_ADDR(s0, lane4, 0));
            sc1[0] = *(const uint32_t *)(lut + 128 + GV_ADDR(s1, lane4, 0));
            sc0[1] = NV ? *(const uint32_t *)(lut + 128 + GV_ADDR(s0, lane4, 1)) : sc0[0];
            sc1[1] = NV ? *(const uint32_t *)(lut + 128 + GV_ADDR(s1, lane4, 1)) : sc1[0];
            const uint32_t w0v[4] = {q0.x, q0.y, q0.z, q0.w}, w1v[4] = {q1.x, q1.y, q1.z, q1.w};
            const uint32_t coff = 256u * (uint32_t)c;
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
                const uint32_t ad = (j < 2 ? aLo : aHi) + coff + 16u * j;
#pragma unroll
                for (int mt = 0; mt < MT8; mt++) {
                    const uint4 x = gv_lds16_if(ad + (uint32_t)(mt * 8 * RS), mt ? pa1 : pa0);
                    mma_bf16_16816(acc[mt][0], af0, x.x, x.y);
                    mma_bf16_16816(acc[mt][NCH - 1], af1, x.z, x.w);
                }
            }
        }
    }

    /* 5. reduction: red[kw][m][R + 4] (fp32), then kw order, then (S > 1) slice order */
    const int RP = R + 4;
    __syncthreads(); /* every warp is done with sA */
    float *red = (float *)sA;
#pragma unroll
    for (int mt = 0; mt < MT8; mt++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int m = 8 * mt + 2 * t + (i & 1);
            const int nl = 16 * rg + g + 8 * (i >> 1);
            if (m < M) red[(kw * 8 * MT8 + m) * RP + nl] = NCH == 2 ? __fadd_rn(acc[mt][0][i], acc[mt][NCH - 1][i]) : acc[mt][0][i];
        }
    __syncthreads();
    const int E = (int)M * R;
    const bool split = gridDim.y > 1;
    for (int e = threadIdx.x; e < E; e += GV_THREADS) {
        const int m = e / R, nl = e - m * R;
        float s = red[m * RP + nl];
        for (int k2 = 1; k2 < KW; k2++) s = __fadd_rn(s, red[(k2 * 8 * MT8 + m) * RP + nl]);
        if (split) red[m * RP + nl] = s;
        else if (n0 + nl < N) epi_store(epi, at, m, n0 + nl, s);
    }
    if (!split) return;
    namespace cg = cooperative_groups;
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();
    const int S = (int)gridDim.y, rank = (int)cluster.block_rank();
    for (int e = rank * E / S + (int)threadIdx.x; e < (rank + 1) * E / S; e += GV_THREADS) {
        const int m = e / R, nl = e - m * R;
        float s = 0.0f;
        for (int y = 0; y < S; y++) {
            const float p = cluster.map_shared_rank(red, y)[m * RP + nl];
            s = y ? __fadd_rn(s, p) : p;
        }
        if (n0 + nl < N) epi_store(epi, at, m, n0 + nl, s);
    }
    cluster.sync(); /* keep this CTA's shared memory alive until every reader is done */
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

/* Diagnostic (benchmarks/notes/gemm.md run 5): FP4KIT_GEMM_GEMV_S=n forces n K slices. */
static int gv_env_s(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("FP4KIT_GEMM_GEMV_S");
        v = e ? atoi(e) : 0;
        if (v < 0 || v > 8) v = 0;
    }
    return v;
}

template <int MT8, bool NV>
static fp4_status gv_run(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K, int RG, int S,
                         int cps, size_t smem, const fp4_epilogue &epi) {
    auto kern = w4a16_gemv_kernel<MT8, NV>;
    static int attr_done[64];
    FP4_TRY(gemm_smem_attr((const void *)kern, smem, attr_done));
    cudaLaunchConfig_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.gridDim = dim3(fp4_cdiv(b.rows, 16 * RG), (unsigned)S, 1);
    cfg.blockDim = dim3(GV_THREADS);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = (cudaStream_t)fp4_context_stream(ctx);
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = 1;
    attr[0].val.clusterDim.y = (unsigned)S;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = S > 1 ? 1 : 0;
    FP4_CUDA_TRY(cudaLaunchKernelEx(&cfg, kern, a, b, K, RG, cps, epi));
    FP4_LAUNCH_CHECK("w4a16_gemv_kernel");
    return FP4_OK;
}

/* Plan and launch. Returns false (nothing launched) when the activation slice cannot fit in
 * shared memory with at most 8 slices; the caller then uses small_kernel1. */
bool gemm_gemv_launch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                      const fp4_epilogue &epi, fp4_status *st) {
    const int64_t M = a.rows, N = b.rows, kch = K / GV_KCHUNK;
    const int sms = gemm_sm_count(), MT8 = M <= 8 ? 1 : 2;
    /* K slices: 1 for M <= 4 (the activation is cheap to re-read per row tile), 2 above (each
     * CTA stages half of A and covers twice the rows: half the activation traffic) */
    int S = gv_env_s() ? gv_env_s() : (M > 4 ? 2 : 1);
    if (S > kch) S = (int)kch;
    /* rows per CTA: 16 RG, the smallest RG (power of 2, <= 16) that keeps the grid to one CTA
     * per SM */
    int RG = 1;
    while (RG < 16 && (int64_t)fp4_cdiv(N, 16 * RG) * S > sms) RG *= 2;
    const int64_t ntiles = fp4_cdiv(N, 16 * RG);
    /* small N: more slices fill the machine */
    if (!gv_env_s())
        while (S < 8 && 2 * S <= kch && ntiles * 2 * S <= sms) S *= 2;
    const int KW = GV_WARPS / RG;
    for (;;) {
        const int cps = (int)((kch + S - 1) / S);
        const int Sa = (int)((kch + cps - 1) / cps); /* slices actually used (every one non-empty) */
        const size_t abytes = (size_t)M * (cps * 256 + 16);
        const size_t rbytes = (size_t)KW * 8 * MT8 * (16 * RG + 4) * 4;
        const size_t smem = GV_LUT_BYTES + (abytes > rbytes ? abytes : rbytes);
        if (smem <= (size_t)gv_smem_optin()) {
            if (MT8 == 1) *st = b.nv ? gv_run<1, true>(ctx, a, b, K, RG, Sa, cps, smem, epi)
                                     : gv_run<1, false>(ctx, a, b, K, RG, Sa, cps, smem, epi);
            else *st = b.nv ? gv_run<2, true>(ctx, a, b, K, RG, Sa, cps, smem, epi)
                            : gv_run<2, false>(ctx, a, b, K, RG, Sa, cps, smem, epi);
            return true;
        }
        if (S >= 8 || S >= kch) return false;
        S *= 2;
    }
}
