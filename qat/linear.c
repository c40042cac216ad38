/* qat/linear.c — the quantized linear layer (fp4kit/linear.h): Y = X·Wᵀ + b forward, dX = dY·W,
 * dW += dYᵀ·X, db += Σ dY backward, each GEMM's operands prepared as the recipe says.
 *
 * Shapes: x [BT, C], W [OC, C], y/dy [BT, OC], dx [BT, C], dW [OC, C]. Every GEMM is run as TN,
 * D [M, N] = A [M, K] · B [N, K]ᵀ, with its operands made K-major:
 *   fprop  A = X [BT, C]         B = W [OC, C]          (rowwise copies)
 *   dgrad  A = dY [BT, OC]       B = Wᵀ [C, OC]         (W's columnwise copy)
 *   wgrad  A = dYᵀ [OC, BT]      B = Xᵀ [C, BT]         (columnwise copies, optionally RHT along BT)
 * An FP4 operand becomes an fp4_qtensor (fp4_quantize, or fp4_rht_quantize_columnwise with a
 * Hadamard); fake-quant dequantizes it to FP32 scratch and uses the FP32 GEMM, true-quant passes
 * it to fp4_gemm. An fp32 operand is used in place (or transposed into scratch), a bf16 operand is
 * RNE-rounded into scratch. Host vs device is decided once by the layer's location: the public
 * quantize/dequantize/fp4_gemm/hadamard entry points dispatch themselves, and the four
 * high-precision primitives come from qat/matmul_ref.c or qat/linear.cu.
 */
#include "fp4kit/linear.h"

#include <stdlib.h>
#include <string.h>

#include "fp4kit/gemm.h"
#include "fp4kit/hadamard.h"
#include "fp4kit/quantize.h"
#include "dispatch.h"
#include "linear_impl.h"
#include "cublaslt.h"
#ifdef FP4KIT_HAVE_CUDA
#include <math.h>

#include "hadamard_impl.h" /* fp4_rht_quantize_columnwise_cuda (sync_host = 0) */
#include "quantize_cuda.h" /* fp4_quantize_cuda_async */
#endif

/* ---------------------------------------------------------------------------------------------- */
/* small helpers                                                                                    */

const char *fp4_linear_mode_name(fp4_linear_mode m) {
    return m == FP4_LINEAR_PLAIN ? "plain" : m == FP4_LINEAR_FAKE ? "fake" : m == FP4_LINEAR_TRUE ? "true" : "?";
}

