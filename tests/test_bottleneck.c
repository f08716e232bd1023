/* test_bottleneck.c - a bottleneck and wire inserted at a cut (split/bottleneck.c): the
 * network's output shape and the values of its existing parameters are kept, the layers and
 * byte counts are what the header documents (4-D and flat cuts, odd and even sizes), errors
 * for bad cuts and a second insertion, and freezing: after SGD steps with --freeze head the
 * device-side parameters and BN statistics are unchanged while the bottleneck has moved, and
 * the optimizer holds state for trainable parameters only. */
#include <stdlib.h>
#include <string.h>
#include "nets/train.h"
#include "split/bottleneck.h"
#include "split/part.h"
#include "tests/harness.h"
#include "tests/snapshot.h"

static void make_net(Net *n) {
    EXPECT(net_create(n, "vgg16_bn", 5, 1, 0.0625f) == SEI_OK, "%s", sei_last_error());
    net_init(n, 3);
}

static void test_insert_conv_cut(void) {
    Net n;
    make_net(&n);
    const int np0 = n.nparams, nl0 = n.nlayers;
    float *before = snapshot(&n);
    char names[64][SEI_NAME_LEN];
    for (int i = 0; i < np0 && i < 64; i++) memcpy(names[i], n.params[i].v.t.name, SEI_NAME_LEN);
    BottleneckCfg cfg;
    BottleneckInfo bi;
    /* features.13 at 32x32: [8,8,8] (width 1/16): ratio 2, stride 2 -> [4,4,4] */
    EXPECT(!bottleneck_parse(&cfg, "features.13", "ae", 2, 2, "int8"), "%s", sei_last_error());
    EXPECT(bottleneck_insert(&n, &cfg, 32, 9, &bi) == SEI_OK, "%s", sei_last_error());
    EXPECT(n.nlayers == nl0 + 7 && bi.count == 7, "layers %d -> %d", nl0, n.nlayers);
    EXPECT(bi.cut_values == 8 * 8 * 8 && bi.wire_values == 4 * 4 * 4 && bi.wire_bytes == 64 + 4,
           "values %zu -> %zu, %zu bytes", bi.cut_values, bi.wire_values, bi.wire_bytes);
    EXPECT(!strcmp(n.layers[bi.wire].path, "bottleneck.wire") && n.layers[bi.wire].cut &&
           !n.layers[net_find_layer(&n, "features.13")].cut, "the wire replaces the cut point");
    EXPECT(!strcmp(n.layers[bi.first].path, "bottleneck.encoder.0") &&
           net_find_layer(&n, "features.13") == bi.first - 1, "inserted right after the cut");
    /* existing parameters keep their names and values */
    float *after = snapshot(&n);
    int same = 1;
    for (int i = 0; i < np0 && i < 64; i++) same &= !strcmp(names[i], n.params[i].v.t.name);
    EXPECT(same, "existing parameters renamed or reordered");
    size_t off = 0, diff = 0;
    for (int i = 0; i < np0; i++) {
        size_t k = tensor_numel(&n.params[i].v.t);
        diff += memcmp(before + off, n.params[i].v.t.data, k * sizeof(float)) != 0;
        off += k;
    }
    EXPECT(!diff, "%zu existing tensors changed by the insertion", diff);
    /* the network still runs and ends where it did */
    LayerInfo *li = calloc((size_t)n.nlayers, sizeof *li);
    EXPECT(net_shapes(&n, 1, 1, 32, 32, li) == SEI_OK, "%s", sei_last_error());
    EXPECT(li[bi.first + bi.count - 1].shape[1] == 8 && li[bi.first + bi.count - 1].shape[2] == 8 &&
           li[n.nlayers - 1].shape[1] == 5, "decoder restores [8,8,8]; logits [5]");
    EXPECT(li[bi.wire].shape[1] == 4 && li[bi.wire].shape[2] == 4, "wire shape");
    EXPECT(bottleneck_insert(&n, &cfg, 32, 9, &bi) == SEI_ERR_ARG, "a second bottleneck accepted");
    free(li);
    free(before);
    free(after);
    net_free(&n);
}

