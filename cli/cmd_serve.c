/* cmd_serve.c - `sei serve`: the server half of real split inference. It holds the tail part
 * of a network cut by `sei split`, accepts devices over TCP (split/proto.h), checks that each
 * holds the matching head (split_id and cut), runs the tail on every tensor frame and
 * replies with the prediction. One thread, poll(): many devices at once, frames answered in
 * arrival order. A peer that sends a bad hello, a malformed or oversized frame, stays idle
 * past --idle-timeout or takes longer than --frame-timeout over one frame is dropped with a
 * logged reason; the others keep being served. SIGINT / SIGTERM: stop, close, exit 0. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "cli/common.h"
#include "engine/clock.h"
#include "engine/half.h"
#include "split/proto.h"
#include "split/sock.h"

static Flag serve_flags[] = {
    {"weights", "TAIL", "the server part from sei split (--out-tail)", NULL, NULL, 0},
    NET_FLAGS,
    {"listen", "HOST:PORT", "address to listen on", "127.0.0.1:7878", NULL, 0},
    {"max-clients", "N", "devices connected at once (more wait in the backlog)", "64", NULL, 0},
    {"idle-timeout", "S", "drop a device silent for this long", "60", NULL, 0},
    {"frame-timeout", "S", "drop a device that takes longer than this to send one frame", "10", NULL, 0},
    {"exit-after", "N", "stop after N devices have disconnected (0: run until signalled)", "0", NULL, 0},
    {"quiet", NULL, "log only drops and errors", NULL, NULL, 0},
};

static volatile sig_atomic_t g_stop;
static void on_signal(int s) { (void)s; g_stop = 1; }

typedef struct {
    int fd, greeted;
    uint8_t *buf;             /* the frame being received: header, then payload */
    size_t have, need, cap;
    ProtoHeader h;
    int in_payload;
    double last, frame_start;
    long frames;
    char peer[32];
} Client;

static void drop(Client *c, const char *why, int quiet) {
    if (c->fd < 0) return;
    if (why) fprintf(stderr, "sei serve: dropping %s after %ld frames: %s\n", c->peer, c->frames, why);
    else if (!quiet) printf("device %s left after %ld frames\n", c->peer, c->frames);
    close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    fflush(stdout);
}

typedef struct {
    Net net;
    NetPart part;
    uint64_t split_id;
    char cut[SEI_NAME_LEN];
    int in_ndim, in_shape[4]; /* one image's input to the tail */
    Tape tape;
    float *x;
} Server;

/* run the tail on the frame in c->buf; fill the reply */
static const char *serve_frame(Server *s, Client *c, uint8_t reply[PROTO_HEADER_LEN + 12]) {
    const ProtoHeader *h = &c->h;
    /* the shape must be one image of what the tail takes */
    if (h->ndim != s->in_ndim || h->dims[0] != 1) return "tensor shape does not match the cut";
    size_t n = 1;
    for (int i = 1; i < h->ndim; i++) {
        if (h->dims[i] != s->in_shape[i]) return "tensor shape does not match the cut";
        n *= h->dims[i];
    }
    const uint8_t *p = c->buf + PROTO_HEADER_LEN;
    for (size_t i = 0; i < n; i++) {
        if (h->dtype == PROTO_F32) memcpy(&s->x[i], p + 4 * i, 4);
        else if (h->dtype == PROTO_F16) s->x[i] = sei_half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        else s->x[i] = (float)(int8_t)p[i] * h->scale;
        if (!isfinite(s->x[i])) return "non-finite value in the tensor";
    }
    tape_reset(&s->tape);
    Tensor t = {.ndim = s->in_ndim};
    for (int i = 0; i < s->in_ndim; i++) t.shape[i] = s->in_shape[i];
    t.shape[0] = 1;
    t.data = s->x;
    Value *y = net_forward(&s->net, &s->tape, tape_wrap(&s->tape, &t, 0), s->part.from, s->part.to, NULL);
    if (!y) return sei_last_error();
    const int K = s->net.classes;
    const float *l = y->t.data;
    int best = 0;
    for (int k = 1; k < K; k++)
        if (l[k] > l[best]) best = k;
    double z = 0;
    for (int k = 0; k < K; k++) z += exp((double)l[k] - l[best]);
    const float prob = (float)(1 / z);
    const uint32_t us = (uint32_t)((sei_now() - c->frame_start) * 1e6);
    ProtoHeader r = {PROTO_REPLY, PROTO_F32, 0, h->id, 12, 0, {0, 0, 0, 0}};
    proto_put_header(reply, &r);
    uint8_t *q = reply + PROTO_HEADER_LEN;
    const uint32_t cls = (uint32_t)best;
    uint32_t pb;
    memcpy(&pb, &prob, 4);
    for (int i = 0; i < 4; i++) q[i] = (uint8_t)(cls >> 8 * i), q[4 + i] = (uint8_t)(pb >> 8 * i), q[8 + i] = (uint8_t)(us >> 8 * i);
    return NULL;
}

