/* backward.c - tape_backward: replay the tape in reverse through one switch.
 *
 * A node is visited only if its output received a gradient; each input that requires a
 * gradient gets a zeroed buffer the first time one flows into it (parameters already own
 * theirs). Kernels accumulate, so fan-out (ResNet identity paths) just adds.
 * Once a node has run, nothing else reads its output's gradient (every consumer of that
 * output was recorded later, so has already run): the buffer goes to a free list and serves
 * the next gradient of the same size, unless the caller asked to retain it. */
#include <stdlib.h>
#include <string.h>
#include "engine/clock.h"
#include "autograd/tape.h"

/* v's gradient buffer, allocated (from the free list or the arena) on first use and zeroed
 * unless the caller is about to overwrite it whole (zero = 0) */
static float *grad_buf(Tape *t, Value *v, int zero) {
    if (!v || !v->requires_grad) return NULL;
    if (!v->grad) {
        size_t n = tensor_numel(&v->t);
        for (int i = t->nfree - 1; i >= 0; i--)
            if (t->free_sizes[i] == n) {
                v->grad = t->free_grads[i];
                t->free_grads[i] = t->free_grads[--t->nfree];
                t->free_sizes[i] = t->free_sizes[t->nfree];
                if (zero) memset(v->grad, 0, n * sizeof(float));
                return v->grad;
            }
        v->grad = zero ? arena_zeros(&t->arena, n) : arena_floats(&t->arena, n);
    }
    return v->grad;
}

static float *grad_of(Tape *t, Value *v) { return grad_buf(t, v, 1); }

/* Element-wise ops whose input has no gradient yet take over the output's gradient buffer
 * and transform it in place: no zeroing, no new buffer, half the memory traffic. Only when
 * the output gradient is not retained by the caller and the sizes agree. */
static int steal(Value *in, Value *out) {
    if (!in || !in->requires_grad || in->grad || out->retain_grad || !out->grad ||
        tensor_numel(&in->t) != tensor_numel(&out->t))
        return 0;
    in->grad = out->grad;
    out->grad = NULL;
    return 1;
}

static int backward_inplace(Tape *t, Node *n) {
    Value *x = n->in[0], *b = n->in[1], *out = n->out;
    switch (n->op) {
    case OP_RELU:
        if (!steal(x, out)) return 0;
        relu_backward_inplace(x->grad, out->t.data, n->p.ew.n);
        return 1;
    case OP_FLATTEN:
    case OP_WIRE: /* straight through */
        return steal(x, out);
    case OP_DROPOUT:
        if (!steal(x, out)) return 0;
        dropout_backward_inplace(x->grad, n->saved, n->p.ew.n, n->p.ew.p);
        return 1;
    case OP_ADD: {
        if (x == b || !steal(x, out)) return 0;
        /* x holds dout now; b gets a copy (or an accumulation if it already has one) */
        if (b && b->requires_grad) {
            int fresh = b->grad == NULL;
            float *db = grad_buf(t, b, 0);
            if (!db) return -1;
            if (fresh) memcpy(db, x->grad, n->p.ew.n * sizeof(float));
            else add_backward(db, NULL, x->grad, n->p.ew.n);
        }
        return 1;
    }
    default:
        return 0;
    }
}

/* give an activation gradient back to the free list (never a parameter's: those are not
 * node outputs) */
static void release_grad(Tape *t, Value *v) {
    if (!v->grad || v->retain_grad) return;
    if (t->nfree == t->cap_free) {
        int cap = t->cap_free ? 2 * t->cap_free : 64;
        float **g = realloc(t->free_grads, (size_t)cap * sizeof *g);
        if (!g) return; /* keep the buffer in use: only memory is lost, not correctness */
        t->free_grads = g;
        size_t *sz = realloc(t->free_sizes, (size_t)cap * sizeof *sz);
        if (!sz) return;
        t->free_sizes = sz;
        t->cap_free = cap;
    }
    t->free_grads[t->nfree] = v->grad;
    t->free_sizes[t->nfree++] = tensor_numel(&v->t);
    v->grad = NULL;
}

static float *scratch(Tape *t, size_t n) {
    if (n > t->ws_cap) {
        sei_free(t->ws);
        t->ws = sei_alloc(n * sizeof(float));
        t->ws_cap = t->ws ? n : 0;
    }
    return t->ws;
}

