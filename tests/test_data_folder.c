/* test_data_folder.c - image decoding (data/image.c) and the folder / Tiny-ImageNet loaders
 * (data/folder.c). Trees of small images are written under a fresh /tmp directory (removed
 * at the end): PPM/PGM always, PNG/JPEG/BMP/TGA too when built with stb_image (otherwise
 * those checks SKIP), plus corrupt files that must be skipped with a warning. Checks counts,
 * labels, class names, exact pixels, grey <-> RGB, resizing, interleaved limits and errors. */
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "data/dataset.h"
#include "tests/harness.h"
#include "tests/scratch.h"

#ifdef SEI_HAVE_STB
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop
#define NO_STB_SKIP()
#else
#define NO_STB_SKIP() SKIP("built without stb_image (STB=0 or libstb-dev not installed)")
#endif

/* P6 (c=3) or P5 (c=1) from interleaved bytes */
static void write_pnm(const char *p, const uint8_t *hwc, int w, int h, int c) {
    FILE *fp = fopen(p, "wb");
    if (!fp) return;
    fprintf(fp, "P%d\n# written by test_data_folder\n%d %d\n255\n", c == 3 ? 6 : 5, w, h);
    fwrite(hwc, 1, (size_t)w * h * c, fp);
    fclose(fp);
}

/* test images: a smooth RGB gradient, a grey ramp and constant colours */
static uint8_t g_rgb[16 * 16 * 3], g_grey[5 * 3], g_const[9 * 6 * 3];
static const uint8_t k_const[3] = {10, 200, 77};

static void make_images(void) {
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) {
            uint8_t *p = g_rgb + (y * 16 + x) * 3;
            p[0] = (uint8_t)(40 + 8 * x), p[1] = (uint8_t)(30 + 6 * y), p[2] = (uint8_t)(100 + 2 * (x + y));
        }
    for (int i = 0; i < 15; i++) g_grey[i] = (uint8_t)(i * 17);
    for (int i = 0; i < 9 * 6; i++) memcpy(g_const + 3 * i, k_const, 3);
}

static const char k_garbage[] = "this is not an image at all\n";

/* gallery/{cat,dog,emu}: PPM, PGM, [PNG, JPEG], two corrupt files, hidden and stray entries.
 * Sorted per class:  cat: a.ppm b.pgm [c.png d.jpg]   dog: a.ppm b.pgm bad.png [c.png d.jpg]
 *                    emu: a.ppm(6x9 constant) [c.png] trunc.ppm
 * and ignored: .hidden/, README.txt, cat/.DS_Store, cat/sub/, the FIFO dog/pipe */
static int g_per_class[3];

static void make_gallery(void) {
    const char *cls[3] = {"cat", "dog", "emu"};
    char rel[128];
    for (int k = 0; k < 3; k++) {
        snprintf(rel, sizeof rel, "gallery/%s/a.ppm", cls[k]);
        if (k < 2) write_pnm(tpath(rel), g_rgb, 16, 16, 3);
        else write_pnm(tpath(rel), g_const, 6, 9, 3);
        g_per_class[k] = 1;
        if (k < 2) {
            snprintf(rel, sizeof rel, "gallery/%s/b.pgm", cls[k]);
            write_pnm(tpath(rel), g_grey, 5, 3, 1);
            g_per_class[k]++;
        }
#ifdef SEI_HAVE_STB
        snprintf(rel, sizeof rel, "gallery/%s/c.png", cls[k]);
        stbi_write_png(tpath(rel), 16, 16, 3, g_rgb, 16 * 3);
        g_per_class[k]++;
        if (k < 2) {
            snprintf(rel, sizeof rel, "gallery/%s/d.jpg", cls[k]);
            stbi_write_jpg(tpath(rel), 16, 16, 3, g_rgb, 100);
            g_per_class[k]++;
        }
#endif
    }
    write_bytes(tpath("gallery/dog/bad.png"), k_garbage, sizeof k_garbage - 1);
    write_pnm(tpath("gallery/emu/trunc.ppm"), g_rgb, 16, 16, 3);
    if (truncate(tpath("gallery/emu/trunc.ppm"), 200)) perror("truncate");
    write_bytes(tpath("gallery/cat/.DS_Store"), k_garbage, sizeof k_garbage - 1);
    write_pnm(tpath("gallery/.hidden/a.ppm"), g_rgb, 16, 16, 3);
    write_bytes(tpath("gallery/README.txt"), k_garbage, sizeof k_garbage - 1);
    write_pnm(tpath("gallery/cat/sub/a.ppm"), g_rgb, 16, 16, 3); /* not a file: ignored */
    mkfifo(tpath("gallery/dog/pipe"), 0644);                     /* would block if opened */
}

