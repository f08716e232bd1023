/* test_exits.c - early exits (split/exits.c): where the branches go and what they hold, that
 * they leave the main path's logits bit-identical, that a branch computes conv-BN-ReLU ->
 * mean -> linear of the cut's activation (against the naive kernels), the exit loss and its
 * weight (exact gradient scaling), frozen-backbone training, the policy arithmetic of
 * exits_at (shares, accuracies, multiply-adds, bytes) and the metadata round trip. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/safetensors.h"
#include "nets/train.h"
#include "split/exits.h"
#include "split/part.h"
#include "tests/harness.h"
#include "tests/snapshot.h"

static void make_net(Net *n) {
    EXPECT(net_create(n, "vgg16_bn", 5, 1, 0.0625f) == SEI_OK, "%s", sei_last_error());
    net_init(n, 3);
}

static ExitCfg two_exits(void) {
    ExitCfg c = {0};
    c.convs = 1;
    EXPECT(exits_parse(&c, "features.13,features.23") == SEI_OK, "%s", sei_last_error());
    return c;
}

static float *input(int N, unsigned seed) {
    float *x = malloc((size_t)N * 32 * 32 * sizeof *x);
    for (int i = 0; i < N * 32 * 32; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 8388608.0f - 1.0f;
    }
    return x;
}

/* eval-mode logits of n on x [N,1,32,32] into out [N*K] (recording: the unfused path);
 * returns how many exits left [N, K] logits in exit_out (valid while the tape lives) */
static int logits(Net *n, const float *x, int N, int recording, float *out) {
    Tape t;
    tape_init(&t, recording, 0, 0, 0);
    Tensor xt = {.ndim = 4, .shape = {N, 1, 32, 32}, .data = (float *)x};
    Value *y = net_forward(n, &t, tape_wrap(&t, &xt, 0), 0, n->nlayers, NULL);
    EXPECT(y && y->t.ndim == 2 && y->t.shape[1] == n->classes, "forward: %s", y ? "shape" : sei_last_error());
    if (y) memcpy(out, y->t.data, (size_t)N * n->classes * sizeof *out);
    int seen = 0;
    for (int k = 0; k < n->nexits; k++)
        seen += n->exit_out[k] && n->exit_out[k]->t.ndim == 2 && n->exit_out[k]->t.shape[0] == N &&
                n->exit_out[k]->t.shape[1] == n->classes;
    tape_free(&t);
    return seen;
}

static void test_insert(void) {
    Net a, b;
    make_net(&a);
    make_net(&b);
    const int nl = b.nlayers, np = b.nparams;
    ExitCfg c = two_exits();
    EXPECT(exits_insert(&b, &c, 0, 32, 5) == SEI_OK, "%s", sei_last_error());
    EXPECT(b.nlayers == nl + 2 && b.nexits == 2, "layers %d -> %d, exits %d", nl, b.nlayers, b.nexits);
    const int c13 = net_find_layer(&b, "features.13"), c23 = net_find_layer(&b, "features.23");
    EXPECT(b.layers[c13 + 1].kind == L_EXIT && b.layers[c13 + 1].exit == 0 && b.layers[c23 + 1].kind == L_EXIT &&
           b.layers[c23 + 1].exit == 1, "an exit right after each cut");
    /* features.13 at 32x32, width 1/16: [8, 8, 8]; branch conv 8->8, linear 8->5 */
    const Layer *e = &b.layers[c13 + 1];
    EXPECT(e->nsub == 6 && e->sub[0].kind == L_CONV && e->sub[5].kind == L_LINEAR, "branch layers (%d)", e->nsub);
    EXPECT(!strcmp(b.params[e->sub[0].w].v.t.name, "exits.0.0.weight") && b.params[e->sub[0].w].v.t.shape[0] == 8 &&
           !strcmp(b.params[e->sub[5].w].v.t.name, "exits.0.5.weight") && b.params[e->sub[5].w].v.t.shape[0] == 5 &&
           b.params[e->sub[5].w].v.t.shape[1] == 8, "branch parameter names and shapes");
    EXPECT(b.nparams > np, "no new parameters");
    /* the main path is untouched: same logits, bit for bit, fused and unfused */
    float *x = input(3, 7), ya[15], yb[15];
    for (int rec = 0; rec < 2; rec++) {
        EXPECT(logits(&a, x, 3, rec, ya) == 0, "exits without exits");
        EXPECT(logits(&b, x, 3, rec, yb) == 2, "exit logits not left in exit_out");
        EXPECT(!memcmp(ya, yb, sizeof ya), "exits changed the logits (recording %d)", rec);
    }
    /* a split at features.13 keeps its exit on the device side */
    NetPart h, t;
    EXPECT(part_cut(&b, "features.13", &h, &t) == SEI_OK && h.to == c13 + 2, "exit not in the head");
    /* errors: not a cut, a second exit at the same cut, duplicates in a list */
    ExitCfg bad = {0};
    bad.convs = 1;
    EXPECT(exits_parse(&bad, "features.11") == SEI_OK && exits_insert(&b, &bad, 0, 32, 5) == SEI_ERR_ARG,
           "an exit at a non-cut accepted");
    ExitCfg again = {0};
    again.convs = 1;
    EXPECT(exits_parse(&again, "features.23") == SEI_OK && exits_insert(&b, &again, 0, 32, 5) == SEI_ERR_ARG,
           "a second exit at features.23 accepted");
    ExitCfg dup = {0};
    EXPECT(exits_parse(&dup, "features.6,features.6") == SEI_ERR_ARG, "duplicate cut accepted");
    EXPECT(exits_parse(&dup, "features.6,,features.13") == SEI_ERR_ARG, "empty list entry accepted");
    free(x);
    net_free(&a);
    net_free(&b);
}

