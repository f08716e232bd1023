/* hostile.c - hostile peers for tests/test_hostile.sh: CONNS processes, each with one
 * connection at a time to `sei serve`, throw FRAMES bad frames in all at it. Kinds, in turn:
 * garbage instead of a hello, a hello of another split, bad magic / type / dtype / ndim,
 * a length that disagrees with the shape, a 4 GB length, a wrongly shaped tensor, a frame
 * cut short by a close, a half-closed socket, a frame of NaNs and infinities (valid, so it
 * is answered), and now and then a slow sender (one byte per 20 ms). One process also holds
 * 5 idle connections open all along. Prints "hostile: N bad frames over C connections".
 *   hostile HOST:PORT SPLIT_ID_HEX CUT C H W FRAMES CONNS */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "split/proto.h"
#include "split/sock.h"

static const char *addr, *cut;
static uint64_t split_id;
static int C, H, W;

static void nap_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int hello(int fd, uint64_t id) {
    ProtoHello h = {PROTO_VERSION, 0, id, {0}};
    snprintf(h.cut, sizeof h.cut, "%s", cut);
    uint8_t b[PROTO_HELLO_LEN], w[PROTO_WELCOME_LEN];
    proto_put_hello(b, &h);
    return sock_write_all(fd, b, sizeof b, 5) || sock_read_all(fd, w, sizeof w, 5);
}

/* one bad frame of kind k on a fresh connection; -1 if the server did not take the
 * connection (what happens to the bytes after that is the server's business) */
static int attack(int k, unsigned *seed) {
    int fd;
    if (sock_connect(addr, 5, &fd)) return -1;
    uint8_t hd[PROTO_HEADER_LEN], junk[256];
    const uint32_t m = (uint32_t)C * H * W;
    ProtoHeader h = {PROTO_TENSOR, PROTO_F32, 4, (uint64_t)k, m * 4, 0, {1, (uint16_t)C, (uint16_t)H, (uint16_t)W}};
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)rand_r(seed);
    int rc = 0;
    if (k == 0) { /* garbage for a hello */
        rc = sock_write_all(fd, junk, 1 + (size_t)(rand_r(seed) % 200), 5);
    } else if (k == 1) { /* another split's hello */
        rc = hello(fd, split_id ^ 0x5eedull);
    } else if (hello(fd, split_id)) {
        rc = -1;
    } else {
        float *v = NULL;
        switch (k) {
        case 2: memcpy(junk, "SEIX", 4); rc = sock_write_all(fd, junk, PROTO_HEADER_LEN, 5); break;
        case 3: h.type = 99; break;
        case 4: h.dtype = 7; break;
        case 5: h.ndim = 9; break;
        case 6: h.payload_len = m * 4 + 4; break;
        case 7: h.payload_len = 0xffffffffu; break;
        case 8: h.dims[2] = (uint16_t)(H + 1), h.payload_len = (uint32_t)C * (H + 1) * W * 4; break;
        case 9: /* a frame cut short */
            proto_put_header(hd, &h);
            rc = sock_write_all(fd, hd, sizeof hd, 5) || sock_write_all(fd, junk, 100 < m * 4 ? 100 : 1, 5);
            break;
        case 10: shutdown(fd, SHUT_WR); nap_ms(5); break; /* half-closed */
        case 11: /* NaNs and infinities: a valid frame, answered */
            v = malloc(sizeof *v * m);
            for (uint32_t i = 0; v && i < m; i++) v[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -1e38f;
            proto_put_header(hd, &h);
            rc = !v || sock_write_all(fd, hd, sizeof hd, 5) || sock_write_all(fd, v, sizeof *v * m, 5) ||
                 sock_read_all(fd, junk, PROTO_HEADER_LEN + 12, 10);
            free(v);
            break;
        default: /* a slow sender: a header one byte per 20 ms, then gone */
            proto_put_header(hd, &h);
            for (int i = 0; i < 10 && !rc; i++) rc = sock_write_all(fd, hd + i, 1, 5), nap_ms(20);
        }
        if (k >= 3 && k <= 8) {
            proto_put_header(hd, &h);
            rc = sock_write_all(fd, hd, sizeof hd, 5);
        }
    }
    /* wait (briefly) for the server to hang up, then go */
    if (k != 11) sock_read_all(fd, junk, 1, 0.02);
    close(fd);
    (void)rc;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: hostile HOST:PORT SPLIT_ID_HEX CUT C H W FRAMES CONNS\n");
        return 2;
    }
    addr = argv[1], split_id = strtoull(argv[2], NULL, 16), cut = argv[3];
    C = atoi(argv[4]), H = atoi(argv[5]), W = atoi(argv[6]);
    const int frames = atoi(argv[7]), conns = atoi(argv[8]);
    if (C < 1 || H < 1 || W < 1 || frames < 1 || conns < 1 || conns > 1000) {
        fprintf(stderr, "hostile: bad arguments\n");
        return 2;
    }
    for (int p = 0; p < conns; p++) {
        if (fork() != 0) continue;
        unsigned seed = 1234u + (unsigned)p;
        int idle[5], nidle = 0, refused = 0;
        if (p == 0) /* slow connections that never send a frame */
            for (int i = 0; i < 5; i++)
                if (!sock_connect(addr, 5, &idle[nidle]) && !hello(idle[nidle], split_id)) nidle++;
        for (int i = p; i < frames; i += conns) {
            const int k = i % 50 == 49 ? 12 : i % 12;
            refused += attack(k, &seed) != 0;
        }
        for (int i = 0; i < nidle; i++) close(idle[i]);
        _exit(refused ? 1 : 0);
    }
    int bad = 0, st;
    while (wait(&st) > 0)
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
    printf("hostile: %d bad frames from %d processes, %d of which saw a refused connection\n", frames, conns, bad);
    return bad ? 1 : 0;
}
