/* probe.c - see probe.h.
 *
 * The facts it relies on:
 *  - /proc/PID/task/TID/syscall reads "NR ARG1 ARG2 ARG3 ... SP PC" for a
 *    thread blocked in a syscall ("-1 SP PC" outside one, "running"); for
 *    futex(2) ARG1 is the word's address, ARG2 the op, ARG3 the value
 *    waited for;
 *  - glibc's mutex slow path (lll_lock_wait) waits with FUTEX_WAIT(_PRIVATE)
 *    for the value 2 ("locked, with waiters"); a PI mutex uses
 *    FUTEX_LOCK_PI and keeps the owner's tid in the word itself;
 *  - glibc's pthread_mutex_t on 64-bit Linux starts with
 *    `int __lock; unsigned __count; int __owner;`: the owner's tid is at +8.
 *    QEMU's BQL (qemu_global_mutex) is a QemuMutex whose first member is a
 *    default pthread_mutex_t (util/qemu-thread-posix.c).
 * A condition variable's futex (glibc >= 2.25 __g_signals) is waited for with
 * another value and has no owner field, so it is not taken for a mutex.
 * Which mutex is the BQL: see probe.h. */
#include "probe.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#ifndef FUTEX_LOCK_PI2			/* Linux 5.14 */
#define FUTEX_LOCK_PI2 13
#endif

/* The value glibc's lll_lock_wait waits for. */
#define LLL_LOCK_CONTENDED 2
#define MUTEX_OWNER_OFFSET 8

struct task_syscall {
	long nr;			/* -1 blocked outside a syscall, -2 running */
	uint64_t arg[3];
};

/* ENOENT on /proc means the process (or thread) went away; EACCES is the
 * ptrace access check. */
static int proc_errno(int r)
{
	if (r == -ENOENT)
		return -ESRCH;
	if (r == -EACCES)
		return -EPERM;
	return r;
}

static int read_task_file(pid_t pid, pid_t tid, const char *what, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid, (int)tid, what);
	n = mg_read_file(path, buf, size);
	if (n < 0)
		return proc_errno((int)n);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int read_syscall(pid_t pid, pid_t tid, struct task_syscall *sc)
{
	char buf[256];
	int r = read_task_file(pid, tid, "syscall", buf, sizeof(buf));

	memset(sc, 0, sizeof(*sc));
	if (r < 0)
		return r;
	if (strncmp(buf, "running", 7) == 0) {
		sc->nr = -2;
		return 0;
	}
	if (sscanf(buf, "%ld %" SCNx64 " %" SCNx64 " %" SCNx64, &sc->nr, &sc->arg[0], &sc->arg[1],
		   &sc->arg[2]) < 1)
		return -EIO;
	return 0;
}

static bool is_futex_wait(const struct task_syscall *sc)
{
	int cmd = (int)(sc->arg[1] & FUTEX_CMD_MASK);

	return sc->nr == SYS_futex &&
	       (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET || cmd == FUTEX_LOCK_PI ||
		cmd == FUTEX_LOCK_PI2);
}

static bool is_pi(const struct task_syscall *sc)
{
	int cmd = (int)(sc->arg[1] & FUTEX_CMD_MASK);

	return cmd == FUTEX_LOCK_PI || cmd == FUTEX_LOCK_PI2;
}

/* Reads size bytes at addr in pid: process_vm_readv, or /proc/PID/mem where
 * that syscall is filtered. */
static int read_target(pid_t pid, uint64_t addr, void *buf, size_t size)
{
	struct iovec local = { buf, size }, remote = { (void *)(uintptr_t)addr, size };
	_cleanup_close_ int fd = -1;
	char path[32];
	ssize_t n;

	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)size)
		return 0;
	if (n < 0 && errno == ESRCH)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return proc_errno(-errno);
	n = pread(fd, buf, size, (off_t)addr);
	if (n < 0)
		return proc_errno(-errno);
	return n == (ssize_t)size ? 0 : -EIO;
}

/* Fills out's owner from the futex word when tid's wait looks like a
 * mutex; leaves held false otherwise. */
