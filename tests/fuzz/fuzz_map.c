/* fuzz_map.c - the partition file of sei mpi-run --map (split/part.c part_map_read); the
 * first byte picks the number of ranks (1..8). */
#include "split/part.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_net.h"

FUZZ_TARGET(d, n) {
    if (n < 1) return 0;
    int from[8], to[8], threads[8];
    const int parts = 1 + d[0] % 8;
    if (part_map_read(fuzz_net(), fuzz_file(".map", d + 1, n - 1), parts, from, to, threads) == SEI_OK)
        for (int r = 0; r < parts; r++)  /* a file that reads must describe a partition */
            if (from[r] >= to[r] || (r && from[r] != to[r - 1]) || threads[r] < 0) abort();
    return 0;
}
