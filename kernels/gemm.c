/* gemm.c - sei_gemm: packed, blocked single-precision GEMM in the BLIS structure (contract in
 * gemm.h; micro-kernel contract in gemm_ukernel.h).
 *
 *   for jc over N by NC:                 B panel [KC x NC] (L3; L2-sized NC_SMALL if M <= MC)
 *     for pc over K by KC:               pack B -> NR-wide micro-panels, zero-padded
 *       for ic over M by MC:             A block [MC x KC] (L2)
 *         pack A -> MR-tall micro-panels, zero-padded
 *         for jr over NC by NR:          B micro-panel [KC x NR]
 *           for ir over MC by MR:        micro-kernel: C[MR x NR] = alpha*A*B + beta'*C
 *
 * Transposes are handled only by the packing routines; the micro-kernel always sees k-major
 * panels. beta' is beta on the first K block and 1 afterwards; alpha is applied by the kernel.
 * Partial edge tiles go through a small MR x NR temporary so kernels never see them. When N
 * is so narrow that padding it to NR would waste more than the transposed stores cost
 * (linear layers with a small batch), C^T = op(B)^T op(A)^T is computed instead.
 *
 * Threads (OpenMP, optional): C is cut into one slab of whole tiles per thread, along M or
 * N (whichever pads and repacks less), and each thread runs the loops above on its slab with
 * its own packing buffers, so the only synchronisation is the end of the parallel region.
 * K is never split and every element is one multiply-add chain over k in the same K blocks
 * (they depend on K only) whatever its slab or orientation, so results are bit-identical for
 * any thread count. Products under SEI_GEMM_MIN_PARALLEL multiply-adds run on the calling
 * thread, as do calls made from inside a parallel region.
 *
 * Memory: each thread keeps one 64-byte aligned packing buffer (thread-local, grown on
 * demand, at most (MC + NC) * KC floats, 6.6 MB with AVX-512); nothing is allocated inside
 * the loops. If it cannot be allocated the slab falls back to sei_gemm_ref.
 *
 * Tuning (AVX-512, measured 2026 on the dev box: AMD EPYC Zen 4 class, one 512-bit FMA per
 * cycle = ~115 GFLOP/s per core, 32 KB L1d, 1 MB L2; bench/bench_gemm and one-thread CPU-time
 * sweeps): 8x48, 6x64, 14x32, 12x32 and 24x16 kernels all reach 97-100% of peak in L1; in the
 * full GEMM 8x48 was best or tied on every shape (14x32 5-10% slower, 6x64 up to 10% slower
 * on small M), and MR=8 divides every channel count M=64..512. KC = 384..1024 are within
 * noise of each other (256 and below lose 5-15%), MC = 64..256 and NC = 2048..4096 are flat;
 * NC_SMALL = 384 gained 15-30% on small-M transposed-B products over 3072. Packing that
 * sweeps 8 source rows at a time (instead of one micro-panel column at a time) gained 15% on
 * M=64, N=50176, K=576; the ISA's 8 x 8 register transpose in packing gained 20-40% on
 * transposed-B shapes. Computing C^T pays from N <= ~32 (N=16: +60%, N=24 with both
 * transposed: 2.4x); SEI_TC_COST = 8 lanes keeps N=40 and M=512, N=196, K=4608 (where it
 * loses 5%) on the direct path. AVX2 (6x16, built with ARCH=x86-64-v3 on the same box, where
 * ymm has the same FMA throughput): 89% of peak at 1024^3 on one thread, MC = 48..192 and
 * KC = 256..512 within noise. */
#include <math.h>
#include <stdint.h>
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

/* Block sizes, measured with bench/bench_gemm (see the header comment). SEI_MC/KC/NC and
 * SEI_NC_SMALL may be overridden with -D for tuning. */
#ifndef SEI_MC
#if defined(SEI_GEMM_AVX512) || defined(SEI_GEMM_AVX2)
#define SEI_MC 128 /* AVX2: rounded to 132 (22 x MR=6) */
#define SEI_KC 512
#define SEI_NC 3072
#elif defined(SEI_GEMM_NEON) /* not measured: typical for 64 KB L1 / 1 MB L2 cores */
#define SEI_MC 128
#define SEI_KC 256
#define SEI_NC 3072
#else /* scalar: small enough for big microcontrollers' SRAM ((MC + NC) * KC floats) */
#define SEI_MC 32
#define SEI_KC 128
#define SEI_NC 256
#endif
#endif

