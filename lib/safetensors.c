/* lib/safetensors.c — validating .safetensors reader and atomic writer (see fp4kit/safetensors.h).
 *
 * Reader: mmap (or a caller's buffer) -> check the 8-byte length -> check the header bytes are
 * UTF-8 without raw control characters -> cJSON -> validate every entry (fields, dtype, shape,
 * offsets, sizes) -> sort by offset and require the tensors to tile the data buffer exactly ->
 * reject any non-integer number token. Nothing is exposed until all of that has passed.
 * Writer: tensors in insertion order, contiguous; header written by hand (integers printed
 * exactly, strings JSON-escaped) and space-padded so the data starts at a multiple of 8.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fp4kit/safetensors.h"
#include "internal.h"

/* ---------------------------------------------------------------------------------------- */
/* dtypes                                                                                     */

static const struct { const char *name; size_t size; } dtype_table[FP4_ST_DTYPE_COUNT] = {
    [FP4_ST_BOOL] = {"BOOL", 1}, [FP4_ST_U8] = {"U8", 1},     [FP4_ST_I8] = {"I8", 1},
    [FP4_ST_U16] = {"U16", 2},   [FP4_ST_I16] = {"I16", 2},   [FP4_ST_F16] = {"F16", 2},
    [FP4_ST_BF16] = {"BF16", 2}, [FP4_ST_U32] = {"U32", 4},   [FP4_ST_I32] = {"I32", 4},
    [FP4_ST_F32] = {"F32", 4},   [FP4_ST_U64] = {"U64", 8},   [FP4_ST_I64] = {"I64", 8},
    [FP4_ST_F64] = {"F64", 8},   [FP4_ST_F8_E4M3] = {"F8_E4M3", 1}, [FP4_ST_F8_E5M2] = {"F8_E5M2", 1},
    [FP4_ST_F8_E8M0] = {"F8_E8M0", 1},
};

size_t fp4_st_dtype_size(fp4_st_dtype dt) {
    return ((unsigned)dt < FP4_ST_DTYPE_COUNT) ? dtype_table[dt].size : 0;
}
const char *fp4_st_dtype_name(fp4_st_dtype dt) {
    return ((unsigned)dt < FP4_ST_DTYPE_COUNT) ? dtype_table[dt].name : "?";
}
fp4_status fp4_st_dtype_parse(const char *s, fp4_st_dtype *out) {
    if (!s || !out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_dtype_parse: NULL argument");
    for (int i = 0; i < FP4_ST_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_table[i].name) == 0) { *out = (fp4_st_dtype)i; return FP4_OK; }
    return fp4_fail(FP4_ERR_FORMAT, "unknown dtype \"%.64s\"", s);
}

/* ---------------------------------------------------------------------------------------- */
/* shared checks                                                                              */

/* Offset of the first byte that breaks UTF-8 or (unless allow_ctrl) is a raw control character
 * other than tab/newline/CR, or -1 if the n bytes are clean. */
static long long bad_utf8_at(const uint8_t *s, size_t n, int allow_ctrl) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && !allow_ctrl && c != '\t' && c != '\n' && c != '\r') return (long long)i;
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { k = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { k = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 3; cp = c & 0x07; }
        else return (long long)i;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80) return (long long)i;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return (long long)i;
        i += k + 1;
    }
    return -1;
}

/* product of shape * elem size, 1 for ndim == 0; returns nonzero on overflow */
static int shape_bytes(const int64_t *shape, int ndim, size_t elem, uint64_t *numel, uint64_t *bytes) {
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++)
        if (fp4_mul_overflows(n, (uint64_t)shape[d], &n)) return 1;
    if (fp4_mul_overflows(n, elem, bytes) || *bytes > (uint64_t)SIZE_MAX) return 1;
    *numel = n;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* reader                                                                                     */

struct fp4_st_file {
    const uint8_t *image; /* whole file */
    size_t len;
    void *owned;          /* malloc'ed copy (parse with copy) */
    void *map;            /* mmap'ed file */
    uint64_t header_len, data_len;
    fp4_st_tensor *tensors; /* file order */
    size_t n;
    const fp4_st_tensor **by_name; /* sorted by name */
    char **meta_key, **meta_val;
    size_t n_meta;
};

