/* qat/train.c — the training loop behind `fp4 train` (fp4kit/train.h): micro-batches of (B, T+1)
 * windows from the random-order train loader, forward/backward with gradient accumulation, clip
 * and AdamW (qat/optim.c), periodic evaluation on the val split (sequential loader), metrics in
 * out_dir/metrics.csv and metrics.jsonl, checkpoints in out_dir/ckpt.safetensors (atomic), resume.
 *
 * Resume guarantee: the state after step s is (parameters, AdamW m, v, t, train loader position);
 * all of it is in the checkpoint, SR draws depend only on (seed, step, layer, tensor), and the
 * other work is deterministic, so N/2 steps + save + load + N/2 steps give the same bits as N
 * steps on the same back end. On resume the metrics files are cut back to the checkpoint's step.
 * A non-finite loss or gradient norm stops before the update: nothing is saved after it, the last
 * good checkpoint stays, FP4_ERR_NONFINITE names the step.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "train_impl.h"

fp4_train_config fp4_train_config_default(fp4_model_kind kind) {
    fp4_train_config tc;
    memset(&tc, 0, sizeof tc);
    tc.model = fp4_model_config_default(kind);
    snprintf(tc.recipe, sizeof tc.recipe, "nvfp4");
    tc.mode = -1;
    tc.corpus = "pretrain";
    tc.B = 8;
    tc.accum = 1;
    tc.optim = fp4_optim_config_default();
    tc.eval_every = 50;
    tc.eval_batches = 20;
    tc.ckpt_every = 100;
    tc.seed = 1337;
    tc.device = FP4_DEVICE_AUTO;
    return tc;
}

static fp4_status resolve(const fp4_train_config *tc, int cuda, fp4_recipe *r, fp4_layer_policy *p,
                          fp4_linear_mode *mode) {
    if (fp4_recipe_parse(tc->recipe, r) != FP4_OK) return fp4_fail_context(FP4_ERR_INVALID_ARG, "--recipe '%s'", tc->recipe);
    if (fp4_policy_parse(tc->policy, p) != FP4_OK) return fp4_fail_context(FP4_ERR_INVALID_ARG, "--policy '%s'", tc->policy);
    const int q = fp4_recipe_is_quantized(r);
    if (tc->mode < 0) *mode = !q ? FP4_LINEAR_PLAIN : cuda ? FP4_LINEAR_TRUE : FP4_LINEAR_FAKE;
    else *mode = (fp4_linear_mode)tc->mode;
    if (*mode == FP4_LINEAR_PLAIN && q)
        return fp4_fail(FP4_ERR_INVALID_ARG, "mode 'plain' cannot run the FP4 recipe '%s' (use fake or true)", tc->recipe);
    return FP4_OK;
}

fp4_status fp4_train_config_validate(const fp4_train_config *tc) {
    if (!tc) return fp4_fail(FP4_ERR_INVALID_ARG, "train config is NULL");
    FP4_TRY(fp4_model_config_validate(&tc->model));
    FP4_TRY(fp4_optim_config_validate(&tc->optim));
    fp4_recipe r;
    fp4_layer_policy p;
    fp4_linear_mode mode;
    FP4_TRY(resolve(tc, 0, &r, &p, &mode));
    if (p.bf16_first + p.bf16_last > tc->model.L)
        return fp4_fail(FP4_ERR_INVALID_ARG, "policy keeps %d + %d blocks in BF16 but the model has %d",
                        p.bf16_first, p.bf16_last, tc->model.L);
    if (tc->B < 1 || tc->B > 65536) return fp4_fail(FP4_ERR_INVALID_ARG, "batch = %d not in [1, 65536]", tc->B);
    if (tc->accum < 1 || tc->accum > 65536) return fp4_fail(FP4_ERR_INVALID_ARG, "accum = %d not in [1, 65536]", tc->accum);
    if (tc->optim.steps > 0xFFFFFFFFll / tc->accum) return fp4_fail(FP4_ERR_INVALID_ARG, "steps * accum must be < 2^32");
    if (fp4_recipe_is_quantized(&r) && ((int64_t)tc->B * tc->model.T) % 32 != 0)
        return fp4_fail(FP4_ERR_INVALID_ARG, "batch * seq = %d * %d must be a multiple of 32 for an FP4 recipe "
                        "(the Wgrad operands are quantized along tokens)", tc->B, tc->model.T);
    if (tc->eval_every < 0 || tc->ckpt_every < 0 || tc->eval_batches < 0 || tc->stop_after < 0)
        return fp4_fail(FP4_ERR_INVALID_ARG, "eval/ckpt intervals must be >= 0");
    if (!tc->data_dir || !*tc->data_dir) return fp4_fail(FP4_ERR_INVALID_ARG, "no data directory (--data DIR)");
    if (!tc->out_dir || !*tc->out_dir) return fp4_fail(FP4_ERR_INVALID_ARG, "no output directory (--out DIR)");
    return FP4_OK;
}

static fp4_status mkdir_p(const char *dir) {
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return fp4_fail(FP4_ERR_INVALID_ARG, "path too long");
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return fp4_fail(FP4_ERR_IO, "mkdir %s: %s", buf, strerror(errno));
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return fp4_fail(FP4_ERR_IO, "mkdir %s: %s", buf, strerror(errno));
    return FP4_OK;
}

/* Keep only the lines of a metrics file whose step (first CSV field / "step" key) is <= step. */
static void truncate_metrics(const char *path, int64_t step, int json) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char *keep = NULL, line[4096];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        long long s = -1;
        if (json) {
            const char *k = strstr(line, "\"step\":");
            if (k) s = strtoll(k + 7, NULL, 10);
        } else if (line[0] >= '0' && line[0] <= '9') {
            s = strtoll(line, NULL, 10);
        } else {
            s = 0; /* header */
        }
        if (s > step) continue;
        const size_t l = strlen(line);
        char *k2 = realloc(keep, n + l + 1);
        if (!k2) break;
        keep = k2;
        memcpy(keep + n, line, l + 1);
        n += l;
    }
    fclose(f);
    f = fopen(path, "w");
    if (f) {
        if (keep) fwrite(keep, 1, n, f);
        fclose(f);
    }
    free(keep);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Mean loss over up to max_batches batches of a sequential loader (from its start). */
