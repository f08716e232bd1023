/* idx.c - MNIST-format (IDX) loader: an images file (magic 0x00000803: u8, N x rows x cols)
 * and a labels file (magic 0x00000801: u8, N), each plain or gzip-compressed.
 *
 * Both files are read whole and validated before the first image is appended (magics,
 * dimensions, sizes that match their headers exactly, counts that agree, labels that fit
 * the data set's classes), so a failing call leaves the Dataset as it found it. Classes:
 * kept if the Dataset already has them, otherwise max label + 1 named "0", "1", ... */
#include <stdlib.h>
#include "data/dataset.h"

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* checks magic and that the file holds exactly `hdr` bytes + count * item bytes */
static sei_status check_header(const char *path, const uint8_t *b, size_t n, uint32_t magic,
                               size_t hdr, const char *what) {
    if (n < hdr)
        return sei_fail(SEI_ERR_FORMAT, "%s: truncated: %zu bytes, an IDX %s header needs %zu", path, n, what, hdr);
    if (be32(b) != magic)
        return sei_fail(SEI_ERR_FORMAT, "%s: bad magic 0x%08x, expected 0x%08x for IDX %s (u8)", path, be32(b), magic, what);
    return SEI_OK;
}

static sei_status check_files(const char *ip, const uint8_t *img, size_t ni, const char *lp,
                              const uint8_t *lab, size_t nl, uint32_t *count, uint32_t *rows, uint32_t *cols) {
    sei_status s = check_header(ip, img, ni, 0x00000803, 16, "images");
    if (!s) s = check_header(lp, lab, nl, 0x00000801, 8, "labels");
    if (s) return s;
    uint32_t n = be32(img + 4), r = be32(img + 8), c = be32(img + 12), nlab = be32(lab + 4);
    if (r < 1 || c < 1 || r > 4096 || c > 4096)
        return sei_fail(SEI_ERR_FORMAT, "%s: images of %ux%u (sides 1..4096 supported)", ip, r, c);
    uint64_t want = 16 + (uint64_t)n * r * c, have = ni - 16;
    if (ni < want)
        return sei_fail(SEI_ERR_FORMAT, "%s: truncated: header says %u images of %ux%u, file has only %llu bytes of pixels (%llu whole images)",
                        ip, n, r, c, (unsigned long long)have, (unsigned long long)(have / ((uint64_t)r * c)));
    if (ni > want)
        return sei_fail(SEI_ERR_FORMAT, "%s: %llu bytes after the %u images of %ux%u the header declares",
                        ip, (unsigned long long)(ni - want), n, r, c);
    if (nl != 8 + (uint64_t)nlab)
        return sei_fail(SEI_ERR_FORMAT, "%s: %s: header says %u labels, file has %zu", lp,
                        nl < 8 + (uint64_t)nlab ? "truncated" : "extra bytes", nlab, nl - 8);
    if (nlab != n) return sei_fail(SEI_ERR_FORMAT, "%s has %u labels but %s has %u images", lp, nlab, ip, n);
    if (n > 0x7fffffff) return sei_fail(SEI_ERR_FORMAT, "%s: %u images (at most 2^31-1 supported)", ip, n);
    *count = n, *rows = r, *cols = c;
    return SEI_OK;
}

sei_status idx_load(Dataset *d, const char *images_path, const char *labels_path, int limit) {
    uint8_t *img = NULL, *lab = NULL;
    size_t ni = 0, nl = 0;
    uint32_t n = 0, r = 0, c = 0;
    const int n0 = d->n;
    sei_status s = read_file_maybe_gz(images_path, &img, &ni);
    if (!s) s = read_file_maybe_gz(labels_path, &lab, &nl);
    if (!s) s = check_files(images_path, img, ni, labels_path, lab, nl, &n, &r, &c);
    uint32_t use = limit > 0 && (uint32_t)limit < n ? (uint32_t)limit : n;
    int maxlab = -1;
    for (uint32_t i = 0; !s && i < n; i++) { /* classes from the whole file, not just the first `limit` */
        int l = lab[8 + i];
        if (l > maxlab) maxlab = l;
        if (d->nclasses > 0 && l >= d->nclasses && i < use)
            s = sei_fail(SEI_ERR_FORMAT, "%s: label %d of image %u is outside the data set's %d classes",
                         labels_path, l, i, d->nclasses);
    }
    for (uint32_t i = 0; !s && i < use; i++)
        s = ds_add_chw(d, img + 16 + (size_t)i * r * c, 1, (int)r, (int)c, lab[8 + i]);
    if (!s && d->nclasses <= 0 && maxlab >= 0) s = ds_set_classes(d, maxlab + 1, NULL);
    if (s) d->n = n0;
    free(img);
    free(lab);
    return s;
}
