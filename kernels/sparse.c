/* sparse.c - convolution and linear layers with predefined sparse weights that skip the
 * zeros (see ops.h, SparseIndex). The weight tensors stay dense-shaped with the dropped
 * entries zero (so every dense op and reference still applies: the tests compare these
 * kernels with conv2d_*_ref / linear_*_ref on the same masked weights); only the kept
 * entries are read, and gradients are written for kept entries only.
 *
 * Channel pattern (conv): output channels in G contiguous groups, group g seeing the input
 * channels index[g * OC/G * Cg ..] (Cg = C/G, the same list for every row of the group).
 * Stride-1 layers run on the direct kernels (conv_direct.c, see "direct" below). Others run
 * as a grouped convolution over the input with its channels gathered group by group:
 * xg[n, g*Cg + j] = x[n, chan_g[j]], compact weights wg[o, j] = w[o, chan_g(o)[j]], then
 * conv2d with groups = G; backward scatters dxg and dwg back through the same lists.
 * Weight pattern (conv, unstructured): im2col, then each output row is the sum of its kept
 * weights times the col rows they select; threads take column ranges, so no two threads
 * write the same element (and backward's dcol sums run in a fixed order).
 * Linear (bi-regular): out[n, o] = b[o] + sum_j w[o, c_j] x[n, c_j] over the kept c_j;
 * backward: din by image (threads over n), dw by row (threads over o).
 *
 * Workspace (floats) from conv2d_sparse_workspace: channel, direct: see direct_workspace;
 * channel, grouped: 2 * N*C*H*W (gathered input and its gradient) + 2 * OC*Cg*KH*KW (compact
 * weights and their gradient) + the grouped conv's own; weight: one im2col matrix
 * [C*KH*KW, P] per image. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/conv_direct.h"
#include "kernels/ops.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define SP_OMP_MIN 16384 /* elements below which a loop stays single-threaded */

void conv_bias_grad(float *db, const float *dout, int N, int OC, size_t P); /* conv2d.c */

/* ---------------------------------------------------------------- channel pattern */

static Conv2dParams grouped(const Conv2dParams *p, int G) {
    Conv2dParams q = *p;
    q.groups = G;
    return q;
}

static const int32_t *group_chans(const SparseIndex *s, int OC, int g) {
    return s->index + (size_t)g * (OC / s->groups) * s->per_row;
}

/* xg [N, C, H, W]: the input's channels gathered group by group; with a direct geometry g,
 * each plane zero-padded into g->PL floats instead (see conv_direct.h) */
static void gather_channels(float *xg, const float *x, const Conv2dParams *p, const SparseIndex *s,
                            const DirectGeom *g) {
    const size_t plane = (size_t)p->H * p->W, ld = g ? g->PL : plane;
    const int Cg = s->per_row, C = p->C;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)p->N * C * plane > SP_OMP_MIN)
#endif
    for (int t = 0; t < p->N * C; t++) {
        const int n = t / C, gj = t % C;
        const float *src = x + ((size_t)n * C + group_chans(s, p->OC, gj / Cg)[gj % Cg]) * plane;
        if (g) direct_pad(xg + (size_t)t * ld, src, g);
        else memcpy(xg + (size_t)t * ld, src, plane * sizeof(float));
    }
}

/* wg [OC, Cg, KH, KW]: the kept kernels of each output channel */
static void compact_weights(float *wg, const float *w, const Conv2dParams *p, const SparseIndex *s) {
    const size_t kk = (size_t)p->KH * p->KW;
    const int Cg = s->per_row, OCg = p->OC / s->groups;
    for (int o = 0; o < p->OC; o++) {
        const int32_t *ch = group_chans(s, p->OC, o / OCg);
        for (int j = 0; j < Cg; j++)
            memcpy(wg + ((size_t)o * Cg + j) * kk, w + ((size_t)o * p->C + ch[j]) * kk, kk * sizeof(float));
    }
}

