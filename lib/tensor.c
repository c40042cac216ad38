/* lib/tensor.c — views, quantization configs and quantized-tensor storage (see fp4kit/tensor.h). */
#include "fp4kit/tensor.h"

#include <string.h>

#include "fp4kit/context.h"
#include "fp4kit/formats_inline.h"
#include "internal.h"

size_t fp4_dtype_size(fp4_dtype dt) {
    switch (dt) {
    case FP4_DTYPE_F32: return 4;
    case FP4_DTYPE_BF16: return 2;
    case FP4_DTYPE_F16: return 2;
    }
    return 0;
}

const char *fp4_dtype_name(fp4_dtype dt) {
    switch (dt) {
    case FP4_DTYPE_F32: return "f32";
    case FP4_DTYPE_BF16: return "bf16";
    case FP4_DTYPE_F16: return "f16";
    }
    return "?";
}

fp4_view fp4_view_make(void *data, fp4_dtype dtype, int64_t rows, int64_t cols, fp4_location loc) {
    fp4_view v = {data, dtype, rows, cols, cols, loc};
    return v;
}

fp4_config fp4_config_nvfp4(void) {
    fp4_config c = {FP4_FORMAT_NVFP4, FP4_BLOCK_1x16, FP4_SCALE_NV, FP4_ROUND_RNE, FP4_NONFINITE_SATURATE, 0, 0};
    return c;
}

fp4_config fp4_config_mxfp4(void) {
    fp4_config c = {FP4_FORMAT_MXFP4, FP4_BLOCK_1x32, FP4_SCALE_RCEIL, FP4_ROUND_RNE, FP4_NONFINITE_SATURATE, 0, 0};
    return c;
}

int fp4_block_cols(fp4_block b) { return b == FP4_BLOCK_1x32 ? 32 : 16; }
int fp4_block_rows(fp4_block b) { return b == FP4_BLOCK_16x16 ? 16 : 1; }

fp4_status fp4_config_validate(const fp4_config *cfg) {
    if (!cfg) return fp4_fail(FP4_ERR_INVALID_ARG, "config is NULL");
    if (cfg->rounding != FP4_ROUND_RNE && cfg->rounding != FP4_ROUND_SR)
        return fp4_fail(FP4_ERR_INVALID_ARG, "config.rounding: invalid value %d", (int)cfg->rounding);
    if (cfg->nonfinite != FP4_NONFINITE_SATURATE && cfg->nonfinite != FP4_NONFINITE_ERROR)
        return fp4_fail(FP4_ERR_INVALID_ARG, "config.nonfinite: invalid value %d", (int)cfg->nonfinite);
    switch (cfg->format) {
    case FP4_FORMAT_NVFP4:
        if (cfg->block != FP4_BLOCK_1x16 && cfg->block != FP4_BLOCK_16x16)
            return fp4_fail(FP4_ERR_INVALID_ARG, "config.block: NVFP4 takes 1x16 or 16x16 blocks, not %s",
                            fp4_block_name(cfg->block));
        if (cfg->scale_rule != FP4_SCALE_NV)
            return fp4_fail(FP4_ERR_INVALID_ARG, "config.scale_rule: NVFP4 uses the 'nv' two-level rule, not '%s'",
                            fp4_scale_rule_name(cfg->scale_rule));
        return FP4_OK;
    case FP4_FORMAT_MXFP4:
        if (cfg->block != FP4_BLOCK_1x32)
            return fp4_fail(FP4_ERR_INVALID_ARG, "config.block: MXFP4 takes 1x32 blocks, not %s",
                            fp4_block_name(cfg->block));
        if (cfg->scale_rule != FP4_SCALE_RCEIL && cfg->scale_rule != FP4_SCALE_OCP)
            return fp4_fail(FP4_ERR_INVALID_ARG, "config.scale_rule: MXFP4 takes 'rceil' or 'ocp', not '%s'",
                            fp4_scale_rule_name(cfg->scale_rule));
        return FP4_OK;
    }
    return fp4_fail(FP4_ERR_INVALID_ARG, "config.format: invalid value %d", (int)cfg->format);
}

const char *fp4_format_name(fp4_format f) {
    return f == FP4_FORMAT_NVFP4 ? "nvfp4" : f == FP4_FORMAT_MXFP4 ? "mxfp4" : "?";
}
const char *fp4_block_name(fp4_block b) {
    return b == FP4_BLOCK_1x16 ? "1x16" : b == FP4_BLOCK_16x16 ? "16x16" : b == FP4_BLOCK_1x32 ? "1x32" : "?";
}
const char *fp4_scale_rule_name(fp4_scale_rule r) {
    return r == FP4_SCALE_NV ? "nv" : r == FP4_SCALE_RCEIL ? "rceil" : r == FP4_SCALE_OCP ? "ocp" : "?";
}
const char *fp4_rounding_name(fp4_rounding r) {
    return r == FP4_ROUND_RNE ? "rne" : r == FP4_ROUND_SR ? "sr" : "?";
}

#define FP4_PARSE(fn, type, names, values, what)                                               \
    fp4_status fn(const char *s, type *out) {                                                  \
        if (!s || !out) return fp4_fail(FP4_ERR_INVALID_ARG, "%s: NULL argument", #fn);         \
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)                         \
            if (!strcmp(s, names[i])) { *out = values[i]; return FP4_OK; }                     \
        return fp4_fail(FP4_ERR_INVALID_ARG, "unknown %s '%s'", what, s);                        \
    }

