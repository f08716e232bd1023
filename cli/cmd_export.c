/* cmd_export.c - `sei export`: the device part of a split network as portable C99 for
 * microcontroller-class targets (split/export.c, runtime kernels/mcu.c). It lowers the part
 * to a float program and checks it against the engine's own forward pass, calibrates and
 * quantises it to int8 (--quant int8, the default), optionally measures the split network's
 * accuracy with the exported head and a server part (--tail), and writes DIR/NAME.h and
 * DIR/NAME.c, plus DIR/NAME_samples.h (--samples N: test images with the payloads sei
 * computes for them, for tests/mcu/check.c on the host and on an emulated Cortex-M). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/common.h"
#include "engine/rng.h"
#include "kernels/ops.h"
#include "split/exits.h"
#include "split/export.h"

static Flag export_flags[] = {
    {"weights", "HEAD", "the device part (sei split --out-head), or a whole network", NULL, NULL, 0},
    NET_FLAGS,
    DATA_FLAGS,
    {"target", "T", "what to write: c99 (one .c and one .h, no allocation, no library calls)", "c99", NULL, 0},
    {"quant", "Q", "int8 (per-channel weights, calibrated activations, int32 accumulation) or fp32", "int8", NULL, 0},
    {"calib", "SPEC", "data whose train split calibrates the int8 scales (default: --data / the checkpoint's)", NULL, NULL, 0},
    {"calib-n", "N", "calibration images", "256", NULL, 0},
    {"exit-tau", "T", "include the part's early exits: leave when max softmax >= T", NULL, NULL, 0},
    {"name", "NAME", "C identifier of the part (NAME_run, NAME.h, NAME.c)", "sei_head", NULL, 0},
    {"out", "DIR", "folder to write into (created if missing)", NULL, NULL, 0},
    {"samples", "N", "also write DIR/NAME_samples.h: N test images and the payloads sei computes", "0", NULL, 0},
    {"tail", "TAIL", "the server part: report the split network's accuracy on --data with the exported head", NULL, NULL, 0},
    {"normalize", "M/S", "override the checkpoint's normalisation", NULL, NULL, 0},
};

/* n images [in_c][size][size] of split `split` of the data the flags (or `spec`) name, normalised */
static int load_images(Command *c, const Net *net, const StFile *w, const char *spec, const char *split, int n,
                       int size, float **x, int32_t **y, int *got) {
    Flag *fd = args_flag(c, "data");
    const char *old = fd->val;
    const int old_set = fd->set;
    if (spec) fd->val = spec, fd->set = 1;
    DataConfig dc;
    Dataset d = {0};
    BatchConfig bc = {.batch = n};
    int rc = cli_eval_data(c, net, w, split, &dc, &d, &bc);
    fd->val = old, fd->set = old_set;
    if (!rc && bc.size != size)
        rc = cli_error(c->cmd, "the %s data comes at %dx%d, the part was trained at %dx%d (--size)", split, bc.size,
                       bc.size, size, size);
    Batcher b;
    if (!rc && d.n == 0) rc = cli_error(c->cmd, "no images in the %s split", split);
    if (!rc && batcher_init(&b, &d, &bc) != SEI_OK) rc = cli_error(c->cmd, "%s", sei_last_error());
    if (rc) { ds_free(&d); return rc; }
    batcher_epoch(&b, 0);
    const float *bx;
    const int32_t *by;
    const int k = batcher_next(&b, &bx, &by);
    const size_t per = (size_t)net->in_ch * size * size;
    *x = malloc(sizeof **x * per * (size_t)(k > 0 ? k : 1));
    *y = malloc(sizeof **y * (size_t)(k > 0 ? k : 1));
    if (!*x || !*y) rc = cli_error(c->cmd, "out of memory");
    else {
        memcpy(*x, bx, sizeof **x * per * (size_t)k);
        memcpy(*y, by, sizeof **y * (size_t)k);
        *got = k;
    }
    batcher_free(&b);
    ds_free(&d);
    return rc;
}

/* the engine's forward pass of the part on one image: its output (decoded wire values) in
 * out, or the class of an exit that takes it (returns >= 0) */
