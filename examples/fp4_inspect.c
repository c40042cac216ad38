/* examples/fp4_inspect.c — `fp4 inspect FILE`: tensors (name, dtype, shape, bytes), the
 * __metadata__, and statistics of the dequantized values of every quantized weight found.
 *
 * Quantized weights are recognised by their tensor names (docs/cli.md):
 *   compressed-tensors: B_packed U8 [R, C/2] + B_scale (F8_E4M3 [R, C/16] -> NVFP4, needs
 *                       B_global_scale F32 [1] (encode direction); U8/F8_E8M0 [R, C/32] -> MXFP4)
 *   modelopt:           B U8 [R, C/2] + B_scale F8_E4M3 [R, C/16] + B_scale_2 F32 [1] (decode direction)
 * Dequantization (spec §3, §9): NVFP4 v = fp32(fp32(e2m1 * e4m3) * s_dec) with s_dec = fp32(1/global)
 * for compressed-tensors; MXFP4 v = e2m1 * 2^(e8m0 - 127). Codes: even element in the low nibble.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp4_cli.h"
#include "fp4kit/formats_inline.h"

static const char *CMD = "inspect";

void fp4_cmd_inspect_usage(FILE *out) {
    fprintf(out,
            "usage: fp4 inspect FILE.safetensors\n"
            "\n"
            "Validates FILE and prints its tensors (name, dtype, shape, bytes), its __metadata__, and for\n"
            "each quantized weight (compressed-tensors *_packed/*_scale[/*_global_scale], or modelopt\n"
            "weight/weight_scale/weight_scale_2) the min, max, mean and rms of the dequantized values and\n"
            "the number of zero codes.\n"
            "exit status: 0 success, 1 runtime error (unreadable, corrupt or inconsistent), 2 usage error\n");
}

static const fp4_st_tensor *find_suffixed(const fp4_st_file *f, const char *base, const char *suffix) {
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    snprintf(s, n, "%s%s", base, suffix);
    const fp4_st_tensor *t = fp4_st_find(f, s);
    free(s);
    return t;
}

static float read_f32(const fp4_st_tensor *t) {
    float v;
    memcpy(&v, t->data, 4);
    return v;
}

/* Statistics of one quantized weight; returns 0 if consistent, 1 (after printing why) if not. */
static int inspect_quantized(const char *label, const char *layout, const fp4_st_tensor *d, const fp4_st_tensor *s,
                             const fp4_st_tensor *g, int g_is_encode) {
    const int nv = s->dtype == FP4_ST_F8_E4M3;
    const int64_t R = d->shape[0], C = d->shape[1] * 2;
    const int bc = nv ? 16 : 32;
    if (s->ndim != 2 || s->shape[0] != R || s->shape[1] * bc != C) {
        fprintf(stderr, "fp4 inspect: %s: scale shape [%lld, %lld] does not match data [%lld, %lld] with %s blocks of %d\n",
                label, (long long)(s->ndim > 0 ? s->shape[0] : -1), (long long)(s->ndim > 1 ? s->shape[1] : -1),
                (long long)d->shape[0], (long long)d->shape[1], nv ? "NVFP4" : "MXFP4", bc);
        return 1;
    }
    float s_dec = 1.0f;
    if (nv) {
        if (!g || g->dtype != FP4_ST_F32 || g->numel != 1) {
            fprintf(stderr, "fp4 inspect: %s: NVFP4 scales need a one-element F32 %s tensor\n", label,
                    g_is_encode ? "*_global_scale" : "*_scale_2");
            return 1;
        }
        s_dec = g_is_encode ? fp4_nvfp4_global_dec(read_f32(g)) : read_f32(g);
    }
    const uint8_t *dp = d->data, *sp = s->data;
    double mn = INFINITY, mx = -INFINITY, sum = 0, sq = 0;
    uint64_t zeros = 0, nonfinite = 0, n = (uint64_t)R * (uint64_t)C;
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            uint8_t byte = dp[r * (C / 2) + c / 2];
            uint8_t code = (c & 1) ? (uint8_t)(byte >> 4) : (uint8_t)(byte & 0xf);
            uint8_t sb = sp[r * (C / bc) + c / bc];
            float v = nv ? (fp4_e2m1_decode(code) * fp4_e4m3_decode(sb)) * s_dec
                         : fp4_e2m1_decode(code) * fp4_e8m0_decode(sb);
            if ((code & 7) == 0) zeros++;
            if (!isfinite(v)) { nonfinite++; continue; }
            if (v < mn) mn = v;
            if (v > mx) mx = v;
            sum += v;
            sq += (double)v * v;
        }
    uint64_t fin = n - nonfinite;
    printf("  %s  %s %s [%lld, %lld]%s\n", label, nv ? "nvfp4" : "mxfp4", layout, (long long)R, (long long)C,
           nv ? "" : "");
    if (nv) printf("    s_dec %.9g (global %s %.9g)\n", s_dec, g_is_encode ? "encode" : "decode", read_f32(g));
    printf("    min %.6g  max %.6g  mean %.6g  rms %.6g  zero codes %llu of %llu (%.2f%%)", fin ? mn : NAN, fin ? mx : NAN,
           fin ? sum / (double)fin : NAN, fin ? sqrt(sq / (double)fin) : NAN, (unsigned long long)zeros,
           (unsigned long long)n, n ? 100.0 * (double)zeros / (double)n : 0.0);
    if (nonfinite) printf("  NON-FINITE values %llu (NaN scale bytes?)", (unsigned long long)nonfinite);
    printf("\n");
    return 0;
}

