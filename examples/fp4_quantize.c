/* examples/fp4_quantize.c — `fp4 quantize IN OUT --format nvfp4|mxfp4 ...`: post-training
 * quantization of a safetensors checkpoint (docs/cli.md).
 *
 * Every 2-D F32/BF16/F16 tensor named "*.weight" whose shape [out, in] fits the block (in a
 * multiple of 16 (NVFP4) or 32 (MXFP4); out a multiple of 16 for 16x16 tiles) and whose name does
 * not match --skip is quantized with fp4_quantize (TransformerEngine order, RNE) and written as:
 *   compressed-tensors (P = name without ".weight"):
 *     P.weight_packed        U8       [out, in/2]    codes, even element in the low nibble
 *     P.weight_scale         F8_E4M3  [out, in/16]   NVFP4 block scales  (MXFP4: U8 E8M0 bytes, [out, in/32])
 *     P.weight_global_scale  F32      [1]            NVFP4 only: encode scale s_enc = 2688/amax
 *   modelopt (NVFP4 only):
 *     P.weight               U8       [out, in/2]
 *     P.weight_scale         F8_E4M3  [out, in/16]
 *     P.weight_scale_2       F32      [1]            decode scale s_dec = 1/s_enc
 * Every other tensor is copied byte for byte. Input F16/BF16 are widened to F32 exactly first.
 * The output is written atomically; on any error nothing is written.
 */
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fp4_cli.h"

static const char *CMD = "quantize";

void fp4_cmd_quantize_usage(FILE *out) {
    fprintf(out,
            "usage: fp4 quantize IN.safetensors OUT.safetensors --format nvfp4|mxfp4 [options]\n"
            "\n"
            "Quantizes every 2-D F32/BF16/F16 tensor named *.weight whose shape fits the block; copies\n"
            "every other tensor unchanged. Prints one table row per tensor. OUT is written atomically.\n"
            "\n"
            "options:\n"
            "  --format nvfp4|mxfp4          required\n"
            "  --block 1x16|16x16            NVFP4 block (default 1x16); MXFP4 is always 1x32\n"
            "  --scale-rule rceil|ocp        MXFP4 scale rule (default rceil); NVFP4 has only 'nv'\n"
            "  --layout compressed-tensors|modelopt\n"
            "                                tensor naming (default compressed-tensors; modelopt is NVFP4-only)\n"
            "  --skip REGEX                  do not quantize tensors whose name matches (POSIX extended regex)\n"
            "  --strict                      fail if a candidate *.weight does not fit the block instead of copying it\n"
            "  -q, --quiet                   no per-tensor table\n"
            "\n"
            "output tensors for P.weight [out, in]:\n"
            "  compressed-tensors: P.weight_packed U8 [out, in/2], P.weight_scale F8_E4M3 [out, in/16]\n"
            "                      (MXFP4: U8 [out, in/32] E8M0 bytes), P.weight_global_scale F32 [1] = 2688/amax (NVFP4)\n"
            "  modelopt:           P.weight U8 [out, in/2], P.weight_scale F8_E4M3 [out, in/16],\n"
            "                      P.weight_scale_2 F32 [1] = amax/2688 (decode direction)\n"
            "exit status: 0 success, 1 runtime error, 2 usage error\n");
}

typedef enum { LAYOUT_CT = 0, LAYOUT_MODELOPT = 1 } layout_t;

