/* half.c - binary16 conversions (see half.h). Bit manipulation only, so the results are the
 * same on every target (no reliance on _Float16 or F16C). */
#include <string.h>
#include "engine/half.h"

float sei_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, ex = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    float v;
    if (ex == 0) { /* zero or subnormal: mant * 2^-24 */
        v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (ex == 31) bits = sign | 0x7F800000u | (mant << 13); /* inf, or nan keeping its payload */
    else bits = sign | ((ex + 112) << 23) | (mant << 13);
    memcpy(&v, &bits, 4);
    return v;
}

uint16_t sei_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u) /* inf or nan */
        return sign | 0x7C00 | (ax > 0x7F800000u ? 0x200 | ((ax >> 13) & 0x3FF) : 0);
    if (ax >= 0x477FF000u) return sign | 0x7C00; /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) { /* below the smallest normal half (2^-14): subnormal or zero */
        if (ax < 0x33000000u) return sign; /* < 2^-25: rounds to zero */
        const uint32_t e = ax >> 23, m = (ax & 0x7FFFFFu) | 0x800000u;
        const int shift = 126 - (int)e;   /* value = m * 2^(e-150); half unit 2^-24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    /* normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even */
    uint32_t h = ((ax >> 13) - (112u << 10));
    const uint32_t rem = ax & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* may carry into the exponent: fine */
    return sign | (uint16_t)h;
}
