/* procfs.h - the one reader of /proc: a process's tasks, their syscall
 * lines, names, stat fields (state, flags, start time), wchan, kernel
 * stacks and CPU time (schedstat), the process's uids and io counters, and
 * its memory.  Used by the
 * BQL probe (probe.c), the watch's probe rounds (watch.c), process identity
 * (procid.c) and the snapshot (snapshot/procfacts.c).  Nothing here stops or
 * attaches to the target.
 *
 * Errors, everywhere: a process or thread that is gone (or vanishes during
 * the read) gives -ESRCH, never a crash or a half-filled struct taken for
 * data; a file the ptrace access check refuses gives -EPERM; a line that
 * does not have the kernel's format gives -EINVAL.  Every parse is bounded
 * by the buffer it reads into and checks each number's range.
 *
 * The formats relied on (proc(5), fs/proc/base.c, Linux >= 3.x):
 *  - task/TID/syscall: "NR A0 A1 A2 A3 A4 A5 SP PC" (A*, SP, PC in hex)
 *    inside a syscall, "-1 SP PC" when blocked outside one, "running";
 *  - stat: "PID (COMM) STATE PPID ...": COMM may hold spaces and ')', so
 *    fields resume after the last ')'; field 9 is the task flags, field 22
 *    the start time in clock ticks after boot;
 *  - status: "Uid:\tREAL\tEFFECTIVE\tSAVED\tFS";
 *  - io: "rchar: N" (bytes the process read through read(2) and friends);
 *  - schedstat: "RUN_NS WAIT_NS TIMESLICES" (CONFIG_SCHEDSTATS; Debian has it). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MG_PROCFS_COMM_MAX 16		/* TASK_COMM_LEN, with the NUL */

/* /proc/PID/task/TID/syscall. */
struct mg_procfs_syscall {
	long nr;			/* -1 blocked outside a syscall, -2 running */
	uint64_t args[6];		/* valid when nr >= 0 */
	uint64_t sp, pc;		/* valid when nr != -2 */
};

/* The fields of /proc/PID[/task/TID]/stat that migguard uses. */
struct mg_procfs_stat {
	char state;			/* R S D T t Z X I ... */
	unsigned long flags;		/* PF_* task flags (field 9) */
	uint64_t start_time;		/* clock ticks after boot (field 22) */
};

/* Task flags from include/linux/sched.h, as stat shows them. */
#define MG_PROCFS_PF_EXITING 0x4
/* Since Linux 6.4: kernel threads that live in a user process (vhost
 * workers, KVM's "kvm-nx-lpage-recovery"). */
#define MG_PROCFS_PF_USER_WORKER 0x4000

/* --- one task list, kept open across probe rounds ------------------------ */

struct mg_procfs_task {
	pid_t tid;
	unsigned have;			/* which of the below were read this round */
	unsigned open;			/* which files have a kept descriptor */
	int syscall_err, comm_err;	/* 0 or why it could not be read */
	int syscall_fd, comm_fd;	/* valid when open says so */
	bool comm_final;		/* comm is kept, not read again (procfs.c) */
	struct mg_procfs_syscall sc;
	char comm[MG_PROCFS_COMM_MAX];
};

/* A process's task list, kept across mg_procfs_scan() calls (zero the
 * struct once, free with mg_procfs_scan_clear()) so that a probe round costs
 * one fstat of /proc/PID/task and one pread(2) per file it reads:
 *  - the directory stays open; it is listed again only when the thread
 *    count changed (its link count is 2 + the threads, fs/proc/base.c
 *    proc_task_getattr, every Linux since 2.6) or a task of the list was
 *    found gone.  A thread that exits while another starts within one
 *    interval is thus seen one round late: the dead one's read says -ESRCH
 *    and the next round lists the directory again;
 *  - each task's syscall and comm files stay open once read, and are read
 *    again with pread at offset 0 (seq_file regenerates the text); a
 *    thread's name, once it differs from the main thread's (the thread
 *    named itself), is kept for the thread's life and not read again;
 *  - every file is opened relative to the directory, so a recycled pid
 *    never lends its files to the scan: once the process is gone, every
 *    read says -ESRCH;
 *  - at most MG_PROCFS_KEEP_FDS descriptors are kept per scan; beyond
 *    that, or when the process runs out of descriptors, a file is opened
 *    and closed on each read instead.
 * The arrays grow to the process's thread count and are then reused: a
 * round allocates nothing.  Per-task facts are read on first use and kept
 * until the next scan, so a round reads each file at most once. */
