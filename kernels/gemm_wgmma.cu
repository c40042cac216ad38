/* kernels/gemm_wgmma.cu — the large-M fused FP4 GEMM for Hopper (sm_90a only: wgmma.mma_async and
 * setmaxnreg; built with -gencode=arch=compute_90a,code=sm_90a, CMakeLists.txt).
 *
 *   D[M,N] = alpha * alpha_t * A[M,K] · B[N,K]ᵀ (+ beta C)
 *   B  packed FP4 [N, K/2] + block scales (the weight; NVFP4 or MXFP4)
 *   A  packed FP4 [M, K/2] + block scales of B's format (W4A4), or BF16 [M, K] with row stride
 *      ld % 8 == 0 and a 16-byte aligned pointer (W4A16; read by TMA)
 *   M, N any; K % 32 == 0 with 16-byte aligned packed data (16-byte staging), or NVFP4 with
 *   K % 16 == 0 and 8-byte aligned data (8-byte staging). gemm_wgmma_ok() says when; otherwise the
 *   caller runs tiled_kernel1 (mma.sync, kernels/gemm_w4a4.cu).
 *
 * wgmma_kernel1<A_FP4, NV, V16>: one CTA per output tile of 256 (M) x 128 (N), K in steps of 64;
 * 384 threads = 3 warpgroups, one CTA per SM (~194 KB shared memory: 4 stages of 48 KB).
 * The tensor cores compute the tile TRANSPOSED: wgmma's "A" (64 rows per warpgroup) is the
 * weight tile P = B[n0 .. n0+127] and wgmma's "B" is the activation tile Q = A[m0 .. m0+255], so
 * each consumer warpgroup issues m64n256k16 (P rows 64·wg .. +63 against all 256 Q rows) and the
 * epilogue writes acc[n][m] to D[m][n].
 *   Decode (exact, gemm_common.cuh): E2M1 → e2m1·2^-126 bit pattern, NVFP4: one mul.rn.bf16x2 by
 *   s·2^118 from a 256-entry bf16x2 table (= e2m1·s·2^-8; acc is multiplied back by 2^8 per FP4
 *   operand in the epilogue, exact in FP32), MXFP4: ·2^126 then ·2^(b-127). A "unit" is 32 codes
 *   (16 bytes) of one tile row, K half h of the step; each 8-code word becomes one 16-byte chunk
 *   stored at chunk c ^ (row & 7) of the row's 128 bytes: the 128B swizzle of TMA and of the
 *   wgmma descriptors (tiles 1024-byte aligned). Units are loaded to registers (LDG.128 + the
 *   scale bytes) two K-steps ahead of their decode, in ping-pong buffers.
 *   Who decodes (run 6 measured one producer warp per scheduler as the limit, IPC ~0.2): the 8
 *   consumer warps decode P rows tid/2 and (W4A4) Q rows 0..127 of K-step kt+1 while their
 *   wgmmas of K-step kt run; W4A4: the producer warpgroup (setmaxnreg 88) decodes Q rows
 *   128..255, up to 4 stages ahead. W4A16: producer thread 0 issues the TMA (cp.async.bulk.
 *   tensor.2d, SWIZZLE_128B, box 64 x 256, zero fill outside [M, K]) of the BF16 activation tile.
 *   Hand-off: each decoding warp fence.proxy.async (generic stores → async-proxy reads) then one
 *   mbarrier arrival on full[s] (12 = 4 + 8 warps for W4A4; 8 warps + the TMA's expect_tx arrival
 *   for W4A16). Consumers (setmaxnreg 208): wait full[s], 4 × wgmma m64n256k16 (descriptors:
 *   K-major, 128B swizzle, SBO 1024 B, +32 B per k16 step), commit, decode K-step kt+1, wait for
 *   K-step kt-1's group, release its stage (one arrival per consumer warp on empty[s]). 128 FP32
 *   accumulators per thread.
 *   Epilogue (consumers): alpha * (alpha_t * (acc · 2^e)) (+ beta * C), alpha_t from the device
 *   tensor scales (epi_alpha_t / epi_store, gemm_common.cuh: the reference's operation order),
 *   F32 or BF16, rows m >= M / columns n >= N skipped. Out-of-range rows and K are zero codes
 *   with zero scales and add 0.
 * W4A4 CTA pairs (CL = 2, default; env FP4KIT_GEMM_WGMMA_CL=1 turns them off): a cluster of 2
 *   CTAs takes N-tiles 2j, 2j+1 of one M-tile; each producer decodes 128 of the 256 Q rows
 *   (128·rank + ...) into its own stage and lane 0 of each producer warp bulk-copies its 2 × 2 KB
 *   of rows into the peer's stage (cp.async.bulk shared::cta → shared::cluster, completing bytes
 *   on the peer's full barrier, whose own producer arrivals expect them); the consumers decode
 *   only P. empty[s] counts both CTAs' consumer warps (remote arrivals). Cluster barriers after
 *   the barrier init and before exit. Decode per CTA-step: 768 → 512 units.
 * W4A4 pairs with P in registers (RS, default; env FP4KIT_GEMM_WGMMA_RS=0 → the shared-memory P
 *   tiles above): the consumers decode their 64 P rows straight into wgmma A fragments
 *   (`wgmma ... m64n256k16` with A from registers) and no P tile exists; the stages hold Q only
 *   (4 x 32 KB; the freed 64 KB go to L1) and full[s] waits for the 4 producer warps (+ the
 *   peer's copy). K is permuted inside each 64-wide K-step, identically for P and Q (the sum over
 *   K does not change): pair position p of the step holds packed byte 8(p%4) + 2(p/8) + (p/4)%2,
 *   so lane 4g + t of a consumer warp loads bytes 8t..8t+7 (one NVFP4 block) of rows g and g + 8,
 *   and the producer's thread pair of a Q row swaps two words by shuffles before storing chunk c
 *   = bytes c, 8+c, 16+c, 24+c. Consumer K-step: wait full, 4 RS wgmmas from a[kt & 1], commit,
 *   wait_group 1, release kt-1's stage, decode kt+1 into a[(kt+1) & 1]. The producer loads 3
 *   K-steps ahead (3 register buffers). Measured +2-6 points of cuBLASLt BF16 over the
 *   shared-memory P path (benchmarks/notes/gemm.md run 15).
 * Tiles are rasterised in groups of 8 M-tiles (N-tile outer within a group) for L2 reuse.
 * Env: FP4KIT_GEMM_WGMMA=0 disables this kernel (tiled_kernel1 runs), =1 enables it; unset →
 * GEMM_WGMMA_DEFAULT. Read on every call (cheap next to a large-M GEMM), so tests can A/B.
 * Diagnostics (benchmarks/bench_gemm_wgmma.cu only; WRONG results): FP4KIT_GEMM_WGMMA_DBG=1 skips
 * the decode (loads, TMA and synchronisation only), =2 skips the wgmmas (consumers release each
 * stage at once: the decode's own speed); RS only: =3 skips the producer's activation decode, =4
 * the consumers' weight decode.
 */
