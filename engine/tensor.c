/* tensor.c - shape helpers for Tensor. */
#include <stdio.h>
#include <string.h>
#include "engine/tensor.h"

size_t tensor_numel(const Tensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

void tensor_set_shape(Tensor *t, int ndim, const int *shape) {
    t->ndim = ndim;
    for (int i = 0; i < SEI_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 0;
}

Tensor tensor_make4(float *data, int n, int c, int h, int w) {
    Tensor t;
    memset(&t, 0, sizeof t);
    t.ndim = 4;
    t.shape[0] = n; t.shape[1] = c; t.shape[2] = h; t.shape[3] = w;
    t.data = data;
    return t;
}

int tensor_same_shape(const Tensor *a, const Tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *tensor_shape_str(const Tensor *t, char *buf, size_t len) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "[");
    for (int i = 0; i < t->ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ",%d" : "%d", t->shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

sei_status tensor_check_shape(const Tensor *t, int ndim, const int *shape, const char *what) {
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (ok) return SEI_OK;
    Tensor want;
    memset(&want, 0, sizeof want);
    tensor_set_shape(&want, ndim, shape);
    char a[64], b[64];
    return sei_fail(SEI_ERR_SHAPE, "%s: shape %s, expected %s", what,
                    tensor_shape_str(t, a, sizeof a), tensor_shape_str(&want, b, sizeof b));
}
