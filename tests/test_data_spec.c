/* test_data_spec.c - data_load (splits, class subset, validation carving, limit, errors) and
 * the batcher (threaded batches equal direct ones, seeded shuffling, crops, flips,
 * normalisation), on the built-in shapes set and a small IDX directory. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "data/data.h"
#include "tests/harness.h"

static void test_shapes_splits(void) {
    DataConfig c;
    data_config_default(&c);
    c.spec = "shapes:500";
    Dataset tr, va, te;
    EXPECT(data_load(&tr, &c, "train") == SEI_OK, "train: %s", sei_last_error());
    EXPECT(data_load(&va, &c, "val") == SEI_OK, "val: %s", sei_last_error());
    EXPECT(data_load(&te, &c, "test") == SEI_OK, "test: %s", sei_last_error());
    EXPECT(tr.n == 500 && va.n == 100 && te.n == 100, "sizes %d %d %d", tr.n, va.n, te.n);
    EXPECT(tr.c == 3 && tr.h == 32 && tr.nclasses == 10, "shape %d %d %d", tr.c, tr.h, tr.nclasses);
    size_t per = (size_t)tr.c * tr.h * tr.w;
    EXPECT(memcmp(tr.pix, va.pix, per) && memcmp(va.pix, te.pix, per), "splits share images");
    /* grey and resized on the way in */
    c.channels = 1, c.size = 24;
    Dataset g;
    EXPECT(data_load(&g, &c, "test") == SEI_OK && g.c == 1 && g.h == 24 && g.n == 100, "grey 24");
    ds_free(&g);
    ds_free(&tr), ds_free(&va), ds_free(&te);
}

static void test_subset_limit(void) {
    DataConfig c;
    data_config_default(&c);
    c.spec = "shapes:300";
    EXPECT(data_parse_subset(&c, "7,2") == SEI_OK && c.nsubset == 2, "parse");
    Dataset d, full;
    EXPECT(data_load(&d, &c, "train") == SEI_OK, "%s", sei_last_error());
    EXPECT(d.nclasses == 2 && d.n == 60, "subset: %d classes %d images", d.nclasses, d.n);
    DataConfig f;
    data_config_default(&f);
    f.spec = "shapes:300";
    data_load(&full, &f, "train");
    EXPECT(!strcmp(d.class_names[0], full.class_names[7]) && !strcmp(d.class_names[1], full.class_names[2]),
           "names follow the subset order");
    int ok = 1;
    for (int i = 0; i < d.n; i++) ok &= d.labels[i] == 0 || d.labels[i] == 1;
    EXPECT(ok, "relabelled to 0..1");
    ds_free(&d);
    ds_free(&full);
    c.limit = 25;
    EXPECT(data_load(&d, &c, "train") == SEI_OK && d.n == 25, "limit after subset: %d", d.n);
    ds_free(&d);
    /* for a network over all 10 classes the subset keeps the images' own class ids */
    c.limit = 0;
    data_subset_for_net(&c, 2);
    EXPECT(!c.keep_labels, "a 2-class network relabels");
    data_subset_for_net(&c, 10);
    EXPECT(c.keep_labels, "a 10-class network keeps the ids");
    EXPECT(data_load(&d, &c, "train") == SEI_OK && d.n == 60 && d.nclasses == 10, "keep: %d images, %d classes",
           d.n, d.nclasses);
    ok = 1;
    for (int i = 0; i < d.n; i++) ok &= d.labels[i] == 7 || d.labels[i] == 2;
    EXPECT(ok, "original ids 7 and 2 kept");
    ds_free(&d);
    c.keep_labels = 0;
    const char *bad[] = {"", "1,,2", "3,3", "-1", "a", "1,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT(data_parse_subset(&c, bad[i]) != SEI_OK, "subset '%s' accepted", bad[i]);
    EXPECT(data_parse_subset(&c, "12") == SEI_OK && data_load(&d, &c, "train") != SEI_OK &&
           strstr(sei_last_error(), "does not exist"), "class 12 of 10: %s", sei_last_error());
}

static void test_bad_specs(void) {
    DataConfig c;
    data_config_default(&c);
    Dataset d;
    const char *bad[] = {"nonsense", "shapes:abc", "shapes:1", "idx:/nonexistent/dir", "folder:/nonexistent/dir",
                         "tiny-imagenet:/nonexistent"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.spec = bad[i];
        EXPECT(data_load(&d, &c, "train") != SEI_OK && *sei_last_error(), "'%s' accepted", bad[i]);
    }
    c.spec = "shapes";
    EXPECT(data_load(&d, &c, "everything") != SEI_OK, "bad split accepted");
}

/* IDX files written here: 40 images 6x6, labels 0..3; val carved from train */
static void test_idx_carving(void) {
    char dir[] = "/tmp/sei_spec_XXXXXX";
    if (!mkdtemp(dir)) SKIP("mkdtemp failed");
    const int N = 40;
    for (int f = 0; f < 2; f++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, f ? "t10k" : "train");
        FILE *fi = fopen(p, "wb");
        unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, (unsigned char)N, 0, 0, 0, 6, 0, 0, 0, 6};
        fwrite(hdr, 1, 16, fi);
        for (int i = 0; i < N * 36; i++) fputc((i / 36) * 5 + f, fi);
        fclose(fi);
        snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, f ? "t10k" : "train");
        FILE *fl = fopen(p, "wb");
        unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, (unsigned char)N};
        fwrite(lh, 1, 8, fl);
        for (int i = 0; i < N; i++) fputc(i % 4, fl);
        fclose(fl);
    }
    char spec[300];
    snprintf(spec, sizeof spec, "idx:%s", dir);
    DataConfig c;
    data_config_default(&c);
    c.spec = spec;
    c.val_split = 0.25f;
    Dataset tr, va, te;
    EXPECT(data_load(&tr, &c, "train") == SEI_OK, "%s", sei_last_error());
    EXPECT(data_load(&va, &c, "val") == SEI_OK, "%s", sei_last_error());
    EXPECT(data_load(&te, &c, "test") == SEI_OK, "%s", sei_last_error());
    EXPECT(tr.n == 30 && va.n == 10 && te.n == 40, "sizes %d %d %d", tr.n, va.n, te.n);
    EXPECT(tr.h == 28 && tr.c == 1, "stored at the native 28: %d", tr.h);
    /* train and val are disjoint and together the whole file (image i has value 5i inside) */
    int seen[40] = {0};
    for (int i = 0; i < tr.n; i++) seen[tr.pix[(size_t)i * 28 * 28 + 14 * 28 + 14] / 5]++;
    for (int i = 0; i < va.n; i++) seen[va.pix[(size_t)i * 28 * 28 + 14 * 28 + 14] / 5]++;
    int all = 1;
    for (int i = 0; i < N; i++) all &= seen[i] == 1;
    EXPECT(all, "train + val is not a partition of the file");
    /* the same carving every time */
    Dataset tr2;
    data_load(&tr2, &c, "train");
    EXPECT(tr2.n == tr.n && !memcmp(tr.pix, tr2.pix, (size_t)tr.n * 784), "carving not deterministic");
    ds_free(&tr), ds_free(&va), ds_free(&te), ds_free(&tr2);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    EXPECT(system(cmd) == 0, "cleanup");
}

