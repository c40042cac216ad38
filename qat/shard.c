/* qat/shard.c — token shard files and the (B, T+1) window dataloader (fp4kit/data.h).
 *
 * A shard is a 64-byte header + the tokens, little-endian (byte layout in fp4kit/data.h and
 * docs/data.md). Writes go through fp4_atomic_* (temp file, fsync, rename); reads load the whole
 * file and check magic, version, width, reserved bytes, exact size, checksum and token range.
 *
 * The loader sees the shards as a list of windows. In sequential mode window k of a shard starts
 * at k*T; in random mode epoch e uses the starts o_e + k*T with o_e = splitmix(seed, e) mod T,
 * and visits the windows of all shards in a Fisher-Yates permutation drawn from (seed, e). The
 * permutation is rebuilt from (seed, epoch) on seek, so the whole position is (epoch, next).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/data.h"
#include "fp4kit/safetensors.h"
#include "internal.h"

static const char SHARD_MAGIC[8] = {'F', 'P', '4', 'T', 'O', 'K', 'S', 0};

uint32_t fp4_shard_width_for(uint32_t vocab) { return vocab <= 256u ? 1u : vocab <= 65536u ? 2u : 4u; }

uint64_t fp4_shard_fnv1a(const void *bytes, size_t n, uint64_t h) {
    const unsigned char *p = bytes;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i); }
static void put_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i); }
static uint32_t get_u32(const unsigned char *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get_u64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

fp4_status fp4_shard_write(const char *path, const uint32_t *ids, uint64_t n, uint32_t vocab, uint32_t eot) {
    if (!path || (n && !ids)) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_shard_write: NULL argument");
    if (vocab == 0) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_shard_write: vocabulary size 0");
    if (eot != FP4_SHARD_NO_EOT && eot >= vocab)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_shard_write: end-of-text id %u not below the vocabulary size %u", eot, vocab);
    uint32_t w = fp4_shard_width_for(vocab);
    uint64_t h = FP4_FNV1A_INIT;
    unsigned char buf[4096];
    for (uint64_t i = 0; i < n; i++) {
        if (ids[i] >= vocab)
            return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_shard_write '%s': token %llu is %u, not below the vocabulary size %u", path,
                            (unsigned long long)i, ids[i], vocab);
        unsigned char b[4];
        put_u32(b, ids[i]);
        h = fp4_shard_fnv1a(b, w, h);
    }
    unsigned char hdr[FP4_SHARD_HEADER_BYTES] = {0};
    memcpy(hdr, SHARD_MAGIC, 8);
    put_u32(hdr + 8, FP4_SHARD_VERSION);
    put_u32(hdr + 12, vocab);
    put_u32(hdr + 16, w);
    put_u32(hdr + 20, eot);
    put_u64(hdr + 24, n);
    put_u64(hdr + 32, h);
    fp4_atomic_file af;
    FP4_TRY(fp4_atomic_open(&af, path));
    fp4_status st = fp4_atomic_write(&af, hdr, sizeof hdr);
    size_t per = sizeof buf / w, k = 0;
    for (uint64_t i = 0; i < n && st == FP4_OK; i++) {
        unsigned char b[4];
        put_u32(b, ids[i]);
        memcpy(buf + k * w, b, w);
        if (++k == per || i + 1 == n) {
            st = fp4_atomic_write(&af, buf, k * w);
            k = 0;
        }
    }
    if (st != FP4_OK) {
        fp4_atomic_abort(&af);
        return st;
    }
    return fp4_atomic_commit(&af);
}

void fp4_shard_free(fp4_shard *s) {
    if (!s) return;
    free(s->data);
    memset(s, 0, sizeof *s);
}

fp4_status fp4_shard_read(const char *path, fp4_shard *s) {
    if (!s || !path) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_shard_read: NULL argument");
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "rb");
    if (!f) return fp4_fail(FP4_ERR_IO, "cannot open token shard '%s': %s", path, strerror(errno));
    unsigned char hdr[FP4_SHARD_HEADER_BYTES];
    fp4_status st = FP4_OK;
    long long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) st = fp4_fail(FP4_ERR_IO, "cannot size token shard '%s'", path);
    else if (size < FP4_SHARD_HEADER_BYTES || fread(hdr, 1, sizeof hdr, f) != sizeof hdr)
        st = fp4_fail(FP4_ERR_FORMAT, "token shard '%s': %lld bytes, shorter than the %d-byte header (truncated?)", path, size,
                      FP4_SHARD_HEADER_BYTES);
    else if (memcmp(hdr, SHARD_MAGIC, 8) != 0)
        st = fp4_fail(FP4_ERR_FORMAT, "'%s' is not a token shard (bad magic at byte 0; expected \"FP4TOKS\\0\")", path);
    if (st != FP4_OK) { fclose(f); return st; }
    uint32_t version = get_u32(hdr + 8), vocab = get_u32(hdr + 12), w = get_u32(hdr + 16), eot = get_u32(hdr + 20);
    uint64_t n = get_u64(hdr + 24), sum = get_u64(hdr + 32), bytes = 0;
    int reserved_zero = 1;
    for (int i = 40; i < FP4_SHARD_HEADER_BYTES; i++) reserved_zero &= hdr[i] == 0;
    if (version != FP4_SHARD_VERSION)
        st = fp4_fail(FP4_ERR_FORMAT, "token shard '%s': version %u at byte 8, this reader knows version %d", path, version,
                      FP4_SHARD_VERSION);
    else if (vocab == 0 || (w != 1 && w != 2 && w != 4) || fp4_shard_width_for(vocab) > w)
        st = fp4_fail(FP4_ERR_FORMAT, "token shard '%s': vocabulary %u (byte 12) with %u bytes per token (byte 16) is invalid", path,
                      vocab, w);
    else if (eot != FP4_SHARD_NO_EOT && eot >= vocab)
        st = fp4_fail(FP4_ERR_FORMAT, "token shard '%s': end-of-text id %u (byte 20) not below the vocabulary size %u", path, eot, vocab);
    else if (!reserved_zero)
        st = fp4_fail(FP4_ERR_FORMAT, "token shard '%s': reserved header bytes 40..63 are not zero", path);
    else if (fp4_mul_overflows(n, w, &bytes) || bytes != (uint64_t)size - FP4_SHARD_HEADER_BYTES)
        st = fp4_fail(FP4_ERR_FORMAT, "token shard '%s': header says %llu tokens of %u bytes but the file holds %lld bytes after the header%s",
                      path, (unsigned long long)n, w, size - FP4_SHARD_HEADER_BYTES,
                      (uint64_t)size - FP4_SHARD_HEADER_BYTES < n * (uint64_t)w ? " (truncated)" : "");
    if (st != FP4_OK) { fclose(f); return st; }
    void *data = malloc(bytes ? bytes : 1);
    if (!data) { fclose(f); return fp4_fail(FP4_ERR_NOMEM, "out of host memory reading %llu bytes of '%s'", (unsigned long long)bytes, path); }
    if (fread(data, 1, bytes, f) != bytes) st = fp4_fail(FP4_ERR_IO, "read error on token shard '%s'", path);
    fclose(f);
    uint64_t h = st == FP4_OK ? fp4_shard_fnv1a(data, bytes, FP4_FNV1A_INIT) : 0;
    if (st == FP4_OK && h != sum)
        st = fp4_fail(FP4_ERR_FORMAT, "token shard '%s': checksum mismatch (header %016llx, tokens %016llx): corrupt file", path,
                      (unsigned long long)sum, (unsigned long long)h);
    *s = (fp4_shard){vocab, w, eot, n, sum, data};
    for (uint64_t i = 0; st == FP4_OK && i < n; i++)
        if (fp4_shard_token(s, i) >= vocab)
            st = fp4_fail(FP4_ERR_FORMAT, "token shard '%s': token %llu is %u, not below the vocabulary size %u", path,
                          (unsigned long long)i, fp4_shard_token(s, i), vocab);
    if (st != FP4_OK) fp4_shard_free(s);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* dataloader                                                                                */