#include <cuda.h> /* CUtensorMap and its enums only: the encoder comes from cudaGetDriverEntryPointByVersion (no -lcuda) */
#include <cudaTypedefs.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_common.cuh"
#include "gemm_internal.h"
#include "gemm_wgmma.h"

#ifndef GEMM_WGMMA_DEFAULT
#define GEMM_WGMMA_DEFAULT 1 /* gpu_gemm passed on the H100 (benchmarks/notes/gemm.md run 6) */
#endif
#ifndef GEMM_WGMMA_AHEAD_DEFAULT
#define GEMM_WGMMA_AHEAD_DEFAULT 2 /* W4A16 (runs 6c-7b: +3-5 points over 1) */
#endif
#ifndef GEMM_WGMMA_AHEAD_DEFAULT_W4A4
#define GEMM_WGMMA_AHEAD_DEFAULT_W4A4 1 /* W4A4 pairs: equal or better than 2 in runs 7b, 9, 12 */
#endif
#ifndef GEMM_WGMMA_RS_DEFAULT
#define GEMM_WGMMA_RS_DEFAULT 1 /* W4A4 pairs, P in wgmma A registers: +2-6 points (notes run 15) */
#endif
#ifndef GEMM_WGMMA_CL_DEFAULT
#define GEMM_WGMMA_CL_DEFAULT 2 /* W4A4 CTA pairs: +5-8 points of BF16 over CL = 1 (notes run 7b) */
#endif

#define WG_BP 128 /* P (weight, N) rows per tile */
#define WG_BQ 256 /* Q (activation, M) rows per tile */
#define WG_BK 64
#define WG_THREADS 384
#define WG_P_TILE (WG_BP * WG_BK * 2) /* 16 KB */
#define WG_Q_TILE (WG_BQ * WG_BK * 2) /* 32 KB */
#define WG_GROUP_M 8
/* setmaxnreg: producer / consumer registers per thread; 128·P + 256·C <= 384·168 (the launch
 * allocation of __launch_bounds__(384, 1)) */
#ifndef WG_PREGS
#define WG_PREGS 88
#endif
#ifndef WG_CREGS
#define WG_CREGS 208
#endif
#define WG_STR2(x) #x
#define WG_STR(x) WG_STR2(x)

/* CL: CTAs per cluster along N (W4A4 only: 2 = the pair shares the decoded Q tile, each CTA's
 * producer decoding 128 of its 256 rows into both CTAs' shared memory). */
/* RS: the consumers decode P straight into wgmma A registers (W4A4 pairs only; no P tiles in
 * shared memory, see the file comment). */
template <bool A_FP4, int CL, bool RS = false>
struct wg_cfg {
    static constexpr int S = 4; /* decoded BF16 stages of 48 KB (RS: 32 KB, Q only; 6 stages were slower, notes run 15) */
    static constexpr int NU_P = A_FP4 ? 2 : 0;  /* 16-byte units per producer thread per K-step */
    static constexpr int NU_C = A_FP4 && CL == 1 ? 2 : 1; /* ... per consumer thread */
    static constexpr int SMEM = 1024 /* alignment slack */ + S * ((RS ? 0 : WG_P_TILE) + WG_Q_TILE) +
                                1024 /* scale table */ + 2 * S * 8 /* mbarriers */;
};

struct wg_operand {
    const uint8_t *data, *scales;
    int64_t rows;
};

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WG_DEVICE_OK 1
#endif

#ifdef WG_DEVICE_OK
/* ---------------------------------------------------------------------------------------- */
/* sm_90a primitives                                                                          */

__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
    uint32_t done = 0;
    do {
        asm volatile(
            "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
            : "=r"(done)
            : "r"(bar), "r"(parity)
            : "memory");
    } while (!done);
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
    asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_arrive_tx(uint32_t bar, uint32_t bytes) {
    asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.expect_tx.shared::cta.b64 st, [%0], %1;\n}\n" ::"r"(bar), "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

/* Cluster (CL = 2) primitives: the peer CTA's shared memory and mbarriers by their
 * shared::cluster addresses (mapa). No cluster-scope release/acquire on the per-step path (run 7a:
 * they compile to MEMBAR.ALL.GPU / CCTL.IVALL, which wait for the prefetch loads in flight): the
 * peer's half of Q arrives by the bulk-copy engine (async proxy, like TMA) completing bytes on our
 * full barrier, and stage releases are plain remote arrivals (as CUTLASS's ClusterBarrier). */
__device__ __forceinline__ uint32_t cluster_rank() {
    uint32_t r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
    return r;
}
__device__ __forceinline__ uint32_t mapa_u32(uint32_t saddr, uint32_t rank) {
    uint32_t r;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(r) : "r"(saddr), "r"(rank));
    return r;
}
__device__ __forceinline__ void mbar_arrive_remote(uint32_t cbar) {
    asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];\n" ::"r"(cbar) : "memory");
}
/* bytes (multiple of 16, 16-byte aligned) of our shared memory at src into the peer's at dst,
 * completing on the peer's mbarrier cbar (both shared::cluster addresses). */
__device__ __forceinline__ void bulk_copy_peer(uint32_t dst, uint32_t src, uint32_t bytes, uint32_t cbar) {
    asm volatile("cp.async.bulk.shared::cluster.shared::cta.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
                 "r"(src), "r"(bytes), "r"(cbar)
                 : "memory");
}
__device__ __forceinline__ void cluster_sync_all() {
    asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void fence_mbar_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }

/* TMA: box {64, 256} of the BF16 activations at (k0, m0) into dst, completing on bar. */
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap *map, uint32_t bar, int x, int y) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
        "l"((uint64_t)map), "r"(x), "r"(y), "r"(bar)
        : "memory");
}

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

/* Shared-memory matrix descriptor: K-major tile of 128-byte rows, 128B swizzle, 8-row groups
 * 1024 bytes apart (SBO), LBO unused for swizzled K-major (1), base offset 0 (1024-aligned tiles). */
