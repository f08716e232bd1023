/* gemm.h - single-precision matrix multiply, row-major, BLAS-like.
 *
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
 *
 * op(X) = X, or X^T when transX != 0. Row-major: element (i,j) of a stored matrix X with
 * leading dimension ldX is X[i*ldX + j]; A is stored [M,K] (lda >= K) or, transposed, [K,M]
 * (lda >= M); B is stored [K,N] (ldb >= N) or [N,K] (ldb >= K). beta == 0 overwrites C
 * (NaN in C is not propagated). Threads (OpenMP) split C's columns/rows, never K, so a
 * result does not depend on the thread count.
 *
 * sei_gemm is the packed, blocked implementation (gemm.c + one micro-kernel per ISA);
 * sei_gemm_ref is the naive triple loop it is tested against (gemm_ref.c). */
#ifndef SEI_GEMM_H
#define SEI_GEMM_H
#include <stddef.h>

void sei_gemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);

void sei_gemm_ref(int transA, int transB, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc);

/* Pre-packed B: C[M,N] = alpha * op(A) * B + beta * C where B [K,N] was written by the
 * caller straight into the packed layout the micro-kernel reads (a conv's im2col does this,
 * so B is neither stored as a matrix nor packed by each thread). Element B(k, j) lives at
 *   Bp[r.row + (j / r.nr) * r.panel + j % r.nr],   r = sei_gemm_pb_row(K, N, k),
 * and the columns from N up to a multiple of r.nr must be zero. The layout depends on K
 * and N only; sei_gemm_pb_size(K, N) floats, 64-byte aligned (else a slow plain loop runs).
 * Results are bit-identical to sei_gemm(transA, 0, ...) on the same matrices. */
typedef struct { int nr; long row, panel; } GemmPbRow;
size_t sei_gemm_pb_size(int K, int N);
GemmPbRow sei_gemm_pb_row(int K, int N, int k);
void sei_gemm_pb(int transA, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *Bp, float beta, float *C, int ldc);
/* 0 when sei_gemm would compute this product as C^T (N much narrower than a panel), which a
 * pre-packed B rules out: the caller should then pass B as a matrix to sei_gemm instead */
int sei_gemm_pb_pays(int M, int N, int K);

/* name of the micro-kernel compiled in: "avx512", "avx2", "neon" or "scalar" */
const char *sei_gemm_isa(void);

#endif