/* MC must be a multiple of MR and NC of NR so only the last block of a slab has edges */
#define MC ((SEI_MC + MR - 1) / MR * MR)
#define KC SEI_KC
#define NC ((SEI_NC + NR - 1) / NR * NR)
#ifndef SEI_NC_SMALL
#define SEI_NC_SMALL (SEI_NC < 384 ? SEI_NC : 384)
#endif
#define NC_SMALL ((SEI_NC_SMALL + NR - 1) / NR * NR)

/* cost of sending one C element through a transposed temporary tile (once per K block), in
 * kernel multiply-adds (cycles x vector lanes); decides when computing C^T pays */
#ifndef SEI_TC_COST
#define SEI_TC_COST (8.0 * SEI_LANES)
#endif

/* below this many multiply-adds (M*N*K) threading does not pay for itself (measured: 2
 * threads win from about 48^3 with an idle second core, and lose badly on a busy one) */
#ifndef SEI_GEMM_MIN_PARALLEL
#define SEI_GEMM_MIN_PARALLEL (64.0 * 64.0 * 64.0)
#endif

/* the product being computed; tc: the product is C^T (see sei_gemm), so element (i, j)
 * lives at C[j*ldc + i] */
typedef struct {
    int ta, tb, tc, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    long lda, ldb, ldc;
    const float *Bpre; /* B already packed (sei_gemm_pb): B is not read and not packed */
    long npad;         /* Bpre's width: N rounded up to NR */
} Gemm;

static int imin(int a, int b) { return a < b ? a : b; }

/* ---------------------------------------------------------------- packing */

/* d[k*ldd + j] = s[j*lds + k] for k < cols, j < width (both <= 8), reading only the first
 * `rows` source rows (the rest of the width is zero-filled). Full 8 x 8 blocks use the ISA's
 * register transpose where it has one; the rest go through a local block so both sides are
 * still accessed along their rows. */
static void transpose_block(const float *restrict s, long lds, int rows, int width, int cols,
                            float *restrict d, long ldd) {
    float t[8][8];
    if (rows == 8 && width == 8 && cols == 8) {
#ifdef SEI_TRANSPOSE8
        SEI_TRANSPOSE8(s, lds, d, ldd);
#else
        for (int j = 0; j < 8; j++)
            for (int k = 0; k < 8; k++) t[k][j] = s[j * lds + k];
        for (int k = 0; k < 8; k++)
            for (int j = 0; j < 8; j++) d[k * ldd + j] = t[k][j];
#endif
        return;
    }
    for (int j = 0; j < width; j++)
        for (int k = 0; k < cols; k++) t[k][j] = j < rows ? s[j * lds + k] : 0.0f;
    for (int k = 0; k < cols; k++)
        for (int j = 0; j < width; j++) d[k * ldd + j] = t[k][j];
}

/* Ap <- op(A)[i0 : i0+mc, p0 : p0+kc] as ceil(mc/MR) micro-panels of kc x MR (k-major).
 * Both layouts are read along their stored rows, so the hardware prefetcher sees a few
 * long streams rather than hundreds of short ones. */