static void test_batcher(void) {
    DataConfig c;
    data_config_default(&c);
    c.spec = "shapes:100";
    Dataset d;
    if (data_load(&d, &c, "train") != SEI_OK) { EXPECT(0, "%s", sei_last_error()); return; }
    BatchConfig bc = {.batch = 16, .size = 28, .random_crop = 1, .pad = 2, .flip = 1, .shuffle = 1,
                      .drop_last = 1, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.25f, 0.25f, 0.25f}, .seed = 9};
    Batcher b;
    EXPECT(batcher_init(&b, &d, &bc) == SEI_OK, "init");
    size_t per = (size_t)16 * 3 * 28 * 28;
    float *ref = malloc(per * sizeof(float));
    int32_t ry[16];
    for (int e = 0; e < 2; e++) {
        int nb = batcher_epoch(&b, e);
        EXPECT(nb == 6, "batches %d", nb);
        const float *x;
        const int32_t *y;
        int n, k = 0, mism = 0;
        float lo = 1e9f, hi = -1e9f;
        while ((n = batcher_next(&b, &x, &y)) > 0) {
            int m = batcher_fill(&b, k++, ref, ry);
            mism += m != n || memcmp(ref, x, (size_t)n * 3 * 28 * 28 * sizeof(float)) || memcmp(ry, y, (size_t)n * 4);
            for (size_t i = 0; i < (size_t)n * 3 * 28 * 28; i++) lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
        }
        EXPECT(k == 6 && !mism, "threaded batches differ from direct ones (%d)", mism);
        EXPECT(lo >= -2.0f - 1e-5f && hi <= 2.0f + 1e-5f, "normalised range [%g, %g]", lo, hi);
    }
    /* epoch 0 again gives the same first batch; epoch 1 a different order */
    batcher_epoch(&b, 0);
    float *e0 = malloc(per * sizeof(float));
    batcher_fill(&b, 0, e0, ry);
    batcher_epoch(&b, 1);
    batcher_fill(&b, 0, ref, ry);
    EXPECT(memcmp(e0, ref, per * sizeof(float)) != 0, "epochs share an order");
    batcher_free(&b);
    /* centre crop without augmentation reproduces the stored pixels exactly */
    BatchConfig ec = {.batch = 7, .size = 32, .mean = {0, 0, 0}, .std = {1, 1, 1}};
    EXPECT(batcher_init(&b, &d, &ec) == SEI_OK, "init eval");
    EXPECT(batcher_epoch(&b, 0) == 15, "eval batches: the last partial one kept");
    const float *x;
    const int32_t *y;
    int n = batcher_next(&b, &x, &y), bad = 0;
    for (int i = 0; i < n * 3 * 32 * 32; i++) bad += fabsf(x[i] - d.pix[i] / 255.0f) > 1e-6f;
    EXPECT(n == 7 && !bad && y[0] == d.labels[0], "centre crop pixels differ (%d)", bad);
    batcher_free(&b);
    BatchConfig big = ec;
    big.size = 40;
    EXPECT(batcher_init(&b, &d, &big) != SEI_OK, "a crop larger than the image accepted");
    free(ref), free(e0);
    ds_free(&d);
}

int main(void) {
    RUN(test_shapes_splits);
    RUN(test_subset_limit);
    RUN(test_bad_specs);
    RUN(test_idx_carving);
    RUN(test_batcher);
    return test_summary();
}