static int engine_forward(Net *net, const NetPart *part, const float *x, int size, float tau, float *out,
                          size_t m, const char **err) {
    Tape t;
    tape_init(&t, 0, 0, 0, 0);
    Tensor xt = {.ndim = 4, .shape = {1, net->in_ch, size, size}, .data = (float *)x};
    Value *a = net_forward(net, &t, tape_wrap(&t, &xt, 0), part->from, part->to, NULL);
    int r = -1;
    *err = NULL;
    if (!a) *err = sei_last_error(), r = -2;
    else if (tensor_numel(&a->t) != m) *err = "the part's output size differs from the program's", r = -2;
    for (int i = part->from; r == -1 && tau >= 0 && i < part->to; i++) {
        const Layer *l = &net->layers[i];
        if (l->kind != L_EXIT || !net->exit_out[l->exit]) continue;
        const float *z = net->exit_out[l->exit]->t.data;
        if (exit_score(z, net->classes, EXIT_MAXPROB) >= tau) {
            r = 0;
            for (int k = 1; k < net->classes; k++)
                if (z[k] > z[r]) r = k;
        }
    }
    if (r == -1) memcpy(out, a->t.data, sizeof *out * m);
    tape_free(&t);
    return r;
}

/* the payload bytes of decoded values v (fp32 / fp16 as they are; int8 with scale max|v|/127) */
static float encode(const McuProgram *p, const float *v, size_t m, uint8_t *pay) {
    float s = 1.0f;
    if (p->wire == MCU_WIRE_INT8) {
        s = wire_int8_scale(v, m);
        for (size_t i = 0; i < m; i++) {
            float q = s > 0 ? nearbyintf(v[i] / s) : 0.0f;
            pay[i] = (uint8_t)(int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
        }
    } else
        for (size_t i = 0; i < m; i++) {
            if (p->wire == MCU_WIRE_FP16) {
                const uint16_t h = mcu_f2h(v[i]);
                memcpy(pay + 2 * i, &h, 2);
            } else memcpy(pay + 4 * i, &v[i], 4);
        }
    return s;
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, size_t m) {
    double d = 0, mx = 0;
    for (size_t i = 0; i < m; i++) d = fmax(d, fabs((double)a[i] - b[i])), mx = fmax(mx, fabs((double)b[i]));
    return mx > 0 ? d / mx : d;
}

static void put_bytes(FILE *o, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) fprintf(o, "%s%u", !i ? "\n    " : i % 24 ? "," : ",\n    ", b[i]);
}

