/* qat/recipe.c — training recipes (string <-> struct, presets, validation) and the BF16 layer
 * policy; see fp4kit/recipe.h for the grammar and docs/recipes.md for the preset table.
 *
 * A recipe is six operand records op[gemm][operand] (fprop: x, w; dgrad: dy, w; wgrad: dy, x).
 * Printing picks the preset that needs the fewest overrides and writes fully qualified overrides
 * in a fixed order (operands in table order; per operand format first, then block, round, scale,
 * hadamard), so the string is canonical and parses back to the same struct.
 */
#include "fp4kit/recipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------- */
/* names                                                                                            */

static const char *prec_names[] = {"fp32", "bf16", "nvfp4", "mxfp4"};
static const char *gemm_names[] = {"fprop", "dgrad", "wgrad"};
static const char *operand_names[3][2] = {{"x", "w"}, {"dy", "w"}, {"dy", "x"}};

const char *fp4_prec_name(fp4_prec p) { return (unsigned)p < 4u ? prec_names[p] : "?"; }
const char *fp4_gemm_kind_name(fp4_gemm_kind g) { return (unsigned)g < 3u ? gemm_names[g] : "?"; }
const char *fp4_operand_name(fp4_gemm_kind g, int operand) {
    return ((unsigned)g < 3u && (operand == 0 || operand == 1)) ? operand_names[g][operand] : "?";
}

fp4_status fp4_prec_parse(const char *s, fp4_prec *out) {
    if (!s || !out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_prec_parse: NULL argument");
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, prec_names[i])) { *out = (fp4_prec)i; return FP4_OK; }
    return fp4_fail(FP4_ERR_INVALID_ARG, "unknown format '%s' (expected fp32, bf16, nvfp4 or mxfp4)", s);
}

static int is_fp4(fp4_prec p) { return p == FP4_PREC_NVFP4 || p == FP4_PREC_MXFP4; }

/* The defaults that "format=" resets an operand to. */
static fp4_operand_recipe operand_default(fp4_prec p) {
    fp4_operand_recipe o = {p, (fp4_block)0, FP4_ROUND_RNE, FP4_SCALE_NV, 0};
    if (p == FP4_PREC_NVFP4) o.block = FP4_BLOCK_1x16;
    if (p == FP4_PREC_MXFP4) { o.block = FP4_BLOCK_1x32; o.scale = FP4_SCALE_RCEIL; }
    return o;
}

/* ---------------------------------------------------------------------------------------------- */
/* presets                                                                                          */

static const char *preset_names[] = {"fp32", "bf16", "nvfp4", "mxfp4", "nvfp4-no-rht", "nvfp4-no-sr",
                                     "nvfp4-1d-weights", "nvfp4-rtn"};
#define N_PRESETS ((int)(sizeof preset_names / sizeof preset_names[0]))

int fp4_recipe_presets(const char *const **names) {
    if (names) *names = preset_names;
    return N_PRESETS;
}

static void fill_all(fp4_recipe *r, fp4_operand_recipe o) {
    for (int g = 0; g < 3; g++) r->op[g][0] = r->op[g][1] = o;
}

static void make_preset(int i, fp4_recipe *r) {
    memset(r, 0, sizeof *r);
    if (i == 0) { fill_all(r, operand_default(FP4_PREC_FP32)); return; }
    if (i == 1) { fill_all(r, operand_default(FP4_PREC_BF16)); return; }
    if (i == 3) { /* mxfp4: 1x32 rceil everywhere, SR on dY, RHT32 on both Wgrad operands */
        fill_all(r, operand_default(FP4_PREC_MXFP4));
        r->op[FP4_DGRAD][0].rounding = r->op[FP4_WGRAD][0].rounding = FP4_ROUND_SR;
        r->op[FP4_WGRAD][0].hadamard = r->op[FP4_WGRAD][1].hadamard = 32;
        return;
    }
    fill_all(r, operand_default(FP4_PREC_NVFP4)); /* nvfp4-rtn is exactly this */
    if (i == 7) return;
    /* the paper recipe (spec §4, §7.2): 16x16 RNE weights, SR on dY, RHT16 on the Wgrad inputs */
    r->op[FP4_FPROP][1].block = r->op[FP4_DGRAD][1].block = FP4_BLOCK_16x16;
    r->op[FP4_DGRAD][0].rounding = r->op[FP4_WGRAD][0].rounding = FP4_ROUND_SR;
    r->op[FP4_WGRAD][0].hadamard = r->op[FP4_WGRAD][1].hadamard = 16;
    if (i == 4) r->op[FP4_WGRAD][0].hadamard = r->op[FP4_WGRAD][1].hadamard = 0;
    if (i == 5) r->op[FP4_DGRAD][0].rounding = r->op[FP4_WGRAD][0].rounding = FP4_ROUND_RNE;
    if (i == 6) r->op[FP4_FPROP][1].block = r->op[FP4_DGRAD][1].block = FP4_BLOCK_1x16;
}

