/* ladder.c - see ladder.h. */
#include "ladder.h"
#include "coredump.h"
#include "incident.h"
#include "log.h"
#include "msgid.h"
#include "notify.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#define MG_ACTION_POLL (100 * MG_USEC_PER_MSEC)
#define MG_ACTION_EXIT_WAIT (30 * MG_USEC_PER_SEC)	/* a core dump takes a while */
#define MG_ACTION_RESTART_WAIT (60 * MG_USEC_PER_SEC)
/* libvirt's destroy sends SIGTERM, waits up to 10 s, then SIGKILL and
 * waits again (qemuProcessKill): give it that and some. */
#define MG_ACTION_DESTROY_WAIT (30 * MG_USEC_PER_SEC)

/* How long a peer's receive queue must stay unchanged to call it stalled. */
#define MG_UNSTICK_QUEUE_WINDOW (1 * MG_USEC_PER_SEC)
#define MG_DISK_POLL (1 * MG_USEC_PER_SEC)

MG_ENUM_IMPL(mg_ladder_step, enum mg_ladder_step, MG_LADDER_STEP_LAST,
	     "cancel", "cancel-check", "unstick", "unstick-check", "yank", "recover-check", "kill", "kill-check",
	     "core", "restart", "disk-check", "destroy", "destroy-check");

struct mg_ladder {
	sd_event *loop;
	struct mg_ladder_params p;
	struct mg_incwriter *incident;
	void (*done)(struct mg_ladder *a, void *userdata);
	void *userdata;
	sd_event_source *timer;
	uint64_t wait_until;
	bool (*wait_for)(struct mg_ladder *a);
	void (*after_wait)(struct mg_ladder *a, bool reached);
	char summary[2048];
	bool finished;
	struct mg_worker_call *inflight;	/* libvirt call not yet delivered */
	unsigned qmp_pending;		/* QMP requests whose reply has not run */
	bool freed;			/* mg_ladder_free ran; the last reply frees */
	bool aborted;			/* SIGABRT sent: look for the core */
	struct mg_coredump core;
	char *status_xml;		/* p.status_xml, owned */
	uint64_t unstick_at;		/* when the socket was shut (monotonic usec) */
	unsigned reconnect_delay;	/* of the drive whose socket was shut */
	/* The disk check: the successful I/O counts of the first answer. */
	uint64_t disk_deadline;
	bool disk_base_valid;
	uint64_t disk_base_ok, disk_base_failed, disk_last_failed;
	char disk_note[128];
	sd_event_source *disk_timer, *retry_timer;
	/* The libvirt query in flight reports here (one at a time). */
	void (*pending_query)(struct mg_ladder *a, int err, json_object *ret);
};

/* The journal's MESSAGE_ID of each step (msgid.h says why one per step);
 * conf/migguard.catalog explains each. */
static const char *const step_message_id[] = {
	[MG_LADDER_CANCEL] = MG_MESSAGE_ACTION_CANCEL,
	[MG_LADDER_CANCEL_CHECK] = MG_MESSAGE_ACTION_CANCEL_CHECK,
	[MG_LADDER_UNSTICK] = MG_MESSAGE_ACTION_UNSTICK,
	[MG_LADDER_UNSTICK_CHECK] = MG_MESSAGE_ACTION_UNSTICK_CHECK,
	[MG_LADDER_YANK] = MG_MESSAGE_ACTION_YANK,
	[MG_LADDER_RECOVER_CHECK] = MG_MESSAGE_ACTION_RECOVER_CHECK,
	[MG_LADDER_KILL] = MG_MESSAGE_ACTION_KILL,
	[MG_LADDER_KILL_CHECK] = MG_MESSAGE_ACTION_KILL_CHECK,
	[MG_LADDER_CORE] = MG_MESSAGE_ACTION_CORE,
	[MG_LADDER_RESTART] = MG_MESSAGE_ACTION_RESTART,
	[MG_LADDER_DISK_CHECK] = MG_MESSAGE_ACTION_DISK_CHECK,
	[MG_LADDER_DESTROY] = MG_MESSAGE_ACTION_DESTROY,
	[MG_LADDER_DESTROY_CHECK] = MG_MESSAGE_ACTION_DESTROY_CHECK,
};
/* A step added to the enum without an id fails here, not in the journal. */
_Static_assert(MG_ARRAY_SIZE(step_message_id) == (size_t)MG_LADDER_STEP_LAST,
	       "every ladder step needs a MESSAGE_ID in msgid.h and the catalog");

static void next_step(struct mg_ladder *a, enum mg_ladder_step s);
static void finish(struct mg_ladder *a);
static void disk_check_start(struct mg_ladder *a);

