/* net.h - a network as a flat sequence of layers that can be sliced at cut points.
 *
 * Layers are stored in execution order and named by their torchvision module path
 * ("features.0", "avgpool", "layer3.4"); a ResNet bottleneck is one layer with its own
 * sub-convolutions. Parameters and buffers carry torchvision's state_dict names
 * ("features.0.weight", "layer3.4.bn2.running_var", "fc.bias") and live in one block.
 * A layer marked `cut` is a cut point: the network can be split after it into a device part
 * [0, i] and a server part [i+1, n). net_forward runs any slice [from, to).
 *
 * Builders: nets/vgg.c (vgg16, vgg16_bn), nets/resnet.c (resnet50). */
#ifndef SEI_NET_H
#define SEI_NET_H
#include <stdint.h>
#include "autograd/optim.h"
#include "autograd/tape.h"
#include "engine/error.h"

typedef struct Param {
    Value v;           /* v.t.name is the state_dict name; v.grad the gradient (params only) */
    int is_buffer;     /* running_mean / running_var / num_batches_tracked: no gradient */
    int is_int;        /* stored as I64 in safetensors (num_batches_tracked) */
    float *mask;       /* predefined sparsity mask (1 keep / 0 zero) or NULL for dense */
    struct SparsePattern *sp; /* the pattern the mask comes from (nets/sparsity.h) or NULL */
} Param;

typedef enum {
    L_CONV, L_BN, L_RELU, L_MAXPOOL, L_ADAPTIVE_AVGPOOL, L_FLATTEN, L_LINEAR, L_DROPOUT,
    L_BOTTLENECK,
    L_CONVT,  /* ConvTranspose2d (split bottleneck decoder): weight [in_c, out_c, k, k] */
    L_WIRE,   /* what crosses a split network's cut (ag_wire), format in `wire` */
    L_EXIT    /* an early-exit branch (split/exits.h): passes its input on unchanged; its
               * sub-layers map it to logits, left in Net.exit_out[exit] */
} LayerKind;

typedef struct Layer {
    LayerKind kind;
    char path[SEI_NAME_LEN];  /* torchvision module path */
    int cut;                  /* output of this layer is a cut point */
    /* conv: in_c -> out_c, k x k, stride, pad, groups; linear: in_c -> out_c */
    int in_c, out_c, k, stride, pad, groups;
    int oh, ow;               /* adaptive pool output; maxpool uses k/stride/pad */
    float p;                  /* dropout probability */
    float eps, momentum;      /* batch norm */
    int opad;                 /* transposed conv output padding */
    int wire;                 /* L_WIRE: WireFormat */
    int frozen;               /* not trained: its parameters need no gradient, BN runs in eval mode */
    int exit;                 /* L_EXIT: its index, 0.. in network order */
    int w, b, rm, rv, nbt;    /* indices into Net.params, -1 if absent */
    struct Layer *sub;        /* bottleneck: conv1 bn1 conv2 bn2 conv3 bn3 [ds.0 ds.1]; exit: the branch */
    int nsub;
} Layer;

#define NET_MAX_EXITS 8

typedef struct Net {
    char name[32];            /* "vgg16", "vgg16_bn", "resnet50" */
    int classes, in_ch;
    float width_mult;
    Layer *layers;
    int nlayers, cap_layers;
    Param *params;
    int nparams, cap_params;
    float *data, *grads;      /* one block each for every parameter / buffer */
    float linear_init_std;    /* >0: Linear weights ~ N(0, std) (VGG); 0: PyTorch default */
    int nexits;               /* L_EXIT layers */
    Value *exit_out[NET_MAX_EXITS]; /* their logits from the last net_forward that ran them
                                     * (NULL: not run) */
} Net;

/* a parameter the optimizer updates (not a buffer, not frozen) */
static inline int param_trains(const Param *p) { return !p->is_buffer && p->v.requires_grad; }

/* ch(c) = max(1, floor(c * width_mult + 0.5)): the width rule shared with tests/sei_pt.py */
int net_width(float width_mult, int c);

/* Build by name; sets sei_last_error and returns non-OK for an unknown name or bad args.
 * Parameters start at zero (BN running_var at one): call net_init or load weights. */
sei_status net_create(Net *net, const char *name, int classes, int in_ch, float width_mult);
/* Initialise every parameter as torchvision does (kaiming-normal convs, ...) from seed. */
void net_init(Net *net, uint64_t seed);
void net_free(Net *net);
const char *net_names(void);  /* "vgg16, vgg16_bn, resnet50" for help texts */

/* Run layers [from, to) on x. The Tape decides training/eval behaviour and recording.
 * If outs is non-NULL, outs[i] receives the output of layer i (for i in [from, to)).
 * Returns the last output, or NULL with sei_last_error() set (e.g. input too small). */
Value *net_forward(Net *net, Tape *t, Value *x, int from, int to, Value **outs);

/* Shape of layer i's output given the input shape to layer `from`, plus the cumulative
 * multiply-adds of layers [from, i] per image (sparse_macs: those left when the zeros of
 * predefined sparsity are skipped). Returns SEI_ERR_SHAPE if it cannot run. */
typedef struct { int ndim, shape[4]; double macs, sparse_macs; double params; } LayerInfo;
sei_status net_shapes(const Net *net, int n, int c, int h, int w, LayerInfo *info);

/* index of a cut point by module path, or -1 */
int net_find_layer(const Net *net, const char *path);

/* zero all parameter gradients, allocating them on first use (a network used only for
 * inference never holds gradient memory). Call before each backward. */
sei_status net_zero_grad(Net *net);
/* an optimizer over every trainable parameter (gradients allocated, masks respected) */
sei_status net_optim_init(Net *net, Optimizer *o, const OptConfig *cfg);
/* total number of trainable parameters / of all floats incl. buffers */
size_t net_num_params(const Net *net);

/* internal helpers for the builders (nets/vgg.c, nets/resnet.c) */
Layer *net_add_layer(Net *net, LayerKind kind, const char *path);
int net_add_param(Net *net, const char *name, int ndim, const int *shape, int is_buffer);
/* move the layers appended since index start to just after layer at (at < start) */
void net_move_layers(Net *net, int at, int start);
void layer_conv(Net *net, Layer *l, const char *path, int in_c, int out_c, int k, int stride,
                int pad, int bias);
void layer_bn(Net *net, Layer *l, const char *path, int c);
void layer_linear(Net *net, Layer *l, const char *path, int in_f, int out_f);
void layer_convt(Net *net, Layer *l, const char *path, int in_c, int out_c, int k, int stride,
                 int pad, int opad);
sei_status net_finish(Net *net);  /* allocate the parameter block */
/* after adding parameters to a finished network: a new block holding the old values (the
 * new parameters start at zero, running_var at one); gradients are dropped */
sei_status net_refinish(Net *net);
/* initialise the parameters of one layer as net_init would */
void net_init_layer(Net *net, const Layer *l, Rng *rng);
/* freeze layers [from, to) (and their sub-layers) or unfreeze them */
void net_freeze(Net *net, int from, int to, int frozen);

#endif