__device__ __forceinline__ uint64_t sw128_desc(uint32_t saddr) {
    return (uint64_t)((saddr & 0x3FFFFu) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) | ((uint64_t)1 << 62);
}

/* The 128 FP32 accumulators of an m64n256 wgmma: operand list %0..%127 and their constraints. */
#define WG_ACC128_REGS \
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15," \
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31," \
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47," \
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63," \
        "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79," \
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95," \
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111," \
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define WG_ACC128_OUT(d) \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
    "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
    "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), \
    "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
    "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), \
    "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), \
    "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), \
    "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), \
    "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), \
    "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), \
    "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

/* D[64 x 256] (+)= A[64 x 16] · B[256 x 16]ᵀ, both K-major in shared memory, FP32 accumulate.
 * Accumulator layout (warp w of the warpgroup, lane = 4g + t): d[i] = D[16w + g + 8·((i>>1)&1)]
 * [8·(i>>2) + 2t + (i&1)]. */
__device__ __forceinline__ void wgmma_m64n256k16(float (&d)[128], uint64_t da, uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {" WG_ACC128_REGS "}, %128, %129, p, 1, 1, 0, 0;\n}\n"
                 : WG_ACC128_OUT(d)
                 : "l"(da), "l"(db), "r"(1));
}

/* The same with A (64 x 16, the warpgroup's P rows) from registers: warp w of the warpgroup,
 * lane = 4g + t holds a[0] = A[16w + g][2t, 2t+1], a[1] = A[16w + g + 8][2t, 2t+1], a[2] =
 * A[16w + g][2t+8, 2t+9], a[3] = A[16w + g + 8][2t+8, 2t+9] (the mma.m16n8k16 A layout); the
 * registers must not change until the wgmma has completed (wait_group). */
__device__ __forceinline__ void wgmma_m64n256k16_rs(float (&d)[128], const uint32_t *a, uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {" WG_ACC128_REGS "}, {%128, %129, %130, %131}, %132, p, 1, 1, 0;\n}\n"
                 : WG_ACC128_OUT(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}

/* Keep the compiler from moving accumulator reads/writes across the async wgmma boundary. */
__device__ __forceinline__ void acc_fence(float (&d)[128]) {
#pragma unroll
    for (int i = 0; i < 128; i++) asm volatile("" : "+f"(d[i])::"memory");
}
#endif /* WG_DEVICE_OK */

/* ---------------------------------------------------------------------------------------- */
/* decode units                                                                               */

/* A unit: 32 codes (16 bytes) of one tile row at K offset 32h of a K-step, and its scale bytes,
 * loaded to registers two K-steps ahead of its decode (ping-pong buffers, no copies of loads in
 * flight). */
template <int NU>
struct wg_units {
    uint4 q[NU];
    uint32_t sc[NU]; /* NVFP4: byte 0 = codes 0-15, byte 1 = 16-31; MXFP4: one byte */
};

#ifdef WG_DEVICE_OK
/* Load K-step kt of unit j: row row0[j] + rl[j] of operand isP[j] ? pb : pa; zeros outside the
 * tensor (rows >= rows, kc >= K, kt >= KT). */
template <int NU, bool NV, bool V16>
__device__ __forceinline__ void wg_load(wg_units<NU> &u, const wg_operand (&op)[NU], const int64_t (&row)[NU], int h,
                                        int kt, int KT, int64_t K) {
    const int64_t kc = (int64_t)kt * WG_BK + 32 * h;
#pragma unroll
    for (int j = 0; j < NU; j++) {
        const bool ok = kt < KT && row[j] < op[j].rows && kc < K;
        uint4 q = make_uint4(0u, 0u, 0u, 0u);
        uint32_t sc = 0u;
        if (ok) {
            const uint8_t *src = op[j].data + row[j] * (K / 2) + kc / 2;
            if (V16) {
                q = __ldg((const uint4 *)src);
            } else {
                const uint2 lo = __ldg((const uint2 *)src);
                q.x = lo.x, q.y = lo.y;
                if (kc + 16 < K) {
                    const uint2 hi = __ldg((const uint2 *)(src + 8));
                    q.z = hi.x, q.w = hi.y;
                }
            }
            if (NV) {
                const uint8_t *sp = op[j].scales + row[j] * (K / 16) + kc / 16;
                if (V16) sc = __ldg((const unsigned short *)sp); /* K % 32 == 0: 2-byte aligned, both blocks in range */
                else sc = (uint32_t)__ldg(sp) | (kc + 16 < K ? (uint32_t)__ldg(sp + 1) << 8 : 0u);
            } else {
                sc = __ldg(op[j].scales + row[j] * (K / 32) + kc / 32);
            }
        }
        u.q[j] = q;
        u.sc[j] = sc;
    }
}

/* Decode the units into the stage's swizzled BF16 tiles: unit j goes to row rl[j] of
 * tile[j] (P or Q of the stage), 16-byte chunks 4h .. 4h+3. */
template <int NU, bool NV>
__device__ __forceinline__ void wg_decode(const wg_units<NU> &u, uint8_t *const (&tile)[NU], const int (&rl)[NU], int h,
                                          const uint32_t *lut) {
#pragma unroll
    for (int j = 0; j < NU; j++) {
        const uint32_t s0 = lut[u.sc[j] & 0xffu], s1 = NV ? lut[(u.sc[j] >> 8) & 0xffu] : s0;
        uint8_t *rowp = tile[j] + rl[j] * 128;
        const uint32_t words[4] = {u.q[j].x, u.q[j].y, u.q[j].z, u.q[j].w};
#pragma unroll
        for (int w = 0; w < 4; w++) {
            uint32_t o[4];
            e2m1x8_biased(words[w], o);
            const uint32_t sw = w < 2 ? s0 : s1;
#pragma unroll
            for (int i = 0; i < 4; i++) o[i] = NV ? bf16x2_mul(o[i], sw) : bf16x2_mul(bf16x2_mul(o[i], 0x7E807E80u), sw);
            const int c = 4 * h + w;
            *(uint4 *)(rowp + ((c ^ (rl[j] & 7)) << 4)) = make_uint4(o[0], o[1], o[2], o[3]);
        }
    }
}
#endif

#ifdef WG_DEVICE_OK
/* RS path (W4A4 pairs). K is permuted inside each 64-wide K-step, identically for both operands
 * (the sum over K is unchanged): the BF16 pair at K positions 2p, 2p+1 of the step (p < 32) holds
 * the codes of packed byte src(p) = 8·(p % 4) + 2·(p / 8) + (p / 4) % 2 of the row's 32 bytes.
 * Then lane t of a consumer warp needs exactly bytes 8t .. 8t+7 of its rows (one 8-byte load, one
 * NVFP4 block), byte 2ks + hh being its A register pair for k16 step ks, half hh; and the Q tile's
 * 16-byte chunk c holds the bytes c, 8 + c, 16 + c, 24 + c. */

