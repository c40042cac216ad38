/* tests/harness.h — the shared CUnit runner for every test binary.
 *
 * Each tests/test_*.c (CPU) or tests/gpu_*.c|.cu (GPU) file defines its CU_TestInfo arrays and
 * a CU_SuiteInfo array and calls fp4t_main(). Suites whose name starts with "gpu" are made
 * inactive, with a loud "SKIPPED" line, when no CUDA device is present; a binary whose every
 * suite was skipped exits 77, which ctest reports as "Skipped". CPU suites always run.
 * Exit status: 0 if no test and no suite failed, 1 otherwise.
 *
 * Helpers: fp4t_rng (a small deterministic generator for test data), fp4t_tmpdir() (a fresh
 * temporary directory per binary) and FP4T_ASSERT_OK(st) (prints fp4_last_error() on failure).
 */
#ifndef FP4KIT_TESTS_HARNESS_H
#define FP4KIT_TESTS_HARNESS_H

#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>

#include "fp4kit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

int fp4t_main(CU_SuiteInfo *suites, int argc, char **argv);

/* 1 if a CUDA device is usable by this build. */
int fp4t_have_gpu(void);

/* Deterministic test data: splitmix64-seeded xorshift. */
typedef struct { uint64_t s; } fp4t_rng;
void fp4t_rng_seed(fp4t_rng *r, uint64_t seed);
uint64_t fp4t_rng_u64(fp4t_rng *r);
double fp4t_rng_uniform(fp4t_rng *r);              /* [0, 1) */
double fp4t_rng_normal(fp4t_rng *r);               /* N(0, 1) */

/* n floats of Gaussian data whose 16-element blocks span a wide dynamic range (log-normal block
 * magnitudes, exp(spread * N(0,1))). malloc'ed; the caller frees. */
float *fp4t_gauss_blocks(int64_t n, uint64_t seed, double spread);

/* Allocate the requested host outputs (row [R, C], col [C, R]; either may be NULL) and quantize
 * the F32 array x [R, C] into them with fp4_quantize. */
struct fp4_config;
struct fp4_qtensor;
fp4_status fp4t_quantize_host(float *x, int64_t R, int64_t C, const struct fp4_config *cfg, struct fp4_qtensor *row,
                              struct fp4_qtensor *col);

/* A tiny text-like corpus for trainer tests: <tmpdir>/data/pretrain_{train,val}.bin, vocabulary 64,
 * a repeating phrase with 10 % noise (60000 train tokens; val = the last 10000). Writes the
 * directory into dir. */
fp4_status fp4t_tiny_corpus(char *dir, size_t cap);

/* A per-process temporary directory (created on first use, e.g. /tmp/fp4t-XXXXXX). */
const char *fp4t_tmpdir(void);
/* Writes "<tmpdir>/<name>" into buf and returns buf. */
char *fp4t_tmppath(char *buf, size_t cap, const char *name);

#define FP4T_ASSERT_OK(expr)                                                                   \
    do {                                                                                       \
        fp4_status fp4t_st_ = (expr);                                                          \
        if (fp4t_st_ != FP4_OK)                                                                \
            fprintf(stderr, "\n    %s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr,          \
                    fp4_status_str(fp4t_st_), fp4_last_error());                               \
        CU_ASSERT_EQUAL_FATAL(fp4t_st_, FP4_OK);                                               \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
