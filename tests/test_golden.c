/* test_golden.c - the three networks against PyTorch golden files (tests/fixtures, made by
 * tests/gen_fixtures.py; see tests/fixtures/README.md):
 *  - eval-mode logits vs PyTorch float64;
 *  - loss and every gradient (train-mode BN, dropout off) vs PyTorch float64, with the
 *    acceptance rule of issue #2: over all gradients together relative L2 <= max(1e-3,
 *    4 x PyTorch float32's); per tensor max abs error / max(its largest |g|, 1e-3 x the
 *    largest |g| in the net) <= max(0.25, 10 x PyTorch float32's); loss within 1e-5;
 *  - three SGD steps (and AdamW for vgg16_bn): the losses and every state_dict entry after
 *    the steps, errors measured against how far each tensor moved, same rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/optim.h"
#include "engine/safetensors.h"
#include "nets/weights.h"
#include "tests/harness.h"
#include "tests/fixture.h"

static void check_forward_backward(const char *tag) {
    StFile w, ref;
    if (!open_fixture(&w, tag, "weights")) return;
    if (!open_fixture(&ref, tag, "ref")) { st_close(&w); return; }
    Net net;
    if (!open_net(&net, &w)) goto out;
    int32_t *labels;
    Tensor x = read_input(&ref, &labels);
    size_t n = 0;

    /* eval-mode logits */
    Tape t;
    tape_init(&t, 0, 0, 0, 0);
    Value *y = net_forward(&net, &t, tape_wrap(&t, &x, 0), 0, net.nlayers, NULL);
    float *want = read_all(&ref, "logits", &n);
    EXPECT(y && tensor_numel(&y->t) == n, "%s: logits shape", tag);
    if (y) {
        double e = rel_err(y->t.data, want, n, 0);
        EXPECT(e <= 1e-5, "%s: logits relative error %.3g > 1e-5", tag, e);
    }
    free(want);
    tape_free(&t);

    /* train-mode loss and gradients */
    tape_init(&t, 1, 1, 0, 0);
    net_zero_grad(&net);
    Value *in = tape_wrap(&t, &x, 1);
    y = net_forward(&net, &t, in, 0, net.nlayers, NULL);
    Value *loss = y ? ag_softmax_ce(&t, y, labels) : NULL;
    EXPECT(loss && tape_backward(&t, loss, NULL) == SEI_OK, "%s: backward: %s", tag, sei_last_error());
    if (!loss) goto free_all;
    float *l64 = read_all(&ref, "loss", &n);
    double lrel = fabs(loss->t.data[0] - l64[0]) / fabs(l64[0]);
    EXPECT(lrel <= 1e-5, "%s: loss %.8g vs %.8g (rel %.3g)", tag, loss->t.data[0], l64[0], lrel);
    free(l64);

    /* gather (ours, reference) pairs: input first, then every parameter */
    int np = net.nparams + 1;
    float **ours = calloc((size_t)np, sizeof(float *)), **refs = calloc((size_t)np, sizeof(float *));
    size_t *sizes = calloc((size_t)np, sizeof(size_t));
    double *pt32 = calloc((size_t)np, sizeof(double));
    const char **names = calloc((size_t)np, sizeof(char *));
    int k = 0;
    for (int i = -1; i < net.nparams; i++) {
        if (i >= 0 && net.params[i].is_buffer) continue;
        const char *pname = i < 0 ? "input" : net.params[i].v.t.name;
        char gname[256], ename[256];
        snprintf(gname, sizeof gname, "grad.%s", pname);
        snprintf(ename, sizeof ename, "pt32err.%s", pname);
        refs[k] = read_all(&ref, gname, &sizes[k]);
        EXPECT(refs[k] != NULL, "%s: fixture lacks %s", tag, gname);
        if (!refs[k]) continue;
        ours[k] = i < 0 ? in->grad : net.params[i].v.grad;
        size_t one;
        float *e = read_all(&ref, ename, &one);
        pt32[k] = e ? e[0] : 0;
        free(e);
        names[k++] = pname;
    }
    double gmax = 0, num = 0, den = 0;
    for (int j = 0; j < k; j++)
        for (size_t i = 0; i < sizes[j]; i++) {
            double d = (double)ours[j][i] - refs[j][i];
            num += d * d;
            den += (double)refs[j][i] * refs[j][i];
            if (fabs(refs[j][i]) > gmax) gmax = fabs(refs[j][i]);
        }
    double total = sqrt(num / den), total_bar = fmax(1e-3, 4 * meta_num(&ref, "pt32_total_rel_l2", 0));
    EXPECT(total <= total_bar, "%s: gradients total relative L2 %.3g > %.3g", tag, total, total_bar);
    double worst = 0;
    for (int j = 0; j < k; j++) {
        double e = rel_err(ours[j], refs[j], sizes[j], 1e-3 * gmax), bar = fmax(0.25, 10 * pt32[j]);
        EXPECT(e <= bar, "%s: grad.%s error %.3g > %.3g", tag, names[j], e, bar);
        if (e > worst) worst = e;
        free(refs[j]);
    }
    printf("  %s: logits ok, loss rel %.2g, gradients total L2 %.2g (PyTorch f32 %.2g), worst tensor %.2g\n",
           tag, lrel, total, meta_num(&ref, "pt32_total_rel_l2", 0), worst);
    free(ours); free(refs); free(sizes); free(pt32); free(names);
