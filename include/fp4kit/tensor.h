/* fp4kit/tensor.h — high-precision tensor views and quantized (NVFP4 / MXFP4) tensors.
 *
 * Shapes and layout conventions (used everywhere in fp4kit):
 *   - A 2-D tensor is [rows, cols], row-major, cols contiguous. For a GEMM operand the cols
 *     are the reduction dimension K ("K-major"), as cuBLASLt's TN layout wants.
 *   - A view (fp4_view) does not own memory: pointer, dtype, rows, cols, row stride (elements),
 *     and where the memory lives (host or CUDA device).
 *   - A quantized tensor (fp4_qtensor) owns its packed codes, its block scales and its tensor
 *     scale, and records every choice that produced it (format, block, scale rule, rounding,
 *     transform, seed/stream), so files and tests can say exactly what they hold.
 *
 * Quantized storage of an [R, C] tensor with blocks of B elements along C:
 *   data   uint8 [R, C/2]   two E2M1 codes per byte, element 2j in the low nibble (bits 3..0),
 *                           element 2j+1 in the high nibble (bits 7..4)
 *   scales uint8 [R, C/B]   row-major ("compact", unswizzled); E4M3 bytes (NVFP4, B = 16) or
 *                           E8M0 bytes (MXFP4, B = 32). A 16x16 NVFP4 tile's one scale is
 *                           replicated into the 16 rows it covers (spec §4).
 *   amax, s_enc, s_dec      NVFP4 only: fp32 tensor amax (NaN ignored), S_enc = 2688/amax and
 *                           S_dec = 1/S_enc (spec §3.1). MXFP4 has no tensor scale (s_enc = s_dec = 1).
 * A "columnwise" copy of X [R, C] is the quantized transpose: an fp4_qtensor of shape [C, R]
 * quantized from Xᵀ (blocks along R), made from the high-precision input, never requantized.
 */
#ifndef FP4KIT_TENSOR_H
#define FP4KIT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "fp4kit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fp4_dtype {
    FP4_DTYPE_F32 = 0,
    FP4_DTYPE_BF16 = 1,
    FP4_DTYPE_F16 = 2
} fp4_dtype;

typedef enum fp4_location {
    FP4_HOST = 0,  /* ordinary host memory */
    FP4_DEVICE = 1 /* CUDA device memory of the context's device */
} fp4_location;

/* Bytes of one element of a high-precision dtype (4, 2, 2); 0 for an unknown value. */
size_t fp4_dtype_size(fp4_dtype dt);
const char *fp4_dtype_name(fp4_dtype dt);

/* A non-owning 2-D view. ld is the row stride in elements (ld >= cols). */
typedef struct fp4_view {
    void *data;
    fp4_dtype dtype;
    int64_t rows, cols, ld;
    fp4_location loc;
} fp4_view;

/* Convenience constructor: contiguous view (ld = cols). */
fp4_view fp4_view_make(void *data, fp4_dtype dtype, int64_t rows, int64_t cols, fp4_location loc);

typedef enum fp4_format {
    FP4_FORMAT_NVFP4 = 1, /* E2M1 elements, E4M3 block scale per 16, FP32 tensor scale */
    FP4_FORMAT_MXFP4 = 2  /* E2M1 elements, E8M0 block scale per 32, no tensor scale */
} fp4_format;

typedef enum fp4_block {
    FP4_BLOCK_1x16 = 1,  /* NVFP4: 16 consecutive elements of a row */
    FP4_BLOCK_16x16 = 2, /* NVFP4: 16x16 tile (weights); scale replicated per row */
    FP4_BLOCK_1x32 = 3   /* MXFP4: 32 consecutive elements of a row */
} fp4_block;

typedef enum fp4_scale_rule {
    FP4_SCALE_NV = 0,    /* NVFP4 two-level scaling, TransformerEngine operation order (only rule for NVFP4) */
    FP4_SCALE_RCEIL = 1, /* MXFP4 default: X = 2^ceil(log2(amax/6)), never clips (cuBLAS, paper App. B.4) */
    FP4_SCALE_OCP = 2    /* MXFP4: X = 2^(floor(log2 amax) - 2), OCP MX v1.0, clips when significand > 1.5 */
} fp4_scale_rule;

typedef enum fp4_rounding {
    FP4_ROUND_RNE = 0, /* round to nearest, ties to even code, saturate at +-6 */
    FP4_ROUND_SR = 1   /* stochastic rounding, 8 Philox bits per element (spec §6.2) */
} fp4_rounding;

