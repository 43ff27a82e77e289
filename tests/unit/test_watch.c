/* Unit tests of the watch (watch.c with monitor.c and the tracker) on a
 * scripted QMP peer (qmppeer.h) served by this process, so the monitor's
 * peer check (SO_PEERCRED against the watched pid) passes with the test's
 * own pid; what the watch tells the world is read from a capturing sink
 * (mgsink.h).  No QEMU, no libvirt: the direct-monitor transport only. */
#include "log.h"
#include "notify.h"
#include "util.h"
#include "watch.h"

#include "mgcheck.h"
#include "mgsink.h"
#include "qmppeer.h"

#include <signal.h>
#include <string.h>

#define FINISH_TIMEOUT (400 * MG_USEC_PER_MSEC)
#define MONITOR_TIMEOUT (100 * MG_USEC_PER_MSEC)

static sd_event *loop;
static struct mg_notify *notify;
static struct mg_test_sink sink;
static struct mg_qmppeer *peer;
static struct mg_watch *w;
static char dir[64], sock[128];

static struct {
	int verdicts, hung, ended, untracked;
	char untracked_status[32];
	uint64_t verdict_at;
} seen;

static void on_verdict(struct mg_watch *cw, enum mg_track_change c, void *u)
{
	seen.verdicts++;
	seen.hung += c == MG_TRACK_BECAME_HUNG;
	seen.verdict_at = mg_now_mono();
}

static void on_ended(struct mg_watch *cw, void *u) { seen.ended++; }

/* As the guard does: a migration seen while none is tracked is tracked. */
static void on_untracked(struct mg_watch *cw, const char *status, void *u)
{
	seen.untracked++;
	snprintf(seen.untracked_status, sizeof(seen.untracked_status), "%s", status);
	if (strcmp(status, "active") == 0 || strcmp(status, "setup") == 0)
		mg_watch_track(cw, MG_DIR_OUT, "QMP MIGRATION event");
}

static bool tracking(void *arg) { return mg_watch_tracking(w); }
static bool has_monitor(void *arg) { return mg_watch_qmp(w) != NULL; }
static bool finishing(void *arg) { return mg_watch_phase(w) == MG_PHASE_FINISHING; }
static bool status_asked(void *arg) { return mg_qmppeer_count(peer, "query-status") > 0; }

static const struct mg_watch_callbacks callbacks = { .verdict = on_verdict, .ended = on_ended, .untracked_status = on_untracked };

static void setup(void)
{
	struct mg_watch_params p = {
		.name = "vm-under-test", .uuid = "00000000-0000-4000-8000-000000000001",
		.pid = getpid(), .probe_interval = 50 * MG_USEC_PER_MSEC,
		.limits = { .finish_timeout = FINISH_TIMEOUT, .monitor_timeout = MONITOR_TIMEOUT,
			    .incoming_timeout = 10 * MG_USEC_PER_SEC },
	};

	mg_log_setup(MG_LOG_STDERR, LOG_DEBUG, "test_watch");
	signal(SIGPIPE, SIG_IGN);
	memset(&seen, 0, sizeof(seen));
	memset(&sink, 0, sizeof(sink));
	mg_test_mkdtemp(dir, sizeof(dir), "watch");
	snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
	ck_assert_int_eq(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_notify_new(&notify), 0);
	mg_test_sink_register(notify, &sink, "test");
	peer = mg_qmppeer_listen(loop, sock, true);
	mg_qmppeer_answer(peer, "query-status", "{\"status\": \"running\", \"running\": true}");
	mg_qmppeer_answer(peer, "query-migrate", "{\"status\": \"active\"}");
	p.qmp_path = sock;
	p.notify = notify;
	ck_assert_int_eq(mg_watch_new(loop, &p, &callbacks, NULL, &w), 0);
	ck_assert_msg(mg_test_run_until_cond(loop, has_monitor, NULL, 2000),
		      "the watch never got its direct monitor");
}

static void teardown(void)
{
	mg_watch_free(w);
	mg_qmppeer_free(peer);
	notify = mg_notify_free(notify);
	loop = sd_event_unref(loop);
	mg_test_rm_rf(dir);
}

static bool not_tracking(void *arg) { return !mg_watch_tracking(w); }

/* The n-th plugin event's name (the sink also sees non-plugin events). */
static const char *plugin_event(size_t n)
{
	for (size_t i = 0; i < sink.n && i < MG_TEST_SINK_MAX; i++) {
		const struct mg_event *e = mg_test_sink_get(&sink, i);

		if (e->kind == MG_EVENT_PLUGIN && n-- == 0)
			return e->ev.name;
	}
	return NULL;
}

