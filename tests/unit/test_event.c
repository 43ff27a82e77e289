/* Unit tests of libvirt's event implementation on sd-event (event.c): the
 * callbacks are called directly, as libvirt would, on a real sd_event loop
 * with real pipes and sockets; no libvirt connection. */
#include "event.h"
#include "util.h"

#include "mgcheck.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <libvirt/libvirt.h>

static sd_event *loop;

/* What the callbacks saw, reset for every test. */
static struct {
	int timer_order[16];
	uint64_t timer_at[16];		/* mg_now_mono() when timer_order[i] fired */
	size_t n_timer_order;
	int calls;		/* callbacks of the entry under test */
	int other_calls;
	int last_events;
	int last_id;
	int ff_calls;
	bool in_remove;		/* a remove call is on the stack */
	bool ff_inside_remove;
} seen;

/* A pair of entries that remove each other, see remove_pair(). */
static struct {
	int id;
	bool is_timer;
} pair[2];

static void setup(void)
{
	memset(&seen, 0, sizeof(seen));
	memset(pair, 0, sizeof(pair));
	ck_assert_int_eq(sd_event_new(&loop), 0);
	/* Fails only when an earlier test (CK_FORK=no) left entries behind. */
	ck_assert_int_eq(mg_event_register(loop), 0);
}

static void teardown(void)
{
	/* Lets removed entries' ff run before the loop goes. */
	for (int i = 0; i < 5; i++)
		sd_event_run(loop, 0);
	loop = sd_event_unref(loop);
}

/* Runs the loop until *flag reaches want or max_ms pass. */
static void run_until(const int *flag, int want, unsigned max_ms)
{
	uint64_t start = mg_now_mono(), deadline = start + max_ms * MG_USEC_PER_MSEC;

	for (uint64_t now = start; (!flag || *flag < want) && now < deadline; now = mg_now_mono())
		ck_assert_int_ge(sd_event_run(loop, deadline - now), 0);
}

/* Runs the loop for ms milliseconds whatever happens. */
static void run_for(unsigned ms)
{
	run_until(NULL, 0, ms);
}

static void count_ff(void *opaque)
{
	seen.ff_calls++;
	if (seen.in_remove)
		seen.ff_inside_remove = true;
}

static int remove_handle_tracked(int id)
{
	int r;

	seen.in_remove = true;
	r = mg_event_remove_handle(id);
	seen.in_remove = false;
	return r;
}

static int remove_timeout_tracked(int id)
{
	int r;

	seen.in_remove = true;
	r = mg_event_remove_timeout(id);
	seen.in_remove = false;
	return r;
}

static void socket_pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
}

/* --- timeouts ----------------------------------------------------------- */

static void record_order_once(int timer, void *opaque)
{
	seen.timer_at[seen.n_timer_order] = mg_now_mono();
	seen.timer_order[seen.n_timer_order++] = (int)(intptr_t)opaque;
	seen.calls++;
	mg_event_update_timeout(timer, -1);
}

START_TEST(test_timers_fire_once_never_before_their_deadline)
{
	static const int periods[] = { 30, 10, 20 };
	uint64_t t0 = mg_now_mono();
	int ids[3];

	for (size_t i = 0; i < 3; i++) {
		ids[i] = mg_event_add_timeout(periods[i], record_order_once,
					      (void *)(intptr_t)periods[i], NULL);
		ck_assert_int_gt(ids[i], 0);
	}
	run_until(&seen.calls, 3, 2000);
	ck_assert_int_eq(seen.calls, 3);
	run_for(40);	/* disabled by update(-1): none fires again */
	ck_assert_uint_eq(seen.n_timer_order, 3);
	/* Each once, none early.  Not their order: timers that are all due
	 * when a late loop wakes (a loaded machine) are dispatched in
	 * sd-event's order, as libvirt's own loop does; nothing relies on it. */
	for (size_t i = 0; i < 3; i++) {
		int p = seen.timer_order[i], n = 0;

		for (size_t j = 0; j < 3; j++)
			n += seen.timer_order[j] == periods[i];
		ck_assert_int_eq(n, 1);
		ck_assert_uint_ge(seen.timer_at[i] - t0, (uint64_t)p * MG_USEC_PER_MSEC);
	}
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(mg_event_remove_timeout(ids[i]), 0);
}
END_TEST

static void count_until_five_then_remove(int timer, void *opaque)
{
	seen.last_id = timer;
	if (++seen.calls == 5)
		ck_assert_int_eq(remove_timeout_tracked(timer), 0);
}

