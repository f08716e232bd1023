/* cmd_sweep.c - `sei sweep-splits`: does I-SPLIT's importance predict how well a split does?
 * For a trained checkpoint: the importance of every cut point (`sei importance` on the
 * validation split), the unsplit test accuracy, then for each chosen cut a retrain with the
 * bottleneck there (`sei retrain`, into OUT/<cut>/) and its test accuracy. Writes
 * OUT/sweep.csv, OUT/sweep.svg and OUT/importance.*, and prints the table with the Spearman
 * rank correlation between importance and retrained accuracy, whatever it comes out as. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include "cli/common.h"
#include "nets/train.h"
#include "split/importance.h"
#include "split/svg.h"

int cmd_importance(int argc, char **argv);
int cmd_retrain(int argc, char **argv);

static Flag sweep_flags[] = {
    {"weights", "CKPT", "the trained network (a sei train checkpoint)", NULL, NULL, 0},
    NET_FLAGS,
    DATA_FLAGS,
    {"cuts", "WHICH", "all (every cut point), pools (the max-pool outputs), candidates (importance's), or a list a,b,c", "pools", NULL, 0},
    {"importance-images", "N", "validation images the importance is measured on", "1000", NULL, 0},
    {"epochs", "E", "retraining epochs per cut", "1", NULL, 0},
    {"batch", "B", "retraining batch size", "128", NULL, 0},
    {"lr", "LR", "retraining learning rate (SGD, cosine)", "0.01", NULL, 0},
    {"augment", "LIST", "retraining augmentation (see sei train)", "flip", NULL, 0},
    {"bottleneck", "KIND", "ae or none (see sei retrain)", "ae", NULL, 0},
    {"ratio", "R", "bottleneck channel reduction", "4", NULL, 0},
    {"stride", "S", "bottleneck stride (flat cuts always use 1)", "1", NULL, 0},
    {"wire", "FMT", "fp32, fp16 or int8", "int8", NULL, 0},
    {"freeze", "WHAT", "none, head or backbone", "none", NULL, 0},
    {"out", "DIR", "output directory (one retrain run per cut inside it)", NULL, NULL, 0},
    {"quiet", NULL, "no per-epoch lines from the retraining runs", NULL, NULL, 0},
};

/* test accuracy of a checkpoint (bottleneck rebuilt from its metadata); -1 on error */
static double test_accuracy(Command *c, const char *path) {
    StFile f;
    if (st_open(&f, path) != SEI_OK) { cli_error(c->cmd, "%s", sei_last_error()); return -1; }
    Net net;
    NetPart part;
    double acc = -1;
    if (cli_open_part(c, &net, &f, &part)) { st_close(&f); return -1; }
    DataConfig dc;
    Dataset d = {0};
    EvalResult r = {0};
    BatchConfig bc = {.batch = 256};
    if (!cli_eval_data(c, &net, &f, "test", &dc, &d, &bc)) {
        if (evaluate(&net, &d, &bc, &r) != SEI_OK) cli_error(c->cmd, "%s", sei_last_error());
        else acc = r.accuracy;
    }
    free(r.confusion);
    ds_free(&d);
    net_free(&net);
    st_close(&f);
    return acc;
}

/* the flag's value as "--name=value" in buf (for the commands run in-process) */
static char *pass(Command *c, const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "--%s=%s", name, args_str(c, name));
    return buf;
}