START_TEST(test_migration_event_tracks_and_completed_event_ends_it)
{
	mg_qmppeer_event(peer, "MIGRATION", "{\"status\": \"setup\"}");
	ck_assert(mg_test_run_until_cond(loop, tracking, NULL, 2000));
	ck_assert_str_eq(seen.untracked_status, "setup");
	ck_assert_int_eq(mg_watch_direction(w), MG_DIR_OUT);
	ck_assert_str_eq(plugin_event(0), "migration-started");
	/* Probes run while tracked. */
	ck_assert(mg_test_run_until_cond(loop, status_asked, NULL, 2000));
	mg_qmppeer_event(peer, "MIGRATION", "{\"status\": \"completed\"}");
	ck_assert(mg_test_run_until(loop, &seen.ended, 1, 2000));
	ck_assert(!mg_watch_tracking(w));
	ck_assert_int_eq(mg_watch_phase(w), MG_PHASE_COMPLETED);
	ck_assert_str_eq(plugin_event(1), "migration-ended");
	ck_assert_int_eq(seen.verdicts, 0);
	ck_assert_uint_eq(mg_qmppeer_unexpected(peer), 0);
}
END_TEST

/* DESIGN section 4: query-status is dispatched under the BQL, so a request
 * with no answer within monitor_timeout is itself the finishing evidence,
 * dated from when it was sent; HUNG falls due finish_timeout after that. */
START_TEST(test_hung_at_finish_timeout_after_query_status_stops_answering)
{
	const struct mg_track *t;
	uint64_t stopped;

	ck_assert_int_eq(mg_watch_track(w, MG_DIR_OUT, "test"), 0);
	ck_assert(mg_test_run_until(loop, NULL, 0, 200));
	ck_assert_int_eq(mg_watch_phase(w), MG_PHASE_ACTIVE);
	stopped = mg_now_mono();
	mg_qmppeer_answer(peer, "query-status", NULL);
	ck_assert(mg_test_run_until(loop, &seen.hung, 1, 3000));
	t = mg_watch_get_track(w);
	ck_assert_int_eq(mg_watch_phase(w), MG_PHASE_HUNG);
	ck_assert_uint_ge(t->finishing_since, stopped);
	ck_assert_uint_ge(t->hung_at - t->finishing_since, FINISH_TIMEOUT);
	ck_assert_uint_lt(t->hung_at - t->finishing_since, FINISH_TIMEOUT + 100 * MG_USEC_PER_MSEC);
	ck_assert_ptr_nonnull(strstr(t->finishing_reason, "monitor unresponsive"));
	ck_assert_str_eq(plugin_event(1), "phase-changed");
	ck_assert_str_eq(plugin_event(2), "hung");
	/* Once per migration, however long it stays hung. */
	ck_assert(mg_test_run_until(loop, NULL, 0, 300));
	ck_assert_int_eq(seen.verdicts, 1);
	ck_assert_uint_eq(mg_test_sink_count(&sink, MIGGUARD_EVENT_VERDICT), 1);
}
END_TEST

START_TEST(test_run_state_finish_migrate_is_finishing_and_hung_at_finish_timeout)
{
	const struct mg_track *t;

	ck_assert_int_eq(mg_watch_track(w, MG_DIR_OUT, "test"), 0);
	mg_qmppeer_answer(peer, "query-status", "{\"status\": \"finish-migrate\", \"running\": false}");
	ck_assert(mg_test_run_until(loop, &seen.hung, 1, 3000));
	t = mg_watch_get_track(w);
	ck_assert_uint_ge(t->hung_at - t->finishing_since, FINISH_TIMEOUT);
	ck_assert_uint_lt(t->hung_at - t->finishing_since, FINISH_TIMEOUT + 100 * MG_USEC_PER_MSEC);
	ck_assert_str_eq(t->finishing_reason, "run state finish-migrate");
}
END_TEST

/* Leaving finish-migrate before the timeout is no verdict. */
START_TEST(test_finishing_that_ends_before_timeout_is_no_verdict)
{
	ck_assert_int_eq(mg_watch_track(w, MG_DIR_OUT, "test"), 0);
	mg_qmppeer_answer(peer, "query-status", "{\"status\": \"finish-migrate\", \"running\": false}");
	ck_assert(mg_test_run_until_cond(loop, finishing, NULL, 2000));
	mg_qmppeer_answer(peer, "query-migrate", "{\"status\": \"completed\"}");
	ck_assert(mg_test_run_until(loop, &seen.ended, 1, 2000));
	ck_assert_int_eq(mg_watch_phase(w), MG_PHASE_COMPLETED);
	ck_assert(mg_test_run_until(loop, NULL, 0, FINISH_TIMEOUT / MG_USEC_PER_MSEC));
	ck_assert_int_eq(seen.verdicts, 0);
}
END_TEST

