/* snapshot.h - a copy of every tensor of a network (parameters and buffers, in parameter
 * order), for tests that check which tensors a step changed. The caller frees it. */
#ifndef SEI_TESTS_SNAPSHOT_H
#define SEI_TESTS_SNAPSHOT_H
#include <stdlib.h>
#include <string.h>
#include "nets/net.h"

static inline float *snapshot(const Net *n) {
    size_t total = 0;
    for (int i = 0; i < n->nparams; i++) total += tensor_numel(&n->params[i].v.t);
    float *s = malloc((total ? total : 1) * sizeof *s), *p = s;
    for (int i = 0; i < n->nparams; i++) {
        const size_t k = tensor_numel(&n->params[i].v.t);
        memcpy(p, n->params[i].v.t.data, k * sizeof *p);
        p += k;
    }
    return s;
}

#endif