static int max_diff_chw(const Dataset *d, int i, const uint8_t *hwc) {
    const size_t hw = (size_t)d->h * d->w;
    const uint8_t *img = d->pix + (size_t)i * d->c * hw;
    int m = 0;
    for (int k = 0; k < d->c; k++)
        for (size_t p = 0; p < hw; p++) {
            int e = abs((int)img[k * hw + p] - (int)hwc[p * 3 + k]);
            m = e > m ? e : m;
        }
    return m;
}

static void test_pnm_decode(void) {
    uint8_t *pix = NULL;
    int w, h, c;
    write_pnm(tpath("pnm/rgb.ppm"), g_rgb, 16, 16, 3);
    EXPECT(image_decode_file(tpath("pnm/rgb.ppm"), &pix, &w, &h, &c) == SEI_OK, "%s", sei_last_error());
    EXPECT(pix && w == 16 && h == 16 && c == 3 && !memcmp(pix, g_rgb, sizeof g_rgb), "P6 %dx%dx%d", w, h, c);
    free(pix), pix = NULL;
    write_pnm(tpath("pnm/grey.pgm"), g_grey, 5, 3, 1);
    EXPECT(image_decode_file(tpath("pnm/grey.pgm"), &pix, &w, &h, &c) == SEI_OK, "%s", sei_last_error());
    EXPECT(pix && w == 5 && h == 3 && c == 1 && !memcmp(pix, g_grey, sizeof g_grey), "P5 %dx%dx%d", w, h, c);
    free(pix), pix = NULL;
    /* ascii, comments anywhere in the header, maxval 15 scaled to 8 bits */
    const char p3[] = "P3 # colour\n2 1\n# max\n15\n0 15 7\n 15 0 1\n";
    write_bytes(tpath("pnm/a.ppm"), p3, sizeof p3 - 1);
    EXPECT(image_decode_file(tpath("pnm/a.ppm"), &pix, &w, &h, &c) == SEI_OK, "%s", sei_last_error());
    const uint8_t want3[6] = {0, 255, 119, 255, 0, 17};
    EXPECT(pix && w == 2 && h == 1 && c == 3 && !memcmp(pix, want3, 6), "P3 maxval 15");
    free(pix), pix = NULL;
    const char p2[] = "P2\n3 1\n65535\n0 65535 32768\n";
    write_bytes(tpath("pnm/a.pgm"), p2, sizeof p2 - 1);
    EXPECT(image_decode_file(tpath("pnm/a.pgm"), &pix, &w, &h, &c) == SEI_OK, "%s", sei_last_error());
    EXPECT(pix && c == 1 && pix[0] == 0 && pix[1] == 255 && pix[2] == 128, "P2 maxval 65535");
    free(pix), pix = NULL;
    const uint8_t p5[] = {'P', '5', ' ', '2', ' ', '1', ' ', '1', '0', '0', '0', '\n', 0x03, 0xE8, 0x01, 0xF4};
    write_bytes(tpath("pnm/16.pgm"), p5, sizeof p5);
    EXPECT(image_decode_file(tpath("pnm/16.pgm"), &pix, &w, &h, &c) == SEI_OK, "%s", sei_last_error());
    EXPECT(pix && w == 2 && pix[0] == 255 && pix[1] == 128, "16-bit P5 big-endian, maxval 1000");
    free(pix), pix = NULL;
}

