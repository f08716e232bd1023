/* mcu.c - the kernels and the interpreter of exported device parts (see kernels/mcu.h):
 * direct convolution (dense, grouped, channel-sparse, weight-sparse), max / adaptive average
 * pooling, fully connected layers, residual additions, early-exit decisions and the payload
 * encodings, in float and in int8 with int32 accumulation. Plain loops in C99, no allocation, no library calls:
 * this file is also written verbatim into every exported C file. */
#include "kernels/mcu.h"

/* round half to even, as nearbyintf in the default rounding mode; beyond the int32 range
 * the nearest end, NaN 0 (a NaN reaching the device must not be undefined behaviour) */
static int32_t mcu_rint(float v) {
    if (!(v > -2147483520.0f && v < 2147483520.0f)) return v > 0.0f ? 2147483647 : v < 0.0f ? -2147483647 - 1 : 0;
    int32_t t = (int32_t)v; /* toward zero */
    float f = v - (float)t; /* exact */
    if (f > 0.5f || (f == 0.5f && (t & 1))) t++;
    else if (f < -0.5f || (f == -0.5f && (t & 1))) t--;
    return t;
}

/* round(p / 2^s) clamped to int8, half away from zero, without shifting a negative number */
static int32_t mcu_round_shift(int64_t p, int32_t s) {
    const int64_t r = (int64_t)1 << (s - 1);
    const int64_t q = p >= 0 ? (p + r) >> s : -((-p + r) >> s);
    return q > 127 ? 127 : q < -127 ? -127 : (int32_t)q;
}

/* round(acc * m / 2^s), as above */
static int32_t mcu_requant(int32_t acc, int32_t m, int32_t s) { return mcu_round_shift((int64_t)acc * m, s); }

MCU_API float mcu_exp(float x) {
    if (x < -87.0f) return 0.0f;
    const int32_t n = mcu_rint(x * 1.44269504f); /* x = n ln2 + r, |r| <= ln2 / 2 */
    const float r = (x - (float)n * 0.693145752f) - (float)n * 1.42860677e-6f;
    /* e^r: Taylor to r^7 (error below float rounding for |r| <= 0.35) */
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
              r * (1.0f / 720 + r * (1.0f / 5040)))))));
    union { float f; uint32_t u; } two;
    if (n < -126) { /* a subnormal result: scale in two steps */
        two.u = (uint32_t)(n + 126 + 127) << 23;
        return p * two.f * 1.17549435e-38f;
    }
    two.u = (uint32_t)(n + 127) << 23;
    return p * two.f;
}

