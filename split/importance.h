/* importance.h - I-SPLIT: Grad-CAM importance of every cut point of a network, from one
 * forward and one backward pass per batch.
 *
 * For image n with target class y_n (its label, or with target_pred its top logit) the score
 * is s_n = logit[n, y_n]. At a cut point with activation A [C,H,W] and G = ds_n/dA:
 *   alpha_c  = mean over (h,w) of G_c
 *   map(h,w) = ReLU( (1/C) * sum_c alpha_c * A_c(h,w) )
 * the cut point's importance is the mean of map over (h,w) and over the images, in eval mode
 * (BatchNorm running statistics, no dropout). A flat activation [F] counts as C = F, H = W = 1.
 * The batch's scores are independent in eval mode, so one backward from sum_n s_n gives every
 * image's gradient at every cut point at once; parameter gradients are not computed.
 *
 * Also per cut point: importance per class (images grouped by their label), and the density
 * of important neurons: the share of map values above a threshold, by default the cut
 * point's own global mean (its importance), so every map value is kept until the end
 * (4 bytes per position per image). Accumulation is in double, per image in image order:
 * results do not depend on the batch size or the thread count beyond float rounding of the
 * network itself. */
#ifndef SEI_IMPORTANCE_H
#define SEI_IMPORTANCE_H
#include <stddef.h>
#include <stdint.h>
#include "nets/net.h"

typedef struct {
    int ncuts, classes;
    int *layer;            /* [ncuts] layer index of each cut point, in network order */
    double *sum;           /* [ncuts] sum over images of mean(map) */
    double *sum_class;     /* [ncuts * classes] the same per label */
    long *count_class;     /* [classes] images per label */
    long n;                /* images seen */
    float **maps;          /* [ncuts] every map value seen (for the density) */
    size_t *nmaps, *capmaps;
} Importance;

sei_status importance_init(Importance *im, const Net *net);
void importance_free(Importance *im);

/* One batch x [N, in_ch, S, S] with labels [N] in [0, classes): runs the network on tape t
 * (re-initialised here in eval mode with recording) and accumulates. target_pred: score the
 * top logit instead of the label's. */
sei_status importance_batch(Importance *im, Net *net, Tape *t, const Tensor *x,
                            const int32_t *labels, int target_pred);

/* Results of cut point c: importance (mean map), and the density above `threshold` (< 0: the
 * cut point's importance). importance_class: mean map over the images labelled k (0 when none). */
double importance_value(const Importance *im, int c);
double importance_class(const Importance *im, int c, int k);
double importance_density(const Importance *im, int c, double threshold);

/* Split candidates: interior local maxima of the log10 curve (strictly above both
 * neighbours), ranked by value, highest first. Fills rank[c] = 1.. for candidates, 0 for the
 * rest, and returns the number of candidates. Values <= 0 (log undefined) are never maxima. */
int importance_candidates(const double *value, int ncuts, int *rank);

/* Spearman rank correlation of a and b (n pairs; ties get their average rank); NaN when
 * n < 2 or either side is constant */
double spearman(const double *a, const double *b, int n);

#endif
