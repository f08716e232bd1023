/* test_ops.c - tests for the non-conv ops in kernels/ops.h: linear, relu, add, dropout,
 * max/avg/adaptive-avg pooling, batch norm, softmax cross-entropy.
 *
 * Three layers: (1) hand-computed or PyTorch-computed values, hard-coded with the torch call
 * that produced them (torch 1.13, CPU); (2) central-difference gradient checks of
 * L = sum(out * r) for a random r, in double, for every input of every op (points where a
 * perturbation crosses a kink - relu at 0, a max-pool argmax change - are skipped);
 * (3) fast vs reference kernels (linear) on awkward sizes. Gradient buffers are pre-filled
 * with GFILL before backward, so the checks also prove that backward accumulates (+=). */
#include <stdint.h>
#include <stdlib.h>
#include "kernels/dispatch.h"
#include "kernels/ops.h"
#include "tests/harness.h"

#define GFILL 0.5f

static Rng R;

/* every buffer a test allocates is tracked; release() frees them all at its end */
static void *live[64];
static int nlive;
static void *track(void *p) {
    if (!p || nlive == 64) { fprintf(stderr, "test_ops: out of memory / buffers\n"); exit(2); }
    return live[nlive++] = p;
}
static void release(void) {
    while (nlive) free(live[--nlive]);
}
static float *vec(size_t n) { return track(calloc(n ? n : 1, sizeof(float))); }
static float *randv(size_t n, float scale) {
    float *x = vec(n);
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(&R) * scale;
    return x;
}
static float *fillv(size_t n, float v) {
    float *x = vec(n);
    for (size_t i = 0; i < n; i++) x[i] = v;
    return x;
}
static double dotd(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* ---------------------------------------------------------------- gradient check */

/* A case embeds GradCase first; loss() runs the forward on the case's current buffers and
 * returns sum(out * r) in double; it sets kink when the perturbed point (element `at` of
 * the input being checked) straddles a non-differentiable point. */
typedef struct GradCase {
    double (*loss)(struct GradCase *c);
    int kink;
    size_t at;
} GradCase;

/* max |numeric - analytic| / max(max|analytic|, 1e-3) over x[0..n); g holds the analytic
 * gradient plus GFILL (backward accumulated into a pre-filled buffer). */
static double gradcheck(GradCase *c, float *x, const float *g, size_t n, float h, int *nskip) {
    double err = 0, gmax = 1e-3;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)g[i] - GFILL) > gmax) gmax = fabs((double)g[i] - GFILL);
    for (size_t i = 0; i < n; i++) {
        const float x0 = x[i], xp = x0 + h, xm = x0 - h;
        c->kink = 0;
        c->at = i;
        x[i] = xp;
        double lp = c->loss(c);
        x[i] = xm;
        double lm = c->loss(c);
        x[i] = x0;
        if (c->kink) { if (nskip) (*nskip)++; continue; }
        double num = (lp - lm) / ((double)xp - (double)xm);
        double e = fabs(num - ((double)g[i] - GFILL)) / gmax;
        if (e > err || e != e) err = e; /* a NaN sticks */
    }
    return err;
}

/* ---------------------------------------------------------------- linear */

typedef struct { GradCase gc; LinearParams p; float *in, *w, *b, *out, *r; } LinCase;
static double lin_loss(GradCase *g) {
    LinCase *c = (LinCase *)g;
    linear_forward(c->out, c->in, c->w, c->b, &c->p);
    return dotd(c->out, c->r, (size_t)c->p.N * c->p.O);
}

static void test_linear_gradcheck(void) {
    LinearParams p = {3, 5, 4};
    LinCase c = {{.loss = lin_loss}, p, randv(15, 1), randv(20, 1), randv(4, 1), vec(12),
                 randv(12, 1)};
    float *din = fillv(15, GFILL), *dw = fillv(20, GFILL), *db = fillv(4, GFILL);
    linear_backward(din, dw, db, c.r, c.in, c.w, &p);
    double e1 = gradcheck(&c.gc, c.in, din, 15, 1e-2f, NULL);
    double e2 = gradcheck(&c.gc, c.w, dw, 20, 1e-2f, NULL);
    double e3 = gradcheck(&c.gc, c.b, db, 4, 1e-2f, NULL);
    EXPECT(e1 < 1e-4 && e2 < 1e-4 && e3 < 1e-4, "errors in %g w %g b %g", e1, e2, e3);
    /* known value: out = in . w + b */
    float in1[2] = {1, 2}, w1[4] = {3, 4, -1, 0.5f}, b1[2] = {0.25f, -1}, o1[2];
    LinearParams p1 = {1, 2, 2};
    linear_forward(o1, in1, w1, b1, &p1);
    EXPECT(o1[0] == 11.25f && o1[1] == -1.0f, "known linear %g %g", o1[0], o1[1]);
    release();
}

