/* weights.c - see weights.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nets/weights.h"

sei_status net_load_weights_masked(Net *net, const StFile *f, const unsigned char *mask) {
    for (int i = 0; i < net->nparams; i++) {
        Param *p = &net->params[i];
        if (mask && !mask[i]) continue;
        if (p->is_int && !st_find(f, p->v.t.name)) continue;
        sei_status s = st_load_tensor(f, p->v.t.name, &p->v.t);
        if (s != SEI_OK) return s;
    }
    for (int j = 0; j < f->n; j++) {
        const char *name = f->entries[j].name;
        if (!strncmp(name, "optim.", 6)) continue; /* a checkpoint's optimizer state */
        int known = -1;
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

sei_status net_add_to_writer_masked(const Net *net, StWriter *w, int64_t *scratch,
                                   const unsigned char *mask) {
    for (int i = 0; i < net->nparams; i++) {
        const Param *p = &net->params[i];
        if (mask && !mask[i]) continue;
        sei_status s;
        if (p->is_int) {
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
