/* Unit tests of the /proc BQL probe (probe.c) on real processes: a forked
 * child whose main thread (tid == pid, as in QEMU) blocks on a mutex held by
 * a helper thread named like QEMU's migration thread, and children whose main
 * thread waits in ways that are not a held mutex. */
#include "probe.h"
#include "util.h"

#include "mgcheck.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

enum main_wait {
	WAIT_MUTEX,		/* main thread blocks on the helper's mutex */
	WAIT_PI_MUTEX,		/* same with a priority-inheritance mutex */
	WAIT_CONDVAR,		/* main thread in pthread_cond_wait, never signalled */
	WAIT_SLEEP,		/* main thread in clock_nanosleep */
	WAIT_VCPU_ONLY,		/* main thread sleeps; a "CPU 0/KVM" thread blocks on the mutex */
};

static pid_t child = -1;
static pid_t helper_tid;

static struct {
	pthread_mutex_t m;
	const char *helper_name;
	int ready[2];
} shared;

static void *helper(void *arg)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	pthread_setname_np(pthread_self(), shared.helper_name);
	pthread_mutex_lock(&shared.m);
	if (write(shared.ready[1], &tid, sizeof(tid)) != sizeof(tid))
		_exit(3);
	for (;;)
		pause();
	return NULL;
}

/* Blocks on shared.m once the helper holds it (trylock says EBUSY), so the
 * caller is the one waiting. */
static void lock_after_helper(void)
{
	for (;;)
		if (pthread_mutex_trylock(&shared.m) == EBUSY)
			break;
		else
			pthread_mutex_unlock(&shared.m);
	pthread_mutex_lock(&shared.m);
}

static void *vcpu(void *arg)
{
	pthread_setname_np(pthread_self(), "CPU 0/KVM");
	lock_after_helper();
	return NULL;
}

/* Starts a child whose helper thread holds a mutex and whose main thread
 * then waits as asked; returns once the helper holds the mutex. */
static void spawn(enum main_wait how, const char *helper_name)
{
	ck_assert_int_eq(pipe(shared.ready), 0);
	shared.helper_name = helper_name;
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pthread_mutexattr_t attr;
		pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
		pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
		pthread_t t;
		struct timespec long_time = { 3600, 0 };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pthread_mutexattr_init(&attr);
		if (how == WAIT_PI_MUTEX)
			pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT);
		pthread_mutex_init(&shared.m, &attr);
		if (pthread_create(&t, NULL, helper, NULL))
			_exit(2);
		switch (how) {
		case WAIT_MUTEX:
		case WAIT_PI_MUTEX:
			lock_after_helper();
			break;
		case WAIT_VCPU_ONLY:
			if (pthread_create(&t, NULL, vcpu, NULL))
				_exit(2);
			for (;;)
				clock_nanosleep(CLOCK_MONOTONIC, 0, &long_time, NULL);
		case WAIT_CONDVAR:
			pthread_mutex_lock(&cm);
			for (;;)
				pthread_cond_wait(&cond, &cm);
		case WAIT_SLEEP:
			for (;;)
				clock_nanosleep(CLOCK_MONOTONIC, 0, &long_time, NULL);
		}
		_exit(1);
	}
	close(shared.ready[1]);
	ck_assert_int_eq(read(shared.ready[0], &helper_tid, sizeof(helper_tid)), sizeof(helper_tid));
	close(shared.ready[0]);
}

static void teardown(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	child = -1;
}

/* Probes until the main thread sits in syscall nr (or 2 s pass). */
static void probe_when_in(long nr, struct mg_bql_state *st, struct mg_bql_result *res)
{
	uint64_t deadline = mg_now_mono() + 2 * MG_USEC_PER_SEC;

	do {
		ck_assert_int_eq(mg_probe_bql(child, st, res), 0);
		if (res->main_syscall == nr)
			return;
		usleep(10000);
	} while (mg_now_mono() < deadline);
	ck_abort_msg("main thread never entered syscall %ld (last %ld)", nr, res->main_syscall);
}

START_TEST(test_main_blocked_on_mutex_held_by_live_migration)
{
	struct mg_bql_state st = { 0 };
	struct mg_bql_result res, again;

	spawn(WAIT_MUTEX, "live_migration");
	probe_when_in(SYS_futex, &st, &res);
	ck_assert(res.held);
	ck_assert(res.main_blocked);
	ck_assert_int_eq(res.owner_tid, helper_tid);
	ck_assert_str_eq(res.owner_comm, "live_migration");
	ck_assert(res.owner_is_migration);
	ck_assert_uint_ne(res.futex_addr, 0);
	ck_assert_uint_eq(res.n_waiters, 1);
	ck_assert_uint_ne(res.since_usec, 0);
	/* Same mutex and owner on the next call: the first-seen time stays. */
	usleep(20000);
	ck_assert_int_eq(mg_probe_bql(child, &st, &again), 0);
	ck_assert(again.main_blocked);
	ck_assert_uint_eq(again.since_usec, res.since_usec);
	ck_assert_uint_eq(st.since, res.since_usec);
}
END_TEST

/* The hang inside vm_stop with virtio-blk dataplane: live_migration runs
 * the main AioContext itself, the main thread idles in ppoll, and only the
 * vCPU threads queue on the BQL. */