static void test_linear_fast_vs_ref(void) {
    static const int sz[][3] = {{1, 1, 1}, {1, 3, 17}, {3, 17, 1}, {17, 129, 3}, {129, 3, 17},
                                {5, 129, 129}, {33, 64, 17}, {2, 300, 7}, {65, 1, 33}};
    for (size_t t = 0; t < sizeof sz / sizeof sz[0]; t++) {
        LinearParams p = {sz[t][0], sz[t][1], sz[t][2]};
        size_t ni = (size_t)p.N * p.I, nw = (size_t)p.O * p.I, no = (size_t)p.N * p.O;
        float *in = randv(ni, 1), *w = randv(nw, 1), *b = randv(p.O, 1), *dy = randv(no, 1);
        float *o1 = vec(no), *o2 = vec(no);
        for (int bias = 0; bias < 2; bias++) {
            linear_forward(o1, in, w, bias ? b : NULL, &p);
            linear_forward_ref(o2, in, w, bias ? b : NULL, &p);
            double e = rel_err(o1, o2, no, 1e-6);
            EXPECT(e < 1e-5, "fwd N=%d I=%d O=%d bias=%d err %g", p.N, p.I, p.O, bias, e);
        }
        float *a[3] = {fillv(ni, GFILL), fillv(nw, GFILL), fillv(p.O, GFILL)};
        float *r[3] = {fillv(ni, GFILL), fillv(nw, GFILL), fillv(p.O, GFILL)};
        linear_backward(a[0], a[1], a[2], dy, in, w, &p);
        linear_backward_ref(r[0], r[1], r[2], dy, in, w, &p);
        size_t n3[3] = {ni, nw, (size_t)p.O};
        for (int k = 0; k < 3; k++) {
            double e = rel_err(a[k], r[k], n3[k], 1e-6);
            EXPECT(e < 1e-5, "bwd N=%d I=%d O=%d grad %d err %g", p.N, p.I, p.O, k, e);
        }
        /* NULL gradients are skipped and leave the others unchanged */
        float *d2 = fillv(nw, GFILL);
        linear_backward(NULL, d2, NULL, dy, in, w, &p);
        EXPECT(rel_err(d2, a[1], nw, 1e-6) == 0, "dw alone differs N=%d", p.N);
        release();
    }
}

static void test_ref_switch(void) {
    LinearParams p = {7, 33, 5};
    float *in = randv(7 * 33, 1), *w = randv(5 * 33, 1), *o1 = vec(35), *o2 = vec(35);
    sei_kernels_ref = 1;
    linear_forward(o1, in, w, NULL, &p);
    sei_kernels_ref = 0;
    linear_forward_ref(o2, in, w, NULL, &p);
    EXPECT(memcmp(o1, o2, sizeof(float) * 35) == 0, "sei_kernels_ref=1 did not route to ref");
    setenv("SEI_REF", "1", 1);
    sei_kernels_init();
    EXPECT(sei_kernels_ref == 1, "SEI_REF=1 ignored");
    setenv("SEI_REF", "0", 1);
    sei_kernels_init();
    EXPECT(sei_kernels_ref == 0, "SEI_REF=0 ignored");
    unsetenv("SEI_REF");
    sei_kernels_ref = 0;
    release();
}

/* ---------------------------------------------------------------- elementwise */

typedef struct { GradCase gc; size_t n; float *a, *b, *out, *r; float h; } EwCase;
static double relu_loss(GradCase *g) {
    EwCase *c = (EwCase *)g;
    if (fabsf(c->a[g->at]) < 2 * c->h) g->kink = 1; /* x0 +- h may cross 0 */
    relu_forward(c->out, c->a, c->n);
    return dotd(c->out, c->r, c->n);
}
static double add_loss(GradCase *g) {
    EwCase *c = (EwCase *)g;
    add_forward(c->out, c->a, c->b, c->n);
    return dotd(c->out, c->r, c->n);
}

static void test_relu(void) {
    /* torch.relu([nan, -0., 0., -1., 2.]) = [nan, -0., 0., 0., 2.]; backward with ones gives
     * [1, 0, 0, 0, 1] (threshold_backward passes the NaN) */
    float x[5] = {NAN, -0.0f, 0.0f, -1.0f, 2.0f}, y[5], d[5] = {0};
    const float ones[5] = {1, 1, 1, 1, 1};
    relu_forward(y, x, 5);
    EXPECT(isnan(y[0]) && y[1] == 0 && signbit(y[1]) && y[2] == 0 && !signbit(y[2]) &&
               y[3] == 0 && y[4] == 2, "relu values");
    relu_backward(d, ones, y, 5);
    EXPECT(d[0] == 1 && d[1] == 0 && d[2] == 0 && d[3] == 0 && d[4] == 1, "relu grad mask");
    relu_forward(x, x, 5); /* in place */
    EXPECT(x[3] == 0 && x[4] == 2, "relu in place");

    EwCase c = {{.loss = relu_loss}, 40, randv(40, 1), NULL, vec(40), randv(40, 1), 1e-3f};
    for (int i = 0; i < 40; i++) /* exactly one point at the kink */
        if (fabsf(c.a[i]) < 0.01f) c.a[i] = 0.5f;
    c.a[7] = 5e-4f;
    float *g = fillv(40, GFILL);
    relu_forward(c.out, c.a, 40);
    relu_backward(g, c.r, c.out, 40);
    int skip = 0;
    double e = gradcheck(&c.gc, c.a, g, 40, c.h, &skip);
    EXPECT(e < 1e-4 && skip == 1, "relu gradcheck err %g skipped %d", e, skip);
    release();
}

