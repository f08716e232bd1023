/* cmd_demo.c - `sei demo` (and `make demo`): the whole mission on the built-in shapes set,
 * with no arguments and nothing to download. Each step is the command a user would run
 * (called in-process; every one prints its own lines):
 *   1. train a width-0.125 VGG16-BN on shapes;
 *   2. I-SPLIT importance of every cut point on validation images, and the split candidates;
 *   3. retrain the two best candidates with an autoencoder bottleneck and an int8 wire;
 *   4. calibrate an early exit after features.23 on the frozen network;
 *   5. plan for several device / link presets (a latency bound, accuracy within 3 points of
 *      the base network);
 *   6. a summary with each recommendation; DIR/report.html is the Wi-Fi plan's report. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/common.h"
#include "engine/clock.h"
#include "engine/safetensors.h"

int cmd_train(int argc, char **argv);
int cmd_importance(int argc, char **argv);
int cmd_retrain(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_eval(int argc, char **argv);

static Flag demo_flags[] = {
    {"out", "DIR", "where every run, plan and the report go", "demo", NULL, 0},
    {"epochs", "E", "training epochs of the base network", "8", NULL, 0},
    {"images", "N", "training images of the shapes set", "10000", NULL, 0},
    {"threads", "T", "threads (0: all cores)", "0", NULL, 0},
};

static int run(int (*fn)(int, char **), const char *name, const char *what, char **av, int n) {
    printf("\n== %s\n$ sei %s", what, name);
    for (int i = 0; i < n; i++) printf(" %s", av[i]);
    printf("\n");
    fflush(stdout);
    const int rc = fn(n, av);
    fflush(stdout);
    if (rc) fprintf(stderr, "sei demo: step '%s' failed (exit %d)\n", what, rc);
    return rc;
}

/* the next argument buffer of b, formatted */
static char *arg(char (*b)[1400], int *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static char *arg(char (*b)[1400], int *k, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = b[(*k)++];
    vsnprintf(s, 1400, fmt, ap);
    va_end(ap);
    return s;
}

static void read_line(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    buf[0] = 0;
    if (!f) return;
    if (!fgets(buf, (int)cap, f)) buf[0] = 0;
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
}

int cmd_demo(int argc, char **argv) {
    Command c = {"demo", "The whole pipeline on the built-in shapes set: train, importance, retrain the candidates\n"
                         "with a bottleneck, calibrate an early exit, plan for several devices and links, report.",
                 "[--out DIR]", demo_flags, (int)(sizeof demo_flags / sizeof demo_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    int epochs = 8, images = 10000, threads = 0;
    if (args_int(&c, "epochs", 1, 1000, &epochs) || args_int(&c, "images", 100, 1000000, &images) ||
        args_int(&c, "threads", 0, 1024, &threads))
        return 2;
    const char *out = args_str(&c, "out");
    if (strlen(out) > 200) return cli_error(c.cmd, "--out: a path of at most 200 characters");
    const double t0 = sei_now();
    char b[32][1400];
    int k = 0;
#define A(...) arg(b, &k, __VA_ARGS__)
    char data[64], th[32];
    snprintf(data, sizeof data, "--data=shapes:%d", images);
    snprintf(th, sizeof th, "--threads=%d", threads);

    /* 1. train */
    k = 0;
    char *tr[] = {"--net=vgg16_bn", "--width-mult=0.125", data, A("--epochs=%d", epochs), "--batch=128", "--opt=adamw",
                  "--lr=4e-3", "--warmup=1", "--augment=flip", th, A("--out=%s/base", out), "--quiet"};
    if ((rc = run(cmd_train, "train", "1. train a small VGG16-BN on shapes", tr, 12))) return rc;
    char base[400];
    snprintf(base, sizeof base, "%.200s/base/best.safetensors", out);

    /* 2. importance and candidates */
    k = 0;
    char *im[] = {A("--weights=%s", base), "--split=val", "--limit=1000", A("--out=%s/importance.safetensors", out),
                  A("--csv=%s/importance.csv", out), A("--svg=%s/importance.svg", out), th};
    if ((rc = run(cmd_importance, "importance", "2. I-SPLIT importance of every cut point", im, 7))) return rc;
    char ipath[600], cand[2][SEI_NAME_LEN] = {"", ""};
    snprintf(ipath, sizeof ipath, "%s/importance.safetensors", out);
    StFile f;
    if (st_open(&f, ipath) != SEI_OK) return cli_error(c.cmd, "%s", sei_last_error());
    const char *cl = st_meta(&f, "candidates");
    int nc = 0;
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", cl ? cl : "");
    for (char *t = strtok(tmp, ","); t && nc < 2; t = strtok(NULL, ",")) snprintf(cand[nc++], SEI_NAME_LEN, "%s", t);
    st_close(&f);
    /* fewer than two candidates: fill with pool outputs */
    static const char *const pools[] = {"features.13", "features.23", "features.33"};
    for (int i = 0; nc < 2 && i < 3; i++)
        if (strcmp(cand[0], pools[i])) snprintf(cand[nc++], SEI_NAME_LEN, "%s", pools[i]);
    printf("split candidates to retrain: %s, %s\n", cand[0], cand[1]);

    /* 3. retrain the candidates with a bottleneck */
    char variants[4096];
    snprintf(variants, sizeof variants, "--weights=%s", base);
    for (int i = 0; i < 2; i++) {
        k = 0;
        char *rt[] = {A("--weights=%s", base), A("--at=%s", cand[i]), "--ratio=4", "--wire=int8", "--epochs=2",
                      "--batch=128", "--lr=0.01", "--augment=flip", th, A("--out=%s/split-%s", out, cand[i]), "--quiet"};
        char what[300];
        snprintf(what, sizeof what, "3. retrain with an int8 bottleneck at %s", cand[i]);
        if ((rc = run(cmd_retrain, "retrain", what, rt, 11))) return rc;
        const size_t n = strlen(variants);
        snprintf(variants + n, sizeof variants - n, ",%s/split-%s/best.safetensors", out, cand[i]);
    }

    /* 4. an early exit on the frozen network */
    k = 0;
    char *ex[] = {A("--init=%s", base), "--exit-at=features.23", "--freeze=backbone", "--net=vgg16_bn",
                  "--width-mult=0.125", data, "--epochs=4", "--batch=128", "--opt=adamw", "--lr=4e-3", "--augment=flip",
                  th, A("--out=%s/exits", out), "--quiet"};
    if ((rc = run(cmd_train, "train", "4. calibrate an early exit after features.23 (backbone frozen)", ex, 14))) return rc;
    {
        const size_t n = strlen(variants);
        snprintf(variants + n, sizeof variants - n, ",%s/exits/best.safetensors", out);
    }

    /* 5. plan for several devices and links */
    static const char *const cases[][3] = {{"mcu-m7", "ble", "500"}, {"rpi4", "lora", "3000"},
                                           {"rpi4", "wifi-n", "50"}, {"jetson-nano", "ethernet", "20"}};
    char recs[4][1024];
    for (int i = 0; i < 4; i++) {
        k = 0;
        char *pl[] = {variants, A("--device=%s", cases[i][0]), A("--link=%s", cases[i][1]), "--fps=2",
                      A("--max-latency-ms=%s", cases[i][2]), "--within=3", "--eval-images=1000",
                      A("--out=%s/plan-%s-%s", out, cases[i][0], cases[i][1]), th, "--quiet"};
        char what[160];
        snprintf(what, sizeof what, "5. plan: %s over %s, p95 latency <= %s ms", cases[i][0], cases[i][1], cases[i][2]);
        if ((rc = run(cmd_plan, "plan", what, pl, 10))) return rc;
        char rp[700];
        snprintf(rp, sizeof rp, "%s/plan-%s-%s/recommendation.txt", out, cases[i][0], cases[i][1]);
        read_line(rp, recs[i], sizeof recs[i]);
    }
    /* the Wi-Fi plan's report is the demo's */
    char src[700], dst[700];
    snprintf(src, sizeof src, "%s/plan-rpi4-wifi-n/report.html", out);
    snprintf(dst, sizeof dst, "%s/report.html", out);
    FILE *in = fopen(src, "rb"), *o = in ? fopen(dst, "wb") : NULL;
    if (in && o) {
        char buf[8192];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, o);
    }
    if (in) fclose(in);
    if (o && fclose(o)) return cli_error(c.cmd, "cannot write %s", dst);

    /* 6. summary */
    printf("\n== summary (%.0f s)\n", sei_now() - t0);
    printf("base network %s, split candidates from importance: %s, %s (retrained with an int8 bottleneck), "
           "early exit after features.23\n", base, cand[0], cand[1]);
    for (int i = 0; i < 4; i++)
        printf("  %-11s over %-8s (p95 <= %4s ms): %s\n", cases[i][0], cases[i][1], cases[i][2], recs[i]);
    printf("report: %s (and %s/plan-*/report.html)\n", dst, out);
    return 0;
#undef A
}
