/* test_sim.c - the split-computing simulator (sim/) against closed forms: one frame on an
 * idle lossless link is compute + serialisation (headers included) + propagation exactly;
 * Poisson frames into one server with a fixed service time wait what M/D/1 says (within
 * 5%); a long TCP transfer under random loss follows the Mathis et al. square-root law
 * (within 25%); infinite bandwidth and no delay leave compute only; UDP loses frames at the
 * per-packet rate; determinism; the preset catalogue and its errors; split_cost. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sim/sim.h"
#include "split/cost.h"
#include "split/exits.h"
#include "tests/harness.h"

static SimLink plain_link(double up_bps, double down_bps, double delay, int mtu, int header) {
    SimLink l = {0};
    snprintf(l.name, sizeof l.name, "test");
    l.up_bps = up_bps, l.down_bps = down_bps, l.delay_s = delay, l.mtu = mtu, l.header = header;
    return l;
}

static SimWorkload one_frame(SimTransport t) {
    /* one device, one frame: the next arrival (after 1/fps) falls outside the duration */
    SimWorkload w = {1, 1.0, 0, 0.5, 0, 1, t, 7};
    return w;
}

static void test_idle_link_exact(void) {
    const SimNode dev = {"d", 1, 0, 1, 0.1, 1, ""};
    SimLink l = plain_link(1e6, 4e6, 0.010, 1000, 40);
    l.p_tx = 2, l.p_rx = 1;
    /* 2500 bytes -> 3 packets of <= 960 payload: 2500 + 3*40 = 2620 wire bytes; reply 100 B -> 140 */
    SimPlan p = {0.004, 0, 0, 0.002, 2500, 100};
    SimWorkload w = one_frame(SIM_UDP);
    SimResult r;
    EXPECT(sim_run(&l, &dev, &p, &w, &r) == SEI_OK, "%s", sei_last_error());
    const double expect = 0.004 + 2620 * 8 / 1e6 + 0.010 + 0.002 + 140 * 8 / 4e6 + 0.010;
    EXPECT(r.frames == 1 && r.done == 1 && fabs(r.lat_mean - expect) < 1e-12, "latency %.15g, expected %.15g",
           r.lat_mean, expect);
    EXPECT(r.packets == 4, "packets %ld", r.packets);
    /* device energy: compute 1 W x 4 ms, tx 2 W x 20.96 ms, rx 1 W x 0.28 ms */
    const double e = 0.004 * 1 + 2 * 2620 * 8 / 1e6 + 1 * 140 * 8 / 4e6;
    EXPECT(fabs(r.energy_active_j - e) < 1e-12, "active energy %.15g, expected %.15g", r.energy_active_j, e);
    /* TCP on the same idle link: the 3 segments fit the initial window of 10, so the frame
     * goes out back to back as with UDP: the same closed form */
    w = one_frame(SIM_TCP);
    EXPECT(sim_run(&l, &dev, &p, &w, &r) == SEI_OK && r.done == 1, "%s", sei_last_error());
    EXPECT(fabs(r.lat_mean - expect) < 1e-12, "TCP latency %.15g, expected %.15g", r.lat_mean, expect);
    /* 12 segments: the 11th and 12th wait for the first ACK (40 B down) */
    p.payload_bytes = 12 * 960;
    EXPECT(sim_run(&l, &dev, &p, &w, &r) == SEI_OK && r.done == 1, "%s", sei_last_error());
    const double ser = 1000 * 8 / 1e6, t_ack0 = 0.004 + ser + 0.010 + 40 * 8 / 4e6 + 0.010;
    /* segments 0..9 leave back to back; the ACK of segment 0 releases 10 and 11 (slow start:
     * cwnd 11, then 12); they queue behind 9, which finished at 4 ms + 10 ser */
    const double up_free = 0.004 + 10 * ser, start = t_ack0 > up_free ? t_ack0 : up_free;
    const double t12 = start + 2 * ser + 0.010;
    const double expect12 = t12 + 0.002 + 140 * 8 / 4e6 + 0.010;
    EXPECT(fabs(r.lat_mean - expect12) < 1e-12, "TCP 12 segments %.15g, expected %.15g", r.lat_mean, expect12);
}

