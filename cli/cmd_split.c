/* cmd_split.c - `sei split`: cut a network at a cut point into a device part (head) and a
 * server part (tail), each its own weights file (split/part.h). The checkpoint's other
 * metadata (normalisation, input size, data spec, class names) is copied into both, so
 * each part still knows how its inputs were prepared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/common.h"
#include "split/proto.h"

static Flag split_flags[] = {
    {"weights", "CKPT", "the whole network's weights or checkpoint", NULL, NULL, 0},
    NET_FLAGS,
    {"at", "CUT", "cut point (module path, see sei layers / sei importance)", NULL, NULL, 0},
    {"out-head", "H.safetensors", "device part: layers up to and including the cut", NULL, NULL, 0},
    {"out-tail", "T.safetensors", "server part: the layers after the cut", NULL, NULL, 0},
};

/* metadata keys that describe the network itself: part_save writes its own */
static int own_key(const char *k) {
    static const char *const own[] = {"format", "net", "classes", "in_ch", "width_mult", "part", "cut", "split_id"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (!strcmp(k, own[i])) return 1;
    return 0;
}

int cmd_split(int argc, char **argv) {
    Command c = {"split",
                 "Cut a network after a cut point into a device part (head) and a server part\n"
                 "(tail). `sei forward --weights H` writes the activation at the cut ('output');\n"
                 "`sei forward --weights T` on that file writes the logits of the whole network.",
                 "--weights CKPT --at CUT --out-head H.safetensors --out-tail T.safetensors",
                 split_flags, (int)(sizeof split_flags / sizeof split_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if ((rc = cli_setup(&c))) return rc;
    const char *wpath = args_str(&c, "weights"), *at = args_str(&c, "at");
    const char *hpath = args_str(&c, "out-head"), *tpath = args_str(&c, "out-tail");
    if (!wpath) return cli_error(c.cmd, "--weights is required");
    if (!at) return cli_error(c.cmd, "--at is required (a cut point; see sei layers)");
    if (!hpath || !tpath) return cli_error(c.cmd, "--out-head and --out-tail are required");
    if (!strcmp(hpath, tpath)) return cli_error(c.cmd, "--out-head and --out-tail are the same file");
    StFile w;
    Net net;
    if ((rc = cli_open_checkpoint(&c, wpath, &w, &net))) return rc;
    NetPart head, tail;
    const char **keys = malloc(((size_t)w.nmeta + 2) * sizeof *keys);
    const char **vals = malloc(((size_t)w.nmeta + 2) * sizeof *vals);
    int n = 0;
    if (!keys || !vals) { rc = cli_error(c.cmd, "out of memory"); goto out; }
    for (int i = 0; i < w.nmeta; i++)
        if (!own_key(w.meta_keys[i])) keys[n] = w.meta_keys[i], vals[n++] = w.meta_vals[i];
    /* both parts carry one id of the whole network and the cut: sei device and sei serve
     * refuse halves of different splits */
    uint64_t id = proto_fnv(PROTO_FNV_INIT, at, strlen(at));
    for (int i = 0; i < net.nparams; i++) {
        const Tensor *t = &net.params[i].v.t;
        id = proto_fnv(id, t->name, strlen(t->name));
        id = proto_fnv(id, t->data, tensor_numel(t) * sizeof(float));
    }
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%016llx", (unsigned long long)id);
    keys[n] = "split_id", vals[n++] = idbuf;
    if (part_cut(&net, at, &head, &tail) != SEI_OK ||
        part_save(&net, &head, hpath, n, keys, vals) != SEI_OK ||
        part_save(&net, &tail, tpath, n, keys, vals) != SEI_OK) {
        rc = cli_error(c.cmd, "%s", sei_last_error());
        goto out;
    }
    printf("%s cut after %s: device part layers 0..%d -> %s, server part layers %d..%d -> %s\n",
           net.name, at, head.to - 1, hpath, tail.from, tail.to - 1, tpath);
out:
    free(keys);
    free(vals);
    net_free(&net);
    st_close(&w);
    return rc;
}
