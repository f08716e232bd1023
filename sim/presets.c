/* presets.c - the catalogue of device and link presets (sim.h) and its parser.
 *
 * One entry per line, in the same format a user's file (--presets FILE) uses:
 *   device NAME gflops=G overhead_us=U compute_w=W idle_w=W mem_mb=M source="..."
 *   link   NAME up_mbps=B down_mbps=B delay_ms=D jitter_ms=J mtu=N header=H loss=P
 *               [ge_p=P ge_r=P ge_loss=P] [shared=0|1] tx_w=W rx_w=W source="..."
 * '#' starts a comment; a later entry with an existing name replaces it. Rates of 0 are
 * infinite. The figures are typical, not measured here: each entry names its source, and
 * `gflops` is the effective rate on CNN layers (a fraction of the chip's peak). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim/sim.h"

static const char builtin[] =
    "# devices: effective fp32 GFLOP/s on conv layers, fixed cost per layer, power, memory\n"
    "device mcu-m7      gflops=0.25 overhead_us=20 compute_w=0.33 idle_w=0.01 mem_mb=1 "
    "source=\"STM32H743 (Cortex-M7, 480 MHz, 1 MB SRAM; DS12110): ~100 mA at 3.3 V running; FPU peak 0.96 GFLOP/s, 25% assumed\"\n"
    "device rpi4        gflops=10 overhead_us=30 compute_w=6.4 idle_w=2.7 mem_mb=4096 "
    "source=\"Raspberry Pi 4 B (4x Cortex-A72 1.5 GHz, NEON peak 48 GFLOP/s, ~20% assumed); 2.7 W idle / 6.4 W loaded (Tom's Hardware measurements)\"\n"
    "device jetson-nano gflops=60 overhead_us=60 compute_w=10 idle_w=1.5 mem_mb=4096 "
    "source=\"NVIDIA Jetson Nano datasheet: 128-core Maxwell, 236 GFLOP/s fp32 peak (25% assumed), 10 W mode\"\n"
    "device x86-server  gflops=200 overhead_us=5 compute_w=150 idle_w=60 mem_mb=65536 "
    "source=\"sei make bench on a 2-core AVX-512 box: 180-240 GFLOP/s on VGG16/ResNet-50 layers; power typical of a 1U server\"\n"
    "# links: rates in Mb/s (0: infinite), one-way delay and jitter, packet size and header, loss, radio power\n"
    "link ble      up_mbps=0.7 down_mbps=0.7 delay_ms=15 jitter_ms=7.5 mtu=251 header=11 loss=0.001 tx_w=0.015 rx_w=0.015 "
    "source=\"Bluetooth 5 LE 1M PHY with data length extension (251-byte PDU, 4+3+4 header bytes), ~0.7 Mb/s application rate; nRF52840: 4.8 mA tx at 0 dBm\"\n"
    "link lora     up_mbps=0.0055 down_mbps=0.0055 delay_ms=50 jitter_ms=20 mtu=235 header=13 loss=0.01 tx_w=0.4 rx_w=0.04 "
    "source=\"LoRaWAN EU868 DR5 (SF7/125 kHz, 5.47 kb/s, 222-byte payload + 13-byte MAC header); SX1276 datasheet: 120 mA tx at +20 dBm; duty cycle not modelled\"\n"
    "link nbiot    up_mbps=0.0625 down_mbps=0.027 delay_ms=300 jitter_ms=200 mtu=1280 header=48 loss=0.01 tx_w=0.8 rx_w=0.2 "
    "source=\"3GPP TS 36.306 Cat-NB1 peak rates (62.5 kb/s up multi-tone, 27 kb/s down); u-blox SARA-N2 datasheet: ~220 mA tx at 23 dBm\"\n"
    "link wifi-n   up_mbps=50 down_mbps=50 delay_ms=2 jitter_ms=1 mtu=1500 header=66 loss=0.001 tx_w=0.8 rx_w=0.33 shared=1 "
    "source=\"IEEE 802.11n 1x1 20 MHz, ~50 Mb/s TCP goodput; one shared channel; ESP32 datasheet: 240 mA tx, 100 mA rx\"\n"
    "link lte      up_mbps=10 down_mbps=30 delay_ms=20 jitter_ms=5 mtu=1500 header=60 loss=0.001 tx_w=1.5 rx_w=1.2 "
    "source=\"Huang et al., A close examination of performance and power characteristics of 4G LTE networks, MobiSys 2012\"\n"
    "link 5g       up_mbps=50 down_mbps=200 delay_ms=5 jitter_ms=2 mtu=1500 header=60 loss=0.0005 tx_w=2.5 rx_w=2.0 "
    "source=\"Narayanan et al., A first look at commercial 5G performance on smartphones, WWW 2020\"\n"
    "link ethernet up_mbps=1000 down_mbps=1000 delay_ms=0.1 jitter_ms=0.02 mtu=1500 header=78 loss=0 tx_w=0.5 rx_w=0.5 "
    "source=\"IEEE 802.3ab 1000BASE-T; 38 bytes of Ethernet framing + 40 of IP/TCP per packet (the 1 Gb/s link Split-Et-Impera simulates)\"\n";

const char *sim_builtin_presets(void) { return builtin; }

/* the next token of *p: a word, or key="quoted value"; NULL at the end */
static char *token(char **p) {
    char *s = *p;
    while (*s == ' ' || *s == '\t') s++;
    if (!*s || *s == '#' || *s == '\n' || *s == '\r') return NULL;
    char *start = s;
    int quoted = 0;
    for (; *s; s++) {
        if (*s == '"') quoted = !quoted;
        else if (!quoted && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '#')) break;
    }
    if (*s == '#') { *s = 0; *p = s; return start; }
    if (*s) *s++ = 0;
    *p = s;
    return start;
}

