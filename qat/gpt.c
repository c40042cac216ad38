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
 * Activations (all [B*T, ...] for the model's Bmax; slices of one buffer, each 256-byte aligned,
 * in m->act_dtype except the F32 losses, rstd and lse):
 *   0 losses [BT]  1 logits [BT, Vp]  2 x0 [BT, C]  then per block 11 slices (norm1, rstd1, qkv,
 *   att [B*NH*T, T] — or, with flash attention, lse [B*NH*T] F32 —, atty, res1, norm2, rstd2, fc1,
 *   fca, res2), then normf, rstdf, tmp and the backward scratch dres, dtmp, dnorm [BT, C], dqkv
 *   [BT, 3C], datt [B*NH*T, T] (absent with flash), dfc [BT, H].
 * Every linear's input is one of the kept slices (norm1, atty, norm2, fca, normf), so the layers
 * borrow it for Wgrad instead of copying it (fp4_linear.borrow_x) when it is BF16.
 * Otherwise fp4_linear keeps its own copy of what its backward needs (X, Xᵀ or its quantized form).
 * The optional profiling hook of fp4_model_options is called before every op (tag "fwd"/"bwd").
 */
#include <stdio.h>
#include <stdlib.h>

#include "model.h"
#include "ops.h"

enum { A_LOSS, A_LOGITS, A_X0, A_LAYER0 };
enum { L_NORM1, L_RSTD1, L_QKV, L_ATT, L_ATTY, L_RES1, L_NORM2, L_RSTD2, L_FC1, L_FCA, L_RES2, L_N };
enum { G_NORMF, G_RSTDF, G_TMP, G_DRES, G_DTMP, G_DNORM, G_DQKV, G_DATT, G_DFC, G_N };

#define LA(m, l, k) ((m)->act_ptr[A_LAYER0 + (l) * L_N + (k)])
#define GA(m, k) ((m)->act_ptr[A_LAYER0 + (m)->cfg.L * L_N + (k)])

static const char *lin_names[4] = {"attn.qkv.weight", "attn.proj.weight", "mlp.fc1.weight", "mlp.fc2.weight"};

/* Element sizes and counts of every activation slice, in slot order; returns the slot count. */
static int gpt_slots(const fp4_model *m, size_t *es, size_t *n) {
    const fp4_model_config *c = &m->cfg;
    const size_t BT = (size_t)m->opt.Bmax * c->T, C = (size_t)c->C, H = (size_t)m->H;
    const size_t A = m->flash ? (size_t)m->opt.Bmax * c->NH * c->T : (size_t)m->opt.Bmax * c->NH * c->T * c->T;
    const size_t a = fp4_dtype_size(m->act_dtype), f = sizeof(float), ae = m->flash ? f : a;
    int k = 0;
#define SLOT(e, cnt) (es[k] = (e), n[k] = (cnt), k++)
    SLOT(f, BT);
    SLOT(a, BT * m->Vp);
    SLOT(a, BT * C);
    for (int l = 0; l < c->L; l++) {
        SLOT(a, BT * C);     /* norm1 */
        SLOT(f, BT);         /* rstd1 */
        SLOT(a, BT * 3 * C); /* qkv */
        SLOT(ae, A);         /* att, or lse */
        SLOT(a, BT * C);     /* atty */
        SLOT(a, BT * C);     /* res1 */
        SLOT(a, BT * C);     /* norm2 */
        SLOT(f, BT);         /* rstd2 */
        SLOT(a, BT * H);     /* fc1 */
        SLOT(a, BT * H);     /* fca */
        SLOT(a, BT * C);     /* res2 */
    }
    SLOT(a, BT * C);                  /* normf */
    SLOT(f, BT);                      /* rstdf */
    SLOT(a, BT * C);                  /* tmp */
    SLOT(a, BT * C);                  /* dres */
    SLOT(a, BT * C);                  /* dtmp */
    SLOT(a, BT * C);                  /* dnorm */
    SLOT(a, BT * 3 * C);              /* dqkv */
    SLOT(a, m->flash ? 1 : A);        /* datt */
    SLOT(a, BT * H);                  /* dfc */
#undef SLOT
    return k;
}