static void test_compute_only(void) {
    const SimNode dev = {"d", 1, 0, 1, 0, 1, ""};
    const SimLink l = plain_link(0, 0, 0, 1500, 40); /* infinite bandwidth, no delay, no loss */
    SimPlan p = {0.003, 0, 0, 0.001, 100000, 1000};
    for (int t = 0; t < 2; t++) {
        SimWorkload w = one_frame(t ? SIM_TCP : SIM_UDP);
        SimResult r;
        EXPECT(sim_run(&l, &dev, &p, &w, &r) == SEI_OK && r.done == 1, "%s", sei_last_error());
        EXPECT(fabs(r.lat_mean - 0.004) < 1e-15, "%s: latency %.17g, expected compute only", t ? "TCP" : "UDP",
               r.lat_mean);
    }
}

static void test_md1(void) {
    /* Poisson arrivals at lambda into one worker with service D: Wq = rho D / (2 (1 - rho)) */
    const SimNode dev = {"d", 1, 0, 0, 0, 1, ""};
    const SimLink l = plain_link(0, 0, 0, 1500, 40);
    const double D = 0.010;
    const double rhos[] = {0.5, 0.8};
    for (int i = 0; i < 2; i++) {
        const double lambda = rhos[i] / D;
        SimPlan p = {0, 0, 0, D, 1, 0};
        SimWorkload w = {1, lambda, 1, 20000, 0, 1, SIM_UDP, 11};
        SimResult r;
        EXPECT(sim_run(&l, &dev, &p, &w, &r) == SEI_OK, "%s", sei_last_error());
        const double wq = rhos[i] * D / (2 * (1 - rhos[i]));
        printf("  rho %.1f: mean wait %.6g s, M/D/1 %.6g s (%+.2f%%), %ld frames\n", rhos[i], r.wait_mean, wq,
               100 * (r.wait_mean / wq - 1), r.frames);
        EXPECT(fabs(r.wait_mean - wq) < 0.05 * wq, "rho %.1f: waiting %.6g s, M/D/1 %.6g s (%ld frames)", rhos[i],
               r.wait_mean, wq, r.frames);
        EXPECT(fabs(r.server_util - rhos[i]) < 0.02, "utilisation %.4f vs %.2f", r.server_util, rhos[i]);
    }
}

static void test_mathis(void) {
    /* one long transfer, RTT 40 ms, a fast link: goodput ~ MSS/RTT * sqrt(3/2) / sqrt(p) */
    const SimNode dev = {"d", 1, 0, 0, 0, 1, ""};
    const double ps[] = {0.002, 0.005, 0.01, 0.02};
    for (int i = 0; i < 4; i++) {
        SimLink l = plain_link(1e9, 1e9, 0.020, 1500, 40);
        l.loss = ps[i];
        const long bytes = 40L << 20;
        SimPlan p = {0, 0, 0, 0, bytes, 0};
        SimWorkload w = one_frame(SIM_TCP);
        w.seed = 100 + i;
        SimResult r;
        EXPECT(sim_run(&l, &dev, &p, &w, &r) == SEI_OK && r.done == 1, "%s", sei_last_error());
        const double mss = 1460, rtt = 0.040, law = mss / rtt * sqrt(1.5) / sqrt(ps[i]);
        const double got = bytes / r.lat_mean;
        printf("  loss %.3f: goodput %.0f B/s, Mathis %.0f B/s, ratio %.3f, %ld retransmissions\n", ps[i], got, law,
               got / law, r.retransmits);
        EXPECT(fabs(got / law - 1) < 0.25, "loss %.3f: goodput %.0f B/s, Mathis %.0f B/s (ratio %.2f)", ps[i], got,
               law, got / law);
        EXPECT(r.retransmits > 0, "no retransmissions at loss %g", ps[i]);
    }
}

