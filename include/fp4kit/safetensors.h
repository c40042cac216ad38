/* fp4kit/safetensors.h — reading and writing .safetensors files, and atomic file writes.
 *
 * File layout (https://github.com/huggingface/safetensors):
 *   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
 *   bytes [8, 8+N)      UTF-8 JSON object:
 *                         {"<name>": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]},
 *                          ..., "__metadata__": {"<key>": "<string value>", ...}}
 *   bytes [8+N, EOF)    the data buffer; [begin, end) is relative to its start; row-major, little-endian.
 *
 * Reader (fp4_st_open / fp4_st_parse) validates the whole header before exposing anything, and
 * every rejection is FP4_ERR_FORMAT with a message naming the tensor, the field and the byte
 * offset (see docs/safetensors.md for the full list). It follows the upstream Rust reader's
 * rules: tensors must tile the data buffer exactly (no gaps, no overlaps, no trailing bytes),
 * header at most 100,000,000 bytes, every integer in [0, 2^53]. Tensors are exposed sorted by
 * data offset (file order); data pointers point into the file image and may be UNALIGNED (use
 * memcpy, or copy to an aligned buffer, before reading multi-byte values).
 *
 * Writer (fp4_st_writer_*) collects tensors in insertion order and writes them in that order,
 * contiguous (no padding between tensors, as upstream readers require). The JSON header is
 * padded with spaces so the data buffer starts at a file offset that is a multiple of 8.
 * fp4_st_writer_save writes atomically: "<path>.tmp.<pid>" in the same directory, fflush +
 * fsync, rename over path, fsync of the directory. On any failure the temp file is removed and
 * an existing file at path is left untouched.
 *
 *   fp4_st_file *f;
 *   if (fp4_st_open("model.safetensors", &f) != FP4_OK) { ... fp4_last_error() ... }
 *   const fp4_st_tensor *t = fp4_st_find(f, "lm_head.weight");   // NULL if absent
 *   ... t->dtype, t->ndim, t->shape[], t->data, t->nbytes ...
 *   fp4_st_close(f);
 */
#ifndef FP4KIT_SAFETENSORS_H
#define FP4KIT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fp4kit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element types, named as in the file ("F32", "F8_E4M3", ...). */
typedef enum fp4_st_dtype {
    FP4_ST_BOOL = 0,
    FP4_ST_U8,
    FP4_ST_I8,
    FP4_ST_U16,
    FP4_ST_I16,
    FP4_ST_F16,
    FP4_ST_BF16,
    FP4_ST_U32,
    FP4_ST_I32,
    FP4_ST_F32,
    FP4_ST_U64,
    FP4_ST_I64,
    FP4_ST_F64,
    FP4_ST_F8_E4M3, /* float8_e4m3fn: NVFP4 block scales */
    FP4_ST_F8_E5M2,
    FP4_ST_F8_E8M0, /* float8_e8m0fnu: MX block scales (compressed-tensors stores these as U8) */
    FP4_ST_DTYPE_COUNT
} fp4_st_dtype;

/* Bytes per element (1 for BOOL and the F8 types); 0 for an invalid value. */
size_t fp4_st_dtype_size(fp4_st_dtype dt);
/* File spelling ("F32"); "?" for an invalid value. */
const char *fp4_st_dtype_name(fp4_st_dtype dt);
/* Parse a file spelling (case-sensitive, as the format requires). FP4_ERR_FORMAT if unknown. */
fp4_status fp4_st_dtype_parse(const char *s, fp4_st_dtype *out);

/* Most dimensions a tensor may have (the reader rejects more). */
#define FP4_ST_MAX_DIMS 8
/* Largest header the reader accepts (upstream's limit). */
#define FP4_ST_MAX_HEADER 100000000ull

/* One tensor of an open file. All pointers stay valid until fp4_st_close. */
typedef struct fp4_st_tensor {
    const char *name;              /* NUL-terminated UTF-8 */
    fp4_st_dtype dtype;
    int ndim;                      /* 0 for a scalar (shape []) */
    int64_t shape[FP4_ST_MAX_DIMS];
    uint64_t numel;                /* product of shape (1 for a scalar, 0 for an empty tensor) */
    const void *data;              /* first byte inside the file image; possibly unaligned */
    size_t nbytes;                 /* numel * fp4_st_dtype_size(dtype) */
    uint64_t offset;               /* begin offset within the data buffer */
} fp4_st_tensor;

typedef struct fp4_st_file fp4_st_file;

