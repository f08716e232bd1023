/* linkemu.c - a user-space stand-in for `tc netem` where the kernel has none: a link with a
 * rate, a one-way delay and random loss between two TUN devices.
 *
 *   sei-linkemu --dev0 NAME --dev1 NAME [--rate MBIT] [--delay MS] [--loss PCT]
 *               [--limit PKTS] [--overhead BYTES] [--seed S]
 *
 * It creates the two TUN devices (IFF_TUN, no packet information), prints "ready" and then
 * forwards every IP packet read from one to the other. The caller moves each device into its
 * own network namespace and gives it a point-to-point address (bench/link_check.sh does);
 * the open file descriptors keep working across the move. Each direction is its own link:
 *   - a packet is lost with probability PCT/100 (independently, as netem's `loss PCT%`);
 *   - otherwise it joins a FIFO of at most PKTS packets (tail drop past that, as netem's
 *     limit, default 1000) and is serialised at RATE: it leaves the line (len + BYTES) * 8 /
 *     RATE after the previous one left (or after it arrived, if the line was idle); BYTES is
 *     the framing a real link adds to an IP packet (default 14, Ethernet's header as a veth
 *     counts it);
 *   - it is delivered DELAY ms after it left the line.
 * A rate of 0 means no serialisation. Times are CLOCK_MONOTONIC, waits are ppoll's (ns).
 * On SIGINT/SIGTERM it prints per-direction counts to stderr and exits 0.
 * Linux only (TUN); a bench tool, not part of ./sei. Needs root (CAP_NET_ADMIN). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SLOT 4096 /* largest packet carried: the devices' MTU stays 1500 */

typedef struct {
    double at;      /* delivery time, s */
    int len;
    unsigned char data[SLOT];
} Packet;

typedef struct {
    Packet *q;      /* ring of `limit` packets */
    int head, n, limit;
    double line_free; /* when the line finishes sending the last queued packet */
    long sent, lost, dropped, too_big;
} Dir;

static volatile sig_atomic_t stop_flag;
static void on_signal(int s) { (void)s; stop_flag = 1; }

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(void) /* xorshift64*, [0, 1) */
{
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static int tun_open(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
    if (fd < 0) { fprintf(stderr, "sei-linkemu: /dev/net/tun: %s\n", strerror(errno)); return -1; }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    if (strlen(name) >= IFNAMSIZ) { fprintf(stderr, "sei-linkemu: device name too long: %s\n", name); close(fd); return -1; }
    strcpy(ifr.ifr_name, name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "sei-linkemu: TUNSETIFF %s: %s\n", name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static double num(const char *flag, const char *s, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "sei-linkemu: %s wants a number in [%g, %g], got '%s'\n", flag, lo, hi, s);
        exit(2);
    }
    return v;
}

/* Takes the packets waiting on `fd` into `d`. */
static void take(int fd, Dir *d, double rate_bps, double delay_s, double loss, int overhead)
{
    unsigned char buf[65536];
    for (;;) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k <= 0) return;
        if (k > SLOT) { d->too_big++; continue; }
        if (loss > 0 && uniform() < loss) { d->lost++; continue; }
        if (d->n == d->limit) { d->dropped++; continue; }
        double t = now_s();
        double start = d->line_free > t ? d->line_free : t;
        double done = rate_bps > 0 ? start + (double)(k + overhead) * 8.0 / rate_bps : t;
        d->line_free = done;
        Packet *p = &d->q[(d->head + d->n) % d->limit];
        p->at = done + delay_s;
        p->len = (int)k;
        memcpy(p->data, buf, (size_t)k);
        d->n++;
    }
}

/* Delivers the packets of `d` that are due to `fd`. */
static void give(int fd, Dir *d, double t)
{
    while (d->n > 0 && d->q[d->head].at <= t) {
        Packet *p = &d->q[d->head];
        if (write(fd, p->data, (size_t)p->len) == p->len) d->sent++;
        else d->dropped++; /* device down or full: the packet is gone, as on a wire */
        d->head = (d->head + 1) % d->limit;
        d->n--;
    }
}