static const char *fmt_names[] = {"nvfp4", "mxfp4"};
static const fp4_format fmt_values[] = {FP4_FORMAT_NVFP4, FP4_FORMAT_MXFP4};
static const char *blk_names[] = {"1x16", "16x16", "1x32"};
static const fp4_block blk_values[] = {FP4_BLOCK_1x16, FP4_BLOCK_16x16, FP4_BLOCK_1x32};
static const char *rule_names[] = {"nv", "rceil", "ocp"};
static const fp4_scale_rule rule_values[] = {FP4_SCALE_NV, FP4_SCALE_RCEIL, FP4_SCALE_OCP};
static const char *rnd_names[] = {"rne", "sr"};
static const fp4_rounding rnd_values[] = {FP4_ROUND_RNE, FP4_ROUND_SR};

FP4_PARSE(fp4_format_parse, fp4_format, fmt_names, fmt_values, "format (expected nvfp4 or mxfp4)")
FP4_PARSE(fp4_block_parse, fp4_block, blk_names, blk_values, "block (expected 1x16, 16x16 or 1x32)")
FP4_PARSE(fp4_scale_rule_parse, fp4_scale_rule, rule_names, rule_values, "scale rule (expected nv, rceil or ocp)")
FP4_PARSE(fp4_rounding_parse, fp4_rounding, rnd_names, rnd_values, "rounding (expected rne or sr)")

size_t fp4_qtensor_data_bytes(const fp4_qtensor *q) { return (size_t)q->rows * (size_t)(q->cols / 2); }

size_t fp4_qtensor_scale_bytes(const fp4_qtensor *q) {
    return (size_t)q->rows * (size_t)(q->cols / fp4_block_cols(q->cfg.block));
}

fp4_status fp4_qtensor_alloc(fp4_qtensor *q, int64_t rows, int64_t cols, const fp4_config *cfg, fp4_location loc) {
    if (!q) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_qtensor_alloc: q is NULL");
    memset(q, 0, sizeof *q);
    FP4_TRY(fp4_config_validate(cfg));
    const int bc = fp4_block_cols(cfg->block), br = fp4_block_rows(cfg->block);
    if (rows <= 0 || cols <= 0)
        return fp4_fail(FP4_ERR_SHAPE, "quantized tensor shape [%lld, %lld] must be positive", (long long)rows,
                        (long long)cols);
    if (cols % bc)
        return fp4_fail(FP4_ERR_SHAPE, "cols = %lld is not a multiple of the %s block width %d", (long long)cols,
                        fp4_block_name(cfg->block), bc);
    if (rows % br)
        return fp4_fail(FP4_ERR_SHAPE, "rows = %lld is not a multiple of the 16x16 block height 16", (long long)rows);
    uint64_t n;
    if (fp4_mul_overflows((uint64_t)rows, (uint64_t)cols, &n) || n > (1ull << 46))
        return fp4_fail(FP4_ERR_SHAPE, "quantized tensor [%lld, %lld] is too large", (long long)rows, (long long)cols);
    q->rows = rows;
    q->cols = cols;
    q->cfg = *cfg;
    q->loc = loc;
    q->s_enc = q->s_dec = 1.0f;
    const size_t db = fp4_qtensor_data_bytes(q), sb = fp4_qtensor_scale_bytes(q);
    if (loc == FP4_HOST) {
        q->data = malloc(db);
        q->scales = malloc(sb);
        if (!q->data || !q->scales) {
            free(q->data);
            free(q->scales);
            memset(q, 0, sizeof *q);
            return fp4_fail(FP4_ERR_NOMEM, "out of host memory for a [%lld, %lld] quantized tensor (%zu bytes)",
                            (long long)rows, (long long)cols, db + sb);
        }
        return FP4_OK;
    }
    if (loc != FP4_DEVICE) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_qtensor_alloc: invalid location %d", (int)loc);
    void *d = NULL, *s = NULL, *t = NULL;
    fp4_status st = fp4_device_alloc(db, &d);
    if (st == FP4_OK) st = fp4_device_alloc(sb, &s);
    if (st == FP4_OK) st = fp4_device_alloc(3 * sizeof(float), &t);
    if (st != FP4_OK) {
        fp4_device_free(d);
        fp4_device_free(s);
        memset(q, 0, sizeof *q);
        return fp4_fail_context(st, "allocating a [%lld, %lld] quantized tensor on the device", (long long)rows,
                                (long long)cols);
    }
    q->data = d;
    q->scales = s;
    q->tscale_dev = t;
    return FP4_OK;
}

void fp4_qtensor_free(fp4_qtensor *q) {
    if (!q) return;
    if (q->loc == FP4_DEVICE) {
        fp4_device_free(q->data);
        fp4_device_free(q->scales);
        fp4_device_free(q->tscale_dev);
    } else {
        free(q->data);
        free(q->scales);
    }
    memset(q, 0, sizeof *q);
}

float fp4_qtensor_get(const fp4_qtensor *q, int64_t r, int64_t c) {
    const int bc = fp4_block_cols(q->cfg.block);
    const uint8_t byte = q->data[r * (q->cols / 2) + c / 2];
    const uint8_t code = (c & 1) ? (uint8_t)(byte >> 4) : (uint8_t)(byte & 0xf);
    const uint8_t sb = q->scales[r * (q->cols / bc) + c / bc];
    const float v = fp4_e2m1_decode(code);
    if (q->cfg.format == FP4_FORMAT_NVFP4) return (v * fp4_e4m3_decode(sb)) * q->s_dec;
    return v * fp4_e8m0_decode(sb);
}
