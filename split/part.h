/* part.h - a network cut at a cut point into two parts stored as separate weight files:
 * the device part ("head", layers [0, cut] and any early exits right after the cut) and the
 * server part ("tail", the layers after those). Each file holds only its own layers' tensors plus the network's metadata and
 *   part = head | tail,  cut = <module path of the cut layer>
 * so it rebuilds without flags, and loading checks that every tensor belongs to that part.
 * Running the head and then the tail on its output computes the whole network (the layers
 * run in the same order on the same data, so the logits are the same bits in eval mode). */
#ifndef SEI_PART_H
#define SEI_PART_H
#include "engine/safetensors.h"
#include "nets/net.h"

typedef struct {
    int from, to;                /* layer range [from, to) */
    int head;                    /* 1: device part, 0: server part; whole network: -1 */
    char cut[SEI_NAME_LEN];      /* module path of the last device-side layer */
} NetPart;

/* the whole network as a "part" */
NetPart part_whole(const Net *net);
/* head and tail of a cut at the cut point named `cut` (an error names the cut points) */
sei_status part_cut(const Net *net, const char *cut, NetPart *head, NetPart *tail);
/* mask[i] = 1 for the parameters of layers [p->from, p->to) (nparams entries) */
void part_mask(const Net *net, const NetPart *p, unsigned char *mask);
/* write the part's tensors and metadata (+ extra key/value pairs) atomically */
sei_status part_save(const Net *net, const NetPart *p, const char *path, int nextra,
                     const char *const *keys, const char *const *vals);
/* the part a weights file describes (whole when it has no "part" metadata), and load its
 * tensors strictly into net (built from the same metadata) */
sei_status part_of_file(const Net *net, const StFile *f, NetPart *p);
sei_status part_load(Net *net, const StFile *f, const NetPart *p);
/* read a partition file of nparts parts (sei mpi-run --map): lines "RANK LAST_LAYER THREADS",
 * ranks 0.. in order, LAST_LAYER a cut point or "end" (the last line's), '#' starts a comment.
 * Part r is layers [from[r], to[r]) run with threads[r] threads (0: all cores). */
sei_status part_map_read(const Net *net, const char *path, int nparts, int *from, int *to, int *threads);

#endif
