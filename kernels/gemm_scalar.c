/* gemm_scalar.c - the portable C GEMM micro-kernel (contract in gemm_ukernel.h): one
 * SEI_MR x SEI_NR tile with the accumulators in a local array the compiler can keep in
 * registers. This is the path for targets without SIMD (microcontrollers) and SIMD=0 builds.
 * Plain a * b + c (no fmaf) so it needs no libm; whether that is fused is the compiler's
 * -ffp-contract choice, the same for every tile. */
#include "kernels/gemm_ukernel.h"

#ifdef SEI_GEMM_SCALAR
void sei_ukernel_scalar(int kc, float alpha, const float *restrict Ap, const float *restrict Bp,
                        float beta, float *restrict C, long ldc) {
    float c[SEI_MR][SEI_NR] = {{0}};
    for (int k = 0; k < kc; k++) {
        for (int i = 0; i < SEI_MR; i++) {
            float a = Ap[i];
            for (int j = 0; j < SEI_NR; j++) c[i][j] += a * Bp[j];
        }
        Ap += SEI_MR;
        Bp += SEI_NR;
    }
    for (int i = 0; i < SEI_MR; i++)
        for (int j = 0; j < SEI_NR; j++) {
            float *p = C + i * ldc + j;
            *p = beta == 0.0f ? alpha * c[i][j] : alpha * c[i][j] + beta * *p;
        }
}
#endif
