/* test_importance.c - I-SPLIT importance (split/importance.c) against an independent PyTorch
 * Grad-CAM (tests/gen_importance.py -> tests/fixtures/<tag>.importance.safetensors), on the
 * three fixture networks with random weights: every cut point's importance (label and pred
 * targets), per class and density; the same sums when the batch is fed image by image; and
 * the candidate ranking on hand-made curves. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "split/importance.h"
#include "tests/harness.h"
#include "tests/fixture.h"

/* |a - ref| within 1e-3 of ref, with an absolute floor of 1e-6 of the curve's largest value
 * (a cut point whose map is all negative has importance exactly 0 in float64) */
static int close_to(double a, double ref, double scale) {
    return fabs(a - ref) <= 1e-3 * fabs(ref) + 1e-6 * scale;
}

static double ref_scalar(const StFile *f, const char *prefix, const char *path, int *found) {
    char name[SEI_NAME_LEN + 32];
    snprintf(name, sizeof name, "%s%s", prefix, path);
    const StEntry *e = st_find(f, name);
    float v = 0;
    *found = e && st_read_f32(f, e, &v, 1) == SEI_OK;
    return v;
}

static void check_net(const char *tag) {
    StFile w, ref, imp;
    if (!open_fixture(&w, tag, "weights")) return;
    if (!open_fixture(&ref, tag, "ref")) { st_close(&w); return; }
    if (!open_fixture(&imp, tag, "importance")) { st_close(&w); st_close(&ref); return; }
    Net net;
    int32_t *labels = NULL;
    Tensor x = read_input(&ref, &labels);
    Tape t;
    tape_init(&t, 1, 0, 0, 0);
    Importance im = {0}, ip = {0}, i1 = {0};
    if (!open_net(&net, &w)) goto out;
    EXPECT(importance_init(&im, &net) == SEI_OK && importance_init(&ip, &net) == SEI_OK &&
           importance_init(&i1, &net) == SEI_OK, "%s", sei_last_error());
    char *req = malloc((size_t)net.nparams);
    for (int i = 0; i < net.nparams; i++) req[i] = (char)net.params[i].v.requires_grad;
    EXPECT(importance_batch(&im, &net, &t, &x, labels, 0) == SEI_OK, "%s: %s", tag, sei_last_error());
    int changed = 0;
    for (int i = 0; i < net.nparams; i++) changed += req[i] != (char)net.params[i].v.requires_grad;
    EXPECT(!changed, "%s: %d parameters' requires_grad not restored", tag, changed);
    free(req);
    EXPECT(importance_batch(&ip, &net, &t, &x, labels, 1) == SEI_OK, "%s: %s", tag, sei_last_error());
    /* image by image: the sums must not depend on how the images are batched */
    const int N = x.shape[0];
    const size_t img = (size_t)x.shape[1] * x.shape[2] * x.shape[3];
    for (int n = 0; n < N; n++) {
        Tensor xn = x;
        xn.shape[0] = 1;
        xn.data = x.data + n * img;
        EXPECT(importance_batch(&i1, &net, &t, &xn, labels + n, 0) == SEI_OK, "%s", sei_last_error());
    }
    EXPECT(im.n == N && ip.n == N && i1.n == N, "%s: images %ld %ld %ld", tag, im.n, ip.n, i1.n);

    double scale = 0, worst = 0;
    for (int c = 0; c < im.ncuts; c++) scale = fmax(scale, importance_value(&im, c));
    int bad = 0, missing = 0;
    for (int c = 0; c < im.ncuts; c++) {
        const char *path = net.layers[im.layer[c]].path;
        int f1, f2, f3;
        double r = ref_scalar(&imp, "importance.", path, &f1);
        double rp = ref_scalar(&imp, "importance_pred.", path, &f2);
        double rd = ref_scalar(&imp, "density.", path, &f3);
        if (!f1 || !f2 || !f3) { missing++; continue; }
        double v = importance_value(&im, c), vp = importance_value(&ip, c);
        double v1 = importance_value(&i1, c), d = importance_density(&im, c, -1);
        if (r > 0) worst = fmax(worst, fabs(v - r) / r);
        if (!close_to(v, r, scale) || !close_to(vp, rp, scale)) {
            printf("  %s %-14s importance %.8g ref %.8g   pred %.8g ref %.8g\n", tag, path, v, r, vp, rp);
            bad++;
        }
        EXPECT(fabs(v1 - v) <= 1e-5 * fabs(v) + 1e-7 * scale, "%s %s: one image at a time %.8g, batched %.8g",
               tag, path, v1, v);
        /* density: a map value within float rounding of the threshold may land either side */
        EXPECT(fabs(d - rd) <= 2.0 / (double)im.nmaps[c] + 1e-12, "%s %s: density %.6f ref %.6f",
               tag, path, d, rd);
        /* per class */
        char name[SEI_NAME_LEN + 32];
        snprintf(name, sizeof name, "importance_by_class.%s", path);
        const StEntry *e = st_find(&imp, name);
        float by[64];
        if (!e || (int)st_numel(e) != net.classes || net.classes > 64 ||
            st_read_f32(&imp, e, by, (size_t)net.classes) != SEI_OK) {
            missing++;
            continue;
        }
        for (int k = 0; k < net.classes; k++)
            EXPECT(close_to(importance_class(&im, c, k), by[k], scale), "%s %s class %d: %.8g ref %.8g",
                   tag, path, k, importance_class(&im, c, k), by[k]);
    }
    EXPECT(!missing, "%s: %d cut points missing from the fixture", tag, missing);
    EXPECT(!bad, "%s: %d cut points off by more than 1e-3", tag, bad);
    printf("  %s: %d cut points, worst relative error %.2e (largest importance %.3g)\n", tag,
           im.ncuts, worst, scale);
out:
    importance_free(&im);
    importance_free(&ip);
    importance_free(&i1);
    tape_free(&t);
    net_free(&net);
    free(labels);
    free(x.data);
    st_close(&w);
    st_close(&ref);
    st_close(&imp);
}