static void test_add(void) {
    EwCase c = {{.loss = add_loss}, 30, randv(30, 1), randv(30, 1), vec(30), randv(30, 1), 1e-2f};
    float *ga = fillv(30, GFILL), *gb = fillv(30, GFILL);
    add_backward(ga, gb, c.r, 30);
    double e1 = gradcheck(&c.gc, c.a, ga, 30, 1e-2f, NULL);
    double e2 = gradcheck(&c.gc, c.b, gb, 30, 1e-2f, NULL);
    EXPECT(e1 < 1e-4 && e2 < 1e-4, "add gradcheck %g %g", e1, e2);
    /* x + x: both gradients land in the same buffer; NULL skips */
    float *gx = fillv(30, 0);
    add_backward(gx, gx, c.r, 30);
    add_backward(NULL, gx, c.r, 30);
    int ok = 1;
    for (int i = 0; i < 30; i++) ok &= gx[i] == c.r[i] + c.r[i] + c.r[i];
    EXPECT(ok, "aliased / NULL add_backward");
    float a = c.a[0], b = c.b[0];
    add_forward(c.a, c.a, c.b, 30); /* out aliases a */
    EXPECT(c.a[0] == a + b, "add in place");
    release();
}

typedef struct {
    GradCase gc;
    size_t n;
    float p;
    uint64_t seed;
    float *in, *out, *r;
    uint8_t *m;
} DoCase;
static double do_loss(GradCase *g) {
    DoCase *c = (DoCase *)g;
    Rng r;
    rng_seed(&r, c->seed); /* the same mask every call */
    dropout_forward(c->out, c->m, c->in, c->n, c->p, &r);
    return dotd(c->out, c->r, c->n);
}

static void test_dropout(void) {
    enum { n = 20000 };
    float *in = randv(n, 1), *out = vec(n), *d = fillv(n, GFILL);
    uint8_t *m = track(malloc(n));
    Rng r, r0;
    rng_seed(&r, 7);
    r0 = r;
    dropout_forward(out, m, in, n, 0.0f, &r); /* p = 0: identity, no draws */
    int ok = memcmp(&r, &r0, sizeof r) == 0 && memcmp(out, in, sizeof(float) * n) == 0;
    for (int i = 0; i < n; i++) ok &= m[i] == 1;
    EXPECT(ok, "p=0 is not the identity");
    dropout_forward(out, m, in, n, 0.5f, &r);
    int kept = 0;
    ok = 1;
    for (int i = 0; i < n; i++) {
        kept += m[i];
        ok &= m[i] ? out[i] == in[i] * 2.0f : out[i] == 0.0f;
    }
    EXPECT(ok, "p=0.5 outputs are not in*2 / 0");
    EXPECT(abs(kept - n / 2) < 400, "kept %d of %d at p=0.5", kept, n);
    /* same seed, same mask */
    uint8_t *m2 = track(malloc(n));
    rng_seed(&r, 7); dropout_forward(out, m, in, n, 0.3f, &r);
    rng_seed(&r, 7); dropout_forward(out, m2, in, n, 0.3f, &r);
    EXPECT(memcmp(m, m2, n) == 0, "dropout mask not deterministic");
    /* scale as PyTorch: F.dropout(torch.ones(1), p, True) when kept gives 10.0 for p=0.9
     * and 1.4285714626312256 for p=0.3 */
    float one = 1, o;
    uint8_t k;
    const float ps[2] = {0.9f, 0.3f}, want[2] = {10.0f, 1.4285714626312256f};
    for (int t = 0; t < 2; t++) {
        do dropout_forward(&o, &k, &one, 1, ps[t], &r); while (!k);
        EXPECT(o == want[t], "dropout(p=%g) scale %.9g, want %.9g", ps[t], o, want[t]);
    }
    /* gradient with a fixed mask */
    DoCase c = {{.loss = do_loss}, 50, 0.4f, 11, randv(50, 1), vec(50), randv(50, 1), m};
    do_loss(&c.gc);
    dropout_backward(d, c.r, c.m, 50, c.p);
    double e = gradcheck(&c.gc, c.in, d, 50, 1e-2f, NULL);
    EXPECT(e < 1e-4, "dropout gradcheck %g", e);
    for (int i = 0; i < 50; i++) d[i] = 0;
    dropout_backward(d, c.r, c.m, 50, 0.0f);
    EXPECT(memcmp(d, c.r, sizeof(float) * 50) == 0, "p=0 backward is not dout");
    release();
}

/* ---------------------------------------------------------------- pooling */

