/* data.h - what commands use: a --data SPEC opened into train / val / test splits, and the
 * batcher that turns a split into normalised float batches (with augmentation) on a
 * background thread while the network computes.
 *
 * Splits: "train", "val", "test". A source with its own validation set (a folder with
 * train/ val/ test/ sub-folders, shapes) uses it; otherwise val is carved from train
 * (the last val_split share of a seeded permutation, the same every run). A plain folder of
 * class folders (no train/test) is split 80/10/10 the same way. Class subset (keep and
 * relabel) and limit apply after that, so a split never leaks into another. */
#ifndef SEI_DATA_H
#define SEI_DATA_H
#include <pthread.h>
#include "data/dataset.h"

#define DATA_MAX_SUBSET 1000

typedef struct {
    const char *spec;     /* shapes[:N] | fashion-mnist | idx:DIR | folder:DIR | tiny-imagenet:DIR */
    int size;             /* network input side; 0: the source's own (shapes 32, idx 28, folders 64) */
    int resize;           /* stored side (random crops are taken from it); 0: = size */
    int channels;         /* 1 or 3: stored channels (the network's in_ch); 0: the source's */
    int limit;            /* at most this many images per split (0: all) */
    int subset[DATA_MAX_SUBSET], nsubset; /* class subset in the order given, relabelled 0.. */
    int keep_labels;      /* with a subset: keep the original class ids (for a network with
                           * every class; see data_subset_for_net) */
    float val_split;      /* share of train carved out as val where the source has none */
    uint64_t seed;
} DataConfig;

/* defaults: size 0, channels 0, val_split 0.1, seed 0 */
void data_config_default(DataConfig *c);
/* parse "0,3,7" into c->subset (error on junk, duplicates, negatives) */
sei_status data_parse_subset(DataConfig *c, const char *list);
/* a network with more classes than the subset predicts among all of them: keep the images'
 * original class ids instead of relabelling 0.. (keep_labels) */
void data_subset_for_net(DataConfig *c, int net_classes);
/* load one split; d is initialised here. Errors are one line naming the problem. */
sei_status data_load(Dataset *d, const DataConfig *c, const char *split);
/* the source's native input side and channels for a spec (0 when unknown before loading) */
void data_native(const char *spec, int *size, int *channels);
/* per-channel mean and standard deviation of the pixels (in [0,1]) of d */
void ds_channel_stats(const Dataset *d, float mean[3], float std[3]);

typedef struct {
    int batch;            /* images per batch */
    int size;             /* output side: centre crop or random crop from the stored side */
    int random_crop;      /* 1: random crop (after zero padding by pad), 0: centre crop */
    int pad;              /* zero padding on each side before a random crop */
    int flip;             /* random horizontal flip */
    int shuffle;          /* a new seeded permutation every epoch */
    int drop_last;        /* drop a last partial batch (training: BN wants >= 2 images) */
    float mean[3], std[3];/* out = (pixel/255 - mean) / std per channel */
    uint64_t seed;
} BatchConfig;

typedef struct {
    const Dataset *d;
    BatchConfig c;
    int *order;           /* this epoch's permutation */
    int epoch, nbatches, next; /* batches in the epoch, next batch index to hand out */
    /* double buffer filled by the worker thread */
    float *x[2];
    int32_t *y[2];
    int count[2];         /* images in each buffer, -1 while not ready */
    int want;             /* batch index the worker prepares next, -1: idle */
    int stop;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started;
} Batcher;

sei_status batcher_init(Batcher *b, const Dataset *d, const BatchConfig *c);
void batcher_free(Batcher *b);
/* start epoch e (permutation from seed and e); returns the number of batches */
int batcher_epoch(Batcher *b, int epoch);
/* the next batch: *x points to [n, C, size, size] floats and *y to n labels, valid until the
 * next call; returns n, or 0 at the end of the epoch */
int batcher_next(Batcher *b, const float **x, const int32_t **y);
/* prepare batch k of the current epoch directly into x / y (no thread); returns n */
int batcher_fill(const Batcher *b, int k, float *x, int32_t *y);

#endif
