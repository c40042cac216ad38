/* fp4kit/layout.h — scale-factor layouts for block-scaled GEMMs.
 *
 * fp4kit keeps block scales "compact": uint8 [rows, Kb] row-major, Kb = cols / block width
 * (fp4kit/tensor.h). Blackwell block-scaled GEMMs (cuBLASLt VEC16_UE4M3 / VEC32_UE8M0, CUTLASS,
 * TE) want them "swizzled" into 128x4 tiles (spec nvfp4-recipe.md §10.2):
 *
 *   pad rows to Mp = roundup(rows, 128) and scale columns to Kp = roundup(Kb, 4) with zero bytes;
 *   cut [Mp, Kp] into 128-row x 4-column tiles of 512 bytes, stored row-major (tile column fastest);
 *   scale (r, c) with r = rb*128 + d4*32 + d3 (d4 in [0,4), d3 in [0,32)) and c = cb*4 + d5
 *   (d5 in [0,4)) goes to byte
 *       offset = ((rb * (Kp/4) + cb) * 32 + d3) * 16 + d4 * 4 + d5.
 *   Equivalently: view the padded [Mp, Kp] as [Mp/128, 4, 32, Kp/4, 4] (rb, d4, d3, cb, d5) and
 *   store it in the order (rb, cb, d3, d4, d5); the unswizzle is reshape [Mp/128, Kp/4, 32, 4, 4]
 *   -> permute(0, 3, 2, 1, 4) -> [Mp, Kp].
 * A columnwise copy is stored transposed, so it is swizzled the same way.
 *
 *   size_t n = fp4_scales_swizzled_bytes(&q);
 *   fp4_scales_swizzle(ctx, &q, out, n);   // out on the host for host q, on the device for device q
 */
#ifndef FP4KIT_LAYOUT_H
#define FP4KIT_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "fp4kit/context.h"
#include "fp4kit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Byte offset of compact scale (r, c) in the swizzled layout of a tensor with kb scale columns. */
static inline size_t fp4_swizzle_offset(int64_t r, int64_t c, int64_t kb) {
    const int64_t kt = (kb + 3) / 4; /* tiles per tile row */
    const int64_t rb = r / 128, d4 = (r % 128) / 32, d3 = r % 32, cb = c / 4, d5 = c % 4;
    return (size_t)((((rb * kt + cb) * 32 + d3) * 16) + d4 * 4 + d5);
}

/* Bytes of the swizzled scales of q: roundup(rows, 128) * roundup(cols / block width, 4). */
size_t fp4_scales_swizzled_bytes(const fp4_qtensor *q);

/* Write q's scales in the swizzled 128x4-tile layout, padding with zeros. out must hold
 * out_bytes >= fp4_scales_swizzled_bytes(q) bytes and live where q lives: host memory for a host
 * tensor (ctx may be NULL), device memory for a device tensor (ctx must be a CUDA context; the
 * call returns after the kernel has finished). */
fp4_status fp4_scales_swizzle(fp4_context *ctx, const fp4_qtensor *q, uint8_t *out, size_t out_bytes);

/* The same on raw host arrays: scales [rows, kb] compact -> out (roundup(rows,128)*roundup(kb,4)). */
void fp4_scales_swizzle_host(const uint8_t *scales, int64_t rows, int64_t kb, uint8_t *out);

#ifdef __cplusplus
}
#endif
#endif
