/* Unit tests of the migration state machine (tracker.c) with synthetic
 * probe samples; the real-QEMU proofs are in tests/integration. */
#include "tracker.h"
#include "util.h"

#include "mgcheck.h"
#include <string.h>

#define S(x) ((uint64_t)((x) * 1e6))

static const struct mg_track_limits limits = {
	.finish_timeout = S(3), .monitor_timeout = S(1), .incoming_timeout = S(10),
};

static struct mg_probe_sample status_sample(double at, const char *run_state)
{
	struct mg_probe_sample s = { .at = S(at), .status_valid = true, .migrate_valid = true };

	snprintf(s.run_state, sizeof(s.run_state), "%s", run_state);
	snprintf(s.migration_status, sizeof(s.migration_status), "active");
	return s;
}

static struct mg_probe_sample silent_sample(double at, double silent_since)
{
	return (struct mg_probe_sample){ .at = S(at), .unresponsive_since = S(silent_since) };
}

static bool timeline_mentions(const struct mg_track *t, const char *needle)
{
	for (size_t i = 0; i < t->n_timeline; i++)
		if (strstr(t->timeline[i].text, needle))
			return true;
	return false;
}

START_TEST(test_hung_when_finish_migrate_lasts_past_finish_timeout)
{
	struct mg_track t;
	struct mg_probe_sample s;

	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "test");
	s = status_sample(0.5, "running");
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
	s = status_sample(1, "finish-migrate");
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_PHASE_CHANGED);
	ck_assert_int_eq(t.phase, MG_PHASE_FINISHING);
	s = status_sample(3.9, "finish-migrate");
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
	s = status_sample(4, "finish-migrate");
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_BECAME_HUNG);
	ck_assert_int_eq(t.phase, MG_PHASE_HUNG);
	ck_assert_uint_eq(t.hung_at, S(4));
	ck_assert(timeline_mentions(&t, "run state finish-migrate"));
}
END_TEST

START_TEST(test_brief_finish_migrate_then_completed_is_not_hung)
{
	struct mg_track t;
	struct mg_probe_sample s;

	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "test");
	s = status_sample(1, "finish-migrate");
	mg_track_on_sample(&t, &s);
	s = status_sample(1.5, "postmigrate");
	strcpy(s.migration_status, "completed");
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_ENDED);
	ck_assert_int_eq(t.phase, MG_PHASE_COMPLETED);
	ck_assert_uint_eq(t.hung_at, 0);
	ck_assert_int_eq(mg_track_on_tick(&t, S(100)), MG_TRACK_UNCHANGED);
}
END_TEST

START_TEST(test_leaving_finish_migrate_returns_to_active)
{
	struct mg_track t;
	struct mg_probe_sample s;

	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "test");
	s = status_sample(1, "finish-migrate");
	mg_track_on_sample(&t, &s);
	s = status_sample(2, "running");
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_PHASE_CHANGED);
	ck_assert_int_eq(t.phase, MG_PHASE_ACTIVE);
	ck_assert_int_eq(mg_track_on_tick(&t, S(10)), MG_TRACK_UNCHANGED);
}
END_TEST

START_TEST(test_hung_when_monitor_silent_past_timeout)
{
	struct mg_track t;
	struct mg_probe_sample s;

	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "test");
	/* Silent for less than monitor_timeout: no evidence yet. */
	s = silent_sample(10.5, 10);
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
	ck_assert_int_eq(t.phase, MG_PHASE_ACTIVE);
	s = silent_sample(11, 10);
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_PHASE_CHANGED);
	/* The phase is dated from the unanswered request, not from its timeout. */
	ck_assert_uint_eq(t.finishing_since, S(10));
	ck_assert_uint_eq(mg_track_next_deadline(&t), S(13));
	ck_assert_int_eq(mg_track_on_tick(&t, S(12.9)), MG_TRACK_UNCHANGED);
	ck_assert_int_eq(mg_track_on_tick(&t, S(13)), MG_TRACK_BECAME_HUNG);
	ck_assert(timeline_mentions(&t, "monitor unresponsive"));
}
END_TEST