fp4_status fp4_linear_mode_parse(const char *s, fp4_linear_mode *out) {
    if (!s || !out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear_mode_parse: NULL argument");
    for (int m = 0; m < 3; m++)
        if (!strcmp(s, fp4_linear_mode_name((fp4_linear_mode)m))) { *out = (fp4_linear_mode)m; return FP4_OK; }
    return fp4_fail(FP4_ERR_INVALID_ARG, "unknown linear mode '%s' (expected plain, fake or true)", s);
}

uint64_t fp4_linear_sr_stream(uint32_t layer_id, int tensor_id, uint32_t step) {
    return ((uint64_t)(layer_id & 0x7fffffu) << 40) | ((uint64_t)(tensor_id & 0xff) << 32) | (uint64_t)step;
}

static int is_fp4(fp4_prec p) { return p == FP4_PREC_NVFP4 || p == FP4_PREC_MXFP4; }

static fp4_status buf_reserve(fp4_linear_buf *b, fp4_location loc, size_t bytes) {
    if (b->cap >= bytes && b->p) return FP4_OK;
    if (loc == FP4_DEVICE) {
        fp4_device_free(b->p);
        b->p = NULL;
        b->cap = 0;
        FP4_TRY(fp4_device_alloc(bytes, &b->p));
    } else {
        free(b->p);
        b->cap = 0;
        b->p = malloc(bytes ? bytes : 1);
        if (!b->p) return fp4_fail(FP4_ERR_NOMEM, "fp4_linear: out of host memory allocating %zu bytes", bytes);
    }
    b->cap = bytes;
    return FP4_OK;
}

static void buf_free(fp4_linear_buf *b, fp4_location loc) {
    if (loc == FP4_DEVICE) fp4_device_free(b->p);
    else free(b->p);
    b->p = NULL;
    b->cap = 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* primitive dispatch (host reference or CUDA)                                                      */

static fp4_status check_backend(fp4_context *ctx, const fp4_linear *l, const char *op) {
    int cuda = 0;
    return fp4_pick_backend(ctx, l->loc, op, &cuda);
}

static fp4_status p_gemm(fp4_context *ctx, fp4_location loc, int64_t M, int64_t N, int64_t K, const float *A,
                         int64_t lda, const float *B, int64_t ldb, float *D, int64_t ldd, const float *bias, int acc) {
#ifdef FP4KIT_HAVE_CUDA
    if (loc == FP4_DEVICE) return fp4_lin_gemm_tn_cuda(ctx, M, N, K, A, lda, B, ldb, D, ldd, bias, acc);
#endif
    (void)ctx; (void)loc;
    return fp4_lin_gemm_tn_ref(M, N, K, A, lda, B, ldb, D, ldd, bias, acc);
}

static fp4_status p_convert(fp4_context *ctx, fp4_location loc, int64_t R, int64_t C, const void *src, fp4_dtype sdt,
                            int64_t lds, void *dst, fp4_dtype ddt, int64_t ldd, int transpose, int round_bf16) {
#ifdef FP4KIT_HAVE_CUDA
    if (loc == FP4_DEVICE) return fp4_lin_convert_cuda(ctx, R, C, src, sdt, lds, dst, ddt, ldd, transpose, round_bf16);
#endif
    (void)ctx; (void)loc;
    return fp4_lin_convert_ref(R, C, src, sdt, lds, dst, ddt, ldd, transpose, round_bf16);
}

/* src / y are F32 on the host (check_act), F32 or BF16 on a device. */
static fp4_status p_colsum(fp4_context *ctx, fp4_location loc, int64_t R, int64_t C, const void *src, fp4_dtype sdt,
                           int64_t lds, float *db) {
#ifdef FP4KIT_HAVE_CUDA
    if (loc == FP4_DEVICE) return fp4_lin_colsum_cuda(ctx, R, C, src, sdt, lds, db);
#endif
    (void)ctx; (void)loc; (void)sdt;
    return fp4_lin_colsum_ref(R, C, (const float *)src, lds, db);
}

static fp4_status p_bias_add(fp4_context *ctx, fp4_location loc, int64_t M, int64_t N, void *y, fp4_dtype ydt,
                             int64_t ldy, const float *bias) {
#ifdef FP4KIT_HAVE_CUDA
    if (loc == FP4_DEVICE) return fp4_lin_bias_add_cuda(ctx, M, N, y, ydt, ldy, bias);
#endif
    (void)ctx; (void)loc; (void)ydt;
    return fp4_lin_bias_add_ref(M, N, (float *)y, ldy, bias);
}

/* ---------------------------------------------------------------------------------------------- */
/* shapes                                                                                           */

/* Rows and K of operand (g, i) for a batch of BT tokens. */
static void operand_shape(const fp4_linear *l, int64_t BT, int g, int i, int64_t *rows, int64_t *K) {
    const int64_t Ks[3] = {l->C, l->OC, BT};
    const int64_t other[3][2] = {{BT, l->OC}, {BT, l->C}, {l->OC, l->C}};
    *K = Ks[g];
    *rows = other[g][i];
}

/* Check the FP4 operands' shapes against their blocks. which: 0 = the dims known at init (C, OC),
 * 1 = those that involve BT. */
static fp4_status check_operand_shapes(const fp4_linear *l, int64_t BT, int which) {
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 2; i++) {
            const fp4_operand_recipe *o = &l->recipe.op[g][i];
            if (!is_fp4(o->prec)) continue;
            int64_t rows, K;
            operand_shape(l, BT, g, i, &rows, &K);
            const int bc = fp4_block_cols(o->block), br = fp4_block_rows(o->block);
            const int k_has_bt = g == FP4_WGRAD, rows_has_bt = (g != FP4_WGRAD && i == 0);
            const char *kname = g == FP4_FPROP ? "C" : g == FP4_DGRAD ? "OC" : "BT";
            if (k_has_bt == which && K % bc)
                return fp4_fail(FP4_ERR_SHAPE, "fp4_linear: %s.%s is %s %s along %s, but %s = %lld is not a multiple of %d",
                                fp4_gemm_kind_name((fp4_gemm_kind)g), fp4_operand_name((fp4_gemm_kind)g, i),
                                fp4_prec_name(o->prec), fp4_block_name(o->block), kname, kname, (long long)K, bc);
            if (k_has_bt == which && o->hadamard && K % o->hadamard)
                return fp4_fail(FP4_ERR_SHAPE, "fp4_linear: %s.%s.hadamard=%d needs BT = %lld to be a multiple of %d",
                                fp4_gemm_kind_name((fp4_gemm_kind)g), fp4_operand_name((fp4_gemm_kind)g, i), o->hadamard,
                                (long long)K, o->hadamard);
            if (rows_has_bt == which && rows % br)
                return fp4_fail(FP4_ERR_SHAPE, "fp4_linear: %s.%s has 16x16 blocks but its %lld rows are not a multiple of 16",
                                fp4_gemm_kind_name((fp4_gemm_kind)g), fp4_operand_name((fp4_gemm_kind)g, i),
                                (long long)rows);
        }
    return FP4_OK;
}

static fp4_status check_act(const fp4_view *v, const fp4_linear *l, const char *what, int64_t rows, int64_t cols) {
    if (!v || !v->data) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear: %s is NULL", what);
    if (v->dtype != FP4_DTYPE_F32 && !(v->dtype == FP4_DTYPE_BF16 && l->loc == FP4_DEVICE))
        return fp4_fail(FP4_ERR_DTYPE, "fp4_linear: %s has dtype %s; the layer takes f32 activations%s", what,
                        fp4_dtype_name(v->dtype), l->loc == FP4_DEVICE ? " or bf16" : " on the host");
    if (v->loc != l->loc)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear: %s is on the %s but the layer is on the %s", what,
                        v->loc == FP4_DEVICE ? "device" : "host", l->loc == FP4_DEVICE ? "device" : "host");
    if ((rows >= 0 && v->rows != rows) || v->cols != cols || v->rows <= 0)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_linear: %s is [%lld, %lld] but must be [%s%lld, %lld]", what,
                        (long long)v->rows, (long long)v->cols, rows >= 0 ? "" : "BT, ", (long long)(rows >= 0 ? rows : 0),
                        (long long)cols);
    if (v->ld < v->cols)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_linear: %s row stride %lld is smaller than its %lld cols", what,
                        (long long)v->ld, (long long)v->cols);
    return FP4_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* init / free                                                                                      */

