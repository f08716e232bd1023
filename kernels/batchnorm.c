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
 * With batchnorm_sync set (data-parallel training) the training-mode sums are reduced over
 * the replicas between passes (see kernels/ops.h).
 * Training needs n = N*HW > 1 (PyTorch raises otherwise; the caller validates). */
#include <math.h>
#include <stdlib.h>
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

void (*batchnorm_sync)(double *v, int n);

/* channel c's statistics in training mode from the sum of x and of (x-mean)^2 over n
 * elements; updates the running stats */
static void bn_finish(float *rstd_out, float *running_mean, float *running_var, float mean,
                       double vsum, long n, int c, const BatchNormParams *p) {
    const float var_sum = (float)vsum;
    const float var = var_sum / (float)n;
    *rstd_out = (float)(1.0 / sqrt((double)var + (double)p->eps));
    const float m = p->momentum;
    if (running_mean) running_mean[c] = m * mean + (1.0f - m) * running_mean[c];
    if (running_var) {
        double unbiased = n > 1 ? (double)(var_sum / (float)(n - 1)) : (double)var;
        running_var[c] = (float)(m * unbiased + (double)((1.0f - m) * running_var[c]));
    }
}

/* out = x*alpha + shift over channel c */
static void bn_apply(float *out, const float *in, int c, float mean, float rstd, const float *gamma,
                     const float *beta, const BatchNormParams *p) {
    const float alpha = rstd * (gamma ? gamma[c] : 1.0f);
    const float shift = fmaf(-mean, alpha, beta ? beta[c] : 0.0f);
    for (int b = 0; b < p->N; b++) {
        const float *x = in + ((long)b * p->C + c) * p->HW;
        float *y = out + ((long)b * p->C + c) * p->HW;
        for (int i = 0; i < p->HW; i++) y[i] = fmaf(x[i], alpha, shift);
    }
}

/* training forward with statistics summed over all replicas (batchnorm_sync): three passes
 * over the channels, the sums reduced between them */
static void bn_forward_synced(float *out, float *save_mean, float *save_rstd, float *running_mean,
                              float *running_var, const float *in, const float *gamma,
                              const float *beta, const BatchNormParams *p) {
    const int C = p->C;
    double *v = malloc(sizeof(double) * (size_t)(C + 1));
    if (!v) abort(); /* C + 1 doubles; nothing sensible to fall back on mid-step */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)p->N * C * p->HW >= SEI_PAR_MIN)
#endif
    for (int c = 0; c < C; c++) v[c] = plane_sum(in, c, p);
    v[C] = (double)p->N * p->HW;
    batchnorm_sync(v, C + 1);
    const long n = (long)v[C];
    for (int c = 0; c < C; c++) save_mean[c] = (float)(v[c] / (double)n);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)p->N * C * p->HW >= SEI_PAR_MIN)
#endif
    for (int c = 0; c < C; c++) v[c] = plane_sqdev(in, c, save_mean[c], p);
    batchnorm_sync(v, C);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)p->N * C * p->HW >= SEI_PAR_MIN)
#endif
    for (int c = 0; c < C; c++) {
        bn_finish(&save_rstd[c], running_mean, running_var, save_mean[c], v[c], n, c, p);
        bn_apply(out, in, c, save_mean[c], save_rstd[c], gamma, beta, p);
    }
    free(v);
}

void batchnorm_forward(float *out, float *save_mean, float *save_rstd, float *running_mean,
                       float *running_var, const float *in, const float *gamma,
                       const float *beta, const BatchNormParams *p) {
    if (p->training && batchnorm_sync) {
        bn_forward_synced(out, save_mean, save_rstd, running_mean, running_var, in, gamma, beta, p);
        return;
    }
    const int C = p->C, HW = p->HW, N = p->N;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)N * C * HW >= SEI_PAR_MIN)
