/* sparsity.c - predefined sparse patterns and giving them to a network (see sparsity.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nets/sparsity.h"

const char *sparse_kind_name(SparseKind k) {
    switch (k) {
    case SPARSE_CHANNEL: return "channel";
    case SPARSE_WEIGHT: return "weight";
    case SPARSE_BIREGULAR: return "biregular";
    default: return "dense";
    }
}

int sparse_kind_parse(const char *s) {
    if (!strcmp(s, "channel")) return SPARSE_CHANNEL;
    if (!strcmp(s, "weight")) return SPARSE_WEIGHT;
    if (!strcmp(s, "biregular")) return SPARSE_BIREGULAR;
    return -1;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void shuffle(int32_t *v, int n, Rng *rng) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(rng, (uint32_t)i + 1);
        int32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* rows x per_row distinct columns per row; each column used floor/ceil(rows*per_row/cols)
 * times: the picks walk through concatenated random permutations of the columns; when a
 * permutation runs out inside a row, an element of the next that the row already has is
 * swapped with a later one of the same permutation (always possible: per_row <= cols) */
static sei_status biregular(int32_t *idx, int rows, int cols, int per_row, Rng *rng) {
    int32_t *perm = malloc((size_t)cols * sizeof *perm);
    int *in_row = calloc((size_t)cols, sizeof *in_row); /* r + 1 where row r has the column */
    if (!perm || !in_row) {
        free(perm), free(in_row);
        return sei_fail(SEI_ERR_NOMEM, "out of memory");
    }
    int pos = cols;
    for (int i = 0; i < cols; i++) perm[i] = i;
    for (int r = 0; r < rows; r++) {
        int32_t *row = idx + (size_t)r * per_row;
        for (int j = 0; j < per_row; j++) {
            if (pos == cols) {
                shuffle(perm, cols, rng);
                pos = 0;
            }
            /* the first element the row does not have (only picks from the previous
             * permutation can collide: this one's positions before pos are distinct) */
            for (int q = pos; q < cols; q++)
                if (in_row[perm[q]] != r + 1) {
                    int32_t t = perm[pos];
                    perm[pos] = perm[q];
                    perm[q] = t;
                    break;
                }
            row[j] = perm[pos++];
            in_row[row[j]] = r + 1;
        }
        qsort(row, (size_t)per_row, sizeof *row, cmp_i32);
    }
    free(perm), free(in_row);
    return SEI_OK;
}

sei_status sparse_make(SparsePattern *sp, SparseKind kind, int rows, int cols, int ksize,
                       double density, Rng *rng, const char *what) {
    memset(sp, 0, sizeof *sp);
    if (!(density > 0 && density <= 1))
        return sei_fail(SEI_ERR_ARG, "%s: density %g is not in (0, 1]", what, density);
    sp->kind = kind, sp->rows = rows, sp->cols = cols, sp->ksize = kind == SPARSE_CHANNEL ? ksize : 1;
    if (kind == SPARSE_CHANNEL) {
        const int G = (int)floor(1.0 / density + 0.5);
        if (G < 1 || fabs(1.0 / G - density) > 1e-6 || rows % G || cols % G)
            return sei_fail(SEI_ERR_ARG, "%s: channel sparsity at density %g needs 1/density = G groups "
                            "dividing %d output and %d input channels", what, density, rows, cols);
        sp->groups = G;
        sp->per_row = cols / G;
    } else {
        sp->per_row = (int)floor(density * cols + 0.5);
        if (sp->per_row < 1) sp->per_row = 1;
    }
    sp->index = malloc((size_t)rows * sp->per_row * sizeof *sp->index);
    if (!sp->index) return sei_fail(SEI_ERR_NOMEM, "%s: out of memory for its pattern", what);
    if (kind == SPARSE_CHANNEL) {
        int32_t *perm = malloc((size_t)cols * sizeof *perm);
        if (!perm) { sparse_free(sp); return sei_fail(SEI_ERR_NOMEM, "out of memory"); }
        for (int i = 0; i < cols; i++) perm[i] = i;
        shuffle(perm, cols, rng);
        const int OCg = rows / sp->groups, Cg = sp->per_row;
        for (int r = 0; r < rows; r++) {
            int32_t *row = sp->index + (size_t)r * Cg;
            memcpy(row, perm + (size_t)(r / OCg) * Cg, (size_t)Cg * sizeof *row);
            qsort(row, (size_t)Cg, sizeof *row, cmp_i32);
        }
        free(perm);
    } else {
        sei_status st = biregular(sp->index, rows, cols, sp->per_row, rng);
        if (st != SEI_OK) { sparse_free(sp); return st; }
    }
    return SEI_OK;
}

