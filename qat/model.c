/* qat/model.c — what the GPT and the MLP LM share (qat/model.h): the config (defaults, validation,
 * string form), the flat parameter table, initialization, allocation on the host or the device,
 * the forward/backward wrappers (token upload, MLP windows, mean loss), zero_grad and the linear
 * layers' recipe choice. The architecture-specific halves are in qat/gpt.c and qat/mlp.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/formats_inline.h"
#include "linear_impl.h"
#include "model.h"
#include "ops.h"

/* ---- config ------------------------------------------------------------------------------------ */

const char *fp4_model_kind_name(fp4_model_kind k) { return k == FP4_MODEL_MLP ? "mlp" : "gpt"; }
const char *fp4_act_kind_name(fp4_act_kind a) { return a == FP4_ACT_RELU2 ? "relu2" : "gelu"; }

fp4_status fp4_model_kind_parse(const char *s, fp4_model_kind *out) {
    if (s && !strcmp(s, "gpt")) { *out = FP4_MODEL_GPT; return FP4_OK; }
    if (s && !strcmp(s, "mlp")) { *out = FP4_MODEL_MLP; return FP4_OK; }
    return fp4_fail(FP4_ERR_INVALID_ARG, "unknown model '%s' (gpt or mlp)", s ? s : "(null)");
}

fp4_status fp4_act_kind_parse(const char *s, fp4_act_kind *out) {
    if (s && !strcmp(s, "gelu")) { *out = FP4_ACT_GELU; return FP4_OK; }
    if (s && !strcmp(s, "relu2")) { *out = FP4_ACT_RELU2; return FP4_OK; }
    return fp4_fail(FP4_ERR_INVALID_ARG, "unknown activation '%s' (gelu or relu2)", s ? s : "(null)");
}

fp4_model_config fp4_model_config_default(fp4_model_kind kind) {
    fp4_model_config c = {kind, 256, 64, 64, 2, 4, 4, 0, FP4_ACT_GELU, 1, 10000.0f, 1e-5f};
    if (kind == FP4_MODEL_MLP) {
        c.NH = 1;
        c.W = 8;
        c.tied = 0;
    }
    return c;
}

fp4_status fp4_model_config_validate(const fp4_model_config *c) {
    if (!c) return fp4_fail(FP4_ERR_INVALID_ARG, "model config is NULL");
    if (c->kind != FP4_MODEL_GPT && c->kind != FP4_MODEL_MLP)
        return fp4_fail(FP4_ERR_INVALID_ARG, "model config: unknown model kind %d", (int)c->kind);
    if (c->V < 2 || c->V > (1 << 24)) return fp4_fail(FP4_ERR_INVALID_ARG, "model config: vocab = %d not in [2, 2^24]", c->V);
    if (c->T < 1 || c->T > 65536) return fp4_fail(FP4_ERR_INVALID_ARG, "model config: seq = %d not in [1, 65536]", c->T);
    if (c->C < 2 || c->C > 65536) return fp4_fail(FP4_ERR_INVALID_ARG, "model config: width = %d not in [2, 65536]", c->C);
    if (c->L < 1 || c->L > 1024) return fp4_fail(FP4_ERR_INVALID_ARG, "model config: layers = %d not in [1, 1024]", c->L);
    if (c->mlp_ratio < 1 || c->mlp_ratio > 64)
        return fp4_fail(FP4_ERR_INVALID_ARG, "model config: mlp_ratio = %d not in [1, 64]", c->mlp_ratio);
    if (c->act != FP4_ACT_GELU && c->act != FP4_ACT_RELU2)
        return fp4_fail(FP4_ERR_INVALID_ARG, "model config: unknown activation %d", (int)c->act);
    if (!(c->norm_eps > 0.0f) || !(c->norm_eps < 1.0f))
        return fp4_fail(FP4_ERR_INVALID_ARG, "model config: norm_eps = %g not in (0, 1)", (double)c->norm_eps);
    if (c->kind == FP4_MODEL_GPT) {
        if (c->NH < 1 || c->C % c->NH != 0)
            return fp4_fail(FP4_ERR_INVALID_ARG, "model config: width %d is not a multiple of heads %d", c->C, c->NH);
        if ((c->C / c->NH) % 2 != 0)
            return fp4_fail(FP4_ERR_INVALID_ARG, "model config: head size width/heads = %d must be even (RoPE pairs)",
                            c->C / c->NH);
        if (c->W != 0) return fp4_fail(FP4_ERR_INVALID_ARG, "model config: window is for the MLP model (must be 0 for gpt)");
        if (!(c->rope_theta > 1.0f)) return fp4_fail(FP4_ERR_INVALID_ARG, "model config: rope_theta = %g must be > 1", (double)c->rope_theta);
    } else {
        if (c->W < 1 || c->W > 4096) return fp4_fail(FP4_ERR_INVALID_ARG, "model config: window = %d not in [1, 4096]", c->W);
        if (c->NH != 1) return fp4_fail(FP4_ERR_INVALID_ARG, "model config: heads must be 1 for the mlp model");
        if (c->tied && c->mlp_ratio != 1)
            return fp4_fail(FP4_ERR_INVALID_ARG, "model config: tied embeddings in the mlp model need hidden width == "
                            "width (mlp_ratio 1), got mlp_ratio %d", c->mlp_ratio);
    }
    return FP4_OK;
}

