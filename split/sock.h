/* sock.h - the few TCP helpers sei serve and sei device need (POSIX sockets): HOST:PORT
 * parsing, a listening socket, a connect with a timeout, and whole-buffer writes / reads
 * with a deadline. Errors go through sei_fail with the peer or address named. */
#ifndef SEI_SOCK_H
#define SEI_SOCK_H
#include <stddef.h>
#include "engine/error.h"

/* "host:port" (host may be empty: all interfaces for listen, 127.0.0.1 for connect) */
sei_status sock_split_addr(const char *s, char *host, size_t cap, char *port, size_t pcap);
/* a non-blocking listening socket bound to host:port; *fd */
sei_status sock_listen(const char *addr, int *fd);
/* the next connection on a listening socket, non-blocking and TCP_NODELAY (replies are
 * small: Nagle would hold one until the previous one's delayed ACK); -1 if none */
int sock_accept(int lfd);
/* a connected blocking socket (TCP_NODELAY), giving up after timeout_s */
sei_status sock_connect(const char *addr, double timeout_s, int *fd);
/* write all n bytes (poll for writability up to timeout_s in total); -1 on error/timeout */
int sock_write_all(int fd, const void *p, size_t n, double timeout_s);
/* read exactly n bytes within timeout_s; 0 ok, -1 error/timeout, 1 orderly close before any byte */
int sock_read_all(int fd, void *p, size_t n, double timeout_s);
void sock_nonblock(int fd);

#endif
