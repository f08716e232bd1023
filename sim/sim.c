/* sim.c - the discrete-event simulation of devices, link and server (see sim.h).
 *
 * Events sit in one binary heap ordered by (time, insertion number), so equal times keep
 * their order and a seed gives one result. Transmitters are FIFO: a packet queued at t
 * leaves at max(t, busy_until) + its serialisation time, so a medium needs no events of its
 * own; a packet's arrival (or a TCP ACK's, or a timer) is an event. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine/rng.h"
#include "sim/sim.h"

enum { EV_ARRIVE, EV_HEAD_DONE, EV_MSG, EV_SERVER_DONE, EV_SEG, EV_ACK, EV_RTO };

typedef struct { double t; long seq; int type, a; long b, c; } Ev;

typedef struct {
    double arrive, done, at_server;
    int dev, lost, finished, exits;
} Frame;

typedef struct { long end; int frame; } Msg; /* a message ends before segment `end` */

typedef struct { double busy_until, busy; int bad; } Medium;

/* one reliable connection (device dev, direction dir: 0 up, 1 down); segments are numbered
 * from 0, [una, nxt) are outstanding */
typedef struct {
    int dev, dir;
    long total, una, nxt, rcv_next;
    double cwnd, ssthresh, srtt, rttvar, rto, min_rtt, last_send;
    double rack_xmit, rack_rtt; /* RACK: send time, number and RTT of the latest-sent segment */
    long rack_seq;              /* known delivered */
    int state, have_rtt, timer, probe_out;
    long recover, timer_gen, max_fl; /* most segments in flight since the flow was last idle */
    long cap;
    int *seg_bytes;
    double *sent_t;
    unsigned char *sent, *retx, *got, *sacked, *lost;
    Msg *msg;
    long nmsg, msg_cap, msg_head;
} Flow;

typedef struct {
    const SimLink *L;
    const SimNode *D;
    const SimPlan *P;
    const SimWorkload *W;
    Rng rng;
    Ev *heap;
    long nh, caph, seq;
    double now;
    Frame *fr;
    long nfr, capfr;
    Medium *up, *down;        /* [devices] or [1] when shared */
    double *dev_busy_until, *dev_compute, *dev_tx, *dev_rx;
    Flow *flows;              /* [devices * 2] for TCP */
    int busy_workers;
    long *queue, qh, qn, qcap;
    double server_busy, wait_sum;
    long waits;
    SimResult *r;
    int oom;
} Sim;

static double urand(Sim *s) { return (double)(rng_u64(&s->rng) >> 11) * (1.0 / 9007199254740992.0); }

static void *grow(void *p, long *cap, long need, size_t elem, Sim *s) {
    if (need <= *cap) return p;
    long c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(p, (size_t)c * elem);
    if (!q) { s->oom = 1; return p; }
    memset((char *)q + (size_t)*cap * elem, 0, (size_t)(c - *cap) * elem);
    *cap = c;
    return q;
}

static int ev_less(const Ev *a, const Ev *b) { return a->t < b->t || (a->t == b->t && a->seq < b->seq); }