static int num(const char *v, double lo, double hi, double *out) {
    char *end;
    const double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi)) return -1;
    *out = x;
    return 0;
}

static void copy_source(char *dst, size_t cap, const char *v) {
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') v++, n -= 2;
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static sei_status parse_line(SimCatalogue *c, char *line, const char *where, int lineno) {
    char *p = line, *kind = token(&p);
    if (!kind) return SEI_OK;
    char *name = token(&p);
    if (!name || strlen(name) >= SIM_NAME_LEN || (strcmp(kind, "device") && strcmp(kind, "link")))
        return sei_fail(SEI_ERR_FORMAT, "%s:%d: expected 'device NAME key=value ...' or 'link NAME ...'", where, lineno);
    const int dev = !strcmp(kind, "device");
    SimNode n;
    memset(&n, 0, sizeof n);
    SimLink l;
    memset(&l, 0, sizeof l);
    l.mtu = 1500;
    snprintf(dev ? n.name : l.name, SIM_NAME_LEN, "%s", name);
    for (char *t; (t = token(&p));) {
        char *eq = strchr(t, '=');
        if (!eq) return sei_fail(SEI_ERR_FORMAT, "%s:%d: '%s' is not key=value", where, lineno, t);
        *eq = 0;
        const char *k = t, *v = eq + 1;
        double x = 0;
        int bad = 0;
        if (!strcmp(k, "source")) copy_source(dev ? n.source : l.source, sizeof n.source, v);
        else if (dev && !strcmp(k, "gflops")) bad = num(v, 0, 1e9, &n.gflops);
        else if (dev && !strcmp(k, "overhead_us")) bad = num(v, 0, 1e9, &x), n.overhead_s = x * 1e-6;
        else if (dev && !strcmp(k, "compute_w")) bad = num(v, 0, 1e6, &n.p_compute);
        else if (dev && !strcmp(k, "idle_w")) bad = num(v, 0, 1e6, &n.p_idle);
        else if (dev && !strcmp(k, "mem_mb")) bad = num(v, 0, 1e9, &n.mem_mb);
        else if (!dev && !strcmp(k, "up_mbps")) bad = num(v, 0, 1e9, &x), l.up_bps = x * 1e6;
        else if (!dev && !strcmp(k, "down_mbps")) bad = num(v, 0, 1e9, &x), l.down_bps = x * 1e6;
        else if (!dev && !strcmp(k, "delay_ms")) bad = num(v, 0, 1e9, &x), l.delay_s = x * 1e-3;
        else if (!dev && !strcmp(k, "jitter_ms")) bad = num(v, 0, 1e9, &x), l.jitter_s = x * 1e-3;
        else if (!dev && !strcmp(k, "mtu")) bad = num(v, 2, 1 << 20, &x), l.mtu = (int)x;
        else if (!dev && !strcmp(k, "header")) bad = num(v, 0, 1 << 20, &x), l.header = (int)x;
        else if (!dev && !strcmp(k, "loss")) bad = num(v, 0, 0.999, &l.loss);
        else if (!dev && !strcmp(k, "ge_p")) bad = num(v, 0, 1, &l.ge_p);
        else if (!dev && !strcmp(k, "ge_r")) bad = num(v, 0, 1, &l.ge_r);
        else if (!dev && !strcmp(k, "ge_loss")) bad = num(v, 0, 1, &l.ge_loss);
        else if (!dev && !strcmp(k, "shared")) bad = num(v, 0, 1, &x), l.shared = x > 0;
        else if (!dev && !strcmp(k, "tx_w")) bad = num(v, 0, 1e6, &l.p_tx);
        else if (!dev && !strcmp(k, "rx_w")) bad = num(v, 0, 1e6, &l.p_rx);
        else return sei_fail(SEI_ERR_FORMAT, "%s:%d: unknown %s key '%s'", where, lineno, kind, k);
        if (bad) return sei_fail(SEI_ERR_FORMAT, "%s:%d: %s=%s is not a number in range", where, lineno, k, v);
    }
    if (!dev && l.mtu <= l.header)
        return sei_fail(SEI_ERR_FORMAT, "%s:%d: link %s: mtu %d must exceed header %d", where, lineno, l.name, l.mtu, l.header);
    if (dev) {
        for (int i = 0; i < c->nnodes; i++)
            if (!strcmp(c->nodes[i].name, n.name)) { c->nodes[i] = n; return SEI_OK; }
        SimNode *nn = realloc(c->nodes, (size_t)(c->nnodes + 1) * sizeof *nn);
        if (!nn) return sei_fail(SEI_ERR_NOMEM, "out of memory");
        c->nodes = nn;
        c->nodes[c->nnodes++] = n;
    } else {
        for (int i = 0; i < c->nlinks; i++)
            if (!strcmp(c->links[i].name, l.name)) { c->links[i] = l; return SEI_OK; }
        SimLink *nl = realloc(c->links, (size_t)(c->nlinks + 1) * sizeof *nl);
        if (!nl) return sei_fail(SEI_ERR_NOMEM, "out of memory");
        c->links = nl;
        c->links[c->nlinks++] = l;
    }
    return SEI_OK;
}

static sei_status parse_text(SimCatalogue *c, const char *text, const char *where) {
    int lineno = 0;
    const char *s = text;
    while (*s) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char line[1024];
        lineno++;
        if (n >= sizeof line) return sei_fail(SEI_ERR_FORMAT, "%s:%d: line too long", where, lineno);
        memcpy(line, s, n);
        line[n] = 0;
        sei_status st = parse_line(c, line, where, lineno);
        if (st) return st;
        s = e ? e + 1 : s + n;
    }
    return SEI_OK;
}