fp4_status fp4_linear_init(fp4_linear *l, float *w, float *bias, int64_t OC, int64_t C, fp4_location loc,
                           const fp4_recipe *recipe, fp4_linear_mode mode, uint32_t layer_id, uint64_t seed) {
    if (!l) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear_init: layer is NULL");
    memset(l, 0, sizeof *l);
    if (!w) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear_init: w is NULL");
    if (OC <= 0 || C <= 0)
        return fp4_fail(FP4_ERR_SHAPE, "fp4_linear_init: W shape [OC = %lld, C = %lld] must be positive", (long long)OC,
                        (long long)C);
    if (loc != FP4_HOST && loc != FP4_DEVICE)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear_init: invalid location %d", (int)loc);
    if (mode != FP4_LINEAR_PLAIN && mode != FP4_LINEAR_FAKE && mode != FP4_LINEAR_TRUE)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear_init: invalid mode %d", (int)mode);
    if (layer_id >= (1u << 23))
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear_init: layer_id %u must be below 2^23 (SR stream layout)", layer_id);
    if (!recipe) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear_init: recipe is NULL");
    FP4_TRY(fp4_recipe_validate(recipe));
    for (int g = 0; g < 3; g++) {
        const fp4_operand_recipe *a = &recipe->op[g][0], *b = &recipe->op[g][1];
        const char *gn = fp4_gemm_kind_name((fp4_gemm_kind)g);
        if (mode == FP4_LINEAR_PLAIN)
            for (int i = 0; i < 2; i++)
                if (is_fp4(recipe->op[g][i].prec))
                    return fp4_fail(FP4_ERR_INVALID_ARG,
                                    "fp4_linear_init: mode plain, but the recipe quantizes %s.%s to %s (use mode fake "
                                    "or true, or a bf16/fp32 recipe)", gn, fp4_operand_name((fp4_gemm_kind)g, i),
                                    fp4_prec_name(recipe->op[g][i].prec));
        if (mode == FP4_LINEAR_TRUE && (is_fp4(a->prec) || is_fp4(b->prec)) && a->prec != b->prec)
            return fp4_fail(FP4_ERR_UNSUPPORTED,
                            "fp4_linear_init: mode true needs both %s operands in one FP4 format, but %s.%s is %s and "
                            "%s.%s is %s", gn, gn, fp4_operand_name((fp4_gemm_kind)g, 0), fp4_prec_name(a->prec), gn,
                            fp4_operand_name((fp4_gemm_kind)g, 1), fp4_prec_name(b->prec));
    }
    l->OC = OC;
    l->C = C;
    l->w = w;
    l->bias = bias;
    l->loc = loc;
    l->recipe = *recipe;
    l->mode = mode;
    l->layer_id = layer_id;
    l->seed = seed;
    l->hadamard_seed = 0;
    fp4_status st = check_operand_shapes(l, 0, 0);
    if (st != FP4_OK) memset(l, 0, sizeof *l);
    return st;
}

void fp4_linear_free(fp4_linear *l) {
    if (!l) return;
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 2; i++) fp4_qtensor_free(&l->q[g][i]);
    buf_free(&l->saved_x, l->loc);
    buf_free(&l->wbf16, l->loc);
#ifdef FP4KIT_HAVE_CUDA
    if (l->side) fp4_context_sync(l->side); /* nothing of this layer may still run there */
    for (int i = 0; i < 4; i++) fp4_lin_event_destroy(l->ev[i]);
#endif
    for (int i = 0; i < 4; i++) buf_free(&l->scratch[i], l->loc);
    memset(l, 0, sizeof *l);
}

/* ---------------------------------------------------------------------------------------------- */
/* operands                                                                                         */

/* An operand as the GEMM sees it: K-major FP32 rows (p, ld) and/or the quantized tensor. */
typedef struct operand {
    const float *p;
    int64_t ld;
    const fp4_qtensor *q; /* FP4 operands */
} operand;

/* Device fast paths (docs/recipes.md §Device GEMMs). On a device layer:
 *   - a GEMM whose two operands are both bf16 runs on cuBLASLt (fp4_lt_matmul) with transposed
 *     layouts: the operands are BF16 (a BF16 activation as is, an F32 one RNE-rounded once — the
 *     same values the host rounds to; W from the BF16 copy of forward), products exact, FP32
 *     accumulation — it differs from the host only in the summation order (and in the BF16
 *     rounding of a BF16 output);
 *   - a fake-quant GEMM whose two operands are FP4 of one format runs fp4_gemm_ex with the
 *     two-pass algorithm: each operand decoded to BF16 as e2m1 x block scale (exact), cuBLASLt BF16
 *     with FP32 accumulation, the NVFP4 tensor scales s_dec_A * s_dec_B applied as the GEMM alpha
 *     (never folded into the BF16 values, which would round them). Same products as the host's
 *     dequantize-to-FP32 + FP32 GEMM up to rounding of the FP32 dequantized values and the order.
 * fp32 operands (and mixed fp32/bf16 or FP4/high-precision fake GEMMs) keep the FP32 kernel that
 * follows the host's operation order exactly. */
