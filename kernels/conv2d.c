/* conv2d.c - fast 2-D convolution: im2col + sei_gemm, one GEMM per group and image chunk.
 * Semantics and index formulas are those of conv2d_ref.c; this file only reorganises them.
 *
 * Per group g (Cg = C/groups input channels, OCg = OC/groups output channels),
 * K = Cg*KH*KW, P = OH*OW, for a chunk of nb consecutive images:
 *   col[k, b*P + p]  = in[n0+b, g*Cg + c, oh*sh - ph + kh, ow*sw - pw + kw]   (0 outside)
 *                      k = (c*KH + kh)*KW + kw, p = oh*OW + ow            col is [K, nb*P]
 *   forward   out_g[OCg, nb*P]  = W_g[OCg, K] * col            (+ b[oc])
 *   backward  dW_g[OCg, K]     += dout_g[OCg, nb*P] * col^T   (GEMM with beta = 1)
 *             dcol[K, nb*P]     = W_g^T * dout_g;  din += col2im(dcol)
 *             db[oc]           += sum over n,p of dout (double)
 * W_g = w + g*OCg*K is already the row-major [OCg, K] matrix.
 *
 * Image chunks: with one image per GEMM a 2x2 output plane gives a GEMM with 4 columns, which
 * no packed kernel can run well. When P < CONV_TARGET_COLS, the batch is cut into
 * ceil(N*P / CONV_TARGET_COLS) chunks of equal size nb that share one col matrix each, bounded so that the workspace stays under
 * CONV_WS_CAP floats. Their outputs do not form a strided matrix in NCHW, so the GEMM writes
 * a [OCg, nb*P] staging matrix that is then scattered (forward), or dout is gathered into it
 * (backward). With nb == 1 the GEMMs read and write the NCHW tensors in place.
 *
 * 1x1 kernels with stride 1 and no padding skip im2col when nb == 1: the input plane block
 * [Cg, H*W] IS col (and dcol is din's plane block, so the data GEMM accumulates straight into
 * din). The guard checks stride and padding: a 1x1 with stride 2 takes the im2col path.
 *
 * im2col itself comes in two forms (see "the im2col pair" below): by rows for large planes,
 * and for small planes (P < CONV_TARGET_COLS) a gather through an offset table over a
 * zero-padded copy of the chunk, which in the forward writes col straight into the GEMM's
 * pre-packed B layout (sei_gemm_pb), so the GEMM threads do not each pack it again.
 *
 * Workspace (floats), from conv2d_chunk(), + 16 to align col to 64 bytes:
 *   nb == 1: col, or 0 on the 1x1 shortcut          (col reused as dcol)
 *   nb  > 1: col + OCg * nb * P                      (col + staging), bounded by CONV_WS_CAP
 *   col = K * nb * P (a little more when pre-packed), + the padded copy on the table path
 *
 * Threads: sei_gemm threads internally. im2col splits its rows, col2im splits (image, channel)
 * planes, bias/gather/scatter split rows, db splits output channels: each output element is
 * written by one thread in a fixed order, so results do not depend on the thread count.
 *
 * conv2d_forward_gemm / conv2d_backward_gemm / conv_bias_grad are the same kernels without
 * the sei_kernels_ref switch; conv_transpose2d.c runs them on the equivalent convolution. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "kernels/gemm.h"
#include "kernels/conv_direct.h"
#include "kernels/ops.h"

#define CONV_TARGET_COLS 2048          /* GEMM columns we try to give each call */
#define CONV_WS_CAP ((size_t)8 << 20) /* floats: batching never makes ws larger than this */
#define CONV_OMP_MIN 16384            /* elements below which a loop stays single-threaded */

/* internal to kernels/ (declared again in conv_transpose2d.c) */
void conv2d_forward_gemm(float *out, const float *in, const float *w, const float *b,
                         const Conv2dParams *p, float *ws, int accumulate);
