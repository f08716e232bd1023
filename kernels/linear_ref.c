/* linear_ref.c - naive reference for linear.c (same contract, see kernels/ops.h): plain
 * loops with double accumulation, the judge the GEMM-based path is tested against. */
#include "kernels/ops.h"

void linear_forward_ref(float *out, const float *in, const float *w, const float *b,
                        const LinearParams *p) {
    const int N = p->N, I = p->I, O = p->O;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            const float *x = in + (size_t)n * I, *wr = w + (size_t)o * I;
            double s = 0;
            for (int i = 0; i < I; i++) s += (double)x[i] * wr[i];
            /* round the product first, then add the bias in float, as addmm does */
            out[(size_t)n * O + o] = b ? (float)s + b[o] : (float)s;
        }
}

void linear_backward_ref(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w, const LinearParams *p) {
    const int N = p->N, I = p->I, O = p->O;
    if (din)
        for (int n = 0; n < N; n++)
            for (int i = 0; i < I; i++) {
                double s = 0;
                for (int o = 0; o < O; o++)
                    s += (double)dout[(size_t)n * O + o] * w[(size_t)o * I + i];
                din[(size_t)n * I + i] += (float)s;
            }
    if (dw)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < I; i++) {
                double s = 0;
                for (int n = 0; n < N; n++)
                    s += (double)dout[(size_t)n * O + o] * in[(size_t)n * I + i];
                dw[(size_t)o * I + i] += (float)s;
            }
    if (db)
        for (int o = 0; o < O; o++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += dout[(size_t)n * O + o];
            db[o] += (float)s;
        }
}
