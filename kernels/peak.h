/* peak.h - measured single-precision FMA peak of this machine (kernels/peak.c), the
 * denominator of every "% of peak" that bench/ and the CLI print. */
#ifndef SEI_PEAK_H
#define SEI_PEAK_H

/* GFLOP/s (an FMA counts 2) of a register-only FMA loop on `threads` threads (OpenMP; without
 * OpenMP it always measures one thread), using the widest vectors the build targets (the
 * same ISA sei_gemm_isa() reports). Best of 3 runs of ~0.1 s each. */
double sei_measure_peak_gflops(int threads);

#endif