/* DIR/NAME_samples.h: inputs, expected return, payload and scale of n images */
static int write_samples(Command *c, const McuProgram *p, const char *dir, const char *name, int n, const float *x,
                         const int32_t *y, const int *ret, const uint8_t *pay, const float *sc) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_samples.h", dir, name);
    FILE *o = fopen(path, "w");
    if (!o) return cli_error(c->cmd, "cannot write %s: %s", path, strerror(errno));
    const size_t in_n = (size_t)p->in_c * p->in_h * p->in_w, pb = export_payload_bytes(p);
    fprintf(o, "/* %s_samples.h - generated by sei export: %d test images of %s and what sei computes for\n"
               " * them: the return value and payload of %s_run. %s */\n",
            name, n, name, name,
            p->type == MCU_Q8 ? "int8: the payload must match bit for bit."
                              : "fp32: the payload of the engine's forward pass; within 1e-5 of its largest value.");
    char up[64];
    export_upper(name, up, sizeof up);
    fprintf(o, "#define %s_SAMPLES %d\n#define %s_SAMPLES_EXACT %d\n", up, n, up, p->type == MCU_Q8);
    fprintf(o, "static const %s_input_t %s_sample_input[%d][%zu] = {", name, name, n, in_n);
    int8_t *q = malloc(in_n);
    for (int k = 0; k < n && q; k++) {
        fprintf(o, "%s{", k ? ",\n" : "\n");
        if (p->type == MCU_Q8) {
            export_quantize_input(x + (size_t)k * in_n, in_n, p->in_scale, q);
            for (size_t i = 0; i < in_n; i++) fprintf(o, "%s%d", !i ? "\n    " : i % 24 ? "," : ",\n    ", q[i]);
        } else
            for (size_t i = 0; i < in_n; i++) fprintf(o, "%s%af", !i ? "\n    " : i % 8 ? ", " : ",\n    ", (double)x[(size_t)k * in_n + i]);
        fprintf(o, "}");
    }
    free(q);
    fprintf(o, "\n};\nstatic const int %s_sample_label[%d] = {", name, n);
    for (int k = 0; k < n; k++) fprintf(o, "%s%d", k ? ", " : "", y[k]);
    fprintf(o, "};\nstatic const int %s_sample_ret[%d] = {", name, n);
    for (int k = 0; k < n; k++) fprintf(o, "%s%d", k ? ", " : "", ret[k]);
    fprintf(o, "};\nstatic const float %s_sample_scale[%d] = {", name, n);
    for (int k = 0; k < n; k++) fprintf(o, "%s%af", k ? ", " : "", (double)sc[k]);
    fprintf(o, "};\nstatic const uint8_t %s_sample_payload[%d][%zu] = {", name, n, pb);
    for (int k = 0; k < n; k++) {
        fprintf(o, "%s{", k ? ",\n" : "\n");
        put_bytes(o, pay + (size_t)k * pb, pb);
        fprintf(o, "}");
    }
    fprintf(o, "\n};\n");
    const int bad = ferror(o);
    if (fclose(o) || bad) return cli_error(c->cmd, "writing %s failed", path);
    return 0;
}

/* accuracy of head program + tail over n images: returns correct count, *exited */
static int split_accuracy(const McuProgram *p, Net *tail, const NetPart *tp, const float *x, const int32_t *y, int n,
                          int *exited, const char **err) {
    const size_t in_n = (size_t)p->in_c * p->in_h * p->in_w, m = (size_t)p->out_c * p->out_h * p->out_w;
    const size_t pb = export_payload_bytes(p);
    int *ret = malloc(sizeof *ret * (size_t)n), right = 0, fail = 0;
    float *dec = malloc(sizeof *dec * m * (size_t)n);
    if (!ret || !dec) { free(ret), free(dec); *err = "out of memory"; return -1; }
#ifdef _OPENMP
#pragma omp parallel
#endif
    {
        float *arena = malloc(p->arena_bytes + 16);
        uint8_t *pay = malloc(pb + 16);
        if (!arena || !pay) fail = 1;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 8)
#endif
        for (int k = 0; k < n; k++) {
            if (!arena || !pay) continue;
            float s;
            ret[k] = export_run(p, x + (size_t)k * in_n, arena, pay, &s);
            if (ret[k] == -1) export_decode(p, pay, s, dec + (size_t)k * m);
        }
        free(arena), free(pay);
    }
    *exited = 0;
    Tape t;
    tape_init(&t, 0, 0, 0, 0);
    for (int k0 = 0; !fail && k0 < n; k0 += 64) {
        const int nb = n - k0 < 64 ? n - k0 : 64;
        tape_reset(&t);
        Tensor xt = {.ndim = 4, .shape = {nb, p->out_c, p->out_h, p->out_w}, .data = dec + (size_t)k0 * m};
        Value *z = net_forward(tail, &t, tape_wrap(&t, &xt, 0), tp->from, tp->to, NULL);
        if (!z) { *err = sei_last_error(); fail = 1; break; }
        for (int j = 0; j < nb; j++) {
            const int k = k0 + j;
            int pred = ret[k];
            if (pred >= 0) (*exited)++;
            else {
                const float *zr = z->t.data + (size_t)j * tail->classes;
                pred = 0;
                for (int q = 1; q < tail->classes; q++)
                    if (zr[q] > zr[pred]) pred = q;
            }
            right += pred == y[k];
        }
    }
    tape_free(&t);
    free(ret), free(dec);
    if (fail && !*err) *err = "out of memory";
    return fail ? -1 : right;
}

