/* part.c - heads and tails of a cut network (see part.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nets/weights.h"
#include "split/part.h"

NetPart part_whole(const Net *net) {
    NetPart p = {0, net->nlayers, -1, ""};
    return p;
}

sei_status part_cut(const Net *net, const char *cut, NetPart *head, NetPart *tail) {
    int i = net_find_layer(net, cut);
    if (i < 0 || !net->layers[i].cut) {
        char list[1024] = "";
        for (int k = 0, n = 0; k < net->nlayers; k++) {
            if (!net->layers[k].cut) continue;
            size_t len = strlen(list);
            if (len + strlen(net->layers[k].path) + 8 >= sizeof list) {
                snprintf(list + len, sizeof list - len, ", ...");
                break;
            }
            snprintf(list + len, sizeof list - len, "%s%s", n++ ? ", " : "", net->layers[k].path);
        }
        return sei_fail(SEI_ERR_ARG, "%s has no cut point '%s' (cut points: %s)", net->name, cut, list);
    }
    while (i + 1 < net->nlayers && net->layers[i + 1].kind == L_EXIT) i++; /* exits at the cut: device side */
    if (i + 1 >= net->nlayers)
        return sei_fail(SEI_ERR_ARG, "%s: cutting after the last layer leaves no server part", net->name);
    *head = (NetPart){0, i + 1, 1, ""};
    *tail = (NetPart){i + 1, net->nlayers, 0, ""};
    snprintf(head->cut, sizeof head->cut, "%s", cut);
    snprintf(tail->cut, sizeof tail->cut, "%s", cut);
    return SEI_OK;
}

static void mark_layer(const Layer *l, unsigned char *mask) {
    const int idx[5] = {l->w, l->b, l->rm, l->rv, l->nbt};
    for (int k = 0; k < 5; k++)
        if (idx[k] >= 0) mask[idx[k]] = 1;
    for (int s = 0; s < l->nsub; s++) mark_layer(&l->sub[s], mask);
}

void part_mask(const Net *net, const NetPart *p, unsigned char *mask) {
    memset(mask, 0, (size_t)net->nparams);
    for (int i = p->from; i < p->to; i++) mark_layer(&net->layers[i], mask);
}

sei_status part_save(const Net *net, const NetPart *p, const char *path, int nextra,
                     const char *const *keys, const char *const *vals) {
    unsigned char *mask = malloc((size_t)net->nparams + 1);
    int64_t *scratch = calloc((size_t)net->nparams + 1, sizeof *scratch);
    StWriter w;
    st_writer_init(&w);
    sei_status s = mask && scratch ? SEI_OK : sei_fail(SEI_ERR_NOMEM, "out of memory");
    if (!s) {
        part_mask(net, p, mask);
        s = net_add_to_writer_masked(net, &w, scratch, mask);
    }
    if (!s) s = net_add_meta(net, &w);
    if (!s && p->head >= 0) s = st_add_meta(&w, "part", p->head ? "head" : "tail");
    if (!s && p->head >= 0) s = st_add_meta(&w, "cut", p->cut);
    for (int i = 0; i < nextra && !s; i++) s = st_add_meta(&w, keys[i], vals[i]);
    if (!s) s = st_write(&w, path);
    st_writer_free(&w);
    free(mask);
    free(scratch);
    return s;
}

sei_status part_of_file(const Net *net, const StFile *f, NetPart *p) {
    const char *part = st_meta(f, "part"), *cut = st_meta(f, "cut");
    if (!part) {
        *p = part_whole(net);
        return SEI_OK;
    }
    if (strcmp(part, "head") && strcmp(part, "tail"))
        return sei_fail(SEI_ERR_FORMAT, "%s: metadata part='%s' is neither head nor tail", f->path, part);
    if (!cut) return sei_fail(SEI_ERR_FORMAT, "%s: a %s part without 'cut' metadata", f->path, part);
    NetPart h, t;
    sei_status s = part_cut(net, cut, &h, &t);
    if (s) return sei_fail(s, "%s: %s", f->path, sei_last_error());
    *p = strcmp(part, "head") ? t : h;
    return SEI_OK;
}

sei_status part_load(Net *net, const StFile *f, const NetPart *p) {
    if (p->head < 0) return net_load_weights_from(net, f);
    unsigned char *mask = malloc((size_t)net->nparams + 1);
    if (!mask) return sei_fail(SEI_ERR_NOMEM, "out of memory");
    part_mask(net, p, mask);
    sei_status s = net_load_weights_masked(net, f, mask);
    free(mask);
    return s;
}

sei_status part_map_read(const Net *net, const char *path, int nparts, int *from, int *to, int *threads) {
    FILE *f = fopen(path, "r");
    if (!f) return sei_fail(SEI_ERR_IO, "%s: cannot open", path);
    char line[512];
    int n = 0, lineno = 0, prev = 0;
    sei_status s = SEI_OK;
    while (s == SEI_OK && fgets(line, sizeof line, f)) {
        lineno++;
        char *h = strchr(line, '#');
        if (h) *h = 0;
        int r, t;
        char last[SEI_NAME_LEN];
        const int k = sscanf(line, "%d %95s %d", &r, last, &t);
        if (k <= 0) continue;
        if (k != 3 || r != n || t < 0 || t > 4096 || n >= nparts) {
            s = sei_fail(SEI_ERR_FORMAT, "%s:%d: expected 'RANK LAST_LAYER THREADS' for rank %d of %d", path, lineno, n, nparts);
            break;
        }
        int end = net->nlayers;
        NetPart hd, tl;
        if (strcmp(last, "end") && (s = part_cut(net, last, &hd, &tl)) != SEI_OK) {
            char why[300];
            snprintf(why, sizeof why, "%s", sei_last_error());
            s = sei_fail(s, "%s:%d: %s", path, lineno, why);
            break;
        }
        if (strcmp(last, "end")) end = hd.to;
        if (end <= prev) {
            s = sei_fail(SEI_ERR_FORMAT, "%s:%d: %s does not come after the previous part", path, lineno, last);
            break;
        }
        from[n] = prev, to[n] = end, threads[n] = t, prev = end, n++;
    }
    fclose(f);
    if (s == SEI_OK && (n != nparts || prev != net->nlayers))
        s = sei_fail(SEI_ERR_FORMAT, "%s: %d parts for %d ranks, the last ending %s", path, n, nparts,
                     prev == net->nlayers ? "at the end" : "before the end (use 'end')");
    return s;
}
