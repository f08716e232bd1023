/* cmd_exits.c - `sei exits`: what early exits buy. For a checkpoint with exits (sei train
 * --exit-at), every exit and the final classifier are run once over a data split; then for
 * each threshold tau of the policy (max softmax >= tau, or entropy <= tau) it reports the
 * share of images that leave at each exit, the accuracy of those and of all images, and the
 * mean multiply-adds the device spends and bytes it sends per image. --target-accuracy /
 * --within pick the tau that lets the most images leave while overall accuracy stays at
 * the target. CSV and SVG of the sweep on request.
 *
 * The device runs the layers up to the split point (--split-at; default the checkpoint's
 * bottleneck wire, else the deepest exit's cut) and every exit on the way; an image that
 * leaves at an exit costs the layers up to that exit and sends nothing, one that does not
 * sends the activation at the split point (in the wire's format). Multiply-adds skip the
 * zeros of predefined-sparse layers (what the sparse kernels compute). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/common.h"
#include "kernels/ops.h"
#include "nets/train.h"
#include "split/exits.h"
#include "split/part.h"
#include "split/svg.h"

static Flag exits_flags[] = {
    {"weights", "CKPT", "a checkpoint with early exits (sei train --exit-at)", NULL, NULL, 0},
    NET_FLAGS,
    DATA_FLAGS,
    {"split", "NAME", "the data split to measure on: train, val or test", "test", NULL, 0},
    {"batch", "B", "images per batch", "256", NULL, 0},
    {"normalize", "M/S", "override the checkpoint's normalisation: M1[,M2,M3]/S1[,S2,S3]", NULL, NULL, 0},
    {"policy", "P", "maxprob (leave when max softmax >= tau) or entropy (when entropy in nats <= tau)", "maxprob", NULL, 0},
    {"sweep", NULL, "print the table over tau (the default without --target-accuracy / --within)", NULL, NULL, 0},
    {"taus", "LIST", "the thresholds of the table, e.g. 0.9,0.99 (default: a grid over the policy's range)", NULL, NULL, 0},
    {"target-accuracy", "A", "pick the tau that lets most images leave with overall accuracy >= A (0..1, or percent)", NULL, NULL, 0},
    {"within", "P", "pick the tau that keeps overall accuracy within P points of the final classifier alone", NULL, NULL, 0},
    {"split-at", "CUT", "the device/server boundary (default: the bottleneck wire, else the deepest exit's cut)", NULL, NULL, 0},
    {"csv", "FILE", "write the table as CSV", NULL, NULL, 0},
    {"svg", "FILE", "plot accuracy and exit share over tau", NULL, NULL, 0},
};

typedef struct {
    double exit_macs[NET_MAX_EXITS], branch_macs[NET_MAX_EXITS];
    double stay_macs, stay_bytes, plain_macs, dense_macs; /* skipping sparsity's zeros; dense_macs: not */
    char exit_at[NET_MAX_EXITS][SEI_NAME_LEN], split_at[SEI_NAME_LEN], wire[16];
} Costs;

