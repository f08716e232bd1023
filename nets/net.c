/* net.c - the generic network: building blocks for the builders, parameter storage and
 * initialisation, the forward pass over any slice of layers, and shape inference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nets/net.h"
#include "nets/sparsity.h"

int net_width(float width_mult, int c) {
    int r = (int)floor((double)c * width_mult + 0.5);
    return r < 1 ? 1 : r;
}

Layer *net_add_layer(Net *net, LayerKind kind, const char *path) {
    if (net->nlayers == net->cap_layers) {
        net->cap_layers = net->cap_layers ? 2 * net->cap_layers : 64;
        net->layers = realloc(net->layers, (size_t)net->cap_layers * sizeof(Layer));
        if (!net->layers) { fprintf(stderr, "sei: out of memory\n"); exit(3); }
    }
    Layer *l = &net->layers[net->nlayers++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->path, sizeof l->path, "%s", path);
    l->w = l->b = l->rm = l->rv = l->nbt = -1;
    return l;
}

void net_move_layers(Net *net, int at, int start) {
    const int k = net->nlayers - start;
    Layer *tmp = malloc((size_t)k * sizeof *tmp);
    if (!tmp) { fprintf(stderr, "sei: out of memory\n"); exit(3); }
    memcpy(tmp, net->layers + start, (size_t)k * sizeof *tmp);
    memmove(net->layers + at + 1 + k, net->layers + at + 1, (size_t)(start - at - 1) * sizeof *tmp);
    memcpy(net->layers + at + 1, tmp, (size_t)k * sizeof *tmp);
    free(tmp);
}

int net_add_param(Net *net, const char *name, int ndim, const int *shape, int is_buffer) {
    if (net->nparams == net->cap_params) {
        net->cap_params = net->cap_params ? 2 * net->cap_params : 128;
        net->params = realloc(net->params, (size_t)net->cap_params * sizeof(Param));
        if (!net->params) { fprintf(stderr, "sei: out of memory\n"); exit(3); }
    }
    Param *p = &net->params[net->nparams];
    memset(p, 0, sizeof *p);
    snprintf(p->v.t.name, sizeof p->v.t.name, "%s", name);
    tensor_set_shape(&p->v.t, ndim, shape);
    p->is_buffer = is_buffer;
    p->v.requires_grad = !is_buffer;
    return net->nparams++;
}

static int add_named(Net *net, const char *path, const char *suffix, int ndim,
                     const int *shape, int is_buffer) {
    char name[SEI_NAME_LEN];
    snprintf(name, sizeof name, "%s.%s", path, suffix);
    return net_add_param(net, name, ndim, shape, is_buffer);
}

void layer_conv(Net *net, Layer *l, const char *path, int in_c, int out_c, int k, int stride,
                int pad, int bias) {
    l->kind = L_CONV;
    snprintf(l->path, sizeof l->path, "%s", path);
    l->in_c = in_c; l->out_c = out_c; l->k = k; l->stride = stride; l->pad = pad;
    l->groups = 1;
    l->w = add_named(net, path, "weight", 4, (int[]){out_c, in_c, k, k}, 0);
    l->b = bias ? add_named(net, path, "bias", 1, (int[]){out_c}, 0) : -1;
    l->rm = l->rv = l->nbt = -1;
}

void layer_convt(Net *net, Layer *l, const char *path, int in_c, int out_c, int k, int stride,
                 int pad, int opad) {
    l->kind = L_CONVT;
    snprintf(l->path, sizeof l->path, "%s", path);
    l->in_c = in_c; l->out_c = out_c; l->k = k; l->stride = stride; l->pad = pad;
    l->opad = opad;
    l->groups = 1;
    l->w = add_named(net, path, "weight", 4, (int[]){in_c, out_c, k, k}, 0);
    l->b = -1;
    l->rm = l->rv = l->nbt = -1;
}

void layer_bn(Net *net, Layer *l, const char *path, int c) {
    l->kind = L_BN;
    snprintf(l->path, sizeof l->path, "%s", path);
    l->in_c = l->out_c = c;
    l->eps = 1e-5f;
    l->momentum = 0.1f;
    l->w = add_named(net, path, "weight", 1, (int[]){c}, 0);
    l->b = add_named(net, path, "bias", 1, (int[]){c}, 0);
    l->rm = add_named(net, path, "running_mean", 1, (int[]){c}, 1);
    l->rv = add_named(net, path, "running_var", 1, (int[]){c}, 1);
    l->nbt = add_named(net, path, "num_batches_tracked", 0, NULL, 1);
    net->params[l->nbt].is_int = 1;
}

void layer_linear(Net *net, Layer *l, const char *path, int in_f, int out_f) {
    l->kind = L_LINEAR;
    snprintf(l->path, sizeof l->path, "%s", path);
    l->in_c = in_f; l->out_c = out_f;
    l->w = add_named(net, path, "weight", 2, (int[]){out_f, in_f}, 0);
    l->b = add_named(net, path, "bias", 1, (int[]){out_f}, 0);
    l->rm = l->rv = l->nbt = -1;
}

/* torchvision's init: convs kaiming-normal (fan_out, relu), BN weight 1 / bias 0 and
 * running stats 0 / 1, Linear N(0, std) with bias 0 (VGG) or PyTorch's default
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias (ResNet fc). */
static void init_layer(Net *net, const Layer *l, Rng *rng) {
    Param *P = net->params;
    switch (l->kind) {
    case L_CONVT: { /* kaiming-normal over the output fan like the convs: out_c * k * k */
        Tensor *w = &P[l->w].v.t;
        float std = sqrtf(2.0f / (float)(l->out_c * l->k * l->k));
        size_t n = tensor_numel(w);
        for (size_t i = 0; i < n; i++) w->data[i] = std * rng_normal(rng);
        break;
    }
    case L_CONV: {
        Tensor *w = &P[l->w].v.t;
        float std = sqrtf(2.0f / (float)(w->shape[0] * w->shape[2] * w->shape[3]));
        size_t n = tensor_numel(w);
        for (size_t i = 0; i < n; i++) w->data[i] = std * rng_normal(rng);
        if (l->b >= 0) memset(P[l->b].v.t.data, 0, (size_t)l->out_c * sizeof(float));
        break;
    }
    case L_BN:
        for (int i = 0; i < l->out_c; i++) {
            P[l->w].v.t.data[i] = 1; P[l->b].v.t.data[i] = 0;
            P[l->rm].v.t.data[i] = 0; P[l->rv].v.t.data[i] = 1;
        }
        P[l->nbt].v.t.data[0] = 0;
        break;
    case L_LINEAR: {
        Tensor *w = &P[l->w].v.t, *b = &P[l->b].v.t;
        float bound = 1.0f / sqrtf((float)l->in_c);
        size_t n = tensor_numel(w);
        for (size_t i = 0; i < n; i++)
            w->data[i] = net->linear_init_std > 0 ? net->linear_init_std * rng_normal(rng)
                                                  : bound * (2 * rng_uniform(rng) - 1);
        for (int i = 0; i < l->out_c; i++)
            b->data[i] = net->linear_init_std > 0 ? 0 : bound * (2 * rng_uniform(rng) - 1);
        break;
    }
    case L_BOTTLENECK:
    case L_EXIT:
        for (int i = 0; i < l->nsub; i++) init_layer(net, &l->sub[i], rng);
        break;
    default:
        break;
    }
}

