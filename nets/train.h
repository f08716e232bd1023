/* train.h - the pieces of supervised training every command shares: one optimizer step on
 * a batch, evaluation over a data split (accuracy, loss, confusion matrix), learning-rate
 * schedules, and checkpoints that carry the optimizer state for an exact resume.
 *
 * Checkpoint = a weights file (nets/weights.h: loadable by every command) plus, under the
 * tensor names "optim.<param>.momentum_buffer" (SGD) or "optim.<param>.exp_avg" /
 * "optim.<param>.exp_avg_sq" (AdamW) - PyTorch's state names - the optimizer state, and
 * metadata key/value strings. Written atomically (temp file, fsync, rename). */
#ifndef SEI_TRAIN_H
#define SEI_TRAIN_H
#include "autograd/optim.h"
#include "data/data.h"
#include "engine/safetensors.h"
#include "nets/net.h"

typedef enum { SCHED_CONST, SCHED_COSINE, SCHED_STEP } SchedKind;

typedef struct {
    SchedKind kind;
    float lr;            /* base learning rate */
    long total_steps;    /* cosine: steps over the whole run */
    long steps_per_epoch;
    int step_epochs;     /* step: multiply by gamma every step_epochs epochs */
    float gamma;
    int warmup_steps;    /* linear warm-up from lr/warmup_steps to lr */
} Schedule;

/* learning rate for optimizer step `step` (0-based) */
float schedule_lr(const Schedule *s, long step);
/* "cosine" | "step" | "const" -> kind; -1 if unknown */
int schedule_parse(const char *name);
const char *schedule_name(SchedKind k);

/* Forward (training mode) + mean cross-entropy + backward + optimizer step on one batch
 * x [n, C, S, S]. With early exits the loss is the final classifier's cross-entropy plus
 * exit_weight times each exit's. *loss receives the batch loss, *correct the number of
 * right top-1 predictions of the final classifier. A non-finite loss returns
 * SEI_ERR_NUMERIC before any weight changes. */
sei_status train_step(Net *net, Tape *t, Optimizer *o, const float *x, const int32_t *y, int n,
                      int size, float exit_weight, double *loss, int *correct);
/* Data-parallel training (cli/train_mpi.c): when set, train_step calls reduce_loss on the
 * batch loss and correct count before checking the loss, and reduce_grads after backward,
 * before the optimizer step, so every replica takes the same step. NULL: one process. */
typedef struct {
    void (*reduce_loss)(double *loss, int *correct, void *ctx);
    void (*reduce_grads)(Net *net, void *ctx);
    void *ctx;
} TrainReduce;
extern TrainReduce train_reduce;

typedef struct {
    double accuracy, loss;   /* top-1 accuracy in [0,1], mean cross-entropy */
    long n;                  /* images */
    long *confusion;         /* [K*K] row = true class, column = predicted; caller frees */
    int nexits;              /* early exits: the top-1 accuracy of each exit's classifier */
    double exit_accuracy[NET_MAX_EXITS];
} EvalResult;

/* Evaluate in eval mode (fused inference) over every image of d, batches prepared by a
 * Batcher with bc (no shuffling, centre crop). */
sei_status evaluate(Net *net, const Dataset *d, const BatchConfig *bc, EvalResult *r);
/* the loop under evaluate: after each batch, fn(ctx, net, logits [n, K], labels, n), with
 * the exits' logits in net->exit_out; a non-OK return stops it and is returned */
typedef sei_status (*EvalBatchFn)(void *ctx, const Net *net, const float *logits, const int32_t *y, int n);
sei_status eval_batches(Net *net, const Dataset *d, const BatchConfig *bc, EvalBatchFn fn, void *ctx);

/* Save weights + optimizer state (o may be NULL) + metadata, atomically. */
sei_status checkpoint_save(const Net *net, const Optimizer *o, const char *path, int nmeta,
                           const char *const *keys, const char *const *vals);
/* Restore optimizer state saved by checkpoint_save into o (built by net_optim_init with
 * the same kind); o->step from metadata "optim_step". */
sei_status checkpoint_load_optim(const StFile *f, const Net *net, Optimizer *o);

/* Load weights from f, except the classifier head (the last linear layer), which keeps its
 * fresh initialisation: tensors of the head are skipped whatever their shape. Every other
 * tensor must match as in net_load_weights_from. */
sei_status net_load_weights_except_head(Net *net, const StFile *f);

#endif
