/* examples/fp4_cli.h — what the `fp4` command's sources share: the subcommand table entry,
 * exit codes, error printing, option matching and small formatting helpers (defined in fp4.c).
 *
 * Adding a subcommand: write examples/fp4_<name>.c defining fp4_cmd_<name> and
 * fp4_cmd_<name>_usage, declare them below, and add one line to the table in fp4.c.
 */
#ifndef FP4_CLI_H
#define FP4_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fp4kit/fp4kit.h"

/* Exit codes of every subcommand. */
enum { FP4_EXIT_OK = 0, FP4_EXIT_RUNTIME = 1, FP4_EXIT_USAGE = 2 };

/* One subcommand: run gets argv[0] = the subcommand name. usage prints the full help. */
typedef struct fp4_cli_command {
    const char *name;
    const char *summary; /* one line for `fp4 --help` */
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *out);
} fp4_cli_command;

int fp4_cmd_quantize(int argc, char **argv);
void fp4_cmd_quantize_usage(FILE *out);
int fp4_cmd_inspect(int argc, char **argv);
void fp4_cmd_inspect_usage(FILE *out);
int fp4_cmd_data(int argc, char **argv);
void fp4_cmd_data_usage(FILE *out);
int fp4_cmd_train(int argc, char **argv);
void fp4_cmd_train_usage(FILE *out);
int fp4_cmd_eval(int argc, char **argv);
void fp4_cmd_eval_usage(FILE *out);
int fp4_cmd_sample(int argc, char **argv);
void fp4_cmd_sample_usage(FILE *out);

/* Print "fp4 <cmd>: <what>: <STATUS>: <library message>" to stderr; returns FP4_EXIT_RUNTIME. */
int fp4_cli_fail(const char *cmd, fp4_status st, const char *what);
/* Print "fp4 <cmd>: <message>" and a pointer to --help to stderr; returns FP4_EXIT_USAGE. */
int fp4_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Match option `name` at argv[*i], as "--name VALUE" or "--name=VALUE".
 * Returns 1 and sets *value (advancing *i past a separate value), 0 if argv[*i] is another
 * option, -1 if the value is missing (a usage error has been printed). */
int fp4_cli_opt(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value);
/* 1 if argv is "-h" or "--help". */
int fp4_cli_is_help(const char *arg);

/* "[3, 4]" (or "[]" for a scalar) into buf. */
char *fp4_cli_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap);
/* "1.5 MiB" into buf. */
char *fp4_cli_bytes_str(uint64_t bytes, char *buf, size_t cap);
/* IEEE half -> float (exact). */
float fp4_cli_f16_to_f32(uint16_t h);
/* Convert n elements of an F32/BF16/F16 tensor's (possibly unaligned) data to float.
 * FP4_ERR_DTYPE for any other dtype. */
fp4_status fp4_cli_to_f32(const fp4_st_tensor *t, float *out);

#endif
