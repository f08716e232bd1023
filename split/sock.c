/* sock.c - TCP helpers (see sock.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "split/sock.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

sei_status sock_split_addr(const char *s, char *host, size_t cap, char *port, size_t pcap) {
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (!colon || !colon[1] || (size_t)(colon - s) >= cap || strlen(colon + 1) >= pcap)
        return sei_fail(SEI_ERR_ARG, "'%s' is not HOST:PORT", s ? s : "");
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    snprintf(port, pcap, "%s", colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9') return sei_fail(SEI_ERR_ARG, "'%s': the port is not a number", s);
    return SEI_OK;
}

void sock_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

int sock_accept(int lfd) {
    const int fd = accept(lfd, NULL, NULL);
    if (fd < 0) return -1;
    sock_nonblock(fd);
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

sei_status sock_listen(const char *addr, int *fd) {
    char host[256], port[16];
    sei_status st = sock_split_addr(addr, host, sizeof host, port, sizeof port);
    if (st) return st;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC, hints.ai_socktype = SOCK_STREAM, hints.ai_flags = AI_PASSIVE;
    const int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (g) return sei_fail(SEI_ERR_ARG, "listen %s: %s", addr, gai_strerror(g));
    int s = -1;
    for (struct addrinfo *a = res; a && s < 0; a = a->ai_next) {
        s = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (s < 0) continue;
        const int one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s, a->ai_addr, a->ai_addrlen) || listen(s, 64)) { close(s); s = -1; }
    }
    const int err = errno;
    freeaddrinfo(res);
    if (s < 0) return sei_fail(SEI_ERR_IO, "listen %s: %s", addr, strerror(err));
    sock_nonblock(s);
    *fd = s;
    return SEI_OK;
}

sei_status sock_connect(const char *addr, double timeout_s, int *fd) {
    char host[256], port[16];
    sei_status st = sock_split_addr(addr, host, sizeof host, port, sizeof port);
    if (st) return st;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC, hints.ai_socktype = SOCK_STREAM;
    const int g = getaddrinfo(host[0] ? host : "127.0.0.1", port, &hints, &res);
    if (g) return sei_fail(SEI_ERR_ARG, "connect %s: %s", addr, gai_strerror(g));
    int s = -1, err = ECONNREFUSED;
    for (struct addrinfo *a = res; a && s < 0; a = a->ai_next) {
        s = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (s < 0) { err = errno; continue; }
        sock_nonblock(s);
        int r = connect(s, a->ai_addr, a->ai_addrlen);
        if (r && errno == EINPROGRESS) {
            struct pollfd p = {s, POLLOUT, 0};
            r = poll(&p, 1, (int)(timeout_s * 1000)) == 1 ? 0 : -1;
            int so = 0;
            socklen_t sl = sizeof so;
            if (!r && (getsockopt(s, SOL_SOCKET, SO_ERROR, &so, &sl) || so)) r = -1, errno = so ? so : errno;
            if (r && !errno) errno = ETIMEDOUT;
        }
        if (r) { err = errno; close(s); s = -1; }
    }
    freeaddrinfo(res);
    if (s < 0) return sei_fail(SEI_ERR_IO, "connect %s: %s", addr, strerror(err));
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
    const int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *fd = s;
    return SEI_OK;
}

int sock_write_all(int fd, const void *p, size_t n, double timeout_s) {
    const char *b = p;
    const double end = now_s() + timeout_s;
    while (n) {
        const ssize_t w = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) { b += w, n -= (size_t)w; continue; }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        const double left = end - now_s();
        if (left <= 0) return -1;
        struct pollfd q = {fd, POLLOUT, 0};
        if (poll(&q, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR) return -1;
    }
    return 0;
}

int sock_read_all(int fd, void *p, size_t n, double timeout_s) {
    char *b = p;
    size_t got = 0;
    const double end = now_s() + timeout_s;
    while (got < n) {
        const ssize_t r = recv(fd, b + got, n - got, MSG_DONTWAIT);
        if (r > 0) { got += (size_t)r; continue; }
        if (r == 0) return got ? -1 : 1;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        const double left = end - now_s();
        if (left <= 0) return -1;
        struct pollfd q = {fd, POLLIN, 0};
        if (poll(&q, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR) return -1;
    }
    return 0;
}
