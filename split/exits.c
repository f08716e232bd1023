/* exits.c - early-exit branches at cut points and the exit policy (see exits.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nets/train.h"
#include "split/exits.h"

sei_status exits_parse(ExitCfg *cfg, const char *list) {
    const char *s = list;
    while (s && *s) {
        const char *e = strchr(s, ',');
        const size_t len = e ? (size_t)(e - s) : strlen(s);
        if (!len || len >= SEI_NAME_LEN) return sei_fail(SEI_ERR_ARG, "--exit-at: bad cut point list '%s'", list);
        if (cfg->n == NET_MAX_EXITS) return sei_fail(SEI_ERR_ARG, "--exit-at: at most %d exits", NET_MAX_EXITS);
        char at[SEI_NAME_LEN];
        memcpy(at, s, len);
        at[len] = 0;
        for (int k = 0; k < cfg->n; k++)
            if (!strcmp(cfg->at[k], at)) return sei_fail(SEI_ERR_ARG, "--exit-at: two exits at %s", at);
        snprintf(cfg->at[cfg->n++], SEI_NAME_LEN, "%s", at);
        s = e ? e + 1 : NULL;
    }
    return SEI_OK;
}

static Layer *sub_layer(Layer *sub, int *n, LayerKind kind, const char *path) {
    Layer *l = &sub[(*n)++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->path, sizeof l->path, "%s", path);
    l->w = l->b = l->rm = l->rv = l->nbt = -1;
    return l;
}

/* the branch of exit K for an activation shape s [nd] (the L_EXIT layer's sub-layers) */
static sei_status build_branch(Net *net, Layer *e, const ExitCfg *cfg, int K, const int *s, int nd) {
    const int blocks = nd == 4 ? cfg->convs : 0;
    Layer *sub = calloc((size_t)(3 * blocks + 3), sizeof *sub);
    if (!sub) return sei_fail(SEI_ERR_NOMEM, "out of memory");
    int n = 0, c = s[1];
    char path[SEI_NAME_LEN];
    for (int b = 0; b < blocks; b++) {
        const int B = cfg->channels > 0 ? cfg->channels : s[1];
        snprintf(path, sizeof path, "exits.%d.%d", K, n);
        layer_conv(net, sub_layer(sub, &n, L_CONV, ""), path, c, B, 3, 1, 1, 0);
        snprintf(path, sizeof path, "exits.%d.%d", K, n);
        layer_bn(net, sub_layer(sub, &n, L_BN, ""), path, B);
        snprintf(path, sizeof path, "exits.%d.%d", K, n);
        sub_layer(sub, &n, L_RELU, path);
        c = B;
    }
    if (nd == 4) {
        snprintf(path, sizeof path, "exits.%d.%d", K, n);
        Layer *p = sub_layer(sub, &n, L_ADAPTIVE_AVGPOOL, path);
        p->oh = p->ow = 1;
        snprintf(path, sizeof path, "exits.%d.%d", K, n);
        sub_layer(sub, &n, L_FLATTEN, path);
    }
    snprintf(path, sizeof path, "exits.%d.%d", K, n);
    layer_linear(net, sub_layer(sub, &n, L_LINEAR, ""), path, c, net->classes);
    e->sub = sub;
    e->nsub = n;
    return SEI_OK;
}