START_TEST(test_periodic_timer_fires_until_removed)
{
	uint64_t t0 = mg_now_mono();
	int id;

	id = mg_event_add_timeout(5, count_until_five_then_remove, NULL, count_ff);
	ck_assert_int_gt(id, 0);
	run_until(&seen.calls, 5, 2000);
	ck_assert_int_eq(seen.calls, 5);
	ck_assert_int_eq(seen.last_id, id);
	/* re-armed 5 ms after each firing */
	ck_assert_uint_ge(mg_now_mono() - t0, 25 * MG_USEC_PER_MSEC);
	run_for(40);
	ck_assert_int_eq(seen.calls, 5);
	ck_assert_int_eq(seen.ff_calls, 1);
	ck_assert(!seen.ff_inside_remove);
}
END_TEST

static void count_calls(int timer, void *opaque)
{
	seen.calls++;
}

START_TEST(test_zero_timer_fires_on_every_iteration)
{
	int id;

	id = mg_event_add_timeout(0, count_calls, NULL, NULL);
	ck_assert_int_gt(id, 0);
	/* A zero wait: each iteration dispatches it, without waiting for
	 * any clock to advance. */
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(sd_event_run(loop, 0), 1);
	ck_assert_int_eq(seen.calls, 20);
	ck_assert_int_eq(mg_event_remove_timeout(id), 0);
	run_for(5);
	ck_assert_int_eq(seen.calls, 20);
}
END_TEST

START_TEST(test_disabled_timer_never_fires_until_updated)
{
	uint64_t t0;
	int id;

	id = mg_event_add_timeout(-1, count_calls, NULL, NULL);
	ck_assert_int_gt(id, 0);
	run_for(50);
	ck_assert_int_eq(seen.calls, 0);
	t0 = mg_now_mono();
	mg_event_update_timeout(id, 10);
	run_until(&seen.calls, 1, 2000);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_uint_ge(mg_now_mono() - t0, 10 * MG_USEC_PER_MSEC);
	mg_event_update_timeout(id, -1);
	run_for(30);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(mg_event_remove_timeout(id), 0);
}
END_TEST

/* --- handles ------------------------------------------------------------ */