static int run_tail_check(Command *c, const McuProgram *f, const McuProgram *q, const StFile *hw, Net *net,
                          const char *head_id, int size) {
    StFile tf;
    Net tail;
    NetPart tp;
    if (st_open(&tf, args_str(c, "tail")) != SEI_OK) return cli_error(c->cmd, "--tail: %s", sei_last_error());
    int rc = cli_open_part(c, &tail, &tf, &tp);
    if (rc) { st_close(&tf); return rc; }
    const char *tid = st_meta(&tf, "split_id");
    if (tp.head != 0 || !tid || !head_id || strcmp(tid, head_id))
        rc = cli_error(c->cmd, "--tail %s is not the server part of this head's split (split_id %s vs %s; sei split writes both)",
                       args_str(c, "tail"), tid ? tid : "none", head_id ? head_id : "none");
    st_close(&tf);
    float *x = NULL;
    int32_t *y = NULL;
    int n = 0, lim = 100000;
    if (args_str(c, "limit") && args_int(c, "limit", 1, 10000000, &lim)) rc = 2;
    if (!rc) rc = load_images(c, net, hw, NULL, "test", lim, size, &x, &y, &n);
    const McuProgram *ps[2] = {f, q};
    double acc[2] = {0, 0};
    int ex[2] = {0, 0};
    for (int k = 0; !rc && k < 2; k++) {
        if (!ps[k]) continue;
        const char *err = NULL;
        const int right = split_accuracy(ps[k], &tail, &tp, x, y, n, &ex[k], &err);
        if (right < 0) rc = cli_error(c->cmd, "--tail: %s", err ? err : "failed");
        acc[k] = 100.0 * right / n;
    }
    if (!rc) {
        printf("split accuracy on %d test images: fp32 head %.2f%% (%d left at exits)", n, acc[0], ex[0]);
        if (q) printf(", int8 head %.2f%% (%d left at exits), difference %+.2f points", acc[1], ex[1], acc[1] - acc[0]);
        printf("\n");
    }
    free(x), free(y);
    net_free(&tail);
    return rc;
}