/* ---------------------------------------------------------------- channel pattern, direct
 * Stride-1 channel convs run as a direct convolution per (image, group) over the gathered
 * input planes, zero-padded once (conv_direct.h): forward into the output, backward-data as
 * the same kernel over the padded output gradient with flipped, transposed kernels,
 * scattered straight into din's planes, and the weight gradient per (group, output channel
 * pair) summed over the batch. Forward and backward-data pad each (image, group)'s planes
 * into a per-thread buffer right before use. Workspace: three compact weight arrays
 * [OC, Cg, KK] (kernels, flipped-transposed kernels, their gradient), the per-thread
 * buffers, and for the weight gradient the padded gathered input [N, C, PL] and the
 * gradient's padded-row copy [N, OC, QL]. */

int sei_conv_direct = 1;

/* fw: the forward geometry, bw: backward-data's (the output gradient padded by K-1-p) */
static int direct_ok(const Conv2dParams *p, DirectGeom *fw, DirectGeom *bw) {
    if (!sei_conv_direct || p->sh != 1 || p->sw != 1 || p->ph > p->KH - 1 || p->pw > p->KW - 1) return 0;
    return direct_geom(fw, p->H, p->W, p->KH, p->KW, p->ph, p->pw) &&
           direct_geom(bw, p->OH, p->OW, p->KH, p->KW, p->KH - 1 - p->ph, p->KW - 1 - p->pw) &&
           bw->OH == p->H && bw->OW == p->W;
}

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* per thread: one (image, group)'s padded planes, Cg of the input or OCg of the gradient */
static size_t direct_local(const Conv2dParams *p, const SparseIndex *s, const DirectGeom *fw,
                           const DirectGeom *bw) {
    const size_t a = (size_t)s->per_row * fw->PL, b = (size_t)(p->OC / s->groups) * bw->PL;
    return a > b ? a : b;
}

static size_t direct_workspace(const Conv2dParams *p, const SparseIndex *s, const DirectGeom *fw,
                               const DirectGeom *bw) {
    const size_t nw = (size_t)p->OC * s->per_row * p->KH * p->KW;
    return 3 * nw + (size_t)max_threads() * direct_local(p, s, fw, bw) +
           (size_t)p->N * p->C * fw->PL + (size_t)p->N * p->OC * fw->QL + 16;
}

/* each (image, group) pads its Cg input planes into the thread's own buffer (it stays in
 * cache: no padded copy of the whole batch goes through memory), then runs the tiles */
static void direct_forward(float *out, const float *in, const float *w, const float *b,
                           const ConvEpilogue *ep, const Conv2dParams *p, const SparseIndex *s,
                           const DirectGeom *g, const DirectGeom *bw, float *ws) {
    const int G = s->groups, Cg = s->per_row, OCg = p->OC / G, KK = p->KH * p->KW;
    const size_t nw = (size_t)p->OC * Cg * KK, local = direct_local(p, s, g, bw);
    float *wg = ws, *bufs = ws + 3 * nw;
    compact_weights(wg, w, p, s);
    const size_t P = (size_t)p->OH * p->OW, plane = (size_t)p->H * p->W;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)p->N * p->OC * P * Cg * KK > SP_OMP_MIN)
#endif
    for (int t = 0; t < p->N * G; t++) {
        const int n = t / G, gi = t % G, o0 = gi * OCg;
        float *xp = bufs + (size_t)thread_id() * local;
        const int32_t *ch = group_chans(s, p->OC, gi);
        for (int j = 0; j < Cg; j++) direct_pad(xp + (size_t)j * g->PL, in + ((size_t)n * p->C + ch[j]) * plane, g);
        direct_conv(out + ((size_t)n * p->OC + o0) * P, NULL, xp, wg + (size_t)o0 * Cg * KK, (size_t)Cg * KK, Cg,
                    OCg, b ? b + o0 : NULL, ep && ep->alpha ? ep->alpha + o0 : NULL,
                    ep && ep->alpha ? ep->shift + o0 : NULL, ep ? ep->relu : 0, 0, g);
    }
}

