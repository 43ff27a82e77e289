/* Unit tests of the incident writer (incwriter.c): the files are written
 * off the event loop, and actions land after the incident, in order. */
#include "incwriter.h"
#include "log.h"
#include "util.h"

#include "mgcheck.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

static char state[256];

static void setup(void)
{
	mg_test_mkdtemp(state, sizeof(state), "incwriter");
	mg_log_setup(MG_LOG_STDERR, LOG_WARNING, "test");
}

static void teardown(void)
{
	mg_test_rm_rf(state);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	(*(unsigned *)userdata)++;
	sd_event_source_set_time_relative(s, 10 * MG_USEC_PER_MSEC);
	return 0;
}

/* Runs the loop until cond or timeout (usec); returns cond. */
static bool run_until(sd_event *loop, bool (*cond)(void *), void *arg, uint64_t timeout)
{
	uint64_t end = mg_now_mono() + timeout;

	while (!cond(arg) && mg_now_mono() < end)
		sd_event_run(loop, 10 * MG_USEC_PER_MSEC);
	return cond(arg);
}

static bool ticked_3(void *arg) { return *(unsigned *)arg >= 3; }

static bool actions_2(void *arg)
{
	char path[600];
	json_object *r, *a;
	bool ok;

	snprintf(path, sizeof(path), "%s/report.json", mg_incwriter_dir(arg));
	r = json_object_from_file(path);
	ok = r && json_object_object_get_ex(r, "actions", &a) && json_object_is_type(a, json_type_array) &&
	     json_object_array_length(a) == 2;
	json_object_put(r);
	return ok;
}

/* A context file that blocks its reader (a FIFO where QEMU's log should
 * be; a hung NFS state directory does the same to writes): the loop
 * goes on meanwhile; the incident and its actions, queued before it was
 * written, arrive once the read returns, actions in order. */
START_TEST(test_a_blocked_incident_write_does_not_stall_the_loop)
{
	sd_event *loop = NULL;
	struct mg_worker_pool *pool = NULL;
	struct mg_incwriter *iw = NULL;
	sd_event_source *tick = NULL;
	unsigned ticks = 0;
	char fifo[300], path[600];
	struct mg_incident_input in = { .domain = "d", .pid = getpid(), .summary = "it hung" };
	struct mg_incwriter_params p = { .state_dir = state, .max_count = 10, .max_age = UINT64_MAX / 2 };
	json_object *r, *a;
	uint64_t t0;
	int fd;

	snprintf(fifo, sizeof(fifo), "%s/qemu.log", state);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	in.qemu_log_path = fifo;
	ck_assert_int_ge(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_worker_pool_new(loop, 1, 0, &pool), 0);
	p.pool = pool;
	ck_assert_int_ge(sd_event_add_time_relative(loop, &tick, CLOCK_MONOTONIC, 0, 0, on_tick, &ticks), 0);
	ck_assert_int_ge(sd_event_source_set_enabled(tick, SD_EVENT_ON), 0);

	t0 = mg_now_mono();
	ck_assert_int_eq(mg_incwriter_start(loop, &p, &in, &iw), 0);
	ck_assert_uint_lt(mg_now_mono() - t0, 500 * MG_USEC_PER_MSEC);
	mg_incwriter_add_action(iw, "cancel", -ETIMEDOUT, "no answer");
	mg_incwriter_add_action(iw, "kill", 0, "SIGKILL sent");
	ck_assert(run_until(loop, ticked_3, &ticks, 2 * MG_USEC_PER_SEC));
	ck_assert(!mg_incwriter_written(iw));

	/* The reader is inside open(): this open does not block.  The reader
	 * may close again before the write (pread on a FIFO fails at once):
	 * then the write fails with EPIPE, which must not kill the test. */
	fd = open(fifo, O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	signal(SIGPIPE, SIG_IGN);
	ck_assert(write(fd, "qemu: started\n", 14) == 14 || errno == EPIPE);
	close(fd);
	ck_assert(run_until(loop, actions_2, iw, 5 * MG_USEC_PER_SEC));
	ck_assert(mg_incwriter_written(iw));
	snprintf(path, sizeof(path), "%s/report.json", mg_incwriter_dir(iw));
	r = json_object_from_file(path);
	ck_assert(json_object_object_get_ex(r, "actions", &a));
	ck_assert_str_eq(json_object_get_string(json_object_object_get(json_object_array_get_idx(a, 0), "step")),
			 "cancel");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(json_object_array_get_idx(a, 1), "step")),
			 "kill");
	json_object_put(r);

	mg_incwriter_unref(iw);
	sd_event_source_disable_unref(tick);
	mg_worker_pool_free(pool);
	sd_event_unref(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("incwriter");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_a_blocked_incident_write_does_not_stall_the_loop);
	suite_add_tcase(s, tc);
	return mg_check_run(s);
}
