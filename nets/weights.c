/* weights.c - see weights.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nets/sparsity.h"
#include "nets/weights.h"

/* "<param>.values" / "<param>.index": the parameter a sparse tensor belongs to, else -1 */
static int sparse_owner(const Net *net, const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || (strcmp(dot, ".values") && strcmp(dot, ".index"))) return -1;
    const size_t n = (size_t)(dot - name);
    for (int i = 0; i < net->nparams; i++)
        if (strlen(net->params[i].v.t.name) == n && !strncmp(net->params[i].v.t.name, name, n)) return i;
    return -1;
}

/* parameter i stored sparse: "sparse.<name>" = "kind rows cols ksize groups", an index
 * [rows, per_row] (I16 or I32) and the kept values [rows, per_row * ksize] */
static sei_status load_sparse(Net *net, const StFile *f, int i) {
    Param *p = &net->params[i];
    char key[SEI_NAME_LEN + 16], kind[16], vn[SEI_NAME_LEN + 16], in[SEI_NAME_LEN + 16];
    snprintf(key, sizeof key, "sparse.%s", p->v.t.name);
    snprintf(vn, sizeof vn, "%s.values", p->v.t.name);
    snprintf(in, sizeof in, "%s.index", p->v.t.name);
    const char *m = st_meta(f, key);
    const StEntry *ev = st_find(f, vn), *ei = st_find(f, in);
    int rows, cols, ksize, groups, k;
    if (!m || !ev || !ei || sscanf(m, "%15s %d %d %d %d", kind, &rows, &cols, &ksize, &groups) != 5 ||
        (k = sparse_kind_parse(kind)) < 0 || rows < 1 || cols < 1 || ksize < 1 || ei->ndim != 2 ||
        ei->shape[0] != rows || ei->shape[1] < 1 || ei->shape[1] > cols ||
        st_numel(ev) != (size_t)rows * ei->shape[1] * ksize ||
        (size_t)rows * cols * ksize != tensor_numel(&p->v.t))
        return sei_fail(SEI_ERR_FORMAT, "%s: sparse tensor '%s' is incomplete or does not fit %s", f->path,
                        p->v.t.name, net->name);
    /* the shape the kernels assume of each kind (found by fuzz_checkpoint: a channel pattern
     * of 0 groups divided by zero; other mismatches would index past the input) */
    const Tensor *t = &p->v.t;
    const int per = (int)ei->shape[1];
    const int conv = t->ndim == 4, fits =
        k == SPARSE_CHANNEL ? conv && rows == t->shape[0] && cols == t->shape[1] && ksize == t->shape[2] * t->shape[3] &&
                                  groups >= 1 && rows % groups == 0 && per * groups == cols
        : k == SPARSE_WEIGHT ? conv && rows == t->shape[0] && cols == t->shape[1] * t->shape[2] * t->shape[3] && ksize == 1
        : k == SPARSE_BIREGULAR ? t->ndim == 2 && rows == t->shape[0] && cols == t->shape[1] && ksize == 1
                                : 0;
    if (!fits)
        return sei_fail(SEI_ERR_FORMAT, "%s: sparse tensor '%s': a %s pattern '%s' does not fit its %s weight", f->path,
                        t->name, kind, m, conv ? "conv" : t->ndim == 2 ? "linear" : "other");
    SparsePattern *sp = calloc(1, sizeof *sp);
    int64_t *idx = NULL;
    float *val = NULL;
    sei_status s = SEI_OK;
    if (sp) {
        sp->kind = (SparseKind)k, sp->rows = rows, sp->cols = cols, sp->ksize = ksize, sp->groups = groups;
        sp->per_row = (int)ei->shape[1];
        sp->index = malloc((size_t)rows * sp->per_row * sizeof *sp->index);
        idx = malloc((size_t)rows * sp->per_row * sizeof *idx);
        val = malloc(st_numel(ev) * sizeof *val);
    }
    if (!sp || !sp->index || !idx || !val) s = sei_fail(SEI_ERR_NOMEM, "out of memory loading %s", p->v.t.name);
    if (!s) s = st_read_i64(f, ei, idx, (size_t)rows * sp->per_row);
    if (!s) s = st_read_f32(f, ev, val, st_numel(ev));
    for (int r = 0; r < rows && !s; r++)
        for (int j = 0; j < sp->per_row && !s; j++) {
            int64_t c = idx[(size_t)r * sp->per_row + j];
            if (c < 0 || c >= cols || (j && c <= idx[(size_t)r * sp->per_row + j - 1]))
                s = sei_fail(SEI_ERR_FORMAT, "%s: '%s' row %d: columns must be ascending in [0,%d)", f->path, in, r, cols);
            else
                sp->index[(size_t)r * sp->per_row + j] = (int32_t)c;
        }
    /* a channel pattern's rows in a group share one list of input channels */
    for (int r = 0; r < rows && !s && k == SPARSE_CHANNEL; r++) {
        const int first = r / (rows / groups) * (rows / groups);
        if (memcmp(sp->index + (size_t)r * per, sp->index + (size_t)first * per, sizeof *sp->index * (size_t)per))
            s = sei_fail(SEI_ERR_FORMAT, "%s: '%s' row %d: a channel pattern's group must keep the same input channels in "
                         "every row", f->path, in, r);
    }
    if (!s) { /* the dense tensor: zeros, then the kept values in place */
        memset(p->v.t.data, 0, tensor_numel(&p->v.t) * sizeof(float));
        const float *v = val;
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < sp->per_row; j++, v += ksize)
                memcpy(p->v.t.data + ((size_t)r * cols + sp->index[(size_t)r * sp->per_row + j]) * ksize, v,
                       (size_t)ksize * sizeof(float));
    }
    free(idx);
    free(val);
    if (s) {
        if (sp) sparse_free(sp);
        free(sp);
        return s;
    }
    return net_set_pattern(net, i, sp);
}