void sparse_free(SparsePattern *sp) {
    free(sp->index);
    sp->index = NULL;
}

size_t sparse_nnz(const SparsePattern *sp) {
    return (size_t)sp->rows * sp->per_row * sp->ksize;
}

void sparse_fill_mask(const SparsePattern *sp, float *mask) {
    const size_t row = (size_t)sp->cols * sp->ksize;
    memset(mask, 0, (size_t)sp->rows * row * sizeof *mask);
    for (int r = 0; r < sp->rows; r++)
        for (int j = 0; j < sp->per_row; j++) {
            float *m = mask + r * row + (size_t)sp->index[(size_t)r * sp->per_row + j] * sp->ksize;
            for (int k = 0; k < sp->ksize; k++) m[k] = 1.0f;
        }
}

sei_status net_set_pattern(Net *net, int idx, SparsePattern *sp) {
    Param *p = &net->params[idx];
    const size_t n = tensor_numel(&p->v.t);
    if ((size_t)sp->rows * sp->cols * sp->ksize != n) {
        sei_fail(SEI_ERR_SHAPE, "%s: a pattern of %d x %d x %d does not fit %zu weights",
                 p->v.t.name, sp->rows, sp->cols, sp->ksize, n);
        sparse_free(sp);
        free(sp);
        return SEI_ERR_SHAPE;
    }
    float *mask = sei_alloc(n * sizeof *mask);
    if (!mask) { sparse_free(sp); free(sp); return SEI_ERR_NOMEM; }
    sparse_fill_mask(sp, mask);
    for (size_t i = 0; i < n; i++) p->v.t.data[i] *= mask[i];
    sp->kidx = (SparseIndex){sp->kind == SPARSE_CHANNEL ? SPARSE_IDX_CHANNEL : SPARSE_IDX_WEIGHT, sp->per_row,
                             sp->groups, sp->index};
    sei_free(p->mask);
    if (p->sp) { sparse_free(p->sp); free(p->sp); }
    p->mask = mask;
    p->sp = sp;
    return SEI_OK;
}

static double spec_density(const SparseSpec *spec, const char *path, int *listed) {
    for (int i = 0; i < spec->nlist; i++)
        if (!strcmp(spec->list_path[i], path)) { *listed = 1; return spec->list_density[i]; }
    *listed = 0;
    return spec->density;
}

/* the conv and linear layers of the network in order, with sub-layers of bottlenecks */
static int eligible(const Layer *l) { return l->kind == L_CONV || l->kind == L_LINEAR; }

