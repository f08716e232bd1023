/* bottleneck.h - I-SPLIT's undercomplete autoencoder at a cut, and the wire format of what
 * crosses it, inserted into a network as ordinary layers right after the cut point:
 *
 *   activation [C,H,W] at the cut
 *     bottleneck.encoder.0  Conv2d(C -> c, 3x3, stride S, pad 1, no bias)   c = max(1, C/R)
 *     bottleneck.encoder.1  BatchNorm2d(c)
 *     bottleneck.encoder.2  ReLU
 *     bottleneck.wire       fp32 | fp16 | int8 (per-image scale)   <- the new cut point:
 *                                                                      device | server
 *     bottleneck.decoder.0  ConvTranspose2d(c -> C, 3x3, stride S, pad 1, output_pad (H-1)%S)
 *     bottleneck.decoder.1  BatchNorm2d(C)
 *     bottleneck.decoder.2  ReLU                                   -> [C,H,W] again
 *
 * A flat cut [F] (VGG's classifier) uses Linear(F -> F/R) + ReLU and Linear(F/R -> F) + ReLU
 * (stride must be 1). Kind "none" inserts only the wire. The network keeps its other cut
 * points; the original cut stops being one (the wire replaces it). Bytes per image on the
 * wire: wire_bytes(c * ceil(H/S) * ceil(W/S), wire). A checkpoint records the configuration
 * in its metadata (bottleneck, bottleneck_at, ratio, stride, wire; and size) and every command
 * that opens it rebuilds the same layers (cli_open_part). */
#ifndef SEI_BOTTLENECK_H
#define SEI_BOTTLENECK_H
#include "engine/safetensors.h"
#include "kernels/ops.h"
#include "nets/net.h"

typedef struct {
    int ae;                   /* 1: autoencoder, 0: only the wire */
    int ratio, stride;        /* channel reduction R >= 1, spatial stride S >= 1 */
    WireFormat wire;
    char at[SEI_NAME_LEN];    /* the cut point it sits after */
} BottleneckCfg;

typedef struct {
    int first, count;         /* the inserted layers [first, first + count) */
    int wire;                 /* index of bottleneck.wire */
    size_t cut_values;        /* values per image at the original cut */
    size_t wire_values;       /* values per image crossing the wire */
    size_t wire_bytes;        /* bytes per image crossing the wire */
} BottleneckInfo;

/* insert after cfg->at in a finished network whose input is size x size; new parameters
 * are initialised from seed (kaiming-normal convs, BN 1/0), the existing ones keep their
 * values */
sei_status bottleneck_insert(Net *net, const BottleneckCfg *cfg, int size, uint64_t seed,
                             BottleneckInfo *info);
/* the configuration stored in a weights file's metadata; returns 0 if it has none, 1 if
 * cfg and *size were filled, -1 on malformed metadata (error set) */
int bottleneck_from_meta(const StFile *f, BottleneckCfg *cfg, int *size);
/* metadata key/value pairs describing cfg (5 of them, bufs holds the numbers); the input
 * size goes in "size", which checkpoints already carry */
int bottleneck_meta(const BottleneckCfg *cfg, const char **keys, const char **vals,
                    char bufs[2][16]);
/* cfg from command-line values; -1 with the error set on a bad kind or wire name */
int bottleneck_parse(BottleneckCfg *cfg, const char *at, const char *kind, int ratio, int stride,
                     const char *wire);
/* mask[i] = 1 for parameters of the network that are not the bottleneck's */
void bottleneck_mask_others(const Net *net, const BottleneckInfo *info, unsigned char *mask);

#endif
