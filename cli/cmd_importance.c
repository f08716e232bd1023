/* cmd_importance.c - `sei importance`: I-SPLIT importance of every cut point of a network
 * (split/importance.h) over a data split or the tensors of a file, the log10 curve's split
 * candidates, the density of important neurons, bytes at each cut and device-side
 * multiply-adds. Writes a safetensors file (importance.<cut> scalars, importance_by_class.<cut>
 * [K] with --per-class, density.<cut>), and optionally a CSV and an SVG plot. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/common.h"
#include "engine/clock.h"
#include "split/importance.h"
#include "split/svg.h"

static Flag imp_flags[] = {
    {"weights", "CKPT", "checkpoint (sei train's output) or weights with --net ...", NULL, NULL, 0},
    NET_FLAGS,
    DATA_FLAGS,
    {"split", "NAME", "data split: train, val or test", "val", NULL, 0},
    {"input", "X.safetensors", "instead of --data: tensors 'input' [N,C,H,W] and 'labels' [N] (I64 or I32)", NULL, NULL, 0},
    {"target", "WHICH", "score: label (the true class's logit) or pred (the top logit)", "label", NULL, 0},
    {"per-class", NULL, "also the importance per class (images grouped by label)", NULL, NULL, 0},
    {"threshold", "V", "density: share of map values above V (default: each cut point's mean map value)", NULL, NULL, 0},
    {"batch", "B", "images per forward/backward pass", "64", NULL, 0},
    {"normalize", "M/S", "override the checkpoint's normalisation: M1[,M2,M3]/S1[,S2,S3]", NULL, NULL, 0},
    {"out", "I.safetensors", "output: importance.<cut> (and importance_by_class.<cut>, density.<cut>)", NULL, NULL, 0},
    {"csv", "F.csv", "also a CSV table, one row per cut point", NULL, NULL, 0},
    {"svg", "F.svg", "also an SVG plot of the log10 curve, candidates starred, bytes at the cut", NULL, NULL, 0},
};

/* labels of a file: I64 or I32 [N], each in [0, K) */
static int read_labels(Command *c, const StFile *f, const char *path, int N, int K, int32_t *out) {
    const StEntry *e = st_find(f, "labels");
    if (!e) return cli_error(c->cmd, "%s: no tensor 'labels' [%d]", path, N);
    if (e->ndim != 1 || e->shape[0] != N)
        return cli_error(c->cmd, "%s: 'labels' must have shape [%d]", path, N);
    int64_t *l = malloc((size_t)N * sizeof *l);
    if (!l) return cli_error(c->cmd, "out of memory");
    if (st_read_i64(f, e, l, (size_t)N) != SEI_OK) {
        free(l);
        return cli_error(c->cmd, "%s", sei_last_error());
    }
    for (int i = 0; i < N; i++) {
        if (l[i] < 0 || l[i] >= K) {
            int rc = cli_error(c->cmd, "%s: label %lld of sample %d is outside [0,%d)", path,
                               (long long)l[i], i, K);
            free(l);
            return rc;
        }
        out[i] = (int32_t)l[i];
    }
    free(l);
    return 0;
}

/* the tensors of --input, in batches */
static int run_input(Command *c, Net *net, Importance *im, Tape *t, int batch, int pred,
                     int *side) {
    const char *path = args_str(c, "input");
    StFile f;
    if (st_open(&f, path) != SEI_OK) return cli_error(c->cmd, "%s", sei_last_error());
    Tensor x;
    memset(&x, 0, sizeof x);
    int32_t *labels = NULL;
    int rc = cli_read_tensor(c, &f, "input", 4, &x);
    if (!rc && x.shape[1] != net->in_ch)
        rc = cli_error(c->cmd, "%s: input has %d channels but %s was built for %d (--in-ch)", path,
                       x.shape[1], net->name, net->in_ch);
    if (!rc && x.shape[0] < 1) rc = cli_error(c->cmd, "%s: 'input' holds no images", path);
    if (!rc && !(labels = malloc((size_t)x.shape[0] * sizeof *labels))) rc = cli_error(c->cmd, "out of memory");
    if (!rc) rc = read_labels(c, &f, path, x.shape[0], net->classes, labels);
    const size_t img = (size_t)x.shape[1] * x.shape[2] * x.shape[3];
    for (int n0 = 0; !rc && n0 < x.shape[0]; n0 += batch) {
        Tensor xb = x;
        xb.shape[0] = x.shape[0] - n0 < batch ? x.shape[0] - n0 : batch;
        xb.data = x.data + n0 * img;
        if (importance_batch(im, net, t, &xb, labels + n0, pred) != SEI_OK)
            rc = cli_error(c->cmd, "%s", sei_last_error());
    }
    *side = x.shape[2];
    if (!rc && x.shape[2] != x.shape[3]) *side = -1;
    free(labels);
    sei_free(x.data);
    st_close(&f);
    return rc;
}

