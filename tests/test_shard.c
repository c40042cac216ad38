/* tests/test_shard.c — token shard files, the (B, T+1) dataloader and the corpus builder
 * (qat/shard.c, qat/data_build.c): round trips at every width, corrupt and truncated files
 * rejected with precise messages, sequential coverage, deterministic shuffles, bit-identical
 * resume from a saved position, and the document split.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fp4kit/data.h"
#include "harness.h"

static char *tmp(const char *name) {
    static char bufs[8][4096];
    static int k;
    k = (k + 1) % 8;
    return fp4t_tmppath(bufs[k], sizeof bufs[k], name);
}

/* Write ids 0..n-1 modulo vocab (so a token identifies its position when vocab > n). */
static void write_iota(const char *path, uint64_t n, uint32_t vocab) {
    uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    for (uint64_t i = 0; i < n; i++) ids[i] = (uint32_t)(i % vocab);
    FP4T_ASSERT_OK(fp4_shard_write(path, ids, n, vocab, FP4_SHARD_NO_EOT));
    free(ids);
}

static long file_size(const char *p) { struct stat sb; return stat(p, &sb) == 0 ? (long)sb.st_size : -1; }

static void test_roundtrip(void) {
    static const uint32_t vocabs[] = {256, 50257, 70000, 2};
    static const uint32_t widths[] = {1, 2, 4, 1};
    fp4t_rng r;
    fp4t_rng_seed(&r, 1);
    for (int v = 0; v < 4; v++) {
        uint64_t n = 1000 + v;
        uint32_t *ids = malloc(n * sizeof *ids);
        for (uint64_t i = 0; i < n; i++) ids[i] = (uint32_t)(fp4t_rng_u64(&r) % vocabs[v]);
        ids[0] = vocabs[v] - 1;
        const char *p = tmp("rt.bin");
        FP4T_ASSERT_OK(fp4_shard_write(p, ids, n, vocabs[v], 1));
        CU_ASSERT_EQUAL(file_size(p), 64 + (long)(n * widths[v]));
        fp4_shard s;
        FP4T_ASSERT_OK(fp4_shard_read(p, &s));
        CU_ASSERT_EQUAL(s.vocab, vocabs[v]);
        CU_ASSERT_EQUAL(s.width, widths[v]);
        CU_ASSERT_EQUAL(s.eot, 1);
        CU_ASSERT_EQUAL(s.ntokens, n);
        int same = 1;
        for (uint64_t i = 0; i < n; i++) same &= fp4_shard_token(&s, i) == ids[i];
        CU_ASSERT(same);
        fp4_shard_free(&s);
        free(ids);
    }
    /* empty shard; no temp file left behind; a missing directory is an I/O error */
    const char *p = tmp("empty.bin");
    FP4T_ASSERT_OK(fp4_shard_write(p, NULL, 0, 256, 0));
    fp4_shard s;
    FP4T_ASSERT_OK(fp4_shard_read(p, &s));
    CU_ASSERT_EQUAL(s.ntokens, 0);
    fp4_shard_free(&s);
    char t[4200];
    snprintf(t, sizeof t, "%s.tmp.%ld", p, (long)getpid());
    CU_ASSERT_EQUAL(file_size(t), -1);
    uint32_t one = 5;
    CU_ASSERT_EQUAL(fp4_shard_write(tmp("no/such/dir.bin"), &one, 1, 256, 0), FP4_ERR_IO);
    one = 256;
    CU_ASSERT_EQUAL(fp4_shard_write(tmp("big.bin"), &one, 1, 256, 0), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "not below the vocabulary"));
}

/* Copy src to dst with bytes [at, at+n) replaced by rep (or truncated to len if rep NULL). */
static void mutate(const char *src, const char *dst, long at, const void *rep, size_t n, long len) {
    FILE *f = fopen(src, "rb");
    static unsigned char buf[1 << 16];
    size_t sz = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (rep) memcpy(buf + at, rep, n);
    else sz = (size_t)len;
    f = fopen(dst, "wb");
    fwrite(buf, 1, sz, f);
    fclose(f);
}

static void expect_reject(const char *path, fp4_status want, const char *needle) {
    fp4_shard s;
    fp4_status st = fp4_shard_read(path, &s);
    CU_ASSERT_EQUAL(st, want);
    if (st == want && needle && !strstr(fp4_last_error(), needle))
        fprintf(stderr, "\n    message \"%s\" lacks \"%s\"\n", fp4_last_error(), needle);
    if (needle) CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), needle));
    CU_ASSERT_PTR_NULL(s.data);
}

