/* importance.c - Grad-CAM importance of every cut point (definitions in importance.h).
 *
 * Per batch: forward in eval mode on a recording tape with every cut point's output retained,
 * one backward from the seed dL/dlogits = onehot(target) (so the gradient at each cut point
 * is ds_n/dA for every image n at once), parameters marked as needing no gradient so that no
 * weight-gradient GEMM runs. Then per cut point and image, in double: alpha_c, the map, its
 * mean. Images are independent work items on the threads, each writes only its own slots,
 * and the sums are taken afterwards in image order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "split/importance.h"

sei_status importance_init(Importance *im, const Net *net) {
    memset(im, 0, sizeof *im);
    im->classes = net->classes;
    for (int i = 0; i < net->nlayers; i++) im->ncuts += net->layers[i].cut != 0;
    if (!im->ncuts) return sei_fail(SEI_ERR_ARG, "importance: %s has no cut points", net->name);
    const int C = im->ncuts, K = im->classes;
    im->layer = malloc((size_t)C * sizeof *im->layer);
    im->sum = calloc((size_t)C, sizeof *im->sum);
    im->sum_class = calloc((size_t)C * K, sizeof *im->sum_class);
    im->count_class = calloc((size_t)K, sizeof *im->count_class);
    im->maps = calloc((size_t)C, sizeof *im->maps);
    im->nmaps = calloc((size_t)C, sizeof *im->nmaps);
    im->capmaps = calloc((size_t)C, sizeof *im->capmaps);
    if (!im->layer || !im->sum || !im->sum_class || !im->count_class || !im->maps ||
        !im->nmaps || !im->capmaps) {
        importance_free(im);
        return sei_fail(SEI_ERR_NOMEM, "importance: out of memory");
    }
    for (int i = 0, c = 0; i < net->nlayers; i++)
        if (net->layers[i].cut) im->layer[c++] = i;
    return SEI_OK;
}

void importance_free(Importance *im) {
    if (im->maps)
        for (int c = 0; c < im->ncuts; c++) free(im->maps[c]);
    free(im->maps);
    free(im->nmaps);
    free(im->capmaps);
    free(im->layer);
    free(im->sum);
    free(im->sum_class);
    free(im->count_class);
    memset(im, 0, sizeof *im);
}

/* room for `more` map values at cut point c */
static sei_status reserve_maps(Importance *im, int c, size_t more) {
    size_t need = im->nmaps[c] + more;
    if (need <= im->capmaps[c]) return SEI_OK;
    size_t cap = im->capmaps[c] ? im->capmaps[c] : 4096;
    while (cap < need) cap *= 2;
    float *m = realloc(im->maps[c], cap * sizeof *m);
    if (!m)
        return sei_fail(SEI_ERR_NOMEM, "importance: out of memory keeping %zu map values "
                        "(use fewer images, --limit)", need);
    im->maps[c] = m;
    im->capmaps[c] = cap;
    return SEI_OK;
}

/* image n's map at one cut point: A, G [C, HW] (G NULL: no gradient reached it, map 0) into
 * map [HW]; returns mean(map). acc: HW doubles of scratch. */
static double image_map(const float *A, const float *G, int C, int HW, float *map,
                        double *acc) {
    for (int i = 0; i < HW; i++) acc[i] = 0.0;
    if (G)
        for (int c = 0; c < C; c++) {
            const float *g = G + (size_t)c * HW, *a = A + (size_t)c * HW;
            double s = 0.0;
            for (int i = 0; i < HW; i++) s += g[i];
            const double alpha = s / HW;
            for (int i = 0; i < HW; i++) acc[i] += alpha * a[i];
        }
    double mean = 0.0;
    for (int i = 0; i < HW; i++) {
        const double v = acc[i] / C;
        map[i] = v > 0.0 ? (float)v : 0.0f;
        mean += v > 0.0 ? v : 0.0;
    }
    return mean / HW;
}

