/* arena.h - bump allocator with 64-byte alignment.
 *
 * An arena is a list of large blocks; arena_alloc carves from the current block and opens a
 * new one when it is full, so callers that plan their memory (size pass, then one block) and
 * callers that do not both work. arena_reset() keeps the blocks for reuse (one per training
 * step, no malloc in steady state); arena_free() returns them. */
#ifndef SEI_ARENA_H
#define SEI_ARENA_H
#include <stddef.h>

typedef struct ArenaBlock {
    struct ArenaBlock *next;
    size_t size, used;
    /* data follows, 64-aligned */
} ArenaBlock;

typedef struct Arena {
    ArenaBlock *head;      /* block currently carved */
    ArenaBlock *first;     /* first block (reset starts again here) */
    size_t block_size;     /* default size of new blocks */
    size_t total_used;     /* bytes handed out since the last reset */
    size_t peak;           /* high-water mark of total_used */
} Arena;

void arena_init(Arena *a, size_t block_size);
void *arena_alloc(Arena *a, size_t bytes);        /* NULL + SEI_ERR_NOMEM on failure */
float *arena_floats(Arena *a, size_t n);          /* arena_alloc(n * sizeof(float)) */
float *arena_zeros(Arena *a, size_t n);           /* zero-filled */
void arena_reset(Arena *a);
void arena_free(Arena *a);

#endif