/* What a broken or compromised QEMU may send: each ignored where it is
 * parsed, the migration still tracked, and a good event still heard. */
START_TEST(test_malformed_migration_events_ignored)
{
	static const char *const bad[] = {
		NULL, "{}", "{\"status\": null}", "{\"status\": 7}", "{\"status\": [\"completed\"]}",
		"{\"status\": {\"status\": \"completed\"}}",
	};

	for (size_t i = 0; i < MG_ARRAY_SIZE(bad); i++)
		mg_qmppeer_event(peer, "MIGRATION", bad[i]);
	ck_assert(mg_test_run_until(loop, NULL, 0, 200));
	ck_assert_int_eq(seen.untracked, 0);
	ck_assert_int_eq(mg_watch_track(w, MG_DIR_OUT, "test"), 0);
	for (size_t i = 0; i < MG_ARRAY_SIZE(bad); i++)
		mg_qmppeer_event(peer, "MIGRATION", bad[i]);
	ck_assert(mg_test_run_until(loop, NULL, 0, 200));
	ck_assert(mg_watch_tracking(w));
	ck_assert_int_eq(seen.ended, 0);
	mg_qmppeer_event(peer, "MIGRATION", "{\"status\": \"failed\"}");
	ck_assert(mg_test_run_until_cond(loop, not_tracking, NULL, 2000));
	ck_assert_int_eq(mg_watch_phase(w), MG_PHASE_FAILED);
}
END_TEST

/* A query-status reply without a run state is no sample: no phase change. */
START_TEST(test_query_status_reply_without_run_state_ignored)
{
	ck_assert_int_eq(mg_watch_track(w, MG_DIR_OUT, "test"), 0);
	mg_qmppeer_answer(peer, "query-status", "{\"running\": false, \"status\": null}");
	ck_assert(mg_test_run_until(loop, NULL, 0, 300));
	ck_assert_uint_gt(mg_qmppeer_count(peer, "query-status"), 1);
	ck_assert_int_eq(mg_watch_phase(w), MG_PHASE_ACTIVE);
}
END_TEST

/* The direct monitor is kept: when QEMU closes it, the watch connects
 * again (backoff.h: first after 1 s) and its probes go on. */
START_TEST(test_direct_monitor_reconnects_after_close)
{
	unsigned before;

	ck_assert_int_eq(mg_watch_track(w, MG_DIR_OUT, "test"), 0);
	ck_assert_uint_eq(mg_qmppeer_connections(peer), 1);
	mg_qmppeer_attach(peer, -1);
	ck_assert(mg_test_run_until(loop, NULL, 0, 100));
	ck_assert_ptr_null(mg_watch_qmp(w));
	ck_assert_msg(mg_test_run_until_cond(loop, has_monitor, NULL, 3000), "no reconnect");
	ck_assert_uint_eq(mg_qmppeer_connections(peer), 2);
	before = mg_qmppeer_count(peer, "query-status");
	ck_assert(mg_test_run_until(loop, NULL, 0, 200));
	ck_assert_uint_gt(mg_qmppeer_count(peer, "query-status"), before);
}
END_TEST

/* An incoming QEMU is judged by the bytes it reads: the watch sends it no
 * request that would count as progress. */
START_TEST(test_incoming_migration_gets_no_requests)
{
	unsigned status, migrate;

	ck_assert(mg_test_run_until(loop, NULL, 0, 100));
	status = mg_qmppeer_count(peer, "query-status");
	migrate = mg_qmppeer_count(peer, "query-migrate");
	ck_assert_int_eq(mg_watch_track(w, MG_DIR_IN, "test"), 0);
	ck_assert(mg_test_run_until(loop, NULL, 0, 300));
	ck_assert_uint_eq(mg_qmppeer_count(peer, "query-status"), status);
	ck_assert_uint_eq(mg_qmppeer_count(peer, "query-migrate"), migrate);
}
END_TEST

static Suite *watch_suite(void)
{
	Suite *s = suite_create("watch");
	TCase *tc = tcase_create("scripted monitor");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_migration_event_tracks_and_completed_event_ends_it);
	tcase_add_test(tc, test_hung_at_finish_timeout_after_query_status_stops_answering);
	tcase_add_test(tc, test_run_state_finish_migrate_is_finishing_and_hung_at_finish_timeout);
	tcase_add_test(tc, test_finishing_that_ends_before_timeout_is_no_verdict);
	tcase_add_test(tc, test_malformed_migration_events_ignored);
	tcase_add_test(tc, test_query_status_reply_without_run_state_ignored);
	tcase_add_test(tc, test_direct_monitor_reconnects_after_close);
	tcase_add_test(tc, test_incoming_migration_gets_no_requests);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(watch_suite());
}