/* One step done, to every sink (metrics, plugins). */
static void emit_action(struct mg_ladder *a, enum mg_ladder_step step, int result, const char *detail)
{
	struct mg_event e = mg_event_plugin(MIGGUARD_EVENT_ACTION_DONE, "action");

	mg_watch_describe(a->p.watch, &e);
	e.ev.incident = a->incident ? mg_incwriter_dir(a->incident) : NULL;
	e.ev.step = mg_ladder_step_to_string(step);
	e.ev.result = result;
	e.ev.detail = detail;
	mg_notify_dispatch(a->p.notify, &e);
}

/* One step to the journal, with its MESSAGE_ID and the fields the catalog
 * entry substitutes (@MIGGUARD_DOMAIN@, @MIGGUARD_RESULT@, ...). */
static void log_step(struct mg_ladder *a, enum mg_ladder_step s, int result, const char *detail)
{
	const char *step = mg_ladder_step_to_string(s), *res = result == 0 ? "ok" : strerror(-result);
	char pid[16];
	struct mg_log_field f[] = {
		{ "MIGGUARD_DOMAIN", mg_watch_name(a->p.watch) }, { "MIGGUARD_UUID", mg_watch_uuid(a->p.watch) },
		{ "MIGGUARD_PID", pid }, { "MIGGUARD_STEP", step }, { "MIGGUARD_RESULT", res },
		{ "MIGGUARD_INCIDENT", a->incident ? mg_incwriter_dir(a->incident) : NULL },
	};

	snprintf(pid, sizeof(pid), "%d", (int)mg_watch_pid(a->p.watch));
	mg_log_full(result == 0 ? LOG_NOTICE : LOG_WARNING, 0, step_message_id[s], f, MG_ARRAY_SIZE(f),
		    "domain %s: action %s: %s: %s", mg_watch_name(a->p.watch), step, res, detail);
}

static void record(struct mg_ladder *a, enum mg_ladder_step s, int result, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void record(struct mg_ladder *a, enum mg_ladder_step s, int result, const char *fmt, ...)
{
	const char *step = mg_ladder_step_to_string(s);
	char detail[512];
	size_t len = strlen(a->summary);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(a->summary + len, sizeof(a->summary) - len, "%s: %s: %s\n", step,
		 result == 0 ? "ok" : strerror(-result), detail);
	log_step(a, s, result, detail);
	if (a->incident)
		mg_incwriter_add_action(a->incident, step, result, detail);
	emit_action(a, s, result, detail);
	mg_watch_note(a->p.watch, "action %s: %s: %s", step, result == 0 ? "ok" : strerror(-result), detail);
}

/* A QMP request of the ladder.  Its reply callback runs exactly once, also
 * after mg_ladder_free (with -ECANCELED when the monitor goes, e.g. from
 * mg_watch_free): a ladder with requests out is freed by the last reply. */
static int ladder_qmp(struct mg_ladder *a, struct mg_qmp *q, const char *cmd, json_object *args, bool oob,
		      mg_qmp_reply_fn cb)
{
	int r = mg_qmp_execute(q, cmd, args, oob, a->p.step_timeout, cb, a);

	if (r == 0)
		a->qmp_pending++;
	return r;
}

/* First thing in each reply callback: false when the ladder is gone. */
static bool ladder_reply(struct mg_ladder *a)
{
	a->qmp_pending--;
	if (!a->freed)
		return true;
	if (a->qmp_pending == 0)
		free(a);
	return false;
}

const char *mg_ladder_summary(const struct mg_ladder *a) { return a->summary; }
bool mg_ladder_finished(const struct mg_ladder *a) { return a->finished; }

/* --- waiting on a condition, polled on the loop ------------------------- */

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct mg_ladder *a = userdata;
	bool reached = a->wait_for(a);

	if (!reached && mg_now_mono() < a->wait_until) {
		sd_event_source_set_time_relative(s, MG_ACTION_POLL);
		sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
		return 0;
	}
	a->after_wait(a, reached);
	return 0;
}

static void wait_for(struct mg_ladder *a, uint64_t timeout, bool (*cond)(struct mg_ladder *),
		     void (*then)(struct mg_ladder *, bool))
{
	a->wait_for = cond;
	a->after_wait = then;
	a->wait_until = mg_now_mono() + timeout;
	sd_event_source_set_time_relative(a->timer, 0);
	sd_event_source_set_enabled(a->timer, SD_EVENT_ONESHOT);
}

/* The tracker saw the migration end: QEMU itself reported it completed,
 * failed or cancelled (its MIGRATION event or query-migrate, both answered
 * only once the BQL is free again), or libvirt ended the job.  The last BQL
 * probe is not consulted: probes stop with the track, it would be stale. */
static bool migration_over(struct mg_ladder *a)
{
	return !mg_watch_tracking(a->p.watch);
}

static bool process_gone(struct mg_ladder *a)
{
	return mg_procid_exited(a->p.id);
}

/* --- libvirt calls on the worker pool ---------------------------------- */