#define GPT_ALIGN 256

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
    m->n_act_ptr = A_LAYER0 + c->L * L_N + G_N;
    size_t *es = malloc(2 * (size_t)m->n_act_ptr * sizeof(size_t));
    if (!es) return fp4_fail(FP4_ERR_NOMEM, "gpt: activation table");
    size_t *n = es + m->n_act_ptr, bytes = 0;
    const int k = gpt_slots(m, es, n);
    for (int i = 0; i < k; i++) bytes += (es[i] * n[i] + GPT_ALIGN - 1) / GPT_ALIGN * GPT_ALIGN;
    free(es);
    if (k != m->n_act_ptr) return fp4_fail(FP4_ERR_INVALID_ARG, "gpt: activation layout mismatch");
    m->n_acts = bytes / sizeof(float);
    return FP4_OK;
}

static const char *lin_tags[4] = {"qkv", "proj", "fc1", "fc2"};

fp4_status fp4_gpt_setup(fp4_model *m) {
    const fp4_model_config *c = &m->cfg;
    size_t *es = malloc(2 * (size_t)m->n_act_ptr * sizeof(size_t));
    if (!es) return fp4_fail(FP4_ERR_NOMEM, "gpt: activation table");
    size_t *n = es + m->n_act_ptr, off = 0;
    const int k = gpt_slots(m, es, n);
    for (int i = 0; i < k; i++) {
        m->act_ptr[i] = (float *)((char *)m->acts + off);
        off += (es[i] * n[i] + GPT_ALIGN - 1) / GPT_ALIGN * GPT_ALIGN;
    }
    free(es);
    if (off != m->n_acts * sizeof(float)) return fp4_fail(FP4_ERR_INVALID_ARG, "gpt: activation layout mismatch");
    char name[48];
    const int64_t OC[4] = {3 * c->C, c->C, m->H, c->C}, IC[4] = {c->C, c->C, c->C, m->H};
    for (int l = 0; l < c->L; l++)
        for (int j = 0; j < 4; j++) {
            snprintf(name, sizeof name, "h.%d.%s", l, lin_names[j]);
            FP4_TRY(fp4_model_init_linear(m, 4 * l + j, l, c->L, fp4_model_p(m, name), NULL, OC[j], IC[j]));
            m->lin[4 * l + j].borrow_x = 1;
            m->lin[4 * l + j].async_quant = 1;
            m->lin[4 * l + j].mark_tag = lin_tags[j];
        }
    FP4_TRY(fp4_model_init_linear(m, 4 * c->L, -1, c->L, fp4_model_p(m, c->tied ? "wte" : "lm_head"), NULL, m->Vp,
                                  c->C));
    m->lin[4 * c->L].borrow_x = 1;
    m->lin[4 * c->L].mark_tag = "head";
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
static fp4_view qk_slice(const fp4_model *m, void *base, int64_t BT, int which) {
    char *p = (char *)base + (size_t)which * m->cfg.C * fp4_dtype_size(m->act_dtype);
    fp4_view v = fp4_model_view(m, (float *)p, BT, m->cfg.C);
    v.ld = 3 * m->cfg.C;
    return v;
}

#define MARK(m, tag, op)                                                                \
    do {                                                                                \
        if ((m)->opt.mark) (m)->opt.mark((m)->opt.mark_user, (tag), (op));              \
    } while (0)

fp4_status fp4_gpt_forward(fp4_context *ctx, fp4_model *m, int B) {
    const fp4_model_config *c = &m->cfg;
    const int64_t T = c->T, BT = (int64_t)B * T, C = c->C, H = m->H;
    const uint32_t step = m->step;
    fp4_view x0 = fp4_model_view(m, m->act_ptr[A_X0], BT, C);
    MARK(m, "fwd", "encoder");
    FP4_TRY(fp4_encoder_forward(ctx, &x0, m->tok, fp4_model_p(m, "wte"), c->V));
    fp4_view tmp = fp4_model_view(m, GA(m, G_TMP), BT, C);
    for (int l = 0; l < c->L; l++) {
        fp4_view in = l == 0 ? x0 : fp4_model_view(m, LA(m, l - 1, L_RES2), BT, C);
        fp4_view norm1 = fp4_model_view(m, LA(m, l, L_NORM1), BT, C), qkv = fp4_model_view(m, LA(m, l, L_QKV), BT, 3 * C);
        fp4_view atty = fp4_model_view(m, LA(m, l, L_ATTY), BT, C), res1 = fp4_model_view(m, LA(m, l, L_RES1), BT, C);
        fp4_view norm2 = fp4_model_view(m, LA(m, l, L_NORM2), BT, C), fc1 = fp4_model_view(m, LA(m, l, L_FC1), BT, H);
        fp4_view fca = fp4_model_view(m, LA(m, l, L_FCA), BT, H), res2 = fp4_model_view(m, LA(m, l, L_RES2), BT, C);
        MARK(m, "fwd", "rmsnorm");
        FP4_TRY(fp4_rmsnorm_forward(ctx, &norm1, LA(m, l, L_RSTD1), &in, pw(m, l, "norm1.weight"), c->norm_eps));
        FP4_TRY(fp4_linear_forward(ctx, &m->lin[4 * l + 0], &norm1, &qkv, step));
        fp4_view q = qk_slice(m, qkv.data, BT, 0), k = qk_slice(m, qkv.data, BT, 1);
        MARK(m, "fwd", "rope");
        FP4_TRY(fp4_rope_forward(ctx, &q, m->rope_cos, m->rope_sin, T, c->NH));
        FP4_TRY(fp4_rope_forward(ctx, &k, m->rope_cos, m->rope_sin, T, c->NH));
        MARK(m, "fwd", "attention");
        if (m->flash) {
            FP4_TRY(fp4_flash_attention_forward(ctx, &atty, LA(m, l, L_ATT), &qkv, B, T, c->NH));
        } else {
            fp4_view att = fp4_model_view(m, LA(m, l, L_ATT), (int64_t)B * c->NH * T, T);
            FP4_TRY(fp4_attention_forward(ctx, &atty, &att, &qkv, B, T, c->NH));
        }
        FP4_TRY(fp4_linear_forward(ctx, &m->lin[4 * l + 1], &atty, &tmp, step));
        MARK(m, "fwd", "residual");
        FP4_TRY(fp4_residual_forward(ctx, &res1, &in, &tmp));
        MARK(m, "fwd", "rmsnorm");
        FP4_TRY(fp4_rmsnorm_forward(ctx, &norm2, LA(m, l, L_RSTD2), &res1, pw(m, l, "norm2.weight"), c->norm_eps));
        FP4_TRY(fp4_linear_forward(ctx, &m->lin[4 * l + 2], &norm2, &fc1, step));
        MARK(m, "fwd", "act");
        FP4_TRY(act_fwd(ctx, m, &fca, &fc1));
        FP4_TRY(fp4_linear_forward(ctx, &m->lin[4 * l + 3], &fca, &tmp, step));
        MARK(m, "fwd", "residual");
        FP4_TRY(fp4_residual_forward(ctx, &res2, &res1, &tmp));
    }
    fp4_view last = fp4_model_view(m, LA(m, c->L - 1, L_RES2), BT, C);
    fp4_view normf = fp4_model_view(m, GA(m, G_NORMF), BT, C);
    fp4_view logits = fp4_model_view(m, m->act_ptr[A_LOGITS], BT, m->Vp);
    MARK(m, "fwd", "rmsnorm");
    FP4_TRY(fp4_rmsnorm_forward(ctx, &normf, GA(m, G_RSTDF), &last, fp4_model_p(m, "normf.weight"), c->norm_eps));
    FP4_TRY(fp4_linear_forward(ctx, &m->lin[4 * c->L], &normf, &logits, step));
    MARK(m, "fwd", "crossentropy");
    if (m->have_targets) FP4_TRY(fp4_crossentropy_forward(ctx, m->act_ptr[A_LOSS], &logits, m->tgt, c->V, 0.0f, 0));
    MARK(m, "fwd", "end");
    return FP4_OK;
}

fp4_status fp4_gpt_backward(fp4_context *ctx, fp4_model *m, float dloss_scale) {
    const fp4_model_config *c = &m->cfg;
    const int B = m->B;
    const int64_t T = c->T, BT = (int64_t)B * T, C = c->C, H = m->H;
    fp4_view logits = fp4_model_view(m, m->act_ptr[A_LOGITS], BT, m->Vp);
    MARK(m, "bwd", "crossentropy");
    FP4_TRY(fp4_crossentropy_forward(ctx, NULL, &logits, m->tgt, c->V, dloss_scale, 1));
    fp4_view dres = fp4_model_view(m, GA(m, G_DRES), BT, C), dtmp = fp4_model_view(m, GA(m, G_DTMP), BT, C);
    fp4_view dnorm = fp4_model_view(m, GA(m, G_DNORM), BT, C), dqkv = fp4_model_view(m, GA(m, G_DQKV), BT, 3 * C);
    fp4_view dfc = fp4_model_view(m, GA(m, G_DFC), BT, H);
    FP4_TRY(fp4_linear_backward(ctx, &m->lin[4 * c->L], &logits, &dnorm, fp4_model_g(m, c->tied ? "wte" : "lm_head"),
                                NULL));
    MARK(m, "bwd", "zero");
    FP4_TRY(fp4_ops_zero(ctx, dres.data, (size_t)BT * C * fp4_dtype_size(m->act_dtype)));
    fp4_view last = fp4_model_view(m, LA(m, c->L - 1, L_RES2), BT, C);
    MARK(m, "bwd", "rmsnorm");
    FP4_TRY(fp4_rmsnorm_backward(ctx, &dres, fp4_model_g(m, "normf.weight"), &dnorm, &last,
                                 fp4_model_p(m, "normf.weight"), GA(m, G_RSTDF)));
    fp4_view x0 = fp4_model_view(m, m->act_ptr[A_X0], BT, C);
    for (int l = c->L - 1; l >= 0; l--) {
        fp4_view in = l == 0 ? x0 : fp4_model_view(m, LA(m, l - 1, L_RES2), BT, C);
        fp4_view qkv = fp4_model_view(m, LA(m, l, L_QKV), BT, 3 * C), atty = fp4_model_view(m, LA(m, l, L_ATTY), BT, C);
        fp4_view res1 = fp4_model_view(m, LA(m, l, L_RES1), BT, C), fc1 = fp4_model_view(m, LA(m, l, L_FC1), BT, H);
        /* res2 = res1 + fc2(act(fc1(norm2(res1)))) ; dres holds d res2 */
        FP4_TRY(fp4_linear_backward(ctx, &m->lin[4 * l + 3], &dres, &dfc, gw(m, l, lin_names[3]), NULL));
        MARK(m, "bwd", "act");
        FP4_TRY(act_bwd(ctx, m, &dfc, &fc1, &dfc));
        FP4_TRY(fp4_linear_backward(ctx, &m->lin[4 * l + 2], &dfc, &dnorm, gw(m, l, lin_names[2]), NULL));
        MARK(m, "bwd", "rmsnorm");
        FP4_TRY(fp4_rmsnorm_backward(ctx, &dres, gw(m, l, "norm2.weight"), &dnorm, &res1, pw(m, l, "norm2.weight"),
                                     LA(m, l, L_RSTD2)));
        /* res1 = in + proj(attn(rope(qkv(norm1(in))))) ; dres holds d res1 */
        FP4_TRY(fp4_linear_backward(ctx, &m->lin[4 * l + 1], &dres, &dtmp, gw(m, l, lin_names[1]), NULL));
        MARK(m, "bwd", "attention");
        if (m->flash) {
            FP4_TRY(fp4_flash_attention_backward(ctx, &dqkv, &dtmp, &qkv, &atty, LA(m, l, L_ATT), B, T, c->NH));
        } else {
            fp4_view att = fp4_model_view(m, LA(m, l, L_ATT), (int64_t)B * c->NH * T, T);
            fp4_view datt = fp4_model_view(m, GA(m, G_DATT), (int64_t)B * c->NH * T, T);
            FP4_TRY(fp4_attention_backward(ctx, &dqkv, &datt, &dtmp, &qkv, &att, B, T, c->NH));
        }
        fp4_view dq = qk_slice(m, dqkv.data, BT, 0), dk = qk_slice(m, dqkv.data, BT, 1);
        MARK(m, "bwd", "rope");
        FP4_TRY(fp4_rope_backward(ctx, &dq, m->rope_cos, m->rope_sin, T, c->NH));
        FP4_TRY(fp4_rope_backward(ctx, &dk, m->rope_cos, m->rope_sin, T, c->NH));
        FP4_TRY(fp4_linear_backward(ctx, &m->lin[4 * l + 0], &dqkv, &dnorm, gw(m, l, lin_names[0]), NULL));
        MARK(m, "bwd", "rmsnorm");
        FP4_TRY(fp4_rmsnorm_backward(ctx, &dres, gw(m, l, "norm1.weight"), &dnorm, &in, pw(m, l, "norm1.weight"),
                                     LA(m, l, L_RSTD1)));
    }
    MARK(m, "bwd", "encoder");
    FP4_TRY(fp4_encoder_backward(ctx, fp4_model_g(m, "wte"), &dres, m->tok, c->V));
    MARK(m, "bwd", "end");
    return FP4_OK;
}
