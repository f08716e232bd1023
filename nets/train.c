/* train.c - one training step, evaluation, learning-rate schedules, checkpoints with
 * optimizer state (see nets/train.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nets/train.h"
#include "nets/weights.h"

int schedule_parse(const char *name) {
    if (!strcmp(name, "cosine")) return SCHED_COSINE;
    if (!strcmp(name, "step")) return SCHED_STEP;
    if (!strcmp(name, "const")) return SCHED_CONST;
    return -1;
}

const char *schedule_name(SchedKind k) {
    return k == SCHED_COSINE ? "cosine" : k == SCHED_STEP ? "step" : "const";
}

float schedule_lr(const Schedule *s, long step) {
    double lr = s->lr;
    if (s->kind == SCHED_COSINE && s->total_steps > 0) {
        double f = (double)step / (double)s->total_steps;
        if (f > 1) f = 1;
        lr = 0.5 * s->lr * (1.0 + cos(M_PI * f));
    } else if (s->kind == SCHED_STEP && s->step_epochs > 0 && s->steps_per_epoch > 0) {
        long e = step / s->steps_per_epoch;
        lr = s->lr * pow((double)s->gamma, (double)(e / s->step_epochs));
    }
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        lr *= (double)(step + 1) / (double)s->warmup_steps;
    return (float)lr;
}

static int count_correct(const float *logits, const int32_t *y, int n, int K) {
    int c = 0;
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (l[k] > l[best]) best = k;
        c += best == y[i];
    }
    return c;
}

TrainReduce train_reduce;

sei_status train_step(Net *net, Tape *t, Optimizer *o, const float *x, const int32_t *y, int n,
                      int size, float exit_weight, double *loss, int *correct) {
    tape_reset(t);
    Tensor xt = {.ndim = 4, .shape = {n, net->in_ch, size, size}, .data = (float *)x};
    snprintf(xt.name, sizeof xt.name, "input");
    Value *in = tape_wrap(t, &xt, 0);
    Value *out = in ? net_forward(net, t, in, 0, net->nlayers, NULL) : NULL;
    if (!out) return SEI_ERR_SHAPE;
    Value *l = ag_softmax_ce(t, out, y);
    for (int k = 0; k < net->nexits && l; k++) {
        Value *e = net->exit_out[k] ? ag_softmax_ce_weighted(t, net->exit_out[k], y, exit_weight) : NULL;
        if (e) l = ag_add(t, l, e);
    }
    if (!l) return SEI_ERR_ARG;
    *loss = l->t.data[0];
    *correct = count_correct(out->t.data, y, n, net->classes);
    if (train_reduce.reduce_loss) train_reduce.reduce_loss(loss, correct, train_reduce.ctx);
    if (!isfinite(*loss))
        return sei_fail(SEI_ERR_NUMERIC, "the loss is %s", isnan(*loss) ? "NaN" : "infinite");
    sei_status s = net_zero_grad(net);
    if (!s) s = tape_backward(t, l, NULL);
    if (s) return s;
    if (train_reduce.reduce_grads) train_reduce.reduce_grads(net, train_reduce.ctx);
    optim_step(o);
    return SEI_OK;
}

sei_status eval_batches(Net *net, const Dataset *d, const BatchConfig *bc, EvalBatchFn fn, void *ctx) {
    const int K = net->classes;
    BatchConfig c = *bc;
    c.random_crop = c.flip = c.shuffle = c.drop_last = 0;
    Batcher b;
    sei_status s = batcher_init(&b, d, &c);
    if (s) return s;
    Tape t;
    tape_init(&t, 0, 0, 0, 0);
    batcher_epoch(&b, 0);
    const float *x;
    const int32_t *y;
    int n;
    while (!s && (n = batcher_next(&b, &x, &y)) > 0) {
        for (int i = 0; i < n; i++)
            if (y[i] < 0 || y[i] >= K) {
                s = sei_fail(SEI_ERR_ARG, "eval: label %d outside the network's %d classes", y[i], K);
                break;
            }
        if (s) break;
        tape_reset(&t);
        Tensor xt = {.ndim = 4, .shape = {n, net->in_ch, c.size, c.size}, .data = (float *)x};
        Value *out = net_forward(net, &t, tape_wrap(&t, &xt, 0), 0, net->nlayers, NULL);
        if (!out) { s = SEI_ERR_SHAPE; break; }
        s = fn(ctx, net, out->t.data, y, n);
    }
    tape_free(&t);
    batcher_free(&b);
    return s;
}

typedef struct {
    EvalResult *r;
    float *probs;
    double loss_sum;
    long right, exit_right[NET_MAX_EXITS];
} EvalAcc;

static sei_status eval_batch(void *ctx, const Net *net, const float *logits, const int32_t *y, int n) {
    EvalAcc *a = ctx;
    const int K = net->classes;
    a->loss_sum += (double)softmax_ce_forward(a->probs, logits, y, n, K) * n;
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (l[k] > l[best]) best = k;
        a->r->confusion[(size_t)y[i] * K + best]++;
        a->right += best == y[i];
    }
    for (int k = 0; k < net->nexits; k++)
        if (net->exit_out[k]) a->exit_right[k] += count_correct(net->exit_out[k]->t.data, y, n, K);
    a->r->n += n;
    return SEI_OK;
}

sei_status evaluate(Net *net, const Dataset *d, const BatchConfig *bc, EvalResult *r) {
    memset(r, 0, sizeof *r);
    const int K = net->classes;
    r->confusion = calloc((size_t)K * K, sizeof *r->confusion);
    EvalAcc a = {r, malloc((size_t)(bc->batch > 0 ? bc->batch : 1) * K * sizeof(float)), 0, 0, {0}};
    sei_status s = r->confusion && a.probs ? eval_batches(net, d, bc, eval_batch, &a)
                                           : sei_fail(SEI_ERR_NOMEM, "eval: out of memory");
    free(a.probs);
    if (s) { free(r->confusion); r->confusion = NULL; return s; }
    r->nexits = net->nexits;
    r->accuracy = r->n ? (double)a.right / r->n : 0;
    r->loss = r->n ? a.loss_sum / r->n : 0;
    for (int k = 0; k < net->nexits; k++) r->exit_accuracy[k] = r->n ? (double)a.exit_right[k] / r->n : 0;
    return SEI_OK;
}

/* names of the optimizer state tensors of trainable parameter p, state index j */
static void state_name(char *buf, size_t cap, const Optimizer *o, const char *param, int j) {
    const char *what = o->cfg.kind == OPT_SGD ? "momentum_buffer" : j == 0 ? "exp_avg" : "exp_avg_sq";
    snprintf(buf, cap, "optim.%s.%s", param, what);
}

