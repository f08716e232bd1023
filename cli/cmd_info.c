/* cmd_info.c - `sei info`: what a checkpoint holds, per layer and per device/server part:
 * parameters, nonzeros, bytes stored (dense vs as stored: predefined-sparse weights are kept
 * as index + values) and multiply-adds per image (dense vs skipping the zeros). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/common.h"
#include "nets/sparsity.h"

static Flag info_flags[] = {
    {"weights", "CKPT", "checkpoint, weights or a part of a split network", NULL, NULL, 0},
    NET_FLAGS,
    {"size", "S", "input side for the multiply-adds (default: the checkpoint's)", NULL, NULL, 0},
    {"at", "CUT", "also totals for the device part (up to CUT) and the server part", NULL, NULL, 0},
    {"all", NULL, "list layers without parameters too", NULL, NULL, 0},
};

typedef struct { double params, nnz, dense_bytes, stored_bytes, macs, sparse_macs; } Row;

static void add_param(Row *r, const Param *p, double macs) {
    const double n = (double)tensor_numel(&p->v.t);
    if (!p->is_buffer) r->params += n;
    r->dense_bytes += p->is_int ? 8 : 4 * n;
    r->stored_bytes += param_stored_bytes(p);
    if (p->sp) {
        const double nnz = (double)sparse_nnz(p->sp);
        r->nnz += nnz;
        r->macs += macs;
        r->sparse_macs += macs * nnz / n;
    } else {
        if (!p->is_buffer) r->nnz += n;
        r->macs += macs;
        r->sparse_macs += macs;
    }
}

/* one conv/linear/BN layer with its multiply-adds per image (weights only) */
static void add_layer(Row *r, const Net *net, const Layer *l, double macs) {
    const int idx[5] = {l->w, l->b, l->rm, l->rv, l->nbt};
    for (int k = 0; k < 5; k++)
        if (idx[k] >= 0) add_param(r, &net->params[idx[k]], k == 0 ? macs : 0);
}

static double conv_macs(const Layer *l, int oh, int ow) {
    return (double)l->out_c * oh * ow * (l->in_c / (l->groups ? l->groups : 1)) * l->k * l->k;
}

static void sum(Row *a, const Row *b) {
    a->params += b->params, a->nnz += b->nnz, a->dense_bytes += b->dense_bytes;
    a->stored_bytes += b->stored_bytes, a->macs += b->macs, a->sparse_macs += b->sparse_macs;
}

static void print_row(const char *name, const char *kind, const Row *r) {
    printf("%-22s %-9s %10.0f %10.0f %6.1f%% %12.0f %12.0f %5.2fx %13.0f %13.0f\n", name, kind, r->params,
           r->nnz, r->params > 0 ? 100 * r->nnz / r->params : 100.0, r->dense_bytes, r->stored_bytes,
           r->stored_bytes > 0 ? r->dense_bytes / r->stored_bytes : 1.0, r->macs, r->sparse_macs);
}

static const char *kind_of(const Net *net, const Layer *l) {
    static const char *const k[] = {"conv", "bn", "relu", "maxpool", "avgpool", "flatten", "linear",
                                    "dropout", "bottleneck", "convT", "wire", "exit"};
    if ((l->kind == L_CONV || l->kind == L_LINEAR) && l->w >= 0 && net->params[l->w].sp)
        return sparse_kind_name(net->params[l->w].sp->kind);
    return (unsigned)l->kind < sizeof k / sizeof k[0] ? k[l->kind] : "?";
}