/* One libvirt call's own state: it may outlive the ladder (stuck inside
 * libvirt), so it never points at it; the ladder's handle does the rest.
 * Either fn, or a QMP command through libvirt's monitor (its reply kept). */
struct lv_call {
	virDomainPtr dom;
	int (*fn)(virDomainPtr);
	char *qmp;
	char *reply;
	char error[256];
	void (*then)(struct mg_ladder *a, int result, const char *error, const char *reply);
};

static int lv_call_run(void *arg)
{
	struct lv_call *c = arg;
	int r;

	if (c->qmp) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "{\"execute\":\"%s\"}", c->qmp);
		r = virDomainQemuMonitorCommand(c->dom, cmd, &c->reply, 0);
	} else {
		r = c->fn(c->dom);
	}
	if (r < 0) {
		const char *m = virGetLastErrorMessage();

		snprintf(c->error, sizeof(c->error), "%s", m ? m : "libvirt error");
		return -EIO;
	}
	return 0;
}

static void lv_call_done(int result, void *arg, void *userdata)
{
	struct lv_call *c = arg;
	struct mg_ladder *a = userdata;

	a->inflight = mg_worker_call_cancel(a->inflight);
	c->then(a, result, result == -ETIMEDOUT ? "no answer before the deadline" : c->error, c->reply);
}

static void lv_call_free(void *arg)
{
	struct lv_call *c = arg;

	virDomainFree(c->dom);
	free(c->qmp);
	free(c->reply);
	free(c);
}

static int lv_submit(struct mg_ladder *a, const char *what, int (*fn)(virDomainPtr), const char *qmp,
		     uint64_t timeout, void (*then)(struct mg_ladder *, int, const char *, const char *))
{
	struct lv_call *c = calloc(1, sizeof(*c));
	struct mg_worker_call_spec spec = {
		.what = what, .run = lv_call_run, .arg = c, .free_arg = lv_call_free,
		.timeout_usec = timeout, .done = lv_call_done, .userdata = a,
	};

	if (!c || (qmp && !(c->qmp = strdup(qmp)))) {
		free(c);
		return -ENOMEM;
	}
	c->fn = fn;
	c->then = then;
	virDomainRef(a->p.dom);
	c->dom = a->p.dom;
	return mg_worker_call(a->p.pool, &spec, &a->inflight);
}

static int lv_submit_qmp(struct mg_ladder *a, const char *cmd, uint64_t timeout,
			 void (*then)(struct mg_ladder *, int, const char *, const char *))
{
	char what[96];

	snprintf(what, sizeof(what), "qemu-monitor-command %s", cmd);
	return lv_submit(a, what, NULL, cmd, timeout, then);
}

static int abort_job(virDomainPtr d) { return virDomainAbortJob(d); }
static int destroy(virDomainPtr d) { return virDomainDestroy(d); }
static int create(virDomainPtr d) { return virDomainCreate(d); }

/* --- a QMP query, on the direct monitor or through libvirt's ----------- */

/* One query's answer: err 0 with ret the "return" member (borrowed, only
 * during the call), or a negative errno. */
typedef void (*ladder_query_fn)(struct mg_ladder *a, int err, json_object *ret);

struct query_ctx {
	struct mg_ladder *a;
	ladder_query_fn then;
};

static void on_direct_query(struct mg_qmp *q, int err, json_object *reply, void *userdata)
{
	struct query_ctx *c = userdata;
	struct mg_ladder *a = c->a;
	ladder_query_fn then = c->then;

	free(c);
	if (!ladder_reply(a))
		return;
	then(a, err, err == 0 ? reply : NULL);
}

static void on_lv_query(struct mg_ladder *a, int result, const char *error, const char *reply)
{
	json_object *root = NULL, *ret = NULL;

	if (result == 0) {
		root = reply ? json_tokener_parse(reply) : NULL;
		if (!root || !json_object_object_get_ex(root, "return", &ret))
			result = -EBADMSG;
	}
	a->pending_query(a, result, result == 0 ? ret : NULL);
	json_object_put(root);
}

/* Sends cmd (no arguments) in band: QEMU answers only once the BQL is
 * free.  Through libvirt when the domain is known (it stays valid across
 * a restart, the direct monitor does not), else on the direct monitor. */
static int ladder_query(struct mg_ladder *a, const char *cmd, ladder_query_fn then)
{
	struct mg_qmp *q = mg_watch_qmp(a->p.watch);
	struct query_ctx *c;
	char what[64];
	int r;

	if (a->p.dom && a->p.pool) {
		snprintf(what, sizeof(what), "%s", cmd);
		a->pending_query = then;
		return lv_submit_qmp(a, what, a->p.step_timeout, on_lv_query);
	}
	if (!q)
		return -ENOTCONN;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->a = a;
	c->then = then;
	r = mg_qmp_execute(q, cmd, NULL, false, a->p.step_timeout, on_direct_query, c);
	if (r < 0) {
		free(c);
		return r;
	}
	a->qmp_pending++;
	return 0;
}

