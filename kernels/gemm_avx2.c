/* gemm_avx2.c - the AVX2+FMA GEMM micro-kernel: one SEI_MR x SEI_NR (6 x 16) tile of C
 * (contract in gemm_ukernel.h). 12 ymm accumulators, 2 B vectors and one broadcast A value
 * fit the 16 ymm registers. Compiled only when AVX2 and FMA are enabled, AVX-512F is not
 * (it takes precedence) and SEI_NO_SIMD is not defined.
 *
 * Also the 8 x 8 ymm register transpose the packing routines use on every x86 SIMD build
 * (AVX-512 included): 8 loads, 24 shuffles, 8 stores instead of 64 scalar moves. */
#include "kernels/gemm_ukernel.h"

#if defined(SEI_TRANSPOSE8) && defined(__AVX2__)
#include <immintrin.h>

void sei_transpose8_avx(const float *s, long lds, float *d, long ldd) {
    __m256 r[8], t[8], u[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(s + j * lds);
#pragma GCC unroll 4
    for (int j = 0; j < 8; j += 2) { /* interleave row pairs: (0 1), (2 3), ... */
        t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
        t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
    }
#pragma GCC unroll 2
    for (int j = 0; j < 8; j += 4) { /* 4 x 4 blocks within each 128-bit half */
        u[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
        u[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xee);
        u[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
        u[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xee);
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) { /* join the halves: rows k and k + 4 of the result */
        _mm256_storeu_ps(d + k * ldd, _mm256_permute2f128_ps(u[k], u[k + 4], 0x20));
        _mm256_storeu_ps(d + (k + 4) * ldd, _mm256_permute2f128_ps(u[k], u[k + 4], 0x31));
    }
}
#endif

#ifdef SEI_GEMM_AVX2

#define NV (SEI_NR / 8) /* ymm vectors per row of the tile */

void sei_ukernel_avx2(int kc, float alpha, const float *restrict Ap, const float *restrict Bp,
                      float beta, float *restrict C, long ldc) {
    __m256 c[SEI_MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < SEI_MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) c[i][j] = _mm256_setzero_ps();

    for (int k = 0; k < kc; k++) {
        __m256 b[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) b[j] = _mm256_load_ps(Bp + 8 * j);
#pragma GCC unroll 16
        for (int i = 0; i < SEI_MR; i++) {
            __m256 a = _mm256_broadcast_ss(Ap + i);
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++) c[i][j] = _mm256_fmadd_ps(a, b[j], c[i][j]);
        }
        Ap += SEI_MR;
        Bp += SEI_NR;
    }

    __m256 va = _mm256_set1_ps(alpha);
    if (beta == 0.0f) {
#pragma GCC unroll 16
        for (int i = 0; i < SEI_MR; i++)
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++)
                _mm256_storeu_ps(C + i * ldc + 8 * j, _mm256_mul_ps(va, c[i][j]));
    } else {
        __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
        for (int i = 0; i < SEI_MR; i++)
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++) {
                float *p = C + i * ldc + 8 * j;
                _mm256_storeu_ps(p, _mm256_fmadd_ps(vb, _mm256_loadu_ps(p),
                                                    _mm256_mul_ps(va, c[i][j])));
            }
    }
}
#endif