static int dev_bf16_gemm(const fp4_linear *l, int g) {
#ifdef FP4KIT_HAVE_CUDA
    return l->loc == FP4_DEVICE && l->recipe.op[g][0].prec == FP4_PREC_BF16 && l->recipe.op[g][1].prec == FP4_PREC_BF16;
#else
    (void)l; (void)g;
    return 0;
#endif
}

static int dev_fp4_fake_gemm(const fp4_linear *l, int g) {
#ifdef FP4KIT_HAVE_CUDA
    return l->loc == FP4_DEVICE && l->mode == FP4_LINEAR_FAKE && is_fp4(l->recipe.op[g][0].prec) &&
           l->recipe.op[g][0].prec == l->recipe.op[g][1].prec;
#else
    (void)l; (void)g;
    return 0;
#endif
}

static fp4_status sr_config(const fp4_linear *l, int g, int i, uint32_t step, fp4_config *cfg) {
    FP4_TRY(fp4_operand_config(&l->recipe.op[g][i], cfg));
    cfg->seed = l->seed;
    cfg->stream = fp4_linear_sr_stream(l->layer_id, 2 * g + i, step);
    return FP4_OK;
}

/* (Re)allocate q[g][i] for [rows, K] with cfg, reusing the storage when the shape and block agree. */
static fp4_status ensure_q(fp4_linear *l, int g, int i, int64_t rows, int64_t K, const fp4_config *cfg) {
    fp4_qtensor *q = &l->q[g][i];
    l->q_valid[g][i] = 0;
    if (q->data && q->rows == rows && q->cols == K && q->cfg.format == cfg->format && q->cfg.block == cfg->block)
        return FP4_OK;
    fp4_qtensor_free(q);
    return fp4_qtensor_alloc(q, rows, K, cfg, l->loc);
}

/* fp4_quantize (rowwise and/or columnwise copy) or, with a Hadamard size, fp4_rht_quantize_columnwise
 * into col. On a device layer in true-quant mode with async_quant (and the saturating non-finite
 * mode; fake-quant dequantizes with the host s_dec, so it keeps the synchronizing calls) the same
 * kernels are queued through the quantizers' no-synchronization entry points
 * (fp4_quantize_cuda_async, fp4_rht_quantize_columnwise_cuda with sync_host = 0): the tensor
 * scales then exist only in tscale_dev, where the device GEMMs read them, and the host fields
 * amax / s_enc / s_dec are set to NaN (never stale values). Codes, scales and tscale_dev are the
 * same bytes either way. Shapes were checked by check_operand_shapes and ensure_q. */
static fp4_status q_call(fp4_context *ctx, const fp4_linear *l, const fp4_view *x, const fp4_config *cfg,
                         fp4_qtensor *row, fp4_qtensor *col, int hadamard) {
#ifdef FP4KIT_HAVE_CUDA
    if (l->loc == FP4_DEVICE && l->async_quant && l->mode == FP4_LINEAR_TRUE &&
        cfg->nonfinite == FP4_NONFINITE_SATURATE) {
        if (hadamard) FP4_TRY(fp4_rht_quantize_columnwise_cuda(ctx, x, cfg, hadamard, l->hadamard_seed, col, 0));
        else FP4_TRY(fp4_quantize_cuda_async(ctx, x, cfg, row, col, 2));
        fp4_qtensor *q[2] = {row, col};
        for (int k = 0; k < 2; k++) {
            if (!q[k]) continue;
            if (!hadamard) {
                q[k]->cfg = *cfg;
                if (k == 1) q[k]->cfg.stream ^= FP4_STREAM_COLUMNWISE;
                q[k]->hadamard = 0;
                q[k]->hadamard_seed = 0;
            }
            q[k]->amax = q[k]->s_enc = q[k]->s_dec = NAN;
        }
        return FP4_OK;
    }
#endif
    if (hadamard) return fp4_rht_quantize_columnwise(ctx, x, cfg, hadamard, l->hadamard_seed, col);
    return fp4_quantize(ctx, x, cfg, row, col);
}

/* Quantize operand (g, i) from the F32 view src: the operand is src (trans 0) or srcᵀ (trans 1).
 * With a Hadamard the fused RHT + columnwise quantize is used (trans must be 1: wgrad). */
static fp4_status quantize_operand(fp4_context *ctx, fp4_linear *l, int g, int i, const fp4_view *src, int trans,
                                   uint32_t step) {
    fp4_config cfg;
    FP4_TRY(sr_config(l, g, i, step, &cfg));
    const int64_t rows = trans ? src->cols : src->rows, K = trans ? src->rows : src->cols;
    FP4_TRY(ensure_q(l, g, i, rows, K, &cfg));
    fp4_qtensor *q = &l->q[g][i];
    const int d = l->recipe.op[g][i].hadamard;
    fp4_status st;
    st = q_call(ctx, l, src, &cfg, d || trans ? NULL : q, d || trans ? q : NULL, d);
    if (st != FP4_OK)
        return fp4_fail_context(st, "fp4_linear (layer %u): quantizing %s.%s", l->layer_id,
                                fp4_gemm_kind_name((fp4_gemm_kind)g), fp4_operand_name((fp4_gemm_kind)g, i));
    l->q_valid[g][i] = 1;
    return FP4_OK;
}

/* Make operand (g, i) usable by the GEMM of this mode. If it is FP4, q[g][i] must hold it already.
 * Otherwise src (F32 view, or bf16/fp32 raw rows when raw is set) gives the high-precision data. */
