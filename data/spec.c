/* spec.c - open a --data SPEC: pick the loader, the split, then class subset, validation
 * carving and limit (see data/data.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "data/data.h"
#include "engine/rng.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

void data_config_default(DataConfig *c) {
    memset(c, 0, sizeof *c);
    c->spec = "shapes";
    c->val_split = 0.1f;
}

sei_status data_parse_subset(DataConfig *c, const char *list) {
    c->nsubset = 0;
    const char *p = list;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v >= DS_MAX_CLASSES || (*end && *end != ','))
            return sei_fail(SEI_ERR_ARG, "--class-subset: '%s' is not a list of class indices like 0,3,7", list);
        for (int i = 0; i < c->nsubset; i++)
            if (c->subset[i] == v) return sei_fail(SEI_ERR_ARG, "--class-subset: class %ld given twice", v);
        if (c->nsubset == DATA_MAX_SUBSET) return sei_fail(SEI_ERR_ARG, "--class-subset: too many classes");
        c->subset[c->nsubset++] = (int)v;
        p = *end ? end + 1 : end;
        if (*end && !*p) return sei_fail(SEI_ERR_ARG, "--class-subset: '%s' ends with a comma", list);
    }
    if (!c->nsubset) return sei_fail(SEI_ERR_ARG, "--class-subset: empty list");
    return SEI_OK;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

void data_native(const char *spec, int *size, int *channels) {
    *size = 0, *channels = 0;
    if (!strncmp(spec, "shapes", 6)) *size = 32, *channels = 3;
    else if (!strcmp(spec, "fashion-mnist") || !strncmp(spec, "idx:", 4)) *size = 28, *channels = 1;
    else if (!strncmp(spec, "tiny-imagenet:", 14)) *size = 64, *channels = 3;
    else if (!strncmp(spec, "folder:", 7)) *size = 64, *channels = 3;
}

/* first existing of DIR/<stem>{,.gz} for the MNIST file name variants */
static int find_idx(char *out, size_t cap, const char *dir, const char *a, const char *b) {
    const char *names[2] = {a, b};
    for (int i = 0; i < 2; i++)
        for (int gz = 0; gz < 2; gz++) {
            snprintf(out, cap, "%s/%s%s", dir, names[i], gz ? ".gz" : "");
            if (is_file(out)) return 1;
        }
    return 0;
}

static sei_status load_idx_dir(Dataset *d, const char *dir, int train, int limit) {
    if (!is_dir(dir)) return sei_fail(SEI_ERR_IO, "data: %s: no such directory", dir);
    char img[4096], lab[4096];
    const char *pre = train ? "train" : "t10k";
    char a1[64], b1[64], a2[64], b2[64];
    snprintf(a1, sizeof a1, "%s-images-idx3-ubyte", pre);
    snprintf(b1, sizeof b1, "%s-images.idx3-ubyte", pre);
    snprintf(a2, sizeof a2, "%s-labels-idx1-ubyte", pre);
    snprintf(b2, sizeof b2, "%s-labels.idx1-ubyte", pre);
    if (!find_idx(img, sizeof img, dir, a1, b1))
        return sei_fail(SEI_ERR_IO, "data: %s: no %s[.gz] (an MNIST-format directory holds train-* and t10k-* files)", dir, a1);
    if (!find_idx(lab, sizeof lab, dir, a2, b2))
        return sei_fail(SEI_ERR_IO, "data: %s: no %s[.gz]", dir, a2);
    return idx_load(d, img, lab, limit);
}

void data_subset_for_net(DataConfig *c, int net_classes) {
    c->keep_labels = c->nsubset > 0 && net_classes > c->nsubset;
}

/* keep images whose label is in the subset, relabel to the subset position (or keep their
 * ids and the class list with keep_labels) */
