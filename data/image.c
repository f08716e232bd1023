/* image.c - decode one image file to interleaved 8-bit pixels (see image_decode_file in
 * data/dataset.h). PPM/PGM (P2, P3, P5, P6; maxval up to 65535, scaled to 8 bits) are
 * decoded here, always; PNG, JPEG, BMP, GIF and TGA go through stb_image when built with
 * -DSEI_HAVE_STB (the Makefile sets it when Debian's libstb-dev is installed). Every error
 * names the file; SEI_ERR_IO when it cannot be read, SEI_ERR_FORMAT when it cannot be
 * decoded. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data/dataset.h"

#define IMG_MAX_SIDE 16384 /* larger sides are taken as corrupt headers, not images */
#define IMG_MAX_PIXELS (1L << 26) /* 64 Mpixel: the memory and time a file can claim */

#ifdef SEI_HAVE_STB
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS IMG_MAX_SIDE
/* this stb_image is clean under -Wall -Wextra; other versions are not, and it is not ours */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wtype-limits"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <stb/stb_image.h>
#pragma GCC diagnostic pop
#endif

/* whole file into a malloc'd buffer */
static sei_status read_all(const char *path, uint8_t **buf, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return sei_fail(SEI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (!b) { fclose(fp); return sei_fail(SEI_ERR_NOMEM, "%s: out of memory reading it", path); }
        len += fread(b + len, 1, cap - len, fp);
        if (len < cap) break;
        uint8_t *nb = cap > (size_t)INT_MAX ? NULL : realloc(b, cap * 2);
        if (!nb) { free(b); fclose(fp); return sei_fail(SEI_ERR_FORMAT, "%s: file too large for an image", path); }
        b = nb, cap *= 2;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) { free(b); return sei_fail(SEI_ERR_IO, "%s: read error", path); }
    *buf = b, *n = len;
    return SEI_OK;
}

/* ---- PPM / PGM ---- */

typedef struct { const uint8_t *p; size_t n, i; } Cursor;

static int is_space(uint8_t ch) { return ch == ' ' || (ch >= '\t' && ch <= '\r'); }

static void skip_space(Cursor *c) {
    while (c->i < c->n) {
        uint8_t ch = c->p[c->i];
        if (ch == '#') while (c->i < c->n && c->p[c->i] != '\n' && c->p[c->i] != '\r') c->i++;
        else if (is_space(ch)) c->i++;
        else break;
    }
}

/* decimal number after optional whitespace/comments; -1 when missing or above `max` */
static long read_uint(Cursor *c, long max) {
    skip_space(c);
    if (c->i >= c->n || c->p[c->i] < '0' || c->p[c->i] > '9') return -1;
    long v = 0;
    while (c->i < c->n && c->p[c->i] >= '0' && c->p[c->i] <= '9') {
        v = v * 10 + (c->p[c->i++] - '0');
        if (v > max) return -1;
    }
    return v;
}

