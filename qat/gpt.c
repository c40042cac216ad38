/* qat/gpt.c — the GPT language model (qat/model.h): pre-norm RMSNorm blocks with causal
 * multi-head attention (RoPE on q and k) and a GELU or squared-ReLU MLP, optional tied embeddings.
 *
 * Parameters, in flat-buffer order (L blocks, H = mlp_ratio*C, Vp = V padded to 64):
 *   wte [Vp, C]
 *   per block l: h.l.norm1.weight [C], h.l.attn.qkv.weight [3C, C], h.l.attn.proj.weight [C, C],
 *                h.l.norm2.weight [C], h.l.mlp.fc1.weight [H, C], h.l.mlp.fc2.weight [C, H]
 *   normf.weight [C]
 *   lm_head [Vp, C] (absent when tied: the head reads wte)
 * Linear layers: 4*l + {0 qkv, 1 proj, 2 fc1, 3 fc2} (SR layer ids) and 4*L the LM head.
 * Activations (all [B*T, ...] for the model's Bmax; slices of one buffer):
 *   0 losses [BT]  1 logits [BT, Vp]  2 x0 [BT, C]  then per block 11 slices (norm1, rstd1, qkv,
 *   att [B*NH*T, T], atty, res1, norm2, rstd2, fc1, fca, res2), then normf, rstdf, tmp and the
 *   backward scratch dres, dtmp, dnorm [BT, C], dqkv [BT, 3C], datt [B*NH*T, T], dfc [BT, H].
 * fp4_linear keeps its own copy of what its backward needs (Xᵀ or its quantized form).
 */
#include <stdio.h>

#include "model.h"
#include "ops.h"

enum { A_LOSS, A_LOGITS, A_X0, A_LAYER0 };
enum { L_NORM1, L_RSTD1, L_QKV, L_ATT, L_ATTY, L_RES1, L_NORM2, L_RSTD2, L_FC1, L_FCA, L_RES2, L_N };
enum { G_NORMF, G_RSTDF, G_TMP, G_DRES, G_DTMP, G_DNORM, G_DQKV, G_DATT, G_DFC, G_N };

#define LA(m, l, k) ((m)->act_ptr[A_LAYER0 + (l) * L_N + (k)])
#define GA(m, k) ((m)->act_ptr[A_LAYER0 + (m)->cfg.L * L_N + (k)])

static const char *lin_names[4] = {"attn.qkv.weight", "attn.proj.weight", "mlp.fc1.weight", "mlp.fc2.weight"};

fp4_status fp4_gpt_layout(fp4_model *m) {
    const fp4_model_config *c = &m->cfg;
    const int64_t C = c->C, H = m->H;
    char name[48];
    FP4_TRY(fp4_model_add_param(m, "wte", m->Vp, C, 1));
    for (int l = 0; l < c->L; l++) {
        snprintf(name, sizeof name, "h.%d.norm1.weight", l);
        FP4_TRY(fp4_model_add_param(m, name, C, 0, 0));
        snprintf(name, sizeof name, "h.%d.%s", l, lin_names[0]);
        FP4_TRY(fp4_model_add_param(m, name, 3 * C, C, 1));
        snprintf(name, sizeof name, "h.%d.%s", l, lin_names[1]);
        FP4_TRY(fp4_model_add_param(m, name, C, C, 1));
        snprintf(name, sizeof name, "h.%d.norm2.weight", l);
        FP4_TRY(fp4_model_add_param(m, name, C, 0, 0));
        snprintf(name, sizeof name, "h.%d.%s", l, lin_names[2]);
        FP4_TRY(fp4_model_add_param(m, name, H, C, 1));
        snprintf(name, sizeof name, "h.%d.%s", l, lin_names[3]);
        FP4_TRY(fp4_model_add_param(m, name, C, H, 1));
    }
    FP4_TRY(fp4_model_add_param(m, "normf.weight", C, 0, 0));
    if (!c->tied) FP4_TRY(fp4_model_add_param(m, "lm_head", m->Vp, C, 1));
    m->n_lin = 4 * c->L + 1;
    /* activation sizes */
    const size_t BT = (size_t)m->opt.Bmax * c->T, A = (size_t)m->opt.Bmax * c->NH * c->T * c->T;
    const size_t per_layer = BT * (C + 1 + 3 * C + C + C + C + 1 + H + H + C) + A;
    m->n_acts = BT + BT * m->Vp + BT * C + (size_t)c->L * per_layer + BT * (C + 1 + C) +
                BT * (3 * C + 3 * C + H) + A;
    m->n_act_ptr = A_LAYER0 + c->L * L_N + G_N;
    return FP4_OK;
}

