/* gemm_ukernel.h - private to the GEMM: the micro-kernel contract shared by gemm.c and the
 * per-ISA kernel files (gemm_avx512.c, gemm_avx2.c, gemm_neon.c, gemm_scalar.c).
 *
 * Every micro-kernel has the same signature and computes one full MR x NR tile of C:
 *
 *   C[MR x NR] = alpha * Ap[MR x kc] * Bp[kc x NR] + beta * C     (beta == 0: C is not read)
 *
 *   Ap: A micro-panel, k-major: Ap[k*MR + i] = op(A)(i, k)   (zero-padded rows)
 *   Bp: B micro-panel, k-major: Bp[k*NR + j] = op(B)(k, j)   (zero-padded columns; 64-byte
 *       aligned, and NR floats is a multiple of 64 bytes on x86, so every k step is aligned)
 *   C:  row-major with row stride ldc; any alignment. kc >= 1.
 *
 * Every output element is accumulated in k order in one multiply-add chain starting from zero,
 * then scaled, so the result of an element does not depend on where its tile sits: this is what
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
#ifndef SEI_MR /* -DSEI_MR=.. -DSEI_NR=.. retunes: NR a multiple of 16, MR*NR/16 + NR/16 <= 31 */
#define SEI_MR 8
#define SEI_NR 48
#endif
#define SEI_UKERNEL sei_ukernel_avx512
#define SEI_LANES 16
#define SEI_GEMM_ISA "avx512"
#elif defined(__AVX2__) && defined(__FMA__) && !defined(SEI_NO_SIMD)
#define SEI_GEMM_AVX2 1
#define SEI_MR 6
#define SEI_NR 16
#define SEI_UKERNEL sei_ukernel_avx2
#define SEI_LANES 8
#define SEI_GEMM_ISA "avx2"
#elif defined(__ARM_NEON) && defined(__aarch64__) && !defined(SEI_NO_SIMD)
#define SEI_GEMM_NEON 1
#define SEI_MR 8
#define SEI_NR 12
#define SEI_UKERNEL sei_ukernel_neon
#define SEI_LANES 4
#define SEI_GEMM_ISA "neon"
#else
#define SEI_GEMM_SCALAR 1
#define SEI_MR 4
#define SEI_NR 4
#define SEI_UKERNEL sei_ukernel_scalar
#define SEI_LANES 1
#define SEI_GEMM_ISA "scalar"
#endif

void SEI_UKERNEL(int kc, float alpha, const float *Ap, const float *Bp, float beta, float *C,
                 long ldc);

/* Optional register transpose of one 8 x 8 block for the packing routines (transposed B,
 * untransposed A): d[k*ldd + j] = s[j*lds + k] for j, k < 8. Where SEI_TRANSPOSE8 is not
 * defined gemm.c uses portable C. The AVX version lives in gemm_avx2.c and serves both
 * x86 SIMD builds; the NEON one in gemm_neon.c. */
#if (defined(SEI_GEMM_AVX512) || defined(SEI_GEMM_AVX2)) && defined(__AVX2__)
#define SEI_TRANSPOSE8 sei_transpose8_avx
#elif defined(SEI_GEMM_NEON)
#define SEI_TRANSPOSE8 sei_transpose8_neon
#endif
#ifdef SEI_TRANSPOSE8
void SEI_TRANSPOSE8(const float *s, long lds, float *d, long ldd);
#endif

#endif
