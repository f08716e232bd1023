/* test_gemm.c - sei_gemm (packed, blocked, threaded) against sei_gemm_ref (naive, double).
 *
 * Covers all four transpose combinations, alpha in {1, 0.5, -2}, beta in {0, 1, -0.5},
 * beta == 0 over a NaN-filled C, leading dimensions larger than the minimum (the padding of
 * A and B is NaN, so reading it poisons the result; C's padding must come back untouched),
 * sizes that are not multiples of any tile (1 .. 300, K = 1, K = 0), big shapes checked on
 * sampled elements, and bit-identical results across runs and thread counts.
 *
 * Tolerance: |C - ref| <= 2e-7 * (sqrt(K) + 4) * (|alpha| * sum_k |a_ik b_kj| + |beta c_ij|),
 * i.e. relative to the magnitudes summed, which does not vanish under cancellation. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "engine/rng.h"
#include "kernels/gemm.h"
#include "tests/harness.h"
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C, *C0; /* C0: C before the call */
} Case;

static Rng g_rng;

static float *filled(size_t n, float pad) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = pad;
    return p;
}

/* random rows x cols matrix with leading dimension ld; padding columns are pad */
static float *random_matrix(int rows, int cols, int ld, float pad) {
    float *p = filled((size_t)rows * ld, pad);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) p[(size_t)i * ld + j] = 2.0f * rng_uniform(&g_rng) - 1.0f;
    return p;
}

static void case_init(Case *c, int ta, int tb, int M, int N, int K, int extra, float alpha,
                      float beta, int nan_c) {
    memset(c, 0, sizeof *c);
    c->ta = ta; c->tb = tb; c->M = M; c->N = N; c->K = K;
    c->alpha = alpha; c->beta = beta;
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    c->lda = ac + extra; c->ldb = bc + 2 * extra; c->ldc = N + extra;
    if (c->lda < 1) c->lda = 1;
    if (c->ldb < 1) c->ldb = 1;
    c->A = random_matrix(ar, ac, c->lda, NAN);
    c->B = random_matrix(br, bc, c->ldb, NAN);
    c->C = random_matrix(M, N, c->ldc, 12345.0f);
    if (nan_c)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) c->C[(size_t)i * c->ldc + j] = NAN;
    c->C0 = malloc((size_t)M * c->ldc * sizeof(float));
    memcpy(c->C0, c->C, (size_t)M * c->ldc * sizeof(float));
}

static void case_free(Case *c) { free(c->A); free(c->B); free(c->C); free(c->C0); }

static void run_fast(Case *c, float *C) {
    sei_gemm(c->ta, c->tb, c->M, c->N, c->K, c->alpha, c->A, c->lda, c->B, c->ldb, c->beta, C,
             c->ldc);
}

static double a_at(const Case *c, int i, int k) {
    return c->ta ? c->A[(size_t)k * c->lda + i] : c->A[(size_t)i * c->lda + k];
}
static double b_at(const Case *c, int k, int j) {
    return c->tb ? c->B[(size_t)j * c->ldb + k] : c->B[(size_t)k * c->ldb + j];
}

/* error budget of element (i, j) */
static double budget(const Case *c, int i, int j) {
    double mag = 0;
    for (int k = 0; k < c->K; k++) mag += fabs(a_at(c, i, k) * b_at(c, k, j));
    double c0 = c->beta == 0.0f ? 0.0 : fabs((double)c->beta * c->C0[(size_t)i * c->ldc + j]);
    return 2e-7 * (sqrt((double)c->K) + 4.0) * (fabs((double)c->alpha) * mag + c0) + 1e-30;
}

/* check C (from sei_gemm) against ref on every element (every step-th when step > 1);
 * C's padding columns must be untouched. Returns the worst error / budget ratio. */
static double check(const Case *c, const float *C, const float *ref, int step) {
    double worst = 0;
    long n = 0;
    for (int i = 0; i < c->M; i++)
        for (int j = 0; j < c->ldc; j++, n++) {
            size_t o = (size_t)i * c->ldc + j;
            if (j >= c->N) {
                if (C[o] != 12345.0f) return INFINITY;
                continue;
            }
            if (step > 1 && n % step) continue;
            double e = fabs((double)C[o] - (double)ref[o]);
            if (e != e) return INFINITY;
            e /= budget(c, i, j);
            if (e > worst) worst = e;
        }
    return worst;
}