fp4_status fp4_model_config_print(const fp4_model_config *c, char *buf, size_t cap) {
    const int n = snprintf(buf, cap, "model=%s,vocab=%d,seq=%d,width=%d,layers=%d,heads=%d,mlp_ratio=%d,window=%d,"
                           "act=%s,tied=%d,rope_theta=%.9g,norm_eps=%.9g", fp4_model_kind_name(c->kind), c->V, c->T,
                           c->C, c->L, c->NH, c->mlp_ratio, c->W, fp4_act_kind_name(c->act), c->tied,
                           (double)c->rope_theta, (double)c->norm_eps);
    if (n < 0 || (size_t)n >= cap) return fp4_fail(FP4_ERR_INVALID_ARG, "model config string does not fit %zu bytes", cap);
    return FP4_OK;
}

fp4_status fp4_model_config_parse(const char *s, fp4_model_config *out) {
    static const char *keys[] = {"model", "vocab", "seq", "width", "layers", "heads", "mlp_ratio", "window", "act",
                                 "tied", "rope_theta", "norm_eps"};
    enum { NK = 12 };
    if (!s || !out) return fp4_fail(FP4_ERR_INVALID_ARG, "model config string is NULL");
    char buf[512];
    if (strlen(s) >= sizeof buf) return fp4_fail(FP4_ERR_FORMAT, "model config string too long");
    strcpy(buf, s);
    fp4_model_config c;
    memset(&c, 0, sizeof c);
    int seen[NK] = {0};
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) return fp4_fail(FP4_ERR_FORMAT, "model config: '%s' is not key=value", tok);
        *eq = 0;
        const char *v = eq + 1;
        int k = 0;
        while (k < NK && strcmp(keys[k], tok)) k++;
        if (k == NK) return fp4_fail(FP4_ERR_FORMAT, "model config: unknown key '%s'", tok);
        if (seen[k]++) return fp4_fail(FP4_ERR_FORMAT, "model config: key '%s' given twice", tok);
        char *end = NULL;
        if (k == 0) {
            if (fp4_model_kind_parse(v, &c.kind) != FP4_OK) return fp4_fail_context(FP4_ERR_FORMAT, "model config");
            continue;
        }
        if (k == 8) {
            if (fp4_act_kind_parse(v, &c.act) != FP4_OK) return fp4_fail_context(FP4_ERR_FORMAT, "model config");
            continue;
        }
        if (k >= 10) {
            const float f = strtof(v, &end);
            if (!*v || *end) return fp4_fail(FP4_ERR_FORMAT, "model config: %s = '%s' is not a number", tok, v);
            if (k == 10) c.rope_theta = f;
            else c.norm_eps = f;
            continue;
        }
        const long x = strtol(v, &end, 10);
        if (!*v || *end || x < 0 || x > 100000000L)
            return fp4_fail(FP4_ERR_FORMAT, "model config: %s = '%s' is not a non-negative integer", tok, v);
        int *dst[] = {NULL, &c.V, &c.T, &c.C, &c.L, &c.NH, &c.mlp_ratio, &c.W, NULL, &c.tied};
        *dst[k] = (int)x;
    }
    for (int k = 0; k < NK; k++)
        if (!seen[k]) return fp4_fail(FP4_ERR_FORMAT, "model config: key '%s' missing", keys[k]);
    FP4_TRY(fp4_model_config_validate(&c));
    *out = c;
    return FP4_OK;
}

/* ---- memory at the model's location ------------------------------------------------------------- */

