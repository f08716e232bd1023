/* test_mcu_runtime.c - the runtime of exported device parts (kernels/mcu.c) against naive
 * loops written here: int8 and float convolutions (dense, grouped, channel-sparse and
 * weight-sparse; 1x1 to 7x7, strides 1 and 2, with and without padding, planes that leave
 * every mix of four-output tiles and edge outputs), bit for bit: the runtime sums each
 * output's products in the naive order. Also the int8 residual add's rounding, and NaN
 * reaching the int8 encodings (0, not undefined behaviour). */
#include <stdint.h>
#include <stdlib.h>
#include "kernels/mcu.h"
#include "tests/harness.h"

static uint32_t rng = 12345;
static int32_t rnd(int32_t lo, int32_t hi) { /* uniform in [lo, hi] */
    rng = rng * 1664525u + 1013904223u;
    return lo + (int32_t)((rng >> 8) % (uint32_t)(hi - lo + 1));
}

/* the naive reference: every output, every kept tap, bounds checked per tap */
static void ref_conv(const McuOp *op, int q8, const void *in, void *out) {
    const int k = op->k, kk = k * k, cg = op->c / op->groups, og = op->oc / op->groups;
    const int n = op->sparse == MCU_DENSE ? cg : op->per_row;
    for (int o = 0; o < op->oc; o++)
        for (int oy = 0; oy < op->oh; oy++)
            for (int ox = 0; ox < op->ow; ox++) {
                int32_t ai = q8 ? ((const int32_t *)op->bias)[o] : 0;
                float af = q8 ? 0.0f : ((const float *)op->bias)[o];
                for (int j = 0; j < n; j++)
                    for (int t = 0; t < (op->sparse == MCU_SPARSE_WEIGHT ? 1 : kk); t++) {
                        int ch, ky, kx, wi;
                        if (op->sparse == MCU_SPARSE_WEIGHT) { /* entry j is at the tap whose range holds it */
                            const uint16_t *tp = op->tap + o * (kk + 1);
                            int r = 0;
                            while (tp[r + 1] <= j) r++;
                            ch = op->idx8 ? op->idx8[o * n + j] : op->idx[o * n + j], ky = r / k, kx = r % k, wi = o * n + j;
                        } else {
                            ch = op->sparse == MCU_DENSE ? o / og * cg + j : op->idx[o * n + j];
                            ky = t / k, kx = t % k, wi = (o * n + j) * kk + t;
                        }
                        const int iy = oy * op->stride - op->pad + ky, ix = ox * op->stride - op->pad + kx;
                        if (iy < 0 || iy >= op->h || ix < 0 || ix >= op->w) continue;
                        const int ii = (ch * op->h + iy) * op->w + ix;
                        if (q8) ai += (int32_t)((const int8_t *)in)[ii] * ((const int8_t *)op->weight)[wi];
                        else af += ((const float *)in)[ii] * ((const float *)op->weight)[wi];
                    }
                const int oi = (o * op->oh + oy) * op->ow + ox;
                if (q8) {
                    const int64_t p = (int64_t)ai * op->mult[o], r = (int64_t)1 << (op->shift[o] - 1);
                    int64_t v = p >= 0 ? (p + r) >> op->shift[o] : -((-p + r) >> op->shift[o]);
                    v = v > 127 ? 127 : v < -127 ? -127 : v;
                    ((int8_t *)out)[oi] = (int8_t)(op->relu && v < 0 ? 0 : v);
                } else ((float *)out)[oi] = op->relu && af < 0.0f ? 0.0f : af;
            }
}

static int byte_index; /* weight-sparse cases: input channels as bytes (idx8) */