/* A consumer thread's share of K-step kt: 8 bytes (16 codes) of P rows row[0], row[1] (g, g + 8)
 * at K offset 16t, and their scale byte; zeros outside the tensor. */
struct rs_frag {
    uint2 q[2];
    uint32_t sc[2];
};

template <bool NV>
__device__ __forceinline__ void rs_load(rs_frag &u, const wg_operand &op, const int64_t (&row)[2], int t, int kt,
                                        int KT, int64_t K) {
    const int64_t kc = (int64_t)kt * WG_BK + 16 * t;
#pragma unroll
    for (int j = 0; j < 2; j++) {
        uint2 q = make_uint2(0u, 0u);
        uint32_t sc = 0u;
        if (kt < KT && row[j] < op.rows && kc < K) { /* K % 16 == 0: the 16 codes are all in or all out */
            q = __ldg((const uint2 *)(op.data + row[j] * (K / 2) + kc / 2));
            sc = __ldg(op.scales + (NV ? row[j] * (K / 16) + kc / 16 : row[j] * (K / 32) + kc / 32));
        }
        u.q[j] = q;
        u.sc[j] = sc;
    }
}

/* Decode (exact, as wg_decode) into the wgmma A registers a[4ks .. 4ks+3] of k16 steps ks < 4. */
template <bool NV>
__device__ __forceinline__ void rs_decode(const rs_frag &u, uint32_t (&a)[16], const uint32_t *lut) {
    uint32_t dec[2][8];
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const uint32_t sw = lut[u.sc[j] & 0xffu];
        const uint32_t words[2] = {u.q[j].x, u.q[j].y};
#pragma unroll
        for (int w = 0; w < 2; w++) {
            uint32_t o[4];
            e2m1x8_biased(words[w], o);
#pragma unroll
            for (int i = 0; i < 4; i++)
                dec[j][4 * w + i] = NV ? bf16x2_mul(o[i], sw) : bf16x2_mul(bf16x2_mul(o[i], 0x7E807E80u), sw);
        }
    }
#pragma unroll
    for (int ks = 0; ks < 4; ks++) {
        a[4 * ks + 0] = dec[0][2 * ks];
        a[4 * ks + 1] = dec[1][2 * ks];
        a[4 * ks + 2] = dec[0][2 * ks + 1];
        a[4 * ks + 3] = dec[1][2 * ks + 1];
    }
}

/* RS producer: unit j of a thread pair (lanes 2i, 2i + 1 = K halves h = 0, 1 of one Q row, loaded
 * by wg_load as in the shared-memory path: 16 lines per warp load) decoded into the row's permuted
 * stage row. Thread h writes chunks 4h .. 4h+3; chunk 4h + b = byte b of the row's words h, 2+h,
 * 4+h, 6+h, so the pair swaps two words (and the scale bytes) by shuffles first. rsw = row & 7. */
template <int NU, bool NV>
__device__ __forceinline__ void rs_decode_half(const wg_units<NU> &u, uint8_t *const (&rowp)[NU], const int (&rsw)[NU],
                                               int h, const uint32_t *lut) {
#pragma unroll
    for (int j = 0; j < NU; j++) {
        const uint4 q = u.q[j];
        const uint32_t r0 = __shfl_xor_sync(0xffffffffu, h ? q.x : q.y, 1);
        const uint32_t r1 = __shfl_xor_sync(0xffffffffu, h ? q.z : q.w, 1);
        const uint32_t rs = __shfl_xor_sync(0xffffffffu, u.sc[j], 1);
        /* W[k] = the row's word 2k + h; scale bytes in block order (NVFP4: 4 blocks, MXFP4: 2) */
        const uint32_t W[4] = {h ? r0 : q.x, h ? r1 : q.z, h ? q.y : r0, h ? q.w : r1};
        const uint32_t all = NV ? (h ? rs | u.sc[j] << 16 : u.sc[j] | rs << 16) : (h ? rs | u.sc[j] << 8 : u.sc[j] | rs << 8);
        uint32_t o[4][4];
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const uint32_t sw = lut[(all >> (NV ? 8 * k : 8 * (k >> 1))) & 0xffu];
            e2m1x8_biased(W[k], o[k]);
#pragma unroll
            for (int i = 0; i < 4; i++) o[k][i] = NV ? bf16x2_mul(o[k][i], sw) : bf16x2_mul(bf16x2_mul(o[k][i], 0x7E807E80u), sw);
        }
#pragma unroll
        for (int bb = 0; bb < 4; bb++)
            *(uint4 *)(rowp[j] + (((4 * h + bb) ^ rsw[j]) << 4)) = make_uint4(o[0][bb], o[1][bb], o[2][bb], o[3][bb]);
    }
}
#endif

/* ---------------------------------------------------------------------------------------- */
/* the kernel                                                                                 */