/* bytes arrived for c: advance its state machine (until its socket is drained, or a signal
 * asks to stop: a device that sends faster than the tail runs always has another frame queued,
 * and SIGTERM must not wait for it to stop sending) */
static void on_readable(Server *s, Client *c, double idle_to, int quiet) {
    (void)idle_to;
    while (!g_stop) {
        if (c->have == c->need) {
            if (!c->greeted) { /* the hello is complete */
                ProtoHello hello;
                uint8_t w[PROTO_WELCOME_LEN];
                if (proto_get_hello(c->buf, &hello)) { drop(c, "not a sei device (bad hello)", quiet); return; }
                const uint16_t st = hello.version != PROTO_VERSION ? PROTO_BAD_VERSION
                                    : hello.split_id != s->split_id || strncmp(hello.cut, s->cut, PROTO_CUT_LEN) ? PROTO_BAD_SPLIT
                                                                                                               : PROTO_OK;
                proto_put_welcome(w, st, s->split_id);
                if (sock_write_all(c->fd, w, sizeof w, 5)) { drop(c, "cannot answer the hello", quiet); return; }
                if (st) {
                    drop(c, st == PROTO_BAD_VERSION ? "protocol version mismatch"
                                                    : "its head is not this server's tail (split_id or cut differ)", quiet);
                    return;
                }
                c->greeted = 1;
                if (!quiet) printf("device %s connected (cut %s)\n", c->peer, s->cut), fflush(stdout);
                c->have = 0, c->need = PROTO_HEADER_LEN, c->in_payload = 0;
            } else if (!c->in_payload) {
                const char *why;
                if (proto_get_header(c->buf, &c->h, &why)) { drop(c, why, quiet); return; }
                if (c->h.type == PROTO_BYE) { drop(c, NULL, quiet); return; }
                if (c->h.type != PROTO_TENSOR) { drop(c, "a device may only send tensors", quiet); return; }
                c->need = PROTO_HEADER_LEN + c->h.payload_len, c->in_payload = 1;
                if (c->cap < c->need) {
                    uint8_t *nb = realloc(c->buf, c->need);
                    if (!nb) { drop(c, "out of memory", quiet); return; }
                    c->buf = nb, c->cap = c->need;
                }
            } else { /* a whole frame */
                uint8_t reply[PROTO_HEADER_LEN + 12];
                const char *why = serve_frame(s, c, reply);
                if (why) { drop(c, why, quiet); return; }
                if (sock_write_all(c->fd, reply, sizeof reply, 5)) { drop(c, "cannot send the reply", quiet); return; }
                c->frames++;
                c->have = 0, c->need = PROTO_HEADER_LEN, c->in_payload = 0;
            }
            if (c->have == 0) c->frame_start = 0;
        }
        const ssize_t r = recv(c->fd, c->buf + c->have, c->need - c->have, MSG_DONTWAIT);
        if (r > 0) {
            if (c->have == 0) c->frame_start = sei_now();
            c->have += (size_t)r;
            c->last = sei_now();
            continue;
        }
        if (r == 0) { drop(c, c->have ? "closed in the middle of a frame" : c->greeted ? "closed without saying bye" : "closed before the hello", quiet); return; }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        drop(c, strerror(errno), quiet);
        return;
    }
}

