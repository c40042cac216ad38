/* fp4kit/hadamard.h — Hadamard transforms: the normalized fast Walsh–Hadamard transform (FWHT),
 * the random Hadamard transform (RHT) of the NVFP4 recipe, block rotations for MR-GPTQ, and the
 * fused "RHT + columnwise quantize" that produces the Wgrad operands (spec nvfp4-recipe.md §5,
 * mxfp4-mrgptq-qlora.md §1.3). docs/hadamard.md has the derivations.
 *
 * The transform of size d (a power of two, 16 <= d <= 32768). A row vector u of length d becomes
 *     u' = u · H,   H = diag(s) · H_d / sqrt(d),   H_d[i][j] = (-1)^popcount(i & j)  (Sylvester)
 * with s a +-1 sign vector (s = all +1 for the plain transform). H is orthogonal; the inverse is
 *     u  = u' · Hᵀ = (u' · H_d / sqrt(d)) · diag(s).
 * A tensor [R, C] is transformed in independent chunks of d elements: along each row (chunks of
 * d consecutive columns, C a multiple of d: y = x · blockdiag(H)), or along each column (chunks of
 * d consecutive rows, R a multiple of d: y = blockdiag(H)ᵀ · x).
 *
 * Exact fp32 operation order (shared by the CPU reference and the CUDA kernels, so their outputs
 * are bit-identical; see docs/hadamard.md §3):
 *   forward: t_i = s_i * x_i (a sign flip, exact); log2(d) butterfly stages at strides
 *            h = 1, 2, 4, ..., d/2, each pair (i, i+h) with i & h == 0 becoming (t_i + t_{i+h},
 *            t_i - t_{i+h}) in fp32; then one multiply by fp4_hadamard_scale(d) = fp32(1/sqrt d)
 *            (exact, 2^-L/2, when L = log2 d is even; fp32(1/sqrt 2) * 2^-(L-1)/2 when L is odd);
 *            BF16 output is the RNE rounding of that fp32 value.
 *   inverse: butterflies on x, multiply by fp4_hadamard_scale(d), then the sign flips.
 *
 * Signs (fp4_hadamard_sign_word): with random signs, sign s_i = -1 iff bit i of the sign vector is
 * set. d = 16 and seed 0: TransformerEngine's fixed mask 0xD7E8 (spec §5.2). Otherwise bit i is bit
 * (i % 32) of word ((i / 32) % 4) of Philox4x32-10 with key = seed and counter
 * (i / 128, 0, FP4_HADAMARD_SIGN_STREAM lo32, hi32), i.e. fp4_sr_block16(seed,
 * FP4_HADAMARD_SIGN_STREAM, i / 128). The same vector serves every chunk of a tensor.
 *
 * Every function runs the CPU reference for host views and the CUDA kernels for device views
 * (with a CUDA context); mixing locations is an error. Inputs F32 or BF16, outputs F32 or BF16.
 */
#ifndef FP4KIT_HADAMARD_H
#define FP4KIT_HADAMARD_H

#include <stdint.h>

#include "fp4kit/context.h"
#include "fp4kit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FP4_HADAMARD_MIN_D 16
#define FP4_HADAMARD_MAX_D 32768
/* Column-axis transforms are for block rotations; the kernels take chunks up to this size. */
#define FP4_HADAMARD_MAX_D_COLS 128
/* TransformerEngine's fixed RHT16 sign mask (bit i set => s_i = -1): s = [+,+,+,-,+,-,-,-,-,-,-,+,-,+,-,-]. */
#define FP4_RHT16_SIGN_MASK 0xD7E8u
/* Philox stream of the random sign vectors ("HADSIGN" in ASCII), distinct from any SR stream in use. */
#define FP4_HADAMARD_SIGN_STREAM 0x4841445349474Eull

typedef enum fp4_had_axis {
    FP4_HAD_ALONG_ROWS = 0, /* chunks of d consecutive elements of each row:    y = x · blockdiag(H) */
    FP4_HAD_ALONG_COLS = 1  /* chunks of d consecutive elements of each column: y = blockdiag(H)ᵀ · x */
} fp4_had_axis;

/* What transform to apply. Start from fp4_hadamard_plain() or fp4_hadamard_rht(). */
typedef struct fp4_hadamard_desc {
    int d;              /* chunk size, power of two in [16, 32768] ([16, 128] along columns) */
    fp4_had_axis axis;
    int random_signs;   /* 0: s = all +1 (plain H_d/sqrt d, symmetric, self-inverse); 1: signs as above */
    uint64_t seed;      /* sign seed (random_signs only); 0 with d = 16 selects the 0xD7E8 mask */
    int inverse;        /* 0: u -> u·H; 1: u -> u·Hᵀ (undoes the forward transform) */
} fp4_hadamard_desc;