void conv2d_backward_gemm(float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w, const Conv2dParams *p, float *ws);
void conv_bias_grad(float *db, const float *dout, int N, int OC, size_t P);

static int is_pointwise(const Conv2dParams *p) {
    return p->KH == 1 && p->KW == 1 && p->sh == 1 && p->sw == 1 && p->ph == 0 && p->pw == 0;
}

/* im2col by offset table (small planes, see im2col_table) or by rows */
static int use_table(const Conv2dParams *p, int nb) {
    return nb > 1 || (size_t)p->OH * p->OW < CONV_TARGET_COLS;
}
static int padded(const Conv2dParams *p) { return p->ph > 0 || p->pw > 0; }
/* floats of the table path's zero-padded input copy for nb images (0: none needed) */
static size_t pad_floats(const Conv2dParams *p, int nb) {
    if (!padded(p) || !use_table(p, nb)) return 0;
    return (size_t)nb * (p->C / p->groups) * (p->H + 2 * p->ph) * (p->W + 2 * p->pw);
}

/* floats of the col matrix for nb images: [K, nb*P], or the forward's pre-packed layout on
 * the table path (a little wider: columns rounded up to the GEMM's panel width) */
static size_t col_floats(const Conv2dParams *p, int nb) {
    const size_t K = (size_t)(p->C / p->groups) * p->KH * p->KW;
    const size_t n = (size_t)nb * p->OH * p->OW, plain = K * n;
    if (!use_table(p, nb)) return plain;
    const size_t packed = sei_gemm_pb_size((int)K, (int)n);
    return packed > plain ? packed : plain;
}

/* images per GEMM chunk: depends on the params only (never on threads) */
static int conv2d_chunk(const Conv2dParams *p) {
    const size_t P = (size_t)p->OH * p->OW;
    const size_t K = (size_t)(p->C / p->groups) * p->KH * p->KW, OCg = p->OC / p->groups;
    if (P >= CONV_TARGET_COLS || p->N == 1) return 1;
    /* as few chunks as give each about CONV_TARGET_COLS columns, then equal-sized chunks
     * (N=4, P=784 -> 2+2 rather than 3+1) */
    size_t nchunks = ((size_t)p->N * P + CONV_TARGET_COLS - 1) / CONV_TARGET_COLS;
    size_t nb = ((size_t)p->N + nchunks - 1) / nchunks;
    const size_t per_image = (K + OCg) * P + pad_floats(p, 1);
    if (nb * per_image > CONV_WS_CAP) nb = CONV_WS_CAP / per_image;
    return nb > 1 ? (int)nb : 1;
}

/* + WS_ALIGN: the col matrix starts at the first 64-byte boundary of the caller's buffer
 * (the GEMM reads pre-packed panels aligned) */
#define WS_ALIGN 16
/* Small dense 3x3 stride-1 layers (C <= 64) run on the direct kernels of the channel-sparse
 * convs (conv_direct.c via sparse.c) with one group holding every channel: im2col + GEMM
 * with K = 9C <= 576 and M = OC rows measured 1.2-3.3x slower in the forward pass on the
 * width-0.25 VGG16-BN head (bench/bench_sparse, "dense GEMM" vs "dense"); the backward
 * pass only where it also wins (see conv2d_backward). The identity channel list lives at
 * the end of the workspace.
 * sei_conv_direct = 0 keeps them on the GEMM. */
static int dense_direct(const Conv2dParams *p) {
    return sei_conv_direct && direct_simd() && p->groups == 1 && p->sh == 1 && p->sw == 1 && p->KH == 3 &&
           p->KW == 3 && p->ph <= 2 && p->pw <= 2 && p->C <= 64 && p->OC <= 512 && p->H + 2 * p->ph >= 3 &&
           p->W + 2 * p->pw >= 3;
}

