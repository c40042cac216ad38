/* qat/ops.h — the language-model ops around the quantized linear layer, "one function, two back
 * ends": each fp4_<op> validates its arguments and runs fp4_<op>_ref (qat/ops_ref.c, plain C +
 * OpenMP, FP32) for a host context or fp4_<op>_cuda (qat/ops_cuda.h, CUDA) for a CUDA context.
 * The dispatchers live in qat/ops.c. Every block linear (qkv, attention out, MLP up/down, the MLP
 * LM's hidden layers) and the LM head GEMM go through fp4_linear (fp4kit/linear.h), not through
 * this file; these are the high-precision ops of spec §7.1 (embeddings, norms, non-linearities,
 * attention, softmax cross-entropy) plus the optimizer's element-wise work.
 *
 * Location rule: a CUDA context (fp4_context_is_cuda) means every pointer and view of the call is
 * device memory of that context's device, and the work is queued on its stream (asynchronous; a
 * call returns once queued, except fp4_grad_norm_sq which returns a host value). A NULL or CPU
 * context means every pointer is host memory. Views must say the same (loc), else
 * FP4_ERR_INVALID_ARG. Without CUDA in the build a CUDA context gets FP4_ERR_UNSUPPORTED.
 *
 * Dtypes: activation views (fp4_view) are F32 or BF16, and all views of one call share a dtype
 * (the host reference implements F32 only and answers FP4_ERR_DTYPE for BF16; the CUDA side may
 * support both). Views are 2-D and contiguous (ld == cols), shapes given below with llm.c's
 * letters: B batch, T time (context), C channels (= NH * hs), NH heads, hs head size, V vocabulary,
 * Vp padded vocabulary (>= V), N rows of an element-wise op, M its columns. Raw float* arguments
 * (parameters, their gradients, rstd, losses, AdamW state) are always FP32. Tokens and targets are
 * int32 in the call's location. Backward functions that "accumulate" add into their output (+=);
 * the others overwrite. Unless said otherwise an output must not alias an input.
 *
 * Determinism: for a given back end every op's result is a function of its inputs only — no
 * atomics whose order changes the rounding, no dependence on the OpenMP thread count or the launch
 * configuration. (CPU and GPU need not agree bit for bit; tests compare them with tolerances.)
 */
#ifndef FP4KIT_QAT_OPS_H
#define FP4KIT_QAT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "fp4kit/context.h"
#include "fp4kit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- encoder (token embedding) --------------------------------------------------------------
 * forward:  out [N, C] row i = wte[tokens[i], :]; tokens [N] (0 <= id < V); wte [Vp, C] (rows
 *           >= V are padding and never read). The GPT uses N = B*T (positions come from RoPE); the
 *           MLP LM uses N = B*W for a window of W tokens, so the same buffer read as [B, W*C] is
 *           the concatenation of the window's embeddings.
 * backward: dwte [Vp, C] += sum over i with tokens[i] == v of dout[i, :] (accumulate), summed in
 *           increasing i for every v (deterministic). The host dispatcher checks token ids; the
 *           device one cannot (the caller validates tokens on the host before uploading them). */
fp4_status fp4_encoder_forward(fp4_context *ctx, fp4_view *out, const int32_t *tokens, const float *wte, int64_t V);
fp4_status fp4_encoder_backward(fp4_context *ctx, float *dwte, const fp4_view *dout, const int32_t *tokens, int64_t V);

/* ---- RMSNorm ---------------------------------------------------------------------------------
 * forward:  for each row i of inp [N, C]: ms = mean_c inp[i,c]^2, rstd[i] = 1/sqrt(ms + eps),
 *           out[i,c] = inp[i,c] * rstd[i] * weight[c]. rstd [N] F32 is saved for backward.
 * backward: with xhat = inp*rstd, g = dout*weight:
 *           dinp[i,c] += rstd[i] * (g[i,c] - xhat[i,c] * mean_c(g[i,:]*xhat[i,:]))   (accumulate)
 *           dweight[c] += sum_i dout[i,c] * xhat[i,c]                                (accumulate)
 *           dinp accumulates because it is the residual stream's gradient. */
fp4_status fp4_rmsnorm_forward(fp4_context *ctx, fp4_view *out, float *rstd, const fp4_view *inp, const float *weight,
                               float eps);
fp4_status fp4_rmsnorm_backward(fp4_context *ctx, fp4_view *dinp, float *dweight, const fp4_view *dout,
                                const fp4_view *inp, const float *weight, const float *rstd);