static void direct_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const Conv2dParams *p, const SparseIndex *s,
                            const DirectGeom *fw, const DirectGeom *bw, float *ws) {
    const int G = s->groups, Cg = s->per_row, OCg = p->OC / G, KK = p->KH * p->KW, N = p->N;
    const size_t nw = (size_t)p->OC * Cg * KK, P = (size_t)p->OH * p->OW, plane = (size_t)p->H * p->W;
    const size_t local = direct_local(p, s, fw, bw);
    float *wg = ws, *wt = wg + nw, *dwg = wt + nw, *bufs = dwg + nw;
    float *xp = bufs + (size_t)max_threads() * local, *dyx = xp + (size_t)N * p->C * fw->PL;
    if (db) conv_bias_grad(db, dout, N, p->OC, P);
    compact_weights(wg, w, p, s);
    if (din) {
        /* wt [G][Cg][OCg][KK]: group gi's kernels transposed (inputs become outputs), flipped */
        for (int o = 0; o < p->OC; o++)
            for (int j = 0; j < Cg; j++)
                for (int k = 0; k < KK; k++)
                    wt[(((size_t)(o / OCg) * Cg + j) * OCg + o % OCg) * KK + (KK - 1 - k)] =
                        wg[((size_t)o * Cg + j) * KK + k];
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * p->OC * P * Cg * KK > SP_OMP_MIN)
#endif
        for (int t = 0; t < N * G; t++) { /* each input channel belongs to one group: no races */
            const int n = t / G, gi = t % G;
            float *dyp = bufs + (size_t)thread_id() * local;
            for (int o = 0; o < OCg; o++)
                direct_pad(dyp + (size_t)o * bw->PL, dout + ((size_t)n * p->OC + (size_t)gi * OCg + o) * P, bw);
            direct_conv(din + (size_t)n * p->C * plane, group_chans(s, p->OC, gi), dyp,
                        wt + (size_t)gi * Cg * OCg * KK, (size_t)OCg * KK, OCg, Cg, NULL, NULL, NULL, 0, 1, bw);
        }
    }
    if (dw) {
        gather_channels(xp, in, p, s, fw);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * p->OC * P > SP_OMP_MIN)
#endif
        for (int t = 0; t < N * p->OC; t++) direct_rows(dyx + (size_t)t * fw->QL, dout + (size_t)t * P, fw);
        memset(dwg, 0, nw * sizeof(float));
        const int pairs = (OCg + 1) / 2;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if ((size_t)N * p->OC * P * Cg * KK > SP_OMP_MIN)
#endif
        for (int t = 0; t < G * pairs; t++) {
            const int gi = t / pairs, o0 = gi * OCg + t % pairs * 2;
            const int nb = gi * OCg + OCg - o0 < 2 ? 1 : 2;
            direct_conv_dw(dwg + (size_t)o0 * Cg * KK, (size_t)Cg * KK, dyx + (size_t)o0 * fw->QL,
                           (size_t)p->OC * fw->QL, xp + (size_t)gi * Cg * fw->PL, (size_t)p->C * fw->PL, N, Cg,
                           nb, fw);
        }
        for (int o = 0; o < p->OC; o++) {
            const int32_t *ch = group_chans(s, p->OC, o / OCg);
            for (int j = 0; j < Cg; j++) {
                float *d = dw + ((size_t)o * p->C + ch[j]) * KK;
                const float *g = dwg + ((size_t)o * Cg + j) * KK;
                for (int k = 0; k < KK; k++) d[k] += g[k];
            }
        }
    }
}

/* ---------------------------------------------------------------- weight pattern (conv) */

/* col [K, P] of image n (K = C*KH*KW), zero outside the input */
static void im2col_image(float *col, const float *x, const Conv2dParams *p) {
    const int K = p->C * p->KH * p->KW, P = p->OH * p->OW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)K * P > SP_OMP_MIN)
