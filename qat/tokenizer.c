/* qat/tokenizer.c — byte-level and GPT-2 BPE tokenizers (fp4kit/data.h).
 *
 * GPT-2 BPE, as in OpenAI's encoder.py / the npm package gpt-3-encoder:
 *   1. pre-tokenize the UTF-8 text with the regex PRETOK_PATTERN (PCRE2 with UTF and UCP, so
 *      \p{L}, \p{N} and \s follow Unicode properties);
 *   2. each pre-token's bytes start as single-byte symbols;
 *   3. repeatedly take the adjacent pair with the lowest merge rank (line order in vocab.bpe) and
 *      merge every occurrence of it, left to right; stop when no pair has a rank;
 *   4. the ids are the symbols' entries in encoder.json.
 * encoder.json and vocab.bpe spell bytes through GPT-2's byte-to-unicode table (printable
 * Latin-1 bytes map to themselves, the other 68 to U+0100...); we undo it at load time and work
 * on raw bytes: piece[id] = the token's bytes, merges keyed by (left id, right id).
 * Encodings of short pre-tokens are cached (a word is encoded once per tokenizer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>

#include "fp4kit/data.h"
#include "internal.h"

#define PRETOK_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define CACHE_MAX_WORD 64
#define CACHE_MAX_ENTRIES (1u << 20)

typedef struct { uint64_t key; uint32_t rank, id; } merge_slot;        /* key 0 = empty */
typedef struct { uint64_t hash; uint32_t off, len, ids_off, nids; } cache_slot; /* len 0 = empty */

struct fp4_tokenizer {
    fp4_tokenizer_kind kind;
    uint32_t vocab, eot;
    uint32_t *piece_off, *piece_len; /* [vocab] into pieces */
    char *pieces;
    uint32_t byte_id[256];           /* token of each single byte */
    merge_slot *merges;              /* open addressing, nmerge_cap slots (power of 2) */
    size_t nmerge_cap;
    pcre2_code *re;
    pcre2_match_data *md;
    /* pre-token cache */
    cache_slot *cache;
    size_t cache_cap, cache_n;
    char *cache_bytes; size_t cb_n, cb_cap;
    uint32_t *cache_ids; size_t ci_n, ci_cap;
    uint32_t *work;                  /* BPE scratch symbols */
    size_t work_cap;
};

/* ---------------------------------------------------------------------------------------- */
/* token lists                                                                               */

void fp4_tokens_free(fp4_tokens *t) {
    if (!t) return;
    free(t->ids);
    memset(t, 0, sizeof *t);
}

static fp4_status tokens_reserve(fp4_tokens *t, size_t extra) {
    if (t->n + extra <= t->cap) return FP4_OK;
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < t->n + extra) cap *= 2;
    uint32_t *p = realloc(t->ids, cap * sizeof *p);
    if (!p) return fp4_fail(FP4_ERR_NOMEM, "out of host memory growing a token list to %zu tokens", cap);
    t->ids = p;
    t->cap = cap;
    return FP4_OK;
}