static void test_corrupt(void) {
    const char *good = tmp("good.bin"), *bad = tmp("bad.bin");
    write_iota(good, 500, 50257); /* u16: 64 + 1000 bytes */
    uint32_t v;
    expect_reject(tmp("missing.bin"), FP4_ERR_IO, "missing.bin");
    mutate(good, bad, 0, "FP4TOKZ", 7, 0);
    expect_reject(bad, FP4_ERR_FORMAT, "bad magic");
    v = 2;
    mutate(good, bad, 8, &v, 4, 0);
    expect_reject(bad, FP4_ERR_FORMAT, "version 2");
    v = 3;
    mutate(good, bad, 16, &v, 4, 0);
    expect_reject(bad, FP4_ERR_FORMAT, "bytes per token");
    v = 1; /* u8 cannot hold a 50257 vocabulary */
    mutate(good, bad, 16, &v, 4, 0);
    expect_reject(bad, FP4_ERR_FORMAT, "vocabulary 50257");
    v = 60000;
    mutate(good, bad, 20, &v, 4, 0);
    expect_reject(bad, FP4_ERR_FORMAT, "end-of-text");
    mutate(good, bad, 50, "x", 1, 0);
    expect_reject(bad, FP4_ERR_FORMAT, "reserved");
    mutate(good, bad, 0, NULL, 0, 64 + 999);
    expect_reject(bad, FP4_ERR_FORMAT, "(truncated)");
    mutate(good, bad, 0, NULL, 0, 40);
    expect_reject(bad, FP4_ERR_FORMAT, "truncated");
    mutate(good, bad, 0, NULL, 0, 0);
    expect_reject(bad, FP4_ERR_FORMAT, "0 bytes");
    mutate(good, bad, 64 + 100, "\x07", 1, 0);
    expect_reject(bad, FP4_ERR_FORMAT, "checksum mismatch");
    /* trailing garbage */
    FILE *f = fopen(good, "ab");
    fputc(0, f);
    fclose(f);
    expect_reject(good, FP4_ERR_FORMAT, "1001 bytes after the header");
    /* a token beyond the vocabulary, with a consistent checksum */
    uint32_t ids[3] = {1, 2, 3};
    FP4T_ASSERT_OK(fp4_shard_write(good, ids, 3, 300, FP4_SHARD_NO_EOT));
    unsigned char tok[2] = {0x2c, 0x01}; /* 300 */
    uint64_t h = fp4_shard_fnv1a("\x01\x00", 2, FP4_FNV1A_INIT);
    h = fp4_shard_fnv1a(tok, 2, h);
    h = fp4_shard_fnv1a("\x03\x00", 2, h);
    unsigned char hb[8];
    for (int i = 0; i < 8; i++) hb[i] = (unsigned char)(h >> 8 * i);
    mutate(good, bad, 64 + 2, tok, 2, 0);
    mutate(bad, bad, 32, hb, 8, 0);
    expect_reject(bad, FP4_ERR_FORMAT, "token 1 is 300");
}

static void batches(fp4_loader *L, int nb, int B, int T, int32_t *out) {
    for (int b = 0; b < nb; b++) {
        int rows;
        FP4T_ASSERT_OK(fp4_loader_next(L, out + (size_t)b * B * (T + 1), &rows));
        CU_ASSERT_EQUAL(rows, B);
    }
}

