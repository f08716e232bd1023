/* half.h - IEEE 754 binary16 <-> float conversion (safetensors F16, the fp16 wire format). */
#ifndef SEI_HALF_H
#define SEI_HALF_H
#include <stdint.h>

/* exact: every half is a float */
float sei_half_to_float(uint16_t h);
/* round to nearest, ties to even; overflow gives inf, NaN stays NaN (quiet) */
uint16_t sei_float_to_half(float f);

#endif