/* one full comparison against sei_gemm_ref */
static void compare(int ta, int tb, int M, int N, int K, int extra, float alpha, float beta,
                    int nan_c) {
    Case c;
    case_init(&c, ta, tb, M, N, K, extra, alpha, beta, nan_c);
    float *ref = malloc((size_t)M * c.ldc * sizeof(float));
    memcpy(ref, c.C, (size_t)M * c.ldc * sizeof(float));
    sei_gemm_ref(ta, tb, M, N, K, alpha, c.A, c.lda, c.B, c.ldb, beta, ref, c.ldc);
    run_fast(&c, c.C);
    double w = check(&c, c.C, ref, 1);
    EXPECT(w <= 1.0, "ta=%d tb=%d M=%d N=%d K=%d ld+%d alpha=%g beta=%g nanC=%d: error %.3g x "
           "budget", ta, tb, M, N, K, extra, alpha, beta, nan_c, w);
    free(ref);
    case_free(&c);
}

static const int sizes[] = {1, 2, 3, 7, 13, 31, 33, 63, 65, 100, 127, 129, 257, 300};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

/* every transpose x alpha x beta on small awkward shapes, minimal and padded ld */
static void test_small_all_modes(void) {
    const float alphas[] = {1.0f, 0.5f, -2.0f}, betas[] = {0.0f, 1.0f, -0.5f};
    const int shapes[][3] = {{1, 1, 1}, {1, 7, 3}, {7, 1, 13}, {3, 2, 1}, {13, 31, 7},
                             {31, 33, 65}, {17, 49, 9}, {9, 47, 300}, {33, 100, 2}};
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
        for (int t = 0; t < 4; t++)
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    compare(t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2],
                            (s + a + b) % 3 * 3, alphas[a], betas[b], 0);
}

/* M, N, K drawn from the awkward sizes; modes rotate through the combinations */
static void test_awkward_sizes(void) {
    int n = 0;
    for (int i = 0; i < NSIZES; i++)
        for (int j = 0; j < NSIZES; j += 3)
            for (int k = (i + j) % 4; k < NSIZES; k += 4, n++) {
                int M = sizes[i], N = sizes[(j + i) % NSIZES], K = sizes[k];
                if ((double)M * N * K > 3e6) continue;
                compare(n & 1, (n >> 1) & 1, M, N, K, n % 3 == 0 ? 0 : 5,
                        n % 5 == 0 ? 0.5f : 1.0f, (float[]){0.0f, 1.0f, -0.5f}[n % 3], 0);
            }
}

/* beta == 0 must overwrite C, NaN included */
static void test_beta0_nan(void) {
    for (int t = 0; t < 4; t++) {
        compare(t & 1, t >> 1, 33, 65, 31, 0, 1.0f, 0.0f, 1);
        compare(t & 1, t >> 1, 129, 100, 700, 3, 0.5f, 0.0f, 1); /* several K blocks */
        compare(t & 1, t >> 1, 2, 3, 1, 1, 1.0f, 0.0f, 1);
    }
}

/* K = 0 (and alpha = 0): C = beta * C, A and B unread */
static void test_k0(void) {
    const float betas[] = {0.0f, 1.0f, -0.5f};
    for (int b = 0; b < 3; b++) {
        int M = 13, N = 31, ldc = 40;
        float *C = random_matrix(M, N, ldc, 12345.0f), *C0 = malloc(sizeof(float) * M * ldc);
        memcpy(C0, C, sizeof(float) * M * ldc);
        float nan_ab = NAN;
        sei_gemm(0, 0, M, N, 0, 1.0f, &nan_ab, 1, &nan_ab, 1, betas[b], C, ldc);
        float *want = malloc(sizeof(float) * M * ldc);
        for (int i = 0; i < M * ldc; i++)
            want[i] = i % ldc >= N ? 12345.0f : betas[b] == 0.0f ? 0.0f : betas[b] * C0[i];
        double e = rel_err(C, want, (size_t)M * ldc, 1.0);
        EXPECT(e == 0.0, "K=0 beta=%g: C differs from beta*C by %.3g", betas[b], e);
        compare(0, 1, M, N, 0, 2, 1.0f, betas[b], 0);
        free(C); free(C0); free(want);
    }
}

