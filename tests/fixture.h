/* fixture.h - reading the PyTorch fixtures (tests/fixtures, see its README.md) in the C
 * tests: open <tag>.<kind>.safetensors, build the network its metadata names and load it,
 * read the input batch and labels of a ref file. Include after tests/harness.h (failures
 * are reported with EXPECT). SEI_FIXTURES overrides the folder. */
#ifndef SEI_TESTS_FIXTURE_H
#define SEI_TESTS_FIXTURE_H
#include <stdlib.h>
#include <string.h>
#include "engine/safetensors.h"
#include "nets/weights.h"

static inline const char *fixture_dir(void) {
    const char *d = getenv("SEI_FIXTURES");
    return d ? d : "tests/fixtures";
}

static inline int open_fixture(StFile *f, const char *tag, const char *kind) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.%s.safetensors", fixture_dir(), tag, kind);
    if (st_open(f, path) != SEI_OK) {
        EXPECT(0, "%s", sei_last_error());
        return 0;
    }
    return 1;
}

static inline float *read_all(const StFile *f, const char *name, size_t *n) {
    const StEntry *e = st_find(f, name);
    if (!e) return NULL;
    *n = st_numel(e);
    float *d = malloc((*n ? *n : 1) * sizeof(float));
    if (st_read_f32(f, e, d, *n) != SEI_OK) { free(d); return NULL; }
    return d;
}

static inline double meta_num(const StFile *f, const char *key, double def) {
    const char *v = st_meta(f, key);
    return v ? atof(v) : def;
}

static inline int open_net(Net *net, const StFile *w) {
    if (net_create(net, st_meta(w, "net"), atoi(st_meta(w, "classes")), atoi(st_meta(w, "in_ch")),
                   (float)atof(st_meta(w, "width_mult"))) != SEI_OK ||
        net_load_weights_from(net, w) != SEI_OK) {
        EXPECT(0, "%s", sei_last_error());
        return 0;
    }
    return 1;
}

/* the input batch and labels of a ref file */
static inline Tensor read_input(const StFile *ref, int32_t **labels) {
    size_t n = 0;
    const StEntry *e = st_find(ref, "input");
    Tensor x;
    memset(&x, 0, sizeof x);
    x.ndim = 4;
    for (int i = 0; i < 4; i++) x.shape[i] = (int)e->shape[i];
    x.data = read_all(ref, "input", &n);
    const StEntry *le = st_find(ref, "labels");
    int64_t *l64 = malloc(sizeof(int64_t) * (size_t)x.shape[0]);
    st_read_i64(ref, le, l64, (size_t)x.shape[0]);
    *labels = malloc(sizeof(int32_t) * (size_t)x.shape[0]);
    for (int i = 0; i < x.shape[0]; i++) (*labels)[i] = (int32_t)l64[i];
    free(l64);
    return x;
}

#endif
