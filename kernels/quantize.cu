/* kernels/quantize.cu — fp4_quantize_cuda: the host side of CUDA quantization (kernels in
 * kernels/amax.cu, quantize_rowwise.cu, quantize_tiled.cu; design in docs/kernels-quantize.md).
 *
 * Passes queued on the context's stream for x [rows, cols] (F32/BF16, row stride ld):
 *   NVFP4:  amax_kernel (reads x, per-CTA partials into the workspace)
 *           -> quantize kernel (reads x once more; each CTA reduces the partials, computes S_enc
 *              and S_dec with the shared inline helpers; CTA 0 writes tscale_dev and the host block)
 *   MXFP4:  quantize kernel (reads x once, emits its own amax partials)
 *           -> amax_finalize_kernel (one CTA: tscale_dev and the host block)
 * The quantize kernel is quantize_rowwise_kernel2 for a rowwise-only 1x16/1x32 request, else
 * quantize_tiled_kernel (16x16 blocks, a columnwise copy, or both copies in one pass).
 * Synchronization: fp4_quantize_cuda synchronizes ONCE, at the end, to bring {amax, s_enc, s_dec,
 * nonfinite} to the host struct (one 16-byte cudaMemcpyAsync + cudaStreamSynchronize).
 * Strict mode (FP4_NONFINITE_ERROR): the nonfinite flag travels with the partials; NVFP4 kernels
 * then write nothing, MXFP4 outputs are written but must not be used; the call then locates the
 * first NaN/Inf (an extra kernel, error path only) and returns FP4_ERR_NONFINITE with the
 * reference's message "fp4_quantize: x[r, c] = NaN (strict non-finite mode)". The host fields of
 * the outputs are left untouched on that path, as the reference leaves them. */
#include "kernels.h"
#include "quantize_common.cuh"
#include "quantize_cuda.h"

static int aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

extern "C" fp4_status fp4_quantize_cuda_async(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg,
                                              fp4_qtensor *rowwise, fp4_qtensor *columnwise, int version) {
    cudaStream_t stream = (cudaStream_t)fp4_context_stream(ctx);
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, FP4Q_WORKSPACE_BYTES, &ws));
    fp4q_host_block *hb = (fp4q_host_block *)ws;
    uint2 *partials = (uint2 *)((char *)ws + FP4Q_PARTIALS_OFFSET);
    const int64_t es = (int64_t)fp4_dtype_size(x->dtype);
    const int nv = cfg->format == FP4_FORMAT_NVFP4;

    fp4q_args a = {};
    a.rows = x->rows;
    a.cols = x->cols;
    a.ld = x->ld;
    a.strict = cfg->nonfinite == FP4_NONFINITE_ERROR;
    a.mx_ocp = cfg->scale_rule == FP4_SCALE_OCP;
    a.seed = cfg->seed;
    a.stream = cfg->stream;
    if (rowwise) {
        a.row_data = rowwise->data;
        a.row_scales = rowwise->scales;
        a.row_tscale = rowwise->tscale_dev;
    }
    if (columnwise) {
        a.col_data = columnwise->data;
        a.col_scales = columnwise->scales;
        a.col_tscale = columnwise->tscale_dev;
    }
    if (nv) {
        int np = 0;
        FP4_TRY(fp4q_launch_amax(stream, x, a.strict, partials, &np));
        a.partials_in = partials;
        a.n_partials_in = np;
        a.host_block = hb;
    } else {
        a.partials_out = partials;
    }
    const int vec_rows = aligned16(x->data) && (x->ld * es) % 16 == 0;
    int nq = 0;
    if (rowwise && !columnwise && cfg->block != FP4_BLOCK_16x16) {
        a.vec = vec_rows; /* a block is 32 or 64 bytes (BF16) / 64 or 128 bytes (F32): whole chunks */
        FP4_TRY(fp4q_launch_rowwise(stream, x, cfg, &a, version == 1 ? 1 : 2, &nq));
    } else {
        a.vec = vec_rows && (x->cols % (16 / es)) == 0;
        FP4_TRY(fp4q_launch_tiled(stream, x, cfg, &a, &nq));
    }
    if (!nv)
        FP4_TRY(fp4q_launch_finalize(stream, partials, nq, 0, a.row_tscale, a.col_tscale, hb));
    return FP4_OK;
}

static void set_host_fields(fp4_qtensor *q, const fp4_config *cfg, const fp4q_host_block *h, int columnwise) {
    if (!q) return;
    q->cfg = *cfg;
    if (columnwise) q->cfg.stream ^= FP4_STREAM_COLUMNWISE;
    q->hadamard = 0;
    q->hadamard_seed = 0;
    q->amax = h->amax;
    q->s_enc = h->s_enc;
    q->s_dec = h->s_dec;
}

extern "C" fp4_status fp4_quantize_cuda_finish(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg,
                                               fp4_qtensor *rowwise, fp4_qtensor *columnwise) {
    cudaStream_t stream = (cudaStream_t)fp4_context_stream(ctx);
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, FP4Q_WORKSPACE_BYTES, &ws));
    fp4q_host_block h;
    FP4_CUDA_TRY(cudaMemcpyAsync(&h, ws, sizeof h, cudaMemcpyDeviceToHost, stream));
    FP4_CUDA_TRY(cudaStreamSynchronize(stream));
    if (cfg->nonfinite == FP4_NONFINITE_ERROR && h.nonfinite) return fp4q_report_nonfinite(ctx, x, "fp4_quantize");
    set_host_fields(rowwise, cfg, &h, 0);
    set_host_fields(columnwise, cfg, &h, 1);
    return FP4_OK;
}

extern "C" fp4_status fp4_quantize_cuda(fp4_context *ctx, const fp4_view *x, const fp4_config *cfg, fp4_qtensor *rowwise,
                                        fp4_qtensor *columnwise) {
    FP4_TRY(fp4_quantize_cuda_async(ctx, x, cfg, rowwise, columnwise, 2));
    return fp4_quantize_cuda_finish(ctx, x, cfg, rowwise, columnwise);
}