static sei_status decode_pnm(const char *path, const uint8_t *buf, size_t n, uint8_t **pix,
                             int *w, int *h, int *c) {
    Cursor cur = {buf, n, 2};
    const char kind = (char)buf[1];
    const int ascii = kind == '2' || kind == '3', ch = kind == '3' || kind == '6' ? 3 : 1;
    long iw = read_uint(&cur, IMG_MAX_SIDE), ih = read_uint(&cur, IMG_MAX_SIDE);
    long maxval = read_uint(&cur, 65535);
    if (iw < 1 || ih < 1)
        return sei_fail(SEI_ERR_FORMAT, "%s: bad P%c header: width and height must be 1..%d", path, kind, IMG_MAX_SIDE);
    if (maxval < 1) return sei_fail(SEI_ERR_FORMAT, "%s: bad P%c header: maxval must be 1..65535", path, kind);
    const size_t count = (size_t)iw * ih * ch, bps = maxval > 255 ? 2 : 1;
    if (!ascii) { /* exactly one whitespace byte separates the header from the raster */
        if (cur.i >= n || !is_space(buf[cur.i]))
            return sei_fail(SEI_ERR_FORMAT, "%s: bad P%c header: no whitespace after maxval", path, kind);
        cur.i++;
        if (n - cur.i < count * bps)
            return sei_fail(SEI_ERR_FORMAT, "%s: truncated: %ldx%ld P%c needs %zu bytes of pixels, file has %zu",
                            path, iw, ih, kind, count * bps, n - cur.i);
    }
    if (ascii && n - cur.i < count) /* each sample takes at least one digit */
        return sei_fail(SEI_ERR_FORMAT, "%s: truncated: %ldx%ld P%c needs %zu samples, file has %zu bytes left",
                        path, iw, ih, kind, count, n - cur.i);
    uint8_t *out = malloc(count);
    if (!out) return sei_fail(SEI_ERR_NOMEM, "%s: out of memory for %ldx%ld pixels", path, iw, ih);
    for (size_t k = 0; k < count; k++) {
        long v;
        if (ascii) {
            v = read_uint(&cur, 65535);
            if (v < 0) {
                free(out);
                return sei_fail(SEI_ERR_FORMAT, "%s: %s at sample %zu of %zu", path,
                                cur.i >= n ? "truncated" : "bad number", k, count);
            }
        } else {
            const uint8_t *q = buf + cur.i + k * bps;
            v = bps == 2 ? (long)q[0] << 8 | q[1] : q[0];
        }
        if (v > maxval) {
            free(out);
            return sei_fail(SEI_ERR_FORMAT, "%s: sample %zu is %ld, above maxval %ld", path, k, v, maxval);
        }
        out[k] = maxval == 255 ? (uint8_t)v : (uint8_t)((v * 255 + maxval / 2) / maxval);
    }
    *pix = out, *w = (int)iw, *h = (int)ih, *c = ch;
    return SEI_OK;
}

/* ---- everything else ---- */

/* Where a JPEG's first segment starts, or 0 when b is not one. stb_image, like the standard,
 * lets fill bytes (0xFF) come before the SOI marker. */
static size_t jpeg_after_soi(const uint8_t *b, size_t n) {
    size_t i = 0;
    if (n < 2 || b[0] != 0xFF) return 0;
    while (i < n && b[i] == 0xFF) i++;
    return i < n && b[i] == 0xD8 ? i + 1 : 0;
}

static const char *sniff(const uint8_t *b, size_t n) {
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "PNG";
    if (jpeg_after_soi(b, n)) return "JPEG";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "BMP";
    if (n >= 4 && !memcmp(b, "GIF8", 4)) return "GIF";
    return NULL;
}

#ifdef SEI_HAVE_STB
/* 1 when every Huffman table a JPEG defines has at most 256 codes. Debian's stb_image
 * (2.27) writes past an array for more (fuzz_image found it); newer ones refuse them. Walks
 * the marker segments, and the entropy-coded data after each SOS to the next marker. A second
 * fuzz run found the same overflow behind fill bytes before the SOI (ff ff ff d8). */
static int jpeg_tables_ok(const uint8_t *b, size_t n) {
    size_t i = jpeg_after_soi(b, n);
    while (i + 1 < n) {
        if (b[i] != 0xFF) { i++; continue; } /* padding between segments: stb skips it too */
        while (i + 1 < n && b[i + 1] == 0xFF) i++;
        if (i + 1 >= n) return 1;
        const uint8_t m = b[i + 1];
        i += 2;
        if (m == 0xD9) return 1;
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;
        if (i + 2 > n) return 1;
        const size_t L = (size_t)b[i] << 8 | b[i + 1], end = i + L;
        if (L < 2) return 1;
        if (m == 0xC4) /* stb reads zeros past the end of the file: so does this */
            for (size_t k = i + 2; k < end && k < n;) {
                size_t codes = 0;
                for (size_t j = 1; j <= 16; j++) codes += k + j < n ? b[k + j] : 0;
                if (codes > 256) return 0;
                k += 17 + codes;
            }
        i = end;
        if (m == 0xDA) /* entropy-coded data: FF is followed by 00 (a stuffed byte) or a restart */
            while (i + 1 < n && !(b[i] == 0xFF && b[i + 1] != 0 && !(b[i + 1] >= 0xD0 && b[i + 1] <= 0xD7))) i++;
    }
    return 1;
}
#endif

