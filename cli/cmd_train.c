/* cmd_train.c - `sei train`: train a network on a data set, with progress display, a CSV
 * log, atomic `last` / `best` checkpoints carrying the optimizer state, and an exact resume.
 *
 * Determinism: the batch order and augmentation come from --seed and the epoch number, the
 * dropout stream is reseeded from (seed, epoch) at every epoch start, and all kernels are
 * deterministic for a fixed thread count; so an uninterrupted run and a run killed and
 * resumed (from the last completed epoch) write byte-identical checkpoints.
 * The run's flags are stored in the checkpoint ("train_args"); --resume DIR re-reads them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/common.h"
#include "engine/clock.h"
#include "engine/rng.h"
#include "nets/train.h"
#include "nets/weights.h"
#include "nets/sparsity.h"
#include "split/bottleneck.h"
#include "split/exits.h"
#include "cli/train_mpi.h"

static Flag train_flags[] = {
    NET_FLAGS,
    DATA_FLAGS,
    {"epochs", "E", "epochs to train", "10", NULL, 0},
    {"batch", "B", "images per batch", "64", NULL, 0},
    {"opt", "NAME", "optimizer: sgd (momentum, PyTorch's rule) or adamw", "sgd", NULL, 0},
    {"lr", "LR", "base learning rate (default: 0.05 for sgd, 0.001 for adamw)", NULL, NULL, 0},
    {"momentum", "M", "SGD momentum", "0.9", NULL, 0},
    {"nesterov", NULL, "SGD with Nesterov momentum", NULL, NULL, 0},
    {"wd", "WD", "weight decay (default: 5e-4 for sgd, 0.01 for adamw)", NULL, NULL, 0},
    {"schedule", "NAME", "learning-rate schedule: cosine, step or const", "cosine", NULL, 0},
    {"step-epochs", "N", "step schedule: multiply the rate by --gamma every N epochs", "30", NULL, 0},
    {"gamma", "G", "step schedule factor", "0.1", NULL, 0},
    {"warmup", "E", "epochs of linear learning-rate warm-up", "0", NULL, 0},
    {"augment", "LIST", "training augmentation: crop (random crop after --pad), flip, both (crop,flip) or none", "crop,flip", NULL, 0},
    {"pad", "P", "zero padding before a random crop (default: size/8)", NULL, NULL, 0},
    {"normalize", "HOW", "auto (mean/std of the training split), none, imagenet, or M1[,M2,M3]/S1[,S2,S3]", "auto", NULL, 0},
    {"seed", "S", "seed of initialisation, shuffling, augmentation and dropout", "1", NULL, 0},
    {"out", "DIR", "directory for last.safetensors, best.safetensors and log.csv", NULL, NULL, 0},
    {"resume", "DIR", "continue the run saved in DIR (its flags are taken from the checkpoint)", NULL, NULL, 0},
    {"init", "W", "start from these weights (e.g. exported from torchvision)", NULL, NULL, 0},
    {"reset-head", NULL, "with --init: keep a fresh classifier (last linear layer) for the new class count", NULL, NULL, 0},
    {"split-at", "CUT", "split training: insert a bottleneck / wire right after this cut point", NULL, NULL, 0},
    {"bottleneck", "KIND", "with --split-at: ae (encoder/decoder) or none (the wire only)", "ae", NULL, 0},
    {"ratio", "R", "with --split-at: the encoder divides the channels by R", "4", NULL, 0},
    {"stride", "S", "with --split-at: the encoder's spatial stride", "1", NULL, 0},
    {"wire", "FMT", "with --split-at: what crosses the cut: fp32, fp16 or int8 (per-image scale)", "fp32", NULL, 0},
    {"freeze", "WHAT", "none, head (with --split-at: the layers up to the cut) or backbone (all but the new bottleneck and exits)", "none", NULL, 0},
    {"exit-at", "CUT[,CUT]", "attach early-exit branches at these cut points (device side; see sei exits)", NULL, NULL, 0},
    {"exit-weight", "W", "with exits: the loss is the final cross-entropy + W x each exit's", "1", NULL, 0},
    {"exit-convs", "N", "conv-BN-ReLU blocks per exit branch before its pool and linear layer (0..8)", "1", NULL, 0},
    {"exit-channels", "C", "their width (0: the cut's channel count)", "0", NULL, 0},
    {"density", "D", "predefined sparsity: keep this share of the weights of every conv/linear layer but the first conv and the last linear (1: dense)", "1", NULL, 0},
    {"sparsity", "KIND", "conv pattern: channel (whole kernels, runs as a grouped conv) or weight (unstructured); linear layers are bi-regular", "channel", NULL, 0},
    {"sparse-until", "CUT", "make only the layers up to this cut point sparse (the device part)", NULL, NULL, 0},
    {"density-file", "F", "per-layer densities, lines 'layer_path density' (any conv/linear, the first and last included)", NULL, NULL, 0},
    {"dropout", "P", "the probability of every dropout layer (default: the network's, 0.5 in VGG)", NULL, NULL, 0},
    {"quiet", NULL, "no progress bar, only one line per epoch", NULL, NULL, 0},
};

typedef struct {
    Net net;
    Optimizer opt;
    Tape tape;
    Dataset train, val;
    Batcher batcher;
    BatchConfig bc, ec;
    Schedule sched;
    DataConfig dc;
    int epochs, start_epoch, have_opt, have_tape, have_batcher, size;
    int split;                /* a bottleneck was inserted (--split-at) */
    ExitCfg xcfg;             /* every exit of the network (from --init's metadata, then --exit-at) */
    float exit_weight;
    int rank, nranks;         /* data-parallel under mpirun (train_mpi.c): this replica, replicas */
    BottleneckCfg bcfg;
    BottleneckInfo binfo;
    float best_acc;
    char out[3000], args[8192], meta_mean[96], meta_std[96];
    uint64_t seed;
} Run;

