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

#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>

#ifndef FUTEX_LOCK_PI2			/* Linux 5.14 */
#define FUTEX_LOCK_PI2 13
#endif

/* The value glibc's lll_lock_wait waits for. */
#define LLL_LOCK_CONTENDED 2
#define MUTEX_OWNER_OFFSET 8

static bool is_futex_wait(const struct mg_procfs_syscall *sc)
{
	int cmd = (int)(sc->args[1] & FUTEX_CMD_MASK);

	return sc->nr == SYS_futex &&
	       (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET || cmd == FUTEX_LOCK_PI ||
		cmd == FUTEX_LOCK_PI2);
}

static bool is_pi(const struct mg_procfs_syscall *sc)
{
	int cmd = (int)(sc->args[1] & FUTEX_CMD_MASK);

	return cmd == FUTEX_LOCK_PI || cmd == FUTEX_LOCK_PI2;
}

/* Fills out's owner from the futex word when the wait looks like a mutex;
 * leaves held false otherwise. */
static int find_owner(pid_t pid, const struct mg_procfs_syscall *sc, struct mg_bql_result *out)
{
	struct { int32_t lock; uint32_t count; int32_t owner; } word;
	pid_t owner;
	int r;

	if (!is_pi(sc) && sc->args[2] != LLL_LOCK_CONTENDED)
		return 0;
	r = mg_procfs_read_mem(pid, sc->args[0], &word, sizeof(word));
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
	r = mg_procfs_comm(pid, owner, out->owner_comm, sizeof(out->owner_comm));
	if (r == -ESRCH)
		return 0;
	if (r < 0)
		return r;
	out->held = true;
	out->futex_addr = sc->args[0];
	out->owner_tid = owner;
	out->owner_is_migration = strcmp(out->owner_comm, MG_PROBE_MIGRATION_COMM) == 0;
	return 0;
}

/* QEMU names its vCPU threads "CPU n/KVM" or "CPU n/TCG" (debug-threads);
 * the name is kept across rounds (procfs.h), so only the vCPUs' syscall
 * lines are read. */
static bool is_vcpu(struct mg_procfs_scan *scan, size_t i)
{
	const char *comm = mg_procfs_scan_comm(scan, i);

	return comm && strncmp(comm, "CPU ", 4) == 0;
}

/* Looks for a vCPU thread (it waits for the BQL after every exit that
 * needs it) waiting for a mutex with an owner. */
static int find_vcpu_waiter(struct mg_procfs_scan *scan, struct mg_bql_result *out)
{
	for (size_t i = 0; i < scan->n && !out->held; i++) {
		const struct mg_procfs_syscall *sc;
		int r;

		if (scan->tasks[i].tid == scan->pid || !is_vcpu(scan, i))
			continue;
		sc = mg_procfs_scan_syscall(scan, i, NULL);
		if (!sc || !is_futex_wait(sc))
			continue;
		r = find_owner(scan->pid, sc, out);
		if (r < 0 && r != -ESRCH)
			return r;
	}
	return 0;
}

/* Counts the threads in a futex wait on addr. */
static unsigned count_waiters(struct mg_procfs_scan *scan, uint64_t addr)
{
	unsigned n = 0;

	for (size_t i = 0; i < scan->n; i++) {
		const struct mg_procfs_syscall *sc = mg_procfs_scan_syscall(scan, i, NULL);

		if (sc && is_futex_wait(sc) && sc->args[0] == addr)
			n++;
	}
	return n;
}

int mg_probe_bql_scan(struct mg_procfs_scan *scan, struct mg_bql_state *state, struct mg_bql_result *out)
{
	const struct mg_procfs_syscall *sc;
	ssize_t main_idx;
	int r = scan->err;

	memset(out, 0, sizeof(*out));
	if (r < 0)
		goto out;
	main_idx = mg_procfs_scan_find(scan, scan->pid);
	if (main_idx < 0) {
		r = -ESRCH;
		goto out;
	}
	sc = mg_procfs_scan_syscall(scan, (size_t)main_idx, &r);
	if (!sc)
		goto out;
	out->main_syscall = sc->nr;
	if (is_futex_wait(sc)) {
		r = find_owner(scan->pid, sc, out);
		if (r < 0)
			goto out;
		out->main_blocked = out->held;
	}
	if (!out->held) {
		r = find_vcpu_waiter(scan, out);
		if (r < 0)
			goto out;
	}
	if (out->held)
		out->n_waiters = count_waiters(scan, out->futex_addr);
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

bool mg_probe_main_loop_idle(const struct mg_bql_result *b)
{
	return !b->held && (b->main_syscall == SYS_ppoll || b->main_syscall == SYS_poll);
}

/* _IO(KVMIO, 0x80), <linux/kvm.h>. */
#define KVM_RUN_IOCTL 0xae80

bool mg_probe_guest_running(struct mg_procfs_scan *scan)
{
	for (size_t i = 0; i < scan->n; i++) {
		const struct mg_procfs_syscall *sc;

		if (!is_vcpu(scan, i))
			continue;
		sc = mg_procfs_scan_syscall(scan, i, NULL);
		if (sc && (sc->nr == -2 || (sc->nr == SYS_ioctl && sc->args[1] == KVM_RUN_IOCTL)))
			return true;
	}
	return false;
}

int mg_probe_bql(pid_t pid, struct mg_bql_state *state, struct mg_bql_result *out)
{
	_cleanup_(mg_procfs_scan_clear) struct mg_procfs_scan scan = { 0 };

	mg_procfs_scan(pid, &scan);
	return mg_probe_bql_scan(&scan, state, out);
}
