/* test_nets.c - whole-network checks that need no PyTorch: parameter names and counts match
 * torchvision's, slicing at every cut point reproduces the full forward, the directional
 * derivative of the loss matches central differences (autograd end to end), marked
 * intermediate gradients are reachable, shape errors are clean. */
#include <stdlib.h>
#include "autograd/tape.h"
#include "engine/rng.h"
#include "nets/net.h"
#include "tests/harness.h"

static void fill(float *x, size_t n, Rng *r, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * rng_normal(r);
}

/* torchvision: vgg16 138,357,544 params; vgg16_bn 138,365,992; resnet50 25,557,032 */
static void test_param_counts(void) {
    const char *names[3] = {"vgg16", "vgg16_bn", "resnet50"};
    const size_t want[3] = {138357544, 138365992, 25557032};
    for (int i = 0; i < 3; i++) {
        Net net;
        EXPECT(net_create(&net, names[i], 1000, 3, 1.0f) == SEI_OK, "%s", sei_last_error());
        EXPECT(net_num_params(&net) == want[i], "%s: %zu params, want %zu", names[i],
               net_num_params(&net), want[i]);
        net_free(&net);
    }
    Net net;
    EXPECT(net_create(&net, "resnet50", 10, 1, 1.0f) == SEI_OK, "create");
    /* torchvision state_dict of resnet50 has 320 entries (incl. 53 num_batches_tracked) */
    EXPECT(net.nparams == 320, "resnet50 state_dict entries %d, want 320", net.nparams);
    EXPECT(strcmp(net.params[0].v.t.name, "conv1.weight") == 0, "first %s", net.params[0].v.t.name);
    EXPECT(strcmp(net.params[net.nparams - 1].v.t.name, "fc.bias") == 0, "last");
    int found = 0;
    for (int i = 0; i < net.nparams; i++)
        found += strcmp(net.params[i].v.t.name, "layer3.4.bn2.running_var") == 0 ||
                 strcmp(net.params[i].v.t.name, "layer2.0.downsample.1.num_batches_tracked") == 0;
    EXPECT(found == 2, "expected names missing");
    net_free(&net);
    EXPECT(net_create(&net, "vgg16_bn", 10, 3, 1.0f) == SEI_OK, "create");
    EXPECT(net.nparams == 13 * 7 + 6, "vgg16_bn state_dict entries %d", net.nparams);
    EXPECT(net_find_layer(&net, "features.43") >= 0 && net.layers[net_find_layer(&net, "features.43")].kind == L_MAXPOOL,
           "features.43 should be the last max-pool of vgg16_bn");
    net_free(&net);
    EXPECT(net_create(&net, "vgg17", 10, 3, 1.0f) != SEI_OK, "unknown net accepted");
}

static double loss_at(Net *net, const Tensor *x, const int32_t *labels, int bn_train) {
    Tape t;
    tape_init(&t, 0, bn_train, 0, 0);
    Value *in = tape_wrap(&t, x, 0);
    Value *y = net_forward(net, &t, in, 0, net->nlayers, NULL);
    Value *l = ag_softmax_ce(&t, y, labels);
    double v = l->t.data[0];
    tape_free(&t);
    return v;
}

static void save_running(Net *net, float *buf, int restore) {
    size_t off = 0;
    for (int i = 0; i < net->nparams; i++) {
        Param *p = &net->params[i];
        if (!p->is_buffer) continue;
        size_t n = tensor_numel(&p->v.t);
        if (restore) memcpy(p->v.t.data, buf + off, n * sizeof(float));
        else memcpy(buf + off, p->v.t.data, n * sizeof(float));
        off += n;
    }
}

/* ResNet-50 is checked with BN in eval mode: training-mode BN on a batch of 2 is too
 * ill-conditioned for float32 finite differences (those gradients are checked against
 * PyTorch float64 in test_golden.c and op by op in test_ops.c). A narrow VGG16-BN is not
 * checked here: with 4 channels many max-pool windows tie at zero after the ReLUs, which
 * makes the loss non-smooth at every step size float32 can resolve. */