int cmd_serve(int argc, char **argv) {
    Command c = {"serve", "Serve the tail of a split network to devices over TCP (see sei device).",
                 "--weights TAIL --listen HOST:PORT", serve_flags, (int)(sizeof serve_flags / sizeof serve_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if (cli_setup(&c)) return 2;
    const char *w = args_str(&c, "weights");
    if (!w) return cli_error(c.cmd, "--weights TAIL is required (sei split --out-tail)");
    int maxc = 64, exit_after = 0;
    float idle = 60, fto = 10;
    if (args_int(&c, "max-clients", 1, 4096, &maxc) || args_int(&c, "exit-after", 0, 1 << 30, &exit_after) ||
        args_float(&c, "idle-timeout", 0.01, 1e7, &idle) || args_float(&c, "frame-timeout", 0.01, 1e7, &fto))
        return 2;
    const int quiet = args_bool(&c, "quiet");
    Server s;
    memset(&s, 0, sizeof s);
    StFile f;
    if (st_open(&f, w) != SEI_OK) return cli_error(c.cmd, "%s", sei_last_error());
    if ((rc = cli_open_part(&c, &s.net, &f, &s.part))) { st_close(&f); return rc; }
    const char *id = st_meta(&f, "split_id"), *sz = st_meta(&f, "size");
    if (s.part.head != 0 || !id) {
        rc = cli_error(c.cmd, "%s is not a server part from sei split (no part=tail / split_id)", w);
        st_close(&f);
        net_free(&s.net);
        return rc;
    }
    s.split_id = strtoull(id, NULL, 16);
    snprintf(s.cut, sizeof s.cut, "%s", s.part.cut);
    const int size = sz ? atoi(sz) : 0;
    st_close(&f);
    LayerInfo *li = calloc((size_t)s.net.nlayers, sizeof *li);
    if (!li || size < 1 || net_shapes(&s.net, 1, s.net.in_ch, size, size, li) != SEI_OK) {
        free(li);
        net_free(&s.net);
        return cli_error(c.cmd, "%s: cannot work out the cut's shape (no input size in the metadata?)", w);
    }
    const LayerInfo *in = &li[s.part.from - 1];
    s.in_ndim = in->ndim;
    size_t per = 1;
    for (int i = 0; i < in->ndim; i++) s.in_shape[i] = in->shape[i], per *= i ? (size_t)in->shape[i] : 1;
    free(li);
    s.x = malloc(per * sizeof(float));
    tape_init(&s.tape, 0, 0, 0, 0);
    int lfd;
    if (!s.x || sock_listen(args_str(&c, "listen"), &lfd) != SEI_OK) {
        rc = cli_error(c.cmd, "%s", s.x ? sei_last_error() : "out of memory");
        free(s.x), tape_free(&s.tape), net_free(&s.net);
        return rc;
    }
    signal(SIGINT, on_signal), signal(SIGTERM, on_signal), signal(SIGPIPE, SIG_IGN);
    printf("serving %s after %s (split %016llx) on %s\n", s.net.name, s.cut, (unsigned long long)s.split_id,
           args_str(&c, "listen"));
    fflush(stdout);
    Client *cl = calloc((size_t)maxc, sizeof *cl);
    struct pollfd *pf = calloc((size_t)maxc + 1, sizeof *pf);
    for (int i = 0; cl && i < maxc; i++) cl[i].fd = -1;
    int left = 0;
    while (cl && pf && !g_stop && (!exit_after || left < exit_after)) {
        int nfd = 0, live = 0;
        for (int i = 0; i < maxc; i++) live += cl[i].fd >= 0;
        pf[nfd++] = (struct pollfd){lfd, live < maxc ? POLLIN : 0, 0};
        for (int i = 0; i < maxc; i++) pf[nfd++] = (struct pollfd){cl[i].fd, POLLIN, 0};
        if (poll(pf, (nfds_t)nfd, 200) < 0 && errno != EINTR) break;
        if (pf[0].revents & POLLIN) {
            const int fd = sock_accept(lfd);
            for (int i = 0; fd >= 0 && i < maxc; i++)
                if (cl[i].fd < 0) {
                    Client *k = &cl[i];
                    memset(k, 0, sizeof *k);
                    k->fd = fd, k->need = PROTO_HELLO_LEN, k->cap = PROTO_HEADER_LEN > PROTO_HELLO_LEN ? PROTO_HEADER_LEN : PROTO_HELLO_LEN;
                    k->buf = malloc(k->cap);
                    k->last = sei_now();
                    snprintf(k->peer, sizeof k->peer, "#%d", fd);
                    if (!k->buf) drop(k, "out of memory", quiet);
                    break;
                }
        }
        const double now = sei_now();
        for (int i = 0; i < maxc; i++) {
            Client *k = &cl[i];
            if (k->fd < 0) continue;
            if (pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) on_readable(&s, k, idle, quiet);
            if (k->fd >= 0 && now - k->last > idle) drop(k, "idle for too long", quiet);
            if (k->fd >= 0 && k->have && k->frame_start > 0 && now - k->frame_start > fto) drop(k, "too slow sending a frame", quiet);
            left += k->fd < 0; /* it left in this round */
        }
    }
    for (int i = 0; cl && i < maxc; i++) drop(&cl[i], NULL, 1);
    close(lfd);
    free(cl), free(pf), free(s.x);
    tape_free(&s.tape);
    net_free(&s.net);
    if (!quiet) printf("server stopped\n");
    return 0;
}
