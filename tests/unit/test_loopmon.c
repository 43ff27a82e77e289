/* Unit tests of the loop-lateness monitor (loopmon.c): a callback that
 * blocks the loop shows as lateness of the monitor's timer, and owners hear
 * of a new maximum only when it grew by MG_LOOPMON_STEP. */
#include "loopmon.h"

#include "mgcheck.h"
#include <string.h>

static struct {
	unsigned calls;
	uint64_t max;
} heard;

static void on_changed(const struct mg_loopmon *lm, void *userdata)
{
	heard.calls++;
	heard.max = mg_loopmon_max(lm);
}

/* Blocks the loop the way a snapshot on it used to: busy for the time
 * given (this is the scenario, not a wait for a condition). */
static int block_loop(sd_event_source *s, void *userdata)
{
	uint64_t until = mg_now_mono() + *(uint64_t *)userdata;

	while (mg_now_mono() < until)
		;
	return 0;
}

START_TEST(test_a_blocked_loop_shows_as_lateness)
{
	uint64_t block = 3 * MG_LOOPMON_PERIOD / 2;
	struct mg_loopmon *lm = NULL;
	sd_event *loop = NULL;
	uint64_t until;

	memset(&heard, 0, sizeof(heard));
	ck_assert_int_eq(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_loopmon_new(loop, on_changed, NULL, &lm), 0);
	ck_assert_int_eq(sd_event_add_defer(loop, NULL, block_loop, &block), 0);
	/* The block runs first; the tick due within one period fires after it. */
	until = mg_now_mono() + 3 * MG_LOOPMON_PERIOD;
	while (mg_now_mono() < until)
		ck_assert_int_ge(sd_event_run(loop, 10 * MG_USEC_PER_MSEC), 0);
	/* Due at most one period after the start, dispatched after the block;
	 * busy on the CPU, not waiting for one: its own lateness too (up to
	 * what the kernel made it wait on a loaded machine). */
	ck_assert_uint_ge(mg_loopmon_max(lm), block - MG_LOOPMON_PERIOD);
	ck_assert_uint_gt(mg_loopmon_max_own(lm), 0);
	ck_assert_uint_ge(heard.calls, 1);
	ck_assert_uint_eq(heard.max, mg_loopmon_max(lm));
	mg_loopmon_free(lm);
	sd_event_unref(loop);
}
END_TEST

START_TEST(test_owners_hear_of_a_new_maximum_only_when_it_grew_by_a_step)
{
	struct mg_loopmon *lm = NULL;
	sd_event *loop = NULL;

	memset(&heard, 0, sizeof(heard));
	ck_assert_int_eq(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_loopmon_new(loop, on_changed, NULL, &lm), 0);
	mg_loopmon_note(lm, MG_LOOPMON_STEP / 2, 0);
	ck_assert_uint_eq(heard.calls, 0);
	ck_assert_uint_eq(mg_loopmon_max(lm), MG_LOOPMON_STEP / 2);
	mg_loopmon_note(lm, MG_LOOPMON_STEP + 500, 0);
	ck_assert_uint_eq(heard.calls, 1);
	ck_assert_uint_eq(heard.max, MG_LOOPMON_STEP + 500);
	mg_loopmon_note(lm, MG_LOOPMON_STEP + 900, 0);
	ck_assert_uint_eq(heard.calls, 1);
	ck_assert_uint_eq(mg_loopmon_max(lm), MG_LOOPMON_STEP + 900);
	mg_loopmon_note(lm, 10, 0);
	ck_assert_uint_eq(mg_loopmon_last(lm), 10);
	ck_assert_uint_eq(mg_loopmon_max(lm), MG_LOOPMON_STEP + 900);
	mg_loopmon_note(lm, 2 * MG_LOOPMON_STEP + 500, 0);
	ck_assert_uint_eq(heard.calls, 2);
	ck_assert_uint_eq(heard.max, 2 * MG_LOOPMON_STEP + 500);
	mg_loopmon_free(lm);
	sd_event_unref(loop);
}
END_TEST

