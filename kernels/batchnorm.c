/* batchnorm.c - 2-D batch normalisation, forward and backward (see kernels/ops.h).
 *
 * in/out [N,C,HW] (NCHW, HW = H*W); per-channel buffers [C]: save_mean, save_rstd,
 * running_mean, running_var, gamma, beta (gamma/beta NULL = affine=False; in training the
 * running buffers may be NULL too = track_running_stats=False).
 * Arithmetic follows PyTorch's CPU kernels (aten/src/ATen/native/Normalization.cpp and
 * cpu/batch_norm_kernel.cpp) step by step, so forward results match to the last bit
 * (checked against torch 1.13 CPU: output, saved mean/rstd, running stats):
 *  - mean = float(double sum / n); var_sum = double sum of float (x-mean)^2, rounded to float;
 *    rstd = 1/sqrt(var_sum/n + eps) in double, rounded to float;
 *  - out = x*alpha + beta' with alpha = rstd*gamma, beta' = beta - mean*alpha, both with a
 *    fused multiply-add (fmaf): the PyTorch build we compare against (GCC, AVX2+FMA)
 *    contracts them, and fmaf keeps the result independent of our own compiler flags;
 *  - running stats: momentum blend in float for the mean, the unbiased variance
 *    var_sum/(n-1) blended as PyTorch does (mixed float/double);
 *  - eval: rstd = 1/sqrtf(running_var + eps) in float.
 * Backward: sums over the N*HW elements of a channel, and the per-element formula, run in
 * double (PyTorch's vectorised float reductions cannot be mirrored bit for bit anyway):
 *   train: dx = (dy - sum(dy)/n - (x-mean)*sum(dy*(x-mean))*rstd^2/n) * rstd * gamma
 *          (= gamma*rstd/n * (n*dy - sum(dy) - xhat*sum(dy*xhat)))
 *   eval:  dx = dy * rstd * gamma in float, PyTorch's order (bit-identical)
 *   dgamma += sum(dy*(x-mean)) * rstd;  dbeta += sum(dy).
 * Threads split channels (independent work, fixed per-channel order: deterministic).
 * Training needs n = N*HW > 1 (PyTorch raises otherwise; the caller validates). */
#include <math.h>
#include "kernels/ops.h"

/* below this many elements a thread team costs more than it saves */
#define SEI_PAR_MIN 32768L

/* Reductions in double with 8 independent accumulators: a single double accumulator is a
 * chain of dependent adds (4 cycles each) that made batch norm a tenth of a training step;
 * eight chains run at full throughput. The order is fixed, so results do not depend on the
 * thread count, and double keeps them exact to far below float rounding. */
#define LANES 8
static double lanes_total(const double *acc) {
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* sum over the N planes of channel c of x */
static double plane_sum(const float *in, int c, const BatchNormParams *p) {
    double acc[LANES] = {0};
    for (int b = 0; b < p->N; b++) {
        const float *x = in + ((long)b * p->C + c) * p->HW;
        int i = 0;
        for (; i + LANES <= p->HW; i += LANES)
            for (int k = 0; k < LANES; k++) acc[k] += x[i + k];
        for (; i < p->HW; i++) acc[i % LANES] += x[i];
    }
    return lanes_total(acc);
}

/* sum of (x - mean)^2 with the difference and square in float, the sum in double (PyTorch) */
static double plane_sqdev(const float *in, int c, float mean, const BatchNormParams *p) {
    double acc[LANES] = {0};
    for (int b = 0; b < p->N; b++) {
        const float *x = in + ((long)b * p->C + c) * p->HW;
        int i = 0;
        for (; i + LANES <= p->HW; i += LANES)
            for (int k = 0; k < LANES; k++) {
                float d = x[i + k] - mean;
                acc[k] += d * d;
            }
        for (; i < p->HW; i++) {
            float d = x[i] - mean;
            acc[i % LANES] += d * d;
        }
    }
    return lanes_total(acc);
}

/* channel c's statistics in training mode; updates the running stats */
static void bn_stats(float *mean_out, float *rstd_out, float *running_mean,
                     float *running_var, const float *in, int c, const BatchNormParams *p) {
    const long n = (long)p->N * p->HW;
    const float mean = (float)(plane_sum(in, c, p) / (double)n);
    double vsum = plane_sqdev(in, c, mean, p);
    const float var_sum = (float)vsum;
    const float var = var_sum / (float)n;
    *mean_out = mean;
    *rstd_out = (float)(1.0 / sqrt((double)var + (double)p->eps));
    const float m = p->momentum;
    if (running_mean) running_mean[c] = m * mean + (1.0f - m) * running_mean[c];
    if (running_var) {
        double unbiased = n > 1 ? (double)(var_sum / (float)(n - 1)) : (double)var;
        running_var[c] = (float)(m * unbiased + (double)((1.0f - m) * running_var[c]));
    }
}

void batchnorm_forward(float *out, float *save_mean, float *save_rstd, float *running_mean,
                       float *running_var, const float *in, const float *gamma,
                       const float *beta, const BatchNormParams *p) {
    const int C = p->C, HW = p->HW, N = p->N;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)N * C * HW >= SEI_PAR_MIN)