fp4_status fp4_recipe_preset(const char *name, fp4_recipe *out) {
    if (!name || !out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_recipe_preset: NULL argument");
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcmp(name, preset_names[i])) { make_preset(i, out); return FP4_OK; }
    return fp4_fail(FP4_ERR_INVALID_ARG,
                    "recipe: unknown preset '%s' (expected fp32, bf16, nvfp4, mxfp4, nvfp4-no-rht, nvfp4-no-sr, "
                    "nvfp4-1d-weights or nvfp4-rtn)", name);
}

/* ---------------------------------------------------------------------------------------------- */
/* validation                                                                                       */

fp4_status fp4_operand_config(const fp4_operand_recipe *o, fp4_config *out) {
    if (!o || !out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_operand_config: NULL argument");
    if (!is_fp4(o->prec))
        return fp4_fail(FP4_ERR_INVALID_ARG, "format: %s operand has no quantization config", fp4_prec_name(o->prec));
    fp4_config c = o->prec == FP4_PREC_NVFP4 ? fp4_config_nvfp4() : fp4_config_mxfp4();
    c.block = o->block;
    c.rounding = o->rounding;
    c.scale_rule = o->scale;
    *out = c;
    return FP4_OK;
}

static fp4_status validate_operand(const fp4_operand_recipe *o, int g, int i) {
    const char *gn = gemm_names[g], *on = operand_names[g][i];
    if ((unsigned)o->prec > 3u) return fp4_fail(FP4_ERR_INVALID_ARG, "%s.%s.format: invalid value %d", gn, on, (int)o->prec);
    if (!is_fp4(o->prec)) {
        if (o->block != 0 || o->rounding != FP4_ROUND_RNE || o->scale != FP4_SCALE_NV || o->hadamard != 0)
            return fp4_fail(FP4_ERR_INVALID_ARG,
                            "%s.%s: a %s operand takes no block, round, scale or hadamard (only nvfp4/mxfp4 do)", gn, on,
                            fp4_prec_name(o->prec));
        return FP4_OK;
    }
    fp4_config c;
    FP4_TRY(fp4_operand_config(o, &c));
    if (fp4_config_validate(&c) != FP4_OK) return fp4_fail_context(FP4_ERR_INVALID_ARG, "%s.%s", gn, on);
    if (o->hadamard != 0) {
        if (g != FP4_WGRAD)
            return fp4_fail(FP4_ERR_INVALID_ARG,
                            "%s.%s.hadamard: %d is not allowed; the Hadamard transform applies only to the wgrad "
                            "operands (along tokens, spec §5.3)", gn, on, o->hadamard);
        const int want = o->prec == FP4_PREC_NVFP4 ? 16 : 32;
        if (o->hadamard != want)
            return fp4_fail(FP4_ERR_INVALID_ARG, "%s.%s.hadamard: %d; %s takes hadamard=%d (the block width) or 0", gn,
                            on, o->hadamard, fp4_prec_name(o->prec), want);
        if (o->block == FP4_BLOCK_16x16)
            return fp4_fail(FP4_ERR_INVALID_ARG, "%s.%s.block: 16x16 cannot be combined with hadamard=%d", gn, on,
                            o->hadamard);
    }
    return FP4_OK;
}

fp4_status fp4_recipe_validate(const fp4_recipe *r) {
    if (!r) return fp4_fail(FP4_ERR_INVALID_ARG, "recipe is NULL");
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 2; i++) FP4_TRY(validate_operand(&r->op[g][i], g, i));
    const fp4_operand_recipe *a = &r->op[FP4_WGRAD][0], *b = &r->op[FP4_WGRAD][1];
    if (a->hadamard != b->hadamard)
        return fp4_fail(FP4_ERR_INVALID_ARG,
                        "wgrad.hadamard: wgrad.dy.hadamard=%d but wgrad.x.hadamard=%d; both operands need the same "
                        "transform so that it cancels in dW", a->hadamard, b->hadamard);
    return FP4_OK;
}

