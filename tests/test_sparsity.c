/* test_sparsity.c - predefined sparsity (nets/sparsity.c): every pattern keeps exactly
 * per_row distinct ascending columns per row and uses every column floor/ceil times
 * (bi-regular), the channel pattern is a permuted block diagonal, patterns are deterministic
 * for a seed and differ across seeds, bad densities are refused, a large pattern takes linear
 * time; a sparsified network keeps its dropped weights exactly zero through SGD steps; and the
 * compressed storage round-trips (same patterns, same values) in a file several times smaller
 * than dense. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/clock.h"
#include "nets/sparsity.h"
#include "nets/train.h"
#include "nets/weights.h"
#include "tests/harness.h"

/* rows keep per_row distinct ascending columns; columns used floor or ceil(rows*per_row/cols) */
static int check_regular(const SparsePattern *sp, const char *what) {
    int *use = calloc((size_t)sp->cols, sizeof *use), bad = 0;
    for (int r = 0; r < sp->rows; r++)
        for (int j = 0; j < sp->per_row; j++) {
            int c = sp->index[(size_t)r * sp->per_row + j];
            bad += c < 0 || c >= sp->cols || (j && c <= sp->index[(size_t)r * sp->per_row + j - 1]);
            if (c >= 0 && c < sp->cols) use[c]++;
        }
    const long total = (long)sp->rows * sp->per_row;
    const int lo = (int)(total / sp->cols), hi = (int)((total + sp->cols - 1) / sp->cols);
    int irregular = 0;
    for (int c = 0; c < sp->cols; c++) irregular += use[c] < lo || use[c] > hi;
    free(use);
    EXPECT(!bad, "%s: %d rows entries out of order or range", what, bad);
    EXPECT(!irregular, "%s: %d columns used outside [%d, %d]", what, irregular, lo, hi);
    return !bad && !irregular;
}