static void test_sequential(void) {
    const char *a = tmp("sa.bin"), *b = tmp("sb.bin"), *c = tmp("sc.bin");
    write_iota(a, 101, 1 << 20); /* 100 windows of T=1..., here T=8: (101-1)/8 = 12 */
    write_iota(b, 5, 1 << 20);   /* too short for T=8: no window */
    write_iota(c, 40, 1 << 20);  /* (40-1)/8 = 4 */
    const char *paths[] = {a, b, c};
    fp4_loader *L;
    const int B = 5, T = 8;
    FP4T_ASSERT_OK(fp4_loader_open(paths, 3, B, T, FP4_LOADER_SEQUENTIAL, 0, &L));
    CU_ASSERT_EQUAL(fp4_loader_windows(L), 16);
    CU_ASSERT_EQUAL(fp4_loader_vocab(L), 1u << 20);
    int32_t batch[5 * 9];
    int rows, seen = 0, total_rows = 0;
    for (int it = 0; it < 10; it++) {
        FP4T_ASSERT_OK(fp4_loader_next(L, batch, &rows));
        if (rows == 0) break;
        for (int r = 0; r < rows; r++, seen++) {
            int shard_c = seen >= 12;
            int32_t start = (int32_t)((shard_c ? seen - 12 : seen) * T);
            for (int t = 0; t <= T; t++) CU_ASSERT_EQUAL(batch[r * (T + 1) + t], start + t);
        }
        total_rows += rows;
    }
    CU_ASSERT_EQUAL(total_rows, 16); /* 5 + 5 + 5 + 1, then 0 */
    FP4T_ASSERT_OK(fp4_loader_next(L, batch, &rows));
    CU_ASSERT_EQUAL(rows, 0);
    fp4_loader_reset(L);
    FP4T_ASSERT_OK(fp4_loader_next(L, batch, &rows));
    CU_ASSERT_EQUAL(rows, 5);
    CU_ASSERT_EQUAL(batch[0], 0);
    fp4_loader_close(L);
    /* nothing long enough */
    const char *only[] = {b};
    CU_ASSERT_EQUAL(fp4_loader_open(only, 1, B, T, FP4_LOADER_SEQUENTIAL, 0, &L), FP4_ERR_SHAPE);
    CU_ASSERT_PTR_NULL(L);
    /* mixed vocabularies */
    const char *d = tmp("sd.bin");
    write_iota(d, 100, 256);
    const char *mixed[] = {a, d};
    CU_ASSERT_EQUAL(fp4_loader_open(mixed, 2, B, T, FP4_LOADER_SEQUENTIAL, 0, &L), FP4_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "vocabulary"));
}

/* Random mode: each epoch visits every window exactly once; same seed -> same batches. */
static void test_random_deterministic(void) {
    const char *a = tmp("ra.bin"), *c = tmp("rc.bin");
    write_iota(a, 1001, 1 << 20);
    write_iota(c, 333, 1 << 20);
    const char *paths[] = {a, c};
    const int B = 7, T = 16, NB = 40;
    fp4_loader *L1, *L2, *L3;
    FP4T_ASSERT_OK(fp4_loader_open(paths, 2, B, T, FP4_LOADER_RANDOM, 42, &L1));
    FP4T_ASSERT_OK(fp4_loader_open(paths, 2, B, T, FP4_LOADER_RANDOM, 42, &L2));
    FP4T_ASSERT_OK(fp4_loader_open(paths, 2, B, T, FP4_LOADER_RANDOM, 43, &L3));
    size_t per = (size_t)NB * B * (T + 1);
    int32_t *x1 = malloc(per * sizeof *x1), *x2 = malloc(per * sizeof *x2), *x3 = malloc(per * sizeof *x3);
    batches(L1, NB, B, T, x1);
    batches(L2, NB, B, T, x2);
    batches(L3, NB, B, T, x3);
    CU_ASSERT(memcmp(x1, x2, per * sizeof *x1) == 0);
    CU_ASSERT(memcmp(x1, x3, per * sizeof *x1) != 0);
    /* windows are consecutive tokens; the first epoch (offset o) visits each window once */
    int ok = 1;
    for (size_t w = 0; w < (size_t)NB * B; w++)
        for (int t = 1; t <= T; t++) ok &= x1[w * (T + 1) + t] == x1[w * (T + 1)] + t;
    CU_ASSERT(ok);
    fp4_loader_pos pos;
    fp4_loader_tell(L1, &pos);
    CU_ASSERT(pos.epoch >= 1); /* 280 windows > one epoch of ~82 */
    /* epoch 0 covers each of its windows once: starts of epoch 0 are distinct and congruent */
    fp4_loader_reset(L2);
    fp4_loader_pos p0;
    fp4_loader_tell(L2, &p0);
    CU_ASSERT_EQUAL(p0.epoch, 0);
    CU_ASSERT_EQUAL(p0.next, 0);
    free(x1); free(x2); free(x3);
    fp4_loader_close(L1); fp4_loader_close(L2); fp4_loader_close(L3);
}

static void test_epoch_coverage(void) {
    const char *a = tmp("ea.bin");
    write_iota(a, 10000, 1 << 20);
    const char *paths[] = {a};
    const int B = 1, T = 10;
    fp4_loader *L;
    FP4T_ASSERT_OK(fp4_loader_open(paths, 1, B, T, FP4_LOADER_RANDOM, 9, &L));
    static unsigned char hit[10000];
    int32_t row[11];
    int rows, first_start = -1, ok = 1;
    fp4_loader_pos pos;
    for (int i = 0;; i++) {
        FP4T_ASSERT_OK(fp4_loader_next(L, row, &rows));
        fp4_loader_tell(L, &pos); /* the epoch of the window just returned */
        if (pos.epoch == 1) break;
        if (first_start < 0) first_start = row[0] % T;
        ok &= row[0] % T == first_start && !hit[row[0]];
        hit[row[0]] = 1;
        CU_ASSERT_FATAL(i < 2000);
    }
    CU_ASSERT(ok);
    int n = 0;
    for (int i = 0; i < 10000; i++) n += hit[i];
    CU_ASSERT_EQUAL(n, (10000 - first_start - 1) / T);
    fp4_loader_close(L);
}

