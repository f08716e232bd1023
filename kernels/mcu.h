/* mcu.h - the runtime of an exported device part (`sei export`, split/export.c): a program
 * of ops over one static arena, in portable C99 with no allocation and no library calls.
 * The same two files (this one and mcu.c) are compiled into sei, which runs the programs it
 * builds with them (calibration, checks, accuracy of the int8 head), and are written out
 * verbatim into every exported C file, so the microcontroller runs the very code sei
 * measured: an int8 program gives the same bits everywhere (integer arithmetic only).
 *
 * Data: activations are [C][H][W] (one image), float (MCU_F32 programs) or int8 (MCU_Q8).
 * int8 tensors are symmetric: value = q * scale, q in [-127, 127], one scale per tensor.
 * An int8 conv/linear computes acc = bias[o] + sum q_in * q_w (int32; weights per output
 * channel: w = q_w * sw[o]) and requantises q_out = round(acc * mult[o] / 2^shift[o])
 * (round half away from zero, then ReLU / clamp), mult[o] / 2^shift[o] = s_in * sw[o] / s_out.
 *
 * An op reads `in` and writes `out`, byte offsets into the arena; in = -1 is the program's
 * input. MCU_EXIT runs the next `nsub` ops as a branch (early exit) and returns the class
 * when its max softmax probability >= tau; otherwise the program goes on after the branch.
 * MCU_ADD is a residual connection (a ResNet bottleneck's end): out = in + in2, then ReLU;
 * int8: q_out = round((q_in * qm[0] + q_in2 * qm[1]) / 2^qshift), the two inputs' scales
 * over the output's on one shift. The last op is MCU_WIRE: it writes the payload (fp32, fp16
 * or int8 values, native byte order) and its int8 scale. */
#ifndef SEI_MCU_H
#define SEI_MCU_H
#include <stddef.h>
#include <stdint.h>

#ifndef MCU_API
#define MCU_API
#endif

enum { MCU_F32 = 0, MCU_Q8 = 1 };
enum { MCU_CONV, MCU_MAXPOOL, MCU_AVGPOOL, MCU_LINEAR, MCU_EXIT, MCU_WIRE, MCU_ADD };
enum { MCU_DENSE = 0, MCU_SPARSE_CHANNEL = 1, MCU_SPARSE_WEIGHT = 2 };
enum { MCU_WIRE_FP32 = 0, MCU_WIRE_FP16 = 1, MCU_WIRE_INT8 = 2 };

typedef struct {
    int32_t kind;           /* MCU_CONV ... */
    int32_t in, out;        /* arena byte offsets; in = -1: the program input */
    int32_t c, h, w;        /* input shape (linear: c features, h = w = 1) */
    int32_t oc, oh, ow;     /* output shape */
    int32_t k, stride, pad, groups;
    int32_t relu;           /* conv / linear: ReLU after the bias */
    int32_t sparse;         /* MCU_DENSE, MCU_SPARSE_CHANNEL (conv), MCU_SPARSE_WEIGHT */
    int32_t per_row;        /* sparse: kept entries per output channel */
    const uint16_t *idx;    /* sparse: [oc][per_row] kept input channels (channel- and
                             * weight-sparse conv) or kept input features (linear) */
    const uint8_t *idx8;    /* weight-sparse conv with c <= 256: idx as bytes (idx NULL) */
    const uint16_t *tap;    /* weight-sparse conv: [oc][k*k + 1]; output channel o's kept
                             * weights are grouped by kernel position r = ky*k + kx, and
                             * entries tap[o][r] .. tap[o][r+1]-1 of its row are r's */
    const void *weight;     /* float or int8_t: dense conv [oc][c/groups][k][k], channel-sparse
                             * [oc][per_row][k][k], weight-sparse [oc][per_row] (in tap
                             * order), linear
                             * [oc][c] or [oc][per_row] */
    const void *bias;       /* float or int32_t [oc] */
    const int32_t *mult;    /* int8 requantisation [oc] */
    const int8_t *shift;    /* [oc], 1..62 */
    const float *deq;       /* int8 linear writing float logits (an exit's classifier):
                             * logit[o] = (acc) * deq[o]; NULL: int8 output */
    int32_t wire;           /* MCU_WIRE: MCU_WIRE_FP32 / FP16 / INT8 */
    float scale;            /* MCU_WIRE of an int8 program: the payload's scale */
    float tau;              /* MCU_EXIT: threshold on the max softmax probability */
    int32_t nsub;           /* MCU_EXIT: ops in the branch */
    int32_t in2;            /* MCU_ADD: the second input's arena offset (-1: the program input) */
    int32_t qm[2], qshift;  /* MCU_ADD of an int8 program: multipliers of in and in2, shift */
} McuOp;

/* Runs ops[0..nops) of a program of type `type` (MCU_F32 / MCU_Q8) on input (float or
 * int8 [C][H][W]); arena: at least the program's arena bytes, float-aligned. Returns the
 * class of an early exit (payload untouched), or -1 with the payload written and *scale set
 * (the int8 payload's scale; 1 for fp32/fp16). */
MCU_API int mcu_run(int type, const McuOp *ops, int nops, float *arena, const void *input,
                    uint8_t *payload, float *scale);
/* e^x for x <= 0 (|relative error| < 2e-7), without libm */
MCU_API float mcu_exp(float x);
/* IEEE binary16 bits of x, round to nearest even */
MCU_API uint16_t mcu_f2h(float x);

#endif