static fp4_status evaluate(fp4_context *ctx, fp4_model *m, fp4_loader *L, int32_t *batch, int64_t max_batches,
                           uint32_t step, double *loss, int64_t *tokens) {
    fp4_loader_reset(L);
    double sum = 0.0;
    int64_t ntok = 0;
    for (int64_t k = 0; max_batches == 0 || k < max_batches; k++) {
        int rows = 0;
        FP4_TRY(fp4_loader_next(L, batch, &rows));
        if (rows == 0) break;
        float l;
        FP4_TRY(fp4_model_forward(ctx, m, batch, batch + 1, m->cfg.T + 1, rows, step, &l));
        sum += (double)l * rows * m->cfg.T;
        ntok += (int64_t)rows * m->cfg.T;
    }
    if (ntok == 0) return fp4_fail(FP4_ERR_SHAPE, "evaluation: the val split has no window of %d tokens", m->cfg.T + 1);
    *loss = sum / (double)ntok;
    if (tokens) *tokens = ntok;
    return FP4_OK;
}

static fp4_status open_loader(const char *dir, const char *corpus, const char *split, int B, int T,
                              fp4_loader_mode mode, uint64_t seed, fp4_loader **L) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s_%s.bin", dir, corpus ? corpus : "pretrain", split);
    const char *paths[1] = {path};
    fp4_status s = fp4_loader_open(paths, 1, B, T, mode, seed, L);
    if (s != FP4_OK) return fp4_fail_context(s, "%s split (%s)", split, path);
    return FP4_OK;
}

