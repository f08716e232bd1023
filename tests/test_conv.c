/* test_conv.c - conv2d and conv_transpose2d: fast (im2col + GEMM) vs naive reference on
 * awkward shapes, accumulate semantics, NULL gradients, chunked batches, thread-count
 * independence, central-difference gradients, the adjoint identity
 * <conv(x), y> = <x, convT(y)>, parameter validation, and PyTorch golden checksums.
 * Shapes are small so the binary stays fast under SAN=1. */
#include <stdlib.h>
#include "engine/rng.h"
#include "kernels/ops.h"
#include "tests/harness.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static Rng rng;

static float *alloc_f(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) { fprintf(stderr, "test_conv: out of memory\n"); exit(2); }
    return p;
}
static float *randn(size_t n) {
    float *p = alloc_f(n);
    for (size_t i = 0; i < n; i++) p[i] = rng_normal(&rng);
    return p;
}
static float *copy_f(const float *x, size_t n) {
    float *p = alloc_f(n);
    memcpy(p, x, n * sizeof(float));
    return p;
}
static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* one layer under test, either kind; the ops are called through these wrappers */
typedef struct {
    int transposed;
    int N, C, H, W, OC, KH, KW, s, pad, opad, groups, bias;
} Case;
typedef struct {
    Case c;
    Conv2dParams cp;
    ConvT2dParams tp;
    size_t nin, nw, nout, nws;
} Layer;

static int layer_init(Layer *L, Case c) {
    memset(L, 0, sizeof *L);
    L->c = c;
    int ok, OH, OW;
    if (c.transposed) {
        ok = conv_transpose2d_params(&L->tp, c.N, c.C, c.H, c.W, c.OC, c.KH, c.KW, c.s, c.pad,
                                     c.opad, c.groups);
        OH = L->tp.OH, OW = L->tp.OW;
        L->nw = (size_t)c.C * (c.OC / c.groups) * c.KH * c.KW;
        if (ok) L->nws = conv_transpose2d_workspace(&L->tp);
    } else {
        ok = conv2d_params(&L->cp, c.N, c.C, c.H, c.W, c.OC, c.KH, c.KW, c.s, c.pad, c.groups);
        OH = L->cp.OH, OW = L->cp.OW;
        L->nw = (size_t)c.OC * (c.C / c.groups) * c.KH * c.KW;
        if (ok) L->nws = conv2d_workspace(&L->cp);
    }
    L->nin = (size_t)c.N * c.C * c.H * c.W;
    L->nout = ok ? (size_t)c.N * c.OC * OH * OW : 0;
    return ok;
}
static void fwd(const Layer *L, int ref, float *out, const float *in, const float *w,
                const float *b, float *ws) {
    if (L->c.transposed) {
        if (ref) conv_transpose2d_forward_ref(out, in, w, b, &L->tp);
        else conv_transpose2d_forward(out, in, w, b, &L->tp, ws);
    } else {
        if (ref) conv2d_forward_ref(out, in, w, b, &L->cp);
        else conv2d_forward(out, in, w, b, &L->cp, ws);
    }
}
static void bwd(const Layer *L, int ref, float *din, float *dw, float *db, const float *dout,
                const float *in, const float *w, float *ws) {
    if (L->c.transposed) {
        if (ref) conv_transpose2d_backward_ref(din, dw, db, dout, in, w, &L->tp);
        else conv_transpose2d_backward(din, dw, db, dout, in, w, &L->tp, ws);
    } else {
        if (ref) conv2d_backward_ref(din, dw, db, dout, in, w, &L->cp);
        else conv2d_backward(din, dw, db, dout, in, w, &L->cp, ws);
    }
}
static const char *desc(const Case *c) {
    static char s[160];
    snprintf(s, sizeof s, "%s N%d C%d %dx%d OC%d k%dx%d s%d p%d op%d g%d%s",
             c->transposed ? "convT" : "conv", c->N, c->C, c->H, c->W, c->OC, c->KH, c->KW,
             c->s, c->pad, c->opad, c->groups, c->bias ? " bias" : "");
    return s;
}

