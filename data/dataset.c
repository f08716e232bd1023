/* dataset.c - the in-memory uint8 image store: append with channel conversion and bilinear
 * resize, class names (see data/dataset.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data/dataset.h"

sei_status ds_init(Dataset *d, int c, int h, int w) {
    memset(d, 0, sizeof *d);
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > 4096 || w > 4096)
        return sei_fail(SEI_ERR_ARG, "data: stored image size %dx%dx%d not supported (channels 1 or 3, sides 1..4096)", c, h, w);
    d->c = c, d->h = h, d->w = w;
    return SEI_OK;
}

void ds_free(Dataset *d) {
    free(d->pix);
    free(d->labels);
    free(d->class_names);
    memset(d, 0, sizeof *d);
}

sei_status ds_set_classes(Dataset *d, int nclasses, const char *const *names) {
    if (nclasses < 1 || nclasses > DS_MAX_CLASSES)
        return sei_fail(SEI_ERR_FORMAT, "data: %d classes (1..%d supported)", nclasses, DS_MAX_CLASSES);
    char(*nm)[DS_NAME_LEN] = calloc((size_t)nclasses, sizeof *nm);
    if (!nm) return sei_fail(SEI_ERR_NOMEM, "data: out of memory for class names");
    for (int k = 0; k < nclasses; k++) {
        if (names && names[k]) snprintf(nm[k], DS_NAME_LEN, "%s", names[k]);
        else snprintf(nm[k], DS_NAME_LEN, "%d", k);
    }
    free(d->class_names);
    d->class_names = nm;
    d->nclasses = nclasses;
    return SEI_OK;
}

static sei_status grow(Dataset *d) {
    if (d->n < d->cap) return SEI_OK;
    size_t per = (size_t)d->c * d->h * d->w;
    int cap = d->cap ? d->cap + d->cap / 2 : 1024;
    uint8_t *p = realloc(d->pix, (size_t)cap * per);
    if (!p) return sei_fail(SEI_ERR_NOMEM, "data: out of memory for %d images of %zu bytes", cap, per);
    d->pix = p;
    int32_t *l = realloc(d->labels, (size_t)cap * sizeof *l);
    if (!l) return sei_fail(SEI_ERR_NOMEM, "data: out of memory for labels");
    d->labels = l;
    d->cap = cap;
    return SEI_OK;
}

static uint8_t clamp_u8(float v) { return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f); }

void resize_bilinear_u8(uint8_t *dst, int dh, int dw, const uint8_t *src, int sh, int sw,
                        int stride) {
    if (dh == sh && dw == sw) {
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++) dst[y * dw + x] = src[(size_t)y * sw * stride + (size_t)x * stride];
        return;
    }
    const float sy = (float)sh / dh, sx = (float)sw / dw;
    for (int y = 0; y < dh; y++) {
        float fy = (y + 0.5f) * sy - 0.5f;
        if (fy < 0) fy = 0;
        int y0 = (int)fy, y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
        float wy = fy - y0;
        for (int x = 0; x < dw; x++) {
            float fx = (x + 0.5f) * sx - 0.5f;
            if (fx < 0) fx = 0;
            int x0 = (int)fx, x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
            float wx = fx - x0;
            float a = src[((size_t)y0 * sw + x0) * stride], b = src[((size_t)y0 * sw + x1) * stride];
            float c = src[((size_t)y1 * sw + x0) * stride], e = src[((size_t)y1 * sw + x1) * stride];
            float top = a + (b - a) * wx, bot = c + (e - c) * wx;
            dst[y * dw + x] = clamp_u8(top + (bot - top) * wy);
        }
    }
}

/* one source channel plane (or the luma of RGB) at `stride` bytes per pixel */
static sei_status add_common(Dataset *d, const uint8_t *src, int chw, int ic, int ih, int iw,
                             int label) {
    if (ic < 1 || ic > 4 || ih < 1 || iw < 1)
        return sei_fail(SEI_ERR_FORMAT, "data: image of %dx%d with %d channels", ih, iw, ic);
    if (label < 0) return sei_fail(SEI_ERR_FORMAT, "data: negative label %d", label);
    sei_status s = grow(d);
    if (s) return s;
    const size_t plane = (size_t)ih * iw, per = (size_t)d->c * d->h * d->w;
    uint8_t *dst = d->pix + (size_t)d->n * per;
    int colour = ic >= 3;
    if (d->c == 1 && colour) {
        uint8_t *grey = malloc(plane);
        if (!grey) return sei_fail(SEI_ERR_NOMEM, "data: out of memory converting an image");
        for (size_t i = 0; i < plane; i++) {
            float r, g, b;
            if (chw) r = src[i], g = src[plane + i], b = src[2 * plane + i];
            else r = src[i * ic], g = src[i * ic + 1], b = src[i * ic + 2];
            grey[i] = clamp_u8(0.299f * r + 0.587f * g + 0.114f * b);
        }
        resize_bilinear_u8(dst, d->h, d->w, grey, ih, iw, 1);
        free(grey);
    } else {
        for (int k = 0; k < d->c; k++) {
            int sk = colour ? k : 0; /* grey -> RGB replicates the one plane */
            const uint8_t *p = chw ? src + (size_t)sk * plane : src + sk;
            resize_bilinear_u8(dst + (size_t)k * d->h * d->w, d->h, d->w, p, ih, iw, chw ? 1 : ic);
        }
    }
    d->labels[d->n++] = label;
    return SEI_OK;
}

sei_status ds_add(Dataset *d, const uint8_t *hwc, int ic, int ih, int iw, int label) {
    return add_common(d, hwc, 0, ic, ih, iw, label);
}

sei_status ds_add_chw(Dataset *d, const uint8_t *chw, int ic, int ih, int iw, int label) {
    if (ic == 2 || ic == 4) return sei_fail(SEI_ERR_FORMAT, "data: planar images need 1 or 3 channels");
    return add_common(d, chw, 1, ic, ih, iw, label);
}
