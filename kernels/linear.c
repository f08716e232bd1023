/* linear.c - fully connected layer on sei_gemm (PyTorch nn.Linear semantics).
 *
 *   forward   out[N,O]  = in[N,I] * w[O,I]^T + b[O]
 *   backward  din[N,I] += dout[N,O] * w[O,I]
 *             dw[O,I]  += dout[N,O]^T * in[N,I]
 *             db[O]    += sum over N of dout[N,O]   (double accumulation)
 * All buffers are caller-owned, row-major, contiguous. sei_kernels_ref != 0 routes both
 * calls to the naive versions in linear_ref.c. */
#include "kernels/gemm.h"
#include "kernels/ops.h"

void linear_forward(float *out, const float *in, const float *w, const float *b,
                    const LinearParams *p) {
    if (sei_kernels_ref) { linear_forward_ref(out, in, w, b, p); return; }
    const int N = p->N, I = p->I, O = p->O;
    if (N <= 0 || O <= 0) return;
    /* PyTorch's addmm computes the product and then adds the bias, as here */
    sei_gemm(0, 1, N, O, I, 1.0f, in, I, w, I, 0.0f, out, O);
    if (b)
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * O;
            for (int j = 0; j < O; j++) o[j] += b[j];
        }
}

void linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const LinearParams *p) {
    if (sei_kernels_ref) { linear_backward_ref(din, dw, db, dout, in, w, p); return; }
    const int N = p->N, I = p->I, O = p->O;
    if (N <= 0 || O <= 0 || I <= 0) return;
    if (din) sei_gemm(0, 0, N, I, O, 1.0f, dout, O, w, I, 1.0f, din, I);
    if (dw) sei_gemm(1, 0, O, I, N, 1.0f, dout, O, in, I, 1.0f, dw, I);
    if (db)
        for (int j = 0; j < O; j++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += dout[(size_t)n * O + j];
            db[j] += (float)s;
        }
}