static SparseIndex identity(const Conv2dParams *p, float *ws, size_t at) {
    int32_t *idx = (int32_t *)(ws + at);
    for (int o = 0; o < p->OC; o++)
        for (int j = 0; j < p->C; j++) idx[(size_t)o * p->C + j] = j;
    const SparseIndex s = {SPARSE_IDX_CHANNEL, p->C, 1, idx};
    return s;
}

static size_t direct_ws(const Conv2dParams *p) {
    const SparseIndex s = {SPARSE_IDX_CHANNEL, p->C, 1, NULL};
    return conv2d_sparse_workspace(p, &s);
}

/* the GEMM path's scratch (conv_transpose2d runs conv2d_backward_gemm on it directly) */
static size_t gemm_ws(const Conv2dParams *p) {
    const size_t P = (size_t)p->OH * p->OW;
    const size_t OCg = p->OC / p->groups;
    const int nb = conv2d_chunk(p);
    if (nb == 1) return is_pointwise(p) ? 0 : col_floats(p, 1) + pad_floats(p, 1) + WS_ALIGN;
    return col_floats(p, nb) + OCg * (size_t)nb * P + pad_floats(p, nb) + WS_ALIGN;
}

size_t conv2d_workspace(const Conv2dParams *p) {
    const size_t g = gemm_ws(p);
    if (!dense_direct(p)) return g;
    const size_t d = direct_ws(p) + (size_t)p->OC * p->C + 16;
    return d > g ? d : g;
}

static float *align_ws(float *ws) {
    return ws ? (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63) : ws;
}

/* outputs o in [lo, hi) with 0 <= o*stride + off < n_in, off = k - pad */
static void valid_range(int n_out, int stride, int off, int n_in, int *lo, int *hi) {
    int l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int h = n_in - 1 - off < 0 ? 0 : (n_in - 1 - off) / stride + 1;
    if (h > n_out) h = n_out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* ---- the im2col pair.
 * Large planes (P >= CONV_TARGET_COLS, one image per GEMM): im2col_rows copies whole output
 * rows of OW elements (memcpy when stride 1), col2im_rows adds them back.
 * Small planes (several images per GEMM, rows of a few elements, where per-row copies cost
 * more than the data): a gather through one table of column offsets,
 *   col[k, j] = xp[base(k) + off[j]],  base(k) = (c*Hp + kh)*Wp + kw,
 *   off[j] = b*img + (oh*sh)*Wp + ow*sw   for j = b*P + oh*OW + ow,
 * from xp, the chunk's input itself (img = its image stride) when there is no padding, else a
 * zero-padded copy [nb, Cg, Hp, Wp] (Hp = H + 2ph, Wp = W + 2pw; img = Cg*Hp*Wp) in the
 * workspace. col2im_table is the adjoint: the same gather's scatter-add into a zeroed padded
 * plane (or straight into din when unpadded), one thread per channel, then added to din. */
#define CONV_TABLE_MAX (2 * CONV_TARGET_COLS) /* nb*P < P + CONV_TARGET_COLS on the small path */


/* col [Cg*KH*KW, nb*P] from nb images of Cg channels; image b starts at in + b*img_stride */
static void im2col_rows(float *col, const float *in, size_t img_stride, int nb, int Cg,
                        const Conv2dParams *p) {
    const int H = p->H, W = p->W, OH = p->OH, OW = p->OW, KH = p->KH, KW = p->KW;
    const int sh = p->sh, sw = p->sw, ph = p->ph, pw = p->pw;
    const size_t P = (size_t)OH * OW, ld = (size_t)nb * P;
    const int rows = Cg * KH * KW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)rows * ld > CONV_OMP_MIN)