int main(int argc, char **argv)
{
    const char *dev[2] = {NULL, NULL};
    double rate_mbit = 0, delay_ms = 0, loss_pct = 0;
    int limit = 1000, overhead = 14;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: sei-linkemu --dev0 NAME --dev1 NAME [--rate MBIT] [--delay MS] [--loss PCT]\n"
                   "                   [--limit PKTS] [--overhead BYTES] [--seed S]\n"
                   "A user-space netem between two TUN devices it creates (see bench/linkemu.c).\n");
            return 0;
        }
        if (i + 1 >= argc) { fprintf(stderr, "sei-linkemu: %s needs a value (or unknown flag)\n", a); return 2; }
        const char *v = argv[++i];
        if (!strcmp(a, "--dev0")) dev[0] = v;
        else if (!strcmp(a, "--dev1")) dev[1] = v;
        else if (!strcmp(a, "--rate")) rate_mbit = num(a, v, 0, 1e5);
        else if (!strcmp(a, "--delay")) delay_ms = num(a, v, 0, 1e5);
        else if (!strcmp(a, "--loss")) loss_pct = num(a, v, 0, 100);
        else if (!strcmp(a, "--limit")) limit = (int)num(a, v, 1, 1e5);
        else if (!strcmp(a, "--overhead")) overhead = (int)num(a, v, 0, 1e4);
        else if (!strcmp(a, "--seed")) rng_state = (uint64_t)num(a, v, 1, 1e18) * 0x9E3779B97F4A7C15ull;
        else { fprintf(stderr, "sei-linkemu: unknown flag %s (try --help)\n", a); return 2; }
    }
    if (!dev[0] || !dev[1]) { fprintf(stderr, "sei-linkemu: --dev0 and --dev1 are required\n"); return 2; }
    int fd[2];
    for (int k = 0; k < 2; k++)
        if ((fd[k] = tun_open(dev[k])) < 0) return 1;
    Dir d[2];
    memset(d, 0, sizeof d);
    for (int k = 0; k < 2; k++) {
        d[k].limit = limit;
        d[k].q = malloc(sizeof(Packet) * (size_t)limit);
        if (!d[k].q) { fprintf(stderr, "sei-linkemu: out of memory for %d packets\n", limit); return 1; }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("ready\n");
    fflush(stdout);
    const double rate = rate_mbit * 1e6, delay = delay_ms * 1e-3, loss = loss_pct / 100;
    while (!stop_flag) {
        /* d[0] carries dev0 -> dev1, d[1] carries dev1 -> dev0 */
        double t = now_s(), next = t + 1.0;
        for (int k = 0; k < 2; k++)
            if (d[k].n > 0 && d[k].q[d[k].head].at < next) next = d[k].q[d[k].head].at;
        double wait = next > t ? next - t : 0;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        struct pollfd p[2] = {{fd[0], POLLIN, 0}, {fd[1], POLLIN, 0}};
        int r = ppoll(p, 2, &ts, NULL);
        if (r < 0 && errno != EINTR) { fprintf(stderr, "sei-linkemu: poll: %s\n", strerror(errno)); return 1; }
        if (r > 0) {
            if (p[0].revents & POLLIN) take(fd[0], &d[0], rate, delay, loss, overhead);
            if (p[1].revents & POLLIN) take(fd[1], &d[1], rate, delay, loss, overhead);
        }
        t = now_s();
        give(fd[1], &d[0], t);
        give(fd[0], &d[1], t);
    }
    for (int k = 0; k < 2; k++)
        fprintf(stderr, "sei-linkemu: %s -> %s: %ld delivered, %ld lost, %ld dropped (queue), %ld too big\n",
                dev[k], dev[1 - k], d[k].sent, d[k].lost, d[k].dropped, d[k].too_big);
    return 0;
}
