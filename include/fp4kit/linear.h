/* fp4kit/linear.h — a quantized linear layer Y = X·Wᵀ + b: forward and backward under a recipe.
 *
 * Shapes (llm.c letters): x [BT, C], W [OC, C], bias [OC], y [BT, OC], dy [BT, OC], dx [BT, C],
 * dW [OC, C], db [OC]. Views are row-major (ld may exceed cols); everything lives in the layer's
 * location (host, or the device of a CUDA context). Activation views (x, y, dy, dx) are F32 on the
 * host; on a device each may be F32 or BF16 independently (BF16 activations, the GPU trainer's
 * default: an output is the FP32 accumulator rounded to BF16 once; a BF16 input is used as is —
 * it is exact as a bf16 operand and as the high-precision input of a quantizer). W, bias, dW and db
 * are always FP32.
 *
 * The three GEMMs and their operands are described in fp4kit/recipe.h. Three modes, one interface:
 *   FP4_LINEAR_PLAIN  high precision only: every operand of the recipe must be fp32 or bf16 (an FP4
 *                     operand is an error, never silently ignored). fp32 operands are used as is,
 *                     bf16 operands are rounded to BF16 (RNE); FP32 accumulation.
 *   FP4_LINEAR_FAKE   FP4 operands are quantized exactly as the recipe says, dequantized to FP32 and
 *                     multiplied by an FP32 GEMM (CPU and GPU).
 *   FP4_LINEAR_TRUE   FP4 operands go packed through fp4_gemm (the block-scaled FP4 GEMM: the CUDA
 *                     kernel on the GPU, the bit-exact reference on the host). A GEMM whose operands
 *                     are both fp32/bf16 runs in high precision; one FP4 operand with one high-
 *                     precision operand, or two FP4 formats, is rejected (FP4_ERR_UNSUPPORTED).
 * Quantizers use the straight-through estimator: backward treats Q as the identity w.r.t. its
 * high-precision input. Bias and db are always FP32 (db sums the unquantized dY).
 *
 * Stochastic rounding (docs/recipes.md §SR seeding): operand t = 2*gemm + operand (fprop.x 0,
 * fprop.w 1, dgrad.dy 2, dgrad.w 3, wgrad.dy 4, wgrad.x 5) is quantized with
 *     cfg.seed = layer->seed,  cfg.stream = fp4_linear_sr_stream(layer_id, t, step)
 *              = (layer_id << 40) | (t << 32) | step        (layer_id < 2^23, step < 2^32)
 * (columnwise copies then XOR FP4_STREAM_COLUMNWISE, bit 63, as fp4_quantize does). So every
 * (seed, step, layer, tensor) draws its own bits, two steps differ and a rerun repeats. Backward
 * uses the step of the preceding forward.
 *
 * What is kept from forward for backward (fp4_linear_saved_bytes): Wgrad's X operand — the
 * columnwise (optionally RHT) quantized Xᵀ [C, BT] for an FP4 wgrad.x, else X in fp32 or bf16
 * (host: Xᵀ [C, BT]; device bf16: X [BT, C], read transposed by cuBLASLt; nothing at all when
 * borrow_x is set and x is BF16: the layer then keeps a pointer to the caller's x) — and Dgrad's
 * W operand when it is FP4 (the quantized Wᵀ [C, OC]; with 16x16 blocks and the same config as
 * fprop.w it is the columnwise copy of the one fprop.w quantization). High-precision W is read
 * from the master weights in backward (on a device, from the BF16 copy forward made) and is not
 * counted.
 *
 * Device BF16 GEMMs (both operands bf16: the bf16 recipe, the policy's BF16 blocks, the LM head)
 * run on cuBLASLt with transposed layouts instead of transposed copies: fprop Y = X·Wᵀ (TN), dgrad
 * dX = dY·W (NN), wgrad dW += dYᵀ·X (NT, FP32 dW accumulated with beta = 1), W rounded to a BF16
 * copy once per forward, F32 activations rounded to BF16 once per call (no copy for BF16 ones). Operands built only for one call
 * (fprop.x, fprop.w, dY's copies, dequantized FP32 scratch) are kept in the layer for reuse and
 * inspection (fp4_linear_operand) but are not "saved" memory.
 *
 * Weights: W and bias are caller-owned FP32 master tensors; the layer stores the pointers and never
 * frees them. The master weights must not change between a forward and its backward.
 */
#ifndef FP4KIT_LINEAR_H
#define FP4KIT_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "fp4kit/context.h"
#include "fp4kit/recipe.h"
#include "fp4kit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fp4_linear_mode {
    FP4_LINEAR_PLAIN = 0,
    FP4_LINEAR_FAKE = 1,
    FP4_LINEAR_TRUE = 2
} fp4_linear_mode;

const char *fp4_linear_mode_name(fp4_linear_mode m); /* "plain", "fake", "true" */
fp4_status fp4_linear_mode_parse(const char *s, fp4_linear_mode *out);

/* A growable buffer in the layer's location (private). */
typedef struct fp4_linear_buf {
    void *p;
    size_t cap;
} fp4_linear_buf;