int fp4_recipe_equal(const fp4_recipe *a, const fp4_recipe *b) {
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 2; i++) {
            const fp4_operand_recipe *x = &a->op[g][i], *y = &b->op[g][i];
            if (x->prec != y->prec || x->block != y->block || x->rounding != y->rounding || x->scale != y->scale ||
                x->hadamard != y->hadamard)
                return 0;
        }
    return 1;
}

int fp4_recipe_is_quantized(const fp4_recipe *r) {
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 2; i++)
            if (is_fp4(r->op[g][i].prec)) return 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* parsing                                                                                          */

enum { F_FORMAT, F_BLOCK, F_ROUND, F_SCALE, F_HADAMARD, N_FIELDS };
static const char *field_names[N_FIELDS] = {"format", "block", "round", "scale", "hadamard"};

/* Apply field=value to one operand (already selected). */
static fp4_status apply_field(fp4_operand_recipe *o, int field, const char *value, const char *target, int g, int i) {
    if (field == F_FORMAT) {
        fp4_prec p;
        if (fp4_prec_parse(value, &p) != FP4_OK) return fp4_fail_context(FP4_ERR_INVALID_ARG, "recipe: %s", target);
        *o = operand_default(p);
        return FP4_OK;
    }
    if (!is_fp4(o->prec))
        return fp4_fail(FP4_ERR_INVALID_ARG, "recipe: %s: %s.%s is %s; %s applies only to nvfp4/mxfp4 operands", target,
                        gemm_names[g], operand_names[g][i], fp4_prec_name(o->prec), field_names[field]);
    fp4_status st = FP4_OK;
    if (field == F_BLOCK) st = fp4_block_parse(value, &o->block);
    else if (field == F_ROUND) st = fp4_rounding_parse(value, &o->rounding);
    else if (field == F_SCALE) st = fp4_scale_rule_parse(value, &o->scale);
    else {
        char *end = NULL;
        long h = strtol(value, &end, 10);
        if (!*value || *end || (h != 0 && h != 16 && h != 32))
            return fp4_fail(FP4_ERR_INVALID_ARG, "recipe: %s: invalid value '%s' (expected 0, 16 or 32)", target, value);
        o->hadamard = (int)h;
    }
    if (st != FP4_OK) return fp4_fail_context(st, "recipe: %s", target);
    return FP4_OK;
}

/* One "target=value" item. */
static fp4_status apply_override(fp4_recipe *r, char *item) {
    char *eq = strchr(item, '=');
    if (!eq || eq == item)
        return fp4_fail(FP4_ERR_INVALID_ARG, "recipe: override '%s' is not of the form [gemm.][operand.]field=value", item);
    *eq = '\0';
    const char *value = eq + 1;
    char target[64];
    snprintf(target, sizeof target, "%s", item);
    char *parts[4];
    int np = 0;
    for (char *p = item; np < 4;) {
        parts[np++] = p;
        char *dot = strchr(p, '.');
        if (!dot) break;
        *dot = '\0';
        p = dot + 1;
    }
    if (np > 3 || np == 0) return fp4_fail(FP4_ERR_INVALID_ARG, "recipe: target '%s' has too many parts", target);
    int field = -1;
    for (int f = 0; f < N_FIELDS; f++)
        if (!strcmp(parts[np - 1], field_names[f])) field = f;
    if (field < 0)
        return fp4_fail(FP4_ERR_INVALID_ARG,
                        "recipe: %s: unknown field '%s' (expected format, block, round, scale or hadamard)", target,
                        parts[np - 1]);
    int gsel = -1;
    const char *osel = NULL;
    int k = 0;
    if (k < np - 1) {
        for (int g = 0; g < 3; g++)
            if (!strcmp(parts[k], gemm_names[g])) gsel = g;
        if (gsel >= 0) k++;
    }
    if (k < np - 1) {
        if (strcmp(parts[k], "x") && strcmp(parts[k], "w") && strcmp(parts[k], "dy"))
            return fp4_fail(FP4_ERR_INVALID_ARG, "recipe: %s: unknown %s '%s' (expected %s)", target,
                            gsel < 0 && k == 0 ? "gemm or operand" : "operand", parts[k],
                            gsel < 0 && k == 0 ? "fprop, dgrad, wgrad, x, w or dy" : "x, w or dy");
        osel = parts[k++];
    }
    if (k != np - 1) return fp4_fail(FP4_ERR_INVALID_ARG, "recipe: %s: malformed target", target);
    if (!*value) return fp4_fail(FP4_ERR_INVALID_ARG, "recipe: %s: empty value", target);
    int matched = 0;
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 2; i++) {
            if (gsel >= 0 && g != gsel) continue;
            if (osel && strcmp(osel, operand_names[g][i])) continue;
            FP4_TRY(apply_field(&r->op[g][i], field, value, target, g, i));
            matched++;
        }
    if (!matched)
        return fp4_fail(FP4_ERR_INVALID_ARG, "recipe: %s: %s has no operand '%s' (it takes %s and %s)", target,
                        gemm_names[gsel], osel, operand_names[gsel][0], operand_names[gsel][1]);
    return FP4_OK;
}