/* each malformed file must fail with `code` and a message naming the file and `what` */
static void expect_fail(const char *rel, const void *bytes, size_t n, sei_status code, const char *what) {
    const char *p = tpath(rel);
    if (bytes) write_bytes(p, bytes, n);
    uint8_t *pix = (uint8_t *)1;
    int w, h, c;
    sei_status s = image_decode_file(p, &pix, &w, &h, &c);
    EXPECT(s == code, "%s: status %s, want %s", rel, sei_status_name(s), sei_status_name(code));
    EXPECT(strstr(sei_last_error(), p) && strstr(sei_last_error(), what), "%s: message '%s' lacks '%s'", rel, sei_last_error(), what);
    EXPECT(pix == NULL, "%s: pix not NULL on error", rel);
}

static void test_decode_errors(void) {
    write_pnm(tpath("bad/trunc.ppm"), g_rgb, 16, 16, 3);
    if (truncate(tpath("bad/trunc.ppm"), 300)) perror("truncate");
    expect_fail("bad/trunc.ppm", NULL, 0, SEI_ERR_FORMAT, "truncated");
    expect_fail("bad/missing.ppm", NULL, 0, SEI_ERR_IO, "cannot open");
    expect_fail("bad/empty.ppm", "", 0, SEI_ERR_FORMAT, "empty");
    const char huge[] = "P6\n20000 20000\n255\n";
    expect_fail("bad/huge.ppm", huge, sizeof huge - 1, SEI_ERR_FORMAT, "width and height");
    const char over[] = "P2\n2 1\n10\n3 11\n";
    expect_fail("bad/over.pgm", over, sizeof over - 1, SEI_ERR_FORMAT, "above maxval");
    const char ascii_short[] = "P3\n2 2\n255\n1 2 3 4 5 6 7 8 9 10 11\n";
    expect_fail("bad/short.ppm", ascii_short, sizeof ascii_short - 1, SEI_ERR_FORMAT, "truncated");
    const char nomax[] = "P5\n2 2\n";
    expect_fail("bad/nomax.pgm", nomax, sizeof nomax - 1, SEI_ERR_FORMAT, "maxval");
    const char pbm[] = "P4\n8 1\n\xff";
    expect_fail("bad/a.pbm", pbm, sizeof pbm - 1, SEI_ERR_FORMAT, "P4");
    const uint8_t png_head[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H'};
#ifdef SEI_HAVE_STB
    expect_fail("bad/cut.png", png_head, sizeof png_head, SEI_ERR_FORMAT, ": ");
    expect_fail("bad/garbage.png", k_garbage, sizeof k_garbage - 1, SEI_ERR_FORMAT, "not a readable image");
    /* 27 bytes that parse as a run-length TGA of 13616 x 8458 (fuzz_image found it: decoding
     * took half a gigabyte and seconds); refused before decoding, for its pixel count and, at
     * 4000 x 4000, for a size its bytes cannot hold */
    const uint8_t tga_bomb[] = {0x50, 0x00, 0x0a, 0x32, 0x41, 0x46, 0x46, 0x46, 0x20, 0x48, 0x0a, 0x5f, 0x30, 0x35, 0x0a, 0x21, 0x10, 0x63, 0xfa, 0x00, 0x1b, 0x01, 0x10, 0x63, 0x11, 0x6f, 0x50};
    expect_fail("bad/bomb.tga", tga_bomb, sizeof tga_bomb, SEI_ERR_FORMAT, "at most 67108864 pixels");
    uint8_t tga_4k[sizeof tga_bomb];
    memcpy(tga_4k, tga_bomb, sizeof tga_bomb);
    tga_4k[12] = tga_4k[14] = 4000 & 255, tga_4k[13] = tga_4k[15] = 4000 >> 8;
    expect_fail("bad/bomb4k.tga", tga_4k, sizeof tga_4k, SEI_ERR_FORMAT, "cannot fit");
    /* a JPEG Huffman table of more than 256 codes: stb_image 2.27 wrote past an array */
    const uint8_t dht[] = {0xff, 0xd8, 0xff, 0xff, 0xfe, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc4, 0x00, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xc4, 0xc4, 0x31, 0xc4, 0x50, 0x00, 0x0a, 0x32, 0xc4};
    expect_fail("bad/dht.jpg", dht, sizeof dht, SEI_ERR_FORMAT, "more than 256 codes");
    /* the same behind fill bytes before the SOI, which stb_image accepts (a second fuzz run) */
    uint8_t dht_fill[sizeof dht + 2] = {0xff, 0xff};
    memcpy(dht_fill + 2, dht, sizeof dht);
    expect_fail("bad/dht_fill.jpg", dht_fill, sizeof dht_fill, SEI_ERR_FORMAT, "more than 256 codes");
#else
    expect_fail("bad/cut.png", png_head, sizeof png_head, SEI_ERR_FORMAT, "PNG needs stb_image (build with libstb-dev installed)");
    const uint8_t jpg_head[] = {0xFF, 0xD8, 0xFF, 0xE0};
    expect_fail("bad/cut.jpg", jpg_head, sizeof jpg_head, SEI_ERR_FORMAT, "JPEG needs stb_image");
#endif
}

static void test_stb_formats(void) {
    NO_STB_SKIP();
#ifdef SEI_HAVE_STB
    uint8_t *pix = NULL;
    int w, h, c;
    stbi_write_bmp(tpath("stb/a.bmp"), 16, 16, 3, g_rgb);
    stbi_write_tga(tpath("stb/a.tga"), 16, 16, 3, g_rgb);
    stbi_write_png(tpath("stb/grey.png"), 5, 3, 1, g_grey, 5);
    const char *files[3] = {"stb/a.bmp", "stb/a.tga", "stb/grey.png"};
    for (int i = 0; i < 3; i++) {
        EXPECT(image_decode_file(tpath(files[i]), &pix, &w, &h, &c) == SEI_OK, "%s", sei_last_error());
        int ok = i < 2 ? w == 16 && h == 16 && c == 3 && pix && !memcmp(pix, g_rgb, sizeof g_rgb)
                       : w == 5 && h == 3 && c == 1 && pix && !memcmp(pix, g_grey, sizeof g_grey);
        EXPECT(ok, "%s: %dx%dx%d, pixels differ", files[i], w, h, c);
        free(pix), pix = NULL;
    }
#endif
}

static void test_folder_load(void) {
    Dataset d;
    ds_init(&d, 3, 16, 16);
    EXPECT(folder_load(&d, tpath("gallery"), 0) == SEI_OK, "%s", sei_last_error());
    int n = g_per_class[0] + g_per_class[1] + g_per_class[2];
    EXPECT(d.n == n && d.skipped == 2, "n %d (want %d), skipped %d (want 2)", d.n, n, d.skipped);
    EXPECT(d.nclasses == 3 && d.class_names && !strcmp(d.class_names[0], "cat") &&
           !strcmp(d.class_names[1], "dog") && !strcmp(d.class_names[2], "emu"), "classes");
    for (int i = 0, k = 0, left = g_per_class[0]; i < d.n && k < 3; i++) {
        EXPECT(d.labels[i] == k, "image %d label %d, want %d", i, d.labels[i], k);
        if (--left == 0 && ++k < 3) left = g_per_class[k];
    }
    if (d.n != n) { ds_free(&d); return; }
    EXPECT(max_diff_chw(&d, 0, g_rgb) == 0, "cat/a.ppm at native size differs");
    const size_t hw = 256;
    const uint8_t *grey = d.pix + 1 * 3 * hw; /* cat/b.pgm: 5x3 grey -> 16x16 RGB */
    EXPECT(!memcmp(grey, grey + hw, hw) && !memcmp(grey, grey + 2 * hw, hw), "grey -> RGB planes differ");
    EXPECT(grey[0] == g_grey[0] && grey[hw - 1] == g_grey[14], "grey corners %d %d", grey[0], grey[hw - 1]);
    const uint8_t *emu = d.pix + (size_t)(g_per_class[0] + g_per_class[1]) * 3 * hw;
    int constant = 1; /* 6x9 constant colour resized to 16x16 */
    for (int k = 0; k < 3; k++)
        for (size_t p = 0; p < hw; p++) constant &= emu[k * hw + p] == k_const[k];
    EXPECT(constant, "resized constant image is not constant");
    ds_free(&d);
}

static void test_folder_png_jpeg(void) {
    NO_STB_SKIP();
    Dataset d;
    ds_init(&d, 3, 16, 16);
    EXPECT(folder_load(&d, tpath("gallery"), 0) == SEI_OK, "%s", sei_last_error());
    if (d.n >= 4) {
        EXPECT(max_diff_chw(&d, 2, g_rgb) == 0, "cat/c.png differs (lossless)");
        int e = max_diff_chw(&d, 3, g_rgb);
        EXPECT(e <= 8, "cat/d.jpg max abs diff %d > 8", e);
    }
    ds_free(&d);
}

static void test_folder_grey_resize(void) {
    Dataset d;
    ds_init(&d, 1, 16, 16); /* RGB -> luma at native size */
    EXPECT(folder_load(&d, tpath("gallery"), 0) == SEI_OK, "%s", sei_last_error());
    int m = 0;
    for (int p = 0; d.n > 0 && p < 256; p++) {
        const uint8_t *s = g_rgb + 3 * p;
        int want = (int)(0.299f * s[0] + 0.587f * s[1] + 0.114f * s[2] + 0.5f);
        int e = abs(d.pix[p] - want);
        m = e > m ? e : m;
    }
    EXPECT(d.n > 0 && m <= 1, "RGB -> grey max diff %d", m);
    ds_free(&d);
    ds_init(&d, 3, 7, 5); /* every image resized; the constant one stays constant */
    EXPECT(folder_load(&d, tpath("gallery"), 0) == SEI_OK, "%s", sei_last_error());
    const uint8_t *emu = d.pix + (size_t)(g_per_class[0] + g_per_class[1]) * 3 * 35;
    int constant = d.n > g_per_class[0] + g_per_class[1];
    for (int k = 0; constant && k < 3; k++)
        for (int p = 0; p < 35; p++) constant &= emu[k * 35 + p] == k_const[k];
    EXPECT(constant, "constant image resized to 7x5 is not constant");
    ds_free(&d);
}

static void test_folder_limit(void) {
    Dataset d;
    ds_init(&d, 3, 8, 8);
    EXPECT(folder_load(&d, tpath("gallery"), 5) == SEI_OK, "%s", sei_last_error());
    const int want[5] = {0, 1, 2, 0, 1}; /* interleaved: a.ppm of each class, then the b's */
    EXPECT(d.n == 5, "limit 5 gave %d images", d.n);
    for (int i = 0; i < 5 && i < d.n; i++) EXPECT(d.labels[i] == want[i], "image %d label %d, want %d", i, d.labels[i], want[i]);
    ds_free(&d);
}

static void test_folder_errors(void) {
    Dataset d;
    ds_init(&d, 3, 4, 4);
    ds_add(&d, g_rgb, 3, 16, 16, 0); /* loaders append: a failure must leave this alone */
    sei_status s = folder_load(&d, tpath("nowhere"), 0);
    EXPECT(s == SEI_ERR_IO && strstr(sei_last_error(), "nowhere"), "missing dir: %s", sei_last_error());
    mkdir(tpath("emptydir"), 0755);
    s = folder_load(&d, tpath("emptydir"), 0);
    EXPECT(s == SEI_ERR_FORMAT && strstr(sei_last_error(), "no class folders"), "empty dir: %s", sei_last_error());
    write_bytes(tpath("flat/a.ppm"), k_garbage, 3);
    s = folder_load(&d, tpath("flat"), 0);
    EXPECT(s == SEI_ERR_FORMAT && strstr(sei_last_error(), "no class folders"), "files only: %s", sei_last_error());
    write_bytes(tpath("corrupt/x/bad.png"), k_garbage, sizeof k_garbage - 1);
    write_bytes(tpath("corrupt/y/bad.ppm"), "P6\n4 4\n255\n", 11);
    s = folder_load(&d, tpath("corrupt"), 0);
    EXPECT(s == SEI_ERR_FORMAT && strstr(sei_last_error(), "no readable image"), "only corrupt: %s", sei_last_error());
    EXPECT(d.n == 1 && d.skipped == 0 && d.nclasses == 0, "after errors n %d skipped %d classes %d", d.n, d.skipped, d.nclasses);
    ds_free(&d);
}

/* ---- Tiny-ImageNet ---- */

/* wnids.txt lists n02 n01 n03 (not sorted: labels must follow the file); class k's images
 * are the constant colour k_tiny[k]; real JPEGs with stb, PPM bytes named .JPEG without */
static const char *k_wnids[3] = {"n02", "n01", "n03"};
static const uint8_t k_tiny[3][3] = {{200, 30, 30}, {30, 200, 30}, {30, 30, 200}};

static void write_tiny_image(const char *rel, int k) {
    uint8_t img[8 * 8 * 3];
    for (int i = 0; i < 64; i++) memcpy(img + 3 * i, k_tiny[k], 3);
#ifdef SEI_HAVE_STB
    stbi_write_jpg(tpath(rel), 8, 8, 3, img, 95);
#else
    write_pnm(tpath(rel), img, 8, 8, 3);
#endif
}

static void make_tiny(void) {
    char rel[128];
    const char wn[] = "n02\nn01\n\nn03\n";
    write_bytes(tpath("tiny/wnids.txt"), wn, sizeof wn - 1);
    const char words[] = "n00\tentity\n"
                         "n01\tgoldfish, Carassius auratus\n"
                         "n02\tan extremely long class name that goes on well past sixty-three characters, x\n";
    write_bytes(tpath("tiny/words.txt"), words, sizeof words - 1);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 2; i++) {
            snprintf(rel, sizeof rel, "tiny/train/%s/images/%s_%d.JPEG", k_wnids[k], k_wnids[k], i);
            write_tiny_image(rel, k);
        }
    write_bytes(tpath("tiny/train/n01/n01_boxes.txt"), "n01_0.JPEG\t0\t0\t8\t8\n", 19);
    const int val_class[4] = {2, 0, 0, 1};
    for (int i = 0; i < 4; i++) {
        snprintf(rel, sizeof rel, "tiny/val/images/val_%d.JPEG", i);
        write_tiny_image(rel, val_class[i]);
    }
    const char ann[] = "val_0.JPEG\tn03\t0\t0\t8\t8\nval_1.JPEG\tn02\t1\t1\t7\t7\n"
                       "val_2.JPEG\tn02\t0\t0\t8\t8\r\nval_3.JPEG\tn01\t0\t0\t8\t8\n";
    write_bytes(tpath("tiny/val/val_annotations.txt"), ann, sizeof ann - 1);
}