static fp4_status materialize(fp4_context *ctx, fp4_linear *l, int g, int i, const fp4_view *src, int trans, int slot,
                              operand *out) {
    const fp4_operand_recipe *o = &l->recipe.op[g][i];
    memset(out, 0, sizeof *out);
    if (is_fp4(o->prec)) {
        const fp4_qtensor *q = &l->q[g][i];
        out->q = q;
        if (l->mode == FP4_LINEAR_TRUE || dev_fp4_fake_gemm(l, g)) return FP4_OK;
        FP4_TRY(buf_reserve(&l->scratch[slot], l->loc, (size_t)q->rows * (size_t)q->cols * sizeof(float)));
        fp4_view y = fp4_view_make(l->scratch[slot].p, FP4_DTYPE_F32, q->rows, q->cols, l->loc);
        FP4_TRY(fp4_dequantize(ctx, q, &y));
        out->p = l->scratch[slot].p;
        out->ld = q->cols;
        return FP4_OK;
    }
    const int rbf = o->prec == FP4_PREC_BF16 && src->dtype != FP4_DTYPE_BF16;
    if (!trans && !rbf && src->dtype == FP4_DTYPE_F32) {
        out->p = src->data;
        out->ld = src->ld;
        return FP4_OK;
    }
    const int64_t rows = trans ? src->cols : src->rows, K = trans ? src->rows : src->cols;
    FP4_TRY(buf_reserve(&l->scratch[slot], l->loc, (size_t)rows * (size_t)K * sizeof(float)));
    FP4_TRY(p_convert(ctx, l->loc, src->rows, src->cols, src->data, src->dtype, src->ld, l->scratch[slot].p,
                      FP4_DTYPE_F32, K, trans, rbf));
    out->p = l->scratch[slot].p;
    out->ld = K;
    return FP4_OK;
}

/* d [M, N] = A·Bᵀ (+ bias) (+ d) for the GEMM g, in this mode (not the device bf16 path). d is F32,
 * or BF16 on a device (not with accumulate): the FP4 GEMMs write it directly, the FP32 kernel
 * through an F32 staging buffer (scratch[3]). */
static fp4_status run_gemm(fp4_context *ctx, fp4_linear *l, int g, const operand *a, const operand *b, int64_t M,
                           int64_t N, int64_t K, fp4_view *d, const float *bias, int accumulate) {
    if ((l->mode == FP4_LINEAR_TRUE || dev_fp4_fake_gemm(l, g)) && a->q && b->q) {
        fp4_status st = fp4_gemm_ex(ctx, a->q, b->q, 1.0f, accumulate ? d : NULL, accumulate ? 1.0f : 0.0f, d,
                                    FP4_ALPHA_SDEC, l->mode == FP4_LINEAR_TRUE ? FP4_GEMM_ALGO_AUTO : FP4_GEMM_ALGO_TWO_PASS);
        if (st != FP4_OK)
            return fp4_fail_context(st, "fp4_linear (layer %u): %s GEMM", l->layer_id, fp4_gemm_kind_name((fp4_gemm_kind)g));
        if (bias) FP4_TRY(p_bias_add(ctx, l->loc, M, N, d->data, d->dtype, d->ld, bias));
        return FP4_OK;
    }
    if (d->dtype == FP4_DTYPE_F32)
        return p_gemm(ctx, l->loc, M, N, K, a->p, a->ld, b->p, b->ld, (float *)d->data, d->ld, bias, accumulate);
    if (accumulate) return fp4_fail(FP4_ERR_DTYPE, "fp4_linear: accumulating into a BF16 output");
    FP4_TRY(buf_reserve(&l->scratch[3], l->loc, (size_t)M * (size_t)N * sizeof(float)));
    float *tmp = (float *)l->scratch[3].p;
    FP4_TRY(p_gemm(ctx, l->loc, M, N, K, a->p, a->ld, b->p, b->ld, tmp, N, bias, 0));
    return p_convert(ctx, l->loc, M, N, tmp, FP4_DTYPE_F32, N, d->data, d->dtype, d->ld, 0, 0);
}

/* Device BF16 GEMM through cuBLASLt, row-major names: d [M, N] (+)= op(A)·op(B) where the
 * column-major call computes dᵀ. See the callers for the three layouts. */
static fp4_status lt_gemm(fp4_context *ctx, const fp4_linear *l, int g, int ta, int tb, int64_t m, int64_t n,
                          int64_t k, const void *A, int64_t lda, const void *B, int64_t ldb, void *D, fp4_dtype ddt,
                          int64_t ldd, float beta) {
#ifdef FP4KIT_HAVE_CUDA
    const fp4_lt_args a = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .A = A, .lda = lda, .B = B, .ldb = ldb,
                           .D = D, .ldd = ldd, .batch = 1, .alpha = 1.0f, .beta = beta,
                           .ab_dtype = FP4_DTYPE_BF16, .d_dtype = ddt};
    fp4_status st = fp4_lt_matmul(ctx, &a);
    if (st != FP4_OK)
        return fp4_fail_context(st, "fp4_linear (layer %u): %s BF16 GEMM", l->layer_id, fp4_gemm_kind_name((fp4_gemm_kind)g));
    return FP4_OK;
