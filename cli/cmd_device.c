/* cmd_device.c - `sei device`: the device half of real split inference. It holds the head
 * part of a network cut by `sei split`, runs it on each image of a data split (at --fps, or
 * as fast as it can), leaves early where an exit is confident enough (--exit-tau), sends the
 * activation at the cut to `sei serve` in the --wire format and collects the predictions.
 * Pipelined: up to --window frames are in flight while the next ones are computed. A lost
 * connection is retried (--reconnect times); frames in flight then count as lost. Prints
 * accuracy, latency mean / p50 / p95 / p99 (from each frame's scheduled arrival to its
 * answer), frames sent, exited and lost, and bytes sent (frame headers included). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "cli/common.h"
#include "engine/clock.h"
#include "engine/half.h"
#include "split/exits.h"
#include "split/proto.h"
#include "split/sock.h"

static Flag device_flags[] = {
    {"weights", "HEAD", "the device part from sei split (--out-head)", NULL, NULL, 0},
    NET_FLAGS,
    DATA_FLAGS,
    {"split", "NAME", "the data split to run on", "test", NULL, 0},
    {"connect", "HOST:PORT", "the server (sei serve)", "127.0.0.1:7878", NULL, 0},
    {"fps", "F", "frames per second (0: as fast as possible)", "0", NULL, 0},
    {"wire", "FMT", "fp32, fp16 or int8 (per-frame scale); default: the head's wire format if it ends in one, else fp32", NULL, NULL, 0},
    {"exit-tau", "T", "leave at the head's early exit when its max softmax >= T (needs exits)", NULL, NULL, 0},
    {"window", "N", "frames in flight at most", "8", NULL, 0},
    {"timeout", "S", "give up on the server after this long without progress", "10", NULL, 0},
    {"reconnect", "N", "connection attempts after a failure", "3", NULL, 0},
    {"normalize", "M/S", "override the checkpoint's normalisation", NULL, NULL, 0},
    {"csv", "FILE", "one row per frame: id, label, prediction, exited, latency", NULL, NULL, 0},
};

typedef struct {
    double t0;        /* scheduled arrival */
    int label, pred, exited, done, lost;
    double lat;
} FrameRec;

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int handshake(Command *c, int fd, uint64_t id, const char *cut) {
    ProtoHello h = {PROTO_VERSION, 0, id, {0}};
    snprintf(h.cut, sizeof h.cut, "%s", cut);
    uint8_t b[PROTO_HELLO_LEN], w[PROTO_WELCOME_LEN];
    proto_put_hello(b, &h);
    uint16_t ver, st;
    uint64_t sid;
    if (sock_write_all(fd, b, sizeof b, 5) || sock_read_all(fd, w, sizeof w, 5) ||
        proto_get_welcome(w, &ver, &st, &sid))
        return cli_error(c->cmd, "%s: not a sei server (no welcome)", args_str(c, "connect"));
    if (st == PROTO_BAD_VERSION) return cli_error(c->cmd, "the server speaks protocol version %u, not %u", ver, PROTO_VERSION);
    if (st) return cli_error(c->cmd, "the server holds another network's tail (split %016llx, this head %016llx at %s)",
                             (unsigned long long)sid, (unsigned long long)id, cut);
    return 0;
}

/* quiet: a failed connect only leaves its reason in sei_last_error (the retries report it) */
static int open_link(Command *c, uint64_t id, const char *cut, double timeout, int *fd, int quiet) {
    if (sock_connect(args_str(c, "connect"), timeout, fd) != SEI_OK) return quiet ? 2 : cli_error(c->cmd, "%s", sei_last_error());
    if (handshake(c, *fd, id, cut)) { close(*fd); *fd = -1; return 2; }
    return 0;
}