static void expect_tiny_colours(const Dataset *d) {
    const size_t hw = (size_t)d->h * d->w;
    for (int i = 0; i < d->n; i++) {
        int m = 0, k = d->labels[i];
        for (int ch = 0; ch < 3 && k >= 0 && k < 3; ch++)
            for (size_t p = 0; p < hw; p++) {
                int e = abs((int)d->pix[(size_t)i * 3 * hw + ch * hw + p] - k_tiny[k][ch]);
                m = e > m ? e : m;
            }
        EXPECT(k >= 0 && k < 3 && m <= 8, "image %d (label %d) colour off by %d", i, k, m);
    }
}

static void test_tiny_train(void) {
    Dataset d;
    ds_init(&d, 3, 8, 8);
    EXPECT(tiny_imagenet_load(&d, tpath("tiny"), 1, 0) == SEI_OK, "%s", sei_last_error());
    EXPECT(d.n == 6 && d.skipped == 0 && d.nclasses == 3, "n %d skipped %d classes %d", d.n, d.skipped, d.nclasses);
    for (int i = 0; i < d.n; i++) EXPECT(d.labels[i] == i / 2, "image %d label %d", i, d.labels[i]);
    expect_tiny_colours(&d);
    if (d.nclasses == 3) {
        EXPECT(strlen(d.class_names[0]) == DS_NAME_LEN - 1 && !strncmp(d.class_names[0], "an extremely long", 17),
               "class 0 name '%s'", d.class_names[0]);
        EXPECT(!strcmp(d.class_names[1], "goldfish"), "class 1 name '%s'", d.class_names[1]);
        EXPECT(!strcmp(d.class_names[2], "n03"), "class 2 (not in words.txt) name '%s'", d.class_names[2]);
    }
    ds_free(&d);
    ds_init(&d, 3, 8, 8);
    EXPECT(tiny_imagenet_load(&d, tpath("tiny"), 1, 4) == SEI_OK, "%s", sei_last_error());
    EXPECT(d.n == 4, "limit 4 gave %d", d.n);
    for (int i = 0; i < d.n; i++) EXPECT(d.labels[i] == i % 3, "limited image %d label %d", i, d.labels[i]);
    ds_free(&d);
}

