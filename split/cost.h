/* cost.h - what one image costs each side of a cut: multiply-adds (skipping the zeros of
 * predefined sparsity), layers, bytes crossing the link, and the device's memory; the
 * numbers the simulator (sim/) and the planner turn into time and energy. */
#ifndef SEI_COST_H
#define SEI_COST_H
#include "nets/net.h"

typedef struct {
    char cut[SEI_NAME_LEN];   /* "input": all on the server; "none": all on the device */
    double head_macs, tail_macs;
    int head_layers, tail_layers;
    long payload_bytes;       /* per image across the cut, in its wire's format (fp32 without one) */
    long reply_bytes;         /* the logits back: 4 bytes per class */
    int nexits;               /* device-side exits, network order */
    double exit_macs[NET_MAX_EXITS]; /* device multiply-adds of an image leaving at exit j */
    char exit_at[NET_MAX_EXITS][SEI_NAME_LEN];
    double head_param_bytes;  /* device weights as stored (sparse layers compressed) */
    double head_act_bytes;    /* the largest activation on the device, fp32 */
} SplitCost;

/* costs of cutting net (input size x size) after `cut`: a cut point, "input" or "none" */
sei_status split_cost(const Net *net, int size, const char *cut, SplitCost *c);
/* the measured seconds of each of net's layers (layer_s[nlayers]) from a CSV that
 * `sei profile --csv` wrote for this network: a header "index,layer,...", then one row
 * "INDEX,LAYER_PATH,<int>,MS,..." per layer in order */
sei_status cost_profile_read(const Net *net, const char *path, double *layer_s);

#endif
