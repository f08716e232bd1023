/* test_data_shapes.c - the procedural shapes set (data/shapes.c): determinism per (seed,
 * split, index), balanced labels and names, value range, that colour classes differ in colour
 * in the intended direction while shape classes do not, that a nearest-class-mean classifier
 * on raw pixels stays well short of solving it, other sizes, and argument errors.
 * SEI_SHAPES_SHEET=file.ppm writes a contact sheet (one column per class) for a visual check. */
#include <stdint.h>
#include <stdlib.h>
#include "data/dataset.h"
#include "engine/clock.h"
#include "tests/harness.h"

/* n images of split at 32x32 into a fresh set; 0 on success */
static int gen(Dataset *d, int split, int n, uint64_t seed) {
    if (ds_init(d, 3, 32, 32)) return 1;
    return shapes_generate(d, split, n, 32, seed) != SEI_OK;
}

static size_t per_image(const Dataset *d) { return (size_t)d->c * d->h * d->w; }

static void test_determinism(void) {
    Dataset a, b, c, e, f;
    EXPECT(!gen(&a, 0, 30, 7) && !gen(&b, 0, 30, 7), "generate: %s", sei_last_error());
    EXPECT(!gen(&c, 1, 30, 7) && !gen(&e, 0, 30, 8) && !gen(&f, 0, 12, 7), "generate: %s",
           sei_last_error());
    size_t bytes = 30 * per_image(&a);
    if (a.n == 30 && b.n == 30 && c.n == 30 && e.n == 30 && f.n == 12) {
        EXPECT(!memcmp(a.pix, b.pix, bytes) && !memcmp(a.labels, b.labels, 30 * sizeof *a.labels),
               "same seed and split gave different images");
        EXPECT(memcmp(a.pix, c.pix, bytes), "split 1 repeats split 0");
        EXPECT(memcmp(a.pix, e.pix, bytes), "seed 8 repeats seed 7");
        EXPECT(!memcmp(a.pix, f.pix, 12 * per_image(&a)), "image i depends on n");
        int same = 0; /* no two images of one set alike */
        for (int i = 1; i < 30; i++) same += !memcmp(a.pix, a.pix + i * per_image(&a), per_image(&a));
        EXPECT(same == 0, "%d images equal to image 0", same);
    } else {
        EXPECT(0, "image counts %d %d %d %d %d", a.n, b.n, c.n, e.n, f.n);
    }
    ds_free(&a), ds_free(&b), ds_free(&c), ds_free(&e), ds_free(&f);
}

static void test_labels_and_names(void) {
    Dataset d;
    EXPECT(!gen(&d, 0, 1000, 1), "generate: %s", sei_last_error());
    int count[SHAPES_CLASSES] = {0}, bad = 0;
    for (int i = 0; i < d.n; i++) {
        if (d.labels[i] < 0 || d.labels[i] >= SHAPES_CLASSES) bad++;
        else count[d.labels[i]]++;
    }
    EXPECT(d.n == 1000 && bad == 0, "%d images, %d labels out of range", d.n, bad);
    for (int k = 0; k < SHAPES_CLASSES; k++) EXPECT(count[k] == 100, "class %d has %d", k, count[k]);
    EXPECT(d.nclasses == SHAPES_CLASSES && d.class_names, "nclasses %d", d.nclasses);
    for (int k = 0; d.class_names && k < d.nclasses; k++) {
        EXPECT(strlen(d.class_names[k]) > 2, "class %d name '%s'", k, d.class_names[k]);
        for (int j = 0; j < k; j++)
            EXPECT(strcmp(d.class_names[j], d.class_names[k]), "classes %d and %d share a name", j, k);
    }
    if (d.class_names) printf("  info: classes %s .. %s\n", d.class_names[0], d.class_names[9]);
    ds_free(&d);
}

static void test_value_range(void) {
    Dataset d;
    EXPECT(!gen(&d, 0, 200, 3), "generate: %s", sei_last_error());
    size_t n = (size_t)d.n * per_image(&d);
    int lo = 255, hi = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        lo = d.pix[i] < lo ? d.pix[i] : lo, hi = d.pix[i] > hi ? d.pix[i] : hi;
        sum += d.pix[i];
    }
    double mean = n ? sum / n : 0;
    EXPECT(lo <= 20 && hi >= 235 && mean > 80 && mean < 180, "range %d..%d mean %.1f", lo, hi, mean);
    ds_free(&d);
}

/* mean of each channel over the 10% most saturated (max - min channel) pixels of image i:
 * the object's colour more than the background's */
/* saturation (max - min over the 3 channels) of pixel j of a planar RGB image */
static int saturation(const uint8_t *p, size_t plane, size_t j) {
    int mx = p[j], mn = p[j];
    for (int c = 1; c < 3; c++) {
        int v = p[c * plane + j];
        mx = v > mx ? v : mx, mn = v < mn ? v : mn;
    }
    return mx - mn;
}

