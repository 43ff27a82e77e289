/* procfs.c - see procfs.h. */
#include "procfs.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* ENOENT on /proc means the process (or thread) went away, so does ESRCH
 * from a read after it exited; EACCES is the ptrace access check. */
static int proc_errno(int r)
{
	if (r == -ENOENT || r == -ESRCH)
		return -ESRCH;
	if (r == -EACCES)
		return -EPERM;
	return r;
}

static void task_path(char *path, size_t size, pid_t pid, pid_t tid, const char *what)
{
	if (tid > 0)
		snprintf(path, size, "/proc/%d/task/%d/%s", (int)pid, (int)tid, what);
	else
		snprintf(path, size, "/proc/%d/%s", (int)pid, what);
}

/* Reads one file of pid (or of its task tid) into buf, NUL-terminated. */
static ssize_t read_task_file(pid_t pid, pid_t tid, const char *what, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	if (pid <= 0)
		return -EINVAL;
	task_path(path, sizeof(path), pid, tid, what);
	n = mg_read_file(path, buf, size);
	return n < 0 ? proc_errno((int)n) : n;
}

/* Strips the one newline the kernel ends a line with. */
static void strip_newline(char *s, size_t len)
{
	if (len && s[len - 1] == '\n')
		s[len - 1] = '\0';
}