fp4_status fp4_tokens_push(fp4_tokens *t, uint32_t id) {
    if (!t) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_tokens_push: list is NULL");
    FP4_TRY(tokens_reserve(t, 1));
    t->ids[t->n++] = id;
    return FP4_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* common                                                                                    */

static uint64_t hash_bytes(const void *p, size_t n) { return fp4_shard_fnv1a(p, n, FP4_FNV1A_INIT); }

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void fp4_tokenizer_free(fp4_tokenizer *tok) {
    if (!tok) return;
    free(tok->piece_off); free(tok->piece_len); free(tok->pieces); free(tok->merges);
    free(tok->cache); free(tok->cache_bytes); free(tok->cache_ids); free(tok->work);
    if (tok->md) pcre2_match_data_free(tok->md);
    if (tok->re) pcre2_code_free(tok->re);
    free(tok);
}

fp4_tokenizer_kind fp4_tokenizer_kind_of(const fp4_tokenizer *tok) { return tok->kind; }
const char *fp4_tokenizer_name(const fp4_tokenizer *tok) { return tok->kind == FP4_TOKENIZER_GPT2 ? "gpt2" : "byte"; }
uint32_t fp4_tokenizer_vocab(const fp4_tokenizer *tok) { return tok->vocab; }
uint32_t fp4_tokenizer_eot(const fp4_tokenizer *tok) { return tok->eot; }

fp4_status fp4_tokenizer_byte(fp4_tokenizer **out) {
    if (!out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_tokenizer_byte: out is NULL");
    *out = NULL;
    fp4_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return fp4_fail(FP4_ERR_NOMEM, "out of host memory for a tokenizer");
    t->kind = FP4_TOKENIZER_BYTE;
    t->vocab = 256;
    t->eot = 0;
    t->pieces = malloc(256);
    t->piece_off = malloc(256 * sizeof(uint32_t));
    t->piece_len = malloc(256 * sizeof(uint32_t));
    if (!t->pieces || !t->piece_off || !t->piece_len) {
        fp4_tokenizer_free(t);
        return fp4_fail(FP4_ERR_NOMEM, "out of host memory for a tokenizer");
    }
    for (int b = 0; b < 256; b++) {
        t->pieces[b] = (char)b;
        t->piece_off[b] = (uint32_t)b;
        t->piece_len[b] = 1;
        t->byte_id[b] = (uint32_t)b;
    }
    *out = t;
    return FP4_OK;
}

const char *fp4_tokenizer_piece(const fp4_tokenizer *tok, uint32_t id, size_t *len) {
    if (!tok || id >= tok->vocab) return NULL;
    if (len) *len = tok->piece_len[id];
    return tok->pieces + tok->piece_off[id];
}

fp4_status fp4_tokenizer_decode(const fp4_tokenizer *tok, const uint32_t *ids, size_t n, char **text, size_t *len) {
    if (!tok || !text || (n && !ids)) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_tokenizer_decode: NULL argument");
    *text = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= tok->vocab)
            return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_tokenizer_decode: token %zu is %u, not below the vocabulary size %u",
                            i, ids[i], tok->vocab);
        total += tok->piece_len[ids[i]];
    }
    char *s;
    FP4_MALLOC_TRY(s, total + 1, "decoded text");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(s + o, tok->pieces + tok->piece_off[ids[i]], tok->piece_len[ids[i]]);
        o += tok->piece_len[ids[i]];
    }
    s[o] = 0;
    *text = s;
    if (len) *len = o;
    return FP4_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* GPT-2 loading                                                                             */

/* GPT-2's bytes_to_unicode(): code point of each byte; the inverse for code points < 512. */
static void byte_unicode_tables(uint32_t b2u[256], int u2b[512]) {
    int n = 0;
    for (int i = 0; i < 512; i++) u2b[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        b2u[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
        u2b[b2u[b]] = b;
    }
}

/* Decode a byte-to-unicode spelled string s into raw bytes out (at most strlen(s) bytes). Returns
 * the byte count, or -1 if s is not valid UTF-8 or holds a code point outside the table. */
static long unmap_token(const char *s, size_t n, const int u2b[512], char *out) {
    long o = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = (unsigned char)s[i];
        uint32_t cp;
        if (c < 0x80) { cp = c; i += 1; }
        else if ((c & 0xE0) == 0xC0 && i + 1 < n && ((unsigned char)s[i + 1] & 0xC0) == 0x80) {
            cp = (c & 0x1Fu) << 6 | ((unsigned char)s[i + 1] & 0x3Fu);
            i += 2;
        } else return -1; /* the table only uses code points below 0x800 */
        if (cp >= 512 || u2b[cp] < 0) return -1;
        out[o++] = (char)u2b[cp];
    }
    return o;
}

