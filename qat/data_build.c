/* qat/data_build.c — corpus directories -> train/val token shards (fp4_data_build, fp4kit/data.h).
 *
 * Input: one directory per corpus, one UTF-8 text file per document (a speech, a Brown file, a
 * Bible book, a Moby-Dick chapter, a doc page), as written by tools/prepare-data.sh.
 * Split rule (per corpus, by whole documents, so no val text is ever seen in training):
 *   names sorted bytewise; a splitmix64 generator seeded with seed ^ FNV-1a(corpus dir base name)
 *   drives a Fisher-Yates shuffle; the first n_val = max(1, round(val_frac * n)) shuffled
 *   documents (0 when n < 2 or val_frac == 0) are val, the rest train.
 * Output: documents in (corpus order, name order), each preceded by the end-of-text token, in
 * "<prefix>_train.bin" / "<prefix>_val.bin", and "<prefix>_split.tsv" listing every document.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fp4kit/data.h"
#include "fp4kit/safetensors.h"
#include "internal.h"

typedef struct { char **names; size_t n, cap; } name_list;

static void names_free(name_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Regular, non-hidden files of dir, sorted bytewise. */
static fp4_status list_docs(const char *dir, name_list *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return fp4_fail(FP4_ERR_IO, "cannot open corpus directory '%s': %s", dir, strerror(errno));
    struct dirent *e;
    fp4_status st = FP4_OK;
    while (st == FP4_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        size_t need = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(need);
        struct stat sb;
        if (!p) { st = fp4_fail(FP4_ERR_NOMEM, "out of memory listing '%s'", dir); break; }
        snprintf(p, need, "%s/%s", dir, e->d_name);
        int reg = stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
        free(p);
        if (!reg) continue;
        if (out->n == out->cap) {
            size_t cap = out->cap ? 2 * out->cap : 256;
            char **q = realloc(out->names, cap * sizeof *q);
            if (!q) { st = fp4_fail(FP4_ERR_NOMEM, "out of memory listing '%s'", dir); break; }
            out->names = q;
            out->cap = cap;
        }
        out->names[out->n] = strdup(e->d_name);
        if (!out->names[out->n]) st = fp4_fail(FP4_ERR_NOMEM, "out of memory listing '%s'", dir);
        else out->n++;
    }
    closedir(d);
    if (st != FP4_OK) { names_free(out); return st; }
    if (out->n) qsort(out->names, out->n, sizeof *out->names, cmp_names);
    return FP4_OK;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char *base_name(const char *path, size_t *len) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    *len = n - b;
    return path + b;
}

/* is_val[i] for the n sorted documents of corpus dir. */
static void split_corpus(const char *dir, size_t n, double val_frac, uint64_t seed, unsigned char *is_val) {
    memset(is_val, 0, n);
    size_t nv = 0;
    if (n >= 2 && val_frac > 0) {
        nv = (size_t)llround(val_frac * (double)n);
        if (nv < 1) nv = 1;
        if (nv > n - 1) nv = n - 1;
    }
    if (nv == 0) return;
    size_t blen;
    const char *base = base_name(dir, &blen);
    uint64_t s = seed ^ fp4_shard_fnv1a(base, blen, FP4_FNV1A_INIT);
    size_t *perm = malloc(n * sizeof *perm);
    if (!perm) { /* deterministic fallback without memory: the last nv documents */
        for (size_t i = n - nv; i < n; i++) is_val[i] = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(splitmix(&s) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < nv; i++) is_val[perm[i]] = 1;
    free(perm);
}

static char *slurp(const char *path, size_t *n, fp4_status *st) {
    FILE *f = fopen(path, "rb");
    if (!f) { *st = fp4_fail(FP4_ERR_IO, "cannot open document '%s': %s", path, strerror(errno)); return NULL; }
    long long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    char *buf = size >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)size + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        fclose(f);
        *st = fp4_fail(FP4_ERR_IO, "cannot read document '%s'", path);
        return NULL;
    }
    fclose(f);
    buf[size] = 0;
    *n = (size_t)size;
    *st = FP4_OK;
    return buf;
}

static char *cat_path(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s%s", a, b, c);
    return p;
}