START_TEST(test_vcpu_waiting_on_mutex_held_by_live_migration_while_main_idle)
{
	struct mg_bql_result res;
	uint64_t deadline = mg_now_mono() + 2 * MG_USEC_PER_SEC;

	spawn(WAIT_VCPU_ONLY, "live_migration");
	do {
		ck_assert_int_eq(mg_probe_bql(child, NULL, &res), 0);
		/* the vCPU may queue before main reaches its sleep (seen under ASan) */
		if (res.held && res.main_syscall == SYS_clock_nanosleep)
			break;
		usleep(10000);
	} while (mg_now_mono() < deadline);
	ck_assert(res.held);
	ck_assert(!res.main_blocked);
	ck_assert_int_eq(res.main_syscall, SYS_clock_nanosleep);
	ck_assert_int_eq(res.owner_tid, helper_tid);
	ck_assert(res.owner_is_migration);
	ck_assert_uint_eq(res.n_waiters, 1);
}
END_TEST

START_TEST(test_pi_mutex_owner_read_from_futex_word)
{
	struct mg_bql_result res;

	spawn(WAIT_PI_MUTEX, "live_migration");
	probe_when_in(SYS_futex, NULL, &res);
	ck_assert(res.main_blocked);
	ck_assert_int_eq(res.owner_tid, helper_tid);
	ck_assert(res.owner_is_migration);
}
END_TEST

START_TEST(test_owner_other_than_migration_thread_reported_as_such)
{
	struct mg_bql_result res;

	spawn(WAIT_MUTEX, "IO iothread4");
	probe_when_in(SYS_futex, NULL, &res);
	ck_assert(res.main_blocked);
	ck_assert_int_eq(res.owner_tid, helper_tid);
	ck_assert_str_eq(res.owner_comm, "IO iothread4");
	ck_assert(!res.owner_is_migration);
}
END_TEST

START_TEST(test_since_restarts_when_owner_changes)
{
	struct mg_bql_state st = { 0 };
	struct mg_bql_result res;
	uint64_t before;

	spawn(WAIT_MUTEX, "live_migration");
	probe_when_in(SYS_futex, &st, &res);
	st.owner_tid = helper_tid + 1;	/* as if another thread held it last time */
	st.since = 1;
	before = mg_now_mono();
	ck_assert_int_eq(mg_probe_bql(child, &st, &res), 0);
	ck_assert_uint_ge(res.since_usec, before);
	ck_assert_int_eq(st.owner_tid, helper_tid);
}
END_TEST

START_TEST(test_main_in_condvar_wait_is_not_a_held_mutex)
{
	struct mg_bql_state st = { .futex_addr = 1, .owner_tid = 1, .since = 1 };
	struct mg_bql_result res;

	spawn(WAIT_CONDVAR, "live_migration");
	probe_when_in(SYS_futex, &st, &res);
	ck_assert(!res.held);
	ck_assert(!res.main_blocked);
	ck_assert_int_eq(res.owner_tid, 0);
	ck_assert_str_eq(res.owner_comm, "");
	ck_assert_uint_eq(res.since_usec, 0);
	ck_assert_uint_eq(st.since, 0);		/* state cleared */
}
END_TEST

START_TEST(test_main_sleeping_is_not_blocked)
{
	struct mg_bql_result res;

	spawn(WAIT_SLEEP, "live_migration");
	probe_when_in(SYS_clock_nanosleep, NULL, &res);
	ck_assert(!res.main_blocked);
	ck_assert_int_eq(res.owner_tid, 0);
}
END_TEST

START_TEST(test_process_gone_is_esrch)
{
	struct mg_bql_result res;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	ck_assert_int_eq(mg_probe_bql(pid, NULL, &res), -ESRCH);
	ck_assert_int_eq(mg_probe_bql(0, NULL, &res), -EINVAL);
}
END_TEST

START_TEST(test_unprivileged_caller_gets_eperm)
{
	struct mg_bql_result res;
	pid_t target = getpid(), pid;
	int status;

	if (geteuid() != 0) {
		/* Not root: another user's process (init) is already out of reach. */
		ck_assert_int_eq(mg_probe_bql(1, NULL, &res), -EPERM);
		return;
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		_exit(mg_probe_bql(target, NULL, &res) == -EPERM ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

static Suite *probe_suite(void)
{
	Suite *s = suite_create("probe");
	TCase *tc = tcase_create("bql");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_main_blocked_on_mutex_held_by_live_migration);
	tcase_add_test(tc, test_vcpu_waiting_on_mutex_held_by_live_migration_while_main_idle);
	tcase_add_test(tc, test_pi_mutex_owner_read_from_futex_word);
	tcase_add_test(tc, test_owner_other_than_migration_thread_reported_as_such);
	tcase_add_test(tc, test_since_restarts_when_owner_changes);
	tcase_add_test(tc, test_main_in_condvar_wait_is_not_a_held_mutex);
	tcase_add_test(tc, test_main_sleeping_is_not_blocked);
	tcase_add_test(tc, test_process_gone_is_esrch);
	tcase_add_test(tc, test_unprivileged_caller_gets_eperm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(probe_suite());
}
