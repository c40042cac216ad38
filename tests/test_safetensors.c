/* tests/test_safetensors.c — safetensors reader/writer and atomic writes.
 *
 * Round trips of every dtype class (scalar shape [], empty tensors, metadata with characters
 * that need escaping), the atomic-write guarantee (failed saves leave the old file and no temp
 * file), and a table of corrupted files, each of which must be rejected with FP4_ERR_FORMAT and
 * a message naming the problem.
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fp4kit/fp4kit.h"
#include "harness.h"

/* ---------------------------------------------------------------------------------------- */
/* helpers                                                                                    */

static int read_file(const char *path, unsigned char **buf, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(*buf, 1, (size_t)n, fp);
    fclose(fp);
    return *len == (size_t)n ? 0 : -1;
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    CU_ASSERT_EQUAL(fwrite(p, 1, n, fp), n);
    fclose(fp);
}

/* A file image from a header string (no padding) and data bytes; returns malloc'ed bytes. */
static unsigned char *make_image(const char *hdr, uint64_t hlen_field, const void *data, size_t dlen, size_t *len) {
    size_t h = strlen(hdr);
    *len = 8 + h + dlen;
    unsigned char *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen_field >> (8 * i));
    memcpy(b + 8, hdr, h);
    if (dlen) memcpy(b + 8 + h, data, dlen);
    return b;
}

/* Count directory entries containing ".tmp." (leftover temp files). */
static int count_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* round trips                                                                                */