static merge_slot *merge_find(const fp4_tokenizer *t, uint64_t key) {
    size_t mask = t->nmerge_cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask)
        if (t->merges[i].key == key || t->merges[i].key == 0) return &t->merges[i];
}

/* Temporary bytes -> id map used while loading. */
typedef struct { uint64_t hash; uint32_t id; uint32_t used; } str_slot;

static long str_find(const fp4_tokenizer *t, const str_slot *map, size_t cap, const char *s, size_t n) {
    uint64_t h = hash_bytes(s, n);
    for (size_t i = h & (cap - 1); map[i].used; i = (i + 1) & (cap - 1))
        if (map[i].hash == h && t->piece_len[map[i].id] == n && !memcmp(t->pieces + t->piece_off[map[i].id], s, n))
            return map[i].id;
    return -1;
}

static char *read_file(const char *path, size_t *n, fp4_status *st) {
    FILE *f = fopen(path, "rb");
    if (!f) { *st = fp4_fail(FP4_ERR_IO, "cannot open '%s'", path); return NULL; }
    char *buf = NULL;
    size_t cap = 0, len = 0, r;
    do {
        if (len + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *p = realloc(buf, cap);
            if (!p) { free(buf); fclose(f); *st = fp4_fail(FP4_ERR_NOMEM, "out of memory reading '%s'", path); return NULL; }
            buf = p;
        }
        r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
    } while (r > 0);
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); *st = fp4_fail(FP4_ERR_IO, "read error on '%s'", path); return NULL; }
    buf[len] = 0;
    *n = len;
    *st = FP4_OK;
    return buf;
}

static fp4_status load_encoder(fp4_tokenizer *t, const char *path, const int u2b[512]) {
    size_t n;
    fp4_status st;
    char *json = read_file(path, &n, &st);
    if (!json) return fp4_fail_context(st, "GPT-2 encoder.json");
    cJSON *root = cJSON_ParseWithLength(json, n);
    free(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fp4_fail(FP4_ERR_FORMAT, "'%s' is not a JSON object (expected GPT-2 encoder.json)", path);
    }
    int count = cJSON_GetArraySize(root);
    size_t bytes = 0;
    uint32_t vocab = 0;
    for (cJSON *e = root->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= 1e7 || e->valuedouble != (double)e->valueint) {
            cJSON_Delete(root);
            return fp4_fail(FP4_ERR_FORMAT, "'%s': entry \"%s\" is not a token id", path, e->string);
        }
        if ((uint32_t)e->valueint + 1 > vocab) vocab = (uint32_t)e->valueint + 1;
        bytes += strlen(e->string);
    }
    if ((int64_t)vocab != count) {
        cJSON_Delete(root);
        return fp4_fail(FP4_ERR_FORMAT, "'%s': %d entries but ids reach %u (ids must be 0..n-1, each once)", path, count, vocab - 1);
    }
    t->vocab = vocab;
    t->pieces = malloc(bytes + 1);
    t->piece_off = malloc(vocab * sizeof(uint32_t));
    t->piece_len = malloc(vocab * sizeof(uint32_t));
    if (!t->pieces || !t->piece_off || !t->piece_len) {
        cJSON_Delete(root);
        return fp4_fail(FP4_ERR_NOMEM, "out of host memory for %u token strings", vocab);
    }
    for (uint32_t i = 0; i < vocab; i++) t->piece_len[i] = UINT32_MAX;
    size_t off = 0;
    for (cJSON *e = root->child; e; e = e->next) {
        uint32_t id = (uint32_t)e->valueint;
        long len = unmap_token(e->string, strlen(e->string), u2b, t->pieces + off);
        if (len < 0 || t->piece_len[id] != UINT32_MAX) {
            fp4_status s = fp4_fail(FP4_ERR_FORMAT, "'%s': entry \"%s\" (id %u) %s", path, e->string, id,
                                    len < 0 ? "uses a character outside GPT-2's byte-to-unicode table" : "repeats an id");
            cJSON_Delete(root);
            return s;
        }
        t->piece_off[id] = (uint32_t)off;
        t->piece_len[id] = (uint32_t)len;
        off += (size_t)len;
    }
    cJSON_Delete(root);
    return FP4_OK;
}

