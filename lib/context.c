/* lib/context.c — CPU/CUDA execution contexts, device memory helpers (see fp4kit/context.h).
 * Compiled as plain C; talks to the CUDA runtime only when FP4KIT_HAVE_CUDA is defined. */
#include "fp4kit/context.h"

#include <stdlib.h>

#include "internal.h"

struct fp4_context {
    int is_cuda;
    int device;
    void *stream;
    int owns_stream;
    void *workspace;
    size_t workspace_bytes;
    void *counters; /* unsigned[], zero between kernels (each user leaves them zero) */
    size_t counters_bytes;
};

int fp4_build_has_cuda(void) {
#ifdef FP4KIT_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

int fp4_cuda_device_count(void) {
#ifdef FP4KIT_HAVE_CUDA
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
#else
    return 0;
#endif
}

fp4_status fp4_context_create_cpu(fp4_context **out) {
    if (!out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_context_create_cpu: out is NULL");
    fp4_context *c = calloc(1, sizeof *c);
    if (!c) return fp4_fail(FP4_ERR_NOMEM, "fp4_context_create_cpu: out of memory");
    *out = c;
    return FP4_OK;
}

fp4_status fp4_context_create_cuda(int device, void *stream, fp4_context **out) {
    if (!out) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_context_create_cuda: out is NULL");
    *out = NULL;
#ifdef FP4KIT_HAVE_CUDA
    int n = fp4_cuda_device_count();
    if (n == 0) return fp4_fail(FP4_ERR_UNSUPPORTED, "fp4_context_create_cuda: no CUDA device is present");
    if (device < 0 || device >= n)
        return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_context_create_cuda: device %d out of range (found %d)", device, n);
    FP4_CUDA_TRY(cudaSetDevice(device));
    fp4_context *c = calloc(1, sizeof *c);
    if (!c) return fp4_fail(FP4_ERR_NOMEM, "fp4_context_create_cuda: out of memory");
    c->is_cuda = 1;
    c->device = device;
    c->stream = stream;
    if (!stream) {
        cudaStream_t s;
        cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
        if (e != cudaSuccess) {
            free(c);
            return fp4_fail(FP4_ERR_CUDA, "cudaStreamCreateWithFlags failed: %s", cudaGetErrorString(e));
        }
        c->stream = s;
        c->owns_stream = 1;
    }
    *out = c;
    return FP4_OK;
#else
    (void)device;
    (void)stream;
    return fp4_fail(FP4_ERR_UNSUPPORTED, "fp4_context_create_cuda: this fp4kit was built without CUDA");
#endif
}

void fp4_context_destroy(fp4_context *ctx) {
    if (!ctx) return;
#ifdef FP4KIT_HAVE_CUDA
    if (ctx->is_cuda) {
        if (ctx->stream) cudaStreamSynchronize((cudaStream_t)ctx->stream);
        if (ctx->workspace) cudaFree(ctx->workspace);
        if (ctx->counters) cudaFree(ctx->counters);
        if (ctx->owns_stream) cudaStreamDestroy((cudaStream_t)ctx->stream);
    }
#endif
    free(ctx);
}

int fp4_context_is_cuda(const fp4_context *ctx) { return ctx && ctx->is_cuda; }

void *fp4_context_stream(const fp4_context *ctx) { return ctx && ctx->is_cuda ? ctx->stream : NULL; }

fp4_status fp4_context_sync(fp4_context *ctx) {
    if (!ctx || !ctx->is_cuda) return FP4_OK;
#ifdef FP4KIT_HAVE_CUDA
    FP4_CUDA_TRY(cudaStreamSynchronize((cudaStream_t)ctx->stream));
    FP4_CUDA_TRY(cudaGetLastError());
#endif
    return FP4_OK;
}

#ifdef FP4KIT_HAVE_CUDA
/* Grow a context-owned device buffer to at least `want` bytes (after the stream has finished
 * with the old one); zero: clear the new buffer on the stream. */
static fp4_status ctx_grow(fp4_context *ctx, void **buf, size_t *have, size_t want, int zero, const char *what) {
    if (want <= *have) return FP4_OK;
    if (*buf) {
        FP4_CUDA_TRY(cudaStreamSynchronize((cudaStream_t)ctx->stream));
        cudaFree(*buf);
        *buf = NULL;
        *have = 0;
    }
    cudaError_t e = cudaMalloc(buf, want);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        *buf = NULL;
        return fp4_fail(FP4_ERR_NOMEM, "out of device memory allocating a %zu-byte %s", want, what);
    }
    if (zero) FP4_CUDA_TRY(cudaMemsetAsync(*buf, 0, want, (cudaStream_t)ctx->stream));
    *have = want;
    return FP4_OK;
}
#endif

fp4_status fp4_context_counters(fp4_context *ctx, size_t n, unsigned **ptr) {
    if (!ctx || !ctx->is_cuda || !ptr) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_context_counters: needs a CUDA context");
#ifdef FP4KIT_HAVE_CUDA
    if (n * sizeof(unsigned) > ctx->counters_bytes)
        FP4_TRY(ctx_grow(ctx, &ctx->counters, &ctx->counters_bytes, (n < 1024 ? 1024 : n) * sizeof(unsigned), 1,
                         "counter array"));
    *ptr = (unsigned *)ctx->counters;
    return FP4_OK;
#else
    (void)n;
    return fp4_fail(FP4_ERR_UNSUPPORTED, "built without CUDA");
#endif
}

fp4_status fp4_context_workspace(fp4_context *ctx, size_t bytes, void **ptr) {
    if (!ctx || !ctx->is_cuda || !ptr) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_context_workspace: needs a CUDA context");
#ifdef FP4KIT_HAVE_CUDA
    FP4_TRY(ctx_grow(ctx, &ctx->workspace, &ctx->workspace_bytes, bytes, 0, "workspace"));
    *ptr = ctx->workspace;
    return FP4_OK;
#else
    (void)bytes;
    return fp4_fail(FP4_ERR_UNSUPPORTED, "built without CUDA");
#endif
}

fp4_status fp4_device_alloc(size_t bytes, void **ptr) {
    if (!ptr) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_device_alloc: ptr is NULL");
    *ptr = NULL;
#ifdef FP4KIT_HAVE_CUDA
    cudaError_t e = cudaMalloc(ptr, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        *ptr = NULL;
        return fp4_fail(FP4_ERR_NOMEM, "out of device memory allocating %zu bytes (%s)", bytes, cudaGetErrorString(e));
    }
    return FP4_OK;
#else
    (void)bytes;
    return fp4_fail(FP4_ERR_UNSUPPORTED, "fp4_device_alloc: this fp4kit was built without CUDA");
#endif
}

void fp4_device_free(void *ptr) {
#ifdef FP4KIT_HAVE_CUDA
    if (ptr) cudaFree(ptr);
#else
    (void)ptr;
#endif
}

static fp4_status fp4_copy(fp4_context *ctx, void *dst, const void *src, size_t bytes, int to_device) {
    if (!dst || !src) return fp4_fail(FP4_ERR_INVALID_ARG, "fp4_copy_to_%s: NULL pointer", to_device ? "device" : "host");
#ifdef FP4KIT_HAVE_CUDA
    cudaStream_t s = (cudaStream_t)fp4_context_stream(ctx);
    FP4_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, s));
    FP4_CUDA_TRY(cudaStreamSynchronize(s));
    return FP4_OK;
#else
    (void)ctx;
    (void)bytes;
    return fp4_fail(FP4_ERR_UNSUPPORTED, "this fp4kit was built without CUDA");
#endif
}

fp4_status fp4_copy_to_device(fp4_context *ctx, void *dst, const void *src, size_t bytes) {
    return fp4_copy(ctx, dst, src, bytes, 1);
}

fp4_status fp4_copy_to_host(fp4_context *ctx, void *dst, const void *src, size_t bytes) {
    return fp4_copy(ctx, dst, src, bytes, 0);
}