static void drain_and_record(int watch, int fd, int events, void *opaque)
{
	char buf[64];

	seen.calls++;
	seen.last_events = events;
	seen.last_id = watch;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

START_TEST(test_handle_reports_readable_after_write)
{
	int sv[2], id;

	socket_pair(sv);
	id = mg_event_add_handle(sv[0], VIR_EVENT_HANDLE_READABLE, drain_and_record, NULL, NULL);
	ck_assert_int_gt(id, 0);
	run_for(20);
	ck_assert_int_eq(seen.calls, 0);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	run_until(&seen.calls, 1, 2000);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(seen.last_id, id);
	ck_assert_int_eq(seen.last_events, VIR_EVENT_HANDLE_READABLE);
	run_for(20);	/* drained: level-triggered, so no more calls */
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(mg_event_remove_handle(id), 0);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static void record_then_disable(int watch, int fd, int events, void *opaque)
{
	seen.calls++;
	seen.last_events = events;
	mg_event_update_handle(watch, 0);
}

START_TEST(test_handle_reports_writable)
{
	int sv[2], id;

	socket_pair(sv);
	id = mg_event_add_handle(sv[0], VIR_EVENT_HANDLE_WRITABLE, record_then_disable, NULL, NULL);
	ck_assert_int_gt(id, 0);
	run_until(&seen.calls, 1, 2000);
	ck_assert_int_eq(seen.last_events, VIR_EVENT_HANDLE_WRITABLE);
	run_for(20);	/* disabled from inside its callback */
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(mg_event_remove_handle(id), 0);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static void record_then_remove(int watch, int fd, int events, void *opaque)
{
	seen.calls++;
	seen.last_events = events;
	ck_assert_int_eq(remove_handle_tracked(watch), 0);
}

START_TEST(test_handle_reports_hangup_when_peer_closes)
{
	int p[2], id;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	id = mg_event_add_handle(p[0], VIR_EVENT_HANDLE_READABLE, record_then_remove, NULL, count_ff);
	ck_assert_int_gt(id, 0);
	close(p[1]);
	run_until(&seen.calls, 1, 2000);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert(seen.last_events & VIR_EVENT_HANDLE_HANGUP);
	run_until(&seen.ff_calls, 1, 2000);
	ck_assert_int_eq(seen.ff_calls, 1);
	close(p[0]);
}
END_TEST

START_TEST(test_handle_update_to_zero_disables_even_hangup)
{
	int sv[2], id;

	socket_pair(sv);
	/* Data and a hang-up both pending: with mask 0 neither is reported,
	 * although epoll always reports HUP for a registered fd. */
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	close(sv[1]);
	id = mg_event_add_handle(sv[0], 0, record_then_disable, NULL, NULL);
	ck_assert_int_gt(id, 0);
	run_for(30);
	ck_assert_int_eq(seen.calls, 0);
	mg_event_update_handle(id, VIR_EVENT_HANDLE_READABLE);
	run_until(&seen.calls, 1, 2000);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert(seen.last_events & VIR_EVENT_HANDLE_READABLE);
	run_for(30);	/* the callback set the mask back to 0 */
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(mg_event_remove_handle(id), 0);
	close(sv[0]);
}
END_TEST

/* --- removal ------------------------------------------------------------ */

START_TEST(test_handle_removed_inside_own_callback_never_fires_again)
{
	int sv[2], id;

	socket_pair(sv);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);	/* stays readable: never read */
	id = mg_event_add_handle(sv[0], VIR_EVENT_HANDLE_READABLE, record_then_remove, NULL, count_ff);
	ck_assert_int_gt(id, 0);
	run_for(50);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(seen.ff_calls, 1);
	ck_assert(!seen.ff_inside_remove);
	ck_assert_int_eq(mg_event_remove_handle(id), -1);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static void remove_self_timer(int timer, void *opaque)
{
	seen.calls++;
	ck_assert_int_eq(remove_timeout_tracked(timer), 0);
}

START_TEST(test_timer_removed_inside_own_callback_never_fires_again)
{
	int id;

	id = mg_event_add_timeout(0, remove_self_timer, NULL, count_ff);
	ck_assert_int_gt(id, 0);
	run_for(30);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(seen.ff_calls, 1);
	ck_assert(!seen.ff_inside_remove);
	ck_assert_int_eq(mg_event_remove_timeout(id), -1);
}
END_TEST

/* The pair is ready in the same iteration; whichever runs first removes
 * both, so the other is removed while already pending in sd-event and must
 * never run. */
static void remove_pair(void)
{
	seen.calls++;
	for (size_t i = 0; i < 2; i++) {
		if (pair[i].is_timer)
			ck_assert_int_eq(remove_timeout_tracked(pair[i].id), 0);
		else
			ck_assert_int_eq(remove_handle_tracked(pair[i].id), 0);
	}
}

static void handle_removes_pair(int watch, int fd, int events, void *opaque)
{
	remove_pair();
}

static void timer_removes_pair(int timer, void *opaque)
{
	remove_pair();
}

static void check_pair_ran_once(void)
{
	run_for(50);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(seen.ff_calls, 2);
	ck_assert(!seen.ff_inside_remove);
}

START_TEST(test_handle_removed_from_another_callback_never_fires)
{
	int a[2], b[2];

	socket_pair(a);
	socket_pair(b);
	ck_assert_int_eq(write(a[1], "x", 1), 1);
	ck_assert_int_eq(write(b[1], "x", 1), 1);
	pair[0].id = mg_event_add_handle(a[0], VIR_EVENT_HANDLE_READABLE, handle_removes_pair, NULL, count_ff);
	pair[1].id = mg_event_add_handle(b[0], VIR_EVENT_HANDLE_READABLE, handle_removes_pair, NULL, count_ff);
	ck_assert_int_gt(pair[0].id, 0);
	ck_assert_int_gt(pair[1].id, pair[0].id);
	check_pair_ran_once();
	close(a[0]); close(a[1]); close(b[0]); close(b[1]);
}
END_TEST

START_TEST(test_timer_removed_from_another_timer_never_fires)
{
	for (size_t i = 0; i < 2; i++) {
		pair[i].is_timer = true;
		pair[i].id = mg_event_add_timeout(0, timer_removes_pair, NULL, count_ff);
		ck_assert_int_gt(pair[i].id, 0);
	}
	check_pair_ran_once();
}
END_TEST

START_TEST(test_timer_and_handle_remove_each_other_safely)
{
	int sv[2];

	socket_pair(sv);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	pair[0].id = mg_event_add_handle(sv[0], VIR_EVENT_HANDLE_READABLE, handle_removes_pair, NULL, count_ff);
	pair[1].is_timer = true;
	pair[1].id = mg_event_add_timeout(0, timer_removes_pair, NULL, count_ff);
	ck_assert_int_gt(pair[1].id, pair[0].id);
	check_pair_ran_once();
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_free_func_runs_once_after_remove_not_inside)
{
	int id;

	id = mg_event_add_timeout(-1, count_calls, NULL, count_ff);
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(remove_timeout_tracked(id), 0);
	ck_assert_int_eq(seen.ff_calls, 0);
	ck_assert_int_eq(mg_event_remove_timeout(id), -1);
	run_until(&seen.ff_calls, 1, 2000);
	ck_assert_int_eq(seen.ff_calls, 1);
	run_for(20);
	ck_assert_int_eq(seen.ff_calls, 1);
	ck_assert(!seen.ff_inside_remove);
}
END_TEST

START_TEST(test_ids_are_positive_and_never_reused)
{
	int sv[2], last = 0;

	socket_pair(sv);
	for (int i = 0; i < 50; i++) {
		int h = mg_event_add_handle(sv[0], VIR_EVENT_HANDLE_READABLE, drain_and_record, NULL, NULL);
		int t = mg_event_add_timeout(-1, count_calls, NULL, NULL);

		ck_assert_int_gt(h, last);
		ck_assert_int_gt(t, h);
		last = t;
		/* Ids are per kind: a timer id is no handle. */
		ck_assert_int_eq(mg_event_remove_handle(t), -1);
		ck_assert_int_eq(mg_event_remove_timeout(h), -1);
		ck_assert_int_eq(mg_event_remove_handle(h), 0);
		ck_assert_int_eq(mg_event_remove_timeout(t), 0);
		ck_assert_int_eq(mg_event_remove_handle(h), -1);
		sd_event_run(loop, 0);
	}
	ck_assert_int_eq(mg_event_remove_handle(0), -1);
	ck_assert_int_eq(mg_event_remove_timeout(-5), -1);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* --- other threads ------------------------------------------------------ */

struct thread_job {
	int handle;
	int timer;
	int done;
};

static void timer_from_thread(int timer, void *opaque)
{
	seen.other_calls++;
	mg_event_remove_timeout(timer);
}

static void *thread_main(void *arg)
{
	struct thread_job *job = arg;

	job->timer = mg_event_add_timeout(1, timer_from_thread, NULL, count_ff);
	mg_event_remove_handle(job->handle);
	__atomic_store_n(&job->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void count_handle(int watch, int fd, int events, void *opaque)
{
	seen.calls++;
}

START_TEST(test_changes_from_other_threads_are_applied_by_the_loop)
{
	struct thread_job job = { 0 };
	pthread_t th;
	int sv[2], calls;

	socket_pair(sv);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);	/* always readable */
	job.handle = mg_event_add_handle(sv[0], VIR_EVENT_HANDLE_READABLE, count_handle, NULL, count_ff);
	ck_assert_int_gt(job.handle, 0);
	run_until(&seen.calls, 1, 2000);
	ck_assert_int_eq(pthread_create(&th, NULL, thread_main, &job), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_gt(job.timer, job.handle);
	/* The thread's changes reach the loop through its eventfd. */
	run_until(&seen.ff_calls, 2, 2000);
	ck_assert_int_eq(seen.other_calls, 1);
	ck_assert_int_eq(seen.ff_calls, 2);
	calls = seen.calls;
	run_for(20);
	ck_assert_int_eq(seen.calls, calls);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static Suite *event_suite(void)
{
	Suite *s = suite_create("event");
	TCase *tc;

	tc = tcase_create("timeouts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_timers_fire_once_never_before_their_deadline);
	tcase_add_test(tc, test_periodic_timer_fires_until_removed);
	tcase_add_test(tc, test_zero_timer_fires_on_every_iteration);
	tcase_add_test(tc, test_disabled_timer_never_fires_until_updated);
	suite_add_tcase(s, tc);

	tc = tcase_create("handles");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_handle_reports_readable_after_write);
	tcase_add_test(tc, test_handle_reports_writable);
	tcase_add_test(tc, test_handle_reports_hangup_when_peer_closes);
	tcase_add_test(tc, test_handle_update_to_zero_disables_even_hangup);
	suite_add_tcase(s, tc);

	tc = tcase_create("removal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_handle_removed_inside_own_callback_never_fires_again);
	tcase_add_test(tc, test_timer_removed_inside_own_callback_never_fires_again);
	tcase_add_test(tc, test_handle_removed_from_another_callback_never_fires);
	tcase_add_test(tc, test_timer_removed_from_another_timer_never_fires);
	tcase_add_test(tc, test_timer_and_handle_remove_each_other_safely);
	tcase_add_test(tc, test_free_func_runs_once_after_remove_not_inside);
	tcase_add_test(tc, test_ids_are_positive_and_never_reused);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_changes_from_other_threads_are_applied_by_the_loop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(event_suite());
}
