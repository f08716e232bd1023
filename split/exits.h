/* exits.h - early exits: small classifiers attached at cut points on the device side, and
 * the policy that lets an image leave at one instead of crossing the link.
 *
 * An exit at cut C, whose activation is [Cc, H, W], is an L_EXIT layer right after the cut
 * layer (so it belongs to the device part of a split at C, and a bottleneck at C comes
 * after it: an exit can also go at a cut that a bottleneck replaced). Its branch, as an nn.Sequential named exits.K:
 *   exits.K.0  Conv2d(Cc -> B, 3x3, pad 1, no bias)  \
 *   exits.K.1  BatchNorm2d(B)                         | --exit-convs times (default 1),
 *   exits.K.2  ReLU                                  /  B = --exit-channels (default Cc)
 *   ...        AdaptiveAvgPool2d(1), Flatten, Linear(B -> classes)
 * A flat cut [F] (VGG's classifier) gets Linear(F -> classes) only. The main path goes on
 * with the cut's activation unchanged; net_forward leaves the branch's logits in
 * Net.exit_out[K]. Checkpoints record the exits in their metadata (exits = "cut,cut",
 * exit_convs, exit_channels) and every command that opens one rebuilds them.
 *
 * Policy: at each exit in network order, an image leaves if the branch's max softmax
 * probability >= tau (EXIT_MAXPROB) or the entropy of its softmax (nats) <= tau
 * (EXIT_ENTROPY); an image no exit takes goes on to the final classifier. */
#ifndef SEI_EXITS_H
#define SEI_EXITS_H
#include "engine/safetensors.h"
#include "nets/net.h"
#include "nets/train.h"

typedef struct {
    int n;                                 /* exits, in the order of their indices */
    char at[NET_MAX_EXITS][SEI_NAME_LEN];  /* exit K sits after cut at[K] */
    int convs;                             /* conv-BN-ReLU blocks per branch (0: pool + linear) */
    int channels;                          /* their width; 0: the cut's channel count */
} ExitCfg;

/* append the cuts of a comma-separated list to cfg (duplicates and overflow are errors) */
sei_status exits_parse(ExitCfg *cfg, const char *list);
/* insert exits cfg->at[first ..] into a network whose input is size x size, as exits.K for
 * K = first..; their parameters are initialised from seed, the others keep their values */
sei_status exits_insert(Net *net, const ExitCfg *cfg, int first, int size, uint64_t seed);
/* the exits in a weights file's metadata: 0 none, 1 cfg filled, -1 malformed (error set) */
int exits_from_meta(const StFile *f, ExitCfg *cfg);
/* metadata pairs describing cfg (3: exits, exit_convs, exit_channels); buf holds the values */
int exits_meta(const ExitCfg *cfg, const char **keys, const char **vals,
               char buf[NET_MAX_EXITS * SEI_NAME_LEN + 40]);
/* mask[i] = 1 for every parameter outside the exits with index >= first */
void exits_mask_before(const Net *net, int first, unsigned char *mask);
/* the L_EXIT layers in network order: idx[j] = layer index; returns their count */
int exits_layers(const Net *net, int *idx);

typedef enum { EXIT_MAXPROB, EXIT_ENTROPY } ExitPolicy;
/* the confidence score of logits [K] under a policy: max softmax, or entropy in nats */
double exit_score(const float *logits, int K, ExitPolicy p);
/* whether an image with that score leaves at threshold tau */
static inline int exit_takes(double score, double tau, ExitPolicy p) {
    return p == EXIT_MAXPROB ? score >= tau : score <= tau;
}

/* What every exit and the final classifier say about each image of a data set. */
typedef struct {
    int n, nexits;             /* images; exits in network order */
    int32_t *label, *final;    /* [n]: true class, the final classifier's top-1 */
    int32_t *pred;             /* [nexits * n]: exit j's top-1 of image i at j*n + i */
    float *maxprob, *entropy;  /* [nexits * n]: its max softmax and entropy (nats) */
} ExitRecord;

/* run net (eval mode) over d (batches from bc, as evaluate) and record every classifier */
sei_status exits_record(Net *net, const Dataset *d, const BatchConfig *bc, ExitRecord *r);
void exits_record_free(ExitRecord *r);

/* The system at one threshold: the share of images leaving at each exit, the accuracy of
 * those that leave and of all images, and the means per image of the device's
 * multiply-adds and the bytes sent to the server (0 for an image that leaves early). */
typedef struct {
    double tau;
    double share[NET_MAX_EXITS], share_all;
    double exited_accuracy;    /* NaN when no image leaves */
    double accuracy;
    double device_macs, bytes;
} ExitPoint;

/* exit_macs[j]: the device's multiply-adds for an image leaving at exit j (network order);
 * stay_macs / stay_bytes: for an image that crosses the link */
void exits_at(const ExitRecord *r, ExitPolicy p, double tau, const double *exit_macs,
              double stay_macs, double stay_bytes, ExitPoint *pt);

#endif
