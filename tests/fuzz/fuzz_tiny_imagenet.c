/* fuzz_tiny_imagenet.c - Tiny-ImageNet's wnids.txt, words.txt and val_annotations.txt
 * (data/folder.c): the input is cut into the three files at its first two 0xff bytes. */
#include <stdlib.h>
#include <sys/stat.h>
#include "data/dataset.h"
#include "tests/fuzz/fuzz.h"

static void put(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n) fwrite(d, 1, n, f);
    fclose(f);
}

FUZZ_TARGET(d, n) {
    char dir[128], p[256];
    snprintf(dir, sizeof dir, "/tmp/sei_fuzz_tin_%d", (int)getpid());
    mkdir(dir, 0777);
    snprintf(p, sizeof p, "%s/val", dir);
    mkdir(p, 0777);
    fuzz_track(6, p); /* removed after the files in it (slots in order), then the folder */
    fuzz_track(7, dir);
    size_t a = 0, b;
    while (a < n && d[a] != 0xff) a++;
    b = a + (a < n);
    while (b < n && d[b] != 0xff) b++;
    snprintf(p, sizeof p, "%s/wnids.txt", dir);
    fuzz_track(2, p);
    put(p, d, a);
    snprintf(p, sizeof p, "%s/words.txt", dir);
    fuzz_track(3, p);
    put(p, d + (a < n ? a + 1 : n), b > a + 1 ? b - a - 1 : 0);
    snprintf(p, sizeof p, "%s/val/val_annotations.txt", dir);
    fuzz_track(4, p);
    put(p, d + (b < n ? b + 1 : n), b < n ? n - b - 1 : 0);
    Dataset ds = {0};
    for (int train = 0; train < 2; train++) {
        tiny_imagenet_load(&ds, dir, train, 50);
        ds_free(&ds);
        memset(&ds, 0, sizeof ds);
    }
    return 0;
}
