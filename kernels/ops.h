/* ops.h - every neural-network op as a forward/backward pair of plain functions.
 *
 * Conventions (all ops):
 *  - outputs first, inputs const, then a small params struct, then caller-owned scratch;
 *  - activations are float32 NCHW, contiguous;
 *  - backward ACCUMULATES (+=) into gradients (the caller zeroes them once per step);
 *    any gradient pointer may be NULL to skip that gradient;
 *  - forward saves what backward needs into caller-provided buffers (BN mean/rstd,
 *    max-pool argmax, dropout mask, softmax probabilities);
 *  - shapes are validated by the caller (autograd/ops layer); kernels assume valid params.
 *  - ops with a fast path also have a naive *_ref version with the same signature (minus
 *    scratch). sei_kernels_ref = 1 (env SEI_REF=1, or --ref) routes every call to the ref.
 *
 * Files: conv2d.c / conv2d_ref.c, conv_transpose2d.c / conv_transpose2d_ref.c, linear.c,
 * activation.c (relu, dropout, add), pool.c (max, avg, adaptive avg), batchnorm.c, loss.c,
 * wire.c, sparse.c (predefined-sparse conv and linear, on conv_direct.c's direct kernels). */
#ifndef SEI_OPS_H
#define SEI_OPS_H
#include <stddef.h>
#include <stdint.h>
#include "engine/rng.h"

extern int sei_kernels_ref; /* 1: use the naive reference kernels everywhere */
/* predefined-sparse layers: 0 always on the dense kernels (SEI_DENSE=1), 1 on the sparse
 * kernels where they pay (default; conv2d_sparse_pays / linear_sparse_pays), 2 always on
 * the sparse kernels (SEI_SPARSE=1) */
extern int sei_sparse_kernels;
/* 1 (default): stride-1 channel-sparse convs on the direct kernels (conv_direct.c); 0: as
 * grouped GEMMs of the gathered channels (for benchmarks and tests) */
extern int sei_conv_direct;

/* ---------------------------------------------------------------- conv2d
 * in [N,C,H,W], w [OC, C/groups, KH, KW], b [OC] or NULL, out [N,OC,OH,OW]
 * OH = (H + 2*ph - KH)/sh + 1 (floor), same for OW; dilation 1. */
typedef struct {
    int N, C, H, W;
    int OC, KH, KW;
    int sh, sw, ph, pw;
    int groups;
    int OH, OW;
} Conv2dParams;

/* fills OH/OW; returns 0 if the params are invalid (non-positive output, C or OC not
 * divisible by groups, ...) */
int conv2d_params(Conv2dParams *p, int N, int C, int H, int W, int OC, int KH, int KW,
                  int stride, int pad, int groups);
/* scratch floats needed by conv2d_forward / conv2d_backward (same buffer serves both) */
size_t conv2d_workspace(const Conv2dParams *p);
void conv2d_forward(float *out, const float *in, const float *w, const float *b,
                    const Conv2dParams *p, float *ws);
void conv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const Conv2dParams *p, float *ws);
void conv2d_forward_ref(float *out, const float *in, const float *w, const float *b,
                        const Conv2dParams *p);
/* Inference fusion: conv2d_forward, then per output channel out = fmaf(out, alpha, shift)
 * (an eval-mode batch norm, see batchnorm_eval_affine; alpha NULL: none) and ReLU if relu,
 * in the pass that already touches the output. Bit-identical to running the three ops. */
typedef struct { const float *alpha, *shift; int relu; } ConvEpilogue;
void conv2d_forward_fused(float *out, const float *in, const float *w, const float *b,
                          const ConvEpilogue *ep, const Conv2dParams *p, float *ws);
void conv2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w, const Conv2dParams *p);

/* ---------------------------------------------------------------- conv_transpose2d
 * PyTorch ConvTranspose2d: in [N,C,H,W], w [C, OC/groups, KH, KW], b [OC] or NULL,
 * out [N,OC,OH,OW], OH = (H-1)*sh - 2*ph + KH + oph (output_padding < stride). */
typedef struct {
    int N, C, H, W;
    int OC, KH, KW;
    int sh, sw, ph, pw, oph, opw;
    int groups;
    int OH, OW;
} ConvT2dParams;

int conv_transpose2d_params(ConvT2dParams *p, int N, int C, int H, int W, int OC, int KH,
                            int KW, int stride, int pad, int output_pad, int groups);
size_t conv_transpose2d_workspace(const ConvT2dParams *p);
void conv_transpose2d_forward(float *out, const float *in, const float *w, const float *b,
                              const ConvT2dParams *p, float *ws);