/* A timer late because the thread waited for a CPU: the lateness counts
 * it, the own lateness does not. */
START_TEST(test_the_wait_for_a_cpu_is_not_the_loops_own_lateness)
{
	struct mg_loopmon *lm = NULL;
	sd_event *loop = NULL;

	memset(&heard, 0, sizeof(heard));
	ck_assert_int_eq(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_loopmon_new(loop, on_changed, NULL, &lm), 0);
	mg_loopmon_note(lm, 120 * MG_USEC_PER_MSEC, 115 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(mg_loopmon_max(lm), 120 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(mg_loopmon_max_own(lm), 5 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(heard.calls, 1);
	mg_loopmon_note(lm, 50 * MG_USEC_PER_MSEC, 0);
	ck_assert_uint_eq(mg_loopmon_max(lm), 120 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(mg_loopmon_max_own(lm), 50 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(heard.calls, 2);
	mg_loopmon_note(lm, 10, 20);
	ck_assert_uint_eq(mg_loopmon_max_own(lm), 50 * MG_USEC_PER_MSEC);
	mg_loopmon_free(lm);
	sd_event_unref(loop);
}
END_TEST

/* A probe round's timer measured in its callback: its lateness beyond its
 * accuracy is recorded, and the monitor's own tick stays behind it. */
static int observed_round(sd_event_source *s, uint64_t due, void *userdata)
{
	struct mg_loopmon *lm = userdata;

	mg_loopmon_observe(lm, due, MG_USEC_PER_MSEC);
	sd_event_source_set_time(s, mg_now_mono() + MG_LOOPMON_PERIOD / 2);
	return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

START_TEST(test_a_timer_that_observes_stands_in_for_the_tick)
{
	struct mg_loopmon *lm = NULL;
	sd_event_source *round = NULL;
	sd_event *loop = NULL;
	uint64_t until;

	memset(&heard, 0, sizeof(heard));
	ck_assert_int_eq(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_loopmon_new(loop, on_changed, NULL, &lm), 0);
	ck_assert_int_eq(sd_event_add_time(loop, &round, CLOCK_MONOTONIC, mg_now_mono(), MG_USEC_PER_MSEC,
					   observed_round, lm), 0);
	until = mg_now_mono() + 4 * MG_LOOPMON_PERIOD;
	while (mg_now_mono() < until)
		ck_assert_int_ge(sd_event_run(loop, 10 * MG_USEC_PER_MSEC), 0);
	ck_assert_uint_eq(mg_loopmon_ticks(lm), 0);
	/* Due 30 ms ago with 1 ms of accuracy: 29 ms late, and more is only
	 * what the machine adds. */
	mg_loopmon_observe(lm, mg_now_mono() - 30 * MG_USEC_PER_MSEC, MG_USEC_PER_MSEC);
	ck_assert_uint_ge(mg_loopmon_last(lm), 29 * MG_USEC_PER_MSEC);
	ck_assert_uint_ge(mg_loopmon_max(lm), 29 * MG_USEC_PER_MSEC);
	/* With no round the tick fires again. */
	sd_event_source_disable_unref(round);
	until = mg_now_mono() + 3 * MG_LOOPMON_PERIOD;
	while (mg_now_mono() < until)
		ck_assert_int_ge(sd_event_run(loop, 10 * MG_USEC_PER_MSEC), 0);
	ck_assert_uint_ge(mg_loopmon_ticks(lm), 1);
	mg_loopmon_free(lm);
	sd_event_unref(loop);
}
END_TEST

static Suite *loopmon_suite(void)
{
	Suite *s = suite_create("loopmon");
	TCase *tc = tcase_create("lateness");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_a_blocked_loop_shows_as_lateness);
	tcase_add_test(tc, test_owners_hear_of_a_new_maximum_only_when_it_grew_by_a_step);
	tcase_add_test(tc, test_the_wait_for_a_cpu_is_not_the_loops_own_lateness);
	tcase_add_test(tc, test_a_timer_that_observes_stands_in_for_the_tick);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(loopmon_suite());
}
