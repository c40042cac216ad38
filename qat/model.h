/* qat/model.h — the two language models of the trainer: a GPT and an MLP language model, with
 * their parameters in one flat FP32 buffer (llm.c style), activations, forward (mean loss),
 * backward and zero_grad. The same code runs on the CPU and on a CUDA device: every op goes
 * through qat/ops.h and every GEMM through fp4_linear (fp4kit/linear.h), both dispatching on the
 * context. See docs/training.md for the shapes and the parameter table.
 *
 * GPT (qat/gpt.c), pre-norm, no biases, positions by RoPE (no learned positions):
 *   x = wte[tokens]                                       [B*T, C]
 *   per block l: x = x + proj(attn(rope(qkv(rmsnorm1(x)))))   qkv [3C, C], proj [C, C]
 *                x = x + fc2(act(fc1(rmsnorm2(x))))           fc1 [H, C], fc2 [C, H], H = mlp_ratio*C
 *   logits = lm_head(rmsnorm_f(x))                        [B*T, Vp]; lm_head = wte when tied
 * MLP LM (qat/mlp.c), Bengio-style over a window of W tokens, one prediction per position:
 *   position t of a row sees tokens t-W+1 .. t (positions before the row start read token 0),
 *   x = concat(wte[window])                               [B*T, W*C]
 *   per hidden layer l: x = act(fc_l(x) + b_l)            fc_0 [H, W*C], fc_l [H, H]
 *   logits = lm_head(rmsnorm_f(x))                        [B*T, Vp]; tied needs H == C
 * Block linears (qkv, proj, fc1, fc2; the MLP's fc_l) are fp4_linear layers with the recipe
 * fp4_policy_recipe_for_block gives for their block (GPT blocks; the MLP's hidden layers count as
 * blocks); the LM head is an fp4_linear with the high-precision preset ("fp32" on the host,
 * "bf16" on a device). Embeddings, norms, attention and the cross-entropy stay in high precision.
 */
#ifndef FP4KIT_QAT_MODEL_H
#define FP4KIT_QAT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "fp4kit/context.h"
#include "fp4kit/linear.h"
#include "fp4kit/recipe.h"
#include "fp4kit/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One parameter tensor of the flat buffer. */
typedef struct fp4_param_info {
    char name[48];
    int64_t rows, cols; /* cols == 0 for a 1-D tensor of `rows` elements */
    size_t offset;      /* in floats, into params/grads/m/v */
    int decay;          /* AdamW weight decay applies (matrices and embeddings; not norms, biases) */
} fp4_param_info;

/* Training-time choices that do not change the parameter shapes. */
typedef struct fp4_model_options {
    fp4_recipe recipe;
    fp4_layer_policy policy;
    fp4_linear_mode mode;  /* plain needs a high-precision recipe */
    uint64_t seed;         /* SR key of every linear layer */
    int Bmax;              /* largest batch forward will be given (activations are sized for it) */
    int act_f32;           /* 1: F32 activations on a device too (the tight CPU-comparison tests);
                              0: the GPT on a device keeps BF16 activations (see act_dtype) */
    /* profiling hook (NULL: none), called on the host before each op of forward/backward with a
     * tag ("fwd"/"bwd", or the linear layer's name) and the op's name; passed on to the linear
     * layers (fp4kit/linear.h). benchmarks/bench_train.cu records a CUDA event there. */
    void (*mark)(void *user, const char *tag, const char *stage);
    void *mark_user;
} fp4_model_options;

typedef struct fp4_model {
    fp4_model_config cfg;
    fp4_model_options opt;
    int Vp, H;
    fp4_location loc;            /* where params, grads, activations live */
    /* parameters */
    fp4_param_info *info;
    int n_info;
    size_t n_params;
    float *params, *grads;       /* [n_params] at loc */
    uint8_t *wd_mask;            /* [n_params] at loc */
    /* linear layers: block linears in order, then the LM head */
    fp4_linear *lin;
    int n_lin;
    /* activations: one buffer at loc, carved by the model file. act_dtype: F32 (the host; the MLP
     * LM; an all-fp32 recipe; act_f32) or BF16 (the GPT on a device: llm.c's design — BF16
     * activations and residual stream, FP32 math inside the ops, FP32 master weights, gradients
     * and optimizer state). flash: attention without the T x T buffer (fp4_flash_attention_*,
     * BF16 activations and a head size the kernels have). Per-position losses, rstd and lse are
     * always F32. */
    float *acts;
    size_t n_acts;               /* in floats (each slice starts 256-byte aligned) */
    float **act_ptr;             /* named slices (model-specific indices; BF16 slices cast) */
    fp4_dtype act_dtype;
    int flash;
    fp4_context *side;           /* GPT, true-quant on a device: the linears' side stream (fp4_linear.side) */
    int n_act_ptr;
    float *rope_cos, *rope_sin;  /* [T, hs/2] at loc (GPT) */
    int32_t *tok, *tgt, *win;    /* token inputs at loc: [Bmax*T], [Bmax*T], MLP windows [Bmax*T*W] */
    int32_t *h_win;              /* host scratch for the MLP windows */
    float *h_losses;             /* host copy of the per-position losses [Bmax*T] */
    int B;                       /* batch of the last forward (0: none) */
    int have_targets;
    uint32_t step;
} fp4_model;

