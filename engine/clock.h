/* clock.h - the one timer every benchmark and profiler uses: monotonic seconds, and the
 * median of a set of timings (benchmarks report medians, not means). */
#ifndef SEI_CLOCK_H
#define SEI_CLOCK_H
double sei_now(void);                 /* CLOCK_MONOTONIC, seconds */
double sei_median(double *v, int n);  /* sorts v in place; n >= 1 */
#endif