#else
    (void)ctx; (void)ta; (void)tb; (void)m; (void)n; (void)k; (void)A; (void)lda; (void)B; (void)ldb; (void)D;
    (void)ddt; (void)ldd; (void)beta; (void)g;
    return fp4_fail(FP4_ERR_UNSUPPORTED, "fp4_linear (layer %u): built without CUDA", l->layer_id);
#endif
}

/* A BF16 [R, C] view of v for the device bf16 path: v itself when BF16, else rounded into
 * scratch[slot] (contiguous). */
static fp4_status bf16_rows(fp4_context *ctx, fp4_linear *l, const fp4_view *v, int slot, const void **p, int64_t *ld) {
    if (v->dtype == FP4_DTYPE_BF16) {
        *p = v->data;
        *ld = v->ld;
        return FP4_OK;
    }
    FP4_TRY(buf_reserve(&l->scratch[slot], l->loc, (size_t)v->rows * (size_t)v->cols * 2));
    FP4_TRY(p_convert(ctx, l->loc, v->rows, v->cols, v->data, v->dtype, v->ld, l->scratch[slot].p, FP4_DTYPE_BF16,
                      v->cols, 0, 0));
    *p = l->scratch[slot].p;
    *ld = v->cols;
    return FP4_OK;
}

#define MARK(l, stage)                                                        \
    do {                                                                      \
        if ((l)->mark) (l)->mark((l)->mark_user, (l)->mark_tag, (stage));     \
    } while (0)

/* ---------------------------------------------------------------------------------------------- */
/* forward / backward                                                                               */

/* Side stream (fp4_linear.side): true-quant device layers only. fork: the side stream waits for
 * everything queued so far on ctx (the input is ready); done: mark the side work; join: ctx waits
 * for it. */
static int use_side(const fp4_linear *l) {
    return l->side != NULL && l->loc == FP4_DEVICE && l->mode == FP4_LINEAR_TRUE;
}

static fp4_status side_fork(fp4_context *ctx, fp4_linear *l, int e) {
#ifdef FP4KIT_HAVE_CUDA
    FP4_TRY(fp4_lin_event_record(ctx, &l->ev[e]));
    return fp4_lin_event_wait(l->side, l->ev[e]);
#else
    (void)ctx; (void)l; (void)e;
    return fp4_fail(FP4_ERR_UNSUPPORTED, "fp4_linear: side stream without CUDA");
#endif
}

static fp4_status side_done(fp4_linear *l, int e) {
#ifdef FP4KIT_HAVE_CUDA
    return fp4_lin_event_record(l->side, &l->ev[e]);
#else
    (void)l; (void)e;
    return fp4_fail(FP4_ERR_UNSUPPORTED, "fp4_linear: side stream without CUDA");
#endif
}

static fp4_status side_join(fp4_context *ctx, fp4_linear *l, int e) {
#ifdef FP4KIT_HAVE_CUDA
    return fp4_lin_event_wait(ctx, l->ev[e]);
#else
    (void)ctx; (void)l; (void)e;
    return fp4_fail(FP4_ERR_UNSUPPORTED, "fp4_linear: side stream without CUDA");
#endif
}

