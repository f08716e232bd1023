/* test_autograd.c - the tape on its own: a small graph using every op (including the ones the
 * three networks do not use: conv-transpose, avg-pool, dropout) checked against central
 * differences through the tape; seeding a backward at an intermediate tensor; gradient
 * accumulation over two backward passes; shape errors at op boundaries. */
#include <stdlib.h>
#include "autograd/tape.h"
#include "tests/harness.h"

typedef struct {
    Value x, w1, b1, g, be, w2, b2, wl, bl;  /* input and parameters */
    float rm[4], rv[4];
} Graph;

static float *alloc_fill(Value *v, int ndim, const int *shape, Rng *r, float scale, int rg) {
    memset(v, 0, sizeof *v);
    tensor_set_shape(&v->t, ndim, shape);
    size_t n = tensor_numel(&v->t);
    v->t.data = malloc(n * sizeof(float));
    v->grad = rg ? calloc(n, sizeof(float)) : NULL;
    v->requires_grad = rg;
    for (size_t i = 0; i < n; i++) v->t.data[i] = scale * rng_normal(r);
    return v->t.data;
}

/* x[2,3,7,6] -> conv 3x3/2 (4 ch) -> BN(train) -> relu -> convT 3x3/2 pad1 outpad1 (3 ch)
 * -> + x? (shapes: convT gives [2,3,8,6]... use avgpool to come back) -> avgpool 2/2 ceil
 * -> dropout -> flatten -> linear(->5) -> CE */
static Value *build(Tape *t, Graph *G, const int32_t *labels, Value **mid) {
    Value *h = ag_conv2d(t, &G->x, &G->w1, &G->b1, 2, 1, 1);        /* [2,4,4,3] */
    h = ag_batchnorm2d(t, h, &G->g, &G->be, G->rm, G->rv, 1e-5f, 0.1f);
    h = ag_relu(t, h, 1);
    if (mid) { *mid = h; h->retain_grad = 1; }
    Value *u = ag_conv_transpose2d(t, h, &G->w2, &G->b2, 2, 1, 1, 1); /* [2,3,8,6] */
    Value *p = ag_avgpool2d(t, u, 3, 2, 1, 1, 0);                      /* [2,3,5,4] */
    Value *q = ag_maxpool2d(t, u, 3, 2, 1, 1);                         /* [2,3,5,4] */
    Value *s = ag_add(t, p, q);
    s = ag_adaptive_avgpool2d(t, s, 3, 3);                             /* [2,3,3,3] */
    s = ag_dropout(t, s, 0.3f);
    Value *f = ag_flatten(t, s);                                       /* [2,27] */
    Value *y = ag_linear(t, f, &G->wl, &G->bl);
    return ag_softmax_ce(t, y, labels);
}

static double loss_of(Graph *G, const int32_t *labels, uint64_t seed) {
    Tape t;
    tape_init(&t, 0, 1, 1, seed);
    Value *l = build(&t, G, labels, NULL);
    double v = l ? l->t.data[0] : NAN;
    tape_free(&t);
    return v;
}

static void test_graph_gradcheck(void) {
    Rng r;
    rng_seed(&r, 3);
    Graph G;
    alloc_fill(&G.x, 4, (int[]){2, 3, 7, 6}, &r, 1, 1);
    alloc_fill(&G.w1, 4, (int[]){4, 3, 3, 3}, &r, 0.3f, 1);
    alloc_fill(&G.b1, 1, (int[]){4}, &r, 0.1f, 1);
    alloc_fill(&G.g, 1, (int[]){4}, &r, 0.2f, 1);
    alloc_fill(&G.be, 1, (int[]){4}, &r, 0.2f, 1);
    for (int i = 0; i < 4; i++) { G.g.t.data[i] += 1; G.rm[i] = 0; G.rv[i] = 1; }
    alloc_fill(&G.w2, 4, (int[]){4, 3, 3, 3}, &r, 0.3f, 1);
    alloc_fill(&G.b2, 1, (int[]){3}, &r, 0.1f, 1);
    alloc_fill(&G.wl, 2, (int[]){5, 27}, &r, 0.3f, 1);
    alloc_fill(&G.bl, 1, (int[]){5}, &r, 0.1f, 1);
    int32_t labels[2] = {4, 1};
    Value *all[9] = {&G.x, &G.w1, &G.b1, &G.g, &G.be, &G.w2, &G.b2, &G.wl, &G.bl};
    const char *names[9] = {"x", "w1", "b1", "gamma", "beta", "w2", "b2", "wl", "bl"};

    Tape t;
    tape_init(&t, 1, 1, 1, 42);  /* same dropout seed as loss_of: same mask */
    Value *mid;
    Value *l = build(&t, &G, labels, &mid);
    EXPECT(l && tape_backward(&t, l, NULL) == SEI_OK, "backward: %s", sei_last_error());
    EXPECT(mid->grad != NULL, "intermediate gradient not reachable");
    /* every element of every tensor by central differences (the graph is small) */
    for (int v = 0; v < 9; v++) {
        Value *p = all[v];
        double worst = 0, gmax = 0.05; /* floor: float32 loss noise over 2h is ~1e-4 */
        for (size_t i = 0; i < tensor_numel(&p->t); i++) {
            float keep = p->t.data[i];
            const float h = 1e-3f;
            p->t.data[i] = keep + h;
            double lp = loss_of(&G, labels, 42);
            p->t.data[i] = keep - h;
            double lm = loss_of(&G, labels, 42);
            p->t.data[i] = keep;
            double num = (lp - lm) / (2 * h);
            worst = fmax(worst, fabs(num - p->grad[i]));
            gmax = fmax(gmax, fabs(p->grad[i]));
        }
        EXPECT(worst <= 2e-2 * gmax, "%s: max |numeric - analytic| %.3g (largest grad %.3g)",
               names[v], worst, gmax);
    }
    /* a second backward accumulates into parameter gradients */
    float before = G.wl.grad[0];
    tape_free(&t);
    tape_init(&t, 1, 1, 1, 42);
    l = build(&t, &G, labels, NULL);
    tape_backward(&t, l, NULL);
    EXPECT(fabsf(G.wl.grad[0] - 2 * before) <= 1e-5f * fabsf(before) + 1e-7f,
           "gradients must accumulate: %g then %g", before, G.wl.grad[0]);
    tape_free(&t);
    for (int v = 0; v < 9; v++) { free(all[v]->t.data); free(all[v]->grad); }
}