/* a data split through the batcher (no augmentation), with the checkpoint's normalisation */
static int run_data(Command *c, Net *net, const StFile *w, Importance *im, Tape *t, int batch,
                    int pred, int *side, char names[][DS_NAME_LEN]) {
    const char *split = args_str(c, "split");
    BatchConfig bc = {.batch = batch};
    DataConfig dc;
    Dataset d = {0};
    int rc = cli_eval_data(c, net, w, split, &dc, &d, &bc);
    if (rc) { ds_free(&d); return rc; }
    *side = bc.size;
    for (int k = 0; k < d.nclasses && k < net->classes; k++)
        if (d.class_names) snprintf(names[k], DS_NAME_LEN, "%s", d.class_names[k]);
    Batcher b;
    if (d.n < 1) rc = cli_error(c->cmd, "%s: the %s split is empty", dc.spec, split);
    else if (batcher_init(&b, &d, &bc) != SEI_OK) rc = cli_error(c->cmd, "%s", sei_last_error());
    if (rc) { ds_free(&d); return rc; }
    int32_t *lab = malloc((size_t)batch * sizeof *lab);
    if (!lab) rc = cli_error(c->cmd, "out of memory");
    batcher_epoch(&b, 0);
    const float *x;
    const int32_t *y;
    int n;
    while (!rc && (n = batcher_next(&b, &x, &y)) > 0) {
        for (int i = 0; i < n && !rc; i++) {
            lab[i] = y[i];
            if (lab[i] < 0 || lab[i] >= net->classes)
                rc = cli_error(c->cmd, "%s: class %d is outside the network's %d classes", dc.spec,
                               lab[i], net->classes);
        }
        Tensor xt = {.ndim = 4, .shape = {n, net->in_ch, bc.size, bc.size}, .data = (float *)x};
        if (!rc && importance_batch(im, net, t, &xt, lab, pred) != SEI_OK)
            rc = cli_error(c->cmd, "%s", sei_last_error());
    }
    free(lab);
    batcher_free(&b);
    ds_free(&d);
    return rc;
}

/* one row per cut point; per-class columns with per_class */
static int write_csv(const char *path, const Net *net, const Importance *im, const LayerInfo *info,
                     const double *val, const double *dens, const int *rank, int per_class) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "index,layer,cut,shape,bytes_fp32,device_macs,importance,log10_importance,density,candidate_rank");
    if (per_class)
        for (int k = 0; k < net->classes; k++) fprintf(f, ",class_%d", k);
    fprintf(f, "\n");
    for (int c = 0; c < im->ncuts; c++) {
        const int l = im->layer[c];
        const LayerInfo *li = &info[l];
        char shape[64] = "";
        size_t numel = 1;
        for (int d = 1; d < li->ndim; d++) {
            size_t len = strlen(shape);
            snprintf(shape + len, sizeof shape - len, "%s%d", d > 1 ? "x" : "", li->shape[d]);
            numel *= (size_t)li->shape[d];
        }
        fprintf(f, "%d,%d,%s,%s,%zu,%.0f,%.9g,%.6f,%.6f,%d", c, l, net->layers[l].path, shape,
                4 * numel, li->macs, val[c], val[c] > 0 ? log10(val[c]) : -INFINITY, dens[c], rank[c]);
        if (per_class)
            for (int k = 0; k < net->classes; k++) fprintf(f, ",%.9g", importance_class(im, c, k));
        fprintf(f, "\n");
    }
    return fclose(f) ? -1 : 0;
}