static fp4_status m_alloc(fp4_location loc, size_t bytes, void **p) {
    if (bytes == 0) bytes = 1;
    if (loc == FP4_DEVICE) return fp4_device_alloc(bytes, p);
    *p = calloc(1, bytes);
    return *p ? FP4_OK : fp4_fail(FP4_ERR_NOMEM, "model: %zu bytes of host memory", bytes);
}

static void m_free(fp4_location loc, void *p) {
    if (!p) return;
    if (loc == FP4_DEVICE) fp4_device_free(p);
    else free(p);
}

static fp4_status m_upload(fp4_context *ctx, fp4_location loc, void *dst, const void *src, size_t bytes) {
    if (loc == FP4_DEVICE) return fp4_copy_to_device(ctx, dst, src, bytes);
    memcpy(dst, src, bytes);
    return FP4_OK;
}

/* ---- parameter table ------------------------------------------------------------------------------ */

fp4_status fp4_model_add_param(fp4_model *m, const char *name, int64_t rows, int64_t cols, int decay) {
    fp4_param_info *n = realloc(m->info, (size_t)(m->n_info + 1) * sizeof *n);
    if (!n) return fp4_fail(FP4_ERR_NOMEM, "model: parameter table");
    m->info = n;
    fp4_param_info *p = &n[m->n_info++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->rows = rows;
    p->cols = cols;
    p->offset = m->n_params;
    p->decay = decay;
    m->n_params += (size_t)(rows * (cols ? cols : 1));
    return FP4_OK;
}

const fp4_param_info *fp4_model_param(const fp4_model *m, const char *name) {
    for (int i = 0; i < m->n_info; i++)
        if (!strcmp(m->info[i].name, name)) return &m->info[i];
    return NULL;
}

float *fp4_model_p(const fp4_model *m, const char *name) {
    const fp4_param_info *p = fp4_model_param(m, name);
    return p ? m->params + p->offset : NULL;
}

float *fp4_model_g(const fp4_model *m, const char *name) {
    const fp4_param_info *p = fp4_model_param(m, name);
    return p ? m->grads + p->offset : NULL;
}

fp4_view fp4_model_view(const fp4_model *m, float *p, int64_t rows, int64_t cols) {
    return fp4_view_make(p, m->act_dtype, rows, cols, m->loc);
}

fp4_view fp4_model_view_f32(const fp4_model *m, float *p, int64_t rows, int64_t cols) {
    return fp4_view_make(p, FP4_DTYPE_F32, rows, cols, m->loc);
}

/* Linear idx of block `block`: the policy's recipe (or the high-precision head for block < 0). */
fp4_status fp4_model_init_linear(fp4_model *m, int idx, int block, int n_blocks, float *w, float *bias, int64_t OC,
                                 int64_t C) {
    fp4_recipe r;
    fp4_linear_mode mode = m->opt.mode;
    if (block < 0) {
        /* the head: fp32 on the host, bf16 (cuBLASLt) on a device unless the whole recipe is fp32
         * (an FP32 baseline stays FP32 everywhere, so it agrees with the host run) */
        int all_fp32 = 1;
        for (int g = 0; g < 3; g++)
            for (int i = 0; i < 2; i++) all_fp32 &= m->opt.recipe.op[g][i].prec == FP4_PREC_FP32;
        FP4_TRY(fp4_recipe_preset(m->loc == FP4_DEVICE && !all_fp32 ? "bf16" : "fp32", &r));
        mode = FP4_LINEAR_PLAIN;
    } else {
        FP4_TRY(fp4_policy_recipe_for_block(&m->opt.policy, &m->opt.recipe, block, n_blocks, &r));
        if (!fp4_recipe_is_quantized(&r)) mode = FP4_LINEAR_PLAIN;
    }
    fp4_status st = fp4_linear_init(&m->lin[idx], w, bias, OC, C, m->loc, &r, mode, (uint32_t)idx, m->opt.seed);
    if (st != FP4_OK) return fp4_fail_context(st, "linear layer %d (block %d, [%lld, %lld])", idx, block, (long long)OC,
                                              (long long)C);
    m->lin[idx].mark = m->opt.mark;
    m->lin[idx].mark_user = m->opt.mark_user;
    return FP4_OK;
}

/* ---- create / free ------------------------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double normal01(uint64_t *s) {
    const double u1 = ((double)(splitmix(s) >> 11) + 0.5) * 0x1.0p-53, u2 = (double)(splitmix(s) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Host initialization in table order: norms 1; biases 0; matrices N(0, 0.02), residual
 * projections (names ending in "proj.weight" or "fc2.weight") N(0, 0.02/sqrt(2L)); the padding rows of
 * wte / lm_head (>= V) zero. */
static void init_params(const fp4_model *m, float *h, uint64_t seed) {
    uint64_t s = seed ^ 0x6a09e667f3bcc908ull;
    for (int i = 0; i < m->n_info; i++) {
        const fp4_param_info *p = &m->info[i];
        float *x = h + p->offset;
        const int64_t n = p->rows * (p->cols ? p->cols : 1);
        const size_t ln = strlen(p->name);
        if (strstr(p->name, "norm")) {
            for (int64_t j = 0; j < n; j++) x[j] = 1.0f;
        } else if (ln > 4 && !strcmp(p->name + ln - 4, "bias")) {
            for (int64_t j = 0; j < n; j++) x[j] = 0.0f;
        } else {
            double std = 0.02;
            if (strstr(p->name, "proj.weight") || strstr(p->name, "fc2.weight")) std /= sqrt(2.0 * m->cfg.L);
            for (int64_t j = 0; j < n; j++) x[j] = (float)(std * normal01(&s));
            if (!strcmp(p->name, "wte") || !strcmp(p->name, "lm_head"))
                for (int64_t j = (int64_t)m->cfg.V * p->cols; j < n; j++) x[j] = 0.0f;
        }
    }
}

fp4_status fp4_model_create(fp4_context *ctx, const fp4_model_config *cfg, const fp4_model_options *opt,
                            uint64_t init_seed, fp4_model *m) {
    if (!m || !opt) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_model_create: NULL argument");
    memset(m, 0, sizeof *m);
    FP4_TRY(fp4_model_config_validate(cfg));
    FP4_TRY(fp4_recipe_validate(&opt->recipe));
    if (opt->Bmax < 1) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_model_create: batch %d < 1", opt->Bmax);
    if (opt->mode == FP4_LINEAR_PLAIN && fp4_recipe_is_quantized(&opt->recipe))
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_model_create: linear mode 'plain' cannot run an FP4 recipe "
                        "(use fake or true)");
    if (opt->policy.bf16_first < 0 || opt->policy.bf16_last < 0)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_model_create: negative layer policy counts");
    m->cfg = *cfg;
    m->opt = *opt;
    m->loc = fp4_context_is_cuda(ctx) ? FP4_DEVICE : FP4_HOST;
    m->Vp = (cfg->V + 63) / 64 * 64;
    m->H = cfg->mlp_ratio * cfg->C;
    {
        int all_fp32 = 1;
        for (int g = 0; g < 3; g++)
            for (int i = 0; i < 2; i++) all_fp32 &= opt->recipe.op[g][i].prec == FP4_PREC_FP32;
        m->act_dtype = m->loc == FP4_DEVICE && cfg->kind == FP4_MODEL_GPT && !opt->act_f32 && !all_fp32
                           ? FP4_DTYPE_BF16 : FP4_DTYPE_F32;
        m->flash = m->act_dtype == FP4_DTYPE_BF16 && fp4_flash_attention_supported(cfg->C / cfg->NH);
    }
    fp4_status st = cfg->kind == FP4_MODEL_GPT ? fp4_gpt_layout(m) : fp4_mlp_layout(m);
    float *h = NULL;
    uint8_t *mask = NULL;
    const size_t np = m->n_params, T = (size_t)cfg->T, B = (size_t)opt->Bmax;
    if (st == FP4_OK) st = m_alloc(m->loc, np * sizeof(float), (void **)&m->params);
    if (st == FP4_OK) st = m_alloc(m->loc, np * sizeof(float), (void **)&m->grads);
    if (st == FP4_OK) st = m_alloc(m->loc, np, (void **)&m->wd_mask);
    if (st == FP4_OK) st = m_alloc(m->loc, m->n_acts * sizeof(float), (void **)&m->acts);
    if (st == FP4_OK) st = m_alloc(m->loc, B * T * sizeof(int32_t), (void **)&m->tok);
    if (st == FP4_OK) st = m_alloc(m->loc, B * T * sizeof(int32_t), (void **)&m->tgt);
    if (st == FP4_OK && cfg->kind == FP4_MODEL_MLP) {
        st = m_alloc(m->loc, B * T * (size_t)cfg->W * sizeof(int32_t), (void **)&m->win);
        if (st == FP4_OK) st = m_alloc(FP4_HOST, B * T * (size_t)cfg->W * sizeof(int32_t), (void **)&m->h_win);
    }
    if (st == FP4_OK) st = m_alloc(FP4_HOST, B * T * sizeof(float), (void **)&m->h_losses);
    if (st == FP4_OK) {
        m->act_ptr = calloc((size_t)m->n_act_ptr + 1, sizeof(float *));
        m->lin = calloc((size_t)m->n_lin, sizeof(fp4_linear));
        h = malloc(np * sizeof(float));
        mask = malloc(np ? np : 1);
        if (!m->act_ptr || !m->lin || !h || !mask) st = fp4_fail(FP4_ERR_NOMEM, "fp4_model_create: host tables");
    }
    if (st == FP4_OK) {
        init_params(m, h, init_seed);
        for (int i = 0; i < m->n_info; i++)
            memset(mask + m->info[i].offset, m->info[i].decay ? 1 : 0,
                   (size_t)(m->info[i].rows * (m->info[i].cols ? m->info[i].cols : 1)));
        st = m_upload(ctx, m->loc, m->params, h, np * sizeof(float));
        if (st == FP4_OK) st = m_upload(ctx, m->loc, m->wd_mask, mask, np);
        if (st == FP4_OK) st = fp4_ops_zero(ctx, m->grads, np * sizeof(float));
    }
    if (st == FP4_OK && cfg->kind == FP4_MODEL_GPT) {
        const int hs = cfg->C / cfg->NH;
        float *cs = malloc(T * (size_t)hs * sizeof(float));
        if (!cs) st = fp4_fail(FP4_ERR_NOMEM, "fp4_model_create: rope tables");
        if (st == FP4_OK) st = m_alloc(m->loc, T * (size_t)hs * sizeof(float), (void **)&m->rope_cos);
        if (st == FP4_OK) {
            m->rope_sin = m->rope_cos + T * (size_t)(hs / 2);
            fp4_rope_tables(cs, cs + T * (size_t)(hs / 2), (int64_t)T, hs, (double)cfg->rope_theta);
            st = m_upload(ctx, m->loc, m->rope_cos, cs, T * (size_t)hs * sizeof(float));
        }
        free(cs);
    }
    if (st == FP4_OK) st = cfg->kind == FP4_MODEL_GPT ? fp4_gpt_setup(m) : fp4_mlp_setup(m);
#ifdef FP4KIT_HAVE_CUDA
    /* GPT true-quant on a device: the Wgrad operands are quantized on a side stream (linear.h) */
    if (st == FP4_OK && m->loc == FP4_DEVICE && cfg->kind == FP4_MODEL_GPT && opt->mode == FP4_LINEAR_TRUE &&
        fp4_recipe_is_quantized(&opt->recipe)) {
        st = fp4_lin_side_create(&m->side);
        for (int i = 0; st == FP4_OK && i < m->n_lin; i++) m->lin[i].side = m->side;
    }
#endif
    free(h);
    free(mask);
    if (st != FP4_OK) fp4_model_free(m);
    return st;
}

