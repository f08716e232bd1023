/* cmd_bench.c - `sei bench`: how fast a network runs here, or how fast one GEMM runs.
 *
 * Network mode (--net): builds the network with random torchvision-style weights
 * (net_create + net_init) and a random input batch, runs --warmup untimed passes, then times
 * --iters passes with CLOCK_MONOTONIC and reports the MEDIAN.
 *   infer: eval mode (tape not recording, BN running statistics, no dropout), forward only;
 *   train: one full SGD step - tape_reset, net_zero_grad, forward in training mode (recording,
 *          BN batch statistics, dropout on), mean softmax cross-entropy, tape_backward,
 *          optim_step (SGD, momentum 0.9, lr 0.01, over every non-buffer parameter; the
 *          optimizer is set up once, outside the timing).
 * Achieved GFLOP/s counts 2 * MACs * batch per forward (MACs from net_shapes); a training
 * step counts 3x that (forward + data gradient + weight gradient).
 *
 * GEMM mode (--gemm M,N,K): sei_gemm on uniform [-1,1) matrices, beta = 0; each of --iters
 * timed runs repeats the call until it lasts >= 20 ms; reports the median GFLOP/s beside
 * the measured FMA peak (kernels/peak.h) on the same thread count, or the --peak given (a
 * suite measures the peak once so that every row has the same denominator).
 *
 * --profile adds one untimed run with the tape's per-op-kind clock (Tape.profile) and reports
 * forward / backward milliseconds per op kind.
 *
 * Output: one human-readable line (plus the profile table), or with --json one JSON object on
 * one line. Network keys: engine net size batch mode threads iters warmup classes in_ch
 * width_mult isa macs_per_image ms_per_batch (the median) ms_min ms_max images_per_s gflops
 * peak_rss_mb arena_peak_mb [profile]. GEMM keys: engine gemm M N K trans_a trans_b threads
 * iters calls_per_iter ms_per_call gflops peak_gflops pct_of_peak peak_given isa peak_rss_mb.
 * peak_rss_mb is getrusage(RUSAGE_SELF).ru_maxrss / 1024: the whole process's high-water
 * mark in MiB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "engine/clock.h"
#include "autograd/optim.h"
#include "cli/common.h"
#include "nets/sparsity.h"
#include "engine/threads.h"
#include "kernels/gemm.h"
#include "kernels/peak.h"

static Flag bench_flags[] = {
    NET_FLAGS,
    {"size", "H", "input height = width", "224", NULL, 0},
    {"batch", "B", "images per batch", "1", NULL, 0},
    {"mode", "MODE", "infer (eval forward) or train (one SGD step)", "infer", NULL, 0},
    {"iters", "N", "timed runs; the median is reported", "5", NULL, 0},
    {"warmup", "W", "untimed runs before timing", "1", NULL, 0},
    {"json", NULL, "print one JSON object on one line", NULL, NULL, 0},
    {"profile", NULL, "after timing, one more run with seconds per op kind (JSON: \"profile\")", NULL, NULL, 0},
    {"gemm", "M,N,K", "time sei_gemm C[M,N] = A[M,K] B[K,N] instead of a network", NULL, NULL, 0},
    {"trans-a", NULL, "with --gemm: A stored transposed, [K,M]", NULL, NULL, 0},
    {"trans-b", NULL, "with --gemm: B stored transposed, [N,K]", NULL, NULL, 0},
    {"peak", "GFLOPS", "with --gemm: the FMA peak to compare with (default: measure it)", NULL, NULL, 0},
    {"density", "D", "predefined sparsity of the conv/linear layers (see sei train); SEI_DENSE=1 runs them on the dense kernels", "1", NULL, 0},
    {"sparsity", "KIND", "with --density: channel or weight conv pattern", "channel", NULL, 0},
    {"sparse-until", "CUT", "with --density: only the layers up to this cut point", NULL, NULL, 0},
};

static double peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* ---------------------------------------------------------------- GEMM mode */

/* "M,N,K" -> three integers in [1, 65536]; 0 on success */
static int parse_mnk(const char *s, int *mnk) {
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 65536) return -1;
        mnk[i] = (int)v;
        if (i < 2 && *end != ',') return -1;
        if (i == 2 && *end) return -1;
        p = end + 1;
    }
    return 0;
}

static float *random_floats(size_t n, unsigned seed) {
    float *p = sei_alloc(n * sizeof(float));
    if (!p) return NULL;
    unsigned x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (float)(x >> 8) / 8388608.0f - 1.0f;
    }
    return p;
}