static void gradcheck_net(const char *name, int in_ch, int size, float wm, int bn_train) {
    Net net;
    EXPECT(net_create(&net, name, 5, in_ch, wm) == SEI_OK, "%s", sei_last_error());
    net_init(&net, 7);
    Rng r;
    rng_seed(&r, 11);
    int N = 2;
    Tensor x = tensor_make4(malloc(sizeof(float) * N * in_ch * size * size), N, in_ch, size, size);
    fill(x.data, tensor_numel(&x), &r, 1.0f);
    int32_t labels[2] = {1, 3};
    float *running = malloc(sizeof(float) * 4 * 1000000);
    save_running(&net, running, 0);
    net_zero_grad(&net);
    Tape t;
    tape_init(&t, 1, bn_train, 0, 0);
    Value *in = tape_wrap(&t, &x, 1);
    Value *y = net_forward(&net, &t, in, 0, net.nlayers, NULL);
    Value *l = ag_softmax_ce(&t, y, labels);
    EXPECT(tape_backward(&t, l, NULL) == SEI_OK, "backward: %s", sei_last_error());
    /* directional derivative along a random direction d over all parameters */
    double analytic = 0;
    float **dirs = calloc((size_t)net.nparams, sizeof(float *));
    for (int i = 0; i < net.nparams; i++) {
        Param *p = &net.params[i];
        if (p->is_buffer) continue;
        size_t n = tensor_numel(&p->v.t);
        dirs[i] = malloc(n * sizeof(float));
        fill(dirs[i], n, &r, 1.0f);
        for (size_t k = 0; k < n; k++) analytic += (double)dirs[i][k] * p->v.grad[k];
    }
    /* central differences at h and h/2, Richardson-extrapolated: the loss surface of a deep
     * ReLU net is curved enough that the O(h^2) term matters at float32-usable h */
    double num[2][2];
    const float hs[2] = {2e-4f, 1e-4f};
    for (int e = 0; e < 2; e++)
        for (int s = 0; s < 2; s++) {
            float step = (s ? -1.0f : 1.0f) * hs[e];
            for (int i = 0; i < net.nparams; i++)
                if (dirs[i]) for (size_t k = 0; k < tensor_numel(&net.params[i].v.t); k++)
                    net.params[i].v.t.data[k] += step * dirs[i][k];
            num[e][s] = loss_at(&net, &x, labels, bn_train);
            for (int i = 0; i < net.nparams; i++)
                if (dirs[i]) for (size_t k = 0; k < tensor_numel(&net.params[i].v.t); k++)
                    net.params[i].v.t.data[k] -= step * dirs[i][k];
            save_running(&net, running, 1);
        }
    double d1 = (num[0][0] - num[0][1]) / (2 * hs[0]), d2 = (num[1][0] - num[1][1]) / (2 * hs[1]);
    double numeric = (4 * d2 - d1) / 3;
    EXPECT(fabs(numeric - analytic) <= 0.03 * fabs(analytic) + 1e-3,
           "%s: directional derivative numeric %.6g analytic %.6g", name, numeric, analytic);
    for (int i = 0; i < net.nparams; i++) free(dirs[i]);
    free(dirs);
    free(running);
    tape_free(&t);
    free(x.data);
    net_free(&net);
}

static void test_gradcheck_vgg16(void) { gradcheck_net("vgg16", 1, 32, 0.0625f, 1); }
static void test_gradcheck_resnet50(void) { gradcheck_net("resnet50", 3, 32, 0.0625f, 0); }

/* head [0, k] then tail (k, n) == full network, at every cut point; cut activations get
 * gradients in the same backward pass */
