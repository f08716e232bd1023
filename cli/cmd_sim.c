/* cmd_sim.c - `sei sim`: simulate devices running the head of a split network, the link,
 * and a server running the tail (sim/sim.h). The costs come from a checkpoint and a cut
 * (--weights CKPT --at CUT: multiply-adds skipping sparse zeros, bytes in the wire's
 * format, the exits' cost) or are given (--part-sizes). Compute time per part follows the
 * device / server presets; --fps takes a list, one simulation per value. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/common.h"
#include "sim/sim.h"
#include "split/cost.h"
#include "split/svg.h"

static Flag sim_flags[] = {
    {"weights", "CKPT", "take the costs from this network (with --at)", NULL, NULL, 0},
    NET_FLAGS,
    {"at", "CUT", "with --weights: the cut point (input: all on the server, none: all on the device)", "none", NULL, 0},
    {"size", "S", "with --weights: input side (default: the checkpoint's)", NULL, NULL, 0},
    {"part-sizes", "H,T,B[,R]", "instead of --weights: head and tail MMAC per frame, bytes sent, bytes of the reply", NULL, NULL, 0},
    {"device-profile", "FILE", "with --weights: per-layer times measured by sei profile for the device (instead of its preset's rate)", NULL, NULL, 0},
    {"server-profile", "FILE", "with --weights: the same for the server", NULL, NULL, 0},
    {"exit-rate", "R", "share of frames leaving at the device's early exit (see sei exits)", "0", NULL, 0},
    {"exit-mmac", "M", "device MMAC of a frame that leaves early (default: the first exit's, else the head's)", NULL, NULL, 0},
    {"device", "NAME", "device preset (see --list-presets)", "rpi4", NULL, 0},
    {"server", "NAME", "server preset", "x86-server", NULL, 0},
    {"link", "NAME", "link preset", "wifi-n", NULL, 0},
    {"presets", "FILE", "more presets, in the catalogue's format", NULL, NULL, 0},
    {"list-presets", NULL, "print the catalogue (built-in and --presets) and exit", NULL, NULL, 0},
    {"devices", "N", "devices sending frames", "1", NULL, 0},
    {"fps", "LIST", "frames per second per device; a list runs one simulation each, e.g. 1,5,10", "10", NULL, 0},
    {"poisson", NULL, "Poisson arrivals (default: periodic)", NULL, NULL, 0},
    {"duration", "S", "seconds of arrivals", "60", NULL, 0},
    {"deadline-ms", "L", "a frame answered later than this is a miss (0: none)", "0", NULL, 0},
    {"workers", "W", "server workers", "1", NULL, 0},
    {"transport", "T", "udp (a lost packet loses the frame) or tcp (reliable)", "tcp", NULL, 0},
    {"loss", "P", "override the link's independent packet loss", NULL, NULL, 0},
    {"delay-ms", "D", "override the link's one-way delay", NULL, NULL, 0},
    {"up-mbps", "B", "override the link's uplink rate (0: infinite)", NULL, NULL, 0},
    {"down-mbps", "B", "override the link's downlink rate (0: infinite)", NULL, NULL, 0},
    {"jitter-ms", "J", "override the link's jitter", NULL, NULL, 0},
    {"header", "B", "override the link's header bytes per packet", NULL, NULL, 0},
    {"frame-overhead", "B", "application bytes added to every message each way (sei device/serve: 32)", "0", NULL, 0},
    {"seed", "S", "simulation seed", "1", NULL, 0},
    {"csv", "FILE", "write one row per simulation", NULL, NULL, 0},
    {"svg", "FILE", "plot latency percentiles over the fps values", NULL, NULL, 0},
};

static int dbl(Command *c, const char *name, double lo, double hi, double *out) {
    const char *v = args_str(c, name);
    if (!v) return 0;
    char *end;
    const double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi))
        return cli_error(c->cmd, "--%s: '%s' is not a number in [%g, %g]", name, v, lo, hi);
    *out = x;
    return 0;
}

/* seconds of layers [from, to) from a sei profile CSV of this network; -1 on error (printed) */
static double profile_s(Command *c, const char *path, const Net *net, int from, int to) {
    double *t = sei_alloc(sizeof(double) * (size_t)net->nlayers), sum = 0;
    if (!t || cost_profile_read(net, path, t) != SEI_OK) {
        cli_error(c->cmd, "%s", sei_last_error());
        sei_free(t);
        return -1;
    }
    for (int i = from; i < to; i++) sum += t[i];
    sei_free(t);
    return sum;
}

