/* gemm.c - sei_gemm: packed, blocked single-precision GEMM in the BLIS structure (contract in
 * gemm.h; micro-kernel contract in gemm_ukernel.h).
 *
 *   for jc over N by NC:                      B panel   [KC x NC]  (L3 / shared)
 *     for pc over K by KC:                    pack B -> NR-wide micro-panels, zero-padded
 *       for ic over M by MC:                  A block   [MC x KC]  (L2)
 *         pack A -> MR-tall micro-panels, zero-padded
 *         for jr over NC by NR:               B micro-panel [KC x NR] (L1)
 *           for ir over MC by MR:             micro-kernel: C[MR x NR] = alpha*A*B + beta'*C
 *
 * Transposes are handled only in the packing routines; the micro-kernel always sees k-major
 * panels. beta' is beta on the first K block and 1 afterwards; alpha is applied by the kernel.
 * Partial edge tiles go through a small MR x NR temporary so kernels never see them.
 *
 * Threads (OpenMP, optional): C is cut into one slab of whole tiles per thread, along M or
 * N (whichever wastes less), and each thread runs the loops above on its slab with its own
 * packing buffers. K is never split and every element is summed in the same order whatever
 * its slab, so results are bit-identical for any thread count. Problems below
 * SEI_GEMM_MIN_PARALLEL flops run on the calling thread.
 *
 * Memory: each thread keeps one 64-byte aligned packing buffer (thread-local, grown on
 * demand, at most (MC + NC) * KC floats); no allocation happens inside the loops. If it
 * cannot be allocated the slab falls back to sei_gemm_ref.
 *
 * Block sizes (measured on the dev box, AMD EPYC Zen 4 class, 32 KB L1d, 1 MB L2 per core;
 * see bench/bench_gemm.c): KC x NR floats of B stay in L1, MC x KC of A in L2. */
#include <stdlib.h>
#include <string.h>
#include "engine/error.h"
#include "kernels/gemm.h"
#include "kernels/gemm_ukernel.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define MR SEI_MR
#define NR SEI_NR

#ifndef SEI_MC
#if defined(SEI_GEMM_AVX512)
#define SEI_MC 128
#define SEI_KC 256
#define SEI_NC 3072
#elif defined(SEI_GEMM_AVX2) || defined(SEI_GEMM_NEON)
#define SEI_MC 96
#define SEI_KC 256
#define SEI_NC 2048
#else
#define SEI_MC 64
#define SEI_KC 128
#define SEI_NC 512
#endif
#endif

/* MC must be a multiple of MR and NC of NR so only the last block of a slab has edges */
#define MC ((SEI_MC + MR - 1) / MR * MR)
#define KC SEI_KC
#define NC ((SEI_NC + NR - 1) / NR * NR)

/* below this many multiply-adds (M*N*K) threading does not pay for itself */
#ifndef SEI_GEMM_MIN_PARALLEL
#define SEI_GEMM_MIN_PARALLEL (64.0 * 64.0 * 64.0)
#endif

typedef struct {
    int ta, tb, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    long lda, ldb, ldc;
} Gemm;

static int imin(int a, int b) { return a < b ? a : b; }

/* ---------------------------------------------------------------- packing */

/* Ap <- op(A)[i0 : i0+mc, p0 : p0+kc] as ceil(mc/MR) micro-panels of kc x MR (k-major) */
static void pack_a(const Gemm *g, int i0, int mc, int p0, int kc, float *restrict Ap) {
    for (int ir = 0; ir < mc; ir += MR, Ap += (long)MR * kc) {
        int m = imin(MR, mc - ir);
        if (!g->ta) { /* A[i][k]: row i of the panel is contiguous in k */
            const float *src = g->A + (long)(i0 + ir) * g->lda + p0;
            if (m == MR) {
                for (int k = 0; k < kc; k++)
                    for (int i = 0; i < MR; i++) Ap[(long)k * MR + i] = src[i * g->lda + k];
            } else {
                for (int k = 0; k < kc; k++) {
                    for (int i = 0; i < m; i++) Ap[(long)k * MR + i] = src[i * g->lda + k];
                    for (int i = m; i < MR; i++) Ap[(long)k * MR + i] = 0.0f;
                }
            }
        } else { /* A stored [K][M]: one k step of the panel is contiguous */
            const float *src = g->A + (long)p0 * g->lda + i0 + ir;
            for (int k = 0; k < kc; k++) {
                const float *s = src + k * g->lda;
                float *d = Ap + (long)k * MR;
                for (int i = 0; i < m; i++) d[i] = s[i];
                for (int i = m; i < MR; i++) d[i] = 0.0f;
            }
        }
    }
}

