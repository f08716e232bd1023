/* bottleneck.c - the autoencoder and wire at a cut (see bottleneck.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "split/bottleneck.h"
#include "split/part.h"

sei_status bottleneck_insert(Net *net, const BottleneckCfg *cfg, int size, uint64_t seed,
                             BottleneckInfo *info) {
    memset(info, 0, sizeof *info);
    if (net_find_layer(net, "bottleneck.wire") >= 0)
        return sei_fail(SEI_ERR_ARG, "%s already has a bottleneck", net->name);
    if (cfg->ratio < 1 || cfg->stride < 1)
        return sei_fail(SEI_ERR_ARG, "bottleneck: ratio %d and stride %d must be >= 1", cfg->ratio, cfg->stride);
    NetPart head, tail;
    sei_status st = part_cut(net, cfg->at, &head, &tail);
    if (st) return st;
    const int at = head.to - 1;
    LayerInfo *li = calloc((size_t)net->nlayers, sizeof *li);
    if (!li) return sei_fail(SEI_ERR_NOMEM, "out of memory");
    if ((st = net_shapes(net, 1, net->in_ch, size, size, li)) != SEI_OK) { free(li); return st; }
    const LayerInfo s = li[at];
    free(li);
    const int C = s.shape[1], R = cfg->ratio, S = cfg->stride, c = C / R > 0 ? C / R : 1;
    const int start = net->nlayers;
    size_t cut_values = (size_t)C, wire_values;
    if (s.ndim == 4) {
        const int H = s.shape[2], W = s.shape[3];
        if ((H - 1) % S != (W - 1) % S)
            return sei_fail(SEI_ERR_SHAPE, "bottleneck at %s: a %dx%d activation and stride %d need "
                            "different output paddings", cfg->at, H, W, S);
        cut_values *= (size_t)H * W;
        const int h = (H - 1) / S + 1, w = (W - 1) / S + 1;
        wire_values = cfg->ae ? (size_t)c * h * w : cut_values;
        if (cfg->ae) {
            layer_conv(net, net_add_layer(net, L_CONV, ""), "bottleneck.encoder.0", C, c, 3, S, 1, 0);
            layer_bn(net, net_add_layer(net, L_BN, ""), "bottleneck.encoder.1", c);
            net_add_layer(net, L_RELU, "bottleneck.encoder.2");
        }
        Layer *wl = net_add_layer(net, L_WIRE, "bottleneck.wire");
        wl->wire = cfg->wire;
        if (cfg->ae) {
            layer_convt(net, net_add_layer(net, L_CONVT, ""), "bottleneck.decoder.0", c, C, 3, S, 1, (H - 1) % S);
            layer_bn(net, net_add_layer(net, L_BN, ""), "bottleneck.decoder.1", C);
            net_add_layer(net, L_RELU, "bottleneck.decoder.2");
        }
    } else {
        if (cfg->ae && S != 1)
            return sei_fail(SEI_ERR_ARG, "bottleneck at %s: a flat activation [%d] has no spatial size (use --stride 1)",
                            cfg->at, C);
        wire_values = cfg->ae ? (size_t)c : cut_values;
        if (cfg->ae) {
            layer_linear(net, net_add_layer(net, L_LINEAR, ""), "bottleneck.encoder.0", C, c);
            net_add_layer(net, L_RELU, "bottleneck.encoder.1");
        }
        Layer *wl = net_add_layer(net, L_WIRE, "bottleneck.wire");
        wl->wire = cfg->wire;
        if (cfg->ae) {
            layer_linear(net, net_add_layer(net, L_LINEAR, ""), "bottleneck.decoder.0", c, C);
            net_add_layer(net, L_RELU, "bottleneck.decoder.1");
        }
    }
    const int count = net->nlayers - start;
    if ((st = net_refinish(net)) != SEI_OK) return st;
    Rng rng;
    rng_seed(&rng, seed ^ 0xb0771e9ec4ull);
    for (int i = start; i < net->nlayers; i++) net_init_layer(net, &net->layers[i], &rng);
    net_move_layers(net, at, start);
    net->layers[at].cut = 0;
    for (int i = at + 1; i <= at + count; i++) {
        net->layers[i].cut = !strcmp(net->layers[i].path, "bottleneck.wire");
        if (net->layers[i].cut) info->wire = i;
    }
    info->first = at + 1;
    info->count = count;
    info->cut_values = cut_values;
    info->wire_values = wire_values;
    info->wire_bytes = wire_bytes(wire_values, cfg->wire);
    return SEI_OK;
}

int bottleneck_from_meta(const StFile *f, BottleneckCfg *cfg, int *size) {
    const char *at = st_meta(f, "bottleneck_at");
    if (!at) return 0;
    const char *kind = st_meta(f, "bottleneck"), *wire = st_meta(f, "wire");
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->at, sizeof cfg->at, "%s", at);
    int w = wire ? wire_parse(wire) : -1;
    if (!kind || (strcmp(kind, "ae") && strcmp(kind, "none")) || w < 0 ||
        st_meta_int(f, "ratio", 1, 1 << 20, &cfg->ratio) ||
        st_meta_int(f, "stride", 1, 64, &cfg->stride) ||
        st_meta_int(f, "size", 1, 1 << 16, size)) {
        sei_fail(SEI_ERR_FORMAT, "%s: incomplete bottleneck metadata (bottleneck, ratio, stride, wire, size)", f->path);
        return -1;
    }
    cfg->ae = !strcmp(kind, "ae");
    cfg->wire = (WireFormat)w;
    return 1;
}

int bottleneck_meta(const BottleneckCfg *cfg, const char **keys, const char **vals,
                    char bufs[2][16]) {
    snprintf(bufs[0], 16, "%d", cfg->ratio);
    snprintf(bufs[1], 16, "%d", cfg->stride);
    const char *k[5] = {"bottleneck", "bottleneck_at", "ratio", "stride", "wire"};
    const char *v[5] = {cfg->ae ? "ae" : "none", cfg->at, bufs[0], bufs[1], wire_name(cfg->wire)};
    for (int i = 0; i < 5; i++) keys[i] = k[i], vals[i] = v[i];
    return 5;
}

int bottleneck_parse(BottleneckCfg *cfg, const char *at, const char *kind, int ratio, int stride,
                     const char *wire) {
    memset(cfg, 0, sizeof *cfg);
    if (strcmp(kind, "ae") && strcmp(kind, "none")) {
        sei_fail(SEI_ERR_ARG, "--bottleneck: '%s' is not ae or none", kind);
        return -1;
    }
    int w = wire_parse(wire);
    if (w < 0) {
        sei_fail(SEI_ERR_ARG, "--wire: '%s' is not fp32, fp16 or int8", wire);
        return -1;
    }
    snprintf(cfg->at, sizeof cfg->at, "%s", at);
    cfg->ae = !strcmp(kind, "ae");
    cfg->ratio = ratio, cfg->stride = stride, cfg->wire = (WireFormat)w;
    return 0;
}

void bottleneck_mask_others(const Net *net, const BottleneckInfo *info, unsigned char *mask) {
    NetPart b = {info->first, info->first + info->count, 0, ""};
    part_mask(net, &b, mask);
    for (int i = 0; i < net->nparams; i++) mask[i] = !mask[i];
}