typedef enum fp4_nonfinite {
    FP4_NONFINITE_SATURATE = 0, /* hardware semantics: NaN -> +6, Inf -> +-6, amax ignores NaN */
    FP4_NONFINITE_ERROR = 1     /* strict: any NaN/Inf input is reported as FP4_ERR_NONFINITE */
} fp4_nonfinite;

/* Everything that determines a quantization. Start from fp4_config_nvfp4() / fp4_config_mxfp4(). */
typedef struct fp4_config {
    fp4_format format;
    fp4_block block;
    fp4_scale_rule scale_rule;
    fp4_rounding rounding;
    fp4_nonfinite nonfinite;
    uint64_t seed;   /* SR: Philox key */
    uint64_t stream; /* SR: Philox stream for the rowwise copy; the columnwise copy uses
                        stream ^ FP4_STREAM_COLUMNWISE so the two copies draw different bits */
} fp4_config;

#define FP4_STREAM_COLUMNWISE 0x8000000000000000ull

/* NVFP4, 1x16 blocks, RNE, hardware non-finite semantics. */
fp4_config fp4_config_nvfp4(void);
/* MXFP4, 1x32 blocks, rceil scale rule, RNE, hardware non-finite semantics. */
fp4_config fp4_config_mxfp4(void);

/* Elements per scale along a row: 16 (NVFP4) or 32 (MXFP4). */
int fp4_block_cols(fp4_block b);
/* Rows covered by one block: 16 for 16x16, else 1. */
int fp4_block_rows(fp4_block b);

/* Check a config for consistency (format/block/rule combinations, enum ranges). */
fp4_status fp4_config_validate(const fp4_config *cfg);

/* Short names used in files, metadata and on the command line: "nvfp4", "1x16", "rceil", "rne"... */
const char *fp4_format_name(fp4_format f);
const char *fp4_block_name(fp4_block b);
const char *fp4_scale_rule_name(fp4_scale_rule r);
const char *fp4_rounding_name(fp4_rounding r);
fp4_status fp4_format_parse(const char *s, fp4_format *out);
fp4_status fp4_block_parse(const char *s, fp4_block *out);
fp4_status fp4_scale_rule_parse(const char *s, fp4_scale_rule *out);
fp4_status fp4_rounding_parse(const char *s, fp4_rounding *out);

/* A quantized 2-D tensor. Fields are public for reading; create and free it with the
 * functions below. */
typedef struct fp4_qtensor {
    int64_t rows, cols;     /* logical shape; cols is a multiple of the block width */
    fp4_config cfg;         /* how it was quantized */
    int hadamard;           /* 0, or the size d of the Hadamard transform applied along cols first */
    uint64_t hadamard_seed; /* sign seed of that transform (0 = the fixed 0xD7E8 mask for d = 16) */
    uint8_t *data;          /* [rows, cols/2] packed codes */
    uint8_t *scales;        /* [rows, cols/block_cols] scale bytes */
    float amax;             /* NVFP4: tensor amax; MXFP4: max |x| too (informational) */
    float s_enc, s_dec;     /* NVFP4 global scales; 1 and 1 for MXFP4 */
    fp4_location loc;       /* where data and scales live */
    float *tscale_dev;      /* device tensors only: device copy of {amax, s_enc, s_dec} (3 floats),
                               written by the kernels so GEMMs can read the tensor scales without a
                               host round trip; NULL for host tensors */
} fp4_qtensor;

/* Allocate storage for a [rows, cols] quantized tensor with the given config, on the host or
 * (with a CUDA context) on the device. Checks the shape against the block. */
fp4_status fp4_qtensor_alloc(fp4_qtensor *q, int64_t rows, int64_t cols, const fp4_config *cfg, fp4_location loc);
/* Free what fp4_qtensor_alloc allocated and zero the struct. Safe on a zeroed struct. */
void fp4_qtensor_free(fp4_qtensor *q);
size_t fp4_qtensor_data_bytes(const fp4_qtensor *q);
size_t fp4_qtensor_scale_bytes(const fp4_qtensor *q);

/* Read element (r, c) of a host quantized tensor as its dequantized fp32 value. */
float fp4_qtensor_get(const fp4_qtensor *q, int64_t r, int64_t c);

#ifdef __cplusplus
}
#endif
#endif