/* big and tall/skinny shapes (conv, linear): every 7th element against a double dot product */
static void test_big_sampled(void) {
    const int shapes[][5] = { /* M, N, K, ta, tb */
        {512, 512, 512, 0, 0}, {64, 3136, 27, 0, 0}, {64, 3136, 576, 0, 0},
        {576, 784, 128, 1, 0}, {128, 1152, 784, 0, 1}, {16, 1000, 4096, 0, 1},
        {2048, 16, 2000, 0, 0}, {4, 700, 2500, 1, 1}, {1000, 1001, 4, 1, 0}};
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
        const int *p = shapes[s];
        Case c;
        case_init(&c, p[3], p[4], p[0], p[1], p[2], s % 2, 1.0f, s % 3 ? 1.0f : 0.0f, 0);
        run_fast(&c, c.C);
        float *ref = malloc((size_t)c.M * c.ldc * sizeof(float));
        memcpy(ref, c.C, (size_t)c.M * c.ldc * sizeof(float));
        for (size_t o = 0; o < (size_t)c.M * c.ldc; o += 7) {
            int i = (int)(o / c.ldc), j = (int)(o % c.ldc);
            if (j >= c.N) continue;
            double sum = 0;
            for (int k = 0; k < c.K; k++) sum += a_at(&c, i, k) * b_at(&c, k, j);
            ref[o] = (float)(c.alpha * sum + (c.beta == 0.0f ? 0.0 : c.beta * c.C0[o]));
        }
        double w = check(&c, c.C, ref, 7);
        EXPECT(w <= 1.0, "M=%d N=%d K=%d ta=%d tb=%d: error %.3g x budget", c.M, c.N, c.K, c.ta,
               c.tb, w);
        free(ref);
        case_free(&c);
    }
}

/* same inputs, same bits: twice in a row, and with 1 vs all threads */
static void test_deterministic(void) {
    const int shapes[][3] = {{300, 257, 129}, {64, 1000, 300}, {1000, 64, 65}, {129, 129, 600}};
    for (int s = 0; s < 4; s++) {
        Case c;
        case_init(&c, s & 1, s >> 1, shapes[s][0], shapes[s][1], shapes[s][2], 1, 0.5f, -0.5f, 0);
        size_t bytes = (size_t)c.M * c.ldc * sizeof(float);
        float *r1 = malloc(bytes), *r2 = malloc(bytes);
        memcpy(r1, c.C0, bytes);
        memcpy(r2, c.C0, bytes);
        run_fast(&c, r1);
        run_fast(&c, r2);
        EXPECT(!memcmp(r1, r2, bytes), "shape %d: two runs differ", s);
#ifdef _OPENMP
        int nt = omp_get_max_threads();
        memcpy(r2, c.C0, bytes);
        omp_set_num_threads(1);
        run_fast(&c, r2);
        omp_set_num_threads(nt > 1 ? nt : 2);
        memcpy(r1, c.C0, bytes);
        run_fast(&c, r1);
        omp_set_num_threads(nt);
        EXPECT(!memcmp(r1, r2, bytes), "shape %d: 1 thread and %d threads differ", s,
               nt > 1 ? nt : 2);
#endif
        free(r1); free(r2);
        case_free(&c);
    }
}

/* C^T computed as op(B)^T op(A)^T gives C's bits transposed: each element is the same FMA
 * chain whichever way round (and whichever orientation sei_gemm picks internally) */
static void test_transpose_identity(void) {
    const int shapes[][3] = {{300, 5, 77}, {7, 129, 600}, {65, 63, 31}, {1, 200, 3}};
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < 4; t++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ta = t & 1, tb = t >> 1;
            Case c;
            case_init(&c, ta, tb, M, N, K, 0, 1.0f, 0.0f, 0);
            float *ct = malloc(sizeof(float) * M * N);
            run_fast(&c, c.C);
            sei_gemm(!tb, !ta, N, M, K, 1.0f, c.B, c.ldb, c.A, c.lda, 0.0f, ct, M);
            int bad = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++)
                    bad += memcmp(&c.C[(size_t)i * c.ldc + j], &ct[(size_t)j * M + i], 4) != 0;
            EXPECT(!bad, "M=%d N=%d K=%d ta=%d tb=%d: %d elements of C^T differ from C", M, N,
                   K, ta, tb, bad);
            free(ct);
            case_free(&c);
        }
}

