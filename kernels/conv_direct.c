/* conv_direct.c - direct stride-1 convolution over zero-padded planes (see conv_direct.h):
 * the forward/backward-data tile and the weight-gradient reduction used by the
 * channel-sparse convs of sparse.c. Backward-data is the same forward tile run on the
 * padded output gradient with the kernels flipped and transposed, so two kernels cover
 * the three products.
 *
 * Forward tile (AVX-512): 4 output channels x V <= 6 vectors of 16 positions = up to 24
 * accumulators; per (input channel, tap): V unaligned loads of the shifted input, 4 weight
 * broadcasts, 4V multiply-adds. Weight gradient: 2 output channels x up to 9 taps = 18
 * accumulators; per 16 positions: 2 gradient loads, one shifted input load per tap, 18
 * multiply-adds, reduced across lanes once per (channel pair, input channel).
 * Without AVX-512 the same tiles run as plain C loops (the portable path). */
#include <math.h>
#include <string.h>
#include "kernels/conv_direct.h"

#if defined(__AVX512F__) && !defined(SEI_NO_SIMD)
#include <immintrin.h>
#define DIRECT_AVX512 1
#endif

#define MAXV 6   /* vectors per forward tile */
#define OCB 4    /* output channels per forward tile */
#define DWB 2    /* output channels per weight-gradient tile */
#define DWT 9    /* taps per weight-gradient tile */

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

int direct_simd(void) {
#ifdef DIRECT_AVX512
    return 1;
#else
    return 0;
#endif
}

int direct_geom(DirectGeom *g, int IH, int IW, int KH, int KW, int ph, int pw) {
    memset(g, 0, sizeof *g);
    g->IH = IH, g->IW = IW, g->KH = KH, g->KW = KW, g->ph = ph, g->pw = pw;
    g->Hp = IH + 2 * ph, g->Wp = IW + 2 * pw;
    g->OH = g->Hp - KH + 1, g->OW = g->Wp - KW + 1;
    if (IH < 1 || IW < 1 || KH < 1 || KW < 1 || KH * KW > DIRECT_MAXKK || ph < 0 || pw < 0 || g->OH < 1 || g->OW < 1) return 0;
    g->Q = g->OH * g->Wp;
    g->V = (g->Q + 15) / 16 < MAXV ? (g->Q + 15) / 16 : MAXV;
    g->QL = (int)round16((size_t)g->Q);
    const size_t tq = (size_t)16 * g->V, qr = ((size_t)g->Q + tq - 1) / tq * tq;
    const size_t reach = qr + (size_t)(KH - 1) * g->Wp + (size_t)KW - 1;
    const size_t plane = (size_t)g->Hp * g->Wp;
    g->PL = round16(reach > plane ? reach : plane);
    return 1;
}

void direct_pad(float *xp, const float *x, const DirectGeom *g) {
    memset(xp, 0, g->PL * sizeof(float));
    for (int ih = 0; ih < g->IH; ih++)
        memcpy(xp + (size_t)(ih + g->ph) * g->Wp + g->pw, x + (size_t)ih * g->IW, (size_t)g->IW * sizeof(float));
}

void direct_rows(float *dyx, const float *dy, const DirectGeom *g) {
    memset(dyx, 0, (size_t)g->QL * sizeof(float));
    for (int oh = 0; oh < g->OH; oh++)
        memcpy(dyx + (size_t)oh * g->Wp, dy + (size_t)oh * g->OW, (size_t)g->OW * sizeof(float));
}

static void tap_offsets(int *off, const DirectGeom *g) {
    for (int kh = 0; kh < g->KH; kh++)
        for (int kw = 0; kw < g->KW; kw++) off[kh * g->KW + kw] = kh * g->Wp + kw;
}

/* ---------------------------------------------------------------- forward tile
 * A tile is V vectors of 16 positions x nb <= 4 output channels. Vector v reads the input
 * at xp + in[v] + off[t] (tap t) and holds, for output channel o,
 *     b[o] + sum_j sum_t w[o*ldw + j*KK + t] * xp[j*PL + in[v] + off[t] + lane].
 * Where it goes: with no Out, raw into tmp[o*16V + 16v] (the padded-row layout, whose extra
 * columns store_tile drops); with an Out, straight into output plane o at out[v], through
 * the epilogue (or added to it): the row layout, used when OW is a multiple of 16 so a
 * vector never straddles two rows. */