#endif
    for (int k = 0; k < K; k++) {
        const int c = k / (p->KH * p->KW), kh = k / p->KW % p->KH, kw = k % p->KW;
        float *d = col + (size_t)k * P;
        for (int oh = 0; oh < p->OH; oh++)
            for (int ow = 0; ow < p->OW; ow++) {
                const int ih = oh * p->sh - p->ph + kh, iw = ow * p->sw - p->pw + kw;
                d[oh * p->OW + ow] = ih >= 0 && ih < p->H && iw >= 0 && iw < p->W
                                         ? x[((size_t)c * p->H + ih) * p->W + iw] : 0.0f;
            }
    }
}

/* x (one image) += the adjoint of im2col_image */
static void col2im_image(float *x, const float *col, const Conv2dParams *p) {
    const int P = p->OH * p->OW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)p->C * p->KH * p->KW * P > SP_OMP_MIN)
#endif
    for (int c = 0; c < p->C; c++) /* channel c owns its plane */
        for (int kh = 0; kh < p->KH; kh++)
            for (int kw = 0; kw < p->KW; kw++) {
                const float *s = col + ((size_t)(c * p->KH + kh) * p->KW + kw) * P;
                for (int oh = 0; oh < p->OH; oh++) {
                    const int ih = oh * p->sh - p->ph + kh;
                    if (ih < 0 || ih >= p->H) continue;
                    for (int ow = 0; ow < p->OW; ow++) {
                        const int iw = ow * p->sw - p->pw + kw;
                        if (iw >= 0 && iw < p->W) x[((size_t)c * p->H + ih) * p->W + iw] += s[oh * p->OW + ow];
                    }
                }
            }
}

#define SP_COLS 256 /* column block of the unstructured kernels */

/* ---------------------------------------------------------------- when they pay
 * Measured on the dev box (AVX-512, 2 threads, batch 128, the 3x3 convs of a width-0.25
 * VGG16-BN head at 32x32, density 1/4; bench/bench_sparse): the direct kernels run the
 * channel-sparse layers 3.7-13x faster than conv2d on the masked weights in inference and
 * 2.1-4.8x in training (6.6x / 3.1x over the six layers), and 2.5-3.0x faster than the same
 * direct kernel on the dense layer. Without them (strided convs, the portable build) the
 * grouped GEMMs of small layers (M = OC/G rows, K = 9 C/G) run too far below the dense
 * GEMM's speed: C=16 0.6x, C=32 1.0x, C=64 1.3x, C=128 1.7x. The unstructured conv kernel
 * (axpy per kept weight) and the bi-regular linear kernel lose to the dense GEMM at every
 * density tried (0.1-0.5) except linear layers on a single image (batch 1: 1.1x at 1/4,
 * 1.9x at 1/10), where the dense product is a memory-bound pass over the whole matrix. */

int conv2d_sparse_pays(const Conv2dParams *p, const SparseIndex *s) {
    DirectGeom fw, bw;
    if (s->kind != SPARSE_IDX_CHANNEL) return 0;
    if (direct_simd() && direct_ok(p, &fw, &bw)) return 1;
    return p->C / s->groups >= 16;
}

int linear_sparse_pays(const LinearParams *p, const SparseIndex *s) {
    return p->N < 4 && (double)s->per_row <= 0.3 * p->I;
}

/* ---------------------------------------------------------------- conv entry points */

size_t conv2d_sparse_workspace(const Conv2dParams *p, const SparseIndex *s) {
    DirectGeom fw, bw;
    if (s->kind == SPARSE_IDX_CHANNEL && direct_ok(p, &fw, &bw)) return direct_workspace(p, s, &fw, &bw);
    if (s->kind == SPARSE_IDX_CHANNEL) {
        const Conv2dParams q = grouped(p, s->groups);
        const size_t x = (size_t)p->N * p->C * p->H * p->W;
        const size_t wg = (size_t)p->OC * s->per_row * p->KH * p->KW;
        return 2 * x + 2 * wg + conv2d_workspace(&q) + 16;
    }
    return (size_t)p->C * p->KH * p->KW * p->OH * p->OW * 2;
}

