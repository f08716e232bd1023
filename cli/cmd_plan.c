/* cmd_plan.c - `sei plan`: which split configuration meets the application's needs?
 *
 * For each checkpoint given (the first is the base network; others may be retrained splits
 * with a bottleneck, sparse heads, networks with exits) it enumerates: all on the device,
 * all on the server, each cut (`--cuts`, or the bottleneck's wire) x wire precision
 * (fp32 / fp16 / int8) x early-exit threshold where the network has exits. Accuracy is
 * measured on the evaluation images (the activation at the cut really goes through the
 * wire's rounding, exits really decide), or, for a bottleneck at a cut nobody retrained,
 * predicted from the base network's I-SPLIT importance by a least-squares line through the
 * retrained cuts (log10 importance -> accuracy; needs two of them, and only between their
 * importances: no extrapolation) and marked "predicted".
 * Each configuration is simulated (sim/) on the device / link / server presets and workload;
 * the constraints filter, the objective ranks, the Pareto front is accuracy vs latency.
 * Writes DIR/plan.csv, DIR/report.html (self-contained, inline SVG), its charts and
 * DIR/recommendation.txt. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include "cli/common.h"
#include "kernels/ops.h"
#include "nets/train.h"
#include "sim/sim.h"
#include "split/cost.h"
#include "split/exits.h"
#include "split/importance.h"
#include "split/svg.h"

int plan_report(const char *dir, const char *title, const char *summary, const char *const *svgs, int nsvg,
                const char *table_html); /* plan_report.c */

static Flag plan_flags[] = {
    {"weights", "LIST", "checkpoints, comma-separated: the base network first, then variants (retrained splits, sparse, exits)", NULL, NULL, 0},
    NET_FLAGS,
    DATA_FLAGS,
    {"split", "NAME", "data split the accuracies are measured on", "test", NULL, 0},
    {"eval-images", "N", "images to measure accuracy on (0: the whole split)", "2000", NULL, 0},
    {"batch", "B", "images per evaluation batch", "256", NULL, 0},
    {"normalize", "M/S", "override the checkpoint's normalisation", NULL, NULL, 0},
    {"cuts", "WHICH", "pools (max-pool outputs), all, or a list a,b,c", "pools", NULL, 0},
    {"taus", "LIST", "early-exit thresholds (max softmax) for networks with exits", "0.8,0.9,0.95,0.99", NULL, 0},
    {"device", "NAME", "device preset (sei sim --list-presets)", "rpi4", NULL, 0},
    {"server", "NAME", "server preset", "x86-server", NULL, 0},
    {"link", "NAME", "link preset", "wifi-n", NULL, 0},
    {"presets", "FILE", "more presets", NULL, NULL, 0},
    {"fps", "F", "frames per second per device", "10", NULL, 0},
    {"devices", "N", "devices", "1", NULL, 0},
    {"workers", "W", "server workers", "1", NULL, 0},
    {"transport", "T", "udp or tcp", "tcp", NULL, 0},
    {"duration", "S", "simulated seconds per configuration", "30", NULL, 0},
    {"max-latency-ms", "L", "latency bound at --percentile (0: none)", "0", NULL, 0},
    {"percentile", "P", "50, 95 or 99", "95", NULL, 0},
    {"min-accuracy", "A", "accuracy bound (0..1 or percent; 0: none)", "0", NULL, 0},
    {"within", "P", "accuracy bound: at most P points below the base network's measured accuracy", NULL, NULL, 0},
    {"max-device-mem", "MB", "device memory bound: head weights + largest activation (0: the preset's)", "0", NULL, 0},
    {"max-energy-mj", "E", "device energy per frame, compute + radio (0: none)", "0", NULL, 0},
    {"objective", "O", "latency, energy or bytes: what the recommendation minimises", "latency", NULL, 0},
    {"out", "DIR", "where plan.csv and report.html go", NULL, NULL, 0},
    {"quiet", NULL, "print only the recommendation", NULL, NULL, 0},
};

#define MAXCUT 64
#define NWIRE 3

typedef struct {
    char name[256];               /* what the configuration is */
    char variant[64], cut[SEI_NAME_LEN], wire[8];
    double tau;                   /* < 0: no early exit */
    double accuracy, exit_rate;
    int predicted;                /* accuracy from importance, not measured */
    SplitCost cost;
    double mem_mb;
    SimResult sim;
    double lat;                   /* at the percentile */
    double bytes;                 /* mean per frame */
    int feasible, fail;           /* fail: the first constraint it breaks (1 accuracy, 2 memory, 3 latency, 4 energy) */
} Config;

typedef struct {
    Config *v;
    int n, cap;
} Configs;

static Config *add_config(Configs *cs) {
    if (cs->n == cs->cap) {
        cs->cap = cs->cap ? 2 * cs->cap : 64;
        Config *nv = realloc(cs->v, (size_t)cs->cap * sizeof *nv);
        if (!nv) { fprintf(stderr, "sei plan: out of memory\n"); exit(3); }
        cs->v = nv;
    }
    Config *c = &cs->v[cs->n++];
    memset(c, 0, sizeof *c);
    c->tau = -1;
    return c;
}

/* ---------------------------------------------------------------- measuring a variant */

