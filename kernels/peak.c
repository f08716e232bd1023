/* peak.c - sei_measure_peak_gflops (peak.h): FP32 FMA throughput of a loop that keeps 12
 * independent accumulator chains in registers (enough to cover FMA latency x pipes on
 * current x86 and Arm cores), so nothing but the FMA units limits it. One variant per ISA,
 * selected like the GEMM micro-kernel (SEI_NO_SIMD forces the scalar loop). */
#include <time.h>
#include "engine/clock.h"
#include "kernels/peak.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define CHAINS 12

#if defined(__AVX512F__) && !defined(SEI_NO_SIMD)
#include <immintrin.h>
#define LANES 16
static float fma_loop(long iters) {
    __m512 a[CHAINS], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) a[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iters; n++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    float s = 0;
    for (int i = 0; i < CHAINS; i++) s += _mm512_reduce_add_ps(a[i]);
    return s;
}
#elif defined(__AVX2__) && defined(__FMA__) && !defined(SEI_NO_SIMD)
#include <immintrin.h>
#define LANES 8
static float fma_loop(long iters) {
    __m256 a[CHAINS], x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) a[i] = _mm256_set1_ps((float)i);
    for (long n = 0; n < iters; n++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    float s = 0, t[8];
    for (int i = 0; i < CHAINS; i++) {
        _mm256_storeu_ps(t, a[i]);
        for (int j = 0; j < 8; j++) s += t[j];
    }
    return s;
}
#elif defined(__ARM_NEON) && defined(__aarch64__) && !defined(SEI_NO_SIMD)
#include <arm_neon.h>
#define LANES 4
static float fma_loop(long iters) {
    float32x4_t a[CHAINS], x = vdupq_n_f32(0.999999f), y = vdupq_n_f32(1e-7f);
    for (int i = 0; i < CHAINS; i++) a[i] = vdupq_n_f32((float)i);
    for (long n = 0; n < iters; n++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = vfmaq_f32(y, a[i], x);
    float s = 0;
    for (int i = 0; i < CHAINS; i++) s += vaddvq_f32(a[i]);
    return s;
}
#else
#define LANES 1
/* scalar: a*x + y per chain (an FMA where the compiler contracts it, else mul + add) */
static float fma_loop(long iters) {
    float a[CHAINS], x = 0.999999f, y = 1e-7f;
    for (int i = 0; i < CHAINS; i++) a[i] = (float)i;
    for (long n = 0; n < iters; n++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = a[i] * x + y;
    float s = 0;
    for (int i = 0; i < CHAINS; i++) s += a[i];
    return s;
}
#endif

/* seconds for every thread to run iters iterations (threads start together) */
static double timed(long iters, int threads, volatile float *sink) {
    float s = 0;
    double t0 = sei_now();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : s)
    s += fma_loop(iters);
#else
    (void)threads;
    s = fma_loop(iters);
#endif
    double dt = sei_now() - t0;
    *sink += s; /* keeps the loop alive */
    return dt;
}

double sei_measure_peak_gflops(int threads) {
    volatile float sink = 0;
#ifdef _OPENMP
    if (threads < 1) threads = 1;
#else
    threads = 1;
#endif
    long iters = 1 << 16;
    while (timed(iters, threads, &sink) < 0.02 && iters < (1L << 40)) iters *= 2;
    iters = (long)(iters * (0.1 / 0.02)); /* ~0.1 s per run */
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double dt = timed(iters, threads, &sink);
        double g = 2.0 * LANES * CHAINS * (double)iters * threads / dt * 1e-9;
        if (g > best) best = g;
    }
    return best;
}
