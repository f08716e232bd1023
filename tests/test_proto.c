/* test_proto.c - the device/server protocol (split/proto.c): hello, welcome and frame
 * headers round-trip; every malformed header a peer could send is refused with a reason
 * (magic, type, dtype, ndim, dims beyond ndim, a payload that disagrees with the shape or
 * is too large, reply and bye lengths); the split id hash separates different inputs. */
#include <string.h>
#include "split/proto.h"
#include "tests/harness.h"

static void test_hello_welcome(void) {
    ProtoHello h = {PROTO_VERSION, 0, 0x0123456789abcdefull, "features.23"}, g;
    uint8_t b[PROTO_HELLO_LEN];
    proto_put_hello(b, &h);
    EXPECT(!memcmp(b, "SEIH", 4) && proto_get_hello(b, &g) == 0, "hello");
    EXPECT(g.version == PROTO_VERSION && g.split_id == h.split_id && !strcmp(g.cut, "features.23"), "hello fields");
    b[0] = 'X';
    EXPECT(proto_get_hello(b, &g) == -1, "bad hello magic accepted");
    /* a cut name filling all 40 bytes still comes back terminated */
    memset(h.cut, 'a', sizeof h.cut);
    proto_put_hello(b, &h);
    EXPECT(proto_get_hello(b, &g) == 0 && strlen(g.cut) == PROTO_CUT_LEN - 1, "unterminated cut");
    uint8_t w[PROTO_WELCOME_LEN];
    uint16_t v, st;
    uint64_t id;
    proto_put_welcome(w, PROTO_BAD_SPLIT, 42);
    EXPECT(proto_get_welcome(w, &v, &st, &id) == 0 && v == PROTO_VERSION && st == PROTO_BAD_SPLIT && id == 42, "welcome");
}

static ProtoHeader tensor(void) {
    ProtoHeader h = {PROTO_TENSOR, PROTO_I8, 4, 77, 1 * 8 * 4 * 4, 0.5f, {1, 8, 4, 4}};
    return h;
}

static void test_headers(void) {
    uint8_t b[PROTO_HEADER_LEN];
    ProtoHeader h = tensor(), g;
    const char *why = NULL;
    proto_put_header(b, &h);
    EXPECT(proto_get_header(b, &g, &why) == 0 && g.id == 77 && g.scale == 0.5f && g.dims[1] == 8 &&
               g.payload_len == 128, "tensor header: %s", why ? why : "");
    ProtoHeader x;
    x = tensor(), x.type = 9, proto_put_header(b, &x);
    EXPECT(proto_get_header(b, &g, &why) == -1 && strstr(why, "type"), "type 9: %s", why);
    x = tensor(), x.dtype = 7, proto_put_header(b, &x);
    EXPECT(proto_get_header(b, &g, &why) == -1 && strstr(why, "dtype"), "dtype 7");
    x = tensor(), x.ndim = 5, proto_put_header(b, &x);
    EXPECT(proto_get_header(b, &g, &why) == -1 && strstr(why, "ndim"), "ndim 5");
    x = tensor(), x.ndim = 2, proto_put_header(b, &x);
    EXPECT(proto_get_header(b, &g, &why) == -1, "dims beyond ndim accepted");
    x = tensor(), x.payload_len = 129, proto_put_header(b, &x);
    EXPECT(proto_get_header(b, &g, &why) == -1 && strstr(why, "disagrees"), "payload vs shape");
    x = tensor(), x.dims[0] = 0, proto_put_header(b, &x);
    EXPECT(proto_get_header(b, &g, &why) == -1, "an empty tensor accepted");
    x = tensor(), x.dtype = PROTO_F32, x.dims[1] = 65535, x.dims[2] = 65535, x.dims[3] = 65535;
    x.payload_len = PROTO_MAX_PAYLOAD + 1, proto_put_header(b, &x);
    EXPECT(proto_get_header(b, &g, &why) == -1 && strstr(why, "too large"), "oversized");
    x = (ProtoHeader){PROTO_REPLY, PROTO_F32, 0, 1, 13, 0, {0, 0, 0, 0}}, proto_put_header(b, &x);
    EXPECT(proto_get_header(b, &g, &why) == -1, "reply of 13 bytes accepted");
    x = (ProtoHeader){PROTO_BYE, PROTO_F32, 0, 1, 4, 0, {0, 0, 0, 0}}, proto_put_header(b, &x);
    EXPECT(proto_get_header(b, &g, &why) == -1, "bye with a payload accepted");
    proto_put_header(b, &h);
    b[7] = 1;
    EXPECT(proto_get_header(b, &g, &why) == -1, "reserved byte set accepted");
    proto_put_header(b, &h);
    b[1] = 'X';
    EXPECT(proto_get_header(b, &g, &why) == -1 && strstr(why, "magic"), "magic");
}

static void test_fnv(void) {
    const uint64_t a = proto_fnv(PROTO_FNV_INIT, "features.23", 11), b = proto_fnv(PROTO_FNV_INIT, "features.13", 11);
    EXPECT(a != b && a == proto_fnv(PROTO_FNV_INIT, "features.23", 11), "fnv");
    EXPECT(proto_fnv(PROTO_FNV_INIT, "", 0) == PROTO_FNV_INIT && proto_fnv(PROTO_FNV_INIT, "a", 1) == 0xaf63dc4c8601ec8cull,
           "FNV-1a 64 of 'a'");
}

int main(void) {
    RUN(test_hello_welcome);
    RUN(test_headers);
    RUN(test_fnv);
    return test_summary();
}