/* fast vs ref: forward; backward with pre-filled gradients (all three, then each alone) */
static void check_vs_ref(Case c) {
    Layer L;
    if (!layer_init(&L, c)) { EXPECT(0, "%s: params rejected", desc(&c)); return; }
    const size_t nb = c.bias ? (size_t)c.OC : 0;
    float *in = randn(L.nin), *w = randn(L.nw), *b = c.bias ? randn(nb) : NULL;
    float *ws = alloc_f(L.nws), *of = alloc_f(L.nout), *orf = alloc_f(L.nout);
    fwd(&L, 0, of, in, w, b, ws);
    fwd(&L, 1, orf, in, w, b, NULL);
    double e = rel_err(of, orf, L.nout, 1e-3);
    EXPECT(e < 1e-5, "%s: forward rel err %.3g", desc(&c), e);

    float *dout = randn(L.nout), *din0 = randn(L.nin), *dw0 = randn(L.nw), *db0 = randn(c.OC);
    float *dinf = copy_f(din0, L.nin), *dinr = copy_f(din0, L.nin);
    float *dwf = copy_f(dw0, L.nw), *dwr = copy_f(dw0, L.nw);
    float *dbf = copy_f(db0, c.OC), *dbr = copy_f(db0, c.OC);
    bwd(&L, 0, dinf, dwf, c.bias ? dbf : NULL, dout, in, w, ws);
    bwd(&L, 1, dinr, dwr, c.bias ? dbr : NULL, dout, in, w, NULL);
    /* subtract the pre-fill so the check measures the gradient, not the prefill */
    for (size_t i = 0; i < L.nin; i++) dinf[i] -= din0[i], dinr[i] -= din0[i];
    for (size_t i = 0; i < L.nw; i++) dwf[i] -= dw0[i], dwr[i] -= dw0[i];
    for (int i = 0; i < c.OC; i++) dbf[i] -= db0[i], dbr[i] -= db0[i];
    e = rel_err(dinf, dinr, L.nin, 1e-3);
    EXPECT(e < 2e-5, "%s: din rel err %.3g", desc(&c), e);
    e = rel_err(dwf, dwr, L.nw, 1e-3);
    EXPECT(e < 2e-5, "%s: dw rel err %.3g", desc(&c), e);
    e = rel_err(dbf, dbr, c.OC, 1e-3);
    EXPECT(e < 2e-5, "%s: db rel err %.3g", desc(&c), e);
    if (!c.bias)
        EXPECT(memcmp(dbf, dbr, c.OC * sizeof(float)) == 0 && dbf[0] == 0.0f,
               "%s: db touched although NULL", desc(&c));

    /* each gradient alone (the others NULL) must give the same numbers as all together */
    float *g1 = copy_f(din0, L.nin), *g2 = copy_f(dw0, L.nw), *g3 = copy_f(db0, c.OC);
    bwd(&L, 0, g1, NULL, NULL, dout, in, w, ws);
    bwd(&L, 0, NULL, g2, NULL, dout, in, w, ws);
    bwd(&L, 0, NULL, NULL, g3, dout, in, w, ws);
    for (size_t i = 0; i < L.nin; i++) g1[i] -= din0[i];
    for (size_t i = 0; i < L.nw; i++) g2[i] -= dw0[i];
    for (int i = 0; i < c.OC; i++) g3[i] -= db0[i];
    EXPECT(rel_err(g1, dinr, L.nin, 1e-3) < 2e-5, "%s: din alone differs", desc(&c));
    EXPECT(rel_err(g2, dwr, L.nw, 1e-3) < 2e-5, "%s: dw alone differs", desc(&c));
    EXPECT(rel_err(g3, dbf, c.OC, 1e-3) < 1e-6 || !c.bias, "%s: db alone differs", desc(&c));
    free(g1), free(g2), free(g3);
    free(in), free(w), free(b), free(ws), free(of), free(orf), free(dout);
    free(din0), free(dw0), free(db0), free(dinf), free(dinr), free(dwf), free(dwr);
    free(dbf), free(dbr);
}

