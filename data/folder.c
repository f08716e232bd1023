/* folder.c - the two directory loaders of data/dataset.h:
 *   folder_load          DIR/<class>/<image>, classes and files in strcmp order
 *   tiny_imagenet_load   Tiny-ImageNet-200: wnids.txt, words.txt, train/<wnid>/images/,
 *                        val/images/ + val/val_annotations.txt
 * Names starting with '.' are ignored. An image that cannot be decoded is skipped with one
 * "warning: skipping FILE: reason" line on stderr and counted in d->skipped; anything else
 * wrong (missing folder or list, unknown wnid, nothing readable) is an error, and on error
 * the Dataset is left as it was on entry. With limit > 0 the images are taken interleaved
 * across classes (the i-th file of every class in turn) so a small limit still covers them. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "data/dataset.h"

#define PATH_LEN 4096

typedef struct { char **v; int n, cap; } Names; /* a growable list of malloc'd strings */

static void names_free(Names *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static sei_status names_push(Names *l, const char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return sei_fail(SEI_ERR_NOMEM, "data: out of memory listing files");
        l->v = v, l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return sei_fail(SEI_ERR_NOMEM, "data: out of memory listing files");
    l->n++;
    return SEI_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "a/b" into out[PATH_LEN] */
static sei_status join(char *out, const char *a, const char *b) {
    if (snprintf(out, PATH_LEN, "%s/%s", a, b) >= PATH_LEN)
        return sei_fail(SEI_ERR_ARG, "%s/%s: path too long", a, b);
    return SEI_OK;
}

/* 'd' for a folder, 'f' for a regular file (or a dangling link, so that it gets its
 * warning), 0 for anything else (a FIFO would block the reader) */
static int entry_kind(const char *path, const struct dirent *de) {
    if (de->d_type == DT_DIR) return 'd';
    if (de->d_type == DT_REG) return 'f';
    if (de->d_type != DT_UNKNOWN && de->d_type != DT_LNK) return 0;
    struct stat sb;
    if (stat(path, &sb) != 0) return 'f';
    return S_ISDIR(sb.st_mode) ? 'd' : S_ISREG(sb.st_mode) ? 'f' : 0;
}

/* the non-hidden entries of dir of one kind ('d' folders, 'f' files), sorted */
static sei_status list_dir(const char *dir, int kind, Names *out) {
    DIR *dp = opendir(dir);
    if (!dp) return sei_fail(SEI_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    char path[PATH_LEN];
    sei_status s = SEI_OK;
    for (struct dirent *de; !s && (de = readdir(dp));) {
        if (de->d_name[0] == '.') continue;
        if (!(s = join(path, dir, de->d_name)) && entry_kind(path, de) == kind) s = names_push(out, de->d_name);
    }
    closedir(dp);
    if (out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return s;
}

/* decode one file and append it; an undecodable one is skipped with a warning */
static sei_status add_file(Dataset *d, const char *path, int label, int *added) {
    uint8_t *pix;
    int w, h, c;
    sei_status s = image_decode_file(path, &pix, &w, &h, &c);
    if (!s) {
        s = ds_add(d, pix, c, h, w, label);
        free(pix);
        if (!s) {
            ++*added;
            return SEI_OK;
        }
    }
    if (s != SEI_ERR_FORMAT && s != SEI_ERR_IO) return s;
    const char *why = sei_last_error();
    size_t len = strlen(path); /* the decoder's messages already start with "path: " */
    if (!strncmp(why, path, len) && why[len] == ':' && why[len + 1] == ' ') why += len + 2;
    fprintf(stderr, "warning: skipping %s: %s\n", path, why);
    d->skipped++;
    return SEI_OK;
}

/* files[k] in folder dirs[k] with label k: class by class, or interleaved up to limit */
static sei_status add_classes(Dataset *d, const Names *dirs, const Names *files, int limit,
                              int *added) {
    char path[PATH_LEN];
    sei_status s = SEI_OK;
    if (limit <= 0) {
        for (int k = 0; k < dirs->n; k++)
            for (int i = 0; !s && i < files[k].n; i++)
                if (!(s = join(path, dirs->v[k], files[k].v[i]))) s = add_file(d, path, k, added);
        return s;
    }
    int rounds = 0;
    for (int k = 0; k < dirs->n; k++) rounds = files[k].n > rounds ? files[k].n : rounds;
    for (int i = 0; i < rounds; i++)
        for (int k = 0; k < dirs->n; k++) {
            if (s || *added >= limit) return s;
            if (i < files[k].n && !(s = join(path, dirs->v[k], files[k].v[i]))) s = add_file(d, path, k, added);
        }
    return s;
}

static void free_lists(Names *dirs, Names *files) {
    for (int k = 0; files && k < dirs->n; k++) names_free(&files[k]);
    free(files);
    names_free(dirs);
}

/* list every folder of dirs into a new array of lists (*files) */
static sei_status list_all(const Names *dirs, Names **files) {
    if (!(*files = calloc((size_t)dirs->n, sizeof **files)))
        return sei_fail(SEI_ERR_NOMEM, "data: out of memory listing files");
    sei_status s = SEI_OK;
    for (int k = 0; !s && k < dirs->n; k++) s = list_dir(dirs->v[k], 'f', &(*files)[k]);
    return s;
}

sei_status folder_load(Dataset *d, const char *dir, int limit) {
    const int n0 = d->n, skipped0 = d->skipped;
    Names cls = {0}, dirs = {0}, *files = NULL;
    char path[PATH_LEN];
    int added = 0;
    sei_status s = list_dir(dir, 'd', &cls);
    if (!s && cls.n == 0) s = sei_fail(SEI_ERR_FORMAT, "%s: no class folders (expected %s/<class>/<image files>)", dir, dir);
    if (!s && cls.n > DS_MAX_CLASSES) s = sei_fail(SEI_ERR_FORMAT, "%s: %d class folders (at most %d)", dir, cls.n, DS_MAX_CLASSES);
    for (int k = 0; !s && k < cls.n; k++)
        if (!(s = join(path, dir, cls.v[k]))) s = names_push(&dirs, path);
    if (!s) s = list_all(&dirs, &files);
    if (!s) s = add_classes(d, &dirs, files, limit, &added);
    if (!s && added == 0)
        s = sei_fail(SEI_ERR_FORMAT, "%s: no readable image in %d class folders (%d files skipped)", dir, cls.n, d->skipped - skipped0);
    if (!s) s = ds_set_classes(d, cls.n, (const char *const *)cls.v);
    if (s) d->n = n0, d->skipped = skipped0;
    free_lists(&dirs, files);
    names_free(&cls);
    return s;
}

/* ---- Tiny-ImageNet ---- */

typedef struct { const char *wnid; int k; } Key; /* wnids sorted for lookup */

static int cmp_key(const void *a, const void *b) { return strcmp(((const Key *)a)->wnid, ((const Key *)b)->wnid); }

static int find_wnid(const Key *keys, int n, const char *wnid) {
    Key q = {wnid, 0};
    const Key *f = bsearch(&q, keys, (size_t)n, sizeof q, cmp_key);
    return f ? f->k : -1;
}

/* next line of fp without its end-of-line; NULL at the end */
static char *next_line(FILE *fp, char **line, size_t *cap, int *lineno) {
    ssize_t len = getline(line, cap, fp);
    if (len < 0) return NULL;
    while (len > 0 && ((*line)[len - 1] == '\n' || (*line)[len - 1] == '\r')) (*line)[--len] = 0;
    ++*lineno;
    return *line;
}

/* wnids.txt: one wnid a line (blank lines ignored) -> wnids, and sorted keys */
static sei_status read_wnids(const char *dir, Names *wnids, Key **keys) {
    char path[PATH_LEN], *line = NULL;
    size_t cap = 0;
    int ln = 0;
    sei_status s = join(path, dir, "wnids.txt");
    FILE *fp = s ? NULL : fopen(path, "r");
    if (!s && !fp) return sei_fail(SEI_ERR_IO, "%s: cannot open: %s (not a Tiny-ImageNet folder?)", path, strerror(errno));
    while (!s && next_line(fp, &line, &cap, &ln)) {
        char *w = line + strspn(line, " \t");
        w[strcspn(w, " \t")] = 0;
        if (*w) s = names_push(wnids, w);
    }
    free(line);
    if (fp) fclose(fp);
    if (!s && wnids->n == 0) s = sei_fail(SEI_ERR_FORMAT, "%s: no wnids", path);
    if (!s && wnids->n > DS_MAX_CLASSES) s = sei_fail(SEI_ERR_FORMAT, "%s: %d wnids (at most %d)", path, wnids->n, DS_MAX_CLASSES);
    if (!s && !(*keys = malloc((size_t)wnids->n * sizeof **keys))) s = sei_fail(SEI_ERR_NOMEM, "data: out of memory for wnids");
    if (s) return s;
    for (int k = 0; k < wnids->n; k++) (*keys)[k] = (Key){wnids->v[k], k};
    qsort(*keys, (size_t)wnids->n, sizeof **keys, cmp_key);
    for (int k = 1; k < wnids->n; k++)
        if (!strcmp((*keys)[k - 1].wnid, (*keys)[k].wnid))
            return sei_fail(SEI_ERR_FORMAT, "%s: wnid %s listed twice", path, (*keys)[k].wnid);
    return SEI_OK;
}

/* class names: the first comma-separated name of each wnid in words.txt ("wnid<TAB>names"),
 * the wnid itself when words.txt or its line is missing */
static sei_status read_words(const char *dir, const Names *wnids, const Key *keys, Names *names) {
    char path[PATH_LEN], *line = NULL;
    size_t cap = 0;
    int ln = 0;
    sei_status s = SEI_OK;
    for (int k = 0; !s && k < wnids->n; k++) s = names_push(names, wnids->v[k]);
    if (!s) s = join(path, dir, "words.txt");
    FILE *fp = s ? NULL : fopen(path, "r");
    while (fp && !s && next_line(fp, &line, &cap, &ln)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        int k = find_wnid(keys, wnids->n, line);
        if (k < 0) continue;
        char *nm = tab + 1 + strspn(tab + 1, " \t"), *end = nm + strcspn(nm, ",");
        while (end > nm && (end[-1] == ' ' || end[-1] == '\t')) end--;
        *end = 0;
        if (strlen(nm) >= DS_NAME_LEN) nm[DS_NAME_LEN - 1] = 0;
        if (!*nm) continue;
        char *dup = strdup(nm);
        if (!dup) s = sei_fail(SEI_ERR_NOMEM, "data: out of memory for class names");
        else free(names->v[k]), names->v[k] = dup;
    }
    free(line);
    if (fp) fclose(fp);
    return s;
}

/* val/val_annotations.txt: "file<TAB>wnid<TAB>bbox..." per image in val/images */
static sei_status load_tiny_val(Dataset *d, const char *dir, const Key *keys, int nk, int limit,
                                int *added) {
    char ann[PATH_LEN], imgs[PATH_LEN], path[PATH_LEN], *line = NULL;
    size_t cap = 0;
    int ln = 0;
    sei_status s = join(ann, dir, "val/val_annotations.txt");
    if (!s) s = join(imgs, dir, "val/images");
    FILE *fp = s ? NULL : fopen(ann, "r");
    if (!s && !fp) return sei_fail(SEI_ERR_IO, "%s: cannot open: %s", ann, strerror(errno));
    while (!s && next_line(fp, &line, &cap, &ln)) {
        if (!line[strspn(line, " \t")]) continue;
        char *tab = strchr(line, '\t'), *wnid = tab ? tab + 1 : NULL;
        if (!tab || tab == line) { s = sei_fail(SEI_ERR_FORMAT, "%s:%d: expected file<TAB>wnid", ann, ln); break; }
        *tab = 0;
        wnid[strcspn(wnid, "\t ")] = 0;
        int k = find_wnid(keys, nk, wnid);
        if (k < 0) { s = sei_fail(SEI_ERR_FORMAT, "%s:%d: wnid '%s' is not in wnids.txt", ann, ln, wnid); break; }
        if (limit > 0 && *added >= limit) continue; /* the rest is still checked */
        struct stat sb;
        if (!(s = join(path, imgs, line)) && stat(path, &sb) != 0)
            s = sei_fail(SEI_ERR_IO, "%s: listed in %s:%d but missing: %s", path, ann, ln, strerror(errno));
        if (!s) s = add_file(d, path, k, added);
    }
    free(line);
    if (fp) fclose(fp);
    return s;
}

sei_status tiny_imagenet_load(Dataset *d, const char *dir, int train, int limit) {
    const int n0 = d->n, skipped0 = d->skipped;
    Names wnids = {0}, names = {0}, dirs = {0}, *files = NULL;
    Key *keys = NULL;
    char path[PATH_LEN];
    int added = 0;
    sei_status s = read_wnids(dir, &wnids, &keys);
    if (!s) s = read_words(dir, &wnids, keys, &names);
    if (!s && train) {
        for (int k = 0; !s && k < wnids.n; k++) {
            if (snprintf(path, PATH_LEN, "%s/train/%s/images", dir, wnids.v[k]) >= PATH_LEN)
                s = sei_fail(SEI_ERR_ARG, "%s/train/%s/images: path too long", dir, wnids.v[k]);
            else s = names_push(&dirs, path);
        }
        if (!s) s = list_all(&dirs, &files);
        if (!s) s = add_classes(d, &dirs, files, limit, &added);
    } else if (!s) {
        s = load_tiny_val(d, dir, keys, wnids.n, limit, &added);
    }
    if (!s && added == 0)
        s = sei_fail(SEI_ERR_FORMAT, "%s: no readable %s image (%d files skipped)", dir, train ? "train" : "val", d->skipped - skipped0);
    if (!s) s = ds_set_classes(d, wnids.n, (const char *const *)names.v);
    if (s) d->n = n0, d->skipped = skipped0;
    free_lists(&dirs, files);
    names_free(&names);
    names_free(&wnids);
    free(keys);
    return s;
}