void conv2d_sparse_forward(float *out, const float *in, const float *w, const float *b,
                           const ConvEpilogue *ep, const Conv2dParams *p, const SparseIndex *s,
                           float *ws) {
    DirectGeom fw, bw;
    if (s->kind == SPARSE_IDX_CHANNEL && direct_ok(p, &fw, &bw)) {
        direct_forward(out, in, w, b, ep, p, s, &fw, &bw, ws);
        return;
    }
    if (s->kind == SPARSE_IDX_CHANNEL) {
        const Conv2dParams q = grouped(p, s->groups);
        const size_t nx = (size_t)p->N * p->C * p->H * p->W, nw = (size_t)p->OC * s->per_row * p->KH * p->KW;
        float *xg = ws, *wg = ws + 2 * nx, *cws = wg + 2 * nw;
        gather_channels(xg, in, p, s, NULL);
        compact_weights(wg, w, p, s);
        if (ep) conv2d_forward_fused(out, xg, wg, b, ep, &q, cws);
        else conv2d_forward(out, xg, wg, b, &q, cws);
        return;
    }
    /* unstructured: out[o, P] = sum over kept (o, k) of w * col[k, :] */
    const int K = p->C * p->KH * p->KW, P = p->OH * p->OW, R = s->per_row;
    for (int n = 0; n < p->N; n++) {
        float *col = ws, *y = out + (size_t)n * p->OC * P;
        im2col_image(col, in + (size_t)n * p->C * p->H * p->W, p);
        const int nblk = (P + SP_COLS - 1) / SP_COLS;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)p->OC * R * P > SP_OMP_MIN)
#endif
        for (int t = 0; t < p->OC * nblk; t++) {
            const int o = t / nblk, j0 = t % nblk * SP_COLS, j1 = j0 + SP_COLS < P ? j0 + SP_COLS : P;
            float *yo = y + (size_t)o * P;
            const float bv = b ? b[o] : 0.0f;
            for (int j = j0; j < j1; j++) yo[j] = 0.0f;
            const int32_t *idx = s->index + (size_t)o * R;
            for (int r = 0; r < R; r++) {
                const float wv = w[(size_t)o * K + idx[r]];
                const float *c = col + (size_t)idx[r] * P;
                for (int j = j0; j < j1; j++) yo[j] += wv * c[j];
            }
            for (int j = j0; j < j1; j++) {
                float v = yo[j] + bv;
                if (ep && ep->alpha) v = fmaf(v, ep->alpha[o], ep->shift[o]);
                if (ep && ep->relu) v = v < 0.0f ? 0.0f : v;
                yo[j] = v;
            }
        }
    }
}

