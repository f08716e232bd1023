/* dispatch.h - run-time choice between the fast kernels and the naive references.
 *
 * sei_kernels_ref (declared in kernels/ops.h) routes every op with a *_ref twin to the
 * reference when non-zero. sei_kernels_init() reads it from the environment (SEI_REF=1);
 * a tool calls it once at start-up, before any kernel runs, and may then override the
 * variable from a flag (--ref). */
#ifndef SEI_DISPATCH_H
#define SEI_DISPATCH_H

void sei_kernels_init(void);

#endif
