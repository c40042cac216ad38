/* qat/checkpoint.c — training checkpoints as one safetensors file (format in qat/train_impl.h and
 * docs/training.md): parameters, AdamW m and v, the train loader position, and in __metadata__ the
 * model config, recipe, policy, linear mode, step, seed, optimizer settings and an FNV-1a 64
 * checksum of all tensor bytes in file order. Saving is atomic (fp4_st_writer_save); loading
 * refuses a wrong format, a different config, a missing/extra/misshapen tensor or a checksum
 * mismatch with FP4_ERR_FORMAT and a message naming what differs. Device models are staged
 * through host memory.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/safetensors.h"
#include "train_impl.h"

#define CKPT_FORMAT "fp4kit-train-v1"

static fp4_status to_host(fp4_context *ctx, fp4_location loc, void *dst, const void *src, size_t bytes) {
    if (loc == FP4_DEVICE) return fp4_copy_to_host(ctx, dst, src, bytes);
    memcpy(dst, src, bytes);
    return FP4_OK;
}

static fp4_status from_host(fp4_context *ctx, fp4_location loc, void *dst, const void *src, size_t bytes) {
    if (loc == FP4_DEVICE) return fp4_copy_to_device(ctx, dst, src, bytes);
    memcpy(dst, src, bytes);
    return FP4_OK;
}

static void optim_str(const fp4_optim_config *o, char *buf, size_t cap) {
    snprintf(buf, cap, "lr=%.9g,min_lr_frac=%.9g,beta1=%.9g,beta2=%.9g,eps=%.9g,weight_decay=%.9g,clip=%.9g,"
             "warmup=%lld,steps=%lld,schedule=%s,decay_frac=%.9g", (double)o->lr, (double)o->min_lr_frac,
             (double)o->beta1, (double)o->beta2, (double)o->eps, (double)o->weight_decay, (double)o->clip,
             (long long)o->warmup, (long long)o->steps, fp4_schedule_name(o->schedule), (double)o->decay_frac);
}

static int shape_of(const fp4_param_info *p, int64_t *shape) {
    shape[0] = p->rows;
    shape[1] = p->cols;
    return p->cols ? 2 : 1;
}

fp4_status fp4_ckpt_save(fp4_context *ctx, const char *path, const fp4_model *m, const fp4_optim *o,
                         const fp4_ckpt_state *st) {
    if (!path || !m || !o || !st) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_ckpt_save: NULL argument");
    const size_t n = m->n_params, bytes = n * sizeof(float);
    float *h = malloc(3 * bytes + 1);
    if (!h) return fp4_fail(FP4_ERR_NOMEM, "fp4_ckpt_save: %zu bytes of staging", 3 * bytes);
    fp4_st_writer *w = NULL;
    fp4_status s = to_host(ctx, m->loc, h, m->params, bytes);
    if (s == FP4_OK) s = to_host(ctx, o->loc, h + n, o->m, bytes);
    if (s == FP4_OK) s = to_host(ctx, o->loc, h + 2 * n, o->v, bytes);
    if (s == FP4_OK) s = fp4_st_writer_create(&w);
    uint64_t sum = FP4_FNV1A_INIT;
    static const char *prefix[3] = {"", "adamw.m.", "adamw.v."};
    for (int k = 0; k < 3 && s == FP4_OK; k++)
        for (int i = 0; i < m->n_info && s == FP4_OK; i++) {
            const fp4_param_info *p = &m->info[i];
            char name[64];
            int64_t shape[2];
            const int nd = shape_of(p, shape);
            const size_t nb = (size_t)(p->rows * (p->cols ? p->cols : 1)) * sizeof(float);
            snprintf(name, sizeof name, "%s%s", prefix[k], p->name);
            const float *d = h + (size_t)k * n + p->offset;
            s = fp4_st_writer_add(w, name, FP4_ST_F32, nd, shape, d, nb);
            sum = fp4_shard_fnv1a(d, nb, sum);
        }
    fp4_loader_pos pos = st->pos;
    if (!st->have_pos) memset(&pos, 0, sizeof pos);
    const int64_t pshape[1] = {(int64_t)sizeof pos};
    if (s == FP4_OK) s = fp4_st_writer_add_copy(w, "loader.pos", FP4_ST_U8, 1, pshape, &pos, sizeof pos);
    sum = fp4_shard_fnv1a(&pos, sizeof pos, sum);
    char buf[1024], rs[512], ps[64];
    if (s == FP4_OK) s = fp4_st_writer_set_metadata(w, "format", CKPT_FORMAT);
    if (s == FP4_OK) s = fp4_model_config_print(&m->cfg, buf, sizeof buf);
    if (s == FP4_OK) s = fp4_st_writer_set_metadata(w, "model", buf);
    if (s == FP4_OK) s = fp4_recipe_print(&m->opt.recipe, rs, sizeof rs);
    if (s == FP4_OK) s = fp4_st_writer_set_metadata(w, "recipe", rs);
    if (s == FP4_OK) s = fp4_policy_print(&m->opt.policy, ps, sizeof ps);
    if (s == FP4_OK) s = fp4_st_writer_set_metadata(w, "policy", ps);
    if (s == FP4_OK) s = fp4_st_writer_set_metadata(w, "mode", fp4_linear_mode_name(m->opt.mode));
    snprintf(buf, sizeof buf, "%lld", (long long)st->step);
    if (s == FP4_OK) s = fp4_st_writer_set_metadata(w, "step", buf);
    snprintf(buf, sizeof buf, "%" PRIu64, st->seed);
    if (s == FP4_OK) s = fp4_st_writer_set_metadata(w, "seed", buf);
    snprintf(buf, sizeof buf, "%lld", (long long)o->t);
    if (s == FP4_OK) s = fp4_st_writer_set_metadata(w, "adamw_t", buf);
    snprintf(buf, sizeof buf, "%.9g", (double)st->first_loss);
    if (s == FP4_OK) s = fp4_st_writer_set_metadata(w, "first_loss", buf);
    optim_str(&st->optim, buf, sizeof buf);
    if (s == FP4_OK) s = fp4_st_writer_set_metadata(w, "optim", buf);
    snprintf(buf, sizeof buf, "%016" PRIx64, sum);
    if (s == FP4_OK) s = fp4_st_writer_set_metadata(w, "checksum_fnv1a64", buf);
    if (s == FP4_OK) s = fp4_st_writer_save(w, path);
    if (s != FP4_OK) s = fp4_fail_context(s, "saving checkpoint %s", path);
    fp4_st_writer_free(w);
    free(h);
    return s;
}

static fp4_status meta_i64(const fp4_st_file *f, const char *path, const char *key, long long *out) {
    const char *v = fp4_st_metadata_get(f, key);
    char *end = NULL;
    if (!v) return fp4_fail(FP4_ERR_FORMAT, "checkpoint %s: metadata '%s' missing", path, key);
    *out = strtoll(v, &end, 10);
    if (!*v || *end) return fp4_fail(FP4_ERR_FORMAT, "checkpoint %s: metadata %s = '%s' is not an integer", path, key, v);
    return FP4_OK;
}

static fp4_status read_header(const fp4_st_file *f, const char *path, fp4_model_config *cfg, fp4_recipe *recipe,
                              fp4_layer_policy *policy, fp4_ckpt_state *st) {
    const char *fmt = fp4_st_metadata_get(f, "format");
    if (!fmt || strcmp(fmt, CKPT_FORMAT))
        return fp4_fail(FP4_ERR_FORMAT, "%s is not an fp4kit training checkpoint (metadata format = '%s', expected '%s')",
                        path, fmt ? fmt : "(none)", CKPT_FORMAT);
    const char *ms = fp4_st_metadata_get(f, "model"), *rs = fp4_st_metadata_get(f, "recipe"),
               *ps = fp4_st_metadata_get(f, "policy"), *mo = fp4_st_metadata_get(f, "mode");
    if (!ms || !rs || !ps || !mo)
        return fp4_fail(FP4_ERR_FORMAT, "checkpoint %s: metadata model/recipe/policy/mode missing", path);
    if (fp4_model_config_parse(ms, cfg) != FP4_OK) return fp4_fail_context(FP4_ERR_FORMAT, "checkpoint %s", path);
    if (fp4_recipe_parse(rs, recipe) != FP4_OK) return fp4_fail_context(FP4_ERR_FORMAT, "checkpoint %s: recipe", path);
    if (fp4_policy_parse(ps, policy) != FP4_OK) return fp4_fail_context(FP4_ERR_FORMAT, "checkpoint %s: policy", path);
    if (st) {
        memset(st, 0, sizeof *st);
        long long step = 0;
        FP4_TRY(meta_i64(f, path, "step", &step));
        const char *sv = fp4_st_metadata_get(f, "seed");
        char *end = NULL;
        const unsigned long long seed = sv ? strtoull(sv, &end, 10) : 0;
        if (!sv || !*sv || *end) return fp4_fail(FP4_ERR_FORMAT, "checkpoint %s: metadata seed missing or not a number", path);
        fp4_linear_mode lm;
        if (fp4_linear_mode_parse(mo, &lm) != FP4_OK) return fp4_fail_context(FP4_ERR_FORMAT, "checkpoint %s: mode", path);
        st->step = step;
        st->seed = (uint64_t)seed;
        st->mode = (int)lm;
        const char *fl = fp4_st_metadata_get(f, "first_loss");
        st->first_loss = fl ? strtof(fl, NULL) : 0.0f;
        const fp4_st_tensor *t = fp4_st_find(f, "loader.pos");
        if (t && t->dtype == FP4_ST_U8 && t->nbytes == sizeof st->pos) {
            memcpy(&st->pos, t->data, sizeof st->pos);
            st->have_pos = st->pos.magic == FP4_LOADER_POS_MAGIC;
        }
    }
    return FP4_OK;
}

fp4_status fp4_ckpt_read_config(const char *path, fp4_model_config *cfg, fp4_recipe *recipe, fp4_layer_policy *policy,
                                fp4_ckpt_state *st) {
    fp4_st_file *f = NULL;
    fp4_status s = fp4_st_open(path, &f);
    if (s != FP4_OK) return fp4_fail_context(s, "checkpoint %s", path);
    s = read_header(f, path, cfg, recipe, policy, st);
    fp4_st_close(f);
    return s;
}

fp4_status fp4_ckpt_load(fp4_context *ctx, const char *path, fp4_model *m, fp4_optim *o, fp4_ckpt_state *st) {
    fp4_st_file *f = NULL;
    fp4_status s = fp4_st_open(path, &f);
    if (s != FP4_OK) return fp4_fail_context(s, "checkpoint %s", path);
    fp4_model_config cfg;
    fp4_recipe r;
    fp4_layer_policy pol;
    fp4_ckpt_state tmp;
    if (!st) st = &tmp;
    s = read_header(f, path, &cfg, &r, &pol, st);
    char want[512], have[512];
    if (s == FP4_OK && memcmp(&cfg, &m->cfg, sizeof cfg) != 0) {
        fp4_model_config_print(&cfg, have, sizeof have);
        fp4_model_config_print(&m->cfg, want, sizeof want);
        s = fp4_fail(FP4_ERR_FORMAT, "checkpoint %s holds model '%s' but this run wants '%s'", path, have, want);
    }
    const size_t expect = (size_t)m->n_info * 3 + 1;
    if (s == FP4_OK && fp4_st_count(f) != expect)
        s = fp4_fail(FP4_ERR_FORMAT, "checkpoint %s has %zu tensors, expected %zu (parameters, adamw.m/v, loader.pos)",
                     path, fp4_st_count(f), expect);
    const size_t n = m->n_params, bytes = n * sizeof(float);
    float *h = s == FP4_OK ? malloc(3 * bytes + 1) : NULL;
    if (s == FP4_OK && !h) s = fp4_fail(FP4_ERR_NOMEM, "fp4_ckpt_load: staging");
    uint64_t sum = FP4_FNV1A_INIT;
    static const char *prefix[3] = {"", "adamw.m.", "adamw.v."};
    for (int k = 0; k < 3 && s == FP4_OK; k++)
        for (int i = 0; i < m->n_info && s == FP4_OK; i++) {
            const fp4_param_info *p = &m->info[i];
            char name[64], sh[64];
            int64_t shape[2];
            const int nd = shape_of(p, shape);
            snprintf(name, sizeof name, "%s%s", prefix[k], p->name);
            const fp4_st_tensor *t = fp4_st_find(f, name);
            if (!t) { s = fp4_fail(FP4_ERR_FORMAT, "checkpoint %s: tensor '%s' missing", path, name); break; }
            if (t->dtype != FP4_ST_F32) {
                s = fp4_fail(FP4_ERR_FORMAT, "checkpoint %s: tensor '%s' is %s, expected F32", path, name,
                             fp4_st_dtype_name(t->dtype));
                break;
            }
            if (t->ndim != nd || t->shape[0] != shape[0] || (nd == 2 && t->shape[1] != shape[1])) {
                snprintf(sh, sizeof sh, nd == 2 ? "[%lld, %lld]" : "[%lld]", (long long)shape[0], (long long)shape[1]);
                s = fp4_fail(FP4_ERR_FORMAT, "checkpoint %s: tensor '%s' has %d dims [%lld, ...], expected %s", path,
                             name, t->ndim, (long long)(t->ndim ? t->shape[0] : 0), sh);
                break;
            }
            memcpy(h + (size_t)k * n + p->offset, t->data, t->nbytes);
            sum = fp4_shard_fnv1a(t->data, t->nbytes, sum);
        }
    if (s == FP4_OK) {
        const fp4_st_tensor *t = fp4_st_find(f, "loader.pos");
        if (!t || t->dtype != FP4_ST_U8 || t->nbytes != sizeof(fp4_loader_pos))
            s = fp4_fail(FP4_ERR_FORMAT, "checkpoint %s: tensor 'loader.pos' missing or not U8 [%zu]", path,
                         sizeof(fp4_loader_pos));
        else sum = fp4_shard_fnv1a(t->data, t->nbytes, sum);
    }
    if (s == FP4_OK) {
        const char *cs = fp4_st_metadata_get(f, "checksum_fnv1a64");
        char got[32];
        snprintf(got, sizeof got, "%016" PRIx64, sum);
        if (!cs || strcmp(cs, got))
            s = fp4_fail(FP4_ERR_FORMAT, "checkpoint %s: checksum mismatch (metadata %s, data %s): the file is corrupt",
                         path, cs ? cs : "(none)", got);
    }
    long long t_adam = 0;
    if (s == FP4_OK) s = meta_i64(f, path, "adamw_t", &t_adam);
    if (s == FP4_OK) s = from_host(ctx, m->loc, m->params, h, bytes);
    if (s == FP4_OK && o) {
        s = from_host(ctx, o->loc, o->m, h + n, bytes);
        if (s == FP4_OK) s = from_host(ctx, o->loc, o->v, h + 2 * n, bytes);
        o->t = t_adam;
    }
    free(h);
    fp4_st_close(f);
    return s;
}

fp4_status fp4_train_open_device(fp4_device_choice d, fp4_context **ctx) {
    *ctx = NULL;
    if (d == FP4_DEVICE_CPU) return FP4_OK;
    const int have = fp4_build_has_cuda() && fp4_cuda_device_count() > 0;
    if (d == FP4_DEVICE_AUTO && !have) return FP4_OK;
    if (!have)
        return fp4_fail(FP4_ERR_UNSUPPORTED, "device cuda requested but %s", fp4_build_has_cuda()
                        ? "no CUDA device is available" : "this fp4kit was built without CUDA");
    return fp4_context_create_cuda(0, NULL, ctx);
}

fp4_status fp4_device_choice_parse(const char *s, fp4_device_choice *out) {
    if (s && !strcmp(s, "auto")) { *out = FP4_DEVICE_AUTO; return FP4_OK; }
    if (s && !strcmp(s, "cpu")) { *out = FP4_DEVICE_CPU; return FP4_OK; }
    if (s && !strcmp(s, "cuda")) { *out = FP4_DEVICE_CUDA; return FP4_OK; }
    return fp4_fail(FP4_ERR_INVALID_ARG, "unknown device '%s' (auto, cpu or cuda)", s ? s : "(null)");
}

fp4_status fp4_checkpoint_info(const char *path, fp4_model_config *cfg, char *recipe, size_t recipe_cap, char *policy,
                               size_t policy_cap, int64_t *step, uint64_t *seed) {
    fp4_model_config c;
    fp4_recipe r;
    fp4_layer_policy p;
    fp4_ckpt_state st;
    if (!path) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_checkpoint_info: path is NULL");
    FP4_TRY(fp4_ckpt_read_config(path, &c, &r, &p, &st));
    if (cfg) *cfg = c;
    if (recipe) FP4_TRY(fp4_recipe_print(&r, recipe, recipe_cap));
    if (policy) FP4_TRY(fp4_policy_print(&p, policy, policy_cap));
    if (step) *step = st.step;
    if (seed) *seed = st.seed;
    return FP4_OK;
}