typedef struct {
    Net *net;
    int ncut, cut_layer[MAXCUT];      /* cut points measured: the tail runs from cut_layer + 1 */
    long n;
    long *right;                      /* [ncut * NWIRE] */
    int32_t *label, *pred[MAXCUT][NWIRE]; /* per image */
    int nexit, exit_layer[NET_MAX_EXITS];
    int32_t *epred[NET_MAX_EXITS];
    float *eprob[NET_MAX_EXITS];
    long cap;
    Tape tail;
    float *q;
    size_t qcap;
    Importance *im;                   /* base network only */
    int size;
} Meas;

static int argmax(const float *l, int K) {
    int b = 0;
    for (int k = 1; k < K; k++)
        if (l[k] > l[b]) b = k;
    return b;
}

/* run every eval batch: the whole network once (layer outputs kept), then each cut's tail
 * from the activation rounded by each wire format */
static sei_status meas_run(Meas *m, const Dataset *d, const BatchConfig *bc) {
    Net *net = m->net;
    const int K = net->classes, L = net->nlayers;
    Batcher b;
    BatchConfig c = *bc;
    c.random_crop = c.flip = c.shuffle = c.drop_last = 0;
    sei_status s = batcher_init(&b, d, &c);
    if (s) return s;
    m->cap = d->n;
    m->label = malloc((size_t)d->n * sizeof(int32_t));
    for (int i = 0; i < m->ncut; i++)
        for (int w = 0; w < NWIRE; w++) m->pred[i][w] = malloc((size_t)d->n * sizeof(int32_t));
    for (int j = 0; j < m->nexit; j++)
        m->epred[j] = malloc((size_t)d->n * sizeof(int32_t)), m->eprob[j] = malloc((size_t)d->n * sizeof(float));
    Value **outs = calloc((size_t)L, sizeof *outs);
    Tape t;
    tape_init(&t, 0, 0, 0, 0);
    tape_init(&m->tail, 0, 0, 0, 0);
    batcher_epoch(&b, 0);
    const float *x;
    const int32_t *y;
    int n;
    if (!outs || !m->label) s = sei_fail(SEI_ERR_NOMEM, "plan: out of memory");
    while (!s && (n = batcher_next(&b, &x, &y)) > 0) {
        tape_reset(&t);
        Tensor xt = {.ndim = 4, .shape = {n, net->in_ch, c.size, c.size}, .data = (float *)x};
        Value *out = net_forward(net, &t, tape_wrap(&t, &xt, 0), 0, L, outs);
        if (!out) { s = SEI_ERR_SHAPE; break; }
        const long i0 = m->n;
        for (int i = 0; i < n; i++) m->label[i0 + i] = y[i];
        for (int j = 0; j < m->nexit; j++) {
            const Value *e = net->exit_out[net->layers[m->exit_layer[j]].exit];
            for (int i = 0; i < n; i++) {
                const float *l = e->t.data + (size_t)i * K;
                m->epred[j][i0 + i] = argmax(l, K);
                m->eprob[j][i0 + i] = (float)exit_score(l, K, EXIT_MAXPROB);
            }
        }
        for (int ci = 0; ci < m->ncut && !s; ci++) {
            const int at = m->cut_layer[ci];
            const Value *a = at < 0 ? out : outs[at];
            const size_t per = tensor_numel(&a->t) / (size_t)n;
            for (int w = 0; w < NWIRE; w++) {
                const float *lg = out->t.data;
                if (w > 0 && at >= 0 && at + 1 < L) {
                    if (m->qcap < (size_t)n * per) {
                        free(m->q);
                        m->qcap = (size_t)n * per;
                        m->q = malloc(m->qcap * sizeof(float));
                        if (!m->q) { s = sei_fail(SEI_ERR_NOMEM, "plan: out of memory"); break; }
                    }
                    wire_forward(m->q, a->t.data, n, per, (WireFormat)w);
                    tape_reset(&m->tail);
                    Tensor qt = a->t;
                    qt.data = m->q;
                    Value *o = net_forward(net, &m->tail, tape_wrap(&m->tail, &qt, 0), at + 1, L, NULL);
                    if (!o) { s = SEI_ERR_SHAPE; break; }
                    lg = o->t.data;
                }
                for (int i = 0; i < n; i++) m->pred[ci][w][i0 + i] = argmax(lg + (size_t)i * K, K);
            }
        }
        if (!s && m->im) {
            Tape it;
            tape_init(&it, 1, 0, 0, 0);
            s = importance_batch(m->im, net, &it, &xt, y, 0);
            tape_free(&it);
        }
        m->n += n;
    }
    free(outs);
    tape_free(&t);
    batcher_free(&b);
    return s;
}

/* overall accuracy at cut ci, wire w, with exits at tau (< 0: none); *rate: share leaving */
static double meas_acc(const Meas *m, int ci, int w, double tau, double *rate) {
    long right = 0, left = 0;
    for (long i = 0; i < m->n; i++) {
        int p = m->pred[ci][w][i], j;
        for (j = 0; tau >= 0 && j < m->nexit; j++)
            if (m->eprob[j][i] >= tau) break;
        if (tau >= 0 && j < m->nexit) p = m->epred[j][i], left++;
        right += p == m->label[i];
    }
    *rate = m->n ? (double)left / m->n : 0;
    return m->n ? (double)right / m->n : 0;
}

