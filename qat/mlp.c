/* qat/mlp.c — the MLP language model (qat/model.h), Bengio et al. style: the embeddings of a
 * window of W tokens are concatenated and go through L hidden layers (fp4_linear with bias, then
 * GELU or squared ReLU), an RMSNorm and the LM head. One prediction per position: position t of a
 * row reads tokens t-W+1 .. t of that row (token 0 before the row start) and predicts token t+1,
 * so it trains on the same (B, T+1) batches as the GPT.
 *
 * Parameters, in flat-buffer order (H = mlp_ratio*C, Vp = V padded to 64):
 *   wte [Vp, C]
 *   per layer l: h.l.fc.weight [H, W*C] (l = 0) or [H, H], h.l.fc.bias [H]
 *   normf.weight [H]
 *   lm_head [Vp, H] (absent when tied; tying needs H == C)
 * Linear layers: l = 0..L-1 (each hidden layer is a "block" of the layer policy), L the LM head.
 * Activations ([B*T, ...] for Bmax): 0 losses [BT], 1 logits [BT, Vp], 2 x0 [BT, W*C], per layer
 * pre [BT, H] and h [BT, H], then normf [BT, H], rstdf [BT], and the backward scratch dh, dpre
 * [BT, H] and dx0 [BT, W*C].
 */
#include <stdio.h>

#include "model.h"
#include "ops.h"

enum { A_LOSS, A_LOGITS, A_X0, A_LAYER0 };
enum { G_NORMF, G_RSTDF, G_DH, G_DPRE, G_DX0, G_N };
#define PRE(m, l) ((m)->act_ptr[A_LAYER0 + 2 * (l)])
#define HID(m, l) ((m)->act_ptr[A_LAYER0 + 2 * (l) + 1])
#define GA(m, k) ((m)->act_ptr[A_LAYER0 + 2 * (m)->cfg.L + (k)])

fp4_status fp4_mlp_layout(fp4_model *m) {
    const fp4_model_config *c = &m->cfg;
    const int64_t C = c->C, H = m->H, WC = (int64_t)c->W * c->C;
    char name[48];
    FP4_TRY(fp4_model_add_param(m, "wte", m->Vp, C, 1));
    for (int l = 0; l < c->L; l++) {
        snprintf(name, sizeof name, "h.%d.fc.weight", l);
        FP4_TRY(fp4_model_add_param(m, name, H, l == 0 ? WC : H, 1));
        snprintf(name, sizeof name, "h.%d.fc.bias", l);
        FP4_TRY(fp4_model_add_param(m, name, H, 0, 0));
    }
    FP4_TRY(fp4_model_add_param(m, "normf.weight", H, 0, 0));
    if (!c->tied) FP4_TRY(fp4_model_add_param(m, "lm_head", m->Vp, H, 1));
    m->n_lin = c->L + 1;
    const size_t BT = (size_t)m->opt.Bmax * c->T;
    m->n_acts = BT + BT * m->Vp + BT * WC + (size_t)c->L * 2 * BT * H + BT * (H + 1 + 2 * H + WC);
    m->n_act_ptr = A_LAYER0 + 2 * c->L + G_N;
    return FP4_OK;
}

fp4_status fp4_mlp_setup(fp4_model *m) {
    const fp4_model_config *c = &m->cfg;
    const size_t BT = (size_t)m->opt.Bmax * c->T, H = (size_t)m->H, WC = (size_t)c->W * c->C;
    float *p = m->acts;
#define TAKE(slot, n) (m->act_ptr[slot] = p, p += (n))
    TAKE(A_LOSS, BT);
    TAKE(A_LOGITS, BT * m->Vp);
    TAKE(A_X0, BT * WC);
    for (int l = 0; l < c->L; l++) {
        TAKE(A_LAYER0 + 2 * l, BT * H);
        TAKE(A_LAYER0 + 2 * l + 1, BT * H);
    }
    const size_t gsz[G_N] = {BT * H, BT, BT * H, BT * H, BT * WC};
    for (int k = 0; k < G_N; k++) TAKE(A_LAYER0 + 2 * c->L + k, gsz[k]);
#undef TAKE
    if ((size_t)(p - m->acts) != m->n_acts) return fp4_fail(FP4_ERR_INVALID_ARG, "mlp: activation layout mismatch");
    char wn[48], bn[48];
    for (int l = 0; l < c->L; l++) {
        snprintf(wn, sizeof wn, "h.%d.fc.weight", l);
        snprintf(bn, sizeof bn, "h.%d.fc.bias", l);
        FP4_TRY(fp4_model_init_linear(m, l, l, c->L, fp4_model_p(m, wn), fp4_model_p(m, bn), m->H,
                                      l == 0 ? (int64_t)WC : m->H));
    }
    FP4_TRY(fp4_model_init_linear(m, c->L, -1, c->L, fp4_model_p(m, c->tied ? "wte" : "lm_head"), NULL, m->Vp, m->H));
    return FP4_OK;
}