/* transposed, N, C, H, W, OC, KH, KW, stride, pad, output_pad, groups, bias */
static const Case conv_cases[] = {
    {0, 1, 3, 5, 7, 4, 3, 3, 1, 1, 0, 1, 1},      /* odd plane, 3x3 pad 1 */
    {0, 3, 4, 13, 11, 6, 3, 3, 2, 1, 0, 2, 1},    /* stride 2, groups 2 */
    {0, 2, 3, 1, 1, 5, 1, 1, 1, 0, 0, 1, 1},      /* 1x1 input, 1x1 kernel */
    {0, 2, 3, 1, 1, 2, 3, 3, 1, 1, 0, 1, 0},      /* 1x1 input, 3x3 pad 1, no bias */
    {0, 1, 3, 9, 7, 5, 1, 1, 2, 0, 0, 1, 0},      /* 1x1 stride 2, one image (no shortcut!) */
    {0, 2, 4, 9, 7, 5, 1, 1, 2, 0, 0, 1, 1},      /* 1x1 stride 2, chunked */
    {0, 1, 6, 6, 5, 4, 1, 1, 1, 0, 0, 1, 1},      /* 1x1 stride 1: the shortcut */
    {0, 2, 4, 24, 23, 6, 1, 1, 1, 0, 0, 2, 1},    /* shortcut, P >= 512, groups 2 */
    {0, 1, 3, 5, 4, 2, 1, 1, 1, 1, 0, 1, 1},      /* 1x1 with padding: no shortcut */
    {0, 2, 3, 15, 13, 4, 7, 7, 2, 3, 0, 1, 1},    /* 7x7 stride 2 pad 3 */
    {0, 2, 2, 6, 5, 3, 3, 3, 3, 2, 0, 1, 1},      /* stride 3, pad 2 > k/2 */
    {0, 1, 2, 4, 4, 2, 3, 3, 1, 3, 0, 1, 0},      /* pad 3 = kernel */
    {0, 2, 3, 7, 6, 4, 3, 2, 2, 1, 0, 1, 1},      /* 3x2 kernel */
    {0, 2, 6, 9, 9, 6, 3, 3, 1, 1, 0, 6, 1},      /* depthwise */
    {0, 3, 6, 8, 7, 12, 3, 3, 2, 1, 0, 6, 0},     /* depthwise x2, stride 2 */
    {0, 1, 2, 25, 25, 3, 3, 3, 1, 1, 0, 1, 1},    /* P = 625: one image per GEMM */
    {0, 7, 3, 10, 10, 4, 3, 3, 1, 1, 0, 1, 1},    /* P = 100: one chunk of 7 */
    {0, 130, 2, 2, 2, 3, 3, 3, 1, 1, 0, 1, 1},    /* P = 4: one chunk of 130 */
    {0, 3, 2, 32, 32, 3, 3, 3, 1, 1, 0, 1, 1},    /* P = 1024: chunks of 2 + 1 (nb == 1 tail) */
    {0, 41, 2, 10, 10, 3, 3, 3, 1, 1, 0, 1, 1},   /* P = 100: chunks of 14 + 14 + 13 */
    {0, 20, 8, 3, 3, 8, 3, 3, 2, 1, 0, 2, 1},     /* P = 4, groups 2, one chunk */
    {0, 5, 4, 5, 5, 6, 5, 5, 1, 0, 0, 1, 0},      /* P = 1 */
    {0, 3, 3, 4, 4, 5, 3, 3, 1, 1, 0, 1, 1},      /* OW = 4: the table path's vector runs */
    {0, 3, 2, 8, 8, 3, 3, 3, 1, 1, 0, 1, 0},      /* OW = 8 */
    {0, 3, 2, 16, 16, 3, 3, 3, 1, 1, 0, 1, 1},    /* OW = 16 */
    {0, 3, 2, 16, 16, 3, 1, 1, 1, 0, 0, 1, 1},    /* OW = 16, 1x1 chunked: input used as is */
    {0, 2, 16, 2, 2, 64, 3, 3, 1, 1, 0, 1, 1},    /* narrow (8 columns, 64 rows): GEMM as C^T */
    {0, 1, 16, 3, 3, 64, 3, 3, 1, 1, 0, 1, 0},    /* the same with one image */
    /* P >= 2048: one image per GEMM, im2col by rows (everything above gathers by table) */
    {0, 2, 2, 48, 47, 3, 3, 3, 1, 1, 0, 1, 1},    /* P = 2256, 3x3 pad 1 */
    {0, 1, 3, 96, 93, 2, 7, 7, 2, 3, 0, 1, 0},    /* 7x7 stride 2 pad 3, P = 2256 */
    {0, 2, 2, 45, 45, 2, 3, 3, 1, 2, 0, 1, 1},    /* pad 2 > k/2, P = 2209 */
    {0, 2, 4, 95, 93, 4, 1, 1, 2, 0, 0, 2, 1},    /* 1x1 stride 2, groups 2, P = 2256 */
};
static const Case convt_cases[] = {
    {1, 1, 3, 5, 7, 4, 3, 3, 1, 1, 0, 1, 1},      /* stride 1 */
    {1, 2, 4, 4, 5, 6, 3, 3, 2, 1, 1, 2, 1},      /* stride 2, output_padding 1, groups 2 */
    {1, 2, 3, 3, 3, 2, 4, 4, 2, 1, 0, 1, 0},      /* DCGAN-style 4x4 s2 p1 */
    {1, 1, 4, 1, 1, 3, 3, 3, 1, 0, 0, 1, 1},      /* 1x1 input */
    {1, 2, 4, 6, 6, 4, 1, 1, 1, 0, 0, 1, 1},      /* 1x1 s1, chunked */
    {1, 1, 4, 23, 23, 3, 1, 1, 1, 0, 0, 1, 1},    /* 1x1 s1 shortcut (P = 529) */
    {1, 1, 3, 5, 4, 2, 1, 1, 2, 0, 1, 1, 1},      /* 1x1 stride 2, output_padding 1 */
    {1, 2, 2, 4, 3, 3, 5, 5, 3, 2, 2, 1, 1},      /* stride 3, output_padding 2 */
    {1, 2, 4, 5, 5, 4, 3, 3, 2, 1, 1, 4, 1},      /* depthwise */
    {1, 2, 4, 5, 5, 8, 3, 2, 2, 1, 1, 4, 0},      /* depthwise x2, 3x2 kernel */
    {1, 1, 2, 5, 5, 3, 3, 3, 2, 2, 1, 1, 1},      /* pad 2 > k/2 */
    {1, 130, 2, 2, 2, 3, 3, 3, 2, 1, 1, 1, 1},    /* P = 4: one chunk */
    {1, 7, 3, 10, 10, 2, 3, 3, 1, 1, 0, 1, 0},    /* P = 100: one chunk of 7 */
    {1, 41, 2, 10, 10, 3, 3, 3, 1, 1, 0, 1, 1},   /* P = 100: chunks of 14 + 14 + 13 */
};