/* ---- RoPE (rotary position embedding), in place -----------------------------------------------
 * x is [B*T, NH*hs] and may be a column slice of the fused qkv buffer (so here, and only here, ld
 * may exceed cols: q = qkv cols [0, C), k = cols [C, 2C), ld = 3C). Row r has position t = r % T.
 * Pairs are (j, j + hs/2) inside each head (GPT-NeoX / Llama "half" layout), j < hs/2:
 *     forward:  x'[j] = x[j]*cos - x[j+h]*sin,  x'[j+h] = x[j]*sin + x[j+h]*cos
 *     backward: the inverse rotation (sin -> -sin), applied in place to dx.
 * cos and sin are tables [T, hs/2] F32 in the call's location, computed once on the host by
 * fp4_rope_tables (angle = t * theta^(-2j/hs), in double, rounded to float), so both back ends
 * rotate by the same numbers. hs must be even. */
fp4_status fp4_rope_forward(fp4_context *ctx, fp4_view *x, const float *cos_t, const float *sin_t, int64_t T,
                            int NH);
fp4_status fp4_rope_backward(fp4_context *ctx, fp4_view *dx, const float *cos_t, const float *sin_t, int64_t T,
                             int NH);
/* Host helper: fill cos_t and sin_t [T, hs/2] (host memory). */
void fp4_rope_tables(float *cos_t, float *sin_t, int64_t T, int hs, double theta);

/* ---- causal multi-head attention ---------------------------------------------------------------
 * qkv [B*T, 3C]: q = cols [0, C), k = [C, 2C), v = [2C, 3C); head h uses cols h*hs .. h*hs+hs-1
 * of each. scale = 1/sqrt(hs).
 * forward:  for each (b, h, t): s[t2] = scale * q_t · k_t2 for t2 <= t, p = softmax(s) (max
 *           subtracted), out[b*T+t, h*hs + :] = sum_t2 p[t2] v_t2. out [B*T, C].
 *           att [B*NH*T, T] keeps p for backward: row (b*NH + h)*T + t, column t2; columns t2 > t
 *           are written as 0. (The buffer is the llm.c design: O(B*NH*T^2) memory per layer, kept
 *           for every layer; a device implementation may in addition use the context workspace
 *           for permuted copies of q, k, v, but must not need anything else kept from forward.)
 * backward: dqkv [B*T, 3C] is written (dq, dk, dv; not accumulated), from dout [B*T, C], the same
 *           qkv and att as forward. datt [B*NH*T, T] is caller-provided scratch (contents undefined
 *           afterwards). */
fp4_status fp4_attention_forward(fp4_context *ctx, fp4_view *out, fp4_view *att, const fp4_view *qkv, int64_t B,
                                 int64_t T, int NH);
fp4_status fp4_attention_backward(fp4_context *ctx, fp4_view *dqkv, fp4_view *datt, const fp4_view *dout,
                                  const fp4_view *qkv, const fp4_view *att, int64_t B, int64_t T, int NH);

/* ---- causal multi-head attention, flash-style (no T x T buffer) -------------------------------
 * The same attention as above, with the probabilities recomputed in backward instead of kept:
 * forward:  out [B*T, C] as fp4_attention_forward, and lse [B*NH*T] (F32, the call's location):
 *           lse[(b*NH + h)*T + t] = log sum_{t2 <= t} exp(s[t2]) (natural log of the scaled scores),
 *           so p[t2] = exp(s[t2] - lse).
 * backward: dqkv [B*T, 3C] is written from dout [B*T, C], the same qkv, forward's out and lse:
 *           D_t = dout_t · out_t (per head), dp[t2] = dout_t · v_t2, ds = p (dp - D_t) * scale,
 *           dq_t = sum_t2 ds k_t2, dk_t2 = sum_t ds q_t, dv_t2 = sum_t p dout_t.
 * Host reference: F32 (the same values as fp4_attention_forward/backward up to summation order).
 * CUDA (qat/ops_flash.cu): BF16 views only (FP4_ERR_DTYPE otherwise), head size hs in {16, 32, 64}
 * (FP4_ERR_UNSUPPORTED otherwise; fp4_flash_attention_supported says), 16-byte aligned views;
 * tensor-core products of BF16 operands with FP32 accumulation, p and ds rounded to BF16 before
 * they are multiplied (FlashAttention-2's numerics), outputs rounded to BF16. Deterministic (no
 * atomics). The backward uses the context workspace for D (B*NH*T floats). */