struct fp4_loader {
    fp4_shard *shards;
    size_t nshards;
    int B, T;
    fp4_loader_mode mode;
    uint64_t seed, data_id;
    uint64_t epoch, next, batches;
    /* windows of the current epoch: start of shard i's windows in the global index, offset */
    uint64_t *first;  /* [nshards + 1] */
    uint64_t offset;
    uint64_t *perm;   /* random mode: permutation of [0, first[nshards]) */
    uint64_t perm_cap;
};

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias (rejection). */
static uint64_t below(uint64_t *s, uint64_t n) {
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do x = splitmix(s); while (x >= lim);
    return x % n;
}

/* Lay out the windows of epoch e (offset and per-shard counts; permutation in random mode). */
static fp4_status loader_epoch(fp4_loader *L, uint64_t e) {
    uint64_t s = L->seed;
    s = splitmix(&s) ^ (e + 1) * 0xd1342543de82ef95ull; /* generator state for (seed, epoch) */
    L->offset = L->mode == FP4_LOADER_RANDOM ? below(&s, (uint64_t)L->T) : 0;
    L->first[0] = 0;
    for (size_t i = 0; i < L->nshards; i++) {
        uint64_t n = L->shards[i].ntokens, k = 0;
        if (n >= L->offset + (uint64_t)L->T + 1) k = (n - L->offset - 1) / (uint64_t)L->T;
        L->first[i + 1] = L->first[i] + k;
    }
    uint64_t W = L->first[L->nshards];
    L->epoch = e;
    if (L->mode != FP4_LOADER_RANDOM) return FP4_OK;
    if (W == 0) return fp4_fail(FP4_ERR_SHAPE, "dataloader: no window of %d tokens at offset %llu in epoch %llu", L->T + 1,
                                (unsigned long long)L->offset, (unsigned long long)e);
    if (W > L->perm_cap) {
        uint64_t *p = realloc(L->perm, W * sizeof *p);
        if (!p) return fp4_fail(FP4_ERR_NOMEM, "out of host memory for a permutation of %llu windows", (unsigned long long)W);
        L->perm = p;
        L->perm_cap = W;
    }
    for (uint64_t i = 0; i < W; i++) L->perm[i] = i;
    for (uint64_t i = W - 1; i > 0; i--) {
        uint64_t j = below(&s, i + 1), t = L->perm[i];
        L->perm[i] = L->perm[j];
        L->perm[j] = t;
    }
    return FP4_OK;
}

