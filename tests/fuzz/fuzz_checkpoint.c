/* fuzz_checkpoint.c - a checkpoint as the commands open it (cli/common.c cli_open_part): its
 * metadata (network, classes, width, bottleneck, exits, which part of a cut network), every
 * tensor and sparse pattern loaded into the network (nets/weights.c, split/part.c); then, for
 * a whole network or a device part, one forward pass of a small image and the C export's
 * lowering and run of the same image (split/export.c, kernels/mcu.c). Metadata asking for a
 * network wider than 1/8, more than 4 input channels or 100 classes, or images over 64 pixels
 * is skipped: such a file is large, not malformed, and would make each run slow. */
#include "cli/args.h"
#include "cli/common.h"
#include "split/export.h"
#include "tests/fuzz/fuzz.h"

static int small_enough(const StFile *w) {
    const char *wm = st_meta(w, "width_mult"), *ic = st_meta(w, "in_ch"), *cl = st_meta(w, "classes");
    const char *sz = st_meta(w, "size");
    return wm && atof(wm) <= 0.125 && (!ic || atoi(ic) <= 4) && (!cl || atoi(cl) <= 100) && (!sz || atoi(sz) <= 64);
}

static void run_part(Net *net, const NetPart *part, int size) {
    const size_t in_n = (size_t)net->in_ch * size * size;
    float *x = calloc(in_n, sizeof *x);
    if (!x) return;
    for (size_t i = 0; i < in_n; i++) x[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    Tape t;
    tape_init(&t, 0, 0, 0, 0);
    Tensor xt = {.ndim = 4, .shape = {1, net->in_ch, size, size}, .data = x};
    (void)net_forward(net, &t, tape_wrap(&t, &xt, 0), part->from, part->to, NULL);
    tape_free(&t);
    McuProgram p;
    if (export_lower(net, part->from, part->to, size, net->nexits > 0, 0.5f, &p) == SEI_OK) {
        float *arena = malloc(p.arena_bytes + 64), sc;
        uint8_t *pay = malloc(export_payload_bytes(&p) + 16);
        if (arena && pay) (void)export_run(&p, x, arena, pay, &sc);
        free(arena), free(pay);
        export_free(&p);
    }
    free(x);
}

FUZZ_TARGET(d, n) {
    StFile w;
    if (st_open(&w, fuzz_file(".safetensors", d, n)) != SEI_OK) return 0;
    if (!small_enough(&w)) {
        st_close(&w);
        return 0;
    }
    Flag flags[] = {NET_FLAGS};
    Command c = {"fuzz", "", "", flags, (int)(sizeof flags / sizeof *flags)};
    Net net;
    NetPart part;
    if (args_parse(&c, 0, NULL) == 0 && cli_open_part(&c, &net, &w, &part) == 0) {
        const char *sz = st_meta(&w, "size");
        const int size = sz && atoi(sz) >= 1 ? atoi(sz) : 32;
        if (part.from == 0) run_part(&net, &part, size);
        net_free(&net);
    }
    st_close(&w);
    return 0;
}
