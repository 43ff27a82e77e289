/* Unit tests of the escalation ladder (ladder.c) without QEMU: a real watch
 * on a scripted QMP peer (qmppeer.h) served by this process, the capturing
 * sink (mgsink.h) reading each step's record, and, where a pid is needed
 * (the kill), a real sleeping child of the test, never a mock of the
 * kernel.  No libvirt: the libvirt branches are taken only where a domain
 * is absent. */
#include "ladder.h"
#include "log.h"
#include "notify.h"
#include "procid.h"
#include "util.h"
#include "watch.h"

#include "mgcheck.h"
#include "mgsink.h"
#include "qmppeer.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#define STEP_TIMEOUT (200 * MG_USEC_PER_MSEC)
#define RECOVER_GRACE (200 * MG_USEC_PER_MSEC)

static sd_event *loop;
static struct mg_notify *notify;
static struct mg_test_sink sink;
static struct mg_qmppeer *peer;
static struct mg_watch *w;
static struct mg_ladder *ladder;
static struct mg_procid child;		/* plays the QEMU process for the kill */
static char dir[64], sock[128];
static int done;

static void on_done(struct mg_ladder *l, void *u) { done++; }

static void setup(void)
{
	struct mg_watch_params p = {
		.name = "vm-under-test", .pid = getpid(), .probe_interval = 50 * MG_USEC_PER_MSEC,
		.limits = { .finish_timeout = 10 * MG_USEC_PER_SEC, .monitor_timeout = STEP_TIMEOUT,
			    .incoming_timeout = 10 * MG_USEC_PER_SEC },
	};
	pid_t pid;

	mg_log_setup(MG_LOG_STDERR, LOG_DEBUG, "test_ladder");
	signal(SIGPIPE, SIG_IGN);
	memset(&sink, 0, sizeof(sink));
	done = 0;
	ladder = NULL;
	mg_test_mkdtemp(dir, sizeof(dir), "ladder");
	snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
	ck_assert_int_eq(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_notify_new(&notify), 0);
	mg_test_sink_register(notify, &sink, "test");
	peer = mg_qmppeer_listen(loop, sock, true);
	mg_qmppeer_answer(peer, "query-status", "{\"status\": \"running\", \"running\": true}");
	mg_qmppeer_answer(peer, "query-migrate", "{\"status\": \"active\"}");
	p.qmp_path = sock;
	ck_assert_int_eq(mg_watch_new(loop, &p, NULL, NULL, &w), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	ck_assert_int_eq(mg_procid_capture(pid, &child), 0);
}

static void teardown(void)
{
	mg_ladder_free(ladder);
	mg_watch_free(w);
	mg_qmppeer_free(peer);
	notify = mg_notify_free(notify);
	loop = sd_event_unref(loop);
	kill(child.pid, SIGKILL);
	waitpid(child.pid, NULL, 0);
	mg_procid_release(&child);
	mg_test_rm_rf(dir);
}

static bool has_monitor(void *arg) { return mg_watch_qmp(w) != NULL; }
static bool cmd_came(void *arg) { return mg_qmppeer_count(peer, arg) > 0; }

/* A tracked outgoing migration with its direct monitor connected. */
static void track(enum mg_direction d)
{
	ck_assert(mg_test_run_until_cond(loop, has_monitor, NULL, 2000));
	ck_assert_int_eq(mg_watch_track(w, d, "test"), 0);
}

static struct mg_ladder_params params(enum mg_action action)
{
	return (struct mg_ladder_params){
		.action = action, .watch = w, .id = &child, .notify = notify,
		.step_timeout = STEP_TIMEOUT, .recover_grace = RECOVER_GRACE,
	};
}

static void start(const struct mg_ladder_params *p)
{
	ck_assert_int_eq(mg_ladder_start(loop, p, on_done, NULL, &ladder), 0);
}

/* The ladder's n-th record, as its sinks saw it. */
static const struct migguard_event *step(size_t n)
{
	for (size_t i = 0; i < sink.n && i < MG_TEST_SINK_MAX; i++) {
		const struct mg_event *e = mg_test_sink_get(&sink, i);

		if (e->kind == MG_EVENT_PLUGIN && e->ev.kind == MIGGUARD_EVENT_ACTION_DONE && n-- == 0)
			return &e->ev;
	}
	ck_abort_msg("no step #%zu; summary:\n%s", n, ladder ? mg_ladder_summary(ladder) : "");
	return NULL;
}

static void assert_step(size_t n, const char *name, int result)
{
	const struct migguard_event *e = step(n);

	ck_assert_str_eq(e->step, name);
	ck_assert_msg(e->result == result, "step %s: result %d, expected %d (%s)", name, e->result,
		      result, e->detail);
}

static size_t n_steps(void) { return mg_test_sink_count(&sink, MIGGUARD_EVENT_ACTION_DONE); }

static bool child_alive(void) { return waitpid(child.pid, NULL, WNOHANG) == 0; }

START_TEST(test_step_names_are_the_records_strings)
{
	static const char *const names[] = { "cancel", "cancel-check", "unstick", "unstick-check", "yank",
		"recover-check", "kill", "kill-check", "core", "restart", "disk-check", "destroy", "destroy-check" };
	enum mg_ladder_step s;

	ck_assert_uint_eq(MG_ARRAY_SIZE(names), MG_LADDER_STEP_LAST);
	for (size_t i = 0; i < MG_ARRAY_SIZE(names); i++) {
		ck_assert_str_eq(mg_ladder_step_to_string((enum mg_ladder_step)i), names[i]);
		ck_assert_int_eq(mg_ladder_step_from_string(names[i], &s), 0);
		ck_assert_int_eq(s, (enum mg_ladder_step)i);
	}
	ck_assert_str_eq(mg_ladder_step_to_string(MG_LADDER_STEP_LAST), "?");
	ck_assert_int_eq(mg_ladder_step_from_string("yank-check", &s), -EINVAL);
}
END_TEST

/* The monitor is held (QEMU answers no in-band request while the BQL is
 * taken): migrate_cancel cannot even be sent, and the record says why;
 * no check is recorded as if a request had gone out. */
START_TEST(test_cancel_refused_while_inband_requests_are_outstanding)
{
	struct mg_ladder_params p = params(MG_ACTION_CANCEL);
	struct mg_qmp *q;

	track(MG_DIR_OUT);
	mg_qmppeer_answer(peer, "query-block", NULL);
	q = mg_watch_qmp(w);
	while (mg_qmp_execute(q, "query-block", NULL, false, 0, NULL, NULL) == 0)
		;
	start(&p);
	ck_assert_int_eq(done, 1);
	ck_assert_uint_eq(n_steps(), 1);
	assert_step(0, "cancel", -EBUSY);
	ck_assert_ptr_nonnull(strstr(step(0)->detail, "earlier in-band requests are still unanswered"));
	ck_assert_uint_eq(mg_qmppeer_count(peer, "migrate_cancel"), 0);
}
END_TEST

START_TEST(test_cancel_error_reply_recorded_then_still_hung)
{
	struct mg_ladder_params p = params(MG_ACTION_CANCEL);

	track(MG_DIR_OUT);
	mg_qmppeer_answer_error(peer, "migrate_cancel", "GenericError", "no migration in progress");
	start(&p);
	ck_assert(mg_test_run_until(loop, &done, 1, 3000));
	ck_assert_uint_eq(n_steps(), 2);
	assert_step(0, "cancel", -EREMOTEIO);
	assert_step(1, "cancel-check", -ETIMEDOUT);
	ck_assert(mg_watch_tracking(w));
}
END_TEST

START_TEST(test_cancel_that_ends_the_migration_is_checked_ok)
{
	struct mg_ladder_params p = params(MG_ACTION_RECOVER);

	track(MG_DIR_OUT);
	mg_qmppeer_answer(peer, "migrate_cancel", "{}");
	start(&p);
	ck_assert(mg_test_run_until_cond(loop, cmd_came, "migrate_cancel", 2000));
	mg_qmppeer_event(peer, "MIGRATION", "{\"status\": \"cancelled\"}");
	ck_assert(mg_test_run_until(loop, &done, 1, 3000));
	ck_assert_uint_eq(n_steps(), 2);
	assert_step(0, "cancel", 0);
	assert_step(1, "cancel-check", 0);
	/* Recover stops at the first rung that worked. */
	ck_assert_uint_eq(mg_qmppeer_count(peer, "query-yank"), 0);
	ck_assert(child_alive());
}
END_TEST

/* The switch-over write with a direct monitor: QEMU's own out-of-band
 * yank of the migration channel, and nothing else (never a block node,
 * whose yank would leave the guest a dead disk); QEMU's error is recorded
 * with its text. */
START_TEST(test_switchover_with_direct_monitor_yanks_only_the_migration_channel)
{
	struct mg_ladder_params p = params(MG_ACTION_RECOVER);

	p.plan.kind = MG_UNSTICK_SWITCHOVER;
	track(MG_DIR_OUT);
	mg_qmppeer_answer(peer, "migrate_cancel", "{}");
	mg_qmppeer_answer_error(peer, "yank", "GenericError", "Instance busy");
	start(&p);
	ck_assert(mg_test_run_until_cond(loop, cmd_came, "yank", 3000));
	ck_assert(mg_qmppeer_last_oob(peer, "yank"));
	ck_assert_str_eq(mg_qmppeer_last_args(peer, "yank"), "{\"instances\":[{\"type\":\"migration\"}]}");
	ck_assert_uint_eq(mg_qmppeer_count(peer, "query-yank"), 0);
	/* The migration fails within recover_grace: no kill. */
	mg_qmppeer_event(peer, "MIGRATION", "{\"status\": \"failed\"}");
	ck_assert(mg_test_run_until(loop, &done, 1, 3000));
	assert_step(0, "cancel", 0);
	assert_step(1, "cancel-check", -ETIMEDOUT);
	assert_step(2, "yank", -EREMOTEIO);
	ck_assert_ptr_nonnull(strstr(step(2)->detail, "Instance busy"));
	assert_step(3, "recover-check", 0);
	ck_assert_uint_eq(n_steps(), 4);
	ck_assert(child_alive());
}
END_TEST

/* Still hung after recover_grace, and the pid now names a process started
 * at another time (a recycled pid): it is never signalled. */
START_TEST(test_kill_refused_when_the_start_time_differs)
{
	struct mg_procid other = child;
	struct mg_ladder_params p = params(MG_ACTION_RECOVER);

	other.start_time++;
	other.pidfd = -1;
	p.id = &other;
	track(MG_DIR_OUT);
	mg_qmppeer_answer(peer, "migrate_cancel", "{}");
	start(&p);
	ck_assert(mg_test_run_until(loop, &done, 1, 5000));
	/* Unstick needs the pidfd first: without it nothing is taken. */
	assert_step(2, "unstick", -ENOSYS);
	ck_assert_ptr_nonnull(strstr(step(2)->detail, "check 1/5 pinned: no pidfd"));
	assert_step(3, "unstick", -ECANCELED);
	assert_step(4, "recover-check", -ETIMEDOUT);
	assert_step(5, "kill", -ESTALE);
	ck_assert_ptr_nonnull(strstr(step(5)->detail, "refused"));
	ck_assert_uint_eq(n_steps(), 6);
	ck_assert(child_alive());
}
END_TEST

/* A lock cycle (the seed's deadlock): unstick refuses (this migration is
 * not even a hang the checks can see: check 2), nothing is shut, no yank
 * is sent, and the verified QEMU (a child of the test here) is killed
 * after recover_grace. */
START_TEST(test_unstick_refusal_goes_on_to_kill_the_verified_process)
{
	struct mg_ladder_params p = params(MG_ACTION_RECOVER);
	int status;

	p.plan.lock_cycle = true;
	snprintf(p.plan.why, sizeof(p.plan.why), "a lock cycle inside QEMU");
	track(MG_DIR_OUT);
	mg_qmppeer_answer(peer, "migrate_cancel", "{}");
	start(&p);
	ck_assert(mg_test_run_until(loop, &done, 1, 5000));
	assert_step(2, "unstick", 0);
	ck_assert_ptr_nonnull(strstr(step(2)->detail, "check 1/5 pinned: pid "));
	assert_step(3, "unstick", -EINVAL);
	ck_assert_ptr_nonnull(strstr(step(3)->detail, "check 2/5 hang: the migration is active"));
	assert_step(4, "unstick", -ECANCELED);
	ck_assert_ptr_nonnull(strstr(step(4)->detail, "refused at check 2 (hang)"));
	assert_step(5, "recover-check", -ETIMEDOUT);
	assert_step(6, "kill", 0);
	assert_step(7, "kill-check", 0);
	ck_assert_uint_eq(n_steps(), 8);
	ck_assert_uint_eq(mg_qmppeer_count(peer, "yank"), 0);
	ck_assert_int_eq(waitpid(child.pid, &status, 0), child.pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}
END_TEST

/* DESIGN section 6: never act on a post-copy migration (the guest's memory
 * lives on both hosts), nor with action none. */
START_TEST(test_postcopy_and_action_none_never_touched)
{
	struct mg_ladder_params p = params(MG_ACTION_RECOVER);
	struct mg_ladder_params none = params(MG_ACTION_NONE);

	track(MG_DIR_OUT);
	ck_assert_int_eq(mg_ladder_start(loop, &none, on_done, NULL, &ladder), -ECANCELED);
	mg_watch_on_status(w, "postcopy-active", "test");
	ck_assert_int_eq(mg_watch_phase(w), MG_PHASE_POSTCOPY);
	ck_assert_int_eq(mg_ladder_start(loop, &p, on_done, NULL, &ladder), -ECANCELED);
	ck_assert_ptr_null(ladder);
	ck_assert(mg_test_run_until(loop, NULL, 0, 200));
	ck_assert_uint_eq(n_steps(), 0);
	ck_assert_int_eq(done, 0);
	ck_assert_uint_eq(mg_qmppeer_count(peer, "migrate_cancel"), 0);
	ck_assert(child_alive());
}
END_TEST

/* Each rung runs once and done runs once: what happens after the end
 * (more events, time) starts nothing again. */
START_TEST(test_ladder_acts_once_and_reports_done_once)
{
	struct mg_ladder_params p = params(MG_ACTION_CANCEL);

	track(MG_DIR_OUT);
	mg_qmppeer_answer(peer, "migrate_cancel", "{}");
	start(&p);
	ck_assert(mg_test_run_until_cond(loop, cmd_came, "migrate_cancel", 2000));
	mg_qmppeer_event(peer, "MIGRATION", "{\"status\": \"cancelled\"}");
	ck_assert(mg_test_run_until(loop, &done, 1, 3000));
	ck_assert(mg_ladder_finished(ladder));
	mg_qmppeer_event(peer, "MIGRATION", "{\"status\": \"failed\"}");
	ck_assert(mg_test_run_until(loop, NULL, 0, (STEP_TIMEOUT + RECOVER_GRACE) / MG_USEC_PER_MSEC));
	ck_assert_int_eq(done, 1);
	ck_assert_uint_eq(n_steps(), 2);
	ck_assert_uint_eq(mg_qmppeer_count(peer, "migrate_cancel"), 1);
}
END_TEST

/* The incoming side is destroyed through libvirt only; without a domain
 * the record says so.  Action cancel does nothing on the incoming side. */
START_TEST(test_incoming_without_libvirt_records_no_domain_to_destroy)
{
	struct mg_ladder_params p = params(MG_ACTION_RECOVER);
	struct mg_ladder_params c = params(MG_ACTION_CANCEL);
	struct mg_ladder *other = NULL;

	track(MG_DIR_IN);
	ck_assert_int_eq(mg_ladder_start(loop, &c, on_done, NULL, &other), 0);
	ck_assert_int_eq(done, 1);
	ck_assert_uint_eq(n_steps(), 0);
	mg_ladder_free(other);
	start(&p);
	ck_assert_int_eq(done, 2);
	assert_step(0, "destroy", -ENOTCONN);
	ck_assert_uint_eq(n_steps(), 1);
	ck_assert(child_alive());
}
END_TEST

/* Freed with migrate_cancel unanswered: the reply (cancelled when the
 * watch's monitor goes) reaches no freed ladder and records nothing. */
START_TEST(test_ladder_freed_with_a_request_out_is_freed_by_its_reply)
{
	struct mg_ladder_params p = params(MG_ACTION_RECOVER);

	track(MG_DIR_OUT);
	mg_qmppeer_answer(peer, "migrate_cancel", NULL);
	start(&p);
	ck_assert(mg_test_run_until_cond(loop, cmd_came, "migrate_cancel", 2000));
	mg_ladder_free(ladder);
	ladder = NULL;
	mg_watch_free(w);
	w = NULL;
	ck_assert(mg_test_run_until(loop, NULL, 0, 100));
	ck_assert_uint_eq(n_steps(), 0);
	ck_assert_int_eq(done, 0);
}
END_TEST

static Suite *ladder_suite(void)
{
	Suite *s = suite_create("ladder");
	TCase *tc = tcase_create("scripted monitor");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_step_names_are_the_records_strings);
	tcase_add_test(tc, test_cancel_refused_while_inband_requests_are_outstanding);
	tcase_add_test(tc, test_cancel_error_reply_recorded_then_still_hung);
	tcase_add_test(tc, test_cancel_that_ends_the_migration_is_checked_ok);
	tcase_add_test(tc, test_switchover_with_direct_monitor_yanks_only_the_migration_channel);
	tcase_add_test(tc, test_kill_refused_when_the_start_time_differs);
	tcase_add_test(tc, test_unstick_refusal_goes_on_to_kill_the_verified_process);
	tcase_add_test(tc, test_postcopy_and_action_none_never_touched);
	tcase_add_test(tc, test_ladder_acts_once_and_reports_done_once);
	tcase_add_test(tc, test_incoming_without_libvirt_records_no_domain_to_destroy);
	tcase_add_test(tc, test_ladder_freed_with_a_request_out_is_freed_by_its_reply);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(ladder_suite());
}
