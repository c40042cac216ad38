/* qat/sample.c — using a checkpoint: fp4_eval_run (mean validation loss over the sequential val
 * loader) and fp4_sample_run (autoregressive generation with temperature and top-k from a seeded
 * generator). Both rebuild the model from the checkpoint's config, recipe and policy on the chosen
 * device, so a checkpoint trained on the GPU evaluates on the CPU and vice versa.
 * Generation runs the full T-position forward for each new token on the last min(len, T) tokens
 * (causal, so the padding after them does not matter) — simple, O(T) per token, fine for the
 * small models this trainer targets.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_impl.h"

/* Model + context from a checkpoint, for B rows. */
static fp4_status open_ckpt(const char *ckpt, fp4_device_choice dev, int B, fp4_context **ctx, fp4_model *m) {
    fp4_model_config cfg;
    fp4_model_options mo;
    fp4_ckpt_state st;
    memset(&mo, 0, sizeof mo);
    FP4_TRY(fp4_ckpt_read_config(ckpt, &cfg, &mo.recipe, &mo.policy, &st));
    FP4_TRY(fp4_train_open_device(dev, ctx));
    const int q = fp4_recipe_is_quantized(&mo.recipe);
    mo.mode = !q ? FP4_LINEAR_PLAIN : fp4_context_is_cuda(*ctx) ? FP4_LINEAR_TRUE : FP4_LINEAR_FAKE;
    mo.seed = st.seed;
    mo.Bmax = B;
    fp4_status s = fp4_model_create(*ctx, &cfg, &mo, 0, m);
    if (s == FP4_OK) s = fp4_ckpt_load(*ctx, ckpt, m, NULL, NULL);
    if (s != FP4_OK) {
        fp4_model_free(m);
        if (*ctx) fp4_context_destroy(*ctx);
        *ctx = NULL;
    }
    return s;
}

fp4_status fp4_eval_run(const char *ckpt, const char *data_dir, const char *corpus, fp4_device_choice dev, int B,
                        int64_t max_batches, double *loss, int64_t *tokens) {
    if (!ckpt || !data_dir || !loss) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_eval_run: NULL argument");
    if (B < 1) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_eval_run: batch %d < 1", B);
    fp4_context *ctx = NULL;
    fp4_model m;
    FP4_TRY(open_ckpt(ckpt, dev, B, &ctx, &m));
    const int T = m.cfg.T;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s_val.bin", data_dir, corpus ? corpus : "pretrain");
    const char *paths[1] = {path};
    fp4_loader *L = NULL;
    int32_t *batch = malloc(sizeof(int32_t) * (size_t)B * (T + 1));
    fp4_status s = batch ? fp4_loader_open(paths, 1, B, T, FP4_LOADER_SEQUENTIAL, 0, &L)
                         : fp4_fail(FP4_ERR_NOMEM, "batch");
    if (s != FP4_OK) s = fp4_fail_context(s, "val split %s", path);
    if (s == FP4_OK && fp4_loader_vocab(L) > (uint32_t)m.cfg.V)
        s = fp4_fail(FP4_ERR_INVALID_ARG, "%s has vocabulary %u but the checkpoint's model has %d", path,
                     fp4_loader_vocab(L), m.cfg.V);
    double sum = 0.0;
    int64_t n = 0;
    for (int64_t k = 0; s == FP4_OK && (max_batches == 0 || k < max_batches); k++) {
        int rows = 0;
        float l;
        s = fp4_loader_next(L, batch, &rows);
        if (s != FP4_OK || rows == 0) break;
        s = fp4_model_forward(ctx, &m, batch, batch + 1, T + 1, rows, 0, &l);
        sum += (double)l * rows * T;
        n += (int64_t)rows * T;
    }
    if (s == FP4_OK && n == 0) s = fp4_fail(FP4_ERR_SHAPE, "%s has no window of %d tokens", path, T + 1);
    if (s == FP4_OK) {
        *loss = sum / (double)n;
        if (tokens) *tokens = n;
    }
    fp4_loader_close(L);
    free(batch);
    fp4_model_free(&m);
    if (ctx) fp4_context_destroy(ctx);
    return s;
}

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Pick a token from logits[0, V): greedy for temperature 0, else softmax(logits/temperature)
 * restricted to the top_k largest (ties: lower id first). */