static void test_pool_params(void) {
    /* F.max_pool2d(torch.zeros(1,1,H,H), k, s, p, ceil_mode=c).shape[-1] for c = F, T */
    static const int cases[][6] = {
        {7, 3, 2, 1, 4, 4},     {6, 2, 2, 0, 3, 3},   {5, 2, 2, 1, 3, 3},
        {5, 3, 3, 1, 2, 2},     /* ceil gives 3, its window starts in the padding: dropped */
        {112, 3, 2, 1, 56, 57}, {224, 2, 2, 0, 112, 112}, {4, 3, 2, 1, 2, 3},
        {1, 1, 1, 0, 1, 1},     {13, 3, 2, 0, 6, 6},  {8, 4, 3, 2, 3, 4}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
        for (int ceil = 0; ceil < 2; ceil++) {
            const int *c = cases[t];
            Pool2dParams q;
            int ok = pool2d_params(&q, 2, 3, c[0], c[0], c[1], c[2], c[3], ceil, 1);
            EXPECT(ok && q.OH == c[4 + ceil] && q.OW == c[4 + ceil],
                   "H=%d k=%d s=%d p=%d ceil=%d: OH %d want %d", c[0], c[1], c[2], c[3], ceil,
                   q.OH, c[4 + ceil]);
        }
    Pool2dParams p;
    EXPECT(!pool2d_params(&p, 1, 1, 8, 8, 0, 1, 0, 0, 1), "k=0 accepted");
    EXPECT(!pool2d_params(&p, 1, 1, 8, 8, 2, 0, 0, 0, 1), "stride 0 accepted");
    EXPECT(!pool2d_params(&p, 1, 1, 8, 8, 3, 1, 2, 0, 1), "pad > k/2 accepted");
    EXPECT(!pool2d_params(&p, 1, 1, 1, 1, 5, 1, 1, 0, 1), "empty output accepted");
    EXPECT(!pool2d_params(&p, 1, 0, 8, 8, 2, 2, 0, 0, 1), "C=0 accepted");
}

static void test_maxpool_known(void) {
    /* F.max_pool2d(x, 2, 2, return_indices=True) on this x gives [[3, 3], [nan, -inf]] with
     * indices [[1, 2], [8, 10]]: ties keep the first, NaN wins, all -inf reports the first */
    const float x[16] = {1, 3, 3, 0, 2, 3, 1, 1, NAN, 0, -INFINITY, -INFINITY,
                         0, 0, -INFINITY, -INFINITY};
    float y[4], d[16] = {0};
    int32_t am[4];
    Pool2dParams p;
    pool2d_params(&p, 1, 1, 4, 4, 2, 2, 0, 0, 1);
    maxpool2d_forward(y, am, x, &p);
    EXPECT(y[0] == 3 && y[1] == 3 && isnan(y[2]) && y[3] == -INFINITY, "maxpool values");
    EXPECT(am[0] == 1 && am[1] == 2 && am[2] == 8 && am[3] == 10, "argmax %d %d %d %d",
           am[0], am[1], am[2], am[3]);
    /* -inf padding: F.max_pool2d(-arange(1,10).reshape(1,1,3,3), 3, 2, 1) = [[-1,-2],[-4,-5]],
     * indices [[0,1],[3,4]] (zero padding would give 0) */
    float xn[9], yn[4];
    for (int i = 0; i < 9; i++) xn[i] = -(float)(i + 1);
    pool2d_params(&p, 1, 1, 3, 3, 3, 2, 1, 0, 1);
    maxpool2d_forward(yn, am, xn, &p);
    EXPECT(yn[0] == -1 && yn[1] == -2 && yn[2] == -4 && yn[3] == -5 && am[3] == 4,
           "padded maxpool %g %g %g %g", yn[0], yn[1], yn[2], yn[3]);
    /* overlapping windows that share one argmax accumulate into it */
    float xc[9] = {0, 0, 0, 0, 9, 0, 0, 0, 0}, yc[9], dy[9];
    int32_t amc[9];
    pool2d_params(&p, 1, 1, 3, 3, 3, 1, 1, 0, 1);
    maxpool2d_forward(yc, amc, xc, &p);
    for (int i = 0; i < 9; i++) dy[i] = (float)(i + 1);
    maxpool2d_backward(d, dy, amc, &p);
    EXPECT(d[4] == 45 && d[0] == 0, "maxpool backward accumulate %g", d[4]);
}

typedef struct { GradCase gc; Pool2dParams p; AdaptivePoolParams ap; int kind;
                 float *in, *out, *r; int32_t *am, *am0; } PoolCase;
static double pool_loss(GradCase *g) {
    PoolCase *c = (PoolCase *)g;
    size_t no;
    if (c->kind == 0) {
        no = (size_t)c->p.N * c->p.C * c->p.OH * c->p.OW;
        maxpool2d_forward(c->out, c->am, c->in, &c->p);
        if (c->am0 && memcmp(c->am, c->am0, no * sizeof(int32_t)) != 0) g->kink = 1;
    } else if (c->kind == 1) {
        no = (size_t)c->p.N * c->p.C * c->p.OH * c->p.OW;
        avgpool2d_forward(c->out, c->in, &c->p);
    } else {
        no = (size_t)c->ap.N * c->ap.C * c->ap.OH * c->ap.OW;
        adaptive_avgpool2d_forward(c->out, c->in, &c->ap);
    }
    return dotd(c->out, c->r, no);
}

/* kind 0 max, 1 avg (params from pool2d_params), 2 adaptive (ap) */
static double pool_gradcheck(int kind, Pool2dParams p, AdaptivePoolParams ap, int *nskip) {
    int N = kind == 2 ? ap.N : p.N, C = kind == 2 ? ap.C : p.C;
    int H = kind == 2 ? ap.H : p.H, W = kind == 2 ? ap.W : p.W;
    size_t ni = (size_t)N * C * H * W;
    size_t no = (size_t)N * C * (kind == 2 ? ap.OH * ap.OW : p.OH * p.OW);
    PoolCase c = {{.loss = pool_loss}, p, ap, kind, vec(ni), vec(no), randv(no, 1),
                  track(calloc(no, 4)), NULL};
    /* max pool: distinct values 0.05 apart (shuffled), so h = 1e-2 never creates a tie;
     * the linear pools get small normal values (less rounding in the differences) */
    for (size_t i = 0; i < ni; i++)
        c.in[i] = kind == 0 ? 0.05f * (float)i - 1.0f : rng_normal(&R);
    for (size_t i = ni; kind == 0 && i > 1; i--) {
        size_t j = rng_below(&R, (uint32_t)i);
        float t = c.in[i - 1]; c.in[i - 1] = c.in[j]; c.in[j] = t;
    }
    float *g = fillv(ni, GFILL);
    pool_loss(&c.gc);
    if (kind == 0) {
        c.am0 = track(malloc(no * 4));
        memcpy(c.am0, c.am, no * 4);
        maxpool2d_backward(g, c.r, c.am, &p);
    } else if (kind == 1) {
        avgpool2d_backward(g, c.r, &p);
    } else {
        adaptive_avgpool2d_backward(g, c.r, &ap);
    }
    double e = gradcheck(&c.gc, c.in, g, ni, 1e-2f, nskip);
    release();
    return e;
}

static const int pool_cfg[][6] = { /* H, W, k, stride, pad, ceil */
    {7, 9, 3, 2, 1, 0}, {7, 9, 3, 2, 1, 1}, {6, 5, 2, 2, 1, 1}, {5, 5, 3, 3, 1, 1},
    {4, 4, 3, 2, 1, 1}, {5, 6, 3, 1, 1, 0}, {6, 6, 2, 2, 0, 0}, {5, 7, 4, 3, 2, 1}};

static void test_maxpool_gradcheck(void) {
    AdaptivePoolParams ap = {0};
    for (size_t t = 0; t < sizeof pool_cfg / sizeof pool_cfg[0]; t++) {
        const int *q = pool_cfg[t];
        Pool2dParams p;
        EXPECT(pool2d_params(&p, 2, 2, q[0], q[1], q[2], q[3], q[4], q[5], 1), "cfg %zu", t);
        int skip = 0;
        double e = pool_gradcheck(0, p, ap, &skip);
        EXPECT(e < 1e-3 && skip < 4, "maxpool cfg %zu err %g skipped %d", t, e, skip);
    }
    release();
}

static void test_avgpool_known(void) {
    /* x = torch.arange(1., 17.).reshape(1,1,4,4); F.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
     * count_include_pad=c): c=True [[14/9, 30/9, 2], [57/9, 11, 6], [4.5, 7.5, 4]]
     * (the last column/row divides by 6 = 3x2: padding counted, ceil overhang not);
     * c=False [[3.5, 5, 6], [9.5, 11, 12], [13.5, 15, 16]] */
    float x[16], y[9];
    for (int i = 0; i < 16; i++) x[i] = (float)(i + 1);
    const float want1[9] = {14.0f / 9, 30.0f / 9, 2, 57.0f / 9, 11, 6, 4.5f, 7.5f, 4};
    const float want0[9] = {3.5f, 5, 6, 9.5f, 11, 12, 13.5f, 15, 16};
    for (int cip = 0; cip < 2; cip++) {
        Pool2dParams p;
        pool2d_params(&p, 1, 1, 4, 4, 3, 2, 1, 1, cip);
        avgpool2d_forward(y, x, &p);
        EXPECT(p.OH == 3 && memcmp(y, cip ? want1 : want0, sizeof y) == 0,
               "avgpool cip=%d: %g %g %g / %g %g %g / %g %g %g", cip, y[0], y[1], y[2], y[3],
               y[4], y[5], y[6], y[7], y[8]);
    }
    /* ceil mode without padding: F.avg_pool2d(arange(1.,10.).reshape(1,1,3,3), 2, 2,
     * ceil_mode=True) = [[3, 4.5], [7.5, 9]] (overhang not counted) */
    Pool2dParams p;
    pool2d_params(&p, 1, 1, 3, 3, 2, 2, 0, 1, 1);
    avgpool2d_forward(y, x, &p);
    EXPECT(y[0] == 3 && y[1] == 4.5f && y[2] == 7.5f && y[3] == 9, "ceil avgpool %g %g %g %g",
           y[0], y[1], y[2], y[3]);
}

static void test_avgpool_gradcheck(void) {
    AdaptivePoolParams ap = {0};
    for (size_t t = 0; t < sizeof pool_cfg / sizeof pool_cfg[0]; t++)
        for (int cip = 0; cip < 2; cip++) {
            const int *q = pool_cfg[t];
            Pool2dParams p;
            pool2d_params(&p, 2, 2, q[0], q[1], q[2], q[3], q[4], q[5], cip);
            double e = pool_gradcheck(1, p, ap, NULL);
            EXPECT(e < 1e-3, "avgpool cfg %zu cip %d err %g", t, cip, e);
        }
    release();
}

static void test_adaptive_known(void) {
    float x[25], y[49];
    for (int i = 0; i < 25; i++) x[i] = (float)i;
    /* F.adaptive_avg_pool2d(torch.arange(25.).reshape(1,1,5,5), 3): rows [0,2) [1,4) [3,5) */
    const float w53[9] = {3, 4.5f, 6, 10.5f, 12, 13.5f, 18, 19.5f, 21};
    AdaptivePoolParams p = {1, 1, 5, 5, 3, 3};
    adaptive_avgpool2d_forward(y, x, &p);
    EXPECT(memcmp(y, w53, sizeof w53) == 0, "5->3 %g %g %g", y[0], y[1], y[4]);
    /* F.adaptive_avg_pool2d(torch.tensor([[[[1.,2.],[3.,5.]]]]), 7): rows 0-2 -> input row
     * 0, row 3 -> mean of both, rows 4-6 -> row 1; same for columns */
    const float x2[4] = {1, 2, 3, 5}, r2[7] = {1, 1, 1, 1.5f, 2, 2, 2};
    const float m2[7] = {2, 2, 2, 2.75f, 3.5f, 3.5f, 3.5f}, s2[7] = {3, 3, 3, 4, 5, 5, 5};
    p = (AdaptivePoolParams){1, 1, 2, 2, 7, 7};
    adaptive_avgpool2d_forward(y, x2, &p);
    int ok = 1;
    for (int j = 0; j < 7; j++) ok &= y[j] == r2[j] && y[21 + j] == m2[j] && y[42 + j] == s2[j];
    EXPECT(ok && y[7] == y[0] && y[14] == y[0] && y[35] == y[28], "2->7 values");
    /* F.adaptive_avg_pool2d(torch.arange(9.).reshape(1,1,3,3), 7), row 2:
     * [1.5, 1.5, 2, 2.5, 3, 3.5, 3.5] */
    const float r3[7] = {1.5f, 1.5f, 2, 2.5f, 3, 3.5f, 3.5f};
    p = (AdaptivePoolParams){1, 1, 3, 3, 7, 7};
    adaptive_avgpool2d_forward(y, x, &p);
    EXPECT(memcmp(y + 14, r3, sizeof r3) == 0 && y[0] == 0 && y[48] == 8, "3->7 values");
    /* 1x1 -> 7x7 replicates; backward sums all 49 gradients into the one input */
    float one = 2.5f, dx = 0, dy[49];
    p = (AdaptivePoolParams){1, 1, 1, 1, 7, 7};
    adaptive_avgpool2d_forward(y, &one, &p);
    ok = 1;
    for (int i = 0; i < 49; i++) { ok &= y[i] == 2.5f; dy[i] = 1; }
    adaptive_avgpool2d_backward(&dx, dy, &p);
    EXPECT(ok && dx == 49, "1->7 replicate, grad %g", dx);
    /* global average (1x1 output) */
    p = (AdaptivePoolParams){1, 1, 5, 5, 1, 1};
    adaptive_avgpool2d_forward(y, x, &p);
    EXPECT(y[0] == 12, "5->1 mean %g", y[0]);
}

static void test_adaptive_gradcheck(void) {
    static const int cfg[][4] = {{5, 7, 3, 4}, {2, 3, 7, 7}, {7, 7, 1, 1}, {6, 6, 2, 3},
                                 {3, 3, 7, 7}, {1, 1, 7, 7}, {4, 9, 4, 5}};
    Pool2dParams p = {0};
    for (size_t t = 0; t < sizeof cfg / sizeof cfg[0]; t++) {
        AdaptivePoolParams ap = {2, 3, cfg[t][0], cfg[t][1], cfg[t][2], cfg[t][3]};
        double e = pool_gradcheck(2, p, ap, NULL);
        EXPECT(e < 1e-3, "adaptive %dx%d->%dx%d err %g", ap.H, ap.W, ap.OH, ap.OW, e);
    }
    release();
}

/* ---------------------------------------------------------------- batch norm */

typedef struct {
    GradCase gc;
    BatchNormParams p;
    float *in, *g, *b, *out, *r, *sm, *sr, *rm, *rv;
} BnCase;
static double bn_loss(GradCase *gc) {
    BnCase *c = (BnCase *)gc;
    /* training: running stats are not passed (PyTorch track_running_stats=False) so the
     * repeated forwards of the check do not drift them */
    batchnorm_forward(c->out, c->sm, c->sr, c->p.training ? NULL : c->rm,
                      c->p.training ? NULL : c->rv, c->in, c->g, c->b, &c->p);
    return dotd(c->out, c->r, (size_t)c->p.N * c->p.C * c->p.HW);
}

static void bn_gradcheck(int training, int affine) {
    BatchNormParams p = {3, 2, 6, 1e-5f, 0.1f, training};
    size_t n = 36;
    BnCase c = {{.loss = bn_loss}, p, randv(n, 2), affine ? randv(2, 1) : NULL,
                affine ? randv(2, 1) : NULL, vec(n), randv(n, 1), vec(2), vec(2),
                randv(2, 1), fillv(2, 0.7f)};
    for (size_t i = 0; i < n; i++) c.in[i] += 1.5f; /* non-zero mean */
    float *din = fillv(n, GFILL), *dg = fillv(2, GFILL), *db = fillv(2, GFILL);
    bn_loss(&c.gc);
    batchnorm_backward(din, affine ? dg : NULL, affine ? db : NULL, c.r, c.in, c.g, c.sm,
                       c.sr, &p);
    double e = gradcheck(&c.gc, c.in, din, n, 1e-2f, NULL);
    EXPECT(e < 2e-3, "bn train=%d affine=%d d/din err %g", training, affine, e);
    if (affine) {
        double e1 = gradcheck(&c.gc, c.g, dg, 2, 1e-2f, NULL);
        double e2 = gradcheck(&c.gc, c.b, db, 2, 1e-2f, NULL);
        EXPECT(e1 < 2e-3 && e2 < 2e-3, "bn train=%d d/dgamma %g d/dbeta %g", training, e1, e2);
    }
    release();
}

static void test_bn_train_gradcheck(void) { bn_gradcheck(1, 1); bn_gradcheck(1, 0); }
static void test_bn_eval_gradcheck(void) { bn_gradcheck(0, 1); bn_gradcheck(0, 0); }

static void test_bn_known(void) {
    /* one channel, x = {1,2,3,4} (N=2, HW=2): mean 2.5, biased var 1.25, unbiased 5/3.
     * momentum 0.1 from running (0, 1): running_mean 0.25, running_var 0.9 + 0.1*5/3 */
    const float x[4] = {1, 2, 3, 4}, gam = 2, bet = -1;
    float y[4], sm, sr, rm = 0, rv = 1;
    BatchNormParams p = {2, 1, 2, 1e-5f, 0.1f, 1};
    batchnorm_forward(y, &sm, &sr, &rm, &rv, x, &gam, &bet, &p);
    const float rstd = (float)(1.0 / sqrt(1.25 + 1e-5));
    EXPECT(sm == 2.5f && fabsf(sr - rstd) <= 1e-7f, "mean %g rstd %.9g want %.9g", sm, sr, rstd);
    EXPECT(rm == 0.25f && fabsf(rv - (float)(0.9 + 0.1 * 5.0 / 3.0)) <= 3e-7f,
           "running mean %.9g var %.9g", rm, rv);
    int ok = 1;
    for (int i = 0; i < 4; i++) ok &= fabsf(y[i] - ((x[i] - 2.5f) * rstd * 2 - 1)) < 1e-6f;
    EXPECT(ok, "bn train output %g %g %g %g", y[0], y[1], y[2], y[3]);
    /* eval normalises by the running stats, leaves them alone, and saves them for backward */
    p.training = 0;
    batchnorm_forward(y, &sm, &sr, &rm, &rv, x, NULL, NULL, &p);
    const float er = 1.0f / sqrtf(rv + 1e-5f);
    EXPECT(rm == 0.25f && sm == 0.25f && sr == er && fabsf(y[3] - 3.75f * er) < 1e-6f,
           "bn eval %g %g", y[3], (4 - 0.25f) * er);
    /* 200 training steps on the same batch converge to the batch statistics */
    p.training = 1;
    rm = 0; rv = 1;
    for (int s = 0; s < 200; s++) batchnorm_forward(y, &sm, &sr, &rm, &rv, x, NULL, NULL, &p);
    EXPECT(fabsf(rm - 2.5f) < 1e-5f && fabsf(rv - 5.0f / 3) < 1e-5f, "converged %g %g", rm, rv);
}

/* ---------------------------------------------------------------- softmax cross-entropy */

typedef struct { GradCase gc; int N, K; float dloss; float *x, *pr; int32_t *lab; } CeCase;
static double ce_loss(GradCase *g) {
    CeCase *c = (CeCase *)g;
    return (double)c->dloss * softmax_ce_forward(c->pr, c->x, c->lab, c->N, c->K);
}

static void test_softmax_ce(void) {
    enum { N = 4, K = 10 };
    float x[N * K] = {0}, pr[N * K], d[N * K] = {0};
    int32_t lab[N] = {0, 3, 9, 3};
    float l = softmax_ce_forward(pr, x, lab, N, K);
    /* zero logits: log(K); torch.log(torch.tensor(10.)) = 2.3025851249694824 */
    EXPECT(l == 2.3025851249694824f, "zero logits loss %.9g", l);
    softmax_ce_backward(d, 1.0f, pr, lab, N, K);
    EXPECT(fabsf(d[0] - (0.1f - 1) / N) < 1e-8f && fabsf(d[1] - 0.1f / N) < 1e-8f,
           "zero logits grad %g %g", d[0], d[1]);
    /* F.cross_entropy(torch.tensor([[1.,2.,3.],[1.,2.,3.]]).double(), torch.tensor([2,0]))
     * = 1.4076059644443806, rounded to float. (torch in float32 gives 1.4076058864593506,
     * one ulp lower: its float log-sum-exp rounds; ours accumulates in double.) */
    const float x2[6] = {1, 2, 3, 1, 2, 3};
    const int32_t l2[2] = {2, 0};
    l = softmax_ce_forward(pr, x2, l2, 2, 3);
    EXPECT(l == (float)1.4076059644443806, "known CE %.9g", l);
    /* stability: huge logits stay finite */
    const float x3[3] = {1000, 0, -1000};
    const int32_t l3[1] = {1};
    l = softmax_ce_forward(pr, x3, l3, 1, 3);
    EXPECT(l == 1000.0f && pr[0] == 1.0f && pr[2] == 0.0f, "large logits loss %g", l);

    CeCase c = {{.loss = ce_loss}, 5, 7, 0.7f, randv(35, 2), vec(35), (int32_t[5]){0, 6, 2, 2, 5}};
    float *g = fillv(35, GFILL);
    ce_loss(&c.gc);
    softmax_ce_backward(g, c.dloss, c.pr, c.lab, c.N, c.K);
    double e = gradcheck(&c.gc, c.x, g, 35, 1e-2f, NULL);
    EXPECT(e < 2e-3, "CE gradcheck %g", e);
    release();
}

/* ---------------------------------------------------------------- threads */

/* sizes above the kernels' threading threshold must give the same bits as plane-by-plane
 * (channel-by-channel for BN) calls that stay below it */
static void test_threaded_matches_serial(void) {
    enum { N = 2, C = 8, H = 48, W = 48, HW = H * W };
    size_t n = (size_t)N * C * HW;
    float *x = randv(n, 1), *dy = randv(n, 1), *y = vec(n), *y1 = vec(n), *d = vec(n), *d1 = vec(n);
    int32_t *am = track(calloc(n, 4)), *am1 = track(calloc(n, 4));
    Pool2dParams p, q;
    pool2d_params(&p, N, C, H, W, 3, 2, 1, 1, 0);
    pool2d_params(&q, 1, 1, H, W, 3, 2, 1, 1, 0);
    const int OHW = p.OH * p.OW;
    maxpool2d_forward(y, am, x, &p);
    maxpool2d_backward(d, dy, am, &p);
    avgpool2d_forward(y + (size_t)N * C * OHW, x, &p);
    avgpool2d_backward(d, dy, &p);
    for (int pl = 0; pl < N * C; pl++) {
        maxpool2d_forward(y1 + pl * OHW, am1 + pl * OHW, x + pl * HW, &q);
        maxpool2d_backward(d1 + pl * HW, dy + pl * OHW, am1 + pl * OHW, &q);
        avgpool2d_forward(y1 + (size_t)N * C * OHW + pl * OHW, x + pl * HW, &q);
        avgpool2d_backward(d1 + pl * HW, dy + pl * OHW, &q);
    }
    EXPECT(memcmp(y, y1, 2 * sizeof(float) * N * C * OHW) == 0 &&
               memcmp(am, am1, sizeof(int32_t) * N * C * OHW) == 0 &&
               memcmp(d, d1, sizeof(float) * n) == 0, "max/avg pool threaded != serial");
    static const int ao[2] = {7, 1};
    for (int t = 0; t < 2; t++) {
        AdaptivePoolParams a = {N, C, H, W, ao[t], ao[t]}, a1 = {1, 1, H, W, ao[t], ao[t]};
        const int o = ao[t] * ao[t];
        memset(d, 0, sizeof(float) * n);
        memset(d1, 0, sizeof(float) * n);
        adaptive_avgpool2d_forward(y, x, &a);
        adaptive_avgpool2d_backward(d, dy, &a);
        for (int pl = 0; pl < N * C; pl++) {
            adaptive_avgpool2d_forward(y1 + pl * o, x + pl * HW, &a1);
            adaptive_avgpool2d_backward(d1 + pl * HW, dy + pl * o, &a1);
        }
        EXPECT(memcmp(y, y1, sizeof(float) * N * C * o) == 0 &&
                   memcmp(d, d1, sizeof(float) * n) == 0,
               "adaptive ->%d threaded != serial", ao[t]);
    }
    /* batch norm, training: whole tensor vs one channel at a time */
    BatchNormParams bp = {N, C, HW, 1e-5f, 0.1f, 1}, b1 = {N, 1, HW, 1e-5f, 0.1f, 1};
    float *g = randv(C, 1), *b = randv(C, 1), sm[C], sr[C], rm[C] = {0}, rv[C] = {0};
    float dg[C] = {0}, db[C] = {0}, dg1 = 0, db1 = 0, sm1, sr1, rm1, rv1;
    float *xc = vec((size_t)N * HW), *dyc = vec((size_t)N * HW), *yc = vec((size_t)N * HW);
    float *dc = vec((size_t)N * HW);
    memset(d, 0, sizeof(float) * n);
    batchnorm_forward(y, sm, sr, rm, rv, x, g, b, &bp);
    batchnorm_backward(d, dg, db, dy, x, g, sm, sr, &bp);
    int ok = 1;
    for (int c = 0; c < C; c++) {
        for (int i = 0; i < N; i++) {
            memcpy(xc + i * HW, x + ((size_t)i * C + c) * HW, sizeof(float) * HW);
            memcpy(dyc + i * HW, dy + ((size_t)i * C + c) * HW, sizeof(float) * HW);
        }
        rm1 = rv1 = dg1 = db1 = 0;
        memset(dc, 0, sizeof(float) * N * HW);
        batchnorm_forward(yc, &sm1, &sr1, &rm1, &rv1, xc, g + c, b + c, &b1);
        batchnorm_backward(dc, &dg1, &db1, dyc, xc, g + c, &sm1, &sr1, &b1);
        ok &= sm1 == sm[c] && sr1 == sr[c] && rm1 == rm[c] && rv1 == rv[c] && dg1 == dg[c] &&
              db1 == db[c];
        for (int i = 0; i < N; i++)
            ok &= memcmp(yc + i * HW, y + ((size_t)i * C + c) * HW, sizeof(float) * HW) == 0 &&
                  memcmp(dc + i * HW, d + ((size_t)i * C + c) * HW, sizeof(float) * HW) == 0;
    }
    EXPECT(ok, "batchnorm threaded != per channel");
    /* element-wise ops over a large n */
    relu_forward(y, x, n);
    add_forward(y1, x, dy, n);
    ok = 1;
    for (size_t i = 0; i < n; i++) ok &= y[i] == (x[i] < 0 ? 0 : x[i]) && y1[i] == x[i] + dy[i];
    EXPECT(ok, "relu/add large n");
    release();
}

int main(void) {
    rng_seed(&R, 1234);
    RUN(test_linear_gradcheck);
    RUN(test_linear_fast_vs_ref);
    RUN(test_ref_switch);
    RUN(test_relu);
    RUN(test_add);
    RUN(test_dropout);
    RUN(test_pool_params);
    RUN(test_maxpool_known);
    RUN(test_maxpool_gradcheck);
    RUN(test_avgpool_known);
    RUN(test_avgpool_gradcheck);
    RUN(test_adaptive_known);
    RUN(test_adaptive_gradcheck);
    RUN(test_bn_train_gradcheck);
    RUN(test_bn_eval_gradcheck);
    RUN(test_bn_known);
    RUN(test_softmax_ce);
    RUN(test_threaded_matches_serial);
    return test_summary();
}