/* --- cancel ------------------------------------------------------------ */

static void after_cancel(struct mg_ladder *a, bool over)
{
	record(a, MG_LADDER_CANCEL_CHECK, over ? 0 : -ETIMEDOUT, "%s", over ?
	       "the migration ended and QEMU answers" : "still hung after the cancel request");
	if (over)
		disk_check_start(a);
	else if (a->p.action == MG_ACTION_CANCEL)
		finish(a);
	else
		next_step(a, MG_LADDER_UNSTICK);
}

static void on_cancel_reply(struct mg_qmp *q, int err, json_object *reply, void *userdata)
{
	struct mg_ladder *a = userdata;

	if (!ladder_reply(a))
		return;
	record(a, MG_LADDER_CANCEL, err, "QMP migrate_cancel on the direct monitor%s",
	       err == -ETIMEDOUT ? " (in-band: no answer while the BQL is held)" : "");
	wait_for(a, a->p.step_timeout, migration_over, after_cancel);
}

static void on_abort_done(struct mg_ladder *a, int result, const char *error, const char *reply)
{
	record(a, MG_LADDER_CANCEL, result, "virDomainAbortJob%s%s", result ? ": " : "", result ? error : "");
	wait_for(a, a->p.step_timeout, migration_over, after_cancel);
}

/* No cancel request went out: nothing to wait for, and no check to record
 * as if one had. */
static void cancel_unsent(struct mg_ladder *a)
{
	if (migration_over(a))
		after_cancel(a, true);
	else if (a->p.action == MG_ACTION_CANCEL)
		finish(a);
	else
		next_step(a, MG_LADDER_UNSTICK);
}

/* The hang's own evidence: live_migration holds the BQL and the monitor
 * has not answered.  A cancel is an in-band request: it would queue behind
 * the hang.  And libvirt's abort, once QEMU answers it after a recovery,
 * has left libvirt's migration job stuck for good (TESTBED-NOTES). */
static bool bql_hang(struct mg_ladder *a, char *why, size_t size)
{
	const struct mg_bql_result *b = mg_watch_last_bql(a->p.watch);
	uint64_t silent = mg_watch_unresponsive_since(a->p.watch);

	if (!b || !b->held || !b->owner_is_migration || !silent)
		return false;
	snprintf(why, size, "not sent: %s (%d) holds the BQL and the monitor has not answered for %.1f s: an "
		 "in-band cancel would queue behind the hang", b->owner_comm, (int)b->owner_tid,
		 (double)(mg_now_mono() - silent) / 1e6);
	return true;
}

static void do_cancel(struct mg_ladder *a)
{
	struct mg_qmp *q = mg_watch_qmp(a->p.watch);
	char why[256];
	int r;

	if (bql_hang(a, why, sizeof(why))) {
		record(a, MG_LADDER_CANCEL, -EBUSY, "%s", why);
	} else if (q) {
		r = ladder_qmp(a, q, "migrate_cancel", NULL, false, on_cancel_reply);
		if (r == 0)
			return;
		record(a, MG_LADDER_CANCEL, r, "cannot send migrate_cancel%s", r == -EBUSY ?
		       ": earlier in-band requests are still unanswered (the monitor is held)" : "");
	} else if (a->p.dom && a->p.pool) {
		r = lv_submit(a, "virDomainAbortJob", abort_job, NULL, a->p.step_timeout, on_abort_done);
		if (r == 0)
			return;
		record(a, MG_LADDER_CANCEL, r, "cannot submit virDomainAbortJob");
	} else {
		record(a, MG_LADDER_CANCEL, -ENOTCONN, "no direct monitor and no libvirt domain");
	}
	cancel_unsent(a);
}

/* --- after a recovery: does the guest's disk work? ---------------------- */

/* Sums of query-blockstats' successful and failed operations over every
 * device (QEMU counts them apart: "rd_operations" are the reads that
 * succeeded, "failed_rd_operations" those that did not). */
static bool blockstats_sums(json_object *ret, uint64_t *ok, uint64_t *failed)
{
	static const char *const oks[] = { "rd_operations", "wr_operations", "flush_operations" };
	static const char *const fails[] = { "failed_rd_operations", "failed_wr_operations",
					     "failed_flush_operations" };
	size_t n;

	*ok = *failed = 0;
	if (!json_object_is_type(ret, json_type_array))
		return false;
	n = json_object_array_length(ret);
	for (size_t i = 0; i < n; i++) {
		json_object *dev = json_object_array_get_idx(ret, i), *stats, *v;

		if (!json_object_is_type(dev, json_type_object) || !json_object_object_get_ex(dev, "stats", &stats) ||
		    !json_object_is_type(stats, json_type_object))
			continue;
		for (size_t k = 0; k < MG_ARRAY_SIZE(oks); k++) {
			if (json_object_object_get_ex(stats, oks[k], &v) && json_object_is_type(v, json_type_int))
				*ok += (uint64_t)json_object_get_int64(v);
			if (json_object_object_get_ex(stats, fails[k], &v) && json_object_is_type(v, json_type_int))
				*failed += (uint64_t)json_object_get_int64(v);
		}
	}
	return true;
}

