/* common.h - pieces shared by the CLI commands: the network flags, opening a network from
 * flags and/or weight-file metadata, reading input tensors. */
#ifndef SEI_CLI_COMMON_H
#define SEI_CLI_COMMON_H
#include "cli/args.h"
#include "engine/safetensors.h"
#include "nets/net.h"

/* the flags every network command takes; spread into a command's Flag table */
#define NET_FLAGS                                                                        \
    {"net", "NAME", "network: vgg16, vgg16_bn, resnet50 (default: from the weights' metadata)", NULL, NULL, 0}, \
    {"classes", "K", "number of classes (default: from the weights' metadata)", NULL, NULL, 0}, \
    {"in-ch", "C", "input channels, e.g. 1 for grey images", "3", NULL, 0},                \
    {"width-mult", "F", "channel width multiplier", "1", NULL, 0},                         \
    {"threads", "T", "threads (0: all cores)", "0", NULL, 0},                              \
    {"ref", NULL, "use the naive reference kernels (slow; for checking)", NULL, NULL, 0}

/* Apply --threads and --ref. Returns 0, or an exit status after printing an error. */
int cli_setup(Command *c);
/* Build the network from --net/--classes/--in-ch/--width-mult, falling back to the metadata
 * of `weights` (may be NULL) where a flag is not given, and load the weights if given.
 * Returns 0 or an exit status (error printed). */
int cli_open_net(Command *c, Net *net, const StFile *weights);
/* Read a float tensor `name` of rank `ndim` from f into a fresh allocation (caller frees
 * t->data with sei_free). Returns 0 or an exit status (error printed). */
int cli_read_tensor(Command *c, const StFile *f, const char *name, int ndim, Tensor *t);

#endif