static sei_status decode_other(const char *path, const uint8_t *buf, size_t n, uint8_t **pix,
                               int *w, int *h, int *c) {
#ifdef SEI_HAVE_STB
    int iw, ih, ic;
    if (n > INT_MAX) return sei_fail(SEI_ERR_FORMAT, "%s: %zu bytes is too large an image file", path, n);
    const char *fmt = sniff(buf, n);
    if (fmt && !strcmp(fmt, "JPEG") && !jpeg_tables_ok(buf, n))
        return sei_fail(SEI_ERR_FORMAT, "%s: corrupt JPEG: a Huffman table with more than 256 codes", path);
    if (!stbi_info_from_memory(buf, (int)n, &iw, &ih, &ic))
        return sei_fail(SEI_ERR_FORMAT, "%s: not a readable image: %s", path, stbi_failure_reason());
    if (iw < 1 || ih < 1 || iw > IMG_MAX_SIDE || ih > IMG_MAX_SIDE || (long)iw * ih > IMG_MAX_PIXELS)
        return sei_fail(SEI_ERR_FORMAT, "%s: %dx%d image (sides 1..%d and at most %ld pixels supported)", path, iw,
                        ih, IMG_MAX_SIDE, IMG_MAX_PIXELS);
    /* TGA has no signature (any unrecognised bytes may parse as one) and its run-length packets
     * of >= 2 bytes give at most 128 pixels each: a file too short for its size is corrupt, not
     * a 1 GB image to decode (found by fuzz_image: 30 bytes claiming 16384 x 16384) */
    if (!fmt && (long)n < 18 + (long)iw * ih / 128)
        return sei_fail(SEI_ERR_FORMAT, "%s: a %dx%d TGA image cannot fit in %zu bytes", path, iw, ih, n);
    uint8_t *p = stbi_load_from_memory(buf, (int)n, &iw, &ih, &ic, 0);
    if (!p) return sei_fail(SEI_ERR_FORMAT, "%s: cannot decode: %s", path, stbi_failure_reason());
    *pix = p, *w = iw, *h = ih, *c = ic; /* stb allocates with malloc: the caller free()s */
    return SEI_OK;
#else
    (void)pix, (void)w, (void)h, (void)c;
    const char *fmt = sniff(buf, n);
    if (fmt)
        return sei_fail(SEI_ERR_FORMAT, "%s: %s needs stb_image (build with libstb-dev installed)", path, fmt);
    return sei_fail(SEI_ERR_FORMAT, "%s: not a PPM/PGM image (PNG/JPEG/BMP/GIF/TGA need stb_image: build with libstb-dev installed)", path);
#endif
}

sei_status image_decode_file(const char *path, uint8_t **pix, int *w, int *h, int *c) {
    uint8_t *buf = NULL;
    size_t n = 0;
    *pix = NULL;
    sei_status s = read_all(path, &buf, &n);
    if (s) return s;
    if (n == 0) s = sei_fail(SEI_ERR_FORMAT, "%s: empty file", path);
    else if (n >= 2 && buf[0] == 'P' && buf[1] && strchr("2356", buf[1])) s = decode_pnm(path, buf, n, pix, w, h, c);
    else if (n >= 2 && buf[0] == 'P' && (buf[1] == '1' || buf[1] == '4'))
        s = sei_fail(SEI_ERR_FORMAT, "%s: PBM bitmaps (P1/P4) are not supported", path);
    else s = decode_other(path, buf, n, pix, w, h, c);
    free(buf);
    return s;
}
