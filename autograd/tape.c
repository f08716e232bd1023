/* tape.c - the tape itself and the forward half of every autograd op (ag_*).
 * Each ag_* checks shapes, allocates its output from the tape arena, runs the forward kernel
 * and records a Node when the tape is recording. The backward half is autograd/backward.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine/clock.h"
#include "autograd/tape.h"

const char *op_name(OpKind op) {
    static const char *names[OP_COUNT] = {"conv2d", "conv_transpose2d", "linear", "relu",
                                          "maxpool2d", "avgpool2d", "adaptive_avgpool2d",
                                          "batchnorm2d", "add", "flatten", "dropout",
                                          "softmax_ce", "wire"};
    return op >= 0 && op < OP_COUNT ? names[op] : "?";
}

/* profiling brackets around each kernel call (cheap: two clock reads when enabled) */
#define PROF_BEGIN(t) double prof_t0_ = (t)->profile ? sei_now() : 0
#define PROF_END(t, op) if ((t)->profile) (t)->prof[0][op] += sei_now() - prof_t0_

void tape_init(Tape *t, int recording, int bn_training, int dropout, uint64_t seed) {
    memset(t, 0, sizeof *t);
    arena_init(&t->arena, (size_t)32 << 20);
    t->recording = recording;
    t->bn_training = bn_training;
    t->dropout = dropout;
    rng_seed(&t->rng, seed);
}

void tape_reset(Tape *t) {
    t->n = 0;
    t->nfree = 0;
    arena_reset(&t->arena);
}

void tape_free(Tape *t) {
    arena_free(&t->arena);
    free(t->nodes);
    free(t->free_grads);
    free(t->free_sizes);
    sei_free(t->ws);
    memset(t, 0, sizeof *t);
}

Value *tape_value(Tape *t, int ndim, const int *shape) {
    Value *v = arena_alloc(&t->arena, sizeof(Value));
    if (!v) return NULL;
    memset(v, 0, sizeof *v);
    tensor_set_shape(&v->t, ndim, shape);
    v->t.data = arena_floats(&t->arena, tensor_numel(&v->t));
    return v->t.data ? v : NULL;
}

Value *tape_wrap(Tape *t, const Tensor *src, int requires_grad) {
    Value *v = arena_alloc(&t->arena, sizeof(Value));
    if (!v) return NULL;
    memset(v, 0, sizeof *v);
    v->t = *src;
    v->requires_grad = requires_grad;
    v->retain_grad = requires_grad;
    return v;
}

static Node *record(Tape *t, OpKind op, Value *out, Value *a, Value *b, Value *c) {
    out->requires_grad = (a && a->requires_grad) || (b && b->requires_grad) ||
                         (c && c->requires_grad);
    if (!t->recording) return NULL;
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 256;
        Node *nn = realloc(t->nodes, (size_t)cap * sizeof(Node));
        if (!nn) { sei_fail(SEI_ERR_NOMEM, "out of memory growing the tape"); return NULL; }
        t->nodes = nn;
        t->cap = cap;
    }
    Node *n = &t->nodes[t->n++];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->out = out;
    n->in[0] = a; n->in[1] = b; n->in[2] = c;
    return n;
}

static float *workspace(Tape *t, size_t n) {
    if (n > t->ws_cap) {
        sei_free(t->ws);
        t->ws = sei_alloc(n * sizeof(float));
        t->ws_cap = t->ws ? n : 0;
    }
    return t->ws;
}

static const char *vname(const Value *v) { return v->t.name[0] ? v->t.name : "tensor"; }

static int want4(const Value *x, const char *op) {
    if (x->t.ndim == 4) return 1;
    char s[64];
    sei_fail(SEI_ERR_SHAPE, "%s: input %s has shape %s, expected [N,C,H,W]", op, vname(x),
             tensor_shape_str(&x->t, s, sizeof s));
    return 0;
}

/* failed allocation inside an op: the arena already set SEI_ERR_NOMEM */
#define OUT4(t, n, c, h, w) tape_value(t, 4, (int[]){n, c, h, w})