#define MG_PROCFS_KEEP_FDS 256

struct mg_procfs_scan {
	pid_t pid;
	int err;			/* the last scan's result */
	struct mg_procfs_task *tasks;	/* in the kernel's order (/proc/PID/task) */
	size_t n, cap;
	/* Internal: the kept directory and the listing's spare array. */
	void *dir;			/* DIR *, NULL when not open */
	struct mg_procfs_task *spare;
	bool stale;			/* list the directory at the next scan */
	unsigned n_fds;			/* kept task descriptors */
	bool io_open;
	int io_fd;			/* /proc/PID/io, valid when io_open */
};

/* Lists pid's tasks into s (again only when needed, see above).  0, -ESRCH
 * (no such process), -EINVAL (pid <= 0), -ENOMEM; s->err is the same value
 * and s->n is 0 on error. */
int mg_procfs_scan(pid_t pid, struct mg_procfs_scan *s);
/* Closes every kept descriptor and frees the arrays; s is zeroed. */
void mg_procfs_scan_clear(struct mg_procfs_scan *s);
/* The index of tid in the last scan, or -1. */
ssize_t mg_procfs_scan_find(const struct mg_procfs_scan *s, pid_t tid);
/* Task i's syscall line, read once per scan; NULL with *err set (-ESRCH for a
 * task gone since the scan, -EPERM) when it cannot be read. */
const struct mg_procfs_syscall *mg_procfs_scan_syscall(struct mg_procfs_scan *s, size_t i, int *err);
/* Task i's name, read once per scan until it is final (see above); NULL
 * when the read finds the task gone.  A final name comes from memory even
 * after the thread ended: a caller that needs the task alive reads its
 * syscall line too. */
const char *mg_procfs_scan_comm(struct mg_procfs_scan *s, size_t i);
/* mg_procfs_io_rchar() of the scanned process through a kept descriptor
 * (after a successful scan). */
int mg_procfs_scan_io_rchar(struct mg_procfs_scan *s, uint64_t *out);

/* --- single facts ---------------------------------------------------------
 * tid <= 0 means the process itself (/proc/PID/...), else its task TID
 * (/proc/PID/task/TID/...). */

int mg_procfs_syscall(pid_t pid, pid_t tid, struct mg_procfs_syscall *out);
/* The name without its newline, truncated to size - 1. */
int mg_procfs_comm(pid_t pid, pid_t tid, char *buf, size_t size);
int mg_procfs_stat(pid_t pid, pid_t tid, struct mg_procfs_stat *out);
/* The state letter, '?' when the task is gone or the line is malformed. */
char mg_procfs_state(pid_t pid, pid_t tid);
/* True when the task is gone, a zombie, or exiting (PF_EXITING). */
bool mg_procfs_exiting(pid_t pid, pid_t tid);
/* The kernel function the task sleeps in; "" when running or hidden. */
int mg_procfs_wchan(pid_t pid, pid_t tid, char *buf, size_t size);
/* The task's kernel stack (root only), without its last newline. */
int mg_procfs_kstack(pid_t pid, pid_t tid, char *buf, size_t size);
/* Field 22 of /proc/PID/stat: 0, -ESRCH, -EINVAL. */
int mg_procfs_start_time(pid_t pid, uint64_t *start);
/* Real, effective, saved and filesystem uids (/proc/PID/status). */
int mg_procfs_uids(pid_t pid, uid_t uids[4]);
/* True when tid is pid or one of its threads. */
bool mg_procfs_has_task(pid_t pid, pid_t tid);
/* Bytes read by the process so far ("rchar" of /proc/PID/io). */
int mg_procfs_io_rchar(pid_t pid, uint64_t *out);
/* Bytes written so far ("wchar": write(2), send(2) and friends, sockets
 * included). */
int mg_procfs_io_wchar(pid_t pid, uint64_t *out);
/* CPU time of the process or task so far (for the cost of a probe round). */
struct mg_procfs_schedstat {
	uint64_t run_ns;		/* on a CPU */
	uint64_t wait_ns;		/* runnable, waiting for a CPU */
	uint64_t timeslices;
};
int mg_procfs_schedstat(pid_t pid, pid_t tid, struct mg_procfs_schedstat *out);
/* Reads len bytes at addr in pid: process_vm_readv, or /proc/PID/mem where
 * that syscall is filtered.  0, -ESRCH, -EPERM, or -EIO when the range is
 * not (all) mapped. */
int mg_procfs_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len);
