/* fp4kit/recipe.h — training recipes: the precision of every operand of a linear layer's GEMMs,
 * and the layer policy that keeps the first/last blocks of a model in BF16.
 *
 * A linear layer Y = X·Wᵀ (X [BT, C], W [OC, C], Y [BT, OC]) runs three TN GEMMs, each with two
 * operands quantized along the GEMM's reduction dimension K (spec nvfp4-recipe.md §7.2):
 *
 *   GEMM    D = A·Bᵀ        operand 0 (A)              operand 1 (B)              K
 *   fprop   Y  [BT, OC]     x:  X       [BT, C]        w:  W       [OC, C]        C
 *   dgrad   dX [BT, C]      dy: dY      [BT, OC]       w:  Wᵀ      [C, OC]        OC
 *   wgrad   dW [OC, C]      dy: dYᵀ     [OC, BT]       x:  Xᵀ      [C, BT]        BT (tokens)
 *
 * For each operand a recipe gives a precision (fp32, bf16, nvfp4, mxfp4) and, for the FP4
 * precisions, the block (1x16, 16x16, 1x32), the element rounding (rne, sr), the scale rule (nv for
 * NVFP4; rceil or ocp for MXFP4) and the Hadamard size (0 = none, 16 or 32; Wgrad operands only,
 * applied along tokens, the same H for both operands so the transforms cancel, spec §5.3).
 *
 * Recipes are written as short strings (docs/recipes.md):
 *     recipe   := preset { "," override }
 *     override := [gemm "."] [operand "."] field "=" value
 *     gemm     := fprop | dgrad | wgrad          operand := x | w | dy
 *     field    := format | block | round | scale | hadamard
 * e.g. "nvfp4", "nvfp4,wgrad.hadamard=0", "nvfp4,dy.round=rne", "bf16,fprop.format=nvfp4".
 * A target without gemm and operand means all six operands; "gemm.field" both operands of that
 * GEMM; "operand.field" that tensor in every GEMM it enters; "gemm.operand.field" one operand.
 * "format=" resets the targeted operands' other fields to that format's defaults (nvfp4: 1x16 rne
 * nv 0; mxfp4: 1x32 rne rceil 0), so put it before the fields it should keep. Overrides apply in
 * order, then the whole recipe is validated. fp4_recipe_print writes the canonical form (a preset
 * name, then fully qualified overrides), and parse(print(r)) == r for every valid recipe.
 */
#ifndef FP4KIT_RECIPE_H
#define FP4KIT_RECIPE_H

#include <stddef.h>

#include "fp4kit/status.h"
#include "fp4kit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fp4_prec {
    FP4_PREC_FP32 = 0,  /* operand used as is (fp32) */
    FP4_PREC_BF16 = 1,  /* operand rounded to BF16 (RNE), FP32 accumulation */
    FP4_PREC_NVFP4 = 2, /* NVFP4: E2M1 + E4M3 per 16 (1x16 or 16x16) + FP32 tensor scale */
    FP4_PREC_MXFP4 = 3  /* MXFP4: E2M1 + E8M0 per 32 */
} fp4_prec;

typedef enum fp4_gemm_kind {
    FP4_FPROP = 0, /* Y  = X·Wᵀ   */
    FP4_DGRAD = 1, /* dX = dY·W   */
    FP4_WGRAD = 2  /* dW = dYᵀ·X  */
} fp4_gemm_kind;

/* One operand's recipe. For fp32/bf16 operands the other fields are fixed at block 0 ("none"),
 * rne, nv, hadamard 0 (validation enforces it, so recipes compare with fp4_recipe_equal). */
typedef struct fp4_operand_recipe {
    fp4_prec prec;
    fp4_block block;        /* FP4 only: 1x16 / 16x16 (nvfp4), 1x32 (mxfp4) */
    fp4_rounding rounding;  /* FP4 only: rne or sr */
    fp4_scale_rule scale;   /* nv (nvfp4), rceil or ocp (mxfp4) */
    int hadamard;           /* 0, or 16 (nvfp4) / 32 (mxfp4) on both Wgrad operands */
} fp4_operand_recipe;

/* op[gemm][operand] with operand 0 = A, 1 = B as in the table above. */
typedef struct fp4_recipe {
    fp4_operand_recipe op[3][2];
} fp4_recipe;

/* Preset names, in table order: "fp32", "bf16", "nvfp4", "mxfp4", "nvfp4-no-rht", "nvfp4-no-sr",
 * "nvfp4-1d-weights", "nvfp4-rtn". Returns the number of presets; *names gets the table. */
int fp4_recipe_presets(const char *const **names);
fp4_status fp4_recipe_preset(const char *name, fp4_recipe *out);

fp4_status fp4_recipe_parse(const char *s, fp4_recipe *out);
/* Canonical string into buf (cap bytes, NUL-terminated); FP4_ERR_INVALID_ARG if it does not fit. */
fp4_status fp4_recipe_print(const fp4_recipe *r, char *buf, size_t cap);
/* Check every operand (messages name the operand and field, e.g. "wgrad.x.hadamard: ..."). */
fp4_status fp4_recipe_validate(const fp4_recipe *r);
int fp4_recipe_equal(const fp4_recipe *a, const fp4_recipe *b);
/* 1 if any operand is nvfp4 or mxfp4. */
int fp4_recipe_is_quantized(const fp4_recipe *r);

/* The quantization config of an FP4 operand (seed and stream 0; the layer fills them in).
 * FP4_ERR_INVALID_ARG for a high-precision operand. */
fp4_status fp4_operand_config(const fp4_operand_recipe *o, fp4_config *out);

const char *fp4_prec_name(fp4_prec p);
fp4_status fp4_prec_parse(const char *s, fp4_prec *out);
const char *fp4_gemm_kind_name(fp4_gemm_kind g);       /* "fprop", "dgrad", "wgrad" */
const char *fp4_operand_name(fp4_gemm_kind g, int operand); /* "x", "w", "dy" */

/* Layer policy: blocks [0, bf16_first) and [n_blocks - bf16_last, n_blocks) run in BF16.
 * String form "bf16-first=N,bf16-last=M" (either key may be omitted, each at most once; "" or
 * "none" is 0,0); printed canonically with both keys. */
typedef struct fp4_layer_policy {
    int bf16_first;
    int bf16_last;
} fp4_layer_policy;

fp4_status fp4_policy_parse(const char *s, fp4_layer_policy *out);
fp4_status fp4_policy_print(const fp4_layer_policy *p, char *buf, size_t cap);
/* The recipe for transformer block `block_index` of `n_blocks`: the "bf16" preset for kept blocks,
 * else *recipe. Fails on an index outside [0, n_blocks) or negative policy counts. */
fp4_status fp4_policy_recipe_for_block(const fp4_layer_policy *policy, const fp4_recipe *recipe, int block_index,
                                       int n_blocks, fp4_recipe *out);

#ifdef __cplusplus
}
#endif
#endif