#endif
    for (int k = 0; k < rows; k++) {
        const int c = k / (KH * KW), kh = k / KW % KH, kw = k % KW;
        int lo, hi;
        valid_range(OW, sw, kw - pw, W, &lo, &hi);
        for (int b = 0; b < nb; b++) {
            const float *src = in + b * img_stride + (size_t)c * H * W;
            float *dst = col + k * ld + b * P;
            for (int oh = 0; oh < OH; oh++, dst += OW) {
                const int ih = oh * sh - ph + kh;
                if (ih < 0 || ih >= H) {
                    memset(dst, 0, sizeof(float) * OW);
                    continue;
                }
                const float *row = src + (size_t)ih * W;
                for (int ow = 0; ow < lo; ow++) dst[ow] = 0;
                if (sw == 1 && hi > lo)
                    memcpy(dst + lo, row + lo + kw - pw, sizeof(float) * (hi - lo));
                else
                    for (int ow = lo; ow < hi; ow++) dst[ow] = row[ow * sw + kw - pw];
                for (int ow = hi; ow < OW; ow++) dst[ow] = 0;
            }
        }
    }
}

/* the adjoint of im2col_rows: im (nb images, Cg channels) += scatter of col */
static void col2im_rows(float *im, size_t img_stride, const float *col, int nb, int Cg,
                        const Conv2dParams *p) {
    const int H = p->H, W = p->W, OH = p->OH, OW = p->OW, KH = p->KH, KW = p->KW;
    const int sh = p->sh, sw = p->sw, ph = p->ph, pw = p->pw;
    const size_t P = (size_t)OH * OW, ld = (size_t)nb * P;
    const int planes = nb * Cg;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)Cg * KH * KW * ld > CONV_OMP_MIN)
#endif
    for (int t = 0; t < planes; t++) {
        const int b = t / Cg, c = t % Cg;
        float *dst = im + b * img_stride + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++) {
                const size_t k = ((size_t)c * KH + kh) * KW + kw;
                const float *src = col + k * ld + b * P;
                int lo, hi;
                valid_range(OW, sw, kw - pw, W, &lo, &hi);
                for (int oh = 0; oh < OH; oh++) {
                    const int ih = oh * sh - ph + kh;
                    if (ih < 0 || ih >= H) continue;
                    float *row = dst + (size_t)ih * W;
                    const float *s = src + (size_t)oh * OW;
                    for (int ow = lo; ow < hi; ow++) row[ow * sw + kw - pw] += s[ow];
                }
            }
    }
}

/* the gather's geometry: plane and image strides of xp, and off[j] for the nb*P columns */
typedef struct { int Hp, Wp; size_t plane, img; } TableGeom;

static TableGeom table_offsets(int *off, size_t img_stride, int nb, int Cg,
                               const Conv2dParams *p) {
    TableGeom t = {p->H + 2 * p->ph, p->W + 2 * p->pw, 0, img_stride};
    t.plane = (size_t)t.Hp * t.Wp;
    if (padded(p)) t.img = (size_t)Cg * t.plane;
    int j = 0;
    for (int b = 0; b < nb; b++)
        for (int oh = 0; oh < p->OH; oh++)
            for (int ow = 0; ow < p->OW; ow++)
                off[j++] = (int)(b * t.img + (size_t)oh * p->sh * t.Wp + (size_t)ow * p->sw);
    return t;
}

/* xp [nb, Cg, Hp, Wp] <- the chunk's images with a zero border */
static void pad_copy(float *xp, const float *in, size_t img_stride, int nb, int Cg,
                     const TableGeom *t, const Conv2dParams *p) {
    const int H = p->H, W = p->W, ph = p->ph, pw = p->pw;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)nb * Cg * t->plane > CONV_OMP_MIN)
#endif
    for (int q = 0; q < nb * Cg; q++) {
        const float *s = in + (size_t)(q / Cg) * img_stride + (size_t)(q % Cg) * H * W;
        float *d = xp + (size_t)q * t->plane;
        memset(d, 0, sizeof(float) * t->Wp * ph);
        for (int h = 0; h < H; h++) {
            float *r = d + (size_t)(h + ph) * t->Wp;
            for (int i = 0; i < pw; i++) r[i] = r[pw + W + i] = 0.0f;
            memcpy(r + pw, s + (size_t)h * W, sizeof(float) * W);
        }
        memset(d + (size_t)(H + ph) * t->Wp, 0, sizeof(float) * t->Wp * ph);
    }
}

