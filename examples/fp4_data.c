/* examples/fp4_data.c — the `fp4 data` subcommand: build token shards from corpus directories, and
 * inspect or decode shards (docs/data.md).
 *
 *   fp4 data build --out PREFIX [--tokenizer byte|gpt2] [--gpt2-dir DIR] [--val-frac F] [--seed N] DIR...
 *   fp4 data info SHARD...
 *   fp4 data head SHARD [--tokens N] [--gpt2-dir DIR]
 * Exit codes: 0 ok, 1 runtime error, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp4_cli.h"
#include "fp4kit/data.h"

void fp4_cmd_data_usage(FILE *out) {
    fprintf(out,
            "usage: fp4 data build --out PREFIX [--tokenizer byte|gpt2] [--gpt2-dir DIR] [--val-frac F] [--seed N] DIR...\n"
            "       fp4 data info SHARD...\n"
            "       fp4 data head SHARD [--tokens N] [--gpt2-dir DIR]\n"
            "\n"
            "build  splits each corpus DIR (one UTF-8 text file per document) into train/val by whole\n"
            "       documents (default --val-frac 0.08, --seed 1337), tokenizes (default byte-level; gpt2\n"
            "       needs encoder.json and vocab.bpe in --gpt2-dir) and writes PREFIX_train.bin,\n"
            "       PREFIX_val.bin and PREFIX_split.tsv.\n"
            "info   validates shards and prints vocabulary, bytes per token, end-of-text id, tokens, checksum.\n"
            "head   decodes the first N (default 200) tokens to stdout (vocabulary 256: bytes; 50257: gpt2).\n"
            "exit status: 0 success, 1 runtime error, 2 usage error\n");
}

static int fail(const char *what, fp4_status st) {
    fprintf(stderr, "fp4 data: %s: %s: %s\n", what, fp4_status_str(st), fp4_last_error());
    return 1;
}

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "fp4 data: %s%s%s (see fp4 data --help)\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: 1 and *val set, 0 if another argument, -1 if no value. */
static int opt(int argc, char **argv, int *i, const char *name, const char **val) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return 0;
    if (argv[*i][n] == '=') { *val = argv[*i] + n + 1; return 1; }
    if (argv[*i][n] != 0) return 0;
    if (*i + 1 >= argc) return -1;
    *val = argv[++*i];
    return 1;
}

static fp4_status load_tokenizer(const char *kind, const char *gpt2_dir, fp4_tokenizer **tok) {
    if (!strcmp(kind, "byte")) return fp4_tokenizer_byte(tok);
    char e[4096], v[4096];
    snprintf(e, sizeof e, "%s/encoder.json", gpt2_dir ? gpt2_dir : ".");
    snprintf(v, sizeof v, "%s/vocab.bpe", gpt2_dir ? gpt2_dir : ".");
    return fp4_tokenizer_gpt2(e, v, tok);
}

static int cmd_build(int argc, char **argv) {
    const char *out = NULL, *kind = "byte", *gpt2_dir = NULL, *frac_s = "0.08", *seed_s = "1337", *v;
    const char **dirs = calloc((size_t)argc, sizeof *dirs);
    size_t nd = 0;
    if (!dirs) return fail("build", fp4_fail(FP4_ERR_NOMEM, "out of memory"));
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = opt(argc, argv, &i, "--out", &v)) > 0) out = v;
        else if (r == 0 && (r = opt(argc, argv, &i, "--tokenizer", &v)) > 0) kind = v;
        else if (r == 0 && (r = opt(argc, argv, &i, "--gpt2-dir", &v)) > 0) gpt2_dir = v;
        else if (r == 0 && (r = opt(argc, argv, &i, "--val-frac", &v)) > 0) frac_s = v;
        else if (r == 0 && (r = opt(argc, argv, &i, "--seed", &v)) > 0) seed_s = v;
        if (r < 0) { free(dirs); return usage_error("option needs a value", argv[i]); }
        if (r == 0) {
            if (argv[i][0] == '-') { free(dirs); return usage_error("unknown option", argv[i]); }
            dirs[nd++] = argv[i];
        }
    }
    char *end;
    double frac = strtod(frac_s, &end);
    int bad_frac = *end || !(frac >= 0 && frac < 1);
    unsigned long long seed = strtoull(seed_s, &end, 10);
    const char *err = !out ? "--out PREFIX is required" : !nd ? "no corpus directory given"
                    : strcmp(kind, "byte") && strcmp(kind, "gpt2") ? "--tokenizer must be byte or gpt2"
                    : bad_frac ? "--val-frac must be a number in [0, 1)" : *end ? "--seed must be an unsigned integer" : NULL;
    if (err) { free(dirs); return usage_error(err, NULL); }
    fp4_tokenizer *tok;
    fp4_status st = load_tokenizer(kind, gpt2_dir, &tok);
    if (st != FP4_OK) { free(dirs); return fail("loading the tokenizer", st); }
    fp4_data_report rep;
    st = fp4_data_build(tok, dirs, nd, frac, seed, out, &rep);
    fp4_tokenizer_free(tok);
    free(dirs);
    if (st != FP4_OK) return fail("build", st);
    static const char *names[2] = {"train", "val"};
    for (int s = 0; s < 2; s++)
        printf("%s_%s.bin: %llu documents, %llu bytes of text, %llu %s tokens\n", out, names[s], (unsigned long long)rep.docs[s],
               (unsigned long long)rep.bytes[s], (unsigned long long)rep.tokens[s], kind);
    return 0;
}

