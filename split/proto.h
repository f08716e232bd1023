/* proto.h - the device/server wire protocol of `sei device` and `sei serve` (version 1).
 * Every integer is little-endian; a connection is one TCP stream.
 *
 * Handshake, device -> server (HELLO, 56 bytes):
 *   u32 magic "SEIH"  u16 version (1)  u16 flags (0)
 *   u64 split_id       hash of the whole network the two parts were cut from (`sei split`
 *                      stores it in both parts), so mismatched halves are refused
 *   char cut[40]       the cut point's name, NUL-padded
 * Server -> device (WELCOME, 16 bytes):
 *   u32 magic "SEIW"  u16 version  u16 status (PROTO_OK, PROTO_BAD_VERSION, PROTO_BAD_SPLIT)
 *   u64 split_id of the server's part
 * A non-OK status is followed by the server closing the connection.
 *
 * Then frames, each a 32-byte header and a payload:
 *    0  u32 magic "SEIF"     4  u8 type   5  u8 dtype   6  u8 ndim (0..4)   7  u8 0
 *    8  u64 frame id (the device's counter; a reply carries it back)
 *   16  u32 payload length  20  f32 scale (int8: the frame's scale, else 0)
 *   24  u16 dims[4] (the tensor's shape, unused dims 0)
 * Types:
 *   PROTO_TENSOR  device -> server: the activation at the cut, dtype PROTO_F32 / F16 / I8
 *                 (the wire formats of kernels/wire.c), payload = prod(dims) * size(dtype)
 *   PROTO_REPLY   server -> device: payload = u32 class, f32 probability of it, u32 server
 *                 microseconds (queue + compute); dtype PROTO_F32, ndim 0
 *   PROTO_BYE     either way, no payload: the sender closes after it
 * A receiver drops the connection on a bad magic, type, dtype or ndim, a payload length
 * that disagrees with the shape, or one above PROTO_MAX_PAYLOAD. */
#ifndef SEI_PROTO_H
#define SEI_PROTO_H
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1
#define PROTO_HELLO_LEN 56
#define PROTO_WELCOME_LEN 16
#define PROTO_HEADER_LEN 32
#define PROTO_MAX_PAYLOAD (64u << 20)
#define PROTO_CUT_LEN 40

enum { PROTO_OK = 0, PROTO_BAD_VERSION = 1, PROTO_BAD_SPLIT = 2 };
enum { PROTO_TENSOR = 1, PROTO_REPLY = 2, PROTO_BYE = 3 };
enum { PROTO_F32 = 0, PROTO_F16 = 1, PROTO_I8 = 2 };

typedef struct {
    uint16_t version, flags;
    uint64_t split_id;
    char cut[PROTO_CUT_LEN];
} ProtoHello;

typedef struct {
    uint8_t type, dtype, ndim;
    uint64_t id;
    uint32_t payload_len;
    float scale;
    uint16_t dims[4];
} ProtoHeader;

void proto_put_hello(uint8_t out[PROTO_HELLO_LEN], const ProtoHello *h);
/* 0, or -1 for a bad magic (h unchanged) */
int proto_get_hello(const uint8_t in[PROTO_HELLO_LEN], ProtoHello *h);
void proto_put_welcome(uint8_t out[PROTO_WELCOME_LEN], uint16_t status, uint64_t split_id);
int proto_get_welcome(const uint8_t in[PROTO_WELCOME_LEN], uint16_t *version, uint16_t *status, uint64_t *split_id);

void proto_put_header(uint8_t out[PROTO_HEADER_LEN], const ProtoHeader *h);
/* 0, or -1 with a reason for a header no peer may send */
int proto_get_header(const uint8_t in[PROTO_HEADER_LEN], ProtoHeader *h, const char **why);
/* bytes of one element of dtype */
size_t proto_dtype_size(int dtype);

/* FNV-1a 64 over bytes, continuing from h (start with PROTO_FNV_INIT) */
#define PROTO_FNV_INIT 0xcbf29ce484222325ull
uint64_t proto_fnv(uint64_t h, const void *p, size_t n);

#endif
