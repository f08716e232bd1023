/* optim.h - SGD (momentum, dampening, Nesterov, weight decay) and AdamW, with PyTorch's
 * exact update rules (torch.optim.SGD / torch.optim.AdamW, foreach=False), over a list of
 * parameter tensors. Masks (predefined sparsity) are respected: where mask == 0 the gradient,
 * the optimizer state and the weight stay exactly zero. */
#ifndef SEI_OPTIM_H
#define SEI_OPTIM_H
#include <stddef.h>
#include "engine/error.h"

typedef enum { OPT_SGD, OPT_ADAMW } OptKind;

typedef struct {
    OptKind kind;
    float lr, weight_decay;
    float momentum, dampening; int nesterov;  /* SGD */
    float beta1, beta2, eps;                  /* AdamW */
} OptConfig;

typedef struct {
    float *w;            /* weights, updated in place */
    float *g;            /* gradient */
    const float *mask;   /* NULL: dense */
    size_t n;
} OptParam;

typedef struct {
    OptConfig cfg;
    OptParam *p;
    int np;
    float **m, **v;      /* per-parameter state (momentum buffer / Adam moments) */
    long step;           /* steps taken */
} Optimizer;

OptConfig optim_sgd(float lr, float momentum, float weight_decay, int nesterov);
OptConfig optim_adamw(float lr, float weight_decay);  /* betas (0.9, 0.999), eps 1e-8 */
/* params are copied; state is allocated zeroed */
sei_status optim_init(Optimizer *o, const OptConfig *cfg, const OptParam *params, int np);
void optim_step(Optimizer *o);
void optim_free(Optimizer *o);

#endif