void fp4_loader_close(fp4_loader *L) {
    if (!L) return;
    for (size_t i = 0; i < L->nshards; i++) fp4_shard_free(&L->shards[i]);
    free(L->shards);
    free(L->first);
    free(L->perm);
    free(L);
}

fp4_status fp4_loader_open(const char *const *paths, size_t npaths, int B, int T, fp4_loader_mode mode, uint64_t seed,
                           fp4_loader **out) {
    if (!out || !paths || npaths == 0) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_loader_open: no shards given");
    *out = NULL;
    if (B <= 0 || T <= 0) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_loader_open: B=%d and T=%d must be positive", B, T);
    if (mode != FP4_LOADER_SEQUENTIAL && mode != FP4_LOADER_RANDOM)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_loader_open: unknown mode %d", (int)mode);
    fp4_loader *L = calloc(1, sizeof *L);
    if (!L) return fp4_fail(FP4_ERR_NOMEM, "out of host memory for a dataloader");
    L->shards = calloc(npaths, sizeof *L->shards);
    L->first = calloc(npaths + 1, sizeof *L->first);
    if (!L->shards || !L->first) { fp4_loader_close(L); return fp4_fail(FP4_ERR_NOMEM, "out of host memory for a dataloader"); }
    L->B = B; L->T = T; L->mode = mode; L->seed = seed;
    uint64_t id = FP4_FNV1A_INIT;
    fp4_status st = FP4_OK;
    for (size_t i = 0; i < npaths && st == FP4_OK; i++) {
        st = fp4_shard_read(paths[i], &L->shards[i]);
        if (st != FP4_OK) break;
        L->nshards = i + 1;
        if (L->shards[i].vocab != L->shards[0].vocab)
            st = fp4_fail(FP4_ERR_FORMAT, "dataloader: shard '%s' has vocabulary %u but '%s' has %u", paths[i], L->shards[i].vocab,
                          paths[0], L->shards[0].vocab);
        uint64_t rec[2] = {L->shards[i].checksum, L->shards[i].ntokens};
        id = fp4_shard_fnv1a(rec, sizeof rec, id);
    }
    L->data_id = id;
    if (st == FP4_OK && fp4_loader_windows(L) == 0)
        st = fp4_fail(FP4_ERR_SHAPE, "dataloader: no shard holds T+1 = %d tokens", T + 1);
    if (st == FP4_OK) st = loader_epoch(L, 0);
    if (st != FP4_OK) { fp4_loader_close(L); return st; }
    *out = L;
    return FP4_OK;
}