int fp4_flash_attention_supported(int hs);
fp4_status fp4_flash_attention_forward(fp4_context *ctx, fp4_view *out, float *lse, const fp4_view *qkv, int64_t B,
                                       int64_t T, int NH);
fp4_status fp4_flash_attention_backward(fp4_context *ctx, fp4_view *dqkv, const fp4_view *dout, const fp4_view *qkv,
                                        const fp4_view *out, const float *lse, int64_t B, int64_t T, int NH);

/* ---- non-linearities (element-wise, [N, M]) ----------------------------------------------------
 * gelu:  tanh approximation, y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 * relu2: squared ReLU, y = max(x, 0)^2, dy/dx = 2 max(x, 0).
 * forward writes out (out may alias inp); backward writes dinp = f'(inp) * dout (dinp may alias
 * dout), inp being forward's input. */
fp4_status fp4_gelu_forward(fp4_context *ctx, fp4_view *out, const fp4_view *inp);
fp4_status fp4_gelu_backward(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout);
fp4_status fp4_relu2_forward(fp4_context *ctx, fp4_view *out, const fp4_view *inp);
fp4_status fp4_relu2_backward(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout);

/* ---- residual add: out = a + b, [N, M]; out may alias a or b (so "dres += dx" is
 * fp4_residual_forward(ctx, dres, dres, dx)). Backward of a residual is the identity (the model
 * routes gradients; no separate function). */
fp4_status fp4_residual_forward(fp4_context *ctx, fp4_view *out, const fp4_view *a, const fp4_view *b);

/* ---- softmax cross-entropy on the LM head's logits, fused with its gradient -------------------
 * logits [N, Vp] (the LM head's fp4_linear output; columns >= V are padding and ignored);
 * targets [N] int32: 0 <= target < V, or -1 = ignore this row (loss 0, gradient row 0).
 * For each row: p = softmax(logits[i, 0:V]) (max subtracted), losses[i] = -log p[target]
 * (F32 [N]; losses may be NULL when only the gradient is wanted and write_grad is set).
 * With write_grad != 0 the logits are overwritten IN PLACE by dlogits = dloss * (p - onehot(target))
 * for columns < V and 0 for the padding (dloss is the weight of each row's loss in the objective,
 * e.g. 1/(B*T*accum) for a mean over a gradient-accumulated batch). */
fp4_status fp4_crossentropy_forward(fp4_context *ctx, float *losses, fp4_view *logits, const int32_t *targets,
                                    int64_t V, float dloss, int write_grad);

/* ---- AdamW (FP32 master weights; a flat parameter buffer of n elements) ----------------------
 * For every i, exactly in this order (FP32, no FMA contraction on the host):
 *     g = grad[i] * grad_scale
 *     m[i] = beta1 * m[i] + (1 - beta1) * g
 *     v[i] = beta2 * v[i] + (1 - beta2) * g * g
 *     mhat = m[i] / bc1;  vhat = v[i] / bc2
 *     param[i] = param[i] - lr * (mhat / (sqrtf(vhat) + eps) + (wd_mask[i] ? weight_decay : 0) * param[i])
 * with bc1 = 1 - beta1^t, bc2 = 1 - beta2^t computed by fp4_adamw_step_make in double and rounded
 * to float, t >= 1 the 1-based update count. grad_scale folds gradient clipping (and any other
 * rescale) into the update. wd_mask [n] uint8 (1: decay, 0: no decay — norms' weights, and any
 * parameter the model exempts); NULL means decay everything. */
typedef struct fp4_adamw_step {
    float lr, beta1, beta2, eps, weight_decay;
    float bc1, bc2;    /* bias corrections 1 - beta^t */
    float grad_scale;  /* multiplies every gradient before use */
} fp4_adamw_step;
fp4_adamw_step fp4_adamw_step_make(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t,
                                   float grad_scale);
fp4_status fp4_adamw_update(fp4_context *ctx, float *param, const float *grad, float *m, float *v,
                            const uint8_t *wd_mask, int64_t n, const fp4_adamw_step *s);

/* ---- global gradient norm and scale -----------------------------------------------------------
 * fp4_grad_norm_sq: *out (host) = sum of g[i]^2 over n elements. Computed as FP64 partial sums of
 * fixed chunks of FP4_OPS_NORM_CHUNK elements (each chunk summed in increasing i), the partials
 * then added in chunk order — independent of the thread or block count. Synchronizes a CUDA
 * context. fp4_scale: x[i] = x[i] * s. */