sei_status net_load_weights_masked(Net *net, const StFile *f, const unsigned char *mask) {
    for (int i = 0; i < net->nparams; i++) {
        Param *p = &net->params[i];
        if (mask && !mask[i]) continue;
        if (p->is_int && !st_find(f, p->v.t.name)) continue;
        char vn[SEI_NAME_LEN + 16];
        snprintf(vn, sizeof vn, "%s.values", p->v.t.name);
        sei_status s;
        if (!st_find(f, p->v.t.name) && st_find(f, vn)) {
            s = load_sparse(net, f, i);
        } else {
            s = st_load_tensor(f, p->v.t.name, &p->v.t);
            if (!s && p->mask) /* dense values into a network that has a pattern: keep it */
                for (size_t k = 0; k < tensor_numel(&p->v.t); k++) p->v.t.data[k] *= p->mask[k];
        }
        if (s != SEI_OK) return s;
    }
    for (int j = 0; j < f->n; j++) {
        const char *name = f->entries[j].name;
        if (!strncmp(name, "optim.", 6)) continue; /* a checkpoint's optimizer state */
        int known = sparse_owner(net, name);
        for (int i = 0; i < net->nparams && known < 0; i++)
            if (strcmp(net->params[i].v.t.name, name) == 0) known = i;
        if (known < 0)
            return sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s' is not part of %s (wrong network, class count or width?)",
                            f->path, name, net->name);
        if (mask && !mask[known])
            return sei_fail(SEI_ERR_FORMAT, "%s: tensor '%s' belongs to another part of %s",
                            f->path, name, net->name);
    }
    return SEI_OK;
}

sei_status net_load_weights_from(Net *net, const StFile *f) {
    return net_load_weights_masked(net, f, NULL);
}

sei_status net_load_weights(Net *net, const char *path) {
    StFile f;
    sei_status s = st_open(&f, path);
    if (s == SEI_OK) s = net_load_weights_from(net, &f);
    st_close(&f);
    return s;
}