fp4_status fp4_train_run(const fp4_train_config *tc0, fp4_train_result *res) {
    if (!res) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_train_run: res is NULL");
    memset(res, 0, sizeof *res);
    res->nonfinite_step = -1;
    res->val_loss = NAN;
    FP4_TRY(fp4_train_config_validate(tc0));
    fp4_train_config tcv = *tc0;
    const fp4_train_config *tc = &tcv;
    fp4_context *ctx = NULL;
    fp4_loader *train = NULL, *val = NULL;
    fp4_model m;
    fp4_optim o;
    memset(&m, 0, sizeof m);
    memset(&o, 0, sizeof o);
    int32_t *batch = NULL;
    FILE *csv = NULL, *jsl = NULL;
    char ckpt[1024], path[1024];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", tc->out_dir);
    fp4_status s = fp4_train_open_device(tc->device, &ctx);
    const int cuda = fp4_context_is_cuda(ctx);
    fp4_model_options mo;
    memset(&mo, 0, sizeof mo);
    if (s == FP4_OK) s = resolve(tc, cuda, &mo.recipe, &mo.policy, &mo.mode);
    mo.seed = tc->seed;
    mo.Bmax = tc->B;
    const int T = tc->model.T, B = tc->B;
    if (s == FP4_OK) s = open_loader(tc->data_dir, tc->corpus, "train", B, T, FP4_LOADER_RANDOM, tc->seed, &train);
    if (s == FP4_OK) s = open_loader(tc->data_dir, tc->corpus, "val", B, T, FP4_LOADER_SEQUENTIAL, 0, &val);
    if (s == FP4_OK && fp4_loader_vocab(train) > (uint32_t)tc->model.V)
        s = fp4_fail(FP4_ERR_INVALID_ARG, "the data's vocabulary (%u) is larger than the model's (%d)",
                     fp4_loader_vocab(train), tc->model.V);
    if (s == FP4_OK) s = mkdir_p(tc->out_dir);
    if (s == FP4_OK) s = fp4_model_create(ctx, &tc->model, &mo, tc->seed, &m);
    if (s == FP4_OK) s = fp4_optim_create(ctx, &m, &o);
    if (s == FP4_OK && !(batch = malloc(sizeof(int32_t) * (size_t)B * (T + 1))))
        s = fp4_fail(FP4_ERR_NOMEM, "batch buffer");
    fp4_ckpt_state cs;
    memset(&cs, 0, sizeof cs);
    cs.seed = tc->seed;
    cs.optim = tc->optim;
    if (s == FP4_OK && tc->resume) {
        fp4_model_config fc;
        fp4_recipe fr;
        fp4_layer_policy fpo;
        s = fp4_ckpt_read_config(ckpt, &fc, &fr, &fpo, &cs);
        if (s == FP4_OK && (!fp4_recipe_equal(&fr, &mo.recipe) || fpo.bf16_first != mo.policy.bf16_first ||
                            fpo.bf16_last != mo.policy.bf16_last))
            s = fp4_fail(FP4_ERR_FORMAT, "checkpoint %s was trained with another recipe or policy", ckpt);
        if (s == FP4_OK && cs.seed != tc->seed)
            s = fp4_fail(FP4_ERR_FORMAT, "checkpoint %s was trained with seed %llu, not %llu", ckpt,
                         (unsigned long long)cs.seed, (unsigned long long)tc->seed);
        if (s == FP4_OK) s = fp4_ckpt_load(ctx, ckpt, &m, &o, &cs);
        if (s == FP4_OK && !cs.have_pos) s = fp4_fail(FP4_ERR_FORMAT, "checkpoint %s has no loader position", ckpt);
        if (s == FP4_OK) s = fp4_loader_seek(train, &cs.pos);
        if (s == FP4_OK) {
            cs.optim = tc->optim;
            snprintf(res->checkpoint, sizeof res->checkpoint, "%s", ckpt);
            res->first_loss = cs.first_loss;
        }
    }
    const int64_t start = cs.step;
    if (s == FP4_OK) {
        snprintf(path, sizeof path, "%s/metrics.csv", tc->out_dir);
        if (tc->resume) truncate_metrics(path, start, 0);
        csv = fopen(path, tc->resume ? "a" : "w");
        snprintf(path, sizeof path, "%s/metrics.jsonl", tc->out_dir);
        if (tc->resume) truncate_metrics(path, start, 1);
        jsl = fopen(path, tc->resume ? "a" : "w");
        if (!csv || !jsl) s = fp4_fail(FP4_ERR_IO, "cannot write metrics in %s: %s", tc->out_dir, strerror(errno));
        else if (!tc->resume) fprintf(csv, "step,tokens,loss,val_loss,lr,grad_norm,tokens_per_s,elapsed_s\n");
    }
    const int64_t steps = tc->optim.steps;
    const int64_t end = tc->stop_after > 0 && tc->stop_after < steps ? tc->stop_after : steps;
    const double t0 = now_s();
    const int64_t tok_per_step = (int64_t)tc->accum * B * T;
    for (int64_t step = start; s == FP4_OK && step < end; step++) {
        const double ts = now_s();
        s = fp4_model_zero_grad(ctx, &m);
        double lsum = 0.0;
        for (int k = 0; s == FP4_OK && k < tc->accum; k++) {
            int rows = 0;
            float l = 0.0f;
            s = fp4_loader_next(train, batch, &rows);
            if (s == FP4_OK)
                s = fp4_model_forward(ctx, &m, batch, batch + 1, T + 1, rows, (uint32_t)(step * tc->accum + k), &l);
            if (s == FP4_OK && !isfinite(l)) {
                res->nonfinite_step = step + 1;
                s = fp4_fail(FP4_ERR_NONFINITE, "non-finite loss (%g) at step %lld; stopped, last good checkpoint: %s",
                             (double)l, (long long)step + 1, res->checkpoint[0] ? res->checkpoint : "(none)");
                break;
            }
            if (s == FP4_OK) s = fp4_model_backward(ctx, &m, 1.0f / (float)tok_per_step);
            lsum += l;
        }
        float gn = 0.0f, lr = 0.0f;
        if (s == FP4_OK) {
            s = fp4_optim_step(ctx, &o, &m, &tc->optim, &gn, &lr);
            if (s == FP4_ERR_NONFINITE) {
                res->nonfinite_step = step + 1;
                s = fp4_fail_context(s, "stopped at step %lld, last good checkpoint: %s", (long long)step + 1,
                                     res->checkpoint[0] ? res->checkpoint : "(none)");
            }
        }
        if (s != FP4_OK) break;
        const float loss = (float)(lsum / tc->accum);
        if (step == 0) res->first_loss = cs.first_loss = loss;
        res->last_loss = loss;
        res->steps_done = step + 1;
        const double el = now_s() - t0, dt = now_s() - ts;
        fp4_train_progress pr = {step + 1, steps, loss, lr, gn, dt > 0 ? tok_per_step / dt : 0.0, el,
                                 el / (double)(step + 1 - start) * (double)(end - step - 1), 0, NAN,
                                 cuda ? "cuda" : "cpu"};
        if (tc->progress) tc->progress(&pr, tc->user);
        double vl = NAN;
        if ((tc->eval_every > 0 && (step + 1) % tc->eval_every == 0) || step + 1 == steps) {
            s = evaluate(ctx, &m, val, batch, tc->eval_batches, (uint32_t)(step * tc->accum), &vl, NULL);
            if (s != FP4_OK) break;
            res->val_loss = (float)vl;
            pr.is_eval = 1;
            pr.val_loss = (float)vl;
            if (tc->progress) tc->progress(&pr, tc->user);
        }
        fprintf(csv, "%lld,%lld,%.6f,%s%.6f,%.6g,%.6g,%.1f,%.3f\n", (long long)step + 1,
                (long long)((step + 1) * tok_per_step), (double)loss, "", isnan(vl) ? NAN : vl, (double)lr, (double)gn,
                pr.tokens_per_s, el);
        if (isnan(vl))
            fprintf(jsl, "{\"step\":%lld,\"tokens\":%lld,\"loss\":%.6f,\"val_loss\":null,\"lr\":%.6g,\"grad_norm\":%.6g,"
                    "\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f}\n", (long long)step + 1,
                    (long long)((step + 1) * tok_per_step), (double)loss, (double)lr, (double)gn, pr.tokens_per_s, el);
        else
            fprintf(jsl, "{\"step\":%lld,\"tokens\":%lld,\"loss\":%.6f,\"val_loss\":%.6f,\"lr\":%.6g,\"grad_norm\":%.6g,"
                    "\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f}\n", (long long)step + 1,
                    (long long)((step + 1) * tok_per_step), (double)loss, vl, (double)lr, (double)gn, pr.tokens_per_s, el);
        fflush(csv);
        fflush(jsl);
        if ((tc->ckpt_every > 0 && (step + 1) % tc->ckpt_every == 0) || step + 1 == end) {
            cs.step = step + 1;
            fp4_loader_tell(train, &cs.pos);
            cs.have_pos = 1;
            s = fp4_ckpt_save(ctx, ckpt, &m, &o, &cs);
            if (s == FP4_OK) snprintf(res->checkpoint, sizeof res->checkpoint, "%s", ckpt);
        }
    }
    if (csv) fclose(csv);
    if (jsl) fclose(jsl);
    free(batch);
    fp4_optim_free(&o);
    fp4_model_free(&m);
    fp4_loader_close(train);
    fp4_loader_close(val);
    if (ctx) fp4_context_destroy(ctx);
    return s;
}