int cmd_sweep(int argc, char **argv) {
    Command c = {"sweep-splits",
                 "Test I-SPLIT's prediction: importance of each cut point vs the test accuracy of\n"
                 "the network retrained with a bottleneck there, with their Spearman rank correlation.",
                 "--weights CKPT --out DIR [--cuts pools|all|candidates|a,b] [--epochs E] [retrain flags]",
                 sweep_flags, (int)(sizeof sweep_flags / sizeof sweep_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if ((rc = cli_setup(&c))) return rc;
    const char *wpath = args_str(&c, "weights"), *out = args_str(&c, "out"), *cuts = args_str(&c, "cuts");
    if (!wpath) return cli_error(c.cmd, "--weights is required");
    if (!out) return cli_error(c.cmd, "--out DIR is required");
    int nimg = 1000, epochs = 1;
    if (args_int(&c, "importance-images", 1, 1 << 30, &nimg) || args_int(&c, "epochs", 1, 10000, &epochs)) return 2;
    if (mkdir(out, 0777) && errno != EEXIST) return cli_error(c.cmd, "cannot create %s: %s", out, strerror(errno));

    /* 1. importance of every cut point on the validation split */
    char ipath[4096], icsv[4096], isvg[4096], a[8][4400];
    snprintf(ipath, sizeof ipath, "%s/importance.safetensors", out);
    snprintf(icsv, sizeof icsv, "%s/importance.csv", out);
    snprintf(isvg, sizeof isvg, "%s/importance.svg", out);
    snprintf(a[0], sizeof a[0], "--weights=%s", wpath);
    snprintf(a[1], sizeof a[1], "--out=%s", ipath);
    snprintf(a[2], sizeof a[2], "--csv=%s", icsv);
    snprintf(a[3], sizeof a[3], "--svg=%s", isvg);
    snprintf(a[4], sizeof a[4], "--limit=%d", nimg);
    pass(&c, "threads", a[5], sizeof a[5]);
    /* data flags given here apply to every step (importance, retraining, test accuracy) */
    static const char *const dflags[] = {"data", "size", "resize", "class-subset", "val-split", "data-seed"};
    char dbuf[6][600];
    int nd = 0;
    for (int i = 0; i < 6; i++)
        if (args_flag(&c, dflags[i])->set) pass(&c, dflags[i], dbuf[nd++], sizeof dbuf[0]);
    char *iav[16] = {a[0], a[1], a[2], a[3], a[4], a[5], "--split=val", "--per-class"};
    for (int i = 0; i < nd; i++) iav[8 + i] = dbuf[i];
    printf("== importance (%d validation images)\n", nimg);
    fflush(stdout);
    if ((rc = cmd_importance(8 + nd, iav))) return rc;

    StFile imp, w;
    if (st_open(&imp, ipath) != SEI_OK) return cli_error(c.cmd, "%s", sei_last_error());
    if (st_open(&w, wpath) != SEI_OK) { st_close(&imp); return cli_error(c.cmd, "%s", sei_last_error()); }
    Net net;
    if ((rc = cli_open_net(&c, &net, &w))) { st_close(&imp); st_close(&w); return rc; }
    /* 2. which cuts */
    int n = 0, *sel = calloc((size_t)net.nlayers, sizeof *sel);
    double *val = calloc((size_t)net.nlayers, sizeof *val), *acc = calloc((size_t)net.nlayers, sizeof *acc);
    LayerInfo *info = calloc((size_t)net.nlayers, sizeof *info);
    char list[8192];
    if (!sel || !val || !acc || !info) { rc = cli_error(c.cmd, "out of memory"); goto out; }
    if (!strcmp(cuts, "candidates")) snprintf(list, sizeof list, "%s", st_meta(&imp, "candidates") ? st_meta(&imp, "candidates") : "");
    else if (!strcmp(cuts, "all") || !strcmp(cuts, "pools")) list[0] = 0;
    else snprintf(list, sizeof list, "%s", cuts);
    for (int i = 0; i < net.nlayers; i++) {
        const Layer *l = &net.layers[i];
        if (!l->cut) continue;
        int want = !strcmp(cuts, "all") || (!strcmp(cuts, "pools") && l->kind == L_MAXPOOL);
        if (list[0]) { /* exact names from the list */
            char tmp[8192];
            snprintf(tmp, sizeof tmp, "%s", list);
            for (char *t = strtok(tmp, ","); t && !want; t = strtok(NULL, ",")) want = !strcmp(t, l->path);
        }
        if (want) sel[n++] = i;
    }
    if (list[0]) { /* every listed name must be a cut point */
        char tmp[8192];
        snprintf(tmp, sizeof tmp, "%s", list);
        for (char *t = strtok(tmp, ","); t; t = strtok(NULL, ",")) {
            int k = net_find_layer(&net, t);
            if (k < 0 || !net.layers[k].cut) { rc = cli_error(c.cmd, "--cuts: '%s' is not a cut point of %s", t, net.name); goto out; }
        }
    }
    if (n < 1) { rc = cli_error(c.cmd, "--cuts %s selects no cut point", cuts); goto out; }
    const char *sz = st_meta(&w, "size");
    int size = sz ? atoi(sz) : 0;
    if (size < 1 || net_shapes(&net, 1, net.in_ch, size, size, info) != SEI_OK) {
        rc = cli_error(c.cmd, "%s: no usable input size in the checkpoint", wpath);
        goto out;
    }
    for (int k = 0; k < n; k++) {
        char name[SEI_NAME_LEN + 16];
        snprintf(name, sizeof name, "importance.%s", net.layers[sel[k]].path);
        const StEntry *e = st_find(&imp, name);
        float v = 0;
        if (!e || st_read_f32(&imp, e, &v, 1) != SEI_OK) { rc = cli_error(c.cmd, "%s: no %s", ipath, name); goto out; }
        val[k] = v;
    }
    /* 3. the unsplit network, then one retrain per cut */
    const double base = test_accuracy(&c, wpath);
    if (base < 0) { rc = 2; goto out; }
    printf("== unsplit %s: test accuracy %.2f%%\n", net.name, 100 * base);
    for (int k = 0; k < n; k++) {
        const char *cut = net.layers[sel[k]].path;
        char dir[4200], b[12][256];
        snprintf(dir, sizeof dir, "%s/%s", out, cut);
        snprintf(a[0], sizeof a[0], "--weights=%s", wpath);
        snprintf(a[1], sizeof a[1], "--at=%s", cut);
        snprintf(a[2], sizeof a[2], "--out=%s", dir);
        const int flat = info[sel[k]].ndim != 4;
        char *rav[32];
        int rn = 0;
        rav[rn++] = a[0], rav[rn++] = a[1], rav[rn++] = a[2];
        const char *names[] = {"epochs", "batch", "lr", "augment", "bottleneck", "ratio", "wire", "freeze", "threads"};
        for (int i = 0; i < 9; i++) rav[rn++] = pass(&c, names[i], b[i], sizeof b[i]);
        rav[rn++] = flat ? "--stride=1" : pass(&c, "stride", b[9], sizeof b[9]);
        if (args_bool(&c, "quiet")) rav[rn++] = "--quiet";
        for (int i = 0; i < nd; i++) rav[rn++] = dbuf[i];
        printf("== cut %d of %d: %s\n", k + 1, n, cut);
        fflush(stdout);
        if ((rc = cmd_retrain(rn, rav))) goto out;
        char best[4400];
        snprintf(best, sizeof best, "%s/best.safetensors", dir);
        acc[k] = test_accuracy(&c, best);
        if (acc[k] < 0) { rc = 2; goto out; }
    }
    /* 4. the report */
    const double rho = spearman(val, acc, n);
    char csv[4200], svg[4200];
    snprintf(csv, sizeof csv, "%s/sweep.csv", out);
    snprintf(svg, sizeof svg, "%s/sweep.svg", out);
    FILE *f = fopen(csv, "w");
    if (!f) { rc = cli_error(c.cmd, "cannot write %s", csv); goto out; }
    fprintf(f, "cut,layer,importance,log10_importance,bytes_fp32,device_macs,test_accuracy,accuracy_vs_unsplit\n");
    printf("\n%-16s %12s %9s %12s %14s %9s %8s\n", "cut point", "importance", "log10", "bytes fp32", "device MACs",
           "accuracy", "vs full");
    for (int k = 0; k < n; k++) {
        const LayerInfo *li = &info[sel[k]];
        double numel = 1;
        for (int d = 1; d < li->ndim; d++) numel *= li->shape[d];
        fprintf(f, "%s,%d,%.9g,%.6f,%.0f,%.0f,%.6f,%.6f\n", net.layers[sel[k]].path, sel[k], val[k],
                val[k] > 0 ? log10(val[k]) : -INFINITY, 4 * numel, li->macs, acc[k], acc[k] / base);
        printf("%-16s %12.5g %9.4f %12.0f %14.0f %8.2f%% %7.1f%%\n", net.layers[sel[k]].path, val[k],
               val[k] > 0 ? log10(val[k]) : -INFINITY, 4 * numel, li->macs, 100 * acc[k], 100 * acc[k] / base);
    }
    fprintf(f, "# unsplit test accuracy %.6f; spearman(importance, accuracy) %.6f over %d cuts\n", base, rho, n);
    fclose(f);
    printf("unsplit test accuracy %.2f%%; Spearman rank correlation of importance and retrained accuracy: %.3f (%d cuts)\n",
           100 * base, rho, n);
    {
        const char **xn = malloc((size_t)n * sizeof *xn);
        double *lg = malloc(2 * (size_t)n * sizeof *lg);
        if (xn && lg) {
            for (int k = 0; k < n; k++) {
                xn[k] = net.layers[sel[k]].path;
                lg[k] = val[k] > 0 ? log10(val[k]) : NAN;
                lg[n + k] = 100 * acc[k];
            }
            SvgSeries s[2] = {{"log10 importance (before retraining)", lg, 0, 0, 0, NULL},
                              {"test accuracy after retraining, % (right axis)", lg + n, 1, 1, 0, NULL}};
            char title[200];
            snprintf(title, sizeof title, "%s: importance vs retrained accuracy, Spearman %.3f", net.name, rho);
            SvgChart ch = {title, "log10 importance", "test accuracy %", xn, n, 0};
            if (svg_line_chart(svg, &ch, s, 2) != SEI_OK) rc = cli_error(c.cmd, "%s", sei_last_error());
        }
        free(xn);
        free(lg);
    }
out:
    free(sel);
    free(val);
    free(acc);
    free(info);
    net_free(&net);
    st_close(&imp);
    st_close(&w);
    return rc;
}