typedef struct qopts {
    const char *in, *out;
    fp4_config cfg;
    layout_t layout;
    int have_skip, strict, quiet;
    regex_t skip;
} qopts;

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static int parse_args(int argc, char **argv, qopts *o) {
    memset(o, 0, sizeof *o);
    const char *fmt = NULL, *block = NULL, *rule = NULL, *layout = NULL, *skip = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if ((r = fp4_cli_opt(CMD, argc, argv, &i, "--format", &v))) { if (r < 0) return 0; fmt = v; }
        else if ((r = fp4_cli_opt(CMD, argc, argv, &i, "--block", &v))) { if (r < 0) return 0; block = v; }
        else if ((r = fp4_cli_opt(CMD, argc, argv, &i, "--scale-rule", &v))) { if (r < 0) return 0; rule = v; }
        else if ((r = fp4_cli_opt(CMD, argc, argv, &i, "--layout", &v))) { if (r < 0) return 0; layout = v; }
        else if ((r = fp4_cli_opt(CMD, argc, argv, &i, "--skip", &v))) { if (r < 0) return 0; skip = v; }
        else if (!strcmp(argv[i], "--strict")) o->strict = 1;
        else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) o->quiet = 1;
        else if (argv[i][0] == '-' && argv[i][1]) { fp4_cli_usage_error(CMD, "unknown option '%s'", argv[i]); return 0; }
        else if (!o->in) o->in = argv[i];
        else if (!o->out) o->out = argv[i];
        else { fp4_cli_usage_error(CMD, "unexpected argument '%s'", argv[i]); return 0; }
    }
    if (!o->in || !o->out) { fp4_cli_usage_error(CMD, "need IN.safetensors and OUT.safetensors"); return 0; }
    if (!fmt) { fp4_cli_usage_error(CMD, "--format nvfp4|mxfp4 is required"); return 0; }
    fp4_format f;
    if (fp4_format_parse(fmt, &f) != FP4_OK) { fp4_cli_usage_error(CMD, "--format: '%s' is not nvfp4 or mxfp4", fmt); return 0; }
    o->cfg = f == FP4_FORMAT_NVFP4 ? fp4_config_nvfp4() : fp4_config_mxfp4();
    if (block && fp4_block_parse(block, &o->cfg.block) != FP4_OK) {
        fp4_cli_usage_error(CMD, "--block: '%s' is not 1x16, 16x16 or 1x32", block);
        return 0;
    }
    if (rule && fp4_scale_rule_parse(rule, &o->cfg.scale_rule) != FP4_OK) {
        fp4_cli_usage_error(CMD, "--scale-rule: '%s' is not rceil or ocp", rule);
        return 0;
    }
    if (fp4_config_validate(&o->cfg) != FP4_OK) { fp4_cli_usage_error(CMD, "%s", fp4_last_error()); return 0; }
    if (!layout || !strcmp(layout, "compressed-tensors")) o->layout = LAYOUT_CT;
    else if (!strcmp(layout, "modelopt")) o->layout = LAYOUT_MODELOPT;
    else { fp4_cli_usage_error(CMD, "--layout: '%s' is not compressed-tensors or modelopt", layout); return 0; }
    if (o->layout == LAYOUT_MODELOPT && f != FP4_FORMAT_NVFP4) {
        fp4_cli_usage_error(CMD, "--layout modelopt stores NVFP4 only (E4M3 scales + FP32 scale_2); use "
                                 "--layout compressed-tensors for mxfp4");
        return 0;
    }
    if (skip) {
        int rc = regcomp(&o->skip, skip, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[256];
            regerror(rc, &o->skip, msg, sizeof msg);
            fp4_cli_usage_error(CMD, "--skip: invalid regex '%s': %s", skip, msg);
            return 0;
        }
        o->have_skip = 1;
    }
    return 1;
}

/* One quantized weight: owns the output buffers until they are handed to the writer. */
typedef struct qresult {
    double rel_rms, bits;
} qresult;