/* the device's multiply-adds and bytes sent, per image, for each way out */
static int costs(Command *c, Net *net, int size, Costs *k) {
    memset(k, 0, sizeof *k);
    int idx[NET_MAX_EXITS];
    const int ne = exits_layers(net, idx);
    const char *at = args_str(c, "split-at");
    char deflt[SEI_NAME_LEN] = "";
    if (!at && net_find_layer(net, "bottleneck.wire") >= 0) at = "bottleneck.wire";
    if (!at) { /* the cut layer right before the deepest exit */
        int i = idx[ne - 1] - 1;
        while (i > 0 && net->layers[i].kind == L_EXIT) i--;
        snprintf(deflt, sizeof deflt, "%s", net->layers[i].path);
        at = deflt;
    }
    NetPart head, tail;
    if (part_cut(net, at, &head, &tail) != SEI_OK) return cli_error(c->cmd, "--split-at: %s", sei_last_error());
    LayerInfo *li = calloc((size_t)net->nlayers, sizeof *li);
    if (!li) return cli_error(c->cmd, "out of memory");
    if (net_shapes(net, 1, net->in_ch, size, size, li) != SEI_OK) {
        free(li);
        return cli_error(c->cmd, "%s", sei_last_error());
    }
    double branches = 0;
    for (int j = 0; j < ne; j++) {
        const int e = idx[j];
        int cut = e - 1;
        while (cut > 0 && net->layers[cut].kind == L_EXIT) cut--;
        snprintf(k->exit_at[j], SEI_NAME_LEN, "%s", net->layers[cut].path);
        if (e >= head.to) {
            free(li);
            return cli_error(c->cmd, "the exit at %s is after the split point %s: exits run on the device",
                             k->exit_at[j], at);
        }
        k->exit_macs[j] = li[e].sparse_macs;
        k->branch_macs[j] = li[e].sparse_macs - (e > 0 ? li[e - 1].sparse_macs : 0);
        branches += k->branch_macs[j];
    }
    const LayerInfo *s = &li[head.to - 1];
    size_t values = 1;
    for (int d = 1; d < s->ndim; d++) values *= (size_t)s->shape[d];
    int cut = head.to - 1;
    while (cut > 0 && net->layers[cut].kind == L_EXIT) cut--;
    const WireFormat wf = net->layers[cut].kind == L_WIRE ? (WireFormat)net->layers[cut].wire : WIRE_FP32;
    k->stay_macs = s->sparse_macs;
    k->plain_macs = s->sparse_macs - branches;
    k->dense_macs = s->macs - branches;
    k->stay_bytes = (double)wire_bytes(values, wf);
    snprintf(k->split_at, sizeof k->split_at, "%s", at);
    snprintf(k->wire, sizeof k->wire, "%s", wire_name(wf));
    free(li);
    return 0;
}

static int parse_taus(const char *s, double *t, int cap) {
    int n = 0;
    while (s && *s && n < cap) {
        char *end;
        t[n++] = strtod(s, &end);
        if (end == s || (*end && *end != ',')) return -1;
        s = *end ? end + 1 : end;
    }
    return n;
}

static void row(const ExitPoint *p, int ne, FILE *f, int csv) {
    if (csv) {
        fprintf(f, "%.6g,%.6f", p->tau, p->share_all);
        for (int j = 0; j < ne; j++) fprintf(f, ",%.6f", p->share[j]);
        fprintf(f, ",%.6f,%.6f,%.1f,%.1f\n", isnan(p->exited_accuracy) ? -1.0 : p->exited_accuracy, p->accuracy,
                p->device_macs, p->bytes);
        return;
    }
    fprintf(f, "%9.4g %7.2f%%", p->tau, 100 * p->share_all);
    if (ne > 1)
        for (int j = 0; j < ne; j++) fprintf(f, " %6.2f%%", 100 * p->share[j]);
    if (isnan(p->exited_accuracy)) fprintf(f, " %10s", "-");
    else fprintf(f, " %9.2f%%", 100 * p->exited_accuracy);
    fprintf(f, " %10.2f%% %12.3f %11.1f\n", 100 * p->accuracy, p->device_macs / 1e6, p->bytes);
}