static fp4_status act_fwd(fp4_context *ctx, const fp4_model *m, fp4_view *out, const fp4_view *in) {
    return m->cfg.act == FP4_ACT_GELU ? fp4_gelu_forward(ctx, out, in) : fp4_relu2_forward(ctx, out, in);
}

static fp4_status act_bwd(fp4_context *ctx, const fp4_model *m, fp4_view *din, const fp4_view *in, const fp4_view *dout) {
    return m->cfg.act == FP4_ACT_GELU ? fp4_gelu_backward(ctx, din, in, dout) : fp4_relu2_backward(ctx, din, in, dout);
}

fp4_status fp4_mlp_forward(fp4_context *ctx, fp4_model *m, int B) {
    const fp4_model_config *c = &m->cfg;
    const int64_t BT = (int64_t)B * c->T, H = m->H, WC = (int64_t)c->W * c->C;
    fp4_view emb = fp4_model_view(m, m->act_ptr[A_X0], BT * c->W, c->C); /* = x0 [BT, W*C] */
    FP4_TRY(fp4_encoder_forward(ctx, &emb, m->win, fp4_model_p(m, "wte"), c->V));
    fp4_view in = fp4_model_view(m, m->act_ptr[A_X0], BT, WC);
    for (int l = 0; l < c->L; l++) {
        fp4_view pre = fp4_model_view(m, PRE(m, l), BT, H), hid = fp4_model_view(m, HID(m, l), BT, H);
        FP4_TRY(fp4_linear_forward(ctx, &m->lin[l], &in, &pre, m->step));
        FP4_TRY(act_fwd(ctx, m, &hid, &pre));
        in = hid;
    }
    fp4_view normf = fp4_model_view(m, GA(m, G_NORMF), BT, H);
    fp4_view logits = fp4_model_view(m, m->act_ptr[A_LOGITS], BT, m->Vp);
    FP4_TRY(fp4_rmsnorm_forward(ctx, &normf, GA(m, G_RSTDF), &in, fp4_model_p(m, "normf.weight"), c->norm_eps));
    FP4_TRY(fp4_linear_forward(ctx, &m->lin[c->L], &normf, &logits, m->step));
    if (m->have_targets) FP4_TRY(fp4_crossentropy_forward(ctx, m->act_ptr[A_LOSS], &logits, m->tgt, c->V, 0.0f, 0));
    return FP4_OK;
}

fp4_status fp4_mlp_backward(fp4_context *ctx, fp4_model *m, float dloss_scale) {
    const fp4_model_config *c = &m->cfg;
    const int64_t BT = (int64_t)m->B * c->T, H = m->H, WC = (int64_t)c->W * c->C;
    char wn[48], bn[48];
    fp4_view logits = fp4_model_view(m, m->act_ptr[A_LOGITS], BT, m->Vp);
    FP4_TRY(fp4_crossentropy_forward(ctx, NULL, &logits, m->tgt, c->V, dloss_scale, 1));
    fp4_view dh = fp4_model_view(m, GA(m, G_DH), BT, H), dpre = fp4_model_view(m, GA(m, G_DPRE), BT, H);
    FP4_TRY(fp4_linear_backward(ctx, &m->lin[c->L], &logits, &dpre, fp4_model_g(m, c->tied ? "wte" : "lm_head"), NULL));
    FP4_TRY(fp4_ops_zero(ctx, dh.data, (size_t)BT * H * sizeof(float)));
    fp4_view last = fp4_model_view(m, HID(m, c->L - 1), BT, H);
    FP4_TRY(fp4_rmsnorm_backward(ctx, &dh, fp4_model_g(m, "normf.weight"), &dpre, &last, fp4_model_p(m, "normf.weight"),
                                 GA(m, G_RSTDF)));
    fp4_view dx0 = fp4_model_view(m, GA(m, G_DX0), BT, WC);
    for (int l = c->L - 1; l >= 0; l--) {
        fp4_view pre = fp4_model_view(m, PRE(m, l), BT, H);
        FP4_TRY(act_bwd(ctx, m, &dpre, &pre, &dh));
        snprintf(wn, sizeof wn, "h.%d.fc.weight", l);
        snprintf(bn, sizeof bn, "h.%d.fc.bias", l);
        FP4_TRY(fp4_linear_backward(ctx, &m->lin[l], &dpre, l == 0 ? &dx0 : &dh, fp4_model_g(m, wn), fp4_model_g(m, bn)));
    }
    fp4_view demb = fp4_model_view(m, GA(m, G_DX0), BT * c->W, c->C);
    FP4_TRY(fp4_encoder_backward(ctx, fp4_model_g(m, "wte"), &demb, m->win, c->V));
    return FP4_OK;
}
