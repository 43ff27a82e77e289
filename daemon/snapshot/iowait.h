/* iowait.h - I/O-wait chains: for threads blocked in poll/ppoll/epoll_wait
 * or a read/write/send/recv/connect, the fds involved -> what each fd is
 * -> for sockets and pipes the peer -> the peer process and its state. */
#pragma once

#include "snapshot/snapshot.h"

/* Fills snap->io_waits from the classified threads (target runs) and
 * ranks them (mg_iowait_rank).  0 or -ENOMEM; unreadable details only
 * shorten the chains. */
int mg_iowait_collect(struct mg_snapshot *snap);

/* The hang's path: the threads whose waits the hang depends on.  Sets
 * on_path[i] (one per snap->threads[i]) for the BQL owner, every thread it
 * reaches through lock edges (waiter -> owner, transitively: a cycle's
 * threads with it) and, once one of those is inside a block-layer drain or
 * an AioContext poll, every IOThread ("IO <id>" but QEMU's monitor thread
 * "IO mon_iothread"), with the threads those reach in turn.  Returns false,
 * with on_path all false, when the BQL owner is not a known thread. */
bool mg_iowait_hang_path(const struct mg_snapshot *snap, bool *on_path);

/* Sets the role of every I/O wait from the hang's path (all
 * MG_IO_UNRANKED without a known BQL owner) and moves the MG_IO_HANG ones
 * first, each group in its order.  Needs snap->locks built.  0 or -ENOMEM
 * (the waits are then left as they were). */
int mg_iowait_rank(struct mg_snapshot *snap);