static void test_roundtrip(void) {
    float f32[15];
    for (int i = 0; i < 15; i++) f32[i] = (float)i * 0.5f - 3.0f;
    uint16_t bf16[4] = {0x3f80, 0xbf80, 0x0000, 0x7fc0};
    uint8_t u8[24];
    for (int i = 0; i < 24; i++) u8[i] = (uint8_t)(i * 7);
    int64_t i64 = -1234567890123ll;
    uint8_t e4m3[3] = {0x38, 0x7e, 0x01};
    int32_t i32[2] = {-5, 7};
    uint16_t f16[1] = {0x3c00};
    const int64_t s_f32[2] = {3, 5}, s_bf16[1] = {4}, s_u8[3] = {2, 3, 4}, s_empty[2] = {0, 7}, s_e4m3[1] = {3},
                  s_i32[2] = {1, 2}, s_f16[1] = {1};

    fp4_st_writer *w;
    FP4T_ASSERT_OK(fp4_st_writer_create(&w));
    FP4T_ASSERT_OK(fp4_st_writer_add(w, "layer.0.weight", FP4_ST_F32, 2, s_f32, f32, sizeof f32));
    FP4T_ASSERT_OK(fp4_st_writer_add(w, "b", FP4_ST_BF16, 1, s_bf16, bf16, sizeof bf16));
    FP4T_ASSERT_OK(fp4_st_writer_add_copy(w, "bytes", FP4_ST_U8, 3, s_u8, u8, sizeof u8));
    FP4T_ASSERT_OK(fp4_st_writer_add(w, "scalar", FP4_ST_I64, 0, NULL, &i64, 8));
    FP4T_ASSERT_OK(fp4_st_writer_add(w, "empty", FP4_ST_F8_E4M3, 2, s_empty, NULL, 0));
    FP4T_ASSERT_OK(fp4_st_writer_add(w, "scales", FP4_ST_F8_E4M3, 1, s_e4m3, e4m3, 3));
    FP4T_ASSERT_OK(fp4_st_writer_add(w, "ints", FP4_ST_I32, 2, s_i32, i32, 8));
    FP4T_ASSERT_OK(fp4_st_writer_add(w, "h", FP4_ST_F16, 1, s_f16, f16, 2));
    FP4T_ASSERT_OK(fp4_st_writer_set_metadata(w, "format", "pt"));
    FP4T_ASSERT_OK(fp4_st_writer_set_metadata(w, "quote\"key", "line1\nline2\t\\ \xc3\xa9"));
    FP4T_ASSERT_OK(fp4_st_writer_set_metadata(w, "format", "np")); /* replaces, keeps position */
    /* writer refusals */
    CU_ASSERT_EQUAL(fp4_st_writer_add(w, "b", FP4_ST_U8, 1, s_bf16, u8, 4), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "already added"));
    CU_ASSERT_EQUAL(fp4_st_writer_add(w, "bad", FP4_ST_F32, 1, s_bf16, f32, 12), FP4_ERR_SHAPE);
    CU_ASSERT_EQUAL(fp4_st_writer_add(w, "__metadata__", FP4_ST_U8, 1, s_bf16, u8, 4), FP4_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(fp4_st_writer_count(w), 8);

    char path[512];
    fp4t_tmppath(path, sizeof path, "rt.safetensors");
    FP4T_ASSERT_OK(fp4_st_writer_save(w, path));
    fp4_st_writer_free(w);

    fp4_st_file *f;
    FP4T_ASSERT_OK(fp4_st_open(path, &f));
    CU_ASSERT_EQUAL_FATAL(fp4_st_count(f), 8);
    CU_ASSERT_EQUAL((8 + fp4_st_header_bytes(f)) % 8, 0);
    CU_ASSERT_EQUAL(fp4_st_data_bytes(f), sizeof f32 + sizeof bf16 + sizeof u8 + 8 + 3 + 8 + 2);
    const char *order[8] = {"layer.0.weight", "b", "bytes", "scalar", "empty", "scales", "ints", "h"};
    for (int i = 0; i < 8; i++) CU_ASSERT_STRING_EQUAL(fp4_st_tensor_at(f, (size_t)i)->name, order[i]);

    const fp4_st_tensor *t = fp4_st_find(f, "layer.0.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->dtype, FP4_ST_F32);
    CU_ASSERT_EQUAL(t->ndim, 2);
    CU_ASSERT_EQUAL(t->shape[0], 3);
    CU_ASSERT_EQUAL(t->shape[1], 5);
    CU_ASSERT_EQUAL(t->nbytes, sizeof f32);
    CU_ASSERT_EQUAL(memcmp(t->data, f32, sizeof f32), 0);
    t = fp4_st_find(f, "scalar");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->ndim, 0);
    CU_ASSERT_EQUAL(t->numel, 1);
    int64_t got;
    memcpy(&got, t->data, 8);
    CU_ASSERT_EQUAL(got, i64);
    t = fp4_st_find(f, "empty");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->nbytes, 0);
    CU_ASSERT_EQUAL(t->numel, 0);
    CU_ASSERT_EQUAL(t->shape[1], 7);
    CU_ASSERT_EQUAL(t->dtype, FP4_ST_F8_E4M3);
    t = fp4_st_find(f, "bytes");
    CU_ASSERT_EQUAL(t->ndim, 3);
    CU_ASSERT_EQUAL(memcmp(t->data, u8, 24), 0);
    t = fp4_st_find(f, "b");
    CU_ASSERT_EQUAL(t->dtype, FP4_ST_BF16);
    CU_ASSERT_EQUAL(memcmp(t->data, bf16, 8), 0);
    CU_ASSERT_EQUAL(memcmp(fp4_st_find(f, "scales")->data, e4m3, 3), 0);
    CU_ASSERT_EQUAL(memcmp(fp4_st_find(f, "ints")->data, i32, 8), 0);
    CU_ASSERT_EQUAL(fp4_st_find(f, "h")->dtype, FP4_ST_F16);
    CU_ASSERT_PTR_NULL(fp4_st_find(f, "missing"));

    CU_ASSERT_EQUAL(fp4_st_metadata_count(f), 2);
    CU_ASSERT_STRING_EQUAL(fp4_st_metadata_get(f, "format"), "np");
    CU_ASSERT_STRING_EQUAL(fp4_st_metadata_get(f, "quote\"key"), "line1\nline2\t\\ \xc3\xa9");
    const char *k, *v;
    FP4T_ASSERT_OK(fp4_st_metadata_at(f, 0, &k, &v));
    CU_ASSERT_STRING_EQUAL(k, "format");
    CU_ASSERT_EQUAL(fp4_st_metadata_at(f, 2, &k, &v), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NULL(fp4_st_metadata_get(f, "nope"));
    fp4_st_close(f);

    /* Same bytes parsed from memory, with and without copying. */
    unsigned char *img = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(read_file(path, &img, &len), 0);
    FP4T_ASSERT_OK(fp4_st_parse(img, len, 1, &f));
    CU_ASSERT_EQUAL(fp4_st_count(f), 8);
    fp4_st_close(f);
    FP4T_ASSERT_OK(fp4_st_parse(img, len, 0, &f));
    CU_ASSERT_PTR_EQUAL(fp4_st_find(f, "layer.0.weight")->data, img + 8 + fp4_st_header_bytes(f));
    fp4_st_close(f);
    free(img);
}