/* seeding backward at an intermediate tensor gives the same gradient upstream as the
 * vector-Jacobian product computed by hand for a linear map */
static void test_seeded_backward(void) {
    Rng r;
    rng_seed(&r, 9);
    Value x, w;
    alloc_fill(&x, 2, (int[]){3, 4}, &r, 1, 1);
    alloc_fill(&w, 2, (int[]){2, 4}, &r, 1, 1);
    Tape t;
    tape_init(&t, 1, 0, 0, 0);
    Value *y = ag_linear(&t, &x, &w, NULL);
    float seed[6] = {1, 2, 3, 4, 5, 6};
    EXPECT(tape_backward(&t, y, seed) == SEI_OK, "seeded backward");
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++) {
            double want = seed[i * 2] * w.t.data[k] + seed[i * 2 + 1] * w.t.data[4 + k];
            EXPECT(fabs(x.grad[i * 4 + k] - want) < 1e-5, "dx[%d,%d]", i, k);
        }
    EXPECT(tape_backward(&t, y, NULL) != SEI_OK, "non-scalar backward without a seed must fail");
    tape_free(&t);
    free(x.t.data); free(x.grad); free(w.t.data); free(w.grad);
}

static void test_shape_errors(void) {
    Rng r;
    rng_seed(&r, 1);
    Value x, w, b, v3;
    alloc_fill(&x, 4, (int[]){1, 3, 5, 5}, &r, 1, 0);
    alloc_fill(&w, 4, (int[]){4, 2, 3, 3}, &r, 1, 0);
    alloc_fill(&b, 1, (int[]){5}, &r, 1, 0);
    alloc_fill(&v3, 2, (int[]){1, 75}, &r, 1, 0);
    snprintf(w.t.name, sizeof w.t.name, "layer.weight");
    Tape t;
    tape_init(&t, 0, 0, 0, 0);
    EXPECT(!ag_conv2d(&t, &x, &w, NULL, 1, 1, 1) && strstr(sei_last_error(), "layer.weight"),
           "channel mismatch: %s", sei_last_error());
    EXPECT(!ag_conv2d(&t, &v3, &w, NULL, 1, 1, 1), "2-d input to conv");
    Value w2;
    alloc_fill(&w2, 4, (int[]){4, 3, 7, 7}, &r, 1, 0);
    EXPECT(!ag_conv2d(&t, &x, &w2, NULL, 1, 0, 1), "kernel larger than input");
    EXPECT(!ag_linear(&t, &v3, &w, NULL), "linear with a 4-d weight");
    EXPECT(!ag_add(&t, &x, &v3), "add of different shapes");
    EXPECT(!ag_maxpool2d(&t, &x, 7, 1, 0, 0), "pool window larger than input");
    EXPECT(!ag_batchnorm2d(&t, &x, &b, NULL, NULL, NULL, 1e-5f, 0.1f), "BN with 5 channels on 3");
    int32_t bad[1] = {75};
    EXPECT(!ag_softmax_ce(&t, &v3, bad) && strstr(sei_last_error(), "label"), "label out of range");
    tape_free(&t);
    free(x.t.data); free(w.t.data); free(b.t.data); free(v3.t.data); free(w2.t.data);
}

int main(void) {
    RUN(test_graph_gradcheck);
    RUN(test_seeded_backward);
    RUN(test_shape_errors);
    return test_summary();
}