template <bool A_FP4, bool NV, bool V16, int AH, int CL, bool RS>
__global__ void __launch_bounds__(WG_THREADS, 1)
    wgmma_kernel1(const __grid_constant__ CUtensorMap tmap_a, wg_operand pb, wg_operand pa, int64_t K, int tiles_m,
                  int tiles_n, fp4_epilogue epi, int dbg) {
#ifdef WG_DEVICE_OK
    static_assert(CL == 1 || (CL == 2 && A_FP4), "the Q-sharing cluster is W4A4 only");
    static_assert(!RS || (A_FP4 && CL == 2), "the register-A path is W4A4 pairs only");
    typedef wg_cfg<A_FP4, CL, RS> C;
    constexpr int S = C::S, NUP = C::NU_P, NUC = C::NU_C;
    extern __shared__ uint8_t wg_smem_raw[];
    uint8_t *smem = wg_smem_raw + ((1024u - (smem_u32(wg_smem_raw) & 1023u)) & 1023u);
    uint8_t *sP = smem;                            /* [S][128 rows][128 B] swizzled BF16 (not RS) */
    uint8_t *sQ = sP + (RS ? 0 : S * WG_P_TILE);   /* [S][256 rows][128 B] */
    uint32_t *lut = (uint32_t *)(sQ + S * WG_Q_TILE); /* scale byte -> bf16x2 */
    uint64_t *bars = (uint64_t *)(lut + 256);      /* full[S], empty[S] */
    const uint32_t full0 = smem_u32(bars), empty0 = smem_u32(bars + S);

    /* tile: groups of WG_GROUP_M M-tiles, M-tile fastest inside a group. CL = 2: the cluster's
     * two CTAs take N-tiles 2j and 2j + 1 of one M-tile (the second may lie past N: it still
     * decodes its half of Q for its peer and stores nothing). */
    const int tiles_nc = (tiles_n + CL - 1) / CL;
    const int id = blockIdx.x / CL, per_group = WG_GROUP_M * tiles_nc;
    const int first_m = (id / per_group) * WG_GROUP_M;
    const int gsize = min(tiles_m - first_m, WG_GROUP_M);
    const int mt = first_m + (id % per_group) % gsize, nt = CL * ((id % per_group) / gsize) + (int)(blockIdx.x % CL);
    const int64_t m0 = (int64_t)mt * WG_BQ, n0 = (int64_t)nt * WG_BP;
    const int KT = (int)((K + WG_BK - 1) / WG_BK);
    const int tid = threadIdx.x;
    /* CL = 2: the peer's rank, and the peer's shared::cluster address minus ours (same layout) */
    uint32_t peer = 0, rdiff = 0;
    if constexpr (CL == 2) {
        peer = cluster_rank() ^ 1u;
        rdiff = mapa_u32(smem_u32(smem), peer) - smem_u32(smem);
    }
    auto wait = [&](uint32_t bar, uint32_t parity) { mbar_wait(bar, parity); };

    if (tid < 256) {
        const float f = NV ? fp4_e4m3_decode((uint8_t)tid) * 0x1p118f : fp4_e8m0_decode((uint8_t)tid);
        const uint32_t hh = fp4_f32_to_bf16(f);
        lut[tid] = hh | (hh << 16);
    }
    if (tid == 0) {
        for (int s = 0; s < S; s++) {
            /* W4A4: 4 producer + 8 consumer warps decode (CL = 2: each producer warp's arrival
             * also expects the 4 KB its peer warp copies in); W4A16: 8 consumer warps + the TMA */
            mbar_init(full0 + 8 * s, RS ? 4 : A_FP4 ? 12 : 9); /* RS: the 4 producer warps only */
            mbar_init(empty0 + 8 * s, 8 * CL); /* 8 consumer warps (CL = 2: ours and the peer's) */
        }
        fence_mbar_init();
    }
    if constexpr (CL == 2) cluster_sync_all(); /* the peer's barriers exist before we arrive on them */
    else __syncthreads();

    if (tid < 128) {
        /* ---------------- producer warpgroup ---------------- */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 " WG_STR(WG_PREGS) ";\n" ::: "memory");
        if constexpr (!A_FP4) { /* W4A16: thread 0 streams the activation tiles by TMA */
            if (tid == 0)
                for (int kt = 0; kt < KT; kt++) {
                    const int s = kt % S;
                    mbar_wait(empty0 + 8 * s, ((kt / S) & 1) ^ 1);
                    mbar_arrive_tx(full0 + 8 * s, WG_Q_TILE);
                    tma_load_2d(smem_u32(sQ + s * WG_Q_TILE), &tmap_a, full0 + 8 * s, kt * WG_BK, (int)m0);
                }
        } else {
            /* W4A4: Q rows 128 + 64j + tid/2 (j < NUP), K half tid & 1. CL = 2: rows
             * 128·rank + 64j + tid/2; warp w's rows 128·rank + 64j + 16w .. +15 (2 KB per j,
             * contiguous) then go to the peer's stage by two bulk copies issued by lane 0. RS:
             * stored in the permuted K order, loads 3 K-steps ahead in 3 register buffers (notes
             * run 15: the producer's first use of its loads stalled at 2; 3 was +0-2 points). */
            const int lane = tid & 31, h = tid & 1;
            const int qbase = CL == 2 ? 128 * (int)(peer ^ 1u) : 128;
            constexpr int PD = RS ? 3 : 2;
            wg_operand op[NUP];
            int64_t row[NUP];
            int rl[NUP], rsw[NUP];
#pragma unroll
            for (int j = 0; j < NUP; j++) {
                op[j] = pa;
                rl[j] = qbase + 64 * j + (tid >> 1);
                row[j] = m0 + rl[j];
                rsw[j] = rl[j] & 7;
            }
            wg_units<NUP> b0, b1, b2;
            wg_load<NUP, NV, V16>(b0, op, row, h, 0, KT, K);
            wg_load<NUP, NV, V16>(b1, op, row, h, 1, KT, K);
            if (PD == 3) wg_load<NUP, NV, V16>(b2, op, row, h, 2, KT, K);
            auto step = [&](int kt, wg_units<NUP> &b) {
                const int s = kt % S;
                wait(empty0 + 8 * s, ((kt / S) & 1) ^ 1);
                if constexpr (RS) {
                    uint8_t *rowp[NUP];
#pragma unroll
                    for (int j = 0; j < NUP; j++) rowp[j] = sQ + s * WG_Q_TILE + rl[j] * 128;
                    if (dbg != 1 && dbg != 3) rs_decode_half<NUP, NV>(b, rowp, rsw, h, lut);
                } else {
                    uint8_t *tile[NUP];
#pragma unroll
                    for (int j = 0; j < NUP; j++) tile[j] = sQ + s * WG_Q_TILE;
                    if (dbg != 1) wg_decode<NUP, NV>(b, tile, rl, h, lut);
                }
                fence_proxy_async(); /* generic-proxy stores → wgmma / bulk-copy (async proxy) reads */
                __syncwarp();
                if (lane == 0) {
                    if constexpr (CL == 2) {
                        mbar_arrive_tx(full0 + 8 * s, NUP * 2048); /* + the peer warp's copy into us */
                        const int w = tid >> 5;
#pragma unroll
                        for (int j = 0; j < NUP; j++) {
                            const uint32_t src = smem_u32(sQ + s * WG_Q_TILE + (qbase + 64 * j + 16 * w) * 128);
                            bulk_copy_peer(src + rdiff, src, 2048, full0 + 8 * s + rdiff);
                        }
                    } else {
                        mbar_arrive(full0 + 8 * s);
                    }
                }
                wg_load<NUP, NV, V16>(b, op, row, h, kt + PD, KT, K); /* after the fence: it must not wait for these */
            };
            for (int kt = 0; kt < KT; kt += PD) {
                step(kt, b0);
                if (kt + 1 < KT) step(kt + 1, b1);
                if (PD == 3 && kt + 2 < KT) step(kt + 2, b2);
            }
        }
    } else {
        /* ---------------- consumer warpgroups ---------------- */
        asm volatile("setmaxnreg.inc.sync.aligned.u32 " WG_STR(WG_CREGS) ";\n" ::: "memory");
        const int cw = tid - 128, wg = cw >> 7, warp = (cw >> 5) & 3, lane = cw & 31;
        /* release a stage: our empty barrier, and (CL = 2) the peer's, whose producer writes it too */
        auto release = [&](int s) {
            __syncwarp();
            if (lane == 0) {
                mbar_arrive(empty0 + 8 * s);
                if constexpr (CL == 2) mbar_arrive_remote(empty0 + 8 * s + rdiff);
            }
        };

        float acc[128];
#pragma unroll
        for (int i = 0; i < 128; i++) acc[i] = 0.0f;
        const uint32_t pbase = smem_u32(sP) + wg * (64 * 128), qbase = smem_u32(sQ);
        /* K-step kt's stage: wait until it is full, then (not DBG 2) its 4 wgmmas, committed as one
         * group; RS: A from the registers areg, else P from the stage */
        auto issue = [&](int kt, const uint32_t *areg) {
            const int s = kt % S;
            wait(full0 + 8 * s, (kt / S) & 1);
            if (dbg == 2) return;
            wg_fence();
#pragma unroll
            for (int ks = 0; ks < WG_BK / 16; ks++) {
                if constexpr (RS) wgmma_m64n256k16_rs(acc, areg + 4 * ks, sw128_desc(qbase + s * WG_Q_TILE + 32 * ks));
                else wgmma_m64n256k16(acc, sw128_desc(pbase + s * WG_P_TILE + 32 * ks), sw128_desc(qbase + s * WG_Q_TILE + 32 * ks));
            }
            wg_commit();
        };
        if constexpr (RS) {
            /* P rows n0 + 64wg + 16warp + g and + 8 (lane = 4g + t), bytes 8t .. 8t+7 of each
             * K-step, decoded into A registers: K-step j's loads (2 steps ahead, buffer j & 1)
             * are decoded into a[j & 1] while K-step j-1's wgmmas run, after K-step j-2's
             * (the previous user of a[j & 1]) have retired. */
            const int g = lane >> 2, t = lane & 3;
            int64_t prow[2];
            prow[0] = n0 + 64 * wg + 16 * warp + g;
            prow[1] = prow[0] + 8;
            rs_frag u0, u1;
            uint32_t a0[16], a1[16];
#pragma unroll
            for (int i = 0; i < 16; i++) a0[i] = a1[i] = 0u;
            rs_load<NV>(u0, pb, prow, t, 0, KT, K);
            rs_load<NV>(u1, pb, prow, t, 1, KT, K);
            if (dbg != 1 && dbg != 4) rs_decode<NV>(u0, a0, lut);
            rs_load<NV>(u0, pb, prow, t, 2, KT, K);
            auto step = [&](int kt, uint32_t(&acur)[16], uint32_t(&anext)[16], rs_frag &unext) {
                issue(kt, acur);
                if (dbg != 2) {
                    wg_wait<1>(); /* K-step kt-1 retired: its stage and a registers are free */
                    if (kt > 0) release((kt - 1) % S);
                } else { /* diagnostic: no tensor-core work, release the stage at once */
                    release(kt % S);
                }
                if (kt + 1 < KT) {
                    if (dbg != 1 && dbg != 4) rs_decode<NV>(unext, anext, lut);
                    rs_load<NV>(unext, pb, prow, t, kt + 3, KT, K);
                }
            };
            for (int kt = 0; kt < KT; kt += 2) {
                step(kt, a0, a1, u1);
                if (kt + 1 < KT) step(kt + 1, a1, a0, u0);
            }
        } else {
            /* decode share: unit 0 = P row cw/2, unit 1 (W4A4, CL = 1) = Q row cw/2; K half cw & 1 */
            const int h = cw & 1;
            wg_operand op[NUC];
            int64_t row[NUC];
            int rl[NUC];
#pragma unroll
            for (int j = 0; j < NUC; j++) {
                op[j] = j == 0 ? pb : pa;
                rl[j] = cw >> 1;
                row[j] = (j == 0 ? n0 : m0) + rl[j];
            }
            wg_units<NUC> b0, b1;
            wg_load<NUC, NV, V16>(b0, op, row, h, 0, KT, K);
            wg_load<NUC, NV, V16>(b1, op, row, h, 1, KT, K);
            /* decode this thread's share of K-step ks into its stage, prefetch ks + 2, publish */
            auto produce = [&](int ks, wg_units<NUC> &b) {
                const int s = ks % S;
                wait(empty0 + 8 * s, ((ks / S) & 1) ^ 1);
                uint8_t *tile[NUC];
#pragma unroll
                for (int j = 0; j < NUC; j++) tile[j] = j == 0 ? sP + s * WG_P_TILE : sQ + s * WG_Q_TILE;
                if (dbg != 1) wg_decode<NUC, NV>(b, tile, rl, h, lut);
                fence_proxy_async();
                __syncwarp();
                if (lane == 0) mbar_arrive(full0 + 8 * s);
                wg_load<NUC, NV, V16>(b, op, row, h, ks + 2, KT, K);
            };
            /* K-step kt: wait for its stage, issue its wgmmas, decode K-step kt+AH while they run,
             * then retire K-step kt-1's wgmmas and release that stage. AH = 2: a stage's decode has
             * two K-steps of wgmma to hide behind (its slot held K-step kt+AH-S <= kt-2). */
            auto step = [&](int kt, wg_units<NUC> &bnext) {
                issue(kt, nullptr);
                if (kt + AH < KT) produce(kt + AH, bnext);
                if (dbg != 2) {
                    wg_wait<1>();
                    if (kt > 0) release((kt - 1) % S);
                } else { /* diagnostic: no tensor-core work, release the stage at once */
                    release(kt % S);
                }
            };
            /* K-step s decodes from buffer s & 1 */
            produce(0, b0);
            if (AH == 2 && KT > 1) produce(1, b1);
            for (int kt = 0; kt < KT; kt += 2) {
                step(kt, AH == 1 ? b1 : b0);
                if (kt + 1 < KT) step(kt + 1, AH == 1 ? b0 : b1);
            }
        }
        wg_wait<0>();
        acc_fence(acc);

        const float at = epi_alpha_t(epi);
        /* undo the 2^-8 folded into each NVFP4 operand's decode (exact) */
        const float esc = NV ? (A_FP4 ? 65536.0f : 256.0f) : 1.0f;
        const int g = lane >> 2, tq = lane & 3;
        const int64_t M = pa.rows, N = pb.rows;
        /* acc[i] = D[m0 + 8·(i>>2) + 2tq + (i&1)][n0 + 64wg + 16warp + g + 8·((i>>1)&1)] */
        if (!epi.c && m0 + WG_BQ <= M && n0 + WG_BP <= N) {
            /* whole tile inside D, no C: row pointers stepped by 8 rows, the same operation
             * order as epi_store (alpha · (alpha_t · acc)) */
            const int64_t ldd = epi.ldd, off = (m0 + 2 * tq) * ldd + n0 + wg * 64 + warp * 16 + g;
            if (epi.d_bf16) {
                uint16_t *d = (uint16_t *)epi.d + off;
#pragma unroll
                for (int j = 0; j < 32; j++, d += 8 * ldd)
#pragma unroll
                    for (int q = 0; q < 4; q++) {
                        const int i = 4 * j + q;
                        d[(q & 1) * ldd + 8 * (q >> 1)] =
                            fp4_f32_to_bf16(__fmul_rn(epi.alpha, __fmul_rn(at, __fmul_rn(acc[i], esc))));
                    }
            } else {
                float *d = (float *)epi.d + off;
#pragma unroll
                for (int j = 0; j < 32; j++, d += 8 * ldd)
#pragma unroll
                    for (int q = 0; q < 4; q++) {
                        const int i = 4 * j + q;
                        d[(q & 1) * ldd + 8 * (q >> 1)] = __fmul_rn(epi.alpha, __fmul_rn(at, __fmul_rn(acc[i], esc)));
                    }
            }
        } else {
#pragma unroll
            for (int i = 0; i < 128; i++) {
                const int64_t n = n0 + wg * 64 + warp * 16 + g + 8 * ((i >> 1) & 1);
                const int64_t m = m0 + 8 * (i >> 2) + 2 * tq + (i & 1);
                if (m < M && n < N) epi_store(epi, at, m, n, __fmul_rn(acc[i], esc));
            }
        }
    }
    /* CL = 2: neither CTA exits while its peer may still arrive on its barriers */
    if constexpr (CL == 2) {
        __syncwarp();
        cluster_sync_all();
    }
#endif /* WG_DEVICE_OK */
}