int cmd_info(int argc, char **argv) {
    Command c = {"info",
                 "Per layer and per part: parameters, nonzeros, bytes stored (dense vs as stored)\n"
                 "and multiply-adds per image (dense vs skipping the zeros of predefined sparsity).",
                 "--weights CKPT [--at CUT] [--size S]", info_flags,
                 (int)(sizeof info_flags / sizeof info_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if ((rc = cli_setup(&c))) return rc;
    const char *wpath = args_str(&c, "weights"), *at = args_str(&c, "at");
    if (!wpath) return cli_error(c.cmd, "--weights is required");
    StFile f;
    if (st_open(&f, wpath) != SEI_OK) return cli_error(c.cmd, "%s", sei_last_error());
    Net net;
    NetPart part;
    if ((rc = cli_open_part(&c, &net, &f, &part))) { st_close(&f); return rc; }
    int size = 0;
    const char *ms = st_meta(&f, "size");
    if (args_flag(&c, "size")->set) {
        if (args_int(&c, "size", 1, 1 << 16, &size)) { rc = 2; goto out; }
    } else if (ms) {
        size = atoi(ms);
    }
    if (size < 1) { rc = cli_error(c.cmd, "%s has no input size: give --size S", wpath); goto out; }
    LayerInfo *info = calloc((size_t)net.nlayers, sizeof *info);
    Row *rows = calloc((size_t)net.nlayers, sizeof *rows);
    if (!info || !rows) { free(info); free(rows); rc = cli_error(c.cmd, "out of memory"); goto out; }
    if (net_shapes(&net, 1, net.in_ch, size, size, info) != SEI_OK) {
        rc = cli_error(c.cmd, "%s", sei_last_error());
        free(info); free(rows);
        goto out;
    }
    int cut = part.head >= 0 ? (part.head ? part.to - 1 : part.from - 1) : -1;
    if (at) {
        cut = net_find_layer(&net, at);
        if (cut < 0 || !net.layers[cut].cut) {
            rc = cli_error(c.cmd, "%s has no cut point '%s'", net.name, at);
            free(info); free(rows);
            goto out;
        }
    }
    const int cut_layer = cut;
    while (cut >= 0 && cut + 1 < net.nlayers && net.layers[cut + 1].kind == L_EXIT) cut++; /* exits: device side */
    printf("%s (%s), %d classes, %d input channels, %dx%d, width %g%s%s\n", wpath, net.name, net.classes,
           net.in_ch, size, size, net.width_mult, part.head >= 0 ? (part.head ? ", device part" : ", server part") : "",
           part.head >= 0 ? "" : "");
    printf("%-22s %-9s %10s %10s %7s %12s %12s %6s %13s %13s\n", "layer", "kind", "params", "nonzeros", "dens.",
           "bytes dense", "bytes stored", "ratio", "MACs dense", "MACs sparse");
    for (int i = part.from; i < part.to; i++) {
        const Layer *l = &net.layers[i];
        const int oh = info[i].ndim == 4 ? info[i].shape[2] : 1, ow = info[i].ndim == 4 ? info[i].shape[3] : 1;
        Row *r = &rows[i];
        if (l->kind == L_BOTTLENECK) {
            const int ih = i > 0 && info[i - 1].ndim == 4 ? info[i - 1].shape[2] : size / 4;
            for (int s = 0; s < l->nsub; s++) {
                const Layer *sl = &l->sub[s];
                double m = 0;
                if (sl->kind == L_CONV) m = s == 0 ? conv_macs(sl, ih, ih) : conv_macs(sl, oh, ow);
                add_layer(r, &net, sl, m);
            }
        } else if (l->kind == L_EXIT) { /* its branch, at the cut's resolution */
            int h = oh, w = ow;
            for (int s = 0; s < l->nsub; s++) {
                const Layer *sl = &l->sub[s];
                double m = 0;
                if (sl->kind == L_CONV) {
                    h = (h + 2 * sl->pad - sl->k) / sl->stride + 1, w = (w + 2 * sl->pad - sl->k) / sl->stride + 1;
                    m = conv_macs(sl, h, w);
                } else if (sl->kind == L_LINEAR) m = (double)sl->in_c * sl->out_c;
                add_layer(r, &net, sl, m);
            }
        } else if (l->kind == L_CONV) {
            add_layer(r, &net, l, conv_macs(l, oh, ow));
        } else if (l->kind == L_CONVT) {
            const int ih = info[i - 1].shape[2], iw = info[i - 1].shape[3];
            add_layer(r, &net, l, (double)l->in_c * l->out_c * l->k * l->k * ih * iw);
        } else if (l->kind == L_LINEAR) {
            add_layer(r, &net, l, (double)l->in_c * l->out_c);
        } else {
            add_layer(r, &net, l, 0);
        }
        if (r->dense_bytes > 0 || args_bool(&c, "all")) print_row(l->path, kind_of(&net, l), r);
    }
    Row dev = {0}, srv = {0}, all = {0};
    for (int i = part.from; i < part.to; i++) {
        sum(&all, &rows[i]);
        if (cut >= 0) sum(i <= cut ? &dev : &srv, &rows[i]);
    }
    printf("\n");
    if (cut >= 0 && part.head < 0) {
        char name[SEI_NAME_LEN + 16];
        snprintf(name, sizeof name, "device (..%s)", net.layers[cut_layer].path);
        print_row(name, "part", &dev);
        print_row("server", "part", &srv);
    }
    print_row(part.head < 0 ? "whole network" : part.head ? "device part" : "server part", "total", &all);
    free(info);
    free(rows);
out:
    net_free(&net);
    st_close(&f);
    return rc;
}