static void test_resume(void) {
    const char *a = tmp("ua.bin"), *c = tmp("uc.bin");
    write_iota(a, 2000, 1 << 20);
    write_iota(c, 700, 1 << 20);
    const char *paths[] = {a, c};
    const int B = 6, T = 12;
    for (int mode = 0; mode < 2; mode++) {
        for (int cut = 0; cut < 60; cut += 13) {
            fp4_loader *L1, *L2;
            FP4T_ASSERT_OK(fp4_loader_open(paths, 2, B, T, (fp4_loader_mode)mode, 5, &L1));
            FP4T_ASSERT_OK(fp4_loader_open(paths, 2, B, T, (fp4_loader_mode)mode, 5, &L2));
            int32_t x[6 * 13], y[6 * 13];
            int r1, r2, same = 1;
            for (int i = 0; i < cut; i++) FP4T_ASSERT_OK(fp4_loader_next(L1, x, &r1));
            fp4_loader_pos pos;
            fp4_loader_tell(L1, &pos);
            /* round-trip the position through bytes, as a checkpoint would */
            unsigned char saved[sizeof pos];
            memcpy(saved, &pos, sizeof pos);
            fp4_loader_pos back;
            memcpy(&back, saved, sizeof back);
            FP4T_ASSERT_OK(fp4_loader_next(L2, y, &r2)); /* L2 is somewhere else first */
            FP4T_ASSERT_OK(fp4_loader_seek(L2, &back));
            for (int i = 0; i < 40; i++) {
                FP4T_ASSERT_OK(fp4_loader_next(L1, x, &r1));
                FP4T_ASSERT_OK(fp4_loader_next(L2, y, &r2));
                same &= r1 == r2 && memcmp(x, y, (size_t)r1 * (T + 1) * sizeof *x) == 0;
            }
            CU_ASSERT(same);
            fp4_loader_close(L1);
            fp4_loader_close(L2);
        }
    }
    /* refusals */
    fp4_loader *L, *M;
    FP4T_ASSERT_OK(fp4_loader_open(paths, 2, B, T, FP4_LOADER_RANDOM, 5, &L));
    fp4_loader_pos pos;
    fp4_loader_tell(L, &pos);
    FP4T_ASSERT_OK(fp4_loader_open(paths, 2, B, T, FP4_LOADER_RANDOM, 6, &M));
    CU_ASSERT_EQUAL(fp4_loader_seek(M, &pos), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "seed 5"));
    fp4_loader_close(M);
    const char *other[] = {a};
    FP4T_ASSERT_OK(fp4_loader_open(other, 1, B, T, FP4_LOADER_RANDOM, 5, &M));
    CU_ASSERT_EQUAL(fp4_loader_seek(M, &pos), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "other shards"));
    fp4_loader_close(M);
    pos.magic = 0;
    CU_ASSERT_EQUAL(fp4_loader_seek(L, &pos), FP4_ERR_FORMAT);
    fp4_loader_close(L);
}

/* ---------------------------------------------------------------------------------------- */

static void write_text(const char *dir, const char *name, const char *text) {
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
}