int cmd_export(int argc, char **argv) {
    Command c = {"export", "the device part as portable C99 for microcontrollers (int8 or fp32)",
                 "--weights HEAD --out DIR [--quant int8|fp32] [--calib SPEC --calib-n N] [--exit-tau T]",
                 export_flags, (int)(sizeof export_flags / sizeof *export_flags)};
    int rc = args_parse(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if (cli_setup(&c)) return 2;
    const char *wpath = args_str(&c, "weights"), *dir = args_str(&c, "out"), *name = args_str(&c, "name");
    if (!wpath) return cli_error(c.cmd, "--weights HEAD is required (sei split --out-head)");
    if (!dir) return cli_error(c.cmd, "--out DIR is required");
    if (strcmp(args_str(&c, "target"), "c99")) return cli_error(c.cmd, "--target: '%s' is not c99 (the only target)", args_str(&c, "target"));
    const char *qs = args_str(&c, "quant");
    if (strcmp(qs, "int8") && strcmp(qs, "fp32")) return cli_error(c.cmd, "--quant: '%s' is not int8 or fp32", qs);
    const int q8 = !strcmp(qs, "int8");
    float tau = -1;
    int calib_n = 256, nsamples = 0;
    if ((args_str(&c, "exit-tau") && args_float(&c, "exit-tau", 0, 1, &tau)) || args_int(&c, "calib-n", 1, 100000, &calib_n) ||
        args_int(&c, "samples", 0, 1000, &nsamples))
        return 2;
    StFile w;
    Net net;
    NetPart part;
    if (st_open(&w, wpath) != SEI_OK) return cli_error(c.cmd, "%s", sei_last_error());
    if ((rc = cli_open_part(&c, &net, &w, &part))) { st_close(&w); return rc; }
    McuProgram f = {0}, q = {0};
    int size = 0;
    const char *sz = args_str(&c, "size") ? args_str(&c, "size") : st_meta(&w, "size");
    if (part.head == 0) rc = cli_error(c.cmd, "%s is a server part (part=tail); export its device part", wpath);
    else if (!sz || (size = atoi(sz)) < 1 || size > 4096)
        rc = cli_error(c.cmd, "%s records no input size: give --size S", wpath);
    else if (tau >= 0 && !net.nexits) rc = cli_error(c.cmd, "--exit-tau: %s has no early exit", wpath);
    if (!rc && export_lower(&net, part.from, part.to, size, tau >= 0, tau, &f) != SEI_OK)
        rc = cli_error(c.cmd, "%s", sei_last_error());
    const size_t m = (size_t)f.out_c * f.out_h * f.out_w, in_n = (size_t)net.in_ch * size * size, pb = export_payload_bytes(&f);

    /* the float program against the engine's forward pass: test images when --samples or
     * --tail bring data, else random inputs */
    float *sx = NULL;
    int32_t *sy = NULL;
    int ns = 0;
    const int ncheck = nsamples > 8 ? nsamples : 8;
    if (!rc && (nsamples > 0 || args_str(&c, "tail"))) rc = load_images(&c, &net, &w, NULL, "test", ncheck, size, &sx, &sy, &ns);
    else if (!rc) {
        ns = 4;
        sx = malloc(sizeof *sx * in_n * (size_t)ns), sy = calloc((size_t)ns, sizeof *sy);
        Rng g;
        rng_seed(&g, 7);
        for (size_t i = 0; sx && i < in_n * (size_t)ns; i++) sx[i] = rng_normal(&g);
        if (!sx || !sy) rc = cli_error(c.cmd, "out of memory");
    }
    float *ev = malloc(sizeof *ev * (m + 1)), *pv = malloc(sizeof *pv * (m + 1)), *arena = malloc(f.arena_bytes + 64);
    uint8_t *pay = malloc(pb + 16), *epay = calloc((size_t)(ns + 1), pb + 16);
    int *eret = calloc((size_t)(ns + 1), sizeof *eret);
    float *escale = calloc((size_t)(ns + 1), sizeof *escale);
    if (!rc && (!ev || !pv || !arena || !pay || !epay || !eret || !escale)) rc = cli_error(c.cmd, "out of memory");
    double worst = 0;
    const double tol = f.wire == MCU_WIRE_FP32 ? 1e-5 : f.wire == MCU_WIRE_FP16 ? 2e-3 : 1.5 / 127;
    for (int k = 0; !rc && k < ns; k++) {
        const char *err;
        float s;
        const int er = engine_forward(&net, &part, sx + (size_t)k * in_n, size, tau, ev, m, &err);
        const int pr = export_run(&f, sx + (size_t)k * in_n, arena, pay, &s);
        if (er == -2) rc = cli_error(c.cmd, "%s", err);
        else if (er != pr) rc = cli_error(c.cmd, "check: image %d: the engine %s, the exported program %s", k,
                                          er >= 0 ? "takes an exit" : "sends the payload", pr >= 0 ? "takes an exit" : "sends the payload");
        else if (pr == -1) {
            export_decode(&f, pay, s, pv);
            worst = fmax(worst, rel_err(pv, ev, m));
            escale[k] = encode(&f, ev, m, epay + (size_t)k * pb);
        }
        eret[k] = er;
    }
    if (!rc && worst > tol) rc = cli_error(c.cmd, "check: the exported fp32 program is %.3g off the engine (> %.3g)", worst, tol);
    if (!rc)
        printf("%s: %d ops (%d exits), fp32 program within %.2g of the engine's forward pass on %d %s\n", wpath, f.nops,
               f.nexits, worst, ns, nsamples > 0 || args_str(&c, "tail") ? "test images" : "random inputs");

    /* int8: calibrate, quantise, compare with the float program */
    if (!rc && q8) {
        float *cx = NULL;
        int32_t *cy = NULL;
        int nc = 0;
        rc = load_images(&c, &net, &w, args_str(&c, "calib"), "train", calib_n, size, &cx, &cy, &nc);
        if (!rc && export_quantize(&f, cx, nc, &q) != SEI_OK) rc = cli_error(c.cmd, "%s", sei_last_error());
        if (!rc) printf("int8: calibrated on %d images, input scale %.6g\n", nc, (double)q.in_scale);
        free(cx), free(cy);
        /* how far the int8 payload is from the float one (when both send it) */
        double d2 = 0, f2 = 0;
        int both = 0, differ = 0;
        float *qv = rc ? NULL : malloc(sizeof *qv * (m + 1)), *a8 = rc ? NULL : malloc(q.arena_bytes + 64);
        if (!rc && (!qv || !a8)) rc = cli_error(c.cmd, "out of memory");
        for (int k = 0; !rc && k < ns; k++) {
            float s, s8;
            const int fr = export_run(&f, sx + (size_t)k * in_n, arena, pay, &s);
            if (fr == -1) export_decode(&f, pay, s, pv);
            const int qr = export_run(&q, sx + (size_t)k * in_n, a8, pay, &s8);
            if (qr == -2) rc = cli_error(c.cmd, "out of memory");
            else if (fr == -1 && qr == -1) {
                export_decode(&q, pay, s8, qv);
                for (size_t i = 0; i < m; i++) d2 += ((double)qv[i] - pv[i]) * ((double)qv[i] - pv[i]), f2 += (double)pv[i] * pv[i];
                both++;
            } else differ += fr != qr;
        }
        if (!rc && both)
            printf("int8 payload vs the fp32 program's: relative RMS error %.3g over %d images (%d decide differently at an exit)\n",
                   f2 > 0 ? sqrt(d2 / f2) : sqrt(d2), both, differ);
        else if (!rc)
            printf("int8 payload vs the fp32 program's: not compared, no check image reached the payload in both (%d of %d "
                   "decide differently at an exit)\n", differ, ns);
        free(qv), free(a8);
    }
    const McuProgram *out = q8 ? &q : &f;
    if (!rc && mkdir(dir, 0777) && errno != EEXIST) rc = cli_error(c.cmd, "cannot create %s: %s", dir, strerror(errno));
    char about[600];
    snprintf(about, sizeof about, "%s device part of %s (%s, cut after %s), %s%s", net.name, wpath,
             part.head == 1 ? "head" : "whole network", part.head == 1 ? part.cut : "the last layer", q8 ? "int8" : "fp32",
             f.nexits ? ", with early exits" : "");
    for (char *s = about; (s = strstr(s, "*/")) != NULL;) s[0] = '_';
    if (!rc && export_write_c(out, dir, name, about) != SEI_OK) rc = cli_error(c.cmd, "%s", sei_last_error());
    if (!rc && nsamples > 0) {
        const int n = nsamples < ns ? nsamples : ns;
        if (q8) { /* int8: what sei's own run of the int8 program gives, bit for bit */
            float *qa = malloc(q.arena_bytes + 64);
            if (!qa) rc = cli_error(c.cmd, "out of memory");
            for (int k = 0; !rc && k < n; k++)
                eret[k] = export_run(&q, sx + (size_t)k * in_n, qa, epay + (size_t)k * export_payload_bytes(&q), &escale[k]);
            free(qa);
        }
        if (!rc) rc = write_samples(&c, out, dir, name, n, sx, sy, eret, epay, escale);
    }
    if (!rc)
        printf("wrote %s/%s.h and %s/%s.c%s: %s, %zu bytes of constants, %zu-byte arena, payload [%d][%d][%d] %s (%zu bytes)\n",
               dir, name, dir, name, nsamples > 0 ? " (+ _samples.h)" : "", q8 ? "int8" : "fp32", out->const_bytes,
               out->arena_bytes, out->out_c, out->out_h, out->out_w,
               out->wire == MCU_WIRE_FP32 ? "fp32" : out->wire == MCU_WIRE_FP16 ? "fp16" : "int8", export_payload_bytes(out));
    if (!rc && args_str(&c, "tail")) rc = run_tail_check(&c, &f, q8 ? &q : NULL, &w, &net, st_meta(&w, "split_id"), size);
    free(ev), free(pv), free(arena), free(pay), free(epay), free(eret), free(escale), free(sx), free(sy);
    export_free(&f), export_free(&q);
    net_free(&net);
    st_close(&w);
    return rc;
}
