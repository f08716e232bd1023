/* error.c - thread-local last-error message and aligned allocation helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/error.h"

static _Thread_local char g_err[512];

sei_status sei_fail(sei_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return code;
}

const char *sei_last_error(void) { return g_err[0] ? g_err : "unknown error"; }

const char *sei_status_name(sei_status s) {
    switch (s) {
    case SEI_OK: return "ok";
    case SEI_ERR_IO: return "i/o error";
    case SEI_ERR_FORMAT: return "format error";
    case SEI_ERR_SHAPE: return "shape error";
    case SEI_ERR_NOMEM: return "out of memory";
    case SEI_ERR_ARG: return "bad argument";
    case SEI_ERR_MISSING: return "missing";
    case SEI_ERR_NUMERIC: return "numeric error";
    }
    return "?";
}

void *sei_alloc(size_t bytes) {
    void *p = NULL;
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n == 0) n = 64;
    if (posix_memalign(&p, 64, n) != 0) {
        sei_fail(SEI_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    return p;
}

void *sei_calloc(size_t bytes) {
    void *p = sei_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void *sei_xmalloc(size_t bytes) {
    void *p = sei_alloc(bytes);
    if (!p) {
        fprintf(stderr, "sei: out of memory allocating %zu bytes\n", bytes);
        exit(3);
    }
    return p;
}

void sei_free(void *p) { free(p); }