#define FP4_OPS_NORM_CHUNK 4096
fp4_status fp4_grad_norm_sq(fp4_context *ctx, const float *g, int64_t n, double *out);
fp4_status fp4_scale(fp4_context *ctx, float *x, int64_t n, float s);

/* ---- memory helpers -----------------------------------------------------------------------------
 * fp4_ops_zero: set bytes at p to 0. fp4_ops_convert: dst = src element-wise with dtype conversion
 * (F32 <-> BF16 with RNE, or a copy for equal dtypes); same shape, both contiguous. */
fp4_status fp4_ops_zero(fp4_context *ctx, void *p, size_t bytes);
fp4_status fp4_ops_convert(fp4_context *ctx, fp4_view *dst, const fp4_view *src);

/* ---- the host back end (qat/ops_ref.c): the same arguments, already validated ----------------- */
fp4_status fp4_encoder_forward_ref(fp4_context *ctx, fp4_view *out, const int32_t *tokens, const float *wte,
                                   int64_t V);
fp4_status fp4_encoder_backward_ref(fp4_context *ctx, float *dwte, const fp4_view *dout, const int32_t *tokens,
                                    int64_t V);
fp4_status fp4_rmsnorm_forward_ref(fp4_context *ctx, fp4_view *out, float *rstd, const fp4_view *inp,
                                   const float *weight, float eps);
fp4_status fp4_rmsnorm_backward_ref(fp4_context *ctx, fp4_view *dinp, float *dweight, const fp4_view *dout,
                                    const fp4_view *inp, const float *weight, const float *rstd);
fp4_status fp4_rope_forward_ref(fp4_context *ctx, fp4_view *x, const float *cos_t, const float *sin_t, int64_t T,
                                int NH);
fp4_status fp4_rope_backward_ref(fp4_context *ctx, fp4_view *dx, const float *cos_t, const float *sin_t, int64_t T,
                                 int NH);
fp4_status fp4_attention_forward_ref(fp4_context *ctx, fp4_view *out, fp4_view *att, const fp4_view *qkv, int64_t B,
                                     int64_t T, int NH);
fp4_status fp4_attention_backward_ref(fp4_context *ctx, fp4_view *dqkv, fp4_view *datt, const fp4_view *dout,
                                      const fp4_view *qkv, const fp4_view *att, int64_t B, int64_t T, int NH);
fp4_status fp4_flash_attention_forward_ref(fp4_context *ctx, fp4_view *out, float *lse, const fp4_view *qkv,
                                           int64_t B, int64_t T, int NH);
fp4_status fp4_flash_attention_backward_ref(fp4_context *ctx, fp4_view *dqkv, const fp4_view *dout,
                                            const fp4_view *qkv, const fp4_view *out, const float *lse, int64_t B,
                                            int64_t T, int NH);
fp4_status fp4_gelu_forward_ref(fp4_context *ctx, fp4_view *out, const fp4_view *inp);
fp4_status fp4_gelu_backward_ref(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout);
fp4_status fp4_relu2_forward_ref(fp4_context *ctx, fp4_view *out, const fp4_view *inp);
fp4_status fp4_relu2_backward_ref(fp4_context *ctx, fp4_view *dinp, const fp4_view *inp, const fp4_view *dout);
fp4_status fp4_residual_forward_ref(fp4_context *ctx, fp4_view *out, const fp4_view *a, const fp4_view *b);
fp4_status fp4_crossentropy_forward_ref(fp4_context *ctx, float *losses, fp4_view *logits, const int32_t *targets,
                                        int64_t V, float dloss, int write_grad);
fp4_status fp4_adamw_update_ref(fp4_context *ctx, float *param, const float *grad, float *m, float *v,
                                const uint8_t *wd_mask, int64_t n, const fp4_adamw_step *s);
fp4_status fp4_grad_norm_sq_ref(fp4_context *ctx, const float *g, int64_t n, double *out);
fp4_status fp4_scale_ref(fp4_context *ctx, float *x, int64_t n, float s);
fp4_status fp4_ops_zero_ref(fp4_context *ctx, void *p, size_t bytes);
fp4_status fp4_ops_convert_ref(fp4_context *ctx, fp4_view *dst, const fp4_view *src);

#ifdef __cplusplus
}
#endif
#endif