/* shape checks shared by the conv ops; fills p or sets the error and returns 0 */
static int conv_check(const Value *x, const Value *w, const Value *b, int stride, int pad,
                      int groups, Conv2dParams *p) {
    if (!want4(x, "conv2d")) return 0;
    const int *xs = x->t.shape, *ws = w->t.shape;
    if (w->t.ndim != 4 || !conv2d_params(p, xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3],
                                         stride, pad, groups) ||
        ws[1] * groups != xs[1] || (b && (b->t.ndim != 1 || b->t.shape[0] != ws[0]))) {
        char s1[64], s2[64];
        sei_fail(SEI_ERR_SHAPE, "conv2d %s: weight %s does not fit input %s (stride %d, pad %d, groups %d)",
                 vname(w), tensor_shape_str(&w->t, s1, sizeof s1),
                 tensor_shape_str(&x->t, s2, sizeof s2), stride, pad, groups);
        return 0;
    }
    return 1;
}

/* the sparse kernels run for a pattern where they pay (or always / never, see
 * sei_sparse_kernels); the references always take the dense path on the masked weights */
static const SparseIndex *use_sparse(const SparseIndex *si, int pays) {
    if (!si || sei_kernels_ref || !sei_sparse_kernels) return NULL;
    return sei_sparse_kernels == 2 || pays ? si : NULL;
}

Value *ag_conv2d_sparse(Tape *t, Value *x, Value *w, Value *b, int stride, int pad, int groups,
                        const SparseIndex *si) {
    Conv2dParams p;
    if (!conv_check(x, w, b, stride, pad, groups, &p)) return NULL;
    si = groups == 1 && si ? use_sparse(si, conv2d_sparse_pays(&p, si)) : NULL;
    Value *out = OUT4(t, p.N, p.OC, p.OH, p.OW);
    float *scratch = out ? workspace(t, si ? conv2d_sparse_workspace(&p, si) : conv2d_workspace(&p)) : NULL;
    if (!scratch) return NULL;
    PROF_BEGIN(t);
    if (si) conv2d_sparse_forward(out->t.data, x->t.data, w->t.data, b ? b->t.data : NULL, NULL, &p, si, scratch);
    else conv2d_forward(out->t.data, x->t.data, w->t.data, b ? b->t.data : NULL, &p, scratch);
    PROF_END(t, OP_CONV2D);
    Node *n = record(t, OP_CONV2D, out, x, w, b);
    if (n) n->p.conv = p, n->si = si;
    return out;
}

Value *ag_conv2d(Tape *t, Value *x, Value *w, Value *b, int stride, int pad, int groups) {
    return ag_conv2d_sparse(t, x, w, b, stride, pad, groups, NULL);
}

Value *ag_conv2d_bn_eval(Tape *t, Value *x, Value *w, Value *b, int stride, int pad,
                         int groups, const float *running_mean, const float *running_var,
                         const Value *gamma, const Value *beta, float eps, int relu,
                         const SparseIndex *si) {
    if (t->recording) {
        sei_fail(SEI_ERR_ARG, "conv2d+batchnorm fusion is for inference only");
        return NULL;
    }
    Conv2dParams p;
    if (!conv_check(x, w, b, stride, pad, groups, &p)) return NULL;
    if ((gamma && gamma->t.shape[0] != p.OC) || (beta && beta->t.shape[0] != p.OC)) {
        sei_fail(SEI_ERR_SHAPE, "batchnorm2d %s: %d channels do not fit %d", gamma ? vname(gamma) : "",
                 gamma ? gamma->t.shape[0] : -1, p.OC);
        return NULL;
    }
    Value *out = OUT4(t, p.N, p.OC, p.OH, p.OW);
    float *alpha = arena_floats(&t->arena, (size_t)p.OC), *shift = arena_floats(&t->arena, (size_t)p.OC);
    si = groups == 1 && si ? use_sparse(si, conv2d_sparse_pays(&p, si)) : NULL;
    float *scratch = out && alpha && shift
                         ? workspace(t, si ? conv2d_sparse_workspace(&p, si) : conv2d_workspace(&p)) : NULL;
    if (!scratch) return NULL;
    batchnorm_eval_affine(alpha, shift, running_mean, running_var, gamma ? gamma->t.data : NULL,
                          beta ? beta->t.data : NULL, p.OC, eps);
    ConvEpilogue ep = {alpha, shift, relu};
    PROF_BEGIN(t);
    if (si)
        conv2d_sparse_forward(out->t.data, x->t.data, w->t.data, b ? b->t.data : NULL, &ep, &p, si, scratch);
    else
        conv2d_forward_fused(out->t.data, x->t.data, w->t.data, b ? b->t.data : NULL, &ep, &p, scratch);
    PROF_END(t, OP_CONV2D);
    return out;
}

