/* conv2d_ref.c - naive 2-D convolution (PyTorch nn.Conv2d semantics, dilation 1) and the
 * parameter check shared with the fast path in conv2d.c.
 *
 * Shapes: in [N,C,H,W], w [OC, Cg, KH, KW] with Cg = C/groups, b [OC] or NULL,
 * out [N,OC,OH,OW], OH = floor((H + 2*ph - KH)/sh) + 1 (same for W).
 * Output channel oc belongs to group g = oc / OCg (OCg = OC/groups) and reads input
 * channels c = g*Cg + ic, ic in [0,Cg):
 *
 *   out[n,oc,oh,ow] = b[oc] + sum_{ic,kh,kw} w[oc,ic,kh,kw] * in[n, g*Cg+ic, ih, iw]
 *                     with ih = oh*sh - ph + kh, iw = ow*sw - pw + kw (0 outside the image)
 *   din[n,c,ih,iw] += sum over (oc in c's group, kh, kw) with oh = (ih + ph - kh)/sh exact
 *                     and in range (same for w) of w[oc,ic,kh,kw] * dout[n,oc,oh,ow]
 *   dw[oc,ic,kh,kw] += sum_{n,oh,ow} dout[n,oc,oh,ow] * in[n, g*Cg+ic, ih, iw]
 *   db[oc]          += sum_{n,oh,ow} dout[n,oc,oh,ow]
 *
 * Every output element is a gather accumulated in double and rounded once: slow, obviously
 * correct, and the judge the fast kernels are tested against. */
#include <limits.h>
#include "kernels/ops.h"

int conv2d_params(Conv2dParams *p, int N, int C, int H, int W, int OC, int KH, int KW,
                  int stride, int pad, int groups) {
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0 || OC <= 0 || KH <= 0 || KW <= 0) return 0;
    if (stride <= 0 || pad < 0 || groups <= 0) return 0;
    if (C % groups != 0 || OC % groups != 0) return 0;
    /* padded input must hold the kernel (C's '/' truncates toward zero, so check first) */
    long long eh = (long long)H + 2LL * pad - KH, ew = (long long)W + 2LL * pad - KW;
    if (eh < 0 || ew < 0) return 0;
    long long OH = eh / stride + 1, OW = ew / stride + 1;
    /* GEMM dimensions are int: one group's im2col rows and one plane's columns */
    if (OH * OW > INT_MAX || (long long)(C / groups) * KH * KW > INT_MAX) return 0;
    *p = (Conv2dParams){.N = N, .C = C, .H = H, .W = W, .OC = OC, .KH = KH, .KW = KW,
                        .sh = stride, .sw = stride, .ph = pad, .pw = pad, .groups = groups,
                        .OH = (int)OH, .OW = (int)OW};
    return 1;
}

void conv2d_forward_ref(float *out, const float *in, const float *w, const float *b,
                        const Conv2dParams *p) {
    const int Cg = p->C / p->groups, OCg = p->OC / p->groups;
    for (int n = 0; n < p->N; n++)
        for (int oc = 0; oc < p->OC; oc++) {
            const int g = oc / OCg;
            for (int oh = 0; oh < p->OH; oh++)
                for (int ow = 0; ow < p->OW; ow++) {
                    double s = b ? b[oc] : 0.0;
                    for (int ic = 0; ic < Cg; ic++)
                        for (int kh = 0; kh < p->KH; kh++) {
                            const int ih = oh * p->sh - p->ph + kh;
                            if (ih < 0 || ih >= p->H) continue;
                            for (int kw = 0; kw < p->KW; kw++) {
                                const int iw = ow * p->sw - p->pw + kw;
                                if (iw < 0 || iw >= p->W) continue;
                                const size_t xi =
                                    (((size_t)n * p->C + g * Cg + ic) * p->H + ih) * p->W + iw;
                                const size_t wi = (((size_t)oc * Cg + ic) * p->KH + kh) * p->KW + kw;
                                s += (double)w[wi] * in[xi];
                            }
                        }
                    out[(((size_t)n * p->OC + oc) * p->OH + oh) * p->OW + ow] = (float)s;
                }
        }
}

/* o such that o*stride - pad + k == i, or -1 when there is none inside [0, n_out) */
static int out_index(int i, int k, int stride, int pad, int n_out) {
    const int t = i + pad - k;
    if (t < 0 || t % stride != 0) return -1;
    return t / stride < n_out ? t / stride : -1;
}

void conv2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w, const Conv2dParams *p) {
    const int Cg = p->C / p->groups, OCg = p->OC / p->groups;
    const size_t P = (size_t)p->OH * p->OW;
    if (db)
        for (int oc = 0; oc < p->OC; oc++) {
            double s = 0;
            for (int n = 0; n < p->N; n++)
                for (size_t i = 0; i < P; i++) s += dout[((size_t)n * p->OC + oc) * P + i];
            db[oc] += (float)s;
        }
    if (dw)
        for (int oc = 0; oc < p->OC; oc++) {
            const int g = oc / OCg;
            for (int ic = 0; ic < Cg; ic++)
                for (int kh = 0; kh < p->KH; kh++)
                    for (int kw = 0; kw < p->KW; kw++) {
                        double s = 0;
                        for (int n = 0; n < p->N; n++)
                            for (int oh = 0; oh < p->OH; oh++) {
                                const int ih = oh * p->sh - p->ph + kh;
                                if (ih < 0 || ih >= p->H) continue;
                                for (int ow = 0; ow < p->OW; ow++) {
                                    const int iw = ow * p->sw - p->pw + kw;
                                    if (iw < 0 || iw >= p->W) continue;
                                    const size_t xi =
                                        (((size_t)n * p->C + g * Cg + ic) * p->H + ih) * p->W + iw;
                                    const size_t oi =
                                        (((size_t)n * p->OC + oc) * p->OH + oh) * p->OW + ow;
                                    s += (double)dout[oi] * in[xi];
                                }
                            }
                        dw[(((size_t)oc * Cg + ic) * p->KH + kh) * p->KW + kw] += (float)s;
                    }
        }
    if (din)
        for (int n = 0; n < p->N; n++)
            for (int c = 0; c < p->C; c++) {
                const int g = c / Cg, ic = c % Cg;
                for (int ih = 0; ih < p->H; ih++)
                    for (int iw = 0; iw < p->W; iw++) {
                        double s = 0;
                        for (int oc = g * OCg; oc < (g + 1) * OCg; oc++)
                            for (int kh = 0; kh < p->KH; kh++) {
                                const int oh = out_index(ih, kh, p->sh, p->ph, p->OH);
                                if (oh < 0) continue;
                                for (int kw = 0; kw < p->KW; kw++) {
                                    const int ow = out_index(iw, kw, p->sw, p->pw, p->OW);
                                    if (ow < 0) continue;
                                    const size_t wi =
                                        (((size_t)oc * Cg + ic) * p->KH + kh) * p->KW + kw;
                                    const size_t oi =
                                        (((size_t)n * p->OC + oc) * p->OH + oh) * p->OW + ow;
                                    s += (double)w[wi] * dout[oi];
                                }
                            }
                        din[(((size_t)n * p->C + c) * p->H + ih) * p->W + iw] += (float)s;
                    }
            }
}