static int mkdir_p(const char *dir) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) && errno != EEXIST) return -1;
            *p = '/';
        }
    if (mkdir(tmp, 0777) && errno != EEXIST) return -1;
    struct stat st;
    return stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* "--flag value" pairs of everything given, one per line, for the checkpoint */
static void record_args(Run *r, int argc, char **argv) {
    size_t n = 0;
    r->args[0] = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        /* not part of the run's identity: where it is, how many threads, how it prints */
        if (!strncmp(a, "--resume", 8) || !strncmp(a, "--threads", 9) || !strncmp(a, "--out", 5) ||
            !strcmp(a, "--quiet")) {
            if (!strchr(a, '=') && strcmp(a, "--quiet") && i + 1 < argc) i++;
            continue;
        }
        n += (size_t)snprintf(r->args + n, sizeof r->args - n, "%s%s", n ? "\n" : "", a);
        if (n >= sizeof r->args) { r->args[sizeof r->args - 1] = 0; break; }
    }
}

/* mean/std from --normalize (auto needs the training split) */
static int set_normalize(Command *c, Run *r) {
    const char *h = args_str(c, "normalize");
    int C = r->net.in_ch;
    if (C > 3) return cli_error(c->cmd, "images with %d channels are not supported (1 or 3)", C);
    float m[3] = {0, 0, 0}, s[3] = {1, 1, 1};
    if (!strcmp(h, "auto")) {
        ds_channel_stats(&r->train, m, s);
    } else if (!strcmp(h, "imagenet")) {
        const float im[3] = {0.485f, 0.456f, 0.406f}, is[3] = {0.229f, 0.224f, 0.225f};
        for (int k = 0; k < 3; k++) m[k] = C == 1 ? 0.449f : im[k], s[k] = C == 1 ? 0.226f : is[k];
    } else if (strcmp(h, "none")) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", h);
        char *slash = strchr(buf, '/');
        if (!slash) return cli_error(c->cmd, "--normalize: '%s' is not auto, none, imagenet or M/S", h);
        *slash = 0;
        int nm = cli_floats3(buf, m), ns = cli_floats3(slash + 1, s);
        if (nm < 1 || ns < 1 || (nm != 1 && nm != C) || (ns != 1 && ns != C))
            return cli_error(c->cmd, "--normalize: '%s' needs 1 or %d means and standard deviations", h, C);
        for (int k = 0; k < 3; k++)
            if (!(s[k] > 0)) return cli_error(c->cmd, "--normalize: standard deviations must be > 0");
    }
    size_t a = 0, b = 0;
    for (int k = 0; k < C; k++) {
        a += (size_t)snprintf(r->meta_mean + a, sizeof r->meta_mean - a, "%s%.9g", k ? "," : "", m[k]);
        b += (size_t)snprintf(r->meta_std + b, sizeof r->meta_std - b, "%s%.9g", k ? "," : "", s[k]);
    }
    memcpy(r->bc.mean, m, sizeof m);
    memcpy(r->bc.std, s, sizeof s);
    return 0;
}

static int save(Command *c, Run *r, const char *name, int epoch, const EvalResult *val) {
    char path[4096], ep[32], eps[32], size[32], resize[32], acc[32], best[32], seed[32];
    char names[DS_MAX_CLASSES * 8];
    snprintf(path, sizeof path, "%s/%s.safetensors", r->out, name);
    snprintf(ep, sizeof ep, "%d", epoch);
    snprintf(eps, sizeof eps, "%d", r->epochs);
    snprintf(size, sizeof size, "%d", r->size);
    snprintf(resize, sizeof resize, "%d", r->train.h);
    snprintf(acc, sizeof acc, "%.6f", val ? val->accuracy : -1.0);
    snprintf(best, sizeof best, "%.9g", r->best_acc); /* exact: a resume compares against it */
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->dc.seed);
    size_t n = 0;
    for (int k = 0; k < r->train.nclasses && n < sizeof names - DS_NAME_LEN - 2; k++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", k ? "\n" : "", r->train.class_names[k]);
    char subset[DATA_MAX_SUBSET * 5] = "";
    for (int i = 0, m = 0; i < r->dc.nsubset; i++)
        m += snprintf(subset + m, sizeof subset - (size_t)m, "%s%d", i ? "," : "", r->dc.subset[i]);
    char vs[32];
    snprintf(vs, sizeof vs, "%.9g", r->dc.val_split);
    const char *keys[] = {"epoch", "epochs", "size", "resize", "mean", "std", "data", "class_subset",
                          "val_split", "data_seed", "class_names", "val_accuracy", "best_val_accuracy",
                          "train_args"};
    const char *vals[] = {ep, eps, size, resize, r->meta_mean, r->meta_std, r->dc.spec, subset,
                          vs, seed, names, acc, best, r->args};
    const int nk = (int)(sizeof keys / sizeof keys[0]);
    const char *k2[32], *v2[32];
    char bufs[2][16];
    memcpy(k2, keys, sizeof keys);
    memcpy(v2, vals, sizeof vals);
    int n2 = nk + (r->split ? bottleneck_meta(&r->bcfg, k2 + nk, v2 + nk, bufs) : 0);
    char xbuf[NET_MAX_EXITS * SEI_NAME_LEN + 40];
    if (r->xcfg.n) n2 += exits_meta(&r->xcfg, k2 + n2, v2 + n2, xbuf);
    if (checkpoint_save(&r->net, &r->opt, path, n2, k2, v2) != SEI_OK)
        return cli_error(c->cmd, "%s", sei_last_error());
    return 0;
}