sei_status net_sparsify(Net *net, const SparseSpec *spec, uint64_t seed) {
    int last = net->nlayers;
    if (spec->until) {
        int i = net_find_layer(net, spec->until);
        /* a cut a split bottleneck now follows (--split-at at the same cut) still counts */
        const int before_bottleneck = i >= 0 && i + 1 < net->nlayers && !strncmp(net->layers[i + 1].path, "bottleneck.", 11);
        if (i < 0 || (!net->layers[i].cut && !before_bottleneck))
            return sei_fail(SEI_ERR_ARG, "sparsity: %s has no cut point '%s'", net->name, spec->until);
        last = i + 1;
    }
    for (int i = 0; i < spec->nlist; i++) {
        int found = 0;
        for (int k = 0; k < net->nlayers && !found; k++) {
            const Layer *l = &net->layers[k];
            found = !strcmp(l->path, spec->list_path[i]) && eligible(l);
            for (int s = 0; s < l->nsub && !found; s++)
                found = !strcmp(l->sub[s].path, spec->list_path[i]) && eligible(&l->sub[s]);
        }
        if (!found)
            return sei_fail(SEI_ERR_ARG, "sparsity: '%s' is not a conv or linear layer of %s",
                            spec->list_path[i], net->name);
    }
    /* the first conv and the last linear stay dense by default */
    const Layer *first = NULL, *lastlin = NULL;
    for (int k = 0; k < net->nlayers; k++) {
        if (!first && net->layers[k].kind == L_CONV) first = &net->layers[k];
        if (net->layers[k].kind == L_LINEAR) lastlin = &net->layers[k];
    }
    Rng rng;
    rng_seed(&rng, seed ^ 0x5ba25e0fdeadull);
    for (int k = 0; k < last; k++) {
        Layer *top = &net->layers[k];
        const int n = top->nsub ? top->nsub : 1;
        for (int s = 0; s < n; s++) {
            const Layer *l = top->nsub ? &top->sub[s] : top;
            if (!eligible(l) || l->w < 0) continue;
            int listed;
            double d = spec_density(spec, l->path, &listed);
            if (!listed && (l == first || l == lastlin || top->kind == L_EXIT)) continue; /* exits: dense */
            if (d >= 1.0) continue;
            SparsePattern *sp = malloc(sizeof *sp);
            if (!sp) return sei_fail(SEI_ERR_NOMEM, "out of memory");
            const Tensor *w = &net->params[l->w].v.t;
            sei_status st;
            if (l->kind == L_LINEAR)
                st = sparse_make(sp, SPARSE_BIREGULAR, w->shape[0], w->shape[1], 1, d, &rng, l->path);
            else if (spec->conv_kind == SPARSE_CHANNEL && l->groups == 1)
                st = sparse_make(sp, SPARSE_CHANNEL, w->shape[0], w->shape[1], w->shape[2] * w->shape[3], d,
                                 &rng, l->path);
            else
                st = sparse_make(sp, SPARSE_WEIGHT, w->shape[0], w->shape[1] * w->shape[2] * w->shape[3], 1,
                                 d, &rng, l->path);
            if (st) { free(sp); return st; }
            if ((st = net_set_pattern(net, l->w, sp)) != SEI_OK) return st;
        }
    }
    return SEI_OK;
}

sei_status sparse_read_density_file(SparseSpec *spec, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return sei_fail(SEI_ERR_IO, "%s: cannot open", path);
    char line[512];
    int lineno = 0;
    sei_status s = SEI_OK;
    while (!s && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char name[SEI_NAME_LEN], extra[8];
        double d;
        int n = sscanf(line, "%95s %lf %7s", name, &d, extra);
        if (n <= 0) continue;
        if (n != 2 || !(d > 0 && d <= 1)) {
            s = sei_fail(SEI_ERR_FORMAT, "%s:%d: expected 'layer_path density' with density in (0, 1]", path, lineno);
            break;
        }
        void *p1 = realloc(spec->list_path, (size_t)(spec->nlist + 1) * sizeof *spec->list_path);
        if (p1) spec->list_path = p1;
        void *p2 = p1 ? realloc(spec->list_density, (size_t)(spec->nlist + 1) * sizeof *spec->list_density) : NULL;
        if (p2) spec->list_density = p2;
        if (!p1 || !p2) { s = sei_fail(SEI_ERR_NOMEM, "out of memory"); break; }
        snprintf(spec->list_path[spec->nlist], SEI_NAME_LEN, "%s", name);
        spec->list_density[spec->nlist++] = d;
    }
    fclose(f);
    return s;
}

void sparse_spec_free(SparseSpec *spec) {
    free(spec->list_path);
    free(spec->list_density);
    spec->list_path = NULL;
    spec->list_density = NULL;
    spec->nlist = 0;
}

double param_stored_bytes(const Param *p) {
    const double n = (double)tensor_numel(&p->v.t);
    if (p->is_int) return 8 * n;
    if (!p->sp) return 4 * n;
    const double idx = (double)p->sp->rows * p->sp->per_row;
    return 4.0 * (double)sparse_nnz(p->sp) + (p->sp->cols <= 32767 ? 2 : 4) * idx;
}