#endif
    for (int c = 0; c < C; c++) {
        float mean, rstd;
        if (p->training) {
            bn_stats(&mean, &rstd, running_mean, running_var, in, c, p);
        } else {
            /* PyTorch's eval forward: invstd in float */
            mean = running_mean[c];
            rstd = 1.0f / sqrtf(running_var[c] + p->eps);
        }
        save_mean[c] = mean;
        save_rstd[c] = rstd;
        const float alpha = rstd * (gamma ? gamma[c] : 1.0f);
        const float shift = fmaf(-mean, alpha, beta ? beta[c] : 0.0f);
        for (int b = 0; b < N; b++) {
            const float *x = in + ((long)b * C + c) * HW;
            float *y = out + ((long)b * C + c) * HW;
            for (int i = 0; i < HW; i++) y[i] = fmaf(x[i], alpha, shift);
        }
    }
}

void batchnorm_eval_affine(float *alpha, float *shift, const float *running_mean,
                           const float *running_var, const float *gamma, const float *beta,
                           int C, float eps) {
    for (int c = 0; c < C; c++) {
        const float rstd = 1.0f / sqrtf(running_var[c] + eps);  /* as batchnorm_forward */
        alpha[c] = rstd * (gamma ? gamma[c] : 1.0f);
        shift[c] = fmaf(-running_mean[c], alpha[c], beta ? beta[c] : 0.0f);
    }
}

void batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *in, const float *gamma, const float *save_mean,
                        const float *save_rstd, const BatchNormParams *p) {
    const int C = p->C, HW = p->HW, N = p->N;
    const long n = (long)N * HW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)N * C * HW >= SEI_PAR_MIN)
#endif
    for (int c = 0; c < C; c++) {
        const float mean = save_mean[c], rstd = save_rstd[c];
        const float w = gamma ? gamma[c] : 1.0f;
        double sacc[LANES] = {0}, dacc[LANES] = {0};
        for (int b = 0; b < N; b++) {
            const float *x = in + ((long)b * C + c) * HW;
            const float *dy = dout + ((long)b * C + c) * HW;
            int i = 0;
            for (; i + LANES <= HW; i += LANES)
                for (int k = 0; k < LANES; k++) {
                    sacc[k] += dy[i + k];
                    dacc[k] += ((double)x[i + k] - mean) * dy[i + k];
                }
            for (; i < HW; i++) {
                sacc[i % LANES] += dy[i];
                dacc[i % LANES] += ((double)x[i] - mean) * dy[i];
            }
        }
        const double sum = lanes_total(sacc), dot = lanes_total(dacc);
        if (din) {
            if (p->training) {
                const double k = dot * rstd * rstd / (double)n;
                const double gmean = sum / (double)n;
                const double scale = (double)rstd * w;
                for (int b = 0; b < N; b++) {
                    const float *x = in + ((long)b * C + c) * HW;
                    const float *dy = dout + ((long)b * C + c) * HW;
                    float *dx = din + ((long)b * C + c) * HW;
                    for (int i = 0; i < HW; i++)
                        dx[i] += (float)((dy[i] - gmean - ((double)x[i] - mean) * k) * scale);
                }
            } else {
                /* (dy * rstd) * gamma in float, in PyTorch's order: bit-identical */
                for (int b = 0; b < N; b++) {
                    const float *dy = dout + ((long)b * C + c) * HW;
                    float *dx = din + ((long)b * C + c) * HW;
                    for (int i = 0; i < HW; i++) dx[i] += dy[i] * rstd * w;
                }
            }
        }
        if (dgamma) dgamma[c] += (float)(dot * rstd);
        if (dbeta) dbeta[c] += (float)sum;
    }
}
