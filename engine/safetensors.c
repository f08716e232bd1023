/* safetensors.c - safetensors reader (whole file in memory, validated up front) and atomic
 * writer. See safetensors.h for the format.
 *
 * The reader trusts nothing in the file: every length is checked against the bytes that
 * exist before anything is dereferenced, and arithmetic on sizes is overflow-checked,
 * so a corrupt or hostile file yields SEI_ERR_FORMAT rather than a crash. Holes between
 * tensors and bytes after the last one are tolerated (nothing reads them); overlaps are not.
 * Element decoding assembles little-endian bytes explicitly, so it is host-independent. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine/json.h"
#include "engine/half.h"
#include "engine/safetensors.h"

/* the reference implementation refuses headers above 100 MB; so do we */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
#define ST_NDTYPES 10

static const char *const g_dtype_names[ST_NDTYPES] = {"F32", "F16", "BF16", "F64", "I64",
                                                      "I32", "I16", "I8",   "U8",  "BOOL"};
static const size_t g_dtype_sizes[ST_NDTYPES] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};

const char *st_dtype_name(StDtype d) { return (unsigned)d < ST_NDTYPES ? g_dtype_names[d] : "?"; }

size_t st_dtype_size(StDtype d) { return (unsigned)d < ST_NDTYPES ? g_dtype_sizes[d] : 0; }

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* numel * dtype size of a shape, 0 and *ok = 0 on overflow of size_t */
static size_t shape_bytes(int ndim, const int64_t *shape, StDtype d, int *ok) {
    size_t n = st_dtype_size(d);
    *ok = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) return 0; /* before multiplying: [2^40, 2^40, 0] is empty, not overflow */
    for (int i = 0; i < ndim; i++) {
        uint64_t s = (uint64_t)shape[i];
        if (s > SIZE_MAX || n > SIZE_MAX / (size_t)s) {
            *ok = 0;
            return 0;
        }
        n *= (size_t)s;
    }
    return n;
}

/* ---------------------------------------------------------------- reading */

void st_close(StFile *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->entries[i].name);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->entries);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->mem_);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* whole file into f->mem_; fread is looped because one call may return short on huge files */
static sei_status read_whole(StFile *f, const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return sei_fail(SEI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    sei_status st = SEI_OK;
    size_t size = 0, got = 0;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode))
        st = sei_fail(SEI_ERR_IO, "%s: not a regular file", path);
    else if ((uintmax_t)sb.st_size >= SIZE_MAX)
        st = sei_fail(SEI_ERR_IO, "%s: file too large for memory", path);
    else if (!(f->mem_ = malloc((size = (size_t)sb.st_size) ? size : 1)))
        st = sei_fail(SEI_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, size);
    while (!st && got < size) {
        size_t want = size - got > ((size_t)1 << 30) ? ((size_t)1 << 30) : size - got;
        size_t r = fread((unsigned char *)f->mem_ + got, 1, want, fp);
        if (r == 0) break;
        got += r;
    }
    if (!st && (ferror(fp) || got != size))
        st = sei_fail(SEI_ERR_IO, "%s: read failed after %zu of %zu bytes", path, got, size);
    fclose(fp);
    f->mem_size_ = st ? 0 : size;
    return st;
}

typedef struct {
    const Json *j;
    const char *path;
    StFile *f;
} Ctx;

static sei_status parse_shape(Ctx *c, size_t v, StEntry *e) {
    const Json *j = c->j;
    if (j->toks[v].type != JSON_ARRAY)
        return sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s': shape is not an array", c->path, e->name);
    if (j->toks[v].n > ST_MAX_DIMS)
        return sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s': shape has %zu dims, at most %d supported",
                        c->path, e->name, j->toks[v].n, ST_MAX_DIMS);
    e->ndim = (int)j->toks[v].n;
    size_t k = v + 1;
    for (int d = 0; d < e->ndim; d++, k = j->toks[k].next) {
        int64_t s;
        if (!json_int64(j, k, &s) || s < 0)
            return sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s': shape entry %d is not a non-negative integer",
                            c->path, e->name, d);
        e->shape[d] = s;
    }
    return SEI_OK;
}