void conv2d_sparse_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const Conv2dParams *p, const SparseIndex *s, float *ws) {
    DirectGeom fw, bw;
    if (s->kind == SPARSE_IDX_CHANNEL && direct_ok(p, &fw, &bw)) {
        direct_backward(din, dw, db, dout, in, w, p, s, &fw, &bw, ws);
        return;
    }
    if (s->kind == SPARSE_IDX_CHANNEL) {
        const Conv2dParams q = grouped(p, s->groups);
        const size_t nx = (size_t)p->N * p->C * p->H * p->W, kk = (size_t)p->KH * p->KW;
        const size_t nw = (size_t)p->OC * s->per_row * kk;
        float *xg = ws, *dxg = ws + nx, *wg = ws + 2 * nx, *dwg = wg + nw, *cws = wg + 2 * nw;
        gather_channels(xg, in, p, s, NULL);
        compact_weights(wg, w, p, s);
        if (din) memset(dxg, 0, nx * sizeof(float));
        if (dw) memset(dwg, 0, nw * sizeof(float));
        conv2d_backward(din ? dxg : NULL, dw ? dwg : NULL, db, dout, xg, wg, &q, cws);
        const int Cg = s->per_row, OCg = p->OC / s->groups;
        const size_t plane = (size_t)p->H * p->W;
        if (din) { /* each (image, channel) plane of din receives exactly one gathered plane */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nx > SP_OMP_MIN)
#endif
            for (int t = 0; t < p->N * p->C; t++) {
                const int n = t / p->C, gj = t % p->C;
                float *d = din + ((size_t)n * p->C + group_chans(s, p->OC, gj / Cg)[gj % Cg]) * plane;
                const float *g = dxg + (size_t)t * plane;
                for (size_t i = 0; i < plane; i++) d[i] += g[i];
            }
        }
        if (dw)
            for (int o = 0; o < p->OC; o++) {
                const int32_t *ch = group_chans(s, p->OC, o / OCg);
                for (int j = 0; j < Cg; j++) {
                    float *d = dw + ((size_t)o * p->C + ch[j]) * kk;
                    const float *g = dwg + ((size_t)o * Cg + j) * kk;
                    for (size_t i = 0; i < kk; i++) d[i] += g[i];
                }
            }
        return;
    }
    const int K = p->C * p->KH * p->KW, P = p->OH * p->OW, R = s->per_row;
    if (db) conv_bias_grad(db, dout, p->N, p->OC, (size_t)P);
    for (int n = 0; n < p->N; n++) {
        float *col = ws, *dcol = ws + (size_t)K * P;
        const float *dy = dout + (size_t)n * p->OC * P;
        im2col_image(col, in + (size_t)n * p->C * p->H * p->W, p);
        if (dw) { /* kept weights only: a dot of dout's row with the col row they select */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)p->OC * R * P > SP_OMP_MIN)
#endif
            for (int o = 0; o < p->OC; o++) {
                const int32_t *idx = s->index + (size_t)o * R;
                const float *g = dy + (size_t)o * P;
                for (int r = 0; r < R; r++) {
                    const float *c = col + (size_t)idx[r] * P;
                    double acc = 0.0;
                    for (int j = 0; j < P; j++) acc += (double)g[j] * c[j];
                    dw[(size_t)o * K + idx[r]] += (float)acc;
                }
            }
        }
        if (din) { /* dcol[k, :] = sum over rows keeping k of w * dout[o, :], by column block */
            memset(dcol, 0, (size_t)K * P * sizeof(float));
            const int nblk = (P + SP_COLS - 1) / SP_COLS;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)p->OC * R * P > SP_OMP_MIN)
#endif
            for (int bI = 0; bI < nblk; bI++) {
                const int j0 = bI * SP_COLS, j1 = j0 + SP_COLS < P ? j0 + SP_COLS : P;
                for (int o = 0; o < p->OC; o++) {
                    const int32_t *idx = s->index + (size_t)o * R;
                    const float *g = dy + (size_t)o * P;
                    for (int r = 0; r < R; r++) {
                        const float wv = w[(size_t)o * K + idx[r]];
                        float *d = dcol + (size_t)idx[r] * P;
                        for (int j = j0; j < j1; j++) d[j] += wv * g[j];
                    }
                }
            }
            col2im_image(din + (size_t)n * p->C * p->H * p->W, dcol, p);
        }
    }
}

/* ---------------------------------------------------------------- linear (bi-regular)
 * Batched (N >= SP_MIN_BATCH): the batch is transposed (xt [I, N]) and the pattern walked
 * by input column (a CSC copy of it, built per call in O(nnz)): each input row xt[c, :] is
 * read once, and every kept weight of that column is one multiply-add of it into a row of
 * yt [O, N] (which stays in cache), vectorised along the batch. Threads take batch column
 * ranges (forward, din) or input columns (dw), so every element is summed by one thread in
 * a fixed order. Small batches use the row form: each output a gathered dot product.
 * Scratch: linear_sparse_workspace floats. */

#define SP_MIN_BATCH 16

