/* Unit tests of the worker pool (worker.c) on a real sd-event loop with real
 * threads; a "stuck" job is one blocked reading a pipe until the test
 * writes to it, as a libvirt call blocks on a silent QEMU monitor.  Job
 * arguments are static: a stuck thread may touch them after the test. */
#include "log.h"
#include "util.h"
#include "worker.h"

#include "mgcheck.h"
#include "mgloop.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* The deadline of a job meant to get stuck.  It runs from submit, so the
 * job's thread must start within it (else the job times out queued, not
 * stuck): 50 ms was too short under ASan on a busy 2-core CI machine. */
#define STUCK_MS 300

static sd_event *loop;
static struct mg_worker_pool *pool;
static pthread_t loop_thread;

struct job_arg {
	int gate[2];			/* run() blocks reading gate[0] when blocking */
	bool blocking;
	int value;			/* run() returns it */
	atomic_int ran, freed;
	int done, result;
	bool done_on_loop;
};

static int job_run(void *arg)
{
	struct job_arg *a = arg;
	char c;

	a->ran++;
	if (a->blocking && read(a->gate[0], &c, 1) != 1)
		return -EIO;
	return a->value;
}

static void job_done(int result, void *arg)
{
	struct job_arg *a = arg;

	a->done++;
	a->result = result;
	a->done_on_loop = pthread_equal(pthread_self(), loop_thread);
}

static void job_free_arg(void *arg)
{
	struct job_arg *a = arg;

	a->freed++;
}

static void arg_init(struct job_arg *a, bool blocking, int value)
{
	memset(a, 0, sizeof(*a));
	a->blocking = blocking;
	a->value = value;
	ck_assert_int_eq(pipe(a->gate), 0);
}

static void release(struct job_arg *a)
{
	ck_assert_int_eq(write(a->gate[1], "x", 1), 1);
}

static int submit(struct job_arg *a, uint64_t timeout_ms)
{
	struct mg_work w = {
		.what = "test job", .run = job_run, .done = job_done, .free_arg = job_free_arg,
		.arg = a, .timeout_usec = timeout_ms * MG_USEC_PER_MSEC,
	};

	return mg_worker_submit(pool, &w);
}

static void setup(void)
{
	mg_log_setup(MG_LOG_STDERR, LOG_DEBUG, "test_worker");
	loop_thread = pthread_self();
	ck_assert_int_eq(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_worker_pool_new(loop, 2, 2, &pool), 0);
}

static void teardown(void)
{
	pool = mg_worker_pool_free(pool);
	loop = sd_event_unref(loop);
}

/* Runs the loop until *flag >= want or ms pass. */
static bool run_until(const int *flag, int want, unsigned ms)
{
	return mg_test_run_until(loop, flag, want, ms);
}

static bool wait_atomic(atomic_int *v, int want, unsigned ms)
{
	uint64_t deadline = mg_now_mono() + ms * MG_USEC_PER_MSEC;

	while (*v < want && mg_now_mono() < deadline)
		usleep(1000);
	return *v >= want;
}

START_TEST(test_job_result_delivered_on_the_loop)
{
	static struct job_arg a;

	arg_init(&a, false, 42);
	ck_assert_int_eq(submit(&a, 1000), 0);
	ck_assert_int_eq(a.done, 0);	/* never from inside submit */
	ck_assert(run_until(&a.done, 1, 2000));
	ck_assert_int_eq(a.result, 42);
	ck_assert(a.done_on_loop);
	ck_assert_int_eq(a.freed, 1);
	ck_assert_uint_eq(mg_worker_pool_n_pending(pool), 0);
}
END_TEST

static int count_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	(*(int *)userdata)++;
	return sd_event_source_set_time(s, usec + 10 * MG_USEC_PER_MSEC);
}