fp4_status fp4_gpt_setup(fp4_model *m) {
    const fp4_model_config *c = &m->cfg;
    const size_t BT = (size_t)m->opt.Bmax * c->T, A = (size_t)m->opt.Bmax * c->NH * c->T * c->T, C = (size_t)c->C,
                 H = (size_t)m->H;
    float *p = m->acts;
#define TAKE(slot, n) (m->act_ptr[slot] = p, p += (n))
    TAKE(A_LOSS, BT);
    TAKE(A_LOGITS, BT * m->Vp);
    TAKE(A_X0, BT * C);
    const size_t lsz[L_N] = {BT * C, BT, BT * 3 * C, A, BT * C, BT * C, BT * C, BT, BT * H, BT * H, BT * C};
    for (int l = 0; l < c->L; l++)
        for (int k = 0; k < L_N; k++) TAKE(A_LAYER0 + l * L_N + k, lsz[k]);
    const size_t gsz[G_N] = {BT * C, BT, BT * C, BT * C, BT * C, BT * C, BT * 3 * C, A, BT * H};
    for (int k = 0; k < G_N; k++) TAKE(A_LAYER0 + c->L * L_N + k, gsz[k]);
#undef TAKE
    if ((size_t)(p - m->acts) != m->n_acts) return fp4_fail(FP4_ERR_INVALID_ARG, "gpt: activation layout mismatch");
    char name[48];
    const int64_t OC[4] = {3 * c->C, c->C, m->H, c->C}, IC[4] = {c->C, c->C, c->C, m->H};
    for (int l = 0; l < c->L; l++)
        for (int j = 0; j < 4; j++) {
            snprintf(name, sizeof name, "h.%d.%s", l, lin_names[j]);
            FP4_TRY(fp4_model_init_linear(m, 4 * l + j, l, c->L, fp4_model_p(m, name), NULL, OC[j], IC[j]));
        }
    FP4_TRY(fp4_model_init_linear(m, 4 * c->L, -1, c->L, fp4_model_p(m, c->tied ? "wte" : "lm_head"), NULL, m->Vp,
                                  c->C));
    return FP4_OK;
}

static float *pw(const fp4_model *m, int l, const char *what) {
    char name[48];
    snprintf(name, sizeof name, "h.%d.%s", l, what);
    return fp4_model_p(m, name);
}

static float *gw(const fp4_model *m, int l, const char *what) {
    char name[48];
    snprintf(name, sizeof name, "h.%d.%s", l, what);
    return fp4_model_g(m, name);
}

static fp4_status act_fwd(fp4_context *ctx, const fp4_model *m, fp4_view *out, const fp4_view *in) {
    return m->cfg.act == FP4_ACT_GELU ? fp4_gelu_forward(ctx, out, in) : fp4_relu2_forward(ctx, out, in);
}

static fp4_status act_bwd(fp4_context *ctx, const fp4_model *m, fp4_view *din, const fp4_view *in, const fp4_view *dout) {
    return m->cfg.act == FP4_ACT_GELU ? fp4_gelu_backward(ctx, din, in, dout) : fp4_relu2_backward(ctx, din, in, dout);
}

/* q and k column slices of a [BT, 3C] buffer, for RoPE. */
static fp4_view qk_slice(const fp4_model *m, float *base, int64_t BT, int which) {
    fp4_view v = fp4_model_view(m, base + which * m->cfg.C, BT, m->cfg.C);
    v.ld = 3 * m->cfg.C;
    return v;
}

