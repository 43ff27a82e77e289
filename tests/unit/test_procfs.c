/* Unit tests of the /proc reader (procfs.c) on real processes: the test's
 * own threads (named, blocked in known syscalls), children that exit before
 * or while they are read, and a child whose threads come and go during
 * reads. */
#include "procfs.h"
#include "probe.h"
#include "util.h"

#include "mgcheck.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A thread of this process blocked in read(2) on a pipe, under a name. */
struct blocked {
	pthread_t th;
	pid_t tid;
	int pipe[2];
	const char *name;
	int ready[2];
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	char c;

	pthread_setname_np(pthread_self(), b->name);
	if (write(b->ready[1], &tid, sizeof(tid)) != sizeof(tid))
		return NULL;
	while (read(b->pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void blocked_start(struct blocked *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	ck_assert_int_eq(pipe(b->pipe), 0);
	ck_assert_int_eq(pipe(b->ready), 0);
	ck_assert_int_eq(pthread_create(&b->th, NULL, blocked_main, b), 0);
	ck_assert_int_eq(read(b->ready[0], &b->tid, sizeof(b->tid)), sizeof(b->tid));
}

/* Waits (at most 2 s) until the thread sits in read(2). */
static void blocked_wait_in_read(struct blocked *b)
{
	for (int i = 0; i < 2000; i++) {
		struct mg_procfs_syscall sc;

		if (mg_procfs_syscall(getpid(), b->tid, &sc) == 0 && sc.nr == SYS_read)
			return;
		usleep(1000);
	}
	ck_abort_msg("thread %d never blocked in read", (int)b->tid);
}

static void blocked_stop(struct blocked *b)
{
	char path[64];

	ck_assert_int_eq(write(b->pipe[1], "x", 1), 1);
	ck_assert_int_eq(pthread_join(b->th, NULL), 0);
	/* pthread_join returns at the kernel's clear-tid wake-up, before the
	 * task is released: its /proc entry may linger a moment. */
	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)b->tid);
	for (int i = 0; i < 2000 && access(path, F_OK) == 0; i++)
		usleep(1000);
	ck_assert_msg(access(path, F_OK) != 0, "thread %d still in /proc 2 s after its join", (int)b->tid);
	close(b->pipe[0]);
	close(b->pipe[1]);
	close(b->ready[0]);
	close(b->ready[1]);
}

START_TEST(test_scan_lists_own_threads_with_their_names)
{
	_cleanup_(mg_procfs_scan_clear) struct mg_procfs_scan s = { 0 };
	struct blocked b1, b2;
	ssize_t i1, i2, self;

	blocked_start(&b1, "mg reader 1");
	blocked_start(&b2, "a) b (c");
	ck_assert_int_eq(mg_procfs_scan(getpid(), &s), 0);
	ck_assert_int_ge(s.n, 3);
	self = mg_procfs_scan_find(&s, getpid());
	i1 = mg_procfs_scan_find(&s, b1.tid);
	i2 = mg_procfs_scan_find(&s, b2.tid);
	ck_assert_int_ge(self, 0);
	ck_assert_int_ge(i1, 0);
	ck_assert_int_ge(i2, 0);
	ck_assert_str_eq(mg_procfs_scan_comm(&s, (size_t)i1), "mg reader 1");
	ck_assert_str_eq(mg_procfs_scan_comm(&s, (size_t)i2), "a) b (c");
	ck_assert_int_eq(mg_procfs_scan_find(&s, mg_test_dead_pid()), -1);
	blocked_stop(&b1);
	blocked_stop(&b2);
}
END_TEST

START_TEST(test_syscall_line_of_thread_blocked_in_read)
{
	_cleanup_(mg_procfs_scan_clear) struct mg_procfs_scan s = { 0 };
	const struct mg_procfs_syscall *sc;
	struct mg_procfs_syscall own;
	struct blocked b;
	ssize_t i;
	int err = 1;

	blocked_start(&b, "mg reader");
	blocked_wait_in_read(&b);
	ck_assert_int_eq(mg_procfs_scan(getpid(), &s), 0);
	i = mg_procfs_scan_find(&s, b.tid);
	ck_assert_int_ge(i, 0);
	sc = mg_procfs_scan_syscall(&s, (size_t)i, &err);
	ck_assert_ptr_nonnull(sc);
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(sc->nr, SYS_read);
	ck_assert_uint_eq(sc->args[0], (uint64_t)b.pipe[0]);
	ck_assert_uint_eq(sc->args[2], 1);
	ck_assert_uint_ne(sc->sp, 0);
	ck_assert_uint_ne(sc->pc, 0);
	/* A thread reading its own line sees the read(2) it is in. */
	ck_assert_int_eq(mg_procfs_syscall(getpid(), (pid_t)syscall(SYS_gettid), &own), 0);
	ck_assert_int_eq(own.nr, SYS_read);
	blocked_stop(&b);
}
END_TEST

static atomic_bool spin_stop;
static atomic_int spin_tid;

static void *spin_main(void *arg)
{
	atomic_store(&spin_tid, (int)syscall(SYS_gettid));
	while (!atomic_load(&spin_stop))
		;
	return arg;
}

START_TEST(test_syscall_line_of_running_thread)
{
	struct mg_procfs_syscall sc = { .nr = 0 };
	pthread_t th;

	ck_assert_int_eq(pthread_create(&th, NULL, spin_main, NULL), 0);
	while (!atomic_load(&spin_tid))
		usleep(1000);
	for (int i = 0; i < 2000 && sc.nr != -2; i++) {
		int r = mg_procfs_syscall(getpid(), (pid_t)atomic_load(&spin_tid), &sc);

		ck_assert_int_eq(r, 0);
		if (sc.nr != -2)
			usleep(1000);
	}
	ck_assert_int_eq(sc.nr, -2);
	atomic_store(&spin_stop, true);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
}
END_TEST

START_TEST(test_stat_reads_state_after_a_name_with_parentheses)
{
	struct mg_procfs_stat st, proc_st;
	struct blocked b;
	uint64_t start;

	blocked_start(&b, "x) S (y");
	blocked_wait_in_read(&b);
	ck_assert_int_eq(mg_procfs_stat(getpid(), b.tid, &st), 0);
	ck_assert_int_eq(st.state, 'S');
	ck_assert_int_eq(mg_procfs_state(getpid(), b.tid), 'S');
	ck_assert(!mg_procfs_exiting(getpid(), b.tid));
	ck_assert(!(st.flags & MG_PROCFS_PF_USER_WORKER));
	/* Every thread's start time is at or after the process's. */
	ck_assert_int_eq(mg_procfs_stat(getpid(), 0, &proc_st), 0);
	ck_assert_int_eq(mg_procfs_start_time(getpid(), &start), 0);
	ck_assert_uint_eq(start, proc_st.start_time);
	ck_assert_uint_gt(start, 0);
	ck_assert_uint_ge(st.start_time, start);
	blocked_stop(&b);
}
END_TEST

START_TEST(test_uids_io_and_tasks_of_self)
{
	char buf[4096], wchan[64], kstack[4096];
	struct mg_procfs_schedstat ss1, ss2;
	uid_t uids[4];
	uint64_t before, after;
	int fd;

	ck_assert_int_eq(mg_procfs_uids(getpid(), uids), 0);
	ck_assert_uint_eq(uids[0], getuid());
	ck_assert_uint_eq(uids[1], geteuid());
	ck_assert_int_eq(mg_procfs_io_rchar(getpid(), &before), 0);
	fd = open("/proc/self/stat", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_gt(read(fd, buf, sizeof(buf)), 0);
	close(fd);
	ck_assert_int_eq(mg_procfs_io_rchar(getpid(), &after), 0);
	ck_assert_uint_gt(after, before);
	/* CPU time: some already, and it never goes back (the kernel adds a
	 * running task's time at ticks and switches, so it may not grow yet). */
	ck_assert_int_eq(mg_procfs_schedstat(getpid(), (pid_t)syscall(SYS_gettid), &ss1), 0);
	ck_assert_uint_gt(ss1.run_ns, 0);
	usleep(10000);
	ck_assert_int_eq(mg_procfs_schedstat(getpid(), (pid_t)syscall(SYS_gettid), &ss2), 0);
	ck_assert_uint_ge(ss2.run_ns, ss1.run_ns);
	ck_assert_uint_gt(ss2.timeslices, ss1.timeslices);
	ck_assert(mg_procfs_has_task(getpid(), getpid()));
	ck_assert(mg_procfs_has_task(getpid(), (pid_t)syscall(SYS_gettid)));
	ck_assert(!mg_procfs_has_task(getpid(), mg_test_dead_pid()));
	ck_assert(!mg_procfs_has_task(getpid(), 0));
	/* wchan and the kernel stack may be hidden (kptr_restrict, not root):
	 * then the buffer is empty, never garbage. */
	mg_procfs_wchan(getpid(), 0, wchan, sizeof(wchan));
	ck_assert_uint_lt(strlen(wchan), sizeof(wchan));
	if (mg_procfs_kstack(getpid(), 0, kstack, sizeof(kstack)) < 0)
		ck_assert_str_eq(kstack, "");
}
END_TEST

static volatile uint64_t magic = UINT64_C(0x6d6967677561726d);

START_TEST(test_read_mem_of_child_and_unmapped_address)
{
	pid_t pid = fork();
	uint64_t v = 0;
	int r;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	/* Same address in the child (fork): the value it holds. */
	ck_assert_int_eq(mg_procfs_read_mem(pid, (uint64_t)(uintptr_t)&magic, &v, sizeof(v)), 0);
	ck_assert_uint_eq(v, magic);
	r = mg_procfs_read_mem(pid, 8, &v, sizeof(v));
	ck_assert_msg(r == -EIO || r == -EFAULT, "unmapped read gave %d", r);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	ck_assert_int_eq(mg_procfs_read_mem(pid, (uint64_t)(uintptr_t)&magic, &v, sizeof(v)), -ESRCH);
}
END_TEST

START_TEST(test_gone_process_is_esrch_everywhere)
{
	_cleanup_(mg_procfs_scan_clear) struct mg_procfs_scan s = { 0 };
	pid_t pid = mg_test_dead_pid();
	struct mg_procfs_syscall sc;
	struct mg_procfs_stat st;
	char comm[16] = "x";
	uid_t uids[4];
	uint64_t v;

	ck_assert_int_eq(mg_procfs_scan(pid, &s), -ESRCH);
	ck_assert_int_eq(s.err, -ESRCH);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_int_eq(mg_procfs_syscall(pid, pid, &sc), -ESRCH);
	ck_assert_int_eq(mg_procfs_comm(pid, 0, comm, sizeof(comm)), -ESRCH);
	ck_assert_str_eq(comm, "");
	ck_assert_int_eq(mg_procfs_stat(pid, pid, &st), -ESRCH);
	ck_assert_int_eq(st.state, '?');
	ck_assert_int_eq(mg_procfs_state(pid, pid), '?');
	ck_assert(mg_procfs_exiting(pid, pid));
	ck_assert_int_eq(mg_procfs_start_time(pid, &v), -ESRCH);
	ck_assert_int_eq(mg_procfs_uids(pid, uids), -ESRCH);
	ck_assert_int_eq(mg_procfs_io_rchar(pid, &v), -ESRCH);
	ck_assert_int_eq(mg_procfs_scan(0, &s), -EINVAL);
	ck_assert_int_eq(mg_procfs_scan(-1, &s), -EINVAL);
}
END_TEST

/* Forks a child that runs setup() and then only sleeps; returns once
 * setup() is done.  The test kills and reaps it. */
static pid_t child_start(void (*setup)(void))
{
	int ready[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setup();
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	close(ready[1]);
	return pid;
}

static void child_with_reader(void)
{
	static struct blocked b;

	blocked_start(&b, "child reader");
}

/* The child exits between the scan and the reads of its tasks' files: every
 * read says -ESRCH (or has nothing), and the BQL probe on that scan too. */
START_TEST(test_child_exiting_after_the_scan)
{
	_cleanup_(mg_procfs_scan_clear) struct mg_procfs_scan s = { 0 };
	struct mg_bql_result res;
	struct mg_bql_state state = { 0 };
	pid_t pid = child_start(child_with_reader);
	int err = 0;

	ck_assert_int_eq(mg_procfs_scan(pid, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	for (size_t i = 0; i < s.n; i++) {
		ck_assert_ptr_null(mg_procfs_scan_syscall(&s, i, &err));
		ck_assert_int_eq(err, -ESRCH);
		ck_assert_ptr_null(mg_procfs_scan_comm(&s, i));
	}
	ck_assert_int_eq(mg_probe_bql_scan(&s, &state, &res), -ESRCH);
	ck_assert(!res.held);
}
END_TEST

static void *short_thread(void *arg)
{
	return arg;
}

/* A child whose threads start and end all the time, read over and over:
 * every answer is data or -ESRCH, never a crash or another error. */
START_TEST(test_threads_vanishing_during_reads)
{
	_cleanup_(mg_procfs_scan_clear) struct mg_procfs_scan s = { 0 };
	pid_t pid = fork();
	size_t cap = 0;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (;;) {
			pthread_t th[8];

			for (int i = 0; i < 8; i++)
				if (pthread_create(&th[i], NULL, short_thread, NULL) != 0)
					_exit(1);
			for (int i = 0; i < 8; i++)
				pthread_join(th[i], NULL);
		}
	}
	for (int round = 0; round < 300; round++) {
		int r = mg_procfs_scan(pid, &s);

		ck_assert_int_eq(r, 0);
		if (round == 0)
			cap = s.cap;
		for (size_t i = 0; i < s.n; i++) {
			struct mg_procfs_stat st;
			int err = 0;
			char comm[16];

			if (!mg_procfs_scan_syscall(&s, i, &err))
				ck_assert_msg(err == -ESRCH, "syscall line: %d", err);
			r = mg_procfs_stat(pid, s.tasks[i].tid, &st);
			ck_assert_msg(r == 0 || r == -ESRCH, "stat: %d", r);
			r = mg_procfs_comm(pid, s.tasks[i].tid, comm, sizeof(comm));
			ck_assert_msg(r == 0 || r == -ESRCH, "comm: %d", r);
		}
	}
	/* The task array is reused: it grew at most for more threads. */
	ck_assert_uint_le(cap, 64);
	ck_assert_uint_le(s.cap, 64);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

/* Descriptors of this process, from /proc/self/fd. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A second round over the same threads opens nothing: it reads the files
 * kept from the first with pread and sees what changed since (a thread that
 * named itself, the io counter); a name that differs from the main
 * thread's is final: its descriptor is closed and it is not read again. */
START_TEST(test_scan_rounds_reuse_their_descriptors)
{
	_cleanup_(mg_procfs_scan_clear) struct mg_procfs_scan s = { 0 };
	char main_comm[MG_PROCFS_COMM_MAX], buf[64];
	uint64_t io0, io1;
	struct blocked b;
	int fds, sfd;
	ssize_t i;

	ck_assert_int_eq(mg_procfs_comm(getpid(), 0, main_comm, sizeof(main_comm)), 0);
	blocked_start(&b, main_comm);	/* as if not named yet */
	blocked_wait_in_read(&b);
	ck_assert_int_eq(mg_procfs_scan(getpid(), &s), 0);
	i = mg_procfs_scan_find(&s, b.tid);
	ck_assert_int_ge(i, 0);
	ck_assert_ptr_nonnull(mg_procfs_scan_syscall(&s, (size_t)i, NULL));
	ck_assert_str_eq(mg_procfs_scan_comm(&s, (size_t)i), main_comm);
	ck_assert_int_eq(mg_procfs_scan_io_rchar(&s, &io0), 0);
	ck_assert_uint_eq(s.n_fds, 2);	/* its syscall and comm */
	sfd = s.tasks[i].syscall_fd;
	fds = count_fds();

	pthread_setname_np(b.th, "mg named");
	ck_assert_int_gt(mg_read_file("/proc/self/stat", buf, sizeof(buf)), 0);
	ck_assert_int_eq(mg_procfs_scan(getpid(), &s), 0);
	ck_assert_int_eq(mg_procfs_scan_find(&s, b.tid), i);
	ck_assert_int_eq(mg_procfs_scan_syscall(&s, (size_t)i, NULL)->nr, SYS_read);
	ck_assert_str_eq(mg_procfs_scan_comm(&s, (size_t)i), "mg named");
	ck_assert_int_eq(mg_procfs_scan_io_rchar(&s, &io1), 0);
	ck_assert_uint_gt(io1, io0);
	ck_assert_int_eq(s.tasks[i].syscall_fd, sfd);
	ck_assert_uint_eq(s.n_fds, 1);
	ck_assert_int_eq(count_fds(), fds - 1);

	pthread_setname_np(b.th, "mg renamed");
	ck_assert_int_eq(mg_procfs_scan(getpid(), &s), 0);
	ck_assert_str_eq(mg_procfs_scan_comm(&s, (size_t)i), "mg named");
	ck_assert_int_eq(count_fds(), fds - 1);
	mg_procfs_scan_clear(&s);
	ck_assert_int_eq(count_fds(), fds - 4);	/* dir, io, syscall, comm */
	blocked_stop(&b);
}
END_TEST

/* Threads that start and end between rounds: a changed count lists the
 * directory again at once; one that ends while another starts is found
 * gone by its read, and the next round lists the newcomer. */
START_TEST(test_scan_follows_threads_that_come_and_go)
{
	_cleanup_(mg_procfs_scan_clear) struct mg_procfs_scan s = { 0 };
	struct blocked b1, b2, b3;
	ssize_t i;
	int err = 0;

	ck_assert_int_eq(mg_procfs_scan(getpid(), &s), 0);
	blocked_start(&b1, "mg comer 1");
	ck_assert_int_eq(mg_procfs_scan(getpid(), &s), 0);
	i = mg_procfs_scan_find(&s, b1.tid);
	ck_assert_int_ge(i, 0);
	ck_assert_str_eq(mg_procfs_scan_comm(&s, (size_t)i), "mg comer 1");

	blocked_start(&b2, "mg comer 2");
	blocked_stop(&b1);
	ck_assert_int_eq(mg_procfs_scan(getpid(), &s), 0);
	i = mg_procfs_scan_find(&s, b1.tid);
	if (i >= 0) {
		/* Same count: the list is the old one until a read says so
		 * (its name is kept: only a read tells it is gone). */
		ck_assert_ptr_null(mg_procfs_scan_syscall(&s, (size_t)i, &err));
		ck_assert_int_eq(err, -ESRCH);
		ck_assert_int_eq(mg_procfs_scan(getpid(), &s), 0);
	}
	ck_assert_int_lt(mg_procfs_scan_find(&s, b1.tid), 0);
	i = mg_procfs_scan_find(&s, b2.tid);
	ck_assert_int_ge(i, 0);
	ck_assert_str_eq(mg_procfs_scan_comm(&s, (size_t)i), "mg comer 2");

	blocked_start(&b3, "mg comer 3");
	blocked_stop(&b2);
	blocked_stop(&b3);
	ck_assert_int_eq(mg_procfs_scan(getpid(), &s), 0);
	ck_assert_int_lt(mg_procfs_scan_find(&s, b3.tid), 0);
	i = mg_procfs_scan_find(&s, b2.tid);
	if (i >= 0) {
		ck_assert_ptr_null(mg_procfs_scan_syscall(&s, (size_t)i, NULL));
		ck_assert_int_eq(mg_procfs_scan(getpid(), &s), 0);
	}
	ck_assert_int_lt(mg_procfs_scan_find(&s, b2.tid), 0);
	/* The files of the threads gone are closed. */
	ck_assert_uint_eq(s.n_fds, 0);
}
END_TEST

static void *paused_main(void *arg)
{
	for (;;)
		pause();
	return arg;
}

enum { MANY_THREADS = MG_PROCFS_KEEP_FDS / 2 + 20 };

static void child_with_many_threads(void)
{
	for (int i = 0; i < MANY_THREADS; i++) {
		pthread_t th;

		if (pthread_create(&th, NULL, paused_main, NULL) != 0)
			_exit(1);
	}
}

/* More threads than MG_PROCFS_KEEP_FDS files: every read still answers, at
 * most MG_PROCFS_KEEP_FDS descriptors stay open, and the process's exit
 * closes them all. */
START_TEST(test_scan_keeps_a_bounded_number_of_descriptors)
{
	_cleanup_(mg_procfs_scan_clear) struct mg_procfs_scan s = { 0 };
	pid_t pid = child_start(child_with_many_threads);

	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(mg_procfs_scan(pid, &s), 0);
		ck_assert_uint_eq(s.n, MANY_THREADS + 1);
		for (size_t i = 0; i < s.n; i++) {
			ck_assert_ptr_nonnull(mg_procfs_scan_syscall(&s, i, NULL));
			ck_assert_ptr_nonnull(mg_procfs_scan_comm(&s, i));
		}
		ck_assert_uint_eq(s.n_fds, MG_PROCFS_KEEP_FDS);
	}
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	ck_assert_int_eq(mg_procfs_scan(pid, &s), -ESRCH);
	ck_assert_uint_eq(s.n_fds, 0);
}
END_TEST

static Suite *procfs_suite(void)
{
	Suite *s = suite_create("procfs");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_scan_lists_own_threads_with_their_names);
	tcase_add_test(tc, test_syscall_line_of_thread_blocked_in_read);
	tcase_add_test(tc, test_syscall_line_of_running_thread);
	tcase_add_test(tc, test_stat_reads_state_after_a_name_with_parentheses);
	tcase_add_test(tc, test_uids_io_and_tasks_of_self);
	tcase_add_test(tc, test_read_mem_of_child_and_unmapped_address);
	tcase_add_test(tc, test_gone_process_is_esrch_everywhere);
	tcase_add_test(tc, test_child_exiting_after_the_scan);
	tcase_add_test(tc, test_threads_vanishing_during_reads);
	tcase_add_test(tc, test_scan_rounds_reuse_their_descriptors);
	tcase_add_test(tc, test_scan_follows_threads_that_come_and_go);
	tcase_add_test(tc, test_scan_keeps_a_bounded_number_of_descriptors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(procfs_suite());
}
