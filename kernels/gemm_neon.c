/* gemm_neon.c - the AArch64 NEON GEMM micro-kernel: one SEI_MR x SEI_NR (8 x 12) tile of C
 * (contract in gemm_ukernel.h). 24 q-register accumulators (8 rows x 3 vectors), one B vector
 * and the 8 A values of a k step (2 registers) fit the 32 vector registers. Written for
 * MR = 8; NR any multiple of 4 that leaves room. Also the 8 x 8 register transpose the
 * packing routines use (four 4 x 4 blocks with trn1/trn2). Compiles to nothing unless NEON
 * on AArch64 is enabled and SEI_NO_SIMD is not defined. */
#include "kernels/gemm_ukernel.h"

#ifdef SEI_GEMM_NEON
#include <arm_neon.h>

#define NV (SEI_NR / 4) /* q vectors per row of the tile */

/* d[k*ldd + j] = s[j*lds + k] for one 4 x 4 block */
static inline void transpose4(const float *s, long lds, float *d, long ldd) {
    float32x4_t r0 = vld1q_f32(s), r1 = vld1q_f32(s + lds), r2 = vld1q_f32(s + 2 * lds),
                r3 = vld1q_f32(s + 3 * lds);
    float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(r0, r1)),
                t1 = vreinterpretq_f64_f32(vtrn2q_f32(r0, r1)),
                t2 = vreinterpretq_f64_f32(vtrn1q_f32(r2, r3)),
                t3 = vreinterpretq_f64_f32(vtrn2q_f32(r2, r3));
    vst1q_f32(d, vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)));
    vst1q_f32(d + ldd, vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)));
    vst1q_f32(d + 2 * ldd, vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)));
    vst1q_f32(d + 3 * ldd, vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)));
}

void sei_transpose8_neon(const float *s, long lds, float *d, long ldd) {
    transpose4(s, lds, d, ldd);
    transpose4(s + 4, lds, d + 4 * ldd, ldd);
    transpose4(s + 4 * lds, lds, d + 4, ldd);
    transpose4(s + 4 * lds + 4, lds, d + 4 * ldd + 4, ldd);
}

/* rows r..r+3 of column vector j: c[r+l][j] += lane l of a times b (lanes must be constants) */
#define FMA4(c, r, a, b, j)                                      \
    do {                                                         \
        c[r + 0][j] = vfmaq_laneq_f32(c[r + 0][j], b, a, 0);     \
        c[r + 1][j] = vfmaq_laneq_f32(c[r + 1][j], b, a, 1);     \
        c[r + 2][j] = vfmaq_laneq_f32(c[r + 2][j], b, a, 2);     \
        c[r + 3][j] = vfmaq_laneq_f32(c[r + 3][j], b, a, 3);     \
    } while (0)

void sei_ukernel_neon(int kc, float alpha, const float *restrict Ap, const float *restrict Bp,
                      float beta, float *restrict C, long ldc) {
    float32x4_t c[SEI_MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < SEI_MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) c[i][j] = vdupq_n_f32(0.0f);

    for (int k = 0; k < kc; k++) {
        /* the 8 A values stay in 2 registers and are used lane by lane: holding them as 8
         * scalars would cost registers the accumulators need */
        float32x4_t a0 = vld1q_f32(Ap), a1 = vld1q_f32(Ap + 4);
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) {
            float32x4_t b = vld1q_f32(Bp + 4 * j);
            FMA4(c, 0, a0, b, j);
            FMA4(c, 4, a1, b, j);
        }
        Ap += SEI_MR;
        Bp += SEI_NR;
    }

    float32x4_t va = vdupq_n_f32(alpha);
#pragma GCC unroll 8
    for (int i = 0; i < SEI_MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) {
            float *p = C + i * ldc + 4 * j;
            float32x4_t r = vmulq_f32(va, c[i][j]);
            if (beta != 0.0f) r = vfmaq_n_f32(r, vld1q_f32(p), beta);
            vst1q_f32(p, r);
        }
}
#endif