static void test_vgg16(void) { check_net("vgg16"); }
static void test_vgg16_bn(void) { check_net("vgg16_bn"); }
static void test_resnet50(void) { check_net("resnet50"); }

static void test_candidates(void) {
    int rank[8];
    const double a[] = {1, 3, 2, 5, 4, 4, 6, 1};
    /* interior strict maxima: 3 (idx 1), 5 (idx 3), 6 (idx 6); 4,4 is a plateau, not a max */
    EXPECT(importance_candidates(a, 8, rank) == 3, "count");
    EXPECT(rank[6] == 1 && rank[3] == 2 && rank[1] == 3, "ranks %d %d %d", rank[6], rank[3], rank[1]);
    EXPECT(rank[0] == 0 && rank[7] == 0 && rank[4] == 0 && rank[5] == 0, "non-candidates ranked");
    const double b[] = {5, 4, 3};
    EXPECT(importance_candidates(b, 3, rank) == 0, "monotone curve has candidates");
    const double z[] = {0, 0, 1e-9, 0};
    EXPECT(importance_candidates(z, 4, rank) == 1 && rank[2] == 1, "tiny positive maximum");
    EXPECT(importance_candidates(a, 1, rank) == 0 && importance_candidates(a, 2, rank) == 0,
           "short curves");
}

static void test_spearman(void) {
    const double a[] = {1, 2, 3, 4, 5}, b[] = {10, 20, 30, 40, 50}, c[] = {5, 4, 3, 2, 1};
    const double d[] = {1, 2, 2, 3}, e[] = {1, 3, 2, 4}, k[] = {7, 7, 7};
    EXPECT(fabs(spearman(a, b, 5) - 1) < 1e-12 && fabs(spearman(a, c, 5) + 1) < 1e-12, "monotone");
    /* with ties: ranks d = 1, 2.5, 2.5, 4; e = 1, 3, 2, 4 -> r = 4.5 / sqrt(4.5 * 5) */
    EXPECT(fabs(spearman(d, e, 4) - 4.5 / sqrt(4.5 * 5.0)) < 1e-12, "ties: %.6f", spearman(d, e, 4));
    EXPECT(isnan(spearman(k, a, 3)) && isnan(spearman(a, b, 1)), "constant / short input");
}

static void test_bad_labels(void) {
    StFile w;
    if (!open_fixture(&w, "vgg16", "weights")) return;
    Net net;
    if (!open_net(&net, &w)) { st_close(&w); return; }
    Importance im;
    Tape t;
    tape_init(&t, 1, 0, 0, 0);
    float *d = calloc(3 * 32 * 32, sizeof(float));
    Tensor x = {.ndim = 4, .shape = {1, 3, 32, 32}, .data = d};
    int32_t lab = net.classes;
    EXPECT(importance_init(&im, &net) == SEI_OK, "init");
    EXPECT(importance_batch(&im, &net, &t, &x, &lab, 0) == SEI_ERR_ARG && im.n == 0,
           "label %d accepted", lab);
    lab = -1;
    EXPECT(importance_batch(&im, &net, &t, &x, &lab, 0) == SEI_ERR_ARG, "label -1 accepted");
    free(d);
    importance_free(&im);
    tape_free(&t);
    net_free(&net);
    st_close(&w);
}

int main(void) {
    RUN(test_candidates);
    RUN(test_spearman);
    RUN(test_bad_labels);
    RUN(test_vgg16);
    RUN(test_vgg16_bn);
    RUN(test_resnet50);
    return test_summary();
}
