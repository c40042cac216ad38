/* examples/fp4_train.c — the `fp4 train` subcommand: train a GPT or an MLP language model on token
 * shards with a recipe (fp4kit/train.h, docs/training.md). Prints a progress line per step on
 * stderr (step, loss, lr, tokens/s, ETA) and the validation loss at each evaluation; the library
 * writes OUT/metrics.csv, OUT/metrics.jsonl and OUT/ckpt.safetensors.
 *
 *   fp4 train --model gpt --recipe nvfp4 --data build/data/shards/byte --out runs/gpt --steps 200
 * Exit codes: 0 ok, 1 runtime error (including a non-finite loss), 2 usage error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp4_cli.h"
#include "fp4kit/data.h"
#include "fp4kit/train.h"

void fp4_cmd_train_usage(FILE *out) {
    fprintf(out,
            "usage: fp4 train --data DIR --out DIR [options]\n"
            "\n"
            "model:    --model gpt|mlp (gpt)  --width C (64)  --layers L (2)  --heads NH (4)  --seq T (64)\n"
            "          --mlp-ratio R (4)  --act gelu|relu2 (gelu)  --tied 0|1 (gpt 1, mlp 0)  --window W (mlp, 8)\n"
            "          --vocab V (default: the data's)  --rope-theta F (10000)\n"
            "recipe:   --recipe STR (nvfp4; see docs/recipes.md)  --policy STR (\"\", e.g. bf16-last=1)\n"
            "          --mode auto|plain|fake|true (auto: plain for fp32/bf16, else fake on cpu, true on cuda)\n"
            "data:     --data DIR  --corpus NAME (pretrain: DIR/NAME_train.bin, DIR/NAME_val.bin)\n"
            "training: --steps N (200)  --batch B (8)  --accum K (1)  --lr F (3e-3)  --min-lr-frac F (0.1)\n"
            "          --warmup N (20)  --schedule cosine|wsd (cosine)  --decay-frac F (wsd, 0.2)\n"
            "          --wd F (0.1)  --beta1 F (0.9)  --beta2 F (0.95)  --clip F (1.0, 0 = off)  --seed N (1337)\n"
            "          --device auto|cpu|cuda (auto)\n"
            "output:   --out DIR  --eval-every N (50)  --eval-batches N (20, 0 = whole val split)\n"
            "          --ckpt-every N (100)  --resume (continue from OUT/ckpt.safetensors; the model\n"
            "          config comes from the checkpoint)  --stop-after N (stop after step N, as if interrupted)\n"
            "          --quiet (no per-step progress lines)\n"
            "\n"
            "writes OUT/metrics.csv, OUT/metrics.jsonl, OUT/ckpt.safetensors; plot with tools/plot-loss.sh OUT...\n"
            "exit status: 0 success, 1 runtime error (a non-finite loss stops the run, keeping the last\n"
            "good checkpoint), 2 usage error\n");
}

static void fmt_time(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e8) { snprintf(buf, cap, "?"); return; }
    const long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, cap, "%lds", t);
}

static int quiet;

static void progress(const fp4_train_progress *p, void *user) {
    (void)user;
    char eta[32], el[32];
    fmt_time(p->eta_s, eta, sizeof eta);
    fmt_time(p->elapsed_s, el, sizeof el);
    if (p->is_eval) {
        fprintf(stderr, "step %6lld/%lld | val loss %.4f | ppl %.2f | elapsed %s\n", (long long)p->step,
                (long long)p->steps, (double)p->val_loss, exp((double)p->val_loss), el);
        return;
    }
    if (quiet && p->step != p->steps && p->step % 50 != 0 && p->step != 1) return;
    fprintf(stderr, "step %6lld/%lld | loss %.4f | lr %.2e | norm %.3f | %.0f tok/s | %s | ETA %s\n", (long long)p->step,
            (long long)p->steps, (double)p->loss, (double)p->lr, (double)p->grad_norm, p->tokens_per_s, p->device, eta);
}

static int parse_i64(const char *cmd, const char *name, const char *v, long long lo, long long hi, long long *out) {
    char *end = NULL;
    const long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fp4_cli_usage_error(cmd, "%s '%s': expected an integer in [%lld, %lld]", name, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_f(const char *cmd, const char *name, const char *v, float *out) {
    char *end = NULL;
    const float x = strtof(v, &end);
    if (!*v || *end || !isfinite(x)) {
        fp4_cli_usage_error(cmd, "%s '%s': expected a number", name, v);
        return -1;
    }
    *out = x;
    return 0;
}

int fp4_cmd_train(int argc, char **argv) {
    static const char cmd[] = "train";
    const char *model = "gpt";
    for (int i = 1; i < argc; i++) /* the model kind picks the defaults, so find it first */
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[i + 1];
        else if (!strncmp(argv[i], "--model=", 8)) model = argv[i] + 8;
    fp4_model_kind kind;
    if (fp4_model_kind_parse(model, &kind) != FP4_OK) return fp4_cli_usage_error(cmd, "--model '%s': gpt or mlp", model);
    fp4_train_config tc = fp4_train_config_default(kind);
    /* model flags given explicitly (applied over a resumed checkpoint's config) */
    struct { const char *name; int *dst; long long lo, hi; const char *v; } ints[] = {
        {"--width", &tc.model.C, 2, 65536, NULL},      {"--layers", &tc.model.L, 1, 1024, NULL},
        {"--heads", &tc.model.NH, 1, 1024, NULL},      {"--seq", &tc.model.T, 1, 65536, NULL},
        {"--mlp-ratio", &tc.model.mlp_ratio, 1, 64, NULL}, {"--tied", &tc.model.tied, 0, 1, NULL},
        {"--window", &tc.model.W, 1, 4096, NULL},      {"--vocab", &tc.model.V, 2, 1 << 24, NULL},
        {"--batch", &tc.B, 1, 65536, NULL},            {"--accum", &tc.accum, 1, 65536, NULL},
    };
    const size_t n_ints = sizeof ints / sizeof ints[0];
    const char *act = NULL, *rope = NULL, *mode = "auto", *device = "auto", *schedule = NULL;
    long long v64;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r = 0;
        size_t k;
        for (k = 0; k < n_ints; k++)
            if ((r = fp4_cli_opt(cmd, argc, argv, &i, ints[k].name, &ints[k].v)) != 0) break;
        if (r < 0) return FP4_EXIT_USAGE;
        if (r > 0) continue;
