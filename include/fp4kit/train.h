/* fp4kit/train.h — the language-model trainer: model configs (GPT, MLP LM), optimizer settings and
 * learning-rate schedules, and three entry points — train (with checkpoints and resume), evaluate
 * a checkpoint on a validation shard, sample text from a checkpoint. docs/training.md has the
 * models' shapes, the checkpoint contents and the resume guarantee.
 *
 *   fp4_train_config tc = fp4_train_config_default(FP4_MODEL_GPT);
 *   tc.data_dir = "build/data/shards/byte"; tc.out_dir = "runs/gpt";
 *   fp4_train_result r;
 *   if (fp4_train_run(&tc, &r) != FP4_OK) fprintf(stderr, "%s\n", fp4_last_error());
 *
 * Data: DIR/<corpus>_train.bin and DIR/<corpus>_val.bin (token shards, fp4kit/data.h); corpus
 * "pretrain" by default. The library never prints: progress goes to the optional callback; files
 * go to out_dir (metrics.csv, metrics.jsonl, ckpt.safetensors).
 */
#ifndef FP4KIT_TRAIN_H
#define FP4KIT_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "fp4kit/linear.h"
#include "fp4kit/recipe.h"
#include "fp4kit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fp4_model_kind { FP4_MODEL_GPT = 0, FP4_MODEL_MLP = 1 } fp4_model_kind;
typedef enum fp4_act_kind { FP4_ACT_GELU = 0, FP4_ACT_RELU2 = 1 } fp4_act_kind;

/* Everything that fixes the parameter shapes (stored in checkpoints; must match to load). */
typedef struct fp4_model_config {
    fp4_model_kind kind;
    int V;          /* vocabulary (tokens 0..V-1); Vp = V rounded up to a multiple of 64 */
    int T;          /* sequence length: positions per row (GPT: the RoPE context) */
    int C;          /* width: GPT residual width; MLP embedding width per token */
    int L;          /* GPT blocks / MLP hidden layers (>= 1) */
    int NH;         /* GPT heads (C % NH == 0, head size even); MLP: 1 */
    int mlp_ratio;  /* hidden width H = mlp_ratio * C (GPT MLP; MLP LM hidden layers) */
    int W;          /* MLP context window in tokens; GPT: 0 */
    fp4_act_kind act;
    int tied;       /* LM head shares wte */
    float rope_theta, norm_eps;
} fp4_model_config;

/* GPT defaults (V 256, T 64, C 64, L 2, NH 4, ratio 4, gelu, tied, theta 10000, eps 1e-5) or MLP
 * defaults (NH 1, W 8, untied). */
fp4_model_config fp4_model_config_default(fp4_model_kind kind);
/* Check ranges and divisibility; messages name the field. */
fp4_status fp4_model_config_validate(const fp4_model_config *c);
/* "model=gpt,vocab=256,seq=64,width=64,layers=2,heads=4,mlp_ratio=4,window=0,act=gelu,tied=1,
 *  rope_theta=10000,norm_eps=9.99999975e-06" and its parser (every key exactly once). */
fp4_status fp4_model_config_print(const fp4_model_config *c, char *buf, size_t cap);
fp4_status fp4_model_config_parse(const char *s, fp4_model_config *out);
const char *fp4_model_kind_name(fp4_model_kind k);
const char *fp4_act_kind_name(fp4_act_kind a);
fp4_status fp4_model_kind_parse(const char *s, fp4_model_kind *out);
fp4_status fp4_act_kind_parse(const char *s, fp4_act_kind *out);

/* ---- optimizer and schedule ------------------------------------------------------------------ */

typedef enum fp4_schedule { FP4_SCHED_COSINE = 0, FP4_SCHED_WSD = 1 } fp4_schedule;
const char *fp4_schedule_name(fp4_schedule s); /* "cosine", "wsd" */
fp4_status fp4_schedule_parse(const char *s, fp4_schedule *out);

typedef struct fp4_optim_config {
    float lr;           /* peak learning rate */
    float min_lr_frac;  /* final lr = min_lr_frac * lr */
    float beta1, beta2, eps, weight_decay;
    float clip;         /* clip the global gradient norm to this (0: no clipping) */
    int64_t warmup;     /* linear warmup steps: lr * (step+1)/warmup */
    int64_t steps;      /* total optimizer steps (the schedule's length) */
    fp4_schedule schedule;
    float decay_frac;   /* WSD: the last decay_frac of the steps decay linearly to min_lr */
} fp4_optim_config;

