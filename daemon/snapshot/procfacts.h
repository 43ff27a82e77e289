/* procfacts.h - the snapshot's first step: every thread's /proc facts
 * (procfs.h) and, for futex waits, the futex word and the int at word+8,
 * read while the target runs, into the snapshot's model. */
#pragma once

#include "snapshot/snapshot.h"

/* Lists snap->pid's threads, sorted by tid, and fills each one's comm,
 * state, wchan, syscall, kernel stack and futex facts; a thread that
 * vanishes meanwhile is marked gone.  0, -ESRCH (no such process), -EPERM
 * (cannot read its memory: /proc/PID/syscall is unreadable) or -ENOMEM. */
int mg_procfacts_read(struct mg_snapshot *snap);