static fp4_status load_merges(fp4_tokenizer *t, const char *path, const str_slot *map, size_t mcap) {
    size_t n;
    fp4_status st;
    char *txt = read_file(path, &n, &st);
    if (!txt) return fp4_fail_context(st, "GPT-2 vocab.bpe");
    size_t lines = 1;
    for (size_t i = 0; i < n; i++) lines += txt[i] == '\n';
    t->nmerge_cap = 1;
    while (t->nmerge_cap < 2 * lines) t->nmerge_cap *= 2;
    t->merges = calloc(t->nmerge_cap, sizeof *t->merges);
    char *buf = malloc(n + 1);
    if (!t->merges || !buf) { free(txt); free(buf); return fp4_fail(FP4_ERR_NOMEM, "out of memory for merges"); }
    int u2b[512];
    uint32_t b2u[256];
    byte_unicode_tables(b2u, u2b);
    uint32_t rank = 0;
    size_t lineno = 0;
    for (char *line = txt, *end; line < txt + n; line = end + 1) {
        end = memchr(line, '\n', (size_t)(txt + n - line));
        if (!end) end = txt + n;
        lineno++;
        size_t len = (size_t)(end - line);
        if (len && line[len - 1] == '\r') len--;
        if (len == 0 || (lineno == 1 && line[0] == '#')) continue;
        char *sp = memchr(line, ' ', len);
        long la = sp ? unmap_token(line, (size_t)(sp - line), u2b, buf) : -1;
        long lb = sp ? unmap_token(sp + 1, len - (size_t)(sp - line) - 1, u2b, buf + (la > 0 ? la : 0)) : -1;
        long a = la > 0 ? str_find(t, map, mcap, buf, (size_t)la) : -1;
        long b = lb > 0 ? str_find(t, map, mcap, buf + la, (size_t)lb) : -1;
        long ab = (a >= 0 && b >= 0) ? str_find(t, map, mcap, buf, (size_t)(la + lb)) : -1;
        if (ab < 0) {
            free(txt); free(buf);
            return fp4_fail(FP4_ERR_FORMAT, "'%s' line %zu: not a merge \"A B\" of two tokens whose concatenation is in encoder.json",
                            path, lineno);
        }
        uint64_t key = (uint64_t)(a + 1) << 32 | (uint64_t)(b + 1);
        merge_slot *s = merge_find(t, key);
        if (s->key == 0) { s->key = key; s->rank = rank; s->id = (uint32_t)ab; }
        rank++;
    }
    free(txt); free(buf);
    if (rank == 0) return fp4_fail(FP4_ERR_FORMAT, "'%s' holds no merges", path);
    return FP4_OK;
}

