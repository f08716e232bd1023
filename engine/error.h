/* error.h - status codes and the last-error message used at every API boundary.
 *
 * Functions that can fail on outside input return sei_status and record a one-line
 * reason with sei_set_error(); tools print sei_last_error() and exit non-zero.
 * assert() is kept for internal invariants only. */
#ifndef SEI_ERROR_H
#define SEI_ERROR_H
#include <stddef.h>

typedef enum {
    SEI_OK = 0,
    SEI_ERR_IO,      /* file or socket could not be read / written */
    SEI_ERR_FORMAT,  /* malformed or truncated input */
    SEI_ERR_SHAPE,   /* tensor shapes do not fit the op or network */
    SEI_ERR_NOMEM,   /* allocation failed */
    SEI_ERR_ARG,     /* bad argument or flag */
    SEI_ERR_MISSING, /* a required tensor / key is absent */
    SEI_ERR_NUMERIC  /* NaN / Inf where a finite value was required */
} sei_status;

/* printf-style; stores the message (thread-local) and returns code for `return sei_fail(...)`. */
sei_status sei_fail(sei_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sei_last_error(void);
const char *sei_status_name(sei_status s);

/* Allocation that never returns NULL silently: on failure it records SEI_ERR_NOMEM and
 * returns NULL so callers can propagate; sei_xmalloc aborts with a message instead
 * (for tools where there is nothing to propagate to). 64-byte aligned. */
void *sei_alloc(size_t bytes);
void *sei_calloc(size_t bytes);
void *sei_xmalloc(size_t bytes);
void sei_free(void *p);

#endif