static sei_status backward_node(Tape *t, Node *n) {
    int done = backward_inplace(t, n);
    if (done) return done > 0 ? SEI_OK : SEI_ERR_NOMEM;
    const float *dout = n->out->grad;
    Value *x = n->in[0], *w = n->in[1], *b = n->in[2];
    float *dx = grad_of(t, x), *dw = grad_of(t, w), *db = grad_of(t, b);
    if ((x && x->requires_grad && !dx) || (w && w->requires_grad && !dw) ||
        (b && b->requires_grad && !db))
        return SEI_ERR_NOMEM;
    switch (n->op) {
    case OP_CONV2D: {
        const SparseIndex *si = n->si;
        float *ws = scratch(t, si ? conv2d_sparse_workspace(&n->p.conv, si) : conv2d_workspace(&n->p.conv));
        if (!ws) return SEI_ERR_NOMEM;
        if (si) conv2d_sparse_backward(dx, dw, db, dout, x->t.data, w->t.data, &n->p.conv, si, ws);
        else conv2d_backward(dx, dw, db, dout, x->t.data, w->t.data, &n->p.conv, ws);
        break;
    }
    case OP_CONV_TRANSPOSE2D: {
        float *ws = scratch(t, conv_transpose2d_workspace(&n->p.convt));
        if (!ws) return SEI_ERR_NOMEM;
        conv_transpose2d_backward(dx, dw, db, dout, x->t.data, w->t.data, &n->p.convt, ws);
        break;
    }
    case OP_LINEAR:
        if (n->si) {
            float *ws = scratch(t, linear_sparse_workspace(&n->p.lin, n->si));
            if (!ws) return SEI_ERR_NOMEM;
            linear_sparse_backward(dx, dw, db, dout, x->t.data, w->t.data, &n->p.lin, n->si, ws);
        } else {
            linear_backward(dx, dw, db, dout, x->t.data, w->t.data, &n->p.lin);
        }
        break;
    case OP_RELU:
        if (dx) relu_backward(dx, dout, n->out->t.data, n->p.ew.n);
        break;
    case OP_MAXPOOL2D:
        if (dx) maxpool2d_backward(dx, dout, n->saved, &n->p.pool);
        break;
    case OP_AVGPOOL2D:
        if (dx) avgpool2d_backward(dx, dout, &n->p.pool);
        break;
    case OP_ADAPTIVE_AVGPOOL2D:
        if (dx) adaptive_avgpool2d_backward(dx, dout, &n->p.apool);
        break;
    case OP_BATCHNORM2D:
        batchnorm_backward(dx, dw, db, dout, x->t.data, w ? w->t.data : NULL, n->saved,
                           n->saved2, &n->p.bn);
        break;
    case OP_ADD: {
        /* x and w are the two summands here */
        add_backward(dx, dw, dout, n->p.ew.n);
        break;
    }
    case OP_FLATTEN:
    case OP_WIRE: /* straight through */
        if (dx) add_backward(dx, NULL, dout, n->p.ew.n);
        break;
    case OP_DROPOUT:
        if (dx) dropout_backward(dx, dout, n->saved, n->p.ew.n, n->p.ew.p);
        break;
    case OP_SOFTMAX_CE:
        if (dx) softmax_ce_backward(dx, dout[0] * n->p.ce.w, n->saved, (const int32_t *)n->saved2,
                                    n->p.ce.N, n->p.ce.K);
        break;
    case OP_COUNT:
        break;
    }
    return SEI_OK;
}

sei_status tape_backward(Tape *t, Value *root, const float *seed) {
    if (!t->recording) return sei_fail(SEI_ERR_ARG, "backward: the tape was not recording");
    if (!root->requires_grad)
        return sei_fail(SEI_ERR_ARG, "backward: the output does not depend on anything that requires a gradient");
    size_t n = tensor_numel(&root->t);
    if (!seed && n != 1)
        return sei_fail(SEI_ERR_ARG, "backward: a non-scalar output needs a seed gradient");
    float *g = grad_of(t, root);
    if (!g) return SEI_ERR_NOMEM;
    if (seed) for (size_t i = 0; i < n; i++) g[i] += seed[i];
    else g[0] += 1.0f;
    for (int i = t->n - 1; i >= 0; i--) {
        Node *nd = &t->nodes[i];
        if (!nd->out->grad) continue;
        double t0 = t->profile ? sei_now() : 0;
        sei_status s = backward_node(t, nd);
        if (t->profile) t->prof[1][nd->op] += sei_now() - t0;
        if (s != SEI_OK) return sei_fail(s, "backward: out of memory for gradients");
        if (nd->out != root) release_grad(t, nd->out);
    }
    return SEI_OK;
}
