/* conv_transpose2d.c - fast transposed convolution on the GEMM kernels of conv2d.c.
 * Semantics and index formulas: conv_transpose2d_ref.c.
 *
 * ConvTranspose2d(C -> OC) with weight [C, OC/groups, KH, KW] is the data-gradient of the
 * "equivalent" Conv2d q that maps OC channels of OH x OW to C channels of H x W with the same
 * weight tensor (q's weight layout [q.OC = C, q.C/groups = OC/groups, KH, KW] is identical),
 * the same stride/padding/groups; output_padding only enlarges OH/OW by rows that no kernel
 * tap of q's output reaches (q.OH = floor((OH + 2ph - KH)/sh) + 1 = H because oph < sh).
 * So, per group, with col [OCg*KH*KW, H*W] in q's im2col layout:
 *   forward   col = W_g^T * in_g;  out = b + col2im(col)         = q's backward-data
 *   backward  din_g += W_g * im2col(dout)                         = q's forward (accumulating)
 *             dW_g  += in_g * im2col(dout)^T                      = q's backward-weight
 *             db[oc] += sum over n,p of dout (double)
 * The chunking of small planes and the workspace are q's (conv2d.c), on P = H*W columns. */
#include <string.h>
#include "kernels/ops.h"

/* internal to kernels/, defined in conv2d.c (no sei_kernels_ref switch) */
void conv2d_forward_gemm(float *out, const float *in, const float *w, const float *b,
                         const Conv2dParams *p, float *ws, int accumulate);
void conv2d_backward_gemm(float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w, const Conv2dParams *p, float *ws);
void conv_bias_grad(float *db, const float *dout, int N, int OC, size_t P);

static Conv2dParams equivalent_conv(const ConvT2dParams *p) {
    return (Conv2dParams){.N = p->N, .C = p->OC, .H = p->OH, .W = p->OW, .OC = p->C,
                          .KH = p->KH, .KW = p->KW, .sh = p->sh, .sw = p->sw, .ph = p->ph,
                          .pw = p->pw, .groups = p->groups, .OH = p->H, .OW = p->W};
}

size_t conv_transpose2d_workspace(const ConvT2dParams *p) {
    const Conv2dParams q = equivalent_conv(p);
    return conv2d_workspace(&q);
}

void conv_transpose2d_forward(float *out, const float *in, const float *w, const float *b,
                              const ConvT2dParams *p, float *ws) {
    if (sei_kernels_ref) { conv_transpose2d_forward_ref(out, in, w, b, p); return; }
    const Conv2dParams q = equivalent_conv(p);
    const size_t P = (size_t)p->OH * p->OW, planes = (size_t)p->N * p->OC;
    /* start from the bias (or 0); q's backward-data then accumulates into out */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * P > 16384)
#endif
    for (size_t t = 0; t < planes; t++) {
        float *o = out + t * P;
        if (b) {
            const float bv = b[t % p->OC];
            for (size_t i = 0; i < P; i++) o[i] = bv;
        } else {
            memset(o, 0, sizeof(float) * P);
        }
    }
    conv2d_backward_gemm(out, NULL, NULL, in, NULL, w, &q, ws);
}

void conv_transpose2d_backward(float *din, float *dw, float *db, const float *dout,
                               const float *in, const float *w, const ConvT2dParams *p,
                               float *ws) {
    if (sei_kernels_ref) { conv_transpose2d_backward_ref(din, dw, db, dout, in, w, p); return; }
    const Conv2dParams q = equivalent_conv(p);
    if (db) conv_bias_grad(db, dout, p->N, p->OC, (size_t)p->OH * p->OW);
    /* q's dout is our input, q's input our dout */
    if (dw) conv2d_backward_gemm(NULL, dw, NULL, in, dout, w, &q, ws);
    if (din) conv2d_forward_gemm(din, dout, w, NULL, &q, ws, 1);
}