/* one conv case through mcu_run (a conv then an fp32 / int8 wire copying it out) */
static int conv_case(int q8, int sparse, int c, int oc, int groups, int h, int w, int k, int stride, int pad) {
    McuOp ops[2] = {{0}};
    McuOp *op = &ops[0];
    op->kind = MCU_CONV, op->in = -1, op->out = 0, op->c = c, op->h = h, op->w = w, op->oc = oc;
    op->k = k, op->stride = stride, op->pad = pad, op->groups = groups, op->relu = rnd(0, 1), op->sparse = sparse;
    op->oh = (h + 2 * pad - k) / stride + 1, op->ow = (w + 2 * pad - k) / stride + 1;
    const int kk = k * k, cg = c / groups;
    int n = cg * kk, per = 0;
    uint16_t *idx = NULL, *tap = NULL;
    uint8_t *idx8 = NULL;
    if (sparse) { /* kept entries per output channel, ascending */
        const int cols = sparse == MCU_SPARSE_CHANNEL ? c : c * kk;
        per = cols / 2 > 0 ? cols / 2 : 1;
        idx = malloc(sizeof *idx * (size_t)oc * per);
        for (int o = 0; o < oc; o++) /* per of the cols, each column kept with the odds left */
            for (int i = 0, j = 0; i < cols && j < per; i++)
                if (rnd(0, cols - i - 1) < per - j) idx[o * per + j++] = (uint16_t)i;
        n = per * (sparse == MCU_SPARSE_CHANNEL ? kk : 1);
        op->per_row = per, op->idx = idx;
        if (sparse == MCU_SPARSE_WEIGHT) { /* positions c*kk + r -> channels grouped by r */
            tap = malloc(sizeof *tap * (size_t)oc * (kk + 1));
            uint16_t *row = malloc(sizeof *row * (size_t)per);
            for (int o = 0; o < oc; o++) {
                int m = 0;
                for (int r = 0; r < kk; r++) {
                    tap[o * (kk + 1) + r] = (uint16_t)m;
                    for (int j = 0; j < per; j++)
                        if (idx[o * per + j] % kk == r) row[m++] = (uint16_t)(idx[o * per + j] / kk);
                }
                tap[o * (kk + 1) + kk] = (uint16_t)m;
                memcpy(idx + o * per, row, sizeof *row * (size_t)per);
            }
            free(row);
            op->tap = tap;
            if (c <= 256 && byte_index) { /* the channels as bytes */
                idx8 = malloc((size_t)oc * per);
                for (int i = 0; i < oc * per; i++) idx8[i] = (uint8_t)idx[i];
                op->idx8 = idx8, op->idx = NULL;
            }
        }
    }
    const size_t in_n = (size_t)c * h * w, out_n = (size_t)oc * op->oh * op->ow, wn = (size_t)oc * n;
    void *in = malloc(in_n * 4), *wt = malloc(wn * 4), *bias = malloc((size_t)oc * 4), *ref = malloc(out_n * 4);
    int32_t *mult = malloc((size_t)oc * 4);
    int8_t *shift = malloc((size_t)oc);
    float *arena = calloc(out_n + 16, 4);
    uint8_t *pay = malloc(out_n * 4 + 16);
    for (size_t i = 0; i < in_n; i++) {
        if (q8) ((int8_t *)in)[i] = (int8_t)rnd(-127, 127);
        else ((float *)in)[i] = (float)rnd(-1000, 1000) / 256.0f;
    }
    for (size_t i = 0; i < wn; i++) {
        if (q8) ((int8_t *)wt)[i] = (int8_t)rnd(-127, 127);
        else ((float *)wt)[i] = (float)rnd(-1000, 1000) / 512.0f;
    }
    for (int o = 0; o < oc; o++) {
        if (q8) ((int32_t *)bias)[o] = rnd(-5000, 5000), mult[o] = rnd(1 << 30, 0x7fffffff), shift[o] = (int8_t)rnd(12, 20);
        else ((float *)bias)[o] = (float)rnd(-100, 100) / 64.0f;
    }
    op->weight = wt, op->bias = bias, op->mult = mult, op->shift = shift;
    ops[1].kind = MCU_WIRE, ops[1].in = 0, ops[1].c = ops[1].oc = oc, ops[1].h = ops[1].oh = op->oh;
    ops[1].w = ops[1].ow = op->ow, ops[1].wire = MCU_WIRE_FP32;
    float scale;
    mcu_run(q8 ? MCU_Q8 : MCU_F32, ops, 2, arena, in, pay, &scale);
    ref_conv(op, q8, in, ref);
    const int same = !memcmp(pay, ref, out_n * (q8 ? 1 : 4));
    if (!same)
        printf("  %s %s c=%d oc=%d groups=%d %dx%d k=%d stride=%d pad=%d differs from the naive loops\n", q8 ? "int8" : "fp32",
               sparse == MCU_DENSE ? "dense" : sparse == MCU_SPARSE_CHANNEL ? "channel-sparse" : "weight-sparse", c, oc,
               groups, h, w, k, stride, pad);
    free(in), free(wt), free(bias), free(ref), free(mult), free(shift), free(arena), free(pay), free(idx), free(tap), free(idx8);
    return same;
}

