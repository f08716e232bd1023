/* cmd_run.c - `sei forward` and `sei backward`: run a network on tensors from a file.
 *
 * forward:  input [N,C,H,W] -> logits [N,K], eval mode (BN running stats, no dropout); with
 *           a part of a split network (sei split) the part's layers only: a device part
 *           writes 'output' (the activation at the cut), a server part reads 'input' or
 *           'output' and writes 'logits'. Early exits on the way add 'logits.exits.K'.
 * backward: also labels [N]; writes loss (mean cross-entropy), grad.input and
 *           grad.<param> for every parameter, with BN in training mode (batch statistics)
 *           and dropout disabled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/common.h"
#include "nets/weights.h"

static Flag run_flags[] = {
    NET_FLAGS,
    {"weights", "W.safetensors", "network weights (torchvision state_dict names)", NULL, NULL, 0},
    {"input", "X.safetensors", "file with tensor 'input' [N,C,H,W] (and 'labels' [N] for backward)", NULL, NULL, 0},
    {"out", "Y.safetensors", "output file", NULL, NULL, 0},
};

static int run(int argc, char **argv, int backward) {
    Command c = {backward ? "backward" : "forward",
                 backward ? "Compute the mean cross-entropy loss and the gradient of every parameter and\n"
                            "of the input (BatchNorm in training mode, dropout disabled). Writes 'loss',\n"
                            "'grad.input' and 'grad.<parameter name>'."
                          : "Run the network in eval mode on tensor 'input' and write 'logits' [N,K].\n"
                            "With a part of a split network (sei split): a device part writes 'output',\n"
                            "the activation at the cut; a server part reads 'input' (or 'output') and\n"
                            "writes 'logits'.",
                 "--weights W --input X --out Y [--net NAME --classes K ...]", run_flags,
                 (int)(sizeof run_flags / sizeof run_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if ((rc = cli_setup(&c))) return rc;
    const char *wpath = args_str(&c, "weights"), *xpath = args_str(&c, "input"),
               *opath = args_str(&c, "out");
    if (!wpath) return cli_error(c.cmd, "--weights is required");
    if (!xpath) return cli_error(c.cmd, "--input is required");
    if (!opath) return cli_error(c.cmd, "--out is required");

    StFile wf, xf;
    memset(&xf, 0, sizeof xf);
    if (st_open(&wf, wpath) != SEI_OK) return cli_error(c.cmd, "%s", sei_last_error());
    Net net;
    NetPart part;
    rc = backward ? cli_open_net(&c, &net, &wf) : cli_open_part(&c, &net, &wf, &part);
    st_close(&wf);
    if (rc) return rc;
    if (backward) part = part_whole(&net);
    Tensor x;
    memset(&x, 0, sizeof x);
    int32_t *labels = NULL;
    Tape t;
    tape_init(&t, backward, backward, 0, 0);
    if (st_open(&xf, xpath) != SEI_OK) { rc = cli_error(c.cmd, "%s", sei_last_error()); goto done; }
    /* a server part reads what its device part wrote ('output') if there is no 'input' */
    const char *xname = part.from > 0 && !st_find(&xf, "input") && st_find(&xf, "output") ? "output" : "input";
    const StEntry *xe = st_find(&xf, xname);
    if ((rc = cli_read_tensor(&c, &xf, xname, part.from > 0 && xe ? xe->ndim : 4, &x))) goto done;
    if (part.from == 0 && x.shape[1] != net.in_ch) {
        rc = cli_error(c.cmd, "%s: input has %d channels but %s was built for %d (--in-ch)",
                       xpath, x.shape[1], net.name, net.in_ch);
        goto done;
    }
    if (backward) {
        const StEntry *e = st_find(&xf, "labels");
        if (!e) { rc = cli_error(c.cmd, "%s: no tensor 'labels' [N]", xpath); goto done; }
        if (e->ndim != 1 || e->shape[0] != x.shape[0]) {
            rc = cli_error(c.cmd, "%s: 'labels' must have shape [%d]", xpath, x.shape[0]);
            goto done;
        }
        int64_t *l64 = malloc((size_t)x.shape[0] * sizeof(int64_t));
        labels = malloc((size_t)x.shape[0] * sizeof(int32_t));
        if (!l64 || !labels || st_read_i64(&xf, e, l64, (size_t)x.shape[0]) != SEI_OK) {
            free(l64);
            rc = cli_error(c.cmd, "%s", l64 && labels ? sei_last_error() : "out of memory");
            goto done;
        }
        for (int i = 0; i < x.shape[0]; i++) {
            if (l64[i] < 0 || l64[i] >= net.classes) {
                rc = cli_error(c.cmd, "%s: label %lld of sample %d is outside [0,%d)", xpath,
                               (long long)l64[i], i, net.classes);
                free(l64);
                goto done;
            }
            labels[i] = (int32_t)l64[i];
        }
        free(l64);
    }

    if (backward && net_zero_grad(&net) != SEI_OK) {
        rc = cli_error(c.cmd, "%s", sei_last_error());
        goto done;
    }
    Value *in = tape_wrap(&t, &x, backward);
    Value *logits = in ? net_forward(&net, &t, in, part.from, part.to, NULL) : NULL;
    if (!logits) { rc = cli_error(c.cmd, "%s", sei_last_error()); goto done; }
    StWriter w;
    st_writer_init(&w);
    sei_status s;
    char net_meta[64];
    snprintf(net_meta, sizeof net_meta, "%s", net.name);
    if (!backward) { /* a device part's output is what crosses the cut */
        snprintf(logits->t.name, sizeof logits->t.name, "%s", part.head == 1 ? "output" : "logits");
        s = st_add_tensor(&w, &logits->t);
        for (int i = part.from; i < part.to && !s; i++) /* early exits on the way: their logits too */
            if (net.layers[i].kind == L_EXIT && net.exit_out[net.layers[i].exit]) {
                Value *e = net.exit_out[net.layers[i].exit];
                snprintf(e->t.name, sizeof e->t.name, "logits.%.80s", net.layers[i].path);
                s = st_add_tensor(&w, &e->t);
            }
    } else {
        Value *loss = ag_softmax_ce(&t, logits, labels);
        if (!loss || tape_backward(&t, loss, NULL) != SEI_OK) {
            st_writer_free(&w);
            rc = cli_error(c.cmd, "%s", sei_last_error());
            goto done;
        }
        snprintf(loss->t.name, sizeof loss->t.name, "loss");
        s = st_add_tensor(&w, &loss->t);
        if (!s) s = st_add(&w, "grad.input", ST_F32, 4, (int64_t[]){x.shape[0], x.shape[1], x.shape[2], x.shape[3]},
                           in->grad);
        for (int i = 0; i < net.nparams && !s; i++) {
            Param *p = &net.params[i];
            if (p->is_buffer) continue;
            char name[SEI_NAME_LEN + 8];
            snprintf(name, sizeof name, "grad.%s", p->v.t.name);
            int64_t shape[4];
            for (int d = 0; d < p->v.t.ndim; d++) shape[d] = p->v.t.shape[d];
            s = st_add(&w, name, ST_F32, p->v.t.ndim, shape, p->v.grad);
        }
    }
    if (!s) s = st_add_meta(&w, "net", net_meta);
    if (!s) s = st_write(&w, opath);
    st_writer_free(&w);
    if (s) rc = cli_error(c.cmd, "%s", sei_last_error());
done:
    free(labels);
    sei_free(x.data);
    st_close(&xf);
    tape_free(&t);
    net_free(&net);
    return rc;
}

int cmd_forward(int argc, char **argv) { return run(argc, argv, 0); }
int cmd_backward(int argc, char **argv) { return run(argc, argv, 1); }