Value *ag_conv_transpose2d(Tape *t, Value *x, Value *w, Value *b, int stride, int pad,
                           int output_pad, int groups) {
    if (!want4(x, "conv_transpose2d")) return NULL;
    const int *xs = x->t.shape, *ws = w->t.shape;
    ConvT2dParams p;
    if (w->t.ndim != 4 || ws[0] != xs[1] ||
        !conv_transpose2d_params(&p, xs[0], xs[1], xs[2], xs[3], ws[1] * groups, ws[2], ws[3],
                                 stride, pad, output_pad, groups) ||
        (b && (b->t.ndim != 1 || b->t.shape[0] != ws[1] * groups))) {
        char s1[64], s2[64];
        sei_fail(SEI_ERR_SHAPE, "conv_transpose2d %s: weight %s does not fit input %s",
                 vname(w), tensor_shape_str(&w->t, s1, sizeof s1),
                 tensor_shape_str(&x->t, s2, sizeof s2));
        return NULL;
    }
    Value *out = OUT4(t, p.N, p.OC, p.OH, p.OW);
    float *scratch = out ? workspace(t, conv_transpose2d_workspace(&p)) : NULL;
    if (!scratch) return NULL;
    PROF_BEGIN(t);
    conv_transpose2d_forward(out->t.data, x->t.data, w->t.data, b ? b->t.data : NULL, &p,
                             scratch);
    PROF_END(t, OP_CONV_TRANSPOSE2D);
    Node *n = record(t, OP_CONV_TRANSPOSE2D, out, x, w, b);
    if (n) n->p.convt = p;
    return out;
}

Value *ag_linear(Tape *t, Value *x, Value *w, Value *b) { return ag_linear_sparse(t, x, w, b, NULL); }

Value *ag_linear_sparse(Tape *t, Value *x, Value *w, Value *b, const SparseIndex *si) {
    int N = x->t.ndim ? x->t.shape[0] : 0;
    int I = N ? (int)(tensor_numel(&x->t) / (size_t)N) : 0;
    if (x->t.ndim != 2 || w->t.ndim != 2 || w->t.shape[1] != I ||
        (b && (b->t.ndim != 1 || b->t.shape[0] != w->t.shape[0]))) {
        char s1[64], s2[64];
        sei_fail(SEI_ERR_SHAPE, "linear %s: weight %s does not fit input %s", vname(w),
                 tensor_shape_str(&w->t, s1, sizeof s1), tensor_shape_str(&x->t, s2, sizeof s2));
        return NULL;
    }
    LinearParams p = {N, I, w->t.shape[0]};
    Value *out = tape_value(t, 2, (int[]){N, p.O});
    if (!out) return NULL;
    si = si ? use_sparse(si, linear_sparse_pays(&p, si)) : NULL;
    float *scratch = si ? workspace(t, linear_sparse_workspace(&p, si)) : NULL;
    if (si && !scratch) return NULL;
    PROF_BEGIN(t);
    if (si) linear_sparse_forward(out->t.data, x->t.data, w->t.data, b ? b->t.data : NULL, &p, si, scratch);
    else linear_forward(out->t.data, x->t.data, w->t.data, b ? b->t.data : NULL, &p);
    PROF_END(t, OP_LINEAR);
    Node *n = record(t, OP_LINEAR, out, x, w, b);
    if (n) n->p.lin = p, n->si = si;
    return out;
}

Value *ag_relu(Tape *t, Value *x, int inplace) {
    Value *out;
    if (inplace) {
        out = tape_wrap(t, &x->t, 0);
        if (out) out->t.name[0] = 0;
    } else {
        out = tape_value(t, x->t.ndim, x->t.shape);
    }
    if (!out) return NULL;
    size_t n = tensor_numel(&x->t);
    PROF_BEGIN(t);
    relu_forward(out->t.data, x->t.data, n);
    PROF_END(t, OP_RELU);
    Node *nd = record(t, OP_RELU, out, x, NULL, NULL);
    if (nd) nd->p.ew.n = n;
    return out;
}

