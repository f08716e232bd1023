/* check.c - runs an exported device part (sei export --samples N) on its sample images and
 * compares with what sei computed: int8 bit for bit (return value, payload, scale), fp32
 * within 1e-5 of the payload's largest value. Prints one line per sample and a final
 * "check: N ok, M failed, payload crc XXXXXXXX" line; the crc (CRC-32 of every payload
 * written) lets a host run and an emulated-target run be compared. Portable C99 with no
 * library calls: the platform supplies check_puts and check_ticks (a clock, 0 where there is
 * none: tests/mcu/host.c, tests/mcu/cortexm.c); sample lines give each run's ticks.
 * The part is exported as `sei export --name head --samples N`; compile with -I its folder. */
#include <stdint.h>
#include "head.h"
#include "head_samples.h"

void check_puts(const char *s);
uint32_t check_ticks(void);
int check_main(void);

static char *put_u(char *p, uint32_t v, int base, int width) {
    char t[12];
    int n = 0;
    do t[n++] = "0123456789abcdef"[v % (uint32_t)base], v /= (uint32_t)base; while (v || n < width);
    while (n) *p++ = t[--n];
    return p;
}

static char *put_s(char *p, const char *s) {
    while (*s) *p++ = *s++;
    return p;
}

static uint32_t crc32(uint32_t c, const uint8_t *b, uint32_t n) {
    c = ~c;
    for (uint32_t i = 0; i < n; i++) {
        c ^= b[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static float decode(const uint8_t *p, uint32_t i, float scale) {
    union { uint8_t b[4]; float f; uint16_t h; } v;
    if (HEAD_PAYLOAD_BYTES == 4 * HEAD_PAYLOAD_C * HEAD_PAYLOAD_H * HEAD_PAYLOAD_W) {
        for (int k = 0; k < 4; k++) v.b[k] = p[4 * i + k];
        return v.f;
    }
    if (HEAD_PAYLOAD_BYTES == 2 * HEAD_PAYLOAD_C * HEAD_PAYLOAD_H * HEAD_PAYLOAD_W) {
        v.b[0] = p[2 * i], v.b[1] = p[2 * i + 1];
        const uint32_t e = (v.h >> 10) & 31u, m = v.h & 1023u;
        float f = e ? (float)(m | 1024u) : (float)m;
        for (uint32_t k = 0; k < (e ? e : 1); k++) f *= 2.0f;
        f *= 1.0f / 33554432.0f; /* 2^-25: value = (1024 + m) 2^(e - 25), subnormals m 2^-24 */
        return (v.h & 0x8000u) ? -f : f;
    }
    return (float)(int8_t)p[i] * scale;
}

static uint8_t payload[HEAD_PAYLOAD_BYTES];

int check_main(void) {
    char line[160];
    uint32_t crc = 0;
    int ok = 0, bad = 0;
    for (int s = 0; s < HEAD_SAMPLES; s++) {
        float scale = 0.0f;
        for (uint32_t i = 0; i < sizeof payload; i++) payload[i] = 0;
        const uint32_t t0 = check_ticks();
        const int r = head_run(head_sample_input[s], payload, &scale);
        const uint32_t ticks = check_ticks() - t0;
        int good = r == head_sample_ret[s];
        uint32_t err_ppb = 0; /* fp32: max |difference| / max |expected|, in 1e-9 */
        if (good && r < 0) {
            crc = crc32(crc, payload, sizeof payload);
            if (HEAD_SAMPLES_EXACT) {
                union { float f; uint32_t u; } a, b;
                a.f = scale, b.f = head_sample_scale[s];
                good = a.u == b.u;
                for (uint32_t i = 0; good && i < sizeof payload; i++) good = payload[i] == head_sample_payload[s][i];
            } else {
                const uint32_t m = HEAD_PAYLOAD_C * HEAD_PAYLOAD_H * HEAD_PAYLOAD_W;
                float dmax = 0.0f, emax = 0.0f;
                for (uint32_t i = 0; i < m; i++) {
                    const float e = decode(head_sample_payload[s], i, head_sample_scale[s]);
                    const float d = decode(payload, i, scale) - e;
                    if ((d < 0 ? -d : d) > dmax) dmax = d < 0 ? -d : d;
                    if ((e < 0 ? -e : e) > emax) emax = e < 0 ? -e : e;
                }
                const float rel = emax > 0.0f ? dmax / emax : dmax;
                err_ppb = rel < 4.0f ? (uint32_t)(rel * 1e9f) : 4000000000u;
                good = rel <= 1e-5f;
            }
        }
        char *p = put_s(line, "sample ");
        p = put_u(p, (uint32_t)s, 10, 1);
        p = put_s(p, ": label ");
        p = put_u(p, (uint32_t)head_sample_label[s], 10, 1);
        p = put_s(p, r >= 0 ? ", exit class " : ", payload");
        if (r >= 0) p = put_u(p, (uint32_t)r, 10, 1);
        if (!HEAD_SAMPLES_EXACT && r < 0) {
            p = put_s(p, ", err ");
            p = put_u(p, err_ppb, 10, 1);
            p = put_s(p, " ppb");
        }
        if (ticks) {
            p = put_s(p, ", ");
            p = put_u(p, ticks, 10, 1);
            p = put_s(p, " ticks");
        }
        p = put_s(p, good ? " ok\n" : " MISMATCH\n");
        *p = 0;
        check_puts(line);
        ok += good, bad += !good;
    }
    char *p = put_s(line, "check: ");
    p = put_u(p, (uint32_t)ok, 10, 1);
    p = put_s(p, " ok, ");
    p = put_u(p, (uint32_t)bad, 10, 1);
    p = put_s(p, " failed, payload crc ");
    p = put_u(p, crc, 16, 8);
    p = put_s(p, "\n");
    *p = 0;
    check_puts(line);
    return bad != 0;
}