/* im2col for small planes (see above); pad is the padded-copy workspace. packed: col is
 * written in sei_gemm_pb's pre-packed layout (for the forward GEMM) instead of as [K, ld]. */
static void im2col_table(float *col, const float *in, size_t img_stride, int nb, int Cg,
                         const Conv2dParams *p, float *pad, int packed) {
    int off[CONV_TABLE_MAX];
    const size_t ld = (size_t)nb * p->OH * p->OW;
    const TableGeom t = table_offsets(off, img_stride, nb, Cg, p);
    const float *xp = in;
    if (padded(p)) {
        pad_copy(pad, in, img_stride, nb, Cg, &t, p);
        xp = pad;
    }
    const int KH = p->KH, KW = p->KW, rows = Cg * KH * KW, OW = p->OW;
    /* stride 1: each output row is a run of OW consecutive source elements; runs of 4, 8
     * or 16 are copied as whole vectors (a fixed-size memcpy compiles to one move) */
    int runs = p->sw == 1 && (OW == 4 || OW == 8 || OW == 16) ? OW : 0;
    const int nr = packed ? sei_gemm_pb_row(rows, (int)ld, 0).nr : (int)ld;
    if (runs && nr % runs) runs = 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)rows * ld > CONV_OMP_MIN)
#endif
    for (int k = 0; k < rows; k++) {
        const int c = k / (KH * KW), kh = k / KW % KH, kw = k % KW;
        const float *restrict s = xp + c * t.plane + (size_t)kh * t.Wp + kw;
        float *restrict d = col + k * ld;
        long panel = 0; /* packed: row k is a piece of nr columns in each panel */
        if (packed) {
            const GemmPbRow r = sei_gemm_pb_row(rows, (int)ld, k);
            d = col + r.row;
            panel = r.panel;
        }
        for (size_t j0 = 0; j0 < ld; j0 += nr, d += panel) {
            const size_t n = ld - j0 < (size_t)nr ? ld - j0 : (size_t)nr;
            const int *o = off + j0;
            if (runs == 4)
                for (size_t j = 0; j < n; j += 4) memcpy(d + j, s + o[j], 4 * sizeof(float));
            else if (runs == 8)
                for (size_t j = 0; j < n; j += 8) memcpy(d + j, s + o[j], 8 * sizeof(float));
            else if (runs == 16)
                for (size_t j = 0; j < n; j += 16) memcpy(d + j, s + o[j], 16 * sizeof(float));
            else
                for (size_t j = 0; j < n; j++) d[j] = s[o[j]];
            for (size_t j = n; j < (size_t)nr; j++) d[j] = 0.0f; /* packed tail panel */
        }
    }
}

/* the adjoint of im2col_table: din (nb images at img_stride) += scatter of col */
static void col2im_table(float *din, size_t img_stride, const float *col, int nb, int Cg,
                         const Conv2dParams *p, float *pad) {
    int off[CONV_TABLE_MAX];
    const size_t ld = (size_t)nb * p->OH * p->OW;
    const TableGeom t = table_offsets(off, img_stride, nb, Cg, p);
    const int KH = p->KH, KW = p->KW, H = p->H, W = p->W, ph = p->ph, pw = p->pw;
    float *xp = padded(p) ? pad : din;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)Cg * KH * KW * ld > CONV_OMP_MIN)