fp4_status fp4_gpt_forward(fp4_context *ctx, fp4_model *m, int B) {
    const fp4_model_config *c = &m->cfg;
    const int64_t T = c->T, BT = (int64_t)B * T, C = c->C, H = m->H;
    const uint32_t step = m->step;
    fp4_view x0 = fp4_model_view(m, m->act_ptr[A_X0], BT, C);
    FP4_TRY(fp4_encoder_forward(ctx, &x0, m->tok, fp4_model_p(m, "wte"), c->V));
    fp4_view tmp = fp4_model_view(m, GA(m, G_TMP), BT, C);
    for (int l = 0; l < c->L; l++) {
        fp4_view in = l == 0 ? x0 : fp4_model_view(m, LA(m, l - 1, L_RES2), BT, C);
        fp4_view norm1 = fp4_model_view(m, LA(m, l, L_NORM1), BT, C), qkv = fp4_model_view(m, LA(m, l, L_QKV), BT, 3 * C);
        fp4_view att = fp4_model_view(m, LA(m, l, L_ATT), (int64_t)B * c->NH * T, T);
        fp4_view atty = fp4_model_view(m, LA(m, l, L_ATTY), BT, C), res1 = fp4_model_view(m, LA(m, l, L_RES1), BT, C);
        fp4_view norm2 = fp4_model_view(m, LA(m, l, L_NORM2), BT, C), fc1 = fp4_model_view(m, LA(m, l, L_FC1), BT, H);
        fp4_view fca = fp4_model_view(m, LA(m, l, L_FCA), BT, H), res2 = fp4_model_view(m, LA(m, l, L_RES2), BT, C);
        FP4_TRY(fp4_rmsnorm_forward(ctx, &norm1, LA(m, l, L_RSTD1), &in, pw(m, l, "norm1.weight"), c->norm_eps));
        FP4_TRY(fp4_linear_forward(ctx, &m->lin[4 * l + 0], &norm1, &qkv, step));
        fp4_view q = qk_slice(m, qkv.data, BT, 0), k = qk_slice(m, qkv.data, BT, 1);
        FP4_TRY(fp4_rope_forward(ctx, &q, m->rope_cos, m->rope_sin, T, c->NH));
        FP4_TRY(fp4_rope_forward(ctx, &k, m->rope_cos, m->rope_sin, T, c->NH));
        FP4_TRY(fp4_attention_forward(ctx, &atty, &att, &qkv, B, T, c->NH));
        FP4_TRY(fp4_linear_forward(ctx, &m->lin[4 * l + 1], &atty, &tmp, step));
        FP4_TRY(fp4_residual_forward(ctx, &res1, &in, &tmp));
        FP4_TRY(fp4_rmsnorm_forward(ctx, &norm2, LA(m, l, L_RSTD2), &res1, pw(m, l, "norm2.weight"), c->norm_eps));
        FP4_TRY(fp4_linear_forward(ctx, &m->lin[4 * l + 2], &norm2, &fc1, step));
        FP4_TRY(act_fwd(ctx, m, &fca, &fc1));
        FP4_TRY(fp4_linear_forward(ctx, &m->lin[4 * l + 3], &fca, &tmp, step));
        FP4_TRY(fp4_residual_forward(ctx, &res2, &res1, &tmp));
    }
    fp4_view last = fp4_model_view(m, LA(m, c->L - 1, L_RES2), BT, C);
    fp4_view normf = fp4_model_view(m, GA(m, G_NORMF), BT, C);
    fp4_view logits = fp4_model_view(m, m->act_ptr[A_LOGITS], BT, m->Vp);
    FP4_TRY(fp4_rmsnorm_forward(ctx, &normf, GA(m, G_RSTDF), &last, fp4_model_p(m, "normf.weight"), c->norm_eps));
    FP4_TRY(fp4_linear_forward(ctx, &m->lin[4 * c->L], &normf, &logits, step));
    if (m->have_targets) FP4_TRY(fp4_crossentropy_forward(ctx, m->act_ptr[A_LOSS], &logits, m->tgt, c->V, 0.0f, 0));
    return FP4_OK;
}

