/* gemm_avx512.c - the AVX-512F GEMM micro-kernel: one SEI_MR x SEI_NR tile of C (contract in
 * gemm_ukernel.h). NR is a multiple of 16 (one zmm per 16 columns); the MR x NR/16
 * accumulators, NR/16 B vectors and one broadcast A value all stay in the 32 zmm registers.
 * Compiles to nothing unless AVX-512F is enabled and SEI_NO_SIMD is not defined. */
#include "kernels/gemm_ukernel.h"

#ifdef SEI_GEMM_AVX512
#include <immintrin.h>

#define NV (SEI_NR / 16) /* zmm vectors per row of the tile */

void sei_ukernel_avx512(int kc, float alpha, const float *restrict Ap, const float *restrict Bp,
                        float beta, float *restrict C, long ldc) {
    __m512 c[SEI_MR][NV];
#pragma GCC unroll 32
    for (int i = 0; i < SEI_MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NV; j++) c[i][j] = _mm512_setzero_ps();
    /* start fetching the C tile now; it is needed only after the k loop */
#pragma GCC unroll 32
    for (int i = 0; i < SEI_MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NV; j++)
            _mm_prefetch((const char *)(C + i * ldc + 16 * j), _MM_HINT_T0);

    for (int k = 0; k < kc; k++) {
        __m512 b[NV];
#pragma GCC unroll 8
        for (int j = 0; j < NV; j++) b[j] = _mm512_load_ps(Bp + 16 * j);
#pragma GCC unroll 32
        for (int i = 0; i < SEI_MR; i++) {
            __m512 a = _mm512_set1_ps(Ap[i]);
#pragma GCC unroll 8
            for (int j = 0; j < NV; j++) c[i][j] = _mm512_fmadd_ps(a, b[j], c[i][j]);
        }
        Ap += SEI_MR;
        Bp += SEI_NR;
    }

    __m512 va = _mm512_set1_ps(alpha);
    if (beta == 0.0f) {
#pragma GCC unroll 32
        for (int i = 0; i < SEI_MR; i++)
#pragma GCC unroll 8
            for (int j = 0; j < NV; j++)
                _mm512_storeu_ps(C + i * ldc + 16 * j, _mm512_mul_ps(va, c[i][j]));
    } else {
        __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 32
        for (int i = 0; i < SEI_MR; i++)
#pragma GCC unroll 8
            for (int j = 0; j < NV; j++) {
                float *p = C + i * ldc + 16 * j;
                _mm512_storeu_ps(p, _mm512_fmadd_ps(vb, _mm512_loadu_ps(p),
                                                    _mm512_mul_ps(va, c[i][j])));
            }
    }
}
#endif