/* the pattern by column, with the kept weights gathered in that order */
typedef struct {
    int32_t *start;   /* [I + 1]: column c's entries are [start[c], start[c+1]) */
    int32_t *row;     /* [nnz]: their output rows, ascending within a column */
    float *val;       /* [nnz]: their weights */
    int32_t *pos;     /* [nnz]: entry (o, r) of the row form is entry pos[o*R + r] here */
} ByColumn;

/* leading dimension of the transposed [*, N] matrices: a multiple of 16 floats that is not
 * a multiple of 256 bytes' powers, so rows do not pile onto the same cache sets (with
 * ld = N = 128 the same loop ran 15x slower) */
static size_t batch_ld(int N) { return ((size_t)N + 15) / 16 * 16 + 16; }

size_t linear_sparse_workspace(const LinearParams *p, const SparseIndex *s) {
    const size_t nnz = (size_t)p->O * s->per_row, ld = batch_ld(p->N);
    return ld * ((size_t)2 * p->I + p->O) + 2 * (size_t)p->I + 1 + 3 * nnz + 16;
}

/* dst [cols, ld] = src [rows, cols]^T (rows <= ld) */
static void transpose(float *restrict dst, size_t ld, const float *restrict src, int rows, int cols) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)rows * cols > SP_OMP_MIN)
#endif
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows; r++) dst[(size_t)c * ld + r] = src[(size_t)r * cols + c];
}

/* dst [rows, cols] = src [cols, ld]^T */
static void transpose_back(float *restrict dst, const float *restrict src, size_t ld, int rows, int cols) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)rows * cols > SP_OMP_MIN)
#endif
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)r * cols + c] = src[(size_t)c * ld + r];
}

/* carve the column form out of ws (after `used` floats) and fill it; w read row by row */
static ByColumn by_column(float *ws, const float *w, const SparseIndex *s, int O, int I) {
    const int R = s->per_row;
    const size_t nnz = (size_t)O * R;
    ByColumn b;
    b.start = (int32_t *)ws;
    b.row = b.start + I + 1;
    b.pos = b.row + nnz;
    b.val = (float *)(b.pos + nnz);
    int32_t *cursor = (int32_t *)(b.val + nnz);
    memset(b.start, 0, ((size_t)I + 1) * sizeof *b.start);
    for (size_t k = 0; k < nnz; k++) b.start[s->index[k] + 1]++;
    for (int c = 0; c < I; c++) b.start[c + 1] += b.start[c];
    memcpy(cursor, b.start, (size_t)I * sizeof *cursor);
    for (int o = 0; o < O; o++)
        for (int r = 0; r < R; r++) {
            const int c = s->index[(size_t)o * R + r], k = cursor[c]++;
            b.row[k] = o;
            b.val[k] = w[(size_t)o * I + c];
            b.pos[(size_t)o * R + r] = k;
        }
    return b;
}

/* batch blocks of 16 columns (one vector): a block's rows of yt (O x 64 bytes) stay in L1
 * while the pattern is walked; with 64-column blocks the same walk ran from L2 and took
 * 4.5x longer (O = 512) */
static int batch_blocks(int N, int *width) {
    *width = 16;
    return (N + 15) / 16;
}

/* y[n0:n1] += v * x[n0:n1] */
static inline void axpy(float *restrict y, const float *restrict x, float v, int n0, int n1) {
    for (int n = n0; n < n1; n++) y[n] += v * x[n];
}

void linear_sparse_forward(float *out, const float *in, const float *w, const float *b,
                           const LinearParams *p, const SparseIndex *s, float *ws) {
    const int R = s->per_row, N = p->N, I = p->I, O = p->O;
    if (N < SP_MIN_BATCH) {
        for (int n = 0; n < N; n++) {
            const float *x = in + (size_t)n * I;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)O * R > SP_OMP_MIN)
#endif
            for (int o = 0; o < O; o++) {
                const int32_t *idx = s->index + (size_t)o * R;
                const float *wo = w + (size_t)o * I;
                float acc = 0.0f;
                for (int r = 0; r < R; r++) acc += wo[idx[r]] * x[idx[r]];
                out[(size_t)n * O + o] = acc + (b ? b[o] : 0.0f);
            }
        }
        return;
    }
    const size_t ld = batch_ld(N);
    float *xt = ws, *yt = ws + (size_t)I * ld;
    const ByColumn bc = by_column(yt + (size_t)O * ld + (size_t)I * ld, w, s, O, I);
    transpose(xt, ld, in, N, I);
    int bw;
    const int nblk = batch_blocks(N, &bw);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * O * R > SP_OMP_MIN)
