/* bench_net.c - time a network's forward pass (eval) and training step (forward + backward)
 * with random torchvision-style weights: median of several runs after a warm-up.
 *   bench_net NET SIZE BATCH [iters] [train]        e.g. bench_net resnet50 224 1 5 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine/clock.h"
#include "autograd/tape.h"
#include "engine/threads.h"
#include "kernels/dispatch.h"
#include "nets/net.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s NET SIZE BATCH [iters] [train]\n", argv[0]);
        return 2;
    }
    sei_kernels_init();
    const char *name = argv[1];
    int size = atoi(argv[2]), batch = atoi(argv[3]), iters = argc > 4 ? atoi(argv[4]) : 5;
    int train = argc > 5 && strcmp(argv[5], "train") == 0;
    Net net;
    if (net_create(&net, name, 1000, 3, 1.0f) != SEI_OK) {
        fprintf(stderr, "%s\n", sei_last_error());
        return 1;
    }
    net_init(&net, 1);
    Rng r;
    rng_seed(&r, 2);
    Tensor x = tensor_make4(malloc(sizeof(float) * batch * 3 * size * size), batch, 3, size, size);
    for (size_t i = 0; i < tensor_numel(&x); i++) x.data[i] = rng_normal(&r);
    int32_t *labels = calloc((size_t)batch, sizeof(int32_t));
    Tape t;
    tape_init(&t, train, train, 0, 0);
    double *ms = calloc((size_t)iters + 1, sizeof(double));
    for (int it = 0; it <= iters; it++) {
        double t0 = sei_now();
        tape_reset(&t);
        Value *y = net_forward(&net, &t, tape_wrap(&t, &x, 0), 0, net.nlayers, NULL);
        if (train) {
            net_zero_grad(&net);
            tape_backward(&t, ag_softmax_ce(&t, y, labels), NULL);
        }
        ms[it] = 1e3 * (sei_now() - t0);
    }
    double med = sei_median(ms + 1, iters);
    printf("%s %dx%d batch %d %s threads %d: %.1f ms/batch, %.2f images/s (arena peak %.0f MB)\n",
           name, size, size, batch, train ? "train" : "infer", sei_threads(), med,
           1e3 * batch / med, t.arena.peak / 1e6);
    if (getenv("SEI_PROFILE")) {
        memset(t.prof, 0, sizeof t.prof);
        t.profile = 1;
        tape_reset(&t);
        double t0 = sei_now();
        Value *y = net_forward(&net, &t, tape_wrap(&t, &x, 0), 0, net.nlayers, NULL);
        if (train) {
            net_zero_grad(&net);
            tape_backward(&t, ag_softmax_ce(&t, y, labels), NULL);
        }
        double total = 1e3 * (sei_now() - t0), acc = 0;
        printf("  %-20s %10s %10s\n", "op", "fwd ms", "bwd ms");
        for (int op = 0; op < OP_COUNT; op++) {
            if (t.prof[0][op] + t.prof[1][op] == 0) continue;
            printf("  %-20s %10.1f %10.1f\n", op_name(op), 1e3 * t.prof[0][op], 1e3 * t.prof[1][op]);
            acc += 1e3 * (t.prof[0][op] + t.prof[1][op]);
        }
        printf("  %-20s %10.1f (of %.1f ms)\n", "other", total - acc, total);
    }
    tape_free(&t);
    free(ms); free(labels); free(x.data);
    net_free(&net);
    return 0;
}