/* ---------------------------------------------------------------------------------------- */
/* host side                                                                                  */

/* Compute capability 9.0 (H100/H200) of the current device; cached per device. */
static bool wgmma_device_ok(void) {
    static int cache[64]; /* 0 unknown, 1 yes, 2 no */
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return false;
    if (!cache[dev]) {
        int ma = 0, mi = 0;
        const bool ok = cudaDeviceGetAttribute(&ma, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
                        cudaDeviceGetAttribute(&mi, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess && ma == 9 &&
                        mi == 0;
        cache[dev] = ok ? 1 : 2;
    }
    return cache[dev] == 1;
}

static PFN_cuTensorMapEncodeTiled_v12000 wgmma_encoder(void) {
    static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
        void *p = NULL;
        cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
            q != cudaDriverEntryPointSuccess)
            p = NULL;
        (void)cudaGetLastError();
        return (PFN_cuTensorMapEncodeTiled_v12000)p;
    }();
    return fn;
}

static bool wgmma_enabled(void) {
    const char *e = getenv("FP4KIT_GEMM_WGMMA");
    if (!e || !*e) return GEMM_WGMMA_DEFAULT != 0;
    return e[0] != '0';
}

static bool aligned(const void *p, uintptr_t a) { return ((uintptr_t)p % a) == 0; }

