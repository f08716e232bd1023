/* main.c - the sei command-line front end: dispatches to one function per subcommand. */
#include <stdio.h>
#include <string.h>
#include "kernels/dispatch.h"
#include "kernels/gemm.h"

int cmd_forward(int argc, char **argv);
int cmd_backward(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_importance(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_retrain(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_exits(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_device(int argc, char **argv);
int cmd_mpi(int argc, char **argv);
int cmd_export(int argc, char **argv);

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"demo", cmd_demo, "the whole pipeline on the built-in shapes set, ending in a plan and a report"},
    {"forward", cmd_forward, "run a network (eval mode) on an input tensor, write logits"},
    {"backward", cmd_backward, "loss and gradients of every parameter and of the input"},
    {"layers", cmd_layers, "list cut points: shapes, bytes at the cut, multiply-adds, parameters"},
    {"train", cmd_train, "train a network on a data set (checkpoints, log, resume)"},
    {"eval", cmd_eval, "accuracy, per-class accuracy and confusion matrix on a data split"},
    {"importance", cmd_importance, "I-SPLIT importance of every cut point, split candidates"},
    {"split", cmd_split, "cut a network into a device part and a server part"},
    {"retrain", cmd_retrain, "fine-tune a split network with a bottleneck and wire format at the cut"},
    {"sweep-splits", cmd_sweep, "importance vs retrained accuracy over cut points, Spearman correlation"},
    {"exits", cmd_exits, "early exits: share leaving, accuracy, device multiply-adds and bytes over tau"},
    {"sim", cmd_sim, "simulate devices, link and server: latency, losses, energy, utilisation"},
    {"plan", cmd_plan, "pick the split configuration that meets accuracy, latency, memory, energy bounds"},
    {"profile", cmd_profile, "time every layer on this machine (for sei sim --device-profile/--server-profile)"},
    {"serve", cmd_serve, "serve the tail of a split network to devices over TCP"},
    {"device", cmd_device, "run the head on a data split, send the cut to sei serve, report latency"},
    {"export", cmd_export, "the device part as portable C99 for microcontrollers (int8 or fp32)"},
    {"mpi-run", cmd_mpi, "run a network partitioned over MPI ranks (make MPI=1; under mpirun)"},
    {"info", cmd_info, "parameters, nonzeros, bytes and multiply-adds per layer and per part"},
    {"bench", cmd_bench, "time a network (images/s, GFLOP/s, peak memory) or one GEMM shape"},
};

static void usage(FILE *f) {
    fprintf(f, "sei - split computing for CNNs in plain C (GEMM kernel: %s)\n\n"
               "usage: sei COMMAND [options]    (sei COMMAND --help for its options)\n\ncommands:\n",
            sei_gemm_isa());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    sei_kernels_init();
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "sei: unknown command '%s' (see sei --help)\n", argv[1]);
    return 2;
}
