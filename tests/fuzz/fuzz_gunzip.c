/* fuzz_gunzip.c - the gzip / DEFLATE decoder (data/inflate.c) from memory. */
#include <stdlib.h>
#include "data/dataset.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(d, n) {
    uint8_t *out = NULL;
    size_t m = 0;
    if (gunzip(d, n, &out, &m) == SEI_OK) free(out);
    return 0;
}