/* the importance of the cut point at layer index `layer` (-1 if it is not one) */
static double imp_at(const Importance *im, int layer) {
    for (int c = 0; c < im->ncuts; c++)
        if (im->layer[c] == layer) return importance_value(im, c);
    return -1;
}

static void meas_free(Meas *m) {
    free(m->label);
    for (int i = 0; i < m->ncut; i++)
        for (int w = 0; w < NWIRE; w++) free(m->pred[i][w]);
    for (int j = 0; j < m->nexit; j++) free(m->epred[j]), free(m->eprob[j]);
    free(m->q);
    tape_free(&m->tail);
}

/* ---------------------------------------------------------------- the plan */

typedef struct {
    SimLink link;
    SimNode dev, srv;
    SimWorkload wl;
    int pct;
    double max_lat, min_acc, max_mem, max_energy;
    int objective; /* 0 latency, 1 energy, 2 bytes */
} Env;

static void simulate(Config *c, const Env *e) {
    SimPlan p = {0};
    const SplitCost *k = &c->cost;
    p.head_s = sim_compute_s(&e->dev, k->head_macs, k->head_layers);
    p.exit_s = sim_compute_s(&e->dev, k->nexits ? k->exit_macs[0] : k->head_macs, k->head_layers);
    p.tail_s = sim_compute_s(&e->srv, k->tail_macs, k->tail_layers);
    p.payload_bytes = k->payload_bytes, p.reply_bytes = k->tail_layers ? k->reply_bytes : 0;
    p.exit_rate = c->tau >= 0 ? c->exit_rate : 0;
    SimWorkload w = e->wl;
    if (sim_run(&e->link, &e->dev, &p, &w, &c->sim) != SEI_OK) { c->lat = INFINITY; return; }
    const SimResult *r = &c->sim;
    c->lat = e->pct == 50 ? r->lat_p50 : e->pct == 99 ? r->lat_p99 : r->lat_p95;
    if (r->lost > 0 && r->lost * 100 >= r->frames * (100 - e->pct)) c->lat = INFINITY; /* losses beyond the percentile */
    c->bytes = (double)k->payload_bytes * (1 - p.exit_rate);
    c->mem_mb = (k->head_param_bytes + k->head_act_bytes) / 1e6;
}

static int check(Config *c, const Env *e) {
    c->fail = c->accuracy < e->min_acc ? 1 : c->mem_mb > e->max_mem ? 2
              : (e->max_lat > 0 && !(c->lat <= e->max_lat)) ? 3
              : (e->max_energy > 0 && c->sim.energy_active_j * 1e3 > e->max_energy) ? 4 : 0;
    return c->feasible = !c->fail;
}

static double objective(const Config *c, int o) {
    return o == 1 ? c->sim.energy_active_j : o == 2 ? c->bytes : c->lat;
}

static int g_obj;
static int by_objective(const void *a, const void *b) {
    const Config *x = a, *y = b;
    if (x->feasible != y->feasible) return y->feasible - x->feasible;
    const double ox = objective(x, g_obj), oy = objective(y, g_obj);
    if (ox != oy) return ox < oy ? -1 : 1;
    return x->accuracy > y->accuracy ? -1 : x->accuracy < y->accuracy;
}

static int mkdirs(const char *dir) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') { *p = 0; if (mkdir(tmp, 0777) && errno != EEXIST) return -1; *p = '/'; }
    return mkdir(tmp, 0777) && errno != EEXIST ? -1 : 0;
}

static const char *const wire_names[NWIRE] = {"fp32", "fp16", "int8"};

