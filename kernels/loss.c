/* loss.c - mean softmax cross-entropy over N rows of K logits (PyTorch
 * F.cross_entropy(logits, labels), reduction='mean'), see kernels/ops.h.
 *
 * logits/probs [N,K], labels [N] in [0,K) (validated by the caller). Each row uses a
 * stable log-sum-exp in double: lse = max + log(sum exp(x - max)); the row loss is
 * lse - x[label]; probs = exp(x - lse) are saved for backward. The mean over rows is
 * accumulated in double. Backward: dlogits += dloss * (probs - onehot) / N. */
#include <assert.h>
#include <math.h>
#include "kernels/ops.h"

float softmax_ce_forward(float *probs, const float *logits, const int32_t *labels, int N,
                         int K) {
    double total = 0;
    for (int n = 0; n < N; n++) {
        const float *x = logits + (long)n * K;
        float *pr = probs + (long)n * K;
        assert(labels[n] >= 0 && labels[n] < K);
        double m = -INFINITY;
        for (int k = 0; k < K; k++)
            if (x[k] > m) m = x[k];
        /* all -inf (or +inf) max: avoid inf - inf; the row is degenerate anyway */
        if (!isfinite(m)) m = 0;
        double s = 0;
        for (int k = 0; k < K; k++) s += exp((double)x[k] - m);
        const double lse = m + log(s);
        for (int k = 0; k < K; k++) pr[k] = (float)exp((double)x[k] - lse);
        total += lse - (double)x[labels[n]];
    }
    return N > 0 ? (float)(total / N) : 0.0f;
}

void softmax_ce_backward(float *dlogits, float dloss, const float *probs,
                         const int32_t *labels, int N, int K) {
    if (N <= 0) return;
    const double g = (double)dloss / N;
    for (int n = 0; n < N; n++) {
        const float *pr = probs + (long)n * K;
        float *d = dlogits + (long)n * K;
        for (int k = 0; k < K; k++)
            d[k] += (float)(g * ((double)pr[k] - (k == labels[n] ? 1.0 : 0.0)));
    }
}
