/* vgg.c - VGG16 and VGG16-BN exactly as torchvision builds them (configuration "D"):
 * features = 13 conv3x3 (+BN) + ReLU with 5 max-pools, avgpool = AdaptiveAvgPool2d(7x7),
 * classifier = Linear-ReLU-Dropout-Linear-ReLU-Dropout-Linear. Module indices (and so the
 * state_dict names) follow torchvision: features.<i>, classifier.<i>. Channel widths are
 * scaled by net_width(); every ReLU / max-pool output in features, avgpool and the two
 * classifier ReLUs are cut points. */
#include <stdio.h>
#include "nets/net.h"

sei_status net_build_vgg16(Net *net, int bn) {
    static const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0,
                              512, 512, 512, 0, 512, 512, 512, 0};
    char path[SEI_NAME_LEN];
    int idx = 0, in = net->in_ch;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        if (!cfg[i]) {
            snprintf(path, sizeof path, "features.%d", idx++);
            Layer *l = net_add_layer(net, L_MAXPOOL, path);
            l->k = 2; l->stride = 2; l->pad = 0; l->cut = 1;
            continue;
        }
        int out = net_width(net->width_mult, cfg[i]);
        snprintf(path, sizeof path, "features.%d", idx++);
        layer_conv(net, net_add_layer(net, L_CONV, path), path, in, out, 3, 1, 1, 1);
        if (bn) {
            snprintf(path, sizeof path, "features.%d", idx++);
            layer_bn(net, net_add_layer(net, L_BN, path), path, out);
        }
        snprintf(path, sizeof path, "features.%d", idx++);
        net_add_layer(net, L_RELU, path)->cut = 1;
        in = out;
    }
    Layer *l = net_add_layer(net, L_ADAPTIVE_AVGPOOL, "avgpool");
    l->oh = l->ow = 7; l->cut = 1;
    net_add_layer(net, L_FLATTEN, "flatten");
    int hidden = net_width(net->width_mult, 4096);
    layer_linear(net, net_add_layer(net, L_LINEAR, "classifier.0"), "classifier.0", in * 49, hidden);
    net_add_layer(net, L_RELU, "classifier.1")->cut = 1;
    net_add_layer(net, L_DROPOUT, "classifier.2")->p = 0.5f;
    layer_linear(net, net_add_layer(net, L_LINEAR, "classifier.3"), "classifier.3", hidden, hidden);
    net_add_layer(net, L_RELU, "classifier.4")->cut = 1;
    net_add_layer(net, L_DROPOUT, "classifier.5")->p = 0.5f;
    layer_linear(net, net_add_layer(net, L_LINEAR, "classifier.6"), "classifier.6", hidden,
                 net->classes);
    net->linear_init_std = 0.01f;
    return SEI_OK;
}
