/* cmd_layers.c - `sei layers`: the cut points of a network with their output shape, the
 * bytes crossing the cut (fp32, per image), and cumulative multiply-adds and parameters. */
#include <stdio.h>
#include <stdlib.h>
#include "cli/common.h"

static Flag layer_flags[] = {
    NET_FLAGS,
    {"size", "H", "input height = width", "224", NULL, 0},
    {"all", NULL, "list every layer, not only the cut points", NULL, NULL, 0},
};

int cmd_layers(int argc, char **argv) {
    Command c = {"layers", "List the cut points of a network: output shape, bytes at the cut (fp32, per\n"
                           "image), cumulative multiply-adds and parameters on the device side.",
                 "--net NAME [--classes K] [--in-ch C] [--size H] [--width-mult F]", layer_flags,
                 (int)(sizeof layer_flags / sizeof layer_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if ((rc = cli_setup(&c))) return rc;
    if (!args_str(&c, "net")) return cli_error(c.cmd, "--net is required (one of %s)", net_names());
    if (!args_flag(&c, "classes")->set) args_flag(&c, "classes")->val = "1000";
    int size = 224;
    if (args_int(&c, "size", 1, 1 << 16, &size)) return 2;
    Net net;
    if ((rc = cli_open_net(&c, &net, NULL))) return rc;
    LayerInfo *info = calloc((size_t)net.nlayers, sizeof *info);
    if (!info) { net_free(&net); return cli_error(c.cmd, "out of memory"); }
    if (net_shapes(&net, 1, net.in_ch, size, size, info) != SEI_OK) {
        rc = cli_error(c.cmd, "%s at %dx%d: %s", net.name, size, size, sei_last_error());
        goto done;
    }
    int all = args_bool(&c, "all"), ncut = 0;
    for (int i = 0; i < net.nlayers; i++) ncut += net.layers[i].cut;
    printf("%s, %d classes, %d input channels, %dx%d, width %g: %d cut points\n", net.name,
           net.classes, net.in_ch, size, size, net.width_mult, ncut);
    printf("%-4s %-16s %-18s %14s %14s %14s\n", "#", "cut point", "output shape", "bytes (fp32)",
           "cum. MACs", "cum. params");
    for (int i = 0; i < net.nlayers; i++) {
        if (!net.layers[i].cut && !all) continue;
        const LayerInfo *li = &info[i];
        char shape[64];
        Tensor t;
        tensor_set_shape(&t, li->ndim - 1, li->shape + 1);
        tensor_shape_str(&t, shape, sizeof shape);
        double bytes = 4.0;
        for (int d = 1; d < li->ndim; d++) bytes *= li->shape[d];
        printf("%-4d %-16s %-18s %14.0f %14.0f %14.0f%s\n", i, net.layers[i].path, shape, bytes,
               li->macs, li->params, net.layers[i].cut ? "" : "  (not a cut point)");
    }
    const LayerInfo *last = &info[net.nlayers - 1];
    printf("whole network: %.0f multiply-adds, %.0f parameters, output [%d]\n", last->macs,
           last->params, last->shape[1]);
done:
    free(info);
    net_free(&net);
    return rc;
}
