/* kernels/amax.cu — global amax of a device view (F32 or BF16, [rows, cols], row stride ld),
 * the first pass of NVFP4 quantization, and fp4_amax_cuda.
 *
 * amax = max |x| over the view, NaN ignored (fp4_amax_step), Inf counts. The pass writes one
 * partial {amax bits, nonfinite flag} per CTA into the context workspace; consumers (the NVFP4
 * quantize kernels, or amax_finalize_kernel) reduce those partials themselves, so nothing has to
 * be zeroed and no atomics are needed. The nonfinite flag (any NaN/Inf) is computed only in strict
 * mode (FP4_NONFINITE_ERROR).
 *
 * Thread mapping: a persistent grid (as many CTAs as are resident) walks 16-byte chunks (8 BF16 or 4 F32)
 * of the rows in order; (row, chunk) advance incrementally so no division runs in the loop.
 * A view with ld == cols (or one row) is walked as a single row of rows*cols elements. */
#include "kernels.h"
#include "quantize_common.cuh"
#include "quantize_cuda.h"

int fp4q_num_sms(void) {
    static int sms = 0;
    if (!sms) {
        int dev = 0, n = 0;
        if (cudaGetDevice(&dev) == cudaSuccess && cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess && n > 0)
            sms = n;
        else {
            (void)cudaGetLastError();
            return 132;
        }
    }
    return sms;
}

/* x: [rows, cols] with row stride ld; unit = elements per step (16/sizeof(T) when vec, else 1);
 * cols is a multiple of unit. */
template <typename T>
__global__ void __launch_bounds__(FP4Q_THREADS) amax_kernel(const T *__restrict__ x, int64_t rows, int64_t cols,
                                                           int64_t ld, int vec, int strict, uint2 *partials) {
    __shared__ uint2 scratch[32];
    constexpr int PER = 16 / (int)sizeof(T);
    const int64_t unit = vec ? PER : 1;
    const int64_t upr = cols / unit; /* units per row */
    const int64_t total = rows * upr;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    /* (r, u) of g, then advance by stride = sq rows + su units each step */
    int64_t r = g / upr, u = g % upr;
    const int64_t sq = stride / upr, su = stride % upr;
    float m = 0.0f;
    uint32_t f = 0u;
    if (vec) {
        /* 4 independent 16-byte loads in flight per thread */
        for (; g < total; g += 4 * stride) {
            uint4 q[4];
#pragma unroll
            for (int k = 0; k < 4; k++) {
                q[k] = make_uint4(0u, 0u, 0u, 0u);
                if (g + k * stride < total) q[k] = __ldg(reinterpret_cast<const uint4 *>(x + r * ld + u * unit));
                r += sq;
                u += su;
                if (u >= upr) { u -= upr; r++; }
            }
#pragma unroll
            for (int k = 0; k < 4; k++) {
                float v[PER];
                fp4q_unpack(q[k], v, T());
#pragma unroll
                for (int i = 0; i < PER; i++) m = fp4_amax_step(m, v[i]);
                if (strict) {
#pragma unroll
                    for (int i = 0; i < PER; i++) f |= fp4q_nonfinite(v[i]);
                }
            }
        }
    } else {
        for (; g < total; g += stride) {
            const float v = fp4q_to_f32(x[r * ld + u]);
            m = fp4_amax_step(m, v);
            if (strict) f |= fp4q_nonfinite(v);
            r += sq;
            u += su;
            if (u >= upr) { u -= upr; r++; }
        }
    }
    fp4q_cta_reduce(m, f, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = make_uint2(fp4_f32_bits(m), f);
}

/* One CTA: reduce n partials and publish amax (+ NVFP4 global scales) to the tscale buffers and
 * the host block. */
__global__ void __launch_bounds__(FP4Q_THREADS) amax_finalize_kernel(const uint2 *partials, int n, int nvfp4,
                                                                    float *ta, float *tb, fp4q_host_block *hb) {
    __shared__ uint2 scratch[32];
    float amax;
    uint32_t flag;
    fp4q_reduce_partials(partials, n, amax, flag, scratch);
    fp4q_args a = {};
    a.row_tscale = ta;
    a.col_tscale = tb;
    a.host_block = hb;
    const float s_enc = nvfp4 ? fp4_nvfp4_global_enc(amax) : 1.0f;
    const float s_dec = nvfp4 ? fp4_nvfp4_global_dec(s_enc) : 1.0f;
    fp4q_publish(a, amax, s_enc, s_dec, flag);
}

/* Strict mode, error path only: the smallest linear index r*cols + c of a NaN/Inf element
 * (the reference reports the first one in row-major order). *first must be preset to ~0. */
template <typename T>
__global__ void first_nonfinite_kernel(const T *__restrict__ x, int64_t rows, int64_t cols, int64_t ld,
                                       unsigned long long *first) {
    const int64_t n = rows * cols;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / cols, c = i % cols;
        if (fp4q_nonfinite(fp4q_to_f32(x[r * ld + c]))) atomicMin(first, (unsigned long long)i);
    }
}

