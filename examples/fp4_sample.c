/* examples/fp4_sample.c — the `fp4 sample` subcommand: generate text from a training checkpoint
 * (temperature, top-k, seeded: the same command prints the same text).
 *
 *   fp4 sample runs/gpt/ckpt.safetensors --prompt "The " --tokens 200 --temperature 0.8 --top-k 40
 * Prints the prompt and its continuation on stdout. Exit codes: 0 ok, 1 runtime error, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp4_cli.h"
#include "fp4kit/train.h"

void fp4_cmd_sample_usage(FILE *out) {
    fprintf(out, "usage: fp4 sample CKPT.safetensors [--prompt TEXT] [--tokens N (200)] [--temperature F (0.8, 0 = greedy)]\n"
                 "                  [--top-k K (40, 0 = all)] [--seed N (1)] [--device auto|cpu|cuda] [--gpt2-dir DIR]\n"
                 "\n"
                 "Generates N tokens after TEXT with the checkpoint's model; byte-level for vocabulary 256,\n"
                 "GPT-2 BPE (encoder.json and vocab.bpe from --gpt2-dir) otherwise.\n"
                 "exit status: 0 success, 1 runtime error, 2 usage error\n");
}

int fp4_cmd_sample(int argc, char **argv) {
    static const char cmd[] = "sample";
    const char *ckpt = NULL, *prompt = "", *device = "auto", *gpt2 = NULL;
    long n = 200, topk = 40;
    unsigned long long seed = 1;
    float temp = 0.8f;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        char *e = NULL;
        if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--prompt", &v)) != 0) { if (r < 0) return FP4_EXIT_USAGE; prompt = v; }
        else if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--device", &v)) != 0) { if (r < 0) return FP4_EXIT_USAGE; device = v; }
        else if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--gpt2-dir", &v)) != 0) { if (r < 0) return FP4_EXIT_USAGE; gpt2 = v; }
        else if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--tokens", &v)) != 0) {
            if (r < 0) return FP4_EXIT_USAGE;
            n = strtol(v, &e, 10);
            if (!*v || *e || n < 0 || n > 1000000) return fp4_cli_usage_error(cmd, "--tokens '%s'", v);
        } else if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--top-k", &v)) != 0) {
            if (r < 0) return FP4_EXIT_USAGE;
            topk = strtol(v, &e, 10);
            if (!*v || *e || topk < 0) return fp4_cli_usage_error(cmd, "--top-k '%s'", v);
        } else if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--seed", &v)) != 0) {
            if (r < 0) return FP4_EXIT_USAGE;
            seed = strtoull(v, &e, 10);
            if (!*v || *e) return fp4_cli_usage_error(cmd, "--seed '%s'", v);
        } else if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--temperature", &v)) != 0) {
            if (r < 0) return FP4_EXIT_USAGE;
            temp = strtof(v, &e);
            if (!*v || *e || !(temp >= 0.0f && temp < 100.0f)) return fp4_cli_usage_error(cmd, "--temperature '%s'", v);
        } else if (argv[i][0] == '-') return fp4_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (!ckpt) ckpt = argv[i];
        else return fp4_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    if (!ckpt) return fp4_cli_usage_error(cmd, "no checkpoint given");
    fp4_device_choice dc;
    if (fp4_device_choice_parse(device, &dc) != FP4_OK) return fp4_cli_usage_error(cmd, "%s", fp4_last_error());
    char *text = NULL;
    fp4_status st = fp4_sample_run(ckpt, prompt, n, temp, (int)topk, seed, dc, gpt2, &text);
    if (st != FP4_OK) return fp4_cli_fail(cmd, st, ckpt);
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
    return FP4_EXIT_OK;
}