static void salient_colour(const Dataset *d, int i, double out[3]) {
    const size_t plane = (size_t)d->h * d->w;
    const uint8_t *p = d->pix + i * per_image(d);
    int hist[256] = {0}, thr = 255;
    for (size_t j = 0; j < plane; j++) hist[saturation(p, plane, j)]++;
    for (int acc = 0; thr > 0 && (acc += hist[thr]) < (int)(plane / 10);) thr--;
    double s[3] = {0}, cnt = 0;
    for (size_t j = 0; j < plane; j++) {
        if (saturation(p, plane, j) < thr) continue;
        for (int c = 0; c < 3; c++) s[c] += p[c * plane + j];
        cnt++;
    }
    for (int c = 0; c < 3; c++) out[c] = s[c] / cnt;
}

static void test_colour_classes(void) {
    Dataset d;
    EXPECT(!gen(&d, 0, 500, 5), "generate: %s", sei_last_error());
    double m[3][3] = {{0}}; /* [class][channel] over 50 images each */
    for (int i = 0; i < d.n; i++) {
        if (d.labels[i] > 2) continue;
        double c[3];
        salient_colour(&d, i, c);
        for (int k = 0; k < 3; k++) m[d.labels[i]][k] += c[k] / 50;
    }
    for (int cls = 0; cls < 3; cls++)
        for (int k = 0; k < 3; k++)
            if (k != cls) {
                EXPECT(m[cls][cls] - m[cls][k] > 60, "class %d: channel %d %.1f vs channel %d %.1f",
                       cls, cls, m[cls][cls], k, m[cls][k]);
                EXPECT(m[cls][cls] - m[k][cls] > 60, "channel %d: class %d %.1f vs class %d %.1f",
                       cls, cls, m[cls][cls], k, m[k][cls]);
            }
    printf("  info: object R,G,B of red %.0f,%.0f,%.0f green %.0f,%.0f,%.0f blue %.0f,%.0f,%.0f\n",
           m[0][0], m[0][1], m[0][2], m[1][0], m[1][1], m[1][2], m[2][0], m[2][1], m[2][2]);
    ds_free(&d);
}

/* shape classes 5-8 draw colours from one palette and have equal areas: the per-class mean
 * colour (what a linear model sees first) carries no information about the class */
static void test_shape_classes_same_colour(void) {
    Dataset d;
    EXPECT(!gen(&d, 0, 3000, 11), "generate: %s", sei_last_error());
    const size_t plane = (size_t)d.h * d.w;
    double m[4][3] = {{0}}, salient[4][3] = {{0}};
    for (int i = 0; i < d.n; i++) {
        int cls = d.labels[i] - 5;
        if (cls < 0 || cls > 3) continue;
        double c[3];
        salient_colour(&d, i, c);
        for (int k = 0; k < 3; k++) {
            double s = 0;
            for (size_t j = 0; j < plane; j++) s += d.pix[i * per_image(&d) + k * plane + j];
            m[cls][k] += s / plane / 300, salient[cls][k] += c[k] / 300;
        }
    }
    double worst = 0, worst_s = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < a; b++)
            for (int k = 0; k < 3; k++) {
                worst = fmax(worst, fabs(m[a][k] - m[b][k]));
                worst_s = fmax(worst_s, fabs(salient[a][k] - salient[b][k]));
            }
    EXPECT(worst < 8, "shape classes' mean colours differ by %.1f levels", worst);
    EXPECT(worst_s < 15, "shape classes' object colours differ by %.1f levels", worst_s);
    printf("  info: shape classes 5-8: largest gap in mean colour %.1f, in object colour %.1f levels\n",
           worst, worst_s);
    ds_free(&d);
}

/* nearest class mean on raw pixels (2000 train, 1000 held-out test): must beat chance but
 * stay far from solving the set */