/* Plain normalized Walsh–Hadamard transform of size d along rows (forward). */
fp4_hadamard_desc fp4_hadamard_plain(int d);
/* Random Hadamard transform of size d along rows with the given sign seed (forward). */
fp4_hadamard_desc fp4_hadamard_rht(int d, uint64_t seed);

/* The fp32 constant the transform multiplies by once: fp32(1/sqrt d) (0 if d is invalid). */
float fp4_hadamard_scale(int d);
/* Word w (bits of elements 32w .. 32w+31) of the sign vector for (d, seed); bit set => s = -1.
 * For d = 16 and seed 0 word 0 is 0xD7E8 (bits 16..31 clear). */
uint32_t fp4_hadamard_sign_word(int d, uint64_t seed, int w);
/* Sign s_i (+1 or -1) of element i of the random sign vector for (d, seed). */
int fp4_hadamard_sign(int d, uint64_t seed, int i);

/* Check a descriptor and a shape: d a power of two in range, the transformed dimension (cols
 * along rows, rows along columns) a multiple of d. Fails with FP4_ERR_INVALID_ARG / FP4_ERR_SHAPE
 * and a message naming the value. */
fp4_status fp4_hadamard_validate(const fp4_hadamard_desc *h, int64_t rows, int64_t cols);

/* y = transform(x) chunk by chunk. x, y: [R, C] views (F32 or BF16) in the same place. y may be x
 * itself (in place) when the data pointer, dtype and ld are all equal; other overlaps are not
 * allowed. Device calls are asynchronous on the context's stream. */
fp4_status fp4_hadamard(fp4_context *ctx, const fp4_view *x, fp4_view *y, const fp4_hadamard_desc *h);

/* MR-GPTQ block rotation (mxfp4-mrgptq-qlora.md §1.3): the plain normalized Hadamard H_k/sqrt(k)
 * (FP-Quant's scipy.linalg.hadamard(k)/sqrt(k)), block-diagonal with blocks of k in {16, 32, 64,
 * 128}. FP4_HAD_ALONG_ROWS rotates weights [out, in] along `in` (W · H_k), and activations along
 * their last dim; FP4_HAD_ALONG_COLS rotates along the first dim. H_k is symmetric and orthogonal,
 * so applying the rotation twice restores the input (up to fp32 rounding). */
fp4_status fp4_rotate_blocks(fp4_context *ctx, const fp4_view *x, fp4_view *y, int k, fp4_had_axis axis);

/* The Wgrad operand of the NVFP4 recipe (spec §5.3, §12 items 6-8), fused:
 * x: [M tokens, K] (F32 or BF16). out: allocated by the caller as fp4_qtensor_alloc(out, K, M, cfg,
 * loc). For every column k of x, chunks of d consecutive tokens are transformed by
 * H = diag(s) H_d / sqrt d (signs for (d, sign_seed); 0xD7E8 for d = 16, seed 0), the result is
 * rounded to BF16, and the transposed [K, M] tensor is quantized with blocks along M:
 *   NVFP4 (cfg 1x16, d must be 16): tensor amax over the BF16-rounded transformed values, S_enc,
 *     S_dec, block scales and codes exactly as fp4_quantize does (spec §3), RNE or SR;
 *   MXFP4 (cfg 1x32, d must be 32): E8M0 block scales by cfg->scale_rule, no tensor scale
 *     (out->amax is the transformed amax, informational).
 * SR bits: fp4_sr_bits8(cfg->seed, cfg->stream ^ FP4_STREAM_COLUMNWISE, k*M + m), the convention of
 * fp4_quantize's columnwise copy; out->cfg.stream records that stream. M must be a multiple of d.
 * Records out->hadamard = d and out->hadamard_seed = sign_seed. The result is bit-identical to
 * fp4_hadamard (BF16 output) of xᵀ followed by fp4_quantize of that [K, M] tensor as a rowwise
 * copy with stream cfg->stream ^ FP4_STREAM_COLUMNWISE.
 * Strict non-finite mode fails with FP4_ERR_NONFINITE if any transformed value is NaN/Inf (which
 * is the case whenever an input of its chunk is), before any code or scale is written.
 * Device calls finish with one stream synchronization (to fill out->amax/s_enc/s_dec on the host;
 * the kernels also leave {amax, s_enc, s_dec} in out->tscale_dev). */
fp4_status fp4_rht_quantize_columnwise(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, int d,
                                       uint64_t sign_seed, fp4_qtensor *out);

#ifdef __cplusplus
}
#endif
#endif