typedef struct fp4_linear {
    /* configuration (fp4_linear_init; read-only afterwards) */
    int64_t OC, C;
    float *w;         /* [OC, C] master weights, caller-owned */
    float *bias;      /* [OC] or NULL, caller-owned */
    fp4_location loc; /* where w, bias, activations and gradients live */
    fp4_recipe recipe;
    fp4_linear_mode mode;
    uint32_t layer_id; /* < 2^23 */
    uint64_t seed;     /* SR Philox key */
    uint64_t hadamard_seed; /* RHT sign seed for the wgrad operands (0: fixed 0xD7E8 mask for d = 16) */
    /* state (private) */
    int64_t BT;        /* rows of the last forward; 0 before the first */
    uint32_t step;     /* step of the last forward */
    int have_forward;  /* a forward ran and its saved tensors are valid */
    fp4_qtensor q[3][2];   /* FP4 operands of the latest call of each GEMM (zeroed if not FP4) */
    int q_valid[3][2];
    int w_shared;          /* q[DGRAD][1] is the columnwise copy from fprop.w's quantize call */
    fp4_linear_buf saved_x;        /* high-precision X (see above) when wgrad.x is not FP4 */
    size_t saved_x_bytes;
    const void *sx;                /* device bf16 wgrad: X [BT, C] BF16 (saved_x or the borrowed x) */
    int64_t sx_ld;
    fp4_linear_buf wbf16;          /* device bf16 GEMMs: W [OC, C] rounded to BF16 by the last forward */
    fp4_linear_buf scratch[4];     /* scratch: operands A, B (FP32); BF16 copies; FP32 output staging */
    /* options (set by the caller after fp4_linear_init, which clears them) */
    int borrow_x;  /* 1: a BF16 device x of forward is not copied for wgrad; the caller keeps it
                      unchanged until the backward (the GPT's activations are kept anyway) */
    int async_quant; /* 1 (device layers, mode true): quantizations are queued without fp4_quantize's and
                      fp4_rht_quantize_columnwise's host synchronization; the tensor scales of the
                      operands then live only in tscale_dev (the device GEMMs read them there) and
                      their host fields amax/s_enc/s_dec are NaN. Same codes, scales and results.
                      Strict non-finite configs keep the synchronizing calls. 0: the public calls. */
    fp4_context *side; /* NULL, or a second CUDA context on the layer's device (its own stream and
                      workspace; caller-owned): true-quant layers then quantize the Wgrad operands
                      (Xᵀ in forward, dYᵀ in backward) on its stream, concurrently with the main
                      stream's rowwise quantization and GEMM, ordered by events (the main stream
                      waits before the Wgrad GEMM). Same kernels and inputs: the same bits. */
    void *ev[4];      /* private: side-stream events (x fork, x done, dy fork, dy done) */
    int x_on_side;    /* private: the last forward's Wgrad X operand was made on the side stream */
    void (*mark)(void *user, const char *tag, const char *stage); /* profiling hook or NULL: called
                      on the host before each stage ("w", "x", "fprop", "dy", "dgrad", "dyT",
                      "wgrad"); a profiler records a device event there (benchmarks/bench_train) */
    void *mark_user;
    const char *mark_tag;
} fp4_linear;

/* Set up a layer. w [OC, C] and bias [OC] (may be NULL) are FP32 at loc. The recipe is validated
 * and checked against the mode. Shapes are checked against the recipe's blocks here (C and OC) and
 * in forward (BT). */
fp4_status fp4_linear_init(fp4_linear *l, float *w, float *bias, int64_t OC, int64_t C, fp4_location loc,
                           const fp4_recipe *recipe, fp4_linear_mode mode, uint32_t layer_id, uint64_t seed);
/* Free everything the layer allocated (not w or bias) and zero it. Safe on a zeroed struct. */
void fp4_linear_free(fp4_linear *l);

/* y = x·Wᵀ + bias. x [BT, C], y [BT, OC] (F32, or on a device F32/BF16). step selects the SR draw.
 * Keeps what backward needs. */
fp4_status fp4_linear_forward(fp4_context *ctx, fp4_linear *l, const fp4_view *x, fp4_view *y, uint32_t step);

/* Backward of the preceding forward. dy [BT, OC] (F32, or F32/BF16 on a device). dx [BT, C] is written (may be NULL: no
 * Dgrad); dW [OC, C] (contiguous FP32, may be NULL: no Wgrad) and db [OC] (may be NULL) are
 * accumulated: dW += dYᵀ·X, db += sum over rows of dY. */
fp4_status fp4_linear_backward(fp4_context *ctx, fp4_linear *l, const fp4_view *dy, fp4_view *dx, float *dW,
                               float *db);

/* Bytes kept from forward for backward (see above); 0 before the first forward. */
size_t fp4_linear_saved_bytes(const fp4_linear *l);

/* The quantized operand the latest call of GEMM g used as operand 0 (A) or 1 (B), NULL if that
 * operand is fp32/bf16 or the GEMM has not run. For inspection and tests. */
const fp4_qtensor *fp4_linear_operand(const fp4_linear *l, fp4_gemm_kind g, int operand);

/* The SR stream of tensor t (0..5) at a step, as documented above. */
uint64_t fp4_linear_sr_stream(uint32_t layer_id, int tensor_id, uint32_t step);

#ifdef __cplusplus
}
#endif
#endif
