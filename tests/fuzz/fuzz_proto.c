/* fuzz_proto.c - the device / server protocol decoders (split/proto.c): a hello, a welcome
 * and frame headers from the same bytes. */
#include "split/proto.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(d, n) {
    uint8_t b[PROTO_HELLO_LEN] = {0};
    memcpy(b, d, n < sizeof b ? n : sizeof b);
    ProtoHello h;
    proto_get_hello(b, &h);
    uint16_t v, s;
    uint64_t id;
    proto_get_welcome(b, &v, &s, &id);
    for (size_t off = 0; off + PROTO_HEADER_LEN <= n; off += PROTO_HEADER_LEN) {
        ProtoHeader hd;
        const char *why;
        if (!proto_get_header(d + off, &hd, &why)) (void)proto_dtype_size(hd.dtype);
    }
    return 0;
}
