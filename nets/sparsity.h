/* sparsity.h - predefined sparsity: which weights of a layer exist is fixed before training,
 * from a seed, and never changes (the optimizer keeps the others exactly zero).
 *
 * A pattern keeps, in every row (output channel / output feature), exactly per_row entries
 * of its cols columns, listed in index[row * per_row ...] in ascending order:
 *   SPARSE_CHANNEL    conv: columns are input channels; whole k x k kernels are kept. The
 *                     pattern is a block diagonal under a seeded random permutation of the
 *                     input channels: G = 1/density groups, output channel o in group
 *                     o / (OC/G) sees the C/G input channels of its group. Fan-in C/G and
 *                     fan-out OC/G are exactly regular, and the layer runs as G small
 *                     convolutions of permuted channels (kernels/sparse.c).
 *   SPARSE_WEIGHT     conv: columns are the C*k*k weights of an output channel (unstructured).
 *   SPARSE_BIREGULAR  linear: columns are input features.
 * For WEIGHT and BIREGULAR the pattern is random bi-regular: every row keeps exactly per_row
 * columns and every column is kept by floor or ceil(rows * per_row / cols) rows (exactly
 * rows * per_row / cols when that divides), built from concatenated random permutations of
 * the columns. Deterministic for a seed on every platform (engine/rng). */
#ifndef SEI_SPARSITY_H
#define SEI_SPARSITY_H
#include <stdint.h>
#include "engine/rng.h"
#include "kernels/ops.h"
#include "nets/net.h"

typedef enum { SPARSE_NONE, SPARSE_CHANNEL, SPARSE_WEIGHT, SPARSE_BIREGULAR } SparseKind;

typedef struct SparsePattern {
    SparseKind kind;
    int rows, cols, per_row;
    int ksize;          /* values per kept entry: k*k for SPARSE_CHANNEL, else 1 */
    int groups;         /* SPARSE_CHANNEL: G */
    int32_t *index;     /* [rows * per_row] */
    SparseIndex kidx;   /* the kernels' view of it (kernels/ops.h), set by net_set_pattern */
} SparsePattern;

const char *sparse_kind_name(SparseKind k);   /* "channel", "weight", "biregular" */
int sparse_kind_parse(const char *s);          /* the inverse; -1 if unknown */

/* a pattern for weight [rows, cols * ksize] at the given density (kept share of entries,
 * rounded to whole entries per row, at least 1); errors name the layer */
sei_status sparse_make(SparsePattern *sp, SparseKind kind, int rows, int cols, int ksize,
                       double density, Rng *rng, const char *what);
void sparse_free(SparsePattern *sp);
/* nonzeros the pattern keeps: rows * per_row * ksize */
size_t sparse_nnz(const SparsePattern *sp);
/* bytes a parameter takes in a weight file: values, plus the pattern's index (I16 when the
 * columns fit, else I32) for a sparse one; I64 for integer buffers */
double param_stored_bytes(const Param *p);
/* mask [rows * cols * ksize]: 1 where kept */
void sparse_fill_mask(const SparsePattern *sp, float *mask);

/* Which layers become sparse and how. Layers are conv and linear layers; the network's first
 * conv, the last linear and early-exit branches stay dense unless named in the list. Layers after `until` (a cut
 * point path; NULL: none) stay dense: the device part only. */
typedef struct {
    double density;             /* default for every eligible layer; 1: dense */
    SparseKind conv_kind;       /* SPARSE_CHANNEL or SPARSE_WEIGHT */
    const char *until;
    int nlist;                  /* per-layer overrides (a density file) */
    char (*list_path)[SEI_NAME_LEN];
    double *list_density;
} SparseSpec;

/* parse a density file: lines "layer_path density" ('#' comments, blank lines) */
sei_status sparse_read_density_file(SparseSpec *spec, const char *path);
void sparse_spec_free(SparseSpec *spec);
/* give the network's layers their patterns (seeded) and zero the dropped weights */
sei_status net_sparsify(Net *net, const SparseSpec *spec, uint64_t seed);
/* attach a pattern to parameter idx (takes ownership): mask built, dropped weights zeroed */
sei_status net_set_pattern(Net *net, int idx, SparsePattern *sp);

#endif