static void test_udp_loss_and_determinism(void) {
    const SimNode dev = {"d", 1, 0, 0, 0, 1, ""};
    SimLink l = plain_link(1e8, 1e8, 0.001, 1000, 40);
    l.loss = 0.01;
    /* 4 packets up (3840 B), 1 down: a frame survives with probability 0.99^5 */
    SimPlan p = {0.001, 0, 0, 0.001, 3840, 500};
    SimWorkload w = {4, 50, 1, 200, 0.1, 2, SIM_UDP, 3};
    SimResult a, b;
    EXPECT(sim_run(&l, &dev, &p, &w, &a) == SEI_OK && sim_run(&l, &dev, &p, &w, &b) == SEI_OK, "%s",
           sei_last_error());
    EXPECT(!memcmp(&a, &b, sizeof a), "two runs with one seed differ");
    const double ok = pow(0.99, 5), got = (double)a.done / a.frames;
    EXPECT(fabs(got - ok) < 0.01, "delivered %.4f, expected %.4f of %ld", got, ok, a.frames);
    EXPECT(a.lost == a.frames - a.done && a.missed >= a.lost, "lost %ld missed %ld", a.lost, a.missed);
    /* bursty loss at the same mean rate loses fewer frames (losses bunch up in the same frames) */
    SimLink g = l;
    g.loss = 0, g.ge_p = 0.01 / 0.99 * 0.25, g.ge_r = 0.25, g.ge_loss = 1;
    w.seed = 4;
    EXPECT(sim_run(&g, &dev, &p, &w, &b) == SEI_OK, "%s", sei_last_error());
    EXPECT(fabs((double)b.packets_lost / b.packets - 0.01) < 0.003, "GE loss rate %.4f", (double)b.packets_lost / b.packets);
    EXPECT(b.done / (double)b.frames > got, "bursts: %.4f delivered vs %.4f independent", b.done / (double)b.frames, got);
    /* early exits: that share never touches the link */
    p.exit_rate = 0.6, p.exit_s = 0.0005;
    EXPECT(sim_run(&l, &dev, &p, &w, &b) == SEI_OK, "%s", sei_last_error());
    EXPECT(fabs((double)b.exited / b.frames - 0.6) < 0.02, "exited %.3f", (double)b.exited / b.frames);
    /* bad arguments */
    SimWorkload bad = w;
    bad.fps = 0;
    EXPECT(sim_run(&l, &dev, &p, &bad, &b) == SEI_ERR_ARG, "fps 0 accepted");
    SimLink badl = l;
    badl.header = badl.mtu;
    EXPECT(sim_run(&badl, &dev, &p, &w, &b) == SEI_ERR_ARG, "no payload per packet accepted");
}

