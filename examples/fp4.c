/* examples/fp4.c — the `fp4` command: dispatches `fp4 <subcommand> ...` through a table, and the
 * helpers declared in fp4_cli.h.
 *
 *   fp4 --help | --version
 *   fp4 help [subcommand]
 *   fp4 quantize IN.safetensors OUT.safetensors --format nvfp4|mxfp4 [...]
 *   fp4 inspect FILE.safetensors
 *   fp4 train --data DIR --out DIR [--model gpt|mlp --recipe nvfp4 ...]
 *   fp4 eval CKPT --data DIR
 *   fp4 sample CKPT [--prompt TEXT]
 * Exit codes: 0 ok, 1 runtime error, 2 usage error.
 */
#include <stdarg.h>
#include <string.h>

#include "fp4_cli.h"
#include "fp4kit/formats_inline.h"

/* ---- the subcommand table: one line per subcommand -------------------------------------- */
static const fp4_cli_command commands[] = {
    {"quantize", "quantize the .weight tensors of a safetensors file to NVFP4 or MXFP4", fp4_cmd_quantize,
     fp4_cmd_quantize_usage},
    {"inspect", "list the tensors, metadata and quantized-weight statistics of a safetensors file", fp4_cmd_inspect,
     fp4_cmd_inspect_usage},
    {"data", "build and inspect token shards from text corpora", fp4_cmd_data, fp4_cmd_data_usage},
    {"train", "train a GPT or MLP language model with a recipe (nvfp4, mxfp4, bf16...)", fp4_cmd_train,
     fp4_cmd_train_usage},
    {"eval", "validation loss and perplexity of a training checkpoint", fp4_cmd_eval, fp4_cmd_eval_usage},
    {"sample", "generate text from a training checkpoint", fp4_cmd_sample, fp4_cmd_sample_usage},
};
static const size_t n_commands = sizeof commands / sizeof commands[0];

static void print_version(FILE *out) {
    fprintf(out, "fp4 (fp4kit) %d.%d.%d, CUDA kernels %s\n", FP4KIT_VERSION_MAJOR, FP4KIT_VERSION_MINOR,
            FP4KIT_VERSION_PATCH, fp4_build_has_cuda() ? "built" : "not built");
}

static void print_help(FILE *out) {
    fprintf(out, "usage: fp4 <command> [options]\n       fp4 --help | --version\n\ncommands:\n");
    for (size_t i = 0; i < n_commands; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n", "help", "show the help of a command (fp4 help quantize)");
    fprintf(out, "\nexit status: 0 success, 1 runtime error, 2 usage error\n");
}

static const fp4_cli_command *find_command(const char *name) {
    for (size_t i = 0; i < n_commands; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return FP4_EXIT_USAGE;
    }
    const char *c = argv[1];
    if (fp4_cli_is_help(c)) {
        print_help(stdout);
        return FP4_EXIT_OK;
    }
    if (!strcmp(c, "--version") || !strcmp(c, "version")) {
        print_version(stdout);
        return FP4_EXIT_OK;
    }
    if (!strcmp(c, "help")) {
        if (argc < 3) { print_help(stdout); return FP4_EXIT_OK; }
        const fp4_cli_command *cmd = find_command(argv[2]);
        if (!cmd) {
            fprintf(stderr, "fp4: unknown command '%s' (see fp4 --help)\n", argv[2]);
            return FP4_EXIT_USAGE;
        }
        cmd->usage(stdout);
        return FP4_EXIT_OK;
    }
    const fp4_cli_command *cmd = find_command(c);
    if (!cmd) {
        fprintf(stderr, "fp4: unknown command '%s' (see fp4 --help)\n", c);
        return FP4_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++)
        if (fp4_cli_is_help(argv[i])) {
            cmd->usage(stdout);
            return FP4_EXIT_OK;
        }
    return cmd->run(argc - 1, argv + 1);
}

/* ---- shared helpers (fp4_cli.h) ---------------------------------------------------------- */

int fp4_cli_fail(const char *cmd, fp4_status st, const char *what) {
    fprintf(stderr, "fp4 %s: %s: %s: %s\n", cmd, what, fp4_status_str(st), fp4_last_error());
    return FP4_EXIT_RUNTIME;
}

int fp4_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fp4 %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see: fp4 %s --help)\n", cmd);
    return FP4_EXIT_USAGE;
}

int fp4_cli_is_help(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

int fp4_cli_opt(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        fp4_cli_usage_error(cmd, "option %s needs a value", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

char *fp4_cli_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

char *fp4_cli_bytes_str(uint64_t b, char *buf, size_t cap) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024.0 && i < 4) { v /= 1024.0; i++; }
    if (i == 0) snprintf(buf, cap, "%llu B", (unsigned long long)b);
    else snprintf(buf, cap, "%.1f %s", v, u[i]);
    return buf;
}

float fp4_cli_f16_to_f32(uint16_t h) {
    const uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    float mag;
    if (e == 0) mag = (float)m * 5.9604644775390625e-08f; /* m * 2^-24, exact */
    else if (e == 31) mag = m ? fp4_bits_f32(0x7fc00000u) : fp4_bits_f32(0x7f800000u);
    else mag = fp4_bits_f32(((e + 112u) << 23) | (m << 13));
    return fp4_bits_f32(fp4_f32_bits(mag) | s);
}

fp4_status fp4_cli_to_f32(const fp4_st_tensor *t, float *out) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case FP4_ST_F32:
        memcpy(out, p, t->nbytes);
        return FP4_OK;
    case FP4_ST_BF16:
        for (uint64_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = fp4_bf16_to_f32(h);
        }
        return FP4_OK;
    case FP4_ST_F16:
        for (uint64_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = fp4_cli_f16_to_f32(h);
        }
        return FP4_OK;
    default:
        return fp4_fail(FP4_ERR_DTYPE, "tensor '%s': dtype %s is not F32, BF16 or F16", t->name,
                        fp4_st_dtype_name(t->dtype));
    }
}