#endif
    for (int c = 0; c < Cg; c++) { /* channel c owns its planes of every image */
        if (xp == pad)
            for (int b = 0; b < nb; b++)
                memset(pad + b * t.img + c * t.plane, 0, sizeof(float) * t.plane);
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++) {
                const float *restrict s = col + (((size_t)c * KH + kh) * KW + kw) * ld;
                float *restrict d = xp + c * t.plane + (size_t)kh * t.Wp + kw;
                for (size_t j = 0; j < ld; j++) d[off[j]] += s[j];
            }
        if (xp == pad)
            for (int b = 0; b < nb; b++) {
                float *o = din + b * img_stride + (size_t)c * H * W;
                const float *q = pad + b * t.img + c * t.plane;
                for (int h = 0; h < H; h++)
                    for (int w = 0; w < W; w++)
                        o[(size_t)h * W + w] += q[(size_t)(h + ph) * t.Wp + w + pw];
            }
    }
}

static void im2col(float *col, const float *in, size_t img_stride, int nb, int Cg,
                   const Conv2dParams *p, float *pad) {
    if (use_table(p, nb)) im2col_table(col, in, img_stride, nb, Cg, p, pad, 0);
    else im2col_rows(col, in, img_stride, nb, Cg, p);
}
static void col2im(float *im, size_t img_stride, const float *col, int nb, int Cg,
                   const Conv2dParams *p, float *pad) {
    if (use_table(p, nb)) col2im_table(im, img_stride, col, nb, Cg, p, pad);
    else col2im_rows(im, img_stride, col, nb, Cg, p);
}

void conv_bias_grad(float *db, const float *dout, int N, int OC, size_t P) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * OC * P > CONV_OMP_MIN)
#endif
    for (int oc = 0; oc < OC; oc++) {
        double s = 0;
        for (int n = 0; n < N; n++) {
            const float *d = dout + ((size_t)n * OC + oc) * P;
            for (size_t i = 0; i < P; i++) s += d[i];
        }
        db[oc] += (float)s;
    }
}

/* o[i] = the tail of a forward conv applied to s[i] (s may be o): + bias, then the fused
 * epilogue (eval batch norm affine, ReLU) if any. One loop per variant, so each vectorises. */
static void epilogue_row(float *o, const float *s, size_t n, float bv, const ConvEpilogue *ep,
                         int oc) {
    const int relu = ep && ep->relu;
    if (ep && ep->alpha) {
        const float a = ep->alpha[oc], sh = ep->shift[oc];
        if (relu)
            for (size_t i = 0; i < n; i++) {
                const float v = fmaf(s[i] + bv, a, sh);
                o[i] = v < 0.0f ? 0.0f : v;
            }
        else
            for (size_t i = 0; i < n; i++) o[i] = fmaf(s[i] + bv, a, sh);
    } else if (relu) {
        for (size_t i = 0; i < n; i++) {
            const float v = s[i] + bv;
            o[i] = v < 0.0f ? 0.0f : v;
        }
    } else {
        for (size_t i = 0; i < n; i++) o[i] = s[i] + bv;
    }
}

/* out rows [rows, P] (row r is output channel oc0 + r): bias and epilogue in place */
static void finish_rows(float *out, const float *b, const ConvEpilogue *ep, int oc0, int rows,
                        size_t P) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)rows * P > CONV_OMP_MIN)
#endif
    for (int r = 0; r < rows; r++) {
        float *o = out + (size_t)r * P;
        epilogue_row(o, o, P, b ? b[r] : 0.0f, ep, oc0 + r);
    }
}