/* exit 0's logits against conv (naive) -> eval BN -> ReLU -> mean -> linear (naive) of the
 * activation at features.13 */
static void test_branch_values(void) {
    Net n;
    make_net(&n);
    ExitCfg c = two_exits();
    EXPECT(exits_insert(&n, &c, 0, 32, 5) == SEI_OK, "%s", sei_last_error());
    /* give the branch's BN non-trivial statistics */
    const int ie = net_find_layer(&n, "features.13") + 1;
    const Layer *e = &n.layers[ie], *cv = &e->sub[0], *bn = &e->sub[1], *fc = &e->sub[5];
    for (int k = 0; k < 8; k++) {
        n.params[bn->rm].v.t.data[k] = 0.1f * k - 0.3f;
        n.params[bn->rv].v.t.data[k] = 0.5f + 0.2f * k;
        n.params[bn->w].v.t.data[k] = 1.0f + 0.05f * k;
        n.params[bn->b].v.t.data[k] = 0.02f * k;
    }
    const int N = 2;
    float *x = input(N, 11);
    Tape t;
    tape_init(&t, 0, 0, 0, 0);
    Value **outs = calloc((size_t)n.nlayers, sizeof *outs);
    Tensor xt = {.ndim = 4, .shape = {N, 1, 32, 32}, .data = x};
    EXPECT(net_forward(&n, &t, tape_wrap(&t, &xt, 0), 0, n.nlayers, outs) != NULL, "%s", sei_last_error());
    const float *a = outs[ie - 1]->t.data; /* [N, 8, 8, 8] */
    Conv2dParams p;
    EXPECT(conv2d_params(&p, N, 8, 8, 8, 8, 3, 3, 1, 1, 1), "params");
    float *y = malloc((size_t)N * 8 * 64 * sizeof *y), pooled[2 * 8], ref[2 * 5];
    conv2d_forward_ref(y, a, n.params[cv->w].v.t.data, NULL, &p);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 8; k++) {
            const float g = n.params[bn->w].v.t.data[k], be = n.params[bn->b].v.t.data[k];
            const float m = n.params[bn->rm].v.t.data[k], v = n.params[bn->rv].v.t.data[k];
            double s = 0;
            for (int q = 0; q < 64; q++) {
                float z = (y[((size_t)i * 8 + k) * 64 + q] - m) / sqrtf(v + 1e-5f) * g + be;
                s += z > 0 ? z : 0;
            }
            pooled[i * 8 + k] = (float)(s / 64);
        }
    LinearParams lp = {N, 8, 5};
    linear_forward_ref(ref, pooled, n.params[fc->w].v.t.data, n.params[fc->b].v.t.data, &lp);
    const double err = rel_err(n.exit_out[0]->t.data, ref, (size_t)N * 5, 1e-3);
    EXPECT(err < 1e-5, "exit logits vs the naive branch: rel err %.3g", err);
    free(y);
    free(outs);
    free(x);
    tape_free(&t);
    net_free(&n);
}

