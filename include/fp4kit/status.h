/* fp4kit/status.h — status codes and the thread-local error message.
 *
 * Every public fp4kit function that can fail returns an fp4_status. On failure the library
 * also records a human-readable message for the calling thread (which argument, which shape,
 * which byte offset, which CUDA call); read it with fp4_last_error(). The library never calls
 * exit() or abort().
 *
 *   fp4_status st = fp4_quantize(NULL, &x, &cfg, &q, NULL);
 *   if (st != FP4_OK) fprintf(stderr, "%s: %s\n", fp4_status_str(st), fp4_last_error());
 */
#ifndef FP4KIT_STATUS_H
#define FP4KIT_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fp4_status {
    FP4_OK = 0,
    FP4_ERR_INVALID_ARG = 1, /* NULL pointer, bad enum value, inconsistent options */
    FP4_ERR_SHAPE = 2,       /* dimensions not a multiple of the block, mismatched shapes */
    FP4_ERR_DTYPE = 3,       /* unsupported or mismatched element type */
    FP4_ERR_NONFINITE = 4,   /* NaN/Inf found where strict mode forbids it, or a non-finite loss */
    FP4_ERR_NOMEM = 5,       /* host or device allocation failed */
    FP4_ERR_IO = 6,          /* open/read/write/rename failed */
    FP4_ERR_FORMAT = 7,      /* corrupt, truncated or inconsistent file or string */
    FP4_ERR_CUDA = 8,        /* a CUDA runtime call or kernel launch failed */
    FP4_ERR_CUBLAS = 9,      /* a cuBLAS/cuBLASLt call failed */
    FP4_ERR_UNSUPPORTED = 10,/* valid request this build or device cannot do (e.g. no CUDA) */
    FP4_ERR_NOT_FOUND = 11,  /* named tensor/key/file not present */
    FP4_ERR_NUMERIC = 12     /* numerical failure (e.g. Cholesky of a non-PD matrix) */
} fp4_status;

/* Short constant name of a status, e.g. "FP4_ERR_SHAPE". */
const char *fp4_status_str(fp4_status st);

/* Message describing the most recent failure in this thread ("" if none). The pointer stays
 * valid until the next fp4kit call in this thread. */
const char *fp4_last_error(void);

/* Record a failure message for this thread and return st (printf-style). Exposed so that
 * programs and extensions report errors the same way the library does. */
fp4_status fp4_fail(fp4_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Append context to the current message: "context: previous message". Returns st. */
fp4_status fp4_fail_context(fp4_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void fp4_clear_error(void);

/* Evaluate an fp4_status expression and return it from the enclosing function on failure. */
#define FP4_TRY(expr)                                                                          \
    do {                                                                                       \
        fp4_status fp4_try_st_ = (expr);                                                       \
        if (fp4_try_st_ != FP4_OK) return fp4_try_st_;                                         \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