static void test_build(void) {
    char *c1 = tmp("alpha"), *c2 = tmp("beta");
    mkdir(c1, 0755);
    mkdir(c2, 0755);
    char name[32], text[64];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "doc%02d.txt", i);
        snprintf(text, sizeof text, "alpha document %d.\n", i);
        write_text(c1, name, text);
    }
    write_text(c2, "only.txt", "beta\n");
    fp4_tokenizer *tok;
    FP4T_ASSERT_OK(fp4_tokenizer_byte(&tok));
    const char *dirs[] = {c1, c2};
    fp4_data_report rep;
    char prefix[4200], p2[4200], tr[4300], va[4300], ts[4300];
    fp4t_tmppath(prefix, sizeof prefix, "mix");
    FP4T_ASSERT_OK(fp4_data_build(tok, dirs, 2, 0.1, 1234, prefix, &rep));
    CU_ASSERT_EQUAL(rep.docs[1], 4); /* round(0.1 * 40); the single beta document stays in train */
    CU_ASSERT_EQUAL(rep.docs[0], 37);
    snprintf(tr, sizeof tr, "%s_train.bin", prefix);
    snprintf(va, sizeof va, "%s_val.bin", prefix);
    snprintf(ts, sizeof ts, "%s_split.tsv", prefix);
    fp4_shard s, v;
    FP4T_ASSERT_OK(fp4_shard_read(tr, &s));
    FP4T_ASSERT_OK(fp4_shard_read(va, &v));
    CU_ASSERT_EQUAL(s.ntokens, rep.tokens[0]);
    CU_ASSERT_EQUAL(v.ntokens, rep.tokens[1]);
    CU_ASSERT_EQUAL(rep.tokens[0] + rep.tokens[1], rep.bytes[0] + rep.bytes[1] + 41); /* + one eot per doc */
    CU_ASSERT_EQUAL(s.eot, 0);
    CU_ASSERT_EQUAL(fp4_shard_token(&s, 0), 0);
    /* val text is exactly the val documents, each after a NUL */
    char *vt;
    size_t vn;
    uint32_t *ids = malloc(v.ntokens * sizeof *ids);
    for (uint64_t i = 0; i < v.ntokens; i++) ids[i] = fp4_shard_token(&v, i);
    FP4T_ASSERT_OK(fp4_tokenizer_decode(tok, ids, v.ntokens, &vt, &vn));
    FILE *f = fopen(ts, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[512], expect[4096] = "";
    int nval = 0, lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        char sp[16], corpus[64], doc[64];
        if (sscanf(line, "%15s %63s %63s", sp, corpus, doc) == 3 && !strcmp(sp, "val")) {
            int k;
            CU_ASSERT_EQUAL(sscanf(doc, "doc%d.txt", &k), 1);
            size_t e = strlen(expect);
            expect[e] = 1; /* placeholder for the NUL separator */
            snprintf(expect + e + 1, sizeof expect - e - 1, "alpha document %d.\n", k);
            nval++;
        }
    }
    fclose(f);
    CU_ASSERT_EQUAL(lines, 42);
    CU_ASSERT_EQUAL(nval, 4);
    for (size_t i = 0; i < vn; i++) if (vt[i] == 0) vt[i] = 1;
    CU_ASSERT_STRING_EQUAL(vt, expect);
    free(vt);
    free(ids);
    /* deterministic: same seed, same shards; another seed, another split */
    fp4t_tmppath(p2, sizeof p2, "mix2");
    FP4T_ASSERT_OK(fp4_data_build(tok, dirs, 2, 0.1, 1234, p2, NULL));
    snprintf(tr, sizeof tr, "%s_val.bin", p2);
    fp4_shard v2;
    FP4T_ASSERT_OK(fp4_shard_read(tr, &v2));
    CU_ASSERT_EQUAL(v2.checksum, v.checksum);
    fp4_shard_free(&v2);
    FP4T_ASSERT_OK(fp4_data_build(tok, dirs, 2, 0.1, 99, p2, NULL));
    FP4T_ASSERT_OK(fp4_shard_read(tr, &v2));
    CU_ASSERT_NOT_EQUAL(v2.checksum, v.checksum);
    fp4_shard_free(&v2);
    fp4_shard_free(&s);
    fp4_shard_free(&v);
    /* errors name the culprit */
    write_text(c2, "nul.txt", "x");
    char np[4300];
    snprintf(np, sizeof np, "%s/nul.txt", c2);
    f = fopen(np, "ab");
    fputc(0, f);
    fclose(f);
    CU_ASSERT_EQUAL(fp4_data_build(tok, dirs, 2, 0.1, 1, p2, NULL), FP4_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "nul.txt"));
    const char *none[] = {tmp("nonexistent")};
    CU_ASSERT_EQUAL(fp4_data_build(tok, none, 1, 0.1, 1, p2, NULL), FP4_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "nonexistent"));
    fp4_tokenizer_free(tok);
}

static CU_TestInfo shard_tests[] = {
    {"write/read round trip at widths 1, 2, 4", test_roundtrip},
    {"corrupt and truncated shards are rejected", test_corrupt},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo loader_tests[] = {
    {"sequential pass covers every window once", test_sequential},
    {"random batches are deterministic for a seed", test_random_deterministic},
    {"a random epoch visits each window once", test_epoch_coverage},
    {"resume from a saved position is bit-identical", test_resume},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo build_tests[] = {
    {"corpus split and shards", test_build},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"shard", NULL, NULL, NULL, NULL, shard_tests},
    {"loader", NULL, NULL, NULL, NULL, loader_tests},
    {"data_build", NULL, NULL, NULL, NULL, build_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