static int32_t pick(const float *logits, int V, float temperature, int top_k, uint64_t *rng, double *prob) {
    int best = 0;
    for (int j = 1; j < V; j++)
        if (logits[j] > logits[best]) best = j;
    if (temperature <= 0.0f) return best;
    float cut = -INFINITY;
    if (top_k > 0 && top_k < V) { /* the k-th largest value, by partial selection on a copy */
        float *c = malloc(sizeof(float) * (size_t)V);
        if (c) {
            memcpy(c, logits, sizeof(float) * (size_t)V);
            for (int i = 0; i < top_k; i++) {
                int b = i;
                for (int j = i + 1; j < V; j++)
                    if (c[j] > c[b]) b = j;
                const float t = c[i];
                c[i] = c[b];
                c[b] = t;
            }
            cut = c[top_k - 1];
            free(c);
        }
    }
    double z = 0.0;
    for (int j = 0; j < V; j++)
        if (logits[j] >= cut) z += exp((double)(logits[j] - logits[best]) / temperature);
    const double u = (double)(rng_next(rng) >> 11) * 0x1.0p-53 * z;
    double acc = 0.0;
    for (int j = 0; j < V; j++) {
        if (logits[j] < cut) continue;
        acc += exp((double)(logits[j] - logits[best]) / temperature);
        if (acc > u) {
            if (prob) *prob = exp((double)(logits[j] - logits[best]) / temperature) / z;
            return j;
        }
    }
    return best;
}

fp4_status fp4_sample_run(const char *ckpt, const char *prompt, int64_t n, float temperature, int top_k, uint64_t seed,
                          fp4_device_choice dev, const char *gpt2_dir, char **text) {
    if (!ckpt || !text) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_sample_run: NULL argument");
    if (n < 0 || !(temperature >= 0.0f) || top_k < 0)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_sample_run: tokens %lld, temperature %g, top-k %d", (long long)n,
                        (double)temperature, top_k);
    *text = NULL;
    fp4_context *ctx = NULL;
    fp4_model m;
    FP4_TRY(open_ckpt(ckpt, dev, 1, &ctx, &m));
    fp4_tokenizer *tok = NULL;
    fp4_status s;
    if (m.cfg.V == 256) {
        s = fp4_tokenizer_byte(&tok);
    } else if (gpt2_dir) {
        char e[1024], v[1024];
        snprintf(e, sizeof e, "%s/encoder.json", gpt2_dir);
        snprintf(v, sizeof v, "%s/vocab.bpe", gpt2_dir);
        s = fp4_tokenizer_gpt2(e, v, &tok);
        if (s == FP4_OK && fp4_tokenizer_vocab(tok) > (uint32_t)m.cfg.V)
            s = fp4_fail(FP4_ERR_INVALID_ARG, "the GPT-2 tokenizer has %u tokens but the model only %d",
                         fp4_tokenizer_vocab(tok), m.cfg.V);
    } else {
        s = fp4_fail(FP4_ERR_INVALID_ARG, "the checkpoint's vocabulary is %d (not the byte tokenizer's 256): give the "
                     "GPT-2 tokenizer files (--gpt2-dir DIR with encoder.json and vocab.bpe)", m.cfg.V);
    }
    fp4_tokens ids = {0};
    if (s == FP4_OK) s = fp4_tokens_push(&ids, fp4_tokenizer_eot(tok));
    const size_t n_prompt_start = 1;
    if (s == FP4_OK && prompt && *prompt) s = fp4_tokenizer_encode(tok, prompt, strlen(prompt), &ids);
    const int T = m.cfg.T;
    int32_t *row = calloc((size_t)T + 1, sizeof(int32_t));
    float *logits = malloc(sizeof(float) * (size_t)m.Vp);
    if (s == FP4_OK && (!row || !logits)) s = fp4_fail(FP4_ERR_NOMEM, "sampling buffers");
    uint64_t rng = seed ^ 0x243f6a8885a308d3ull;
    for (int64_t i = 0; s == FP4_OK && i < n; i++) {
        const size_t len = ids.n, w = len < (size_t)T ? len : (size_t)T;
        memset(row, 0, sizeof(int32_t) * (size_t)T);
        for (size_t j = 0; j < w; j++) row[j] = (int32_t)ids.ids[len - w + j];
        s = fp4_model_forward(ctx, &m, row, NULL, T, 1, 0, NULL);
        if (s == FP4_OK) s = fp4_model_logits(ctx, &m, 0, (int)w - 1, logits);
        if (s == FP4_OK) s = fp4_tokens_push(&ids, (uint32_t)pick(logits, m.cfg.V, temperature, top_k, &rng, NULL));
    }
    if (s == FP4_OK) {
        /* drop end-of-text tokens (the leading one, and any generated: shown as a blank line) */
        const uint32_t eot = fp4_tokenizer_eot(tok);
        fp4_tokens out = {0};
        for (size_t j = n_prompt_start; s == FP4_OK && j < ids.n; j++) {
            if (ids.ids[j] == eot) {
                s = fp4_tokens_push(&out, (uint32_t)'\n');
                if (fp4_tokenizer_vocab(tok) != 256) out.n--; /* no byte token: skip */
            } else {
                s = fp4_tokens_push(&out, ids.ids[j]);
            }
        }
        size_t tl = 0;
        if (s == FP4_OK) s = fp4_tokenizer_decode(tok, out.ids, out.n, text, &tl);
        fp4_tokens_free(&out);
    }
    fp4_tokens_free(&ids);
    free(row);
    free(logits);
    fp4_tokenizer_free(tok);
    fp4_model_free(&m);
    if (ctx) fp4_context_destroy(ctx);
    return s;
}
