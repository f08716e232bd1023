/* pool.c - 2-D max, average and adaptive average pooling (see kernels/ops.h).
 *
 * Layout: in [N,C,H,W] -> out [N,C,OH,OW], float32 NCHW contiguous; each (n,c) plane is
 * independent, so threads split the N*C planes statically (deterministic), and only when
 * the tensors are large enough to pay for a thread team.
 * The loops mirror PyTorch's CPU kernels (aten/src/ATen/native/cpu/MaxPoolKernel.cpp,
 * AvgPoolKernel.cpp, AdaptiveAvgPoolKernel.cpp) so results agree to the last bit (checked
 * against torch 1.13 CPU, forward and backward, except the 1x1 case noted below):
 *  - max: window clipped to the input; the first strictly larger value wins (ties keep the
 *    earliest in scan order) and a NaN always wins (so NaN propagates); argmax is h*W+w.
 *  - avg: float sum in scan order divided by the divisor: the window clipped to the padded
 *    input [-p, H+p) when count_include_pad (not clipped to the ceil-mode overhang), else
 *    the number of real elements.
 *  - adaptive avg: cell i spans [floor(i*H/OH), ceil((i+1)*H/OH)); float sum / kh / kw;
 *    a 1x1 output is PyTorch's mean over H*W (see global_avgpool_forward). */
#include <math.h>
#include "kernels/ops.h"

/* below this many elements (in + out) a thread team costs more than it saves */
#define SEI_PAR_MIN 32768L

/* floor division for a possibly negative numerator, d > 0 */
static int div_floor(int a, int d) { return a >= 0 ? a / d : -((-a + d - 1) / d); }

/* PyTorch pooling_output_shape (dilation 1) */
static int pool_out_size(int in, int k, int pad, int stride, int ceil_mode) {
    int out = div_floor(in + 2 * pad - (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
    /* ceil mode: the last window must start inside the input or the left padding */
    if (ceil_mode && (out - 1) * stride >= in + pad) out--;
    return out;
}

int pool2d_params(Pool2dParams *p, int N, int C, int H, int W, int k, int stride, int pad,
                  int ceil_mode, int count_include_pad) {
    /* same checks as PyTorch's pool2d_shape_check: positive sizes, pad <= k/2, output >= 1 */
    if (N < 0 || C < 1 || H < 1 || W < 1 || k < 1 || stride < 1 || pad < 0 || pad > k / 2)
        return 0;
    int OH = pool_out_size(H, k, pad, stride, ceil_mode);
    int OW = pool_out_size(W, k, pad, stride, ceil_mode);
    if (OH < 1 || OW < 1) return 0;
    *p = (Pool2dParams){.N = N, .C = C, .H = H, .W = W, .KH = k, .KW = k, .sh = stride,
                        .sw = stride, .ph = pad, .pw = pad, .ceil_mode = ceil_mode != 0,
                        .count_include_pad = count_include_pad != 0, .OH = OH, .OW = OW};
    return 1;
}

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* ---------------------------------------------------------------- max pool */

/* one output of a max pool: window rows [h0, h1), columns clipped to the input */
static void max_window(float *y, int32_t *am, const float *x, int W, int h0, int h1, int w0,
                       int KW) {
    int w1 = imin(w0 + KW, W);
    w0 = imax(w0, 0);
    /* -inf start: the implicit padding never wins; an all -inf window reports its first
     * real element, as PyTorch does */
    int best = h0 * W + w0;
    float m = -INFINITY;
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++) {
            float v = x[h * W + w];
            if (v > m || v != v) { m = v; best = h * W + w; }
        }
    *y = m;
    *am = best;
}

#define POOL_ROW 64 /* interior outputs of a row done together */

void maxpool2d_forward(float *out, int32_t *argmax, const float *in, const Pool2dParams *p) {
    const int H = p->H, W = p->W, OH = p->OH, OW = p->OW, KW = p->KW, sw = p->sw, pw = p->pw;
    const long planes = (long)p->N * p->C;
    /* interior columns [ilo, ihi): the whole window row lies inside the input */
    int ilo = (pw + sw - 1) / sw, ihi = W - KW + pw < 0 ? 0 : (W - KW + pw) / sw + 1;
    ihi = imin(ihi, OW);
    if (ilo > ihi) ilo = ihi;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * (H * W + OH * OW) >= SEI_PAR_MIN)
#endif
    for (long pl = 0; pl < planes; pl++) {
        const float *x = in + pl * H * W;
        float *y = out + pl * OH * OW;
        int32_t *am = argmax + pl * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            int h0 = oh * p->sh - p->ph, h1 = imin(h0 + p->KH, H);
            h0 = imax(h0, 0);
            float *yr = y + oh * OW;
            int32_t *ar = am + oh * OW;
            for (int ow = 0; ow < ilo; ow++) max_window(yr + ow, ar + ow, x, W, h0, h1, ow * sw - pw, KW);
            for (int ow = ihi; ow < OW; ow++) max_window(yr + ow, ar + ow, x, W, h0, h1, ow * sw - pw, KW);
            /* interior: the same scan order per output (rows, then columns), with the
             * outputs of a row side by side so the compare-and-select vectorises instead
             * of branching on the data */
            for (int o0 = ilo; o0 < ihi; o0 += POOL_ROW) {
                const int n = imin(POOL_ROW, ihi - o0);
                float m[POOL_ROW];
                int32_t best[POOL_ROW];
                for (int i = 0; i < n; i++) {
                    m[i] = -INFINITY;
                    best[i] = h0 * W + (o0 + i) * sw - pw;
                }
                for (int h = h0; h < h1; h++)
                    for (int kw = 0; kw < KW; kw++) {
                        const int base = h * W + o0 * sw - pw + kw;
                        for (int i = 0; i < n; i++) {
                            const float v = x[base + i * sw];
                            const int take = (v > m[i]) | (v != v);
                            m[i] = take ? v : m[i];
                            best[i] = take ? base + i * sw : best[i];
                        }
                    }
                for (int i = 0; i < n; i++) {
                    yr[o0 + i] = m[i];
                    ar[o0 + i] = best[i];
                }
            }
        }
    }
}

