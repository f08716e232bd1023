/* fuzz.h - shared by the fuzz targets (tests/fuzz/fuzz_*.c, `make fuzz`): each defines
 * FUZZ_TARGET(data, size), built either as a libFuzzer target (clang -fsanitize=fuzzer) or,
 * with FUZZ_DRIVER, as a program that runs it on every file named on its command line
 * (make test replays tests/fuzz/regress/ and the seed corpora that way). */
#ifndef SEI_FUZZ_H
#define SEI_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fuzz_one(const uint8_t *data, size_t size);
#define FUZZ_TARGET(d, n) int fuzz_one(const uint8_t *d, size_t n)

/* the temporary files of this process, removed at exit */
static char fuzz_paths[8][256];
static void fuzz_cleanup(void) {
    for (int i = 0; i < 8; i++)
        if (fuzz_paths[i][0]) remove(fuzz_paths[i]);
}
/* remember path for removal at exit (slot i of 8) */
static inline void fuzz_track(int i, const char *path) {
    static int registered;
    if (!registered) atexit(fuzz_cleanup), registered = 1;
    if (fuzz_paths[i][0] && strcmp(fuzz_paths[i], path)) remove(fuzz_paths[i]);
    snprintf(fuzz_paths[i], sizeof fuzz_paths[i], "%s", path);
}

/* data written to a file of this process (for parsers that take a path); its path */
static inline const char *fuzz_file(const char *suffix, const uint8_t *d, size_t n) {
    static char path[2][256];
    static int k;
    k ^= 1;
    static const char *dir;  /* memory-backed when there is one: thousands of files a second */
    if (!dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path[k], sizeof path[k], "%s/sei_fuzz_%d_%d%s", dir, (int)getpid(), k, suffix);
    fuzz_track(k, path[k]);
    FILE *f = fopen(path[k], "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    fclose(f);
    return path[k];
}

#ifdef FUZZ_DRIVER
int main(int argc, char **argv) {
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) { fprintf(stderr, "%s: cannot open\n", argv[i]); bad = 1; continue; }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *b = malloc((size_t)n + 1);
        if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "%s: cannot read\n", argv[i]); bad = 1; }
        else fuzz_one(b, (size_t)n);
        free(b);
        fclose(f);
    }
    return bad;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return fuzz_one(d, n), 0; }
#endif
#endif
