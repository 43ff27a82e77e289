/* proc.c - see proc.h.  Everything here runs while the target runs. */
#include "snapshot/proc.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "log.h"
#include "util.h"

/* Task flags from include/linux/sched.h, shown in /proc/.../stat field 9. */
#define MG_PF_EXITING 0x4
/* Since Linux 6.4: kernel threads that live in a user process (vhost
 * workers, KVM's "kvm-nx-lpage-recovery").  They have no user stack;
 * unwinding one costs milliseconds of garbage, so they are not stopped. */
#define MG_PF_USER_WORKER 0x4000

static int cmp_tid(const void *a, const void *b)
{
	const struct mg_snap_thread *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* The state letter is the first field after the last ')' of stat, since
 * comm may itself hold spaces and parentheses ("CPU 0/KVM"). */
static char parse_stat_state(const char *stat)
{
	const char *p = strrchr(stat, ')');

	return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

char mg_proc_thread_state(pid_t pid, pid_t tid)
{
	char path[64], buf[1024];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	if (mg_read_file(path, buf, sizeof(buf)) < 0)
		return '?';
	return parse_stat_state(buf);
}

bool mg_proc_thread_exiting(pid_t pid, pid_t tid)
{
	char path[64], buf[1024];
	const char *p;
	unsigned long flags;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	if (mg_read_file(path, buf, sizeof(buf)) < 0 || !(p = strrchr(buf, ')')))
		return true;
	if (p[2] == 'Z' || p[2] == 'X')
		return true;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	return flags & MG_PF_EXITING;
}

int mg_proc_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

static const char *state_name(char s)
{
	switch (s) {
	case 'R': return "running";
	case 'S': return "sleeping";
	case 'D': return "disk sleep";
	case 'T': return "stopped";
	case 't': return "tracing stop";
	case 'Z': return "zombie";
	case 'X': return "dead";
	case 'I': return "idle";
	default: return "unknown";
	}
}

int mg_proc_describe(pid_t pid, char *comm, size_t comm_size, char *state, size_t state_size)
{
	char path[64], buf[1024];
	char s;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (mg_read_file(path, buf, sizeof(buf)) < 0)
		return -ESRCH;
	s = parse_stat_state(buf);
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (mg_read_file(path, comm, comm_size) < 0)
		snprintf(comm, comm_size, "?");
	chomp(comm);
	snprintf(state, state_size, "%c (%s)", s, state_name(s));
	return 0;
}

/* "nr a0 a1 a2 a3 a4 a5 sp pc", "-1 sp pc" (blocked outside a syscall) or
 * "running". */
static void parse_syscall(struct mg_snap_thread *t, const char *buf)
{
	unsigned long long v[9];
	long nr;
	int n;

	if (strncmp(buf, "running", 7) == 0)
		return;
	n = sscanf(buf, "%ld %llx %llx %llx %llx %llx %llx %llx %llx", &nr, &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]);
	if (n == 3 && nr == -1) {
		t->sp = v[0];
		t->pc = v[1];
		return;
	}
	if (n != 9)
		return;
	t->in_syscall = true;
	t->syscall_nr = nr;
	for (int i = 0; i < 6; i++)
		t->args[i] = v[i];
	t->sp = v[6];
	t->pc = v[7];
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
	if (mg_proc_read_mem(pid, t->futex_addr, words, sizeof(words)) == 0) {
		t->word_valid = true;
		t->futex_word = (uint32_t)words[0];
		t->futex_owner_field = words[2];
	}
}

static void read_thread(pid_t pid, struct mg_snap_thread *t)
{
	char path[96], buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, t->tid);
	if (mg_read_file(path, t->name, sizeof(t->name)) < 0) {
		t->gone = true;
		return;
	}
	chomp(t->name);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, t->tid);
	if (mg_read_file(path, buf, sizeof(buf)) >= 0) {
		const char *p = strrchr(buf, ')');
		unsigned long flags;

		t->state = parse_stat_state(buf);
		/* after ") ": state ppid pgrp session tty_nr tpgid flags */
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %lu", &flags) == 1)
			t->kernel_worker = flags & MG_PF_USER_WORKER;
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", pid, t->tid);
	if (mg_read_file(path, t->wchan, sizeof(t->wchan)) < 0 || strcmp(t->wchan, "0") == 0)
		t->wchan[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, t->tid);
	if (mg_read_file(path, buf, sizeof(buf)) >= 0)
		parse_syscall(t, buf);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", pid, t->tid);
	if (mg_read_file(path, buf, sizeof(buf)) > 0) {
		chomp(buf);
		if (buf[0])
			t->kstack = strdup(buf);
	}
	read_futex(pid, t);
}

static int list_tids(pid_t pid, struct mg_snap_thread **out, size_t *n_out)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	struct mg_snap_thread *ts = NULL;
	size_t n = 0, cap = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(d))) {
		long long tid;

		if (mg_parse_int(de->d_name, 1, INT_MAX, &tid) < 0)
			continue;
		if (n == cap) {
			struct mg_snap_thread *nt;

			cap = cap ? cap * 2 : 64;
			nt = realloc(ts, cap * sizeof(*ts));
			if (!nt) {
				closedir(d);
				free(ts);
				return -ENOMEM;
			}
			ts = nt;
		}
		memset(&ts[n], 0, sizeof(ts[n]));
		ts[n].tid = (pid_t)tid;
		ts[n].syscall_nr = -1;
		ts[n++].state = '?';
	}
	closedir(d);
	qsort(ts, n, sizeof(*ts), cmp_tid);
	*out = ts;
	*n_out = n;
	return 0;
}

int mg_proc_read_threads(struct mg_snapshot *snap)
{
	char path[64], buf[64];
	int r;

	r = list_tids(snap->pid, &snap->threads, &snap->n_threads);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/%d/comm", snap->pid);
	if (mg_read_file(path, snap->comm, sizeof(snap->comm)) >= 0)
		chomp(snap->comm);
	/* syscall needs the same permission as ptrace: an early, clear EPERM. */
	snprintf(path, sizeof(path), "/proc/%d/syscall", snap->pid);
	r = mg_read_file(path, buf, sizeof(buf));
	if (r == -EPERM || r == -EACCES)
		return -EPERM;
	snap->was_stopped = mg_proc_thread_state(snap->pid, snap->pid) == 'T';
	for (size_t i = 0; i < snap->n_threads; i++)
		read_thread(snap->pid, &snap->threads[i]);
	return 0;
}