static void test_empty_file_and_dtypes(void) {
    fp4_st_writer *w;
    FP4T_ASSERT_OK(fp4_st_writer_create(&w));
    char path[512];
    fp4t_tmppath(path, sizeof path, "none.safetensors");
    FP4T_ASSERT_OK(fp4_st_writer_save(w, path));
    fp4_st_writer_free(w);
    fp4_st_file *f;
    FP4T_ASSERT_OK(fp4_st_open(path, &f));
    CU_ASSERT_EQUAL(fp4_st_count(f), 0);
    CU_ASSERT_EQUAL(fp4_st_metadata_count(f), 0);
    fp4_st_close(f);
    for (int d = 0; d < FP4_ST_DTYPE_COUNT; d++) {
        fp4_st_dtype back;
        FP4T_ASSERT_OK(fp4_st_dtype_parse(fp4_st_dtype_name((fp4_st_dtype)d), &back));
        CU_ASSERT_EQUAL(back, d);
        CU_ASSERT(fp4_st_dtype_size((fp4_st_dtype)d) >= 1);
    }
    CU_ASSERT_EQUAL(fp4_st_dtype_size(FP4_ST_F8_E8M0), 1);
    CU_ASSERT_EQUAL(fp4_st_dtype_size(FP4_ST_BF16), 2);
    CU_ASSERT_EQUAL(fp4_st_dtype_size(FP4_ST_I64), 8);
}

/* ---------------------------------------------------------------------------------------- */
/* atomic writes                                                                              */

static void write_old(const char *path) { write_bytes(path, "OLD CONTENT", 11); }
static int is_old(const char *path) {
    unsigned char *b;
    size_t n;
    if (read_file(path, &b, &n)) return 0;
    int ok = n == 11 && !memcmp(b, "OLD CONTENT", 11);
    free(b);
    return ok;
}

static void test_atomic_failures(void) {
    char dir[512], path[600];
    fp4t_tmppath(dir, sizeof dir, "atomic");
    mkdir(dir, 0755);
    static uint8_t big[1 << 20];
    memset(big, 0x5a, sizeof big);
    const int64_t shape[1] = {sizeof big};
    fp4_st_writer *w;
    FP4T_ASSERT_OK(fp4_st_writer_create(&w));
    FP4T_ASSERT_OK(fp4_st_writer_add(w, "big", FP4_ST_U8, 1, shape, big, sizeof big));

    /* 1. the target is a directory: written completely, the rename fails, temp removed */
    snprintf(path, sizeof path, "%s/isdir", dir);
    mkdir(path, 0755);
    CU_ASSERT_EQUAL(fp4_st_writer_save(w, path), FP4_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "rename"));
    struct stat sb;
    CU_ASSERT(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
    CU_ASSERT_EQUAL(count_tmp_files(dir), 0);

    /* 2. the directory does not exist */
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", dir);
    CU_ASSERT_EQUAL(fp4_st_writer_save(w, path), FP4_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "temporary"));

    /* 3. a write fails half-way (file size limit, works even as root): old file intact */
    snprintf(path, sizeof path, "%s/target.safetensors", dir);
    write_old(path);
    struct rlimit old_lim, lim;
    getrlimit(RLIMIT_FSIZE, &old_lim);
    lim = old_lim;
    lim.rlim_cur = 4096;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);
    fp4_status st = fp4_st_writer_save(w, path);
    setrlimit(RLIMIT_FSIZE, &old_lim);
    signal(SIGXFSZ, old_handler);
    CU_ASSERT_EQUAL(st, FP4_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "byte offset"));
    CU_ASSERT(is_old(path));
    CU_ASSERT_EQUAL(count_tmp_files(dir), 0);

    /* 4. directory not writable (only meaningful when not root: root ignores permissions) */
    if (geteuid() != 0) {
        chmod(dir, 0555);
        CU_ASSERT_EQUAL(fp4_st_writer_save(w, path), FP4_ERR_IO);
        chmod(dir, 0755);
        CU_ASSERT(is_old(path));
        CU_ASSERT_EQUAL(count_tmp_files(dir), 0);
    }

    /* 5. a stale temp file of our pid is refused, not overwritten */
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    write_bytes(tmp, "x", 1);
    CU_ASSERT_EQUAL(fp4_st_writer_save(w, path), FP4_ERR_IO);
    CU_ASSERT(is_old(path));
    unlink(tmp);

    /* 6. success replaces the file completely */
    FP4T_ASSERT_OK(fp4_st_writer_save(w, path));
    CU_ASSERT_EQUAL(count_tmp_files(dir), 0);
    fp4_st_file *f;
    FP4T_ASSERT_OK(fp4_st_open(path, &f));
    CU_ASSERT_EQUAL(fp4_st_find(f, "big")->nbytes, sizeof big);
    CU_ASSERT_EQUAL(memcmp(fp4_st_find(f, "big")->data, big, sizeof big), 0);
    fp4_st_close(f);
    fp4_st_writer_free(w);
}