fp4_status fp4_tokenizer_gpt2(const char *encoder_json, const char *vocab_bpe, fp4_tokenizer **out) {
    if (!out || !encoder_json || !vocab_bpe) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_tokenizer_gpt2: NULL argument");
    *out = NULL;
    fp4_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return fp4_fail(FP4_ERR_NOMEM, "out of host memory for a tokenizer");
    t->kind = FP4_TOKENIZER_GPT2;
    uint32_t b2u[256];
    int u2b[512];
    byte_unicode_tables(b2u, u2b);
    fp4_status st = load_encoder(t, encoder_json, u2b);
    str_slot *map = NULL;
    size_t mcap = 1;
    if (st == FP4_OK) {
        while (mcap < 2 * (size_t)t->vocab) mcap *= 2;
        map = calloc(mcap, sizeof *map);
        if (!map) st = fp4_fail(FP4_ERR_NOMEM, "out of memory for the token map");
    }
    if (st == FP4_OK) {
        for (uint32_t id = 0; id < t->vocab; id++) {
            const char *s = t->pieces + t->piece_off[id];
            uint64_t h = hash_bytes(s, t->piece_len[id]);
            if (str_find(t, map, mcap, s, t->piece_len[id]) >= 0) continue; /* duplicate bytes: keep the first */
            size_t i = h & (mcap - 1);
            while (map[i].used) i = (i + 1) & (mcap - 1);
            map[i] = (str_slot){h, id, 1};
        }
        for (int b = 0; b < 256 && st == FP4_OK; b++) {
            char c = (char)b;
            long id = str_find(t, map, mcap, &c, 1);
            if (id < 0) st = fp4_fail(FP4_ERR_FORMAT, "'%s' has no token for byte 0x%02x", encoder_json, b);
            else t->byte_id[b] = (uint32_t)id;
        }
        const char *eot = "<|endoftext|>";
        long e = str_find(t, map, mcap, eot, strlen(eot));
        t->eot = e >= 0 ? (uint32_t)e : FP4_SHARD_NO_EOT;
    }
    if (st == FP4_OK) st = load_merges(t, vocab_bpe, map, mcap);
    free(map);
    if (st == FP4_OK) {
        int err;
        PCRE2_SIZE eoff;
        t->re = pcre2_compile((PCRE2_SPTR)PRETOK_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &eoff, NULL);
        if (!t->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            st = fp4_fail(FP4_ERR_UNSUPPORTED, "PCRE2 cannot compile the GPT-2 pattern at offset %zu: %s (PCRE2 built without Unicode support?)",
                          (size_t)eoff, (char *)msg);
        } else {
            pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
            t->md = pcre2_match_data_create_from_pattern(t->re, NULL);
            if (!t->md) st = fp4_fail(FP4_ERR_NOMEM, "out of memory for PCRE2 match data");
        }
    }
    if (st != FP4_OK) {
        fp4_tokenizer_free(t);
        return st;
    }
    *out = t;
    return FP4_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* GPT-2 encoding                                                                            */

/* BPE of one pre-token w[0, n): appends its ids to out. */
static fp4_status bpe_word(fp4_tokenizer *t, const unsigned char *w, size_t n, fp4_tokens *out) {
    if (n > t->work_cap) {
        size_t cap = n < 256 ? 256 : 2 * n;
        uint32_t *p = realloc(t->work, cap * sizeof *p);
        if (!p) return fp4_fail(FP4_ERR_NOMEM, "out of memory for BPE of a %zu-byte word", n);
        t->work = p;
        t->work_cap = cap;
    }
    uint32_t *s = t->work;
    for (size_t i = 0; i < n; i++) s[i] = t->byte_id[w[i]];
    size_t m = n;
    while (m > 1) {
        uint32_t best = UINT32_MAX, a = 0, b = 0, ab = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            merge_slot *ms = merge_find(t, (uint64_t)(s[i] + 1) << 32 | (uint64_t)(s[i + 1] + 1));
            if (ms->key && ms->rank < best) { best = ms->rank; a = s[i]; b = s[i + 1]; ab = ms->id; }
        }
        if (best == UINT32_MAX) break;
        size_t o = 0;
        for (size_t i = 0; i < m; i++) {
            if (i + 1 < m && s[i] == a && s[i + 1] == b) { s[o++] = ab; i++; }
            else s[o++] = s[i];
        }
        m = o;
    }
    FP4_TRY(tokens_reserve(out, m));
    memcpy(out->ids + out->n, s, m * sizeof *s);
    out->n += m;
    return FP4_OK;
}