static void pack_a(const Gemm *g, int i0, int mc, int p0, int kc, float *restrict Ap) {
    long lda = g->lda;
    if (!g->ta) { /* A[i][k]: MR source rows per panel, each contiguous in k */
        for (int ir = 0; ir < mc; ir += MR, Ap += (long)MR * kc) {
            int m = imin(MR, mc - ir);
            const float *src = g->A + (long)(i0 + ir) * lda + p0;
            if (MR == 8 && m == 8) {
                for (int k0 = 0; k0 < kc; k0 += 8)
                    transpose_block(src + k0, lda, 8, 8, imin(8, kc - k0), Ap + (long)k0 * 8, 8);
            } else if (m == MR) {
                for (int k = 0; k < kc; k++)
                    for (int i = 0; i < MR; i++) Ap[(long)k * MR + i] = src[i * lda + k];
            } else {
                for (int k = 0; k < kc; k++) {
                    for (int i = 0; i < m; i++) Ap[(long)k * MR + i] = src[i * lda + k];
                    for (int i = m; i < MR; i++) Ap[(long)k * MR + i] = 0.0f;
                }
            }
        }
    } else { /* A stored [K][M]: 8 source rows at a time, swept across all the panels */
        for (int k0 = 0; k0 < kc; k0 += 8) {
            int k1 = imin(kc, k0 + 8);
            const float *s = g->A + (long)(p0 + k0) * lda + i0;
            float *d = Ap + (long)k0 * MR;
            for (int ir = 0; ir < mc; ir += MR, d += (long)MR * kc) {
                int m = imin(MR, mc - ir);
                for (int k = 0; k < k1 - k0; k++) {
                    for (int i = 0; i < m; i++) d[k * MR + i] = s[k * lda + ir + i];
                    for (int i = m; i < MR; i++) d[k * MR + i] = 0.0f;
                }
            }
        }
    }
}

/* Bp <- op(B)[p0 : p0+kc, j0 : j0+nc] as ceil(nc/NR) micro-panels of kc x NR (k-major),
 * read along the stored rows like pack_a */
static void pack_b(const Gemm *g, int p0, int kc, int j0, int nc, float *restrict Bp) {
    long ldb = g->ldb;
    if (!g->tb) { /* B[k][j]: 8 source rows at a time, swept across all the panels */
        for (int k0 = 0; k0 < kc; k0 += 8) {
            int k1 = imin(kc, k0 + 8);
            const float *s = g->B + (long)(p0 + k0) * ldb + j0;
            float *d = Bp + (long)k0 * NR;
            int jr = 0;
            for (; jr + NR <= nc; jr += NR, d += (long)NR * kc)
                for (int k = 0; k < k1 - k0; k++)
                    memcpy(d + k * NR, s + k * ldb + jr, sizeof(float) * NR);
            if (jr < nc) {
                int n = nc - jr;
                for (int k = 0; k < k1 - k0; k++) {
                    for (int j = 0; j < n; j++) d[k * NR + j] = s[k * ldb + jr + j];
                    for (int j = n; j < NR; j++) d[k * NR + j] = 0.0f;
                }
            }
        }
    } else { /* B stored [N][K]: NR source rows per panel, each contiguous in k */
        for (int jr = 0; jr < nc; jr += NR, Bp += (long)NR * kc) {
            int n = imin(NR, nc - jr);
            const float *src = g->B + (long)(j0 + jr) * ldb + p0;
            for (int jb = 0; jb < NR; jb += 8) { /* 8 source rows at a time */
                int w = imin(8, NR - jb), rows = imin(w, n - jb);
                for (int k0 = 0; k0 < kc; k0 += 8)
                    transpose_block(src + (long)jb * ldb + k0, ldb, rows < 0 ? 0 : rows, w,
                                    imin(8, kc - k0), Bp + (long)k0 * NR + jb, NR);
            }
        }
    }
}

/* ---------------------------------------------------------------- blocked loops */

/* a tile that is partial (m < MR or n < NR) or transposed (tc) goes through a temporary
 * full tile, so the kernel's arithmetic is the same for every tile */
static void temp_tile(int kc, float alpha, const float *Ap, const float *Bp, float beta,
                      float *C, long ldc, int m, int n, int tc) {
    _Alignas(64) float t[MR * NR];
    if (beta != 0.0f) {
        memset(t, 0, sizeof t);
        if (!tc)
            for (int i = 0; i < m; i++) memcpy(t + i * NR, C + i * ldc, sizeof(float) * n);
        else /* along C's rows: tile column j is row j of C */
            for (int j = 0; j < n; j++)
                for (int i = 0; i < m; i++) t[i * NR + j] = C[j * ldc + i];
    }
    SEI_UKERNEL(kc, alpha, Ap, Bp, beta, t, NR);
    if (!tc)
        for (int i = 0; i < m; i++) memcpy(C + i * ldc, t + i * NR, sizeof(float) * n);
    else
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) C[j * ldc + i] = t[i * NR + j];
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