void conv_transpose2d_backward(float *din, float *dw, float *db, const float *dout,
                               const float *in, const float *w, const ConvT2dParams *p,
                               float *ws);
void conv_transpose2d_forward_ref(float *out, const float *in, const float *w,
                                  const float *b, const ConvT2dParams *p);
void conv_transpose2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                                   const float *in, const float *w, const ConvT2dParams *p);

/* ---------------------------------------------------------------- linear
 * in [N,I], w [O,I] (PyTorch layout), b [O] or NULL, out [N,O] = in w^T + b */
typedef struct { int N, I, O; } LinearParams;
void linear_forward(float *out, const float *in, const float *w, const float *b,
                    const LinearParams *p);
void linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const LinearParams *p);
void linear_forward_ref(float *out, const float *in, const float *w, const float *b,
                        const LinearParams *p);
void linear_backward_ref(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w, const LinearParams *p);

/* ---------------------------------------------------------------- elementwise
 * relu: out may alias in. backward uses the forward OUTPUT (out > 0). */
void relu_forward(float *out, const float *in, size_t n);
void relu_backward(float *din, const float *dout, const float *out, size_t n);
/* in-place backward for a gradient buffer that is not shared (autograd steals the output
 * gradient when the input has none yet): g = g where out > 0 (or NaN), else 0 */
void relu_backward_inplace(float *g, const float *out, size_t n);
/* residual add: out = a + b (out may alias a or b); backward adds dout to da and db */
void add_forward(float *out, const float *a, const float *b, size_t n);
/* inference fusion: out = relu(a + b) in one pass (out may alias a or b) */
void add_relu_forward(float *out, const float *a, const float *b, size_t n);
void add_backward(float *da, float *db, const float *dout, size_t n);
/* dropout (training): mask[i] = keep; out = in * mask / (1-p). p in [0,1). */
void dropout_forward(float *out, uint8_t *mask, const float *in, size_t n, float p, Rng *rng);
void dropout_backward(float *din, const float *dout, const uint8_t *mask, size_t n, float p);
void dropout_backward_inplace(float *g, const uint8_t *mask, size_t n, float p);

/* ---------------------------------------------------------------- pooling
 * max/avg pool: in [N,C,H,W] -> out [N,C,OH,OW]; floor or ceil mode as PyTorch
 * (with ceil_mode, a window that starts in the right padding is dropped).
 * max pool pads with -inf; argmax[i] = index within the input plane (h*W+w).
 * avg pool: count_include_pad as PyTorch (divisor counts padding, not the ceil overhang). */
typedef struct {
    int N, C, H, W;
    int KH, KW, sh, sw, ph, pw;
    int ceil_mode, count_include_pad;
    int OH, OW;
} Pool2dParams;
int pool2d_params(Pool2dParams *p, int N, int C, int H, int W, int k, int stride, int pad,
                  int ceil_mode, int count_include_pad);
void maxpool2d_forward(float *out, int32_t *argmax, const float *in, const Pool2dParams *p);
void maxpool2d_backward(float *din, const float *dout, const int32_t *argmax,
                        const Pool2dParams *p);
void avgpool2d_forward(float *out, const float *in, const Pool2dParams *p);
void avgpool2d_backward(float *din, const float *dout, const Pool2dParams *p);

/* adaptive average pool, torchvision/PyTorch semantics: output cell i covers input rows
 * [floor(i*H/OH), ceil((i+1)*H/OH)) (also when OH > H: cells then repeat input rows). */
typedef struct { int N, C, H, W, OH, OW; } AdaptivePoolParams;
void adaptive_avgpool2d_forward(float *out, const float *in, const AdaptivePoolParams *p);
void adaptive_avgpool2d_backward(float *din, const float *dout, const AdaptivePoolParams *p);

/* ---------------------------------------------------------------- batch norm 2d
 * in/out [N,C,H,W] with HW = H*W. training: normalise by batch statistics (biased variance),
 * save mean/rstd [C], and update running stats:
 *   running_mean = (1-m)*running_mean + m*mean;
 *   running_var  = (1-m)*running_var  + m*var*n/(n-1)   (n = N*HW; unbiased)
 * eval: normalise by running stats (save_mean/save_rstd get those, for backward).
 * gamma/beta may be NULL (affine=False). Statistics accumulate in double. */
typedef struct { int N, C, HW; float eps, momentum; int training; } BatchNormParams;
void batchnorm_forward(float *out, float *save_mean, float *save_rstd, float *running_mean,
                       float *running_var, const float *in, const float *gamma,
                       const float *beta, const BatchNormParams *p);