static void test_patterns(void) {
    Rng r;
    rng_seed(&r, 1);
    const struct { SparseKind k; int rows, cols, ksize; double d; } cases[] = {
        {SPARSE_BIREGULAR, 100, 64, 1, 0.25},  {SPARSE_BIREGULAR, 10, 1000, 1, 0.1},
        {SPARSE_BIREGULAR, 333, 7, 1, 0.5},    {SPARSE_BIREGULAR, 5, 5, 1, 1.0},
        {SPARSE_WEIGHT, 32, 16 * 9, 1, 0.25},  {SPARSE_WEIGHT, 3, 27, 1, 0.3},
        {SPARSE_CHANNEL, 64, 32, 9, 0.25},     {SPARSE_CHANNEL, 16, 16, 1, 0.5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        SparsePattern sp;
        char what[64];
        snprintf(what, sizeof what, "%s %dx%d d%g", sparse_kind_name(cases[i].k), cases[i].rows, cases[i].cols, cases[i].d);
        EXPECT(sparse_make(&sp, cases[i].k, cases[i].rows, cases[i].cols, cases[i].ksize, cases[i].d, &r, what) == SEI_OK,
               "%s: %s", what, sei_last_error());
        check_regular(&sp, what);
        if (cases[i].k == SPARSE_CHANNEL) { /* rows of a group share one channel set */
            const int G = sp.groups, OCg = sp.rows / G;
            int diff = 0;
            for (int o = 0; o < sp.rows; o++)
                diff += memcmp(sp.index + (size_t)o * sp.per_row, sp.index + (size_t)(o / OCg) * OCg * sp.per_row,
                               (size_t)sp.per_row * sizeof *sp.index) != 0;
            EXPECT(!diff && sp.per_row == sp.cols / G && G == (int)(1 / cases[i].d + 0.5),
                   "%s: %d rows differ from their group, per_row %d, G %d", what, diff, sp.per_row, G);
            EXPECT(sparse_nnz(&sp) == (size_t)sp.rows * sp.per_row * cases[i].ksize, "nnz");
        }
        sparse_free(&sp);
    }
    SparsePattern a, b, c;
    Rng r1, r2, r3;
    rng_seed(&r1, 5), rng_seed(&r2, 5), rng_seed(&r3, 6);
    sparse_make(&a, SPARSE_BIREGULAR, 50, 40, 1, 0.3, &r1, "a");
    sparse_make(&b, SPARSE_BIREGULAR, 50, 40, 1, 0.3, &r2, "b");
    sparse_make(&c, SPARSE_BIREGULAR, 50, 40, 1, 0.3, &r3, "c");
    const size_t bytes = (size_t)a.rows * a.per_row * sizeof *a.index;
    EXPECT(!memcmp(a.index, b.index, bytes), "same seed, different pattern");
    EXPECT(memcmp(a.index, c.index, bytes), "different seeds, same pattern");
    sparse_free(&a), sparse_free(&b), sparse_free(&c);
    EXPECT(sparse_make(&a, SPARSE_CHANNEL, 16, 12, 9, 0.3, &r1, "x") == SEI_ERR_ARG, "density 0.3 channel");
    EXPECT(sparse_make(&a, SPARSE_CHANNEL, 18, 16, 9, 0.25, &r1, "x") == SEI_ERR_ARG, "4 groups of 18");
    EXPECT(sparse_make(&a, SPARSE_WEIGHT, 4, 4, 1, 0.0, &r1, "x") == SEI_ERR_ARG &&
           sparse_make(&a, SPARSE_WEIGHT, 4, 4, 1, 1.5, &r1, "x") == SEI_ERR_ARG, "densities 0 and 1.5");
}

/* a dense-ish bi-regular pattern of a large layer takes time linear in its entries (a
 * quadratic duplicate search once took minutes here, and hours for VGG16's classifier.0;
 * found by fuzz_density) */
static void test_biregular_large(void) {
    SparsePattern sp;
    Rng r;
    rng_seed(&r, 1);
    const double t0 = sei_now();
    EXPECT(sparse_make(&sp, SPARSE_BIREGULAR, 1024, 8192, 1, 0.65, &r, "big") == SEI_OK, "%s", sei_last_error());
    const double dt = sei_now() - t0;
    EXPECT(dt < 30, "1024 x 8192 at density 0.65 took %.1f s", dt);
    check_regular(&sp, "big");
    sparse_free(&sp);
}

static size_t zeros_kept(const Net *n) {
    size_t bad = 0;
    for (int i = 0; i < n->nparams; i++) {
        const Param *p = &n->params[i];
        if (!p->mask) continue;
        for (size_t k = 0; k < tensor_numel(&p->v.t); k++)
            bad += p->mask[k] == 0.0f && p->v.t.data[k] != 0.0f;
    }
    return bad;
}

static void test_train_and_store(void) {
    Net n;
    EXPECT(net_create(&n, "vgg16_bn", 5, 1, 0.0625f) == SEI_OK, "%s", sei_last_error());
    net_init(&n, 3);
    SparseSpec spec = {.density = 0.25, .conv_kind = SPARSE_CHANNEL};
    EXPECT(net_sparsify(&n, &spec, 7) == SEI_OK, "%s", sei_last_error());
    int sparse = 0;
    for (int i = 0; i < n.nparams; i++) sparse += n.params[i].sp != NULL;
    const int first = n.layers[0].w, last = n.layers[n.nlayers - 1].w;
    EXPECT(sparse == 14 && !n.params[first].sp && !n.params[last].sp,
           "%d sparse tensors (expected 12 convs + 2 linears: the first conv and last linear stay dense)", sparse);
    EXPECT(!zeros_kept(&n), "sparsify left dropped weights");
    /* SGD with momentum and weight decay: the dropped weights stay exactly zero */
    Optimizer o;
    OptConfig oc = optim_sgd(0.05f, 0.9f, 5e-4f, 0);
    EXPECT(net_optim_init(&n, &o, &oc) == SEI_OK, "%s", sei_last_error());
    Tape t;
    tape_init(&t, 1, 1, 1, 1);
    float *x = malloc(sizeof(float) * 4 * 32 * 32);
    int32_t y[4] = {0, 1, 2, 3};
    Rng r;
    rng_seed(&r, 2);
    for (int i = 0; i < 4 * 32 * 32; i++) x[i] = rng_normal(&r);
    for (int s = 0; s < 3; s++) {
        double loss;
        int correct;
        EXPECT(train_step(&n, &t, &o, x, y, 4, 32, 1.0f, &loss, &correct) == SEI_OK, "%s", sei_last_error());
    }
    EXPECT(!zeros_kept(&n), "%zu dropped weights became nonzero in training", zeros_kept(&n));
    /* compressed storage: save, load into a fresh (dense) network, compare */
    char path[] = "/tmp/sei_sparse_XXXXXX";
    int fd = mkstemp(path);
    EXPECT(fd >= 0, "mkstemp");
    if (fd >= 0) close(fd);
    EXPECT(net_save_weights(&n, path, 0, NULL, NULL) == SEI_OK, "%s", sei_last_error());
    Net m;
    net_create(&m, "vgg16_bn", 5, 1, 0.0625f);
    EXPECT(net_load_weights(&m, path) == SEI_OK, "%s", sei_last_error());
    int same = 1;
    for (int i = 0; i < n.nparams; i++) {
        const Param *p = &n.params[i], *q = &m.params[i];
        same &= !memcmp(p->v.t.data, q->v.t.data, tensor_numel(&p->v.t) * sizeof(float));
        same &= !p->sp == !q->sp;
        if (p->sp && q->sp)
            same &= p->sp->kind == q->sp->kind && p->sp->per_row == q->sp->per_row &&
                    !memcmp(p->sp->index, q->sp->index, (size_t)p->sp->rows * p->sp->per_row * sizeof(int32_t));
    }
    EXPECT(same, "the loaded network differs (values or patterns)");
    FILE *f = fopen(path, "rb");
    long sparse_size = 0;
    if (f) { fseek(f, 0, SEEK_END); sparse_size = ftell(f); fclose(f); }
    Net dense;
    net_create(&dense, "vgg16_bn", 5, 1, 0.0625f);
    net_save_weights(&dense, path, 0, NULL, NULL);
    f = fopen(path, "rb");
    long dense_size = 0;
    if (f) { fseek(f, 0, SEEK_END); dense_size = ftell(f); fclose(f); }
    /* at density 1/4 the convs store 1/4 of the values plus 2-byte channel indices per kernel;
     * the linears (most of this network) 4 + 2 bytes per kept weight: 2.66x */
    EXPECT(sparse_size > 0 && 2.5 * sparse_size < dense_size, "sparse file %ld bytes vs dense %ld", sparse_size, dense_size);
    remove(path);
    free(x);
    tape_free(&t);
    optim_free(&o);
    net_free(&n);
    net_free(&m);
    net_free(&dense);
}

static void test_spec(void) {
    char path[] = "/tmp/sei_density_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) { EXPECT(0, "mkstemp"); return; }
    const char *text = "# per-layer densities\nfeatures.0 0.5\n\nclassifier.6 0.25  # the last linear too\n";
    EXPECT(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write");
    close(fd);
    SparseSpec spec = {.density = 1, .conv_kind = SPARSE_WEIGHT};
    EXPECT(sparse_read_density_file(&spec, path) == SEI_OK && spec.nlist == 2, "%s", sei_last_error());
    Net n;
    net_create(&n, "vgg16_bn", 8, 1, 0.0625f);
    net_init(&n, 1);
    EXPECT(net_sparsify(&n, &spec, 1) == SEI_OK, "%s", sei_last_error());
    int sparse = 0;
    for (int i = 0; i < n.nparams; i++) sparse += n.params[i].sp != NULL;
    EXPECT(sparse == 2 && n.params[n.layers[0].w].sp && n.params[n.layers[0].w].sp->kind == SPARSE_WEIGHT,
           "only the two listed layers: %d", sparse);
    net_free(&n);
    sparse_spec_free(&spec);
    /* bad files and names */
    FILE *f = fopen(path, "w");
    fputs("features.3 2.0\n", f);
    fclose(f);
    EXPECT(sparse_read_density_file(&spec, path) == SEI_ERR_FORMAT && strstr(sei_last_error(), ":1:"),
           "density 2 accepted: %s", sei_last_error());
    sparse_spec_free(&spec);
    f = fopen(path, "w");
    fputs("features.2 0.5\n", f); /* a ReLU */
    fclose(f);
    net_create(&n, "vgg16_bn", 8, 1, 0.0625f);
    EXPECT(sparse_read_density_file(&spec, path) == SEI_OK && net_sparsify(&n, &spec, 1) == SEI_ERR_ARG,
           "a ReLU accepted as a sparse layer");
    net_free(&n);
    sparse_spec_free(&spec);
    SparseSpec until = {.density = 0.5, .conv_kind = SPARSE_CHANNEL, .until = "features.13"};
    net_create(&n, "vgg16_bn", 8, 1, 0.0625f);
    EXPECT(net_sparsify(&n, &until, 1) == SEI_OK, "%s", sei_last_error());
    int after = 0, before = 0;
    const int cut = net_find_layer(&n, "features.13");
    for (int i = 0; i < n.nlayers; i++)
        if (n.layers[i].w >= 0 && n.params[n.layers[i].w].sp) *(i <= cut ? &before : &after) += 1;
    EXPECT(before == 3 && after == 0, "--sparse-until: %d sparse before the cut, %d after", before, after);
    /* net_shapes' sparse multiply-adds: the dense ones times each layer's kept share */
    LayerInfo *li = calloc((size_t)n.nlayers, sizeof *li);
    EXPECT(net_shapes(&n, 1, 1, 32, 32, li) == SEI_OK, "%s", sei_last_error());
    double expect = 0, prev = 0;
    for (int i = 0; i < n.nlayers; i++) {
        const double m = li[i].macs - prev;
        prev = li[i].macs;
        const Param *w = n.layers[i].w >= 0 ? &n.params[n.layers[i].w] : NULL;
        expect += w && w->sp ? m * (double)sparse_nnz(w->sp) / (double)tensor_numel(&w->v.t) : m;
    }
    const double got = li[n.nlayers - 1].sparse_macs;
    EXPECT(fabs(got - expect) < 1e-6 * expect && got < li[n.nlayers - 1].macs, "sparse MACs %.0f, expected %.0f",
           got, expect);
    free(li);
    net_free(&n);
    remove(path);
}

/* the tape runs the sparse kernels for patterned layers (forced) and gets what the dense
 * kernels get on the masked weights: logits, loss, input and weight gradients */
static void test_tape_sparse_vs_dense(void) {
    const SparseKind kinds[2] = {SPARSE_CHANNEL, SPARSE_WEIGHT};
    for (int kk = 0; kk < 2; kk++) {
        Net n;
        net_create(&n, "vgg16_bn", 5, 1, 0.125f);
        net_init(&n, 4);
        SparseSpec spec = {.density = 0.5, .conv_kind = kinds[kk]};
        EXPECT(net_sparsify(&n, &spec, 2) == SEI_OK, "%s", sei_last_error());
        float *x = malloc(sizeof(float) * 3 * 32 * 32);
        Rng r;
        rng_seed(&r, 9);
        for (int i = 0; i < 3 * 32 * 32; i++) x[i] = rng_normal(&r);
        int32_t y[3] = {1, 4, 0};
        float *res[2][3] = {{0}};
        size_t nlog = 0, ngrad = 0;
        for (int mode = 0; mode < 2; mode++) {
            sei_sparse_kernels = mode ? 2 : 0;
            Tape t;
            tape_init(&t, 1, 1, 0, 1);
            EXPECT(net_zero_grad(&n) == SEI_OK, "grads");
            Tensor xt = {.ndim = 4, .shape = {3, 1, 32, 32}, .data = x};
            Value *in = tape_wrap(&t, &xt, 1);
            Value *logits = net_forward(&n, &t, in, 0, n.nlayers, NULL);
            Value *loss = logits ? ag_softmax_ce(&t, logits, y) : NULL;
            EXPECT(loss && tape_backward(&t, loss, NULL) == SEI_OK, "%s", sei_last_error());
            if (!loss) { tape_free(&t); continue; }
            nlog = tensor_numel(&logits->t);
            res[mode][0] = malloc(nlog * sizeof(float));
            memcpy(res[mode][0], logits->t.data, nlog * sizeof(float));
            res[mode][1] = malloc(3 * 1024 * sizeof(float));
            memcpy(res[mode][1], in->grad, 3 * 1024 * sizeof(float));
            ngrad = 0;
            for (int i = 0; i < n.nparams; i++) if (n.params[i].v.grad) ngrad += tensor_numel(&n.params[i].v.t);
            res[mode][2] = malloc(ngrad * sizeof(float));
            size_t off = 0;
            for (int i = 0; i < n.nparams; i++)
                if (n.params[i].v.grad) { /* kept entries: the dense path also grades dropped ones */
                    const size_t m = tensor_numel(&n.params[i].v.t);
                    for (size_t k = 0; k < m; k++)
                        res[mode][2][off + k] = n.params[i].v.grad[k] * (n.params[i].mask ? n.params[i].mask[k] : 1.0f);
                    off += m;
                }
            tape_free(&t);
        }
        sei_sparse_kernels = 1;
        if (res[0][0] && res[1][0]) {
            double e0 = rel_err(res[1][0], res[0][0], nlog, 1e-3), e1 = rel_err(res[1][1], res[0][1], 3 * 1024, 1e-3);
            double e2 = rel_err(res[1][2], res[0][2], ngrad, 1e-3);
            EXPECT(e0 < 1e-4 && e1 < 1e-3 && e2 < 1e-3, "%s: logits %.3g, input grad %.3g, weight grads %.3g",
                   sparse_kind_name(kinds[kk]), e0, e1, e2);
        }
        for (int m = 0; m < 2; m++)
            for (int k = 0; k < 3; k++) free(res[m][k]);
        free(x);
        net_free(&n);
    }
}

int main(void) {
    RUN(test_patterns);
    RUN(test_biregular_large);
    RUN(test_train_and_store);
    RUN(test_spec);
    RUN(test_tape_sparse_vs_dense);
    return test_summary();
}