sei_status importance_batch(Importance *im, Net *net, Tape *t, const Tensor *x,
                            const int32_t *labels, int target_pred) {
    const int N = x->shape[0], K = net->classes;
    if (K != im->classes) return sei_fail(SEI_ERR_ARG, "importance: network has %d classes, the accumulator %d", K, im->classes);
    for (int n = 0; n < N; n++)
        if (labels[n] < 0 || labels[n] >= K)
            return sei_fail(SEI_ERR_ARG, "importance: label %d of image %d is outside [0,%d)",
                            labels[n], n, K);
    t->recording = 1, t->bn_training = 0, t->dropout = 0;
    tape_reset(t);
    char *req = malloc((size_t)net->nparams);
    Value **outs = calloc((size_t)net->nlayers, sizeof *outs);
    float *seed = calloc((size_t)N * K, sizeof *seed);
    double *means = malloc((size_t)N * sizeof *means);
    sei_status s = SEI_OK;
    if (!req || !outs || !seed || !means) {
        s = sei_fail(SEI_ERR_NOMEM, "importance: out of memory");
        goto done;
    }
    for (int i = 0; i < net->nparams; i++) {
        req[i] = (char)net->params[i].v.requires_grad;
        net->params[i].v.requires_grad = 0;
    }
    Value *in = tape_wrap(t, x, 1);
    Value *logits = in ? net_forward(net, t, in, 0, net->nlayers, outs) : NULL;
    if (!logits) { s = SEI_ERR_SHAPE; goto restore; }
    for (int c = 0; c < im->ncuts; c++)
        if (outs[im->layer[c]]) outs[im->layer[c]]->retain_grad = 1;
    for (int n = 0; n < N; n++) {
        int y = labels[n];
        if (target_pred) {
            const float *l = logits->t.data + (size_t)n * K;
            y = 0;
            for (int k = 1; k < K; k++)
                if (l[k] > l[y]) y = k;
        }
        seed[(size_t)n * K + y] = 1.0f;
    }
    if ((s = tape_backward(t, logits, seed)) != SEI_OK) goto restore;

    for (int c = 0; c < im->ncuts && !s; c++) {
        const Value *a = outs[im->layer[c]];
        const int C = a->t.shape[1];
        const int HW = a->t.ndim == 4 ? a->t.shape[2] * a->t.shape[3] : 1;
        if ((s = reserve_maps(im, c, (size_t)N * HW)) != SEI_OK) break;
        double *acc = malloc((size_t)N * HW * sizeof *acc);
        if (!acc) { s = sei_fail(SEI_ERR_NOMEM, "importance: out of memory"); break; }
        float *maps = im->maps[c] + im->nmaps[c];
        const size_t img = (size_t)C * HW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * img > 16384)
#endif
        for (int n = 0; n < N; n++)
            means[n] = image_map(a->t.data + n * img, a->grad ? a->grad + n * img : NULL, C, HW,
                                 maps + (size_t)n * HW, acc + (size_t)n * HW);
        free(acc);
        im->nmaps[c] += (size_t)N * HW;
        for (int n = 0; n < N; n++) {
            im->sum[c] += means[n];
            im->sum_class[(size_t)c * K + labels[n]] += means[n];
        }
    }
    if (!s) {
        im->n += N;
        for (int n = 0; n < N; n++) im->count_class[labels[n]]++;
    }
restore:
    for (int i = 0; i < net->nparams; i++) net->params[i].v.requires_grad = req[i];
done:
    free(req);
    free(outs);
    free(seed);
    free(means);
    return s;
}

double importance_value(const Importance *im, int c) {
    return im->n ? im->sum[c] / im->n : 0.0;
}

double importance_class(const Importance *im, int c, int k) {
    const long n = im->count_class[k];
    return n ? im->sum_class[(size_t)c * im->classes + k] / n : 0.0;
}

double importance_density(const Importance *im, int c, double threshold) {
    if (!im->nmaps[c]) return 0.0;
    if (threshold < 0) threshold = importance_value(im, c);
    size_t above = 0;
    for (size_t i = 0; i < im->nmaps[c]; i++) above += im->maps[c][i] > threshold;
    return (double)above / (double)im->nmaps[c];
}

int importance_candidates(const double *value, int ncuts, int *rank) {
    int n = 0, *idx = malloc((size_t)(ncuts > 0 ? ncuts : 1) * sizeof *idx);
    for (int c = 0; c < ncuts; c++) rank[c] = 0;
    if (!idx) return 0;
    for (int c = 1; c + 1 < ncuts; c++)
        if (value[c] > 0 && value[c] > value[c - 1] && value[c] > value[c + 1]) idx[n++] = c;
    for (int i = 1; i < n; i++) /* insertion sort, highest first; ties keep network order */
        for (int j = i; j > 0 && value[idx[j]] > value[idx[j - 1]]; j--) {
            int tmp = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = tmp;
        }
    for (int i = 0; i < n; i++) rank[idx[i]] = i + 1;
    free(idx);
    return n;
}

/* rank[i] of v[i] among v (1-based; ties share their average rank) */
static void ranks(const double *v, int n, double *rank) {
    for (int i = 0; i < n; i++) {
        int less = 0, equal = 0;
        for (int j = 0; j < n; j++) less += v[j] < v[i], equal += v[j] == v[i];
        rank[i] = less + (equal + 1) / 2.0;
    }
}

double spearman(const double *a, const double *b, int n) {
    if (n < 2) return NAN;
    double *ra = malloc(2 * (size_t)n * sizeof *ra);
    if (!ra) return NAN;
    double *rb = ra + n, ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    ranks(a, n, ra);
    ranks(b, n, rb);
    for (int i = 0; i < n; i++) ma += ra[i], mb += rb[i];
    ma /= n, mb /= n;
    for (int i = 0; i < n; i++) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    free(ra);
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}