sei_status net_finish(Net *net) {
    size_t total = 0;
    for (int i = 0; i < net->nparams; i++)
        total += (tensor_numel(&net->params[i].v.t) + 15) & ~(size_t)15; /* 64-byte aligned */
    net->data = sei_calloc(total * sizeof(float));
    if (!net->data) return SEI_ERR_NOMEM;
    size_t off = 0;
    for (int i = 0; i < net->nparams; i++) {
        Param *p = &net->params[i];
        p->v.t.data = net->data + off;
        p->v.grad = NULL; /* gradients are allocated by net_zero_grad: inference needs none */
        off += (tensor_numel(&p->v.t) + 15) & ~(size_t)15;
        if (strstr(p->v.t.name, "running_var")) /* a valid BN state even before loading */
            for (size_t k = 0; k < tensor_numel(&p->v.t); k++) p->v.t.data[k] = 1;
    }
    return SEI_OK;
}

sei_status net_refinish(Net *net) {
    float *old = net->data;
    Tensor *saved = malloc(((size_t)net->nparams + 1) * sizeof *saved);
    if (!saved) return sei_fail(SEI_ERR_NOMEM, "out of memory");
    for (int i = 0; i < net->nparams; i++) saved[i] = net->params[i].v.t;
    net->data = NULL;
    sei_status s = net_finish(net);
    if (s) {
        net->data = old;
        for (int i = 0; i < net->nparams; i++) net->params[i].v.t = saved[i];
        free(saved);
        return sei_fail(s, "out of memory");
    }
    for (int i = 0; i < net->nparams; i++)
        if (saved[i].data) memcpy(net->params[i].v.t.data, saved[i].data, tensor_numel(&saved[i]) * sizeof(float));
    free(saved);
    sei_free(old);
    sei_free(net->grads);
    net->grads = NULL;
    for (int i = 0; i < net->nparams; i++) net->params[i].v.grad = NULL;
    return SEI_OK;
}

