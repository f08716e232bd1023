/* threads.h - the thread count used by every OpenMP region (1 when built with OMP=0). */
#ifndef SEI_THREADS_H
#define SEI_THREADS_H
void sei_set_threads(int n);   /* n <= 0: all cores */
int sei_threads(void);
#endif