void fp4_st_close(fp4_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free((char *)f->tensors[i].name);
    for (size_t i = 0; i < f->n_meta; i++) { free(f->meta_key[i]); free(f->meta_val[i]); }
    free(f->tensors);
    free(f->by_name);
    free(f->meta_key);
    free(f->meta_val);
    free(f->owned);
    if (f->map) munmap(f->map, f->len);
    free(f);
}

/* file offset of the first occurrence of "name" (quoted) in the header, for messages */
static long long key_offset(const fp4_st_file *f, const char *name) {
    const char *h = (const char *)f->image + 8;
    size_t nl = strlen(name);
    if (nl + 2 > f->header_len) return 8;
    for (size_t i = 0; i + nl + 2 <= f->header_len; i++)
        if (h[i] == '"' && memcmp(h + i + 1, name, nl) == 0 && h[i + 1 + nl] == '"') return 8 + (long long)i;
    return 8;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

/* Read a JSON integer in [0, 2^53]; on failure write why into why[] and return nonzero. */
static int json_uint(const cJSON *it, uint64_t *out, char *why, size_t cap) {
    if (!cJSON_IsNumber(it)) { snprintf(why, cap, "is not a number"); return 1; }
    double d = it->valuedouble;
    if (d < 0) { snprintf(why, cap, "= %.17g is negative", d); return 1; }
    if (d != floor(d)) { snprintf(why, cap, "= %.17g is not an integer", d); return 1; }
    if (!(d <= 9007199254740992.0)) { snprintf(why, cap, "= %.17g exceeds 2^53", d); return 1; }
    *out = (uint64_t)d;
    return 0;
}

/* FP4_ERR_FORMAT "tensor 'name' (header byte offset X): <message>"; the offset is looked up only
 * on failure (a scan of the header). */
static fp4_status tfail(const fp4_st_file *f, const char *name, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static fp4_status tfail(const fp4_st_file *f, const char *name, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fp4_fail(FP4_ERR_FORMAT, "tensor '%.200s' (header byte offset %lld): %s", name, key_offset(f, name), msg);
}
#define TFAIL(...) tfail(f, name, __VA_ARGS__)

static fp4_status parse_entry(fp4_st_file *f, const cJSON *e, fp4_st_tensor *t) {
    const char *name = e->string;
    char why[96];
    if (!cJSON_IsObject(e)) return TFAIL("entry is not a JSON object");
    const cJSON *dt = NULL, *sh = NULL, *off = NULL;
    for (const cJSON *c = e->child; c; c = c->next) {
        const cJSON **slot = !strcmp(c->string, "dtype") ? &dt : !strcmp(c->string, "shape") ? &sh
                           : !strcmp(c->string, "data_offsets") ? &off : NULL;
        if (!slot) return TFAIL("unexpected field \"%.64s\" (allowed: dtype, shape, data_offsets)", c->string);
        if (*slot) return TFAIL("field \"%s\" appears twice", c->string);
        *slot = c;
    }
    if (!dt) return TFAIL("missing field \"dtype\"");
    if (!sh) return TFAIL("missing field \"shape\"");
    if (!off) return TFAIL("missing field \"data_offsets\"");
    if (!cJSON_IsString(dt)) return TFAIL("field \"dtype\" is not a string");
    if (fp4_st_dtype_parse(dt->valuestring, &t->dtype) != FP4_OK)
        return TFAIL("field \"dtype\": unknown dtype \"%.64s\"", dt->valuestring);
    if (!cJSON_IsArray(sh)) return TFAIL("field \"shape\" is not an array");
    int nd = cJSON_GetArraySize(sh);
    if (nd > FP4_ST_MAX_DIMS) return TFAIL("field \"shape\" has %d dims, more than %d", nd, FP4_ST_MAX_DIMS);
    t->ndim = nd;
    int d = 0;
    for (const cJSON *c = sh->child; c; c = c->next, d++) {
        uint64_t v;
        if (json_uint(c, &v, why, sizeof why)) return TFAIL("shape[%d] %s", d, why);
        t->shape[d] = (int64_t)v;
    }
    uint64_t bytes;
    size_t es = fp4_st_dtype_size(t->dtype);
    if (shape_bytes(t->shape, nd, es, &t->numel, &bytes))
        return TFAIL("shape product times %zu bytes (%s) overflows 64 bits", es, fp4_st_dtype_name(t->dtype));
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return TFAIL("field \"data_offsets\" is not an array of two integers");
    uint64_t b, en;
    if (json_uint(off->child, &b, why, sizeof why)) return TFAIL("data_offsets[0] %s", why);
    if (json_uint(off->child->next, &en, why, sizeof why)) return TFAIL("data_offsets[1] %s", why);
    if (b > en) return TFAIL("data_offsets begin %" PRIu64 " > end %" PRIu64, b, en);
    if (en > f->data_len)
        return TFAIL("data_offsets end %" PRIu64 " (file byte offset %" PRIu64 ") is past the end of the %" PRIu64
                     "-byte data buffer (file size %zu)", en, 8 + f->header_len + en, f->data_len, f->len);
    if (en - b != bytes)
        return TFAIL("data_offsets [%" PRIu64 ", %" PRIu64 ") hold %" PRIu64 " bytes but dtype %s and shape "
                     "(%" PRIu64 " elements) need %" PRIu64 " bytes (size mismatch)",
                     b, en, en - b, fp4_st_dtype_name(t->dtype), t->numel, bytes);
    t->offset = b;
    t->nbytes = (size_t)bytes;
    t->data = f->image + 8 + f->header_len + b;
    t->name = dup_str(name);
    if (!t->name) return fp4_fail(FP4_ERR_NOMEM, "out of memory copying tensor name '%.200s'", name);
    return FP4_OK;
}

static fp4_status parse_metadata(fp4_st_file *f, const cJSON *m) {
    long long koff = key_offset(f, "__metadata__");
    if (!cJSON_IsObject(m))
        return fp4_fail(FP4_ERR_FORMAT, "__metadata__ (header byte offset %lld) is not a JSON object", koff);
    size_t n = (size_t)cJSON_GetArraySize(m);
    f->meta_key = calloc(n ? n : 1, sizeof(char *));
    f->meta_val = calloc(n ? n : 1, sizeof(char *));
    if (!f->meta_key || !f->meta_val) return fp4_fail(FP4_ERR_NOMEM, "out of memory for %zu metadata entries", n);
    for (const cJSON *c = m->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return fp4_fail(FP4_ERR_FORMAT, "__metadata__ (header byte offset %lld): value of key \"%.64s\" is not a string",
                            koff, c->string);
        f->meta_key[f->n_meta] = dup_str(c->string);
        f->meta_val[f->n_meta] = dup_str(c->valuestring);
        f->n_meta++;
        if (!f->meta_key[f->n_meta - 1] || !f->meta_val[f->n_meta - 1])
            return fp4_fail(FP4_ERR_NOMEM, "out of memory copying metadata key \"%.64s\"", c->string);
    }
    return FP4_OK;
}

static int cmp_offset(const void *a, const void *b) {
    const fp4_st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}
static int cmp_tensor_ptr_name(const void *a, const void *b) {
    return strcmp((*(const fp4_st_tensor *const *)a)->name, (*(const fp4_st_tensor *const *)b)->name);
}
static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Duplicates, tiling, number tokens: the checks that need every entry. */
static fp4_status check_whole(fp4_st_file *f) {
    qsort(f->tensors, f->n, sizeof *f->tensors, cmp_offset);
    uint64_t expect = 0;
    for (size_t i = 0; i < f->n; i++) {
        const fp4_st_tensor *t = &f->tensors[i];
        if (t->offset < expect)
            return fp4_fail(FP4_ERR_FORMAT, "tensor '%.200s' data_offsets [%" PRIu64 ", %" PRIu64 ") overlap tensor '%.200s' "
                            "(which ends at data offset %" PRIu64 ", file byte offset %" PRIu64 ")", t->name, t->offset,
                            t->offset + t->nbytes, f->tensors[i - 1].name, expect, 8 + f->header_len + expect);
        if (t->offset > expect)
            return fp4_fail(FP4_ERR_FORMAT, "gap of %" PRIu64 " unused bytes before tensor '%.200s' at data offset %" PRIu64
                            " (file byte offset %" PRIu64 "); tensors must be contiguous", t->offset - expect, t->name,
                            expect, 8 + f->header_len + expect);
        expect = t->offset + t->nbytes;
    }
    if (expect != f->data_len)
        return fp4_fail(FP4_ERR_FORMAT, "%" PRIu64 " trailing bytes after the last tensor at file byte offset %" PRIu64
                        " (data buffer is %" PRIu64 " bytes)", f->data_len - expect, 8 + f->header_len + expect, f->data_len);
    f->by_name = malloc((f->n ? f->n : 1) * sizeof *f->by_name);
    if (!f->by_name) return fp4_fail(FP4_ERR_NOMEM, "out of memory for the index of %zu tensors", f->n);
    for (size_t i = 0; i < f->n; i++) f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, f->n, sizeof *f->by_name, cmp_tensor_ptr_name);
    for (size_t i = 1; i < f->n; i++)
        if (!strcmp(f->by_name[i]->name, f->by_name[i - 1]->name))
            return fp4_fail(FP4_ERR_FORMAT, "duplicate tensor name '%.200s' (header byte offset %lld)",
                            f->by_name[i]->name, key_offset(f, f->by_name[i]->name));
    if (f->n_meta > 1) {
        char **keys = malloc(f->n_meta * sizeof(char *));
        if (!keys) return fp4_fail(FP4_ERR_NOMEM, "out of memory checking %zu metadata keys", f->n_meta);
        memcpy(keys, f->meta_key, f->n_meta * sizeof(char *));
        qsort(keys, f->n_meta, sizeof(char *), cmp_str_ptr);
        for (size_t i = 1; i < f->n_meta; i++)
            if (!strcmp(keys[i], keys[i - 1])) {
                fp4_status st = fp4_fail(FP4_ERR_FORMAT, "__metadata__: duplicate key \"%.64s\"", keys[i]);
                free(keys);
                return st;
            }
        free(keys);
    }
    /* Every number in a valid header is a shape dim or an offset: reject 1.0, 1e3, -0 forms. */
    const char *h = (const char *)f->image + 8;
    int in_str = 0;
    for (uint64_t i = 0; i < f->header_len; i++) {
        char c = h[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') in_str = 1;
        else if (c == '.' || c == 'e' || c == 'E' || c == '-')
            return fp4_fail(FP4_ERR_FORMAT, "header byte offset %" PRIu64 ": number is not a plain non-negative integer "
                            "(shape and data_offsets must be integers)", 8 + i);
    }
    return FP4_OK;
}

static fp4_status parse_image(fp4_st_file *f) {
    if (f->len < 8)
        return fp4_fail(FP4_ERR_FORMAT, "file is %zu bytes, shorter than the 8-byte header length at byte offset 0 "
                        "(truncated)", f->len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | f->image[i];
    if (n == 0) return fp4_fail(FP4_ERR_FORMAT, "header length at byte offset 0 is 0");
    if (n > FP4_ST_MAX_HEADER)
        return fp4_fail(FP4_ERR_FORMAT, "header length %" PRIu64 " at byte offset 0 exceeds the %llu-byte limit", n,
                        FP4_ST_MAX_HEADER);
    if (n > f->len - 8)
        return fp4_fail(FP4_ERR_FORMAT, "header length %" PRIu64 " at byte offset 0 is longer than the %zu bytes after "
                        "it (file truncated?)", n, f->len - 8);
    f->header_len = n;
    f->data_len = f->len - 8 - n;
    const char *h = (const char *)f->image + 8;
    long long bad = bad_utf8_at((const uint8_t *)h, n, 0);
    if (bad >= 0)
        return fp4_fail(FP4_ERR_FORMAT, "header byte offset %lld: invalid UTF-8 or control character 0x%02x", 8 + bad,
                        (unsigned)(uint8_t)h[bad]);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)n, &end, 0);
    if (!root) {
        long long at = end ? 8 + (long long)(end - h) : 8;
        return fp4_fail(FP4_ERR_FORMAT, "header is not valid JSON (error near byte offset %lld)", at);
    }
    for (const char *p = end; p < h + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return fp4_fail(FP4_ERR_FORMAT, "header byte offset %lld: unexpected data after the JSON object",
                            8 + (long long)(p - h));
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fp4_fail(FP4_ERR_FORMAT, "header (byte offset 8) is JSON but not an object");
    }
    size_t cap = (size_t)cJSON_GetArraySize(root);
    f->tensors = calloc(cap ? cap : 1, sizeof *f->tensors);
    if (!f->tensors) { cJSON_Delete(root); return fp4_fail(FP4_ERR_NOMEM, "out of memory for %zu tensor entries", cap); }
    fp4_status st = FP4_OK;
    int seen_meta = 0;
    for (const cJSON *c = root->child; c && st == FP4_OK; c = c->next) {
        if (!strcmp(c->string, "__metadata__")) {
            if (seen_meta++) st = fp4_fail(FP4_ERR_FORMAT, "duplicate key \"__metadata__\"");
            else st = parse_metadata(f, c);
        } else {
            st = parse_entry(f, c, &f->tensors[f->n]);
            if (st == FP4_OK) f->n++;
        }
    }
    cJSON_Delete(root);
    return st == FP4_OK ? check_whole(f) : st;
}

fp4_status fp4_st_parse(const void *buf, size_t len, int copy, fp4_st_file **out) {
    if (!out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_parse: out is NULL");
    *out = NULL;
    if (!buf && len) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_parse: buf is NULL for %zu bytes", len);
    fp4_st_file *f = calloc(1, sizeof *f);
    if (!f) return fp4_fail(FP4_ERR_NOMEM, "out of memory for a safetensors reader");
    f->len = len;
    f->image = buf;
    if (copy) {
        f->owned = malloc(len ? len : 1);
        if (!f->owned) { free(f); return fp4_fail(FP4_ERR_NOMEM, "out of memory copying a %zu-byte file image", len); }
        if (len) memcpy(f->owned, buf, len);
        f->image = f->owned;
    }
    fp4_status st = parse_image(f);
    if (st != FP4_OK) { fp4_st_close(f); return st; }
    *out = f;
    return FP4_OK;
}

fp4_status fp4_st_open(const char *path, fp4_st_file **out) {
    if (!out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_open: out is NULL");
    *out = NULL;
    if (!path) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fp4_fail(errno == ENOENT ? FP4_ERR_NOT_FOUND : FP4_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    errno = 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        return fp4_fail(FP4_ERR_IO, "'%s' is not a readable regular file%s%s", path, e ? ": " : "", e ? strerror(e) : "");
    }
    fp4_st_file *f = calloc(1, sizeof *f);
    if (!f) { close(fd); return fp4_fail(FP4_ERR_NOMEM, "out of memory for a safetensors reader"); }
    f->len = (size_t)sb.st_size;
    if (f->len > 0) {
        f->map = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            int e = errno;
            f->map = NULL;
            close(fd);
            fp4_st_close(f);
            return fp4_fail(FP4_ERR_IO, "cannot map '%s' (%lld bytes): %s", path, (long long)sb.st_size, strerror(e));
        }
        f->image = f->map;
    } else f->image = (const uint8_t *)"";
    close(fd);
    fp4_status st = parse_image(f);
    if (st != FP4_OK) {
        fp4_st_close(f);
        return fp4_fail_context(st, "%s", path);
    }
    *out = f;
    return FP4_OK;
}

size_t fp4_st_count(const fp4_st_file *f) { return f ? f->n : 0; }
const fp4_st_tensor *fp4_st_tensor_at(const fp4_st_file *f, size_t i) { return f && i < f->n ? &f->tensors[i] : NULL; }
uint64_t fp4_st_data_bytes(const fp4_st_file *f) { return f ? f->data_len : 0; }
uint64_t fp4_st_header_bytes(const fp4_st_file *f) { return f ? f->header_len : 0; }

const fp4_st_tensor *fp4_st_find(const fp4_st_file *f, const char *name) {
    if (!f || !name) return NULL;
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

size_t fp4_st_metadata_count(const fp4_st_file *f) { return f ? f->n_meta : 0; }
fp4_status fp4_st_metadata_at(const fp4_st_file *f, size_t i, const char **key, const char **value) {
    if (!f || !key || !value) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_metadata_at: NULL argument");
    if (i >= f->n_meta) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_metadata_at: index %zu >= %zu entries", i, f->n_meta);
    *key = f->meta_key[i];
    *value = f->meta_val[i];
    return FP4_OK;
}
const char *fp4_st_metadata_get(const fp4_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_key[i], key)) return f->meta_val[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* writer                                                                                     */

typedef struct st_wtensor {
    char *name;
    fp4_st_dtype dtype;
    int ndim;
    int64_t shape[FP4_ST_MAX_DIMS];
    const void *data;
    void *owned;
    size_t nbytes;
} st_wtensor;

struct fp4_st_writer {
    st_wtensor *t;
    size_t n, cap;
    char **mkey, **mval;
    size_t nm, capm;
};

fp4_status fp4_st_writer_create(fp4_st_writer **out) {
    if (!out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_writer_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return fp4_fail(FP4_ERR_NOMEM, "out of memory for a safetensors writer");
    return FP4_OK;
}

void fp4_st_writer_free(fp4_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) { free(w->t[i].name); free(w->t[i].owned); }
    for (size_t i = 0; i < w->nm; i++) { free(w->mkey[i]); free(w->mval[i]); }
    free(w->t);
    free(w->mkey);
    free(w->mval);
    free(w);
}

size_t fp4_st_writer_count(const fp4_st_writer *w) { return w ? w->n : 0; }

static fp4_status writer_add(fp4_st_writer *w, const char *name, fp4_st_dtype dtype, int ndim, const int64_t *shape,
                             const void *data, size_t nbytes, int copy) {
    if (!w || !name) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_writer_add: writer or name is NULL");
    if (!*name || !strcmp(name, "__metadata__"))
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_writer_add: invalid tensor name \"%s\"", name);
    if (bad_utf8_at((const uint8_t *)name, strlen(name), 0) >= 0)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_writer_add: tensor name is not valid UTF-8 or has control characters");
    if (fp4_st_dtype_size(dtype) == 0)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_writer_add '%.200s': invalid dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > FP4_ST_MAX_DIMS || (ndim > 0 && !shape))
        return fp4_fail(FP4_ERR_SHAPE, "fp4_st_writer_add '%.200s': ndim %d (must be 0..%d, shape non-NULL)", name, ndim,
                        FP4_ST_MAX_DIMS);
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0 || (uint64_t)shape[d] > (1ull << 53))
            return fp4_fail(FP4_ERR_SHAPE, "fp4_st_writer_add '%.200s': shape[%d] = %lld out of range", name, d,
                            (long long)shape[d]);
    uint64_t numel, bytes;
    if (shape_bytes(shape, ndim, fp4_st_dtype_size(dtype), &numel, &bytes))
        return fp4_fail(FP4_ERR_SHAPE, "fp4_st_writer_add '%.200s': shape product overflows", name);
    if (bytes != nbytes)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_st_writer_add '%.200s': %zu bytes given but dtype %s and shape need %" PRIu64,
                        name, nbytes, fp4_st_dtype_name(dtype), bytes);
    if (nbytes && !data) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_writer_add '%.200s': data is NULL", name);
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name))
            return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_writer_add: tensor '%.200s' was already added", name);
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 16;
        st_wtensor *nt = realloc(w->t, nc * sizeof *nt);
        if (!nt) return fp4_fail(FP4_ERR_NOMEM, "out of memory growing the writer to %zu tensors", nc);
        w->t = nt;
        w->cap = nc;
    }
    st_wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = dup_str(name);
    if (!t->name) return fp4_fail(FP4_ERR_NOMEM, "out of memory copying tensor name '%.200s'", name);
    if (copy) {
        t->owned = malloc(nbytes ? nbytes : 1);
        if (!t->owned) {
            free(t->name);
            return fp4_fail(FP4_ERR_NOMEM, "out of memory copying %zu bytes of tensor '%.200s'", nbytes, name);
        }
        if (nbytes) memcpy(t->owned, data, nbytes);
        data = t->owned;
    }
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->data = data;
    t->nbytes = nbytes;
    w->n++;
    return FP4_OK;
}