void net_init_layer(Net *net, const Layer *l, Rng *rng) { init_layer(net, l, rng); }

static void freeze_layer(Net *net, Layer *l, int frozen) {
    l->frozen = frozen;
    const int idx[2] = {l->w, l->b};
    for (int k = 0; k < 2; k++)
        if (idx[k] >= 0) net->params[idx[k]].v.requires_grad = !frozen;
    for (int s = 0; s < l->nsub; s++) freeze_layer(net, &l->sub[s], frozen);
}

void net_freeze(Net *net, int from, int to, int frozen) {
    for (int i = from; i < to && i < net->nlayers; i++) freeze_layer(net, &net->layers[i], frozen);
}

void net_init(Net *net, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < net->nlayers; i++) init_layer(net, &net->layers[i], &rng);
}

void net_free(Net *net) {
    for (int i = 0; i < net->nlayers; i++) free(net->layers[i].sub);
    free(net->layers);
    for (int i = 0; i < net->nparams; i++) {
        sei_free(net->params[i].mask);
        if (net->params[i].sp) sparse_free(net->params[i].sp);
        free(net->params[i].sp);
    }
    free(net->params);
    sei_free(net->data);
    sei_free(net->grads);
    memset(net, 0, sizeof *net);
}

sei_status net_zero_grad(Net *net) {
    if (!net->grads) {
        size_t total = 0;
        for (int i = 0; i < net->nparams; i++)
            total += (tensor_numel(&net->params[i].v.t) + 15) & ~(size_t)15;
        net->grads = sei_alloc(total * sizeof(float));
        if (!net->grads) return SEI_ERR_NOMEM;
        size_t off = 0;
        for (int i = 0; i < net->nparams; i++) {
            Param *p = &net->params[i];
            p->v.grad = p->is_buffer ? NULL : net->grads + off;
            off += (tensor_numel(&p->v.t) + 15) & ~(size_t)15;
        }
    }
    for (int i = 0; i < net->nparams; i++) {
        Param *p = &net->params[i];
        if (p->v.grad) memset(p->v.grad, 0, tensor_numel(&p->v.t) * sizeof(float));
    }
    return SEI_OK;
}

sei_status net_optim_init(Net *net, Optimizer *o, const OptConfig *cfg) {
    if (net_zero_grad(net) != SEI_OK) return SEI_ERR_NOMEM;
    OptParam *ps = malloc(((size_t)net->nparams + 1) * sizeof *ps);
    if (!ps) return sei_fail(SEI_ERR_NOMEM, "out of memory");
    int np = 0;
    for (int i = 0; i < net->nparams; i++) {
        Param *p = &net->params[i];
        if (param_trains(p))
            ps[np++] = (OptParam){p->v.t.data, p->v.grad, p->mask, tensor_numel(&p->v.t)};
    }
    sei_status s = optim_init(o, cfg, ps, np);
    free(ps);
    return s;
}

size_t net_num_params(const Net *net) {
    size_t n = 0;
    for (int i = 0; i < net->nparams; i++)
        if (!net->params[i].is_buffer) n += tensor_numel(&net->params[i].v.t);
    return n;
}

int net_find_layer(const Net *net, const char *path) {
    for (int i = 0; i < net->nlayers; i++)
        if (strcmp(net->layers[i].path, path) == 0) return i;
    return -1;
}