sei_status sim_catalogue_load(SimCatalogue *c, const char *path) {
    memset(c, 0, sizeof *c);
    sei_status st = parse_text(c, builtin, "built-in presets");
    if (st || !path) return st;
    FILE *f = fopen(path, "rb");
    if (!f) return sei_fail(SEI_ERR_IO, "%s: cannot open", path);
    char *buf = malloc(1 << 20);
    const size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    const int big = buf && n == (1 << 20) - 1 && fgetc(f) != EOF;
    fclose(f);
    if (!buf) return sei_fail(SEI_ERR_NOMEM, "out of memory");
    if (big) { free(buf); return sei_fail(SEI_ERR_FORMAT, "%s: larger than 1 MB", path); }
    buf[n] = 0;
    if (memchr(buf, 0, n)) { free(buf); return sei_fail(SEI_ERR_FORMAT, "%s: not a text file", path); }
    st = parse_text(c, buf, path);
    free(buf);
    return st;
}

void sim_catalogue_free(SimCatalogue *c) {
    free(c->nodes);
    free(c->links);
    memset(c, 0, sizeof *c);
}

const SimNode *sim_find_node(const SimCatalogue *c, const char *name) {
    for (int i = 0; i < c->nnodes; i++)
        if (!strcmp(c->nodes[i].name, name)) return &c->nodes[i];
    return NULL;
}

const SimLink *sim_find_link(const SimCatalogue *c, const char *name) {
    for (int i = 0; i < c->nlinks; i++)
        if (!strcmp(c->links[i].name, name)) return &c->links[i];
    return NULL;
}
