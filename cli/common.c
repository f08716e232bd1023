/* common.c - see common.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/common.h"
#include "engine/threads.h"
#include "nets/weights.h"
#include "split/bottleneck.h"
#include "split/exits.h"

int cli_setup(Command *c) {
    int threads = 0;
    if (args_int(c, "threads", 0, 1024, &threads)) return 2;
    sei_set_threads(threads);
    if (args_bool(c, "ref")) sei_kernels_ref = 1;
    return 0;
}

static const char *flag_or_meta(Command *c, const char *flag, const StFile *w, const char *key) {
    Flag *f = args_flag(c, flag);
    if (f && f->set) return f->val;
    const char *m = w ? st_meta(w, key) : NULL;
    return m ? m : (f ? f->val : NULL);
}

int cli_open_part(Command *c, Net *net, const StFile *weights, NetPart *part) {
    const char *name = flag_or_meta(c, "net", weights, "net");
    if (!name) return cli_error(c->cmd, "--net is required (the weights carry no network metadata); one of %s", net_names());
    /* route metadata values through the same validation as flags */
    Flag *fc = args_flag(c, "classes"), *fi = args_flag(c, "in-ch"), *fw = args_flag(c, "width-mult");
    fc->val = flag_or_meta(c, "classes", weights, "classes");
    fi->val = flag_or_meta(c, "in-ch", weights, "in_ch");
    fw->val = flag_or_meta(c, "width-mult", weights, "width_mult");
    if (!fc->val) return cli_error(c->cmd, "--classes is required (the weights carry no class count)");
    int classes = 0, in_ch = 3;
    float wm = 1;
    if (args_int(c, "classes", 1, 1000000, &classes) || args_int(c, "in-ch", 1, 4096, &in_ch) ||
        args_float(c, "width-mult", 1e-3, 16, &wm))
        return 2;
    if (net_create(net, name, classes, in_ch, wm) != SEI_OK)
        return cli_error(c->cmd, "%s", sei_last_error());
    *part = part_whole(net);
    /* a network retrained with a bottleneck at its cut: the same layers again */
    BottleneckCfg bc;
    BottleneckInfo bi;
    int size = 0, hb = weights ? bottleneck_from_meta(weights, &bc, &size) : 0;
    if (hb < 0 || (hb > 0 && bottleneck_insert(net, &bc, size, 0, &bi) != SEI_OK)) {
        net_free(net);
        return cli_error(c->cmd, "%s", sei_last_error());
    }
    /* and its early exits */
    ExitCfg ec;
    int he = weights ? exits_from_meta(weights, &ec) : 0;
    if (he > 0 && !size) {
        const char *sz = st_meta(weights, "size");
        size = sz ? atoi(sz) : 0;
        if (size < 1) {
            net_free(net);
            return cli_error(c->cmd, "%s: exits but no input size in the metadata", weights->path);
        }
    }
    if (he < 0 || (he > 0 && exits_insert(net, &ec, 0, size, 0) != SEI_OK)) {
        net_free(net);
        return cli_error(c->cmd, "%s", sei_last_error());
    }
    if (weights && (part_of_file(net, weights, part) != SEI_OK || part_load(net, weights, part) != SEI_OK)) {
        net_free(net);
        return cli_error(c->cmd, "%s", sei_last_error());
    }
    return 0;
}

int cli_open_net(Command *c, Net *net, const StFile *weights) {
    NetPart part;
    int rc = cli_open_part(c, net, weights, &part);
    if (!rc && part.head >= 0) {
        rc = cli_error(c->cmd, "%s is the %s part of %s cut at %s; this command needs the whole network",
                       weights->path, part.head ? "device (head)" : "server (tail)", net->name, part.cut);
        net_free(net);
    }
    return rc;
}

int cli_read_tensor(Command *c, const StFile *f, const char *name, int ndim, Tensor *t) {
    const StEntry *e = st_find(f, name);
    if (!e) return cli_error(c->cmd, "%s: no tensor '%s'", f->path, name);
    if (e->ndim != ndim)
        return cli_error(c->cmd, "%s: tensor '%s' has %d dimensions, expected %d", f->path,
                         name, e->ndim, ndim);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        if (e->shape[i] < 1 || e->shape[i] > (1 << 30))
            return cli_error(c->cmd, "%s: tensor '%s' has an empty or huge dimension", f->path, name);
        t->shape[i] = (int)e->shape[i];
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    t->data = sei_alloc(tensor_numel(t) * sizeof(float));
    if (!t->data) return cli_error(c->cmd, "%s", sei_last_error());
    if (st_read_f32(f, e, t->data, tensor_numel(t)) != SEI_OK) {
        sei_free(t->data);
        t->data = NULL;
        return cli_error(c->cmd, "%s", sei_last_error());
    }
    return 0;
}