static int bench_gemm(Command *c, int iters, int warmup, int json) {
    int mnk[3];
    const char *spec = args_str(c, "gemm");
    if (parse_mnk(spec, mnk))
        return cli_error(c->cmd, "--gemm: '%s' is not M,N,K (three integers in [1, 65536])", spec);
    const int M = mnk[0], N = mnk[1], K = mnk[2];
    const int ta = args_bool(c, "trans-a"), tb = args_bool(c, "trans-b");
    const int lda = ta ? M : K, ldb = tb ? K : N;
    float *A = random_floats((size_t)M * K, 1), *B = random_floats((size_t)K * N, 2),
          *C = random_floats((size_t)M * N, 3);
    if (!A || !B || !C) {
        sei_free(A); sei_free(B); sei_free(C);
        return cli_error(c->cmd, "--gemm %s: out of memory", spec);
    }
    double *g = calloc((size_t)iters, sizeof *g);
    if (!g) { sei_free(A); sei_free(B); sei_free(C); return cli_error(c->cmd, "out of memory"); }
    const double flops = 2.0 * M * N * K;
    for (int w = 0; w < (warmup > 0 ? warmup : 1); w++)
        sei_gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
    int calls = 1;
    for (int r = 0; r < iters; r++) {
        double t0, dt;
        for (;;) {
            t0 = sei_now();
            for (int k = 0; k < calls; k++)
                sei_gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
            dt = sei_now() - t0;
            if (dt >= 0.02 || r > 0 || calls >= (1 << 20)) break;
            calls *= 2; /* calibrate the repeat count on the first run */
        }
        g[r] = flops * calls / dt * 1e-9;
    }
    const double gflops = sei_median(g, iters);
    const int threads = sei_threads();
    float given = 0;
    if (args_float(c, "peak", 1e-3, 1e9, &given)) { free(g); sei_free(A); sei_free(B); sei_free(C); return 2; }
    const double peak = given > 0 ? given : sei_measure_peak_gflops(threads);
    const double pct = peak > 0 ? 100.0 * gflops / peak : 0;
    if (json)
        printf("{\"engine\":\"sei\",\"gemm\":\"%d,%d,%d\",\"M\":%d,\"N\":%d,\"K\":%d,\"trans_a\":%d,"
               "\"trans_b\":%d,\"threads\":%d,\"iters\":%d,\"calls_per_iter\":%d,"
               "\"ms_per_call\":%.6g,\"gflops\":%.4g,\"peak_gflops\":%.4g,\"pct_of_peak\":%.4g,"
               "\"peak_given\":%d,\"isa\":\"%s\",\"peak_rss_mb\":%.1f}\n",
               M, N, K, M, N, K, ta, tb, threads, iters, calls, 1e3 * flops / (gflops * 1e9),
               gflops, peak, pct, given > 0, sei_gemm_isa(), peak_rss_mb());
    else
        printf("sei_gemm %dx%dx%d%s%s, %d threads (%s): %.1f GFLOP/s, %.1f%% of the %.1f GFLOP/s "
               "FMA peak\n",
               M, N, K, ta ? " A^T" : "", tb ? " B^T" : "", threads, sei_gemm_isa(), gflops, pct,
               peak);
    free(g);
    sei_free(A); sei_free(B); sei_free(C);
    return 0;
}

/* ---------------------------------------------------------------- network mode */

typedef struct {
    Net *net;
    Tape *tape;
    Tensor *x;
    const int32_t *labels;
    Optimizer *opt; /* NULL: inference */
} Step;

/* one timed unit: an eval forward, or a whole SGD step. 0 on success (error set).
 * phase_ms (may be NULL) receives the milliseconds of net_zero_grad and optim_step. */
static int run_step(Step *s, double phase_ms[2]) {
    Tape *t = s->tape;
    tape_reset(t);
    double t0 = sei_now();
    if (s->opt) net_zero_grad(s->net);
    if (phase_ms) phase_ms[0] = 1e3 * (sei_now() - t0);
    Value *in = tape_wrap(t, s->x, 0);
    Value *y = in ? net_forward(s->net, t, in, 0, s->net->nlayers, NULL) : NULL;
    if (!y) return -1;
    if (s->opt) {
        Value *loss = ag_softmax_ce(t, y, s->labels);
        if (!loss || tape_backward(t, loss, NULL) != SEI_OK) return -1;
        t0 = sei_now();
        optim_step(s->opt);
        if (phase_ms) phase_ms[1] = 1e3 * (sei_now() - t0);
    }
    return 0;
}