static void test_insert_shapes(void) {
    /* odd spatial size: features.6 at 36x36 is [1,18,18] -> stride 2: 9x9, decoder back to 18;
     * at 34x34 it is 17x17 -> 9x9 -> 17 (output padding 0) */
    const int sizes[2] = {36, 34}, expect[2] = {18, 17};
    for (int s = 0; s < 2; s++) {
        Net n;
        make_net(&n);
        BottleneckCfg cfg;
        BottleneckInfo bi;
        bottleneck_parse(&cfg, "features.6", "ae", 1, 2, "fp16");
        EXPECT(bottleneck_insert(&n, &cfg, sizes[s], 1, &bi) == SEI_OK, "%s", sei_last_error());
        LayerInfo *li = calloc((size_t)n.nlayers, sizeof *li);
        EXPECT(net_shapes(&n, 1, 1, sizes[s], sizes[s], li) == SEI_OK, "size %d: %s", sizes[s], sei_last_error());
        EXPECT(li[bi.first + bi.count - 1].shape[2] == expect[s] && li[bi.wire].shape[2] == 9,
               "size %d: wire %d, restored %d", sizes[s], li[bi.wire].shape[2], li[bi.first + bi.count - 1].shape[2]);
        EXPECT(bi.wire_bytes == 2 * bi.wire_values, "fp16 bytes");
        free(li);
        net_free(&n);
    }
    /* a flat cut: Linear encoder/decoder; stride 2 is refused */
    Net n;
    make_net(&n);
    BottleneckCfg cfg;
    BottleneckInfo bi;
    bottleneck_parse(&cfg, "classifier.1", "ae", 4, 2, "fp32");
    EXPECT(bottleneck_insert(&n, &cfg, 32, 1, &bi) == SEI_ERR_ARG, "stride 2 on a flat cut accepted");
    bottleneck_parse(&cfg, "classifier.1", "ae", 4, 1, "fp32");
    EXPECT(bottleneck_insert(&n, &cfg, 32, 1, &bi) == SEI_OK, "%s", sei_last_error());
    EXPECT(n.layers[bi.first].kind == L_LINEAR && bi.wire_values == 256 / 4 && bi.count == 5,
           "flat bottleneck: kind %d, %zu values, %d layers", n.layers[bi.first].kind, bi.wire_values, bi.count);
    net_free(&n);
    /* only the wire; bad cut names; bad kinds */
    make_net(&n);
    bottleneck_parse(&cfg, "features.23", "none", 1, 1, "int8");
    EXPECT(bottleneck_insert(&n, &cfg, 32, 1, &bi) == SEI_OK && bi.count == 1 &&
           bi.wire_values == bi.cut_values, "wire only: %d layers", bi.count);
    net_free(&n);
    make_net(&n);
    bottleneck_parse(&cfg, "features.0", "ae", 2, 1, "fp32");
    EXPECT(bottleneck_insert(&n, &cfg, 32, 1, &bi) == SEI_ERR_ARG, "a non-cut layer accepted");
    EXPECT(bottleneck_parse(&cfg, "features.6", "vae", 2, 1, "fp32") < 0 &&
           bottleneck_parse(&cfg, "features.6", "ae", 2, 1, "int4") < 0, "bad kind / wire accepted");
    net_free(&n);
}

/* freeze head: SGD steps change the bottleneck and the server side, never the device side */
static void test_freeze_head(void) {
    Net n;
    make_net(&n);
    BottleneckCfg cfg;
    BottleneckInfo bi;
    bottleneck_parse(&cfg, "features.13", "ae", 2, 1, "int8");
    EXPECT(bottleneck_insert(&n, &cfg, 32, 5, &bi) == SEI_OK, "%s", sei_last_error());
    net_freeze(&n, 0, bi.first, 1);
    float *before = snapshot(&n);
    Optimizer o;
    OptConfig oc = optim_sgd(0.05f, 0.9f, 5e-4f, 0);
    EXPECT(net_optim_init(&n, &o, &oc) == SEI_OK, "%s", sei_last_error());
    int trainable = 0;
    for (int i = 0; i < n.nparams; i++) trainable += param_trains(&n.params[i]);
    EXPECT(o.np == trainable && trainable > 0, "optimizer holds %d of %d trainable tensors", o.np, trainable);
    Tape t;
    tape_init(&t, 1, 1, 1, 1);
    enum { B = 4 };
    float *x = malloc(sizeof(float) * B * 32 * 32);
    int32_t y[B] = {0, 1, 2, 3};
    Rng r;
    rng_seed(&r, 2);
    for (int i = 0; i < B * 32 * 32; i++) x[i] = rng_normal(&r);
    for (int s = 0; s < 3; s++) {
        double loss;
        int correct;
        EXPECT(train_step(&n, &t, &o, x, y, B, 32, 1.0f, &loss, &correct) == SEI_OK, "%s", sei_last_error());
    }
    /* device side: every tensor (weights and BN running stats) as before; server side moved */
    size_t off = 0;
    int head_changed = 0, bott_moved = 0, tail_moved = 0;
    unsigned char *head = calloc((size_t)n.nparams, 1), *bott = calloc((size_t)n.nparams, 1);
    NetPart hp = {0, bi.first, 1, ""}, bp = {bi.first, bi.first + bi.count, 0, ""};
    part_mask(&n, &hp, head);
    part_mask(&n, &bp, bott);
    for (int i = 0; i < n.nparams; i++) {
        size_t k = tensor_numel(&n.params[i].v.t);
        int changed = memcmp(before + off, n.params[i].v.t.data, k * sizeof(float)) != 0;
        if (head[i]) head_changed += changed;
        else if (bott[i]) bott_moved += changed;
        else tail_moved += changed;
        off += k;
    }
    EXPECT(!head_changed, "%d device-side tensors changed under --freeze head", head_changed);
    EXPECT(bott_moved > 0 && tail_moved > 0, "bottleneck %d and tail %d tensors moved", bott_moved, tail_moved);
    free(head);
    free(bott);
    free(x);
    free(before);
    tape_free(&t);
    optim_free(&o);
    net_free(&n);
}

int main(void) {
    RUN(test_insert_conv_cut);
    RUN(test_insert_shapes);
    RUN(test_freeze_head);
    return test_summary();
}
