/* tests/harness.c — see harness.h. */
#include "harness.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fp4kit/context.h"
#include "fp4kit/data.h"
#include "fp4kit/quantize.h"

int fp4t_have_gpu(void) { return fp4_build_has_cuda() && fp4_cuda_device_count() > 0; }

int fp4t_main(CU_SuiteInfo *suites, int argc, char **argv) {
    (void)argc;
    (void)argv;
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "CUnit registration failed: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 1;
    }
    const int gpu = fp4t_have_gpu();
    int active = 0, skipped = 0;
    for (CU_SuiteInfo *s = suites; s->pName; s++) {
        CU_pSuite ps = CU_get_suite(s->pName);
        if (!strncmp(s->pName, "gpu", 3) && !gpu) {
            CU_set_suite_active(ps, CU_FALSE);
            printf("SKIPPED: suite '%s' needs a CUDA device (%s)\n", s->pName,
                   fp4_build_has_cuda() ? "none present" : "this build has no CUDA");
            skipped++;
        } else {
            active++;
        }
    }
    /* FP4T_ONLY=text: run only the tests whose name contains text (debugging one test, e.g.
     * under compute-sanitizer); the others are inactive, not failed */
    const char *only = getenv("FP4T_ONLY");
    if (only && only[0])
        for (CU_SuiteInfo *s = suites; s->pName; s++) {
            CU_pSuite ps = CU_get_suite(s->pName);
            for (CU_TestInfo *t = s->pTests; t && t->pName; t++)
                if (!strstr(t->pName, only)) CU_set_test_active(CU_get_test(ps, t->pName), CU_FALSE);
        }
    CU_set_fail_on_inactive(CU_FALSE);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    if (failed) return 1;
    if (!active && skipped) return 77;
    return 0;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fp4t_rng_seed(fp4t_rng *r, uint64_t seed) {
    uint64_t x = seed;
    r->s = splitmix64(&x) | 1;
}

uint64_t fp4t_rng_u64(fp4t_rng *r) {
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double fp4t_rng_uniform(fp4t_rng *r) { return (double)(fp4t_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

double fp4t_rng_normal(fp4t_rng *r) {
    double u1 = fp4t_rng_uniform(r), u2 = fp4t_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static char fp4t_dir[256];

const char *fp4t_tmpdir(void) {
    if (!fp4t_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(fp4t_dir, sizeof fp4t_dir, "%s/fp4t-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(fp4t_dir)) snprintf(fp4t_dir, sizeof fp4t_dir, "/tmp");
    }
    return fp4t_dir;
}

char *fp4t_tmppath(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", fp4t_tmpdir(), name);
    return buf;
}

float *fp4t_gauss_blocks(int64_t n, uint64_t seed, double spread) {
    float *x = malloc((size_t)n * sizeof(float));
    if (!x) return NULL;
    fp4t_rng g;
    fp4t_rng_seed(&g, seed);
    double mag = 1.0;
    for (int64_t i = 0; i < n; i++) {
        if (i % 16 == 0) mag = exp(spread * fp4t_rng_normal(&g));
        x[i] = (float)(fp4t_rng_normal(&g) * mag);
    }
    return x;
}

fp4_status fp4t_quantize_host(float *x, int64_t R, int64_t C, const fp4_config *cfg, fp4_qtensor *row,
                              fp4_qtensor *col) {
    fp4_view v = fp4_view_make(x, FP4_DTYPE_F32, R, C, FP4_HOST);
    if (row) FP4_TRY(fp4_qtensor_alloc(row, R, C, cfg, FP4_HOST));
    if (col) FP4_TRY(fp4_qtensor_alloc(col, C, R, cfg, FP4_HOST));
    return fp4_quantize(NULL, &v, cfg, row, col);
}

fp4_status fp4t_tiny_corpus(char *dir, size_t cap) {
    snprintf(dir, cap, "%s/data", fp4t_tmpdir());
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return fp4_fail(FP4_ERR_IO, "mkdir %s failed", dir);
    const char *phrase = "the quick brown fox jumps over the lazy dog; ";
    const size_t n = 60000, plen = strlen(phrase);
    uint32_t *ids = malloc(n * sizeof *ids);
    if (!ids) return fp4_fail(FP4_ERR_NOMEM, "fp4t_tiny_corpus: out of memory");
    fp4t_rng r;
    fp4t_rng_seed(&r, 9);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = (uint32_t)phrase[i % plen] % 64u;
        if (fp4t_rng_u64(&r) % 10 == 0) c = (uint32_t)(fp4t_rng_u64(&r) % 64);
        ids[i] = c;
    }
    char p[1100];
    snprintf(p, sizeof p, "%s/pretrain_train.bin", dir);
    fp4_status s = fp4_shard_write(p, ids, n, 64, 0);
    snprintf(p, sizeof p, "%s/pretrain_val.bin", dir);
    if (s == FP4_OK) s = fp4_shard_write(p, ids + 50000, 10000, 64, 0);
    free(ids);
    return s;
}