/* sei_gemm_pb on B written into the documented pre-packed layout gives sei_gemm's bits
 * (several K blocks, N not a multiple of the panel width, beta 0 and not, 1 and T threads) */
static void test_prepacked_b(void) {
    const int shapes[][3] = {{8, 48, 16}, {37, 101, 1100}, {130, 7, 300}, {1, 200, 3},
                             {64, 1000, 577}};
    for (int s = 0; s < 5; s++)
        for (int t = 0; t < 4; t++) {
            const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ta = t & 1;
            const float beta = t >> 1 ? -0.5f : 0.0f;
            Case c;
            case_init(&c, ta, 0, M, N, K, 0, 0.75f, beta, 0);
            const size_t n = sei_gemm_pb_size(K, N);
            float *bp = malloc(n * sizeof(float) + 64), *cp = malloc(sizeof(float) * M * c.ldc);
            float *al = (float *)(((uintptr_t)bp + 63) & ~(uintptr_t)63);
            for (size_t i = 0; i < n; i++) al[i] = 1e30f; /* unwritten slots would show */
            for (int k = 0; k < K; k++) {
                const GemmPbRow r = sei_gemm_pb_row(K, N, k);
                const int npad = (N + r.nr - 1) / r.nr * r.nr;
                for (int j = 0; j < npad; j++)
                    al[r.row + (j / r.nr) * r.panel + j % r.nr] = j < N ? c.B[(size_t)k * c.ldb + j] : 0.0f;
            }
            int holes = 0;
            for (size_t i = 0; i < n; i++) holes += al[i] == 1e30f;
            EXPECT(!holes, "M=%d N=%d K=%d: %d slots of the packed layout not addressed", M, N, K, holes);
            memcpy(c.C, c.C0, sizeof(float) * M * c.ldc);
            memcpy(cp, c.C0, sizeof(float) * M * c.ldc);
            run_fast(&c, c.C);
            sei_gemm_pb(ta, M, N, K, c.alpha, c.A, c.lda, al, c.beta, cp, c.ldc);
            int bad = 0;
            for (int i = 0; i < M; i++)
                bad += memcmp(c.C + (size_t)i * c.ldc, cp + (size_t)i * c.ldc, sizeof(float) * N) != 0;
            EXPECT(!bad, "M=%d N=%d K=%d ta=%d beta=%g: %d rows differ from sei_gemm", M, N, K,
                   ta, beta, bad);
#ifdef _OPENMP
            int nt = omp_get_max_threads();
            omp_set_num_threads(1);
            memcpy(cp, c.C0, sizeof(float) * M * c.ldc);
            sei_gemm_pb(ta, M, N, K, c.alpha, c.A, c.lda, al, c.beta, cp, c.ldc);
            omp_set_num_threads(nt);
            bad = 0;
            for (int i = 0; i < M; i++)
                bad += memcmp(c.C + (size_t)i * c.ldc, cp + (size_t)i * c.ldc, sizeof(float) * N) != 0;
            EXPECT(!bad, "M=%d N=%d K=%d: 1 thread differs (%d rows)", M, N, K, bad);
#endif
            free(bp); free(cp);
            case_free(&c);
        }
}

static void test_isa_name(void) {
    const char *s = sei_gemm_isa();
    EXPECT(s && (!strcmp(s, "avx512") || !strcmp(s, "avx2") || !strcmp(s, "neon") ||
                 !strcmp(s, "scalar")), "sei_gemm_isa() = %s", s ? s : "(null)");
#ifdef SEI_NO_SIMD
    EXPECT(!strcmp(s, "scalar"), "SEI_NO_SIMD build uses %s", s);
#endif
}

int main(void) {
    rng_seed(&g_rng, 1234);
    printf("# sei_gemm micro-kernel: %s\n", sei_gemm_isa());
    RUN(test_isa_name);
    RUN(test_small_all_modes);
    RUN(test_awkward_sizes);
    RUN(test_beta0_nan);
    RUN(test_k0);
    RUN(test_big_sampled);
    RUN(test_deterministic);
    RUN(test_transpose_identity);
    RUN(test_prepacked_b);
    return test_summary();
}