MCU_API uint16_t mcu_f2h(float x) {
    union { float f; uint32_t u; } v;
    v.f = x;
    const uint32_t sign = (v.u >> 16) & 0x8000u, mag = v.u & 0x7fffffffu;
    if (mag >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (mag > 0x7f800000u ? 0x200u : 0u));
    if (mag >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504: inf */
    if (mag < 0x38800000u) { /* subnormal half (or zero): round the shifted mantissa */
        if (mag < 0x33000000u) return (uint16_t)sign;
        const uint32_t e = mag >> 23, m = (mag & 0x7fffffu) | 0x800000u, sh = 126 - e; /* 14..24 */
        uint32_t h = m >> sh;
        const uint32_t rest = m & ((1u << sh) - 1), half = 1u << (sh - 1);
        if (rest > half || (rest == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((mag >> 13) - (112u << 10)), rest = mag & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

/* Four neighbouring outputs of one channel (weights wo, kept inputs ix or NULL when dense,
 * tap starts tp when weight-sparse) at (y0, x0), over the kernel rows [ky0, ky1) inside the
 * input; every kernel column is inside it, so there are no bounds to check, and each weight
 * is loaded once for the four. A function of its own keeps the four sums in registers.
 * Products are summed in the order of the one-output loop (MCU_TILE1): a weight-sparse row
 * in its stored (tap) order, so a kept weight costs an index load and one multiply-add for
 * its address, with nothing to decode. */
#define MCU_TAPS4(TIN, TW, MUL, S1, S2, S3)                                                 \
    for (int32_t ky = ky0; ky < ky1; ky++, row += w)                                         \
        for (int32_t kx = 0; kx < k; kx++) {                                                 \
            const TIN *q = row + kx;                                                         \
            const TW wv = *wp++;                                                             \
            a0 += MUL(q[0], wv), a1 += MUL(q[S1], wv), a2 += MUL(q[S2], wv), a3 += MUL(q[S3], wv); \
        }
/* one kernel row of a 3x3, stride-1 conv for four outputs: 6 inputs, 3 weights, 12 products */
#define MCU_ROW3(TIN, TW, MUL, ROW, WP)                                                     \
    {                                                                                        \
        const TIN v0 = (ROW)[0], v1 = (ROW)[1], v2 = (ROW)[2], v3 = (ROW)[3], v4 = (ROW)[4], v5 = (ROW)[5]; \
        const TW w0 = (WP)[0], w1 = (WP)[1], w2 = (WP)[2];                                  \
        a0 += MUL(v0, w0), a0 += MUL(v1, w1), a0 += MUL(v2, w2);                             \
        a1 += MUL(v1, w0), a1 += MUL(v2, w1), a1 += MUL(v3, w2);                             \
        a2 += MUL(v2, w0), a2 += MUL(v3, w1), a2 += MUL(v4, w2);                             \
        a3 += MUL(v3, w0), a3 += MUL(v4, w1), a3 += MUL(v5, w2);                             \
    }
#if defined(__GNUC__)
#define MCU_NOINLINE __attribute__((noinline))
#else
#define MCU_NOINLINE
#endif
/* a weight-sparse row's taps in [ky0, ky1) for four outputs, input channels from IX */
#define MCU_WTAPS4(TIN, TW, MUL, IX)                                                         \
    for (int32_t ky = ky0; ky < ky1; ky++)                                                   \
        for (int32_t kx = 0; kx < k; kx++) {                                                 \
            const int32_t r = ky * k + kx, at = (y0 + ky) * w + x0 + kx, end = tp[r + 1];    \
            for (int32_t j = tp[r]; j < end; j++) {                                          \
                const TIN *q = in + ((IX)[j] * plane + at);                                  \
                const TW wv = wo[j];                                                         \
                a0 += MUL(q[0], wv), a1 += MUL(q[s], wv), a2 += MUL(q[2 * s], wv), a3 += MUL(q[3 * s], wv); \
            }                                                                                \
        }
#define MCU_TILE4(NAME, TIN, TW, ACC, MUL)                                                   \
    static MCU_NOINLINE void NAME(const McuOp *op, const TIN *in, const TW *wo, const uint16_t *ix, \
                                  const uint8_t *ix8, const uint16_t *tp, int32_t g, int32_t y0, \
                                  int32_t x0, int32_t ky0, int32_t ky1, ACC *a) {            \
        const int32_t k = op->k, kk = k * k, w = op->w, s = op->stride, cg = op->c / op->groups; \
        const int32_t n = op->sparse == MCU_DENSE ? cg : op->per_row, plane = op->h * w;     \
        ACC a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];                                      \
        if (op->sparse == MCU_SPARSE_WEIGHT) {                                               \
            if (ix8) { MCU_WTAPS4(TIN, TW, MUL, ix8) }                                       \
            else { MCU_WTAPS4(TIN, TW, MUL, ix) }                                            \
        } else {                                                                             \
            const int32_t full = ky0 == 0 && ky1 == k;                                       \
            const TIN *base = in + (y0 + ky0) * w + x0;                                      \
            const TW *wp = wo + ky0 * k;                                                     \
            /* the input rows of kept channel j; the loops below step wp through its taps */ \
            const int32_t c0 = ix ? 0 : g * cg, step = kk - (ky1 - ky0) * k;                 \
            if (k == 3 && s == 1 && full) /* 3 rows of 3 taps: 6 inputs, 3 weights, 12 products each */ \
                for (int32_t j = 0; j < n; j++, wp += 9) {                                   \
                    const TIN *row = base + (ix ? ix[j] : c0 + j) * plane;                   \
                    MCU_ROW3(TIN, TW, MUL, row, wp)                                          \
                    MCU_ROW3(TIN, TW, MUL, row + w, wp + 3)                                  \
                    MCU_ROW3(TIN, TW, MUL, row + 2 * w, wp + 6)                              \
                }                                                                            \
            else if (k == 3 && s == 1)                                                       \
                for (int32_t j = 0; j < n; j++, wp += step) {                                \
                    const TIN *row = base + (ix ? ix[j] : c0 + j) * plane;                   \
                    for (int32_t ky = ky0; ky < ky1; ky++, row += w, wp += 3) { MCU_ROW3(TIN, TW, MUL, row, wp) } \
                }                                                                            \
            else if (s == 1)                                                                 \
                for (int32_t j = 0; j < n; j++, wp += step) {                                \
                    const TIN *row = base + (ix ? ix[j] : c0 + j) * plane;                   \
                    MCU_TAPS4(TIN, TW, MUL, 1, 2, 3)                                         \
                }                                                                            \
            else                                                                             \
                for (int32_t j = 0; j < n; j++, wp += step) {                                \
                    const TIN *row = base + (ix ? ix[j] : c0 + j) * plane;                   \
                    MCU_TAPS4(TIN, TW, MUL, s, 2 * s, 3 * s)                                 \
                }                                                                            \
        }                                                                                    \
        a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;                                          \
    }

/* One output of channel o at (y0, x0), summing over the kernel rows and columns that fall
 * inside the input: kb = {ky0, ky1, kx0, kx1}, half-open ranges. */
#define MCU_TILE1(NAME, TIN, TW, ACC, MUL)                                                   \
    static MCU_NOINLINE ACC NAME(const McuOp *op, const TIN *in, const TW *wo, const uint16_t *ix, \
                                 const uint8_t *ix8, const uint16_t *tp, int32_t g, int32_t y0, int32_t x0, \
                                 const int32_t *kb, ACC acc) {                               \
        const int32_t k = op->k, kk = k * k, w = op->w, cg = op->c / op->groups;            \
        const int32_t n = op->sparse == MCU_DENSE ? cg : op->per_row;                         \
        const int32_t ky0 = kb[0], ky1 = kb[1], kx0 = kb[2], kx1 = kb[3];                    \
        if (op->sparse == MCU_SPARSE_WEIGHT) {                                               \
            const int32_t plane = op->h * w;                                                 \
            for (int32_t ky = ky0; ky < ky1; ky++)                                           \
                for (int32_t kx = kx0; kx < kx1; kx++) {                                     \
                    const int32_t r = ky * k + kx, at = (y0 + ky) * w + x0 + kx, end = tp[r + 1]; \
                    for (int32_t j = tp[r]; j < end; j++)                                    \
                        acc += MUL(in[(ix8 ? ix8[j] : ix[j]) * plane + at], wo[j]);          \
                }                                                                            \
            return acc;                                                                      \
        }                                                                                    \
        const int32_t kw = kx1 - kx0; /* 2 at a 3x3 conv's left and right edges */           \
        for (int32_t j = 0; j < n; j++) {                                                    \
            const TIN *row = in + ((ix ? ix[j] : g * cg + j) * op->h + y0 + ky0) * w + x0 + kx0; \
            const TW *wp = wo + j * kk + ky0 * k + kx0;                                      \
            if (kw == 2)                                                                     \
                for (int32_t ky = ky0; ky < ky1; ky++, row += w, wp += k)                    \
                    acc += MUL(row[0], wp[0]), acc += MUL(row[1], wp[1]);                    \
            else                                                                             \
                for (int32_t ky = ky0; ky < ky1; ky++, row += w, wp += k)                    \
                    for (int32_t kx = 0; kx < kw; kx++) acc += MUL(row[kx], wp[kx]);         \
        }                                                                                    \
        return acc;                                                                          \
    }

/* The convolution loop, shared by the float and the int8 kernels: ACC acc is started at the
 * bias and STORE(dst, o, acc) writes output channel o. Outputs whose kernel columns are
 * inside the input go four at a time through TILE (all but the first and last column of a
 * padded 3x3 conv, every output of a 1x1 one), the others one at a time through TILE1. */
#define MCU_CONV_LOOPS(ACC, BIAS, STORE, TILE, TILE1)                                       \
    const int32_t k = op->k, kk = k * k, og = op->oc / op->groups;                           \
    const int32_t n = op->sparse == MCU_DENSE ? op->c / op->groups : op->per_row;           \
    const int32_t s = op->stride;                                                            \
    const int32_t rw = op->sparse == MCU_SPARSE_WEIGHT ? n : n * kk; /* weights per channel */ \
    /* outputs whose kernel columns are all inside the input: ox in [ix0, ix1) */           \
    const int32_t ix0 = (op->pad + s - 1) / s;                                               \
    const int32_t ix1 = op->w + op->pad < k ? 0 : (op->w + op->pad - k) / s + 1;             \
    for (int32_t o = 0; o < op->oc; o++) {                                                   \
        const int32_t g = o / og;                                                            \
        const uint16_t *ix = op->idx ? op->idx + o * n : 0;                                  \
        const uint8_t *ix8 = op->idx8 ? op->idx8 + o * n : 0;                                \
        const uint16_t *tp = op->sparse == MCU_SPARSE_WEIGHT ? op->tap + o * (kk + 1) : 0;   \
        for (int32_t oy = 0; oy < op->oh; oy++) {                                            \
            const int32_t y0 = oy * s - op->pad;                                             \
            const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = op->h - y0 < k ? op->h - y0 : k;     \
            for (int32_t ox = 0; ox < op->ow;) {                                             \
                if (ox >= ix0 && ox < ix1 && ix1 - ix0 >= 4) {                               \
                    if (ox + 4 > ix1) ox = ix1 - 4; /* the last four again: same values */   \
                    ACC a[4];                                                                \
                    a[0] = a[1] = a[2] = a[3] = BIAS;                                        \
                    TILE(op, in, wt + o * rw, ix, ix8, tp, g, y0, ox * s - op->pad, ky0, ky1, a);     \
                    TOUT *dst = out + (o * op->oh + oy) * op->ow + ox;                       \
                    STORE(dst[0], o, a[0]); STORE(dst[1], o, a[1]);                          \
                    STORE(dst[2], o, a[2]); STORE(dst[3], o, a[3]);                          \
                    ox += 4;                                                                 \
                    continue;                                                                \
                }                                                                            \
                const int32_t x0 = ox * s - op->pad;                                         \
                const int32_t kb[4] = {ky0, ky1, x0 < 0 ? -x0 : 0, op->w - x0 < k ? op->w - x0 : k}; \
                const ACC acc = TILE1(op, in, wt + o * rw, ix, ix8, tp, g, y0, x0, kb, BIAS);         \
                STORE(out[(o * op->oh + oy) * op->ow + ox], o, acc);                         \
                ox++;                                                                        \
            }                                                                                \
        }                                                                                    \
    }

#define F_MUL(x, w) ((x) * (w))
#define Q_MUL(x, w) ((int32_t)(x) * (int32_t)(w))
MCU_TILE4(tile4_f32, float, float, float, F_MUL)
MCU_TILE4(tile4_q8, int8_t, int8_t, int32_t, Q_MUL)
MCU_TILE1(tile1_f32, float, float, float, F_MUL)
MCU_TILE1(tile1_q8, int8_t, int8_t, int32_t, Q_MUL)

static void conv_f32(const McuOp *op, const float *in, float *out) {
    typedef float TOUT;
    const float *wt = (const float *)op->weight, *b = (const float *)op->bias;
#define F_STORE(dst, o, a) dst = op->relu && a < 0.0f ? 0.0f : a
    MCU_CONV_LOOPS(float, b ? b[o] : 0.0f, F_STORE, tile4_f32, tile1_f32)
}

static void conv_q8(const McuOp *op, const int8_t *in, int8_t *out) {
    typedef int8_t TOUT;
    const int8_t *wt = (const int8_t *)op->weight;
    const int32_t *b = (const int32_t *)op->bias;
#define Q_STORE(dst, o, a)                                                                  \
    do {                                                                                    \
        const int32_t q = mcu_requant(a, op->mult[o], op->shift[o]);                        \
        dst = (int8_t)(op->relu && q < 0 ? 0 : q);                                           \
    } while (0)
    MCU_CONV_LOOPS(int32_t, b ? b[o] : 0, Q_STORE, tile4_q8, tile1_q8)
}

/* max pool with implicit -inf padding: the float and int8 versions differ only in type */
#define MCU_MAXPOOL_LOOPS(T)                                                                \
    for (int32_t c = 0; c < op->c; c++)                                                      \
        for (int32_t oy = 0; oy < op->oh; oy++)                                              \
            for (int32_t ox = 0; ox < op->ow; ox++) {                                        \
                int first = 1;                                                               \
                T m = 0;                                                                     \
                for (int32_t ky = 0; ky < op->k; ky++)                                       \
                    for (int32_t kx = 0; kx < op->k; kx++) {                                 \
                        const int32_t iy = oy * op->stride - op->pad + ky, ix = ox * op->stride - op->pad + kx; \
                        if (iy < 0 || iy >= op->h || ix < 0 || ix >= op->w) continue;        \
                        const T v = in[(c * op->h + iy) * op->w + ix];                       \
                        if (first || v > m) m = v, first = 0;                                \
                    }                                                                        \
                out[(c * op->oh + oy) * op->ow + ox] = m;                                    \
            }

static void maxpool_f32(const McuOp *op, const float *in, float *out) { MCU_MAXPOOL_LOOPS(float) }
static void maxpool_q8(const McuOp *op, const int8_t *in, int8_t *out) { MCU_MAXPOOL_LOOPS(int8_t) }

/* adaptive average pool (PyTorch's windows: [floor(i*H/oh), ceil((i+1)*H/oh))); int8 keeps
 * the input's scale and rounds the mean half away from zero */
static void avgpool(const McuOp *op, int type, const void *in, void *out) {
    for (int32_t c = 0; c < op->c; c++)
        for (int32_t oy = 0; oy < op->oh; oy++)
            for (int32_t ox = 0; ox < op->ow; ox++) {
                const int32_t y0 = oy * op->h / op->oh, y1 = ((oy + 1) * op->h + op->oh - 1) / op->oh;
                const int32_t x0 = ox * op->w / op->ow, x1 = ((ox + 1) * op->w + op->ow - 1) / op->ow;
                const int32_t cnt = (y1 - y0) * (x1 - x0), o = (c * op->oh + oy) * op->ow + ox;
                if (type == MCU_Q8) {
                    int32_t s = 0;
                    for (int32_t y = y0; y < y1; y++)
                        for (int32_t x = x0; x < x1; x++) s += ((const int8_t *)in)[(c * op->h + y) * op->w + x];
                    ((int8_t *)out)[o] = (int8_t)(s >= 0 ? (s + cnt / 2) / cnt : -((-s + cnt / 2) / cnt));
                } else {
                    float s = 0.0f;
                    for (int32_t y = y0; y < y1; y++)
                        for (int32_t x = x0; x < x1; x++) s += ((const float *)in)[(c * op->h + y) * op->w + x];
                    ((float *)out)[o] = s / (float)cnt;
                }
            }
}

/* fully connected; int8 either requantises or, with deq, writes float logits */
static void linear(const McuOp *op, int type, const void *in, void *out) {
    const int32_t n = op->sparse ? op->per_row : op->c;
    for (int32_t o = 0; o < op->oc; o++) {
        if (type == MCU_Q8) {
            const int8_t *x = (const int8_t *)in, *wt = (const int8_t *)op->weight + o * n;
            int32_t acc = op->bias ? ((const int32_t *)op->bias)[o] : 0;
            for (int32_t j = 0; j < n; j++) acc += (int32_t)x[op->sparse ? op->idx[o * n + j] : j] * wt[j];
            if (op->deq) ((float *)out)[o] = (float)acc * op->deq[o];
            else {
                const int32_t q = mcu_requant(acc, op->mult[o], op->shift[o]);
                ((int8_t *)out)[o] = (int8_t)(op->relu && q < 0 ? 0 : q);
            }
        } else {
            const float *x = (const float *)in, *wt = (const float *)op->weight + o * n;
            float acc = op->bias ? ((const float *)op->bias)[o] : 0.0f;
            for (int32_t j = 0; j < n; j++) acc += x[op->sparse ? op->idx[o * n + j] : j] * wt[j];
            ((float *)out)[o] = op->relu && acc < 0.0f ? 0.0f : acc;
        }
    }
}

/* a residual connection: out = relu(a + b), elementwise (out may be a) */
static void add(const McuOp *op, int type, const void *a, const void *b, void *out) {
    const int32_t m = op->c * op->h * op->w;
    for (int32_t i = 0; i < m; i++) {
        if (type == MCU_Q8) {
            const int64_t p = (int64_t)((const int8_t *)a)[i] * op->qm[0] + (int64_t)((const int8_t *)b)[i] * op->qm[1];
            const int32_t q = mcu_round_shift(p, op->qshift);
            ((int8_t *)out)[i] = (int8_t)(op->relu && q < 0 ? 0 : q);
        } else {
            const float v = ((const float *)a)[i] + ((const float *)b)[i];
            ((float *)out)[i] = op->relu && v < 0.0f ? 0.0f : v;
        }
    }
}

/* the payload: float values as fp32 / fp16 / int8 (per-image scale max|x| / 127, values
 * rounded half to even, as sei's wire does), or an int8 program's values as they are */
static void wire(const McuOp *op, int type, const void *in, uint8_t *payload, float *scale) {
    const int32_t m = op->c * op->h * op->w;
    union { float f; uint16_t h; uint8_t b[4]; } v;
    *scale = 1.0f;
    if (type == MCU_Q8) {
        for (int32_t i = 0; i < m; i++) payload[i] = (uint8_t)((const int8_t *)in)[i];
        *scale = op->scale;
        return;
    }
    const float *x = (const float *)in;
    if (op->wire == MCU_WIRE_INT8) {
        float mx = 0.0f;
        for (int32_t i = 0; i < m; i++) {
            const float a = x[i] < 0.0f ? -x[i] : x[i];
            if (a > mx) mx = a;
        }
        *scale = mx / 127.0f;
        for (int32_t i = 0; i < m; i++) {
            int32_t q = *scale > 0.0f ? mcu_rint(x[i] / *scale) : 0;
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            payload[i] = (uint8_t)(int8_t)q;
        }
        return;
    }
    for (int32_t i = 0; i < m; i++) {
        if (op->wire == MCU_WIRE_FP16) {
            v.h = mcu_f2h(x[i]);
            payload[2 * i] = v.b[0], payload[2 * i + 1] = v.b[1];
        } else {
            v.f = x[i];
            for (int j = 0; j < 4; j++) payload[4 * i + j] = v.b[j];
        }
    }
}

/* max softmax probability >= tau, i.e. sum exp(z - max) * tau <= 1: the argmax, else -1 */
static int exit_decide(const float *z, int32_t n, float tau) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (z[i] > z[best]) best = i;
    float s = 0.0f;
    for (int32_t i = 0; i < n; i++) s += mcu_exp(z[i] - z[best]);
    return s * tau <= 1.0f ? (int)best : -1;
}

MCU_API int mcu_run(int type, const McuOp *ops, int nops, float *arena, const void *input,
                    uint8_t *payload, float *scale) {
    for (int i = 0; i < nops; i++) {
        const McuOp *op = &ops[i];
        const void *in = op->in < 0 ? input : (const void *)((const char *)arena + op->in);
        void *out = (char *)arena + op->out;
        switch (op->kind) {
        case MCU_CONV:
            if (type == MCU_Q8) conv_q8(op, (const int8_t *)in, (int8_t *)out);
            else conv_f32(op, (const float *)in, (float *)out);
            break;
        case MCU_MAXPOOL:
            if (type == MCU_Q8) maxpool_q8(op, (const int8_t *)in, (int8_t *)out);
            else maxpool_f32(op, (const float *)in, (float *)out);
            break;
        case MCU_AVGPOOL: avgpool(op, type, in, out); break;
        case MCU_LINEAR: linear(op, type, in, out); break;
        case MCU_EXIT: {
            const McuOp *last = &ops[i + op->nsub];
            mcu_run(type, ops + i + 1, op->nsub, arena, input, payload, scale);
            const int cls = exit_decide((const float *)((const char *)arena + last->out), last->oc, op->tau);
            if (cls >= 0) return cls;
            i += op->nsub;
            break;
        }
        case MCU_WIRE: wire(op, type, in, payload, scale); break;
        case MCU_ADD:
            add(op, type, in, op->in2 < 0 ? input : (const void *)((const char *)arena + op->in2), out);
            break;
        default: break;
        }
    }
    return -1;
}
