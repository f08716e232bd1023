/* fuzz_idx.c - IDX images + labels, plain or gzip (data/idx.c, data/inflate.c): the input's
 * first byte says where it is cut into the images file and the labels file. */
#include "data/dataset.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(d, n) {
    if (n < 1) return 0;
    const size_t cut = 1 + (n - 1) * d[0] / 256;
    const char *img = fuzz_file(d[0] & 1 ? ".gz" : ".idx", d + 1, cut - 1);
    const char *lab = fuzz_file(".idx", d + cut, n - cut);
    Dataset ds = {0};
    if (idx_load(&ds, img, lab, 1000) == SEI_OK) ds_free(&ds);
    else ds_free(&ds);
    return 0;
}