static int find_owner(pid_t pid, const struct task_syscall *sc, struct mg_bql_result *out)
{
	struct { int32_t lock; uint32_t count; int32_t owner; } word;
	pid_t owner;
	int r;

	if (!is_pi(sc) && sc->arg[2] != LLL_LOCK_CONTENDED)
		return 0;
	r = read_target(pid, sc->arg[0], &word, sizeof(word));
	if (r < 0)
		return r;
	if (is_pi(sc))
		owner = (pid_t)((uint32_t)word.lock & FUTEX_TID_MASK);
	else if (word.lock != 0)
		owner = word.owner;
	else
		return 0;	/* released since the syscall was read */
	if (owner <= 0 || owner == pid)
		return 0;
	/* The owner must be a thread of this process: a stale or foreign
	 * value is no evidence. */
	r = read_task_file(pid, owner, "comm", out->owner_comm, sizeof(out->owner_comm));
	if (r == -ESRCH)
		return 0;
	if (r < 0)
		return r;
	out->held = true;
	out->futex_addr = sc->arg[0];
	out->owner_tid = owner;
	out->owner_is_migration = strcmp(out->owner_comm, MG_PROBE_MIGRATION_COMM) == 0;
	return 0;
}

/* A vCPU thread waits for the BQL after every exit that needs it. */
static bool is_vcpu(pid_t pid, pid_t tid)
{
	char comm[MG_PROBE_COMM_MAX];

	return read_task_file(pid, tid, "comm", comm, sizeof(comm)) == 0 &&
	       strncmp(comm, "CPU ", 4) == 0;
}

/* Looks for a vCPU thread of pid waiting for a mutex with an owner. */
static int find_vcpu_waiter(pid_t pid, struct mg_bql_result *out)
{
	char path[32];
	DIR *d;
	struct dirent *de;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return proc_errno(-errno);
	while (!out->held && (de = readdir(d))) {
		struct task_syscall sc;
		long long tid;

		if (mg_parse_int(de->d_name, 1, INT32_MAX, &tid) < 0 || tid == pid)
			continue;
		if (read_syscall(pid, (pid_t)tid, &sc) < 0 || !is_futex_wait(&sc) ||
		    !is_vcpu(pid, (pid_t)tid))
			continue;
		r = find_owner(pid, &sc, out);
		if (r < 0 && r != -ESRCH)
			break;
		r = 0;
	}
	closedir(d);
	return r;
}

/* Counts the threads of pid in a futex wait on addr. */
static unsigned count_waiters(pid_t pid, uint64_t addr)
{
	char path[32];
	DIR *d;
	struct dirent *de;
	unsigned n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct task_syscall sc;
		long long tid;

		if (mg_parse_int(de->d_name, 1, INT32_MAX, &tid) < 0)
			continue;
		if (read_syscall(pid, (pid_t)tid, &sc) == 0 && is_futex_wait(&sc) && sc.arg[0] == addr)
			n++;
	}
	closedir(d);
	return n;
}

int mg_probe_bql(pid_t pid, struct mg_bql_state *state, struct mg_bql_result *out)
{
	struct task_syscall sc;
	int r;

	memset(out, 0, sizeof(*out));
	if (pid <= 0)
		return -EINVAL;
	r = read_syscall(pid, pid, &sc);
	if (r < 0)
		goto out;
	out->main_syscall = sc.nr;
	if (is_futex_wait(&sc)) {
		r = find_owner(pid, &sc, out);
		if (r < 0)
			goto out;
		out->main_blocked = out->held;
	}
	if (!out->held) {
		r = find_vcpu_waiter(pid, out);
		if (r < 0)
			goto out;
	}
	if (out->held)
		out->n_waiters = count_waiters(pid, out->futex_addr);
	if (!out->held) {
		memset(out->owner_comm, 0, sizeof(out->owner_comm));
		if (state)
			*state = (struct mg_bql_state){ 0 };
		return 0;
	}
	if (state && state->since && state->futex_addr == out->futex_addr &&
	    state->owner_tid == out->owner_tid) {
		out->since_usec = state->since;
	} else {
		out->since_usec = mg_now_mono();
		if (state)
			*state = (struct mg_bql_state){ out->futex_addr, out->owner_tid, out->since_usec };
	}
	return 0;
out:
	if (state)
		*state = (struct mg_bql_state){ 0 };
	return r;
}
