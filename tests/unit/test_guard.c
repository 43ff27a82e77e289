/* Unit tests of the guard (guard.c): a verdict is reported once and acted
 * on once per migration, not again after the guard's restart (the
 * ledger), and again for the next migration; the policy comes from the
 * domain's <metadata> over the file's.
 *
 * No QEMU: the guarded process is a child that sleeps, watched for an
 * incoming migration, whose /proc/PID/io never moves, so the real watch and
 * tracker declare it STALLED after incoming_timeout.  What the guard calls
 * on the verdict is replaced here: report.c (the snapshot and incident)
 * and ladder.c (the ladder) by stubs that count their calls and keep their
 * arguments (the link takes these definitions: guard.c is compiled into
 * this program, report.c and ladder.c are not). */
#include "ladder.h"
#include "guard.h"
#include "log.h"
#include "report.h"
#include "util.h"

#include "mgcheck.h"
#include "mgsink.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- stubs of report.c and ladder.c --------------------------------------- */

static struct {
	unsigned incidents, delivered, already, ladders, ladders_freed;
	bool lock_cycle;		/* what the "snapshot" finds (the plan says it) */
	bool hold;			/* the report ends only when the test says */
	bool ledger_acted;		/* the record handed to the last incident */
	char status_xml[1024], qemu_log[1024];
	struct mg_ladder_params ladder;	/* the last ladder's parameters */
	struct mg_report *last;		/* the report not yet ended or cancelled */
} seen;

struct mg_ladder {
	bool finished;
};

struct mg_report {
	sd_event_source *defer;
	mg_report_done_fn done;
	void *userdata;
};

static void report_end(struct mg_report *r)
{
	struct mg_unstick_plan plan = { .kind = MG_UNSTICK_NONE, .lock_cycle = seen.lock_cycle };

	seen.delivered++;
	/* The guard lets go of its handle in there (mg_report_cancel). */
	r->done(0, NULL, &plan, r->userdata);
}

static int report_deliver(sd_event_source *s, void *userdata)
{
	report_end(userdata);
	return 0;
}

int mg_report_start(const struct mg_env *env, struct mg_watch *w, const char *status_xml, const char *qemu_log,
		    const struct mg_ledger_entry *ledger, mg_report_done_fn done, void *userdata,
		    struct mg_report **out)
{
	struct mg_report *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(env->snap);
	seen.incidents++;
	seen.ledger_acted = ledger && ledger->acted;
	snprintf(seen.status_xml, sizeof(seen.status_xml), "%s", status_xml ? status_xml : "");
	snprintf(seen.qemu_log, sizeof(seen.qemu_log), "%s", qemu_log ? qemu_log : "");
	r->done = done;
	r->userdata = userdata;
	if (!seen.hold)
		ck_assert_int_eq(sd_event_add_defer(env->loop, &r->defer, report_deliver, r), 0);
	seen.last = r;
	*out = r;
	return 0;
}

struct mg_report *mg_report_cancel(struct mg_report *r)
{
	if (r) {
		sd_event_source_disable_unref(r->defer);
		if (seen.last == r)
			seen.last = NULL;
		free(r);
	}
	return NULL;
}

bool mg_report_already(const struct mg_env *env, const struct mg_ledger_entry *e, struct mg_watch *w)
{
	seen.already += e != NULL;
	return e != NULL;
}

