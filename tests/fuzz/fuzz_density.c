/* fuzz_density.c - the per-layer density file of sei train --density-file
 * (nets/sparsity.c sparse_read_density_file), then applied to a network (net_sparsify). */
#include "nets/sparsity.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(d, n) {
    SparseSpec spec = {1.0, SPARSE_CHANNEL, NULL, 0, NULL, NULL};
    if (sparse_read_density_file(&spec, fuzz_file(".density", d, n)) == SEI_OK) {
        Net net;  /* a fresh one: sparsifying changes it */
        if (net_create(&net, "vgg16_bn", 10, 1, 0.0625f) != SEI_OK) abort();
        (void)net_sparsify(&net, &spec, 1);
        net_free(&net);
    }
    sparse_spec_free(&spec);
    return 0;
}