static void test_nearest_mean_baseline(void) {
    Dataset tr, te;
    EXPECT(!gen(&tr, 0, 2000, 42) && !gen(&te, 2, 1000, 42), "generate: %s", sei_last_error());
    if (tr.n != 2000 || te.n != 1000) { ds_free(&tr), ds_free(&te); return; }
    const size_t dim = per_image(&tr);
    double *mean = calloc(SHAPES_CLASSES * dim, sizeof *mean);
    int cnt[SHAPES_CLASSES] = {0}, right = 0, right_k[SHAPES_CLASSES] = {0};
    for (int i = 0; i < tr.n; i++) {
        cnt[tr.labels[i]]++;
        for (size_t j = 0; j < dim; j++) mean[tr.labels[i] * dim + j] += tr.pix[i * dim + j];
    }
    for (int k = 0; k < SHAPES_CLASSES; k++)
        for (size_t j = 0; j < dim; j++) mean[k * dim + j] /= cnt[k];
    for (int i = 0; i < te.n; i++) {
        int best = 0;
        double bd = INFINITY;
        for (int k = 0; k < SHAPES_CLASSES; k++) {
            double s = 0;
            for (size_t j = 0; j < dim; j++) {
                double v = te.pix[i * dim + j] - mean[k * dim + j];
                s += v * v;
            }
            if (s < bd) bd = s, best = k;
        }
        if (best == te.labels[i]) right++, right_k[best]++;
    }
    double acc = right / 10.0;
    printf("  info: nearest-class-mean on raw pixels: %.1f%% held-out accuracy (chance 10%%); per class",
           acc);
    for (int k = 0; k < SHAPES_CLASSES; k++) printf(" %d", right_k[k]);
    printf(" of 100\n");
    EXPECT(acc > 15 && acc < 90, "nearest-mean accuracy %.1f%%", acc);
    free(mean);
    ds_free(&tr), ds_free(&te);
}

static void test_other_sizes(void) {
    const int sizes[] = {8, 16, 33, 128};
    for (int s = 0; s < 4; s++) {
        Dataset d;
        EXPECT(!ds_init(&d, 3, sizes[s], sizes[s]), "init");
        EXPECT(shapes_generate(&d, 1, 20, sizes[s], 9) == SEI_OK && d.n == 20, "size %d: %s",
               sizes[s], sei_last_error());
        ds_free(&d);
    }
    Dataset d; /* generated at 64, stored at 32 (resized), and grey */
    EXPECT(!ds_init(&d, 1, 32, 32) && shapes_generate(&d, 0, 20, 64, 9) == SEI_OK && d.n == 20,
           "64 into grey 32: %s", sei_last_error());
    ds_free(&d);
    double t0 = sei_now();
    Dataset big;
    EXPECT(!gen(&big, 0, 10000, 2), "generate: %s", sei_last_error());
    printf("  info: %.0f 32x32 images/s\n", 10000 / (sei_now() - t0));
    ds_free(&big);
}

static void test_bad_args(void) {
    Dataset d;
    ds_init(&d, 3, 32, 32);
    EXPECT(shapes_generate(&d, 0, 0, 32, 1) == SEI_ERR_ARG, "n = 0 accepted");
    EXPECT(shapes_generate(&d, 0, -5, 32, 1) == SEI_ERR_ARG, "n = -5 accepted");
    EXPECT(shapes_generate(&d, 0, 10, 7, 1) == SEI_ERR_ARG, "size 7 accepted");
    EXPECT(shapes_generate(&d, 0, 10, 1025, 1) == SEI_ERR_ARG, "size 1025 accepted");
    EXPECT(shapes_generate(&d, -1, 10, 32, 1) == SEI_ERR_ARG, "split -1 accepted");
    EXPECT(shapes_generate(&d, 3, 10, 32, 1) == SEI_ERR_ARG, "split 3 accepted");
    EXPECT(strstr(sei_last_error(), "split") != NULL, "message '%s'", sei_last_error());
    EXPECT(d.n == 0, "%d images added by failing calls", d.n);
    ds_free(&d);
}

/* rows of images, one column per class, 2-pixel grey gutters */
static void write_sheet(const char *path) {
    Dataset d;
    const int rows = 8, s = 32, g = 2, W = SHAPES_CLASSES * (s + g) + g, H = rows * (s + g) + g;
    if (gen(&d, 0, rows * SHAPES_CLASSES, 1)) return;
    uint8_t *img = malloc((size_t)W * H * 3);
    memset(img, 128, (size_t)W * H * 3);
    for (int i = 0; i < d.n; i++) {
        int ox = g + (i % SHAPES_CLASSES) * (s + g), oy = g + (i / SHAPES_CLASSES) * (s + g);
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++)
                for (int c = 0; c < 3; c++)
                    img[((size_t)(oy + y) * W + ox + x) * 3 + c] = d.pix[i * per_image(&d) + (c * s + y) * s + x];
    }
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fprintf(fp, "P6\n%d %d\n255\n", W, H);
        fwrite(img, 1, (size_t)W * H * 3, fp);
        fclose(fp);
    }
    free(img);
    ds_free(&d);
}

int main(void) {
    RUN(test_determinism);
    RUN(test_labels_and_names);
    RUN(test_value_range);
    RUN(test_colour_classes);
    RUN(test_shape_classes_same_colour);
    RUN(test_nearest_mean_baseline);
    RUN(test_other_sizes);
    RUN(test_bad_args);
    const char *sheet = getenv("SEI_SHAPES_SHEET");
    if (sheet) write_sheet(sheet);
    return test_summary();
}