/* Build a model: parameter table, parameters initialized from seed (normal(0, 0.02), residual
 * projections scaled by 1/sqrt(2L), norms 1, biases 0; drawn on the host in a fixed order, so
 * a seed gives the same weights on every back end), gradients zeroed, activations allocated,
 * linear layers set up. ctx NULL or CPU: host; CUDA: device. */
fp4_status fp4_model_create(fp4_context *ctx, const fp4_model_config *cfg, const fp4_model_options *opt,
                            uint64_t init_seed, fp4_model *m);
void fp4_model_free(fp4_model *m);

/* Forward on B rows (1 <= B <= Bmax) of T positions. inputs [B, T] and targets [B, T] are host
 * int32 with row stride ld (the loader's (B, T+1) batch: inputs = batch, targets = batch + 1,
 * ld = T + 1). targets may be NULL (logits only). *loss (may be NULL) gets the mean loss over the
 * B*T positions (FP64 sum of the per-position losses, in order). step selects the SR draws. */
fp4_status fp4_model_forward(fp4_context *ctx, fp4_model *m, const int32_t *inputs, const int32_t *targets,
                             int64_t ld, int B, uint32_t step, float *loss);
/* Backward of the last forward (which had targets): grads += d(dloss_scale * sum of the B*T
 * position losses)/dparams. For the mean over one batch use dloss_scale = 1/(B*T); with
 * gradient accumulation over k micro-batches, 1/(k*B*T). */
fp4_status fp4_model_backward(fp4_context *ctx, fp4_model *m, float dloss_scale);
fp4_status fp4_model_zero_grad(fp4_context *ctx, fp4_model *m);
/* Logits of row b at position t of the last forward, copied to host (Vp floats; the first V are
 * meaningful). Only valid after a forward (and before the backward, which overwrites them). */
fp4_status fp4_model_logits(fp4_context *ctx, const fp4_model *m, int b, int t, float *out);
/* The parameter called name (NULL if none). */
const fp4_param_info *fp4_model_param(const fp4_model *m, const char *name);

/* ---- private to qat/: the per-architecture halves (gpt.c, mlp.c) ------------------------------ */
fp4_status fp4_gpt_layout(fp4_model *m);   /* fills info/n_info/n_params, n_lin */
fp4_status fp4_gpt_setup(fp4_model *m);    /* after allocation: act slices, linears */
fp4_status fp4_gpt_forward(fp4_context *ctx, fp4_model *m, int B);
fp4_status fp4_gpt_backward(fp4_context *ctx, fp4_model *m, float dloss_scale);
fp4_status fp4_mlp_layout(fp4_model *m);
fp4_status fp4_mlp_setup(fp4_model *m);
fp4_status fp4_mlp_forward(fp4_context *ctx, fp4_model *m, int B);
fp4_status fp4_mlp_backward(fp4_context *ctx, fp4_model *m, float dloss_scale);
/* Helpers shared by the two (qat/model.c). */
fp4_status fp4_model_add_param(fp4_model *m, const char *name, int64_t rows, int64_t cols, int decay);
fp4_status fp4_model_init_linear(fp4_model *m, int idx, int block, int n_blocks, float *w, float *bias, int64_t OC,
                                 int64_t C);
fp4_view fp4_model_view(const fp4_model *m, float *p, int64_t rows, int64_t cols); /* act_dtype */
fp4_view fp4_model_view_f32(const fp4_model *m, float *p, int64_t rows, int64_t cols);
float *fp4_model_p(const fp4_model *m, const char *name);  /* parameter pointer by name (at loc) */
float *fp4_model_g(const fp4_model *m, const char *name);  /* its gradient */

#ifdef __cplusplus
}
#endif
#endif