/* per-op-kind times of the profiled run: a table, or ,"profile":{...} inside the JSON object */
static void print_profile(const Tape *t, double total_ms, const double phase[2], int json) {
    double acc = phase[0] + phase[1];
    if (json) printf(",\"profile\":{\"total_ms\":%.4g", total_ms);
    else printf("  %-20s %10s %10s\n", "op", "fwd ms", "bwd ms");
    for (int op = 0; op < OP_COUNT; op++) {
        double f = 1e3 * t->prof[0][op], b = 1e3 * t->prof[1][op];
        if (f + b == 0) continue;
        acc += f + b;
        if (json) printf(",\"%s\":{\"fwd_ms\":%.4g,\"bwd_ms\":%.4g}", op_name((OpKind)op), f, b);
        else printf("  %-20s %10.2f %10.2f\n", op_name((OpKind)op), f, b);
    }
    if (json) {
        printf(",\"zero_grad_ms\":%.4g,\"optim_ms\":%.4g,\"other_ms\":%.4g}", phase[0], phase[1],
               total_ms - acc);
    } else {
        printf("  %-20s %10.2f\n  %-20s %10.2f\n", "zero_grad", phase[0], "optim_step", phase[1]);
        printf("  %-20s %10.2f (of %.2f ms: tape, arena, ops without a clock)\n", "other",
               total_ms - acc, total_ms);
    }
}