int cli_data_config(Command *c, DataConfig *dc, const StFile *meta, int in_ch) {
    data_config_default(dc);
    static const char *const keys[][2] = {{"data", "data"}, {"size", "size"}, {"resize", "resize"},
                                          {"class-subset", "class_subset"}, {"val-split", "val_split"},
                                          {"data-seed", "data_seed"}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        Flag *f = args_flag(c, keys[i][0]);
        if (f) f->val = flag_or_meta(c, keys[i][0], meta, keys[i][1]);
    }
    dc->spec = args_str(c, "data");
    int seed = 0;
    if (args_int(c, "size", 0, 4096, &dc->size) || args_int(c, "resize", 0, 4096, &dc->resize) ||
        args_int(c, "limit", 0, 1 << 30, &dc->limit) || args_float(c, "val-split", 0, 0.99, &dc->val_split) ||
        args_int(c, "data-seed", 0, 1 << 30, &seed))
        return 2;
    dc->seed = (uint64_t)seed;
    dc->channels = in_ch;
    const char *sub = args_str(c, "class-subset");
    if (sub && *sub && data_parse_subset(dc, sub) != SEI_OK) return cli_error(c->cmd, "%s", sei_last_error());
    if (dc->resize && dc->size && dc->resize < dc->size)
        return cli_error(c->cmd, "--resize %d is smaller than --size %d", dc->resize, dc->size);
    return 0;
}

int cli_floats3(const char *s, float v[3]) {
    int n = 0;
    while (n < 3) {
        char *end;
        v[n++] = strtof(s, &end);
        if (end == s) return -1;
        if (*end == ',') s = end + 1;
        else if (*end == 0 || *end == '/') break;
        else return -1;
    }
    for (int k = n; k < 3; k++) v[k] = v[0];
    return n;
}

int cli_eval_normalize(Command *c, const StFile *meta, float mean[3], float std[3]) {
    for (int k = 0; k < 3; k++) mean[k] = 0, std[k] = 1;
    Flag *f = args_flag(c, "normalize");
    const char *norm = f && f->set ? f->val : NULL;
    const char *m = meta ? st_meta(meta, "mean") : NULL, *s = meta ? st_meta(meta, "std") : NULL;
    if (norm) {
        const char *slash = strchr(norm, '/');
        if (!slash || cli_floats3(norm, mean) < 1 || cli_floats3(slash + 1, std) < 1)
            return cli_error(c->cmd, "--normalize: '%s' is not M1[,M2,M3]/S1[,S2,S3]", norm);
    } else if (m && s && (cli_floats3(m, mean) < 1 || cli_floats3(s, std) < 1)) {
        return cli_error(c->cmd, "%s: bad mean/std metadata", meta->path);
    }
    return 0;
}

int cli_eval_data(Command *c, const Net *net, const StFile *w, const char *split, DataConfig *dc,
                  Dataset *d, BatchConfig *bc) {
    if (strcmp(split, "train") && strcmp(split, "val") && strcmp(split, "test"))
        return cli_error(c->cmd, "--split: '%s' is not train, val or test", split);
    int rc = cli_eval_normalize(c, w, bc->mean, bc->std);
    if (!rc) rc = cli_data_config(c, dc, w, net->in_ch);
    if (rc) return rc;
    data_subset_for_net(dc, net->classes); /* score each image on its own class */
    if (data_load(d, dc, split) != SEI_OK) return cli_error(c->cmd, "%s", sei_last_error());
    int nsize, nch;
    data_native(dc->spec, &nsize, &nch);
    bc->size = dc->size ? dc->size : nsize;
    if (d->nclasses > net->classes)
        return cli_error(c->cmd, "the data has %d classes, the network only %d", d->nclasses, net->classes);
    return 0;
}

int cli_presets(Command *c, SimNode *dev, SimNode *srv, SimLink *link) {
    SimCatalogue cat;
    if (sim_catalogue_load(&cat, args_str(c, "presets")) != SEI_OK) {
        const int rc = cli_error(c->cmd, "%s", sei_last_error());
        sim_catalogue_free(&cat);
        return rc;
    }
    const SimNode *d = sim_find_node(&cat, args_str(c, "device")), *s = sim_find_node(&cat, args_str(c, "server"));
    const SimLink *l = sim_find_link(&cat, args_str(c, "link"));
    const char *miss = !d ? args_str(c, "device") : !s ? args_str(c, "server") : !l ? args_str(c, "link") : NULL;
    if (!miss) *dev = *d, *srv = *s, *link = *l;
    sim_catalogue_free(&cat);
    return miss ? cli_error(c->cmd, "no preset '%s' (see sei sim --list-presets)", miss) : 0;
}

int cli_open_checkpoint(Command *c, const char *path, StFile *w, Net *net) {
    if (st_open(w, path) != SEI_OK) return cli_error(c->cmd, "%s", sei_last_error());
    const int rc = cli_open_net(c, net, w);
    if (rc) st_close(w);
    return rc;
}
