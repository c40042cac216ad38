/* lib/layout_ref.c — reference (host) swizzle of compact block scales into the 128x4-tile layout
 * of Blackwell block-scaled GEMMs (see fp4kit/layout.h, spec nvfp4-recipe.md §10.2).
 * scales: uint8 [rows, kb] row-major; out: uint8 [roundup(rows,128) * roundup(kb,4)], every byte
 * written (padding = 0). Loops walk the OUTPUT in order, so each output byte is written once. */
#include <string.h>

#include "fp4kit/layout.h"

void fp4_scales_swizzle_host(const uint8_t *scales, int64_t rows, int64_t kb, uint8_t *out) {
    const int64_t mp = (rows + 127) / 128 * 128, kp = (kb + 3) / 4 * 4;
    size_t o = 0;
    for (int64_t rb = 0; rb < mp / 128; rb++)
        for (int64_t cb = 0; cb < kp / 4; cb++)
            for (int64_t d3 = 0; d3 < 32; d3++)
                for (int64_t d4 = 0; d4 < 4; d4++)
                    for (int64_t d5 = 0; d5 < 4; d5++) {
                        const int64_t r = rb * 128 + d4 * 32 + d3, c = cb * 4 + d5;
                        out[o++] = (r < rows && c < kb) ? scales[r * kb + c] : 0;
                    }
}
