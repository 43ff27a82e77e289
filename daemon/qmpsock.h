/* qmpsock.h - the socket of a QMP monitor: a non-blocking connect to its
 * unix path or an adopted descriptor, the outcome of the connect, and who
 * serves it (SO_PEERCRED).
 *
 * Descriptors only: the client (qmp.c) owns the descriptor, the loop and the
 * state.  mg_qmpsock_check_peer() logs its verdict itself, naming the client
 * and the socket, since that is where the reasons are; the others return
 * -errno for the caller to log or not. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Opens a non-blocking, close-on-exec stream socket and starts connecting
 * it to the unix socket at path.  0 with *fd and *connecting (true while the
 * connect is in progress: wait for EPOLLOUT, then mg_qmpsock_connect_result),
 * -ENAMETOOLONG, or the socket()/connect() error (-ENOENT, -ECONNREFUSED,
 * -EAGAIN when the listen backlog is full).  Nothing is logged. */
int mg_qmpsock_connect_unix(const char *path, int *fd, bool *connecting);
/* Makes fd non-blocking and close-on-exec.  0, or -errno after closing fd. */
int mg_qmpsock_adopt(int fd);
/* The outcome of a non-blocking connect on fd once it is writable: 0 or
 * -errno (SO_ERROR). */
int mg_qmpsock_connect_result(int fd);

/* Whether the peer of connected socket fd may be taken for the monitor of
 * process pid: its SO_PEERCRED must pass mg_procid_check_peer() (pid or one
 * of its threads, a uid of pid's or root).  0 (pid <= 0 checks nothing),
 * -EPERM (refused, logged as an error), -ESRCH (pid is gone, logged as
 * info), or -errno when the kernel gives no credentials (logged).  name and
 * peer (the socket path) are for the log lines. */
int mg_qmpsock_check_peer(int fd, pid_t pid, const char *name, const char *peer);