/* Bp <- op(B)[p0 : p0+kc, j0 : j0+nc] as ceil(nc/NR) micro-panels of kc x NR (k-major) */
static void pack_b(const Gemm *g, int p0, int kc, int j0, int nc, float *restrict Bp) {
    for (int jr = 0; jr < nc; jr += NR, Bp += (long)NR * kc) {
        int n = imin(NR, nc - jr);
        if (!g->tb) { /* B[k][j]: one k step of the panel is contiguous */
            const float *src = g->B + (long)p0 * g->ldb + j0 + jr;
            for (int k = 0; k < kc; k++) {
                const float *s = src + k * g->ldb;
                float *d = Bp + (long)k * NR;
                if (n == NR) {
                    memcpy(d, s, sizeof(float) * NR);
                } else {
                    for (int j = 0; j < n; j++) d[j] = s[j];
                    for (int j = n; j < NR; j++) d[j] = 0.0f;
                }
            }
        } else { /* B stored [N][K]: column j of the panel is contiguous in k */
            const float *src = g->B + (long)(j0 + jr) * g->ldb + p0;
            /* k in chunks so the strided writes stay within L1 */
            for (int k0 = 0; k0 < kc; k0 += 64) {
                int k1 = imin(kc, k0 + 64);
                for (int j = 0; j < n; j++) {
                    const float *s = src + j * g->ldb;
                    for (int k = k0; k < k1; k++) Bp[(long)k * NR + j] = s[k];
                }
                for (int j = n; j < NR; j++)
                    for (int k = k0; k < k1; k++) Bp[(long)k * NR + j] = 0.0f;
            }
        }
    }
}

/* ---------------------------------------------------------------- blocked loops */

/* one partial tile (m < MR or n < NR) through a temporary full tile */
static void edge_tile(int kc, float alpha, const float *Ap, const float *Bp, float beta,
                      float *C, long ldc, int m, int n) {
    _Alignas(64) float t[MR * NR];
    memset(t, 0, sizeof t);
    if (beta != 0.0f)
        for (int i = 0; i < m; i++) memcpy(t + i * NR, C + i * ldc, sizeof(float) * n);
    SEI_UKERNEL(kc, alpha, Ap, Bp, beta, t, NR);
    for (int i = 0; i < m; i++) memcpy(C + i * ldc, t + i * NR, sizeof(float) * n);
}

/* thread-local packing buffer, grown on demand, never shrunk */
static _Thread_local float *tl_buf;
static _Thread_local size_t tl_cap;

static float *pack_buffer(size_t floats) {
    if (floats > tl_cap) {
        free(tl_buf);
        tl_buf = sei_alloc(floats * sizeof(float));
        tl_cap = tl_buf ? floats : 0;
    }
    return tl_buf;
}

/* number of K blocks and the size/offset of block p: blocks differ by at most 1 */
static int k_blocks(int K) { return (K + KC - 1) / KC; }
static int k_start(int K, int nk, int p) { return (int)((long)K * p / nk); }

