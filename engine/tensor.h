/* tensor.h - the one tensor type: float32, up to 4 dims, row-major (NCHW for activations).
 *
 * shape[] holds ndim sizes: activations [N,C,H,W], linear weights [O,I], vectors [C],
 * scalars ndim == 0. A tensor does not own its data: data lives in an arena or in the
 * network's parameter block. */
#ifndef SEI_TENSOR_H
#define SEI_TENSOR_H
#include <stddef.h>
#include "engine/error.h"

#define SEI_MAX_DIMS 4
#define SEI_NAME_LEN 96

typedef struct Tensor {
    int ndim;
    int shape[SEI_MAX_DIMS];
    float *data;
    char name[SEI_NAME_LEN];
} Tensor;

size_t tensor_numel(const Tensor *t);
/* shape helpers; tensor_set_shape copies ndim sizes */
void tensor_set_shape(Tensor *t, int ndim, const int *shape);
Tensor tensor_make4(float *data, int n, int c, int h, int w);
int tensor_same_shape(const Tensor *a, const Tensor *b);
/* "[2,3,32,32]" into buf; returns buf */
const char *tensor_shape_str(const Tensor *t, char *buf, size_t len);
/* SEI_ERR_SHAPE naming `what` unless t has exactly this shape (ndim sizes) */
sei_status tensor_check_shape(const Tensor *t, int ndim, const int *shape, const char *what);

#endif