#define OPT(name) ((r = fp4_cli_opt(cmd, argc, argv, &i, name, &v)) != 0)
#define CHECK() if (r < 0) return FP4_EXIT_USAGE
        if (OPT("--model")) { CHECK(); }
        else if (OPT("--recipe")) { CHECK(); snprintf(tc.recipe, sizeof tc.recipe, "%s", v); }
        else if (OPT("--policy")) { CHECK(); snprintf(tc.policy, sizeof tc.policy, "%s", v); }
        else if (OPT("--mode")) { CHECK(); mode = v; }
        else if (OPT("--data")) { CHECK(); tc.data_dir = v; }
        else if (OPT("--corpus")) { CHECK(); tc.corpus = v; }
        else if (OPT("--out")) { CHECK(); tc.out_dir = v; }
        else if (OPT("--act")) { CHECK(); act = v; }
        else if (OPT("--rope-theta")) { CHECK(); rope = v; }
        else if (OPT("--device")) { CHECK(); device = v; }
        else if (OPT("--schedule")) { CHECK(); schedule = v; }
        else if (OPT("--steps")) { CHECK(); if (parse_i64(cmd, "--steps", v, 1, 1ll << 31, &v64)) return FP4_EXIT_USAGE; tc.optim.steps = v64; }
        else if (OPT("--warmup")) { CHECK(); if (parse_i64(cmd, "--warmup", v, 0, 1ll << 31, &v64)) return FP4_EXIT_USAGE; tc.optim.warmup = v64; }
        else if (OPT("--eval-every")) { CHECK(); if (parse_i64(cmd, "--eval-every", v, 0, 1ll << 31, &v64)) return FP4_EXIT_USAGE; tc.eval_every = v64; }
        else if (OPT("--eval-batches")) { CHECK(); if (parse_i64(cmd, "--eval-batches", v, 0, 1ll << 31, &v64)) return FP4_EXIT_USAGE; tc.eval_batches = v64; }
        else if (OPT("--ckpt-every")) { CHECK(); if (parse_i64(cmd, "--ckpt-every", v, 0, 1ll << 31, &v64)) return FP4_EXIT_USAGE; tc.ckpt_every = v64; }
        else if (OPT("--stop-after")) { CHECK(); if (parse_i64(cmd, "--stop-after", v, 0, 1ll << 31, &v64)) return FP4_EXIT_USAGE; tc.stop_after = v64; }
        else if (OPT("--seed")) { CHECK(); if (parse_i64(cmd, "--seed", v, 0, 0x7fffffffffffffffll, &v64)) return FP4_EXIT_USAGE; tc.seed = (uint64_t)v64; }
        else if (OPT("--lr")) { CHECK(); if (parse_f(cmd, "--lr", v, &tc.optim.lr)) return FP4_EXIT_USAGE; }
        else if (OPT("--min-lr-frac")) { CHECK(); if (parse_f(cmd, "--min-lr-frac", v, &tc.optim.min_lr_frac)) return FP4_EXIT_USAGE; }
        else if (OPT("--decay-frac")) { CHECK(); if (parse_f(cmd, "--decay-frac", v, &tc.optim.decay_frac)) return FP4_EXIT_USAGE; }
        else if (OPT("--wd")) { CHECK(); if (parse_f(cmd, "--wd", v, &tc.optim.weight_decay)) return FP4_EXIT_USAGE; }
        else if (OPT("--beta1")) { CHECK(); if (parse_f(cmd, "--beta1", v, &tc.optim.beta1)) return FP4_EXIT_USAGE; }
        else if (OPT("--beta2")) { CHECK(); if (parse_f(cmd, "--beta2", v, &tc.optim.beta2)) return FP4_EXIT_USAGE; }
        else if (OPT("--clip")) { CHECK(); if (parse_f(cmd, "--clip", v, &tc.optim.clip)) return FP4_EXIT_USAGE; }
        else if (!strcmp(argv[i], "--resume")) tc.resume = 1;
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else return fp4_cli_usage_error(cmd, "unknown argument '%s'", argv[i]);
#undef OPT
#undef CHECK
    }
    if (!tc.data_dir) return fp4_cli_usage_error(cmd, "--data DIR is required");
    if (!tc.out_dir) return fp4_cli_usage_error(cmd, "--out DIR is required");
    fp4_device_choice dc;
    if (fp4_device_choice_parse(device, &dc) != FP4_OK) return fp4_cli_usage_error(cmd, "%s", fp4_last_error());
    tc.device = dc;
    if (!strcmp(mode, "auto")) tc.mode = -1;
    else {
        fp4_linear_mode lm;
        if (fp4_linear_mode_parse(mode, &lm) != FP4_OK) return fp4_cli_usage_error(cmd, "--mode '%s': auto, plain, fake or true", mode);
        tc.mode = (int)lm;
    }
    if (schedule && fp4_schedule_parse(schedule, &tc.optim.schedule) != FP4_OK)
        return fp4_cli_usage_error(cmd, "%s", fp4_last_error());
    if (tc.optim.warmup > tc.optim.steps) tc.optim.warmup = tc.optim.steps; /* short runs keep the default sane */
    /* the model config: a resumed checkpoint's, else the defaults; explicit flags on top */
    if (tc.resume) {
        char ck[1024], rs[256], ps[64];
        snprintf(ck, sizeof ck, "%s/ckpt.safetensors", tc.out_dir);
        fp4_status st = fp4_checkpoint_info(ck, &tc.model, rs, sizeof rs, ps, sizeof ps, NULL, NULL);
        if (st != FP4_OK) return fp4_cli_fail(cmd, st, "--resume");
    } else if (!ints[7].v) { /* vocabulary from the data */
        char path[1024];
        snprintf(path, sizeof path, "%s/%s_train.bin", tc.data_dir, tc.corpus);
        const char *paths[1] = {path};
        fp4_loader *L = NULL;
        fp4_status st = fp4_loader_open(paths, 1, 1, 1, FP4_LOADER_SEQUENTIAL, 0, &L);
        if (st != FP4_OK) return fp4_cli_fail(cmd, st, path);
        tc.model.V = (int)fp4_loader_vocab(L);
        fp4_loader_close(L);
    }
    for (size_t k = 0; k < n_ints; k++)
        if (ints[k].v) {
            long long x;
            if (parse_i64(cmd, ints[k].name, ints[k].v, ints[k].lo, ints[k].hi, &x)) return FP4_EXIT_USAGE;
            *ints[k].dst = (int)x;
        }
    if (act && fp4_act_kind_parse(act, &tc.model.act) != FP4_OK) return fp4_cli_usage_error(cmd, "%s", fp4_last_error());
    if (rope && parse_f(cmd, "--rope-theta", rope, &tc.model.rope_theta)) return FP4_EXIT_USAGE;
    fp4_status st = fp4_train_config_validate(&tc);
    if (st != FP4_OK) return fp4_cli_usage_error(cmd, "%s", fp4_last_error());
    char mc[512];
    fp4_model_config_print(&tc.model, mc, sizeof mc);
    fprintf(stderr, "fp4 train: %s\nfp4 train: recipe %s, policy '%s', mode %s, batch %d x %d x accum %d, %lld steps%s\n",
            mc, tc.recipe, tc.policy, mode, tc.B, tc.model.T, tc.accum, (long long)tc.optim.steps,
            tc.resume ? " (resuming)" : "");
    tc.progress = progress;
    fp4_train_result res;
    st = fp4_train_run(&tc, &res);
    if (st != FP4_OK) {
        if (res.nonfinite_step >= 0)
            fprintf(stderr, "fp4 train: non-finite loss at step %lld; last good checkpoint: %s\n",
                    (long long)res.nonfinite_step, res.checkpoint[0] ? res.checkpoint : "(none)");
        return fp4_cli_fail(cmd, st, "training");
    }
    fprintf(stderr, "fp4 train: done, %lld steps, loss %.4f -> %.4f", (long long)res.steps_done,
            (double)res.first_loss, (double)res.last_loss);
    if (!isnan(res.val_loss)) fprintf(stderr, ", val loss %.4f", (double)res.val_loss);
    fprintf(stderr, "\nfp4 train: checkpoint %s\nfp4 train: metrics %s/metrics.csv (plot: tools/plot-loss.sh %s)\n",
            res.checkpoint, tc.out_dir, tc.out_dir);
    return FP4_EXIT_OK;
}