sei_status checkpoint_save(const Net *net, const Optimizer *o, const char *path, int nmeta,
                           const char *const *keys, const char *const *vals) {
    StWriter w;
    st_writer_init(&w);
    int64_t *scratch = calloc((size_t)net->nparams + 1, sizeof(int64_t));
    char (*names)[SEI_NAME_LEN + 32] = calloc((size_t)2 * net->nparams + 1, sizeof *names);
    if (!scratch || !names) { free(scratch); free(names); return sei_fail(SEI_ERR_NOMEM, "checkpoint: out of memory"); }
    sei_status s = net_add_with_meta(net, &w, scratch);
    char step[32];
    if (o) {
        int k = 0, nn = 0;
        for (int i = 0; i < net->nparams && !s; i++) {
            const Param *p = &net->params[i];
            if (!param_trains(p)) continue;
            int64_t shape[4];
            for (int d = 0; d < p->v.t.ndim; d++) shape[d] = p->v.t.shape[d];
            float *state[2] = {o->m ? o->m[k] : NULL, o->v ? o->v[k] : NULL};
            for (int j = 0; j < 2 && !s; j++) {
                if (!state[j]) continue;
                state_name(names[nn], sizeof names[nn], o, p->v.t.name, j);
                s = st_add(&w, names[nn++], ST_F32, p->v.t.ndim, shape, state[j]);
            }
            k++;
        }
        snprintf(step, sizeof step, "%ld", o->step);
        if (!s) s = st_add_meta(&w, "optim_step", step);
        if (!s) s = st_add_meta(&w, "optim", o->cfg.kind == OPT_SGD ? "sgd" : "adamw");
    }
    for (int i = 0; i < nmeta && !s; i++) s = st_add_meta(&w, keys[i], vals[i]);
    if (!s) s = st_write(&w, path);
    st_writer_free(&w);
    free(scratch);
    free(names);
    return s;
}

sei_status checkpoint_load_optim(const StFile *f, const Net *net, Optimizer *o) {
    const char *kind = st_meta(f, "optim"), *step = st_meta(f, "optim_step");
    const char *want = o->cfg.kind == OPT_SGD ? "sgd" : "adamw";
    if (!kind || !step) return sei_fail(SEI_ERR_MISSING, "%s: no optimizer state (not a training checkpoint)", f->path);
    if (strcmp(kind, want))
        return sei_fail(SEI_ERR_FORMAT, "%s: optimizer state is %s, the run uses %s", f->path, kind, want);
    char *end;
    long st = strtol(step, &end, 10);
    if (*end || st < 0) return sei_fail(SEI_ERR_FORMAT, "%s: bad optim_step '%s'", f->path, step);
    int k = 0;
    for (int i = 0; i < net->nparams; i++) {
        const Param *p = &net->params[i];
        if (!param_trains(p)) continue;
        float *state[2] = {o->m ? o->m[k] : NULL, o->v ? o->v[k] : NULL};
        for (int j = 0; j < 2; j++) {
            if (!state[j]) continue;
            char name[SEI_NAME_LEN + 32];
            state_name(name, sizeof name, o, p->v.t.name, j);
            Tensor t = p->v.t;
            t.data = state[j];
            sei_status s = st_load_tensor(f, name, &t);
            if (s) return s;
        }
        k++;
    }
    o->step = st;
    return SEI_OK;
}

sei_status net_load_weights_except_head(Net *net, const StFile *f) {
    int head = -1;
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].kind == L_LINEAR) head = i;
    if (head < 0) return net_load_weights_from(net, f);
    char prefix[SEI_NAME_LEN + 1];
    snprintf(prefix, sizeof prefix, "%s.", net->layers[head].path);
    size_t pl = strlen(prefix);
    for (int i = 0; i < net->nparams; i++) {
        Param *p = &net->params[i];
        if (!strncmp(p->v.t.name, prefix, pl)) continue;
        if (p->is_int && !st_find(f, p->v.t.name)) continue;
        sei_status s = st_load_tensor(f, p->v.t.name, &p->v.t);
        if (s) return s;
    }
    for (int j = 0; j < f->n; j++) {
        const char *name = f->entries[j].name;
        if (!strncmp(name, prefix, pl) || !strncmp(name, "optim.", 6)) continue;
        int known = 0;
        for (int i = 0; i < net->nparams && !known; i++) known = !strcmp(net->params[i].v.t.name, name);
        if (!known)
            return sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s' is not part of %s (wrong network or width?)",
                            f->path, name, net->name);
    }
    return SEI_OK;
}
