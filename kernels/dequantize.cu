/* kernels/dequantize.cu — fp4_dequantize_cuda: q [rows, cols] (NVFP4 or MXFP4, device) -> y [rows,
 * cols] F32 or BF16 (device, row stride ld).
 *
 * Math (identical source to the reference, so bit-identical):
 *   NVFP4  y = fp32( fp32(e2m1(code) * e4m3(s_b)) * S_dec )   with S_dec = q->s_dec (host field)
 *   MXFP4  y = e2m1(code) * 2^(s_b - 127)
 *   BF16 output = fp4_f32_to_bf16(y) (RNE).
 * Thread mapping: one thread per 8 consecutive elements of a row (4 code bytes, one 32-bit load,
 * coalesced across the warp; the scale byte is shared by 2 or 4 neighbouring threads); output
 * stored as 2 float4 (F32) or 1 uint4 (BF16) when y is 16-byte aligned row by row, else scalar
 * stores. Persistent grid, (row, unit) advanced incrementally. Shapes: cols a multiple of the
 * block width (16 or 32), any rows. */
#include "kernels.h"
#include "quantize_common.cuh"
#include "quantize_cuda.h"

template <typename TO, bool NV>
__global__ void __launch_bounds__(FP4Q_THREADS) dequantize_kernel(const uint8_t *__restrict__ data,
                                                                 const uint8_t *__restrict__ scales, int64_t rows,
                                                                 int64_t cols, int bw, float s_dec, TO *__restrict__ y,
                                                                 int64_t ld, int vec) {
    const int64_t upr = cols / 8, total = rows * upr, nb = cols / bw;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t r = g / upr, u = g % upr;
    const int64_t sq = stride / upr, su = stride % upr;
    for (; g < total; g += stride) {
        const uint32_t codes = __ldg(reinterpret_cast<const uint32_t *>(data + r * (cols / 2) + u * 4));
        const uint8_t sb = __ldg(scales + r * nb + (u * 8) / bw);
        const float sf = NV ? fp4_e4m3_decode(sb) : fp4_e8m0_decode(sb);
        float v[8];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const float e = fp4_e2m1_decode((uint8_t)((codes >> (4 * i)) & 0xfu));
            v[i] = NV ? (e * sf) * s_dec : e * sf;
        }
        TO *out = y + r * ld + u * 8;
        if (sizeof(TO) == 4) {
            float *o = reinterpret_cast<float *>(out);
            if (vec) {
                reinterpret_cast<float4 *>(o)[0] = make_float4(v[0], v[1], v[2], v[3]);
                reinterpret_cast<float4 *>(o)[1] = make_float4(v[4], v[5], v[6], v[7]);
            } else {
#pragma unroll
                for (int i = 0; i < 8; i++) o[i] = v[i];
            }
        } else {
            uint16_t *o = reinterpret_cast<uint16_t *>(out);
            uint16_t h[8];
#pragma unroll
            for (int i = 0; i < 8; i++) h[i] = fp4_f32_to_bf16(v[i]);
            if (vec) {
                *reinterpret_cast<uint4 *>(o) = make_uint4(h[0] | ((uint32_t)h[1] << 16), h[2] | ((uint32_t)h[3] << 16),
                                                           h[4] | ((uint32_t)h[5] << 16), h[6] | ((uint32_t)h[7] << 16));
            } else {
#pragma unroll
                for (int i = 0; i < 8; i++) o[i] = h[i];
            }
        }
        r += sq;
        u += su;
        if (u >= upr) { u -= upr; r++; }
    }
}

template <typename TO, bool NV>
static fp4_status launch_dequant(cudaStream_t stream, const fp4_qtensor *q, TO *y, int64_t ld, int vec) {
    const int64_t total = q->rows * (q->cols / 8);
    static int occ = 0;
    if (!occ) {
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, dequantize_kernel<TO, NV>, FP4Q_THREADS, 0) != cudaSuccess ||
            occ < 1) {
            (void)cudaGetLastError();
            occ = 4;
        }
    }
    int64_t grid = (total + FP4Q_THREADS - 1) / FP4Q_THREADS, cap = (int64_t)occ * fp4q_num_sms();
    if (grid > cap) grid = cap;
    if (grid < 1) grid = 1;
    dequantize_kernel<TO, NV><<<(unsigned)grid, FP4Q_THREADS, 0, stream>>>(
        q->data, q->scales, q->rows, q->cols, fp4_block_cols(q->cfg.block), q->s_dec, y, ld, vec);
    FP4_LAUNCH_CHECK("dequantize_kernel");
    return FP4_OK;
}

extern "C" fp4_status fp4_dequantize_cuda_async(fp4_context *ctx, const fp4_qtensor *q, fp4_view *y) {
    cudaStream_t stream = (cudaStream_t)fp4_context_stream(ctx);
    const int64_t es = (int64_t)fp4_dtype_size(y->dtype);
    const int vec = ((uintptr_t)y->data & 15u) == 0 && (y->ld * es) % 16 == 0;
    const int nv = q->cfg.format == FP4_FORMAT_NVFP4;
    if (y->dtype == FP4_DTYPE_F32)
        return nv ? launch_dequant<float, true>(stream, q, (float *)y->data, y->ld, vec)
                  : launch_dequant<float, false>(stream, q, (float *)y->data, y->ld, vec);
    if (y->dtype == FP4_DTYPE_BF16)
        return nv ? launch_dequant<uint16_t, true>(stream, q, (uint16_t *)y->data, y->ld, vec)
                  : launch_dequant<uint16_t, false>(stream, q, (uint16_t *)y->data, y->ld, vec);
    return fp4_fail(FP4_ERR_DTYPE, "fp4_dequantize: output dtype %s is not supported on the device (f32 or bf16)",
                    fp4_dtype_name(y->dtype));
}

/* Queued on the context's stream; like every CUDA operator here it does not synchronize (the
 * caller's next stream-ordered use, or fp4_context_sync, sees the result). */
extern "C" fp4_status fp4_dequantize_cuda(fp4_context *ctx, const fp4_qtensor *q, fp4_view *y) {
    return fp4_dequantize_cuda_async(ctx, q, y);
}