/* Open and validate a file. The file is memory-mapped read-only (no copy); modifying or
 * truncating it while open is undefined. FP4_ERR_IO if it cannot be opened/read/mapped,
 * FP4_ERR_FORMAT if it is not a valid safetensors file. */
fp4_status fp4_st_open(const char *path, fp4_st_file **out);

/* Validate and expose a file image held in memory (len bytes at buf). With copy != 0 the bytes
 * are copied first; with copy == 0 buf must outlive the returned object. Same rules as open. */
fp4_status fp4_st_parse(const void *buf, size_t len, int copy, fp4_st_file **out);

/* Release a file (NULL is fine). */
void fp4_st_close(fp4_st_file *f);

/* Number of tensors, and tensor i in file order (sorted by data offset, ties by name). */
size_t fp4_st_count(const fp4_st_file *f);
const fp4_st_tensor *fp4_st_tensor_at(const fp4_st_file *f, size_t i);
/* The tensor called name, or NULL (no error recorded) if there is none. */
const fp4_st_tensor *fp4_st_find(const fp4_st_file *f, const char *name);

/* __metadata__ entries, in header order. */
size_t fp4_st_metadata_count(const fp4_st_file *f);
/* Entry i: *key and *value (NUL-terminated UTF-8). FP4_ERR_INVALID_ARG if i is out of range. */
fp4_status fp4_st_metadata_at(const fp4_st_file *f, size_t i, const char **key, const char **value);
/* Value of key, or NULL if absent. */
const char *fp4_st_metadata_get(const fp4_st_file *f, const char *key);

/* Size of the data buffer and of the JSON header (N) of an open file. */
uint64_t fp4_st_data_bytes(const fp4_st_file *f);
uint64_t fp4_st_header_bytes(const fp4_st_file *f);

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                     */

typedef struct fp4_st_writer fp4_st_writer;

fp4_status fp4_st_writer_create(fp4_st_writer **out);
void fp4_st_writer_free(fp4_st_writer *w);

/* Add a tensor that BORROWS data: the nbytes at data must stay valid and unchanged until
 * fp4_st_writer_save returns. Checks: name non-empty, not "__metadata__", not already added;
 * 0 <= ndim <= FP4_ST_MAX_DIMS; every dim >= 0; nbytes == product(shape) * dtype size (no
 * overflow); data non-NULL unless nbytes == 0. Errors are FP4_ERR_INVALID_ARG / FP4_ERR_SHAPE. */
fp4_status fp4_st_writer_add(fp4_st_writer *w, const char *name, fp4_st_dtype dtype, int ndim,
                             const int64_t *shape, const void *data, size_t nbytes);
/* Same, but the writer copies the bytes (the caller may free data right away). */
fp4_status fp4_st_writer_add_copy(fp4_st_writer *w, const char *name, fp4_st_dtype dtype, int ndim,
                                  const int64_t *shape, const void *data, size_t nbytes);
/* Set a __metadata__ entry (replacing an existing key's value). Keys keep first-set order. */
fp4_status fp4_st_writer_set_metadata(fp4_st_writer *w, const char *key, const char *value);
/* Number of tensors added so far. */
size_t fp4_st_writer_count(const fp4_st_writer *w);

/* Write everything to path atomically (see the top of this file). The writer stays usable. */
fp4_status fp4_st_writer_save(fp4_st_writer *w, const char *path);

/* ---------------------------------------------------------------------------------------- */
/* Atomic file writes (used by the writer; usable for any file)                               */

typedef struct fp4_atomic_file {
    FILE *fp;       /* write with fp4_atomic_write (or directly; errors are caught at commit) */
    char *path;     /* final path */
    char *tmp_path; /* "<path>.tmp.<pid>" */
    int failed;     /* a write failed; commit will refuse */
} fp4_atomic_file;

/* Create "<path>.tmp.<pid>" (exclusively; FP4_ERR_IO if it exists or cannot be created). */
fp4_status fp4_atomic_open(fp4_atomic_file *af, const char *path);
/* Write bytes; FP4_ERR_IO (with the byte offset reached) on a short write. */
fp4_status fp4_atomic_write(fp4_atomic_file *af, const void *data, size_t bytes);
/* fflush, fsync, close, rename over path, fsync the directory. On failure the temp file is
 * removed and path untouched; af is released either way. */
fp4_status fp4_atomic_commit(fp4_atomic_file *af);
/* Close and remove the temp file, release af (safe on a zeroed or already released af). */
void fp4_atomic_abort(fp4_atomic_file *af);

#ifdef __cplusplus
}
#endif
#endif
