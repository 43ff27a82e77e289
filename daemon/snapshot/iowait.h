/* iowait.h - I/O-wait chains: for threads blocked in poll/ppoll/epoll_wait
 * or a read/write/send/recv/connect, the fds involved -> what each fd is
 * -> for sockets and pipes the peer -> the peer process and its state. */
#pragma once

#include "snapshot/snapshot.h"

/* Fills snap->io_waits from the classified threads (target runs).  0 or
 * -ENOMEM; unreadable details only shorten the chains. */
int mg_iowait_collect(struct mg_snapshot *snap);