static void test_tiny_val(void) {
    Dataset d;
    ds_init(&d, 3, 8, 8);
    EXPECT(tiny_imagenet_load(&d, tpath("tiny"), 0, 0) == SEI_OK, "%s", sei_last_error());
    const int want[4] = {2, 0, 0, 1};
    EXPECT(d.n == 4, "val n %d", d.n);
    for (int i = 0; i < 4 && i < d.n; i++) EXPECT(d.labels[i] == want[i], "val %d label %d, want %d", i, d.labels[i], want[i]);
    expect_tiny_colours(&d);
    ds_free(&d);
}

static void test_tiny_errors(void) {
    Dataset d;
    ds_init(&d, 3, 8, 8);
    const char *ann = tpath("tiny/val/val_annotations.txt");
    FILE *fp = fopen(ann, "a");
    if (fp) fputs("val_9.JPEG\tn99\t0\t0\t8\t8\n", fp), fclose(fp);
    sei_status s = tiny_imagenet_load(&d, tpath("tiny"), 0, 0);
    EXPECT(s == SEI_ERR_FORMAT && strstr(sei_last_error(), "n99") && strstr(sei_last_error(), ":5:"),
           "unknown wnid: %s", sei_last_error());
    EXPECT(d.n == 0, "n %d after error", d.n);
    const char ann_missing[] = "val_0.JPEG\tn03\t0\t0\t8\t8\nval_8.JPEG\tn01\t0\t0\t8\t8\n";
    write_bytes(ann, ann_missing, sizeof ann_missing - 1);
    s = tiny_imagenet_load(&d, tpath("tiny"), 0, 0);
    EXPECT(s == SEI_ERR_IO && strstr(sei_last_error(), "val_8.JPEG") && strstr(sei_last_error(), "missing"),
           "missing file: %s", sei_last_error());
    EXPECT(d.n == 0, "n %d after error", d.n);
    unlink(tpath("tiny/words.txt")); /* optional: names fall back to wnids */
    EXPECT(tiny_imagenet_load(&d, tpath("tiny"), 1, 0) == SEI_OK, "%s", sei_last_error());
    EXPECT(d.nclasses == 3 && !strcmp(d.class_names[0], "n02") && !strcmp(d.class_names[1], "n01"), "names without words.txt");
    ds_free(&d);
    ds_init(&d, 3, 8, 8);
    s = tiny_imagenet_load(&d, tpath("gallery"), 1, 0);
    EXPECT(s == SEI_ERR_IO && strstr(sei_last_error(), "wnids.txt"), "no wnids.txt: %s", sei_last_error());
    ds_free(&d);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/sei_folder_XXXXXX");
    if (!mkdtemp(g_dir)) { printf("FAIL mkdtemp\n"); return 1; }
    make_images();
    make_gallery();
    make_tiny();
    RUN(test_pnm_decode);
    RUN(test_decode_errors);
    RUN(test_stb_formats);
    RUN(test_folder_load);
    RUN(test_folder_png_jpeg);
    RUN(test_folder_grey_resize);
    RUN(test_folder_limit);
    RUN(test_folder_errors);
    RUN(test_tiny_train);
    RUN(test_tiny_val);
    RUN(test_tiny_errors);
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return test_summary();
}
