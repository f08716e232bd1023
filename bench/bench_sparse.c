/* bench_sparse.c - the predefined-sparse conv layers against their dense version, same run:
 * every conv of a network that net_sparsify makes sparse, timed on the dense kernels (the
 * masked weights, what SEI_DENSE=1 runs), on the direct sparse kernels (conv_direct.c), on
 * the grouped-GEMM sparse path, and dense on im2col + GEMM.
 *
 *   bench_sparse [--net NAME] [--width W] [--in-ch C] [--size S] [--batch B] [--density D]
 *                [--sparsity channel|weight] [--until CUT] [--threads T] [--iters N] [--min-ms M]
 *   defaults: vgg16_bn, 0.25, 1, 32, 128, 0.25, channel, features.23, 2, 5, 50
 *   (the device head: Fashion-MNIST 32x32 on a width-0.25 VGG16-BN cut at features.23)
 *
 * Inference ("fwd"): conv + eval batch norm + ReLU fused, as sei eval / sei forward run it.
 * Training ("train"): conv2d_forward + conv2d_backward (din, dw, db). Each figure is the
 * median of --iters runs of >= --min-ms after a warm-up; the kinds alternate within a layer,
 * so drifts of a shared machine hit them alike.
 *
 * Output, one JSON object per line:
 *   {"layer":..,"N":..,"C":..,"H":..,"W":..,"OC":..,"k":..,"density":..,"macs_dense":..,
 *    "macs_sparse":..,"fwd_dense_ms":..,"fwd_direct_ms":..,"fwd_grouped_ms":..,
 *    "train_dense_ms":..,"train_direct_ms":..,"train_grouped_ms":..}
 *   {"total":1,"layers":..,"fwd_dense_ms":..,...,"fwd_speedup":..,"train_speedup":..}
 * speedups: dense / the sparse path the tape picks (conv2d_sparse_pays, direct first);
 * fwd_speedup_vs_dense_gemm: the same against the dense layer on the direct kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/clock.h"
#include "engine/threads.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"
#include "nets/net.h"
#include "nets/sparsity.h"

typedef struct {
    const Conv2dParams *p;
    const SparseIndex *s;
    ConvEpilogue ep;
    float *in, *w, *b, *out, *dout, *din, *dw, *db, *ws;
} Bufs;

/* DENSE: conv2d on the masked weights, as sei runs a dense layer (small 3x3 layers on the
 * direct kernels, kernels/conv2d.c); DIRECT, GROUPED: the two sparse paths; DENSE_GEMM:
 * conv2d forced onto im2col + GEMM (sei_conv_direct = 0), the dense path before the direct
 * kernels */
enum { DENSE, DIRECT, GROUPED, DENSE_GEMM, KINDS };

static int kind_now;

static const SparseIndex *pattern(const Bufs *c) { return c->s; }

static void fwd(Bufs *c) {
    if (kind_now == DENSE || kind_now == DENSE_GEMM) conv2d_forward_fused(c->out, c->in, c->w, c->b, &c->ep, c->p, c->ws);
    else conv2d_sparse_forward(c->out, c->in, c->w, c->b, &c->ep, c->p, pattern(c), c->ws);
}

static void train(Bufs *c) {
    if (kind_now == DENSE || kind_now == DENSE_GEMM) {
        conv2d_forward(c->out, c->in, c->w, c->b, c->p, c->ws);
        conv2d_backward(c->din, c->dw, c->db, c->dout, c->in, c->w, c->p, c->ws);
    } else {
        conv2d_sparse_forward(c->out, c->in, c->w, c->b, NULL, c->p, pattern(c), c->ws);
        conv2d_sparse_backward(c->din, c->dw, c->db, c->dout, c->in, c->w, c->p, pattern(c), c->ws);
    }
}

static void set_kind(int k) {
    kind_now = k;
    sei_conv_direct = k != GROUPED && k != DENSE_GEMM;
}

/* ms per call of fn, one sample of >= min_ms (calls: calibrated on the first sample) */
static double sample(void (*fn)(Bufs *), Bufs *c, int *calls, double min_ms) {
    for (;;) {
        const double t0 = sei_now();
        for (int k = 0; k < *calls; k++) fn(c);
        const double dt = sei_now() - t0;
        if (dt * 1e3 >= min_ms || *calls >= (1 << 20)) return 1e3 * dt / *calls;
        *calls *= 2;
    }
}

static void *xmalloc(size_t n) {
    void *p = sei_alloc(n ? n : 64);
    if (!p) { fprintf(stderr, "bench_sparse: out of memory (%zu bytes)\n", n); exit(1); }
    return p;
}