/* libvirt's monitor silent while the BQL probe sees the BQL free: libvirt
 * is slow (twenty migrations keep its workers busy), QEMU is not hung;
 * QEMU's own monitor silent is evidence whatever the probe saw, and so is
 * libvirt's once the BQL is held by live_migration. */
START_TEST(test_a_slow_libvirt_monitor_with_the_bql_free_is_not_finishing)
{
	struct mg_track t;
	struct mg_probe_sample free_bql = { .at = S(10), .bql_valid = true, .unresponsive_since = S(5) };
	struct mg_probe_sample s;

	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "test");
	ck_assert_int_eq(mg_track_on_sample(&t, &free_bql), MG_TRACK_UNCHANGED);
	s = silent_sample(20, 5);
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
	ck_assert_int_eq(mg_track_on_tick(&t, S(30)), MG_TRACK_UNCHANGED);
	ck_assert_int_eq(t.phase, MG_PHASE_ACTIVE);
	/* The direct monitor silent: evidence. */
	s = silent_sample(21, 5);
	s.unresponsive_direct = true;
	ck_assert_int_ne(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
	ck_assert_int_ne(t.phase, MG_PHASE_ACTIVE);

	/* libvirt's silent and the BQL now held by live_migration: evidence. */
	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "test");
	ck_assert_int_eq(mg_track_on_sample(&t, &free_bql), MG_TRACK_UNCHANGED);
	s = (struct mg_probe_sample){ .at = S(11), .bql_valid = true, .bql_held_by_migration = true,
				      .bql_owner = 7, .bql_since = S(10.9), .unresponsive_since = S(5) };
	/* The BQL held since 10.9 s: libvirt's silence since 5 s dates the
	 * phase from 10.9 s (5 s was a busy libvirt), not HUNG yet. */
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_PHASE_CHANGED);
	ck_assert_uint_eq(t.finishing_since, S(10.9));
	ck_assert(timeline_mentions(&t, "monitor unresponsive"));
	ck_assert_int_eq(mg_track_on_tick(&t, S(13.8)), MG_TRACK_UNCHANGED);
	ck_assert_int_eq(mg_track_on_tick(&t, S(13.9)), MG_TRACK_BECAME_HUNG);
}
END_TEST

START_TEST(test_hung_when_bql_held_by_live_migration)
{
	struct mg_track t;
	struct mg_probe_sample s = { .at = S(5), .bql_valid = true, .bql_held_by_migration = true,
				     .bql_owner = 4242, .bql_since = S(1) };

	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "test");
	/* Held since 1 s, seen at 5 s: finishing since 1 s, already past 3 s. */
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_BECAME_HUNG);
	ck_assert(timeline_mentions(&t, "BQL held by live_migration (4242)"));
	ck_assert(timeline_mentions(&t, "finishing:"));
}
END_TEST

START_TEST(test_bql_held_briefly_is_not_finishing)
{
	struct mg_track t;
	struct mg_probe_sample s = { .at = S(5.5), .bql_valid = true, .bql_held_by_migration = true,
				     .bql_owner = 4242, .bql_since = S(5) };

	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "test");
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
	ck_assert_int_eq(t.phase, MG_PHASE_ACTIVE);
}
END_TEST

START_TEST(test_postcopy_is_never_hung)
{
	struct mg_track t;
	struct mg_probe_sample s = silent_sample(2, 1);

	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "test");
	ck_assert_int_eq(mg_track_on_status(&t, "postcopy-active", S(1), "event"), MG_TRACK_PHASE_CHANGED);
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
	s = silent_sample(60, 1);
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
	ck_assert_int_eq(mg_track_on_tick(&t, S(600)), MG_TRACK_UNCHANGED);
	ck_assert_int_eq(t.phase, MG_PHASE_POSTCOPY);
	ck_assert_uint_eq(mg_track_next_deadline(&t), 0);
}
END_TEST

START_TEST(test_hung_is_reported_once_per_migration)
{
	struct mg_track t;
	struct mg_probe_sample s;
	int hung = 0;

	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "test");
	for (double at = 1; at < 30; at += 0.5) {
		s = status_sample(at, "finish-migrate");
		hung += mg_track_on_sample(&t, &s) == MG_TRACK_BECAME_HUNG;
		hung += mg_track_on_tick(&t, S(at + 0.25)) == MG_TRACK_BECAME_HUNG;
	}
	ck_assert_int_eq(hung, 1);
	ck_assert_int_eq(mg_track_on_status(&t, "cancelled", S(31), "event"), MG_TRACK_ENDED);
	ck_assert_int_eq(t.phase, MG_PHASE_CANCELLED);
}
END_TEST