static void test_conv_matches_naive(void) {
    static const int shapes[][5] = { /* h, w, k, stride, pad */
        {32, 32, 3, 1, 1}, {16, 16, 3, 1, 1}, {8, 8, 3, 1, 1}, {7, 9, 3, 1, 1}, {5, 5, 3, 1, 0}, {4, 4, 3, 1, 1},
        {3, 3, 3, 1, 1}, {1, 1, 3, 1, 1}, {8, 8, 1, 1, 0}, {7, 5, 1, 1, 0}, {8, 8, 1, 2, 0}, {16, 16, 3, 2, 1},
        {9, 11, 3, 2, 1}, {32, 32, 7, 2, 3}, {13, 13, 5, 1, 2}, {10, 10, 5, 1, 0}, {6, 6, 2, 2, 0}};
    int bad = 0, cases = 0;
    for (int q8 = 0; q8 < 2; q8++)
        for (int sp = 0; sp < 3; sp++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
                const int *v = shapes[s];
                bad += !conv_case(q8, sp, 3, 4, 1, v[0], v[1], v[2], v[3], v[4]), cases++;
                if (sp == MCU_DENSE) bad += !conv_case(q8, sp, 4, 6, 2, v[0], v[1], v[2], v[3], v[4]), cases++;
                if (sp == MCU_SPARSE_WEIGHT) { /* byte indices, 200 channels: past int8's range */
                    byte_index = 1;
                    bad += !conv_case(q8, sp, 3, 4, 1, v[0], v[1], v[2], v[3], v[4]), cases++;
                    if (v[0] <= 16) bad += !conv_case(q8, sp, 200, 3, 1, v[0], v[1], v[2], v[3], v[4]), cases++;
                    byte_index = 0;
                }
            }
    EXPECT(bad == 0, "%d of %d conv cases differ", bad, cases);
}

/* int8 add: q = round((qa m0 + qb m1) / 2^s), half away from zero, clamped, ReLU */
static void test_add_rounding(void) {
    int8_t a[6] = {3, -3, 127, -127, 10, 0}, b[6] = {1, -1, 127, -127, -30, 0};
    McuOp ops[2] = {{0}};
    ops[0].kind = MCU_ADD, ops[0].in = -1, ops[0].out = 0, ops[0].c = ops[0].oc = 6, ops[0].h = ops[0].oh = 1;
    ops[0].w = ops[0].ow = 1, ops[0].qm[0] = 1 << 30, ops[0].qm[1] = 1 << 29, ops[0].qshift = 31;
    float arena[8] = {0};
    uint8_t pay[8];
    float scale;
    /* in2 must live in the arena: put b after the output */
    memcpy((int8_t *)arena + 16, b, 6);
    ops[0].in2 = 16;
    ops[1].kind = MCU_WIRE, ops[1].in = 0, ops[1].c = ops[1].oc = 6, ops[1].h = ops[1].oh = ops[1].w = ops[1].ow = 1;
    mcu_run(MCU_Q8, ops, 2, arena, a, pay, &scale);
    /* a/2 + b/4: 1.75 -> 2, -1.75 -> -2, 95.25 -> 95, -95.25 -> -95, -2.5 -> -3, 0 */
    const int8_t want[6] = {2, -2, 95, -95, -3, 0};
    EXPECT(!memcmp(pay, want, 6), "add: %d %d %d %d %d %d", (int8_t)pay[0], (int8_t)pay[1], (int8_t)pay[2],
           (int8_t)pay[3], (int8_t)pay[4], (int8_t)pay[5]);
    ops[0].relu = 1;
    mcu_run(MCU_Q8, ops, 2, arena, a, pay, &scale);
    EXPECT((int8_t)pay[1] == 0 && (int8_t)pay[4] == 0 && (int8_t)pay[2] == 95, "add + ReLU");
}

/* NaN at the int8 wire of a float program: 0, the other values still scaled by max |x| */
static void test_nan_at_int8_wire(void) {
    float x[4] = {NAN, 1.0f, -0.5f, 0.25f}, arena[4];
    McuOp op = {0};
    op.kind = MCU_WIRE, op.in = -1, op.c = op.oc = 4, op.h = op.oh = op.w = op.ow = 1, op.wire = MCU_WIRE_INT8;
    uint8_t pay[4];
    float scale;
    mcu_run(MCU_F32, &op, 1, arena, x, pay, &scale);
    EXPECT((int8_t)pay[0] == 0 && (int8_t)pay[1] == 127 && (int8_t)pay[2] == -64 && (int8_t)pay[3] == 32,
           "payload %d %d %d %d", (int8_t)pay[0], (int8_t)pay[1], (int8_t)pay[2], (int8_t)pay[3]);
}

int main(void) {
    RUN(test_conv_matches_naive);
    RUN(test_add_rounding);
    RUN(test_nan_at_int8_wire);
    return test_summary();
}