fp4_status fp4_linear_forward(fp4_context *ctx, fp4_linear *l, const fp4_view *x, fp4_view *y, uint32_t step) {
    if (!l || !l->w) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear_forward: layer is NULL or not initialized");
    FP4_TRY(check_backend(ctx, l, "fp4_linear_forward"));
    FP4_TRY(check_act(x, l, "x", -1, l->C));
    const int64_t BT = x->rows, C = l->C, OC = l->OC;
    FP4_TRY(check_act(y, l, "y", BT, OC));
    FP4_TRY(check_operand_shapes(l, BT, 1));
    l->have_forward = 0;
    l->BT = BT;
    l->step = step;
    const fp4_recipe *r = &l->recipe;
    fp4_view wv = fp4_view_make(l->w, FP4_DTYPE_F32, OC, C, l->loc);

    /* weights: fprop.w rowwise; dgrad.w columnwise, from the same call when both are the same
     * deterministic 16x16 quantization (then the columnwise copy is the transposed rowwise copy) */
    MARK(l, "w");
    const fp4_operand_recipe *fw = &r->op[FP4_FPROP][1], *dw = &r->op[FP4_DGRAD][1];
    l->w_shared = is_fp4(fw->prec) && fw->prec == dw->prec && fw->block == FP4_BLOCK_16x16 && dw->block == fw->block &&
                  fw->rounding == FP4_ROUND_RNE && dw->rounding == FP4_ROUND_RNE && fw->scale == dw->scale;
    if (l->w_shared) {
        fp4_config cfg;
        FP4_TRY(sr_config(l, FP4_FPROP, 1, step, &cfg));
        FP4_TRY(ensure_q(l, FP4_FPROP, 1, OC, C, &cfg));
        FP4_TRY(ensure_q(l, FP4_DGRAD, 1, C, OC, &cfg));
        fp4_status st = q_call(ctx, l, &wv, &cfg, &l->q[FP4_FPROP][1], &l->q[FP4_DGRAD][1], 0);
        if (st != FP4_OK) return fp4_fail_context(st, "fp4_linear (layer %u): quantizing W", l->layer_id);
        l->q_valid[FP4_FPROP][1] = l->q_valid[FP4_DGRAD][1] = 1;
    } else {
        if (is_fp4(fw->prec)) FP4_TRY(quantize_operand(ctx, l, FP4_FPROP, 1, &wv, 0, step));
        if (is_fp4(dw->prec)) FP4_TRY(quantize_operand(ctx, l, FP4_DGRAD, 1, &wv, 1, step));
    }
    if (dev_bf16_gemm(l, FP4_FPROP) || dev_bf16_gemm(l, FP4_DGRAD)) { /* W [OC, C] in BF16, kept for dgrad */
        FP4_TRY(buf_reserve(&l->wbf16, l->loc, (size_t)OC * (size_t)C * 2));
        FP4_TRY(p_convert(ctx, l->loc, OC, C, l->w, FP4_DTYPE_F32, C, l->wbf16.p, FP4_DTYPE_BF16, C, 0, 0));
    }
    /* activations: fprop.x rowwise; wgrad.x (kept for backward) */
    MARK(l, "x");
    const fp4_operand_recipe *wx = &r->op[FP4_WGRAD][1];
    l->sx = NULL;
    l->saved_x_bytes = 0;
    l->x_on_side = 0;
    if (is_fp4(wx->prec) && use_side(l)) { /* Xᵀ for Wgrad on the side stream, after x is ready */
        FP4_TRY(side_fork(ctx, l, 0));
        FP4_TRY(quantize_operand(l->side, l, FP4_WGRAD, 1, x, 1, step));
        FP4_TRY(side_done(l, 1));
        l->x_on_side = 1;
    }
    if (is_fp4(r->op[FP4_FPROP][0].prec)) FP4_TRY(quantize_operand(ctx, l, FP4_FPROP, 0, x, 0, step));
    if (is_fp4(wx->prec)) {
        if (!l->x_on_side) FP4_TRY(quantize_operand(ctx, l, FP4_WGRAD, 1, x, 1, step));
    } else if (dev_bf16_gemm(l, FP4_WGRAD)) { /* X [BT, C] in BF16, read transposed by cuBLASLt */
        if (x->dtype == FP4_DTYPE_BF16 && l->borrow_x) {
            l->sx = x->data;
            l->sx_ld = x->ld;
        } else {
            const size_t bytes = (size_t)BT * (size_t)C * 2;
            FP4_TRY(buf_reserve(&l->saved_x, l->loc, bytes));
            FP4_TRY(p_convert(ctx, l->loc, BT, C, x->data, x->dtype, x->ld, l->saved_x.p, FP4_DTYPE_BF16, C, 0, 0));
            l->sx = l->saved_x.p;
            l->sx_ld = C;
            l->saved_x_bytes = bytes;
        }
    } else { /* Xᵀ [C, BT] in fp32 or bf16 */
        const fp4_dtype sdt = wx->prec == FP4_PREC_BF16 ? FP4_DTYPE_BF16 : FP4_DTYPE_F32;
        const size_t bytes = (size_t)BT * (size_t)C * fp4_dtype_size(sdt);
        FP4_TRY(buf_reserve(&l->saved_x, l->loc, bytes));
        FP4_TRY(p_convert(ctx, l->loc, BT, C, x->data, x->dtype, x->ld, l->saved_x.p, sdt, BT, 1, 0));
        l->saved_x_bytes = bytes;
    }
    /* Y = X·Wᵀ + b */
    MARK(l, "fprop");
    if (dev_bf16_gemm(l, FP4_FPROP)) {
        /* column-major Yᵀ [OC, BT] = (W as [C, OC])ᵀ · (X as [C, BT]): TN */
        const void *xp;
        int64_t xld;
        FP4_TRY(bf16_rows(ctx, l, x, 2, &xp, &xld));
        FP4_TRY(lt_gemm(ctx, l, FP4_FPROP, 1, 0, OC, BT, C, l->wbf16.p, C, xp, xld, y->data, y->dtype, y->ld, 0.0f));
        if (l->bias) FP4_TRY(p_bias_add(ctx, l->loc, BT, OC, y->data, y->dtype, y->ld, l->bias));
    } else {
        operand a, b;
        FP4_TRY(materialize(ctx, l, FP4_FPROP, 0, x, 0, 0, &a));
        FP4_TRY(materialize(ctx, l, FP4_FPROP, 1, &wv, 0, 1, &b));
        FP4_TRY(run_gemm(ctx, l, FP4_FPROP, &a, &b, BT, OC, C, y, l->bias, 0));
    }
    l->have_forward = 1;
    return FP4_OK;
}