static void test_conv2d_vs_ref(void) {
    for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
        check_vs_ref(conv_cases[i]);
}
static void test_conv_transpose2d_vs_ref(void) {
    for (size_t i = 0; i < sizeof convt_cases / sizeof *convt_cases; i++)
        check_vs_ref(convt_cases[i]);
}

/* central differences of L = <r, f(in, w, b)> (double) vs the analytic backward with
 * dout = r, for both the fast and the reference pair. The op is linear in each argument, so
 * a large step is exact up to float rounding of the outputs; the step actually taken is
 * recomputed from the rounded float values. */
static void grad_check(Case c) {
    Layer L;
    if (!layer_init(&L, c)) { EXPECT(0, "%s: params rejected", desc(&c)); return; }
    float *in = randn(L.nin), *w = randn(L.nw), *b = c.bias ? randn(c.OC) : NULL;
    float *r = randn(L.nout), *out = alloc_f(L.nout), *ws = alloc_f(L.nws);
    for (int ref = 0; ref <= 1; ref++) {
        float *din = alloc_f(L.nin), *dw = alloc_f(L.nw), *db = alloc_f(c.OC);
        bwd(&L, ref, din, dw, b ? db : NULL, r, in, w, ws);
        struct { const char *name; float *x, *g; size_t n; } arg[3] = {
            {"in", in, din, L.nin}, {"w", w, dw, L.nw}, {"b", b, db, b ? (size_t)c.OC : 0}};
        for (int a = 0; a < 3; a++) {
            double worst = 0;
            for (int t = 0; t < 12 && (size_t)t < arg[a].n; t++) {
                const size_t j = arg[a].n <= 12 ? (size_t)t : rng_below(&rng, (uint32_t)arg[a].n);
                float *x = arg[a].x;
                const float v = x[j];
                x[j] = v + 0.25f;
                const double hi = x[j];
                fwd(&L, ref, out, in, w, b, ws);
                const double lp = dot(out, r, L.nout);
                x[j] = v - 0.25f;
                const double lo = x[j];
                fwd(&L, ref, out, in, w, b, ws);
                const double lm = dot(out, r, L.nout);
                x[j] = v;
                const double fd = (lp - lm) / (hi - lo), an = arg[a].g[j];
                const double err = fabs(fd - an) / (1.0 + fabs(an));
                if (err > worst) worst = err;
            }
            EXPECT(worst < 1e-4, "%s %s: d%s central-difference error %.3g", desc(&c),
                   ref ? "ref" : "fast", arg[a].name, worst);
        }
        free(din), free(dw), free(db);
    }
    free(in), free(w), free(b), free(r), free(out), free(ws);
}