/* gradients of the exit parameters after one train_step (lr 0: nothing moves) */
static float *exit_grads(Net *n, const float *x, const int32_t *y, float w, size_t *count) {
    Tape t;
    tape_init(&t, 1, 1, 1, 9);
    Optimizer o;
    OptConfig oc = optim_sgd(0.0f, 0.0f, 0.0f, 0);
    EXPECT(net_optim_init(n, &o, &oc) == SEI_OK, "%s", sei_last_error());
    double loss;
    int correct;
    EXPECT(train_step(n, &t, &o, x, y, 4, 32, w, &loss, &correct) == SEI_OK, "%s", sei_last_error());
    size_t k = 0;
    for (int i = 0; i < n->nparams; i++)
        if (!strncmp(n->params[i].v.t.name, "exits.", 6) && n->params[i].v.grad) k += tensor_numel(&n->params[i].v.t);
    float *g = malloc((k ? k : 1) * sizeof *g), *p = g;
    for (int i = 0; i < n->nparams; i++)
        if (!strncmp(n->params[i].v.t.name, "exits.", 6) && n->params[i].v.grad) {
            memcpy(p, n->params[i].v.grad, tensor_numel(&n->params[i].v.t) * sizeof *p);
            p += tensor_numel(&n->params[i].v.t);
        }
    *count = k;
    optim_free(&o);
    tape_free(&t);
    return g;
}

static void test_loss_weight_and_freezing(void) {
    Net n;
    make_net(&n);
    ExitCfg c = two_exits();
    EXPECT(exits_insert(&n, &c, 0, 32, 5) == SEI_OK, "%s", sei_last_error());
    float *x = input(4, 3);
    const int32_t y[4] = {0, 3, 1, 4};
    /* backbone frozen, exits trainable: the exit gradients scale exactly with the weight */
    net_freeze(&n, 0, n.nlayers, 1);
    for (int i = 0; i < n.nlayers; i++)
        if (n.layers[i].kind == L_EXIT) net_freeze(&n, i, i + 1, 0);
    size_t k1, k2;
    float *g1 = exit_grads(&n, x, y, 1.0f, &k1), *g2 = exit_grads(&n, x, y, 2.0f, &k2);
    int exact = k1 == k2 && k1 > 0, nonzero = 0;
    for (size_t i = 0; i < k1 && exact; i++) exact = g2[i] == 2 * g1[i], nonzero |= g1[i] != 0;
    EXPECT(exact && nonzero, "exit gradients at weight 2 are not exactly twice those at 1 (%zu, %zu)", k1, k2);
    free(g1);
    free(g2);
    /* SGD steps with the backbone frozen: only the exits move, BN statistics included */
    float *before = snapshot(&n);
    Tape t;
    tape_init(&t, 1, 1, 1, 9);
    Optimizer o;
    OptConfig oc = optim_sgd(0.1f, 0.9f, 0.0f, 0);
    EXPECT(net_optim_init(&n, &o, &oc) == SEI_OK, "%s", sei_last_error());
    double loss;
    int correct;
    for (int s = 0; s < 2; s++)
        EXPECT(train_step(&n, &t, &o, x, y, 4, 32, 1.0f, &loss, &correct) == SEI_OK, "%s", sei_last_error());
    size_t off = 0;
    int backbone_same = 1, exits_moved = 0;
    for (int i = 0; i < n.nparams; i++) {
        const size_t m = tensor_numel(&n.params[i].v.t);
        const int same = !memcmp(before + off, n.params[i].v.t.data, m * sizeof(float));
        if (!strncmp(n.params[i].v.t.name, "exits.", 6)) exits_moved |= !same;
        else if (!n.params[i].is_int) backbone_same &= same;
        off += m;
    }
    EXPECT(backbone_same, "a frozen backbone tensor changed");
    EXPECT(exits_moved, "the exits did not train");
    optim_free(&o);
    tape_free(&t);
    /* jointly: the backbone trains too */
    net_freeze(&n, 0, n.nlayers, 0);
    free(before);
    before = snapshot(&n);
    tape_init(&t, 1, 1, 1, 9);
    EXPECT(net_optim_init(&n, &o, &oc) == SEI_OK, "%s", sei_last_error());
    EXPECT(train_step(&n, &t, &o, x, y, 4, 32, 0.5f, &loss, &correct) == SEI_OK, "%s", sei_last_error());
    const int c0 = net_find_layer(&n, "features.0");
    EXPECT(n.params[n.layers[c0].w].v.t.data[0] != before[0], "joint training left the backbone unchanged");
    optim_free(&o);
    tape_free(&t);
    free(before);
    free(x);
    net_free(&n);
}