static void push_ev(Sim *s, double t, int type, int a, long b, long c) {
    s->heap = grow(s->heap, &s->caph, s->nh + 1, sizeof *s->heap, s);
    if (s->oom) return;
    long i = s->nh++;
    Ev e = {t, s->seq++, type, a, b, c};
    while (i > 0 && ev_less(&e, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

static void push(Sim *s, double t, int type, int a, long b) { push_ev(s, t, type, a, b, 0); }

static Ev pop(Sim *s) {
    Ev top = s->heap[0], last = s->heap[--s->nh];
    long i = 0;
    for (;;) {
        long c = 2 * i + 1;
        if (c >= s->nh) break;
        if (c + 1 < s->nh && ev_less(&s->heap[c + 1], &s->heap[c])) c++;
        if (!ev_less(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->nh) s->heap[i] = last;
    return top;
}

double sim_compute_s(const SimNode *n, double macs, int layers) {
    return (n->gflops > 0 ? 2.0 * macs / (n->gflops * 1e9) : 0) + layers * n->overhead_s;
}

/* ---------------------------------------------------------------- packets */

/* one packet of `bytes` on the wire from dev in direction dir (0 up, 1 down) sent at now:
 * its arrival time, or -1 if it is lost */
static double send_packet(Sim *s, int dev, int dir, int bytes) {
    const SimLink *L = s->L;
    Medium *m = dir ? &s->down[L->shared ? 0 : dev] : &s->up[L->shared ? 0 : dev];
    const double bps = dir ? L->down_bps : L->up_bps;
    const double ser = bps > 0 ? bytes * 8.0 / bps : 0;
    const double start = m->busy_until > s->now ? m->busy_until : s->now;
    m->busy_until = start + ser;
    m->busy += ser;
    if (dir) s->dev_rx[dev] += ser;
    else s->dev_tx[dev] += ser;
    s->r->packets++;
    /* loss: Gilbert-Elliott state first, then the state's loss probability */
    double p = L->loss;
    if (L->ge_p > 0) {
        if (m->bad) { if (urand(s) < L->ge_r) m->bad = 0; }
        else if (urand(s) < L->ge_p) m->bad = 1;
        if (m->bad) p = 1 - (1 - p) * (1 - L->ge_loss);
    }
    if (p > 0 && urand(s) < p) { s->r->packets_lost++; return -1; }
    return m->busy_until + L->delay_s + (L->jitter_s > 0 ? L->jitter_s * urand(s) : 0);
}

static int payload_per_packet(const SimLink *L) { return L->mtu - L->header; }

/* ---------------------------------------------------------------- TCP
 * Linux's TCP as it behaves by default, with Reno congestion control: SACK (each ACK reports
 * the segment that caused it besides the cumulative point), RACK-TLP loss detection (RFC
 * 8985), fast recovery without window inflation, an RTO of srtt + max(4 rttvar, 200 ms),
 * and slow start again after an idle period longer than the RTO. One timer per connection
 * serves the RACK reordering window, the tail-loss probe and the RTO, as in Linux. */

enum { OPEN, RECOVERY, LOSS };
enum { T_NONE, T_REO, T_PTO, T_RTO };

static void flow_reserve(Sim *s, Flow *f, long segs) {
    if (segs <= f->cap) return;
    long c = f->cap ? f->cap : 256;
    while (c < segs) c *= 2;
    int *sb = realloc(f->seg_bytes, (size_t)c * sizeof *sb);
    double *st = realloc(f->sent_t, (size_t)c * sizeof *st);
    if (sb) f->seg_bytes = sb;
    if (st) f->sent_t = st;
    unsigned char **flags[5] = {&f->sent, &f->retx, &f->got, &f->sacked, &f->lost};
    int ok = sb && st;
    for (int k = 0; k < 5; k++) {
        unsigned char *q = realloc(*flags[k], (size_t)c);
        if (!q) { ok = 0; continue; }
        memset(q + f->cap, 0, (size_t)(c - f->cap));
        *flags[k] = q;
    }
    if (!ok) { s->oom = 1; return; }
    f->cap = c;
}

static void arm(Sim *s, Flow *f, int idx, int kind, double after) {
    f->timer = kind;
    push(s, s->now + after, EV_RTO, idx, ++f->timer_gen);
}

/* segments outstanding and not known delivered or lost (Linux's packets_in_flight) */
static long in_flight(const Flow *f) {
    long n = 0;
    for (long j = f->una; j < f->nxt; j++) n += !f->sacked[j] && !f->lost[j];
    return n;
}

static void send_seg(Sim *s, Flow *f, int idx, long k) {
    if (f->sent[k]) { f->retx[k] = 1; s->r->retransmits++; }
    f->sent[k] = 1, f->lost[k] = 0;
    f->sent_t[k] = f->last_send = s->now;
    const double t = send_packet(s, f->dev, f->dir, f->seg_bytes[k] + s->L->header);
    if (t >= 0) push(s, t, EV_SEG, idx, k);
}

/* the timer after a send or an ACK: RTO when recovering, else the tail-loss probe (2 srtt,
 * plus 200 ms for a delayed ACK when one segment is out), never later than the RTO */
static void rearm(Sim *s, Flow *f, int idx) {
    if (f->una >= f->nxt) { f->timer = T_NONE, f->timer_gen++; return; }
    if (f->timer == T_REO) return;
    if (f->state == OPEN && !f->probe_out) {
        double pto = f->have_rtt ? 2 * f->srtt + (f->nxt - f->una == 1 ? 0.2 : 0.002) : 1.0;
        arm(s, f, idx, T_PTO, pto < f->rto ? pto : f->rto);
    } else arm(s, f, idx, T_RTO, f->rto);
}

/* lost segments first, then new data, while the window has room */
static void try_send(Sim *s, Flow *f, int idx) {
    if (f->una == f->nxt && f->nxt < f->total && f->have_rtt && s->now - f->last_send > f->rto && f->cwnd > 10)
        f->cwnd = 10; /* idle longer than an RTO: restart from the initial window (RFC 5681 4.1) */
    long fl = in_flight(f);
    for (long j = f->una; j < f->nxt && fl < (long)f->cwnd; j++)
        if (f->lost[j]) send_seg(s, f, idx, j), fl++;
    while (f->nxt < f->total && fl < (long)f->cwnd) {
        if (!f->sacked[f->nxt]) send_seg(s, f, idx, f->nxt), fl++;
        f->nxt++;
    }
    if (fl > f->max_fl) f->max_fl = fl;
}

static void tcp_message(Sim *s, int dev, int dir, long bytes, int frame) {
    const int idx = dev * 2 + dir;
    Flow *f = &s->flows[idx];
    const int mss = payload_per_packet(s->L);
    const long n = bytes > 0 ? (bytes + mss - 1) / mss : 1;
    flow_reserve(s, f, f->total + n);
    if (s->oom) return;
    for (long k = 0; k < n; k++) f->seg_bytes[f->total + k] = (int)(k < n - 1 ? mss : bytes - (n - 1) * mss);
    f->total += n;
    f->msg = grow(f->msg, &f->msg_cap, f->nmsg + 1, sizeof *f->msg, s);
    if (s->oom) return;
    f->msg[f->nmsg++] = (Msg){f->total, frame};
    const long before = f->nxt;
    try_send(s, f, idx);
    if (f->nxt != before) rearm(s, f, idx);
}

static void msg_delivered(Sim *s, int frame, int dir);

static void on_seg(Sim *s, int idx, long k) {
    Flow *f = &s->flows[idx];
    if (!f->got[k]) f->got[k] = 1;
    while (f->rcv_next < f->total && f->got[f->rcv_next]) f->rcv_next++;
    while (f->msg_head < f->nmsg && f->msg[f->msg_head].end <= f->rcv_next)
        msg_delivered(s, f->msg[f->msg_head++].frame, f->dir);
    /* the ACK goes the other way: cumulative point and the segment that caused it (SACK) */
    const double t = send_packet(s, f->dev, !f->dir, s->L->header);
    if (t >= 0) push_ev(s, t, EV_ACK, idx, f->rcv_next, k);
}

/* RFC 6298 estimator with Linux's floor: rto = srtt + max(4 rttvar, 200 ms) */
static void rtt_sample(Flow *f, double r) {
    if (!f->have_rtt) f->srtt = r, f->rttvar = r / 2, f->have_rtt = 1, f->min_rtt = r;
    else {
        f->rttvar = 0.75 * f->rttvar + 0.25 * fabs(f->srtt - r);
        f->srtt = 0.875 * f->srtt + 0.125 * r;
    }
    if (r < f->min_rtt) f->min_rtt = r;
    f->rto = f->srtt + (4 * f->rttvar > 0.2 ? 4 * f->rttvar : 0.2);
    if (f->rto > 120) f->rto = 120;
}

/* segment k is known delivered now: RACK remembers the latest-sent such segment */
static void delivered(Sim *s, Flow *f, long k) {
    const double t = f->sent_t[k];
    if (f->retx[k] && s->now - t < f->min_rtt) return; /* the ACK of the original: ambiguous */
    if (t > f->rack_xmit || (t == f->rack_xmit && k > f->rack_seq))
        f->rack_xmit = t, f->rack_seq = k, f->rack_rtt = s->now - t;
}

/* RACK: a segment sent before one known delivered is lost once rack_rtt + a reordering
 * window (a quarter of min RTT; none in recovery or with 3 segments SACKed) has passed since
 * it was sent; returns how many it marked, arms the timer for the next candidate */
static long rack_detect(Sim *s, Flow *f, int idx) {
    long sacked = 0, marked = 0;
    for (long j = f->una; j < f->nxt; j++) sacked += f->sacked[j];
    const double reo = f->state != OPEN || sacked >= 3 ? 0 : (f->min_rtt / 4 < f->srtt ? f->min_rtt / 4 : f->srtt);
    double wait = -1;
    for (long j = f->una; j < f->nxt; j++) {
        if (f->sacked[j] || f->lost[j] || !f->sent[j]) continue;
        const double t = f->sent_t[j];
        if (!(t < f->rack_xmit || (t == f->rack_xmit && j < f->rack_seq))) continue;
        const double left = t + f->rack_rtt + reo - s->now;
        if (left <= 0) f->lost[j] = 1, marked++;
        else if (wait < 0 || left < wait) wait = left;
    }
    if (wait >= 0) arm(s, f, idx, T_REO, wait);
    else if (f->timer == T_REO) f->timer = T_NONE;
    return marked;
}

/* Reno's slow-start threshold after a loss: half the window, at least 2 */
static double half_window(const Flow *f) { return f->cwnd / 2 > 2 ? floor(f->cwnd / 2) : 2; }

/* losses found: enter fast recovery (Reno halves the window) and retransmit the first at once */
static void on_losses(Sim *s, Flow *f, int idx) {
    if (f->state == OPEN) {
        f->ssthresh = half_window(f);
        f->cwnd = f->ssthresh;
        f->state = RECOVERY, f->recover = f->nxt - 1;
        for (long j = f->una; j < f->nxt; j++)
            if (f->lost[j]) { send_seg(s, f, idx, j); break; }
    }
}

static void on_ack(Sim *s, int idx, long ack, long k) {
    Flow *f = &s->flows[idx];
    long newly = 0;
    if (ack > f->una) {
        if (!f->retx[ack - 1]) rtt_sample(f, s->now - f->sent_t[ack - 1]); /* Karn */
        for (long j = f->una; j < ack; j++)
            if (!f->sacked[j]) delivered(s, f, j), newly++;
        f->una = ack;
        if (f->nxt < f->una) f->nxt = f->una;
        f->probe_out = 0;
    }
    if (k >= f->una && k < f->nxt && !f->sacked[k]) {
        if (!f->retx[k]) rtt_sample(f, s->now - f->sent_t[k]);
        f->sacked[k] = 1, f->lost[k] = 0;
        delivered(s, f, k), newly++;
    }
    /* the window grows only while it limits the sender (Linux's tcp_is_cwnd_limited: in slow
     * start while less than twice what was in flight) */
    if (f->state != OPEN && f->una > f->recover) f->state = OPEN, f->cwnd = f->ssthresh;
    else if (f->state == OPEN && newly) {
        if (f->cwnd < f->ssthresh) { if (f->cwnd < 2.0 * (double)f->max_fl) f->cwnd += (double)newly; }
        else if (f->max_fl >= (long)f->cwnd) f->cwnd += (double)newly / f->cwnd;
    }
    if (f->una == f->nxt) f->max_fl = 0;
    if (f->timer == T_REO) f->timer = T_NONE; /* re-evaluated now */
    if (rack_detect(s, f, idx)) on_losses(s, f, idx);
    try_send(s, f, idx);
    rearm(s, f, idx);
}

static void on_timer(Sim *s, int idx, long gen) {
    Flow *f = &s->flows[idx];
    if (gen != f->timer_gen || f->una >= f->nxt) return;
    const int kind = f->timer;
    f->timer = T_NONE;
    if (kind == T_REO) {
        if (rack_detect(s, f, idx)) on_losses(s, f, idx);
        try_send(s, f, idx);
    } else if (kind == T_PTO) {
        /* tail-loss probe: new data if there is some, else the last segment again */
        f->probe_out = 1;
        if (f->nxt < f->total) send_seg(s, f, idx, f->nxt++);
        else {
            long j = f->nxt - 1;
            while (j > f->una && f->sacked[j]) j--;
            send_seg(s, f, idx, j);
        }
    } else { /* RTO: everything not SACKed is lost; one segment, then slow start */
        f->ssthresh = half_window(f);
        f->cwnd = 1;
        for (long j = f->una; j < f->nxt; j++) f->lost[j] = !f->sacked[j];
        f->state = LOSS, f->recover = f->nxt - 1;
        f->rto = f->rto * 2 > 120 ? 120 : f->rto * 2;
        try_send(s, f, idx);
    }
    rearm(s, f, idx);
}

/* ---------------------------------------------------------------- messages, frames */

static void send_message(Sim *s, int frame, int dir, long bytes) {
    const int dev = s->fr[frame].dev;
    if (s->W->transport == SIM_TCP) { tcp_message(s, dev, dir, bytes, frame); return; }
    const int mss = payload_per_packet(s->L);
    const long n = bytes > 0 ? (bytes + mss - 1) / mss : 1;
    double last = s->now;
    int lost = 0;
    for (long k = 0; k < n; k++) {
        const int b = (int)(k < n - 1 ? mss : bytes - (n - 1) * mss) + s->L->header;
        const double t = send_packet(s, dev, dir, b);
        if (t < 0) lost = 1;
        else if (t > last) last = t;
    }
    if (lost) { s->fr[frame].lost = 1; return; }
    push(s, last, EV_MSG, frame, dir);
}

static void finish(Sim *s, int frame) {
    s->fr[frame].done = s->now;
    s->fr[frame].finished = 1;
}

static void server_start(Sim *s, int frame) {
    s->busy_workers++;
    s->wait_sum += s->now - s->fr[frame].at_server;
    s->waits++;
    s->server_busy += s->P->tail_s;
    push(s, s->now + s->P->tail_s, EV_SERVER_DONE, frame, 0);
}

static void msg_delivered(Sim *s, int frame, int dir) {
    if (dir == 1) { finish(s, frame); return; }
    s->fr[frame].at_server = s->now;
    if (s->busy_workers < s->W->workers) { server_start(s, frame); return; }
    s->queue = grow(s->queue, &s->qcap, s->qh + s->qn + 1, sizeof *s->queue, s);
    if (!s->oom) s->queue[s->qh + s->qn++] = frame;
}

static void on_head_done(Sim *s, int frame) {
    if (s->fr[frame].exits) { s->r->exited++; finish(s, frame); return; }
    if (s->P->payload_bytes <= 0 && s->P->tail_s <= 0) { finish(s, frame); return; } /* all on device */
    send_message(s, frame, 0, s->P->payload_bytes);
}

static void on_arrive(Sim *s, int dev) {
    const SimWorkload *W = s->W;
    s->fr = grow(s->fr, &s->capfr, s->nfr + 1, sizeof *s->fr, s);
    if (s->oom) return;
    const int frame = (int)s->nfr++;
    const int exits = s->P->exit_rate > 0 && urand(s) < s->P->exit_rate;
    s->fr[frame] = (Frame){s->now, 0, 0, dev, 0, 0, exits};
    s->r->frames++;
    /* the device's one core, FIFO; an early exit stops after the exit branch */
    const double start = s->dev_busy_until[dev] > s->now ? s->dev_busy_until[dev] : s->now;
    const double c = exits ? s->P->exit_s : s->P->head_s;
    s->dev_busy_until[dev] = start + c;
    s->dev_compute[dev] += c;
    push(s, start + c, EV_HEAD_DONE, frame, 0);
    const double gap = W->poisson ? -log(1 - urand(s)) / W->fps : 1 / W->fps;
    if (s->now + gap < W->duration_s) push(s, s->now + gap, EV_ARRIVE, dev, 0);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double q) { /* nearest rank */
    if (!n) return NAN;
    long k = (long)ceil(q * n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

sei_status sim_run(const SimLink *link, const SimNode *dev, const SimPlan *plan, const SimWorkload *w,
                   SimResult *r) {
    memset(r, 0, sizeof *r);
    if (w->devices < 1 || w->devices > 100000 || !(w->fps > 0) || !(w->duration_s > 0) || w->workers < 1)
        return sei_fail(SEI_ERR_ARG, "sim: devices %d, fps %g, duration %g s, workers %d must be positive",
                        w->devices, w->fps, w->duration_s, w->workers);
    if (link->mtu - link->header < 1 || link->header < 0)
        return sei_fail(SEI_ERR_ARG, "sim: link %s: mtu %d leaves no payload after a %d-byte header", link->name,
                        link->mtu, link->header);
    if (link->loss < 0 || link->loss >= 1 || link->ge_p < 0 || link->ge_p > 1 || link->ge_r < 0 || link->ge_r > 1 ||
        link->ge_loss < 0 || link->ge_loss > 1 || link->up_bps < 0 || link->down_bps < 0 || link->delay_s < 0 ||
        link->jitter_s < 0)
        return sei_fail(SEI_ERR_ARG, "sim: link %s: a loss, rate or delay is out of range", link->name);
    if (plan->exit_rate < 0 || plan->exit_rate > 1 || plan->head_s < 0 || plan->tail_s < 0 || plan->exit_s < 0 ||
        plan->payload_bytes < 0 || plan->reply_bytes < 0)
        return sei_fail(SEI_ERR_ARG, "sim: negative times, bytes or an exit rate outside [0, 1]");
    Sim s = {0};
    s.L = link, s.D = dev, s.P = plan, s.W = w, s.r = r;
    rng_seed(&s.rng, w->seed ^ 0x5133d15c0ull);
    const int nd = w->devices, nm = link->shared ? 1 : nd;
    s.up = calloc((size_t)nm, sizeof *s.up), s.down = calloc((size_t)nm, sizeof *s.down);
    s.dev_busy_until = calloc((size_t)nd, sizeof(double)), s.dev_compute = calloc((size_t)nd, sizeof(double));
    s.dev_tx = calloc((size_t)nd, sizeof(double)), s.dev_rx = calloc((size_t)nd, sizeof(double));
    if (w->transport == SIM_TCP) s.flows = calloc((size_t)nd * 2, sizeof *s.flows);
    sei_status st = SEI_OK;
    if (!s.up || !s.down || !s.dev_busy_until || !s.dev_compute || !s.dev_tx || !s.dev_rx ||
        (w->transport == SIM_TCP && !s.flows))
        st = sei_fail(SEI_ERR_NOMEM, "sim: out of memory");
    for (int i = 0; s.flows && i < nd * 2; i++)
        s.flows[i] = (Flow){.dev = i / 2, .dir = i % 2, .cwnd = 10, .ssthresh = 1e9, .rto = 1.0, .rack_xmit = -1}; /* RFC 6928 */
    /* first arrivals: staggered across one period (periodic) or drawn (Poisson) */
    for (int d = 0; d < nd && !st; d++)
        push(&s, w->poisson ? -log(1 - urand(&s)) / w->fps : (double)d / nd / w->fps, EV_ARRIVE, d, 0);
    const double horizon = w->duration_s + (w->duration_s > 60 ? w->duration_s : 60) * 10;
    while (!st && s.nh > 0 && !s.oom) {
        const Ev e = pop(&s);
        if (e.t > horizon) break;
        s.now = e.t;
        switch (e.type) {
        case EV_ARRIVE: on_arrive(&s, e.a); break;
        case EV_HEAD_DONE: on_head_done(&s, e.a); break;
        case EV_MSG: msg_delivered(&s, e.a, (int)e.b); break;
        case EV_SERVER_DONE:
            s.busy_workers--;
            if (s.qn) { server_start(&s, (int)s.queue[s.qh]); s.qh++, s.qn--; }
            if (s.P->reply_bytes > 0) send_message(&s, e.a, 1, s.P->reply_bytes);
            else finish(&s, e.a);
            break;
        case EV_SEG: on_seg(&s, e.a, e.b); break;
        case EV_ACK: on_ack(&s, e.a, e.b, e.c); break;
        case EV_RTO: on_timer(&s, e.a, e.b); break;
        }
    }
    if (s.oom) st = sei_fail(SEI_ERR_NOMEM, "sim: out of memory");
    if (!st) {
        r->end_s = s.now;
        double *lat = malloc((size_t)(s.nfr ? s.nfr : 1) * sizeof *lat), sum = 0;
        long n = 0;
        if (!lat) st = sei_fail(SEI_ERR_NOMEM, "sim: out of memory");
        for (long i = 0; lat && i < s.nfr; i++) {
            const Frame *f = &s.fr[i];
            if (!f->finished) { r->lost++, r->missed++; continue; }
            const double l = f->done - f->arrive;
            lat[n++] = l, sum += l;
            if (w->deadline_s > 0 && l > w->deadline_s) r->missed++;
        }
        if (lat) {
            qsort(lat, (size_t)n, sizeof *lat, cmp_double);
            r->done = n;
            r->lat_mean = n ? sum / n : NAN;
            r->lat_p50 = pct(lat, n, 0.5), r->lat_p95 = pct(lat, n, 0.95), r->lat_p99 = pct(lat, n, 0.99);
            r->lat_max = n ? lat[n - 1] : NAN;
            free(lat);
        }
        r->wait_mean = s.waits ? s.wait_sum / s.waits : 0;
        const double T = w->duration_s;
        r->throughput_fps = n / T;
        double up = 0, down = 0, comp = 0, e_act = 0, e_idle = 0;
        for (int i = 0; i < nm; i++) up += s.up[i].busy, down += s.down[i].busy;
        for (int d = 0; d < nd; d++) {
            comp += s.dev_compute[d];
            e_act += dev->p_compute * s.dev_compute[d] + link->p_tx * s.dev_tx[d] + link->p_rx * s.dev_rx[d];
            const double idle = T - s.dev_compute[d] - s.dev_tx[d] - s.dev_rx[d];
            e_idle += dev->p_idle * (idle > 0 ? idle : 0);
        }
        r->up_util = up / (nm * T), r->down_util = down / (nm * T);
        r->server_util = s.server_busy / (w->workers * T);
        r->device_util = comp / (nd * T);
        r->energy_active_j = r->frames ? e_act / r->frames : 0;
        r->energy_j = r->frames ? (e_act + e_idle) / r->frames : 0;
    }
    for (int i = 0; s.flows && i < nd * 2; i++) {
        Flow *f = &s.flows[i];
        free(f->seg_bytes), free(f->sent_t), free(f->sent), free(f->retx), free(f->got);
        free(f->sacked), free(f->lost);
        free(f->msg);
    }
    free(s.flows), free(s.heap), free(s.fr), free(s.up), free(s.down), free(s.queue);
    free(s.dev_busy_until), free(s.dev_compute), free(s.dev_tx), free(s.dev_rx);
    return st;
}