int fp4_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) return fp4_cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        if (path) return fp4_cli_usage_error(CMD, "unexpected argument '%s' (one FILE at a time)", argv[i]);
        path = argv[i];
    }
    if (!path) return fp4_cli_usage_error(CMD, "need FILE.safetensors");
    fp4_st_file *f;
    fp4_status st = fp4_st_open(path, &f);
    if (st != FP4_OK) return fp4_cli_fail(CMD, st, "reading");

    const size_t nt = fp4_st_count(f);
    char a[32], b[32];
    printf("%s: %zu tensors, header %s, data %s\n", path, nt, fp4_cli_bytes_str(fp4_st_header_bytes(f), a, sizeof a),
           fp4_cli_bytes_str(fp4_st_data_bytes(f), b, sizeof b));
    int namew = 24;
    for (size_t i = 0; i < nt; i++) {
        int l = (int)strlen(fp4_st_tensor_at(f, i)->name);
        if (l > namew) namew = l > 64 ? 64 : l;
    }
    printf("%-*s %-8s %-20s %12s\n", namew, "tensor", "dtype", "shape", "bytes");
    for (size_t i = 0; i < nt; i++) {
        const fp4_st_tensor *t = fp4_st_tensor_at(f, i);
        char shp[96];
        printf("%-*s %-8s %-20s %12zu\n", namew, t->name, fp4_st_dtype_name(t->dtype),
               fp4_cli_shape_str(t->shape, t->ndim, shp, sizeof shp), t->nbytes);
    }
    printf("metadata (%zu):\n", fp4_st_metadata_count(f));
    for (size_t i = 0; i < fp4_st_metadata_count(f); i++) {
        const char *k, *v;
        if (fp4_st_metadata_at(f, i, &k, &v) == FP4_OK) printf("  %s = %s\n", k, v);
    }

    int bad = 0, nq = 0;
    for (size_t i = 0; i < nt; i++) {
        const fp4_st_tensor *t = fp4_st_tensor_at(f, i);
        if (t->dtype != FP4_ST_U8 || t->ndim != 2) continue;
        size_t len = strlen(t->name);
        const int ct = len > 7 && !strcmp(t->name + len - 7, "_packed");
        char *base = strndup(t->name, ct ? len - 7 : len);
        if (!base) { fp4_st_close(f); return fp4_cli_fail(CMD, fp4_fail(FP4_ERR_NOMEM, "out of memory"), "inspect"); }
        const fp4_st_tensor *s = find_suffixed(f, base, "_scale");
        if (ct) {
            if (!s || (s->dtype != FP4_ST_F8_E4M3 && s->dtype != FP4_ST_U8 && s->dtype != FP4_ST_F8_E8M0)) {
                fprintf(stderr, "fp4 inspect: %s has no %s_scale tensor of dtype F8_E4M3, U8 or F8_E8M0\n", t->name, base);
                bad = 1;
            } else {
                if (!nq++) printf("quantized weights:\n");
                bad |= inspect_quantized(base, "compressed-tensors", t, s, find_suffixed(f, base, "_global_scale"), 1);
            }
        } else if (s && s->dtype == FP4_ST_F8_E4M3) {
            const fp4_st_tensor *g = find_suffixed(f, base, "_scale_2");
            if (g) {
                if (!nq++) printf("quantized weights:\n");
                bad |= inspect_quantized(base, "modelopt", t, s, g, 0);
            }
        }
        free(base);
    }
    if (!nq) printf("quantized weights: none found\n");
    fp4_st_close(f);
    if (bad) fprintf(stderr, "fp4 inspect: %s has inconsistent quantized tensors (see above)\n", path);
    return bad ? FP4_EXIT_RUNTIME : FP4_EXIT_OK;
}