static void print_catalogue(const SimCatalogue *cat) {
    printf("devices:\n");
    for (int i = 0; i < cat->nnodes; i++) {
        const SimNode *n = &cat->nodes[i];
        printf("  %-12s %8.3g GFLOP/s %6.1f us/layer %7.3g W compute %6.3g W idle %8.0f MB  (%s)\n", n->name, n->gflops,
               n->overhead_s * 1e6, n->p_compute, n->p_idle, n->mem_mb, n->source);
    }
    printf("links:\n");
    for (int i = 0; i < cat->nlinks; i++) {
        const SimLink *l = &cat->links[i];
        printf("  %-9s %9.4g / %-9.4g Mb/s %7.3g ms +%-6.3g ms mtu %5d hdr %3d loss %-7.3g %s tx %.3g W rx %.3g W  (%s)\n",
               l->name, l->up_bps / 1e6, l->down_bps / 1e6, l->delay_s * 1e3, l->jitter_s * 1e3, l->mtu, l->header,
               l->loss, l->shared ? "shared " : "private", l->p_tx, l->p_rx, l->source);
    }
}

int cmd_sim(int argc, char **argv) {
    Command c = {"sim", "Simulate split inference: devices running the head, the link, a server running the tail.",
                 "(--weights CKPT --at CUT | --part-sizes H,T,B) [--device P] [--link P] [--fps LIST] [--devices N] ...",
                 sim_flags, (int)(sizeof sim_flags / sizeof sim_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if (cli_setup(&c)) return 2;
    if (args_bool(&c, "list-presets")) {
        SimCatalogue cat;
        if (sim_catalogue_load(&cat, args_str(&c, "presets")) != SEI_OK) rc = cli_error(c.cmd, "%s", sei_last_error());
        else print_catalogue(&cat);
        sim_catalogue_free(&cat);
        return rc;
    }
    SimLink link;
    SimNode device, server;
    if ((rc = cli_presets(&c, &device, &server, &link))) return rc;
    double x;
    if ((x = -1, dbl(&c, "loss", 0, 0.999, &x)) || (x >= 0 && (link.loss = x, 0))) return 2;
    if ((x = -1, dbl(&c, "delay-ms", 0, 1e7, &x)) || (x >= 0 && (link.delay_s = x / 1e3, 0))) return 2;
    if ((x = -1, dbl(&c, "up-mbps", 0, 1e7, &x)) || (x >= 0 && (link.up_bps = x * 1e6, 0))) return 2;
    if ((x = -1, dbl(&c, "down-mbps", 0, 1e7, &x)) || (x >= 0 && (link.down_bps = x * 1e6, 0))) return 2;
    if ((x = -1, dbl(&c, "jitter-ms", 0, 1e7, &x)) || (x >= 0 && (link.jitter_s = x / 1e3, 0))) return 2;
    if ((x = -1, dbl(&c, "header", 0, link.mtu - 1, &x)) || (x >= 0 && (link.header = (int)x, 0))) return 2;
    double overhead = 0;
    if (dbl(&c, "frame-overhead", 0, 1e6, &overhead)) return 2;

    /* the frame's costs */
    SimPlan plan = {0};
    double head_macs = 0, tail_macs = 0, exit_macs = -1, head_prof = -1, tail_prof = -1;
    int head_layers = 0, tail_layers = 0;
    const char *w = args_str(&c, "weights"), *ps = args_str(&c, "part-sizes");
    if (!!w == !!ps) return cli_error(c.cmd, "give either --weights CKPT (with --at) or --part-sizes H,T,B");
    char what[256];
    if (w) {
        StFile f;
        Net net;
        if ((rc = cli_open_checkpoint(&c, w, &f, &net))) return rc;
        int size = 0;
        const char *ms = st_meta(&f, "size");
        if (args_flag(&c, "size")->set) {
            if (args_int(&c, "size", 1, 1 << 16, &size)) { net_free(&net); st_close(&f); return 2; }
        } else if (ms) size = atoi(ms);
        st_close(&f);
        if (size < 1) { net_free(&net); return cli_error(c.cmd, "%s has no input size: give --size S", w); }
        SplitCost sc;
        if (split_cost(&net, size, args_str(&c, "at"), &sc) != SEI_OK) {
            rc = cli_error(c.cmd, "%s", sei_last_error());
            net_free(&net);
            return rc;
        }
        const char *dp = args_str(&c, "device-profile"), *sp = args_str(&c, "server-profile");
        if (dp && (head_prof = profile_s(&c, dp, &net, 0, sc.head_layers)) < 0) { net_free(&net); return 2; }
        if (sp && (tail_prof = profile_s(&c, sp, &net, sc.head_layers, net.nlayers)) < 0) { net_free(&net); return 2; }
        net_free(&net);
        head_macs = sc.head_macs, tail_macs = sc.tail_macs, head_layers = sc.head_layers, tail_layers = sc.tail_layers;
        plan.payload_bytes = sc.payload_bytes, plan.reply_bytes = sc.tail_layers ? sc.reply_bytes : 0;
        if (sc.nexits) exit_macs = sc.exit_macs[0];
        snprintf(what, sizeof what, "%s cut at %s", w, sc.cut);
    } else {
        double v[4] = {0, 0, 0, 40};
        int n = 0;
        const char *s = ps;
        while (n < 4 && *s) {
            char *end;
            v[n++] = strtod(s, &end);
            if (end == s || (*end && *end != ',') || v[n - 1] < 0)
                return cli_error(c.cmd, "--part-sizes: '%s' is not H,T,B[,R] (MMAC, MMAC, bytes, bytes)", ps);
            s = *end ? end + 1 : end;
        }
        if (n < 3 || *s) return cli_error(c.cmd, "--part-sizes: '%s' is not H,T,B[,R] (MMAC, MMAC, bytes, bytes)", ps);
        head_macs = v[0] * 1e6, tail_macs = v[1] * 1e6, plan.payload_bytes = (long)v[2], plan.reply_bytes = (long)v[3];
        head_layers = head_macs > 0, tail_layers = tail_macs > 0;
        if (args_str(&c, "device-profile") || args_str(&c, "server-profile"))
            return cli_error(c.cmd, "--device-profile and --server-profile need --weights (they time that network's layers)");
        snprintf(what, sizeof what, "head %.3g MMAC, tail %.3g MMAC, %ld bytes up, %ld down", v[0], v[1],
                 plan.payload_bytes, plan.reply_bytes);
    }
    if (overhead > 0 && plan.payload_bytes > 0) { /* the sei device / serve protocol: header + tensor, header + 12 */
        plan.payload_bytes += (long)overhead;
        if (plan.reply_bytes > 0) plan.reply_bytes = (long)overhead + 12;
    }
    double rate = 0;
    if (dbl(&c, "exit-rate", 0, 1, &rate) || dbl(&c, "exit-mmac", 0, 1e12, &exit_macs)) return 2;
    if (args_flag(&c, "exit-mmac")->set) exit_macs *= 1e6;
    plan.exit_rate = rate;
    plan.head_s = head_prof >= 0 ? head_prof : sim_compute_s(&device, head_macs, head_layers);
    plan.exit_s = head_prof >= 0 ? (head_macs > 0 && exit_macs >= 0 ? head_prof * exit_macs / head_macs : head_prof)
                                 : sim_compute_s(&device, exit_macs >= 0 ? exit_macs : head_macs, head_layers);
    plan.tail_s = tail_prof >= 0 ? tail_prof : sim_compute_s(&server, tail_macs, tail_layers);

    /* the workload */
    SimWorkload wl = {0};
    int seed = 1;
    double dl = 0, dur = 60;
    if (args_int(&c, "devices", 1, 100000, &wl.devices) || args_int(&c, "workers", 1, 100000, &wl.workers) ||
        args_int(&c, "seed", 0, 1 << 30, &seed) || dbl(&c, "duration", 1e-3, 1e7, &dur) ||
        dbl(&c, "deadline-ms", 0, 1e9, &dl))
        return 2;
    const char *tr = args_str(&c, "transport");
    if (strcmp(tr, "udp") && strcmp(tr, "tcp")) return cli_error(c.cmd, "--transport: '%s' is not udp or tcp", tr);
    wl.transport = strcmp(tr, "udp") ? SIM_TCP : SIM_UDP;
    wl.poisson = args_bool(&c, "poisson"), wl.duration_s = dur, wl.deadline_s = dl / 1e3, wl.seed = (uint64_t)seed;
    double fps[64];
    int nf = 0;
    for (const char *s = args_str(&c, "fps"); *s && nf < 64;) {
        char *end;
        fps[nf++] = strtod(s, &end);
        if (end == s || (*end && *end != ',') || !(fps[nf - 1] > 0 && fps[nf - 1] <= 1e6))
            return cli_error(c.cmd, "--fps: '%s' is not a list of rates in (0, 1e6]", args_str(&c, "fps"));
        s = *end ? end + 1 : end;
    }

    printf("%s\n%d x %s -> %s (%s) -> %s (%d worker%s); head %.3f ms, exit %.3f ms (rate %.2f), tail %.3f ms per frame\n",
           what, wl.devices, device.name, link.name, tr, server.name, wl.workers, wl.workers > 1 ? "s" : "",
           plan.head_s * 1e3, plan.exit_s * 1e3, plan.exit_rate, plan.tail_s * 1e3);
    printf("%8s %8s %7s %7s %7s %9s %9s %9s %9s %8s %9s %8s %6s %6s %6s\n", "fps", "frames", "exit%", "lost%", "miss%",
           "mean ms", "p50 ms", "p95 ms", "p99 ms", "out/s", "mJ/frame", "active", "up%", "srv%", "dev%");
    FILE *csv = NULL;
    if (args_str(&c, "csv")) {
        csv = fopen(args_str(&c, "csv"), "w");
        if (!csv) return cli_error(c.cmd, "cannot write %s", args_str(&c, "csv"));
        fprintf(csv, "fps,devices,frames,done,exited,lost,missed,lat_mean_s,lat_p50_s,lat_p95_s,lat_p99_s,throughput_fps,"
                     "energy_j,energy_active_j,up_util,down_util,server_util,device_util,packets,retransmits\n");
    }
    double p50[64], p95[64], p99[64];
    for (int i = 0; i < nf; i++) {
        wl.fps = fps[i];
        SimResult r;
        if (sim_run(&link, &device, &plan, &wl, &r) != SEI_OK) {
            if (csv) fclose(csv);
            return cli_error(c.cmd, "%s", sei_last_error());
        }
        const double n = r.frames ? (double)r.frames : 1;
        printf("%8.4g %8ld %6.2f%% %6.2f%% %6.2f%% %9.3f %9.3f %9.3f %9.3f %8.2f %9.4g %8.4g %5.1f%% %5.1f%% %5.1f%%\n",
               fps[i], r.frames, 100 * r.exited / n, 100 * r.lost / n, 100 * r.missed / n, 1e3 * r.lat_mean,
               1e3 * r.lat_p50, 1e3 * r.lat_p95, 1e3 * r.lat_p99, r.throughput_fps, 1e3 * r.energy_j,
               1e3 * r.energy_active_j, 100 * r.up_util,
               100 * r.server_util, 100 * r.device_util);
        p50[i] = 1e3 * r.lat_p50, p95[i] = 1e3 * r.lat_p95, p99[i] = 1e3 * r.lat_p99;
        if (csv)
            fprintf(csv, "%g,%d,%ld,%ld,%ld,%ld,%ld,%.9g,%.9g,%.9g,%.9g,%.6g,%.9g,%.9g,%.6f,%.6f,%.6f,%.6f,%ld,%ld\n", fps[i],
                    wl.devices, r.frames, r.done, r.exited, r.lost, r.missed, r.lat_mean, r.lat_p50, r.lat_p95, r.lat_p99,
                    r.throughput_fps, r.energy_j, r.energy_active_j, r.up_util, r.down_util, r.server_util, r.device_util,
                    r.packets, r.retransmits);
    }
    if (csv && fclose(csv)) return cli_error(c.cmd, "cannot write %s", args_str(&c, "csv"));
    if (args_str(&c, "svg")) {
        char names[64][24];
        const char *xn[64];
        for (int i = 0; i < nf; i++) snprintf(names[i], sizeof names[i], "%g fps", fps[i]), xn[i] = names[i];
        SvgSeries s[3] = {{"p50 latency ms", p50, 0, 0, 0, NULL}, {"p95", p95, 0, 1, 0, NULL}, {"p99", p99, 0, 1, 1, NULL}};
        char title[200];
        snprintf(title, sizeof title, "%s over %s", device.name, link.name);
        SvgChart ch = {title, "latency ms", NULL, xn, nf, 0};
        if (svg_line_chart(args_str(&c, "svg"), &ch, s, 3) != SEI_OK) return cli_error(c.cmd, "%s", sei_last_error());
    }
    return 0;
}