static void disk_poll(struct mg_ladder *a);

static void disk_check_end(struct mg_ladder *a, int result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void disk_check_end(struct mg_ladder *a, int result, const char *fmt, ...)
{
	char detail[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	record(a, MG_LADDER_DISK_CHECK, result, "%s", detail);
	finish(a);
}

static int on_disk_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	disk_poll(userdata);
	return 0;
}

static void on_blockstats(struct mg_ladder *a, int err, json_object *ret)
{
	uint64_t ok = 0, failed = 0, now = mg_now_mono();
	char window[32];

	/* QEMU's answer is type-checked: anything but a list of objects with
	 * integer counters is noted and polled again, never trusted. */
	if (err == 0 && !blockstats_sums(ret, &ok, &failed))
		snprintf(a->disk_note, sizeof(a->disk_note), "query-blockstats answered %s, not a list",
			 json_type_to_name(json_object_get_type(ret)));
	else if (err < 0)
		snprintf(a->disk_note, sizeof(a->disk_note), "query-blockstats: %s", strerror(-err));
	else if (!a->disk_base_valid) {
		a->disk_base_valid = true;
		a->disk_base_ok = ok;
		a->disk_base_failed = a->disk_last_failed = failed;
	} else if (ok > a->disk_base_ok) {
		disk_check_end(a, 0, "the guest's disk works: %" PRIu64 " I/O operation(s) succeeded "
			       "%.1f s after the recovery (%" PRIu64 " failed since)", ok - a->disk_base_ok,
			       (double)(now - (a->disk_deadline - a->p.disk_check)) / 1e6,
			       failed - a->disk_base_failed);
		return;
	} else {
		a->disk_last_failed = failed;
	}
	if (now >= a->disk_deadline) {
		mg_format_seconds(a->p.disk_check, window, sizeof(window));
		if (a->disk_base_valid)
			disk_check_end(a, -ETIMEDOUT, "no I/O of the guest succeeded within %s after the recovery "
				       "(%" PRIu64 " failed): its storage may still be down", window,
				       a->disk_last_failed - a->disk_base_failed);
		else
			disk_check_end(a, -EBADMSG, "no block statistics within %s: %s", window,
				       a->disk_note[0] ? a->disk_note : "no answer");
		return;
	}
	sd_event_source_set_time_relative(a->disk_timer, MG_DISK_POLL);
	sd_event_source_set_enabled(a->disk_timer, SD_EVENT_ONESHOT);
}

static void disk_poll(struct mg_ladder *a)
{
	int r = ladder_query(a, "query-blockstats", on_blockstats);

	if (r < 0)
		disk_check_end(a, r, "cannot query the block statistics");
}

/* The guest runs again (after a cancel, unstick, yank or restart): watch
 * for one of its I/Os to succeed, for up to disk_check. */
static void disk_check_start(struct mg_ladder *a)
{
	if (!a->p.disk_check || (!a->p.dom && !mg_watch_qmp(a->p.watch))) {
		finish(a);
		return;
	}
	a->disk_deadline = mg_now_mono() + a->p.disk_check;
	a->disk_base_valid = false;
	a->disk_note[0] = '\0';
	if (!a->disk_timer &&
	    sd_event_add_time(a->loop, &a->disk_timer, CLOCK_MONOTONIC, 0, 1000, on_disk_timer, a) < 0) {
		finish(a);
		return;
	}
	disk_poll(a);
}

/* --- unstick, or the yank of the migration channel ----------------------- */

static void after_grace(struct mg_ladder *a, bool over)
{
	record(a, MG_LADDER_RECOVER_CHECK, over ? 0 : -ETIMEDOUT, "%s", over ?
	       "the migration ended and QEMU answers: no kill needed" :
	       "still hung after recover_grace");
	if (over)
		disk_check_start(a);
	else
		next_step(a, MG_LADDER_KILL);
}

static void on_yank_reply(struct mg_qmp *q, int err, json_object *reply, void *userdata)
{
	struct mg_ladder *a = userdata;

	if (!ladder_reply(a))
		return;
	record(a, MG_LADDER_YANK, err, "out-of-band yank of the migration channel%s%s",
	       err == -EREMOTEIO ? ": " : "", err == -EREMOTEIO ? mg_qmp_error_desc(reply) : "");
	wait_for(a, a->p.recover_grace, migration_over, after_grace);
}

/* The switch-over write with a direct monitor: QEMU's own yank of its
 * migration channel ends it the way shutting the socket would, with no fd
 * to pick.  The "migration" instance exists while a migration runs
 * (qapi/yank.json): no query-yank needed. */
static void do_yank_migration(struct mg_ladder *a, struct mg_qmp *q)
{
	json_object *args = json_object_new_object(), *list = json_object_new_array(),
		    *inst = json_object_new_object();
	int r = -ENOMEM;

	if (args && list && inst && json_object_object_add(inst, "type", json_object_new_string("migration")) == 0 &&
	    json_object_array_add(list, inst) == 0) {
		inst = NULL;
		if (json_object_object_add(args, "instances", list) == 0) {
			list = NULL;
			r = ladder_qmp(a, q, "yank", args, true, on_yank_reply);
		}
	}
	json_object_put(inst);
	json_object_put(list);
	json_object_put(args);
	if (r == 0)
		return;
	record(a, MG_LADDER_YANK, r, "cannot send the yank of the migration channel");
	wait_for(a, a->p.recover_grace, migration_over, after_grace);
}

/* QEMU is back: the migration over and the BQL free. */
static bool unstuck(struct mg_ladder *a)
{
	struct mg_bql_result b;

	return migration_over(a) && mg_probe_bql(a->p.id->pid, NULL, &b) == 0 && !b.held;
}

static void on_unstick_status(struct mg_ladder *a, int err, json_object *ret)
{
	json_object *v;
	const char *status = json_object_is_type(ret, json_type_object) &&
				     json_object_object_get_ex(ret, "status", &v) &&
				     json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	uint64_t took = mg_now_mono() - a->unstick_at;
	enum mg_phase final = mg_watch_phase(a->p.watch);

	if (err == 0 && status && strcmp(status, "running") == 0) {
		record(a, MG_LADDER_UNSTICK_CHECK, 0, "QEMU recovered %.0f ms after the shutdown: the migration %s, "
		       "the BQL is free, query-status answers \"running\" (%s monitor)", (double)took / 1e3,
		       mg_phase_to_string(final), a->p.dom ? "libvirt's" : "the direct");
		disk_check_start(a);
		return;
	}
	record(a, MG_LADDER_UNSTICK_CHECK, err ? err : -EINVAL, "the migration %s and the BQL is free, but "
	       "query-status %s%s", mg_phase_to_string(final), err ? "did not answer" : "says ",
	       err ? "" : status ? status : "something else");
	wait_for(a, a->p.recover_grace, migration_over, after_grace);
}

static void after_unstick(struct mg_ladder *a, bool reached)
{
	char took[32];
	int r;

	if (!reached) {
		record(a, MG_LADDER_UNSTICK_CHECK, -ETIMEDOUT, "still hung %s after the shutdown: no other "
		       "socket is tried", mg_format_seconds(mg_now_mono() - a->unstick_at, took, sizeof(took)));
		wait_for(a, a->p.recover_grace, migration_over, after_grace);
		return;
	}
	r = ladder_query(a, "query-status", on_unstick_status);
	if (r < 0)
		on_unstick_status(a, r, NULL);
}

static void do_unstick(struct mg_ladder *a);

static int on_unstick_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct mg_ladder *a = userdata;

	if (migration_over(a))
		after_grace(a, true);
	else
		do_unstick(a);
	return 0;
}