sei_status exits_insert(Net *net, const ExitCfg *cfg, int first, int size, uint64_t seed) {
    if (cfg->convs < 0 || cfg->convs > 8 || cfg->channels < 0)
        return sei_fail(SEI_ERR_ARG, "exits: %d conv blocks of %d channels (0..8 blocks, channels >= 0)",
                        cfg->convs, cfg->channels);
    LayerInfo *li = calloc((size_t)net->nlayers + NET_MAX_EXITS, sizeof *li);
    if (!li) return sei_fail(SEI_ERR_NOMEM, "out of memory");
    sei_status st = SEI_OK;
    for (int K = first; K < cfg->n && !st; K++) {
        const int at = net_find_layer(net, cfg->at[K]);
        /* a cut point, or one a bottleneck replaced (the exit goes before its encoder) */
        const int bneck = at >= 0 && at + 1 < net->nlayers && !strncmp(net->layers[at + 1].path, "bottleneck.", 11);
        if (at < 0 || (!net->layers[at].cut && !bneck)) {
            st = sei_fail(SEI_ERR_ARG, "%s has no cut point '%s' for an exit (see sei layers)", net->name, cfg->at[K]);
            break;
        }
        if (at + 1 < net->nlayers && net->layers[at + 1].kind == L_EXIT) {
            st = sei_fail(SEI_ERR_ARG, "%s already has an exit at %s", net->name, cfg->at[K]);
            break;
        }
        if (net->nexits == NET_MAX_EXITS) {
            st = sei_fail(SEI_ERR_ARG, "%s: at most %d exits", net->name, NET_MAX_EXITS);
            break;
        }
        if ((st = net_shapes(net, 1, net->in_ch, size, size, li)) != SEI_OK) break;
        const LayerInfo s = li[at];
        const int start = net->nlayers;
        char path[SEI_NAME_LEN];
        snprintf(path, sizeof path, "exits.%d", K);
        Layer *e = net_add_layer(net, L_EXIT, path);
        e->exit = K;
        if ((st = build_branch(net, e, cfg, K, s.shape, s.ndim)) != SEI_OK) break;
        net_move_layers(net, at, start);
        net->nexits++;
    }
    free(li);
    if (st) return st;
    if ((st = net_refinish(net)) != SEI_OK) return st;
    Rng rng;
    rng_seed(&rng, seed ^ 0xe817e817ull);
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].kind == L_EXIT && net->layers[i].exit >= first) net_init_layer(net, &net->layers[i], &rng);
    return SEI_OK;
}

int exits_from_meta(const StFile *f, ExitCfg *cfg) {
    const char *list = st_meta(f, "exits");
    memset(cfg, 0, sizeof *cfg);
    if (!list || !*list) return 0;
    if (exits_parse(cfg, list) != SEI_OK || st_meta_int(f, "exit_convs", 0, 8, &cfg->convs) ||
        st_meta_int(f, "exit_channels", 0, 1 << 20, &cfg->channels)) {
        sei_fail(SEI_ERR_FORMAT, "%s: malformed exit metadata (exits, exit_convs, exit_channels)", f->path);
        return -1;
    }
    return 1;
}

int exits_meta(const ExitCfg *cfg, const char **keys, const char **vals,
               char buf[NET_MAX_EXITS * SEI_NAME_LEN + 40]) {
    size_t n = 0;
    for (int k = 0; k < cfg->n; k++) n += (size_t)sprintf(buf + n, "%s%s", k ? "," : "", cfg->at[k]);
    char *convs = buf + ++n, *chans = convs + 16;
    snprintf(convs, 16, "%d", cfg->convs);
    snprintf(chans, 16, "%d", cfg->channels);
    keys[0] = "exits", vals[0] = buf;
    keys[1] = "exit_convs", vals[1] = convs;
    keys[2] = "exit_channels", vals[2] = chans;
    return 3;
}

static void unmark(const Layer *l, unsigned char *mask) {
    const int idx[5] = {l->w, l->b, l->rm, l->rv, l->nbt};
    for (int k = 0; k < 5; k++)
        if (idx[k] >= 0) mask[idx[k]] = 0;
    for (int s = 0; s < l->nsub; s++) unmark(&l->sub[s], mask);
}

void exits_mask_before(const Net *net, int first, unsigned char *mask) {
    memset(mask, 1, (size_t)net->nparams);
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].kind == L_EXIT && net->layers[i].exit >= first) unmark(&net->layers[i], mask);
}

int exits_layers(const Net *net, int *idx) {
    int n = 0;
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].kind == L_EXIT) idx[n++] = i;
    return n;
}

double exit_score(const float *logits, int K, ExitPolicy p) {
    float m = logits[0];
    for (int k = 1; k < K; k++) m = logits[k] > m ? logits[k] : m;
    double z = 0, zl = 0;
    for (int k = 0; k < K; k++) {
        const double d = (double)logits[k] - m, e = exp(d);
        z += e, zl += e * d;
    }
    if (p == EXIT_MAXPROB) return 1.0 / z;
    return log(z) - zl / z; /* -sum p log p with p = e^d / z */
}

static int argmax(const float *l, int K) {
    int best = 0;
    for (int k = 1; k < K; k++)
        if (l[k] > l[best]) best = k;
    return best;
}