/* read every reply that is there (block up to wait_s for the first); -1 on a broken link */
static int collect(int fd, FrameRec *fr, long nfr, long *inflight, double wait_s, double clock0) {
    struct pollfd p = {fd, POLLIN, 0};
    int first = 1;
    for (;;) {
        const int r = poll(&p, 1, first ? (int)(wait_s * 1000) : 0);
        first = 0;
        if (r <= 0) return r < 0 && errno != EINTR ? -1 : 0;
        uint8_t b[PROTO_HEADER_LEN + 12];
        if (sock_read_all(fd, b, PROTO_HEADER_LEN, 5)) return -1;
        ProtoHeader h;
        const char *why;
        if (proto_get_header(b, &h, &why) || h.type != PROTO_REPLY || h.id >= (uint64_t)nfr ||
            sock_read_all(fd, b + PROTO_HEADER_LEN, 12, 5))
            return -1;
        FrameRec *f = &fr[h.id];
        const uint8_t *q = b + PROTO_HEADER_LEN;
        if (!f->done && !f->lost) {
            f->pred = (int)(q[0] | q[1] << 8 | q[2] << 16 | (uint32_t)q[3] << 24);
            f->lat = sei_now() - clock0 - f->t0;
            f->done = 1;
            (*inflight)--;
        }
    }
}

