/* test_sparse_ops.c - the predefined-sparse kernels (kernels/sparse.c) against the dense
 * naive references on the same masked weights: channel-pattern and unstructured conv
 * (strides, padding, odd sizes, one and several images, the fused eval epilogue), bi-regular
 * linear; forward and backward (din, dw, db accumulate; dropped weights get no gradient).
 * Channel convs run on both paths: the direct kernels (conv_direct.c) and grouped GEMMs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/ops.h"
#include "nets/sparsity.h"
#include "tests/harness.h"

static Rng rng;

static float *randn(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = rng_normal(&rng);
    return p;
}

static SparseIndex index_of(const SparsePattern *sp) {
    SparseIndex s = {sp->kind == SPARSE_CHANNEL ? SPARSE_IDX_CHANNEL : SPARSE_IDX_WEIGHT, sp->per_row,
                     sp->groups, sp->index};
    return s;
}

typedef struct { int N, C, H, W, OC, k, s, pad, channel; double d; int ep; } ConvCase;

static void check_conv(ConvCase cc) {
    Conv2dParams p;
    EXPECT(conv2d_params(&p, cc.N, cc.C, cc.H, cc.W, cc.OC, cc.k, cc.k, cc.s, cc.pad, 1), "params");
    SparsePattern sp;
    const int kk = cc.k * cc.k;
    sei_status st = cc.channel ? sparse_make(&sp, SPARSE_CHANNEL, cc.OC, cc.C, kk, cc.d, &rng, "t")
                               : sparse_make(&sp, SPARSE_WEIGHT, cc.OC, cc.C * kk, 1, cc.d, &rng, "t");
    EXPECT(st == SEI_OK, "%s", sei_last_error());
    const size_t nin = (size_t)cc.N * cc.C * cc.H * cc.W, nw = (size_t)cc.OC * cc.C * kk;
    const size_t nout = (size_t)cc.N * cc.OC * p.OH * p.OW;
    float *x = randn(nin), *w = randn(nw), *b = randn((size_t)cc.OC), *mask = malloc(nw * sizeof *mask);
    sparse_fill_mask(&sp, mask);
    for (size_t i = 0; i < nw; i++) w[i] *= mask[i];
    const SparseIndex si = index_of(&sp);
    float *ws = malloc(conv2d_sparse_workspace(&p, &si) * sizeof(float));
    float *y = malloc(nout * sizeof *y), *yr = malloc(nout * sizeof *yr);
    float *alpha = randn((size_t)cc.OC), *shift = randn((size_t)cc.OC);
    ConvEpilogue ep = {alpha, shift, 1};
    conv2d_sparse_forward(y, x, w, b, cc.ep ? &ep : NULL, &p, &si, ws);
    conv2d_forward_ref(yr, x, w, b, &p);
    const size_t P = (size_t)p.OH * p.OW;
    if (cc.ep)
        for (size_t i = 0; i < nout; i++) {
            const int o = (int)(i / P % cc.OC);
            float v = fmaf(yr[i], alpha[o], shift[o]);
            yr[i] = v < 0 ? 0 : v;
        }
    double e = rel_err(y, yr, nout, 1e-3);
    EXPECT(e < 1e-5, "%s conv N%d C%d %dx%d OC%d k%d s%d p%d d%g%s: forward rel err %.3g",
           cc.channel ? "channel" : "weight", cc.N, cc.C, cc.H, cc.W, cc.OC, cc.k, cc.s, cc.pad, cc.d,
           cc.ep ? " +bn+relu" : "", e);
    /* backward: accumulate onto random pre-fills, compare the increments */
    float *dy = randn(nout), *dx = randn(nin), *dxr = malloc(nin * sizeof *dxr);
    float *dw = randn(nw), *dwr = malloc(nw * sizeof *dwr), *db = randn((size_t)cc.OC), *dbr = malloc((size_t)cc.OC * sizeof *dbr);
    memcpy(dxr, dx, nin * sizeof *dx), memcpy(dwr, dw, nw * sizeof *dw), memcpy(dbr, db, (size_t)cc.OC * sizeof *db);
    float *dw0 = malloc(nw * sizeof *dw0);
    memcpy(dw0, dw, nw * sizeof *dw);
    conv2d_sparse_backward(dx, dw, db, dy, x, w, &p, &si, ws);
    conv2d_backward_ref(dxr, dwr, dbr, dy, x, w, &p);
    int untouched = 1;
    for (size_t i = 0; i < nw; i++) {
        if (mask[i] == 0) { untouched &= dw[i] == dw0[i]; dwr[i] = dw0[i]; } /* only kept entries count */
    }
    EXPECT(untouched, "gradient written to dropped weights");
    e = rel_err(dx, dxr, nin, 1e-3);
    EXPECT(e < 2e-5, "din rel err %.3g", e);
    e = rel_err(dw, dwr, nw, 1e-3);
    EXPECT(e < 2e-5, "dw rel err %.3g", e);
    e = rel_err(db, dbr, (size_t)cc.OC, 1e-3);
    EXPECT(e < 2e-5, "db rel err %.3g", e);
    free(x); free(w); free(b); free(mask); free(ws); free(y); free(yr); free(alpha); free(shift);
    free(dy); free(dx); free(dxr); free(dw); free(dwr); free(db); free(dbr); free(dw0);
    sparse_free(&sp);
}