static Value *PV(Net *net, int idx) { return idx >= 0 ? &net->params[idx].v : NULL; }
/* the predefined-sparse pattern of a weight, for the sparse kernels (NULL: dense) */
static const SparseIndex *SI(const Net *net, int idx) {
    return idx >= 0 && net->params[idx].sp ? &net->params[idx].sp->kidx : NULL;
}

/* inference: conv + its batch norm (+ ReLU) as one fused op */
static Value *conv_bn(Net *net, Tape *t, const Layer *conv, const Layer *bn, Value *x, int relu) {
    return ag_conv2d_bn_eval(t, x, PV(net, conv->w), PV(net, conv->b), conv->stride, conv->pad,
                             conv->groups, net->params[bn->rm].v.t.data,
                             net->params[bn->rv].v.t.data, PV(net, bn->w), PV(net, bn->b),
                             bn->eps, relu, SI(net, conv->w));
}

static int fusing(const Tape *t) {
    return !t->recording && !t->bn_training && !t->no_fusion && !sei_kernels_ref;
}

static Value *run_seq(Net *net, Tape *t, const Layer *ls, int from, int to, Value *x, Value **outs);

static Value *run_layer(Net *net, Tape *t, const Layer *l, Value *x, int inplace_ok) {
    switch (l->kind) {
    case L_EXIT: { /* the branch's first layer (a conv or pool) does not write its input */
        Value *y = run_seq(net, t, l->sub, 0, l->nsub, x, NULL);
        if (!y) return NULL;
        net->exit_out[l->exit] = y;
        return x;
    }
    case L_CONV:
        return ag_conv2d_sparse(t, x, PV(net, l->w), PV(net, l->b), l->stride, l->pad, l->groups, SI(net, l->w));
    case L_BN: {
        if (x->t.ndim == 4 && x->t.shape[1] != l->out_c) {
            sei_fail(SEI_ERR_SHAPE, "%s: input has %d channels, expected %d", l->path,
                     x->t.shape[1], l->out_c);
            return NULL;
        }
        const int training = t->bn_training;
        if (l->frozen) t->bn_training = 0; /* a frozen layer keeps its running statistics */
        Value *y = ag_batchnorm2d(t, x, PV(net, l->w), PV(net, l->b),
                                  net->params[l->rm].v.t.data, net->params[l->rv].v.t.data,
                                  l->eps, l->momentum);
        if (y && t->bn_training) net->params[l->nbt].v.t.data[0] += 1;
        t->bn_training = training;
        return y;
    }
    case L_RELU:
        return ag_relu(t, x, inplace_ok);
    case L_MAXPOOL:
        return ag_maxpool2d(t, x, l->k, l->stride, l->pad, 0);
    case L_ADAPTIVE_AVGPOOL:
        return ag_adaptive_avgpool2d(t, x, l->oh, l->ow);
    case L_FLATTEN:
        return ag_flatten(t, x);
    case L_LINEAR:
        return ag_linear_sparse(t, x, PV(net, l->w), PV(net, l->b), SI(net, l->w));
    case L_DROPOUT:
        return ag_dropout(t, x, l->p);
    case L_CONVT:
        return ag_conv_transpose2d(t, x, PV(net, l->w), PV(net, l->b), l->stride, l->pad, l->opad,
                                   l->groups);
    case L_WIRE:
        return ag_wire(t, x, (WireFormat)l->wire);
    case L_BOTTLENECK: {
        /* sub: conv1 bn1 conv2 bn2 conv3 bn3 [downsample.0 downsample.1] */
        if (fusing(t)) {
            Value *y = conv_bn(net, t, &l->sub[0], &l->sub[1], x, 1);
            if (y) y = conv_bn(net, t, &l->sub[2], &l->sub[3], y, 1);
            if (y) y = conv_bn(net, t, &l->sub[4], &l->sub[5], y, 0);
            Value *id = x;
            if (y && l->nsub == 8) id = conv_bn(net, t, &l->sub[6], &l->sub[7], x, 0);
            return y && id ? ag_add_relu_eval(t, y, id) : NULL;
        }
        Value *y = x;
        for (int i = 0; i < 6 && y; i++) {
            y = run_layer(net, t, &l->sub[i], y, 0);
            if (y && (i == 1 || i == 3)) y = ag_relu(t, y, 1);
        }
        Value *id = x;
        if (y && l->nsub == 8) {
            id = run_layer(net, t, &l->sub[6], x, 0);
            if (id) id = run_layer(net, t, &l->sub[7], id, 0);
        }
        if (!y || !id) return NULL;
        y = ag_add(t, y, id);
        return y ? ag_relu(t, y, 1) : NULL;
    }
    }
    return NULL;
}