int mg_ladder_start(sd_event *loop, const struct mg_ladder_params *p,
		    void (*done)(struct mg_ladder *a, void *userdata), void *userdata, struct mg_ladder **out)
{
	seen.ladders++;
	seen.ladder = *p;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void mg_ladder_free(struct mg_ladder *a)
{
	seen.ladders_freed += a != NULL;
	free(a);
}

bool mg_ladder_finished(const struct mg_ladder *a)
{
	return a->finished;
}

/* --- fixture -------------------------------------------------------------- */

static char state[256];
static sd_event *loop;
static struct mg_conf conf;
static struct mg_worker_pool *io;
static struct mg_notify *notify;
static struct mg_test_sink sink;
static struct mg_ledger *ledger;
static pid_t child;

static void setup(void)
{
	char run_dir[300];

	memset(&seen, 0, sizeof(seen));
	mg_test_mkdtemp(state, sizeof(state), "guard");
	mg_log_setup(MG_LOG_STDERR, LOG_WARNING, "test");
	ck_assert_int_eq(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_conf_init_defaults(&conf), 0);
	free(conf.state_dir);
	conf.state_dir = strdup(state);
	snprintf(run_dir, sizeof(run_dir), "%s/run", state);
	ck_assert_int_eq(mkdir(run_dir, 0755), 0);
	free(conf.libvirt_run_dir);
	conf.libvirt_run_dir = strdup(run_dir);
	free(conf.libvirt_log_dir);
	conf.libvirt_log_dir = strdup(state);
	conf.probe_interval = 20 * MG_USEC_PER_MSEC;
	conf.incoming_timeout = 100 * MG_USEC_PER_MSEC;
	conf.action = MG_ACTION_CANCEL;
	ck_assert_int_eq(mg_worker_pool_new(loop, 1, 0, &io), 0);
	ck_assert_int_eq(mg_notify_new(&notify), 0);
	memset(&sink, 0, sizeof(sink));
	mg_test_sink_register(notify, &sink, "test");
	ck_assert_int_eq(mg_ledger_open(state, &ledger), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
}

static void teardown(void)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	mg_ledger_free(ledger);
	mg_worker_pool_free(io);
	mg_notify_free(notify);
	mg_conf_clear(&conf);
	sd_event_unref(loop);
	mg_test_rm_rf(state);
}

static struct mg_guard *new_guard(bool libvirt)
{
	/* The stub of report.c takes no snapshot: any pool will do. */
	struct mg_env env = { .loop = loop, .conf = &conf, .notify = notify, .io = io, .snap = io };
	struct mg_guard_params p = {
		.name = "busy", .uuid = libvirt ? "0b4d1c2e-4e5f-4a6b-8c7d-9e0f1a2b3c4d" : NULL, .pid = child,
		.libvirt = libvirt, .ledger = ledger,
	};
	struct mg_guard *g = NULL;

	ck_assert_int_eq(mg_guard_new(&env, &p, NULL, NULL, &g), 0);
	return g;
}

/* Runs the loop until the guard handled a verdict (reported, and the
 * report ended unless held, or found it already reported), at most 5 s. */
static void run_until_verdict(void)
{
	unsigned before = seen.incidents + seen.already;
	uint64_t until = mg_now_mono() + 5 * MG_USEC_PER_SEC;

	while ((seen.incidents + seen.already == before || (!seen.hold && seen.delivered < seen.incidents)) &&
	       mg_now_mono() < until)
		ck_assert_int_ge(sd_event_run(loop, 10 * MG_USEC_PER_MSEC), 0);
	ck_assert_msg(seen.incidents + seen.already > before, "no verdict within 5 s");
	ck_assert_msg(seen.hold || seen.delivered == seen.incidents, "the report did not end within 5 s");
}

/* A few more probe rounds (nothing more may happen). */
static void run_for(uint64_t usec)
{
	uint64_t until = mg_now_mono() + usec;

	while (mg_now_mono() < until)
		ck_assert_int_ge(sd_event_run(loop, 10 * MG_USEC_PER_MSEC), 0);
}

static const struct mg_ledger_entry *record(const struct mg_guard *g, const char *uuid)
{
	struct mg_ledger_key k;

	mg_ledger_key_init(&k, mg_guard_id(g), uuid, MG_DIR_IN);
	return mg_ledger_find(ledger, &k);
}

/* --- tests ---------------------------------------------------------------- */

START_TEST(test_a_verdict_is_reported_once_and_acted_on_once)
{
	struct mg_guard *g = new_guard(false);

	seen.lock_cycle = true;
	ck_assert_int_eq(mg_guard_track(g, MG_DIR_IN, "test: incoming"), 0);
	run_until_verdict();
	run_for(300 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(seen.incidents, 1);
	ck_assert_uint_eq(seen.ladders, 1);
	ck_assert_int_eq(seen.ladder.action, MG_ACTION_CANCEL);
	ck_assert(seen.ladder.plan.lock_cycle);
	ck_assert_ptr_eq(seen.ladder.id, mg_guard_id(g));
	ck_assert_ptr_null(seen.ladder.dom);
	/* Standalone: no context files. */
	ck_assert_str_eq(seen.status_xml, "");
	ck_assert(seen.ledger_acted);
	ck_assert_ptr_nonnull(record(g, NULL));
	ck_assert(record(g, NULL)->acted);
	ck_assert(mg_guard_acting(g));
	/* A track call while tracking starts nothing new. */
	ck_assert_int_eq(mg_guard_track(g, MG_DIR_IN, "test: again"), 0);
	run_for(200 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(seen.incidents, 1);
	ck_assert_uint_eq(seen.ladders, 1);
	mg_guard_free(g);
	ck_assert_uint_eq(seen.ladders_freed, 1);
}
END_TEST

/* The guard before a restart reported this migration: the new one neither
 * writes a second incident nor runs the ladder again. */
START_TEST(test_a_recorded_migration_is_neither_reported_nor_acted_on_again)
{
	struct mg_guard *g = new_guard(false);
	struct mg_ledger_key k;

	mg_ledger_key_init(&k, mg_guard_id(g), NULL, MG_DIR_IN);
	ck_assert_int_eq(mg_ledger_note(ledger, &k, true, "/x/incidents/before-restart"), 0);
	ck_assert_int_eq(mg_guard_track(g, MG_DIR_IN, "test: incoming"), 0);
	run_until_verdict();
	run_for(200 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(seen.already, 1);
	ck_assert_uint_eq(seen.incidents, 0);
	ck_assert_uint_eq(seen.ladders, 0);
	ck_assert(!mg_guard_acting(g));
	mg_guard_free(g);
}
END_TEST

/* The end of a migration forgets its record and its flags: the next one
 * is reported and acted on again, and the earlier ladder goes. */
START_TEST(test_the_next_migration_is_reported_and_acted_on_again)
{
	struct mg_guard *g = new_guard(false);

	ck_assert_int_eq(mg_guard_track(g, MG_DIR_IN, "test: first"), 0);
	run_until_verdict();
	ck_assert_uint_eq(seen.ladders, 1);
	mg_guard_end(g, MG_PHASE_FAILED, "test: failed");
	ck_assert(!mg_guard_tracking(g));
	ck_assert_ptr_null(record(g, NULL));
	/* The ladder may outlive its migration (a restart after the kill). */
	ck_assert(mg_guard_acting(g));

	ck_assert_int_eq(mg_guard_track(g, MG_DIR_IN, "test: second"), 0);
	run_until_verdict();
	ck_assert_uint_eq(seen.incidents, 2);
	ck_assert_uint_eq(seen.already, 0);
	ck_assert_uint_eq(seen.ladders, 2);
	ck_assert_uint_eq(seen.ladders_freed, 1);
	mg_guard_free(g);
}
END_TEST

START_TEST(test_action_none_reports_without_acting)
{
	struct mg_guard *g = new_guard(false);

	conf.action = MG_ACTION_NONE;
	ck_assert_int_eq(mg_guard_track(g, MG_DIR_IN, "test: incoming"), 0);
	run_until_verdict();
	ck_assert_uint_eq(seen.incidents, 1);
	ck_assert_uint_eq(seen.ladders, 0);
	ck_assert(!seen.ledger_acted);
	ck_assert_ptr_nonnull(record(g, NULL));
	ck_assert(!record(g, NULL)->acted);
	mg_guard_free(g);
}
END_TEST

/* A libvirt domain: the incident copies its status XML and QEMU log, and
 * its <metadata> action (read at the verdict) wins over the file's. */
START_TEST(test_the_domain_metadata_overrides_the_file_policy)
{
	const char *uuid = "0b4d1c2e-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
	struct mg_guard *g = new_guard(true);
	char xml[400], log[400];
	FILE *f;

	conf.action = MG_ACTION_NONE;
	snprintf(xml, sizeof(xml), "%s/busy.xml", conf.libvirt_run_dir);
	snprintf(log, sizeof(log), "%s/busy.log", conf.libvirt_log_dir);
	f = fopen(xml, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "<domstatus state='paused' pid='%d'><domain type='kvm'><name>busy</name><uuid>%s</uuid>"
		   "<metadata><g:guard xmlns:g='https://migguard.invalid/xmlns/guard/1'>"
		   "<g:action>recover</g:action></g:guard></metadata></domain></domstatus>\n",
		(int)child, uuid);
	fclose(f);
	ck_assert_int_eq(mg_guard_track(g, MG_DIR_IN, "test: incoming"), 0);
	run_until_verdict();
	ck_assert_uint_eq(seen.ladders, 1);
	ck_assert_int_eq(seen.ladder.action, MG_ACTION_RECOVER);
	ck_assert_str_eq(seen.status_xml, xml);
	ck_assert_str_eq(seen.qemu_log, log);
	ck_assert_ptr_nonnull(record(g, uuid));
	ck_assert_ptr_null(record(g, NULL));
	mg_guard_free(g);
}
END_TEST

/* The actions wait for the snapshot (they need its plan); a migration
 * that ended meanwhile keeps its incident but is not acted on, and the
 * next one is acted on as usual. */
START_TEST(test_the_actions_wait_for_the_snapshot_and_skip_a_migration_that_ended)
{
	struct mg_guard *g = new_guard(false);
	struct mg_report *held;

	seen.hold = true;
	ck_assert_int_eq(mg_guard_track(g, MG_DIR_IN, "test: first"), 0);
	run_until_verdict();
	run_for(100 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(seen.incidents, 1);
	ck_assert_uint_eq(seen.ladders, 0);
	/* Busy with the verdict: the registry must not forget the guard. */
	ck_assert(mg_guard_acting(g));
	ck_assert_ptr_null(record(g, NULL));
	held = seen.last;
	ck_assert_ptr_nonnull(held);
	mg_guard_end(g, MG_PHASE_COMPLETED, "test: completed meanwhile");
	report_end(held);
	ck_assert_ptr_null(seen.last);
	ck_assert_uint_eq(seen.ladders, 0);
	ck_assert_ptr_null(record(g, NULL));
	ck_assert(!mg_guard_acting(g));

	seen.hold = false;
	ck_assert_int_eq(mg_guard_track(g, MG_DIR_IN, "test: second"), 0);
	run_until_verdict();
	ck_assert_uint_eq(seen.incidents, 2);
	ck_assert_uint_eq(seen.ladders, 1);
	ck_assert_ptr_nonnull(record(g, NULL));
	mg_guard_free(g);
}
END_TEST

/* A guard freed while its snapshot runs lets go of the report (the real
 * one still writes the incident) and nothing calls back into it. */
START_TEST(test_a_guard_freed_during_its_snapshot_is_not_called_back)
{
	struct mg_guard *g = new_guard(false);

	seen.hold = true;
	ck_assert_int_eq(mg_guard_track(g, MG_DIR_IN, "test: incoming"), 0);
	run_until_verdict();
	ck_assert_ptr_nonnull(seen.last);
	mg_guard_free(g);
	ck_assert_ptr_null(seen.last);
	ck_assert_uint_eq(seen.ladders, 0);
}
END_TEST

START_TEST(test_no_guard_for_a_process_that_is_gone)
{
	struct mg_env env = { .loop = loop, .conf = &conf, .notify = notify, .io = io, .snap = io };
	struct mg_guard_params p = { .name = "gone", .pid = mg_test_dead_pid(), .ledger = ledger };
	struct mg_guard *g = NULL;

	ck_assert_int_eq(mg_guard_new(&env, &p, NULL, NULL, &g), -ESRCH);
	ck_assert_ptr_null(g);
}
END_TEST

static Suite *guard_suite(void)
{
	Suite *s = suite_create("guard");
	TCase *tc = tcase_create("verdict");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_a_verdict_is_reported_once_and_acted_on_once);
	tcase_add_test(tc, test_a_recorded_migration_is_neither_reported_nor_acted_on_again);
	tcase_add_test(tc, test_the_next_migration_is_reported_and_acted_on_again);
	tcase_add_test(tc, test_action_none_reports_without_acting);
	tcase_add_test(tc, test_the_domain_metadata_overrides_the_file_policy);
	tcase_add_test(tc, test_the_actions_wait_for_the_snapshot_and_skip_a_migration_that_ended);
	tcase_add_test(tc, test_a_guard_freed_during_its_snapshot_is_not_called_back);
	tcase_add_test(tc, test_no_guard_for_a_process_that_is_gone);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(guard_suite());
}