fp4_status fp4_st_writer_add(fp4_st_writer *w, const char *name, fp4_st_dtype dtype, int ndim, const int64_t *shape,
                             const void *data, size_t nbytes) {
    return writer_add(w, name, dtype, ndim, shape, data, nbytes, 0);
}
fp4_status fp4_st_writer_add_copy(fp4_st_writer *w, const char *name, fp4_st_dtype dtype, int ndim,
                                  const int64_t *shape, const void *data, size_t nbytes) {
    return writer_add(w, name, dtype, ndim, shape, data, nbytes, 1);
}

fp4_status fp4_st_writer_set_metadata(fp4_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_writer_set_metadata: NULL argument");
    /* control characters are escaped on output; broken UTF-8 cannot be */
    if (bad_utf8_at((const uint8_t *)key, strlen(key), 1) >= 0 || bad_utf8_at((const uint8_t *)value, strlen(value), 1) >= 0)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_writer_set_metadata \"%.64s\": key or value is not valid UTF-8", key);
    char *v = dup_str(value);
    if (!v) return fp4_fail(FP4_ERR_NOMEM, "out of memory copying metadata value of \"%.64s\"", key);
    for (size_t i = 0; i < w->nm; i++)
        if (!strcmp(w->mkey[i], key)) { free(w->mval[i]); w->mval[i] = v; return FP4_OK; }
    if (w->nm == w->capm) {
        size_t nc = w->capm ? 2 * w->capm : 16;
        char **nk = realloc(w->mkey, nc * sizeof(char *));
        if (nk) w->mkey = nk;
        char **nv = nk ? realloc(w->mval, nc * sizeof(char *)) : NULL;
        if (nv) w->mval = nv;
        if (!nk || !nv) { free(v); return fp4_fail(FP4_ERR_NOMEM, "out of memory growing the metadata table"); }
        w->capm = nc;
    }
    w->mkey[w->nm] = dup_str(key);
    if (!w->mkey[w->nm]) { free(v); return fp4_fail(FP4_ERR_NOMEM, "out of memory copying metadata key"); }
    w->mval[w->nm++] = v;
    return FP4_OK;
}