typedef struct {
    int V;
    int in[MAXV], out[MAXV];
} TileGeo;

typedef struct {
    float *y;                   /* plane of output channel o: y + (map ? map[o] : o) * P */
    const int32_t *map;
    size_t P;
    const float *alpha, *shift; /* eval BN, per output channel (NULL: none) */
    int relu, accumulate;       /* accumulate: y += v (no epilogue) */
} TileOut;

#ifdef DIRECT_AVX512
static inline __attribute__((always_inline)) void tile(const TileGeo *tg, float *tmp, const TileOut *to,
                                                       int o0, const float *xp, size_t PL, const float *w,
                                                       size_t ldw, int Cin, const int *off, int KK,
                                                       const float *b, const int nb, const int V) {
    __m512 acc[OCB][MAXV];
#pragma GCC unroll 4
    for (int o = 0; o < OCB; o++)
#pragma GCC unroll 6
        for (int v = 0; v < MAXV; v++) acc[o][v] = _mm512_set1_ps(b && o < nb ? b[o] : 0.0f);
    for (int j = 0; j < Cin; j++) {
        const float *x = xp + (size_t)j * PL, *wj = w + (size_t)j * KK;
        for (int t = 0; t < KK; t++) {
            const float *xt = x + off[t];
            __m512 xv[MAXV];
#pragma GCC unroll 6
            for (int v = 0; v < MAXV; v++) xv[v] = v < V ? _mm512_loadu_ps(xt + tg->in[v]) : _mm512_setzero_ps();
#pragma GCC unroll 4
            for (int o = 0; o < OCB; o++) {
                if (o >= nb) break;
                const __m512 wv = _mm512_set1_ps(wj[(size_t)o * ldw + t]);
#pragma GCC unroll 6
                for (int v = 0; v < MAXV; v++)
                    if (v < V) acc[o][v] = _mm512_fmadd_ps(wv, xv[v], acc[o][v]);
            }
        }
    }
    if (!to) {
#pragma GCC unroll 4
        for (int o = 0; o < OCB; o++)
#pragma GCC unroll 6
            for (int v = 0; v < MAXV; v++)
                if (o < nb && v < V) _mm512_storeu_ps(tmp + (size_t)o * 16 * V + 16 * v, acc[o][v]);
        return;
    }
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int o = 0; o < OCB; o++) {
        if (o >= nb) break;
        const int oc = o0 + o;
        float *d = to->y + (size_t)(to->map ? to->map[oc] : oc) * to->P;
        const __m512 al = _mm512_set1_ps(to->alpha ? to->alpha[oc] : 1.0f);
        const __m512 sh = _mm512_set1_ps(to->alpha ? to->shift[oc] : 0.0f);
#pragma GCC unroll 6
        for (int v = 0; v < MAXV; v++) {
            if (v >= V) break;
            __m512 r = acc[o][v];
            if (to->accumulate) r = _mm512_add_ps(_mm512_loadu_ps(d + tg->out[v]), r);
            else {
                if (to->alpha) r = _mm512_fmadd_ps(r, al, sh);
                if (to->relu) r = _mm512_max_ps(r, zero);
            }
            _mm512_storeu_ps(d + tg->out[v], r);
        }
    }
}

#define TILE_CASE(NB, VV) \
    case NB * 8 + VV: tile(tg, tmp, to, o0, xp, PL, w, ldw, Cin, off, KK, b, NB, VV); break;
#define TILE_CASES(NB) \
    TILE_CASE(NB, 1) TILE_CASE(NB, 2) TILE_CASE(NB, 3) TILE_CASE(NB, 4) TILE_CASE(NB, 5) TILE_CASE(NB, 6)