START_TEST(test_stuck_job_times_out_on_the_loop_while_loop_keeps_running)
{
	static struct job_arg a;
	sd_event_source *tick;
	int ticks = 0;

	ck_assert_int_eq(sd_event_add_time_relative(loop, &tick, CLOCK_MONOTONIC, 10 * MG_USEC_PER_MSEC,
						    1, count_tick, &ticks), 0);
	ck_assert_int_eq(sd_event_source_set_enabled(tick, SD_EVENT_ON), 0);
	arg_init(&a, true, 7);
	ck_assert_int_eq(submit(&a, STUCK_MS), 0);
	ck_assert(run_until(&a.done, 1, 2000));
	ck_assert_int_eq(a.result, -ETIMEDOUT);
	ck_assert(a.done_on_loop);
	ck_assert_uint_eq(mg_worker_pool_n_stuck(pool), 1);
	ck_assert_int_eq(a.freed, 0);		/* run still holds it */
	ticks = 0;
	run_until(NULL, 0, 200);
	ck_assert_int_ge(ticks, 5);		/* ~20: the loop was never blocked */

	/* The call returns at last: result dropped, thread counted back. */
	release(&a);
	for (int i = 0; i < 200 && mg_worker_pool_n_stuck(pool) > 0; i++)
		sd_event_run(loop, 10 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(mg_worker_pool_n_stuck(pool), 0);
	ck_assert_int_eq(a.done, 1);
	ck_assert_int_eq(a.freed, 1);
	sd_event_source_disable_unref(tick);
}
END_TEST

START_TEST(test_stuck_bound_refuses_new_jobs_with_ebusy)
{
	static struct job_arg a, b, c;

	arg_init(&a, true, 1);
	arg_init(&b, true, 2);
	arg_init(&c, false, 3);
	ck_assert_int_eq(submit(&a, STUCK_MS), 0);
	ck_assert_int_eq(submit(&b, STUCK_MS), 0);
	ck_assert(run_until(&b.done, 1, 2000));
	ck_assert(run_until(&a.done, 1, 2000));
	ck_assert_uint_eq(mg_worker_pool_n_stuck(pool), 2);
	ck_assert_int_eq(submit(&c, 1000), -EBUSY);
	ck_assert_int_eq(submit(&c, 1000), -EBUSY);	/* logged once per episode */

	release(&a);
	for (int i = 0; i < 200 && mg_worker_pool_n_stuck(pool) > 1; i++)
		sd_event_run(loop, 10 * MG_USEC_PER_MSEC);
	ck_assert_int_eq(submit(&c, 1000), 0);
	ck_assert(run_until(&c.done, 1, 2000));
	ck_assert_int_eq(c.result, 3);
	release(&b);
}
END_TEST

/* An owner that guards more domains raises the bound: the refused job is
 * accepted at once, and the stuck threads are left alone. */
START_TEST(test_a_raised_stuck_bound_accepts_jobs_again)
{
	static struct job_arg a, b, c;

	arg_init(&a, true, 1);
	arg_init(&b, true, 2);
	arg_init(&c, false, 3);
	ck_assert_int_eq(submit(&a, STUCK_MS), 0);
	ck_assert_int_eq(submit(&b, STUCK_MS), 0);
	ck_assert(run_until(&b.done, 1, 2000));
	ck_assert(run_until(&a.done, 1, 2000));
	ck_assert_int_eq(submit(&c, 1000), -EBUSY);
	mg_worker_pool_set_max_stuck(pool, 3);
	ck_assert_uint_eq(mg_worker_pool_n_stuck(pool), 2);
	ck_assert_int_eq(submit(&c, 1000), 0);
	ck_assert(run_until(&c.done, 1, 2000));
	ck_assert_int_eq(c.result, 3);
	release(&a);
	release(&b);
}
END_TEST

START_TEST(test_queued_job_times_out_without_running)
{
	static struct job_arg a, b, c;

	/* Two threads at most, both busy with jobs without a deadline. */
	arg_init(&a, true, 1);
	arg_init(&b, true, 2);
	arg_init(&c, false, 3);
	ck_assert_int_eq(submit(&a, 0), 0);
	ck_assert_int_eq(submit(&b, 0), 0);
	ck_assert(wait_atomic(&b.ran, 1, 2000));
	ck_assert_int_eq(submit(&c, 50), 0);
	ck_assert(run_until(&c.done, 1, 2000));
	ck_assert_int_eq(c.result, -ETIMEDOUT);
	ck_assert_int_eq(c.ran, 0);
	ck_assert_int_eq(c.freed, 1);
	release(&a);
	release(&b);
	ck_assert(run_until(&b.done, 1, 2000));
	ck_assert(run_until(&a.done, 1, 2000));
	ck_assert_int_eq(a.result, 1);
}
END_TEST

START_TEST(test_stuck_thread_replaced_so_queued_job_runs)
{
	static struct job_arg a, b, c;

	arg_init(&a, true, 1);
	arg_init(&b, true, 2);
	arg_init(&c, false, 3);
	ck_assert_int_eq(submit(&a, STUCK_MS), 0);
	ck_assert_int_eq(submit(&b, STUCK_MS), 0);
	ck_assert(wait_atomic(&b.ran, 1, 2000));
	ck_assert_int_eq(submit(&c, 2000), 0);	/* queued: both threads busy */
	ck_assert(run_until(&c.done, 1, 3000));
	ck_assert_int_eq(c.result, 3);
	/* a's and b's deadlines are two timer sources: sd-event dispatches one
	 * source per iteration, so c may run and finish on a's replacement
	 * before b's timer is seen (as under ASan). */
	for (int i = 0; i < 200 && mg_worker_pool_n_stuck(pool) < 2; i++)
		sd_event_run(loop, 10 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(mg_worker_pool_n_stuck(pool), 2);
	release(&a);
	release(&b);
}
END_TEST

START_TEST(test_free_cancels_pending_and_stuck_thread_frees_its_job_later)
{
	static struct job_arg a;

	arg_init(&a, true, 1);
	ck_assert_int_eq(submit(&a, 0), 0);
	ck_assert(wait_atomic(&a.ran, 1, 2000));
	pool = mg_worker_pool_free(pool);
	ck_assert_int_eq(a.done, 1);
	ck_assert_int_eq(a.result, -ECANCELED);
	ck_assert_int_eq(a.freed, 0);
	release(&a);
	ck_assert(wait_atomic(&a.freed, 1, 2000));
}
END_TEST

/* --- mg_worker_call: an owner that may go first ------------------------ */

static void call_done(int result, void *arg, void *userdata)
{
	job_done(result, arg);
}

static bool arg_freed(void *arg)
{
	return atomic_load(&((struct job_arg *)arg)->freed) > 0;
}

static int call(struct job_arg *a, uint64_t timeout_ms, struct mg_worker_call **c)
{
	struct mg_worker_call_spec s = {
		.what = "test call", .run = job_run, .arg = a, .free_arg = job_free_arg,
		.timeout_usec = timeout_ms * MG_USEC_PER_MSEC, .done = call_done,
	};

	return mg_worker_call(pool, &s, c);
}

/* The watch's rule: no second call while the first is stuck; the handle
 * says so past the deadline, until the call really returns. */
START_TEST(test_call_stays_busy_past_its_deadline_until_it_returns)
{
	static struct job_arg a;
	struct mg_worker_call *c = NULL;

	arg_init(&a, true, 3);
	ck_assert_int_eq(call(&a, 50, &c), 0);
	ck_assert(run_until(&a.done, 1, 2000));
	ck_assert_int_eq(a.result, -ETIMEDOUT);
	ck_assert(mg_worker_call_delivered(c));
	ck_assert(mg_worker_call_busy(c));
	release(&a);
	ck_assert(mg_test_run_until_cond(loop, arg_freed, &a, 2000));
	ck_assert(!mg_worker_call_busy(c));
	ck_assert_int_eq(a.done, 1);	/* the late result is dropped */
	c = mg_worker_call_cancel(c);
}
END_TEST

/* The owner goes first (a ladder or watch freed while libvirt blocks):
 * done never reaches it, and the call still frees its arg when it ends. */
START_TEST(test_call_cancelled_by_its_owner_never_reports)
{
	static struct job_arg a;
	struct mg_worker_call *c = NULL;

	arg_init(&a, true, 4);
	ck_assert_int_eq(call(&a, 5000, &c), 0);
	ck_assert(wait_atomic(&a.ran, 1, 2000));
	c = mg_worker_call_cancel(c);
	release(&a);
	ck_assert(mg_test_run_until_cond(loop, arg_freed, &a, 2000));
	ck_assert_int_eq(a.done, 0);
	ck_assert_uint_eq(mg_worker_pool_n_pending(pool), 0);
}
END_TEST

static Suite *worker_suite(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase_create("pool");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_job_result_delivered_on_the_loop);
	tcase_add_test(tc, test_stuck_job_times_out_on_the_loop_while_loop_keeps_running);
	tcase_add_test(tc, test_stuck_bound_refuses_new_jobs_with_ebusy);
	tcase_add_test(tc, test_a_raised_stuck_bound_accepts_jobs_again);
	tcase_add_test(tc, test_queued_job_times_out_without_running);
	tcase_add_test(tc, test_stuck_thread_replaced_so_queued_job_runs);
	tcase_add_test(tc, test_free_cancels_pending_and_stuck_thread_frees_its_job_later);
	tcase_add_test(tc, test_call_stays_busy_past_its_deadline_until_it_returns);
	tcase_add_test(tc, test_call_cancelled_by_its_owner_never_reports);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(worker_suite());
}