/* layers ls[from, to) in order; outs as in net_forward */
static Value *run_seq(Net *net, Tape *t, const Layer *ls, int from, int to, Value *x, Value **outs) {
    for (int i = from; i < to; i++) {
        const Layer *l = &ls[i];
        Value *y;
        int span = 1; /* layers consumed by this step */
        if (fusing(t) && l->kind == L_CONV && !l->cut && i + 1 < to &&
            ls[i + 1].kind == L_BN && !ls[i + 1].cut) {
            int relu = i + 2 < to && ls[i + 2].kind == L_RELU;
            y = conv_bn(net, t, l, &ls[i + 1], x, relu);
            span = 2 + relu;
        } else {
            y = run_layer(net, t, l, x, i > from && ls[i - 1].kind != L_EXIT); /* a branch read x */
        }
        if (!y) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", sei_last_error());
            if (strncmp(msg, l->path, strlen(l->path)) != 0)
                sei_fail(SEI_ERR_SHAPE, "%s (%s): %s", net->name, l->path, msg);
            return NULL;
        }
        /* a fused group's layers all report the group's output */
        for (int k = 0; k < span && outs; k++) outs[i + k] = y;
        i += span - 1;
        x = y;
    }
    return x;
}

Value *net_forward(Net *net, Tape *t, Value *x, int from, int to, Value **outs) {
    if (from < 0 || to > net->nlayers || from > to) {
        sei_fail(SEI_ERR_ARG, "%s: layer range [%d,%d) outside [0,%d)", net->name, from, to,
                 net->nlayers);
        return NULL;
    }
    for (int i = from; i < to; i++)
        if (net->layers[i].kind == L_EXIT) net->exit_out[net->layers[i].exit] = NULL;
    return run_seq(net, t, net->layers, from, to, x, outs);
}

/* ---- shape inference (no data) ---- */

static int conv_out(int h, int k, int s, int p) { return (h + 2 * p - k) / s + 1; }

/* the share of a weight's entries that predefined sparsity keeps (1: dense) */
static double kept(const Net *net, int w) {
    const Param *p = &net->params[w];
    return p->sp ? (double)sparse_nnz(p->sp) / (double)tensor_numel(&p->v.t) : 1.0;
}