static sei_status parse_offsets(Ctx *c, size_t v, StEntry *e, int64_t off[2]) {
    const Json *j = c->j;
    if (j->toks[v].type != JSON_ARRAY || j->toks[v].n != 2 || !json_int64(j, v + 1, &off[0]) ||
        !json_int64(j, j->toks[v + 1].next, &off[1]) || off[0] < 0 || off[1] < 0)
        return sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s': data_offsets must be [begin, end] of non-negative integers",
                        c->path, e->name);
    return SEI_OK;
}

static sei_status parse_dtype(Ctx *c, size_t v, StEntry *e) {
    char *d = c->j->toks[v].type == JSON_STRING ? json_str_dup(c->j, v, NULL) : NULL;
    int found = -1;
    for (int t = 0; d && t < ST_NDTYPES; t++)
        if (!strcmp(d, g_dtype_names[t])) found = t;
    e->dtype = (StDtype)(found < 0 ? 0 : found);
    sei_status st = found >= 0 ? SEI_OK
                               : sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s': unknown dtype %s", c->path, e->name,
                                          d ? d : "(not a string)");
    free(d);
    return st;
}

static sei_status parse_entry(Ctx *c, size_t v, StEntry *e) {
    const Json *j = c->j;
    if (j->toks[v].type != JSON_OBJECT)
        return sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s': entry is not an object", c->path, e->name);
    int seen[3] = {0, 0, 0};
    int64_t off[2] = {0, 0};
    size_t k = v + 1;
    for (size_t p = 0; p < j->toks[v].n; p++) {
        size_t val = k + 1;
        char *key = json_str_dup(j, k, NULL);
        if (!key) return sei_fail(SEI_ERR_NOMEM, "%s: out of memory parsing header", c->path);
        int which = !strcmp(key, "dtype") ? 0 : !strcmp(key, "shape") ? 1 : !strcmp(key, "data_offsets") ? 2 : -1;
        sei_status st = SEI_OK;
        if (which < 0 || seen[which])
            st = sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s': %s key '%s'", c->path, e->name,
                          which < 0 ? "unknown" : "duplicate", key);
        free(key);
        if (st) return st;
        seen[which] = 1;
        st = which == 0 ? parse_dtype(c, val, e) : which == 1 ? parse_shape(c, val, e) : parse_offsets(c, val, e, off);
        if (st) return st;
        k = j->toks[val].next;
    }
    if (!seen[0] || !seen[1] || !seen[2])
        return sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s': missing %s", c->path, e->name,
                        !seen[0] ? "dtype" : !seen[1] ? "shape" : "data_offsets");
    if (off[1] < off[0] || (uint64_t)off[1] > (uint64_t)c->f->data_size)
        return sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] outside the %zu-byte data section",
                        c->path, e->name, (long long)off[0], (long long)off[1], c->f->data_size);
    int ok;
    size_t want = shape_bytes(e->ndim, e->shape, e->dtype, &ok);
    e->offset = (size_t)off[0];
    e->nbytes = (size_t)(off[1] - off[0]);
    if (!ok || want != e->nbytes)
        return sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s': %zu bytes of data, its shape and dtype need %s%zu",
                        c->path, e->name, e->nbytes, ok ? "" : "more than ", ok ? want : (size_t)SIZE_MAX);
    return SEI_OK;
}

