/* sim.h - a deterministic discrete-event simulation of split inference: devices that run
 * the head of a network, a link to a server, and the server that runs the tail.
 *
 * Per frame: it arrives at its device (periodic or Poisson), waits for the device's one
 * core, runs the head; leaves there with probability exit_rate (an early exit) or sends
 * payload_bytes to the server; the server (workers, one FIFO queue) runs the tail and
 * sends reply_bytes back. Latency is from arrival to the reply's last byte (or to the end
 * of the head for an exit).
 *
 * Links are packet-level: a message is cut into packets of at most mtu bytes, each with
 * `header` of them overhead; a packet is serialised at the link's bandwidth (one FIFO
 * transmitter per direction: per device, or one shared by all devices), then arrives after
 * the propagation delay plus a uniform jitter in [0, jitter]. Packets are lost
 * independently (loss) and/or in bursts (Gilbert-Elliott: good -> bad with ge_p, bad ->
 * good with ge_r, loss ge_loss in the bad state). Transport:
 *   SIM_UDP  datagrams: a frame with a lost packet (either way) is lost;
 *   SIM_TCP  one reliable connection per device and direction, as Linux runs it with Reno
 *            congestion control: segments of mtu - header bytes, an ACK per segment (header
 *            bytes, on the other direction) with the cumulative point and a SACK of that
 *            segment, an initial window of 10 segments (RFC 6928), slow start, congestion
 *            avoidance, restart after idle; losses found by RACK (RFC 8985: a segment sent
 *            before one delivered, after an RTT and a reordering window) or a tail-loss
 *            probe (2 srtt), fast recovery halving the window; a retransmission timeout of
 *            srtt + max(4 rttvar, 200 ms) (Linux's floor), exponential backoff, everything
 *            not SACKed resent in slow start.
 * Energy: the device draws p_compute while computing, the link's p_tx / p_rx while its
 * radio sends / receives packets (ACKs included), p_idle otherwise. Same seed, same
 * results. */
#ifndef SEI_SIM_H
#define SEI_SIM_H
#include <stdint.h>
#include "engine/error.h"

#define SIM_NAME_LEN 48

typedef struct {
    char name[SIM_NAME_LEN];
    double up_bps, down_bps;  /* bits per second; 0: infinite */
    double delay_s;           /* one-way propagation delay */
    double jitter_s;          /* extra delay per packet, uniform in [0, jitter] */
    int mtu, header;          /* bytes per packet (incl. header), header bytes per packet */
    double loss;              /* independent loss probability per packet */
    double ge_p, ge_r, ge_loss; /* Gilbert-Elliott bursts (ge_p = 0: none) */
    int shared;               /* 1: all devices share one medium per direction */
    double p_tx, p_rx;        /* watts the device's radio draws sending / receiving */
    char source[200];         /* where the figures come from */
} SimLink;

typedef struct {
    char name[SIM_NAME_LEN];
    double gflops;            /* effective GFLOP/s on network layers */
    double overhead_s;        /* fixed time per layer (dispatch, memory) */
    double p_compute, p_idle; /* watts */
    double mem_mb;            /* memory available to the network */
    char source[200];
} SimNode;

typedef enum { SIM_UDP, SIM_TCP } SimTransport;

/* what one frame costs, from a split configuration */
typedef struct {
    double head_s;            /* device compute of a frame that crosses the link */
    double exit_s;            /* device compute of a frame that leaves early */
    double exit_rate;         /* share of frames leaving early, in [0, 1] */
    double tail_s;            /* server compute */
    long payload_bytes;       /* device -> server per frame (0 with tail_s 0: all on device) */
    long reply_bytes;         /* server -> device */
} SimPlan;

typedef struct {
    int devices;
    double fps;               /* frames per second per device */
    int poisson;              /* 1: exponential inter-arrival times; 0: periodic, staggered */
    double duration_s;        /* frames arrive in [0, duration) */
    double deadline_s;        /* a frame later than this is a miss (0: none) */
    int workers;              /* server workers */
    SimTransport transport;
    uint64_t seed;
} SimWorkload;

typedef struct {
    long frames, done, exited, lost, missed; /* lost: never answered (UDP loss, or unfinished) */
    double lat_mean, lat_p50, lat_p95, lat_p99, lat_max; /* over answered frames, seconds */
    double wait_mean;         /* mean server queueing time */
    double throughput_fps;    /* answered frames per second of the run */
    double energy_j;          /* device energy per frame: active + idle share */
    double energy_active_j;   /* compute + radio only */
    double up_util, down_util, server_util, device_util; /* busy shares */
    long packets, retransmits, packets_lost;
    double end_s;             /* time of the last event */
} SimResult;

/* run the simulation; every time above is in seconds */
sei_status sim_run(const SimLink *link, const SimNode *dev, const SimPlan *plan, const SimWorkload *w,
                   SimResult *r);

/* device compute time of `macs` multiply-adds over `layers` layers */
double sim_compute_s(const SimNode *n, double macs, int layers);

/* ---- presets: "device NAME key=value ..." / "link NAME key=value ..." lines, '#' comments */
typedef struct {
    SimNode *nodes;
    int nnodes;
    SimLink *links;
    int nlinks;
} SimCatalogue;

/* the built-in catalogue (sim/presets.c), then the file's entries (path NULL: none) */
sei_status sim_catalogue_load(SimCatalogue *c, const char *path);
void sim_catalogue_free(SimCatalogue *c);
const SimNode *sim_find_node(const SimCatalogue *c, const char *name);
const SimLink *sim_find_link(const SimCatalogue *c, const char *name);
/* the built-in catalogue's text, in the file format */
const char *sim_builtin_presets(void);

#endif