static void test_slices(void) {
    const char *names[3] = {"vgg16_bn", "vgg16", "resnet50"};
    for (int ni = 0; ni < 3; ni++) {
        Net net;
        EXPECT(net_create(&net, names[ni], 4, 3, 0.125f) == SEI_OK, "%s", sei_last_error());
        net_init(&net, 3);
        Rng r;
        rng_seed(&r, 5);
        Tensor x = tensor_make4(malloc(sizeof(float) * 2 * 3 * 40 * 40), 2, 3, 40, 40);
        fill(x.data, tensor_numel(&x), &r, 1.0f);
        Tape t;
        tape_init(&t, 1, 0, 0, 0);
        Value **outs = calloc((size_t)net.nlayers, sizeof(Value *));
        Value *full = net_forward(&net, &t, tape_wrap(&t, &x, 1), 0, net.nlayers, outs);
        EXPECT(full && full->t.shape[1] == 4, "%s forward: %s", names[ni], sei_last_error());
        for (int i = 0; i < net.nlayers; i++) if (net.layers[i].cut) outs[i]->retain_grad = 1;
        float seed[8] = {1, -1, 0.5f, 2, 0, 1, -2, 1};
        EXPECT(tape_backward(&t, full, seed) == SEI_OK, "backward from logits");
        for (int i = 0; i < net.nlayers; i++) {
            if (!net.layers[i].cut) continue;
            EXPECT(outs[i]->grad != NULL, "%s: no gradient at cut %s", names[ni], net.layers[i].path);
            if (i + 1 < net.nlayers && !net.layers[i + 1].cut && outs[i + 1] != outs[i])
                EXPECT(outs[i + 1]->grad == NULL, "%s: the gradient after %s was not recycled",
                       names[ni], net.layers[i].path);
            Tape t2;
            tape_init(&t2, 0, 0, 0, 0);
            Value *head = net_forward(&net, &t2, tape_wrap(&t2, &x, 0), 0, i + 1, NULL);
            Value *tail = net_forward(&net, &t2, head, i + 1, net.nlayers, NULL);
            EXPECT(tail && rel_err(tail->t.data, full->t.data, 8, 1e-6) == 0,
                   "%s: head+tail at %s differs from the full network", names[ni], net.layers[i].path);
            tape_free(&t2);
        }
        free(outs);
        tape_free(&t);
        free(x.data);
        net_free(&net);
    }
}

/* the fused inference path (conv+BN+ReLU, add+ReLU) gives the same bits as op by op */
static void test_fused_inference(void) {
    const char *names[2] = {"vgg16_bn", "resnet50"};
    for (int ni = 0; ni < 2; ni++) {
        Net net;
        EXPECT(net_create(&net, names[ni], 6, 3, 0.125f) == SEI_OK, "%s", sei_last_error());
        net_init(&net, 4);
        Rng r;
        rng_seed(&r, 8);
        for (int i = 0; i < net.nparams; i++) /* non-trivial BN statistics and affine */
            if (strstr(net.params[i].v.t.name, "running") || strstr(net.params[i].v.t.name, "bn") ||
                net.layers[0].kind == L_CONV)
                for (size_t k = 0; k < tensor_numel(&net.params[i].v.t) && net.params[i].v.t.ndim == 1; k++)
                    net.params[i].v.t.data[k] = 0.5f + rng_uniform(&r);
        Tensor x = tensor_make4(malloc(sizeof(float) * 3 * 3 * 48 * 48), 3, 3, 48, 48);
        fill(x.data, tensor_numel(&x), &r, 1.0f);
        float out[2][18];
        for (int f = 0; f < 2; f++) {
            Tape t;
            tape_init(&t, 0, 0, 0, 0);
            t.no_fusion = f;
            Value *y = net_forward(&net, &t, tape_wrap(&t, &x, 0), 0, net.nlayers, NULL);
            EXPECT(y != NULL, "%s", sei_last_error());
            if (y) memcpy(out[f], y->t.data, sizeof out[f]);
            tape_free(&t);
        }
        EXPECT(memcmp(out[0], out[1], sizeof out[0]) == 0, "%s: fused inference differs: %.9g vs %.9g",
               names[ni], out[0][0], out[1][0]);
        free(x.data);
        net_free(&net);
    }
}

static void test_input_too_small(void) {
    Net net;
    EXPECT(net_create(&net, "vgg16", 4, 3, 0.0625f) == SEI_OK, "create");
    Tensor x = tensor_make4(calloc(3 * 16 * 16, sizeof(float)), 1, 3, 16, 16);
    Tape t;
    tape_init(&t, 0, 0, 0, 0);
    Value *y = net_forward(&net, &t, tape_wrap(&t, &x, 0), 0, net.nlayers, NULL);
    EXPECT(y == NULL, "a 16x16 input must not pass 5 max-pools of vgg16");
    EXPECT(strstr(sei_last_error(), "features") != NULL, "error should name the layer: %s", sei_last_error());
    Tensor x2 = tensor_make4(x.data, 1, 1, 16, 16);
    y = net_forward(&net, &t, tape_wrap(&t, &x2, 0), 0, net.nlayers, NULL);
    EXPECT(y == NULL && strstr(sei_last_error(), "features.0"), "wrong channel count: %s", sei_last_error());
    tape_free(&t);
    free(x.data);
    net_free(&net);
}

int main(void) {
    RUN(test_param_counts);
    RUN(test_slices);
    RUN(test_fused_inference);
    RUN(test_input_too_small);
    RUN(test_gradcheck_vgg16);
    RUN(test_gradcheck_resnet50);
    return test_summary();
}
