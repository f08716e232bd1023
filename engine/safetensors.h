/* safetensors.h - read and write the safetensors format (what PyTorch's state_dict export and
 * the `safetensors` package produce):
 *
 *   [u64 little-endian N][N bytes of JSON header][data]
 *   header: {"__metadata__": {"key": "value", ...},
 *            "name": {"dtype": "F32", "shape": [2,3], "data_offsets": [begin, end]}, ...}
 *   offsets are relative to the start of the data section.
 *
 * Reading validates everything before use: header length within the file, JSON syntax,
 * known dtype, offsets inside the data section and equal to numel * dtype size, no
 * overlapping tensors, no duplicate names. Errors name the file and the tensor.
 * Writing goes to PATH.tmp, fsyncs, then renames over PATH (a crash never leaves a broken
 * file). Tensors are written in the order added; metadata values are strings. */
#ifndef SEI_SAFETENSORS_H
#define SEI_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include "engine/error.h"
#include "engine/tensor.h"

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL } StDtype;

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t offset, nbytes;   /* within the data section */
} StEntry;

typedef struct {
    char *path;
    StEntry *entries;
    int n;
    char **meta_keys, **meta_vals;
    int nmeta;
    unsigned char *data;     /* the data section (file read into memory) */
    size_t data_size;
    void *mem_;              /* whole file buffer */
    size_t mem_size_;
} StFile;

const char *st_dtype_name(StDtype d);
size_t st_dtype_size(StDtype d);

sei_status st_open(StFile *f, const char *path);
void st_close(StFile *f);
const StEntry *st_find(const StFile *f, const char *name);          /* NULL if absent */
const char *st_meta(const StFile *f, const char *key);              /* NULL if absent */
/* metadata value `key` as an integer in [lo, hi]: 0 and *out set, or -1 if absent or not one */
int st_meta_int(const StFile *f, const char *key, int lo, int hi, int *out);
size_t st_numel(const StEntry *e);
/* convert any numeric dtype to float32 / int64 into dst (n must equal numel) */
sei_status st_read_f32(const StFile *f, const StEntry *e, float *dst, size_t n);
sei_status st_read_i64(const StFile *f, const StEntry *e, int64_t *dst, size_t n);
/* load tensor `name` into t (t->data must hold numel floats); checks that its shape equals
 * t's shape (ndim and sizes), error naming the tensor otherwise. Missing -> SEI_ERR_MISSING */
sei_status st_load_tensor(const StFile *f, const char *name, Tensor *t);

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;        /* caller keeps it alive until st_write */
    size_t nbytes;
} StWEntry;

typedef struct {
    StWEntry *entries;
    int n, cap;
    char **meta_keys, **meta_vals;
    int nmeta, meta_cap;
    void **owned;            /* buffers of st_add_owned, freed by st_writer_free */
    int nowned, capowned;
} StWriter;

void st_writer_init(StWriter *w);
/* data is in the given dtype (e.g. float* for ST_F32, int64_t* for ST_I64); copies name only */
sei_status st_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape,
                  const void *data);
sei_status st_add_tensor(StWriter *w, const Tensor *t);   /* F32, name = t->name */
/* st_add of a malloc'ed buffer the writer frees (also when adding fails; NULL data: an
 * out-of-memory error) */
sei_status st_add_owned(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape,
                        void *data);
sei_status st_add_meta(StWriter *w, const char *key, const char *value);
sei_status st_write(const StWriter *w, const char *path);  /* atomic: tmp + fsync + rename */
void st_writer_free(StWriter *w);

#endif
