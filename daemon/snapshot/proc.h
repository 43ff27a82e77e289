/* proc.h - facts about a process and its threads read from /proc and from
 * its memory (process_vm_readv), without stopping it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapshot/snapshot.h"

/* Lists pid's threads and fills each one's comm, state, wchan, syscall,
 * kernel stack and, for futex waits, the futex word and the int at
 * word+8.  0, -ESRCH (no such process) or -EPERM (cannot read its memory:
 * /proc/PID/syscall is unreadable). */
int mg_proc_read_threads(struct mg_snapshot *snap);
/* Re-reads one thread's state letter; '?' when it is gone. */
char mg_proc_thread_state(pid_t pid, pid_t tid);
/* True when the thread is gone, a zombie, or exiting (PF_EXITING). */
bool mg_proc_thread_exiting(pid_t pid, pid_t tid);
/* Reads len bytes at addr in pid; 0 or a negative errno. */
int mg_proc_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len);
/* "comm" and "X (state name)" of any process; 0 or -ESRCH. */
int mg_proc_describe(pid_t pid, char *comm, size_t comm_size, char *state, size_t state_size);