static void do_unstick(struct mg_ladder *a)
{
	struct mg_track *t = mg_watch_get_track(a->p.watch);
	const struct mg_bql_result *b = mg_watch_last_bql(a->p.watch);
	struct mg_qmp *q = mg_watch_qmp(a->p.watch);
	struct mg_domxml xml;
	char err[256];
	struct mg_unstick_params up = {
		.id = a->p.id, .plan = &a->p.plan, .queue_window = MG_UNSTICK_QUEUE_WINDOW,
		.hang = {
			.phase = t->phase, .hang_since = t->finishing_since ? t->finishing_since : t->hung_at,
			.unresponsive_since = mg_watch_unresponsive_since(a->p.watch),
			.probe_interval = mg_watch_probe_interval(a->p.watch),
		},
	};
	struct mg_unstick_result res;
	int r;

	if (a->p.plan.kind == MG_UNSTICK_SWITCHOVER && q && mg_qmp_oob_enabled(q)) {
		do_yank_migration(a, q);
		return;
	}
	if (a->p.no_unstick) {
		record(a, MG_LADDER_UNSTICK, -ECANCELED, "not run: unstick = no in the configuration (%s)",
		       a->p.plan.why);
		wait_for(a, a->p.recover_grace, migration_over, after_grace);
		return;
	}
	if (b) {
		up.hang.bql_valid = true;
		up.hang.bql_held = b->held;
		up.hang.bql_owner = b->owner_tid;
		snprintf(up.hang.bql_owner_comm, sizeof(up.hang.bql_owner_comm), "%s", b->owner_comm);
		up.hang.bql_futex = b->futex_addr;
		up.hang.bql_since = b->since_usec;
	}
	if (a->status_xml && mg_domxml_parse_file(a->status_xml, &xml, err, sizeof(err)) == 0)
		up.xml = &xml;
	r = mg_unstick_run(&up, &res);
	if (r == -EAGAIN) {
		/* The peer's queue needs another look before check 5 decides. */
		if (!a->retry_timer &&
		    sd_event_add_time(a->loop, &a->retry_timer, CLOCK_MONOTONIC, 0, 1000, on_unstick_retry, a) < 0) {
			record(a, MG_LADDER_UNSTICK, -ENOMEM, "cannot arm the retry timer");
			wait_for(a, a->p.recover_grace, migration_over, after_grace);
			return;
		}
		sd_event_source_set_time(a->retry_timer, res.retry_at);
		sd_event_source_set_enabled(a->retry_timer, SD_EVENT_ONESHOT);
		return;
	}
	for (size_t i = 0; i < res.n_checks; i++)
		record(a, MG_LADDER_UNSTICK, res.checks[i].result, "check %zu/%d %s: %s", i + 1, MG_UNSTICK_CHECKS,
		       res.checks[i].name, res.checks[i].detail);
	if (res.shut) {
		a->unstick_at = mg_now_mono();
		a->reconnect_delay = res.reconnect_delay;
		record(a, MG_LADDER_UNSTICK, 0, "%s", res.what);
		wait_for(a, a->p.step_timeout + res.reconnect_delay * MG_USEC_PER_SEC, unstuck, after_unstick);
		return;
	}
	if (res.what[0])
		record(a, MG_LADDER_UNSTICK, r, "%s", res.what);
	else
		record(a, MG_LADDER_UNSTICK, -ECANCELED, "refused at check %zu (%s): nothing was shut, and no "
		       "other socket is tried", res.n_checks, res.n_checks ? res.checks[res.n_checks - 1].name : "?");
	wait_for(a, a->p.recover_grace, migration_over, after_grace);
}