/* a parameter with a pattern as index + kept values (see load_sparse) */
static sei_status add_sparse(StWriter *w, const Param *p) {
    const SparsePattern *sp = p->sp;
    const size_t nidx = (size_t)sp->rows * sp->per_row;
    const int small = sp->cols <= 32767;
    void *idx = malloc(nidx * (small ? sizeof(int16_t) : sizeof(int32_t)));
    float *val = malloc(sparse_nnz(sp) * sizeof *val);
    char vn[SEI_NAME_LEN + 16], in[SEI_NAME_LEN + 16], key[SEI_NAME_LEN + 16], meta[96];
    if (!idx || !val) { free(idx); free(val); return sei_fail(SEI_ERR_NOMEM, "out of memory saving %s", p->v.t.name); }
    float *v = val;
    for (int r = 0; r < sp->rows; r++)
        for (int j = 0; j < sp->per_row; j++, v += sp->ksize) {
            const int32_t c = sp->index[(size_t)r * sp->per_row + j];
            if (small) ((int16_t *)idx)[(size_t)r * sp->per_row + j] = (int16_t)c;
            else ((int32_t *)idx)[(size_t)r * sp->per_row + j] = c;
            memcpy(v, p->v.t.data + ((size_t)r * sp->cols + c) * sp->ksize, (size_t)sp->ksize * sizeof *v);
        }
    snprintf(vn, sizeof vn, "%s.values", p->v.t.name);
    snprintf(in, sizeof in, "%s.index", p->v.t.name);
    snprintf(key, sizeof key, "sparse.%s", p->v.t.name);
    snprintf(meta, sizeof meta, "%s %d %d %d %d", sparse_kind_name(sp->kind), sp->rows, sp->cols, sp->ksize,
             sp->groups);
    sei_status s = st_add_owned(w, in, small ? ST_I16 : ST_I32, 2, (int64_t[]){sp->rows, sp->per_row}, idx);
    if (!s) s = st_add_owned(w, vn, ST_F32, 2, (int64_t[]){sp->rows, (int64_t)sp->per_row * sp->ksize}, val);
    else free(val);
    if (!s) s = st_add_meta(w, key, meta);
    return s;
}

sei_status net_add_to_writer_masked(const Net *net, StWriter *w, int64_t *scratch,
                                   const unsigned char *mask) {
    for (int i = 0; i < net->nparams; i++) {
        const Param *p = &net->params[i];
        if (mask && !mask[i]) continue;
        sei_status s;
        if (p->sp) {
            s = add_sparse(w, p);
        } else if (p->is_int) {
            scratch[i] = (int64_t)p->v.t.data[0];
            s = st_add(w, p->v.t.name, ST_I64, 0, NULL, &scratch[i]);
        } else {
            s = st_add_tensor(w, &p->v.t);
        }
        if (s != SEI_OK) return s;
    }
    return SEI_OK;
}

sei_status net_add_to_writer(const Net *net, StWriter *w, int64_t *scratch) {
    return net_add_to_writer_masked(net, w, scratch, NULL);
}

sei_status net_add_meta(const Net *net, StWriter *w) {
    char classes[32], in_ch[32], wm[32];
    snprintf(classes, sizeof classes, "%d", net->classes);
    snprintf(in_ch, sizeof in_ch, "%d", net->in_ch);
    snprintf(wm, sizeof wm, "%.9g", net->width_mult);
    sei_status s = st_add_meta(w, "format", "sei-weights-1");
    if (!s) s = st_add_meta(w, "net", net->name);
    if (!s) s = st_add_meta(w, "classes", classes);
    if (!s) s = st_add_meta(w, "in_ch", in_ch);
    if (!s) s = st_add_meta(w, "width_mult", wm);
    return s;
}

sei_status net_add_with_meta(const Net *net, StWriter *w, int64_t *scratch) {
    sei_status s = net_add_to_writer(net, w, scratch);
    return s ? s : net_add_meta(net, w);
}

sei_status net_save_weights(const Net *net, const char *path, int nextra,
                            const char *const *keys, const char *const *vals) {
    StWriter w;
    st_writer_init(&w);
    int64_t *scratch = calloc((size_t)net->nparams + 1, sizeof(int64_t));
    if (!scratch) return sei_fail(SEI_ERR_NOMEM, "out of memory");
    sei_status s = net_add_with_meta(net, &w, scratch);
    for (int i = 0; i < nextra && !s; i++) s = st_add_meta(&w, keys[i], vals[i]);
    if (!s) s = st_write(&w, path);
    st_writer_free(&w);
    free(scratch);
    return s;
}
