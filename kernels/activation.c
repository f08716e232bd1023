/* activation.c - element-wise ops: relu, residual add, dropout (see kernels/ops.h).
 *
 * Semantics follow PyTorch bit for bit:
 *  - relu(x) = x < 0 ? 0 : x, so relu(-0) = -0 and relu(NaN) = NaN (clamp_min);
 *    backward is threshold_backward on the output: gradient passes where !(out <= 0)
 *    (so also through a NaN output).
 *  - dropout: keep with probability 1-p, out = in * (mask * s) with s = 1/(1-p) rounded to
 *    float (PyTorch's _dropout_impl: noise.bernoulli_(1-p).div_(1-p); input * noise), p
 *    taken as the decimal the user wrote (see dropout_p_decimal); the mask itself comes
 *    from our Rng, so it is not PyTorch's;
 *    p == 0 is the identity (mask all ones, no random numbers drawn).
 * Threads split the element range statically; each element is independent, so results do
 * not depend on the thread count. Dropout draws its mask sequentially from the Rng. */
#include <math.h>
#include "kernels/ops.h"

#define SEI_PAR_MIN 32768 /* below this many elements a thread team costs more than it saves */

/* element-wise loops: a thread team over [0, n), vectorised inside each thread (gcc does
 * not vectorise an OpenMP-outlined loop body without the simd clause; clang does, and
 * warns when a requested simd cannot be honoured, e.g. under sanitizers) */
#if defined(__clang__)
#define PARALLEL_FOR_SIMD _Pragma("omp parallel for schedule(static) if (n >= SEI_PAR_MIN)")
#else
#define PARALLEL_FOR_SIMD _Pragma("omp parallel for simd schedule(static) if (n >= SEI_PAR_MIN)")
#endif

void relu_forward(float *out, const float *in, size_t n) {
#ifdef _OPENMP
PARALLEL_FOR_SIMD
#endif
    for (size_t i = 0; i < n; i++) out[i] = in[i] < 0.0f ? 0.0f : in[i];
}

void relu_backward(float *din, const float *dout, const float *out, size_t n) {
#ifdef _OPENMP
PARALLEL_FOR_SIMD
#endif
    for (size_t i = 0; i < n; i++) din[i] += out[i] <= 0.0f ? 0.0f : dout[i];
}

void add_forward(float *out, const float *a, const float *b, size_t n) {
#ifdef _OPENMP
PARALLEL_FOR_SIMD
#endif
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* da and db may be the same buffer (x + x): both additions then land in it */
void add_relu_forward(float *out, const float *a, const float *b, size_t n) {
#ifdef _OPENMP
PARALLEL_FOR_SIMD
#endif
    for (size_t i = 0; i < n; i++) {
        float v = a[i] + b[i];
        out[i] = v < 0.0f ? 0.0f : v;
    }
}

void relu_backward_inplace(float *g, const float *out, size_t n) {
#ifdef _OPENMP
PARALLEL_FOR_SIMD
#endif
    for (size_t i = 0; i < n; i++) g[i] = out[i] <= 0.0f ? 0.0f : g[i]; /* a blend, not a branch */
}

void add_backward(float *da, float *db, const float *dout, size_t n) {
#ifdef _OPENMP
PARALLEL_FOR_SIMD
#endif
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}

/* PyTorch's p is a double (0.9), ours the float nearest to it (0.9f); 1/(1-p) differs in
 * the last bit for some p. Recover the shortest decimal (up to 9 digits) that rounds to p:
 * q / 10^d is the double nearest that decimal, exactly as the parser gives it to PyTorch. */
static double dropout_p_decimal(float p) {
    double ten = 1.0;
    for (int d = 0; d <= 9; d++, ten *= 10.0) {
        double cand = nearbyint((double)p * ten) / ten;
        if ((float)cand == p) return cand;
    }
    return p;
}

/* the scale PyTorch multiplies kept elements by: float(1) / float(1 - p) */
static float dropout_scale(float p) { return 1.0f / (float)(1.0 - dropout_p_decimal(p)); }

void dropout_forward(float *out, uint8_t *mask, const float *in, size_t n, float p, Rng *rng) {
    if (p == 0.0f) {
        for (size_t i = 0; i < n; i++) { mask[i] = 1; out[i] = in[i]; }
        return;
    }
    const float s = dropout_scale(p);
    /* rng_uniform has 24 random bits, so P(u >= p) = 1-p for p a multiple of 2^-24 */
    for (size_t i = 0; i < n; i++) mask[i] = rng_uniform(rng) >= p;
    for (size_t i = 0; i < n; i++) out[i] = in[i] * (mask[i] ? s : 0.0f);
}

void dropout_backward(float *din, const float *dout, const uint8_t *mask, size_t n, float p) {
    if (p == 0.0f) {
        for (size_t i = 0; i < n; i++) din[i] += dout[i];
        return;
    }
    const float s = dropout_scale(p);
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * (mask[i] ? s : 0.0f);
}

void dropout_backward_inplace(float *g, const uint8_t *mask, size_t n, float p) {
    if (p == 0.0f) return;
    const float s = dropout_scale(p);
    for (size_t i = 0; i < n; i++) g[i] = g[i] * (mask[i] ? s : 0.0f);
}