/* Copy global window g of the current epoch into row (T+1 int32). */
static void copy_window(const fp4_loader *L, uint64_t g, int32_t *row) {
    size_t lo = 0, hi = L->nshards; /* find shard i with first[i] <= g < first[i+1] */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (L->first[mid] <= g) lo = mid; else hi = mid;
    }
    while (L->first[lo + 1] <= g) lo++; /* skip shards with no window */
    const fp4_shard *s = &L->shards[lo];
    uint64_t start = L->offset + (g - L->first[lo]) * (uint64_t)L->T;
    for (int t = 0; t <= L->T; t++) row[t] = (int32_t)fp4_shard_token(s, start + (uint64_t)t);
}

fp4_status fp4_loader_next(fp4_loader *L, int32_t *batch, int *rows) {
    if (!L || !batch || !rows) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_loader_next: NULL argument");
    int r = 0;
    while (r < L->B) {
        uint64_t W = L->first[L->nshards];
        if (L->next >= W) {
            if (L->mode == FP4_LOADER_SEQUENTIAL) break;
            FP4_TRY(loader_epoch(L, L->epoch + 1));
            L->next = 0;
            continue;
        }
        uint64_t g = L->mode == FP4_LOADER_RANDOM ? L->perm[L->next] : L->next;
        copy_window(L, g, batch + (size_t)r * (size_t)(L->T + 1));
        L->next++;
        r++;
    }
    *rows = r;
    if (r) L->batches++;
    return FP4_OK;
}

void fp4_loader_tell(const fp4_loader *L, fp4_loader_pos *pos) {
    memset(pos, 0, sizeof *pos);
    pos->magic = FP4_LOADER_POS_MAGIC;
    pos->mode = (uint32_t)L->mode;
    pos->B = (uint32_t)L->B;
    pos->T = (uint32_t)L->T;
    pos->seed = L->seed;
    pos->data_id = L->data_id;
    pos->epoch = L->epoch;
    pos->next = L->next;
    pos->batches = L->batches;
}

fp4_status fp4_loader_seek(fp4_loader *L, const fp4_loader_pos *pos) {
    if (!L || !pos) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_loader_seek: NULL argument");
    if (pos->magic != FP4_LOADER_POS_MAGIC) return fp4_fail(FP4_ERR_FORMAT, "dataloader position: bad magic (not a saved position)");
    if (pos->mode != (uint32_t)L->mode || pos->B != (uint32_t)L->B || pos->T != (uint32_t)L->T || pos->seed != L->seed)
        return fp4_fail(FP4_ERR_INVALID_ARG,
                        "dataloader position was saved with mode %u, B=%u, T=%u, seed %llu; this loader has mode %d, B=%d, T=%d, seed %llu",
                        pos->mode, pos->B, pos->T, (unsigned long long)pos->seed, (int)L->mode, L->B, L->T,
                        (unsigned long long)L->seed);
    if (pos->data_id != L->data_id)
        return fp4_fail(FP4_ERR_INVALID_ARG, "dataloader position was saved on other shards (data id %016llx, these are %016llx)",
                        (unsigned long long)pos->data_id, (unsigned long long)L->data_id);
    if (pos->epoch != L->epoch) FP4_TRY(loader_epoch(L, pos->epoch));
    if (pos->next > L->first[L->nshards])
        return fp4_fail(FP4_ERR_FORMAT, "dataloader position: window %llu beyond the %llu windows of epoch %llu",
                        (unsigned long long)pos->next, (unsigned long long)L->first[L->nshards], (unsigned long long)pos->epoch);
    L->next = pos->next;
    L->batches = pos->batches;
    return FP4_OK;
}

void fp4_loader_reset(fp4_loader *L) {
    if (L->epoch != 0) loader_epoch(L, 0); /* cannot fail: epoch 0 was laid out at open */
    L->next = 0;
    L->batches = 0;
}

uint64_t fp4_loader_windows(const fp4_loader *L) {
    uint64_t W = 0;
    for (size_t i = 0; i < L->nshards; i++)
        if (L->shards[i].ntokens >= (uint64_t)L->T + 1) W += (L->shards[i].ntokens - 1) / (uint64_t)L->T;
    return W;
}

uint32_t fp4_loader_vocab(const fp4_loader *L) { return L->shards[0].vocab; }
