/* conv_direct.h - private to the kernels: direct stride-1 convolution over zero-padded
 * planes (conv_direct.c), for layers whose groups have few channels, where im2col + GEMM
 * runs far below peak. Used by the channel-sparse convs of sparse.c.
 *
 * Layout ("padded rows"): an input plane is stored zero-padded, Hp x Wp row by row, in PL
 * floats (PL covers the reads of the last tile). Output (oh, ow) is then
 *     sum over taps t = (kh, kw) of w[t] * xp[q + kh*Wp + kw],   q = oh*Wp + ow,
 * so every tap is one contiguous shifted read. The kernels compute all Q = OH*Wp positions
 * (the Wp - OW extra columns of each row are computed and discarded) in tiles of 16*V
 * positions x 4 output channels held in registers. */
#ifndef SEI_CONV_DIRECT_H
#define SEI_CONV_DIRECT_H
#include <stddef.h>
#include <stdint.h>

#define DIRECT_MAXKK 1024 /* taps per kernel */

typedef struct {
    int IH, IW, KH, KW, ph, pw; /* input plane, kernel, zero padding */
    int Hp, Wp, OH, OW;         /* padded input, output (stride 1) */
    int V;                      /* 16-float vectors per tile */
    int Q;                      /* OH * Wp positions computed */
    int QL;                     /* Q rounded up to 16: floats per plane of a padded-row gradient */
    size_t PL;                  /* floats per padded input plane */
} DirectGeom;

/* 1 when the tiles are vectorised (AVX-512), 0 on the portable C path */
int direct_simd(void);

/* the geometry of a stride-1 conv of an IH x IW plane; 0 if the output would be empty or
 * the kernel has more than DIRECT_MAXKK taps */
int direct_geom(DirectGeom *g, int IH, int IW, int KH, int KW, int ph, int pw);
/* xp [PL] <- plane x [IH, IW], zero-padded */
void direct_pad(float *xp, const float *x, const DirectGeom *g);
/* dyx [QL] <- gradient plane dy [OH, OW] on the padded-row grid, zero elsewhere */
void direct_rows(float *dyx, const float *dy, const DirectGeom *g);

/* out plane o (at y + (map ? map[o] : o) * OH*OW), for o < Cout:
 *     v = (b ? b[o] : 0) + sum over j < Cin, taps t of w[o*ldw + j*KK + t] * xp[j*PL + q + off_t]
 * then, if alpha, v = fmaf(v, alpha[o], shift[o]); if relu, max(v, 0). accumulate: y += v
 * (no epilogue), else y = v. */
void direct_conv(float *y, const int32_t *map, const float *xp, const float *w, size_t ldw, int Cin,
                 int Cout, const float *b, const float *alpha, const float *shift, int relu,
                 int accumulate, const DirectGeom *g);

/* dw[o*ldw + j*KK + t] += sum over n < N, q < QL of dyx[n*dys + o*QL + q] * xp[n*xs + j*PL + q + off_t]
 * (dyx: padded-row gradients, see direct_rows) for o < Cout, j < Cin. */
void direct_conv_dw(float *dw, size_t ldw, const float *dyx, size_t dys, const float *xp, size_t xs,
                    int N, int Cin, int Cout, const DirectGeom *g);

#endif