/* 16-byte staging possible for the packed operands. */
static bool wgmma_v16(const gemm_operand &a, const gemm_operand &b, int64_t K) {
    /* NVFP4 scale pairs are then read as 2-byte words */
    return K % 32 == 0 && aligned(b.data, 16) && (!b.nv || aligned(b.scales, 2)) &&
           (!a.fp4 || (aligned(a.data, 16) && (!a.nv || aligned(a.scales, 2))));
}

bool gemm_wgmma_ok(const gemm_operand &a, const gemm_operand &b, int64_t K) {
#ifndef FP4KIT_WGMMA_SM90A
    (void)a, (void)b, (void)K;
    return false;
#else
    if (!wgmma_enabled() || !b.fp4 || K <= 0 || a.rows <= 0 || b.rows <= 0) return false;
    if (a.fp4 && a.nv != b.nv) return false;
    const bool v16 = wgmma_v16(a, b, K);
    const bool v8 = b.nv && K % 16 == 0 && aligned(b.data, 8) && (!a.fp4 || aligned(a.data, 8));
    if (!v16 && !v8) return false;
    if (!a.fp4 && (a.ld % 8 != 0 || !aligned(a.data, 16) || K > ((int64_t)1 << 31) || !wgmma_encoder())) return false;
    const int64_t tiles = (int64_t)fp4_cdiv(a.rows, WG_BQ) * fp4_cdiv(b.rows, WG_BP);
    if (tiles > 0x7fffffff || (K + WG_BK - 1) / WG_BK > 0x7fffffff) return false;
    return wgmma_device_ok();
#endif
}

template <bool A_FP4, bool NV, bool V16, int AH, int CL, bool RS = false>
static fp4_status wgmma_run_ah(fp4_context *ctx, const CUtensorMap &tmap, const wg_operand &pb, const wg_operand &pa,
                               int64_t K, const fp4_epilogue &epi) {
    auto kern = wgmma_kernel1<A_FP4, NV, V16, AH, CL, RS>;
    static int attr_done[64];
    const size_t smem = wg_cfg<A_FP4, CL, RS>::SMEM;
    FP4_TRY(gemm_smem_attr((const void *)kern, smem, attr_done));
    const int tm = (int)fp4_cdiv(pa.rows, WG_BQ), tn = (int)fp4_cdiv(pb.rows, WG_BP);
    const char *dbg = getenv("FP4KIT_GEMM_WGMMA_DBG");
    cudaLaunchConfig_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.gridDim = dim3((unsigned)((int64_t)tm * ((tn + CL - 1) / CL) * CL));
    cfg.blockDim = dim3(WG_THREADS);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = (cudaStream_t)fp4_context_stream(ctx);
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = CL;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = CL > 1 ? 1 : 0;
    if constexpr (CL > 1) { /* a device that cannot co-schedule the pair runs the unpaired kernel */
        static int fits[64]; /* 0 unknown, 1 yes, 2 no */
        int dev = 0;
        FP4_CUDA_TRY(cudaGetDevice(&dev));
        if (dev >= 0 && dev < 64 && !fits[dev]) {
            int n = 0;
            const bool ok = cudaOccupancyMaxActiveClusters(&n, (const void *)kern, &cfg) == cudaSuccess && n > 0;
            (void)cudaGetLastError();
            fits[dev] = ok ? 1 : 2;
        }
        if (dev < 0 || dev >= 64 || fits[dev] == 2) return wgmma_run_ah<A_FP4, NV, V16, AH, 1>(ctx, tmap, pb, pa, K, epi);
    }
    FP4_CUDA_TRY(cudaLaunchKernelEx(&cfg, kern, tmap, pb, pa, K, tm, tn, epi, dbg ? atoi(dbg) : 0));
    FP4_LAUNCH_CHECK("wgmma_kernel1");
    return FP4_OK;
}

