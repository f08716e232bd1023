/* resnet.c - ResNet-50 exactly as torchvision builds it (v1.5: the stride sits on the 3x3
 * conv2 of each Bottleneck): conv1 7x7/2, bn1, relu, maxpool 3x3/2, layer1..4 with 3,4,6,3
 * bottlenecks (expansion 4, downsample = conv1x1/stride + BN where the shape changes),
 * avgpool 1x1, fc. Cut points: relu, maxpool, every layerX.Y, avgpool. */
#include <stdio.h>
#include <stdlib.h>
#include "nets/net.h"

static void bottleneck(Net *net, const char *path, int inplanes, int planes, int stride) {
    Layer *l = net_add_layer(net, L_BOTTLENECK, path);
    int idx = (int)(l - net->layers), width = planes, out = planes * 4;
    int ds = stride != 1 || inplanes != out;
    Layer *sub = calloc(8, sizeof(Layer));
    if (!sub) { fprintf(stderr, "sei: out of memory\n"); exit(3); }
    char p[2 * SEI_NAME_LEN];
    /* params are appended in torchvision's state_dict order: conv1 bn1 conv2 bn2 conv3 bn3 ds */
    snprintf(p, sizeof p, "%s.conv1", path); layer_conv(net, &sub[0], p, inplanes, width, 1, 1, 0, 0);
    snprintf(p, sizeof p, "%s.bn1", path);   layer_bn(net, &sub[1], p, width);
    snprintf(p, sizeof p, "%s.conv2", path); layer_conv(net, &sub[2], p, width, width, 3, stride, 1, 0);
    snprintf(p, sizeof p, "%s.bn2", path);   layer_bn(net, &sub[3], p, width);
    snprintf(p, sizeof p, "%s.conv3", path); layer_conv(net, &sub[4], p, width, out, 1, 1, 0, 0);
    snprintf(p, sizeof p, "%s.bn3", path);   layer_bn(net, &sub[5], p, out);
    if (ds) {
        snprintf(p, sizeof p, "%s.downsample.0", path);
        layer_conv(net, &sub[6], p, inplanes, out, 1, stride, 0, 0);
        snprintf(p, sizeof p, "%s.downsample.1", path);
        layer_bn(net, &sub[7], p, out);
    }
    l = &net->layers[idx]; /* re-fetch: only params were added, but keep it obviously right */
    l->sub = sub;
    l->nsub = ds ? 8 : 6;
    l->in_c = inplanes;
    l->out_c = out;
    l->stride = stride;
    l->cut = 1;
}

sei_status net_build_resnet50(Net *net) {
    static const int blocks[4] = {3, 4, 6, 3};
    int c64 = net_width(net->width_mult, 64);
    layer_conv(net, net_add_layer(net, L_CONV, "conv1"), "conv1", net->in_ch, c64, 7, 2, 3, 0);
    layer_bn(net, net_add_layer(net, L_BN, "bn1"), "bn1", c64);
    net_add_layer(net, L_RELU, "relu")->cut = 1;
    Layer *mp = net_add_layer(net, L_MAXPOOL, "maxpool");
    mp->k = 3; mp->stride = 2; mp->pad = 1; mp->cut = 1;
    int inplanes = c64;
    for (int s = 0; s < 4; s++) {
        int planes = net_width(net->width_mult, 64 << s);
        for (int b = 0; b < blocks[s]; b++) {
            char path[SEI_NAME_LEN];
            snprintf(path, sizeof path, "layer%d.%d", s + 1, b);
            bottleneck(net, path, inplanes, planes, (b == 0 && s > 0) ? 2 : 1);
            inplanes = planes * 4;
        }
    }
    Layer *ap = net_add_layer(net, L_ADAPTIVE_AVGPOOL, "avgpool");
    ap->oh = ap->ow = 1; ap->cut = 1;
    net_add_layer(net, L_FLATTEN, "flatten");
    layer_linear(net, net_add_layer(net, L_LINEAR, "fc"), "fc", inplanes, net->classes);
    net->linear_init_std = 0;
    return SEI_OK;
}
