/* bench_gemm.c - sei_gemm speed in GFLOP/s and % of the measured FMA peak (kernels/peak.h).
 *
 *   bench_gemm                      square 256..2048 and conv / linear shapes, 1 and 2 threads
 *   bench_gemm M N K [ta tb [T]]    one shape (T threads, default 1 and 2)
 *
 * Each figure is the median of 5 timed runs (CLOCK_MONOTONIC) after one warm-up; a run
 * repeats the call until it lasts >= 20 ms. Inputs are uniform in [-1, 1), beta = 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine/clock.h"
#include "kernels/gemm.h"
#include "kernels/peak.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define REPS 5

typedef struct { int M, N, K, ta, tb; const char *what; } Shape;

static const Shape shapes[] = {
    {256, 256, 256, 0, 0, "square"},       {512, 512, 512, 0, 0, "square"},
    {1024, 1024, 1024, 0, 0, "square"},    {1536, 1536, 1536, 0, 0, "square"},
    {2048, 2048, 2048, 0, 0, "square"},    {1024, 1024, 1024, 1, 1, "square AT BT"},
    {64, 50176, 27, 0, 0, "conv1 224 fwd"}, {64, 50176, 576, 0, 0, "conv 224x64 fwd"},
    {128, 12544, 1152, 0, 0, "conv 112x128 fwd"}, {256, 3136, 2304, 0, 0, "conv 56x256 fwd"},
    {512, 784, 4608, 0, 0, "conv 28x512 fwd"}, {512, 196, 4608, 0, 0, "conv 14x512 fwd"},
    {64, 3136, 64, 0, 0, "conv 1x1 56x64"},  {576, 3136, 64, 1, 0, "conv bwd data"},
    {64, 576, 3136, 0, 1, "conv bwd weight"}, {4096, 16, 25088, 0, 0, "linear W*X N=16"},
    {16, 4096, 25088, 0, 1, "linear X*W^T M=16"}, {4, 4096, 4096, 0, 1, "linear M=4"},
    {4096, 4, 4096, 0, 0, "linear N=4"},     {4096, 4096, 16, 1, 0, "linear bwd weight K=16"},
};

static void set_threads(int t) {
#ifdef _OPENMP
    omp_set_num_threads(t);
#else
    (void)t;
#endif
}

/* median GFLOP/s of sei_gemm on shape s with T threads */
static double measure(const Shape *s, int T, const float *A, const float *B, float *C) {
    set_threads(T);
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double flops = 2.0 * s->M * s->N * s->K, t[REPS];
    sei_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
    int calls = 1;
    for (int r = 0; r < REPS; r++) {
        double t0, dt;
        for (;;) {
            t0 = sei_now();
            for (int c = 0; c < calls; c++)
                sei_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
            dt = sei_now() - t0;
            if (dt >= 0.02 || r > 0) break;
            calls *= 2; /* calibrate the repeat count on the first run */
        }
        t[r] = flops * calls / dt * 1e-9;
    }
    return sei_median(t, REPS);
}

static float *random_floats(size_t n) {
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_gemm: out of memory (%zu floats)\n", n);
        exit(1);
    }
    unsigned x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (float)(x >> 8) / 8388608.0f - 1.0f;
    }
    return p;
}

int main(int argc, char **argv) {
    Shape one = {0, 0, 0, 0, 0, "custom"};
    const Shape *list = shapes;
    int n = (int)(sizeof shapes / sizeof shapes[0]), tmin = 1, tmax = 2;
    if (argc >= 4) {
        one.M = atoi(argv[1]); one.N = atoi(argv[2]); one.K = atoi(argv[3]);
        if (argc >= 6) { one.ta = atoi(argv[4]); one.tb = atoi(argv[5]); }
        if (argc >= 7) tmin = tmax = atoi(argv[6]);
        if (one.M <= 0 || one.N <= 0 || one.K <= 0 || tmin < 1) {
            fprintf(stderr, "usage: bench_gemm [M N K [ta tb [threads]]]\n");
            return 2;
        }
        list = &one;
        n = 1;
    } else if (argc != 1) {
        fprintf(stderr, "usage: bench_gemm [M N K [ta tb [threads]]]\n");
        return 2;
    }
#ifndef _OPENMP
    tmax = 1; /* built without OpenMP: one thread only */
    tmin = 1;
#endif
    size_t amax = 0, bmax = 0, cmax = 0;
    for (int i = 0; i < n; i++) {
        size_t a = (size_t)list[i].M * list[i].K, b = (size_t)list[i].K * list[i].N,
               c = (size_t)list[i].M * list[i].N;
        if (a > amax) amax = a;
        if (b > bmax) bmax = b;
        if (c > cmax) cmax = c;
    }
    float *A = random_floats(amax), *B = random_floats(bmax), *C = random_floats(cmax);

    double peak[3] = {0, 0, 0};
    for (int t = tmin; t <= tmax && t <= 2; t++) peak[t] = sei_measure_peak_gflops(t);
    printf("sei_gemm (%s), FP32 FMA peak: 1 thread %.1f GFLOP/s", sei_gemm_isa(), peak[1]);
    if (peak[2] > 0) printf(", 2 threads %.1f GFLOP/s", peak[2]);
    printf("\n%-24s %6s %6s %6s %2s %2s", "shape", "M", "N", "K", "tA", "tB");
    for (int t = tmin; t <= tmax; t++) printf("   %dT GFLOP/s  %%peak", t);
    printf("\n");
    for (int i = 0; i < n; i++) {
        const Shape *s = &list[i];
        printf("%-24s %6d %6d %6d %2d %2d", s->what, s->M, s->N, s->K, s->ta, s->tb);
        fflush(stdout);
        for (int t = tmin; t <= tmax; t++) {
            double g = measure(s, t, A, B, C);
            double p = t <= 2 ? peak[t] : 0;
            if (p <= 0) p = sei_measure_peak_gflops(t);
            printf("   %12.1f %5.1f%%", g, 100.0 * g / p);
            fflush(stdout);
        }
        printf("\n");
    }
    free(A); free(B); free(C);
    return 0;
}