static void progress(const Run *r, int epoch, int k, int nb, double loss, double acc, double ips,
                     double eta) {
    const int W = 24;
    int fill = nb ? (k * W) / nb : W;
    char bar[32];
    for (int i = 0; i < W; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[W] = 0;
    fprintf(stderr, "\repoch %d/%d [%s] %d/%d loss %.4f acc %5.1f%% %6.1f img/s ETA %d:%02d ",
            epoch + 1, r->epochs, bar, k, nb, loss, 100 * acc, ips, (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

static int train_epochs(Command *c, Run *r, int quiet) {
    char logp[4096];
    snprintf(logp, sizeof logp, "%s/log.csv", r->out);
    int tty = !quiet && isatty(2);
    for (int e = r->start_epoch; e < r->epochs; e++) {
        int nb = batcher_epoch(&r->batcher, e);
        rng_seed(&r->tape.rng, r->seed * 0x9e3779b97f4a7c15ull + (uint64_t)e + 1);
        double t0 = sei_now(), loss_sum = 0, last_draw = 0;
        long right = 0, seen = 0;
        const float *x;
        const int32_t *y;
        int n, k = 0;
        while ((n = batcher_next(&r->batcher, &x, &y)) > 0) {
            long step = r->opt.step;
            r->opt.cfg.lr = schedule_lr(&r->sched, step);
            double loss;
            int correct;
            if (r->nranks > 1) { /* this replica's slice of the global batch */
                n /= r->nranks;
                x += (size_t)r->rank * n * r->net.in_ch * r->size * r->size, y += (size_t)r->rank * n;
            }
            sei_status s = train_step(&r->net, &r->tape, &r->opt, x, y, n, r->size, r->exit_weight, &loss, &correct);
            n *= r->nranks; /* loss and correct are the global batch's */
            if (s && tty) fputc('\n', stderr);
            if (s == SEI_ERR_NUMERIC)
                return cli_error(c->cmd, "training diverged in epoch %d, batch %d: %s (learning rate %g); "
                                 "%s/last.safetensors holds the last good epoch", e + 1, k + 1,
                                 sei_last_error(), r->opt.cfg.lr, r->out);
            if (s) return cli_error(c->cmd, "%s", sei_last_error());
            loss_sum += loss * n, right += correct, seen += n, k++;
            double now = sei_now();
            if (tty && (now - last_draw > 0.2 || k == nb)) {
                double ips = seen / (now - t0), eta = ips > 0 ? (double)(nb - k) * r->bc.batch / ips : 0;
                progress(r, e, k, nb, loss_sum / seen, (double)right / seen, ips, eta);
                last_draw = now;
            }
        }
        double secs = sei_now() - t0;
        if (tty) fputc('\n', stderr);
        EvalResult val = {0};
        int have_val = r->val.n > 0;
        if (have_val && evaluate(&r->net, &r->val, &r->ec, &val) != SEI_OK)
            return cli_error(c->cmd, "%s", sei_last_error());
        double tl = seen ? loss_sum / seen : 0, ta = seen ? (double)right / seen : 0;
        /* with exits, the best epoch is the one with the best mean accuracy over all classifiers */
        double score = val.accuracy;
        for (int k = 0; k < val.nexits; k++) score += val.exit_accuracy[k];
        score /= 1 + val.nexits;
        int better = have_val && score > r->best_acc;
        if (better) r->best_acc = (float)score;
        if (r->rank == 0) { /* replicas are identical: rank 0 writes */
            FILE *f = fopen(logp, "a");
            if (!f) return cli_error(c->cmd, "cannot append to %s: %s", logp, strerror(errno));
            fprintf(f, "%d,%.6g,%.6f,%.6f,%.6f,%.6f,%.1f,%.2f\n", e + 1, schedule_lr(&r->sched, r->opt.step - 1),
                    tl, ta, have_val ? val.loss : NAN, have_val ? val.accuracy : NAN, seen / secs, secs);
            fclose(f);
            /* order: log row, best, last. A crash in between leaves last at the previous epoch;
             * a resume repeats this one, drops the extra log row and rewrites best identically */
            if ((better || (!have_val && e == r->epochs - 1)) && save(c, r, "best", e + 1, have_val ? &val : NULL)) return 2;
            if (save(c, r, "last", e + 1, have_val ? &val : NULL)) return 2;
        }
        printf("epoch %d/%d  train loss %.4f acc %.2f%%", e + 1, r->epochs, tl, 100 * ta);
        if (have_val) {
            printf("  val loss %.4f acc %.2f%%", val.loss, 100 * val.accuracy);
            for (int k = 0; k < val.nexits; k++) printf("  exit %s %.2f%%", r->xcfg.at[k], 100 * val.exit_accuracy[k]);
            printf("%s", better ? " (best)" : "");
        }
        printf("  %.1f img/s  %.1f s\n", seen / secs, secs);
        fflush(stdout);
        free(val.confusion);
    }
    return 0;
}

static int setup(Command *c, Run *r, const StFile *resume) {
    if (cli_setup(c)) return 2;
    int epochs = 10, batch = 64, warm = 0, step_epochs = 30, seed = 1, in_ch = 3, classes = 0;
    float lr = 0, mom = 0.9f, wd = 0, gamma = 0.1f;
    const char *opt = args_str(c, "opt"), *sched = args_str(c, "schedule");
    if (args_int(c, "epochs", 1, 100000, &epochs) || args_int(c, "batch", 1, 65536, &batch) ||
        args_int(c, "warmup", 0, 100000, &warm) || args_int(c, "step-epochs", 1, 100000, &step_epochs) ||
        args_int(c, "seed", 0, 1 << 30, &seed) || args_float(c, "momentum", 0, 1, &mom) ||
        args_float(c, "gamma", 0, 1, &gamma) || args_int(c, "in-ch", 1, 3, &in_ch))
        return 2;
    if (strcmp(opt, "sgd") && strcmp(opt, "adamw")) return cli_error(c->cmd, "--opt: '%s' is not sgd or adamw", opt);
    int adam = !strcmp(opt, "adamw");
    lr = adam ? 1e-3f : 0.05f, wd = adam ? 0.01f : 5e-4f;
    if (args_float(c, "lr", 0, 100, &lr) || args_float(c, "wd", 0, 10, &wd)) return 2;
    int sk = schedule_parse(sched);
    if (sk < 0) return cli_error(c->cmd, "--schedule: '%s' is not cosine, step or const", sched);
    if (!args_str(c, "out") && !resume) return cli_error(c->cmd, "--out DIR is required (where checkpoints and the log go)");
    if (args_bool(c, "reset-head") && !args_str(c, "init")) return cli_error(c->cmd, "--reset-head needs --init");
    r->epochs = epochs, r->seed = (uint64_t)seed;

    /* data first: it gives the class count and channels */
    Flag *fi = args_flag(c, "in-ch");
    int nsize, nch;
    data_native(args_str(c, "data"), &nsize, &nch);
    int ch = fi->set ? in_ch : (nch ? nch : 3);
    if (cli_data_config(c, &r->dc, NULL, ch)) return 2;
    /* --classes above the subset's size: a network over every class, labels keep their ids */
    Flag *fc = args_flag(c, "classes");
    if (fc->set) {
        if (args_int(c, "classes", 1, DS_MAX_CLASSES, &classes)) return 2;
        data_subset_for_net(&r->dc, classes);
    }
    if (data_load(&r->train, &r->dc, "train") != SEI_OK) return cli_error(c->cmd, "%s", sei_last_error());
    if (data_load(&r->val, &r->dc, "val") != SEI_OK) {
        if (r->dc.val_split > 0) return cli_error(c->cmd, "%s", sei_last_error());
        memset(&r->val, 0, sizeof r->val); /* --val-split 0 and no validation set of its own */
    }
    r->size = r->dc.size ? r->dc.size : nsize;
    if (fc->set) {
        if (classes < r->train.nclasses)
            return cli_error(c->cmd, "--classes %d is fewer than the %d classes in the data", classes, r->train.nclasses);
    } else {
        static char buf[32];
        snprintf(buf, sizeof buf, "%d", r->train.nclasses);
        fc->val = buf;
    }
    fi->val = ch == 1 ? "1" : "3";
    fi->set = 1;

    /* the network: fresh, from --init, or from the checkpoint being resumed */
    if (cli_open_net(c, &r->net, NULL)) return 2;
    net_init(&r->net, r->seed);
    const char *init = args_str(c, "init"), *at = args_str(c, "split-at"), *fz = args_str(c, "freeze");
    if (strcmp(fz, "none") && strcmp(fz, "head") && strcmp(fz, "backbone"))
        return cli_error(c->cmd, "--freeze: '%s' is not none, head or backbone", fz);
    if (!at && (args_flag(c, "bottleneck")->set || args_flag(c, "wire")->set ||
                args_flag(c, "ratio")->set || args_flag(c, "stride")->set || !strcmp(fz, "head")))
        return cli_error(c->cmd, "--bottleneck, --ratio, --stride, --wire and --freeze head need --split-at CUT");
    if (at) {
        int ratio = 4, stride = 1;
        if (args_int(c, "ratio", 1, 1 << 16, &ratio) || args_int(c, "stride", 1, 64, &stride)) return 2;
        if (args_bool(c, "reset-head")) return cli_error(c->cmd, "--reset-head and --split-at exclude each other");
        if (bottleneck_parse(&r->bcfg, at, args_str(c, "bottleneck"), ratio, stride, args_str(c, "wire")) ||
            bottleneck_insert(&r->net, &r->bcfg, r->size, r->seed, &r->binfo) != SEI_OK)
            return cli_error(c->cmd, "%s", sei_last_error());
        r->split = 1;
    }
    /* early exits: a resumed run's from its checkpoint; else --init's, then the new ones */
    int old_exits = 0;
    if (args_float(c, "exit-weight", 0, 1000, &r->exit_weight) || args_int(c, "exit-convs", 0, 8, &r->xcfg.convs) ||
        args_int(c, "exit-channels", 0, 1 << 16, &r->xcfg.channels))
        return 2;
    StFile initf;
    int have_initf = 0;
    if (!resume && init) {
        if (st_open(&initf, init) != SEI_OK) return cli_error(c->cmd, "%s", sei_last_error());
        have_initf = 1;
    }
    const StFile *xsrc = resume ? resume : have_initf ? &initf : NULL;
    ExitCfg had;
    const int hx = xsrc ? exits_from_meta(xsrc, &had) : 0;
    if (hx < 0) { if (have_initf) st_close(&initf); return cli_error(c->cmd, "%s", sei_last_error()); }
    if (hx > 0) r->xcfg = had, old_exits = had.n;
    if (!resume && args_str(c, "exit-at")) {
        if (old_exits && (args_flag(c, "exit-convs")->set || args_flag(c, "exit-channels")->set) &&
            (r->xcfg.convs != had.convs || r->xcfg.channels != had.channels)) {
            if (have_initf) st_close(&initf);
            return cli_error(c->cmd, "--exit-convs/--exit-channels differ from the exits %s already has", init);
        }
        ExitCfg add = {0};
        if (exits_parse(&add, args_str(c, "exit-at")) == SEI_OK)
            for (int k = 0; k < add.n; k++)
                for (int j = 0; j < old_exits; j++)
                    if (!strcmp(add.at[k], had.at[j])) {
                        if (have_initf) st_close(&initf);
                        return cli_error(c->cmd, "--exit-at: %s already has an exit at %s", init, add.at[k]);
                    }
        if (exits_parse(&r->xcfg, args_str(c, "exit-at")) != SEI_OK) {
            if (have_initf) st_close(&initf);
            return cli_error(c->cmd, "%s", sei_last_error());
        }
    }
    if (r->xcfg.n && exits_insert(&r->net, &r->xcfg, 0, r->size, r->seed) != SEI_OK) {
        if (have_initf) st_close(&initf);
        return cli_error(c->cmd, "%s", sei_last_error());
    }
    if (r->split && r->xcfg.n) { /* exits before the bottleneck moved its layers */
        r->binfo.wire = net_find_layer(&r->net, "bottleneck.wire");
        int f = r->binfo.wire;
        while (f > 0 && !strncmp(r->net.layers[f - 1].path, "bottleneck.", 11)) f--;
        r->binfo.first = f;
    }
    if (!strcmp(fz, "backbone") && !r->split && r->xcfg.n == old_exits) {
        if (have_initf) st_close(&initf);
        return cli_error(c->cmd, "--freeze backbone needs new layers to train (--split-at or --exit-at)");
    }
    if (resume) {
        if (net_load_weights_from(&r->net, resume) != SEI_OK) return cli_error(c->cmd, "%s", sei_last_error());
    } else if (init) {
        StFile f = initf;
        sei_status s;
        if (r->split || r->xcfg.n > old_exits) { /* the network as it was; new layers keep their initialisation */
            unsigned char *mask = malloc((size_t)r->net.nparams), *bm = malloc((size_t)r->net.nparams);
            if (!mask || !bm) { free(mask); free(bm); st_close(&f); return cli_error(c->cmd, "out of memory"); }
            exits_mask_before(&r->net, old_exits, mask);
            if (r->split) {
                bottleneck_mask_others(&r->net, &r->binfo, bm);
                for (int i = 0; i < r->net.nparams; i++) mask[i] &= bm[i];
            }
            s = net_load_weights_masked(&r->net, &f, mask);
            free(mask);
            free(bm);
        } else {
            s = args_bool(c, "reset-head") ? net_load_weights_except_head(&r->net, &f)
                                           : net_load_weights_from(&r->net, &f);
        }
        st_close(&f);
        if (s) return cli_error(c->cmd, "%s%s", sei_last_error(),
                                args_bool(c, "reset-head") ? "" : " (for a new class count add --reset-head)");
    }
    if (args_str(c, "dropout")) {
        float pd;
        if (args_float(c, "dropout", 0, 0.99f, &pd)) return 2;
        for (int i = 0; i < r->net.nlayers; i++)
            if (r->net.layers[i].kind == L_DROPOUT) r->net.layers[i].p = pd;
    }
    /* predefined sparsity: patterns from the seed, after any --init weights were loaded (a
     * resumed run has them in its checkpoint) */
    float density = 1;
    if (args_float(c, "density", 1e-6, 1, &density)) return 2;
    const char *spk = args_str(c, "sparsity"), *dfile = args_str(c, "density-file");
    int kind = sparse_kind_parse(spk);
    if (kind != SPARSE_CHANNEL && kind != SPARSE_WEIGHT)
        return cli_error(c->cmd, "--sparsity: '%s' is not channel or weight", spk);
    if (!resume && (density < 1 || dfile)) {
        SparseSpec sp = {.density = density, .conv_kind = (SparseKind)kind, .until = args_str(c, "sparse-until")};
        sei_status s = dfile ? sparse_read_density_file(&sp, dfile) : SEI_OK;
        if (!s) s = net_sparsify(&r->net, &sp, r->seed);
        sparse_spec_free(&sp);
        if (s) return cli_error(c->cmd, "%s", sei_last_error());
    } else if (!resume && args_flag(c, "sparse-until")->set) {
        return cli_error(c->cmd, "--sparse-until needs --density or --density-file");
    }
    if (strcmp(fz, "none")) { /* head: the layers up to the cut; backbone: all but the new bottleneck */
        const int bf = r->split ? r->binfo.first : r->net.nlayers, bc = r->split ? r->binfo.count : 0;
        net_freeze(&r->net, 0, bf, 1);
        if (!strcmp(fz, "backbone")) net_freeze(&r->net, bf + bc, r->net.nlayers, 1);
        for (int i = 0; i < r->net.nlayers; i++) /* new exits always train */
            if (r->net.layers[i].kind == L_EXIT && r->net.layers[i].exit >= old_exits) net_freeze(&r->net, i, i + 1, 0);
    }
    LayerInfo *info = calloc((size_t)r->net.nlayers, sizeof *info);
    if (!info) return cli_error(c->cmd, "out of memory");
    sei_status ss = net_shapes(&r->net, 1, r->net.in_ch, r->size, r->size, info);
    free(info);
    if (ss) return cli_error(c->cmd, "%s (use a larger --size)", sei_last_error());

    /* batches */
    const char *aug = args_str(c, "augment");
    int crop = strstr(aug, "crop") != NULL, flip = strstr(aug, "flip") != NULL;
    if (!crop && !flip && strcmp(aug, "none"))
        return cli_error(c->cmd, "--augment: '%s' is not crop, flip, crop,flip or none", aug);
    int pad = r->size / 8;
    if (args_int(c, "pad", 0, 4096, &pad)) return 2;
    r->bc = (BatchConfig){.batch = batch * r->nranks, .size = r->size, .random_crop = crop, .pad = crop ? pad : 0,
                          .flip = flip, .shuffle = 1, .drop_last = 1, .seed = r->seed};
    if (set_normalize(c, r)) return 2;
    if (resume) { /* the normalisation the run started with, not one recomputed */
        const char *m = st_meta(resume, "mean"), *s = st_meta(resume, "std");
        if (!m || !s || cli_floats3(m, r->bc.mean) < 1 || cli_floats3(s, r->bc.std) < 1)
            return cli_error(c->cmd, "%s: no normalisation in the checkpoint", resume->path);
        snprintf(r->meta_mean, sizeof r->meta_mean, "%s", m);
        snprintf(r->meta_std, sizeof r->meta_std, "%s", s);
    }
    r->ec = r->bc;
    r->ec.batch = batch < 256 ? 256 : batch;
    r->ec.random_crop = r->ec.flip = r->ec.shuffle = r->ec.drop_last = 0;
    r->ec.pad = 0;
    if (batcher_init(&r->batcher, &r->train, &r->bc) != SEI_OK) return cli_error(c->cmd, "%s", sei_last_error());
    r->have_batcher = 1;

    /* optimizer and schedule */
    OptConfig oc = adam ? optim_adamw(lr, wd) : optim_sgd(lr, mom, wd, args_bool(c, "nesterov"));
    if (net_optim_init(&r->net, &r->opt, &oc) != SEI_OK) return cli_error(c->cmd, "%s", sei_last_error());
    r->have_opt = 1;
    const int gb = batch * r->nranks; /* the global batch */
    long spe = r->train.n / gb > 0 ? r->train.n / gb : 1;
    r->sched = (Schedule){.kind = (SchedKind)sk, .lr = lr, .total_steps = spe * epochs, .steps_per_epoch = spe,
                          .step_epochs = step_epochs, .gamma = gamma, .warmup_steps = (int)(warm * spe)};
    tape_init(&r->tape, 1, 1, 1, r->seed);
    r->have_tape = 1;
    if (resume) {
        if (checkpoint_load_optim(resume, &r->net, &r->opt) != SEI_OK) return cli_error(c->cmd, "%s", sei_last_error());
        const char *ep = st_meta(resume, "epoch"), *best = st_meta(resume, "best_val_accuracy");
        r->start_epoch = ep ? atoi(ep) : 0;
        r->best_acc = best ? strtof(best, NULL) : 0;
        if (r->start_epoch < 1 || r->start_epoch > r->epochs)
            return cli_error(c->cmd, "%s: bad epoch '%s' in the checkpoint", resume->path, ep ? ep : "");
    } else {
        r->best_acc = -1;
    }
    return 0;
}

static int run_command(Command *c, Run *r, const StFile *resume, int quiet) {
    int rc = setup(c, r, resume);
    if (rc) return rc;
    if (mkdir_p(r->out)) return cli_error(c->cmd, "cannot create directory %s: %s", r->out, strerror(errno));
    char logp[4096];
    snprintf(logp, sizeof logp, "%s/log.csv", r->out);
    if (r->rank > 0) {
        /* only rank 0 writes the log */
    } else if (!resume) {
        FILE *f = fopen(logp, "w");
        if (!f) return cli_error(c->cmd, "cannot write %s: %s", logp, strerror(errno));
        fprintf(f, "epoch,lr,train_loss,train_acc,val_loss,val_acc,images_per_s,seconds\n");
        fclose(f);
    } else {
        /* drop log rows of epochs after the checkpoint (a run killed after logging) */
        FILE *f = fopen(logp, "r");
        char *buf = NULL;
        size_t cap = 0, len = 0;
        if (f) {
            char line[512];
            while (fgets(line, sizeof line, f)) {
                int ep = atoi(line);
                if (len && (ep < 1 || ep > r->start_epoch)) continue;
                size_t l = strlen(line);
                if (len + l + 1 > cap) {
                    cap = 2 * (len + l + 1);
                    char *nb = realloc(buf, cap);
                    if (!nb) { free(buf); fclose(f); return cli_error(c->cmd, "out of memory"); }
                    buf = nb;
                }
                memcpy(buf + len, line, l + 1);
                len += l;
            }
            fclose(f);
            /* rewritten through a temporary file: a kill now must not lose the log */
            char tmpp[4200];
            snprintf(tmpp, sizeof tmpp, "%s.tmp", logp);
            f = fopen(tmpp, "w");
            int bad = !f || fputs(buf ? buf : "", f) == EOF;
            if (f && fclose(f)) bad = 1;
            free(buf);
            if (bad || rename(tmpp, logp)) {
                remove(tmpp);
                return cli_error(c->cmd, "cannot rewrite %s: %s", logp, strerror(errno));
            }
        }
    }
    printf("training %s (%zu parameters) on %s: %d train / %d val images of %dx%dx%d, %d classes, "
           "%d epochs of %d batches\n", r->net.name, net_num_params(&r->net), r->dc.spec, r->train.n,
           r->val.n, r->net.in_ch, r->size, r->size, r->net.classes, r->epochs, r->train.n / r->bc.batch);
    if (r->split) {
        const BottleneckInfo *b = &r->binfo;
        printf("split after %s: %s bottleneck (ratio %d, stride %d), wire %s: %zu values = %zu bytes per image "
               "cross the cut instead of %zu fp32 bytes (%.1fx fewer); frozen: %s\n", r->bcfg.at,
               r->bcfg.ae ? "autoencoder" : "no", r->bcfg.ratio, r->bcfg.stride, wire_name(r->bcfg.wire),
               b->wire_values, b->wire_bytes, 4 * b->cut_values, (double)(4 * b->cut_values) / (double)b->wire_bytes,
               args_str(c, "freeze"));
    }
    if (resume) printf("resuming after epoch %d\n", r->start_epoch);
    fflush(stdout);
    rc = train_epochs(c, r, quiet);
    if (rc || !r->split) return rc;
    /* a split network: how well it does on held-out data, and what it sends */
    Dataset test = {0};
    EvalResult ev = {0};
    if (data_load(&test, &r->dc, "test") != SEI_OK || test.n == 0) {
        ds_free(&test);
        return 0; /* no test split: the validation figures above are the result */
    }
    if (evaluate(&r->net, &test, &r->ec, &ev) != SEI_OK) rc = cli_error(c->cmd, "%s", sei_last_error());
    else
        printf("split network after %d epochs: test accuracy %.2f%% (%ld images), %zu bytes per image cross "
               "the cut (%s) instead of %zu (fp32 at %s): %.1fx fewer\n", r->epochs, 100 * ev.accuracy, ev.n,
               r->binfo.wire_bytes, wire_name(r->bcfg.wire), 4 * r->binfo.cut_values, r->bcfg.at,
               (double)(4 * r->binfo.cut_values) / (double)r->binfo.wire_bytes);
    free(ev.confusion);
    ds_free(&test);
    return rc;
}

int cmd_train(int argc, char **argv) {
    Command c = {"train", "Train a network on a data set; checkpoints and a CSV log go to --out.",
                 "--net NAME --data SPEC --out DIR [options]   |   --resume DIR",
                 train_flags, (int)(sizeof train_flags / sizeof train_flags[0])};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    Run *r = calloc(1, sizeof *r);
    if (!r) return cli_error(c.cmd, "out of memory");
    if (train_mpi_init(&argc, &argv, &r->rank, &r->nranks) && r->rank > 0 && !freopen("/dev/null", "w", stdout)) {
        const int rk = r->rank;
        free(r);
        train_mpi_finalize();
        return cli_error(c.cmd, "cannot silence rank %d's output", rk);
    }
    const char *resume = args_str(&c, "resume");
    int quiet = args_bool(&c, "quiet");
    StFile ck = {0};
    int have_ck = 0;
    char *saved = NULL, tbuf[64];
    char **av = NULL;
    if (resume) {
        char path[4096];
        snprintf(path, sizeof path, "%s/last.safetensors", resume);
        for (int i = 0; i < c.nflags; i++) {
            const char *n = c.flags[i].name;
            if (c.flags[i].set && strcmp(n, "resume") && strcmp(n, "threads") && strcmp(n, "quiet")) {
                free(r);
                return cli_error(c.cmd, "--resume takes every setting from the checkpoint; drop --%s", n);
            }
        }
        if (st_open(&ck, path) != SEI_OK) { free(r); return cli_error(c.cmd, "%s", sei_last_error()); }
        have_ck = 1;
        const char *args = st_meta(&ck, "train_args");
        if (!args) { st_close(&ck); free(r); return cli_error(c.cmd, "%s: not a sei training checkpoint", path); }
        /* re-parse the original flags, keeping --threads from this command line */
        const char *threads = args_flag(&c, "threads")->set ? args_str(&c, "threads") : NULL;
        saved = strdup(args);
        int n = 1;
        for (const char *p = args; *p; p++) n += *p == '\n';
        av = calloc((size_t)n + 4, sizeof *av);
        int ac = 0;
        for (char *tok = strtok(saved, "\n"); tok; tok = strtok(NULL, "\n")) av[ac++] = tok;
        if (threads) { snprintf(tbuf, sizeof tbuf, "--threads=%s", threads); av[ac++] = tbuf; }
        if (args_parse(&c, ac, av)) { rc = 2; goto out; }
        snprintf(r->out, sizeof r->out, "%s", resume);
        record_args(r, ac - (threads ? 1 : 0), av);
    } else {
        snprintf(r->out, sizeof r->out, "%s", args_str(&c, "out") ? args_str(&c, "out") : "");
        record_args(r, argc, argv);
    }
    rc = run_command(&c, r, have_ck ? &ck : NULL, quiet);
out:
    if (r->have_batcher) batcher_free(&r->batcher);
    if (r->have_tape) tape_free(&r->tape);
    if (r->have_opt) optim_free(&r->opt);
    net_free(&r->net);
    ds_free(&r->train);
    ds_free(&r->val);
    if (have_ck) st_close(&ck);
    free(saved);
    free(av);
    free(r);
    train_mpi_finalize();
    return rc;
}

/* ---- sei retrain: sei train on a trained checkpoint with a bottleneck at a cut */

/* is --name (or --name=...) among the arguments (argv holds the command's flags only) */
static int has_flag(int argc, char **argv, const char *name) {
    const size_t n = strlen(name);
    for (int i = 0; i < argc; i++)
        if (!strncmp(argv[i], name, n) && (argv[i][n] == 0 || argv[i][n] == '=')) return 1;
    return 0;
}

/* the value of --name V or --name=V, or NULL */
static const char *flag_value(int argc, char **argv, const char *name) {
    const size_t n = strlen(name);
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], name, n)) continue;
        if (argv[i][n] == '=') return argv[i] + n + 1;
        if (argv[i][n] == 0 && i + 1 < argc) return argv[i + 1];
    }
    return NULL;
}