fp4_status fp4_recipe_parse(const char *s, fp4_recipe *out) {
    if (!s || !out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_recipe_parse: NULL argument");
    const size_t n = strlen(s);
    if (n >= 1024) return fp4_fail(FP4_ERR_INVALID_ARG, "recipe: string of %zu characters is too long", n);
    char buf[1024];
    memcpy(buf, s, n + 1);
    char *tok = buf;
    char *comma = strchr(tok, ',');
    if (comma) *comma = '\0';
    fp4_recipe r;
    FP4_TRY(fp4_recipe_preset(tok, &r));
    while (comma) {
        tok = comma + 1;
        comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        if (!*tok) return fp4_fail(FP4_ERR_INVALID_ARG, "recipe: empty override in '%s'", s);
        FP4_TRY(apply_override(&r, tok));
    }
    FP4_TRY(fp4_recipe_validate(&r));
    *out = r;
    return FP4_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* printing                                                                                         */

typedef struct {
    char *buf;
    size_t cap, len;
    int overflow;
} sbuf;

static void sb_put(sbuf *b, const char *fmt, const char *g, const char *o, const char *f, const char *v) {
    int n = snprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, g, o, f, v);
    if (n < 0 || (size_t)n >= (b->buf ? b->cap - b->len : 0)) { b->overflow = 1; b->buf = NULL; }
    b->len += (size_t)(n > 0 ? n : 0);
}

/* Append the overrides that turn base into r; returns how many were needed. */
static int put_overrides(sbuf *b, const fp4_recipe *base, const fp4_recipe *r) {
    int count = 0;
    char hv[8];
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 2; i++) {
            const fp4_operand_recipe *o = &r->op[g][i];
            fp4_operand_recipe ref = base->op[g][i];
            const char *gn = gemm_names[g], *on = operand_names[g][i];
            if (o->prec != ref.prec) {
                sb_put(b, ",%s.%s.%s=%s", gn, on, "format", fp4_prec_name(o->prec));
                ref = operand_default(o->prec);
                count++;
            }
            if (o->block != ref.block) { sb_put(b, ",%s.%s.%s=%s", gn, on, "block", fp4_block_name(o->block)); count++; }
            if (o->rounding != ref.rounding) {
                sb_put(b, ",%s.%s.%s=%s", gn, on, "round", fp4_rounding_name(o->rounding));
                count++;
            }
            if (o->scale != ref.scale) { sb_put(b, ",%s.%s.%s=%s", gn, on, "scale", fp4_scale_rule_name(o->scale)); count++; }
            if (o->hadamard != ref.hadamard) {
                snprintf(hv, sizeof hv, "%d", o->hadamard);
                sb_put(b, ",%s.%s.%s=%s", gn, on, "hadamard", hv);
                count++;
            }
        }
    return count;
}