static void test_conv2d_gradcheck(void) {
    grad_check((Case){0, 2, 4, 7, 6, 6, 3, 3, 2, 1, 0, 2, 1});
    grad_check((Case){0, 3, 3, 5, 5, 2, 1, 1, 2, 0, 0, 1, 1});
    grad_check((Case){0, 2, 4, 6, 6, 4, 3, 3, 1, 1, 0, 4, 1});
}
static void test_conv_transpose2d_gradcheck(void) {
    grad_check((Case){1, 2, 4, 4, 3, 6, 3, 3, 2, 1, 1, 2, 1});
    grad_check((Case){1, 3, 3, 3, 3, 2, 4, 4, 2, 1, 0, 1, 1});
    grad_check((Case){1, 2, 4, 3, 3, 4, 3, 3, 3, 1, 2, 4, 1});
}

/* <conv(x), y> == <x, convT(y)> with the same weight tensor: conv C->OC on HxW and
 * convT OC->C on OHxOW with output_padding = the rows/cols conv's windows never reach */
static void check_adjoint(int N, int C, int H, int W, int OC, int KH, int KW, int s, int pad,
                          int groups) {
    Conv2dParams cp;
    ConvT2dParams tp;
    if (!conv2d_params(&cp, N, C, H, W, OC, KH, KW, s, pad, groups)) {
        EXPECT(0, "adjoint: conv params rejected");
        return;
    }
    const int op = (H + 2 * pad - KH) % s;
    EXPECT(op == (W + 2 * pad - KW) % s, "adjoint: test shape needs equal H/W remainders");
    if (!conv_transpose2d_params(&tp, N, OC, cp.OH, cp.OW, C, KH, KW, s, pad, op, groups) ||
        tp.OH != H || tp.OW != W) {
        EXPECT(0, "adjoint: convT params rejected or wrong size %dx%d", tp.OH, tp.OW);
        return;
    }
    const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * OC * cp.OH * cp.OW;
    const size_t nw = (size_t)OC * (C / groups) * KH * KW;
    size_t nws = conv2d_workspace(&cp);
    if (conv_transpose2d_workspace(&tp) > nws) nws = conv_transpose2d_workspace(&tp);
    float *x = randn(nx), *y = randn(ny), *w = randn(nw), *ws = alloc_f(nws);
    float *cx = alloc_f(ny), *ty = alloc_f(nx);
    for (int ref = 0; ref <= 1; ref++) {
        if (ref) {
            conv2d_forward_ref(cx, x, w, NULL, &cp);
            conv_transpose2d_forward_ref(ty, y, w, NULL, &tp);
        } else {
            conv2d_forward(cx, x, w, NULL, &cp, ws);
            conv_transpose2d_forward(ty, y, w, NULL, &tp, ws);
        }
        const double a = dot(cx, y, ny), b = dot(x, ty, nx);
        const double scale = sqrt(dot(cx, cx, ny) * dot(y, y, ny)) +
                             sqrt(dot(x, x, nx) * dot(ty, ty, nx));
        EXPECT(fabs(a - b) <= 1e-6 * scale, "adjoint %s N%d C%d %dx%d OC%d k%dx%d s%d p%d g%d: "
               "<conv x,y> %.9g vs <x,convT y> %.9g", ref ? "ref" : "fast", N, C, H, W, OC,
               KH, KW, s, pad, groups, a, b);
    }
    free(x), free(y), free(w), free(ws), free(cx), free(ty);
}