static Value *pool_common(Tape *t, Value *x, OpKind op, int k, int stride, int pad,
                          int ceil_mode, int count_include_pad) {
    if (!want4(x, op == OP_MAXPOOL2D ? "maxpool2d" : "avgpool2d")) return NULL;
    const int *s = x->t.shape;
    Pool2dParams p;
    if (!pool2d_params(&p, s[0], s[1], s[2], s[3], k, stride, pad, ceil_mode,
                       count_include_pad)) {
        char b[64];
        sei_fail(SEI_ERR_SHAPE, "pool2d: kernel %d stride %d pad %d does not fit input %s", k,
                 stride, pad, tensor_shape_str(&x->t, b, sizeof b));
        return NULL;
    }
    Value *out = OUT4(t, p.N, p.C, p.OH, p.OW);
    if (!out) return NULL;
    int32_t *argmax = NULL;
    PROF_BEGIN(t);
    if (op == OP_MAXPOOL2D) {
        argmax = arena_alloc(&t->arena, tensor_numel(&out->t) * sizeof(int32_t));
        if (!argmax) return NULL;
        maxpool2d_forward(out->t.data, argmax, x->t.data, &p);
    } else {
        avgpool2d_forward(out->t.data, x->t.data, &p);
    }
    PROF_END(t, op);
    Node *n = record(t, op, out, x, NULL, NULL);
    if (n) { n->p.pool = p; n->saved = argmax; }
    return out;
}

Value *ag_maxpool2d(Tape *t, Value *x, int k, int stride, int pad, int ceil_mode) {
    return pool_common(t, x, OP_MAXPOOL2D, k, stride, pad, ceil_mode, 1);
}

Value *ag_avgpool2d(Tape *t, Value *x, int k, int stride, int pad, int ceil_mode,
                    int count_include_pad) {
    return pool_common(t, x, OP_AVGPOOL2D, k, stride, pad, ceil_mode, count_include_pad);
}

Value *ag_adaptive_avgpool2d(Tape *t, Value *x, int oh, int ow) {
    if (!want4(x, "adaptive_avgpool2d")) return NULL;
    const int *s = x->t.shape;
    AdaptivePoolParams p = {s[0], s[1], s[2], s[3], oh, ow};
    Value *out = OUT4(t, p.N, p.C, oh, ow);
    if (!out) return NULL;
    PROF_BEGIN(t);
    adaptive_avgpool2d_forward(out->t.data, x->t.data, &p);
    PROF_END(t, OP_ADAPTIVE_AVGPOOL2D);
    Node *n = record(t, OP_ADAPTIVE_AVGPOOL2D, out, x, NULL, NULL);
    if (n) n->p.apool = p;
    return out;
}

Value *ag_batchnorm2d(Tape *t, Value *x, Value *gamma, Value *beta, float *running_mean,
                      float *running_var, float eps, float momentum) {
    if (!want4(x, "batchnorm2d")) return NULL;
    const int *s = x->t.shape;
    if ((gamma && (gamma->t.ndim != 1 || gamma->t.shape[0] != s[1])) ||
        (beta && (beta->t.ndim != 1 || beta->t.shape[0] != s[1]))) {
        char b[64];
        sei_fail(SEI_ERR_SHAPE, "batchnorm2d %s: %d channels do not fit input %s",
                 gamma ? vname(gamma) : "", gamma ? gamma->t.shape[0] : -1,
                 tensor_shape_str(&x->t, b, sizeof b));
        return NULL;
    }
    BatchNormParams p = {s[0], s[1], s[2] * s[3], eps, momentum, t->bn_training};
    if (p.training && p.N * p.HW < 2) {
        sei_fail(SEI_ERR_SHAPE, "batchnorm2d: training needs more than 1 value per channel (input N=%d, HxW=%dx%d)",
                 s[0], s[2], s[3]);
        return NULL;
    }
    Value *out = tape_value(t, 4, s);
    float *mean = arena_floats(&t->arena, (size_t)p.C);
    float *rstd = arena_floats(&t->arena, (size_t)p.C);
    if (!out || !mean || !rstd) return NULL;
    PROF_BEGIN(t);
    batchnorm_forward(out->t.data, mean, rstd, running_mean, running_var, x->t.data,
                      gamma ? gamma->t.data : NULL, beta ? beta->t.data : NULL, &p);
    PROF_END(t, OP_BATCHNORM2D);
    Node *n = record(t, OP_BATCHNORM2D, out, x, gamma, beta);
    if (n) { n->p.bn = p; n->saved = mean; n->saved2 = rstd; }
    return out;
}

static int add_shapes_ok(const Value *a, const Value *b) {
    if (tensor_same_shape(&a->t, &b->t)) return 1;
    char s1[64], s2[64];
    sei_fail(SEI_ERR_SHAPE, "add: shapes %s and %s differ",
             tensor_shape_str(&a->t, s1, sizeof s1), tensor_shape_str(&b->t, s2, sizeof s2));
    return 0;
}