fp4_status fp4_recipe_print(const fp4_recipe *r, char *buf, size_t cap) {
    if (!r || !buf || !cap) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_recipe_print: NULL argument");
    FP4_TRY(fp4_recipe_validate(r));
    int best = 0, best_n = 1 << 30;
    for (int p = 0; p < N_PRESETS; p++) {
        fp4_recipe base;
        make_preset(p, &base);
        sbuf dry = {NULL, 0, 0, 0};
        const int n = put_overrides(&dry, &base, r);
        if (n < best_n) { best_n = n; best = p; }
    }
    fp4_recipe base;
    make_preset(best, &base);
    const size_t pn = strlen(preset_names[best]);
    if (pn + 1 > cap) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_recipe_print: buffer of %zu bytes is too small", cap);
    memcpy(buf, preset_names[best], pn + 1);
    sbuf b = {buf, cap, pn, 0};
    put_overrides(&b, &base, r);
    if (b.overflow) {
        buf[0] = '\0';
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_recipe_print: buffer of %zu bytes is too small", cap);
    }
    return FP4_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* layer policy                                                                                     */

fp4_status fp4_policy_parse(const char *s, fp4_layer_policy *out) {
    if (!s || !out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_policy_parse: NULL argument");
    fp4_layer_policy p = {0, 0};
    if (!*s || !strcmp(s, "none")) { *out = p; return FP4_OK; }
    int seen[2] = {0, 0};
    const char *c = s;
    while (*c) {
        const char *end = strchr(c, ',');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        char item[64];
        if (len == 0 || len >= sizeof item)
            return fp4_fail(FP4_ERR_INVALID_ARG, "policy: malformed item in '%s' (expected bf16-first=N,bf16-last=M)", s);
        memcpy(item, c, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        if (!eq) return fp4_fail(FP4_ERR_INVALID_ARG, "policy: '%s' is not key=value (keys bf16-first, bf16-last)", item);
        *eq = '\0';
        int k = !strcmp(item, "bf16-first") ? 0 : !strcmp(item, "bf16-last") ? 1 : -1;
        if (k < 0) return fp4_fail(FP4_ERR_INVALID_ARG, "policy: unknown key '%s' (expected bf16-first or bf16-last)", item);
        if (seen[k]++) return fp4_fail(FP4_ERR_INVALID_ARG, "policy: %s given twice", item);
        char *vend = NULL;
        long v = strtol(eq + 1, &vend, 10);
        if (!eq[1] || *vend || v < 0 || v > 1000000)
            return fp4_fail(FP4_ERR_INVALID_ARG, "policy: %s: invalid count '%s' (expected an integer >= 0)", item, eq + 1);
        if (k == 0) p.bf16_first = (int)v;
        else p.bf16_last = (int)v;
        c += len;
        if (*c == ',') {
            c++;
            if (!*c) return fp4_fail(FP4_ERR_INVALID_ARG, "policy: trailing ',' in '%s'", s);
        }
    }
    *out = p;
    return FP4_OK;
}

fp4_status fp4_policy_print(const fp4_layer_policy *p, char *buf, size_t cap) {
    if (!p || !buf) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_policy_print: NULL argument");
    int n = snprintf(buf, cap, "bf16-first=%d,bf16-last=%d", p->bf16_first, p->bf16_last);
    if (n < 0 || (size_t)n >= cap) {
        if (cap) buf[0] = '\0';
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_policy_print: buffer of %zu bytes is too small", cap);
    }
    return FP4_OK;
}

fp4_status fp4_policy_recipe_for_block(const fp4_layer_policy *policy, const fp4_recipe *recipe, int block_index,
                                       int n_blocks, fp4_recipe *out) {
    if (!policy || !recipe || !out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_policy_recipe_for_block: NULL argument");
    if (policy->bf16_first < 0 || policy->bf16_last < 0)
        return fp4_fail(FP4_ERR_INVALID_ARG, "policy: bf16-first=%d, bf16-last=%d must be >= 0", policy->bf16_first,
                        policy->bf16_last);
    if (n_blocks <= 0 || block_index < 0 || block_index >= n_blocks)
        return fp4_fail(FP4_ERR_INVALID_ARG, "policy: block_index %d is outside [0, n_blocks = %d)", block_index, n_blocks);
    if (block_index < policy->bf16_first || block_index >= n_blocks - policy->bf16_last) return fp4_recipe_preset("bf16", out);
    *out = *recipe;
    return FP4_OK;
}
