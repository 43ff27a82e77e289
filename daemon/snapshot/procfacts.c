/* procfacts.c - see procfacts.h.  Everything here runs while the target
 * runs; the parsing is procfs.c's. */
#include "snapshot/procfacts.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "procfs.h"
#include "util.h"

static int cmp_tid(const void *a, const void *b)
{
	const struct mg_snap_thread *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

/* Names and kernel stacks are shown without trailing spaces. */
static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* For a futex wait, reads the word and the int 8 bytes further, which is
 * __owner when the word is a glibc pthread_mutex_t's __lock (x86_64 and
 * other LP64 layouts: int __lock; unsigned __count; int __owner; ...).
 * Both are read now, before any stop, so the stop stays short. */
static void read_futex(pid_t pid, struct mg_snap_thread *t)
{
	int32_t words[3];
	int op;

	if (!t->in_syscall || t->syscall_nr != SYS_futex)
		return;
	op = (int)t->args[1] & FUTEX_CMD_MASK;
	if (op != FUTEX_WAIT && op != FUTEX_WAIT_BITSET && op != FUTEX_LOCK_PI &&
	    op != FUTEX_WAIT_REQUEUE_PI)
		return;
	t->futex_wait = true;
	t->futex_addr = t->args[0];
	t->futex_op = op;
	t->futex_val = (uint32_t)t->args[2];
	if (mg_procfs_read_mem(pid, t->futex_addr, words, sizeof(words)) == 0) {
		t->word_valid = true;
		t->futex_word = (uint32_t)words[0];
		t->futex_owner_field = words[2];
	}
}

static void read_syscall(pid_t pid, struct mg_snap_thread *t)
{
	struct mg_procfs_syscall sc;

	if (mg_procfs_syscall(pid, t->tid, &sc) < 0 || sc.nr == -2)
		return;
	t->sp = sc.sp;
	t->pc = sc.pc;
	if (sc.nr < 0)
		return;		/* blocked outside a syscall */
	t->in_syscall = true;
	t->syscall_nr = sc.nr;
	memcpy(t->args, sc.args, sizeof(t->args));
}

static void read_thread(pid_t pid, struct mg_snap_thread *t)
{
	struct mg_procfs_stat st;
	char buf[4096];
	int r;

	if (mg_procfs_comm(pid, t->tid, t->name, sizeof(t->name)) < 0) {
		t->gone = true;
		return;
	}
	chomp(t->name);
	r = mg_procfs_stat(pid, t->tid, &st);
	if (st.state != '?')
		t->state = st.state;
	if (r == 0)
		t->kernel_worker = st.flags & MG_PROCFS_PF_USER_WORKER;
	mg_procfs_wchan(pid, t->tid, t->wchan, sizeof(t->wchan));
	read_syscall(pid, t);
	if (mg_procfs_kstack(pid, t->tid, buf, sizeof(buf)) == 0) {
		chomp(buf);
		if (buf[0])
			t->kstack = strdup(buf);
	}
	read_futex(pid, t);
}

/* The threads of the scan, sorted by tid (model.h's lookup relies on it). */
static int list_threads(struct mg_snapshot *snap)
{
	_cleanup_(mg_procfs_scan_clear) struct mg_procfs_scan scan = { 0 };
	int r = mg_procfs_scan(snap->pid, &scan);

	if (r < 0)
		return r;
	snap->threads = calloc(scan.n, sizeof(*snap->threads));
	if (!snap->threads)
		return -ENOMEM;
	for (size_t i = 0; i < scan.n; i++) {
		struct mg_snap_thread *t = &snap->threads[i];

		t->tid = scan.tasks[i].tid;
		t->syscall_nr = -1;
		t->state = '?';
	}
	snap->n_threads = scan.n;
	qsort(snap->threads, snap->n_threads, sizeof(*snap->threads), cmp_tid);
	return 0;
}

int mg_procfacts_read(struct mg_snapshot *snap)
{
	struct mg_procfs_syscall sc;
	int r;

	r = list_threads(snap);
	if (r < 0)
		return r;
	if (mg_procfs_comm(snap->pid, 0, snap->comm, sizeof(snap->comm)) == 0)
		chomp(snap->comm);
	/* syscall needs the same permission as ptrace: an early, clear EPERM. */
	if (mg_procfs_syscall(snap->pid, 0, &sc) == -EPERM)
		return -EPERM;
	snap->was_stopped = mg_procfs_state(snap->pid, snap->pid) == 'T';
	for (size_t i = 0; i < snap->n_threads; i++)
		read_thread(snap->pid, &snap->threads[i]);
	return 0;
}
