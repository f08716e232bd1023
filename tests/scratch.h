/* scratch.h - a scratch folder for tests that write files: g_dir (made by the test's main
 * with mkdtemp), tpath() for paths inside it (parent folders created), write_bytes(). */
#ifndef SEI_TEST_SCRATCH_H
#define SEI_TEST_SCRATCH_H
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char g_dir[64];

/* "g_dir/rel" in one of 4 rotating buffers (a test can hold a few at once); makes the
 * parent folders of rel */
static inline const char *tpath(const char *rel) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, rel);
    for (char *p = buf[k] + strlen(g_dir) + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        mkdir(buf[k], 0755);
        *p = '/';
    }
    return buf[k];
}

static inline void write_bytes(const char *p, const void *b, size_t n) {
    FILE *fp = fopen(p, "wb");
    if (!fp) return;
    if (n) fwrite(b, 1, n, fp);
    fclose(fp);
}

#endif