/* ---------------------------------------------------------------------------------------- */
/* corrupted files                                                                            */

typedef struct {
    const char *what;
    const char *hdr;   /* JSON header */
    size_t dlen;       /* data bytes appended (zeros) */
    const char *expect; /* substring of the message */
} bad_case;

static const bad_case bad_cases[] = {
    {"bad JSON", "{\"a\": {\"dtype\": \"U8\",", 0, "not valid JSON"},
    {"array instead of object", "[1, 2, 3]", 0, "not an object"},
    {"entry not an object", "{\"a\": 5}", 0, "not a JSON object"},
    {"missing dtype", "{\"a\": {\"shape\": [2], \"data_offsets\": [0, 2]}}", 2, "missing field \"dtype\""},
    {"missing shape", "{\"a\": {\"dtype\": \"U8\", \"data_offsets\": [0, 2]}}", 2, "missing field \"shape\""},
    {"missing data_offsets", "{\"a\": {\"dtype\": \"U8\", \"shape\": [2]}}", 2, "missing field \"data_offsets\""},
    {"extra field", "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2], \"x\": 1}}", 2, "unexpected field \"x\""},
    {"dtype not a string", "{\"a\": {\"dtype\": 4, \"shape\": [2], \"data_offsets\": [0, 2]}}", 2, "not a string"},
    {"unknown dtype", "{\"a\": {\"dtype\": \"F12\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 2, "unknown dtype \"F12\""},
    {"lower-case dtype", "{\"a\": {\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "unknown dtype"},
    {"shape not an array", "{\"a\": {\"dtype\": \"U8\", \"shape\": 2, \"data_offsets\": [0, 2]}}", 2, "\"shape\" is not an array"},
    {"negative dim", "{\"a\": {\"dtype\": \"U8\", \"shape\": [-2], \"data_offsets\": [0, 2]}}", 2, "shape[0] = -2 is negative"},
    {"float dim", "{\"a\": {\"dtype\": \"U8\", \"shape\": [2, 1.5], \"data_offsets\": [0, 3]}}", 3, "shape[1] = 1.5 is not an integer"},
    {"integral float dim", "{\"a\": {\"dtype\": \"U8\", \"shape\": [2.0], \"data_offsets\": [0, 2]}}", 2, "not a plain non-negative integer"},
    {"huge dim", "{\"a\": {\"dtype\": \"U8\", \"shape\": [1e300], \"data_offsets\": [0, 2]}}", 2, "exceeds 2^53"},
    {"string dim", "{\"a\": {\"dtype\": \"U8\", \"shape\": [\"2\"], \"data_offsets\": [0, 2]}}", 2, "shape[0] is not a number"},
    {"product overflow", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 4]}}", 4, "overflows"},
    {"too many dims", "{\"a\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}", 1, "more than 8"},
    {"offsets past the end", "{\"a\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [0, 8]}}", 4, "past the end"},
    {"begin > end", "{\"a\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [3, 1]}}", 4, "begin 3 > end 1"},
    {"offsets not integers", "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [\"0\", \"2\"]}}", 2, "data_offsets[0] is not a number"},
    {"offsets float", "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2.5]}}", 3, "data_offsets[1] = 2.5 is not an integer"},
    {"offsets three values", "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2, 4]}}", 4, "array of two integers"},
    {"size mismatch", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4, "size mismatch"},
    {"size mismatch F8", "{\"a\": {\"dtype\": \"F8_E4M3\", \"shape\": [3], \"data_offsets\": [0, 6]}}", 6, "size mismatch"},
    {"overlap", "{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
                " \"b\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [2, 6]}}", 6, "overlap"},
    {"gap", "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]},"
            " \"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [4, 6]}}", 6, "gap of 2"},
    {"trailing bytes", "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 5, "3 trailing bytes"},
    {"duplicate name", "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]},"
                       " \"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [2, 4]}}", 4, "duplicate tensor name 'a'"},
    {"duplicate field", "{\"a\": {\"dtype\": \"U8\", \"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 2, "appears twice"},
    {"metadata not an object", "{\"__metadata__\": [\"x\"]}", 0, "__metadata__ (header byte offset 9) is not a JSON object"},
    {"metadata value not a string", "{\"__metadata__\": {\"k\": 5}}", 0, "value of key \"k\" is not a string"},
    {"metadata duplicate key", "{\"__metadata__\": {\"k\": \"1\", \"k\": \"2\"}}", 0, "duplicate key \"k\""},
    {"invalid UTF-8", "{\"a\xff\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [0, 0]}}", 0, "UTF-8"},
    {"control character", "{\"a\x01\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [0, 0]}}", 0, "control character"},
    {"garbage after JSON", "{} xyz", 0, "after the JSON object"},
};

static void test_corrupt_headers(void) {
    static const unsigned char zeros[64];
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        size_t len;
        unsigned char *img = make_image(c->hdr, strlen(c->hdr), zeros, c->dlen, &len);
        fp4_st_file *f = (fp4_st_file *)1;
        fp4_status st = fp4_st_parse(img, len, 0, &f);
        int ok = st == FP4_ERR_FORMAT && f == NULL && strstr(fp4_last_error(), c->expect) != NULL;
        if (!ok)
            fprintf(stderr, "\n    case '%s': got %s \"%s\", wanted FP4_ERR_FORMAT containing \"%s\"\n", c->what,
                    fp4_status_str(st), fp4_last_error(), c->expect);
        CU_ASSERT(ok);
        if (getenv("FP4T_VERBOSE")) fprintf(stderr, "  [%s] %s\n", c->what, fp4_last_error());
        free(img);
    }
}