fp4_status fp4_linear_backward(fp4_context *ctx, fp4_linear *l, const fp4_view *dy, fp4_view *dx, float *dW,
                               float *db) {
    if (!l || !l->w) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear_backward: layer is NULL or not initialized");
    FP4_TRY(check_backend(ctx, l, "fp4_linear_backward"));
    if (!l->have_forward)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_linear_backward: no forward has run on layer %u", l->layer_id);
    const int64_t BT = l->BT, C = l->C, OC = l->OC;
    FP4_TRY(check_act(dy, l, "dy", BT, OC));
    if (dx) FP4_TRY(check_act(dx, l, "dx", BT, C));
    const fp4_recipe *r = &l->recipe;
    const uint32_t step = l->step;
    /* dYᵀ for Wgrad on the side stream, concurrently with Dgrad */
    const int dy_side = dW && is_fp4(r->op[FP4_WGRAD][0].prec) && use_side(l);
    if (dy_side) {
        MARK(l, "dyT");
        FP4_TRY(side_fork(ctx, l, 2));
        FP4_TRY(quantize_operand(l->side, l, FP4_WGRAD, 0, dy, 1, step));
        FP4_TRY(side_done(l, 3));
    }
    MARK(l, "dy");
    if (db) FP4_TRY(p_colsum(ctx, l->loc, BT, OC, dy->data, dy->dtype, dy->ld, db));
    fp4_view wv = fp4_view_make(l->w, FP4_DTYPE_F32, OC, C, l->loc);
    /* dY in BF16 for the device bf16 GEMMs (dgrad NN, wgrad NT): as is, or rounded once */
    const void *dyp = NULL;
    int64_t dyld = 0;
    if ((dx && dev_bf16_gemm(l, FP4_DGRAD)) || (dW && dev_bf16_gemm(l, FP4_WGRAD)))
        FP4_TRY(bf16_rows(ctx, l, dy, 2, &dyp, &dyld));
    operand a, b;
    if (dx) { /* dX [BT, C] = dY [BT, OC] · (Wᵀ [C, OC])ᵀ */
        if (dev_bf16_gemm(l, FP4_DGRAD)) {
            /* column-major dXᵀ [C, BT] = (W as [C, OC]) · (dY as [OC, BT]): NN */
            MARK(l, "dgrad");
            FP4_TRY(lt_gemm(ctx, l, FP4_DGRAD, 0, 0, C, BT, OC, l->wbf16.p, C, dyp, dyld, dx->data, dx->dtype, dx->ld,
                            0.0f));
        } else {
            if (is_fp4(r->op[FP4_DGRAD][0].prec)) FP4_TRY(quantize_operand(ctx, l, FP4_DGRAD, 0, dy, 0, step));
            FP4_TRY(materialize(ctx, l, FP4_DGRAD, 0, dy, 0, 0, &a));
            FP4_TRY(materialize(ctx, l, FP4_DGRAD, 1, &wv, 1, 1, &b));
            MARK(l, "dgrad");
            FP4_TRY(run_gemm(ctx, l, FP4_DGRAD, &a, &b, BT, C, OC, dx, NULL, 0));
        }
    }
    if (dW) { /* dW [OC, C] += dYᵀ [OC, BT] · (Xᵀ [C, BT])ᵀ */
        fp4_view dwv = {dW, FP4_DTYPE_F32, OC, C, C, l->loc};
        if (dev_bf16_gemm(l, FP4_WGRAD)) {
            /* column-major dWᵀ [C, OC] += (X as [C, BT]) · (dY as [OC, BT])ᵀ: NT */
            MARK(l, "wgrad");
            FP4_TRY(lt_gemm(ctx, l, FP4_WGRAD, 0, 1, C, OC, BT, l->sx, l->sx_ld, dyp, dyld, dW, FP4_DTYPE_F32, C, 1.0f));
        } else {
            if (!dy_side) MARK(l, "dyT");
            if (is_fp4(r->op[FP4_WGRAD][0].prec) && !dy_side) FP4_TRY(quantize_operand(ctx, l, FP4_WGRAD, 0, dy, 1, step));
            FP4_TRY(materialize(ctx, l, FP4_WGRAD, 0, dy, 1, 0, &a));
            if (is_fp4(r->op[FP4_WGRAD][1].prec)) {
                FP4_TRY(materialize(ctx, l, FP4_WGRAD, 1, NULL, 0, 1, &b));
            } else { /* saved Xᵀ [C, BT] in fp32 (used in place) or bf16 (widened) */
                const fp4_dtype sdt = r->op[FP4_WGRAD][1].prec == FP4_PREC_BF16 ? FP4_DTYPE_BF16 : FP4_DTYPE_F32;
                fp4_view sx = {l->saved_x.p, sdt, C, BT, BT, l->loc};
                FP4_TRY(materialize(ctx, l, FP4_WGRAD, 1, &sx, 0, 1, &b));
            }
            MARK(l, "wgrad");
            if (l->x_on_side) FP4_TRY(side_join(ctx, l, 1));
            if (dy_side) FP4_TRY(side_join(ctx, l, 3));
            FP4_TRY(run_gemm(ctx, l, FP4_WGRAD, &a, &b, OC, C, BT, &dwv, NULL, 1));
        }
    }
    return FP4_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* inspection                                                                                       */

size_t fp4_linear_saved_bytes(const fp4_linear *l) {
    if (!l || !l->have_forward) return 0;
    size_t n = l->saved_x_bytes;
    for (int k = 0; k < 2; k++) {
        const int g = k == 0 ? FP4_WGRAD : FP4_DGRAD, i = 1;
        if (!is_fp4(l->recipe.op[g][i].prec) || !l->q_valid[g][i]) continue;
        const fp4_qtensor *q = &l->q[g][i];
        n += fp4_qtensor_data_bytes(q) + fp4_qtensor_scale_bytes(q) + 3 * sizeof(float);
    }
    return n;
}

const fp4_qtensor *fp4_linear_operand(const fp4_linear *l, fp4_gemm_kind g, int operand) {
    if (!l || (unsigned)g > 2u || (operand != 0 && operand != 1)) return NULL;
    if (!is_fp4(l->recipe.op[g][operand].prec) || !l->q_valid[g][operand]) return NULL;
    return &l->q[g][operand];
}