static void forward_gemm(float *out, const float *in, const float *w, const float *b,
                         const ConvEpilogue *ep, const Conv2dParams *p, float *ws,
                         int accumulate) {
    const int G = p->groups, Cg = p->C / G, OCg = p->OC / G;
    const int K = Cg * p->KH * p->KW, P = p->OH * p->OW;
    const size_t in_img = (size_t)p->C * p->H * p->W, out_img = (size_t)p->OC * P;
    const int chunk = conv2d_chunk(p), direct = is_pointwise(p);
    const size_t colsz = col_floats(p, chunk);
    ws = align_ws(ws);
    for (int n0 = 0; n0 < p->N; n0 += chunk) {
        const int nb = p->N - n0 < chunk ? p->N - n0 : chunk;
        for (int g = 0; g < G; g++) {
            const float *wg = w + (size_t)g * OCg * K;
            const float *x = in + n0 * in_img + (size_t)g * Cg * p->H * p->W;
            float *y = out + n0 * out_img + (size_t)g * OCg * P;
            const float *bg = b ? b + (size_t)g * OCg : NULL;
            if (nb == 1) {
                const float beta = accumulate ? 1.0f : 0.0f;
                if (direct) {
                    sei_gemm(0, 0, OCg, P, K, 1.0f, wg, K, x, P, beta, y, P);
                } else if (use_table(p, 1) && sei_gemm_pb_pays(OCg, P, K)) {
                    im2col_table(ws, x, in_img, 1, Cg, p, ws + colsz, 1);
                    sei_gemm_pb(0, OCg, P, K, 1.0f, wg, K, ws, beta, y, P);
                } else {
                    im2col(ws, x, in_img, 1, Cg, p, ws + colsz);
                    sei_gemm(0, 0, OCg, P, K, 1.0f, wg, K, ws, P, beta, y, P);
                }
                if (bg || ep) finish_rows(y, bg, ep, g * OCg, OCg, P);
                continue;
            }
            /* several images (always the table path): im2col straight into the GEMM's packed
             * layout, GEMM into staging [OCg, nb*P], then scatter to NCHW */
            const int ld = nb * P;
            float *col = ws, *stage = ws + colsz;
            if (sei_gemm_pb_pays(OCg, ld, K)) {
                im2col_table(col, x, in_img, nb, Cg, p, stage + (size_t)OCg * chunk * P, 1);
                sei_gemm_pb(0, OCg, ld, K, 1.0f, wg, K, col, 0.0f, stage, ld);
            } else { /* narrow: sei_gemm computes it as C^T */
                im2col_table(col, x, in_img, nb, Cg, p, stage + (size_t)OCg * chunk * P, 0);
                sei_gemm(0, 0, OCg, ld, K, 1.0f, wg, K, col, ld, 0.0f, stage, ld);
            }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)OCg * ld > CONV_OMP_MIN)
#endif
            for (int t = 0; t < nb * OCg; t++) {
                const int bi = t / OCg, oc = t % OCg;
                const float *s = stage + (size_t)oc * ld + (size_t)bi * P;
                float *o = y + bi * out_img + (size_t)oc * P;
                const float bv = bg ? bg[oc] : 0.0f;
                if (accumulate)
                    for (int i = 0; i < P; i++) o[i] += s[i] + bv;
                else
                    epilogue_row(o, s, (size_t)P, bv, ep, g * OCg + oc);
            }
        }
    }
}

void conv2d_forward_gemm(float *out, const float *in, const float *w, const float *b,
                         const Conv2dParams *p, float *ws, int accumulate) {
    forward_gemm(out, in, w, b, NULL, p, ws, accumulate);
}

void conv2d_forward_fused(float *out, const float *in, const float *w, const float *b,
                          const ConvEpilogue *ep, const Conv2dParams *p, float *ws) {
    if (!sei_kernels_ref && dense_direct(p)) {
        const SparseIndex s = identity(p, ws, direct_ws(p));
        conv2d_sparse_forward(out, in, w, b, ep, p, &s, ws);
        return;
    }
    if (!sei_kernels_ref) {
        forward_gemm(out, in, w, b, ep, p, ws, 0);
        return;
    }
    conv2d_forward_ref(out, in, w, b, p);
    const size_t P = (size_t)p->OH * p->OW;
    for (int n = 0; n < p->N; n++)
        finish_rows(out + (size_t)n * p->OC * P, NULL, ep, 0, p->OC, P);
}