void maxpool2d_backward(float *din, const float *dout, const int32_t *argmax,
                        const Pool2dParams *p) {
    const int HW = p->H * p->W, OHW = p->OH * p->OW;
    const long planes = (long)p->N * p->C;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * (HW + OHW) >= SEI_PAR_MIN)
#endif
    for (long pl = 0; pl < planes; pl++) {
        float *dx = din + pl * HW;
        const float *dy = dout + pl * OHW;
        const int32_t *am = argmax + pl * OHW;
        for (int i = 0; i < OHW; i++) dx[am[i]] += dy[i];
    }
}

/* ---------------------------------------------------------------- average pool */

/* the window of output (oh,ow) clipped to the input, and its divisor */
typedef struct { int h0, h1, w0, w1, div; } AvgWin;

static AvgWin avg_window(const Pool2dParams *p, int oh, int ow) {
    AvgWin a;
    a.h0 = oh * p->sh - p->ph;
    a.w0 = ow * p->sw - p->pw;
    a.h1 = imin(a.h0 + p->KH, p->H + p->ph);
    a.w1 = imin(a.w0 + p->KW, p->W + p->pw);
    int padded = (a.h1 - a.h0) * (a.w1 - a.w0);
    a.h0 = imax(a.h0, 0);
    a.w0 = imax(a.w0, 0);
    a.h1 = imin(a.h1, p->H);
    a.w1 = imin(a.w1, p->W);
    a.div = p->count_include_pad ? padded : (a.h1 - a.h0) * (a.w1 - a.w0);
    return a;
}

void avgpool2d_forward(float *out, const float *in, const Pool2dParams *p) {
    const int H = p->H, W = p->W, OH = p->OH, OW = p->OW;
    const long planes = (long)p->N * p->C;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * (H * W + OH * OW) >= SEI_PAR_MIN)
