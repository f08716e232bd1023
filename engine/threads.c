/* threads.c - see threads.h. */
#include "engine/threads.h"
#ifdef _OPENMP
#include <omp.h>
#endif

void sei_set_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
#else
    (void)n;
#endif
}

int sei_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
