/* wire.c - what crosses a split network's cut, as the receiving side reconstructs it
 * (see ops.h). The forward is the sender's encoding followed by the receiver's decoding, so
 * training sees exactly the values the server will get; the backward passes the gradient
 * straight through (the rounding has zero derivative almost everywhere, and the identity is
 * the usual estimator for training through quantisation).
 *   fp32: unchanged.   fp16: rounded to binary16 (nearest even) and back.
 *   int8: per image a scale s = max|x| / 127 (0 for an all-zero image), q = round(x / s)
 *         clamped to [-127, 127], x' = q * s; each image carries its scale (4 bytes). */
#include <math.h>
#include <string.h>
#include "engine/half.h"
#include "kernels/ops.h"

size_t wire_bytes(size_t m, WireFormat f) {
    switch (f) {
    case WIRE_FP16: return 2 * m;
    case WIRE_INT8: return m + 4;
    default: return 4 * m;
    }
}

const char *wire_name(WireFormat f) {
    return f == WIRE_FP16 ? "fp16" : f == WIRE_INT8 ? "int8" : "fp32";
}

int wire_parse(const char *s) {
    if (!strcmp(s, "fp32")) return WIRE_FP32;
    if (!strcmp(s, "fp16")) return WIRE_FP16;
    if (!strcmp(s, "int8")) return WIRE_INT8;
    return -1;
}

float wire_int8_scale(const float *x, size_t m) {
    float mx = 0.0f;
    for (size_t i = 0; i < m; i++) mx = fmaxf(mx, fabsf(x[i]));
    return mx / 127.0f;
}

void wire_forward(float *out, const float *x, int n, size_t m, WireFormat f) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)n * m > 65536)
#endif
    for (int b = 0; b < n; b++) {
        const float *s = x + (size_t)b * m;
        float *d = out + (size_t)b * m;
        if (f == WIRE_FP16) {
            for (size_t i = 0; i < m; i++) d[i] = sei_half_to_float(sei_float_to_half(s[i]));
        } else if (f == WIRE_INT8) {
            const float sc = wire_int8_scale(s, m);
            for (size_t i = 0; i < m; i++) {
                float q = sc > 0.0f ? nearbyintf(s[i] / sc) : 0.0f;
                q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
                d[i] = q * sc;
            }
        } else if (d != s) {
            memcpy(d, s, m * sizeof(float));
        }
    }
}