void fp4_model_free(fp4_model *m) {
    if (!m) return;
    if (m->lin)
        for (int i = 0; i < m->n_lin; i++) fp4_linear_free(&m->lin[i]);
    free(m->lin);
    fp4_context_destroy(m->side); /* after the layers: they synchronize it */
    m_free(m->loc, m->params);
    m_free(m->loc, m->grads);
    m_free(m->loc, m->wd_mask);
    m_free(m->loc, m->acts);
    m_free(m->loc, m->tok);
    m_free(m->loc, m->tgt);
    m_free(m->loc, m->win);
    m_free(m->loc, m->rope_cos);
    free(m->h_win);
    free(m->h_losses);
    free(m->act_ptr);
    free(m->info);
    memset(m, 0, sizeof *m);
}

/* ---- forward / backward wrappers ------------------------------------------------------------------------ */

fp4_status fp4_model_forward(fp4_context *ctx, fp4_model *m, const int32_t *inputs, const int32_t *targets,
                             int64_t ld, int B, uint32_t step, float *loss) {
    if (!m || !m->params || !inputs) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_model_forward: NULL argument");
    const int T = m->cfg.T;
    if (B < 1 || B > m->opt.Bmax)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_model_forward: batch %d not in [1, %d] (the model's batch size)", B,
                        m->opt.Bmax);
    if (ld < T) return fp4_fail(FP4_ERR_SHAPE, "fp4_model_forward: row stride %lld < seq %d", (long long)ld, T);
    /* stage inputs and targets contiguously on the host */
    int32_t *stage = malloc((size_t)B * T * sizeof(int32_t) * 2);
    if (!stage) return fp4_fail(FP4_ERR_NOMEM, "fp4_model_forward: token staging");
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const int32_t x = inputs[b * ld + t], y = targets ? targets[b * ld + t] : 0;
            if (x < 0 || x >= m->cfg.V || y < 0 || y >= m->cfg.V) {
                free(stage);
                return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_model_forward: token %d at row %d position %d outside the "
                                "vocabulary [0, %d)", x < 0 || x >= m->cfg.V ? x : y, b, t, m->cfg.V);
            }
            stage[b * T + t] = x;
            stage[B * T + b * T + t] = y;
        }
    fp4_status st = m_upload(ctx, m->loc, m->tok, stage, (size_t)B * T * sizeof(int32_t));
    if (st == FP4_OK && targets) st = m_upload(ctx, m->loc, m->tgt, stage + B * T, (size_t)B * T * sizeof(int32_t));
    if (st == FP4_OK && m->cfg.kind == FP4_MODEL_MLP) {
        const int W = m->cfg.W;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int j = 0; j < W; j++) {
                    const int pos = t - W + 1 + j;
                    m->h_win[((size_t)b * T + t) * W + j] = pos >= 0 ? stage[b * T + pos] : 0;
                }
        st = m_upload(ctx, m->loc, m->win, m->h_win, (size_t)B * T * W * sizeof(int32_t));
    }
    free(stage);
    if (st != FP4_OK) return st;
    m->B = B;
    m->step = step;
    m->have_targets = targets != NULL;
    FP4_TRY(m->cfg.kind == FP4_MODEL_GPT ? fp4_gpt_forward(ctx, m, B) : fp4_mlp_forward(ctx, m, B));
    if (targets && loss) {
        /* the losses slice is act_ptr[0] in both models */
        if (m->loc == FP4_DEVICE) FP4_TRY(fp4_copy_to_host(ctx, m->h_losses, m->act_ptr[0], (size_t)B * T * sizeof(float)));
        else memcpy(m->h_losses, m->act_ptr[0], (size_t)B * T * sizeof(float));
        double s = 0.0;
        for (int i = 0; i < B * T; i++) s += (double)m->h_losses[i];
        *loss = (float)(s / ((double)B * T));
    } else if (loss) {
        *loss = NAN;
    }
    return FP4_OK;
}