/* Quantize t into the writer under the layout's names. */
static fp4_status quantize_one(const qopts *o, const fp4_st_tensor *t, fp4_st_writer *w, qresult *res) {
    const int64_t R = t->shape[0], C = t->shape[1];
    const size_t n = (size_t)t->numel;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    fp4_qtensor q = {0};
    fp4_status st = FP4_OK;
    if (!x || !y) st = fp4_fail(FP4_ERR_NOMEM, "out of memory for %zu floats of tensor '%s'", 2 * n, t->name);
    if (st == FP4_OK) st = fp4_cli_to_f32(t, x);
    fp4_view xv = fp4_view_make(x, FP4_DTYPE_F32, R, C, FP4_HOST), yv = fp4_view_make(y, FP4_DTYPE_F32, R, C, FP4_HOST);
    if (st == FP4_OK) st = fp4_qtensor_alloc(&q, R, C, &o->cfg, FP4_HOST);
    if (st == FP4_OK) st = fp4_quantize(NULL, &xv, &o->cfg, &q, NULL);
    if (st == FP4_OK) st = fp4_dequantize(NULL, &q, &yv);
    if (st == FP4_OK) {
        double num = 0, den = 0;
        for (size_t i = 0; i < n; i++) {
            double d = (double)y[i] - (double)x[i];
            num += d * d;
            den += (double)x[i] * (double)x[i];
        }
        res->rel_rms = den > 0 ? sqrt(num / den) : (num > 0 ? INFINITY : 0.0);
        const int nv = o->cfg.format == FP4_FORMAT_NVFP4;
        res->bits = 8.0 * (double)(fp4_qtensor_data_bytes(&q) + fp4_qtensor_scale_bytes(&q) + (nv ? 4 : 0)) / (double)n;
        /* names: base = "P.weight" */
        size_t bl = strlen(t->name);
        char *nm = malloc(bl + 32);
        if (!nm) st = fp4_fail(FP4_ERR_NOMEM, "out of memory for a tensor name");
        const int64_t dshape[2] = {R, C / 2}, sshape[2] = {R, C / fp4_block_cols(o->cfg.block)}, one[1] = {1};
        const fp4_st_dtype sdt = nv ? FP4_ST_F8_E4M3 : FP4_ST_U8;
        if (st == FP4_OK) {
            snprintf(nm, bl + 32, "%s%s", t->name, o->layout == LAYOUT_CT ? "_packed" : "");
            st = fp4_st_writer_add_copy(w, nm, FP4_ST_U8, 2, dshape, q.data, fp4_qtensor_data_bytes(&q));
        }
        if (st == FP4_OK) {
            snprintf(nm, bl + 32, "%s_scale", t->name);
            st = fp4_st_writer_add_copy(w, nm, sdt, 2, sshape, q.scales, fp4_qtensor_scale_bytes(&q));
        }
        if (st == FP4_OK && nv) {
            const float g = o->layout == LAYOUT_CT ? q.s_enc : q.s_dec;
            snprintf(nm, bl + 32, "%s%s", t->name, o->layout == LAYOUT_CT ? "_global_scale" : "_scale_2");
            st = fp4_st_writer_add_copy(w, nm, FP4_ST_F32, 1, one, &g, 4);
        }
        free(nm);
    }
    if (st != FP4_OK) fp4_fail_context(st, "tensor '%s' [%lld, %lld]", t->name, (long long)R, (long long)C);
    fp4_qtensor_free(&q);
    free(x);
    free(y);
    return st;
}