int cmd_device(int argc, char **argv) {
    Command c = {"device", "Run the head of a split network on a data split and send the cut to sei serve.",
                 "--weights HEAD --connect HOST:PORT [--data SPEC] [--fps F] [--wire fp32|fp16|int8] [--exit-tau T]",
                 device_flags, (int)(sizeof device_flags / sizeof device_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if (cli_setup(&c)) return 2;
    const char *w = args_str(&c, "weights");
    if (!w) return cli_error(c.cmd, "--weights HEAD is required (sei split --out-head)");
    float fps = 0, to = 10, tau = -1;
    int window = 8, recon = 3;
    if (args_float(&c, "fps", 0, 1e6, &fps) || args_float(&c, "timeout", 0.01, 1e6, &to) ||
        args_int(&c, "window", 1, 4096, &window) || args_int(&c, "reconnect", 0, 1000, &recon))
        return 2;
    if (args_str(&c, "exit-tau") && args_float(&c, "exit-tau", 0, 1, &tau)) return 2;
    int wf = args_str(&c, "wire") ? wire_parse(args_str(&c, "wire")) : -2;
    if (wf == -1) return cli_error(c.cmd, "--wire: '%s' is not fp32, fp16 or int8", args_str(&c, "wire"));
    signal(SIGPIPE, SIG_IGN);
    StFile f;
    if (st_open(&f, w) != SEI_OK) return cli_error(c.cmd, "%s", sei_last_error());
    Net net;
    NetPart part;
    if ((rc = cli_open_part(&c, &net, &f, &part))) { st_close(&f); return rc; }
    const char *id = st_meta(&f, "split_id");
    if (part.head != 1 || !id) {
        rc = cli_error(c.cmd, "%s is not a device part from sei split (no part=head / split_id)", w);
        net_free(&net), st_close(&f);
        return rc;
    }
    const uint64_t split_id = strtoull(id, NULL, 16);
    if (wf == -2) { /* the format the network was trained with at its wire, if the head ends in one */
        int k = part.to - 1;
        while (k > 0 && net.layers[k].kind == L_EXIT) k--;
        wf = net.layers[k].kind == L_WIRE ? net.layers[k].wire : WIRE_FP32;
    }
    if (tau >= 0 && !net.nexits) {
        net_free(&net), st_close(&f);
        return cli_error(c.cmd, "--exit-tau: %s has no early exit", w);
    }
    DataConfig dc;
    Dataset d = {0};
    BatchConfig bc = {.batch = 1};
    rc = cli_eval_data(&c, &net, &f, args_str(&c, "split"), &dc, &d, &bc);
    st_close(&f);
    if (!rc && d.n == 0) rc = cli_error(c.cmd, "no images in the %s split", args_str(&c, "split"));
    int fd = -1;
    if (!rc) rc = open_link(&c, split_id, part.cut, to, &fd, 0);
    if (rc) { ds_free(&d), net_free(&net); return rc; }
    Batcher b;
    if (batcher_init(&b, &d, &bc) != SEI_OK) {
        rc = cli_error(c.cmd, "%s", sei_last_error());
        close(fd), ds_free(&d), net_free(&net);
        return rc;
    }
    batcher_epoch(&b, 0);
    FrameRec *fr = calloc((size_t)d.n, sizeof *fr);
    uint8_t *msg = NULL;
    size_t msg_cap = 0;
    Tape t;
    tape_init(&t, 0, 0, 0, 0);
    long nfr = 0, inflight = 0, sent = 0, bytes = 0, exited = 0, lost = 0;
    const double clock0 = sei_now();
    const float *x;
    const int32_t *y;
    int n, reconnects = 0;
    int exit_layer = -1;
    for (int i = part.from; i < part.to; i++)
        if (net.layers[i].kind == L_EXIT && exit_layer < 0) exit_layer = i;
    while (!rc && fr && (n = batcher_next(&b, &x, &y)) > 0) {
        FrameRec *r = &fr[nfr];
        r->t0 = fps > 0 ? nfr / fps : sei_now() - clock0;
        r->label = y[0];
        if (fps > 0) { /* wait for the frame's time, reading replies meanwhile */
            double wait;
            while ((wait = clock0 + r->t0 - sei_now()) > 0)
                if (fd >= 0 && collect(fd, fr, nfr, &inflight, wait, clock0) < 0) break;
        }
        tape_reset(&t);
        Tensor xt = {.ndim = 4, .shape = {1, net.in_ch, bc.size, bc.size}, .data = (float *)x};
        Value *a = net_forward(&net, &t, tape_wrap(&t, &xt, 0), part.from, part.to, NULL);
        if (!a) { rc = cli_error(c.cmd, "%s", sei_last_error()); break; }
        if (tau >= 0 && exit_layer >= 0) {
            const Value *e = net.exit_out[net.layers[exit_layer].exit];
            if (exit_score(e->t.data, net.classes, EXIT_MAXPROB) >= tau) {
                int best = 0;
                for (int k = 1; k < net.classes; k++)
                    if (e->t.data[k] > e->t.data[best]) best = k;
                r->pred = best, r->exited = r->done = 1, r->lat = sei_now() - clock0 - r->t0;
                exited++, nfr++;
                continue;
            }
        }
        /* the frame: header + payload in the wire format */
        const size_t m = tensor_numel(&a->t), es = wf == WIRE_FP32 ? 4 : wf == WIRE_FP16 ? 2 : 1;
        if (msg_cap < PROTO_HEADER_LEN + m * es) {
            free(msg);
            msg_cap = PROTO_HEADER_LEN + m * es;
            msg = malloc(msg_cap);
            if (!msg) { rc = cli_error(c.cmd, "out of memory"); break; }
        }
        ProtoHeader h = {PROTO_TENSOR, (uint8_t)(wf == WIRE_FP32 ? PROTO_F32 : wf == WIRE_FP16 ? PROTO_F16 : PROTO_I8),
                         (uint8_t)a->t.ndim, (uint64_t)nfr, (uint32_t)(m * es), 0, {0, 0, 0, 0}};
        int too_big = 0;
        for (int i = 0; i < a->t.ndim; i++) too_big |= a->t.shape[i] > 65535, h.dims[i] = (uint16_t)a->t.shape[i];
        if (too_big) { rc = cli_error(c.cmd, "the cut's activation has a dimension above 65535"); break; }
        uint8_t *p = msg + PROTO_HEADER_LEN;
        if (wf == WIRE_INT8) h.scale = wire_int8_scale(a->t.data, m);
        for (size_t i = 0; i < m; i++) {
            const float v = a->t.data[i];
            if (wf == WIRE_FP32) memcpy(p + 4 * i, &v, 4);
            else if (wf == WIRE_FP16) { const uint16_t hv = sei_float_to_half(v); p[2 * i] = (uint8_t)hv, p[2 * i + 1] = (uint8_t)(hv >> 8); }
            else {
                float q = h.scale > 0 ? nearbyintf(v / h.scale) : 0;
                q = q > 127 ? 127 : q < -127 ? -127 : q;
                p[i] = (uint8_t)(int8_t)q;
            }
        }
        proto_put_header(msg, &h);
        /* keep the window: wait for answers first */
        while (fd >= 0 && inflight >= window)
            if (collect(fd, fr, nfr, &inflight, to, clock0) < 0 || (inflight >= window && sei_now() - clock0 - r->t0 > to)) {
                close(fd), fd = -1;
                break;
            }
        if (fd >= 0 && sock_write_all(fd, msg, PROTO_HEADER_LEN + m * es, to)) close(fd), fd = -1;
        if (fd < 0) { /* the link broke: frames in flight are lost; try again */
            for (long i = 0; i <= nfr; i++)
                if (!fr[i].done && !fr[i].lost && !fr[i].exited) fr[i].lost = 1, lost++;
            inflight = 0;
            int ok = 0;
            while (!ok && reconnects < recon) {
                reconnects++;
                fprintf(stderr, "sei device: connection to %s lost; reconnecting (%d of %d)\n", args_str(&c, "connect"),
                        reconnects, recon);
                struct timespec ts = {0, 200000000};
                nanosleep(&ts, NULL);
                ok = !open_link(&c, split_id, part.cut, to, &fd, 1);
            }
            if (!ok) {
                rc = cli_error(c.cmd, "the server at %s is gone (%s)", args_str(&c, "connect"),
                               recon ? sei_last_error() : "no reconnects asked for");
                break;
            }
            nfr++;
            continue;
        }
        sent++, bytes += (long)(PROTO_HEADER_LEN + m * es), inflight++, nfr++;
        if (collect(fd, fr, nfr, &inflight, 0, clock0) < 0) close(fd), fd = -1;
    }
    /* the last answers, then goodbye */
    const double end = sei_now() + to;
    while (!rc && fd >= 0 && inflight > 0 && sei_now() < end)
        if (collect(fd, fr, nfr, &inflight, end - sei_now(), clock0) < 0) break;
    for (long i = 0; i < nfr; i++)
        if (!fr[i].done && !fr[i].lost) fr[i].lost = 1, lost++;
    if (fd >= 0) {
        uint8_t bye[PROTO_HEADER_LEN];
        ProtoHeader h = {PROTO_BYE, PROTO_F32, 0, 0, 0, 0, {0, 0, 0, 0}};
        proto_put_header(bye, &h);
        sock_write_all(fd, bye, sizeof bye, 1);
        close(fd);
    }
    const double secs = sei_now() - clock0;
    if (!rc) {
        double *lat = malloc((size_t)(nfr ? nfr : 1) * sizeof *lat), sum = 0;
        long nl = 0, right = 0;
        for (long i = 0; i < nfr; i++)
            if (fr[i].done) lat[nl++] = fr[i].lat, sum += fr[i].lat, right += fr[i].pred == fr[i].label;
        qsort(lat, (size_t)nl, sizeof *lat, cmp_d);
#define PCT(q) (nl ? 1e3 * lat[(long)ceil((q) * nl) - 1 < 0 ? 0 : (long)ceil((q) * nl) - 1] : NAN)
        printf("%ld frames in %.2f s: %ld answered by the server, %ld left at the exit, %ld lost; accuracy %.2f%% of %ld answered\n",
               nfr, secs, nl - exited, exited, lost, nl ? 100.0 * right / nl : 0.0, nl);
        printf("latency ms: mean %.3f  p50 %.3f  p95 %.3f  p99 %.3f  max %.3f\n", nl ? 1e3 * sum / nl : NAN, PCT(0.5),
               PCT(0.95), PCT(0.99), nl ? 1e3 * lat[nl - 1] : NAN);
        printf("sent %ld frames, %ld bytes (%.1f per frame, %s); %d reconnects\n", sent, bytes, sent ? (double)bytes / sent : 0.0,
               wire_name((WireFormat)wf), reconnects);
#undef PCT
        free(lat);
        const char *csv = args_str(&c, "csv");
        if (csv) {
            FILE *o = fopen(csv, "w");
            if (!o) rc = cli_error(c.cmd, "cannot write %s", csv);
            else {
                fprintf(o, "frame,label,prediction,exited,lost,latency_s\n");
                for (long i = 0; i < nfr; i++)
                    fprintf(o, "%ld,%d,%d,%d,%d,%.9g\n", i, fr[i].label, fr[i].pred, fr[i].exited, fr[i].lost, fr[i].done ? fr[i].lat : NAN);
                if (fclose(o)) rc = cli_error(c.cmd, "cannot write %s", csv);
            }
        }
    }
    free(fr), free(msg);
    tape_free(&t);
    batcher_free(&b);
    ds_free(&d);
    net_free(&net);
    return rc;
}