free_all:
    tape_free(&t);
    free(x.data);
    free(labels);
    net_free(&net);
out:
    st_close(&w);
    st_close(&ref);
}

static void test_vgg16_fwd_bwd(void) { check_forward_backward("vgg16"); }
static void test_vgg16_bn_fwd_bwd(void) { check_forward_backward("vgg16_bn"); }
static void test_resnet50_fwd_bwd(void) { check_forward_backward("resnet50"); }

/* Optimizer steps from the fixture's weights on the ref batch; compare the snapshot `snap`
 * ("final" or "step1") of the `kind` file ("sgd" or "adamw"). */
static void check_steps(const char *tag, const char *kind, const char *snap) {
    StFile w, ref, opt;
    if (!open_fixture(&w, tag, "weights")) return;
    if (!open_fixture(&ref, tag, "ref")) { st_close(&w); return; }
    if (!open_fixture(&opt, tag, kind)) { st_close(&w); st_close(&ref); return; }
    Net net;
    if (!open_net(&net, &w)) goto out;
    int32_t *labels;
    Tensor x = read_input(&ref, &labels);
    int steps = strcmp(snap, "step1") == 0 ? 1 : (int)meta_num(&opt, "steps", 3);
    OptConfig cfg;
    float lr = (float)meta_num(&opt, "lr", 0), wd = (float)meta_num(&opt, "weight_decay", 0);
    if (strcmp(st_meta(&opt, "opt"), "sgd") == 0)
        cfg = optim_sgd(lr, (float)meta_num(&opt, "momentum", 0), wd, (int)meta_num(&opt, "nesterov", 0));
    else
        cfg = optim_adamw(lr, wd);
    Optimizer o;
    EXPECT(net_optim_init(&net, &o, &cfg) == SEI_OK, "optim_init");
    size_t n;
    float *losses = read_all(&opt, "loss", &n);
    /* keep the initial state to measure how far each tensor moved */
    float **start = calloc((size_t)net.nparams, sizeof(float *));
    for (int i = 0; i < net.nparams; i++) {
        size_t m = tensor_numel(&net.params[i].v.t);
        start[i] = malloc(m * sizeof(float));
        memcpy(start[i], net.params[i].v.t.data, m * sizeof(float));
    }
    double loss_bar = fmax(1e-5, 4 * meta_num(&opt, "pt32_loss_rel", 0));
    Tape t;
    tape_init(&t, 1, 1, 0, 0);
    for (int s = 0; s < steps; s++) {
        tape_reset(&t);
        net_zero_grad(&net);
        Value *y = net_forward(&net, &t, tape_wrap(&t, &x, 0), 0, net.nlayers, NULL);
        Value *loss = ag_softmax_ce(&t, y, labels);
        tape_backward(&t, loss, NULL);
        double rel = fabs(loss->t.data[0] - losses[s]) / fabs(losses[s]);
        EXPECT(rel <= loss_bar, "%s %s: loss before step %d: %.8g vs %.8g", tag, kind, s + 1,
               loss->t.data[0], losses[s]);
        optim_step(&o);
    }
    tape_free(&t);
    /* compare every state_dict entry, error relative to how far it moved */
    double dmax = 0;
    float **want = calloc((size_t)net.nparams, sizeof(float *));
    for (int i = 0; i < net.nparams; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s.%s", snap, net.params[i].v.t.name);
        want[i] = read_all(&opt, name, &n);
        EXPECT(want[i] != NULL, "%s: fixture lacks %s", tag, name);
        if (!want[i] || net.params[i].is_int) continue;
        for (size_t j = 0; j < n; j++) dmax = fmax(dmax, fabs(want[i][j] - start[i][j]));
    }
    double worst = 0;
    for (int i = 0; i < net.nparams; i++) {
        Param *p = &net.params[i];
        if (!want[i]) continue;
        size_t m = tensor_numel(&p->v.t);
        if (p->is_int) {
            EXPECT(p->v.t.data[0] == want[i][0], "%s: %s is %g, want %g", tag, p->v.t.name,
                   p->v.t.data[0], want[i][0]);
            free(want[i]);
            continue;
        }
        double moved = 1e-3 * dmax, err = 0;
        for (size_t j = 0; j < m; j++) {
            moved = fmax(moved, fabs(want[i][j] - start[i][j]));
            err = fmax(err, fabs(p->v.t.data[j] - want[i][j]));
        }
        char ename[256];
        snprintf(ename, sizeof ename, "%s.%s", strcmp(snap, "step1") == 0 ? "pt32err_step1" : "pt32err",
                 p->v.t.name);
        float *pe = read_all(&opt, ename, &n);
        double bar = fmax(0.25, 10 * (pe ? pe[0] : 0)), e = err / moved;
        free(pe);
        EXPECT(e <= bar, "%s %s: %s after %d steps: error %.3g of its movement > %.3g", tag, kind,
               p->v.t.name, steps, e, bar);
        if (e > worst) worst = e;
        free(want[i]);
    }
    printf("  %s %s (%d steps): worst tensor error %.2g of its movement\n", tag, kind, steps, worst);
    for (int i = 0; i < net.nparams; i++) free(start[i]);
    free(start); free(want); free(losses);
    optim_free(&o);
    free(x.data);
    free(labels);
    net_free(&net);
out:
    st_close(&w);
    st_close(&ref);
    st_close(&opt);
}

static void test_vgg16_sgd(void) { check_steps("vgg16", "sgd", "final"); }
static void test_vgg16_bn_sgd(void) { check_steps("vgg16_bn", "sgd", "final"); }
static void test_vgg16_bn_adamw(void) { check_steps("vgg16_bn", "adamw", "final"); }
/* 3 steps of resnet50 at lr 0.02 on one batch are chaotic even for PyTorch float32: step 1 */
static void test_resnet50_sgd_nesterov(void) { check_steps("resnet50", "sgd", "step1"); }

int main(void) {
    RUN(test_vgg16_fwd_bwd);
    RUN(test_vgg16_bn_fwd_bwd);
    RUN(test_resnet50_fwd_bwd);
    RUN(test_vgg16_sgd);
    RUN(test_vgg16_bn_sgd);
    RUN(test_vgg16_bn_adamw);
    RUN(test_resnet50_sgd_nesterov);
    return test_summary();
}