/* macs[0] += the layer's multiply-adds, macs[1] += those that skip sparsity's zeros */
static sei_status layer_shape(const Net *net, const Layer *l, int *s, int *nd, double *macs,
                              double *params) {
    char b[64];
    Tensor t;
    memset(&t, 0, sizeof t);
    tensor_set_shape(&t, *nd, s);
    switch (l->kind) {
    case L_CONV:
        if (*nd != 4 || s[1] != l->in_c || s[2] + 2 * l->pad < l->k || s[3] + 2 * l->pad < l->k)
            return sei_fail(SEI_ERR_SHAPE, "%s: conv %dx%d with %d input channels cannot take %s",
                            l->path, l->k, l->k, l->in_c, tensor_shape_str(&t, b, sizeof b));
        s[1] = l->out_c;
        s[2] = conv_out(s[2], l->k, l->stride, l->pad);
        s[3] = conv_out(s[3], l->k, l->stride, l->pad);
        {
            const double m = (double)l->out_c * s[2] * s[3] * (l->in_c / l->groups) * l->k * l->k;
            macs[0] += m, macs[1] += m * kept(net, l->w);
        }
        *params += (double)tensor_numel(&net->params[l->w].v.t) + (l->b >= 0 ? l->out_c : 0);
        return SEI_OK;
    case L_BN:
        if (*nd != 4 || s[1] != l->out_c)
            return sei_fail(SEI_ERR_SHAPE, "%s: batch norm of %d channels cannot take %s",
                            l->path, l->out_c, tensor_shape_str(&t, b, sizeof b));
        *params += 2.0 * l->out_c;
        return SEI_OK;
    case L_RELU:
    case L_DROPOUT:
    case L_WIRE:
        return SEI_OK;
    case L_CONVT: {
        if (*nd != 4 || s[1] != l->in_c)
            return sei_fail(SEI_ERR_SHAPE, "%s: transposed conv with %d input channels cannot take %s",
                            l->path, l->in_c, tensor_shape_str(&t, b, sizeof b));
        macs[0] += (double)l->in_c * l->out_c * l->k * l->k * s[2] * s[3];
        macs[1] += (double)l->in_c * l->out_c * l->k * l->k * s[2] * s[3];
        s[1] = l->out_c;
        s[2] = (s[2] - 1) * l->stride - 2 * l->pad + l->k + l->opad;
        s[3] = (s[3] - 1) * l->stride - 2 * l->pad + l->k + l->opad;
        *params += (double)tensor_numel(&net->params[l->w].v.t);
        if (s[2] < 1 || s[3] < 1) return sei_fail(SEI_ERR_SHAPE, "%s: empty output", l->path);
        return SEI_OK;
    }
    case L_MAXPOOL:
        if (*nd != 4 || s[2] + 2 * l->pad < l->k || s[3] + 2 * l->pad < l->k)
            return sei_fail(SEI_ERR_SHAPE, "%s: max-pool %dx%d cannot take %s (input too small)",
                            l->path, l->k, l->k, tensor_shape_str(&t, b, sizeof b));
        s[2] = conv_out(s[2], l->k, l->stride, l->pad);
        s[3] = conv_out(s[3], l->k, l->stride, l->pad);
        return SEI_OK;
    case L_ADAPTIVE_AVGPOOL:
        if (*nd != 4) return sei_fail(SEI_ERR_SHAPE, "%s: expects [N,C,H,W]", l->path);
        s[2] = l->oh; s[3] = l->ow;
        return SEI_OK;
    case L_FLATTEN:
        s[1] = s[1] * (*nd == 4 ? s[2] * s[3] : 1);
        *nd = 2;
        return SEI_OK;
    case L_LINEAR:
        if (*nd != 2 || s[1] != l->in_c)
            return sei_fail(SEI_ERR_SHAPE, "%s: linear with %d inputs cannot take %s", l->path,
                            l->in_c, tensor_shape_str(&t, b, sizeof b));
        s[1] = l->out_c;
        macs[0] += (double)l->in_c * l->out_c, macs[1] += (double)l->in_c * l->out_c * kept(net, l->w);
        *params += (double)l->in_c * l->out_c + l->out_c;
        return SEI_OK;
    case L_EXIT: { /* the branch's cost; the main path goes on with its input */
        int b[4] = {s[0], s[1], s[2], s[3]}, bnd = *nd;
        for (int i = 0; i < l->nsub; i++) {
            sei_status st = layer_shape(net, &l->sub[i], b, &bnd, macs, params);
            if (st) return st;
        }
        return SEI_OK;
    }
    case L_BOTTLENECK: {
        int in[4] = {s[0], s[1], s[2], s[3]}, ind = *nd;
        for (int i = 0; i < 6; i++) {
            sei_status st = layer_shape(net, &l->sub[i], s, nd, macs, params);
            if (st) return st;
        }
        if (l->nsub == 8)
            for (int i = 6; i < 8; i++) {
                sei_status st = layer_shape(net, &l->sub[i], in, &ind, macs, params);
                if (st) return st;
            }
        if (in[1] != s[1] || in[2] != s[2] || in[3] != s[3])
            return sei_fail(SEI_ERR_SHAPE, "%s: residual shapes differ", l->path);
        return SEI_OK;
    }
    }
    return SEI_OK;
}

sei_status net_shapes(const Net *net, int n, int c, int h, int w, LayerInfo *info) {
    int s[4] = {n, c, h, w}, nd = 4;
    double macs[2] = {0, 0}, params = 0;
    for (int i = 0; i < net->nlayers; i++) {
        sei_status st = layer_shape(net, &net->layers[i], s, &nd, macs, &params);
        if (st) return st;
        info[i].ndim = nd;
        memcpy(info[i].shape, s, sizeof s);
        info[i].macs = macs[0];
        info[i].sparse_macs = macs[1];
        info[i].params = params;
    }
    return SEI_OK;
}