static void test_adjoint(void) {
    check_adjoint(2, 3, 7, 7, 4, 3, 3, 2, 1, 1);   /* output_padding 0 */
    check_adjoint(2, 4, 8, 8, 6, 3, 3, 2, 1, 2);   /* output_padding 1, groups 2 */
    check_adjoint(1, 3, 11, 8, 2, 5, 5, 3, 2, 1);  /* stride 3, output_padding 1 */
    check_adjoint(2, 4, 6, 6, 4, 3, 3, 1, 1, 4);   /* depthwise */
    check_adjoint(3, 4, 9, 7, 5, 1, 1, 2, 0, 1);   /* 1x1 stride 2 */
    check_adjoint(1, 2, 5, 5, 3, 4, 4, 2, 3, 1);   /* pad 3 > k/2 */
    check_adjoint(40, 2, 3, 3, 3, 3, 3, 2, 1, 1);  /* P = 4: chunked */
    check_adjoint(2, 3, 6, 6, 4, 1, 1, 1, 0, 1);   /* 1x1 stride 1 */
}

static void test_params(void) {
    Conv2dParams p;
    EXPECT(conv2d_params(&p, 1, 3, 5, 7, 4, 3, 3, 2, 1, 1) && p.OH == 3 && p.OW == 4,
           "conv 5x7 k3 s2 p1: %dx%d", p.OH, p.OW);
    EXPECT(conv2d_params(&p, 1, 3, 2, 2, 4, 5, 5, 1, 2, 1) && p.OH == 2 && p.OW == 2,
           "conv kernel larger than input but fits the padding");
    EXPECT(!conv2d_params(&p, 1, 3, 2, 2, 4, 5, 5, 2, 1, 1),
           "kernel larger than padded input accepted (truncating division gives OH 1)");
    EXPECT(!conv2d_params(&p, 1, 3, 8, 8, 4, 3, 3, 1, 1, 2), "C %% groups != 0 accepted");
    EXPECT(!conv2d_params(&p, 1, 4, 8, 8, 3, 3, 3, 1, 1, 2), "OC %% groups != 0 accepted");
    EXPECT(!conv2d_params(&p, 1, 4, 8, 8, 4, 3, 3, 0, 1, 1), "stride 0 accepted");
    EXPECT(!conv2d_params(&p, 1, 4, 8, 8, 4, 3, 3, 1, -1, 1), "negative pad accepted");
    EXPECT(!conv2d_params(&p, 0, 4, 8, 8, 4, 3, 3, 1, 1, 1), "N 0 accepted");
    EXPECT(!conv2d_params(&p, 1, 4, 8, 8, 4, 0, 3, 1, 1, 1), "KH 0 accepted");
    EXPECT(!conv2d_params(&p, 1, 4, 8, 8, 4, 3, 3, 1, 1, 0), "groups 0 accepted");
    ConvT2dParams t;
    EXPECT(conv_transpose2d_params(&t, 1, 4, 3, 5, 2, 3, 3, 2, 1, 1, 1) && t.OH == 6 &&
           t.OW == 10, "convT 3x5 k3 s2 p1 op1: %dx%d", t.OH, t.OW);
    EXPECT(!conv_transpose2d_params(&t, 1, 4, 3, 3, 2, 3, 3, 2, 1, 2, 1),
           "output_padding == stride accepted");
    EXPECT(!conv_transpose2d_params(&t, 1, 4, 3, 3, 2, 3, 3, 1, 0, -1, 1),
           "negative output_padding accepted");
    EXPECT(!conv_transpose2d_params(&t, 1, 4, 1, 1, 2, 1, 1, 1, 1, 0, 1),
           "convT with output size < 1 accepted");
    EXPECT(!conv_transpose2d_params(&t, 1, 4, 3, 3, 3, 3, 3, 1, 1, 0, 2),
           "convT OC %% groups != 0 accepted");
    EXPECT(!conv_transpose2d_params(&t, 1, 3, 3, 3, 4, 3, 3, 1, 1, 0, 2),
           "convT C %% groups != 0 accepted");
}