static sei_status parse_meta(Ctx *c, size_t v) {
    const Json *j = c->j;
    StFile *f = c->f;
    if (j->toks[v].type != JSON_OBJECT)
        return sei_fail(SEI_ERR_FORMAT, "%s: __metadata__ is not an object", c->path);
    size_t n = j->toks[v].n;
    if (n == 0) return SEI_OK;
    f->meta_keys = calloc(n, sizeof *f->meta_keys);
    f->meta_vals = calloc(n, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals) return sei_fail(SEI_ERR_NOMEM, "%s: out of memory parsing header", c->path);
    size_t k = v + 1;
    for (size_t p = 0; p < n; p++, k = j->toks[k + 1].next) {
        size_t klen, vlen = 0;
        char *key = json_str_dup(j, k, &klen);
        if (!key) return sei_fail(SEI_ERR_NOMEM, "%s: out of memory parsing header", c->path);
        f->meta_keys[f->nmeta++] = key; /* owned by f from here on, freed by st_close */
        if (j->toks[k + 1].type != JSON_STRING)
            return sei_fail(SEI_ERR_FORMAT, "%s: metadata '%s' is not a string", c->path, key);
        char *val = json_str_dup(j, k + 1, &vlen);
        if (!val) return sei_fail(SEI_ERR_NOMEM, "%s: out of memory parsing header", c->path);
        f->meta_vals[f->nmeta - 1] = val;
        if (strlen(key) != klen || strlen(val) != vlen)
            return sei_fail(SEI_ERR_FORMAT, "%s: metadata '%s' contains a NUL character", c->path, key);
        for (int q = 0; q < f->nmeta - 1; q++)
            if (!strcmp(f->meta_keys[q], key))
                return sei_fail(SEI_ERR_FORMAT, "%s: duplicate metadata key '%s'", c->path, key);
    }
    return SEI_OK;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const StEntry *const *)a)->name, (*(const StEntry *const *)b)->name);
}