START_TEST(test_incoming_stalled_without_progress)
{
	struct mg_track t;
	struct mg_probe_sample s = { .io_valid = true };

	mg_track_init(&t, MG_DIR_IN, &limits, S(0), "test");
	for (int i = 1; i <= 8; i++) {
		s.at = S(i);
		s.io_bytes = 1000 * (uint64_t)i;
		ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
	}
	/* The counter stops at 8000 at t=8 s. */
	s.at = S(17.9);
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
	ck_assert_uint_eq(mg_track_next_deadline(&t), S(18));
	s.at = S(18);
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_BECAME_STALLED);
	ck_assert_int_eq(t.phase, MG_PHASE_STALLED);
	s.at = S(30);
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
}
END_TEST

START_TEST(test_incoming_ended_by_event_is_not_stalled)
{
	struct mg_track t;

	mg_track_init(&t, MG_DIR_IN, &limits, S(0), "test");
	ck_assert_int_eq(mg_track_end(&t, MG_PHASE_COMPLETED, S(2), "resumed"), MG_TRACK_ENDED);
	ck_assert_int_eq(mg_track_on_tick(&t, S(100)), MG_TRACK_UNCHANGED);
	ck_assert_int_eq(mg_track_end(&t, MG_PHASE_FAILED, S(101), "again"), MG_TRACK_UNCHANGED);
}
END_TEST

START_TEST(test_timeline_keeps_first_entry_when_full)
{
	struct mg_track t;

	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "first");
	for (int i = 0; i < 200; i++)
		mg_track_note(&t, S(i), "note %d", i);
	ck_assert_uint_eq(t.n_timeline, MG_TRACK_TIMELINE_MAX);
	ck_assert(strstr(t.timeline[0].text, "first") != NULL);
	ck_assert_str_eq(t.timeline[MG_TRACK_TIMELINE_MAX - 1].text, "note 199");
	ck_assert_uint_eq(t.dropped, 200 + 1 - MG_TRACK_TIMELINE_MAX);
}
END_TEST

START_TEST(test_evidence_newer_than_sample_is_fresh_not_ancient)
{
	struct mg_track t;
	/* The probe read its clock a few microseconds after the sample's. */
	struct mg_probe_sample s = { .at = S(5), .bql_valid = true, .bql_held_by_migration = true,
				     .bql_owner = 7, .bql_since = S(5) + 40 };

	mg_track_init(&t, MG_DIR_OUT, &limits, S(0), "test");
	ck_assert_int_eq(mg_track_on_sample(&t, &s), MG_TRACK_UNCHANGED);
	ck_assert_int_eq(t.phase, MG_PHASE_ACTIVE);
}
END_TEST

static Suite *tracker_suite(void)
{
	Suite *s = suite_create("tracker");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_hung_when_finish_migrate_lasts_past_finish_timeout);
	tcase_add_test(tc, test_brief_finish_migrate_then_completed_is_not_hung);
	tcase_add_test(tc, test_leaving_finish_migrate_returns_to_active);
	tcase_add_test(tc, test_hung_when_monitor_silent_past_timeout);
	tcase_add_test(tc, test_a_slow_libvirt_monitor_with_the_bql_free_is_not_finishing);
	tcase_add_test(tc, test_hung_when_bql_held_by_live_migration);
	tcase_add_test(tc, test_bql_held_briefly_is_not_finishing);
	tcase_add_test(tc, test_evidence_newer_than_sample_is_fresh_not_ancient);
	tcase_add_test(tc, test_postcopy_is_never_hung);
	tcase_add_test(tc, test_hung_is_reported_once_per_migration);
	tcase_add_test(tc, test_incoming_stalled_without_progress);
	tcase_add_test(tc, test_incoming_ended_by_event_is_not_stalled);
	tcase_add_test(tc, test_timeline_keeps_first_entry_when_full);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(tracker_suite());
}