fp4_status fp4_gpt_backward(fp4_context *ctx, fp4_model *m, float dloss_scale) {
    const fp4_model_config *c = &m->cfg;
    const int B = m->B;
    const int64_t T = c->T, BT = (int64_t)B * T, C = c->C, H = m->H;
    fp4_view logits = fp4_model_view(m, m->act_ptr[A_LOGITS], BT, m->Vp);
    FP4_TRY(fp4_crossentropy_forward(ctx, NULL, &logits, m->tgt, c->V, dloss_scale, 1));
    fp4_view dres = fp4_model_view(m, GA(m, G_DRES), BT, C), dtmp = fp4_model_view(m, GA(m, G_DTMP), BT, C);
    fp4_view dnorm = fp4_model_view(m, GA(m, G_DNORM), BT, C), dqkv = fp4_model_view(m, GA(m, G_DQKV), BT, 3 * C);
    fp4_view datt = fp4_model_view(m, GA(m, G_DATT), (int64_t)B * c->NH * T, T);
    fp4_view dfc = fp4_model_view(m, GA(m, G_DFC), BT, H);
    FP4_TRY(fp4_linear_backward(ctx, &m->lin[4 * c->L], &logits, &dnorm, fp4_model_g(m, c->tied ? "wte" : "lm_head"),
                                NULL));
    FP4_TRY(fp4_ops_zero(ctx, dres.data, (size_t)BT * C * sizeof(float)));
    fp4_view last = fp4_model_view(m, LA(m, c->L - 1, L_RES2), BT, C);
    FP4_TRY(fp4_rmsnorm_backward(ctx, &dres, fp4_model_g(m, "normf.weight"), &dnorm, &last,
                                 fp4_model_p(m, "normf.weight"), GA(m, G_RSTDF)));
    fp4_view x0 = fp4_model_view(m, m->act_ptr[A_X0], BT, C);
    for (int l = c->L - 1; l >= 0; l--) {
        fp4_view in = l == 0 ? x0 : fp4_model_view(m, LA(m, l - 1, L_RES2), BT, C);
        fp4_view qkv = fp4_model_view(m, LA(m, l, L_QKV), BT, 3 * C);
        fp4_view att = fp4_model_view(m, LA(m, l, L_ATT), (int64_t)B * c->NH * T, T);
        fp4_view res1 = fp4_model_view(m, LA(m, l, L_RES1), BT, C), fc1 = fp4_model_view(m, LA(m, l, L_FC1), BT, H);
        /* res2 = res1 + fc2(act(fc1(norm2(res1)))) ; dres holds d res2 */
        FP4_TRY(fp4_linear_backward(ctx, &m->lin[4 * l + 3], &dres, &dfc, gw(m, l, lin_names[3]), NULL));
        FP4_TRY(act_bwd(ctx, m, &dfc, &fc1, &dfc));
        FP4_TRY(fp4_linear_backward(ctx, &m->lin[4 * l + 2], &dfc, &dnorm, gw(m, l, lin_names[2]), NULL));
        FP4_TRY(fp4_rmsnorm_backward(ctx, &dres, gw(m, l, "norm2.weight"), &dnorm, &res1, pw(m, l, "norm2.weight"),
                                     LA(m, l, L_RSTD2)));
        /* res1 = in + proj(attn(rope(qkv(norm1(in))))) ; dres holds d res1 */
        FP4_TRY(fp4_linear_backward(ctx, &m->lin[4 * l + 1], &dres, &dtmp, gw(m, l, lin_names[1]), NULL));
        FP4_TRY(fp4_attention_backward(ctx, &dqkv, &datt, &dtmp, &qkv, &att, B, T, c->NH));
        fp4_view dq = qk_slice(m, dqkv.data, BT, 0), dk = qk_slice(m, dqkv.data, BT, 1);
        FP4_TRY(fp4_rope_backward(ctx, &dq, m->rope_cos, m->rope_sin, T, c->NH));
        FP4_TRY(fp4_rope_backward(ctx, &dk, m->rope_cos, m->rope_sin, T, c->NH));
        FP4_TRY(fp4_linear_backward(ctx, &m->lin[4 * l + 0], &dqkv, &dnorm, gw(m, l, lin_names[0]), NULL));
        FP4_TRY(fp4_rmsnorm_backward(ctx, &dres, gw(m, l, "norm1.weight"), &dnorm, &in, pw(m, l, "norm1.weight"),
                                     LA(m, l, L_RSTD1)));
    }
    FP4_TRY(fp4_encoder_backward(ctx, fp4_model_g(m, "wte"), &dres, m->tok, c->V));
    return FP4_OK;
}