static void test_conv_channel(void) {
    const ConvCase cases[] = {
        {2, 8, 7, 9, 16, 3, 1, 1, 1, 0.25, 0}, {1, 16, 12, 12, 8, 3, 2, 1, 1, 0.5, 1},
        {3, 4, 5, 5, 4, 1, 1, 0, 1, 0.25, 0},  {2, 32, 4, 4, 64, 3, 1, 1, 1, 0.125, 1},
        {4, 12, 33, 31, 6, 3, 1, 1, 1, 1.0 / 3, 0},
        /* the direct kernels' tiles: 4/8/16 channels per group, planes of 1-6 vectors and
         * more, 5x5 (taps in chunks of 9), odd group widths, no padding, padding K-1 */
        {3, 16, 8, 8, 16, 3, 1, 1, 1, 0.25, 1},  {2, 16, 16, 16, 32, 3, 1, 1, 1, 0.25, 0},
        {2, 32, 8, 8, 64, 3, 1, 1, 1, 0.25, 1},  {1, 6, 9, 11, 9, 5, 1, 2, 1, 1.0 / 3, 0},
        {2, 8, 6, 7, 4, 3, 1, 0, 1, 0.5, 0},     {1, 4, 3, 3, 4, 3, 1, 2, 1, 0.5, 1},
        {1, 4, 2, 40, 12, 3, 1, 1, 1, 0.25, 0},
        /* the row layout (output width a multiple of 16): 2 and 3 vectors per row, 5x5 */
        {2, 8, 5, 32, 8, 3, 1, 1, 1, 0.5, 1},    {1, 4, 3, 48, 4, 3, 1, 1, 1, 0.5, 0},
        {1, 4, 6, 16, 6, 5, 1, 2, 1, 0.5, 1},
    };
    /* every case on the direct kernels (stride 1) and on the grouped GEMM */
    for (int direct = 1; direct >= 0; direct--) {
        sei_conv_direct = direct;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_conv(cases[i]);
    }
    sei_conv_direct = 1;
}

static void test_conv_weight(void) {
    const ConvCase cases[] = {
        {2, 3, 7, 9, 5, 3, 1, 1, 0, 0.3, 0}, {1, 4, 11, 10, 6, 3, 2, 1, 0, 0.25, 1},
        {2, 5, 6, 6, 3, 1, 1, 0, 0, 0.5, 0}, {1, 2, 20, 23, 4, 5, 2, 2, 0, 0.1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_conv(cases[i]);
}

static void test_linear(void) {
    const int shapes[][3] = {{3, 37, 11}, {1, 100, 64}, {17, 64, 200}, {130, 50, 20}};
    const double dens[] = {0.3, 0.25, 0.1, 0.5};
    for (int t = 0; t < 4; t++) {
        const int N = shapes[t][0], I = shapes[t][1], O = shapes[t][2];
        SparsePattern sp;
        EXPECT(sparse_make(&sp, SPARSE_BIREGULAR, O, I, 1, dens[t], &rng, "lin") == SEI_OK, "%s", sei_last_error());
        const size_t nw = (size_t)O * I;
        float *x = randn((size_t)N * I), *w = randn(nw), *b = randn((size_t)O), *mask = malloc(nw * sizeof *mask);
        sparse_fill_mask(&sp, mask);
        for (size_t i = 0; i < nw; i++) w[i] *= mask[i];
        LinearParams p = {N, I, O};
        const SparseIndex si = index_of(&sp);
        float *y = malloc((size_t)N * O * sizeof *y), *yr = malloc((size_t)N * O * sizeof *yr);
        float *ws = malloc(linear_sparse_workspace(&p, &si) * sizeof *ws);
        linear_sparse_forward(y, x, w, b, &p, &si, ws);
        linear_forward_ref(yr, x, w, b, &p);
        double e = rel_err(y, yr, (size_t)N * O, 1e-3);
        EXPECT(e < 1e-5, "linear %dx%d->%d: forward rel err %.3g", N, I, O, e);
        float *dy = randn((size_t)N * O), *dx = randn((size_t)N * I), *dxr = malloc((size_t)N * I * sizeof *dxr);
        float *dw = calloc(nw, sizeof *dw), *dwr = calloc(nw, sizeof *dwr);
        float *db = calloc((size_t)O, sizeof *db), *dbr = calloc((size_t)O, sizeof *dbr);
        memcpy(dxr, dx, (size_t)N * I * sizeof *dx);
        linear_sparse_backward(dx, dw, db, dy, x, w, &p, &si, ws);
        linear_backward_ref(dxr, dwr, dbr, dy, x, w, &p);
        int untouched = 1;
        for (size_t i = 0; i < nw; i++)
            if (mask[i] == 0) { untouched &= dw[i] == 0; dwr[i] = 0; }
        EXPECT(untouched, "linear: gradient written to dropped weights");
        EXPECT(rel_err(dx, dxr, (size_t)N * I, 1e-3) < 2e-5 && rel_err(dw, dwr, nw, 1e-3) < 2e-5 &&
               rel_err(db, dbr, (size_t)O, 1e-3) < 2e-5, "linear %dx%d->%d backward", N, I, O);
        free(x); free(w); free(b); free(mask); free(y); free(yr); free(dy); free(dx); free(dxr);
        free(dw); free(dwr); free(db); free(dbr); free(ws);
        sparse_free(&sp);
    }
}

int main(void) {
    rng_seed(&rng, 42);
    RUN(test_conv_channel);
    RUN(test_conv_weight);
    RUN(test_linear);
    return test_summary();
}