static int cmd_info(int argc, char **argv) {
    if (argc < 2) return usage_error("info needs at least one shard", NULL);
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        fp4_shard s;
        fp4_status st = fp4_shard_read(argv[i], &s);
        if (st != FP4_OK) { rc = fail("info", st); continue; }
        printf("%s: vocab %u, %u byte(s)/token, eot %ld, %llu tokens, fnv1a64 %016llx\n", argv[i], s.vocab, s.width,
               s.eot == FP4_SHARD_NO_EOT ? -1L : (long)s.eot, (unsigned long long)s.ntokens, (unsigned long long)s.checksum);
        fp4_shard_free(&s);
    }
    return rc;
}

static int cmd_head(int argc, char **argv) {
    const char *path = NULL, *gpt2_dir = NULL, *v;
    long n = 200;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = opt(argc, argv, &i, "--tokens", &v)) > 0) n = strtol(v, NULL, 10);
        else if (r == 0 && (r = opt(argc, argv, &i, "--gpt2-dir", &v)) > 0) gpt2_dir = v;
        if (r < 0) return usage_error("option needs a value", argv[i]);
        if (r == 0) {
            if (argv[i][0] == '-' || path) return usage_error("unexpected argument", argv[i]);
            path = argv[i];
        }
    }
    if (!path || n < 0) return usage_error("head needs one shard and --tokens N >= 0", NULL);
    fp4_shard s;
    fp4_status st = fp4_shard_read(path, &s);
    if (st != FP4_OK) return fail("head", st);
    fp4_tokenizer *tok = NULL;
    st = s.vocab == 256 ? fp4_tokenizer_byte(&tok) : load_tokenizer("gpt2", gpt2_dir, &tok);
    if (st == FP4_OK && fp4_tokenizer_vocab(tok) != s.vocab)
        st = fp4_fail(FP4_ERR_FORMAT, "shard vocabulary %u does not match the tokenizer's %u", s.vocab, fp4_tokenizer_vocab(tok));
    if (st != FP4_OK) { fp4_shard_free(&s); fp4_tokenizer_free(tok); return fail("head", st); }
    uint64_t k = (uint64_t)n < s.ntokens ? (uint64_t)n : s.ntokens;
    for (uint64_t i = 0; i < k; i++) {
        size_t len;
        const char *p = fp4_tokenizer_piece(tok, fp4_shard_token(&s, i), &len);
        if (fp4_shard_token(&s, i) == s.eot) fputs("\n<|endoftext|>\n", stdout);
        else fwrite(p, 1, len, stdout);
    }
    putchar('\n');
    fp4_shard_free(&s);
    fp4_tokenizer_free(tok);
    return 0;
}

/* argv[0] = "data". */
int fp4_cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fp4_cmd_data_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "build")) return cmd_build(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "head")) return cmd_head(argc - 1, argv + 1);
    return usage_error("unknown data command", argv[1]);
}