static void run_tile(const TileGeo *tg, float *tmp, const TileOut *to, int o0, const float *xp, size_t PL,
                     const float *w, size_t ldw, int Cin, const int *off, int KK, const float *b, int nb) {
    switch (nb * 8 + tg->V) { /* constant nb and V, so each case keeps its tile in registers */
        TILE_CASES(1) TILE_CASES(2) TILE_CASES(3) TILE_CASES(4)
    default: break;
    }
}
#else
static void run_tile(const TileGeo *tg, float *tmp, const TileOut *to, int o0, const float *xp, size_t PL,
                     const float *w, size_t ldw, int Cin, const int *off, int KK, const float *b, int nb) {
    for (int o = 0; o < nb; o++)
        for (int v = 0; v < tg->V; v++) {
            float r[16];
            for (int i = 0; i < 16; i++) r[i] = b ? b[o] : 0.0f;
            for (int j = 0; j < Cin; j++)
                for (int t = 0; t < KK; t++) {
                    const float wv = w[(size_t)o * ldw + (size_t)j * KK + t];
                    const float *x = xp + (size_t)j * PL + tg->in[v] + off[t];
                    for (int i = 0; i < 16; i++) r[i] += wv * x[i];
                }
            if (!to) {
                memcpy(tmp + (size_t)o * 16 * tg->V + 16 * v, r, sizeof r);
                continue;
            }
            const int oc = o0 + o;
            float *d = to->y + (size_t)(to->map ? to->map[oc] : oc) * to->P + tg->out[v];
            for (int i = 0; i < 16; i++) {
                float x = r[i];
                if (to->accumulate) x += d[i];
                else {
                    if (to->alpha) x = fmaf(x, to->alpha[oc], to->shift[oc]);
                    if (to->relu) x = x < 0.0f ? 0.0f : x;
                }
                d[i] = x;
            }
        }
}
#endif

/* the tile's positions [q0, q0 + 16V) that are real outputs, into their planes */
static void store_tile(const TileOut *to, const float *tmp, int o0, int nb, int q0, const DirectGeom *g) {
    const int tq = 16 * g->V, q1 = q0 + tq < g->Q ? q0 + tq : g->Q;
    for (int oh = q0 / g->Wp; oh * g->Wp < q1; oh++) {
        const int base = oh * g->Wp, a = base < q0 ? q0 - base : 0;
        const int e = q1 - base < g->OW ? q1 - base : g->OW;
        for (int o = 0; o < nb; o++) {
            const int oc = o0 + o;
            float *d = to->y + (size_t)(to->map ? to->map[oc] : oc) * to->P + (size_t)oh * g->OW;
            const float *s = tmp + (size_t)o * tq + (base - q0);
            if (to->accumulate)
                for (int i = a; i < e; i++) d[i] += s[i];
            else if (to->alpha) {
                const float al = to->alpha[oc], sh = to->shift[oc];
                if (to->relu)
                    for (int i = a; i < e; i++) { const float v = fmaf(s[i], al, sh); d[i] = v < 0.0f ? 0.0f : v; }
                else
                    for (int i = a; i < e; i++) d[i] = fmaf(s[i], al, sh);
            } else if (to->relu)
                for (int i = a; i < e; i++) d[i] = s[i] < 0.0f ? 0.0f : s[i];
            else
                memcpy(d + a, s + a, (size_t)(e > a ? e - a : 0) * sizeof(float));
        }
    }
}

void direct_conv(float *y, const int32_t *map, const float *xp, const float *w, size_t ldw, int Cin,
                 int Cout, const float *b, const float *alpha, const float *shift, int relu,
                 int accumulate, const DirectGeom *g) {
    int off[DIRECT_MAXKK];
    const int KK = g->KH * g->KW;
    tap_offsets(off, g);
    const TileOut to = {y, map, (size_t)g->OH * g->OW, alpha, shift, relu, accumulate};
    TileGeo tg;
    if (g->OW % 16 == 0) { /* row layout: whole vectors of whole rows, written in place */
        const int R = g->OW / 16;
        for (int r0 = 0; r0 < g->OH * R; r0 += MAXV) { /* the vectors of all rows, MAXV at a time */
            tg.V = g->OH * R - r0 < MAXV ? g->OH * R - r0 : MAXV;
            for (int v = 0; v < tg.V; v++) {
                const int oh = (r0 + v) / R, ow = (r0 + v) % R * 16;
                tg.in[v] = oh * g->Wp + ow, tg.out[v] = oh * g->OW + ow;
            }
            for (int o0 = 0; o0 < Cout; o0 += OCB) {
                const int nb = Cout - o0 < OCB ? Cout - o0 : OCB;
                run_tile(&tg, NULL, &to, o0, xp, g->PL, w + (size_t)o0 * ldw, ldw, Cin, off, KK,
                         b ? b + o0 : NULL, nb);
            }
        }
        return;
    }
    float tmp[OCB * 16 * MAXV] __attribute__((aligned(64)));
    tg.V = g->V;
    for (int q0 = 0; q0 < g->Q; q0 += 16 * g->V) {
        for (int v = 0; v < tg.V; v++) tg.in[v] = q0 + 16 * v, tg.out[v] = 16 * v;
        for (int o0 = 0; o0 < Cout; o0 += OCB) {
            const int nb = Cout - o0 < OCB ? Cout - o0 : OCB;
            run_tile(&tg, tmp, NULL, o0, xp, g->PL, w + (size_t)o0 * ldw, ldw, Cin, off, KK, b ? b + o0 : NULL, nb);
            store_tile(&to, tmp, o0, nb, q0, g);
        }
    }
}

