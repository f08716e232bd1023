/* conv_transpose2d_ref.c - naive transposed 2-D convolution (PyTorch nn.ConvTranspose2d,
 * dilation 1) and its parameter check.
 *
 * Shapes: in [N,C,H,W], w [C, OCg, KH, KW] with OCg = OC/groups, b [OC] or NULL,
 * out [N,OC,OH,OW], OH = (H-1)*sh - 2*ph + KH + oph, 0 <= oph < sh (same for W).
 * Input channel c belongs to group g = c / Cg (Cg = C/groups) and feeds output channels
 * oc = g*OCg + j, j in [0,OCg). Each input pixel scatters a weighted kernel:
 *
 *   out[n,oc,oh,ow] = b[oc] + sum over (c in oc's group, kh, kw) with
 *                     ih = (oh + ph - kh)/sh exact and in [0,H) (same for w) of
 *                     w[c,j,kh,kw] * in[n,c,ih,iw]
 *   din[n,c,ih,iw]  += sum_{j,kh,kw} w[c,j,kh,kw] * dout[n, g*OCg+j, ih*sh-ph+kh, iw*sw-pw+kw]
 *                      (terms whose output position falls outside [0,OH)x[0,OW) dropped)
 *   dw[c,j,kh,kw]   += sum_{n,ih,iw} in[n,c,ih,iw] * dout[n, g*OCg+j, ih*sh-ph+kh, iw*sw-pw+kw]
 *   db[oc]          += sum_{n,oh,ow} dout[n,oc,oh,ow]
 *
 * Written as gathers (not as the scatter of conv2d's backward) so that it is an independent
 * check of conv2d_ref through the adjoint identity <conv(x),y> = <x,convT(y)>.
 * Accumulates in double, rounds once per element. */
#include <limits.h>
#include "kernels/ops.h"

int conv_transpose2d_params(ConvT2dParams *p, int N, int C, int H, int W, int OC, int KH,
                            int KW, int stride, int pad, int output_pad, int groups) {
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0 || OC <= 0 || KH <= 0 || KW <= 0) return 0;
    if (stride <= 0 || pad < 0 || groups <= 0) return 0;
    if (output_pad < 0 || output_pad >= stride) return 0; /* PyTorch: smaller than stride */
    if (C % groups != 0 || OC % groups != 0) return 0;
    long long OH = (long long)(H - 1) * stride - 2LL * pad + KH + output_pad;
    long long OW = (long long)(W - 1) * stride - 2LL * pad + KW + output_pad;
    if (OH < 1 || OW < 1 || OH > INT_MAX || OW > INT_MAX) return 0;
    /* the fast path runs GEMMs with (OC/groups)*KH*KW rows and H*W columns (int) */
    if ((long long)H * W > INT_MAX || (long long)(OC / groups) * KH * KW > INT_MAX) return 0;
    *p = (ConvT2dParams){.N = N, .C = C, .H = H, .W = W, .OC = OC, .KH = KH, .KW = KW,
                         .sh = stride, .sw = stride, .ph = pad, .pw = pad,
                         .oph = output_pad, .opw = output_pad, .groups = groups,
                         .OH = (int)OH, .OW = (int)OW};
    return 1;
}

/* input index i with i*stride - pad + k == o, or -1 when there is none inside [0, n_in) */
static int in_index(int o, int k, int stride, int pad, int n_in) {
    const int t = o + pad - k;
    if (t < 0 || t % stride != 0) return -1;
    return t / stride < n_in ? t / stride : -1;
}

void conv_transpose2d_forward_ref(float *out, const float *in, const float *w,
                                  const float *b, const ConvT2dParams *p) {
    const int Cg = p->C / p->groups, OCg = p->OC / p->groups;
    for (int n = 0; n < p->N; n++)
        for (int oc = 0; oc < p->OC; oc++) {
            const int g = oc / OCg, j = oc % OCg;
            for (int oh = 0; oh < p->OH; oh++)
                for (int ow = 0; ow < p->OW; ow++) {
                    double s = b ? b[oc] : 0.0;
                    for (int c = g * Cg; c < (g + 1) * Cg; c++)
                        for (int kh = 0; kh < p->KH; kh++) {
                            const int ih = in_index(oh, kh, p->sh, p->ph, p->H);
                            if (ih < 0) continue;
                            for (int kw = 0; kw < p->KW; kw++) {
                                const int iw = in_index(ow, kw, p->sw, p->pw, p->W);
                                if (iw < 0) continue;
                                const size_t xi = (((size_t)n * p->C + c) * p->H + ih) * p->W + iw;
                                const size_t wi = (((size_t)c * OCg + j) * p->KH + kh) * p->KW + kw;
                                s += (double)w[wi] * in[xi];
                            }
                        }
                    out[(((size_t)n * p->OC + oc) * p->OH + oh) * p->OW + ow] = (float)s;
                }
        }
}

void conv_transpose2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                                   const float *in, const float *w, const ConvT2dParams *p) {
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
        for (int c = 0; c < p->C; c++) {
            const int g = c / Cg;
            for (int j = 0; j < OCg; j++)
                for (int kh = 0; kh < p->KH; kh++)
                    for (int kw = 0; kw < p->KW; kw++) {
                        double s = 0;
                        for (int n = 0; n < p->N; n++)
                            for (int ih = 0; ih < p->H; ih++) {
                                const int oh = ih * p->sh - p->ph + kh;
                                if (oh < 0 || oh >= p->OH) continue;
                                for (int iw = 0; iw < p->W; iw++) {
                                    const int ow = iw * p->sw - p->pw + kw;
                                    if (ow < 0 || ow >= p->OW) continue;
                                    const size_t xi =
                                        (((size_t)n * p->C + c) * p->H + ih) * p->W + iw;
                                    const size_t oi = (((size_t)n * p->OC + g * OCg + j) * p->OH + oh)
                                                          * p->OW + ow;
                                    s += (double)in[xi] * dout[oi];
                                }
                            }
                        dw[(((size_t)c * OCg + j) * p->KH + kh) * p->KW + kw] += (float)s;
                    }
        }
    if (din)
        for (int n = 0; n < p->N; n++)
            for (int c = 0; c < p->C; c++) {
                const int g = c / Cg;
                for (int ih = 0; ih < p->H; ih++)
                    for (int iw = 0; iw < p->W; iw++) {
                        double s = 0;
                        for (int j = 0; j < OCg; j++)
                            for (int kh = 0; kh < p->KH; kh++) {
                                const int oh = ih * p->sh - p->ph + kh;
                                if (oh < 0 || oh >= p->OH) continue;
                                for (int kw = 0; kw < p->KW; kw++) {
                                    const int ow = iw * p->sw - p->pw + kw;
                                    if (ow < 0 || ow >= p->OW) continue;
                                    const size_t wi =
                                        (((size_t)c * OCg + j) * p->KH + kh) * p->KW + kw;
                                    const size_t oi = (((size_t)n * p->OC + g * OCg + j) * p->OH + oh)
                                                          * p->OW + ow;
                                    s += (double)w[wi] * dout[oi];
                                }
                            }
                        din[(((size_t)n * p->C + c) * p->H + ih) * p->W + iw] += (float)s;
                    }
            }
}