fp4_status fp4q_report_nonfinite(fp4_context *ctx, const fp4_view *x, const char *op) {
    cudaStream_t stream = (cudaStream_t)fp4_context_stream(ctx);
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, FP4Q_WORKSPACE_BYTES, &ws));
    unsigned long long *first = (unsigned long long *)((char *)ws + 32);
    FP4_CUDA_TRY(cudaMemsetAsync(first, 0xff, sizeof *first, stream));
    const unsigned grid = (unsigned)(4 * fp4q_num_sms());
    if (x->dtype == FP4_DTYPE_BF16)
        first_nonfinite_kernel<uint16_t><<<grid, FP4Q_THREADS, 0, stream>>>((const uint16_t *)x->data, x->rows, x->cols,
                                                                            x->ld, first);
    else
        first_nonfinite_kernel<float><<<grid, FP4Q_THREADS, 0, stream>>>((const float *)x->data, x->rows, x->cols, x->ld,
                                                                         first);
    FP4_LAUNCH_CHECK("first_nonfinite_kernel");
    unsigned long long at = ~0ull;
    FP4_CUDA_TRY(cudaMemcpyAsync(&at, first, sizeof at, cudaMemcpyDeviceToHost, stream));
    FP4_CUDA_TRY(cudaStreamSynchronize(stream));
    if (at == ~0ull) /* cannot happen if the flag was set; say so rather than guess */
        return fp4_fail(FP4_ERR_NONFINITE, "%s: non-finite input flagged but not located (strict non-finite mode)", op);
    const int64_t r = (int64_t)(at / (unsigned long long)x->cols), c = (int64_t)(at % (unsigned long long)x->cols);
    const size_t es = fp4_dtype_size(x->dtype);
    float v = 0.0f;
    if (x->dtype == FP4_DTYPE_BF16) {
        uint16_t h = 0;
        FP4_CUDA_TRY(cudaMemcpy(&h, (const char *)x->data + (size_t)(r * x->ld + c) * es, 2, cudaMemcpyDeviceToHost));
        v = fp4_bf16_to_f32(h);
    } else {
        FP4_CUDA_TRY(cudaMemcpy(&v, (const char *)x->data + (size_t)(r * x->ld + c) * es, 4, cudaMemcpyDeviceToHost));
    }
    return fp4_fail(FP4_ERR_NONFINITE, "%s: x[%lld, %lld] = %s (strict non-finite mode)", op, (long long)r, (long long)c,
                    v != v ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
}

/* Normalize a view for streaming: contiguous views become one long row. Returns vec. */
static int amax_shape(const fp4_view *x, int64_t *rows, int64_t *cols, int64_t *ld) {
    const size_t es = fp4_dtype_size(x->dtype);
    *rows = x->rows;
    *cols = x->cols;
    *ld = x->ld;
    if (x->ld == x->cols || x->rows == 1) {
        *cols = x->rows * x->cols;
        *ld = *cols;
        *rows = 1;
    }
    const int64_t per = 16 / (int64_t)es;
    return ((uintptr_t)x->data % 16 == 0) && (*cols % per == 0) && ((*ld * (int64_t)es) % 16 == 0);
}

