/* proto.c - encoding and checking the device/server protocol's messages (see proto.h). */
#include <string.h>
#include "split/proto.h"

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

uint64_t proto_fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

void proto_put_hello(uint8_t out[PROTO_HELLO_LEN], const ProtoHello *h) {
    memset(out, 0, PROTO_HELLO_LEN);
    memcpy(out, "SEIH", 4);
    put16(out + 4, h->version), put16(out + 6, h->flags), put64(out + 8, h->split_id);
    memcpy(out + 16, h->cut, strnlen(h->cut, PROTO_CUT_LEN));
}

int proto_get_hello(const uint8_t in[PROTO_HELLO_LEN], ProtoHello *h) {
    if (memcmp(in, "SEIH", 4)) return -1;
    h->version = get16(in + 4), h->flags = get16(in + 6), h->split_id = get64(in + 8);
    memcpy(h->cut, in + 16, PROTO_CUT_LEN);
    h->cut[PROTO_CUT_LEN - 1] = 0;
    return 0;
}

void proto_put_welcome(uint8_t out[PROTO_WELCOME_LEN], uint16_t status, uint64_t split_id) {
    memcpy(out, "SEIW", 4);
    put16(out + 4, PROTO_VERSION), put16(out + 6, status), put64(out + 8, split_id);
}

int proto_get_welcome(const uint8_t in[PROTO_WELCOME_LEN], uint16_t *version, uint16_t *status, uint64_t *split_id) {
    if (memcmp(in, "SEIW", 4)) return -1;
    *version = get16(in + 4), *status = get16(in + 6), *split_id = get64(in + 8);
    return 0;
}

size_t proto_dtype_size(int dtype) { return dtype == PROTO_F32 ? 4 : dtype == PROTO_F16 ? 2 : dtype == PROTO_I8 ? 1 : 0; }

void proto_put_header(uint8_t out[PROTO_HEADER_LEN], const ProtoHeader *h) {
    memset(out, 0, PROTO_HEADER_LEN);
    memcpy(out, "SEIF", 4);
    out[4] = h->type, out[5] = h->dtype, out[6] = h->ndim;
    put64(out + 8, h->id), put32(out + 16, h->payload_len);
    uint32_t s;
    memcpy(&s, &h->scale, 4);
    put32(out + 20, s);
    for (int i = 0; i < 4; i++) put16(out + 24 + 2 * i, h->dims[i]);
}

int proto_get_header(const uint8_t in[PROTO_HEADER_LEN], ProtoHeader *h, const char **why) {
    if (memcmp(in, "SEIF", 4)) { *why = "bad frame magic"; return -1; }
    h->type = in[4], h->dtype = in[5], h->ndim = in[6];
    h->id = get64(in + 8), h->payload_len = get32(in + 16);
    const uint32_t s = get32(in + 20);
    memcpy(&h->scale, &s, 4);
    for (int i = 0; i < 4; i++) h->dims[i] = get16(in + 24 + 2 * i);
    if (h->type < PROTO_TENSOR || h->type > PROTO_BYE) { *why = "unknown frame type"; return -1; }
    if (!proto_dtype_size(h->dtype)) { *why = "unknown dtype"; return -1; }
    if (h->ndim > 4 || in[7]) { *why = "bad ndim"; return -1; }
    if (h->payload_len > PROTO_MAX_PAYLOAD) { *why = "payload too large"; return -1; }
    if (h->type == PROTO_TENSOR) {
        uint64_t n = h->ndim ? 1 : 0;
        for (int i = 0; i < h->ndim; i++) n *= h->dims[i];
        for (int i = h->ndim; i < 4; i++)
            if (h->dims[i]) { *why = "dims beyond ndim"; return -1; }
        if (!n || n * proto_dtype_size(h->dtype) != h->payload_len) { *why = "payload length disagrees with the shape"; return -1; }
    } else if (h->type == PROTO_REPLY && h->payload_len != 12) {
        *why = "bad reply length";
        return -1;
    } else if (h->type == PROTO_BYE && h->payload_len) {
        *why = "bye with a payload";
        return -1;
    }
    return 0;
}
