/* test_cli.c - the `sei` command line as users and other tools call it: forward/backward
 * on the PyTorch fixtures (outputs read back and compared), metadata fallbacks, `layers`,
 * --help, and every kind of bad input giving a one-line error and a non-zero exit.
 * The binary is ./sei (or $SEI_BIN); scratch files go to a fresh temp directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "engine/safetensors.h"
#include "tests/harness.h"

static char tmpdir[256];
static char last_err[4096];

static const char *sei_bin(void) {
    const char *b = getenv("SEI_BIN");
    return b ? b : "./sei";
}

/* run `sei ARGS` capturing stderr; returns the exit status */
static int sei(const char *args) {
    char cmd[4096], errf[512];
    snprintf(errf, sizeof errf, "%s/stderr.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "%s %s >%s/stdout.txt 2>%s", sei_bin(), args, tmpdir, errf);
    int rc = system(cmd);
    last_err[0] = 0;
    FILE *f = fopen(errf, "r");
    if (f) {
        size_t n = fread(last_err, 1, sizeof last_err - 1, f);
        last_err[n] = 0;
        fclose(f);
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static int one_line(const char *s) {
    const char *nl = strchr(s, '\n');
    return s[0] && nl && nl[1] == 0;
}

#define FIX "tests/fixtures/"
#define VGGBN "--net vgg16_bn --classes 7 --in-ch 1 --width-mult 0.04 --weights " FIX "vgg16_bn.weights.safetensors"

static double compare(const char *out, const char *name, const char *ref, const char *refname) {
    StFile a, b;
    double e = INFINITY;
    if (st_open(&a, out) != SEI_OK) return e;
    if (st_open(&b, ref) == SEI_OK) {
        const StEntry *ea = st_find(&a, name), *eb = st_find(&b, refname);
        if (ea && eb && st_numel(ea) == st_numel(eb)) {
            size_t n = st_numel(ea);
            float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
            st_read_f32(&a, ea, x, n);
            st_read_f32(&b, eb, y, n);
            e = rel_err(x, y, n, 0);
            free(x); free(y);
        }
        st_close(&b);
    }
    st_close(&a);
    return e;
}

static void test_forward(void) {
    char args[1024], out[512];
    snprintf(out, sizeof out, "%s/y.safetensors", tmpdir);
    snprintf(args, sizeof args, "forward " VGGBN " --input " FIX "vgg16_bn.ref.safetensors --out %s", out);
    EXPECT(sei(args) == 0, "forward failed: %s", last_err);
    double e = compare(out, "logits", FIX "vgg16_bn.ref.safetensors", "logits");
    EXPECT(e <= 1e-5, "logits error %.3g", e);
    /* the network flags come from the metadata of weights that carry it */
    snprintf(args, sizeof args, "forward --weights " FIX "resnet50.weights.safetensors --input " FIX
             "resnet50.ref.safetensors --out %s --threads 1", out);
    EXPECT(sei(args) == 0, "forward from metadata failed: %s", last_err);
    e = compare(out, "logits", FIX "resnet50.ref.safetensors", "logits");
    EXPECT(e <= 1e-5, "resnet50 logits error %.3g", e);
}

static void test_backward(void) {
    char args[1024], out[512];
    snprintf(out, sizeof out, "%s/g.safetensors", tmpdir);
    snprintf(args, sizeof args, "backward " VGGBN " --input " FIX "vgg16_bn.ref.safetensors --out %s", out);
    EXPECT(sei(args) == 0, "backward failed: %s", last_err);
    const char *names[] = {"loss", "grad.input", "grad.features.0.weight", "grad.features.1.weight",
                           "grad.classifier.6.bias"};
    for (int i = 0; i < 5; i++) {
        double e = compare(out, names[i], FIX "vgg16_bn.ref.safetensors", names[i]);
        EXPECT(e <= 1e-4, "%s error %.3g", names[i], e);
    }
    StFile f;
    EXPECT(st_open(&f, out) == SEI_OK, "%s", sei_last_error());
    EXPECT(!st_find(&f, "grad.features.1.running_mean"), "buffers have no gradient");
    EXPECT(st_find(&f, "loss") && st_find(&f, "loss")->ndim == 0, "loss must be a scalar");
    st_close(&f);
}

static void test_forward_args(void) { /* argument forms: --flag=value too */
    char args[1024];
    snprintf(args, sizeof args, "forward --net=vgg16_bn --classes=7 --in-ch=1 --width-mult=0.04 --weights="
             FIX "vgg16_bn.weights.safetensors --input=" FIX "vgg16_bn.ref.safetensors --out=%s/y2.safetensors", tmpdir);
    EXPECT(sei(args) == 0, "--flag=value forms: %s", last_err);
}

static void test_help(void) {
    EXPECT(sei("--help") == 0, "sei --help");
    EXPECT(sei("forward --help") == 0 && sei("backward -h") == 0 && sei("layers --help") == 0, "help");
    EXPECT(sei("") != 0, "no command must fail");
}

static void test_layers(void) {
    EXPECT(sei("layers --net resnet50 --size 64 --classes 10") == 0, "layers: %s", last_err);
    char path[512], buf[8192];
    snprintf(path, sizeof path, "%s/stdout.txt", tmpdir);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
    EXPECT(strstr(buf, "layer3.4") && strstr(buf, "[1024,4,4]") && strstr(buf, "maxpool"),
           "layers output lacks cut points:\n%s", buf);
    EXPECT(sei("layers --net vgg16 --size 16") != 0 && one_line(last_err),
           "vgg16 at 16x16 cannot run: %s", last_err);
}

static int count_lines(const char *path, char *first, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, c, at = 0;
    while ((c = fgetc(f)) != EOF) {
        if (n == 0 && (size_t)at + 1 < cap) first[at++] = (char)c;
        n += c == '\n';
    }
    first[at] = 0;
    fclose(f);
    return n;
}

/* `sei importance --input` on the fixture batch against the PyTorch Grad-CAM reference */
static void test_importance(void) {
    char args[4096], out[512], csv[512], svg[512], first[256];
    snprintf(out, sizeof out, "%s/i.safetensors", tmpdir);
    snprintf(csv, sizeof csv, "%s/i.csv", tmpdir);
    snprintf(svg, sizeof svg, "%s/i.svg", tmpdir);
    snprintf(args, sizeof args, "importance " VGGBN " --input " FIX "vgg16_bn.ref.safetensors --per-class "
             "--batch 2 --out %s --csv %s --svg %s", out, csv, svg);
    EXPECT(sei(args) == 0, "importance failed: %s", last_err);
    StFile ref;
    if (st_open(&ref, FIX "vgg16_bn.importance.safetensors") != SEI_OK) {
        EXPECT(0, "%s", sei_last_error());
        return;
    }
    char cuts[2048];
    snprintf(cuts, sizeof cuts, "%s", st_meta(&ref, "cuts") ? st_meta(&ref, "cuts") : "");
    st_close(&ref);
    int n = 0;
    for (char *p = strtok(cuts, ","); p; p = strtok(NULL, ","), n++) {
        char a[128], b[128];
        snprintf(a, sizeof a, "importance.%s", p);
        double e = compare(out, a, FIX "vgg16_bn.importance.safetensors", a);
        EXPECT(e <= 1e-3, "%s: relative error %.3g", a, e);
        snprintf(b, sizeof b, "importance_by_class.%s", p);
        e = compare(out, b, FIX "vgg16_bn.importance.safetensors", b);
        EXPECT(e <= 1e-3, "%s: relative error %.3g", b, e);
    }
    EXPECT(n == 21, "%d cut points in the reference", n);
    EXPECT(count_lines(csv, first, sizeof first) == n + 1 && !strncmp(first, "index,layer,cut", 15),
           "csv: %d lines, header '%s'", count_lines(csv, first, sizeof first), first);
    EXPECT(count_lines(svg, first, sizeof first) > n && !strncmp(first, "<svg", 4), "svg starts '%s'", first);
    /* target pred */
    snprintf(args, sizeof args, "importance " VGGBN " --input " FIX "vgg16_bn.ref.safetensors --target pred --out %s", out);
    EXPECT(sei(args) == 0, "importance --target pred: %s", last_err);
    double e = compare(out, "importance.features.2", FIX "vgg16_bn.importance.safetensors", "importance_pred.features.2");
    EXPECT(e <= 1e-3, "pred target: relative error %.3g", e);
    struct { const char *args, *needle; } bad[] = {
        {"importance " VGGBN " --input " FIX "vgg16_bn.ref.safetensors --target best --out /tmp/x", "--target"},
        {"importance " VGGBN " --input " FIX "vgg16_bn.ref.safetensors --data shapes --out /tmp/x", "--input"},
        {"importance " VGGBN " --input " FIX "vgg16_bn.ref.safetensors", "--out"},
        {"importance " VGGBN " --input " FIX "resnet50.ref.safetensors --out /tmp/x", "channels"},
        {"importance " VGGBN " --input " FIX "vgg16_bn.weights.safetensors --out /tmp/x", "input"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = sei(bad[i].args);
        EXPECT(rc != 0 && rc < 128 && one_line(last_err) && strstr(last_err, bad[i].needle),
               "`sei %s`: rc %d, stderr: %s", bad[i].args, rc, last_err);
    }
}

/* sei split: head then tail gives the whole network's logits (the same bits) */
static void test_split(void) {
    const struct { const char *net, *at; } cases[] = {
        {VGGBN, "features.13"}, {VGGBN, "classifier.1"}, {"--weights " FIX "resnet50.weights.safetensors", "layer2.1"},
        {"--weights " FIX "resnet50.weights.safetensors", "maxpool"}};
    for (int i = 0; i < 4; i++) {
        const char *tag = i < 2 ? "vgg16_bn" : "resnet50";
        char args[4096], h[512], tl[512], ho[512], to[512], whole[512];
        snprintf(h, sizeof h, "%s/h.safetensors", tmpdir);
        snprintf(tl, sizeof tl, "%s/t.safetensors", tmpdir);
        snprintf(ho, sizeof ho, "%s/ho.safetensors", tmpdir);
        snprintf(to, sizeof to, "%s/to.safetensors", tmpdir);
        snprintf(whole, sizeof whole, "%s/whole.safetensors", tmpdir);
        snprintf(args, sizeof args, "split %s --at %s --out-head %s --out-tail %s", cases[i].net, cases[i].at, h, tl);
        EXPECT(sei(args) == 0, "split at %s: %s", cases[i].at, last_err);
        snprintf(args, sizeof args, "forward --weights %s --input " FIX "%s.ref.safetensors --out %s", h, tag, ho);
        EXPECT(sei(args) == 0, "head forward: %s", last_err);
        snprintf(args, sizeof args, "forward --weights %s --input %s --out %s", tl, ho, to);
        EXPECT(sei(args) == 0, "tail forward: %s", last_err);
        snprintf(args, sizeof args, "forward %s --input " FIX "%s.ref.safetensors --out %s", cases[i].net, tag, whole);
        EXPECT(sei(args) == 0, "whole forward: %s", last_err);
        double e = compare(to, "logits", whole, "logits");
        EXPECT(e == 0, "%s at %s: head+tail logits differ from the whole network's by %.3g", tag, cases[i].at, e);
        char ref[256];
        snprintf(ref, sizeof ref, FIX "%s.ref.safetensors", tag);
        e = compare(to, "logits", ref, "logits");
        EXPECT(e <= 1e-5, "%s at %s: logits vs PyTorch %.3g", tag, cases[i].at, e);
        if (i == 0) { /* a part is not a whole network, nor the other part */
            snprintf(args, sizeof args, "backward --weights %s --input " FIX "vgg16_bn.ref.safetensors --out %s", h, to);
            EXPECT(sei(args) != 0 && one_line(last_err) && strstr(last_err, "whole network"), "backward on a part: %s", last_err);
            snprintf(args, sizeof args, "forward --weights %s --input " FIX "vgg16_bn.ref.safetensors --out %s", tl, to);
            EXPECT(sei(args) != 0 && one_line(last_err), "tail on the raw input: %s", last_err);
        }
    }
    struct { const char *args, *needle; } bad[] = {
        {"split " VGGBN " --at features.99 --out-head /tmp/a --out-tail /tmp/b", "features.13"},
        {"split " VGGBN " --at features.0 --out-head /tmp/a --out-tail /tmp/b", "no cut point 'features.0'"},
        {"split " VGGBN " --at features.13 --out-head /tmp/a", "--out-tail"},
        {"split " VGGBN " --at features.13 --out-head /tmp/a --out-tail /tmp/a", "same file"},
        {"split " VGGBN " --out-head /tmp/a --out-tail /tmp/b", "--at"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = sei(bad[i].args);
        EXPECT(rc != 0 && rc < 128 && one_line(last_err) && strstr(last_err, bad[i].needle),
               "`sei %s`: rc %d, stderr: %s", bad[i].args, rc, last_err);
    }
}

/* every bad input: non-zero exit and exactly one line on stderr naming the problem */
static void test_bad_input(void) {
    char args[1024], bad[512];
    struct { const char *args, *needle; } cases[] = {
        {"frobnicate", "unknown command"},
        {"forward --bogus 1", "--bogus"},
        {"forward --net vgg16_bn", "--weights"},
        {"forward " VGGBN " --input " FIX "nope.safetensors --out /tmp/x", "nope.safetensors"},
        {"forward --net vgg99 --classes 7 --weights " FIX "vgg16_bn.weights.safetensors --input " FIX
         "vgg16_bn.ref.safetensors --out /tmp/x", "vgg99"},
        {"forward --net vgg16_bn --classes 8 --in-ch 1 --width-mult 0.04 --weights " FIX
         "vgg16_bn.weights.safetensors --input " FIX "vgg16_bn.ref.safetensors --out /tmp/x", "classifier.6.weight"},
        {"forward --net vgg16 --classes 7 --in-ch 1 --width-mult 0.04 --weights " FIX
         "vgg16_bn.weights.safetensors --input " FIX "vgg16_bn.ref.safetensors --out /tmp/x", "features"},
        {"forward " VGGBN " --classes x7 --input a --out b", "--classes"},
        {"forward " VGGBN " --width-mult -1 --input a --out b", "--width-mult"},
        {"forward --net vgg16_bn --classes 7 --in-ch 3 --width-mult 0.04 --weights " FIX
         "vgg16_bn.weights.safetensors --input " FIX "vgg16_bn.ref.safetensors --out /tmp/x", "features.0.weight"},
        {"forward " VGGBN " --input " FIX "vgg16_bn.weights.safetensors --out /tmp/x", "input"},
        {"backward " VGGBN " --input " FIX "vgg16_bn.weights.safetensors --out /tmp/x", "input"},
        {"forward " VGGBN " --input " FIX "vgg16_bn.ref.safetensors --out /nonexistent/dir/y.safetensors", "/nonexistent/dir"},
        {"forward " VGGBN " --input", "needs a value"},
        {"layers --net resnet50 --size 0", "--size"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = sei(cases[i].args);
        EXPECT(rc != 0 && rc < 128, "`sei %s` exited %d", cases[i].args, rc);
        EXPECT(one_line(last_err) && strstr(last_err, cases[i].needle),
               "`sei %s`: stderr should be one line naming '%s', got: %s", cases[i].args,
               cases[i].needle, last_err);
    }
    /* a truncated weights file */
    snprintf(bad, sizeof bad, "%s/trunc.safetensors", tmpdir);
    snprintf(args, sizeof args, "head -c 5000 " FIX "vgg16_bn.weights.safetensors > %s", bad);
    EXPECT(system(args) == 0, "head");
    snprintf(args, sizeof args, "forward --net vgg16_bn --classes 7 --in-ch 1 --width-mult 0.04 --weights %s --input "
             FIX "vgg16_bn.ref.safetensors --out %s/y.safetensors", bad, tmpdir);
    int rc = sei(args);
    EXPECT(rc != 0 && rc < 128 && one_line(last_err) && strstr(last_err, "trunc.safetensors"),
           "truncated weights: rc %d, %s", rc, last_err);
    /* labels out of range for backward: use the resnet50 batch (labels up to 9) on 7 classes */
    snprintf(args, sizeof args, "backward " VGGBN " --input " FIX "resnet50.ref.safetensors --out %s/g.safetensors", tmpdir);
    rc = sei(args);
    EXPECT(rc != 0 && rc < 128 && one_line(last_err), "mismatched input: rc %d, %s", rc, last_err);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sei_cli_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    if (access(sei_bin(), X_OK) != 0) {
        printf("SKIP test_cli: %s not built\n", sei_bin());
        return 0;
    }
    RUN(test_help);
    RUN(test_forward);
    RUN(test_forward_args);
    RUN(test_backward);
    RUN(test_layers);
    RUN(test_importance);
    RUN(test_split);
    RUN(test_bad_input);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary();
}