fp4_status fp4q_launch_amax(cudaStream_t stream, const fp4_view *x, int strict, uint2 *partials, int *n_partials) {
    int64_t rows, cols, ld;
    const int vec = amax_shape(x, &rows, &cols, &ld);
    const int64_t per = vec ? 16 / (int64_t)fp4_dtype_size(x->dtype) : 1;
    const int64_t units = rows * (cols / per);
    int64_t grid = (units + FP4Q_THREADS - 1) / FP4Q_THREADS;
    /* persistent grid: as many CTAs as fit (the loop keeps 4 x 16 bytes in flight per thread) */
    static int occ16 = 0, occ32 = 0;
    int &occ = x->dtype == FP4_DTYPE_BF16 ? occ16 : occ32;
    if (!occ) {
        const cudaError_t e = x->dtype == FP4_DTYPE_BF16
                                  ? cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, amax_kernel<uint16_t>, FP4Q_THREADS, 0)
                                  : cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, amax_kernel<float>, FP4Q_THREADS, 0);
        if (e != cudaSuccess || occ < 1) {
            (void)cudaGetLastError();
            occ = 4;
        }
    }
    const int64_t cap = (int64_t)occ * fp4q_num_sms();
    if (grid > cap) grid = cap;
    if (grid > FP4Q_MAX_PARTIALS) grid = FP4Q_MAX_PARTIALS;
    if (grid < 1) grid = 1;
    if (x->dtype == FP4_DTYPE_BF16)
        amax_kernel<uint16_t><<<(unsigned)grid, FP4Q_THREADS, 0, stream>>>((const uint16_t *)x->data, rows, cols, ld, vec,
                                                                           strict, partials);
    else
        amax_kernel<float><<<(unsigned)grid, FP4Q_THREADS, 0, stream>>>((const float *)x->data, rows, cols, ld, vec,
                                                                        strict, partials);
    FP4_LAUNCH_CHECK("amax_kernel");
    *n_partials = (int)grid;
    return FP4_OK;
}

fp4_status fp4q_launch_finalize(cudaStream_t stream, const uint2 *partials, int n, int nvfp4, float *ta, float *tb,
                                fp4q_host_block *hb) {
    amax_finalize_kernel<<<1, FP4Q_THREADS, 0, stream>>>(partials, n, nvfp4, ta, tb, hb);
    FP4_LAUNCH_CHECK("amax_finalize_kernel");
    return FP4_OK;
}

extern "C" fp4_status fp4_amax_cuda(fp4_context *ctx, const fp4_view *x, float *amax) {
    cudaStream_t stream = (cudaStream_t)fp4_context_stream(ctx);
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, FP4Q_WORKSPACE_BYTES, &ws));
    fp4q_host_block *hb = (fp4q_host_block *)ws;
    uint2 *partials = (uint2 *)((char *)ws + FP4Q_PARTIALS_OFFSET);
    int n = 0;
    FP4_TRY(fp4q_launch_amax(stream, x, 0, partials, &n));
    FP4_TRY(fp4q_launch_finalize(stream, partials, n, 0, NULL, NULL, hb));
    fp4q_host_block h;
    FP4_CUDA_TRY(cudaMemcpyAsync(&h, hb, sizeof h, cudaMemcpyDeviceToHost, stream));
    FP4_CUDA_TRY(cudaStreamSynchronize(stream));
    *amax = h.amax;
    return FP4_OK;
}

/* Benchmark hook (quantize_cuda.h): queue the amax pass alone, partials into the workspace. */
extern "C" fp4_status fp4_amax_cuda_pass_async(fp4_context *ctx, const fp4_view *x) {
    cudaStream_t stream = (cudaStream_t)fp4_context_stream(ctx);
    void *ws = NULL;
    FP4_TRY(fp4_context_workspace(ctx, FP4Q_WORKSPACE_BYTES, &ws));
    int n = 0;
    return fp4q_launch_amax(stream, x, 0, (uint2 *)((char *)ws + FP4Q_PARTIALS_OFFSET), &n);
}
