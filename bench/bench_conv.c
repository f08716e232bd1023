/* bench_conv.c - conv2d_forward and conv2d_backward speed per distinct conv shape of VGG16
 * and ResNet-50, in GFLOP/s and % of the measured FMA peak (kernels/peak.h).
 *
 *   bench_conv [--net vgg16|resnet50|all] [--size S] [--batch B] [--threads T] [--iters N]
 *              [--min-ms M] [--peak G]               defaults: all, 64, 16, 2, 3, 30, measured
 *
 * The shapes come from the networks themselves: every L_CONV layer and every convolution
 * inside a ResNet bottleneck (conv1..conv3, downsample.0), with the input shape each one sees
 * at SIZE x SIZE (top-level input shapes from net_shapes, bottleneck internals walked here).
 * Identical shapes are timed once and reported with their count and first layer's path.
 *
 * Flops: forward 2*MACs (MACs = N*OC*OH*OW*C/groups*KH*KW); backward computes din and dw,
 * two GEMMs of the forward's size, so 4*MACs (db, where the layer has a bias, is not
 * counted); % of peak divides by the FMA peak measured at start-up, or by --peak. Each
 * figure is the median of --iters timed runs after one warm-up call; a run repeats the call
 * until it lasts >= --min-ms (the count is calibrated on the first run).
 *
 * Output, one JSON object per line (bench/run.sh tabulates them):
 *   {"peak_gflops":P,"peak_given":0|1,"threads":T,"isa":"avx512"}         first line
 *   {"net":..,"size":..,"layer":..,"count":..,"N":..,"C":..,"H":..,"W":..,"OC":..,"k":..,
 *    "stride":..,"pad":..,"OH":..,"OW":..,"macs":..,"fwd_ms":..,"fwd_gflops":..,"fwd_pct":..,
 *    "bwd_ms":..,"bwd_gflops":..,"bwd_pct":..}                             one per shape
 *   {"net":..,"total":1,"N":..,"size":..,"convs":..,"fwd_ms":..,"bwd_ms":..,"fwd_gflops":..,"bwd_gflops":..}
 *                                  per network: all its convs (count-weighted) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine/clock.h"
#include "engine/threads.h"
#include "kernels/dispatch.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "kernels/peak.h"
#include "nets/net.h"

typedef struct {
    const Layer *l;          /* first layer with this shape */
    Conv2dParams p;
    int count;
} ConvShape;

typedef struct {
    ConvShape *v;
    int n, cap;
} ShapeList;