int cmd_exits(int argc, char **argv) {
    Command c = {"exits", "Early exits: share of images leaving at each exit, accuracy, device multiply-adds and bytes sent, over the threshold tau.",
                 "--weights CKPT [--data SPEC] [--sweep] [--policy maxprob|entropy] [--target-accuracy A | --within P] [--csv F] [--svg F]",
                 exits_flags, (int)(sizeof exits_flags / sizeof exits_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if (cli_setup(&c)) return 2;
    const char *wpath = args_str(&c, "weights"), *split = args_str(&c, "split"), *pol = args_str(&c, "policy");
    if (!wpath) return cli_error(c.cmd, "--weights is required");
    if (strcmp(pol, "maxprob") && strcmp(pol, "entropy"))
        return cli_error(c.cmd, "--policy: '%s' is not maxprob or entropy", pol);
    const ExitPolicy policy = strcmp(pol, "maxprob") ? EXIT_ENTROPY : EXIT_MAXPROB;
    const char *ta = args_str(&c, "target-accuracy"), *wi = args_str(&c, "within");
    if (ta && wi) return cli_error(c.cmd, "--target-accuracy and --within exclude each other");
    double target = -1, within = -1;
    if (ta) {
        char *end;
        target = strtod(ta, &end);
        if (end == ta || *end || !(target >= 0 && target <= 100))
            return cli_error(c.cmd, "--target-accuracy: '%s' is not an accuracy (0..1 or a percentage)", ta);
        if (target > 1) target /= 100;
    }
    if (wi) {
        char *end;
        within = strtod(wi, &end);
        if (end == wi || *end || !(within >= 0 && within <= 100))
            return cli_error(c.cmd, "--within: '%s' is not a number of points (0..100)", wi);
    }
    int batch = 256;
    if (args_int(&c, "batch", 1, 65536, &batch)) return 2;
    StFile w;
    Net net;
    Dataset d = {0};
    ExitRecord rec = {0};
    if ((rc = cli_open_checkpoint(&c, wpath, &w, &net))) return rc;
    DataConfig dc;
    BatchConfig bc = {.batch = batch};
    Costs k;
    if (!net.nexits) { rc = cli_error(c.cmd, "%s has no early exits (train with --exit-at CUT)", wpath); goto out; }
    if ((rc = cli_eval_data(&c, &net, &w, split, &dc, &d, &bc))) goto out;
    if (d.n == 0) { rc = cli_error(c.cmd, "the %s split of %s is empty", split, dc.spec); goto out; }
    if ((rc = costs(&c, &net, bc.size, &k))) goto out;
    if (exits_record(&net, &d, &bc, &rec) != SEI_OK) { rc = cli_error(c.cmd, "%s", sei_last_error()); goto out; }
    const int ne = rec.nexits;
    const double hmax = log((double)net.classes);

    /* alone: each exit's accuracy, and the final classifier's */
    long fin = 0;
    for (int i = 0; i < rec.n; i++) fin += rec.final[i] == rec.label[i];
    const double final_acc = (double)fin / rec.n;
    printf("%s on %s (%s split, %d images); policy: leave when %s\n", wpath, dc.spec, split, rec.n,
           policy == EXIT_MAXPROB ? "max softmax >= tau" : "entropy (nats) <= tau");
    for (int j = 0; j < ne; j++) {
        long ok = 0;
        for (int i = 0; i < rec.n; i++) ok += rec.pred[(size_t)j * rec.n + i] == rec.label[i];
        printf("  exit %d after %-14s alone %6.2f%%   device %.3f MMAC to leave here (branch %.3f MMAC)\n", j,
               k.exit_at[j], 100.0 * ok / rec.n, k.exit_macs[j] / 1e6, k.branch_macs[j] / 1e6);
    }
    printf("  final classifier        alone %6.2f%%   split after %s: the device runs %.3f MMAC and sends "
           "%.0f bytes (%s) per image that stays; %.3f MMAC without the exits",
           100 * final_acc, k.split_at, k.stay_macs / 1e6, k.stay_bytes, k.wire, k.plain_macs / 1e6);
    if (k.dense_macs > k.plain_macs * 1.0001) printf(" (%.3f if its sparse layers were dense)", k.dense_macs / 1e6);
    printf("\n  (multiply-adds skip the zeros of predefined-sparse layers)\n\n");

    /* the table */
    double taus[256];
    int nt;
    const char *tl = args_str(&c, "taus");
    if (tl) {
        if ((nt = parse_taus(tl, taus, 256)) < 1) { rc = cli_error(c.cmd, "--taus: '%s' is not a list of numbers", tl); goto out; }
    } else if (policy == EXIT_MAXPROB) {
        static const double g[] = {0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 0.9999, 1.0};
        nt = (int)(sizeof g / sizeof g[0]);
        memcpy(taus, g, sizeof g);
    } else {
        static const double g[] = {0, 0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0};
        nt = (int)(sizeof g / sizeof g[0]);
        for (int i = 0; i < nt; i++) taus[i] = g[i] * hmax;
    }
    ExitPoint *pts = calloc((size_t)nt, sizeof *pts);
    if (!pts) { rc = cli_error(c.cmd, "out of memory"); goto out; }
    for (int i = 0; i < nt; i++) exits_at(&rec, policy, taus[i], k.exit_macs, k.stay_macs, k.stay_bytes, &pts[i]);
    const int pick = target >= 0 || within >= 0;
    if (!pick || args_bool(&c, "sweep")) {
        printf("%9s %8s", "tau", "exit");
        if (ne > 1)
            for (int j = 0; j < ne; j++) printf("   exit%d", j);
        printf(" %10s %11s %12s %11s\n", "exited acc", "overall acc", "device MMAC", "bytes sent");
        for (int i = 0; i < nt; i++) row(&pts[i], ne, stdout, 0);
    }
    if (pick) { /* the most images out early at the target: a fine grid over the policy's range */
        const double A = target >= 0 ? target : final_acc - within / 100;
        ExitPoint best = {0}, p;
        int found = 0;
        for (int i = 0; i <= 4000; i++) {
            const double tau = policy == EXIT_MAXPROB ? 1.0 - i / 4000.0 : hmax * i / 4000.0;
            exits_at(&rec, policy, tau, k.exit_macs, k.stay_macs, k.stay_bytes, &p);
            if (p.accuracy >= A && (!found || p.share_all > best.share_all)) best = p, found = 1;
        }
        if (!found) {
            printf("\nno tau keeps overall accuracy >= %.2f%% (the final classifier alone: %.2f%%)\n", 100 * A,
                   100 * final_acc);
        } else {
            printf("\ntarget %.2f%%: tau %.4g lets %.2f%% of the images leave early (accuracy %.2f%% of those), "
                   "overall %.2f%% (final classifier alone %.2f%%); per image the device runs %.3f MMAC "
                   "(%.3f without exits) and sends %.1f bytes (%.0f without exits)\n",
                   100 * A, best.tau, 100 * best.share_all, 100 * best.exited_accuracy, 100 * best.accuracy,
                   100 * final_acc, best.device_macs / 1e6, k.plain_macs / 1e6, best.bytes, k.stay_bytes);
            if (ne > 1) {
                printf("  by exit:");
                for (int j = 0; j < ne; j++) printf(" %s %.2f%%", k.exit_at[j], 100 * best.share[j]);
                printf("\n");
            }
        }
    }
    const char *csv = args_str(&c, "csv"), *svg = args_str(&c, "svg");
    if (csv) {
        FILE *f = fopen(csv, "w");
        if (!f) { rc = cli_error(c.cmd, "cannot write %s", csv); free(pts); goto out; }
        fprintf(f, "tau,exit_share");
        for (int j = 0; j < ne; j++) fprintf(f, ",exit_share_%s", k.exit_at[j]);
        fprintf(f, ",exited_accuracy,overall_accuracy,device_macs,bytes_sent\n");
        for (int i = 0; i < nt; i++) row(&pts[i], ne, f, 1);
        if (fclose(f)) { rc = cli_error(c.cmd, "cannot write %s", csv); free(pts); goto out; }
    }
    if (svg) {
        double *acc = malloc((size_t)nt * sizeof *acc), *share = malloc((size_t)nt * sizeof *share);
        double *macs = malloc((size_t)nt * sizeof *macs);
        char (*names)[24] = malloc((size_t)nt * sizeof *names);
        const char **xn = malloc((size_t)nt * sizeof *xn);
        if (acc && share && macs && names && xn) {
            for (int i = 0; i < nt; i++) {
                acc[i] = 100 * pts[i].accuracy, share[i] = 100 * pts[i].share_all, macs[i] = pts[i].device_macs / 1e6;
                snprintf(names[i], sizeof names[i], "%.4g", pts[i].tau);
                xn[i] = names[i];
            }
            char title[256];
            snprintf(title, sizeof title, "early exits of %s (%s, tau: %s)", net.name, split, pol);
            SvgSeries s[3] = {{"overall accuracy %", acc, 0, 0, 0, NULL}, {"images leaving early %", share, 0, 1, 0, NULL},
                              {"device MMAC per image", macs, 1, 0, 1, NULL}};
            SvgChart ch = {title, "%", "device MMAC per image", xn, nt, 0};
            if (svg_line_chart(svg, &ch, s, 3) != SEI_OK) rc = cli_error(c.cmd, "%s", sei_last_error());
        } else {
            rc = cli_error(c.cmd, "out of memory");
        }
        free(acc), free(share), free(macs), free(names), free(xn);
    }
    free(pts);
out:
    exits_record_free(&rec);
    ds_free(&d);
    net_free(&net);
    st_close(&w);
    return rc;
}
