/* probe.h - the /proc BQL probe (DESIGN.md section 4, probe 2): is the BQL
 * held while others wait for it, and which thread owns it?  The BQL is
 * recognised without symbols as the mutex the main thread (tid == pid) waits
 * for, or else the one a vCPU thread ("CPU n/KVM", "CPU n/TCG") waits for:
 * in a hang inside vm_stop the owner runs the main AioContext itself
 * (nested aio_poll), so the main thread may sit idle in ppoll while only
 * the vCPUs queue on the BQL (seen on QEMU 7.2 with virtio-blk dataplane).
 * Symbol-free: reads /proc/PID/task/TID/{syscall,comm} and the mutex word in
 * the target's memory through procfs.h; never stops or attaches to the target.  Needs the same access as
 * ptrace (root, or the same user with ptrace_scope 0); works when QMP is
 * stuck. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "procfs.h"

#define MG_PROBE_COMM_MAX MG_PROCFS_COMM_MAX
/* The name QEMU gives the thread that runs a migration (with
 * -name debug-threads=on, which libvirt always passes). */
#define MG_PROBE_MIGRATION_COMM "live_migration"

/* What the caller keeps between calls for one pid; zero it to start. */
struct mg_bql_state {
	uint64_t futex_addr;
	pid_t owner_tid;
	uint64_t since;			/* monotonic usec first seen held, 0 = not */
};

struct mg_bql_result {
	/* The main thread, or failing that a vCPU thread, is in a futex wait
	 * on a mutex word (glibc lll_lock: FUTEX_WAIT* with value 2, or
	 * FUTEX_LOCK_PI) whose owner is another live thread of the process.
	 * A condition variable or any other futex wait does not count. */
	bool held;
	bool main_blocked;		/* the main thread is one of the waiters */
	uint64_t futex_addr;		/* the mutex, in the target's address space */
	pid_t owner_tid;		/* 0 unless held */
	char owner_comm[MG_PROBE_COMM_MAX];
	bool owner_is_migration;	/* owner_comm == MG_PROBE_MIGRATION_COMM */
	unsigned n_waiters;		/* threads in a futex wait on that address */
	/* When held first showed this address and owner in consecutive calls
	 * (monotonic usec); 0 unless held. */
	uint64_t since_usec;
	/* The main thread's syscall: its number, -1 when blocked outside a
	 * syscall, -2 when running. */
	long main_syscall;
};

/* Probes pid once and updates *state (may be NULL: since_usec is then now).
 * Returns 0 (whatever it found, see out->held), -ESRCH when the
 * process is gone, -EPERM when /proc or its memory may not be read, or
 * another -errno.  Does not log: the caller knows whether a failure matters. */
int mg_probe_bql(pid_t pid, struct mg_bql_state *state, struct mg_bql_result *out);
/* The same on a task list the caller read with mg_procfs_scan() (a probe
 * round's one scan; its failure is returned as above).  Reads each task's
 * syscall line at most once, through the scan's cache. */
int mg_probe_bql_scan(struct mg_procfs_scan *scan, struct mg_bql_state *state, struct mg_bql_result *out);
/* QEMU's main loop drops the BQL around its poll (os_host_main_loop_wait):
 * the main thread waiting there, and no thread blocked on a mutex owned by
 * another (b from mg_probe_bql_scan), means nothing waits behind the BQL. */
bool mg_probe_main_loop_idle(const struct mg_bql_result *b);
/* A vCPU thread is in the guest (KVM_RUN) or running (TCG): the guest is
 * not paused.  A BQL held with nobody waiting for it is invisible to the
 * probe; while the guest runs, its vCPUs and the main loop's timers keep
 * coming back for the lock, while a paused guest's vCPUs wait on a
 * condition variable and a main loop asleep in its poll meets the lock
 * only when something (a query) wakes it - as in the storage stall, where
 * the vCPUs are paused before the drain hangs.  Under TCG an idle vCPU
 * waits like a paused one.  Reads the vCPUs' syscall lines through the
 * scan's cache. */
bool mg_probe_guest_running(struct mg_procfs_scan *scan);
