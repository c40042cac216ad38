/* kernels/swizzle.cu — fp4_scales_swizzle_cuda: compact scales [rows, kb] (device) -> the 128x4-tile
 * swizzled layout of Blackwell block-scaled GEMMs (fp4kit/layout.h, spec §10.2), zero padded.
 * One thread per 4 output bytes (one (d3, d4) row of a tile: scales (r, 4cb..4cb+3)), written as
 * one 32-bit store; consecutive threads write consecutive words, so stores are coalesced. */
#include "cuda_common.cuh"
#include "fp4kit/layout.h"
#include "quantize_cuda.h"

__global__ void swizzle_scales_kernel(const uint8_t *__restrict__ scales, int64_t rows, int64_t kb, uint32_t *out,
                                      int64_t nwords) {
    const int64_t kt = (kb + 3) / 4;
    for (int64_t w = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; w < nwords; w += (int64_t)gridDim.x * blockDim.x) {
        const int64_t tile = w / 128, in = w % 128; /* 128 words = 512 bytes per tile */
        const int64_t rb = tile / kt, cb = tile % kt;
        const int64_t d3 = in / 4, d4 = in % 4;
        const int64_t r = rb * 128 + d4 * 32 + d3;
        uint32_t v = 0;
        if (r < rows) {
#pragma unroll
            for (int d5 = 0; d5 < 4; d5++) {
                const int64_t c = cb * 4 + d5;
                if (c < kb) v |= (uint32_t)scales[r * kb + c] << (8 * d5);
            }
        }
        out[w] = v;
    }
}

extern "C" fp4_status fp4_scales_swizzle_cuda(fp4_context *ctx, const fp4_qtensor *q, uint8_t *out, size_t out_bytes) {
    (void)out_bytes;
    if (((uintptr_t)out & 3u) != 0)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_scales_swizzle: device output pointer must be 4-byte aligned");
    cudaStream_t stream = (cudaStream_t)fp4_context_stream(ctx);
    const int64_t kb = q->cols / fp4_block_cols(q->cfg.block);
    const int64_t nwords = (int64_t)(fp4_scales_swizzled_bytes(q) / 4);
    int64_t grid = (nwords + 255) / 256;
    if (grid > 65535) grid = 65535;
    swizzle_scales_kernel<<<(unsigned)grid, 256, 0, stream>>>(q->scales, q->rows, kb, (uint32_t *)out, nwords);
    FP4_LAUNCH_CHECK("swizzle_scales_kernel");
    FP4_CUDA_TRY(cudaStreamSynchronize(stream));
    return FP4_OK;
}