static void fill(float *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / 8388608.0f - 1.0f;
    }
}

/* the medians of kinds x {fwd, train} for one layer, alternating kinds per sample */
static void time_layer(Bufs *c, int iters, double min_ms, double ms[KINDS][2]) {
    double t[KINDS][2][64];
    int calls[KINDS][2];
    for (int k = 0; k < KINDS; k++) {
        set_kind(k);
        fwd(c), train(c); /* warm-up */
        calls[k][0] = calls[k][1] = 1;
    }
    for (int r = 0; r < iters; r++)
        for (int k = 0; k < KINDS; k++) {
            set_kind(k);
            t[k][0][r] = sample(fwd, c, &calls[k][0], min_ms);
            t[k][1][r] = sample(train, c, &calls[k][1], min_ms);
        }
    for (int k = 0; k < KINDS; k++)
        for (int m = 0; m < 2; m++) ms[k][m] = sei_median(t[k][m], iters);
    set_kind(DIRECT);
}

static void usage(void) {
    fprintf(stderr, "usage: bench_sparse [--net NAME] [--width W] [--in-ch C] [--size S] [--batch B] "
                    "[--density D] [--sparsity channel|weight] [--until CUT] [--threads T] "
                    "[--iters N] [--min-ms M]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *name = "vgg16_bn", *until = "features.23", *kind = "channel";
    int size = 32, batch = 128, threads = 2, iters = 5, in_ch = 1;
    double width = 0.25, density = 0.25, min_ms = 50;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        const char *a = argv[i], *v = argv[++i];
        if (!strcmp(a, "--net")) name = v;
        else if (!strcmp(a, "--width")) width = atof(v);
        else if (!strcmp(a, "--in-ch")) in_ch = atoi(v);
        else if (!strcmp(a, "--size")) size = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--density")) density = atof(v);
        else if (!strcmp(a, "--sparsity")) kind = v;
        else if (!strcmp(a, "--until")) until = !strcmp(v, "none") ? NULL : v;
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--iters")) iters = atoi(v);
        else if (!strcmp(a, "--min-ms")) min_ms = atof(v);
        else usage();
    }
    const int sk = sparse_kind_parse(kind);
    if (size < 1 || batch < 1 || iters < 1 || iters > 64 || threads < 0 || min_ms < 0 || width <= 0 ||
        in_ch < 1 || density <= 0 || density >= 1 || (sk != SPARSE_CHANNEL && sk != SPARSE_WEIGHT))
        usage();
    sei_kernels_init();
    sei_set_threads(threads);
    Net net;
    SparseSpec spec = {.density = density, .conv_kind = (SparseKind)sk, .until = until};
    LayerInfo *info = NULL;
    if (net_create(&net, name, 10, in_ch, (float)width) != SEI_OK || net_sparsify(&net, &spec, 1) != SEI_OK ||
        !(info = calloc((size_t)net.nlayers, sizeof *info)) ||
        net_shapes(&net, batch, in_ch, size, size, info) != SEI_OK) {
        fprintf(stderr, "bench_sparse: %s\n", sei_last_error());
        return 2;
    }
    double tot[KINDS][2] = {{0}}, picked[2] = {0};
    int layers = 0;
    for (int i = 0; i < net.nlayers; i++) {
        const Layer *l = &net.layers[i];
        if (l->kind != L_CONV || !net.params[l->w].sp) continue;
        int s[4] = {batch, in_ch, size, size};
        if (i > 0) memcpy(s, info[i - 1].shape, sizeof s);
        Conv2dParams p;
        if (!conv2d_params(&p, s[0], s[1], s[2], s[3], l->out_c, l->k, l->k, l->stride, l->pad, 1)) continue;
        Bufs c = {.p = &p, .s = &net.params[l->w].sp->kidx};
        const size_t nin = (size_t)p.N * p.C * p.H * p.W, nout = (size_t)p.N * p.OC * p.OH * p.OW;
        const size_t nw = (size_t)p.OC * p.C * p.KH * p.KW, ws = conv2d_workspace(&p);
        sei_conv_direct = 1;
        const size_t ws1 = conv2d_sparse_workspace(&p, c.s);
        sei_conv_direct = 0;
        const size_t ws0 = conv2d_sparse_workspace(&p, c.s), wsf = conv2d_workspace(&p);
        c.in = xmalloc(nin * 4), c.din = xmalloc(nin * 4), c.out = xmalloc(nout * 4), c.dout = xmalloc(nout * 4);
        c.w = xmalloc(nw * 4), c.dw = xmalloc(nw * 4), c.b = xmalloc((size_t)p.OC * 4), c.db = xmalloc((size_t)p.OC * 4);
        float *alpha = xmalloc((size_t)p.OC * 4), *shift = xmalloc((size_t)p.OC * 4);
        size_t wmax = ws > ws1 ? ws : ws1;
        wmax = wmax > ws0 ? wmax : ws0;
        wmax = wmax > wsf ? wmax : wsf;
        c.ws = xmalloc(wmax * sizeof(float));
        c.ep = (ConvEpilogue){alpha, shift, 1};
        fill(c.in, nin, 1), fill(c.dout, nout, 2), fill(c.b, (size_t)p.OC, 4);
        fill(alpha, (size_t)p.OC, 5), fill(shift, (size_t)p.OC, 6);
        memcpy(c.w, net.params[l->w].v.t.data, nw * 4); /* the masked weights */
        memset(c.din, 0, nin * 4), memset(c.dw, 0, nw * 4), memset(c.db, 0, (size_t)p.OC * 4);
        double ms[KINDS][2];
        time_layer(&c, iters, min_ms, ms);
        const size_t sn = sparse_nnz(net.params[l->w].sp);
        const double md = (double)nout * p.C * p.KH * p.KW, msp = (double)nout / p.OC * sn;
        printf("{\"layer\":\"%s\",\"N\":%d,\"C\":%d,\"H\":%d,\"W\":%d,\"OC\":%d,\"k\":%d,\"density\":%.4g,"
               "\"macs_dense\":%.0f,\"macs_sparse\":%.0f,\"fwd_dense_ms\":%.4g,\"fwd_direct_ms\":%.4g,"
               "\"fwd_grouped_ms\":%.4g,\"train_dense_ms\":%.4g,\"train_direct_ms\":%.4g,"
               "\"train_grouped_ms\":%.4g,\"fwd_dense_gemm_ms\":%.4g,\"train_dense_gemm_ms\":%.4g}\n",
               l->path, p.N, p.C, p.H, p.W, p.OC, p.KH, msp / md, md, msp, ms[DENSE][0], ms[DIRECT][0],
               ms[GROUPED][0], ms[DENSE][1], ms[DIRECT][1], ms[GROUPED][1], ms[DENSE_GEMM][0], ms[DENSE_GEMM][1]);
        fflush(stdout);
        /* what the tape runs: the sparse kernels where conv2d_sparse_pays, else dense */
        const int pays = conv2d_sparse_pays(&p, c.s);
        for (int k = 0; k < KINDS; k++)
            for (int m = 0; m < 2; m++) tot[k][m] += ms[k][m];
        for (int m = 0; m < 2; m++) picked[m] += pays ? ms[DIRECT][m] : ms[DENSE][m];
        layers++;
        sei_free(c.in), sei_free(c.din), sei_free(c.out), sei_free(c.dout), sei_free(c.w), sei_free(c.dw);
        sei_free(c.b), sei_free(c.db), sei_free(alpha), sei_free(shift), sei_free(c.ws);
    }
    if (!layers) {
        fprintf(stderr, "bench_sparse: no sparse conv layers in %s up to %s\n", name, until ? until : "the end");
        return 2;
    }
    printf("{\"total\":1,\"net\":\"%s\",\"layers\":%d,\"batch\":%d,\"size\":%d,\"threads\":%d,"
           "\"fwd_dense_ms\":%.4g,\"fwd_direct_ms\":%.4g,\"fwd_grouped_ms\":%.4g,\"train_dense_ms\":%.4g,"
           "\"train_direct_ms\":%.4g,\"train_grouped_ms\":%.4g,\"fwd_dense_gemm_ms\":%.4g,\"train_dense_gemm_ms\":%.4g,"
           "\"fwd_speedup\":%.3g,\"train_speedup\":%.3g,\"fwd_speedup_vs_dense_gemm\":%.3g}\n",
           name, layers, batch, size, sei_threads(), tot[DENSE][0], tot[DIRECT][0], tot[GROUPED][0],
           tot[DENSE][1], tot[DIRECT][1], tot[GROUPED][1], tot[DENSE_GEMM][0], tot[DENSE_GEMM][1],
           tot[DENSE][0] / picked[0], tot[DENSE][1] / picked[1], tot[DENSE_GEMM][0] / picked[0]);
    free(info);
    net_free(&net);
    return 0;
}