#endif
    for (long pl = 0; pl < planes; pl++) {
        const float *x = in + pl * H * W;
        float *y = out + pl * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                AvgWin a = avg_window(p, oh, ow);
                float s = 0.0f;
                if (a.h0 < a.h1 && a.w0 < a.w1) {
                    for (int h = a.h0; h < a.h1; h++)
                        for (int w = a.w0; w < a.w1; w++) s += x[h * W + w];
                    s /= (float)a.div;
                }
                y[oh * OW + ow] = s;
            }
    }
}

void avgpool2d_backward(float *din, const float *dout, const Pool2dParams *p) {
    const int H = p->H, W = p->W, OH = p->OH, OW = p->OW;
    const long planes = (long)p->N * p->C;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * (H * W + OH * OW) >= SEI_PAR_MIN)
#endif
    for (long pl = 0; pl < planes; pl++) {
        float *dx = din + pl * H * W;
        const float *dy = dout + pl * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                AvgWin a = avg_window(p, oh, ow);
                if (a.h0 >= a.h1 || a.w0 >= a.w1) continue;
                float g = dy[oh * OW + ow] / (float)a.div;
                for (int h = a.h0; h < a.h1; h++)
                    for (int w = a.w0; w < a.w1; w++) dx[h * W + w] += g;
            }
    }
}

/* ---------------------------------------------------------------- adaptive average pool */

static int ad_start(int i, int out, int in) { return (int)(((long)i * in) / out); }
static int ad_end(int i, int out, int in) { return (int)(((long)(i + 1) * in + out - 1) / out); }

/* PyTorch computes a 1x1 output as x.mean((-1,-2)): a float sum (vectorised, close to the
 * correctly rounded sum that a double sum gives here) divided once by H*W; its backward is
 * dy / (H*W). Other sizes use the generic cell loops below. */
static void global_avgpool_forward(float *out, const float *in, long planes, int HW) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * HW >= SEI_PAR_MIN)
#endif
    for (long pl = 0; pl < planes; pl++) {
        const float *x = in + pl * HW;
        double s = 0;
        for (int i = 0; i < HW; i++) s += x[i];
        out[pl] = (float)s / (float)HW;
    }
}

void adaptive_avgpool2d_forward(float *out, const float *in, const AdaptivePoolParams *p) {
    const int H = p->H, W = p->W, OH = p->OH, OW = p->OW;
    const long planes = (long)p->N * p->C;
    if (OH == 1 && OW == 1) { global_avgpool_forward(out, in, planes, H * W); return; }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * (H * W + OH * OW) >= SEI_PAR_MIN)
#endif
    for (long pl = 0; pl < planes; pl++) {
        const float *x = in + pl * H * W;
        float *y = out + pl * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            int h0 = ad_start(oh, OH, H), h1 = ad_end(oh, OH, H);
            for (int ow = 0; ow < OW; ow++) {
                int w0 = ad_start(ow, OW, W), w1 = ad_end(ow, OW, W);
                float s = 0.0f;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) s += x[h * W + w];
                y[oh * OW + ow] = s / (float)(h1 - h0) / (float)(w1 - w0);
            }
        }
    }
}

void adaptive_avgpool2d_backward(float *din, const float *dout, const AdaptivePoolParams *p) {
    const int H = p->H, W = p->W, OH = p->OH, OW = p->OW;
    const long planes = (long)p->N * p->C;
    if (OH == 1 && OW == 1) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * (H * W + OH * OW) >= SEI_PAR_MIN)
#endif
        for (long pl = 0; pl < planes; pl++) {
            const float g = dout[pl] / (float)(H * W);
            for (int i = 0; i < H * W; i++) din[pl * H * W + i] += g;
        }
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * (H * W + OH * OW) >= SEI_PAR_MIN)
#endif
    for (long pl = 0; pl < planes; pl++) {
        float *dx = din + pl * H * W;
        const float *dy = dout + pl * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            int h0 = ad_start(oh, OH, H), h1 = ad_end(oh, OH, H);
            for (int ow = 0; ow < OW; ow++) {
                int w0 = ad_start(ow, OW, W), w1 = ad_end(ow, OW, W);
                float g = dy[oh * OW + ow] / (float)(h1 - h0) / (float)(w1 - w0);
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) dx[h * W + w] += g;
            }
        }
    }
}
