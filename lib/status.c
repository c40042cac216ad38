/* lib/status.c — status names and the thread-local error message (see fp4kit/status.h). */
#include "fp4kit/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define FP4_MSG_CAP 1024
static _Thread_local char fp4_msg[FP4_MSG_CAP];

const char *fp4_status_str(fp4_status st) {
    switch (st) {
    case FP4_OK: return "FP4_OK";
    case FP4_ERR_INVALID_ARG: return "FP4_ERR_INVALID_ARG";
    case FP4_ERR_SHAPE: return "FP4_ERR_SHAPE";
    case FP4_ERR_DTYPE: return "FP4_ERR_DTYPE";
    case FP4_ERR_NONFINITE: return "FP4_ERR_NONFINITE";
    case FP4_ERR_NOMEM: return "FP4_ERR_NOMEM";
    case FP4_ERR_IO: return "FP4_ERR_IO";
    case FP4_ERR_FORMAT: return "FP4_ERR_FORMAT";
    case FP4_ERR_CUDA: return "FP4_ERR_CUDA";
    case FP4_ERR_CUBLAS: return "FP4_ERR_CUBLAS";
    case FP4_ERR_UNSUPPORTED: return "FP4_ERR_UNSUPPORTED";
    case FP4_ERR_NOT_FOUND: return "FP4_ERR_NOT_FOUND";
    case FP4_ERR_NUMERIC: return "FP4_ERR_NUMERIC";
    }
    return "FP4_ERR_UNKNOWN";
}

const char *fp4_last_error(void) { return fp4_msg; }

void fp4_clear_error(void) { fp4_msg[0] = '\0'; }

fp4_status fp4_fail(fp4_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fp4_msg, FP4_MSG_CAP, fmt, ap);
    va_end(ap);
    return st;
}

fp4_status fp4_fail_context(fp4_status st, const char *fmt, ...) {
    char prev[FP4_MSG_CAP];
    memcpy(prev, fp4_msg, FP4_MSG_CAP);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(fp4_msg, FP4_MSG_CAP, fmt, ap);
    va_end(ap);
    if (n >= 0 && n < FP4_MSG_CAP - 3 && prev[0])
        snprintf(fp4_msg + n, (size_t)(FP4_MSG_CAP - n), ": %s", prev);
    return st;
}