/* the per-channel affine map of eval-mode batch norm: out = fmaf(x, alpha[c], shift[c]) */
void batchnorm_eval_affine(float *alpha, float *shift, const float *running_mean,
                           const float *running_var, const float *gamma, const float *beta,
                           int C, float eps);
void batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *in, const float *gamma, const float *save_mean,
                        const float *save_rstd, const BatchNormParams *p);
/* Synchronised batch norm for data-parallel training (cli/train_mpi.c): when set, training
 * mode sums its per-channel statistics over all replicas with sum(v, n) (an in-place sum of n
 * doubles, identical on return everywhere), so every replica normalises by the statistics of
 * the whole global batch: forward reduces the sums and element counts, then the squared
 * deviations; backward reduces sum(dy) and sum(dy*(x-mean)) for dx, while dgamma/dbeta keep
 * the replica's own share (the gradient allreduce adds those up). NULL: one process. */
extern void (*batchnorm_sync)(double *v, int n);

/* ---------------------------------------------------------------- loss
 * mean softmax cross-entropy over N rows of K logits; labels in [0,K).
 * probs [N,K] saved for backward. Returns the loss; dlogits += dloss * (probs - onehot) / N. */
float softmax_ce_forward(float *probs, const float *logits, const int32_t *labels, int N, int K);
void softmax_ce_backward(float *dlogits, float dloss, const float *probs,
                         const int32_t *labels, int N, int K);


/* ---------------------------------------------------------------- wire (split networks)
 * What crosses the cut of a split network, as the receiver reconstructs it (wire.c): x is n
 * images of m values; out may be x. fp32 copies, fp16 rounds to binary16 and back, int8
 * quantises each image with its own scale max|x|/127. Backward: straight through (dx += dout,
 * which is add_backward; the autograd does it).
 * wire_bytes: bytes one image takes on the wire (int8 includes its 4-byte scale). */
typedef enum { WIRE_FP32, WIRE_FP16, WIRE_INT8 } WireFormat;
void wire_forward(float *out, const float *x, int n, size_t m, WireFormat f);
size_t wire_bytes(size_t m, WireFormat f);
float wire_int8_scale(const float *x, size_t m);
const char *wire_name(WireFormat f);
int wire_parse(const char *s); /* "fp32" | "fp16" | "int8" -> WireFormat, -1 if neither */


/* ---------------------------------------------------------------- predefined-sparse layers
 * Conv and linear layers whose weights keep only the entries a fixed pattern lists
 * (nets/sparsity.h): w stays dense-shaped with the rest zero, and these kernels read and
 * write the kept entries only (sparse.c). The pattern: per_row ascending columns per row
 * (output channel / feature) in index[row * per_row ..]. SPARSE_IDX_CHANNEL (conv): columns
 * are input channels, rows in `groups` contiguous groups sharing one list; SPARSE_IDX_WEIGHT:
 * columns are a conv row's C*KH*KW weights, or a linear row's inputs. Same semantics as
 * conv2d_forward / linear_forward on the masked weights (ep: the fused eval epilogue or NULL);
 * backward accumulates like every op. Scratch: conv2d_sparse_workspace /
 * linear_sparse_workspace floats. */
typedef enum { SPARSE_IDX_CHANNEL = 1, SPARSE_IDX_WEIGHT = 2 } SparseIdxKind;
typedef struct { int kind, per_row, groups; const int32_t *index; } SparseIndex;
/* whether the sparse kernel is expected to beat the dense one on the masked weights (from
 * measurements on AVX-512, 2 threads, see sparse.c) */
int conv2d_sparse_pays(const Conv2dParams *p, const SparseIndex *s);
int linear_sparse_pays(const LinearParams *p, const SparseIndex *s);
size_t conv2d_sparse_workspace(const Conv2dParams *p, const SparseIndex *s);
void conv2d_sparse_forward(float *out, const float *in, const float *w, const float *b,
                           const ConvEpilogue *ep, const Conv2dParams *p, const SparseIndex *s,
                           float *ws);
void conv2d_sparse_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const Conv2dParams *p, const SparseIndex *s, float *ws);
size_t linear_sparse_workspace(const LinearParams *p, const SparseIndex *s);
void linear_sparse_forward(float *out, const float *in, const float *w, const float *b,
                           const LinearParams *p, const SparseIndex *s, float *ws);
void linear_sparse_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const LinearParams *p, const SparseIndex *s, float *ws);

#endif