static void *xmalloc(size_t n) {
    void *p = sei_alloc(n ? n : 64);
    if (!p) {
        fprintf(stderr, "bench_conv: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* add conv layer l seeing input s[4]; updates s to its output shape */
static void add_conv(ShapeList *sl, const Layer *l, int *s) {
    Conv2dParams p;
    if (!conv2d_params(&p, s[0], s[1], s[2], s[3], l->out_c, l->k, l->k, l->stride, l->pad,
                       l->groups > 0 ? l->groups : 1)) {
        fprintf(stderr, "bench_conv: %s: invalid conv shape\n", l->path);
        exit(1);
    }
    s[1] = p.OC; s[2] = p.OH; s[3] = p.OW;
    for (int i = 0; i < sl->n; i++) {
        const Conv2dParams *q = &sl->v[i].p;
        if (q->N == p.N && q->C == p.C && q->H == p.H && q->W == p.W && q->OC == p.OC &&
            q->KH == p.KH && q->KW == p.KW && q->sh == p.sh && q->ph == p.ph &&
            q->groups == p.groups) {
            sl->v[i].count++;
            return;
        }
    }
    if (sl->n == sl->cap) {
        sl->cap = sl->cap ? 2 * sl->cap : 32;
        sl->v = realloc(sl->v, (size_t)sl->cap * sizeof *sl->v);
        if (!sl->v) { fprintf(stderr, "bench_conv: out of memory\n"); exit(1); }
    }
    sl->v[sl->n++] = (ConvShape){l, p, 1};
}

/* every conv of net at batch x 3 x size x size */
static void collect(const Net *net, int batch, int size, ShapeList *sl) {
    LayerInfo *info = calloc((size_t)net->nlayers, sizeof *info);
    if (!info || net_shapes(net, batch, net->in_ch, size, size, info) != SEI_OK) {
        fprintf(stderr, "bench_conv: %s at %dx%d: %s\n", net->name, size, size,
                info ? sei_last_error() : "out of memory");
        exit(2);
    }
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = &net->layers[i];
        int in[4] = {batch, net->in_ch, size, size};
        if (i > 0) memcpy(in, info[i - 1].shape, sizeof in);
        if (l->kind == L_CONV) {
            add_conv(sl, l, in);
        } else if (l->kind == L_BOTTLENECK) {
            int s[4];
            memcpy(s, in, sizeof s);
            for (int j = 0; j < l->nsub && j < 6; j++)
                if (l->sub[j].kind == L_CONV) add_conv(sl, &l->sub[j], s);
            for (int j = 6; j < l->nsub; j++) {
                if (l->sub[j].kind != L_CONV) continue;
                memcpy(s, in, sizeof s); /* downsample sees the block input */
                add_conv(sl, &l->sub[j], s);
            }
        }
    }
    free(info);
}

typedef struct {
    const Conv2dParams *p;
    float *in, *w, *b, *out, *dout, *din, *dw, *db, *ws;
} ConvBufs;

static void run_fwd(ConvBufs *c) { conv2d_forward(c->out, c->in, c->w, c->b, c->p, c->ws); }
static void run_bwd(ConvBufs *c) {
    conv2d_backward(c->din, c->dw, c->db, c->dout, c->in, c->w, c->p, c->ws);
}

/* median ms per call of fn over iters runs of >= min_ms each */
static double time_ms(void (*fn)(ConvBufs *), ConvBufs *c, int iters, double min_ms) {
    double *t = calloc((size_t)iters, sizeof *t);
    fn(c); /* warm-up: page faults, caches */
    int calls = 1;
    for (int r = 0; r < iters; r++) {
        double t0, dt;
        for (;;) {
            t0 = sei_now();
            for (int k = 0; k < calls; k++) fn(c);
            dt = sei_now() - t0;
            if (dt * 1e3 >= min_ms || r > 0 || calls >= (1 << 20)) break;
            calls *= 2;
        }
        t[r] = 1e3 * dt / calls;
    }
    double m = sei_median(t, iters);
    free(t);
    return m;
}

static void fill(float *p, size_t n, unsigned seed) {
    unsigned x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (float)(x >> 8) / 8388608.0f - 1.0f;
    }
}

static void bench_net(const char *name, int size, int batch, int iters, double min_ms,
                      double peak) {
    Net net;
    if (net_create(&net, name, 1000, 3, 1.0f) != SEI_OK) {
        fprintf(stderr, "bench_conv: %s\n", sei_last_error());
        exit(2);
    }
    ShapeList sl = {0};
    collect(&net, batch, size, &sl);
    double tot_f = 0, tot_b = 0, tot_flops = 0;
    for (int i = 0; i < sl.n; i++) {
        const ConvShape *cs = &sl.v[i];
        const Conv2dParams *p = &cs->p;
        size_t nin = (size_t)p->N * p->C * p->H * p->W, nout = (size_t)p->N * p->OC * p->OH * p->OW,
               nw = (size_t)p->OC * (p->C / p->groups) * p->KH * p->KW;
        ConvBufs c = {p, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
        c.in = xmalloc(nin * 4); c.din = xmalloc(nin * 4);
        c.out = xmalloc(nout * 4); c.dout = xmalloc(nout * 4);
        c.w = xmalloc(nw * 4); c.dw = xmalloc(nw * 4);
        if (cs->l->b >= 0) { c.b = xmalloc((size_t)p->OC * 4); c.db = xmalloc((size_t)p->OC * 4); }
        c.ws = xmalloc(conv2d_workspace(p) * sizeof(float));
        fill(c.in, nin, 1); fill(c.dout, nout, 2); fill(c.w, nw, 3);
        memset(c.din, 0, nin * 4); memset(c.dw, 0, nw * 4);
        if (c.b) { fill(c.b, (size_t)p->OC, 4); memset(c.db, 0, (size_t)p->OC * 4); }
        const double macs = (double)nout * (p->C / p->groups) * p->KH * p->KW;
        const double fms = time_ms(run_fwd, &c, iters, min_ms);
        const double bms = time_ms(run_bwd, &c, iters, min_ms);
        const double fg = 2 * macs / (fms * 1e6), bg = 4 * macs / (bms * 1e6);
        printf("{\"net\":\"%s\",\"size\":%d,\"layer\":\"%s\",\"count\":%d,\"N\":%d,\"C\":%d,\"H\":%d,\"W\":%d,"
               "\"OC\":%d,\"k\":%d,\"stride\":%d,\"pad\":%d,\"OH\":%d,\"OW\":%d,\"macs\":%.0f,"
               "\"fwd_ms\":%.4g,\"fwd_gflops\":%.4g,\"fwd_pct\":%.3g,"
               "\"bwd_ms\":%.4g,\"bwd_gflops\":%.4g,\"bwd_pct\":%.3g}\n",
               name, size, cs->l->path, cs->count, p->N, p->C, p->H, p->W, p->OC, p->KH, p->sh, p->ph,
               p->OH, p->OW, macs, fms, fg, 100 * fg / peak, bms, bg, 100 * bg / peak);
        fflush(stdout);
        tot_f += cs->count * fms;
        tot_b += cs->count * bms;
        tot_flops += cs->count * 2 * macs;
        sei_free(c.in); sei_free(c.din); sei_free(c.out); sei_free(c.dout);
        sei_free(c.w); sei_free(c.dw); sei_free(c.b); sei_free(c.db); sei_free(c.ws);
    }
    printf("{\"net\":\"%s\",\"total\":1,\"N\":%d,\"size\":%d,\"convs\":%d,\"fwd_ms\":%.4g,"
           "\"bwd_ms\":%.4g,\"fwd_gflops\":%.4g,\"bwd_gflops\":%.4g}\n",
           name, batch, size, sl.n, tot_f, tot_b, tot_flops / (tot_f * 1e6),
           2 * tot_flops / (tot_b * 1e6));
    fflush(stdout);
    free(sl.v);
    net_free(&net);
}

static void usage(void) {
    fprintf(stderr, "usage: bench_conv [--net vgg16|resnet50|all] [--size S] [--batch B] "
                    "[--threads T] [--iters N] [--min-ms M]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *which = "all";
    int size = 64, batch = 16, threads = 2, iters = 3;
    double min_ms = 30, given_peak = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        const char *a = argv[i], *v = argv[++i];
        if (!strcmp(a, "--net")) which = v;
        else if (!strcmp(a, "--size")) size = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--iters")) iters = atoi(v);
        else if (!strcmp(a, "--min-ms")) min_ms = atof(v);
        else if (!strcmp(a, "--peak")) given_peak = atof(v);
        else usage();
    }
    if (size < 1 || batch < 1 || iters < 1 || threads < 0 || min_ms < 0 || given_peak < 0) usage();
    if (strcmp(which, "all") && strcmp(which, "vgg16") && strcmp(which, "resnet50")) usage();
    sei_kernels_init();
    sei_set_threads(threads);
    const double peak = given_peak > 0 ? given_peak : sei_measure_peak_gflops(sei_threads());
    printf("{\"peak_gflops\":%.4g,\"peak_given\":%d,\"threads\":%d,\"isa\":\"%s\"}\n", peak,
           given_peak > 0, sei_threads(), sei_gemm_isa());
    fflush(stdout);
    if (!strcmp(which, "all") || !strcmp(which, "vgg16"))
        bench_net("vgg16", size, batch, iters, min_ms, peak);
    if (!strcmp(which, "all") || !strcmp(which, "resnet50"))
        bench_net("resnet50", size, batch, iters, min_ms, peak);
    return 0;
}
