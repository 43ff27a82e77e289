/* ladder.c - see ladder.h. */
#include "ladder.h"
#include "coredump.h"
#include "incident.h"
#include "log.h"
#include "notify.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <libvirt/virterror.h>

#define MG_ACTION_POLL (100 * MG_USEC_PER_MSEC)
#define MG_ACTION_EXIT_WAIT (30 * MG_USEC_PER_SEC)	/* a core dump takes a while */
#define MG_ACTION_RESTART_WAIT (60 * MG_USEC_PER_SEC)
/* libvirt's destroy sends SIGTERM, waits up to 10 s, then SIGKILL and
 * waits again (qemuProcessKill): give it that and some. */
#define MG_ACTION_DESTROY_WAIT (30 * MG_USEC_PER_SEC)

MG_ENUM_IMPL(mg_ladder_step, enum mg_ladder_step, MG_LADDER_STEP_LAST,
	     "cancel", "cancel-check", "yank", "yank-check", "recover-check", "kill", "kill-check",
	     "core", "restart", "destroy", "destroy-check");

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
};

static void next_step(struct mg_ladder *a, enum mg_ladder_step s);
static void finish(struct mg_ladder *a);

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
	mg_log(result == 0 ? LOG_NOTICE : LOG_WARNING, "domain %s: action %s: %s: %s",
	       mg_watch_name(a->p.watch), step, result == 0 ? "ok" : strerror(-result), detail);
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
 * libvirt), so it never points at it; the ladder's handle does the rest. */
struct lv_call {
	virDomainPtr dom;
	int (*fn)(virDomainPtr);
	char error[256];
	void (*then)(struct mg_ladder *a, int result, const char *error);
};