static sei_status apply_subset(Dataset *d, const DataConfig *c) {
    if (!c->nsubset) return SEI_OK;
    for (int i = 0; i < c->nsubset; i++)
        if (c->subset[i] >= d->nclasses)
            return sei_fail(SEI_ERR_ARG, "--class-subset: class %d does not exist (the data has %d classes)",
                            c->subset[i], d->nclasses);
    int map[DS_MAX_CLASSES];
    for (int k = 0; k < DS_MAX_CLASSES; k++) map[k] = -1;
    for (int i = 0; i < c->nsubset; i++) map[c->subset[i]] = i;
    size_t per = (size_t)d->c * d->h * d->w;
    int m = 0;
    for (int i = 0; i < d->n; i++) {
        int k = map[d->labels[i]];
        if (k < 0) continue;
        if (m != i) memcpy(d->pix + (size_t)m * per, d->pix + (size_t)i * per, per);
        d->labels[m++] = c->keep_labels ? d->labels[i] : k;
    }
    d->n = m;
    if (c->keep_labels) return SEI_OK;
    const char *names[DATA_MAX_SUBSET];
    char(*old)[DS_NAME_LEN] = d->class_names;
    for (int i = 0; i < c->nsubset; i++) names[i] = old[c->subset[i]];
    d->class_names = NULL;
    sei_status s = ds_set_classes(d, c->nsubset, names);
    free(old);
    return s;
}

/* keep the images at positions idx[0..m) in that order */
static sei_status keep(Dataset *d, const int *idx, int m) {
    size_t per = (size_t)d->c * d->h * d->w;
    uint8_t *pix = malloc((size_t)(m ? m : 1) * per);
    int32_t *lab = malloc((size_t)(m ? m : 1) * sizeof *lab);
    if (!pix || !lab) { free(pix); free(lab); return sei_fail(SEI_ERR_NOMEM, "data: out of memory"); }
    for (int i = 0; i < m; i++) {
        memcpy(pix + (size_t)i * per, d->pix + (size_t)idx[i] * per, per);
        lab[i] = d->labels[idx[i]];
    }
    free(d->pix), free(d->labels);
    d->pix = pix, d->labels = lab, d->n = d->cap = m;
    return SEI_OK;
}

static int *permutation(int n, uint64_t seed) {
    int *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    if (!p) return NULL;
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(&r, (uint32_t)i + 1), t = p[i];
        p[i] = p[j], p[j] = t;
    }
    return p;
}

/* carve [lo, hi) shares of a seeded permutation (sorted back into file order) */
static sei_status carve(Dataset *d, double lo, double hi, uint64_t seed) {
    int *p = permutation(d->n, seed);
    if (!p) return sei_fail(SEI_ERR_NOMEM, "data: out of memory");
    int a = (int)(lo * d->n + 0.5), b = (int)(hi * d->n + 0.5);
    char *mark = calloc((size_t)d->n + 1, 1);
    if (!mark) { free(p); return sei_fail(SEI_ERR_NOMEM, "data: out of memory"); }
    for (int i = a; i < b; i++) mark[p[i]] = 1;
    int m = 0;
    for (int i = 0; i < d->n; i++)
        if (mark[i]) p[m++] = i;
    sei_status s = keep(d, p, m);
    free(p), free(mark);
    return s;
}

static sei_status limit_to(Dataset *d, int limit, uint64_t seed) {
    if (limit <= 0 || d->n <= limit) return SEI_OK;
    /* a seeded sample, kept in file order, so every class is represented */
    return carve(d, 0.0, (double)limit / d->n, seed ^ 0x6c696d6974ull);
}

