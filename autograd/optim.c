/* optim.c - see optim.h. The formulas are PyTorch's single-tensor implementations:
 *  SGD:   d = g + wd*w;  buf = d (first step) or momentum*buf + (1-dampening)*d;
 *         d = nesterov ? d + momentum*buf : buf;  w -= lr*d
 *  AdamW: w *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *         w -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/optim.h"

OptConfig optim_sgd(float lr, float momentum, float weight_decay, int nesterov) {
    OptConfig c;
    memset(&c, 0, sizeof c);
    c.kind = OPT_SGD; c.lr = lr; c.momentum = momentum; c.weight_decay = weight_decay;
    c.nesterov = nesterov;
    return c;
}

OptConfig optim_adamw(float lr, float weight_decay) {
    OptConfig c;
    memset(&c, 0, sizeof c);
    c.kind = OPT_ADAMW; c.lr = lr; c.weight_decay = weight_decay;
    c.beta1 = 0.9f; c.beta2 = 0.999f; c.eps = 1e-8f;
    return c;
}

sei_status optim_init(Optimizer *o, const OptConfig *cfg, const OptParam *params, int np) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    if (cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0))
        return sei_fail(SEI_ERR_ARG, "Nesterov momentum requires a momentum > 0 and zero dampening");
    o->p = malloc((size_t)np * sizeof *o->p);
    o->m = calloc((size_t)np, sizeof(float *));
    o->v = calloc((size_t)np, sizeof(float *));
    if (!o->p || !o->m || !o->v) { optim_free(o); return sei_fail(SEI_ERR_NOMEM, "out of memory"); }
    memcpy(o->p, params, (size_t)np * sizeof *o->p);
    o->np = np;
    int need_m = cfg->kind == OPT_ADAMW || cfg->momentum != 0, need_v = cfg->kind == OPT_ADAMW;
    for (int i = 0; i < np; i++) {
        if (need_m && !(o->m[i] = sei_calloc(params[i].n * sizeof(float)))) goto oom;
        if (need_v && !(o->v[i] = sei_calloc(params[i].n * sizeof(float)))) goto oom;
    }
    return SEI_OK;
oom:
    optim_free(o);
    return sei_fail(SEI_ERR_NOMEM, "out of memory for optimizer state");
}

/* element-wise updates: threads split the elements statically, so results are the same for
 * any thread count */
#define OPT_PAR_MIN 16384

static void sgd_update(const OptConfig *c, long step, float *w, float *g, float *buf,
                       const float *mask, size_t n) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n >= OPT_PAR_MIN)
#endif
    for (size_t i = 0; i < n; i++) {
        if (mask && mask[i] == 0.0f) { w[i] = 0; g[i] = 0; if (buf) buf[i] = 0; continue; }
        float d = g[i] + c->weight_decay * w[i];
        if (buf) {
            buf[i] = step == 1 ? d : c->momentum * buf[i] + (1.0f - c->dampening) * d;
            d = c->nesterov ? d + c->momentum * buf[i] : buf[i];
        }
        w[i] -= c->lr * d;
    }
}

static void adamw_update(const OptConfig *c, long step, float *w, float *g, float *m, float *v,
                         const float *mask, size_t n) {
    /* scalars in double, as PyTorch computes them in Python floats */
    double bc1 = 1.0 - pow((double)c->beta1, (double)step);
    double bc2 = 1.0 - pow((double)c->beta2, (double)step);
    float step_size = (float)((double)c->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n >= OPT_PAR_MIN)
#endif
    for (size_t i = 0; i < n; i++) {
        if (mask && mask[i] == 0.0f) { w[i] = 0; g[i] = 0; m[i] = 0; v[i] = 0; continue; }
        w[i] *= 1.0f - c->lr * c->weight_decay;
        m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * g[i];
        v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * g[i] * g[i];
        float denom = sqrtf(v[i]) / bc2_sqrt + c->eps;
        w[i] -= step_size * (m[i] / denom);
    }
}

void optim_step(Optimizer *o) {
    o->step++;
    for (int i = 0; i < o->np; i++) {
        OptParam *p = &o->p[i];
        if (o->cfg.kind == OPT_SGD) sgd_update(&o->cfg, o->step, p->w, p->g, o->m[i], p->mask, p->n);
        else adamw_update(&o->cfg, o->step, p->w, p->g, o->m[i], o->v[i], p->mask, p->n);
    }
}

void optim_free(Optimizer *o) {
    for (int i = 0; o->m && i < o->np; i++) sei_free(o->m[i]);
    for (int i = 0; o->v && i < o->np; i++) sei_free(o->v[i]);
    free(o->p);
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}
