/* fuzz_image.c - image decoding through sei's wrapper (data/image.c: stb_image when built
 * with it, and the formats sei reads itself). */
#include <stdlib.h>
#include "data/dataset.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(d, n) {
    uint8_t *pix = NULL;
    int w, h, c;
    if (image_decode_file(fuzz_file(".img", d, n), &pix, &w, &h, &c) == SEI_OK) free(pix);
    return 0;
}