/* The length field and truncations of a valid file. */
static void test_corrupt_lengths(void) {
    const char *hdr = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}";
    static const unsigned char data[16];
    size_t len;
    unsigned char *img = make_image(hdr, strlen(hdr), data, 16, &len);
    fp4_st_file *f;
    FP4T_ASSERT_OK(fp4_st_parse(img, len, 0, &f));
    fp4_st_close(f);
    struct { size_t cut; const char *expect; } cuts[] = {
        {0, "shorter than the 8-byte"}, {5, "shorter than the 8-byte"}, {8, "longer than"},
        {8 + 10, "longer than"}, {8 + strlen(hdr), "past the end"}, {len - 1, "past the end"}};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        fp4_status st = fp4_st_parse(img, cuts[i].cut, 1, &f);
        CU_ASSERT_EQUAL(st, FP4_ERR_FORMAT);
        if (!strstr(fp4_last_error(), cuts[i].expect))
            fprintf(stderr, "\n    truncation at %zu: \"%s\"\n", cuts[i].cut, fp4_last_error());
        CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), cuts[i].expect));
    }
    /* header length one past the file */
    unsigned char *bad = make_image(hdr, strlen(hdr) + 17, data, 16, &len);
    CU_ASSERT_EQUAL(fp4_st_parse(bad, len, 0, &f), FP4_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "longer than"));
    free(bad);
    /* header length over 100 MB (the file is small: the limit is checked first) */
    bad = make_image(hdr, 100000001ull, data, 16, &len);
    CU_ASSERT_EQUAL(fp4_st_parse(bad, len, 0, &f), FP4_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "exceeds the 100000000-byte limit"));
    free(bad);
    bad = make_image(hdr, UINT64_MAX, data, 16, &len);
    CU_ASSERT_EQUAL(fp4_st_parse(bad, len, 0, &f), FP4_ERR_FORMAT);
    free(bad);
    /* header length 0 */
    bad = make_image(hdr, 0, data, 16, &len);
    CU_ASSERT_EQUAL(fp4_st_parse(bad, len, 0, &f), FP4_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "is 0"));
    free(bad);

    /* the same through the file API: truncated file, missing file, a directory */
    char path[512];
    fp4t_tmppath(path, sizeof path, "trunc.safetensors");
    write_bytes(path, img, len - 3);
    CU_ASSERT_EQUAL(fp4_st_open(path, &f), FP4_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "trunc.safetensors"));
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "past the end"));
    write_bytes(path, img, 0);
    CU_ASSERT_EQUAL(fp4_st_open(path, &f), FP4_ERR_FORMAT);
    fp4t_tmppath(path, sizeof path, "does-not-exist.safetensors");
    CU_ASSERT_EQUAL(fp4_st_open(path, &f), FP4_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "does-not-exist"));
    CU_ASSERT_EQUAL(fp4_st_open(fp4t_tmpdir(), &f), FP4_ERR_IO);
    free(img);
}

static CU_TestInfo st_tests[] = {
    {"round trip of dtypes, scalar, empty, metadata", test_roundtrip},
    {"empty file and dtype names", test_empty_file_and_dtypes},
    {"atomic save leaves old file and no temp on failure", test_atomic_failures},
    {"corrupted headers are rejected with a message", test_corrupt_headers},
    {"bad lengths and truncations are rejected", test_corrupt_lengths},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"safetensors", NULL, NULL, NULL, NULL, st_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) { return fp4t_main(suites, argc, argv); }