int cmd_plan(int argc, char **argv) {
    Command c = {"plan", "Pick the split configuration that meets accuracy, latency, memory and energy bounds.",
                 "--weights CKPT[,CKPT...] --device P --link P [--fps F] [--max-latency-ms L] [--min-accuracy A] --out DIR",
                 plan_flags, (int)(sizeof plan_flags / sizeof plan_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if (cli_setup(&c)) return 2;
    const char *wl = args_str(&c, "weights"), *out = args_str(&c, "out");
    if (!wl) return cli_error(c.cmd, "--weights is required");
    if (!out) return cli_error(c.cmd, "--out DIR is required (plan.csv and report.html go there)");
    Env e;
    memset(&e, 0, sizeof e);
    if ((rc = cli_presets(&c, &e.dev, &e.srv, &e.link))) return rc;
    float fps = 10, dur = 30, lat = 0, acc = 0, mem = 0, en = 0;
    int pct = 95, eval_n = 2000, batch = 256;
    if (args_float(&c, "fps", 1e-6, 1e6, &fps) || args_float(&c, "duration", 1e-3, 1e6, &dur) ||
        args_float(&c, "max-latency-ms", 0, 1e9, &lat) || args_float(&c, "min-accuracy", 0, 100, &acc) ||
        args_float(&c, "max-device-mem", 0, 1e9, &mem) || args_float(&c, "max-energy-mj", 0, 1e12, &en) ||
        args_int(&c, "percentile", 50, 99, &pct) || args_int(&c, "eval-images", 0, 1 << 30, &eval_n) ||
        args_int(&c, "devices", 1, 100000, &e.wl.devices) || args_int(&c, "workers", 1, 100000, &e.wl.workers) ||
        args_int(&c, "batch", 1, 65536, &batch))
        return 2;
    if (pct != 50 && pct != 95 && pct != 99) return cli_error(c.cmd, "--percentile: %d is not 50, 95 or 99", pct);
    const char *ob = args_str(&c, "objective"), *tr = args_str(&c, "transport");
    e.objective = !strcmp(ob, "latency") ? 0 : !strcmp(ob, "energy") ? 1 : !strcmp(ob, "bytes") ? 2 : -1;
    if (e.objective < 0) return cli_error(c.cmd, "--objective: '%s' is not latency, energy or bytes", ob);
    if (strcmp(tr, "udp") && strcmp(tr, "tcp")) return cli_error(c.cmd, "--transport: '%s' is not udp or tcp", tr);
    e.wl.fps = fps, e.wl.duration_s = dur, e.wl.transport = strcmp(tr, "udp") ? SIM_TCP : SIM_UDP, e.wl.seed = 1;
    e.wl.deadline_s = lat / 1e3;
    e.pct = pct, e.max_lat = lat / 1e3, e.min_acc = acc > 1 ? acc / 100 : acc;
    e.max_mem = mem > 0 ? mem : e.dev.mem_mb, e.max_energy = en;
    double taus[16];
    int ntau = 0;
    for (const char *s = args_str(&c, "taus"); *s && ntau < 16;) {
        char *end;
        taus[ntau++] = strtod(s, &end);
        if (end == s || (*end && *end != ',') || taus[ntau - 1] < 0 || taus[ntau - 1] > 1)
            return cli_error(c.cmd, "--taus: '%s' is not a list of thresholds in [0, 1]", args_str(&c, "taus"));
        s = *end ? end + 1 : end;
    }
    if (mkdirs(out)) return cli_error(c.cmd, "cannot create %s: %s", out, strerror(errno));

    /* measure every variant */
    char list[4096];
    snprintf(list, sizeof list, "%s", wl);
    Configs cs = {0};
    Importance im;
    int have_im = 0, base_ncut = 0, base_cut_layer[MAXCUT], base_cut_lidx[MAXCUT], fit_done[MAXCUT] = {0};
    char base_cut_name[MAXCUT][SEI_NAME_LEN];
    double base_acc = 0;
    Net base;
    int have_base = 0, base_size = 0;
    /* retrained bottleneck cuts: for the importance fit */
    int nfit = 0;
    double fit_x[32], fit_y[32];
    int fit_ratio = 0, fit_stride = 1;
    WireFormat fit_wire = WIRE_INT8;
    char *save = NULL;
    int vi = 0;
    for (char *path = strtok_r(list, ",", &save); path && !rc; path = strtok_r(NULL, ",", &save), vi++) {
        StFile f;
        if (st_open(&f, path) != SEI_OK) { rc = cli_error(c.cmd, "%s", sei_last_error()); break; }
        Net net;
        if ((rc = cli_open_net(&c, &net, &f))) { st_close(&f); break; }
        DataConfig dc;
        Dataset d = {0};
        BatchConfig bc = {.batch = batch};
        rc = cli_eval_data(&c, &net, &f, args_str(&c, "split"), &dc, &d, &bc);
        if (!rc && eval_n > 0 && d.n > eval_n) d.n = eval_n; /* the first N images of the split */
        if (!rc && d.n == 0) rc = cli_error(c.cmd, "%s: no evaluation images", path);
        const int has_bn = net_find_layer(&net, "bottleneck.wire") >= 0;
        Meas m;
        memset(&m, 0, sizeof m);
        m.net = &net, m.size = bc.size;
        m.cut_layer[m.ncut++] = -1; /* the whole network */
        for (int i = 0; !rc && i < net.nlayers && m.ncut < MAXCUT; i++) {
            const Layer *l = &net.layers[i];
            int want;
            if (has_bn) want = !strcmp(l->path, "bottleneck.wire");
            else if (!strcmp(args_str(&c, "cuts"), "all")) want = l->cut;
            else if (!strcmp(args_str(&c, "cuts"), "pools")) want = l->cut && l->kind == L_MAXPOOL;
            else {
                char pat[SEI_NAME_LEN + 2];
                snprintf(pat, sizeof pat, ",%s,", l->path);
                char lst[2048];
                snprintf(lst, sizeof lst, ",%s,", args_str(&c, "cuts"));
                want = l->cut && strstr(lst, pat) != NULL;
            }
            if (want) {
                int k = i; /* run the tail after the exits at the cut too */
                while (k + 1 < net.nlayers && net.layers[k + 1].kind == L_EXIT) k++;
                m.cut_layer[m.ncut++] = k;
            }
        }
        for (int i = 0; i < net.nlayers; i++)
            if (net.layers[i].kind == L_EXIT && m.nexit < NET_MAX_EXITS) m.exit_layer[m.nexit++] = i;
        if (!rc && vi == 0 && !has_bn && importance_init(&im, &net) == SEI_OK) have_im = 1, m.im = &im;
        if (!rc && meas_run(&m, &d, &bc) != SEI_OK) rc = cli_error(c.cmd, "%s: %s", path, sei_last_error());
        double r0;
        const double whole = rc ? 0 : meas_acc(&m, 0, 0, -1, &r0);
        if (!rc && vi == 0) {
            base_acc = whole, base = net, have_base = 1, base_size = bc.size;
            for (int i = 1; i < m.ncut; i++) {
                base_cut_layer[base_ncut] = m.cut_layer[i];
                int k = m.cut_layer[i];
                while (k > 0 && net.layers[k].kind == L_EXIT) k--;
                base_cut_lidx[base_ncut] = k;
                snprintf(base_cut_name[base_ncut++], SEI_NAME_LEN, "%s", net.layers[k].path);
            }
        }
        char vname[64];
        const char *slash = strrchr(path, '/');
        snprintf(vname, sizeof vname, "v%d", vi);
        if (slash && slash > path) { /* the run directory's name */
            const char *p0 = slash - 1;
            while (p0 > path && p0[-1] != '/') p0--;
            snprintf(vname, sizeof vname, "%.*s", (int)(slash - p0) < 60 ? (int)(slash - p0) : 60, p0);
        }
        /* configurations: all on the device / the server, then the cuts */
        for (int ci = 0; !rc && ci < m.ncut; ci++) {
            const char *cuts[2] = {"none", "input"};
            const int nplace = ci == 0 ? 2 : 1;
            for (int pl = 0; pl < nplace; pl++) {
                int k = ci ? m.cut_layer[ci] : 0; /* ci 0: the whole network, no cut layer */
                while (k > 0 && net.layers[k].kind == L_EXIT) k--;
                const int is_wire = ci > 0 && net.layers[k].kind == L_WIRE;
                const char *cut = ci == 0 ? cuts[pl] : net.layers[k].path;
                const int nw = ci == 0 || is_wire ? 1 : NWIRE;
                for (int w = 0; w < nw; w++) {
                    const int exits_on_device = m.nexit > 0 && !(ci == 0 && pl == 1) &&
                                                (ci == 0 || m.exit_layer[0] <= m.cut_layer[ci]);
                    for (int t = -1; t < (exits_on_device ? ntau : 0); t++) {
                        Config *cf = add_config(&cs);
                        snprintf(cf->variant, sizeof cf->variant, "%s", vname);
                        snprintf(cf->cut, sizeof cf->cut, "%s", cut);
                        snprintf(cf->wire, sizeof cf->wire, "%s",
                                 is_wire ? wire_name((WireFormat)net.layers[k].wire) : wire_names[w]);
                        cf->tau = t >= 0 ? taus[t] : -1;
                        cf->accuracy = meas_acc(&m, ci, w, cf->tau, &cf->exit_rate);
                        if (split_cost(&net, bc.size, cut, &cf->cost) != SEI_OK) { rc = cli_error(c.cmd, "%s", sei_last_error()); break; }
                        if (ci > 0 && !is_wire && w > 0)
                            cf->cost.payload_bytes = (long)wire_bytes((size_t)(cf->cost.payload_bytes / 4), (WireFormat)w);
                        if (t < 0) cf->cost.nexits = 0;
                        if (pl == 1) cf->cost.nexits = 0;
                        snprintf(cf->name, sizeof cf->name, "%.60s %.100s%s%.8s", vname,
                                 ci == 0 ? (pl ? "all on server" : "all on device") : cut, ci ? " " : "", ci ? cf->wire : "");
                        if (cf->tau >= 0) {
                            const size_t len = strlen(cf->name);
                            snprintf(cf->name + len, sizeof cf->name - len, " exit tau %.2f", cf->tau);
                        }
                    }
                }
            }
        }
        if (!rc && has_bn && nfit < 32 && have_im) { /* a retrained cut: a point for the prediction */
            const char *at = st_meta(&f, "bottleneck_at");
            for (int i = 0; at && i < base_ncut; i++) fit_done[i] |= !strcmp(base_cut_name[i], at);
            const int li = at && have_base ? net_find_layer(&base, at) : -1;
            const double v = li >= 0 ? imp_at(&im, li) : -1;
            if (v > 0) {
                fit_x[nfit] = log10(v), fit_y[nfit++] = whole;
                if (!fit_ratio) {
                    fit_ratio = st_meta(&f, "ratio") ? atoi(st_meta(&f, "ratio")) : 4;
                    fit_stride = st_meta(&f, "stride") ? atoi(st_meta(&f, "stride")) : 1;
                    const char *wn = st_meta(&f, "wire");
                    fit_wire = wn && wire_parse(wn) >= 0 ? (WireFormat)wire_parse(wn) : WIRE_INT8;
                }
            }
        }
        meas_free(&m);
        ds_free(&d);
        st_close(&f);
        if (vi > 0 || rc) net_free(&net);
    }
    float within = -1;
    if (!rc && args_str(&c, "within")) {
        if (args_float(&c, "within", 0, 100, &within)) rc = 2;
        else if (base_acc - within / 100 > e.min_acc) e.min_acc = base_acc - within / 100;
    }
    /* predicted configurations: a bottleneck like the retrained ones at the other cuts */
    double fa = 0, fb = 0;
    int predicted = 0;
    int distinct = 0; /* the fit needs two different cuts */
    for (int i = 0; i < nfit; i++) distinct |= fit_x[i] != fit_x[0];
    if (!rc && nfit >= 2 && distinct) {
        double mx = 0, my = 0, sxx = 0, sxy = 0;
        for (int i = 0; i < nfit; i++) mx += fit_x[i] / nfit, my += fit_y[i] / nfit;
        for (int i = 0; i < nfit; i++) sxx += (fit_x[i] - mx) * (fit_x[i] - mx), sxy += (fit_x[i] - mx) * (fit_y[i] - my);
        fb = sxx > 0 ? sxy / sxx : 0, fa = my - fb * mx;
        LayerInfo *li = calloc((size_t)base.nlayers, sizeof *li);
        if (li && net_shapes(&base, 1, base.in_ch, base_size, base_size, li) == SEI_OK)
            for (int i = 0; i < base_ncut; i++) {
                const int done = fit_done[i];
                const double v = imp_at(&im, base_cut_lidx[i]);
                const LayerInfo *s = &li[base_cut_layer[i]];
                double lo = fit_x[0], hi = fit_x[0];
                for (int j = 1; j < nfit; j++) lo = fit_x[j] < lo ? fit_x[j] : lo, hi = fit_x[j] > hi ? fit_x[j] : hi;
                /* interpolation only: outside the retrained cuts' importance the line says nothing */
                if (done || v <= 0 || s->ndim != 4 || log10(v) < lo || log10(v) > hi) continue;
                Config *cf = add_config(&cs);
                snprintf(cf->variant, sizeof cf->variant, "predicted");
                snprintf(cf->cut, sizeof cf->cut, "%s", base_cut_name[i]);
                snprintf(cf->wire, sizeof cf->wire, "%s", wire_name(fit_wire));
                double a = fa + fb * log10(v);
                cf->accuracy = a < 0 ? 0 : a > base_acc ? base_acc : a;
                cf->predicted = 1;
                split_cost(&base, base_size, base_cut_name[i], &cf->cost);
                const int C = s->shape[1], H = s->shape[2], W = s->shape[3], cc = C / fit_ratio > 0 ? C / fit_ratio : 1;
                const int h = (H - 1) / fit_stride + 1, w = (W - 1) / fit_stride + 1;
                const double enc = (double)cc * C * 9 * h * w;
                cf->cost.head_macs += enc, cf->cost.tail_macs += enc, cf->cost.head_layers += 3, cf->cost.tail_layers += 3;
                cf->cost.payload_bytes = (long)wire_bytes((size_t)cc * h * w, fit_wire);
                cf->cost.nexits = 0;
                snprintf(cf->name, sizeof cf->name, "bottleneck 1/%d at %s %s (predicted)", fit_ratio, base_cut_name[i],
                         cf->wire);
                predicted++;
            }
        free(li);
    }
    if (rc) { free(cs.v); if (have_base) net_free(&base); if (have_im) importance_free(&im); return rc; }

    /* simulate, check, rank */
    for (int i = 0; i < cs.n; i++) simulate(&cs.v[i], &e), check(&cs.v[i], &e);
    g_obj = e.objective;
    qsort(cs.v, (size_t)cs.n, sizeof *cs.v, by_objective);
    int nfeas = 0;
    for (int i = 0; i < cs.n; i++) nfeas += cs.v[i].feasible;
    /* Pareto front over accuracy (up) and latency (down) */
    int *front = calloc((size_t)(cs.n > 0 ? cs.n : 1), sizeof *front), nfront = 0;
    for (int i = 0; i < cs.n; i++) {
        int dominated = 0;
        for (int j = 0; j < cs.n && !dominated; j++)
            dominated = j != i && cs.v[j].accuracy >= cs.v[i].accuracy && cs.v[j].lat <= cs.v[i].lat &&
                        (cs.v[j].accuracy > cs.v[i].accuracy || cs.v[j].lat < cs.v[i].lat);
        if (!dominated && isfinite(cs.v[i].lat)) front[nfront++] = i;
    }
    /* recommendation, or why there is none */
    char rec[1024];
    static const char *const what[5] = {"", "accuracy", "device memory", "latency", "energy"};
    if (nfeas) {
        const Config *b = &cs.v[0];
        snprintf(rec, sizeof rec,
                 "%s: accuracy %.2f%%%s, p%d latency %.2f ms, %.3g mJ per frame on the device, %.0f bytes per frame "
                 "sent. Chosen for the lowest %s among %d of %d configurations that meet every bound.",
                 b->name, 100 * b->accuracy, b->predicted ? " (predicted from importance)" : " (measured)", e.pct,
                 1e3 * b->lat, 1e3 * b->sim.energy_active_j, b->bytes,
                 e.objective == 0 ? "latency" : e.objective == 1 ? "energy" : "bytes sent", nfeas, cs.n);
    } else {
        int cnt[5] = {0};
        for (int i = 0; i < cs.n; i++) cnt[cs.v[i].fail]++;
        int first = 1;
        while (first < 4 && !cnt[first]) first++;
        double best = 0;
        const Config *bc = NULL;
        for (int i = 0; i < cs.n; i++)
            if (cs.v[i].fail == first) {
                const double v = first == 1 ? cs.v[i].accuracy : first == 2 ? -cs.v[i].mem_mb : first == 3 ? -cs.v[i].lat : -cs.v[i].sim.energy_active_j;
                if (!bc || v > best) best = v, bc = &cs.v[i];
            }
        snprintf(rec, sizeof rec, "no configuration meets every bound: %s fails first (%d of %d configurations stop there); "
                 "the closest is %s with %s %.4g", what[first], cnt[first], cs.n, bc ? bc->name : "-",
                 first == 1 ? "accuracy %" : first == 2 ? "MB" : first == 3 ? "ms" : "mJ",
                 !bc ? 0 : first == 1 ? 100 * bc->accuracy : first == 2 ? bc->mem_mb : first == 3 ? 1e3 * bc->lat
                                                                                         : 1e3 * bc->sim.energy_active_j);
    }
    const int quiet = args_bool(&c, "quiet");
    if (!quiet) {
        printf("%d x %s -> %s (%s) -> %s at %g fps per device; %d configurations (%d measured, %d predicted), %d feasible\n",
               e.wl.devices, e.dev.name, e.link.name, tr, e.srv.name, (double)fps, cs.n, cs.n - predicted, predicted, nfeas);
        printf("%-52s %9s %6s %10s %10s %9s %8s %5s\n", "configuration", "accuracy", "exit%", "p lat ms", "mJ/frame", "B/frame",
               "dev MB", "ok");
        for (int i = 0; i < cs.n && i < 25; i++) {
            const Config *x = &cs.v[i];
            printf("%-52.52s %8.2f%%%s %5.1f%% %10.3f %10.4g %9.0f %8.2f %5s\n", x->name, 100 * x->accuracy,
                   x->predicted ? "*" : " ", 100 * (x->tau >= 0 ? x->exit_rate : 0), 1e3 * x->lat,
                   1e3 * x->sim.energy_active_j, x->bytes, x->mem_mb, x->feasible ? "yes" : what[x->fail]);
        }
        if (cs.n > 25) printf("(%d more in plan.csv)\n", cs.n - 25);
        printf("\nPareto front (accuracy vs p%d latency):", e.pct);
        for (int i = 0; i < nfront; i++) printf("%s %s", i ? ";" : "", cs.v[front[i]].name);
        if (predicted) printf("\n* accuracy predicted from importance (least squares through %d retrained cuts)\n\n", nfit);
        else printf("\n(no predicted configurations: they need retrained bottlenecks at two or more cuts, and cuts whose "
                    "importance lies between theirs)\n\n");
    }
    printf("recommendation: %s\n", rec);
    {
        char rp[4200];
        snprintf(rp, sizeof rp, "%s/recommendation.txt", out);
        FILE *rf = fopen(rp, "w");
        if (!rf || fprintf(rf, "%s\n", rec) < 0 || fclose(rf)) rc = cli_error(c.cmd, "cannot write %s", rp);
    }

    /* files */
    char path[4200];
    snprintf(path, sizeof path, "%s/plan.csv", out);
    FILE *f = fopen(path, "w");
    if (!f) rc = cli_error(c.cmd, "cannot write %s", path);
    else {
        fprintf(f, "configuration,variant,cut,wire,tau,accuracy,accuracy_source,exit_rate,head_macs,tail_macs,payload_bytes,"
                   "lat_mean_s,lat_p50_s,lat_p95_s,lat_p99_s,lost,energy_active_j,bytes_per_frame,device_mem_mb,feasible,fails,pareto\n");
        for (int i = 0; i < cs.n; i++) {
            const Config *x = &cs.v[i];
            int par = 0;
            for (int j = 0; j < nfront; j++) par |= front[j] == i;
            fprintf(f, "\"%s\",%s,%s,%s,%g,%.6f,%s,%.6f,%.0f,%.0f,%ld,%.9g,%.9g,%.9g,%.9g,%ld,%.9g,%.1f,%.4f,%d,%s,%d\n",
                    x->name, x->variant, x->cut, x->wire, x->tau, x->accuracy, x->predicted ? "predicted" : "measured",
                    x->exit_rate, x->cost.head_macs, x->cost.tail_macs, x->cost.payload_bytes, x->sim.lat_mean,
                    x->sim.lat_p50, x->sim.lat_p95, x->sim.lat_p99, x->sim.lost, x->sim.energy_active_j, x->bytes,
                    x->mem_mb, x->feasible, what[x->fail], par);
        }
        if (fclose(f)) rc = cli_error(c.cmd, "cannot write %s", path);
    }
    /* charts: importance per cut; accuracy and latency per cut (base variant, fp32/int8); Pareto front */
    char svgp[4][4200];
    int nsvg = 0;
    if (!rc && have_im && base_ncut > 0) {
        double lg[MAXCUT];
        const char *xn[MAXCUT];
        for (int i = 0; i < base_ncut; i++) {
            const double v = imp_at(&im, base_cut_lidx[i]);
            lg[i] = v > 0 ? log10(v) : NAN, xn[i] = base_cut_name[i];
        }
        snprintf(svgp[nsvg], sizeof svgp[nsvg], "%s/importance.svg", out);
        SvgSeries s[1] = {{"log10 importance (I-SPLIT, Grad-CAM)", lg, 0, 0, 0, NULL}};
        SvgChart ch = {"importance of each cut point", "log10 importance", NULL, xn, base_ncut, 0};
        if (svg_line_chart(svgp[nsvg], &ch, s, 1) == SEI_OK) nsvg++;
        double a32[MAXCUT], a8[MAXCUT], l32[MAXCUT];
        for (int i = 0; i < base_ncut; i++) {
            a32[i] = a8[i] = l32[i] = NAN;
            for (int j = 0; j < cs.n; j++) {
                const Config *x = &cs.v[j];
                if (strcmp(x->cut, base_cut_name[i]) || x->tau >= 0 || x->predicted || strcmp(x->variant, cs.v[j].variant)) continue;
                if (!strcmp(x->wire, "fp32") && isnan(a32[i])) a32[i] = 100 * x->accuracy, l32[i] = 1e3 * x->lat;
                if (!strcmp(x->wire, "int8") && isnan(a8[i])) a8[i] = 100 * x->accuracy;
            }
        }
        snprintf(svgp[nsvg], sizeof svgp[nsvg], "%s/cuts.svg", out);
        SvgSeries s2[3] = {{"accuracy % (fp32 at the cut)", a32, 0, 0, 0, NULL}, {"accuracy % (int8)", a8, 0, 1, 0, NULL},
                           {"latency ms (fp32)", l32, 1, 0, 1, NULL}};
        char t2[256];
        snprintf(t2, sizeof t2, "accuracy and p%d latency per cut: %s over %s", e.pct, e.dev.name, e.link.name);
        SvgChart ch2 = {t2, "accuracy %", "latency ms", xn, base_ncut, 0};
        if (svg_line_chart(svgp[nsvg], &ch2, s2, 3) == SEI_OK) nsvg++;
    }
    if (!rc && nfront > 0) {
        double pa[256], pl[256];
        const char *pn[256];
        int k = 0;
        for (int i = 0; i < nfront && k < 256; i++) {
            const Config *x = &cs.v[front[i]];
            pa[k] = 100 * x->accuracy, pl[k] = 1e3 * x->lat, pn[k++] = x->name;
        }
        snprintf(svgp[nsvg], sizeof svgp[nsvg], "%s/pareto.svg", out);
        int star[256];
        for (int i = 0; i < k; i++) star[i] = 1;
        SvgSeries s3[2] = {{"accuracy %", pa, 0, 0, 0, star}, {"latency ms", pl, 1, 1, 0, star}};
        SvgChart ch3 = {"Pareto front: no configuration is both more accurate and faster", "accuracy %", "latency ms", pn, k, 0};
        if (svg_line_chart(svgp[nsvg], &ch3, s3, 2) == SEI_OK) nsvg++;
    }
    if (!rc) {
        /* the table for the page: the best 30 */
        size_t cap = 65536, len = 0;
        char *tab = malloc(cap);
        if (tab) {
            len += (size_t)snprintf(tab + len, cap - len,
                                    "<table><tr><th>configuration</th><th>accuracy</th><th>exit</th><th>p%d ms</th>"
                                    "<th>mJ/frame</th><th>bytes/frame</th><th>device MB</th><th>meets bounds</th></tr>\n", e.pct);
            for (int i = 0; i < cs.n && i < 30 && len < cap - 512; i++) {
                const Config *x = &cs.v[i];
                len += (size_t)snprintf(tab + len, cap - len,
                                        "<tr%s><td>%s</td><td>%.2f%%%s</td><td>%.1f%%</td><td>%.3f</td><td>%.4g</td><td>%.0f</td>"
                                        "<td>%.2f</td><td>%s</td></tr>\n", i == 0 && nfeas ? " class=\"best\"" : "", x->name,
                                        100 * x->accuracy, x->predicted ? " (pred.)" : "", 100 * (x->tau >= 0 ? x->exit_rate : 0),
                                        1e3 * x->lat, 1e3 * x->sim.energy_active_j, x->bytes, x->mem_mb,
                                        x->feasible ? "yes" : what[x->fail]);
            }
            snprintf(tab + len, cap - len, "</table>\n");
            char title[256], summary[2048], accs[32] = "none";
            if (e.min_acc > 0) snprintf(accs, sizeof accs, "%.2f%%", 100 * e.min_acc);
            snprintf(title, sizeof title, "sei plan: %s over %s", e.dev.name, e.link.name);
            snprintf(summary, sizeof summary,
                     "%d x %s &rarr; %s (%s) &rarr; %s, %g frames/s per device. Bounds: p%d latency %s, accuracy %s, "
                     "device memory %.4g MB, energy %s. %d configurations, %d feasible.<br><b>Recommendation:</b> %s",
                     e.wl.devices, e.dev.name, e.link.name, tr, e.srv.name, (double)fps, e.pct,
                     lat > 0 ? args_str(&c, "max-latency-ms") : "none", accs,
                     e.max_mem, en > 0 ? args_str(&c, "max-energy-mj") : "none", cs.n, nfeas, rec);
            const char *sv[4] = {svgp[0], svgp[1], svgp[2], svgp[3]};
            if (plan_report(out, title, summary, sv, nsvg, tab)) rc = cli_error(c.cmd, "cannot write %s/report.html", out);
            free(tab);
        }
    }
    if (!rc && !quiet) printf("wrote %s/plan.csv and %s/report.html\n", out, out);
    free(front);
    free(cs.v);
    if (have_base) net_free(&base);
    if (have_im) importance_free(&im);
    return rc ? rc : 0;
}