sei_status data_load(Dataset *d, const DataConfig *c, const char *split) {
    int sp = !strcmp(split, "train") ? 0 : !strcmp(split, "val") ? 1 : !strcmp(split, "test") ? 2 : -1;
    if (sp < 0) return sei_fail(SEI_ERR_ARG, "data: unknown split '%s' (train, val or test)", split);
    int nsize, nch;
    data_native(c->spec, &nsize, &nch);
    if (!nsize)
        return sei_fail(SEI_ERR_ARG, "data: unknown data spec '%s' (shapes[:N], fashion-mnist, idx:DIR, folder:DIR, tiny-imagenet:DIR)", c->spec);
    int size = c->size ? c->size : nsize, side = c->resize ? c->resize : size;
    int ch = c->channels ? c->channels : nch;
    if (c->val_split < 0 || c->val_split >= 1) return sei_fail(SEI_ERR_ARG, "data: validation share %g not in [0, 1)", c->val_split);
    sei_status s = ds_init(d, ch, side, side);
    if (s) return s;
    /* loaders may stop early only where nothing is carved or filtered afterwards */
    int early = c->nsubset ? 0 : c->limit;
    int carve_val = 0;      /* 1: val = carved from train; 2: 80/10/10 of one pool */
    const char *spec = c->spec;
    if (!strncmp(spec, "shapes", 6)) {
        int n = 10000;
        if (spec[6] == ':') {
            char *end;
            long v = strtol(spec + 7, &end, 10);
            if (end == spec + 7 || *end || v < 10 || v > 10000000)
                return sei_fail(SEI_ERR_ARG, "data: shapes:N needs N between 10 and 10000000, got '%s'", spec + 7);
            n = (int)v;
        } else if (spec[6]) {
            return sei_fail(SEI_ERR_ARG, "data: unknown data spec '%s'", spec);
        }
        int cnt = sp == 0 ? n : (n / 5 > 10 ? n / 5 : 10);
        if (c->limit > 0 && c->limit < cnt && !c->nsubset) cnt = c->limit;
        s = shapes_generate(d, sp, cnt, nsize, c->seed);
    } else if (!strcmp(spec, "fashion-mnist") || !strncmp(spec, "idx:", 4)) {
        const char *dir = spec[0] == 'f' ? FASHION_DIR : spec + 4;
        if (spec[0] == 'f' && !is_dir(dir))
            return sei_fail(SEI_ERR_IO, "data: %s not found: install Debian's dataset-fashion-mnist, or use idx:DIR", dir);
        s = load_idx_dir(d, dir, sp != 2, sp == 2 || c->val_split == 0 ? early : 0);
        static const char *const fashion[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
        if (!s && spec[0] == 'f' && d->nclasses == 10) s = ds_set_classes(d, 10, fashion);
        carve_val = sp != 2;
    } else if (!strncmp(spec, "tiny-imagenet:", 14)) {
        s = tiny_imagenet_load(d, spec + 14, sp != 2, sp == 2 || c->val_split == 0 ? early : 0);
        carve_val = sp != 2;
    } else { /* folder:DIR, with or without train/ val/ test/ */
        const char *dir = spec + 7;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/train", dir);
        if (is_dir(sub)) {
            const char *name = sp == 0 ? "train" : sp == 1 ? "val" : "test";
            snprintf(sub, sizeof sub, "%s/%s", dir, name);
            if (sp == 1 && !is_dir(sub)) { snprintf(sub, sizeof sub, "%s/train", dir); carve_val = 1; }
            else if (sp == 0) {
                char v[4096];
                snprintf(v, sizeof v, "%s/val", dir);
                carve_val = !is_dir(v);
            }
            s = folder_load(d, sub, carve_val ? 0 : early);
        } else {
            s = folder_load(d, dir, 0);
            carve_val = 2;
        }
    }
    if (s) { ds_free(d); return s; }
    if (d->n == 0) { ds_free(d); return sei_fail(SEI_ERR_FORMAT, "data: %s: the %s split is empty", spec, split); }
    s = apply_subset(d, c);
    uint64_t cseed = c->seed * 0x9e3779b97f4a7c15ull + 0x7370;
    if (!s && carve_val == 1 && sp <= 1) {
        double v = c->val_split;
        s = sp == 0 ? carve(d, 0.0, 1.0 - v, cseed) : carve(d, 1.0 - v, 1.0, cseed);
    } else if (!s && carve_val == 2) {
        s = sp == 0 ? carve(d, 0.0, 0.8, cseed) : sp == 1 ? carve(d, 0.8, 0.9, cseed) : carve(d, 0.9, 1.0, cseed);
    }
    if (!s) s = limit_to(d, c->limit, cseed + (uint64_t)sp);
    if (!s && d->n == 0)
        s = sei_fail(SEI_ERR_FORMAT, "data: %s: the %s split has no images (after class subset / validation share)", spec, split);
    if (s) ds_free(d);
    return s;
}

void ds_channel_stats(const Dataset *d, float mean[3], float std[3]) {
    size_t plane = (size_t)d->h * d->w;
    for (int k = 0; k < 3; k++) mean[k] = 0, std[k] = 1;
    for (int k = 0; k < d->c; k++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < d->n; i++) {
            const uint8_t *p = d->pix + ((size_t)i * d->c + k) * plane;
            uint64_t a = 0, a2 = 0;
            for (size_t j = 0; j < plane; j++) a += p[j], a2 += (uint64_t)p[j] * p[j];
            s += (double)a, s2 += (double)a2;
        }
        double n = (double)d->n * plane, m = s / n / 255.0, v = s2 / n / (255.0 * 255.0) - m * m;
        mean[k] = (float)m;
        std[k] = v > 1e-12 ? (float)sqrt(v) : 1.0f;
    }
}
