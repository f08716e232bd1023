/* fuzz_args.c - command-line parsing (cli/args.c) with the network and data flags every
 * command shares, and the parsers their values go through: the input is split at NUL bytes
 * into argv, then every typed getter and value parser runs on what was given. */
#include "cli/args.h"
#include "cli/common.h"
#include "kernels/ops.h"
#include "nets/sparsity.h"
#include "nets/train.h"
#include "split/bottleneck.h"
#include "split/exits.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(d, n) {
    Flag flags[] = {NET_FLAGS, DATA_FLAGS,
                    {"quiet", NULL, "", NULL, NULL, 0},
                    {"rate", "F", "", "1", NULL, 0},
                    {"exits", "LIST", "", NULL, NULL, 0},
                    {"wire", "W", "", "fp32", NULL, 0},
                    {"bottleneck", "CUT", "", NULL, NULL, 0},
                    {"kind", "K", "", "conv", NULL, 0},
                    {"sparsity", "K", "", "channel", NULL, 0},
                    {"schedule", "S", "", "cosine", NULL, 0},
                    {"normalize", "M/S", "", NULL, NULL, 0}};
    Command c = {"fuzz", "", "", flags, (int)(sizeof flags / sizeof *flags)};
    char *buf = malloc(n + 1), *argv[64];
    if (!buf) return 0;
    memcpy(buf, d, n);
    buf[n] = 0;
    int argc = 0;
    for (size_t i = 0; i < n && argc < 63;) {
        argv[argc++] = buf + i;
        while (i < n && buf[i]) i++;
        i++;
    }
    argv[argc] = NULL;
    if (args_parse(&c, argc, argv) == 0) {
        int x;
        float f, mean[3], std[3];
        args_int(&c, "classes", 1, 1000, &x), args_int(&c, "threads", 0, 4096, &x);
        args_float(&c, "width-mult", 0.001, 16, &f), args_float(&c, "rate", 0, 1e9, &f);
        (void)args_bool(&c, "quiet"), (void)args_bool(&c, "ref");
        DataConfig dc;
        if (cli_data_config(&c, &dc, NULL, 1) == 0) data_subset_for_net(&dc, 10);
        cli_eval_normalize(&c, NULL, mean, std);
        ExitCfg ec = {0};
        if (args_str(&c, "exits")) (void)exits_parse(&ec, args_str(&c, "exits"));
        BottleneckCfg bc;
        if (args_str(&c, "bottleneck"))
            (void)bottleneck_parse(&bc, args_str(&c, "bottleneck"), args_str(&c, "kind"), 8, 1, args_str(&c, "wire"));
        (void)wire_parse(args_str(&c, "wire")), (void)sparse_kind_parse(args_str(&c, "sparsity"));
        (void)schedule_parse(args_str(&c, "schedule"));
        int size, ch;
        data_native(args_str(&c, "data"), &size, &ch);
    }
    free(buf);
    return 0;
}
