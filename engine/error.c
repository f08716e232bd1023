/* error.c - thread-local last-error message and aligned allocation helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
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

/* Large blocks (activations, packed panels, weights) are 2 MiB-aligned and marked for
 * transparent huge pages where the system has them (Linux THP in "madvise" mode): with 4 KiB
 * pages the same ResNet-50 run took 12 or 18 images/s from one process to the next. */
#define HUGE_MIN ((size_t)4 << 20)
#define HUGE_ALIGN ((size_t)2 << 20)

void *sei_alloc(size_t bytes) {
    void *p = NULL;
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n == 0) n = 64;
    size_t align = 64;
#ifdef MADV_HUGEPAGE
    if (n >= HUGE_MIN) {
        align = HUGE_ALIGN;
        n = (n + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1);
    }
#endif
    if (posix_memalign(&p, align, n) != 0) {
        sei_fail(SEI_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (align == HUGE_ALIGN) madvise(p, n, MADV_HUGEPAGE); /* a hint: failure changes nothing */
#endif
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
