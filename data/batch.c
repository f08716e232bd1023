/* batch.c - the batcher: seeded per-epoch shuffling, crop / flip augmentation, uint8 ->
 * normalised float, with a worker thread preparing batch k+1 while the caller computes on
 * batch k (see data/data.h).
 *
 * Every random choice for an image (crop offset, flip) comes from a hash of (seed, epoch,
 * position in the epoch), so a batch is the same whichever thread prepares it and an epoch
 * is the same after a resume. */
#include <stdlib.h>
#include <string.h>
#include "data/data.h"
#include "engine/rng.h"

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void prepare_image(const Batcher *b, const uint8_t *src, float *dst, uint64_t h) {
    const Dataset *d = b->d;
    const int S = b->c.size, H = d->h, W = d->w;
    int oy, ox, flip = 0;
    if (b->c.random_crop) {
        int ry = H + 2 * b->c.pad - S, rx = W + 2 * b->c.pad - S;
        oy = (ry > 0 ? (int)(mix(h) % (uint64_t)(ry + 1)) : ry / 2) - b->c.pad;
        ox = (rx > 0 ? (int)(mix(h ^ 1) % (uint64_t)(rx + 1)) : rx / 2) - b->c.pad;
    } else {
        oy = (H - S) / 2, ox = (W - S) / 2;
    }
    if (b->c.flip) flip = (int)(mix(h ^ 2) & 1);
    for (int k = 0; k < d->c; k++) {
        const uint8_t *p = src + (size_t)k * H * W;
        float *q = dst + (size_t)k * S * S;
        const float sc = 1.0f / (255.0f * b->c.std[k]), off = b->c.mean[k] / b->c.std[k];
        for (int y = 0; y < S; y++) {
            int sy = y + oy;
            for (int x = 0; x < S; x++) {
                int sx = (flip ? S - 1 - x : x) + ox;
                float v = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? p[sy * W + sx] : 0.0f;
                /* padding is zero in pixel space, as torchvision's RandomCrop(padding) */
                q[y * S + x] = v * sc - off;
            }
        }
    }
}

int batcher_fill(const Batcher *b, int k, float *x, int32_t *y) {
    const Dataset *d = b->d;
    int lo = k * b->c.batch, hi = lo + b->c.batch;
    if (hi > d->n) hi = d->n;
    size_t per = (size_t)d->c * d->h * d->w, out = (size_t)d->c * b->c.size * b->c.size;
    for (int i = lo; i < hi; i++) {
        int idx = b->order[i];
        uint64_t h = mix(b->c.seed ^ mix((uint64_t)b->epoch * 0x100000001ull + (uint64_t)i));
        prepare_image(b, d->pix + (size_t)idx * per, x + (size_t)(i - lo) * out, h);
        y[i - lo] = d->labels[idx];
    }
    return hi - lo;
}

static void *worker(void *arg) {
    Batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->stop && b->want < 0) pthread_cond_wait(&b->cv, &b->mu);
        if (b->stop) break;
        int k = b->want, slot = k & 1;
        pthread_mutex_unlock(&b->mu);
        int n = batcher_fill(b, k, b->x[slot], b->y[slot]);
        pthread_mutex_lock(&b->mu);
        b->count[slot] = n;
        b->want = -1;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

sei_status batcher_init(Batcher *b, const Dataset *d, const BatchConfig *c) {
    memset(b, 0, sizeof *b);
    if (c->batch < 1 || c->size < 1 || (c->size > d->h + 2 * c->pad && c->random_crop) ||
        (!c->random_crop && (c->size > d->h || c->size > d->w)))
        return sei_fail(SEI_ERR_ARG, "batcher: cannot take %dx%d crops from %dx%d images", c->size, c->size, d->h, d->w);
    b->d = d;
    b->c = *c;
    size_t out = (size_t)c->batch * d->c * c->size * c->size;
    b->order = malloc((size_t)(d->n ? d->n : 1) * sizeof *b->order);
    for (int i = 0; i < 2; i++) {
        b->x[i] = sei_alloc(out * sizeof(float));
        b->y[i] = malloc((size_t)c->batch * sizeof(int32_t));
        b->count[i] = -1;
    }
    if (!b->order || !b->x[0] || !b->x[1] || !b->y[0] || !b->y[1]) {
        batcher_free(b);
        return sei_fail(SEI_ERR_NOMEM, "batcher: out of memory for batches of %d", c->batch);
    }
    for (int i = 0; i < d->n; i++) b->order[i] = i;
    b->want = -1;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (pthread_create(&b->th, NULL, worker, b) != 0) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
        batcher_free(b);
        return sei_fail(SEI_ERR_NOMEM, "batcher: cannot start the data thread");
    }
    b->started = 1;
    return SEI_OK;
}

void batcher_free(Batcher *b) {
    if (b->started) {
        pthread_mutex_lock(&b->mu);
        b->stop = 1;
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->th, NULL);
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
    }
    for (int i = 0; i < 2; i++) sei_free(b->x[i]), free(b->y[i]);
    free(b->order);
    memset(b, 0, sizeof *b);
}

/* hand batch k to the worker (caller holds no lock) */
static void request(Batcher *b, int k) {
    pthread_mutex_lock(&b->mu);
    b->count[k & 1] = -1;
    b->want = k;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void wait_idle(Batcher *b) {
    pthread_mutex_lock(&b->mu);
    while (b->want >= 0) pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

int batcher_epoch(Batcher *b, int epoch) {
    wait_idle(b);
    const int n = b->d->n;
    b->epoch = epoch;
    for (int i = 0; i < n; i++) b->order[i] = i;
    if (b->c.shuffle) {
        Rng r;
        rng_seed(&r, mix(b->c.seed ^ 0x73687566ull) + (uint64_t)epoch);
        for (int i = n - 1; i > 0; i--) {
            int j = (int)rng_below(&r, (uint32_t)i + 1), t = b->order[i];
            b->order[i] = b->order[j], b->order[j] = t;
        }
    }
    b->nbatches = b->c.drop_last ? n / b->c.batch : (n + b->c.batch - 1) / b->c.batch;
    if (b->c.drop_last && b->nbatches == 0 && n >= 2) b->nbatches = 1; /* tiny sets: one short batch */
    b->next = 0;
    if (b->nbatches > 0) request(b, 0);
    return b->nbatches;
}

int batcher_next(Batcher *b, const float **x, const int32_t **y) {
    if (b->next >= b->nbatches) return 0;
    int k = b->next++, slot = k & 1;
    wait_idle(b);
    int n = b->count[slot];
    /* the worker starts on k+1 (the other buffer) while the caller uses this one */
    if (b->next < b->nbatches) request(b, b->next);
    *x = b->x[slot];
    *y = b->y[slot];
    return n;
}
