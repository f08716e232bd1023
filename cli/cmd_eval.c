/* cmd_eval.c - `sei eval`: accuracy, per-class accuracy and confusion matrix of a checkpoint
 * on a data split. The checkpoint's metadata gives the network, input size, normalisation,
 * data spec and class subset; flags override them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/common.h"
#include "engine/clock.h"
#include "nets/train.h"

static Flag eval_flags[] = {
    {"weights", "CKPT", "checkpoint (sei train's last/best.safetensors, or weights with --net ...)", NULL, NULL, 0},
    NET_FLAGS,
    DATA_FLAGS,
    {"split", "NAME", "which split: train, val or test", "test", NULL, 0},
    {"batch", "B", "images per batch", "256", NULL, 0},
    {"normalize", "M/S", "override the checkpoint's normalisation: M1[,M2,M3]/S1[,S2,S3]", NULL, NULL, 0},
    {"json", NULL, "print one JSON object instead of the report", NULL, NULL, 0},
};

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

int cmd_eval(int argc, char **argv) {
    Command c = {"eval", "Accuracy, per-class accuracy and confusion matrix of a checkpoint on a data split.",
                 "--weights CKPT [--data SPEC] [--split test] [--json]", eval_flags,
                 (int)(sizeof eval_flags / sizeof eval_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if (cli_setup(&c)) return 2;
    const char *wpath = args_str(&c, "weights"), *split = args_str(&c, "split");
    if (!wpath) return cli_error(c.cmd, "--weights is required");
    int batch = 256;
    if (args_int(&c, "batch", 1, 65536, &batch)) return 2;
    StFile w;
    Net net;
    Dataset d = {0};
    EvalResult r = {0};
    if ((rc = cli_open_checkpoint(&c, wpath, &w, &net))) return rc;
    DataConfig dc;
    BatchConfig bc = {.batch = batch};
    if ((rc = cli_eval_data(&c, &net, &w, split, &dc, &d, &bc))) goto out;
    double t0 = sei_now();
    if (evaluate(&net, &d, &bc, &r) != SEI_OK) { rc = cli_error(c.cmd, "%s", sei_last_error()); goto out; }
    double secs = sei_now() - t0;
    const int K = net.classes;
    /* class names: the data's, else the checkpoint's */
    const char *names[DS_MAX_CLASSES] = {0};
    for (int k = 0; k < d.nclasses && k < K; k++) names[k] = d.class_names[k];
    if (args_bool(&c, "json")) {
        printf("{\"weights\":");
        json_str(wpath);
        printf(",\"data\":");
        json_str(dc.spec);
        printf(",\"split\":\"%s\",\"images\":%ld,\"accuracy\":%.6f,\"loss\":%.6f,\"images_per_s\":%.1f,\"per_class\":[",
               split, r.n, r.accuracy, r.loss, r.n / secs);
        for (int k = 0; k < K; k++) {
            long row = 0;
            for (int j = 0; j < K; j++) row += r.confusion[(size_t)k * K + j];
            printf("%s{\"class\":", k ? "," : "");
            if (names[k]) json_str(names[k]);
            else printf("\"%d\"", k);
            printf(",\"images\":%ld,\"accuracy\":%.6f}", row, row ? (double)r.confusion[(size_t)k * K + k] / row : 0.0);
        }
        printf("],\"confusion\":[");
        for (int k = 0; k < K; k++) {
            printf("%s[", k ? "," : "");
            for (int j = 0; j < K; j++) printf("%s%ld", j ? "," : "", r.confusion[(size_t)k * K + j]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("%s on %s (%s split): accuracy %.2f%% (%ld images), loss %.4f, %.1f images/s\n\n", wpath,
               dc.spec, split, 100 * r.accuracy, r.n, r.loss, r.n / secs);
        printf("%-16s %8s %9s\n", "class", "images", "accuracy");
        for (int k = 0; k < K; k++) {
            long row = 0;
            for (int j = 0; j < K; j++) row += r.confusion[(size_t)k * K + j];
            char nm[24];
            snprintf(nm, sizeof nm, "%s", names[k] ? names[k] : "");
            if (!names[k]) snprintf(nm, sizeof nm, "%d", k);
            printf("%-16s %8ld %8.2f%%\n", nm, row, row ? 100.0 * r.confusion[(size_t)k * K + k] / row : 0.0);
        }
        if (K <= 20) {
            printf("\nconfusion matrix (rows: true class, columns: predicted)\n      ");
            for (int j = 0; j < K; j++) printf(" %6d", j);
            printf("\n");
            for (int k = 0; k < K; k++) {
                printf("%5d ", k);
                for (int j = 0; j < K; j++) printf(" %6ld", r.confusion[(size_t)k * K + j]);
                printf("\n");
            }
        } else {
            printf("\n(confusion matrix of %d classes: see --json)\n", K);
        }
    }
out:
    free(r.confusion);
    ds_free(&d);
    net_free(&net);
    st_close(&w);
    return rc;
}