Value *ag_add_relu_eval(Tape *t, Value *a, Value *b) {
    if (t->recording) {
        sei_fail(SEI_ERR_ARG, "add+relu fusion is for inference only");
        return NULL;
    }
    if (!add_shapes_ok(a, b)) return NULL;
    Value *out = tape_value(t, a->t.ndim, a->t.shape);
    if (!out) return NULL;
    PROF_BEGIN(t);
    add_relu_forward(out->t.data, a->t.data, b->t.data, tensor_numel(&a->t));
    PROF_END(t, OP_ADD);
    return out;
}

Value *ag_add(Tape *t, Value *a, Value *b) {
    if (!add_shapes_ok(a, b)) return NULL;
    Value *out = tape_value(t, a->t.ndim, a->t.shape);
    if (!out) return NULL;
    size_t n = tensor_numel(&a->t);
    PROF_BEGIN(t);
    add_forward(out->t.data, a->t.data, b->t.data, n);
    PROF_END(t, OP_ADD);
    Node *nd = record(t, OP_ADD, out, a, b, NULL);
    if (nd) nd->p.ew.n = n;
    return out;
}

Value *ag_flatten(Tape *t, Value *x) {
    int N = x->t.ndim ? x->t.shape[0] : 1;
    Value *out = tape_wrap(t, &x->t, 0);
    if (!out) return NULL;
    out->t.name[0] = 0;
    tensor_set_shape(&out->t, 2, (int[]){N, (int)(tensor_numel(&x->t) / (size_t)N)});
    Node *n = record(t, OP_FLATTEN, out, x, NULL, NULL);
    if (n) n->p.ew.n = tensor_numel(&x->t);
    return out;
}

Value *ag_dropout(Tape *t, Value *x, float p) {
    if (!t->dropout || p <= 0.0f) return x;  /* identity: no node at all */
    Value *out = tape_value(t, x->t.ndim, x->t.shape);
    size_t n = tensor_numel(&x->t);
    uint8_t *mask = arena_alloc(&t->arena, n);
    if (!out || !mask) return NULL;
    dropout_forward(out->t.data, mask, x->t.data, n, p, &t->rng);
    Node *nd = record(t, OP_DROPOUT, out, x, NULL, NULL);
    if (nd) { nd->p.ew.n = n; nd->p.ew.p = p; nd->saved = mask; }
    return out;
}

Value *ag_wire(Tape *t, Value *x, WireFormat f) {
    if (f == WIRE_FP32) return x;
    const int N = x->t.ndim ? x->t.shape[0] : 1;
    const size_t n = tensor_numel(&x->t);
    Value *out = tape_value(t, x->t.ndim, x->t.shape);
    if (!out) return NULL;
    PROF_BEGIN(t);
    wire_forward(out->t.data, x->t.data, N, N ? n / (size_t)N : 0, f);
    PROF_END(t, OP_WIRE);
    Node *nd = record(t, OP_WIRE, out, x, NULL, NULL);
    if (nd) nd->p.ew.n = n;
    return out;
}

Value *ag_softmax_ce(Tape *t, Value *logits, const int32_t *labels) {
    return ag_softmax_ce_weighted(t, logits, labels, 1.0f);
}

Value *ag_softmax_ce_weighted(Tape *t, Value *logits, const int32_t *labels, float w) {
    if (logits->t.ndim != 2) {
        char b[64];
        sei_fail(SEI_ERR_SHAPE, "cross-entropy: logits %s, expected [N,K]",
                 tensor_shape_str(&logits->t, b, sizeof b));
        return NULL;
    }
    int N = logits->t.shape[0], K = logits->t.shape[1];
    for (int i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return sei_fail(SEI_ERR_ARG, "cross-entropy: label %d of sample %d is outside [0,%d)",
                            labels[i], i, K), NULL;
    Value *out = tape_value(t, 0, NULL);
    float *probs = arena_floats(&t->arena, (size_t)N * K);
    int32_t *lab = arena_alloc(&t->arena, (size_t)N * sizeof(int32_t));
    if (!out || !probs || !lab) return NULL;
    memcpy(lab, labels, (size_t)N * sizeof(int32_t));
    out->t.data[0] = w * softmax_ce_forward(probs, logits->t.data, lab, N, K);
    Node *n = record(t, OP_SOFTMAX_CE, out, logits, NULL, NULL);
    if (n) { n->p.ce.N = N; n->p.ce.K = K; n->p.ce.w = w; n->saved = probs; n->saved2 = (float *)lab; }
    return out;
}