static int bench_net(Command *c, int iters, int warmup, int json) {
    int size = 224, batch = 1, rc;
    if (args_int(c, "size", 1, 1 << 14, &size) || args_int(c, "batch", 1, 1 << 16, &batch))
        return 2;
    const char *mode = args_str(c, "mode");
    int train;
    if (strcmp(mode, "infer") == 0) train = 0;
    else if (strcmp(mode, "train") == 0) train = 1;
    else return cli_error(c->cmd, "--mode: '%s' is not infer or train", mode);

    Net net;
    if ((rc = cli_open_net(c, &net, NULL))) return rc;
    LayerInfo *info = calloc((size_t)net.nlayers, sizeof *info);
    if (!info) { net_free(&net); return cli_error(c->cmd, "out of memory"); }
    if (net_shapes(&net, 1, net.in_ch, size, size, info) != SEI_OK) {
        rc = cli_error(c->cmd, "%s at %dx%d: %s", net.name, size, size, sei_last_error());
        free(info);
        net_free(&net);
        return rc;
    }
    const double macs = info[net.nlayers - 1].macs; /* per image */
    free(info);
    net_init(&net, 1);
    float density = 1;
    if (args_float(c, "density", 1e-6, 1, &density)) { net_free(&net); return 2; }
    if (density < 1) {
        const int kind = sparse_kind_parse(args_str(c, "sparsity"));
        if (kind != SPARSE_CHANNEL && kind != SPARSE_WEIGHT) {
            net_free(&net);
            return cli_error(c->cmd, "--sparsity: '%s' is not channel or weight", args_str(c, "sparsity"));
        }
        SparseSpec sp = {.density = density, .conv_kind = (SparseKind)kind, .until = args_str(c, "sparse-until")};
        if (net_sparsify(&net, &sp, 1) != SEI_OK) {
            rc = cli_error(c->cmd, "%s", sei_last_error());
            net_free(&net);
            return rc;
        }
    }

    Rng r;
    rng_seed(&r, 2);
    const size_t nx = (size_t)batch * net.in_ch * size * size;
    Tensor x = tensor_make4(sei_alloc(nx * sizeof(float)), batch, net.in_ch, size, size);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    double *ms = calloc((size_t)iters, sizeof *ms);
    Optimizer opt;
    int have_opt = 0;
    Tape t;
    tape_init(&t, train, train, train, 3);
    if (!x.data || !labels || !ms) { rc = cli_error(c->cmd, "out of memory"); goto done; }
    for (size_t i = 0; i < nx; i++) x.data[i] = rng_normal(&r);
    for (int i = 0; i < batch; i++) labels[i] = (int32_t)rng_below(&r, (uint32_t)net.classes);
    if (train) {
        OptConfig cfg = optim_sgd(0.01f, 0.9f, 0.0f, 0);
        if (net_optim_init(&net, &opt, &cfg) != SEI_OK) {
            rc = cli_error(c->cmd, "%s", sei_last_error());
            goto done;
        }
        have_opt = 1;
    }
    Step step = {&net, &t, &x, labels, have_opt ? &opt : NULL};
    double prof_ms = -1, phase[2] = {0, 0};
    for (int i = 0; i < warmup + iters; i++) {
        double t0 = sei_now();
        if (run_step(&step, NULL)) {
            rc = cli_error(c->cmd, "%s at %dx%d batch %d: %s", net.name, size, size, batch,
                           sei_last_error());
            goto done;
        }
        if (i >= warmup) ms[i - warmup] = 1e3 * (sei_now() - t0);
    }
    if (args_bool(c, "profile")) {
        memset(t.prof, 0, sizeof t.prof);
        t.profile = 1;
        double t0 = sei_now();
        if (run_step(&step, phase)) {
            rc = cli_error(c->cmd, "%s", sei_last_error());
            goto done;
        }
        prof_ms = 1e3 * (sei_now() - t0);
        t.profile = 0;
    }
    const double med = sei_median(ms, iters); /* sorts ms: ms[0] is the fastest run */
    const double ips = 1e3 * batch / med;
    const double gflops = (train ? 3.0 : 1.0) * 2.0 * macs * batch / (med * 1e-3) * 1e-9;
    const double rss = peak_rss_mb();
    if (json)
        printf("{\"engine\":\"sei\",\"net\":\"%s\",\"size\":%d,\"batch\":%d,\"mode\":\"%s\","
               "\"threads\":%d,\"iters\":%d,\"warmup\":%d,\"classes\":%d,\"in_ch\":%d,"
               "\"width_mult\":%g,\"isa\":\"%s\",\"macs_per_image\":%.0f,"
               "\"ms_per_batch\":%.6g,\"ms_min\":%.6g,\"ms_max\":%.6g,\"images_per_s\":%.6g,"
               "\"gflops\":%.4g,\"peak_rss_mb\":%.1f,\"arena_peak_mb\":%.1f",
               net.name, size, batch, mode, sei_threads(), iters, warmup, net.classes, net.in_ch,
               net.width_mult, sei_gemm_isa(), macs, med, ms[0], ms[iters - 1], ips, gflops, rss,
               (double)t.arena.peak / (1024.0 * 1024.0));
    else
        printf("%s %dx%d batch %d %s, %d threads (%s): %.2f ms/batch, %.2f images/s, "
               "%.1f GFLOP/s, peak RSS %.0f MB\n",
               net.name, size, size, batch, mode, sei_threads(), sei_gemm_isa(), med, ips, gflops,
               rss);
    if (prof_ms >= 0) print_profile(&t, prof_ms, phase, json);
    if (json) printf("}\n");
    rc = 0;
done:
    if (have_opt) optim_free(&opt);
    tape_free(&t);
    free(ms);
    free(labels);
    sei_free(x.data);
    net_free(&net);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    Command c = {"bench",
                 "Time a network (random weights, random input; median of --iters runs after\n"
                 "--warmup) in eval inference or as one SGD training step, or time one sei_gemm\n"
                 "shape (--gemm) against the measured FMA peak. --json prints one JSON object.",
                 "--net NAME [--size H] [--batch B] [--mode infer|train] [--threads T] [--json]\n"
                 "       sei bench --gemm M,N,K [--trans-a] [--trans-b] [--threads T] [--peak G] [--json]",
                 bench_flags, (int)(sizeof bench_flags / sizeof bench_flags[0])};
    /* NET_FLAGS' help speaks of weight files; bench has none and defaults to 1000 classes */
    args_flag(&c, "net")->help = "network: vgg16, vgg16_bn, resnet50";
    args_flag(&c, "classes")->help = "number of classes";
    args_flag(&c, "classes")->def = "1000";
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if ((rc = cli_setup(&c))) return rc;
    int iters = 5, warmup = 1;
    if (args_int(&c, "iters", 1, 1000000, &iters) || args_int(&c, "warmup", 0, 1000000, &warmup))
        return 2;
    const int json = args_bool(&c, "json");
    if (args_flag(&c, "gemm")->set) {
        if (args_flag(&c, "net")->set)
            return cli_error(c.cmd, "--gemm and --net cannot be combined");
        return bench_gemm(&c, iters, warmup, json);
    }
    if (args_bool(&c, "trans-a") || args_bool(&c, "trans-b") || args_flag(&c, "peak")->set)
        return cli_error(c.cmd, "--trans-a, --trans-b and --peak need --gemm");
    if (!args_str(&c, "net"))
        return cli_error(c.cmd, "--net or --gemm is required (networks: %s)", net_names());
    return bench_net(&c, iters, warmup, json);
}