static void test_catalogue(void) {
    SimCatalogue c;
    EXPECT(sim_catalogue_load(&c, NULL) == SEI_OK, "%s", sei_last_error());
    const char *devs[] = {"mcu-m7", "rpi4", "jetson-nano", "x86-server"};
    const char *links[] = {"ble", "lora", "nbiot", "wifi-n", "lte", "5g", "ethernet"};
    for (int i = 0; i < 4; i++) {
        const SimNode *n = sim_find_node(&c, devs[i]);
        EXPECT(n && n->gflops > 0 && n->source[0], "device %s", devs[i]);
    }
    for (int i = 0; i < 7; i++) {
        const SimLink *l = sim_find_link(&c, links[i]);
        EXPECT(l && l->up_bps > 0 && l->mtu > l->header && l->source[0], "link %s", links[i]);
    }
    EXPECT(sim_find_link(&c, "ethernet")->up_bps == 1e9, "ethernet rate");
    sim_catalogue_free(&c);
    char path[] = "/tmp/sei_presets_XXXXXX";
    int fd = mkstemp(path);
    EXPECT(fd >= 0, "mkstemp");
    if (fd < 0) return;
    const char *text = "# mine\nlink sat up_mbps=2 down_mbps=20 delay_ms=300 mtu=1200 header=50 loss=0.002 "
                       "source=\"my measurements # not a comment\"\ndevice rpi4 gflops=12 # faster\n";
    EXPECT(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write");
    close(fd);
    EXPECT(sim_catalogue_load(&c, path) == SEI_OK, "%s", sei_last_error());
    const SimLink *s = sim_find_link(&c, "sat");
    EXPECT(s && s->delay_s == 0.3 && !strcmp(s->source, "my measurements # not a comment"), "user link");
    EXPECT(sim_find_node(&c, "rpi4")->gflops == 12, "a user entry replaces the preset");
    sim_catalogue_free(&c);
    FILE *f = fopen(path, "w");
    fputs("link x up_mbps=fast\n", f);
    fclose(f);
    EXPECT(sim_catalogue_load(&c, path) == SEI_ERR_FORMAT && strstr(sei_last_error(), ":1:"), "bad number: %s",
           sei_last_error());
    sim_catalogue_free(&c);
    f = fopen(path, "w");
    fputs("\nplanet mars\n", f);
    fclose(f);
    EXPECT(sim_catalogue_load(&c, path) == SEI_ERR_FORMAT && strstr(sei_last_error(), ":2:"), "bad kind: %s",
           sei_last_error());
    sim_catalogue_free(&c);
    remove(path);
}

/* split_cost: the numbers sim and plan use, on a small VGG16-BN with an exit */
static void test_split_cost(void) {
    Net n;
    EXPECT(net_create(&n, "vgg16_bn", 5, 1, 0.0625f) == SEI_OK, "%s", sei_last_error());
    net_init(&n, 1);
    ExitCfg ec = {0};
    ec.convs = 1;
    EXPECT(exits_parse(&ec, "features.6") == SEI_OK && exits_insert(&n, &ec, 0, 32, 1) == SEI_OK, "%s", sei_last_error());
    LayerInfo *li = calloc((size_t)n.nlayers, sizeof *li);
    EXPECT(net_shapes(&n, 1, 1, 32, 32, li) == SEI_OK, "%s", sei_last_error());
    SplitCost c;
    EXPECT(split_cost(&n, 32, "features.13", &c) == SEI_OK, "%s", sei_last_error());
    const int at = net_find_layer(&n, "features.13");
    EXPECT(c.payload_bytes == 8 * 8 * 8 * 4 && c.reply_bytes == 20, "payload %ld reply %ld", c.payload_bytes, c.reply_bytes);
    EXPECT(c.head_macs == li[at].sparse_macs && fabs(c.head_macs + c.tail_macs - li[n.nlayers - 1].sparse_macs) < 1,
           "macs %g + %g", c.head_macs, c.tail_macs);
    EXPECT(c.nexits == 1 && !strcmp(c.exit_at[0], "features.6") && c.exit_macs[0] < c.head_macs, "exit on the device");
    EXPECT(c.head_param_bytes > 0 && c.head_act_bytes == 4.0 * 4 * 32 * 32, "memory %g %g", c.head_param_bytes,
           c.head_act_bytes);
    EXPECT(split_cost(&n, 32, "input", &c) == SEI_OK && c.head_macs == 0 && c.payload_bytes == 32 * 32, "input");
    EXPECT(split_cost(&n, 32, "none", &c) == SEI_OK && c.tail_macs == 0 && c.payload_bytes == 0 && c.nexits == 1, "none");
    EXPECT(split_cost(&n, 32, "features.99", &c) == SEI_ERR_ARG, "a bad cut accepted");
    free(li);
    net_free(&n);
}

int main(void) {
    RUN(test_split_cost);
    RUN(test_idle_link_exact);
    RUN(test_compute_only);
    RUN(test_md1);
    RUN(test_mathis);
    RUN(test_udp_loss_and_determinism);
    RUN(test_catalogue);
    return test_summary();
}
