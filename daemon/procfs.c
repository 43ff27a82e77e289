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

/* Reads a "Key: value" file of pid and points *value after the key of the
 * line that starts with key. */
static int read_key(pid_t pid, const char *what, const char *key, char *buf, size_t size,
		    const char **value)
{
	ssize_t n = read_task_file(pid, 0, what, buf, size);
	size_t len = strlen(key);
	const char *p = buf;

	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ESRCH;
	while (strncmp(p, key, len) != 0) {
		p = strchr(p, '\n');
		if (!p)
			return -EINVAL;
		p++;
	}
	*value = p + len;
	return 0;
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

static int scan_add(struct mg_procfs_scan *s, pid_t tid)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct mg_procfs_task *nt = realloc(s->tasks, cap * sizeof(*nt));

		if (!nt)
			return -ENOMEM;
		s->tasks = nt;
		s->cap = cap;
	}
	s->tasks[s->n++] = (struct mg_procfs_task){ .tid = tid };
	return 0;
}

int mg_procfs_scan(pid_t pid, struct mg_procfs_scan *s)
{
	char path[32];
	struct dirent *de;
	DIR *d;
	int r = 0;

	s->pid = pid;
	s->n = 0;
	if (pid <= 0)
		return s->err = -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return s->err = proc_errno(-errno);
	while (r == 0 && (de = readdir(d))) {
		long long tid;

		if (mg_parse_int(de->d_name, 1, INT_MAX, &tid) == 0)
			r = scan_add(s, (pid_t)tid);
	}
	closedir(d);
	/* A process that exited after opendir lists no task. */
	if (r == 0 && s->n == 0)
		r = -ESRCH;
	if (r < 0)
		s->n = 0;
	return s->err = r;
}

void mg_procfs_scan_clear(struct mg_procfs_scan *s)
{
	free(s->tasks);
	*s = (struct mg_procfs_scan){ 0 };
}

ssize_t mg_procfs_scan_find(const struct mg_procfs_scan *s, pid_t tid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->tasks[i].tid == tid)
			return (ssize_t)i;
	return -1;
}

enum { HAVE_SYSCALL = 1, HAVE_COMM = 2 };

const struct mg_procfs_syscall *mg_procfs_scan_syscall(struct mg_procfs_scan *s, size_t i, int *err)
{
	struct mg_procfs_task *t = &s->tasks[i];

	if (!(t->have & HAVE_SYSCALL)) {
		t->syscall_err = mg_procfs_syscall(s->pid, t->tid, &t->sc);
		t->have |= HAVE_SYSCALL;
	}
	if (err)
		*err = t->syscall_err;
	return t->syscall_err < 0 ? NULL : &t->sc;
}

const char *mg_procfs_scan_comm(struct mg_procfs_scan *s, size_t i)
{
	struct mg_procfs_task *t = &s->tasks[i];

	if (!(t->have & HAVE_COMM)) {
		t->comm_err = mg_procfs_comm(s->pid, t->tid, t->comm, sizeof(t->comm));
		t->have |= HAVE_COMM;
	}
	return t->comm_err < 0 ? NULL : t->comm;
}
