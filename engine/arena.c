/* arena.c - see arena.h. */
#include <string.h>
#include "engine/arena.h"
#include "engine/error.h"

#define HDR ((sizeof(ArenaBlock) + 63) & ~(size_t)63)

void arena_init(Arena *a, size_t block_size) {
    memset(a, 0, sizeof *a);
    a->block_size = block_size ? block_size : ((size_t)64 << 20);
}

static char *block_data(ArenaBlock *b) { return (char *)b + HDR; }

void *arena_alloc(Arena *a, size_t bytes) {
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n == 0) n = 64;
    /* try the current block, then the following (already allocated, reset) ones */
    while (a->head) {
        if (a->head->size - a->head->used >= n) {
            void *p = block_data(a->head) + a->head->used;
            a->head->used += n;
            a->total_used += n;
            if (a->total_used > a->peak) a->peak = a->total_used;
            return p;
        }
        if (!a->head->next) break;
        a->head = a->head->next;
    }
    size_t sz = n > a->block_size ? n : a->block_size;
    ArenaBlock *b = sei_alloc(HDR + sz);
    if (!b) return NULL;
    b->next = NULL;
    b->size = sz;
    b->used = n;
    if (a->head) a->head->next = b; else a->first = b;
    a->head = b;
    a->total_used += n;
    if (a->total_used > a->peak) a->peak = a->total_used;
    return block_data(b);
}

float *arena_floats(Arena *a, size_t n) { return arena_alloc(a, n * sizeof(float)); }

float *arena_zeros(Arena *a, size_t n) {
    float *p = arena_floats(a, n);
    if (p) memset(p, 0, n * sizeof(float));
    return p;
}

void arena_reset(Arena *a) {
    for (ArenaBlock *b = a->first; b; b = b->next) b->used = 0;
    a->head = a->first;
    a->total_used = 0;
}

void arena_free(Arena *a) {
    ArenaBlock *b = a->first;
    while (b) {
        ArenaBlock *nx = b->next;
        sei_free(b);
        b = nx;
    }
    a->first = a->head = NULL;
    a->total_used = 0;
}