/* compressed-tensors / modelopt style quantization_config (weights only, no activations). */
static char *quant_config_json(const qopts *o, cJSON *targets, cJSON *ignore) {
    const int nv = o->cfg.format == FP4_FORMAT_NVFP4;
    cJSON *root = cJSON_CreateObject();
    if (o->layout == LAYOUT_MODELOPT) {
        cJSON_AddStringToObject(root, "quant_method", "modelopt");
        cJSON_AddStringToObject(root, "quant_algo", "NVFP4");
        cJSON_AddNumberToObject(root, "group_size", 16);
        cJSON_AddItemToObject(root, "exclude_modules", ignore);
        cJSON_Delete(targets);
    } else {
        const char *fmt = nv ? "nvfp4-pack-quantized" : "mxfp4-pack-quantized";
        cJSON_AddStringToObject(root, "quant_method", "compressed-tensors");
        cJSON_AddStringToObject(root, "format", fmt);
        cJSON_AddStringToObject(root, "quantization_status", "compressed");
        cJSON *groups = cJSON_AddObjectToObject(root, "config_groups");
        cJSON *g0 = cJSON_AddObjectToObject(groups, "group_0");
        cJSON_AddItemToObject(g0, "targets", targets);
        cJSON *wq = cJSON_AddObjectToObject(g0, "weights");
        cJSON_AddNumberToObject(wq, "num_bits", 4);
        cJSON_AddStringToObject(wq, "type", "float");
        cJSON_AddStringToObject(wq, "strategy", nv ? "tensor_group" : "group");
        cJSON_AddNumberToObject(wq, "group_size", nv ? 16 : 32);
        cJSON_AddTrueToObject(wq, "symmetric");
        cJSON_AddFalseToObject(wq, "dynamic");
        cJSON_AddNullToObject(g0, "input_activations");
        cJSON_AddNullToObject(g0, "output_activations");
        cJSON_AddStringToObject(g0, "format", fmt);
        cJSON_AddItemToObject(root, "ignore", ignore);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void progress(size_t done, size_t total) {
    if (!isatty(2) || total == 0) return;
    int w = 40, k = (int)((double)w * (double)done / (double)total);
    fprintf(stderr, "\r[%.*s%*s] %3d%%", k, "########################################", w - k, "",
            (int)(100.0 * (double)done / (double)total));
    if (done == total) fprintf(stderr, "\r%*s\r", w + 8, "");
    fflush(stderr);
}

int fp4_cmd_quantize(int argc, char **argv) {
    qopts o;
    if (!parse_args(argc, argv, &o)) return FP4_EXIT_USAGE;
    int rc = FP4_EXIT_RUNTIME;
    fp4_st_file *in = NULL;
    fp4_st_writer *w = NULL;
    cJSON *targets = cJSON_CreateArray(), *ignore = cJSON_CreateArray();
    char *qc = NULL;
    fp4_status st = fp4_st_open(o.in, &in);
    if (st != FP4_OK) { fp4_cli_fail(CMD, st, "reading input"); goto done; }
    if ((st = fp4_st_writer_create(&w)) != FP4_OK) { fp4_cli_fail(CMD, st, "writer"); goto done; }

    const size_t nt = fp4_st_count(in);
    int namew = 24;
    for (size_t i = 0; i < nt; i++) {
        int l = (int)strlen(fp4_st_tensor_at(in, i)->name);
        if (l > namew) namew = l > 64 ? 64 : l;
    }
    if (!o.quiet)
        printf("%-*s %-16s %-8s %-10s %6s %10s\n", namew, "tensor", "shape", "dtype", "action", "bits", "rel_rms");
    const int bc = fp4_block_cols(o.cfg.block), br = fp4_block_rows(o.cfg.block);
    size_t n_quant = 0, n_copy = 0, done_bytes = 0;
    uint64_t in_bytes = fp4_st_data_bytes(in), out_bytes = 0;
    for (size_t i = 0; i < nt; i++) {
        const fp4_st_tensor *t = fp4_st_tensor_at(in, i);
        const int is_float = t->dtype == FP4_ST_F32 || t->dtype == FP4_ST_BF16 || t->dtype == FP4_ST_F16;
        const int candidate = t->ndim == 2 && is_float && ends_with(t->name, ".weight");
        const int skipped = candidate && o.have_skip && regexec(&o.skip, t->name, 0, NULL, 0) == 0;
        const int fits = candidate && t->shape[0] > 0 && t->shape[1] > 0 && t->shape[1] % bc == 0 && t->shape[0] % br == 0;
        char shp[64];
        fp4_cli_shape_str(t->shape, t->ndim, shp, sizeof shp);
        const char *action;
        qresult res = {0, 8.0 * (double)fp4_st_dtype_size(t->dtype)};
        if (candidate && !skipped && !fits && o.strict) {
            fprintf(stderr, "fp4 %s: tensor '%s' %s does not fit %s %s blocks (cols %% %d, rows %% %d) and --strict "
                    "is set; nothing written\n", CMD, t->name, shp, fp4_format_name(o.cfg.format),
                    fp4_block_name(o.cfg.block), bc, br);
            goto done;
        }
        if (candidate && !skipped && fits) {
            st = quantize_one(&o, t, w, &res);
            if (st != FP4_OK) { fp4_cli_fail(CMD, st, "quantizing"); goto done; }
            action = fp4_format_name(o.cfg.format);
            n_quant++;
            size_t pl = strlen(t->name) - strlen(".weight");
            char *mod = strndup(t->name, pl);
            if (mod) cJSON_AddItemToArray(targets, cJSON_CreateString(mod));
            free(mod);
            out_bytes += (uint64_t)(res.bits * (double)t->numel / 8.0 + 0.5);
        } else {
            st = fp4_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes);
            if (st != FP4_OK) { fp4_cli_fail(CMD, st, "copying"); goto done; }
            action = skipped ? "skip" : candidate ? "copy:shape" : "copy";
            if (candidate) {
                char *mod = strndup(t->name, strlen(t->name) - strlen(".weight"));
                if (mod) cJSON_AddItemToArray(ignore, cJSON_CreateString(mod));
                free(mod);
            }
            n_copy++;
            out_bytes += t->nbytes;
        }
        if (!o.quiet) {
            if (res.rel_rms > 0 || !strcmp(action, fp4_format_name(o.cfg.format)))
                printf("%-*s %-16s %-8s %-10s %6.3f %10.3e\n", namew, t->name, shp, fp4_st_dtype_name(t->dtype), action,
                       res.bits, res.rel_rms);
            else
                printf("%-*s %-16s %-8s %-10s %6.3f %10s\n", namew, t->name, shp, fp4_st_dtype_name(t->dtype), action,
                       res.bits, "-");
        }
        done_bytes += t->nbytes;
        progress(done_bytes, (size_t)in_bytes);
    }

    /* metadata: the input's, then ours (namespaced so "format": "pt" stays what HF loaders expect) */
    for (size_t i = 0; i < fp4_st_metadata_count(in) && st == FP4_OK; i++) {
        const char *k, *v;
        st = fp4_st_metadata_at(in, i, &k, &v);
        if (st == FP4_OK) st = fp4_st_writer_set_metadata(w, k, v);
    }
    char ver[32];
    snprintf(ver, sizeof ver, "%d.%d.%d", FP4KIT_VERSION_MAJOR, FP4KIT_VERSION_MINOR, FP4KIT_VERSION_PATCH);
    if (st == FP4_OK && !fp4_st_metadata_get(in, "format")) st = fp4_st_writer_set_metadata(w, "format", "pt");
    const char *kv[][2] = {
        {"fp4kit.format", fp4_format_name(o.cfg.format)},
        {"fp4kit.block", fp4_block_name(o.cfg.block)},
        {"fp4kit.scale_rule", fp4_scale_rule_name(o.cfg.scale_rule)},
        {"fp4kit.rounding", fp4_rounding_name(o.cfg.rounding)},
        {"fp4kit.layout", o.layout == LAYOUT_CT ? "compressed-tensors" : "modelopt"},
        {"fp4kit.version", ver},
        {"fp4kit.nibble_order", "even-low"},
        {"fp4kit.zero_block_scale", "kept as TransformerEngine computes it (not replaced by 0.125 or 1.0)"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0] && st == FP4_OK; i++) st = fp4_st_writer_set_metadata(w, kv[i][0], kv[i][1]);
    qc = quant_config_json(&o, targets, ignore);
    targets = ignore = NULL; /* owned by the config tree now (freed there) */
    if (st == FP4_OK && !qc) st = fp4_fail(FP4_ERR_NOMEM, "out of memory printing quantization_config");
    if (st == FP4_OK) st = fp4_st_writer_set_metadata(w, "quantization_config", qc);
    if (st != FP4_OK) { fp4_cli_fail(CMD, st, "metadata"); goto done; }

    st = fp4_st_writer_save(w, o.out);
    if (st != FP4_OK) { fp4_cli_fail(CMD, st, "writing output"); goto done; }
    char a[32], b[32];
    fprintf(stderr, "fp4 quantize: %zu tensors quantized (%s %s), %zu copied; data %s -> %s; wrote %s\n", n_quant,
            fp4_format_name(o.cfg.format), o.layout == LAYOUT_CT ? "compressed-tensors" : "modelopt", n_copy,
            fp4_cli_bytes_str(in_bytes, a, sizeof a), fp4_cli_bytes_str(out_bytes, b, sizeof b), o.out);
    rc = FP4_EXIT_OK;
done:
    if (rc != FP4_EXIT_OK) fprintf(stderr, "fp4 quantize: failed; '%s' was not written\n", o.out);
    cJSON_Delete(targets);
    cJSON_Delete(ignore);
    cJSON_free(qc);
    fp4_st_writer_free(w);
    fp4_st_close(in);
    if (o.have_skip) regfree(&o.skip);
    return rc;
}