static void cache_clear(fp4_tokenizer *t) {
    if (t->cache) memset(t->cache, 0, t->cache_cap * sizeof *t->cache);
    t->cache_n = t->cb_n = t->ci_n = 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

/* Encode one pre-token through the cache. */
static fp4_status encode_word(fp4_tokenizer *t, const unsigned char *w, size_t n, fp4_tokens *out) {
    if (n > CACHE_MAX_WORD) return bpe_word(t, w, n, out);
    if (!t->cache) {
        t->cache_cap = 2 * CACHE_MAX_ENTRIES;
        t->cache = calloc(t->cache_cap, sizeof *t->cache);
        if (!t->cache) return fp4_fail(FP4_ERR_NOMEM, "out of memory for the tokenizer cache");
    }
    uint64_t h = hash_bytes(w, n);
    size_t mask = t->cache_cap - 1, i;
    for (i = h & mask; t->cache[i].len; i = (i + 1) & mask) {
        cache_slot *c = &t->cache[i];
        if (c->hash == h && c->len == n && !memcmp(t->cache_bytes + c->off, w, n)) {
            FP4_TRY(tokens_reserve(out, c->nids));
            memcpy(out->ids + out->n, t->cache_ids + c->ids_off, c->nids * sizeof(uint32_t));
            out->n += c->nids;
            return FP4_OK;
        }
    }
    size_t before = out->n;
    FP4_TRY(bpe_word(t, w, n, out));
    size_t k = out->n - before;
    if (t->cache_n >= CACHE_MAX_ENTRIES) { cache_clear(t); return FP4_OK; }
    if (!grow((void **)&t->cache_bytes, &t->cb_cap, t->cb_n + n, 1) ||
        !grow((void **)&t->cache_ids, &t->ci_cap, t->ci_n + k, sizeof(uint32_t)))
        return FP4_OK; /* no room to cache: still correct */
    memcpy(t->cache_bytes + t->cb_n, w, n);
    memcpy(t->cache_ids + t->ci_n, out->ids + before, k * sizeof(uint32_t));
    t->cache[i] = (cache_slot){h, (uint32_t)t->cb_n, (uint32_t)n, (uint32_t)t->ci_n, (uint32_t)k};
    t->cb_n += n;
    t->ci_n += k;
    t->cache_n++;
    return FP4_OK;
}

fp4_status fp4_tokenizer_encode(fp4_tokenizer *tok, const char *text, size_t len, fp4_tokens *out) {
    if (!tok || !out || (len && !text)) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_tokenizer_encode: NULL argument");
    if (tok->kind == FP4_TOKENIZER_BYTE) {
        FP4_TRY(tokens_reserve(out, len));
        for (size_t i = 0; i < len; i++) out->ids[out->n++] = (unsigned char)text[i];
        return FP4_OK;
    }
    size_t start = out->n;
    PCRE2_SIZE off = 0;
    uint32_t opts = 0;
    while (off < len) {
        int rc = pcre2_match(tok->re, (PCRE2_SPTR)text, len, off, opts, tok->md, NULL);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tok->md);
        if (rc <= 0 || ov[1] <= ov[0]) {
            out->n = start;
            if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
                return fp4_fail(FP4_ERR_FORMAT, "GPT-2 encode: text is not valid UTF-8 at byte offset %zu",
                                (size_t)pcre2_get_startchar(tok->md));
            if (rc == PCRE2_ERROR_NOMATCH || rc > 0)
                return fp4_fail(FP4_ERR_FORMAT, "GPT-2 encode: no pre-token matches at byte offset %zu", (size_t)off);
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return fp4_fail(FP4_ERR_FORMAT, "GPT-2 encode: PCRE2 match failed at byte offset %zu: %s", (size_t)off, (char *)msg);
        }
        opts = PCRE2_NO_UTF_CHECK; /* the first call checked the whole subject */
        if (ov[0] != off) { /* the pattern covers every character, so matches are contiguous */
            out->n = start;
            return fp4_fail(FP4_ERR_FORMAT, "GPT-2 encode: bytes %zu..%zu match no pre-token", (size_t)off, (size_t)ov[0]);
        }
        fp4_status st = encode_word(tok, (const unsigned char *)text + ov[0], ov[1] - ov[0], out);
        if (st != FP4_OK) { out->n = start; return st; }
        off = ov[1];
    }
    return FP4_OK;
}