int cmd_retrain(int argc, char **argv) {
    if (has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h")) {
        printf("usage: sei retrain --weights CKPT --at CUT [--bottleneck ae|none] [--ratio R] [--stride S]\n"
               "                   [--wire fp32|fp16|int8] [--freeze none|head|backbone] --epochs E --out DIR\n\n"
               "Fine-tune a trained network split at a cut point: a bottleneck (encoder at the device,\n"
               "decoder at the server) and the wire format are inserted after CUT, the new layers start\n"
               "fresh, the rest from CKPT; --freeze keeps the device part (head) or everything but the\n"
               "bottleneck (backbone) fixed. The data, input size, normalisation and network come from\n"
               "the checkpoint unless given; defaults --epochs 3, --lr 0.01. Reports the test accuracy\n"
               "and the bytes per image crossing the cut. Every `sei train` flag applies (sei train\n"
               "--help); the run resumes with `sei train --resume DIR`. Runs `sei train --init CKPT\n"
               "--split-at CUT ...`.\n");
        return 0;
    }
    if (has_flag(argc, argv, "--resume")) return cmd_train(argc, argv);
    const char *w = flag_value(argc, argv, "--weights"), *at = flag_value(argc, argv, "--at");
    if (!w) return cli_error("retrain", "--weights CKPT is required (the trained network)");
    if (!at) return cli_error("retrain", "--at CUT is required (a cut point; see sei importance)");
    if (has_flag(argc, argv, "--init") || has_flag(argc, argv, "--split-at"))
        return cli_error("retrain", "--init and --split-at are --weights and --at here");
    StFile f;
    if (st_open(&f, w) != SEI_OK) return cli_error("retrain", "%s", sei_last_error());
    /* the new command line: the given flags renamed, then defaults from the checkpoint */
    char **av = calloc((size_t)argc + 40, sizeof *av);
    char (*buf)[512] = calloc(20, sizeof *buf);
    int ac = 0, nb = 0, rc;
    if (!av || !buf) { st_close(&f); free(av); free(buf); return cli_error("retrain", "out of memory"); }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--weights", 9) && (a[9] == 0 || a[9] == '=')) {
            snprintf(buf[nb], sizeof buf[nb], "--init%s", a + 9);
            av[ac++] = buf[nb++];
        } else if (!strncmp(a, "--at", 4) && (a[4] == 0 || a[4] == '=')) {
            snprintf(buf[nb], sizeof buf[nb], "--split-at%s", a + 4);
            av[ac++] = buf[nb++];
        } else {
            av[ac++] = argv[i];
        }
    }
    static const char *const meta[][2] = {{"--net", "net"}, {"--classes", "classes"}, {"--in-ch", "in_ch"},
                                          {"--width-mult", "width_mult"},
                                          {"--data", "data"}, {"--size", "size"}, {"--resize", "resize"},
                                          {"--class-subset", "class_subset"}, {"--val-split", "val_split"},
                                          {"--data-seed", "data_seed"}};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++) {
        const char *v = st_meta(&f, meta[i][1]);
        if (v && *v && !has_flag(argc, argv, meta[i][0])) {
            snprintf(buf[nb], sizeof buf[nb], "%s=%s", meta[i][0], v);
            av[ac++] = buf[nb++];
        }
    }
    const char *mean = st_meta(&f, "mean"), *std = st_meta(&f, "std");
    if (mean && std && !has_flag(argc, argv, "--normalize")) {
        snprintf(buf[nb], sizeof buf[nb], "--normalize=%s/%s", mean, std);
        av[ac++] = buf[nb++];
    }
    if (!has_flag(argc, argv, "--epochs")) av[ac++] = "--epochs=3";
    if (!has_flag(argc, argv, "--lr") && !has_flag(argc, argv, "--opt")) av[ac++] = "--lr=0.01";
    st_close(&f);
    rc = cmd_train(ac, av);
    free(av);
    free(buf);
    return rc;
}