static bool is_sep(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses an unsigned number in base at *p (after any spaces or tabs) and
 * moves *p past it; the number must end at a separator, a newline or the
 * end of the buffer.  0 or -EINVAL. */
static int next_u64(const char **p, int base, uint64_t *out)
{
	const char *s = *p;
	char *end;
	unsigned long long v;

	while (is_sep(*s))
		s++;
	if (!((*s >= '0' && *s <= '9') || (base == 16 && ((*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno == ERANGE || end == s || (!is_sep(*end) && *end != '\n' && *end != '\0'))
		return -EINVAL;
	*out = v;
	*p = end;
	return 0;
}

static int parse_syscall(const char *buf, struct mg_procfs_syscall *sc)
{
	const char *p = buf;
	uint64_t v[8];
	char *end;
	long nr;
	int n = 0;

	memset(sc, 0, sizeof(*sc));
	if (strncmp(buf, "running", 7) == 0) {
		sc->nr = -2;
		return 0;
	}
	errno = 0;
	nr = strtol(p, &end, 10);
	if (errno == ERANGE || end == p || nr < -1 || nr > INT_MAX)
		return -EINVAL;
	p = end;
	while (n < 8 && next_u64(&p, 16, &v[n]) == 0)
		n++;
	while (*p == ' ' || *p == '\n')
		p++;
	if (*p != '\0')
		return -EINVAL;
	sc->nr = nr;
	if (nr == -1 && n == 2) {
		sc->sp = v[0];
		sc->pc = v[1];
		return 0;
	}
	if (nr < 0 || n != 8)
		return -EINVAL;
	memcpy(sc->args, v, sizeof(sc->args));
	sc->sp = v[6];
	sc->pc = v[7];
	return 0;
}

int mg_procfs_syscall(pid_t pid, pid_t tid, struct mg_procfs_syscall *out)
{
	char buf[256];
	ssize_t n = read_task_file(pid, tid, "syscall", buf, sizeof(buf));

	memset(out, 0, sizeof(*out));
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ESRCH;	/* the task exited between open and read */
	return parse_syscall(buf, out);
}

/* A one-line file without its newline; buf is "" on error. */
static int read_line(pid_t pid, pid_t tid, const char *what, char *buf, size_t size)
{
	ssize_t n = read_task_file(pid, tid, what, buf, size);

	if (n < 0) {
		if (size)
			buf[0] = '\0';
		return (int)n;
	}
	strip_newline(buf, (size_t)n);
	return 0;
}

int mg_procfs_comm(pid_t pid, pid_t tid, char *buf, size_t size)
{
	return read_line(pid, tid, "comm", buf, size);
}

/* Fields 3.. of stat, after the last ')' of COMM. */
static int parse_stat(const char *buf, struct mg_procfs_stat *st)
{
	const char *p = strrchr(buf, ')');
	uint64_t v;

	memset(st, 0, sizeof(*st));
	st->state = '?';
	if (!p || p[1] != ' ' || !p[2] || p[2] == ' ')
		return -EINVAL;
	st->state = p[2];
	p += 3;
	/* fields 4 (ppid) to 22 (starttime); pgrp, session, tty_nr and tpgid
	 * may be negative, so they are skipped as words */
	for (int field = 4; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (field == 9 || field == 22) {
			if (next_u64(&p, 10, &v) < 0)
				return -EINVAL;
			if (field == 9)
				st->flags = (unsigned long)v;
			else
				st->start_time = v;
			continue;
		}
		if (!*p || *p == '\n')
			return -EINVAL;
		p += strcspn(p, " \n");
	}
	return 0;
}

int mg_procfs_stat(pid_t pid, pid_t tid, struct mg_procfs_stat *out)
{
	char buf[1024];
	ssize_t n = read_task_file(pid, tid, "stat", buf, sizeof(buf));

	memset(out, 0, sizeof(*out));
	out->state = '?';
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ESRCH;
	return parse_stat(buf, out);
}

char mg_procfs_state(pid_t pid, pid_t tid)
{
	struct mg_procfs_stat st;

	mg_procfs_stat(pid, tid, &st);
	return st.state;
}

bool mg_procfs_exiting(pid_t pid, pid_t tid)
{
	struct mg_procfs_stat st;
	int r = mg_procfs_stat(pid, tid, &st);

	if (st.state == '?')
		return true;	/* gone, or no state to judge by */
	if (st.state == 'Z' || st.state == 'X')
		return true;
	return r == 0 && (st.flags & MG_PROCFS_PF_EXITING);
}

int mg_procfs_wchan(pid_t pid, pid_t tid, char *buf, size_t size)
{
	int r = read_line(pid, tid, "wchan", buf, size);

	if (r == 0 && strcmp(buf, "0") == 0)
		buf[0] = '\0';
	return r;
}

int mg_procfs_kstack(pid_t pid, pid_t tid, char *buf, size_t size)
{
	return read_line(pid, tid, "stack", buf, size);
}

int mg_procfs_start_time(pid_t pid, uint64_t *start)
{
	struct mg_procfs_stat st;
	int r = mg_procfs_stat(pid, 0, &st);

	if (r < 0)
		return r;
	*start = st.start_time;
	return 0;
}

/* Points *value after key in the line of buf that starts with it. */
static int find_key(const char *buf, const char *key, const char **value)
{
	size_t len = strlen(key);
	const char *p = buf;

	while (strncmp(p, key, len) != 0) {
		p = strchr(p, '\n');
		if (!p)
			return -EINVAL;
		p++;
	}
	*value = p + len;
	return 0;
}

/* Reads a "Key: value" file of pid and points *value after the key of the
 * line that starts with key. */
static int read_key(pid_t pid, const char *what, const char *key, char *buf, size_t size,
		    const char **value)
{
	ssize_t n = read_task_file(pid, 0, what, buf, size);

	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ESRCH;
	return find_key(buf, key, value);
}

int mg_procfs_uids(pid_t pid, uid_t uids[4])
{
	char buf[4096];
	const char *p;
	int r = read_key(pid, "status", "Uid:", buf, sizeof(buf), &p);

	if (r < 0)
		return r;
	for (int i = 0; i < 4; i++) {
		uint64_t v;

		if (next_u64(&p, 10, &v) < 0 || v > UINT32_MAX)
			return -EINVAL;
		uids[i] = (uid_t)v;
	}
	return 0;
}

bool mg_procfs_has_task(pid_t pid, pid_t tid)
{
	char path[64];

	if (pid <= 0 || tid <= 0)
		return false;
	if (tid == pid)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)pid, (int)tid);
	return access(path, F_OK) == 0;
}

int mg_procfs_io_rchar(pid_t pid, uint64_t *out)
{
	char buf[1024];
	const char *p;
	int r = read_key(pid, "io", "rchar:", buf, sizeof(buf), &p);

	return r < 0 ? r : next_u64(&p, 10, out);
}

int mg_procfs_io_wchar(pid_t pid, uint64_t *out)
{
	char buf[1024];
	const char *p;
	int r = read_key(pid, "io", "wchar:", buf, sizeof(buf), &p);

	return r < 0 ? r : next_u64(&p, 10, out);
}

int mg_procfs_schedstat(pid_t pid, pid_t tid, struct mg_procfs_schedstat *out)
{
	char buf[128];
	const char *p = buf;
	ssize_t n = read_task_file(pid, tid, "schedstat", buf, sizeof(buf));

	memset(out, 0, sizeof(*out));
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ESRCH;
	if (next_u64(&p, 10, &out->run_ns) < 0 || next_u64(&p, 10, &out->wait_ns) < 0 ||
	    next_u64(&p, 10, &out->timeslices) < 0)
		return -EINVAL;
	return 0;
}

int mg_procfs_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	_cleanup_close_ int fd = -1;
	char path[32];
	ssize_t n;

	if (pid <= 0)
		return -EINVAL;
	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && errno == ESRCH)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return proc_errno(-errno);
	n = pread(fd, buf, len, (off_t)addr);
	if (n < 0)
		return proc_errno(-errno);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* --- the task list -------------------------------------------------------- */

enum { HAVE_SYSCALL = 1, HAVE_COMM = 2 };

static void task_close(struct mg_procfs_scan *s, struct mg_procfs_task *t)
{
	if (t->open & HAVE_SYSCALL) {
		close(t->syscall_fd);
		s->n_fds--;
	}
	if (t->open & HAVE_COMM) {
		close(t->comm_fd);
		s->n_fds--;
	}
	t->open = 0;
}

/* Closes the directory and every task's files: the scan starts afresh. */
static void scan_close(struct mg_procfs_scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		task_close(s, &s->tasks[i]);
	if (s->dir)
		closedir(s->dir);
	s->dir = NULL;
	if (s->io_open)
		close(s->io_fd);
	s->io_open = false;
	s->n = 0;
}

static int scan_grow(struct mg_procfs_scan *s, size_t need)
{
	size_t cap = s->cap ? s->cap : 64;
	struct mg_procfs_task *a, *b;

	if (need <= s->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	a = realloc(s->tasks, cap * sizeof(*a));
	if (!a)
		return -ENOMEM;
	s->tasks = a;
	b = realloc(s->spare, cap * sizeof(*b));
	if (!b)
		return -ENOMEM;
	s->spare = b;
	s->cap = cap;
	return 0;
}

/* The task tid of the old list (tasks[0..n)), or NULL. */
static struct mg_procfs_task *old_task(struct mg_procfs_scan *s, pid_t tid, size_t hint)
{
	/* The kernel lists threads in creation order, so the old entry is
	 * usually at the same index or just before it. */
	for (size_t k = 0; k < s->n; k++) {
		size_t i = (hint + k) % s->n;

		if (s->tasks[i].tid == tid)
			return &s->tasks[i];
	}
	return NULL;
}

/* Lists the directory into the spare array, carrying over the kept files
 * of the tasks still there, and closes those of the tasks gone. */
static int scan_list(struct mg_procfs_scan *s)
{
	struct mg_procfs_task *t;
	struct dirent *de;
	size_t n = 0;
	int r = 0;

	rewinddir(s->dir);
	while ((de = readdir(s->dir))) {
		long long tid;

		if (mg_parse_int(de->d_name, 1, INT_MAX, &tid) < 0)
			continue;
		/* Grows both arrays: the old list stays valid in tasks. */
		r = scan_grow(s, n + 1);
		if (r < 0)
			break;
		t = old_task(s, (pid_t)tid, n);
		if (t && t->tid > 0) {
			s->spare[n] = *t;
			if (t->tid == s->pid)
				s->spare[n].comm_final = false;
			t->tid = 0;	/* carried over: not closed below */
			t->open = 0;
		} else {
			s->spare[n] = (struct mg_procfs_task){ .tid = (pid_t)tid };
		}
		n++;
	}
	for (size_t i = 0; i < s->n; i++)
		task_close(s, &s->tasks[i]);
	t = s->tasks;
	s->tasks = s->spare;
	s->spare = t;
	s->n = n;
	return r;
}

/* The thread count from the directory's link count, or -1 when unknown. */
static long scan_count(struct mg_procfs_scan *s)
{
	struct stat st;

	if (fstat(dirfd(s->dir), &st) < 0 || st.st_nlink < 2)
		return -1;
	return (long)st.st_nlink - 2;
}

int mg_procfs_scan(pid_t pid, struct mg_procfs_scan *s)
{
	int r = 0;

	if (s->dir && s->pid != pid)
		scan_close(s);
	s->pid = pid;
	if (pid <= 0) {
		s->n = 0;
		return s->err = -EINVAL;
	}
	if (!s->dir) {
		char path[32];

		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		s->dir = opendir(path);
		if (!s->dir) {
			s->n = 0;
			return s->err = proc_errno(-errno);
		}
		s->stale = true;
	}
	if (s->stale || scan_count(s) != (long)s->n)
		r = scan_list(s);
	s->stale = false;
	for (size_t i = 0; i < s->n; i++)
		s->tasks[i].have = 0;
	/* A process that exited lists no task. */
	if (r == 0 && s->n == 0)
		r = -ESRCH;
	if (r < 0) {
		/* Listed afresh next time, from a directory opened again (a
		 * new process may have the pid by then). */
		scan_close(s);
	}
	return s->err = r;
}

void mg_procfs_scan_clear(struct mg_procfs_scan *s)
{
	scan_close(s);
	free(s->tasks);
	free(s->spare);
	*s = (struct mg_procfs_scan){ 0 };
}

ssize_t mg_procfs_scan_find(const struct mg_procfs_scan *s, pid_t tid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->tasks[i].tid == tid)
			return (ssize_t)i;
	return -1;
}

/* Reads file `what` of task t through its kept descriptor (opened here, on
 * first use, relative to the task directory); falls back to an open and
 * close per read beyond MG_PROCFS_KEEP_FDS or when descriptors run out.
 * Returns the length read, or -errno as read_task_file(); a task gone
 * marks the list stale. */
static ssize_t task_pread(struct mg_procfs_scan *s, struct mg_procfs_task *t, unsigned which,
			  char *buf, size_t size)
{
	const char *what = which == HAVE_SYSCALL ? "syscall" : "comm";
	int *fd = which == HAVE_SYSCALL ? &t->syscall_fd : &t->comm_fd;
	_cleanup_close_ int once = -1;
	char rel[32];
	ssize_t n;
	int f;

	if (!(t->open & which)) {
		snprintf(rel, sizeof(rel), "%d/%s", (int)t->tid, what);
		f = openat(dirfd(s->dir), rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (f < 0) {
			n = proc_errno(-errno);
			goto out;
		}
		if (s->n_fds < MG_PROCFS_KEEP_FDS) {
			*fd = f;
			t->open |= which;
			s->n_fds++;
		} else {
			once = f;
		}
	}
	do
		n = pread(once >= 0 ? once : *fd, buf, size - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = proc_errno(-errno);
	else if (n == 0)
		n = -ESRCH;	/* the task exited between open and read */
	else
		buf[n] = '\0';
	if (n == -ESRCH && (t->open & which)) {
		/* Its tid may come back with a new thread: not this file. */
		close(*fd);
		t->open &= ~which;
		s->n_fds--;
	}
out:
	if (n == -ESRCH)
		s->stale = true;
	return n;
}

const struct mg_procfs_syscall *mg_procfs_scan_syscall(struct mg_procfs_scan *s, size_t i, int *err)
{
	struct mg_procfs_task *t = &s->tasks[i];

	if (!(t->have & HAVE_SYSCALL)) {
		char buf[256];
		ssize_t n = task_pread(s, t, HAVE_SYSCALL, buf, sizeof(buf));

		memset(&t->sc, 0, sizeof(t->sc));
		t->syscall_err = n < 0 ? (int)n : parse_syscall(buf, &t->sc);
		t->have |= HAVE_SYSCALL;
	}
	if (err)
		*err = t->syscall_err;
	return t->syscall_err < 0 ? NULL : &t->sc;
}

/* A thread has its creator's name until it names itself, which QEMU's
 * threads do first thing (qemu_thread_start, with debug-threads=on) and
 * never again: a name that differs from the main thread's is final and is
 * not read again while the thread lives (its descriptor is closed).  The
 * main thread's own name is read again when the list is. */
static void comm_settle(struct mg_procfs_scan *s, struct mg_procfs_task *t)
{
	const char *main_comm;
	ssize_t m;

	if (t->tid == s->pid) {
		t->comm_final = true;
	} else {
		m = mg_procfs_scan_find(s, s->pid);
		main_comm = m >= 0 ? mg_procfs_scan_comm(s, (size_t)m) : NULL;
		t->comm_final = main_comm && strcmp(t->comm, main_comm) != 0;
	}
	if (t->comm_final && (t->open & HAVE_COMM)) {
		close(t->comm_fd);
		t->open &= ~HAVE_COMM;
		s->n_fds--;
	}
}

const char *mg_procfs_scan_comm(struct mg_procfs_scan *s, size_t i)
{
	struct mg_procfs_task *t = &s->tasks[i];

	if (!(t->have & HAVE_COMM) && !t->comm_final) {
		ssize_t n = task_pread(s, t, HAVE_COMM, t->comm, sizeof(t->comm));

		t->comm_err = n < 0 ? (int)n : 0;
		t->have |= HAVE_COMM;
		if (n < 0) {
			t->comm[0] = '\0';
		} else {
			strip_newline(t->comm, (size_t)n);
			comm_settle(s, t);
		}
	}
	return t->comm_err < 0 ? NULL : t->comm;
}

int mg_procfs_scan_io_rchar(struct mg_procfs_scan *s, uint64_t *out)
{
	char buf[1024];
	const char *p;
	ssize_t n;

	if (s->err < 0 || !s->dir)
		return s->err < 0 ? s->err : -ESRCH;
	if (!s->io_open) {
		/* Through the kept directory, like the tasks' files: the
		 * process's own io, not a later holder of the pid's. */
		s->io_fd = openat(dirfd(s->dir), "../io", O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (s->io_fd < 0)
			return proc_errno(-errno);
		s->io_open = true;
	}
	do
		n = pread(s->io_fd, buf, sizeof(buf) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return proc_errno(-errno);
	if (n == 0)
		return -ESRCH;
	buf[n] = '\0';
	return find_key(buf, "rchar:", &p) < 0 ? -EINVAL : next_u64(&p, 10, out);
}