/* ---------------------------------------------------------------- weight gradient */

void direct_conv_dw(float *dw, size_t ldw, const float *dyx, size_t dys, const float *xp, size_t xs,
                    int N, int Cin, int Cout, const DirectGeom *g) {
    int off[DIRECT_MAXKK];
    const int KK = g->KH * g->KW, QL = g->QL;
    tap_offsets(off, g);
    for (int o0 = 0; o0 < Cout; o0 += DWB) {
        const int nb = Cout - o0 < DWB ? Cout - o0 : DWB;
        for (int j = 0; j < Cin; j++)
            for (int t0 = 0; t0 < KK; t0 += DWT) {
                const int nt = KK - t0 < DWT ? KK - t0 : DWT;
#ifdef DIRECT_AVX512
                __m512 acc[DWB][DWT];
#pragma GCC unroll 2
                for (int o = 0; o < DWB; o++)
#pragma GCC unroll 9
                    for (int t = 0; t < DWT; t++) acc[o][t] = _mm512_setzero_ps();
                for (int n = 0; n < N; n++) {
                    const float *d0 = dyx + (size_t)n * dys + (size_t)o0 * QL;
                    const float *d1 = nb > 1 ? d0 + QL : d0;
                    const float *x = xp + (size_t)n * xs + (size_t)j * g->PL;
                    if (nt == DWT) {
                        for (int q = 0; q < QL; q += 16) {
                            const __m512 a0 = _mm512_loadu_ps(d0 + q), a1 = _mm512_loadu_ps(d1 + q);
#pragma GCC unroll 9
                            for (int t = 0; t < DWT; t++) {
                                const __m512 xv = _mm512_loadu_ps(x + q + off[t0 + t]);
                                acc[0][t] = _mm512_fmadd_ps(a0, xv, acc[0][t]);
                                acc[1][t] = _mm512_fmadd_ps(a1, xv, acc[1][t]);
                            }
                        }
                    } else {
                        for (int q = 0; q < QL; q += 16) {
                            const __m512 a0 = _mm512_loadu_ps(d0 + q), a1 = _mm512_loadu_ps(d1 + q);
                            for (int t = 0; t < nt; t++) {
                                const __m512 xv = _mm512_loadu_ps(x + q + off[t0 + t]);
                                acc[0][t] = _mm512_fmadd_ps(a0, xv, acc[0][t]);
                                acc[1][t] = _mm512_fmadd_ps(a1, xv, acc[1][t]);
                            }
                        }
                    }
                }
                for (int o = 0; o < nb; o++)
                    for (int t = 0; t < nt; t++)
                        dw[(size_t)(o0 + o) * ldw + (size_t)j * KK + t0 + t] += _mm512_reduce_add_ps(acc[o][t]);
#else
                for (int o = 0; o < nb; o++)
                    for (int t = 0; t < nt; t++) {
                        float s = 0.0f;
                        for (int n = 0; n < N; n++) {
                            const float *d = dyx + (size_t)n * dys + (size_t)(o0 + o) * QL;
                            const float *x = xp + (size_t)n * xs + (size_t)j * g->PL + off[t0 + t];
                            for (int q = 0; q < QL; q++) s += d[q] * x[q];
                        }
                        dw[(size_t)(o0 + o) * ldw + (size_t)j * KK + t0 + t] += s;
                    }
#endif
            }
    }
}