#endif
    for (int bI = 0; bI < nblk; bI++) {
        const int n0 = bI * bw, n1 = n0 + bw < N ? n0 + bw : N;
        for (int o = 0; o < O; o++) {
            const float bv = b ? b[o] : 0.0f;
            for (int n = n0; n < n1; n++) yt[(size_t)o * ld + n] = bv;
        }
        for (int c = 0; c < I; c++)
            for (int k = bc.start[c]; k < bc.start[c + 1]; k++)
                axpy(yt + (size_t)bc.row[k] * ld, xt + (size_t)c * ld, bc.val[k], n0, n1);
    }
    transpose_back(out, yt, ld, N, O);
}

/* din [N, I] += (sum over each column's entries of w * dout rows)^T, via dxt [I, ld] */
static void din_by_column(float *din, float *dxt, const float *dyt, size_t ld, const ByColumn *bc,
                          int N, int I) {
    int bw;
    const int nblk = batch_blocks(N, &bw);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * I > SP_OMP_MIN)
#endif
    for (int bI = 0; bI < nblk; bI++) {
        const int n0 = bI * bw, n1 = n0 + bw < N ? n0 + bw : N;
        for (int c = 0; c < I; c++) {
            float *d = dxt + (size_t)c * ld;
            for (int n = n0; n < n1; n++) d[n] = 0.0f;
            for (int k = bc->start[c]; k < bc->start[c + 1]; k++)
                axpy(d, dyt + (size_t)bc->row[k] * ld, bc->val[k], n0, n1);
        }
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * I > SP_OMP_MIN)
#endif
    for (int n = 0; n < N; n++)
        for (int i = 0; i < I; i++) din[(size_t)n * I + i] += dxt[(size_t)i * ld + n];
}

void linear_sparse_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const LinearParams *p, const SparseIndex *s, float *ws) {
    const int R = s->per_row, N = p->N, I = p->I, O = p->O;
    if (db)
        for (int o = 0; o < O; o++) {
            double acc = 0.0;
            for (int n = 0; n < N; n++) acc += dout[(size_t)n * O + o];
            db[o] += (float)acc;
        }
    if (!dw && !din) return;
    const size_t ld = batch_ld(N);
    float *xt = ws, *dxt = ws + (size_t)I * ld, *dyt = dxt + (size_t)I * ld;
    ByColumn bc = by_column(dyt + (size_t)O * ld, w, s, O, I);
    transpose(dyt, ld, dout, N, O);
    if (din) din_by_column(din, dxt, dyt, ld, &bc, N, I); /* first: it reads the weights in bc.val */
    if (!dw) return;
    /* by input column: xt[c, :] read once, one dot per entry into bc.val's slot (the
     * weights are no longer needed), then added to dw in row order */
    transpose(xt, ld, in, N, I);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * O * R > SP_OMP_MIN)
#endif
    for (int c = 0; c < I; c++) {
        const float *x = xt + (size_t)c * ld;
        for (int k = bc.start[c]; k < bc.start[c + 1]; k++) {
            const float *gy = dyt + (size_t)bc.row[k] * ld;
            float acc = 0.0f;
            for (int n = 0; n < N; n++) acc += gy[n] * x[n];
            bc.val[k] = acc;
        }
    }
    for (int o = 0; o < O; o++)
        for (int r = 0; r < R; r++)
            dw[(size_t)o * I + s->index[(size_t)o * R + r]] += bc.val[bc.pos[(size_t)o * R + r]];
}
