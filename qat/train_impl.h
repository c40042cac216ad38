/* qat/train_impl.h — private to qat/: the optimizer state (qat/optim.c) and the checkpoint format
 * (qat/checkpoint.c) shared by the trainer (qat/train.c), evaluation and sampling (qat/sample.c)
 * and the tests.
 */
#ifndef FP4KIT_QAT_TRAIN_IMPL_H
#define FP4KIT_QAT_TRAIN_IMPL_H

#include <stdint.h>

#include "fp4kit/data.h"
#include "fp4kit/train.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* AdamW state: m and v [n_params] FP32 at the model's location; t = updates applied. */
typedef struct fp4_optim {
    float *m, *v;
    size_t n;
    int64_t t;
    fp4_location loc;
} fp4_optim;

fp4_status fp4_optim_create(fp4_context *ctx, const fp4_model *model, fp4_optim *o);
void fp4_optim_free(fp4_optim *o);
/* One optimizer step on the model's accumulated gradients (already scaled to the mean loss):
 * global norm (*grad_norm), clip factor min(1, clip/norm), lr from the schedule at o->t, AdamW with
 * t = o->t + 1. A non-finite norm returns FP4_ERR_NONFINITE before touching anything. */
fp4_status fp4_optim_step(fp4_context *ctx, fp4_optim *o, fp4_model *model, const fp4_optim_config *oc,
                          float *grad_norm, float *lr);

/* Checkpoint = one safetensors file:
 *   tensors  every parameter by its model name (F32, its shape), "adamw.m.<name>", "adamw.v.<name>"
 *            (F32, same shape), "loader.pos" (U8 [sizeof(fp4_loader_pos)], the train loader position)
 *   metadata format = "fp4kit-train-v1", model = fp4_model_config_print, recipe = canonical recipe,
 *            policy = canonical policy, mode, step, seed, adamw_t, first_loss, optim (settings as
 *            key=value), checksum_fnv1a64 (FNV-1a 64 over every tensor's bytes in file order).
 * Saved atomically; load checks format, config, recipe/policy (when asked), every name, dtype and
 * shape, and refuses anything else with FP4_ERR_FORMAT and a message naming the mismatch. */
typedef struct fp4_ckpt_state {
    int64_t step;        /* optimizer steps done */
    uint64_t seed;
    fp4_loader_pos pos;  /* train loader position after `step` steps */
    int have_pos;
    float first_loss;
    fp4_optim_config optim;
    int mode;
} fp4_ckpt_state;

fp4_status fp4_ckpt_save(fp4_context *ctx, const char *path, const fp4_model *m, const fp4_optim *o,
                         const fp4_ckpt_state *st);
/* Read the config and recipe/policy of a checkpoint without loading tensors. */
fp4_status fp4_ckpt_read_config(const char *path, fp4_model_config *cfg, fp4_recipe *recipe, fp4_layer_policy *policy,
                                fp4_ckpt_state *st);
/* Load parameters (and, if o != NULL, the AdamW state) into an already created model whose config
 * must equal the file's. */
fp4_status fp4_ckpt_load(fp4_context *ctx, const char *path, fp4_model *m, fp4_optim *o, fp4_ckpt_state *st);

/* Context for a device choice (auto: CUDA when built and a device exists). *ctx NULL = host. */
fp4_status fp4_train_open_device(fp4_device_choice d, fp4_context **ctx);

#ifdef __cplusplus
}
#endif
#endif