void conv2d_backward_gemm(float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w, const Conv2dParams *p, float *ws) {
    const int G = p->groups, Cg = p->C / G, OCg = p->OC / G;
    const int K = Cg * p->KH * p->KW, P = p->OH * p->OW;
    const size_t in_img = (size_t)p->C * p->H * p->W, out_img = (size_t)p->OC * P;
    if (db) conv_bias_grad(db, dout, p->N, p->OC, (size_t)P);
    if (!din && !dw) return;
    const int chunk = conv2d_chunk(p), direct = is_pointwise(p);
    const size_t colsz = col_floats(p, chunk);
    ws = align_ws(ws);
    for (int n0 = 0; n0 < p->N; n0 += chunk) {
        const int nb = p->N - n0 < chunk ? p->N - n0 : chunk;
        for (int g = 0; g < G; g++) {
            const float *wg = w + (size_t)g * OCg * K;
            float *dwg = dw ? dw + (size_t)g * OCg * K : NULL;
            const size_t xoff = n0 * in_img + (size_t)g * Cg * p->H * p->W;
            const float *dy = dout + n0 * out_img + (size_t)g * OCg * P;
            if (nb == 1) {
                if (dwg) {
                    const float *col = in + xoff;
                    if (!direct) {
                        im2col(ws, in + xoff, in_img, 1, Cg, p, ws + colsz);
                        col = ws;
                    }
                    sei_gemm(0, 1, OCg, K, P, 1.0f, dy, P, col, P, 1.0f, dwg, K);
                }
                if (din && direct) {
                    sei_gemm(1, 0, K, P, OCg, 1.0f, wg, K, dy, P, 1.0f, din + xoff, P);
                } else if (din) {
                    sei_gemm(1, 0, K, P, OCg, 1.0f, wg, K, dy, P, 0.0f, ws, P);
                    col2im(din + xoff, in_img, ws, 1, Cg, p, ws + colsz);
                }
                continue;
            }
            /* several images: gather dout into staging [OCg, nb*P]; col doubles as dcol */
            const int ld = nb * P;
            float *col = ws, *stage = ws + colsz;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)OCg * ld > CONV_OMP_MIN)
#endif
            for (int t = 0; t < nb * OCg; t++) {
                const int bi = t / OCg, oc = t % OCg;
                memcpy(stage + (size_t)oc * ld + (size_t)bi * P,
                       dy + bi * out_img + (size_t)oc * P, sizeof(float) * P);
            }
            if (dwg) {
                im2col(col, in + xoff, in_img, nb, Cg, p, stage + (size_t)OCg * chunk * P);
                sei_gemm(0, 1, OCg, K, ld, 1.0f, stage, ld, col, ld, 1.0f, dwg, K);
            }
            if (din) {
                sei_gemm(1, 0, K, ld, OCg, 1.0f, wg, K, stage, ld, 0.0f, col, ld);
                col2im(din + xoff, in_img, col, nb, Cg, p, stage + (size_t)OCg * chunk * P);
            }
        }
    }
}

void conv2d_forward(float *out, const float *in, const float *w, const float *b,
                    const Conv2dParams *p, float *ws) {
    if (sei_kernels_ref) { conv2d_forward_ref(out, in, w, b, p); return; }
    if (dense_direct(p)) {
        const SparseIndex s = identity(p, ws, direct_ws(p));
        conv2d_sparse_forward(out, in, w, b, NULL, p, &s, ws);
        return;
    }
    conv2d_forward_gemm(out, in, w, b, p, ws, 0);
}

void conv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const Conv2dParams *p, float *ws) {
    if (sei_kernels_ref) { conv2d_backward_ref(din, dw, db, dout, in, w, p); return; }
    /* backward: the direct weight-gradient tile wins only on planes of 16 and up with few
     * channels (measured: 1.4-1.9x there, 0.85-0.9x on 8x8 planes and at C = 64) */
    if (dense_direct(p) && p->OW >= 16 && p->C <= 32) {
        const SparseIndex s = identity(p, ws, direct_ws(p));
        conv2d_sparse_backward(din, dw, db, dout, in, w, p, &s, ws);
        return;
    }
    conv2d_backward_gemm(din, dw, db, dout, in, w, p, ws);
}
