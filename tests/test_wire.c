/* test_wire.c - what crosses a split network's cut: binary16 conversion (every half round
 * trips; rounding of random floats against a nearest-half search, ties to even, overflow,
 * subnormals), the int8 wire (per-image scale, error bound, zero images), and the autograd
 * op (identity for fp32, straight-through gradient). */
#include <math.h>
#include <stdlib.h>
#include "autograd/tape.h"
#include "engine/half.h"
#include "engine/rng.h"
#include "kernels/ops.h"
#include "tests/harness.h"

static void test_half_roundtrip(void) {
    int bad = 0;
    for (int h = 0; h < 65536; h++) {
        float f = sei_half_to_float((uint16_t)h);
        uint16_t back = sei_float_to_half(f);
        if (isnan(f)) bad += !isnan(sei_half_to_float(back));
        else bad += back != h;
    }
    EXPECT(!bad, "%d halves do not round trip", bad);
}

/* the nearest half by search over all finite halves of the same sign (ties: even code) */
static uint16_t nearest_half(float f) {
    uint16_t best = 0;
    double bd = INFINITY;
    const uint16_t sign = signbit(f) ? 0x8000 : 0;
    for (int m = 0; m < 0x7C00; m++) {
        const double d = fabs((double)sei_half_to_float((uint16_t)(sign | m)) - (double)f);
        if (d < bd || (d == bd && !(m & 1))) bd = d, best = (uint16_t)(sign | m);
    }
    /* beyond the largest half by at least half an ulp (65520): infinity */
    if (fabs((double)f) >= 65520.0) best = sign | 0x7C00;
    return best;
}

static void test_half_rounding(void) {
    Rng r;
    rng_seed(&r, 7);
    int bad = 0;
    for (int i = 0; i < 300; i++) {
        /* magnitudes from 2^-27 to 2^17: subnormals, normals, overflow */
        float f = ldexpf(1.0f + rng_uniform(&r), (int)(rng_uniform(&r) * 44) - 27);
        if (i & 1) f = -f;
        uint16_t got = sei_float_to_half(f), want = nearest_half(f);
        if (got != want) {
            if (bad < 5) printf("  %.9g: got 0x%04x, nearest 0x%04x\n", f, got, want);
            bad++;
        }
    }
    EXPECT(!bad, "%d of 300 random floats not rounded to the nearest half", bad);
    /* ties to even, overflow, subnormals, signed zero, infinities */
    EXPECT(sei_float_to_half(1.0f + 0x1p-11f) == 0x3C00, "1 + half ulp must round to even (1.0)");
    EXPECT(sei_float_to_half(1.0f + 3 * 0x1p-11f) == 0x3C02, "1 + 1.5 ulp must round to even");
    EXPECT(sei_float_to_half(65519.0f) == 0x7BFF && sei_float_to_half(65520.0f) == 0x7C00, "overflow");
    EXPECT(sei_float_to_half(0x1p-24f) == 0x0001 && sei_float_to_half(0x1p-25f) == 0x0000 &&
           sei_float_to_half(3 * 0x1p-26f) == 0x0001, "subnormals");
    EXPECT(sei_float_to_half(-0.0f) == 0x8000 && sei_float_to_half(INFINITY) == 0x7C00 &&
           sei_float_to_half(-INFINITY) == 0xFC00, "zero and infinities");
    EXPECT(isnan(sei_half_to_float(sei_float_to_half(NAN))), "NaN stays NaN");
}

static void test_int8_wire(void) {
    enum { N = 3, M = 257 };
    float x[N * M], y[N * M];
    Rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < M; i++) x[i] = 10.0f * rng_normal(&r);  /* image 0: large */
    for (int i = 0; i < M; i++) x[M + i] = 1e-3f * rng_normal(&r); /* image 1: tiny */
    for (int i = 0; i < M; i++) x[2 * M + i] = 0.0f;              /* image 2: zero */
    wire_forward(y, x, N, M, WIRE_INT8);
    for (int b = 0; b < 2; b++) {
        const float s = wire_int8_scale(x + b * M, M);
        float worst = 0, mx = 0;
        int off_grid = 0;
        for (int i = 0; i < M; i++) {
            worst = fmaxf(worst, fabsf(y[b * M + i] - x[b * M + i]));
            mx = fmaxf(mx, fabsf(x[b * M + i]));
            float q = y[b * M + i] / s;
            off_grid += fabsf(q - nearbyintf(q)) > 1e-3f || fabsf(q) > 127.0f + 1e-3f;
        }
        EXPECT(s > 0 && fabsf(s * 127.0f - mx) <= 1e-6f * mx, "image %d: scale %g for max %g", b, s, mx);
        EXPECT(worst <= 0.5f * s * 1.0001f, "image %d: error %g beyond half a step %g", b, worst, s / 2);
        EXPECT(!off_grid, "image %d: %d values not on the int8 grid", b, off_grid);
    }
    int nz = 0;
    for (int i = 0; i < M; i++) nz += y[2 * M + i] != 0.0f;
    EXPECT(!nz && wire_int8_scale(x + 2 * M, M) == 0.0f, "zero image: %d nonzero values", nz);
    EXPECT(wire_bytes(M, WIRE_INT8) == M + 4 && wire_bytes(M, WIRE_FP16) == 2 * M &&
           wire_bytes(M, WIRE_FP32) == 4 * M, "wire_bytes");
    wire_forward(y, x, N, M, WIRE_FP16);
    int bad = 0;
    for (int i = 0; i < N * M; i++) bad += y[i] != sei_half_to_float(sei_float_to_half(x[i]));
    EXPECT(!bad, "fp16 wire: %d values differ from the binary16 rounding", bad);
    EXPECT(wire_parse("int8") == WIRE_INT8 && wire_parse("fp16") == WIRE_FP16 &&
           wire_parse("fp32") == WIRE_FP32 && wire_parse("int4") < 0, "wire_parse");
}

static void test_wire_autograd(void) {
    Tape t;
    tape_init(&t, 1, 0, 0, 0);
    float xd[2 * 5] = {1, -2, 3.3f, 0.1f, 7, -1, 0, 2, 9, 4};
    Tensor xt = {.ndim = 2, .shape = {2, 5}, .data = xd};
    Value *x = tape_wrap(&t, &xt, 1);
    EXPECT(ag_wire(&t, x, WIRE_FP32) == x, "fp32 must be the identity (no copy)");
    Value *y = ag_wire(&t, x, WIRE_INT8);
    EXPECT(y && y != x, "int8 wire");
    float seed[10];
    for (int i = 0; i < 10; i++) seed[i] = (float)(i + 1);
    EXPECT(y && tape_backward(&t, y, seed) == SEI_OK, "%s", sei_last_error());
    int bad = 0;
    for (int i = 0; i < 10 && x->grad; i++) bad += x->grad[i] != seed[i];
    EXPECT(x->grad && !bad, "straight-through gradient: %d differ", bad);
    tape_free(&t);
}

int main(void) {
    RUN(test_half_roundtrip);
    RUN(test_half_rounding);
    RUN(test_int8_wire);
    RUN(test_wire_autograd);
    return test_summary();
}