/* Encode every document of one corpus into lists[split] and log it to the tsv. */
static fp4_status build_corpus(fp4_tokenizer *tok, const char *dir, double val_frac, uint64_t seed, fp4_tokens lists[2],
                               fp4_atomic_file *tsv, fp4_data_report *rep) {
    name_list docs;
    FP4_TRY(list_docs(dir, &docs));
    if (docs.n == 0) {
        names_free(&docs);
        return fp4_fail(FP4_ERR_NOT_FOUND, "corpus directory '%s' holds no documents", dir);
    }
    unsigned char *is_val = malloc(docs.n);
    if (!is_val) { names_free(&docs); return fp4_fail(FP4_ERR_NOMEM, "out of memory"); }
    split_corpus(dir, docs.n, val_frac, seed, is_val);
    size_t blen;
    const char *base = base_name(dir, &blen);
    fp4_status st = FP4_OK;
    for (size_t i = 0; i < docs.n && st == FP4_OK; i++) {
        char *path = cat_path(dir, "/", docs.names[i]);
        size_t len = 0;
        char *text = path ? slurp(path, &len, &st) : NULL;
        if (!path) st = fp4_fail(FP4_ERR_NOMEM, "out of memory");
        if (st == FP4_OK && fp4_tokenizer_kind_of(tok) == FP4_TOKENIZER_BYTE && memchr(text, 0, len))
            st = fp4_fail(FP4_ERR_FORMAT, "document '%s' contains a NUL byte (the byte tokenizer's end-of-text token)", path);
        fp4_tokens *out = &lists[is_val[i]];
        size_t before = out->n;
        if (st == FP4_OK && fp4_tokenizer_eot(tok) != FP4_SHARD_NO_EOT) st = fp4_tokens_push(out, fp4_tokenizer_eot(tok));
        if (st == FP4_OK) {
            st = fp4_tokenizer_encode(tok, text, len, out);
            if (st != FP4_OK) fp4_fail_context(st, "document '%s'", path);
        }
        if (st == FP4_OK) {
            char line[1024];
            int k = snprintf(line, sizeof line, "%s\t%.*s\t%s\t%zu\t%zu\n", is_val[i] ? "val" : "train", (int)blen, base,
                             docs.names[i], len, out->n - before);
            st = fp4_atomic_write(tsv, line, k < (int)sizeof line ? (size_t)k : sizeof line - 1);
            rep->docs[is_val[i]]++;
            rep->bytes[is_val[i]] += len;
            rep->tokens[is_val[i]] += out->n - before;
        }
        free(text);
        free(path);
    }
    free(is_val);
    names_free(&docs);
    return st;
}

fp4_status fp4_data_build(fp4_tokenizer *tok, const char *const *corpus_dirs, size_t ncorpora, double val_frac,
                          uint64_t seed, const char *out_prefix, fp4_data_report *rep) {
    if (!tok || !corpus_dirs || !ncorpora || !out_prefix)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_data_build: tokenizer, corpus directories and output prefix are required");
    if (!(val_frac >= 0 && val_frac < 1)) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_data_build: val fraction %g not in [0, 1)", val_frac);
    fp4_data_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    fp4_tokens lists[2] = {{0}, {0}};
    char *paths[3] = {cat_path(out_prefix, "_train.bin", ""), cat_path(out_prefix, "_val.bin", ""),
                      cat_path(out_prefix, "_split.tsv", "")};
    fp4_status st = paths[0] && paths[1] && paths[2] ? FP4_OK : fp4_fail(FP4_ERR_NOMEM, "out of memory");
    fp4_atomic_file tsv;
    memset(&tsv, 0, sizeof tsv);
    if (st == FP4_OK) st = fp4_atomic_open(&tsv, paths[2]);
    if (st == FP4_OK) {
        const char *head = "split\tcorpus\tdocument\tbytes\ttokens\n";
        st = fp4_atomic_write(&tsv, head, strlen(head));
    }
    for (size_t c = 0; c < ncorpora && st == FP4_OK; c++) st = build_corpus(tok, corpus_dirs[c], val_frac, seed, lists, &tsv, rep);
    uint32_t V = fp4_tokenizer_vocab(tok), E = fp4_tokenizer_eot(tok);
    if (st == FP4_OK) st = fp4_shard_write(paths[0], lists[0].ids, lists[0].n, V, E);
    if (st == FP4_OK) st = fp4_shard_write(paths[1], lists[1].ids, lists[1].n, V, E);
    if (st == FP4_OK) st = fp4_atomic_commit(&tsv);
    else fp4_atomic_abort(&tsv);
    fp4_tokens_free(&lists[0]);
    fp4_tokens_free(&lists[1]);
    for (int i = 0; i < 3; i++) free(paths[i]);
    return st;
}
