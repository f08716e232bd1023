/* gemm.c - TEMPORARY: forwards to the reference until the packed GEMM lands. */
#include "kernels/gemm.h"

void sei_gemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    sei_gemm_ref(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *sei_gemm_isa(void) { return "scalar"; }
