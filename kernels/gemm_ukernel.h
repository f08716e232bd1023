/* gemm_ukernel.h - private to the GEMM: the micro-kernel contract shared by gemm.c and the
 * per-ISA kernel files (gemm_avx512.c, gemm_avx2.c, gemm_neon.c, gemm_scalar.c).
 *
 * Every micro-kernel has the same signature and computes one full MR x NR tile of C:
 *
 *   C[MR x NR] = alpha * Ap[MR x kc] * Bp[kc x NR] + beta * C     (beta == 0: C is not read)
 *
 *   Ap: A micro-panel, k-major: Ap[k*MR + i] = op(A)(i, k)   (64-byte aligned, zero-padded)
 *   Bp: B micro-panel, k-major: Bp[k*NR + j] = op(B)(k, j)   (64-byte aligned, zero-padded)
 *   C:  row-major with row stride ldc; any alignment. kc >= 1.
 *
 * Every output element is accumulated in k order with one FMA chain starting from zero, then
 * scaled, so the result of an element does not depend on where its tile sits: this is what
 * makes sei_gemm bit-identical for any thread count. gemm.c zero-pads edge tiles in the
 * packed panels and sends partial tiles through a temporary MR x NR tile, so a kernel never
 * sees a partial tile.
 *
 * The kernel compiled in is chosen here at compile time (SEI_NO_SIMD forces scalar); MR/NR
 * were tuned by measurement (see gemm.c's header comment). */
#ifndef SEI_GEMM_UKERNEL_H
#define SEI_GEMM_UKERNEL_H

#if defined(__AVX512F__) && !defined(SEI_NO_SIMD)
#define SEI_GEMM_AVX512 1
#ifndef SEI_MR
#define SEI_MR 8
#define SEI_NR 48
#endif
#define SEI_UKERNEL sei_ukernel_avx512
#define SEI_GEMM_ISA "avx512"
#elif defined(__AVX2__) && defined(__FMA__) && !defined(SEI_NO_SIMD)
#define SEI_GEMM_AVX2 1
#define SEI_MR 6
#define SEI_NR 16
#define SEI_UKERNEL sei_ukernel_avx2
#define SEI_GEMM_ISA "avx2"
#elif defined(__ARM_NEON) && defined(__aarch64__) && !defined(SEI_NO_SIMD)
#define SEI_GEMM_NEON 1
#define SEI_MR 8
#define SEI_NR 12
#define SEI_UKERNEL sei_ukernel_neon
#define SEI_GEMM_ISA "neon"
#else
#define SEI_GEMM_SCALAR 1
#define SEI_MR 4
#define SEI_NR 4
#define SEI_UKERNEL sei_ukernel_scalar
#define SEI_GEMM_ISA "scalar"
#endif

void SEI_UKERNEL(int kc, float alpha, const float *Ap, const float *Bp, float beta, float *C,
                 long ldc);

#endif