/* the pre-packed product on C[i0:i1, j0:j1] by plain loops, when no packing buffer can be
 * had: slow but correct (same k order; the last rounding may differ from the kernel's) */
static void pb_ref(const Gemm *g, int i0, int i1, int j0, int j1) {
    const int K = g->K, nk = k_blocks(K);
    for (int i = i0; i < i1; i++)
        for (int j = j0; j < j1; j++) {
            float *c = g->C + (long)i * g->ldc + j;
            for (int p = 0; p < nk; p++) {
                const int pc = k_start(K, nk, p), kc = k_start(K, nk, p + 1) - pc;
                const float *b = g->Bpre + (long)pc * g->npad + (long)(j / NR) * NR * kc + j % NR;
                float s = 0.0f;
                for (int k = 0; k < kc; k++) {
                    const float a = g->ta ? g->A[(long)(pc + k) * g->lda + i]
                                          : g->A[(long)i * g->lda + pc + k];
                    s = fmaf(a, b[(long)k * NR], s);
                }
                const float beta = p == 0 ? g->beta : 1.0f;
                *c = g->alpha * s + (beta == 0.0f ? 0.0f : beta * *c);
            }
        }
}

/* C[i0:i1, j0:j1] of the whole product, on the calling thread */
static void gemm_slab(const Gemm *g, int i0, int i1, int j0, int j1) {
    int M = i1 - i0, N = j1 - j0, K = g->K;
    int nk = k_blocks(K);
    int kcmax = (K + nk - 1) / nk;
    /* with a single A block the B panel is used once: keep it small enough for L2 */
    int ncb = M <= MC ? NC_SMALL : NC;
    int mcmax = imin(MC, (M + MR - 1) / MR * MR), ncmax = imin(ncb, (N + NR - 1) / NR * NR);
    size_t a_size = ((size_t)mcmax * kcmax + 15) / 16 * 16; /* keeps Bp 64-byte aligned */
    float *Ap = pack_buffer(a_size + (g->Bpre ? 0 : (size_t)ncmax * kcmax));
    if (!Ap && g->Bpre) { /* out of memory: slow but correct */
        pb_ref(g, i0, i1, j0, j1);
        return;
    }
    if (!Ap) {
        const float *A = g->ta ? g->A + i0 : g->A + (long)i0 * g->lda; /* op(A) row i0 */
        const float *B = g->tb ? g->B + (long)j0 * g->ldb : g->B + j0; /* op(B) col j0 */
        if (!g->tc)
            sei_gemm_ref(g->ta, g->tb, M, N, K, g->alpha, A, (int)g->lda, B, (int)g->ldb,
                         g->beta, g->C + (long)i0 * g->ldc + j0, (int)g->ldc);
        else /* C^T = op(A) op(B) means C = op(B)^T op(A)^T */
            sei_gemm_ref(!g->tb, !g->ta, N, M, K, g->alpha, B, (int)g->ldb, A, (int)g->lda,
                         g->beta, g->C + (long)j0 * g->ldc + i0, (int)g->ldc);
        return;
    }
    float *Bp = Ap + a_size;

    for (int jc = j0; jc < j1; jc += ncb) {
        int nc = imin(ncb, j1 - jc);
        for (int p = 0; p < nk; p++) {
            int pc = k_start(K, nk, p), kc = k_start(K, nk, p + 1) - pc;
            float beta = p == 0 ? g->beta : 1.0f;
            if (g->Bpre) /* jc is a multiple of NR: panel jc / NR of K block p */
                Bp = (float *)g->Bpre + (long)pc * g->npad + (long)jc * kc;
            else
                pack_b(g, pc, kc, jc, nc, Bp);
            for (int ic = i0; ic < i1; ic += MC) {
                int mc = imin(MC, i1 - ic);
                pack_a(g, ic, mc, pc, kc, Ap);
                for (int jr = 0; jr < nc; jr += NR) {
                    int n = imin(NR, nc - jr);
                    const float *bp = Bp + (long)jr * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int m = imin(MR, mc - ir);
                        const float *ap = Ap + (long)ir * kc;
                        if (g->tc)
                            temp_tile(kc, g->alpha, ap, bp, beta,
                                      g->C + (long)(jc + jr) * g->ldc + ic + ir, g->ldc, m, n, 1);
                        else if (m == MR && n == NR)
                            SEI_UKERNEL(kc, g->alpha, ap, bp, beta,
                                        g->C + (long)(ic + ir) * g->ldc + jc + jr, g->ldc);
                        else
                            temp_tile(kc, g->alpha, ap, bp, beta,
                                      g->C + (long)(ic + ir) * g->ldc + jc + jr, g->ldc, m, n, 0);
                    }
                }
            }
        }
    }
}