/* growable byte buffer for the header */
typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_json_str(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; sb_put(b, esc, 2); }
        else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); sb_put(b, esc, 6); }
        else sb_put(b, (const char *)&c, 1);
    }
    sb_put(b, "\"", 1);
}

fp4_status fp4_st_writer_save(fp4_st_writer *w, const char *path) {
    if (!w || !path) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_st_writer_save: writer or path is NULL");
    sbuf h = {0};
    char num[64];
    sb_str(&h, "{");
    if (w->nm) {
        sb_str(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->nm; i++) {
            if (i) sb_str(&h, ",");
            sb_json_str(&h, w->mkey[i]);
            sb_str(&h, ":");
            sb_json_str(&h, w->mval[i]);
        }
        sb_str(&h, "}");
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const st_wtensor *t = &w->t[i];
        if (i || w->nm) sb_str(&h, ",");
        sb_json_str(&h, t->name);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, fp4_st_dtype_name(t->dtype));
        sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t->shape[d]);
            sb_str(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + t->nbytes);
        sb_str(&h, num);
        off += t->nbytes;
    }
    sb_str(&h, "}");
    while ((8 + h.n) % 8) sb_str(&h, " "); /* data buffer starts 8-byte aligned */
    if (h.oom) { free(h.p); return fp4_fail(FP4_ERR_NOMEM, "out of memory building the safetensors header"); }
    if (h.n > FP4_ST_MAX_HEADER) {
        free(h.p);
        return fp4_fail(FP4_ERR_INVALID_ARG, "header of %zu bytes exceeds the %llu-byte limit", h.n, FP4_ST_MAX_HEADER);
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
    fp4_atomic_file af;
    fp4_status st = fp4_atomic_open(&af, path);
    if (st == FP4_OK) st = fp4_atomic_write(&af, len8, 8);
    if (st == FP4_OK) st = fp4_atomic_write(&af, h.p, h.n);
    for (size_t i = 0; i < w->n && st == FP4_OK; i++) {
        st = fp4_atomic_write(&af, w->t[i].data, w->t[i].nbytes);
        if (st != FP4_OK) fp4_fail_context(st, "tensor '%.200s'", w->t[i].name);
    }
    free(h.p);
    if (st != FP4_OK) {
        fp4_atomic_abort(&af);
        return fp4_fail_context(st, "saving '%s'", path);
    }
    return fp4_atomic_commit(&af);
}
