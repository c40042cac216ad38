/* fp4kit/context.h — where work runs: the CPU, or one CUDA device and stream.
 *
 * A context carries the CUDA device, the stream every kernel of a call is queued on, and a
 * reusable device workspace (amax scratch, cuBLASLt workspace). A NULL context means "host".
 * A library built without CUDA still provides every function here; the CUDA ones return
 * FP4_ERR_UNSUPPORTED with a message that says so (never a silent CPU fallback).
 *
 *   fp4_context *ctx;
 *   if (fp4_context_create_cuda(0, NULL, &ctx) != FP4_OK) { ... fp4_last_error() ... }
 */
#ifndef FP4KIT_CONTEXT_H
#define FP4KIT_CONTEXT_H

#include <stddef.h>

#include "fp4kit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fp4_context fp4_context;

/* 1 if this build of fp4kit contains the CUDA kernels. */
int fp4_build_has_cuda(void);
/* Number of usable CUDA devices (0 without CUDA, without a driver, or without a GPU). */
int fp4_cuda_device_count(void);

/* A host context (equivalent to passing NULL). */
fp4_status fp4_context_create_cpu(fp4_context **out);
/* A context on CUDA device `device`. stream is a cudaStream_t or NULL; when NULL the context
 * creates (and later destroys) its own non-blocking stream. */
fp4_status fp4_context_create_cuda(int device, void *stream, fp4_context **out);
void fp4_context_destroy(fp4_context *ctx);

/* 1 for a CUDA context, 0 for host (or NULL). */
int fp4_context_is_cuda(const fp4_context *ctx);
/* The cudaStream_t of a CUDA context (NULL otherwise). */
void *fp4_context_stream(const fp4_context *ctx);
/* Wait for all work queued on the context's stream; turns asynchronous kernel errors into a status. */
fp4_status fp4_context_sync(fp4_context *ctx);
/* A device scratch buffer of at least `bytes`, owned by the context and reused across calls
 * (grown on demand; valid until the next call that asks for a workspace). */
fp4_status fp4_context_workspace(fp4_context *ctx, size_t bytes, void **ptr);

/* Device memory helpers (synchronous on the context's stream). */
fp4_status fp4_device_alloc(size_t bytes, void **ptr);
void fp4_device_free(void *ptr);
fp4_status fp4_copy_to_device(fp4_context *ctx, void *dst, const void *src, size_t bytes);
fp4_status fp4_copy_to_host(fp4_context *ctx, void *dst, const void *src, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