/* M x N rounded up to whole tiles */
static double padded(int M, int N) {
    return (double)((M + MR - 1) / MR * MR) * (double)((N + NR - 1) / NR * NR);
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
    int a = (int)((long)tiles * t / T) * tile;
    int b = imin(len, (int)((long)tiles * (t + 1) / T) * tile);
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
    /* ~8 FMAs per packed float. A pre-packed B is charged the same: each thread of an M
     * split still streams all of it from L3 (measured: dropping that charge made ResNet-50
     * at 64x64 4% slower) */
    double pack = (split_m ? (double)K * N : (double)K * M) * 8.0;
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

/* N is so much narrower than the tile width that C^T = op(B)^T op(A)^T costs less */
static int transposed_pays(int M, int N, int K) {
    return padded(N, M) * K + SEI_TC_COST * M * N * k_blocks(K) < padded(M, N) * K;
}

int sei_gemm_pb_pays(int M, int N, int K) { return !transposed_pays(M, N, K); }

/* the product on as many threads as pay (see the header comment) */
static void gemm_run(const Gemm *g, int M, int N) {
#ifdef _OPENMP
    if ((double)M * N * g->K >= SEI_GEMM_MIN_PARALLEL && !omp_in_parallel()) {
        int T = omp_get_max_threads();
        if (T > 1) {
            gemm_parallel(g, M, N, T);
            return;
        }
    }
#endif
    gemm_slab(g, 0, M, 0, N);
}

void sei_gemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    Gemm g = {transA, transB, 0, K, alpha, beta, A, B, C, lda, ldb, ldc, NULL, 0};
    if (transposed_pays(M, N, K)) {
        /* N is much smaller than the tile width: compute C^T[N,M] = op(B)^T op(A)^T, whose
         * wide side is M. Each element is the same FMA chain either way (products commute),
         * so the bits do not change. */
        Gemm s = {!transB, !transA, 1, K, alpha, beta, B, A, C, ldb, lda, ldc, NULL, 0};
        int t = M;
        g = s;
        M = N;
        N = t;
    }
    gemm_run(&g, M, N);
}

/* ---------------------------------------------------------------- pre-packed B */

size_t sei_gemm_pb_size(int K, int N) {
    return (size_t)K * ((N + NR - 1) / NR * NR);
}

GemmPbRow sei_gemm_pb_row(int K, int N, int k) {
    const int nk = k_blocks(K);
    int p = (int)((long)k * nk / K); /* k_start is floor(K*p/nk): find k's block */
    while (p > 0 && k_start(K, nk, p) > k) p--;
    while (p + 1 < nk && k_start(K, nk, p + 1) <= k) p++;
    const int pc = k_start(K, nk, p), kc = k_start(K, nk, p + 1) - pc;
    const long npad = (N + NR - 1) / NR * NR;
    return (GemmPbRow){NR, (long)pc * npad + (long)(k - pc) * NR, (long)kc * NR};
}

void sei_gemm_pb(int transA, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *Bp, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    Gemm g = {transA, 0, 0, K, alpha, beta, A, NULL, C, lda, 0, ldc, Bp,
              (N + NR - 1) / NR * NR};
    if ((uintptr_t)Bp % 64) { /* the kernels load panels aligned: never fault, only slow */
        pb_ref(&g, 0, M, 0, N);
        return;
    }
    gemm_run(&g, M, N);
}

const char *sei_gemm_isa(void) { return SEI_GEMM_ISA; }