typedef struct {
    ExitRecord *r;
    int cap;                  /* images of the data set: exit j's entries start at j * cap */
    int order[NET_MAX_EXITS]; /* exit index of the j-th exit in network order */
} RecordCtx;

static sei_status record_batch(void *ctx, const Net *net, const float *logits, const int32_t *y, int n) {
    RecordCtx *c = ctx;
    ExitRecord *r = c->r;
    const int K = net->classes, i0 = r->n;
    if (i0 + n > c->cap) return sei_fail(SEI_ERR_ARG, "exits: more images than the data set holds");
    for (int i = 0; i < n; i++) {
        r->label[i0 + i] = y[i];
        r->final[i0 + i] = argmax(logits + (size_t)i * K, K);
    }
    for (int j = 0; j < r->nexits; j++) {
        const Value *e = net->exit_out[c->order[j]];
        if (!e) return sei_fail(SEI_ERR_ARG, "exit %d did not run", c->order[j]);
        for (int i = 0; i < n; i++) {
            const float *l = e->t.data + (size_t)i * K;
            const size_t at = (size_t)j * c->cap + i0 + i;
            r->pred[at] = argmax(l, K);
            r->maxprob[at] = (float)exit_score(l, K, EXIT_MAXPROB);
            r->entropy[at] = (float)exit_score(l, K, EXIT_ENTROPY);
        }
    }
    r->n += n;
    return SEI_OK;
}

sei_status exits_record(Net *net, const Dataset *d, const BatchConfig *bc, ExitRecord *r) {
    memset(r, 0, sizeof *r);
    RecordCtx c = {r, d->n, {0}};
    int idx[NET_MAX_EXITS];
    r->nexits = exits_layers(net, idx);
    if (!r->nexits) return sei_fail(SEI_ERR_ARG, "%s has no early exits (train with --exit-at)", net->name);
    for (int j = 0; j < r->nexits; j++) c.order[j] = net->layers[idx[j]].exit;
    const size_t n = d->n > 0 ? (size_t)d->n : 1, m = n * (size_t)r->nexits;
    r->label = malloc(n * sizeof *r->label), r->final = malloc(n * sizeof *r->final);
    r->pred = malloc(m * sizeof *r->pred);
    r->maxprob = malloc(m * sizeof *r->maxprob), r->entropy = malloc(m * sizeof *r->entropy);
    sei_status s = r->label && r->final && r->pred && r->maxprob && r->entropy
                       ? eval_batches(net, d, bc, record_batch, &c)
                       : sei_fail(SEI_ERR_NOMEM, "exits: out of memory");
    if (!s && r->n != d->n) s = sei_fail(SEI_ERR_ARG, "exits: %d of %d images seen", r->n, d->n);
    if (s) exits_record_free(r);
    return s;
}

void exits_record_free(ExitRecord *r) {
    free(r->label), free(r->final), free(r->pred), free(r->maxprob), free(r->entropy);
    memset(r, 0, sizeof *r);
}

void exits_at(const ExitRecord *r, ExitPolicy p, double tau, const double *exit_macs,
              double stay_macs, double stay_bytes, ExitPoint *pt) {
    memset(pt, 0, sizeof *pt);
    pt->tau = tau;
    long left[NET_MAX_EXITS] = {0}, right_left = 0, right = 0, nleft = 0;
    double macs = 0, bytes = 0;
    for (int i = 0; i < r->n; i++) {
        int pred = r->final[i], j;
        for (j = 0; j < r->nexits; j++) {
            const size_t at = (size_t)j * r->n + i;
            if (exit_takes(p == EXIT_MAXPROB ? r->maxprob[at] : r->entropy[at], tau, p)) break;
        }
        if (j < r->nexits) {
            pred = r->pred[(size_t)j * r->n + i];
            left[j]++, nleft++, right_left += pred == r->label[i];
            macs += exit_macs[j];
        } else {
            macs += stay_macs, bytes += stay_bytes;
        }
        right += pred == r->label[i];
    }
    const double n = r->n > 0 ? r->n : 1;
    for (int j = 0; j < r->nexits; j++) pt->share[j] = left[j] / n;
    pt->share_all = nleft / n;
    pt->exited_accuracy = nleft ? (double)right_left / nleft : NAN;
    pt->accuracy = right / n;
    pt->device_macs = macs / n;
    pt->bytes = bytes / n;
}
