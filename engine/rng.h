/* rng.h - small deterministic RNG (splitmix64 seeding + xoshiro256**), uniform and normal.
 * Same seed, same stream on every machine: used for init, dropout masks, shuffling. */
#ifndef SEI_RNG_H
#define SEI_RNG_H
#include <stdint.h>

typedef struct Rng { uint64_t s[4]; float spare; int has_spare; } Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
float rng_uniform(Rng *r);               /* [0, 1) with 24 random bits */
float rng_normal(Rng *r);                /* standard normal (Box-Muller) */
uint32_t rng_below(Rng *r, uint32_t n);  /* uniform integer in [0, n) without bias */

#endif
