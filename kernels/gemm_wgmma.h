/* kernels/gemm_wgmma.h — the sm_90a wgmma FP4 GEMM (kernels/gemm_wgmma.cu) for large M: when it
 * can run, and its launcher. C++ (CUDA sources) only; the C dispatcher (lib/gemm.c) uses the
 * extern "C" predicates declared in lib/gemm_internal.h. */
#ifndef FP4KIT_GEMM_WGMMA_H
#define FP4KIT_GEMM_WGMMA_H

#include "gemm_common.cuh"

/* AUTO (lib/gemm.c) takes the wgmma kernel for GEMM_WGMMA_AUTO_MIN_M < M <= GEMM_WGMMA_AUTO_MAX_M
 * (instead of two-pass). Two-pass is kept wherever it is measured faster: run 6 measured it
 * faster at every M from 256 to 8192; run 7 (W4A4 CTA pairs, faster epilogue) again at
 * M = 256-1024 except three 8192² samples (W4A4 M = 512, W4A16 M = 256 / 512, fused 2-17 %
 * faster) — no M range — so the range stays empty: AUTO reaches this kernel only where two-pass
 * cannot run (C of another dtype than D, workspace that cannot grow); FUSED always takes it. */
#define GEMM_WGMMA_AUTO_MIN_M 128
#define GEMM_WGMMA_AUTO_MAX_M 0

/* True when the build has the sm_90a kernel, the device is compute capability 9.0, the env
 * FP4KIT_GEMM_WGMMA does not disable it, B is FP4 (A FP4 of B's format, or BF16 with ld % 8 == 0
 * and a 16-byte aligned pointer), and the packed operands can be staged with 16-byte (K % 32 == 0,
 * 16-byte aligned) or, NVFP4, 8-byte (K % 16 == 0, 8-byte aligned) copies. Any M, N. */
bool gemm_wgmma_ok(const gemm_operand &a, const gemm_operand &b, int64_t K);
/* D = epilogue(A · Bᵀ); call only when gemm_wgmma_ok(). */
fp4_status gemm_wgmma_launch(fp4_context *ctx, const gemm_operand &a, const gemm_operand &b, int64_t K,
                             const fp4_epilogue &epi);

#endif