/* --- kill, restart, destroy -------------------------------------------- */

static void after_exit(struct mg_ladder *a, bool gone)
{
	char where[1024];
	int r;

	if (!gone && a->p.core_dump) {
		/* The core took too long: finish the job. */
		r = mg_procid_signal(a->p.id, SIGKILL);
		record(a, MG_LADDER_KILL, r, "SIGKILL after SIGABRT did not end pid %d", (int)a->p.id->pid);
		wait_for(a, MG_ACTION_EXIT_WAIT, process_gone, after_exit);
		a->p.core_dump = false;
		return;
	}
	record(a, MG_LADDER_KILL_CHECK, gone ? 0 : -ETIMEDOUT, "QEMU pid %d %s", (int)a->p.id->pid,
	       gone ? "has exited" : "still exists");
	if (a->aborted && gone) {
		r = mg_coredump_locate(&a->core, where, sizeof(where));
		record(a, MG_LADDER_CORE, r, "%s", where);
	}
	if (gone && a->p.restart && a->p.dom)
		next_step(a, MG_LADDER_RESTART);
	else
		finish(a);
}

static void do_kill(struct mg_ladder *a)
{
	int sig = a->p.core_dump ? SIGABRT : SIGKILL;
	int r;

	/* Verified against the start time first: a pid that now names another
	 * process is never signalled, nor its core limit touched. */
	r = mg_procid_verify(a->p.id);
	if (r == 0 && sig == SIGABRT)
		r = mg_coredump_prepare(a->p.id->pid, &a->core);
	if (r == 0)
		r = mg_procid_signal(a->p.id, sig);
	if (r == -ESTALE) {
		record(a, MG_LADDER_KILL, r, "refused: pid %d now names another process (start time differs)",
		       (int)a->p.id->pid);
		finish(a);
		return;
	}
	if (sig == SIGABRT) {
		a->aborted = r == 0;
		record(a, MG_LADDER_KILL, r, "SIGABRT (core dump) to QEMU pid %d; %s; core_pattern '%s'",
		       (int)a->p.id->pid, a->core.limit, a->core.pattern);
	} else {
		record(a, MG_LADDER_KILL, r, "SIGKILL to QEMU pid %d", (int)a->p.id->pid);
	}
	if (r < 0 && r != -ESRCH) {
		finish(a);
		return;
	}
	wait_for(a, MG_ACTION_EXIT_WAIT, process_gone, after_exit);
}

static void on_restart_done(struct mg_ladder *a, int result, const char *error, const char *reply)
{
	record(a, MG_LADDER_RESTART, result, "virDomainCreate from the persistent definition%s%s",
	       result ? ": " : "", result ? error : "");
	if (result == 0)
		disk_check_start(a);
	else
		finish(a);
}

static bool domain_inactive(struct mg_ladder *a)
{
	/* Reads libvirt's own state: no job, no monitor.  A transient domain
	 * (an incoming one, or `virsh create`) no longer exists once stopped. */
	int r = virDomainIsActive(a->p.dom);

	if (r < 0 && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
		virResetLastError();
		return true;
	}
	return r == 0;
}

