/* zoo.c - net_create: networks by name. */
#include <stdio.h>
#include <string.h>
#include "nets/net.h"

sei_status net_build_vgg16(Net *net, int bn);
sei_status net_build_resnet50(Net *net);

const char *net_names(void) { return "vgg16, vgg16_bn, resnet50"; }

sei_status net_create(Net *net, const char *name, int classes, int in_ch, float width_mult) {
    memset(net, 0, sizeof *net);
    if (classes < 1 || classes > 1000000)
        return sei_fail(SEI_ERR_ARG, "number of classes must be in [1, 1000000], got %d", classes);
    if (in_ch < 1 || in_ch > 4096)
        return sei_fail(SEI_ERR_ARG, "input channels must be in [1, 4096], got %d", in_ch);
    if (!(width_mult > 0.0f && width_mult <= 16.0f))
        return sei_fail(SEI_ERR_ARG, "width multiplier must be in (0, 16], got %g", width_mult);
    snprintf(net->name, sizeof net->name, "%s", name);
    net->classes = classes;
    net->in_ch = in_ch;
    net->width_mult = width_mult;
    sei_status s;
    if (strcmp(name, "vgg16") == 0) s = net_build_vgg16(net, 0);
    else if (strcmp(name, "vgg16_bn") == 0) s = net_build_vgg16(net, 1);
    else if (strcmp(name, "resnet50") == 0) s = net_build_resnet50(net);
    else return sei_fail(SEI_ERR_ARG, "unknown network '%s' (known: %s)", name, net_names());
    if (s == SEI_OK) s = net_finish(net);
    if (s != SEI_OK) net_free(net);
    return s;
}
