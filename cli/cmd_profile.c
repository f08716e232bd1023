/* cmd_profile.c - `sei profile`: the time each layer of a network takes on this machine, for
 * the simulator (`sei sim --device-profile / --server-profile`) in place of a preset's
 * GFLOP/s. Each layer runs alone (eval mode, so conv + BN + ReLU are not fused across
 * layers) on the activation the network gives it, --iters times after a warm-up; the
 * median per image is written as CSV: index,layer,kind,ms_per_image,macs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/common.h"
#include "engine/clock.h"
#include "engine/rng.h"

static Flag profile_flags[] = {
    {"weights", "CKPT", "the network to time (or --net ... with random weights)", NULL, NULL, 0},
    NET_FLAGS,
    {"size", "S", "input side (default: the checkpoint's, else 224)", NULL, NULL, 0},
    {"batch", "B", "images per call (1: one frame at a time, as a device sees them)", "1", NULL, 0},
    {"iters", "N", "timed runs per layer (the median is kept)", "20", NULL, 0},
    {"out", "FILE", "the CSV to write", NULL, NULL, 0},
};

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cmd_profile(int argc, char **argv) {
    Command c = {"profile", "Time every layer of a network on this machine (CSV for sei sim --device-profile/--server-profile).",
                 "(--weights CKPT | --net NAME ...) [--size S] [--batch B] --out FILE", profile_flags,
                 (int)(sizeof profile_flags / sizeof profile_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if (cli_setup(&c)) return 2;
    const char *w = args_str(&c, "weights"), *out = args_str(&c, "out");
    if (!out) return cli_error(c.cmd, "--out FILE is required");
    int size = 224, batch = 1, iters = 20;
    StFile f;
    int have_f = 0;
    if (w) {
        if (st_open(&f, w) != SEI_OK) return cli_error(c.cmd, "%s", sei_last_error());
        have_f = 1;
        if (st_meta(&f, "size")) size = atoi(st_meta(&f, "size"));
    } else if (!args_flag(&c, "classes")->set) {
        args_flag(&c, "classes")->val = "1000";
    }
    if ((args_flag(&c, "size")->set && args_int(&c, "size", 8, 4096, &size)) || args_int(&c, "batch", 1, 4096, &batch) ||
        args_int(&c, "iters", 1, 100000, &iters)) {
        if (have_f) st_close(&f);
        return 2;
    }
    Net net;
    rc = cli_open_net(&c, &net, have_f ? &f : NULL);
    if (have_f) st_close(&f);
    if (rc) return rc;
    if (!w) net_init(&net, 1);
    const int L = net.nlayers;
    Tensor x = {.ndim = 4, .shape = {batch, net.in_ch, size, size}};
    x.data = sei_alloc(tensor_numel(&x) * sizeof(float));
    Value **outs = calloc((size_t)L, sizeof *outs);
    double *t = malloc((size_t)iters * sizeof *t), *ms = calloc((size_t)L, sizeof *ms);
    LayerInfo *li = calloc((size_t)L, sizeof *li);
    if (!x.data || !outs || !t || !ms || !li) { rc = cli_error(c.cmd, "out of memory"); goto done; }
    Rng r;
    rng_seed(&r, 1);
    for (size_t i = 0; i < tensor_numel(&x); i++) x.data[i] = rng_normal(&r);
    if (net_shapes(&net, batch, net.in_ch, size, size, li) != SEI_OK) { rc = cli_error(c.cmd, "%s", sei_last_error()); goto done; }
    Tape all, one;
    tape_init(&all, 0, 0, 0, 0);
    tape_init(&one, 0, 0, 0, 0);
    Value *in = tape_wrap(&all, &x, 0);
    if (!net_forward(&net, &all, in, 0, L, outs)) rc = cli_error(c.cmd, "%s", sei_last_error());
    double total = 0;
    for (int i = 0; i < L && !rc; i++) {
        Value *xi = i ? outs[i - 1] : in;
        for (int k = -1; k < iters; k++) { /* k = -1: warm-up */
            tape_reset(&one);
            const double t0 = sei_now();
            Value *y = net_forward(&net, &one, tape_wrap(&one, &xi->t, 0), i, i + 1, NULL);
            const double dt = sei_now() - t0;
            if (!y) { rc = cli_error(c.cmd, "%s", sei_last_error()); break; }
            if (k >= 0) t[k] = dt;
        }
        qsort(t, (size_t)iters, sizeof *t, cmp);
        ms[i] = 1e3 * t[iters / 2] / batch;
        total += ms[i];
    }
    tape_free(&one);
    tape_free(&all);
    if (!rc) {
        FILE *o = fopen(out, "w");
        if (!o) { rc = cli_error(c.cmd, "cannot write %s", out); goto done; }
        fprintf(o, "index,layer,kind,ms_per_image,macs\n");
        for (int i = 0; i < L; i++)
            fprintf(o, "%d,%s,%d,%.6g,%.0f\n", i, net.layers[i].path, (int)net.layers[i].kind, ms[i],
                    li[i].macs - (i ? li[i - 1].macs : 0));
        if (fclose(o)) { rc = cli_error(c.cmd, "cannot write %s", out); goto done; }
        printf("%s: %d layers, %.3f ms per image at batch %d (%.1f GFLOP/s effective); wrote %s\n", net.name, L, total,
               batch, total > 0 ? 2 * li[L - 1].macs / (total * 1e6) : 0, out);
    }
done:
    sei_free(x.data);
    free(outs), free(t), free(ms), free(li);
    net_free(&net);
    return rc;
}
