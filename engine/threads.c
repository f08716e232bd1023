/* threads.c - see threads.h.
 *
 * Thread placement: with T <= available CPUs, each OpenMP worker is pinned to its own CPU
 * (the t-th of the process's allowed set), as OMP_PROC_BIND=true would do. Unpinned, the
 * scheduler sometimes left two workers sharing one CPU for seconds: the same ResNet-50 run
 * took 12 or 18 images/s from one process to the next; pinned it takes 18 every time.
 * Skipped when the user set OMP_PROC_BIND / GOMP_CPU_AFFINITY or SEI_NO_PIN=1. */
#include <sched.h>
#include <stdlib.h>
#include "engine/threads.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(_OPENMP) && defined(__linux__)
static void pin_workers(int n) {
    if (getenv("SEI_NO_PIN") || getenv("OMP_PROC_BIND") || getenv("GOMP_CPU_AFFINITY")) return;
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    int cpus[CPU_SETSIZE], ncpu = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &allowed)) cpus[ncpu++] = c;
    if (n > ncpu || n < 2) return;
#pragma omp parallel num_threads(n)
    {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpus[omp_get_thread_num()], &one);
        sched_setaffinity(0, sizeof one, &one); /* 0: the calling thread */
    }
}
#endif

void sei_set_threads(int n) {
#ifdef _OPENMP
    n = n > 0 ? n : omp_get_num_procs();
    omp_set_num_threads(n);
#ifdef __linux__
    pin_workers(n);
#endif
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