static void after_inactive(struct mg_ladder *a, bool inactive)
{
	if (!inactive || virDomainIsPersistent(a->p.dom) != 1) {
		record(a, MG_LADDER_RESTART, -EINVAL, "%s", inactive ? "transient domain: nothing to start again"
							      : "libvirt still reports the domain active");
		finish(a);
		return;
	}
	if (lv_submit(a, "virDomainCreate", create, NULL, MG_ACTION_RESTART_WAIT, on_restart_done) < 0) {
		record(a, MG_LADDER_RESTART, -EBUSY, "cannot submit virDomainCreate");
		finish(a);
	}
}

static void after_destroy(struct mg_ladder *a, bool inactive)
{
	record(a, MG_LADDER_DESTROY_CHECK, inactive ? 0 : -ETIMEDOUT, "%s", inactive ?
	       "the incoming domain is gone: it can be started again" :
	       "libvirt still reports the incoming domain active");
	finish(a);
}

static void on_destroy_done(struct mg_ladder *a, int result, const char *error, const char *reply)
{
	record(a, MG_LADDER_DESTROY, result, "virDomainDestroy of the stalled incoming domain%s%s",
	       result ? ": " : "", result ? error : "");
	wait_for(a, MG_ACTION_DESTROY_WAIT, domain_inactive, after_destroy);
}

static void finish(struct mg_ladder *a)
{
	if (a->finished)
		return;
	a->finished = true;
	if (a->done)
		a->done(a, a->userdata);
}

/* Climbs to rung s (the checks are recorded on the way, never climbed). */
static void next_step(struct mg_ladder *a, enum mg_ladder_step s)
{
	switch (s) {
	case MG_LADDER_CANCEL: do_cancel(a); break;
	case MG_LADDER_UNSTICK: do_unstick(a); break;
	case MG_LADDER_KILL: do_kill(a); break;
	case MG_LADDER_RESTART: wait_for(a, MG_ACTION_RESTART_WAIT, domain_inactive, after_inactive); break;
	case MG_LADDER_DESTROY:
		if (!a->p.dom || lv_submit(a, "virDomainDestroy", destroy, NULL, MG_ACTION_DESTROY_WAIT,
					   on_destroy_done) < 0) {
			record(a, MG_LADDER_DESTROY, -ENOTCONN, "no libvirt domain to destroy");
			finish(a);
		}
		break;
	default:
		finish(a);
		break;
	}
}

int mg_ladder_start(sd_event *loop, const struct mg_ladder_params *p,
		    void (*done)(struct mg_ladder *a, void *userdata), void *userdata,
		    struct mg_ladder **out)
{
	enum mg_direction dir = mg_watch_direction(p->watch);
	struct mg_ladder *a;
	int r;

	if (p->action == MG_ACTION_NONE || mg_watch_phase(p->watch) == MG_PHASE_POSTCOPY)
		return -ECANCELED;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->loop = sd_event_ref(loop);
	a->p = *p;
	a->core.cwd_fd = -1;
	if (p->status_xml && !(a->status_xml = strdup(p->status_xml))) {
		free(a);
		return -ENOMEM;
	}
	a->p.status_xml = NULL;
	if (a->p.dom)
		virDomainRef(a->p.dom);
	a->incident = p->incident ? mg_incwriter_ref(p->incident) : NULL;
	a->done = done;
	a->userdata = userdata;
	r = sd_event_add_time(loop, &a->timer, CLOCK_MONOTONIC, 0, 1000, on_poll, a);
	if (r < 0) {
		mg_ladder_free(a);
		return r;
	}
	sd_event_source_set_enabled(a->timer, SD_EVENT_OFF);
	*out = a;
	if (dir == MG_DIR_IN && p->action == MG_ACTION_RECOVER)
		next_step(a, MG_LADDER_DESTROY);
	else if (dir == MG_DIR_IN)
		finish(a);
	else
		next_step(a, MG_LADDER_CANCEL);
	return 0;
}

void mg_ladder_free(struct mg_ladder *a)
{
	if (!a)
		return;
	/* A libvirt call still in flight reports to nobody from now on. */
	a->inflight = mg_worker_call_cancel(a->inflight);
	sd_event_source_disable_unref(a->timer);
	sd_event_source_disable_unref(a->disk_timer);
	sd_event_source_disable_unref(a->retry_timer);
	a->timer = a->disk_timer = a->retry_timer = NULL;
	sd_event_unref(a->loop);
	free(a->status_xml);
	a->status_xml = NULL;
	if (a->p.dom)
		virDomainFree(a->p.dom);
	mg_coredump_release(&a->core);
	mg_incwriter_unref(a->incident);
	if (a->qmp_pending > 0) {
		a->freed = true;
		return;
	}
	free(a);
}
