/* tape.h - reverse-mode autograd: Values, the tape of recorded ops, and backward.
 *
 * Forward: each ag_<op>() computes its output with the kernels in kernels/ops.h and, when
 * the tape is recording, appends a Node {op, inputs, output, saved, params}. Backward:
 * tape_backward() walks the nodes in reverse through one switch (autograd/backward.c) and
 * accumulates gradients into every Value that requires one - parameters, the input if asked,
 * and every intermediate activation, so the caller can read the gradient at any cut point
 * (split-point importance) after one pass.
 *
 * Memory: activation data, saved tensors and activation gradients come from the tape's arena
 * (reset once per step); parameter Values own persistent data and grad buffers (nets/net.c).
 * An activation's gradient is recycled as soon as the node that produced the activation has
 * been run backward, unless the caller set retain_grad on it (the gradient at a cut point, the
 * input): so backward holds only the live frontier of gradients, not one per activation.
 * Conv scratch is one buffer shared by all nodes (ops run one at a time). */
#ifndef SEI_TAPE_H
#define SEI_TAPE_H
#include <stdint.h>
#include "engine/arena.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "kernels/ops.h"

typedef struct Value {
    Tensor t;           /* data and shape */
    float *grad;        /* same shape as t; NULL until a gradient reaches it */
    int requires_grad;  /* set on parameters / inputs; propagated to op outputs */
    int retain_grad;    /* keep this activation's gradient after backward (cut points) */
} Value;

typedef enum {
    OP_CONV2D, OP_CONV_TRANSPOSE2D, OP_LINEAR, OP_RELU, OP_MAXPOOL2D, OP_AVGPOOL2D,
    OP_ADAPTIVE_AVGPOOL2D, OP_BATCHNORM2D, OP_ADD, OP_FLATTEN, OP_DROPOUT, OP_SOFTMAX_CE,
    OP_WIRE, OP_COUNT
} OpKind;

const char *op_name(OpKind op);

typedef struct Node {
    OpKind op;
    Value *in[3];       /* op inputs (x, weight, bias / a, b); unused are NULL */
    Value *out;
    void *saved;        /* argmax (int32), dropout mask (u8), BN mean, CE probs, CE labels */
    const SparseIndex *si; /* conv / linear with predefined-sparse weights: their pattern */
    float *saved2;      /* BN rstd */
    union {
        Conv2dParams conv;
        ConvT2dParams convt;
        LinearParams lin;
        Pool2dParams pool;
        AdaptivePoolParams apool;
        BatchNormParams bn;
        struct { size_t n; float p; } ew;
        struct { int N, K; float w; } ce;
    } p;
} Node;

typedef struct Tape {
    Arena arena;
    Node *nodes;
    int n, cap;
    int recording;      /* 0: inference only, nothing saved for backward */
    int bn_training;    /* BatchNorm uses batch statistics and updates running stats */
    int dropout;        /* dropout active (training) */
    Rng rng;            /* dropout masks */
    float *ws;          /* shared conv workspace */
    size_t ws_cap;      /* floats */
    float **free_grads; /* recycled activation-gradient buffers (arena memory) ... */
    size_t *free_sizes; /* ... and their sizes in floats */
    int nfree, cap_free;
    int no_fusion;      /* 1: run inference op by op (tests compare the fused path with it) */
    int profile;        /* 1: accumulate seconds per op kind into prof[0] (forward) and
                         * prof[1] (backward) */
    double prof[2][OP_COUNT];
} Tape;

void tape_init(Tape *t, int recording, int bn_training, int dropout, uint64_t seed);
void tape_reset(Tape *t);          /* forget nodes, reuse arena: once per step */
void tape_free(Tape *t);

/* A new activation Value [n,c,h,w] (or any ndim) in the tape's arena; data uninitialised. */
Value *tape_value(Tape *t, int ndim, const int *shape);
/* Wrap caller-owned data as a Value (e.g. the network input). With requires_grad its
 * gradient is retained. */
Value *tape_wrap(Tape *t, const Tensor *src, int requires_grad);

/* Backward from `root`. seed: dL/droot with root's shape, or NULL for a scalar root (1.0).
 * Gradients accumulate (+=) into parameter grads; activation grads are fresh per tape. */
sei_status tape_backward(Tape *t, Value *root, const float *seed);

/* ops: shapes are checked here and a bad shape returns NULL with sei_last_error() set. */
Value *ag_conv2d(Tape *t, Value *x, Value *w, Value *b, int stride, int pad, int groups);
Value *ag_conv_transpose2d(Tape *t, Value *x, Value *w, Value *b, int stride, int pad,
                           int output_pad, int groups);
Value *ag_linear(Tape *t, Value *x, Value *w, Value *b);
/* the same for weights with a predefined-sparse pattern si (NULL: dense): the sparse kernels
 * run unless sei_sparse_kernels is 0 or the references are selected */
Value *ag_conv2d_sparse(Tape *t, Value *x, Value *w, Value *b, int stride, int pad, int groups,
                        const SparseIndex *si);
Value *ag_linear_sparse(Tape *t, Value *x, Value *w, Value *b, const SparseIndex *si);
Value *ag_relu(Tape *t, Value *x, int inplace);
Value *ag_maxpool2d(Tape *t, Value *x, int k, int stride, int pad, int ceil_mode);
Value *ag_avgpool2d(Tape *t, Value *x, int k, int stride, int pad, int ceil_mode,
                    int count_include_pad);
Value *ag_adaptive_avgpool2d(Tape *t, Value *x, int oh, int ow);
/* gamma/beta may be NULL; running stats are updated when t->bn_training */
Value *ag_batchnorm2d(Tape *t, Value *x, Value *gamma, Value *beta, float *running_mean,
                      float *running_var, float eps, float momentum);
Value *ag_add(Tape *t, Value *a, Value *b);
/* Inference fusions (tape not recording; they record nothing): conv2d followed by an
 * eval-mode batch norm and optionally ReLU, computed in one pass over the output; and
 * relu(a + b). Results are bit-identical to the separate ops. */
Value *ag_conv2d_bn_eval(Tape *t, Value *x, Value *w, Value *b, int stride, int pad,
                         int groups, const float *running_mean, const float *running_var,
                         const Value *gamma, const Value *beta, float eps, int relu,
                         const SparseIndex *si);
Value *ag_add_relu_eval(Tape *t, Value *a, Value *b);
Value *ag_flatten(Tape *t, Value *x);
Value *ag_dropout(Tape *t, Value *x, float p);
/* what crosses a split network's cut in format f (kernels/wire.c), per image along dim 0;
 * straight-through gradient. fp32 is the identity (x itself, no node). */
Value *ag_wire(Tape *t, Value *x, WireFormat f);
/* mean cross-entropy of logits [N,K] against labels [N] (copied); a scalar Value */
Value *ag_softmax_ce(Tape *t, Value *logits, const int32_t *labels);
/* the same times w (a term of a weighted sum of losses, e.g. early exits) */
Value *ag_softmax_ce_weighted(Tape *t, Value *logits, const int32_t *labels, float w);

#endif