int cmd_importance(int argc, char **argv) {
    Command c = {"importance",
                 "I-SPLIT importance of every cut point: Grad-CAM of the target class's score,\n"
                 "map = ReLU(mean_c alpha_c A_c) with alpha_c the spatial mean of the gradient,\n"
                 "averaged over positions and images (eval mode), from one forward and one\n"
                 "backward pass per batch. Split candidates are the interior local maxima of\n"
                 "log10(importance) over the cut points, ranked by value.",
                 "--weights CKPT (--data SPEC [--split val] [--limit N] | --input X) --out I [--csv F] [--svg F]",
                 imp_flags, (int)(sizeof imp_flags / sizeof imp_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if ((rc = cli_setup(&c))) return rc;
    const char *wpath = args_str(&c, "weights"), *opath = args_str(&c, "out");
    const char *target = args_str(&c, "target"), *csv = args_str(&c, "csv"), *svg = args_str(&c, "svg");
    if (!wpath) return cli_error(c.cmd, "--weights is required");
    if (!opath) return cli_error(c.cmd, "--out is required");
    if (strcmp(target, "label") && strcmp(target, "pred"))
        return cli_error(c.cmd, "--target: '%s' is not label or pred", target);
    if (args_str(&c, "input") && args_flag(&c, "data")->set)
        return cli_error(c.cmd, "--input and --data exclude each other");
    int batch = 64;
    float threshold = -1;
    if (args_int(&c, "batch", 1, 65536, &batch)) return 2;
    if (args_str(&c, "threshold") && args_float(&c, "threshold", 0, 1e30, &threshold)) return 2;
    const int pred = !strcmp(target, "pred"), per_class = args_bool(&c, "per-class");

    StFile w;
    Net net;
    if ((rc = cli_open_checkpoint(&c, wpath, &w, &net))) return rc;
    Importance im = {0};
    Tape t;
    tape_init(&t, 1, 0, 0, 0);
    LayerInfo *info = NULL;
    double *val = NULL, *dens = NULL, *byc = NULL;
    int *rank = NULL, side = 0;
    char (*names)[DS_NAME_LEN] = calloc((size_t)net.classes, DS_NAME_LEN);
    if (importance_init(&im, &net) != SEI_OK) { rc = cli_error(c.cmd, "%s", sei_last_error()); goto out; }
    if (!names) { rc = cli_error(c.cmd, "out of memory"); goto out; }
    const double t0 = sei_now();
    rc = args_str(&c, "input") ? run_input(&c, &net, &im, &t, batch, pred, &side)
                               : run_data(&c, &net, &w, &im, &t, batch, pred, &side, names);
    if (rc) goto out;
    const double secs = sei_now() - t0;
    if (side < 1) { rc = cli_error(c.cmd, "input images must be square"); goto out; }

    const int C = im.ncuts, K = net.classes;
    info = calloc((size_t)net.nlayers, sizeof *info);
    val = malloc((size_t)C * sizeof *val);
    dens = malloc((size_t)C * sizeof *dens);
    rank = malloc((size_t)C * sizeof *rank);
    byc = malloc((size_t)C * K * sizeof *byc);
    float *f32 = malloc((size_t)C * (2 + K) * sizeof *f32);
    if (!info || !val || !dens || !rank || !byc || !f32) { free(f32); rc = cli_error(c.cmd, "out of memory"); goto out; }
    if (net_shapes(&net, 1, net.in_ch, side, side, info) != SEI_OK) {
        free(f32);
        rc = cli_error(c.cmd, "%s", sei_last_error());
        goto out;
    }
    for (int i = 0; i < C; i++) {
        val[i] = importance_value(&im, i);
        dens[i] = importance_density(&im, i, threshold);
        for (int k = 0; k < K; k++) byc[(size_t)i * K + k] = importance_class(&im, i, k);
    }
    const int ncand = importance_candidates(val, C, rank);

    /* the safetensors file */
    StWriter sw;
    st_writer_init(&sw);
    sei_status s = SEI_OK;
    char name[SEI_NAME_LEN + 32], buf[32];
    for (int i = 0; i < C && !s; i++) {
        const char *path = net.layers[im.layer[i]].path;
        float *v = f32 + (size_t)i * (2 + K);
        v[0] = (float)val[i], v[1] = (float)dens[i];
        for (int k = 0; k < K; k++) v[2 + k] = (float)byc[(size_t)i * K + k];
        snprintf(name, sizeof name, "importance.%s", path);
        s = st_add(&sw, name, ST_F32, 0, NULL, v);
        snprintf(name, sizeof name, "density.%s", path);
        if (!s) s = st_add(&sw, name, ST_F32, 0, NULL, v + 1);
        snprintf(name, sizeof name, "importance_by_class.%s", path);
        if (!s && per_class) s = st_add(&sw, name, ST_F32, 1, (int64_t[]){K}, v + 2);
    }
    /* metadata: the cut points in order, the ranked candidates, what was measured */
    size_t cap = 64 + (size_t)C * (SEI_NAME_LEN + 1);
    char *cuts = malloc(cap), *cands = malloc(cap);
    if (!cuts || !cands) s = sei_fail(SEI_ERR_NOMEM, "out of memory");
    if (!s) {
        cuts[0] = cands[0] = 0;
        for (int i = 0; i < C; i++) {
            strcat(cuts, i ? "," : "");
            strcat(cuts, net.layers[im.layer[i]].path);
        }
        for (int r = 1; r <= ncand; r++)
            for (int i = 0; i < C; i++)
                if (rank[i] == r) {
                    strcat(cands, r > 1 ? "," : "");
                    strcat(cands, net.layers[im.layer[i]].path);
                }
        s = st_add_meta(&sw, "net", net.name);
        if (!s) s = st_add_meta(&sw, "cuts", cuts);
        if (!s) s = st_add_meta(&sw, "candidates", cands);
        if (!s) s = st_add_meta(&sw, "target", target);
        snprintf(buf, sizeof buf, "%ld", im.n);
        if (!s) s = st_add_meta(&sw, "images", buf);
        snprintf(buf, sizeof buf, "%d", side);
        if (!s) s = st_add_meta(&sw, "size", buf);
    }
    if (!s) s = st_write(&sw, opath);
    st_writer_free(&sw);
    free(cuts);
    free(cands);
    free(f32);
    if (s) { rc = cli_error(c.cmd, "%s", sei_last_error()); goto out; }
    if (csv && write_csv(csv, &net, &im, info, val, dens, rank, per_class)) {
        rc = cli_error(c.cmd, "%s: cannot write", csv);
        goto out;
    }
    if (svg) {
        const char **xn = malloc((size_t)C * sizeof *xn);
        double *lg = malloc((size_t)C * (K + 2) * sizeof *lg);
        SvgSeries *ser = malloc((size_t)(K + 2) * sizeof *ser);
        char (*lbl)[DS_NAME_LEN + 16] = malloc((size_t)K * sizeof *lbl);
        if (!xn || !lg || !ser || !lbl) s = sei_fail(SEI_ERR_NOMEM, "out of memory");
        int ns = 0;
        if (!s) {
            double *bytes = lg + (size_t)C * (K + 1);
            for (int i = 0; i < C; i++) {
                const LayerInfo *li = &info[im.layer[i]];
                double numel = 1;
                for (int d = 1; d < li->ndim; d++) numel *= li->shape[d];
                xn[i] = net.layers[im.layer[i]].path;
                lg[i] = val[i] > 0 ? log10(val[i]) : NAN;
                bytes[i] = 4 * numel;
            }
            ser[ns++] = (SvgSeries){"log10 importance (all images)", lg, 0, 0, 0, rank};
            for (int k = 0; per_class && k < K; k++) {
                if (!im.count_class[k]) continue;
                double *y = lg + (size_t)C * (1 + k);
                for (int i = 0; i < C; i++) y[i] = byc[(size_t)i * K + k] > 0 ? log10(byc[(size_t)i * K + k]) : NAN;
                snprintf(lbl[k], sizeof lbl[k], "class %d%s%s", k, names[k][0] ? " " : "", names[k]);
                ser[ns++] = (SvgSeries){lbl[k], y, 0, 0, 1, NULL};
            }
            ser[ns++] = (SvgSeries){"bytes at the cut (right axis)", bytes, 1, 1, 0, NULL};
            char title[160];
            snprintf(title, sizeof title, "%s: I-SPLIT importance over %ld images (target: %s)", net.name,
                     im.n, target);
            SvgChart ch = {title, "log10 importance", "bytes at the cut", xn, C, 1};
            s = svg_line_chart(svg, &ch, ser, ns);
        }
        free(xn); free(lg); free(ser); free(lbl);
        if (s) { rc = cli_error(c.cmd, "%s", sei_last_error()); goto out; }
    }

    /* the report */
    printf("%s: importance of %d cut points over %ld images (target: %s), %.2f s, %.0f images/s\n",
           net.name, C, im.n, target, secs, im.n / (secs > 0 ? secs : 1e-9));
    printf("%-4s %-16s %-16s %12s %14s %12s %9s %8s %5s\n", "#", "cut point", "shape", "bytes (fp32)",
           "device MACs", "importance", "log10", "density", "cand");
    for (int i = 0; i < C; i++) {
        const LayerInfo *li = &info[im.layer[i]];
        char shape[48] = "";
        double numel = 1;
        for (int d = 1; d < li->ndim; d++) {
            size_t len = strlen(shape);
            snprintf(shape + len, sizeof shape - len, "%s%d", d > 1 ? "x" : "", li->shape[d]);
            numel *= li->shape[d];
        }
        char rk[8] = "";
        if (rank[i]) snprintf(rk, sizeof rk, "%d", rank[i]);
        printf("%-4d %-16s %-16s %12.0f %14.0f %12.5g %9.4f %8.4f %5s\n", i, net.layers[im.layer[i]].path,
               shape, 4 * numel, li->macs, val[i], val[i] > 0 ? log10(val[i]) : -INFINITY, dens[i], rk);
    }
    printf("split candidates (best first):");
    for (int r = 1; r <= ncand; r++)
        for (int i = 0; i < C; i++)
            if (rank[i] == r) printf(" %s", net.layers[im.layer[i]].path);
    printf("%s\n", ncand ? "" : " none (the curve has no interior local maximum)");
out:
    free(names);
    free(info);
    free(val);
    free(dens);
    free(rank);
    free(byc);
    importance_free(&im);
    tape_free(&t);
    net_free(&net);
    st_close(&w);
    return rc;
}