/* lr 3e-3, min 0.1, betas 0.9/0.95, eps 1e-8, wd 0.1, clip 1, warmup 20, steps 200, cosine, 0.2. */
fp4_optim_config fp4_optim_config_default(void);
fp4_status fp4_optim_config_validate(const fp4_optim_config *o);
/* Learning rate of optimizer step `step` (0-based): warmup, then cosine from lr to min_lr over
 * the remaining steps, or WSD (constant lr, then linear decay over the last decay_frac). */
float fp4_lr_at(const fp4_optim_config *o, int64_t step);

/* ---- training ------------------------------------------------------------------------------------- */

typedef enum fp4_device_choice { FP4_DEVICE_AUTO = 0, FP4_DEVICE_CPU = 1, FP4_DEVICE_CUDA = 2 } fp4_device_choice;
fp4_status fp4_device_choice_parse(const char *s, fp4_device_choice *out); /* auto|cpu|cuda */

/* Reported after every optimizer step (and after each evaluation, with is_eval set). */
typedef struct fp4_train_progress {
    int64_t step, steps;          /* steps done so far (1-based after the first), total */
    float loss, lr, grad_norm;    /* training loss of this step (mean over its micro-batches) */
    double tokens_per_s, elapsed_s, eta_s;
    int is_eval;
    float val_loss;               /* is_eval: validation loss */
    const char *device;           /* "cpu" or "cuda" */
} fp4_train_progress;

typedef struct fp4_train_config {
    fp4_model_config model;
    char recipe[256];             /* recipe string (fp4kit/recipe.h), e.g. "nvfp4" */
    char policy[64];              /* layer policy, e.g. "bf16-last=1" ("" = none) */
    int mode;                     /* fp4_linear_mode, or -1 = auto (plain for a high-precision recipe,
                                     else fake on the CPU and true on CUDA) */
    const char *data_dir, *corpus, *out_dir;
    int B;                        /* micro-batch rows */
    int accum;                    /* micro-batches per optimizer step */
    fp4_optim_config optim;
    int64_t eval_every;           /* evaluate every N steps and at the end (0: only at the end) */
    int64_t eval_batches;         /* batches of the val split per evaluation (0: the whole split) */
    int64_t ckpt_every;           /* checkpoint every N steps (0: only at the end) */
    uint64_t seed;                /* init, data order and SR */
    fp4_device_choice device;
    int resume;                   /* continue from out_dir/ckpt.safetensors */
    int64_t stop_after;           /* stop (with a checkpoint) after this step, as if interrupted; 0: no */
    void (*progress)(const fp4_train_progress *p, void *user);
    void *user;
} fp4_train_config;

fp4_train_config fp4_train_config_default(fp4_model_kind kind);
/* Everything train would refuse, without touching files: model config, recipe and policy
 * strings, mode vs recipe, batch and schedule values. */
fp4_status fp4_train_config_validate(const fp4_train_config *tc);

typedef struct fp4_train_result {
    int64_t steps_done;
    float first_loss, last_loss, val_loss; /* val_loss NaN if never evaluated */
    int64_t nonfinite_step;               /* step whose loss was NaN/Inf (-1: none) */
    char checkpoint[1024];                /* path of the last good checkpoint ("" if none) */
} fp4_train_result;

/* Train. A non-finite loss (or gradient norm) stops the run before the update is applied, keeps the
 * last good checkpoint, sets res->nonfinite_step and returns FP4_ERR_NONFINITE naming the step. */
fp4_status fp4_train_run(const fp4_train_config *tc, fp4_train_result *res);

/* What a training checkpoint holds: model config, canonical recipe and policy strings, steps done
 * and seed (any pointer may be NULL). FP4_ERR_FORMAT for a file that is not a training checkpoint. */
fp4_status fp4_checkpoint_info(const char *path, fp4_model_config *cfg, char *recipe, size_t recipe_cap, char *policy,
                               size_t policy_cap, int64_t *step, uint64_t *seed);

/* Mean validation loss of a checkpoint over DIR/<corpus>_val.bin (sequential windows; max_batches
 * 0 = all), and the number of target tokens it covered. */
fp4_status fp4_eval_run(const char *ckpt, const char *data_dir, const char *corpus, fp4_device_choice dev, int B,
                        int64_t max_batches, double *loss, int64_t *tokens);

/* Generate n tokens after prompt (text, tokenized with the checkpoint's tokenizer: byte for vocab
 * 256, GPT-2 BPE with files from gpt2_dir otherwise). temperature 0 = greedy; top_k 0 = all.
 * Seeded: the same call gives the same text. *text (malloc'ed, NUL-terminated) is prompt +
 * continuation. */
fp4_status fp4_sample_run(const char *ckpt, const char *prompt, int64_t n, float temperature, int top_k, uint64_t seed,
                          fp4_device_choice dev, const char *gpt2_dir, char **text);

#ifdef __cplusplus
}
#endif
#endif