static int cmp_offset(const void *a, const void *b) {
    const StEntry *x = *(const StEntry *const *)a, *y = *(const StEntry *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* duplicate names and overlapping byte ranges, both found by sorting pointers */
static sei_status check_unique(Ctx *c) {
    StFile *f = c->f;
    if (f->n < 2) return SEI_OK;
    StEntry **s = malloc((size_t)f->n * sizeof *s);
    if (!s) return sei_fail(SEI_ERR_NOMEM, "%s: out of memory parsing header", c->path);
    for (int i = 0; i < f->n; i++) s[i] = &f->entries[i];
    sei_status st = SEI_OK;
    qsort(s, (size_t)f->n, sizeof *s, cmp_name);
    for (int i = 1; i < f->n && !st; i++)
        if (!strcmp(s[i - 1]->name, s[i]->name))
            st = sei_fail(SEI_ERR_FORMAT, "%s: duplicate tensor name '%s'", c->path, s[i]->name);
    qsort(s, (size_t)f->n, sizeof *s, cmp_offset);
    const StEntry *prev = NULL; /* the non-empty range reaching furthest so far */
    for (int i = 0; i < f->n && !st; i++) {
        if (s[i]->nbytes == 0) continue;
        if (prev && s[i]->offset < prev->offset + prev->nbytes)
            st = sei_fail(SEI_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data section", c->path,
                          prev->name, s[i]->name);
        if (!prev || s[i]->offset + s[i]->nbytes > prev->offset + prev->nbytes) prev = s[i];
    }
    free(s);
    return st;
}

static sei_status parse_header(StFile *f, const char *path, const char *hdr, size_t n) {
    Json j;
    char err[128];
    sei_status st = json_parse(&j, hdr, n, err, sizeof err);
    if (st == SEI_ERR_NOMEM) return sei_fail(st, "%s: out of memory parsing header", path);
    if (st) return sei_fail(SEI_ERR_FORMAT, "%s: header is not valid JSON: %s", path, err);
    Ctx c = {&j, path, f};
    if (j.toks[0].type != JSON_OBJECT) {
        json_free(&j);
        return sei_fail(SEI_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    size_t npairs = j.toks[0].n;
    if (npairs > (size_t)INT32_MAX) npairs = 0; /* impossible below the header size cap */
    f->entries = calloc(npairs ? npairs : 1, sizeof *f->entries);
    if (!f->entries) st = sei_fail(SEI_ERR_NOMEM, "%s: out of memory parsing header", path);
    int seen_meta = 0;
    size_t k = 1;
    for (size_t p = 0; p < npairs && !st; p++, k = j.toks[k + 1].next) {
        size_t len;
        char *name = json_str_dup(&j, k, &len);
        if (!name) {
            st = sei_fail(SEI_ERR_NOMEM, "%s: out of memory parsing header", path);
        } else if (!strcmp(name, "__metadata__")) {
            free(name);
            st = seen_meta ? sei_fail(SEI_ERR_FORMAT, "%s: duplicate __metadata__", path) : parse_meta(&c, k + 1);
            seen_meta = 1;
        } else {
            StEntry *e = &f->entries[f->n++];
            e->name = name;
            if (strlen(name) != len)
                st = sei_fail(SEI_ERR_FORMAT, "%s: tensor name '%s' contains a NUL character", path, name);
            else
                st = parse_entry(&c, k + 1, e);
        }
    }
    if (!st) st = check_unique(&c);
    json_free(&j);
    return st;
}

sei_status st_open(StFile *f, const char *path) {
    if (!f) return sei_fail(SEI_ERR_ARG, "st_open: NULL StFile");
    memset(f, 0, sizeof *f);
    if (!path) return sei_fail(SEI_ERR_ARG, "st_open: NULL path");
    sei_status st = read_whole(f, path);
    if (!st && !(f->path = dupstr(path))) st = sei_fail(SEI_ERR_NOMEM, "%s: out of memory", path);
    if (st) {
        st_close(f);
        return st;
    }
    const unsigned char *m = f->mem_;
    size_t size = f->mem_size_;
    uint64_t n = 0;
    if (size < 8) {
        st = sei_fail(SEI_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file", path, size);
    } else {
        for (int i = 7; i >= 0; i--) n = (n << 8) | m[i];
        if (n == 0 || n > ST_MAX_HEADER)
            st = sei_fail(SEI_ERR_FORMAT, "%s: header length %llu is not plausible (not a safetensors file?)",
                          path, (unsigned long long)n);
        else if (n > size - 8)
            st = sei_fail(SEI_ERR_FORMAT, "%s: header length %llu exceeds the file size %zu (truncated?)", path,
                          (unsigned long long)n, size);
    }
    if (!st) {
        f->data = (unsigned char *)f->mem_ + 8 + n;
        f->data_size = size - 8 - (size_t)n;
        st = parse_header(f, path, (const char *)m + 8, (size_t)n);
    }
    if (st) st_close(f);
    return st;
}

const StEntry *st_find(const StFile *f, const char *name) {
    if (!f || !name) return NULL;
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->entries[i].name, name)) return &f->entries[i];
    return NULL;
}

const char *st_meta(const StFile *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_vals[i];
    return NULL;
}

int st_meta_int(const StFile *f, const char *key, int lo, int hi, int *out) {
    const char *s = st_meta(f, key);
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

size_t st_numel(const StEntry *e) {
    if (!e) return 0;
    size_t n = 1;
    for (int i = 0; i < e->ndim; i++) n *= (size_t)e->shape[i];
    return n;
}

static uint64_t le(const unsigned char *p, size_t nb) {
    uint64_t v = 0;
    for (size_t i = nb; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

static double elem_f64(StDtype d, const unsigned char *p) {
    uint64_t u = le(p, g_dtype_sizes[d]);
    switch (d) {
    case ST_F32: { uint32_t b = (uint32_t)u; float v; memcpy(&v, &b, 4); return v; }
    case ST_F16: return sei_half_to_float((uint16_t)u);
    case ST_BF16: { uint32_t b = (uint32_t)u << 16; float v; memcpy(&v, &b, 4); return v; }
    case ST_F64: { double v; memcpy(&v, &u, 8); return v; }
    default: return 0; /* integers go through elem_i64 */
    }
}

static int64_t elem_i64(StDtype d, const unsigned char *p) {
    uint64_t u = le(p, g_dtype_sizes[d]);
    switch (d) {
    case ST_I64: return (int64_t)u;
    case ST_I32: return (int32_t)(uint32_t)u;
    case ST_I16: return (int16_t)(uint16_t)u;
    case ST_I8: return (int8_t)(uint8_t)u;
    case ST_U8: return (int64_t)u;
    case ST_BOOL: return u != 0;
    default: return 0;
    }
}

static int is_float(StDtype d) { return d == ST_F32 || d == ST_F16 || d == ST_BF16 || d == ST_F64; }

/* checks shared by the readers; also guards against an entry that is not from f */
static sei_status check_read(const StFile *f, const StEntry *e, const void *dst, size_t n) {
    if (!f || !e) return sei_fail(SEI_ERR_ARG, "st_read: NULL file or entry");
    if ((unsigned)e->dtype >= ST_NDTYPES || e->offset > f->data_size || e->nbytes > f->data_size - e->offset ||
        e->nbytes != st_numel(e) * st_dtype_size(e->dtype))
        return sei_fail(SEI_ERR_ARG, "%s: entry '%s' does not belong to this file", f->path, e->name);
    if (n != st_numel(e))
        return sei_fail(SEI_ERR_ARG, "%s: tensor '%s' has %zu elements, caller asked for %zu", f->path, e->name,
                        st_numel(e), n);
    if (!dst && n) return sei_fail(SEI_ERR_ARG, "%s: tensor '%s': NULL destination", f->path, e->name);
    return SEI_OK;
}

sei_status st_read_f32(const StFile *f, const StEntry *e, float *dst, size_t n) {
    sei_status st = check_read(f, e, dst, n);
    if (st) return st;
    const unsigned char *p = f->data + e->offset;
    size_t sz = g_dtype_sizes[e->dtype];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (e->dtype == ST_F32) { /* the common case: file bytes are already host floats */
        if (n) memcpy(dst, p, n * 4);
        return SEI_OK;
    }
#endif
    if (is_float(e->dtype))
        for (size_t i = 0; i < n; i++) dst[i] = (float)elem_f64(e->dtype, p + i * sz);
    else
        for (size_t i = 0; i < n; i++) dst[i] = (float)elem_i64(e->dtype, p + i * sz);
    return SEI_OK;
}

sei_status st_read_i64(const StFile *f, const StEntry *e, int64_t *dst, size_t n) {
    sei_status st = check_read(f, e, dst, n);
    if (st) return st;
    const unsigned char *p = f->data + e->offset;
    size_t sz = g_dtype_sizes[e->dtype];
    for (size_t i = 0; i < n; i++) {
        if (!is_float(e->dtype)) {
            dst[i] = elem_i64(e->dtype, p + i * sz);
            continue;
        }
        double v = elem_f64(e->dtype, p + i * sz);
        /* 2^63 itself is out of range; every double below it converts exactly */
        if (!(v >= -0x1p63 && v < 0x1p63) || v != floor(v))
            return sei_fail(SEI_ERR_NUMERIC, "%s: tensor '%s' element %zu (%g) is not an int64 integer", f->path,
                            e->name, i, v);
        dst[i] = (int64_t)v;
    }
    return SEI_OK;
}

static void shape_str(char *buf, size_t len, int ndim, const int64_t *s64, const int *s32) {
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? "," : "", s64 ? (long long)s64[i] : (long long)s32[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
}

sei_status st_load_tensor(const StFile *f, const char *name, Tensor *t) {
    if (!f || !name || !t) return sei_fail(SEI_ERR_ARG, "st_load_tensor: NULL argument");
    const StEntry *e = st_find(f, name);
    if (!e) return sei_fail(SEI_ERR_MISSING, "%s: tensor '%s' is missing", f->path, name);
    int same = t->ndim == e->ndim && t->ndim >= 0 && t->ndim <= SEI_MAX_DIMS;
    for (int i = 0; same && i < e->ndim; i++) same = (int64_t)t->shape[i] == e->shape[i];
    if (!same) {
        char a[200], b[100];
        shape_str(a, sizeof a, e->ndim, e->shape, NULL);
        shape_str(b, sizeof b, t->ndim >= 0 && t->ndim <= SEI_MAX_DIMS ? t->ndim : 0, NULL, t->shape);
        return sei_fail(SEI_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", f->path, name, a, b);
    }
    if (!t->data && st_numel(e)) return sei_fail(SEI_ERR_ARG, "%s: tensor '%s': NULL destination", f->path, name);
    return st_read_f32(f, e, t->data, st_numel(e));
}

/* ---------------------------------------------------------------- writing */

void st_writer_init(StWriter *w) { if (w) memset(w, 0, sizeof *w); }

void st_writer_free(StWriter *w) {
    if (!w) return;
    for (int i = 0; i < w->nowned; i++) free(w->owned[i]);
    free(w->owned);
    for (int i = 0; i < w->n; i++) free(w->entries[i].name);
    for (int i = 0; i < w->nmeta; i++) {
        free(w->meta_keys[i]);
        free(w->meta_vals[i]);
    }
    free(w->entries);
    free(w->meta_keys);
    free(w->meta_vals);
    memset(w, 0, sizeof *w);
}

/* grows an array of elem-sized items to hold at least need; 0 when out of memory */
static int grow(void **arr, int *cap, int need, size_t elem) {
    if (need <= *cap) return 1;
    if (need > INT32_MAX / 2) return 0;
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return 0;
    *arr = p;
    *cap = nc;
    return 1;
}

sei_status st_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape,
                  const void *data) {
    if (!w || !name) return sei_fail(SEI_ERR_ARG, "st_add: NULL writer or name");
    if ((unsigned)dtype >= ST_NDTYPES) return sei_fail(SEI_ERR_ARG, "st_add: tensor '%s': bad dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim && !shape))
        return sei_fail(SEI_ERR_ARG, "st_add: tensor '%s': ndim %d not in 0..%d", name, ndim, ST_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return sei_fail(SEI_ERR_ARG, "st_add: tensor '%s': negative dimension", name);
    if (!strcmp(name, "__metadata__")) return sei_fail(SEI_ERR_ARG, "st_add: '__metadata__' is a reserved name");
    if (!json_utf8_valid(name, strlen(name))) return sei_fail(SEI_ERR_ARG, "st_add: tensor name is not valid UTF-8");
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->entries[i].name, name)) return sei_fail(SEI_ERR_ARG, "st_add: duplicate tensor '%s'", name);
    int ok;
    size_t nbytes = shape_bytes(ndim, shape, dtype, &ok);
    if (!ok) return sei_fail(SEI_ERR_ARG, "st_add: tensor '%s': size overflows", name);
    if (!data && nbytes) return sei_fail(SEI_ERR_ARG, "st_add: tensor '%s': NULL data", name);
    char *copy = dupstr(name);
    if (!copy || !grow((void **)&w->entries, &w->cap, w->n + 1, sizeof *w->entries)) {
        free(copy);
        return sei_fail(SEI_ERR_NOMEM, "st_add: out of memory adding '%s'", name);
    }
    StWEntry *e = &w->entries[w->n++];
    *e = (StWEntry){.name = copy, .dtype = dtype, .ndim = ndim, .data = data, .nbytes = nbytes};
    if (ndim) memcpy(e->shape, shape, (size_t)ndim * sizeof *shape);
    return SEI_OK;
}

sei_status st_add_owned(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape,
                        void *data) {
    if (!data) return sei_fail(SEI_ERR_NOMEM, "st_add: out of memory for '%s'", name ? name : "");
    if (!grow((void **)&w->owned, &w->capowned, w->nowned + 1, sizeof *w->owned)) {
        free(data);
        return sei_fail(SEI_ERR_NOMEM, "st_add: out of memory adding '%s'", name ? name : "");
    }
    w->owned[w->nowned++] = data;
    return st_add(w, name, dtype, ndim, shape, data);
}

sei_status st_add_tensor(StWriter *w, const Tensor *t) {
    if (!w || !t) return sei_fail(SEI_ERR_ARG, "st_add_tensor: NULL argument");
    char name[SEI_NAME_LEN + 1];
    memcpy(name, t->name, SEI_NAME_LEN); /* t->name may lack its terminator */
    name[SEI_NAME_LEN] = 0;
    if (t->ndim < 0 || t->ndim > SEI_MAX_DIMS)
        return sei_fail(SEI_ERR_ARG, "st_add_tensor: tensor '%s': ndim %d not in 0..%d", name, t->ndim, SEI_MAX_DIMS);
    int64_t shape[SEI_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    return st_add(w, name, ST_F32, t->ndim, shape, t->data);
}

sei_status st_add_meta(StWriter *w, const char *key, const char *value) {
    if (!w || !key || !value) return sei_fail(SEI_ERR_ARG, "st_add_meta: NULL argument");
    if (!json_utf8_valid(key, strlen(key)) || !json_utf8_valid(value, strlen(value)))
        return sei_fail(SEI_ERR_ARG, "st_add_meta: key or value is not valid UTF-8");
    char *v = dupstr(value);
    if (!v) return sei_fail(SEI_ERR_NOMEM, "st_add_meta: out of memory");
    for (int i = 0; i < w->nmeta; i++)
        if (!strcmp(w->meta_keys[i], key)) { /* like a dict: the last value wins */
            free(w->meta_vals[i]);
            w->meta_vals[i] = v;
            return SEI_OK;
        }
    char *k = dupstr(key);
    int kc = w->meta_cap;
    if (!k || !grow((void **)&w->meta_keys, &kc, w->nmeta + 1, sizeof *w->meta_keys) ||
        !grow((void **)&w->meta_vals, &w->meta_cap, w->nmeta + 1, sizeof *w->meta_vals)) {
        /* meta_keys may have grown while meta_vals did not: cap tracks the smaller */
        free(k);
        free(v);
        return sei_fail(SEI_ERR_NOMEM, "st_add_meta: out of memory");
    }
    w->meta_keys[w->nmeta] = k;
    w->meta_vals[w->nmeta++] = v;
    return SEI_OK;
}

/* the JSON header padded with spaces so the data section starts 8-byte aligned */
static sei_status build_header(const StWriter *w, JsonBuf *b, const char *path) {
    jb_fmt(b, "{");
    if (w->nmeta) {
        jb_fmt(b, "\"__metadata__\":{");
        for (int i = 0; i < w->nmeta; i++) {
            jb_fmt(b, i ? "," : "");
            jb_str(b, w->meta_keys[i]);
            jb_fmt(b, ":");
            jb_str(b, w->meta_vals[i]);
        }
        jb_fmt(b, "}");
    }
    size_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const StWEntry *e = &w->entries[i];
        jb_fmt(b, i || w->nmeta ? "," : "");
        jb_str(b, e->name);
        jb_fmt(b, ":{\"dtype\":\"%s\",\"shape\":[", g_dtype_names[e->dtype]);
        for (int d = 0; d < e->ndim; d++) jb_fmt(b, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        if (e->nbytes > SIZE_MAX - off) return sei_fail(SEI_ERR_ARG, "%s: total tensor size overflows", path);
        jb_fmt(b, "],\"data_offsets\":[%zu,%zu]}", off, off + e->nbytes);
        off += e->nbytes;
    }
    jb_fmt(b, "}");
    while (!b->nomem && b->len % 8) jb_fmt(b, " ");
    if (b->nomem) return sei_fail(SEI_ERR_NOMEM, "%s: out of memory building header", path);
    return SEI_OK;
}

/* fsync before rename: otherwise a crash can leave PATH naming an empty file. 0 on failure,
 * errno then says why; the stream is closed either way. */
static int write_stream(FILE *fp, const StWriter *w, const JsonBuf *hdr) {
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hdr->len >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(hdr->p, 1, hdr->len, fp) == hdr->len;
    for (int i = 0; ok && i < w->n; i++)
        if (w->entries[i].nbytes) ok = fwrite(w->entries[i].data, 1, w->entries[i].nbytes, fp) == w->entries[i].nbytes;
    ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    int err = errno;
    if (fclose(fp) != 0) return 0;
    errno = err;
    return ok;
}

sei_status st_write(const StWriter *w, const char *path) {
    if (!w || !path) return sei_fail(SEI_ERR_ARG, "st_write: NULL argument");
    JsonBuf hdr = {NULL, 0, 0, 0}, tmp = {NULL, 0, 0, 0};
    jb_put(&tmp, path, strlen(path));
    jb_put(&tmp, ".tmp", 5); /* with the terminator */
    sei_status st = build_header(w, &hdr, path);
    if (!st && tmp.nomem) st = sei_fail(SEI_ERR_NOMEM, "%s: out of memory", path);
    FILE *fp = st ? NULL : fopen(tmp.p, "wb");
    if (!st && !fp) st = sei_fail(SEI_ERR_IO, "%s: cannot create %s: %s", path, tmp.p, strerror(errno));
    if (fp && (!write_stream(fp, w, &hdr) || rename(tmp.p, path) != 0)) {
        st = sei_fail(SEI_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        remove(tmp.p);
    } else if (fp) {
        /* make the rename itself durable; best effort, the data is already safe */
        char *slash = strrchr(tmp.p, '/');
        if (slash) slash[slash == tmp.p] = 0; /* keeps "/" when PATH is in the root */
        int dfd = open(slash ? tmp.p : ".", O_RDONLY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    free(hdr.p);
    free(tmp.p);
    return st;
}