fp4_status fp4_model_backward(fp4_context *ctx, fp4_model *m, float dloss_scale) {
    if (!m || !m->B) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_model_backward: no forward to differentiate");
    if (!m->have_targets) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_model_backward: the forward had no targets");
    fp4_status st = m->cfg.kind == FP4_MODEL_GPT ? fp4_gpt_backward(ctx, m, dloss_scale)
                                                 : fp4_mlp_backward(ctx, m, dloss_scale);
    m->have_targets = 0; /* logits now hold dlogits */
    return st;
}

fp4_status fp4_model_zero_grad(fp4_context *ctx, fp4_model *m) {
    return fp4_ops_zero(ctx, m->grads, m->n_params * sizeof(float));
}

fp4_status fp4_model_logits(fp4_context *ctx, const fp4_model *m, int b, int t, float *out) {
    if (!m->B || b < 0 || b >= m->B || t < 0 || t >= m->cfg.T)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_model_logits: row %d position %d outside the last forward", b, t);
    const size_t off = ((size_t)b * m->cfg.T + t) * m->Vp; /* logits are act_ptr[1] */
    if (m->act_dtype == FP4_DTYPE_BF16) { /* device BF16 logits, widened on the host */
        const uint16_t *src = (const uint16_t *)m->act_ptr[1] + off;
        uint16_t *tmp = malloc((size_t)m->Vp * sizeof(uint16_t));
        if (!tmp) return fp4_fail(FP4_ERR_NOMEM, "fp4_model_logits: %d values", m->Vp);
        fp4_status st = fp4_copy_to_host(ctx, tmp, src, (size_t)m->Vp * sizeof(uint16_t));
        for (int i = 0; st == FP4_OK && i < m->Vp; i++) out[i] = fp4_bf16_to_f32(tmp[i]);
        free(tmp);
        return st;
    }
    const float *src = m->act_ptr[1] + off;
    if (m->loc == FP4_DEVICE) return fp4_copy_to_host(ctx, out, src, (size_t)m->Vp * sizeof(float));
    memcpy(out, src, (size_t)m->Vp * sizeof(float));
    return FP4_OK;
}
