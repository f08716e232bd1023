/* common.h - pieces shared by the CLI commands: the network flags, opening a network from
 * flags and/or weight-file metadata, reading input tensors. */
#ifndef SEI_CLI_COMMON_H
#define SEI_CLI_COMMON_H
#include "cli/args.h"
#include "engine/safetensors.h"
#include "data/data.h"
#include "nets/net.h"
#include "sim/sim.h"
#include "split/part.h"

/* the flags every network command takes; spread into a command's Flag table */
#define NET_FLAGS                                                                        \
    {"net", "NAME", "network: vgg16, vgg16_bn, resnet50 (default: from the weights' metadata)", NULL, NULL, 0}, \
    {"classes", "K", "number of classes (default: from the weights' metadata)", NULL, NULL, 0}, \
    {"in-ch", "C", "input channels, e.g. 1 for grey images", "3", NULL, 0},                \
    {"width-mult", "F", "channel width multiplier", "1", NULL, 0},                         \
    {"threads", "T", "threads (0: all cores)", "0", NULL, 0},                              \
    {"ref", NULL, "use the naive reference kernels (slow; for checking)", NULL, NULL, 0}

/* the flags every command that reads a data set takes */
#define DATA_FLAGS                                                                       \
    {"data", "SPEC", "data: shapes[:N], fashion-mnist, idx:DIR, folder:DIR, tiny-imagenet:DIR", "shapes", NULL, 0}, \
    {"size", "S", "network input side in pixels (default: the data's own: shapes 32, idx 28, folders 64)", NULL, NULL, 0}, \
    {"resize", "R", "store images at R x R; crops of S x S are taken from them (default: S)", NULL, NULL, 0}, \
    {"limit", "N", "use at most N images of each split (a seeded sample)", NULL, NULL, 0}, \
    {"class-subset", "LIST", "keep only these classes, relabelled 0.. in the order given, e.g. 0,3,7", NULL, NULL, 0}, \
    {"val-split", "F", "share of the training images held out for validation (data without a val set)", "0.1", NULL, 0}, \
    {"data-seed", "S", "seed of the validation carving and --limit sampling", "0", NULL, 0}

/* Fill dc from the DATA_FLAGS, falling back to the metadata of a checkpoint (may be NULL)
 * where a flag is not given ("data", "size", "resize", "class_subset", "val_split",
 * "data_seed"). channels = in_ch. Returns 0 or an exit status (error printed). */
int cli_data_config(Command *c, DataConfig *dc, const StFile *meta, int in_ch);

/* parse "a" or "a,b,c" (stopping at '/' or the end) into v[3], a single value repeated;
 * returns the count given (1..3) or -1 */
int cli_floats3(const char *s, float v[3]);

/* the normalisation an evaluation uses: --normalize M/S when the command has the flag and
 * it is given, else the checkpoint's mean/std metadata, else none (0/1). Returns 0 or an
 * exit status (error printed). */
int cli_eval_normalize(Command *c, const StFile *meta, float mean[3], float std[3]);
/* the data an evaluation of net runs on: split `split` (train, val or test) of the data the
 * flags or the checkpoint's metadata name, each image scored on its own class, with the
 * normalisation (cli_eval_normalize) and input size set in bc (bc->batch is kept).
 * Returns 0 or an exit status (error printed; d needs ds_free either way). */
int cli_eval_data(Command *c, const Net *net, const StFile *w, const char *split, DataConfig *dc,
                  Dataset *d, BatchConfig *bc);

/* Apply --threads and --ref. Returns 0, or an exit status after printing an error. */
int cli_setup(Command *c);
/* Build the network from --net/--classes/--in-ch/--width-mult, falling back to the metadata
 * of `weights` (may be NULL) where a flag is not given, and load the weights if given.
 * Returns 0 or an exit status (error printed). */
int cli_open_net(Command *c, Net *net, const StFile *weights);
/* open the weights file at path into *w and build the whole network from it (cli_open_net);
 * on failure *w is closed and an exit status returned (error printed) */
int cli_open_checkpoint(Command *c, const char *path, StFile *w, Net *net);
/* the same for commands that also run a part of a split network (sei split's files): *part
 * is the layer range the weights hold (the whole network for ordinary weights) */
int cli_open_part(Command *c, Net *net, const StFile *weights, NetPart *part);
/* Read a float tensor `name` of rank `ndim` from f into a fresh allocation (caller frees
 * t->data with sei_free). Returns 0 or an exit status (error printed). */
int cli_read_tensor(Command *c, const StFile *f, const char *name, int ndim, Tensor *t);

/* the --device, --server and --link presets (sim/presets.c, plus --presets FILE) of a
 * command that has those four flags. Returns 0 or an exit status (error printed). */
int cli_presets(Command *c, SimNode *dev, SimNode *srv, SimLink *link);

#endif
