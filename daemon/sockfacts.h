/* sockfacts.h - what the kernel says about sockets, read once per call:
 * every unix socket of our network namespace with its peer and receive
 * queue (sock_diag: UNIX_DIAG_PEER, UNIX_DIAG_RQLEN), and every TCP socket
 * a process sees (/proc/PID/net/tcp and tcp6: addresses, state, queues,
 * inode).  Used by the snapshot's I/O-wait chains (snapshot/iowait.c) and
 * the unstick rung (unstick.c).
 *
 * Formats (linux/unix_diag.h; proc(5) and net/ipv4/tcp_ipv4.c):
 *  - UNIX_DIAG_RQLEN of a connected stream socket: udiag_rqueue is the
 *    bytes queued unread;
 *  - a net/tcp line: "sl local rem st tx_queue:rx_queue tr:when retrnsmt uid
 *    timeout inode ...", addresses and ports in hex as the kernel stores
 *    them, st 0A = LISTEN. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mg_unix_sock {
	uint64_t ino, peer;	/* peer 0: none (unconnected, or a listener) */
	int64_t rqueue;		/* bytes unread (-1 when the kernel did not say) */
};

/* One dump of the unix sockets, sorted by inode (free *out).  0 or a
 * negative errno; a dump cut short gives what was read. */
int mg_sockfacts_unix(struct mg_unix_sock **out, size_t *n);
/* The socket with this inode in a dump, or NULL. */
const struct mg_unix_sock *mg_sockfacts_unix_find(const struct mg_unix_sock *v, size_t n, uint64_t ino);

#define MG_TCP_LISTEN 0x0A

struct mg_tcp_sock {
	char local[64], remote[64];	/* "0100007F:1F90" as in the file */
	unsigned state;
	int64_t tx, rx;			/* bytes queued to send (unacked) / unread */
	uint64_t inode;
};

/* Every line of PID's net/tcp and net/tcp6, read through proc_dirfd (an
 * open /proc/PID) when >= 0 (free *out); the number of lines. */
size_t mg_sockfacts_tcp(pid_t pid, int proc_dirfd, struct mg_tcp_sock **out);
/* The socket with this inode, or NULL. */
const struct mg_tcp_sock *mg_sockfacts_tcp_find(const struct mg_tcp_sock *v, size_t n, uint64_t ino);
/* The local end of s's connection on this host (addresses swapped), or
 * NULL when the peer is elsewhere. */
const struct mg_tcp_sock *mg_sockfacts_tcp_peer(const struct mg_tcp_sock *v, size_t n, const struct mg_tcp_sock *s);
/* The host of an address field as text ("0100007F:1F90" -> "127.0.0.1",
 * IPv6 in its usual form).  0 or -EINVAL / -ENOSPC. */
int mg_sockfacts_tcp_host(const char *addr, char *buf, size_t size);
/* The port of an address field ("0100007F:1F90" -> 8080); 0 when malformed. */
unsigned mg_sockfacts_tcp_port(const char *addr);