#endif
    for (int c = 0; c < C; c++) {
        float mean, rstd;
        if (p->training) {
            const long n = (long)N * HW;
            mean = (float)(plane_sum(in, c, p) / (double)n);
            bn_finish(&rstd, running_mean, running_var, mean, plane_sqdev(in, c, mean, p), n, c, p);
        } else {
            /* PyTorch's eval forward: invstd in float */
            mean = running_mean[c];
            rstd = 1.0f / sqrtf(running_var[c] + p->eps);
        }
        save_mean[c] = mean;
        save_rstd[c] = rstd;
        bn_apply(out, in, c, mean, rstd, gamma, beta, p);
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

/* sum(dy) and sum(dy*(x-mean)) over channel c */
static void bn_grad_sums(double *sum, double *dot, const float *dout, const float *in, int c, float mean,
                         const BatchNormParams *p) {
    double sacc[LANES] = {0}, dacc[LANES] = {0};
    for (int b = 0; b < p->N; b++) {
        const float *x = in + ((long)b * p->C + c) * p->HW;
        const float *dy = dout + ((long)b * p->C + c) * p->HW;
        int i = 0;
        for (; i + LANES <= p->HW; i += LANES)
            for (int k = 0; k < LANES; k++) {
                sacc[k] += dy[i + k];
                dacc[k] += ((double)x[i + k] - mean) * dy[i + k];
            }
        for (; i < p->HW; i++) {
            sacc[i % LANES] += dy[i];
            dacc[i % LANES] += ((double)x[i] - mean) * dy[i];
        }
    }
    *sum = lanes_total(sacc), *dot = lanes_total(dacc);
}

/* dx over channel c from the sums over the n elements of the (global) batch */
static void bn_grad_input(float *din, const float *dout, const float *in, int c, float mean, float rstd,
                          float w, double sum, double dot, long n, const BatchNormParams *p) {
    const int C = p->C, HW = p->HW;
    if (p->training) {
        const double k = dot * rstd * rstd / (double)n;
        const double gmean = sum / (double)n;
        const double scale = (double)rstd * w;
        for (int b = 0; b < p->N; b++) {
            const float *x = in + ((long)b * C + c) * HW;
            const float *dy = dout + ((long)b * C + c) * HW;
            float *dx = din + ((long)b * C + c) * HW;
            for (int i = 0; i < HW; i++)
                dx[i] += (float)((dy[i] - gmean - ((double)x[i] - mean) * k) * scale);
        }
    } else {
        /* (dy * rstd) * gamma in float, in PyTorch's order: bit-identical */
        for (int b = 0; b < p->N; b++) {
            const float *dy = dout + ((long)b * C + c) * HW;
            float *dx = din + ((long)b * C + c) * HW;
            for (int i = 0; i < HW; i++) dx[i] += dy[i] * rstd * w;
        }
    }
}

void batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *in, const float *gamma, const float *save_mean,
                        const float *save_rstd, const BatchNormParams *p) {
    const int C = p->C, HW = p->HW, N = p->N;
    const long n = (long)N * HW;
    const int synced = p->training && batchnorm_sync && din;
    double *v = NULL;
    if (synced && !(v = malloc(sizeof(double) * (size_t)(2 * C + 1)))) abort();
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)N * C * HW >= SEI_PAR_MIN)
#endif
    for (int c = 0; c < C; c++) {
        const float mean = save_mean[c], rstd = save_rstd[c];
        double sum, dot;
        bn_grad_sums(&sum, &dot, dout, in, c, mean, p);
        if (dgamma) dgamma[c] += (float)(dot * rstd);
        if (dbeta) dbeta[c] += (float)sum;
        if (synced) v[c] = sum, v[C + c] = dot;
        else if (din) bn_grad_input(din, dout, in, c, mean, rstd, gamma ? gamma[c] : 1.0f, sum, dot, n, p);
    }
    if (!synced) return;
    /* the whole batch's sums; this replica's dgamma/dbeta stay its own share */
    v[2 * C] = (double)n;
    batchnorm_sync(v, 2 * C + 1);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)N * C * HW >= SEI_PAR_MIN)
#endif
    for (int c = 0; c < C; c++)
        bn_grad_input(din, dout, in, c, save_mean[c], save_rstd[c], gamma ? gamma[c] : 1.0f, v[c], v[C + c],
                      (long)v[2 * C], p);
    free(v);
}
