/* examples/fp4_eval.c — the `fp4 eval` subcommand: validation loss and perplexity of a training
 * checkpoint over DIR/<corpus>_val.bin (sequential windows of the checkpoint's seq length).
 *
 *   fp4 eval runs/gpt/ckpt.safetensors --data build/data/shards/byte [--batches N] [--batch B]
 * Prints "val_loss L ppl P tokens N" on stdout. Exit codes: 0 ok, 1 runtime error, 2 usage error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp4_cli.h"
#include "fp4kit/train.h"

void fp4_cmd_eval_usage(FILE *out) {
    fprintf(out, "usage: fp4 eval CKPT.safetensors --data DIR [--corpus NAME (pretrain)] [--batch B (8)]\n"
                 "                [--batches N (0 = the whole val split)] [--device auto|cpu|cuda]\n"
                 "\n"
                 "Mean cross-entropy (nats/token) and perplexity of the checkpoint on DIR/NAME_val.bin.\n"
                 "Prints: val_loss L ppl P tokens N\n"
                 "exit status: 0 success, 1 runtime error, 2 usage error\n");
}

int fp4_cmd_eval(int argc, char **argv) {
    static const char cmd[] = "eval";
    const char *ckpt = NULL, *data = NULL, *corpus = "pretrain", *device = "auto";
    long batch = 8, batches = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--data", &v)) != 0) { if (r < 0) return FP4_EXIT_USAGE; data = v; }
        else if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--corpus", &v)) != 0) { if (r < 0) return FP4_EXIT_USAGE; corpus = v; }
        else if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--device", &v)) != 0) { if (r < 0) return FP4_EXIT_USAGE; device = v; }
        else if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--batch", &v)) != 0) {
            if (r < 0) return FP4_EXIT_USAGE;
            char *e; batch = strtol(v, &e, 10);
            if (!*v || *e || batch < 1 || batch > 65536) return fp4_cli_usage_error(cmd, "--batch '%s'", v);
        } else if ((r = fp4_cli_opt(cmd, argc, argv, &i, "--batches", &v)) != 0) {
            if (r < 0) return FP4_EXIT_USAGE;
            char *e; batches = strtol(v, &e, 10);
            if (!*v || *e || batches < 0) return fp4_cli_usage_error(cmd, "--batches '%s'", v);
        } else if (argv[i][0] == '-') return fp4_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (!ckpt) ckpt = argv[i];
        else return fp4_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    if (!ckpt) return fp4_cli_usage_error(cmd, "no checkpoint given");
    if (!data) return fp4_cli_usage_error(cmd, "--data DIR is required");
    fp4_device_choice dc;
    if (fp4_device_choice_parse(device, &dc) != FP4_OK) return fp4_cli_usage_error(cmd, "%s", fp4_last_error());
    double loss;
    int64_t tokens;
    fp4_status st = fp4_eval_run(ckpt, data, corpus, dc, (int)batch, batches, &loss, &tokens);
    if (st != FP4_OK) return fp4_cli_fail(cmd, st, ckpt);
    printf("val_loss %.6f ppl %.4f tokens %lld\n", loss, exp(loss), (long long)tokens);
    return FP4_EXIT_OK;
}