/* W4A4: CTA pairs sharing the decoded activation tile (CL = 2) or not: env
 * FP4KIT_GEMM_WGMMA_CL = 1 or 2, unset → GEMM_WGMMA_CL_DEFAULT. W4A16 always CL = 1 (its
 * activations come by TMA, nothing to share). */
static int wgmma_cl(void) {
    const char *e = getenv("FP4KIT_GEMM_WGMMA_CL");
    return e && *e ? (atoi(e) == 2 ? 2 : 1) : GEMM_WGMMA_CL_DEFAULT;
}

/* W4A4 pairs: the consumers' P rows decoded into wgmma A registers (RS) or into shared memory:
 * env FP4KIT_GEMM_WGMMA_RS = 1 or 0, unset → GEMM_WGMMA_RS_DEFAULT. */
static bool wgmma_rs(void) {
    const char *e = getenv("FP4KIT_GEMM_WGMMA_RS");
    return e && *e ? e[0] != '0' : GEMM_WGMMA_RS_DEFAULT != 0;
}

/* How far ahead the consumers decode (K-steps): env FP4KIT_GEMM_WGMMA_AHEAD = 1 or 2, unset →
 * GEMM_WGMMA_AHEAD_DEFAULT (W4A16) / _W4A4 (both verified by gpu_gemm; benchmarks/notes/gemm.md
 * runs 6, 12). */
template <bool A_FP4, bool NV, bool V16>
static fp4_status wgmma_run(fp4_context *ctx, const CUtensorMap &tmap, const wg_operand &pb, const wg_operand &pa,
                            int64_t K, const fp4_epilogue &epi) {
    const char *e = getenv("FP4KIT_GEMM_WGMMA_AHEAD");
    const int ah = e && *e ? atoi(e) : A_FP4 ? GEMM_WGMMA_AHEAD_DEFAULT_W4A4 : GEMM_WGMMA_AHEAD_DEFAULT;
    if constexpr (A_FP4) {
        if (wgmma_cl() == 2) {
            if (wgmma_rs()) return wgmma_run_ah<A_FP4, NV, V16, 1, 2, true>(ctx, tmap, pb, pa, K, epi);
            if (ah == 1) return wgmma_run_ah<A_FP4, NV, V16, 1, 2>(ctx, tmap, pb, pa, K, epi);
            return wgmma_run_ah<A_FP4, NV, V16, 2, 2>(ctx, tmap, pb, pa, K, epi);
        }
    }
    if (ah == 1) return wgmma_run_ah<A_FP4, NV, V16, 1, 1>(ctx, tmap, pb, pa, K, epi);
    return wgmma_run_ah<A_FP4, NV, V16, 2, 1>(ctx, tmap, pb, pa, K, epi);
}

fp4_status gemm_wgmma_launch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                             const fp4_epilogue &epi) {
    CUtensorMap tmap;
    memset(&tmap, 0, sizeof tmap);
    if (!a.fp4) {
        const PFN_cuTensorMapEncodeTiled_v12000 enc = wgmma_encoder();
        if (!enc) return fp4_fail(FP4_ERR_UNSUPPORTED, "wgmma GEMM: the driver has no cuTensorMapEncodeTiled");
        const cuuint64_t dims[2] = {(cuuint64_t)K, (cuuint64_t)a.rows};
        const cuuint64_t strides[1] = {(cuuint64_t)a.ld * 2};
        const cuuint32_t box[2] = {WG_BK, WG_BQ}, estr[2] = {1, 1};
        const CUresult r = enc(&tmap, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, (void *)a.data, dims, strides, box, estr,
                               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
        if (r != CUDA_SUCCESS)
            return fp4_fail(FP4_ERR_CUDA, "wgmma GEMM: cuTensorMapEncodeTiled failed (%d) for A [%lld, %lld] ld %lld", (int)r,
                            (long long)a.rows, (long long)K, (long long)a.ld);
    }
    const wg_operand pb = {(const uint8_t *)b.data, b.scales, b.rows};
    const wg_operand pa = {(const uint8_t *)a.data, a.scales, a.rows};
    const bool v16 = wgmma_v16(a, b, K);
    if (a.fp4) {
        if (b.nv) return v16 ? wgmma_run<true, true, true>(ctx, tmap, pb, pa, K, epi) : wgmma_run<true, true, false>(ctx, tmap, pb, pa, K, epi);
        return wgmma_run<true, false, true>(ctx, tmap, pb, pa, K, epi);
    }
    if (b.nv) return v16 ? wgmma_run<false, true, true>(ctx, tmap, pb, pa, K, epi) : wgmma_run<false, true, false>(ctx, tmap, pb, pa, K, epi);
    return wgmma_run<false, false, true>(ctx, tmap, pb, pa, K, epi);
}

/* The AUTO rule (lib/gemm.c): the fused wgmma kernel instead of two-pass for M in
 * (GEMM_WGMMA_AUTO_MIN_M, GEMM_WGMMA_AUTO_MAX_M] (gemm_wgmma.h: currently empty, see there). */
static bool wgmma_auto_m(int64_t M) { return M > GEMM_WGMMA_AUTO_MIN_M && M <= GEMM_WGMMA_AUTO_MAX_M; }
extern "C" int fp4_gemm_wgmma_w4a4_auto(const fp4_qtensor *a, const fp4_qtensor *b) {
    return wgmma_auto_m(a->rows) && gemm_wgmma_ok(gemm_operand_fp4(a), gemm_operand_fp4(b), a->cols);
}
extern "C" int fp4_gemm_wgmma_w4a16_auto(const fp4_view *x, const fp4_qtensor *w) {
    return wgmma_auto_m(x->rows) && gemm_wgmma_ok(gemm_operand_bf16(x), gemm_operand_fp4(w), w->cols);
}
