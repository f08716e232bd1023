/* dataset.h - image data sets held compactly in memory (uint8), the loaders that fill them,
 * and the batcher that turns them into normalised float batches for training and eval.
 *
 * A Dataset stores every image at one size (C x H x W, uint8, CHW per image) with an int32
 * label each. Loaders hand images of any size and channel count to ds_add(), which converts
 * grey <-> RGB and resizes bilinearly to the stored size on the way in, so a 30 GB folder of
 * JPEGs of varying sizes costs N*C*H*W bytes. Sources (the --data SPEC):
 *   shapes[:N]            procedural set generated here (data/shapes.c)
 *   fashion-mnist         /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
 *   idx:DIR               MNIST-format files in DIR, plain or .gz (data/idx.c, data/inflate.c)
 *   folder:DIR            one sub-folder per class, PNG/JPEG/BMP/PPM/PGM (data/folder.c)
 *   tiny-imagenet:DIR     Tiny-ImageNet-200 layout (data/folder.c)
 * data_load() (data/spec.c) parses the spec, picks the split, and applies class subset,
 * limit and validation split. */
#ifndef SEI_DATASET_H
#define SEI_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include "engine/error.h"

#define DS_MAX_CLASSES 1000
#define DS_NAME_LEN 64

typedef struct {
    int n, cap;             /* images held / allocated */
    int c, h, w;            /* stored size of every image; c is 1 or 3 */
    uint8_t *pix;           /* n * c*h*w bytes, image i at pix + i*c*h*w, CHW */
    int32_t *labels;        /* n labels in [0, nclasses) */
    int nclasses;
    char (*class_names)[DS_NAME_LEN]; /* nclasses names (folder names, wnids, digits) */
    int skipped;            /* unreadable files a loader skipped with a warning */
} Dataset;

/* An empty set whose images will be stored at c x h x w (c: 1 or 3). */
sei_status ds_init(Dataset *d, int c, int h, int w);
void ds_free(Dataset *d);
/* Append one image given as interleaved HWC bytes with `ic` channels (1 grey, 2 grey+alpha,
 * 3 RGB, 4 RGBA; alpha is dropped), any ih x iw: converted to the stored channels (grey ->
 * RGB replicates, RGB -> grey uses ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B) and resized
 * bilinearly (half-pixel centres, as PIL/torchvision's antialias=False) to h x w. */
sei_status ds_add(Dataset *d, const uint8_t *hwc, int ic, int ih, int iw, int label);
/* Same for an image already planar CHW (idx and shapes produce these). */
sei_status ds_add_chw(Dataset *d, const uint8_t *chw, int ic, int ih, int iw, int label);
/* Set the class count and names (names may be NULL: "0", "1", ...). */
sei_status ds_set_classes(Dataset *d, int nclasses, const char *const *names);

/* Bilinear resize of one uint8 plane, half-pixel centres, clamped at the borders. */
void resize_bilinear_u8(uint8_t *dst, int dh, int dw, const uint8_t *src, int sh, int sw,
                        int src_stride_px);

/* ---- loaders: each appends to an initialised Dataset and sets its classes ---- */

/* IDX (MNIST format): images file (magic 0x00000803, u8, N x rows x cols) and labels file
 * (magic 0x00000801, u8, N); either may be gzip-compressed (read directly). Stops after
 * `limit` images when limit > 0. */
sei_status idx_load(Dataset *d, const char *images_path, const char *labels_path, int limit);
/* Whole-file gzip inflate (RFC 1951/1952), checks CRC-32 and size. *out is malloc'd. */
sei_status gunzip(const uint8_t *in, size_t n, uint8_t **out, size_t *out_n);
/* Read a whole file; gunzips it when it starts with the gzip magic. *out is malloc'd. */
sei_status read_file_maybe_gz(const char *path, uint8_t **out, size_t *out_n);

/* Image folder: DIR/<class>/<files>, classes in sorted name order. Unreadable images are
 * skipped with a warning on stderr and counted in d->skipped. */
sei_status folder_load(Dataset *d, const char *dir, int limit);
/* Tiny-ImageNet-200: train=1 reads train/<wnid>/images, train=0 reads val/images with
 * val/val_annotations.txt. Classes in wnids.txt order, names from words.txt. */
sei_status tiny_imagenet_load(Dataset *d, const char *dir, int train, int limit);
/* Decode one image file (PNG/JPEG/BMP via stb_image when built with it; PPM/PGM always) to
 * interleaved bytes; *pix is malloc'd. */
sei_status image_decode_file(const char *path, uint8_t **pix, int *w, int *h, int *c);

/* Procedural set (data/shapes.c): split 0 train, 1 val, 2 test; deterministic from seed
 * and split. Images are generated at size x size, 3 channels. */
#define SHAPES_CLASSES 10
sei_status shapes_generate(Dataset *d, int split, int n, int size, uint64_t seed);

#endif
