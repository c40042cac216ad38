/* tests/fuzz/fuzz_safetensors.c — libFuzzer target for the safetensors reader.
 *
 * Input: arbitrary bytes, parsed as a whole file image with fp4_st_parse (no copy, so ASan sees
 * the fuzzer's exact buffer bounds). When the parse succeeds, every byte of every tensor and
 * every metadata string is read, and lookups by name must find each tensor, so an offset or
 * size the validator let through that points outside the buffer is caught by ASan.
 * Build: tools/fuzz-ci.sh (clang, -fsanitize=fuzzer,address,undefined).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fp4kit/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fp4_st_file *f = NULL;
    if (fp4_st_parse(data, size, 0, &f) != FP4_OK) {
        if (f) abort(); /* a failed parse must not hand out an object */
        return 0;
    }
    volatile uint8_t sink = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < fp4_st_count(f); i++) {
        const fp4_st_tensor *t = fp4_st_tensor_at(f, i);
        const uint8_t *p = t->data;
        for (size_t b = 0; b < t->nbytes; b++) sink ^= p[b];
        if (t->nbytes != t->numel * fp4_st_dtype_size(t->dtype)) abort();
        if (t->ndim < 0 || t->ndim > FP4_ST_MAX_DIMS) abort();
        if (fp4_st_find(f, t->name) != t) abort();
        total += t->nbytes;
        sink ^= (uint8_t)strlen(t->name);
    }
    if (total != fp4_st_data_bytes(f)) abort(); /* tensors tile the data buffer */
    if (8 + fp4_st_header_bytes(f) + fp4_st_data_bytes(f) != size) abort();
    for (size_t i = 0; i < fp4_st_metadata_count(f); i++) {
        const char *k, *v;
        if (fp4_st_metadata_at(f, i, &k, &v) != FP4_OK) abort();
        sink ^= (uint8_t)(strlen(k) + strlen(v));
        if (fp4_st_metadata_get(f, k) == NULL) abort();
    }
    (void)sink;
    fp4_st_close(f);
    return 0;
}