static void test_policy(void) {
    /* uniform logits: max softmax 1/K, entropy ln K; one dominant logit: ~1 and ~0 */
    const float u[4] = {1, 1, 1, 1}, d[4] = {40, 0, 0, 0};
    EXPECT(fabs(exit_score(u, 4, EXIT_MAXPROB) - 0.25) < 1e-12 && fabs(exit_score(u, 4, EXIT_ENTROPY) - log(4.0)) < 1e-12,
           "uniform scores");
    EXPECT(exit_score(d, 4, EXIT_MAXPROB) > 1 - 1e-12 && exit_score(d, 4, EXIT_ENTROPY) < 1e-12, "confident scores");
    /* 4 images, 2 exits. maxprob of exit 0: .9 .2 .6 .3; exit 1: .5 .95 .7 .4 */
    int32_t label[4] = {0, 1, 2, 3}, fin[4] = {0, 1, 2, 0}, pred[8] = {0, 2, 1, 3, 1, 1, 2, 3};
    float mp[8] = {.9f, .2f, .6f, .3f, .5f, .95f, .7f, .4f}, en[8];
    for (int i = 0; i < 8; i++) en[i] = 1 - mp[i];
    ExitRecord r = {4, 2, label, fin, pred, mp, en};
    const double em[2] = {10, 20};
    ExitPoint p;
    /* tau .65: image 0 leaves at exit 0 (right), 1 at exit 1 (right), 2 at exit 1 (right),
     * 3 stays (final says 0: wrong) */
    exits_at(&r, EXIT_MAXPROB, 0.65, em, 30, 100, &p);
    EXPECT(fabs(p.share[0] - 0.25) < 1e-12 && fabs(p.share[1] - 0.5) < 1e-12 && fabs(p.share_all - 0.75) < 1e-12,
           "shares %g %g", p.share[0], p.share[1]);
    EXPECT(fabs(p.exited_accuracy - 1) < 1e-12 && fabs(p.accuracy - 0.75) < 1e-12, "accuracy %g %g",
           p.exited_accuracy, p.accuracy);
    EXPECT(fabs(p.device_macs - (10 + 20 + 20 + 30) / 4.0) < 1e-9 && fabs(p.bytes - 25) < 1e-9, "macs %g bytes %g",
           p.device_macs, p.bytes);
    /* the entropy policy with tau = 1 - .65 takes the same decisions */
    ExitPoint q;
    exits_at(&r, EXIT_ENTROPY, 1 - 0.65, em, 30, 100, &q);
    EXPECT(q.share_all == p.share_all && q.accuracy == p.accuracy, "entropy policy differs");
    /* nobody leaves above every score: the final classifier alone, everything sent */
    exits_at(&r, EXIT_MAXPROB, 0.99, em, 30, 100, &p);
    EXPECT(p.share_all == 0 && isnan(p.exited_accuracy) && fabs(p.accuracy - 0.75) < 1e-12 && p.bytes == 100 &&
           p.device_macs == 30, "tau .99");
    /* everybody leaves at the first exit at tau 0 */
    exits_at(&r, EXIT_MAXPROB, 0, em, 30, 100, &p);
    EXPECT(p.share[0] == 1 && p.bytes == 0 && fabs(p.accuracy - 0.5) < 1e-12, "tau 0: %g", p.accuracy);
}

static void test_meta(void) {
    ExitCfg c = two_exits(), back;
    c.convs = 2, c.channels = 24;
    const char *k[3], *v[3];
    char buf[NET_MAX_EXITS * SEI_NAME_LEN + 40];
    EXPECT(exits_meta(&c, k, v, buf) == 3 && !strcmp(v[0], "features.13,features.23"), "meta %s", v[0]);
    char path[] = "/tmp/sei_exits_XXXXXX";
    int fd = mkstemp(path);
    EXPECT(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    StWriter w;
    st_writer_init(&w);
    const float one = 1;
    EXPECT(st_add(&w, "x", ST_F32, 1, (int64_t[]){1}, &one) == SEI_OK, "add");
    for (int i = 0; i < 3; i++) st_add_meta(&w, k[i], v[i]);
    EXPECT(st_write(&w, path) == SEI_OK, "%s", sei_last_error());
    st_writer_free(&w);
    StFile f;
    EXPECT(st_open(&f, path) == SEI_OK, "%s", sei_last_error());
    EXPECT(exits_from_meta(&f, &back) == 1 && back.n == 2 && !strcmp(back.at[1], "features.23") && back.convs == 2 &&
               back.channels == 24, "round trip");
    st_close(&f);
    /* malformed: convs out of range */
    st_writer_init(&w);
    st_add(&w, "x", ST_F32, 1, (int64_t[]){1}, &one);
    st_add_meta(&w, "exits", "features.13");
    st_add_meta(&w, "exit_convs", "99");
    st_add_meta(&w, "exit_channels", "0");
    EXPECT(st_write(&w, path) == SEI_OK, "%s", sei_last_error());
    st_writer_free(&w);
    EXPECT(st_open(&f, path) == SEI_OK, "%s", sei_last_error());
    EXPECT(exits_from_meta(&f, &back) == -1, "malformed exit metadata accepted");
    st_close(&f);
    remove(path);
}

int main(void) {
    RUN(test_insert);
    RUN(test_branch_values);
    RUN(test_loss_weight_and_freezing);
    RUN(test_policy);
    RUN(test_meta);
    return test_summary();
}
