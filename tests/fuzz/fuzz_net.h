/* fuzz_net.h - the network the fuzz targets of network-bound text files (partition map,
 * profile CSV, density file) read against: a width-1/16 VGG16-BN for 1-channel 10-class
 * input, built once per process. */
#ifndef SEI_FUZZ_NET_H
#define SEI_FUZZ_NET_H
#include "nets/net.h"

static inline const Net *fuzz_net(void) {
    static Net net;
    static int built;
    if (!built) {
        if (net_create(&net, "vgg16_bn", 10, 1, 0.0625f) != SEI_OK) abort();
        built = 1;
    }
    return &net;
}
#endif
