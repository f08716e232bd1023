/* cost.c - per-image costs of a cut (see cost.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/ops.h"
#include "nets/sparsity.h"
#include "split/cost.h"
#include "split/part.h"

static void layer_bytes(const Net *net, const Layer *l, double *bytes) {
    const int idx[5] = {l->w, l->b, l->rm, l->rv, l->nbt};
    for (int k = 0; k < 5; k++)
        if (idx[k] >= 0) *bytes += param_stored_bytes(&net->params[idx[k]]);
    for (int s = 0; s < l->nsub; s++) layer_bytes(net, &l->sub[s], bytes);
}

static double values(const LayerInfo *li) {
    double v = 1;
    for (int d = 1; d < li->ndim; d++) v *= li->shape[d];
    return v;
}

sei_status split_cost(const Net *net, int size, const char *cut, SplitCost *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->cut, sizeof c->cut, "%s", cut);
    LayerInfo *li = calloc((size_t)net->nlayers, sizeof *li);
    if (!li) return sei_fail(SEI_ERR_NOMEM, "out of memory");
    sei_status st = net_shapes(net, 1, net->in_ch, size, size, li);
    if (st) { free(li); return st; }
    const int L = net->nlayers;
    int head_to; /* the device runs layers [0, head_to) */
    if (!strcmp(cut, "input")) head_to = 0;
    else if (!strcmp(cut, "none")) head_to = L;
    else {
        NetPart h, t;
        if ((st = part_cut(net, cut, &h, &t)) != SEI_OK) { free(li); return st; }
        head_to = h.to;
    }
    const double total = li[L - 1].sparse_macs, at = head_to ? li[head_to - 1].sparse_macs : 0;
    c->head_macs = at, c->tail_macs = total - at;
    c->head_layers = head_to, c->tail_layers = L - head_to;
    c->reply_bytes = 4L * net->classes;
    if (head_to == 0) c->payload_bytes = (long)net->in_ch * size * size; /* 8-bit pixels */
    else if (head_to < L) {
        int k = head_to - 1;
        while (k > 0 && net->layers[k].kind == L_EXIT) k--;
        const WireFormat wf = net->layers[k].kind == L_WIRE ? (WireFormat)net->layers[k].wire : WIRE_FP32;
        c->payload_bytes = (long)wire_bytes((size_t)values(&li[head_to - 1]), wf);
    }
    double act = (double)net->in_ch * size * size;
    for (int i = 0; i < head_to; i++) {
        layer_bytes(net, &net->layers[i], &c->head_param_bytes);
        if (values(&li[i]) > act) act = values(&li[i]);
        if (net->layers[i].kind == L_EXIT && c->nexits < NET_MAX_EXITS) {
            int k = i - 1;
            while (k > 0 && net->layers[k].kind == L_EXIT) k--;
            snprintf(c->exit_at[c->nexits], SEI_NAME_LEN, "%s", net->layers[k].path);
            c->exit_macs[c->nexits++] = li[i].sparse_macs;
        }
    }
    c->head_act_bytes = 4 * act;
    free(li);
    return SEI_OK;
}

sei_status cost_profile_read(const Net *net, const char *path, double *layer_s) {
    FILE *f = fopen(path, "r");
    if (!f) return sei_fail(SEI_ERR_IO, "%s: cannot open", path);
    char line[512];
    int rows = 0, bad = !fgets(line, sizeof line, f) || strncmp(line, "index,layer,", 12);
    while (!bad && fgets(line, sizeof line, f)) {
        int i;
        char name[SEI_NAME_LEN];
        double ms;
        if (sscanf(line, "%d,%95[^,],%*d,%lf", &i, name, &ms) != 3 || i != rows || i >= net->nlayers ||
            strcmp(name, net->layers[i].path) || !(ms >= 0 && ms < 1e12)) { bad = 1; break; }
        layer_s[rows++] = ms / 1e3;
    }
    fclose(f);
    if (bad || rows != net->nlayers)
        return sei_fail(SEI_ERR_FORMAT, "%s: not a sei profile of this network (%d layers)", path, net->nlayers);
    return SEI_OK;
}