/* C[i0:i1, j0:j1] of the whole product, on the calling thread */
static void gemm_slab(const Gemm *g, int i0, int i1, int j0, int j1) {
    int M = i1 - i0, N = j1 - j0, K = g->K;
    int nk = k_blocks(K);
    int kcmax = (K + nk - 1) / nk;
    int mcmax = imin(MC, (M + MR - 1) / MR * MR), ncmax = imin(NC, (N + NR - 1) / NR * NR);
    size_t a_size = ((size_t)mcmax * kcmax + 15) / 16 * 16; /* keeps Bp 64-byte aligned */
    float *Ap = pack_buffer(a_size + (size_t)ncmax * kcmax);
    if (!Ap) { /* out of memory: slow but correct */
        const float *A = g->ta ? g->A + i0 : g->A + (long)i0 * g->lda;
        const float *B = g->tb ? g->B + (long)j0 * g->ldb : g->B + j0;
        sei_gemm_ref(g->ta, g->tb, M, N, K, g->alpha, A, (int)g->lda, B, (int)g->ldb,
                     g->beta, g->C + (long)i0 * g->ldc + j0, (int)g->ldc);
        return;
    }
    float *Bp = Ap + a_size;

    for (int jc = j0; jc < j1; jc += NC) {
        int nc = imin(NC, j1 - jc);
        for (int p = 0; p < nk; p++) {
            int pc = k_start(K, nk, p), kc = k_start(K, nk, p + 1) - pc;
            float beta = p == 0 ? g->beta : 1.0f;
            pack_b(g, pc, kc, jc, nc, Bp);
            for (int ic = i0; ic < i1; ic += MC) {
                int mc = imin(MC, i1 - ic);
                pack_a(g, ic, mc, pc, kc, Ap);
#ifdef SEI_IR_OUTER
                for (int ir = 0; ir < mc; ir += MR) {
                    int m = imin(MR, mc - ir);
                    const float *ap = Ap + (long)ir * kc;
                    for (int jr = 0; jr < nc; jr += NR) {
                        int n = imin(NR, nc - jr);
                        const float *bp = Bp + (long)jr * kc;
#else
                for (int jr = 0; jr < nc; jr += NR) {
                    int n = imin(NR, nc - jr);
                    const float *bp = Bp + (long)jr * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int m = imin(MR, mc - ir);
                        const float *ap = Ap + (long)ir * kc;
#endif
                        float *c = g->C + (long)(ic + ir) * g->ldc + jc + jr;
                        if (m == MR && n == NR)
                            SEI_UKERNEL(kc, g->alpha, ap, bp, beta, c, g->ldc);
                        else
                            edge_tile(kc, g->alpha, ap, bp, beta, c, g->ldc, m, n);
                    }
                }
            }
        }
    }
}

/* C = beta*C (K == 0 or alpha == 0: A and B are not read) */
static void scale_c(int M, int N, float beta, float *C, long ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f) memset(c, 0, sizeof(float) * N);
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

/* ---------------------------------------------------------------- threads */
#ifdef _OPENMP

/* Slab of thread t of T: split M (rows) if split_m else N, in whole tiles, evenly. */
static void slab(int M, int N, int split_m, int t, int T, int r[4]) {
    int len = split_m ? M : N, tile = split_m ? MR : NR;
    int tiles = (len + tile - 1) / tile;
    int a = (int)((long)tiles * t / T) * tile, b = imin(len, (int)((long)tiles * (t + 1) / T) * tile);
    r[0] = 0; r[1] = M; r[2] = 0; r[3] = N;
    if (split_m) { r[0] = a; r[1] = b; }
    else { r[2] = a; r[3] = b; }
}

/* padded work of the busiest thread when M (or N) is cut into T slabs of whole tiles,
 * plus the redundant packing of the other operand each thread does (in tile-flop units) */
static double slab_cost(int M, int N, int K, int split_m, int T) {
    double tm = (M + MR - 1) / MR, tn = (N + NR - 1) / NR;
    if (split_m) tm = (int)((tm + T - 1) / T);
    else tn = (int)((tn + T - 1) / T);
    double work = tm * MR * tn * NR * (double)K;
    double pack = (split_m ? (double)K * N : (double)K * M) * 8.0; /* ~8 FMAs per packed float */
    return work + pack;
}

/* run the product on T threads, one slab each */
static void gemm_parallel(const Gemm *g, int M, int N, int T) {
    int split_m = slab_cost(M, N, g->K, 1, T) <= slab_cost(M, N, g->K, 0, T);
#pragma omp parallel num_threads(T)
    {
        int r[4];
        slab(M, N, split_m, omp_get_thread_num(), omp_get_num_threads(), r);
        if (r[0] < r[1] && r[2] < r[3]) gemm_slab(g, r[0], r[1], r[2], r[3]);
    }
}
#endif

void sei_gemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    Gemm g = {transA, transB, K, alpha, beta, A, B, C, lda, ldb, ldc};
#ifdef _OPENMP
    if ((double)M * N * K >= SEI_GEMM_MIN_PARALLEL && !omp_in_parallel()) {
        int T = omp_get_max_threads();
        if (T > 1) {
            gemm_parallel(&g, M, N, T);
            return;
        }
    }
#endif
    gemm_slab(&g, 0, M, 0, N);
}

const char *sei_gemm_isa(void) { return SEI_GEMM_ISA; }