/* sei_kernels_ref = 1 must route the fast entry points to the references (ws unused) */
static void test_ref_switch(void) {
    const Case cs[2] = {{0, 2, 3, 6, 5, 4, 3, 3, 2, 1, 0, 1, 1},
                        {1, 2, 3, 4, 3, 4, 3, 3, 2, 1, 1, 1, 1}};
    for (int k = 0; k < 2; k++) {
        Layer L;
        layer_init(&L, cs[k]);
        float *in = randn(L.nin), *w = randn(L.nw), *b = randn(cs[k].OC), *dout = randn(L.nout);
        float *o1 = alloc_f(L.nout), *o2 = alloc_f(L.nout);
        float *g1 = alloc_f(L.nin + L.nw + 4), *g2 = alloc_f(L.nin + L.nw + 4);
        sei_kernels_ref = 1;
        fwd(&L, 0, o1, in, w, b, NULL);
        bwd(&L, 0, g1, g1 + L.nin, g1 + L.nin + L.nw, dout, in, w, NULL);
        sei_kernels_ref = 0;
        fwd(&L, 1, o2, in, w, b, NULL);
        bwd(&L, 1, g2, g2 + L.nin, g2 + L.nin + L.nw, dout, in, w, NULL);
        EXPECT(memcmp(o1, o2, L.nout * sizeof(float)) == 0, "%s: forward not routed", desc(&cs[k]));
        EXPECT(memcmp(g1, g2, (L.nin + L.nw + 4) * sizeof(float)) == 0,
               "%s: backward not routed", desc(&cs[k]));
        free(in), free(w), free(b), free(dout), free(o1), free(o2), free(g1), free(g2);
    }
}

/* bitwise the same results with 1 thread and with all of them (and run to run) */
static void test_deterministic(void) {
    const Case cs[2] = {{0, 4, 16, 12, 12, 16, 3, 3, 1, 1, 0, 1, 1},
                        {1, 4, 16, 6, 6, 8, 4, 4, 2, 1, 0, 2, 1}};
    for (int k = 0; k < 2; k++) {
        Layer L;
        layer_init(&L, cs[k]);
        const size_t ng = L.nout + L.nin + L.nw + (size_t)cs[k].OC;
        float *in = randn(L.nin), *w = randn(L.nw), *b = randn(cs[k].OC), *dout = randn(L.nout);
        float *ws = alloc_f(L.nws), *res[2];
        for (int run = 0; run < 2; run++) {
#ifdef _OPENMP
            static int maxt;
            if (!maxt) maxt = omp_get_max_threads();
            omp_set_num_threads(run ? maxt : 1);
#endif
            float *r = res[run] = alloc_f(ng);
            fwd(&L, 0, r, in, w, b, ws);
            bwd(&L, 0, r + L.nout, r + L.nout + L.nin, r + L.nout + L.nin + L.nw, dout, in, w,
                ws);
        }
        EXPECT(memcmp(res[0], res[1], ng * sizeof(float)) == 0,
               "%s: results depend on the thread count", desc(&cs[k]));
        free(in), free(w), free(b), free(dout), free(ws), free(res[0]), free(res[1]);
    }
}