static int lv_call_run(void *arg)
{
	struct lv_call *c = arg;

	if (c->fn(c->dom) < 0) {
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
	c->then(a, result, result == -ETIMEDOUT ? "no answer before the deadline" : c->error);
}

static void lv_call_free(void *arg)
{
	struct lv_call *c = arg;

	virDomainFree(c->dom);
	free(c);
}

static int lv_submit(struct mg_ladder *a, const char *what, int (*fn)(virDomainPtr), uint64_t timeout,
		     void (*then)(struct mg_ladder *, int, const char *))
{
	struct lv_call *c = calloc(1, sizeof(*c));
	struct mg_worker_call_spec spec = {
		.what = what, .run = lv_call_run, .arg = c, .free_arg = lv_call_free,
		.timeout_usec = timeout, .done = lv_call_done, .userdata = a,
	};

	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->then = then;
	virDomainRef(a->p.dom);
	c->dom = a->p.dom;
	return mg_worker_call(a->p.pool, &spec, &a->inflight);
}

static int abort_job(virDomainPtr d) { return virDomainAbortJob(d); }
static int destroy(virDomainPtr d) { return virDomainDestroy(d); }
static int create(virDomainPtr d) { return virDomainCreate(d); }

/* --- cancel ------------------------------------------------------------ */

static void after_cancel(struct mg_ladder *a, bool over)
{
	record(a, MG_LADDER_CANCEL_CHECK, over ? 0 : -ETIMEDOUT, "%s", over ?
	       "the migration ended and QEMU answers" : "still hung after the cancel request");
	if (over || a->p.action == MG_ACTION_CANCEL)
		finish(a);
	else
		next_step(a, MG_LADDER_YANK);
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

static void on_abort_done(struct mg_ladder *a, int result, const char *error)
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
		next_step(a, MG_LADDER_YANK);
}

static void do_cancel(struct mg_ladder *a)
{
	struct mg_qmp *q = mg_watch_qmp(a->p.watch);
	int r;

	if (q) {
		r = ladder_qmp(a, q, "migrate_cancel", NULL, false, on_cancel_reply);
		if (r == 0)
			return;
		record(a, MG_LADDER_CANCEL, r, "cannot send migrate_cancel%s", r == -EBUSY ?
		       ": earlier in-band requests are still unanswered (the monitor is held)" : "");
	} else if (a->p.dom && a->p.pool) {
		r = lv_submit(a, "virDomainAbortJob", abort_job, a->p.step_timeout, on_abort_done);
		if (r == 0)
			return;
		record(a, MG_LADDER_CANCEL, r, "cannot submit virDomainAbortJob");
	} else {
		record(a, MG_LADDER_CANCEL, -ENOTCONN, "no direct monitor and no libvirt domain");
	}
	cancel_unsent(a);
}

/* --- yank --------------------------------------------------------------- */

/* A yank ends waits on a channel (a socket read or write); it cannot make
 * a thread give up a mutex.  When the snapshot found a lock cycle (the
 * seed's BQL / AioContext ABBA), the yank is still tried, in case the
 * cycle is not the whole story, but its record says it cannot end the
 * cycle, so an operator reading the incident knows why the kill follows. */
static const char *cycle_note(const struct mg_ladder *a)
{
	return a->p.lock_cycle ? "; the snapshot found a lock cycle: a yank cannot end a deadlock" : "";
}

static void after_grace(struct mg_ladder *a, bool over)
{
	if (!over && a->p.lock_cycle)
		record(a, MG_LADDER_YANK_CHECK, -ETIMEDOUT,
		       "the hang persists: a lock cycle inside QEMU is not ended by a yank");
	else
		record(a, MG_LADDER_RECOVER_CHECK, over ? 0 : -ETIMEDOUT, "%s", over ?
		       "the migration ended and QEMU answers: no kill needed" :
		       "still hung after recover_grace");
	if (over)
		finish(a);
	else
		next_step(a, MG_LADDER_KILL);
}

static void on_yank_reply(struct mg_qmp *q, int err, json_object *reply, void *userdata)
{
	struct mg_ladder *a = userdata;

	if (!ladder_reply(a))
		return;
	record(a, MG_LADDER_YANK, err, "out-of-band yank of the migration channel and NBD block nodes%s%s%s",
	       err == -EREMOTEIO ? ": " : "", err == -EREMOTEIO ? mg_qmp_error_desc(reply) : "",
	       cycle_note(a));
	wait_for(a, a->p.recover_grace, migration_over, after_grace);
}

/* The yank instances worth yanking from query-yank's reply, a list of
 * YankInstance objects {"type": "block-node"|"chardev"|"migration", ...}
 * (qapi/yank.json, QEMU 6.0+), each passed back as QEMU gave it.  The reply
 * comes from the QEMU being recovered: anything not of that shape is
 * skipped, never trusted (json-c aborts on a non-array, and a null "type"
 * is a NULL string).  0 with *out the "instances" list, -EBADMSG when the
 * reply is not a list, -ENOMEM. */
static int yank_instances(struct mg_ladder *a, json_object *reply, json_object **out)
{
	json_object *list;
	size_t len, bad = 0;

	if (!json_object_is_type(reply, json_type_array))
		return -EBADMSG;
	list = json_object_new_array();
	if (!list)
		return -ENOMEM;
	len = json_object_array_length(reply);
	for (size_t i = 0; i < len; i++) {
		json_object *inst = json_object_array_get_idx(reply, i);
		const char *t = mg_qmp_member_string(inst, "type");

		if (!t) {
			bad++;
			continue;
		}
		if ((strcmp(t, "migration") == 0 || strcmp(t, "block-node") == 0) &&
		    json_object_array_add(list, json_object_get(inst)) < 0) {
			json_object_put(inst);
			json_object_put(list);
			return -ENOMEM;
		}
	}
	if (bad)
		mg_warn("domain %s: query-yank: %zu malformed instance(s) of %zu skipped",
			mg_watch_name(a->p.watch), bad, len);
	*out = list;
	return 0;
}

/* Yanks what can hold the drain: the migration channel and every block
 * node QEMU offers (only network block drivers such as NBD register one). */
static void on_query_yank(struct mg_qmp *q, int err, json_object *reply, void *userdata)
{
	struct mg_ladder *a = userdata;
	json_object *args = NULL, *list = NULL;
	size_t n;
	int r;

	if (!ladder_reply(a))
		return;

	if (err != 0) {
		record(a, MG_LADDER_YANK, err, "query-yank failed%s%s%s", err == -EREMOTEIO ? ": " : "",
		       err == -EREMOTEIO ? mg_qmp_error_desc(reply) : "", cycle_note(a));
		goto wait;
	}
	r = yank_instances(a, reply, &list);
	if (r < 0) {
		record(a, MG_LADDER_YANK, r, "query-yank answered %s, not a list%s",
		       r == -EBADMSG ? json_type_to_name(json_object_get_type(reply)) : "something",
		       cycle_note(a));
		goto wait;
	}
	n = json_object_array_length(list);
	args = json_object_new_object();
	if (!args || json_object_object_add(args, "instances", list) < 0) {
		json_object_put(list);
		record(a, MG_LADDER_YANK, -ENOMEM, "cannot build the yank request");
		goto wait;
	}
	if (n == 0) {
		record(a, MG_LADDER_YANK, -ENOENT, "nothing to yank: no migration or block-node instance%s",
		       cycle_note(a));
		goto wait;
	}
	r = ladder_qmp(a, q, "yank", args, true, on_yank_reply);
	if (r < 0) {
		record(a, MG_LADDER_YANK, r, "cannot send yank (%zu instance(s))%s", n, cycle_note(a));
		goto wait;
	}
	json_object_put(args);
	return;
wait:
	json_object_put(args);
	wait_for(a, a->p.recover_grace, migration_over, after_grace);
}

static void do_yank(struct mg_ladder *a)
{
	struct mg_qmp *q = mg_watch_qmp(a->p.watch);

	if (q && mg_qmp_oob_enabled(q) &&
	    ladder_qmp(a, q, "query-yank", NULL, true, on_query_yank) == 0)
		return;
	record(a, MG_LADDER_YANK, -ENOTSUP, "needs a direct monitor with out-of-band commands%s", cycle_note(a));
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

static void on_restart_done(struct mg_ladder *a, int result, const char *error)
{
	record(a, MG_LADDER_RESTART, result, "virDomainCreate from the persistent definition%s%s",
	       result ? ": " : "", result ? error : "");
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
	if (lv_submit(a, "virDomainCreate", create, MG_ACTION_RESTART_WAIT, on_restart_done) < 0) {
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

static void on_destroy_done(struct mg_ladder *a, int result, const char *error)
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
	case MG_LADDER_YANK: do_yank(a); break;
	case MG_LADDER_KILL: do_kill(a); break;
	case MG_LADDER_RESTART: wait_for(a, MG_ACTION_RESTART_WAIT, domain_inactive, after_inactive); break;
	case MG_LADDER_DESTROY:
		if (!a->p.dom || lv_submit(a, "virDomainDestroy", destroy, MG_ACTION_DESTROY_WAIT,
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
	sd_event_unref(a->loop);
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