/* PyTorch 1.13 (torch.nn.functional.conv2d / conv_transpose2d, float32) on inputs given by
 * formulas; checksums sum(v_i * (i%7 - 3)) and sum(v_i) of out, din, dw, db */
static double fx(size_t i) { return sin(0.37 * i + 0.1); }
static double fw(size_t i) { return 0.5 * cos(0.23 * i + 0.4); }
static double fb(size_t i) { return 0.1 * i - 0.15; }
static double fd(size_t i) { return sin(0.11 * i + 0.7); }
static float *formula(double (*f)(size_t), size_t n) {
    float *p = alloc_f(n);
    for (size_t i = 0; i < n; i++) p[i] = (float)f(i);
    return p;
}
static void checksum(const float *v, size_t n, double cs[2]) {
    cs[0] = cs[1] = 0;
    for (size_t i = 0; i < n; i++) cs[0] += (double)v[i] * ((int)(i % 7) - 3), cs[1] += v[i];
}
static void check_golden(Case c, const double want[8]) {
    Layer L;
    layer_init(&L, c);
    float *in = formula(fx, L.nin), *w = formula(fw, L.nw), *b = formula(fb, c.OC);
    float *dout = formula(fd, L.nout), *ws = alloc_f(L.nws), *out = alloc_f(L.nout);
    float *din = alloc_f(L.nin), *dw = alloc_f(L.nw), *db = alloc_f(c.OC);
    for (int ref = 0; ref <= 1; ref++) {
        memset(din, 0, L.nin * sizeof(float)), memset(dw, 0, L.nw * sizeof(float));
        memset(db, 0, c.OC * sizeof(float));
        fwd(&L, ref, out, in, w, b, ws);
        bwd(&L, ref, din, dw, db, dout, in, w, ws);
        double got[8];
        checksum(out, L.nout, got), checksum(din, L.nin, got + 2);
        checksum(dw, L.nw, got + 4), checksum(db, c.OC, got + 6);
        for (int i = 0; i < 8; i++)
            EXPECT(fabs(got[i] - want[i]) <= 1e-5 * (1 + fabs(want[i])),
                   "%s %s: checksum %d is %.9g, PyTorch %.9g", desc(&c), ref ? "ref" : "fast",
                   i, got[i], want[i]);
    }
    free(in), free(w), free(b), free(dout), free(ws), free(out), free(din), free(dw), free(db);
}
static void test_pytorch_golden(void) {
    static const double conv[8] = {-99.5782703, 10.443503,  -4.17308081, -5.2906826,
                                   -17.4818006, -1.95763846, -105.677379, -1.81950521};
    static const double convt[8] = {0.389685601, 42.8677602, 14.0140199,   83.3291429,
                                    -6.02369356, 0.0687636137, -51.8104162, 11.8638196};
    check_golden((Case){0, 2, 4, 5, 5, 6, 3, 3, 2, 1, 0, 2, 1}, conv);
    check_golden((Case){1, 2, 4, 3, 3, 6, 3, 3, 2, 1, 1, 2, 1}, convt);
}

int main(void) {
    rng_seed(&rng, 20240611);
    RUN(test_params);
    RUN(test_conv2d_vs_ref);
    RUN(test_conv_transpose2d_vs_ref);
    RUN(test_conv2d_gradcheck);
    RUN(test_conv_transpose2d_gradcheck);
    RUN(test_adjoint);
    RUN(test_ref_switch);
    RUN(test_deterministic);
    RUN(test_pytorch_golden);
    return test_summary();
}
