/* watch.c - see watch.h. */
#include "watch.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <signal.h>
#include <string.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#define MG_WATCH_QMP_BACKOFF_MIN (1 * MG_USEC_PER_SEC)
#define MG_WATCH_QMP_BACKOFF_MAX (30 * MG_USEC_PER_SEC)

/* Shared by a watch and its libvirt monitor job: the job may outlive the
 * watch while stuck inside libvirt, so it must not point at the watch. */
struct lv_shared {
	atomic_int refs;
	atomic_bool busy;		/* a libvirt call has not returned yet */
};

struct lv_job {
	struct lv_shared *shared;
	struct mg_watch *w;		/* only used by done, on the loop */
	virDomainPtr dom;
	char *reply;
	uint64_t sent_at;
};

struct mg_watch {
	sd_event *loop;
	char *name, *uuid, *qmp_path;
	pid_t pid;
	virDomainPtr dom;
	struct mg_worker_pool *pool;
	uint64_t probe_interval;
	struct mg_track_limits limits;
	bool discover;
	struct mg_notify *notify;
	struct mg_watch_callbacks cb;
	void *userdata;

	struct mg_qmp *qmp;
	sd_event_source *qmp_retry;
	uint64_t qmp_backoff;
	bool status_pending, migrate_pending;

	struct lv_shared *lv;
	struct lv_job *lv_job;		/* in flight and not yet done */
	uint64_t lv_unresponsive_since;

	bool tracking;
	struct mg_track track;
	sd_event_source *round;
	sd_event_source *deadline;
	struct mg_bql_state bql_state;
	struct mg_bql_result bql;
	bool bql_ok;
	struct mg_procfs_scan scan;	/* the round's task list, reused */
};

static void lv_shared_unref(struct lv_shared *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		free(s);
}

const char *mg_watch_name(const struct mg_watch *w) { return w->name; }
const char *mg_watch_uuid(const struct mg_watch *w) { return w->uuid; }
pid_t mg_watch_pid(const struct mg_watch *w) { return w->pid; }
bool mg_watch_tracking(const struct mg_watch *w) { return w->tracking; }
struct mg_track *mg_watch_get_track(struct mg_watch *w) { return &w->track; }
enum mg_direction mg_watch_direction(const struct mg_watch *w) { return w->track.direction; }
enum mg_phase mg_watch_phase(const struct mg_watch *w) { return w->track.phase; }

void mg_watch_note(struct mg_watch *w, const char *fmt, ...)
{
	char text[MG_TRACK_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	mg_track_note(&w->track, mg_now_mono(), "%s", text);
}
const struct mg_bql_result *mg_watch_last_bql(const struct mg_watch *w) { return w->bql_ok ? &w->bql : NULL; }

struct mg_qmp *mg_watch_qmp(struct mg_watch *w)
{
	return w->qmp && mg_qmp_get_state(w->qmp) == MG_QMP_READY ? w->qmp : NULL;
}

static void log_watch(struct mg_watch *w, int level, const char *message_id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void log_watch(struct mg_watch *w, int level, const char *message_id, const char *fmt, ...)
{
	char msg[1024], pid[16];
	const char *phase = w->tracking || w->track.n_timeline ? mg_phase_to_string(w->track.phase) : NULL;
	struct mg_log_field f[] = {
		{ "MIGGUARD_DOMAIN", w->name }, { "MIGGUARD_UUID", w->uuid },
		{ "MIGGUARD_PID", pid }, { "MIGGUARD_PHASE", phase },
	};
	va_list ap;

	snprintf(pid, sizeof(pid), "%d", (int)w->pid);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mg_log_full(level, 0, message_id, f, MG_ARRAY_SIZE(f), "domain %s: %s", w->name, msg);
}

/* Stable ids so operators can find these in the journal (journalctl
 * MESSAGE_ID=...). */
#define MG_MESSAGE_HUNG "5b0d8f1c6a2e4f7b9c3d1e0a2b4c6d8e"
#define MG_MESSAGE_STALLED "7e1f3a5c9b2d4e6f8a0c2e4b6d8f0a1c"

static void arm_deadline(struct mg_watch *w)
{
	uint64_t d = w->tracking ? mg_track_next_deadline(&w->track) : 0;

	if (!w->deadline)
		return;
	if (!d) {
		sd_event_source_set_enabled(w->deadline, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(w->deadline, d);
	sd_event_source_set_enabled(w->deadline, SD_EVENT_ONESHOT);
}

void mg_watch_describe(const struct mg_watch *w, struct mg_event *e)
{
	e->key = w;
	e->dir = w->track.direction;
	e->phase = w->track.phase;
	e->ev.domain = w->name;
	e->ev.uuid = w->uuid;
	e->ev.pid = (int)w->pid;
	e->ev.direction = mg_direction_to_string(w->track.direction);
	e->ev.phase = mg_phase_to_string(w->track.phase);
}

/* One change of the track, to every sink (metrics, status.json, plugins). */
static void emit(struct mg_watch *w, enum migguard_event_kind kind, const char *name, const char *detail)
{
	struct mg_event e = mg_event_plugin(kind, name);

	mg_watch_describe(w, &e);
	e.ev.detail = detail;
	mg_notify_dispatch(w->notify, &e);
}

/* The watch goes: its status.json entry with it, and a tracked migration
 * whose end it never saw is no longer counted as tracked. */
static void emit_forgotten(struct mg_watch *w)
{
	struct mg_event e = mg_event_make(MG_EVENT_FORGOTTEN);

	mg_watch_describe(w, &e);
	e.tracking = w->tracking;
	mg_notify_dispatch(w->notify, &e);
}

static void handle_change(struct mg_watch *w, enum mg_track_change c)
{
	const struct mg_track_event *last = w->track.n_timeline ? &w->track.timeline[w->track.n_timeline - 1] : NULL;
	const char *text = last ? last->text : NULL;

	switch (c) {
	case MG_TRACK_UNCHANGED:
		break;
	case MG_TRACK_PHASE_CHANGED:
		log_watch(w, LOG_INFO, NULL, "migration %s: %s", mg_phase_to_string(w->track.phase),
			  text ? text : "");
		emit(w, MIGGUARD_EVENT_PHASE_CHANGED, "phase-changed", text);
		break;
	case MG_TRACK_BECAME_HUNG:
	case MG_TRACK_BECAME_STALLED:
		log_watch(w, LOG_ERR, c == MG_TRACK_BECAME_HUNG ? MG_MESSAGE_HUNG : MG_MESSAGE_STALLED,
			  "migration %s: %s", c == MG_TRACK_BECAME_HUNG ? "HUNG" : "STALLED",
			  text ? text : "");
		emit(w, MIGGUARD_EVENT_VERDICT, c == MG_TRACK_BECAME_HUNG ? "hung" : "stalled", text);
		if (w->cb.verdict)
			w->cb.verdict(w, c, w->userdata);
		break;
	case MG_TRACK_ENDED:
		log_watch(w, LOG_INFO, NULL, "%s", text ? text : "migration ended");
		w->tracking = false;
		emit(w, MIGGUARD_EVENT_MIGRATION_ENDED, "migration-ended", text);
		if (w->cb.ended)
			w->cb.ended(w, w->userdata);
		break;
	}
	arm_deadline(w);
}

static void feed(struct mg_watch *w, const struct mg_probe_sample *s)
{
	if (w->tracking)
		handle_change(w, mg_track_on_sample(&w->track, s));
}

static uint64_t transport_unresponsive_since(struct mg_watch *w)
{
	uint64_t q = w->qmp ? mg_qmp_unresponsive_since(w->qmp) : 0;

	if (!q)
		return w->lv_unresponsive_since;
	if (!w->lv_unresponsive_since)
		return q;
	return q < w->lv_unresponsive_since ? q : w->lv_unresponsive_since;
}

/* The peer's JSON, shortened, for a warning about it. */
static const char *json_text(json_object *o)
{
	return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "null";
}

/* query-status returns {"status": RunState, "running": bool, ...}
 * (qapi/run-state.json); a reply without a RunState string is no sample. */
static void status_from_reply(struct mg_watch *w, json_object *reply)
{
	struct mg_probe_sample s = { .at = mg_now_mono(), .status_valid = true };
	const char *st = mg_qmp_member_enum(reply, "status");

	if (!st) {
		log_watch(w, LOG_WARNING, NULL, "query-status reply without a run state ignored: %.200s",
			  json_text(reply));
		return;
	}
	snprintf(s.run_state, sizeof(s.run_state), "%s", st);
	s.unresponsive_since = transport_unresponsive_since(w);
	feed(w, &s);
}

static void on_status_reply(struct mg_qmp *q, int err, json_object *reply, void *userdata)
{
	struct mg_watch *w = userdata;

	w->status_pending = false;
	if (err == 0)
		status_from_reply(w, reply);
	else if (err != -ETIMEDOUT && err != -ECANCELED)
		mg_debug("domain %s: query-status failed: %s", w->name, strerror(-err));
}

static void on_migrate_reply(struct mg_qmp *q, int err, json_object *reply, void *userdata)
{
	struct mg_watch *w = userdata;
	struct mg_probe_sample s = { .at = mg_now_mono(), .migrate_valid = true };
	const char *st;
	json_object *o;

	w->migrate_pending = false;
	if (err != 0)
		return;
	/* query-migrate returns a MigrationInfo object, {} before the first
	 * migration (qapi/migration.json); its status is a MigrationStatus. */
	st = mg_qmp_member_enum(reply, "status");
	if (!st && json_object_is_type(reply, json_type_object) &&
	    !json_object_object_get_ex(reply, "status", &o))
		st = "none";
	if (!st) {
		log_watch(w, LOG_WARNING, NULL, "query-migrate reply without a migration status ignored: %.200s",
			  json_text(reply));
		return;
	}
	snprintf(s.migration_status, sizeof(s.migration_status), "%s", st);
	if (!w->tracking) {
		if (w->cb.untracked_status)
			w->cb.untracked_status(w, s.migration_status, w->userdata);
		return;
	}
	s.unresponsive_since = transport_unresponsive_since(w);
	feed(w, &s);
}

/* --- libvirt's monitor transport (source side only: libvirt refuses it
 * on the destination during an incoming migration) ------------------- */

static int lv_run(void *arg)
{
	struct lv_job *j = arg;

	if (virDomainQemuMonitorCommand(j->dom, "{\"execute\":\"query-status\"}", &j->reply, 0) < 0)
		return -EIO;
	return 0;
}

static void lv_done(int result, void *arg)
{
	struct lv_job *j = arg;
	struct mg_watch *w = j->w;
	json_object *root, *ret;

	if (!w)
		return;
	w->lv_job = NULL;
	if (result == -ETIMEDOUT) {
		if (!w->lv_unresponsive_since)
			w->lv_unresponsive_since = j->sent_at;
		return;
	}
	if (result < 0)
		return;
	w->lv_unresponsive_since = 0;
	root = j->reply ? json_tokener_parse(j->reply) : NULL;
	if (root && json_object_object_get_ex(root, "return", &ret))
		status_from_reply(w, ret);
	json_object_put(root);
}

static void lv_free(void *arg)
{
	struct lv_job *j = arg;

	atomic_store(&j->shared->busy, false);
	lv_shared_unref(j->shared);
	virDomainFree(j->dom);
	free(j->reply);
	free(j);
}

static void lv_query_status(struct mg_watch *w)
{
	struct lv_job *j;
	struct mg_work work;
	char what[300];

	if (!w->dom || !w->pool || atomic_load(&w->lv->busy) || w->track.direction != MG_DIR_OUT)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->shared = w->lv;
	atomic_fetch_add(&w->lv->refs, 1);
	atomic_store(&w->lv->busy, true);
	virDomainRef(w->dom);
	j->dom = w->dom;
	j->w = w;
	j->sent_at = mg_now_mono();
	snprintf(what, sizeof(what), "qemu-monitor-command query-status %s", w->name);
	work = (struct mg_work){ .what = what, .run = lv_run, .done = lv_done, .free_arg = lv_free,
				 .arg = j, .timeout_usec = w->limits.monitor_timeout };
	if (mg_worker_submit(w->pool, &work) < 0) {
		lv_free(j);
		return;
	}
	w->lv_job = j;
}

/* --- probe rounds ------------------------------------------------------ */

/* QEMU runs an outgoing migration in a thread named live_migration (with
 * debug-threads=on, which libvirt always sets): its presence is a migration
 * in progress even when the monitor no longer answers. */
static bool has_migration_thread(struct mg_procfs_scan *scan)
{
	for (size_t i = 0; i < scan->n; i++) {
		const char *comm = mg_procfs_scan_comm(scan, i);

		if (comm && strcmp(comm, MG_PROBE_MIGRATION_COMM) == 0)
			return true;
	}
	return false;
}

static void send_requests(struct mg_watch *w)
{
	struct mg_qmp *q = mg_watch_qmp(w);

	/* An incoming QEMU is judged by the bytes it reads (/proc/PID/io):
	 * our own requests would count as progress, so none are sent to it. */
	if (w->tracking && w->track.direction == MG_DIR_IN)
		return;
	if (q) {
		if (w->tracking && !w->status_pending &&
		    mg_qmp_execute(q, "query-status", NULL, false, w->limits.monitor_timeout,
				   on_status_reply, w) == 0)
			w->status_pending = true;
		if ((w->tracking || w->discover) && !w->migrate_pending &&
		    mg_qmp_execute(q, "query-migrate", NULL, false, w->limits.monitor_timeout,
				   on_migrate_reply, w) == 0)
			w->migrate_pending = true;
	} else if (w->tracking) {
		lv_query_status(w);
	}
}

static void probe_round(struct mg_watch *w)
{
	struct mg_probe_sample s = { .at = mg_now_mono() };
	int r;

	/* One read of the task list per round; the discovery and the BQL
	 * probe read each task's files at most once from it. */
	if (w->tracking || w->discover)
		mg_procfs_scan(w->pid, &w->scan);
	if (!w->tracking && w->discover && has_migration_thread(&w->scan)) {
		if (w->cb.untracked_status)
			w->cb.untracked_status(w, "active", w->userdata);
		if (w->tracking)
			mg_track_note(&w->track, mg_now_mono(), "found by its %s thread", MG_PROBE_MIGRATION_COMM);
	}
	if (w->tracking) {
		s.unresponsive_since = transport_unresponsive_since(w);
		r = mg_probe_bql_scan(&w->scan, &w->bql_state, &w->bql);
		w->bql_ok = r == 0;
		if (r == -ESRCH) {
			handle_change(w, mg_track_end(&w->track, MG_PHASE_FAILED, s.at, "QEMU process exited"));
			return;
		}
		if (r == 0) {
			s.bql_valid = true;
			s.bql_held_by_migration = w->bql.held && w->bql.owner_is_migration;
			s.bql_owner = w->bql.owner_tid;
			s.bql_since = w->bql.since_usec;
		}
		if (w->track.direction == MG_DIR_IN && mg_procfs_io_rchar(w->pid, &s.io_bytes) == 0)
			s.io_valid = true;
		feed(w, &s);
	}
	send_requests(w);
}

static int on_round(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct mg_watch *w = userdata;

	probe_round(w);
	if (w->tracking || w->discover) {
		sd_event_source_set_time_relative(src, w->probe_interval);
		sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
	}
	return 0;
}

static int on_deadline(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct mg_watch *w = userdata;

	if (w->tracking)
		handle_change(w, mg_track_on_tick(&w->track, mg_now_mono()));
	return 0;
}

static void start_rounds(struct mg_watch *w)
{
	sd_event_source_set_time_relative(w->round, 0);
	sd_event_source_set_enabled(w->round, SD_EVENT_ONESHOT);
}

/* --- the direct monitor ------------------------------------------------ */

static void qmp_connect(struct mg_watch *w);

static int on_qmp_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct mg_watch *w = userdata;

	w->qmp_retry = sd_event_source_disable_unref(w->qmp_retry);
	qmp_connect(w);
	return 0;
}

static void qmp_schedule_retry(struct mg_watch *w)
{
	if (w->qmp_retry)
		return;
	sd_event_add_time_relative(w->loop, &w->qmp_retry, CLOCK_MONOTONIC, w->qmp_backoff, 0,
				   on_qmp_retry, w);
	w->qmp_backoff = w->qmp_backoff * 2 > MG_WATCH_QMP_BACKOFF_MAX ? MG_WATCH_QMP_BACKOFF_MAX
								     : w->qmp_backoff * 2;
}

static void on_qmp_ready(struct mg_qmp *q, void *userdata)
{
	struct mg_watch *w = userdata;

	w->qmp_backoff = MG_WATCH_QMP_BACKOFF_MIN;
	log_watch(w, LOG_INFO, NULL, "direct monitor %s connected (oob %s)", w->qmp_path,
		  mg_qmp_oob_enabled(q) ? "on" : "off");
	if (w->tracking || w->discover)
		start_rounds(w);
}

/* A monitor served by another process than the QEMU (qmp.c logged who):
 * the evidence of the migration says so too, and the watch keeps trying
 * with backoff, for a QEMU that may serve the path again. */
static void note_refused(struct mg_watch *w)
{
	if (w->tracking)
		mg_track_note(&w->track, mg_now_mono(), "direct monitor %s refused: not served by pid %d",
			      w->qmp_path, (int)w->pid);
}

static void on_qmp_closed(struct mg_qmp *q, int reason, void *userdata)
{
	struct mg_watch *w = userdata;

	w->status_pending = w->migrate_pending = false;
	log_watch(w, LOG_DEBUG, NULL, "direct monitor %s closed: %s", w->qmp_path, strerror(-reason));
	if (reason == -EPERM)
		note_refused(w);
	if (kill(w->pid, 0) == 0 || errno != ESRCH)
		qmp_schedule_retry(w);
}

/* QEMU's MIGRATION event is {"status": MigrationStatus} (qapi/migration.json,
 * since QEMU 2.4).  An event without one (a null, a number, a list, no data:
 * what a broken or compromised QEMU may send) is ignored here, where it is
 * parsed, so no consumer ever sees a NULL or an unchecked status. */
static void on_migration_event(struct mg_watch *w, json_object *data)
{
	const char *status = mg_qmp_member_enum(data, "status");

	if (!status) {
		log_watch(w, LOG_WARNING, NULL, "QMP event MIGRATION ignored: no migration status in %.200s",
			  json_text(data));
		return;
	}
	if (w->tracking)
		mg_watch_on_status(w, status, "QMP MIGRATION event");
	else if (w->cb.untracked_status)
		w->cb.untracked_status(w, status, w->userdata);
}

static void on_qmp_event(struct mg_qmp *q, const char *event, json_object *data, uint64_t ts, void *userdata)
{
	struct mg_watch *w = userdata;
	bool stop = strcmp(event, "STOP") == 0;

	if (strcmp(event, "MIGRATION") == 0) {
		on_migration_event(w, data);
	} else if (w->tracking && (stop || strcmp(event, "RESUME") == 0)) {
		/* The name from our own literals: gcc 12 with -fsanitize=address
		 * cannot tell that event is not NULL here (-Wformat-overflow). */
		mg_track_note(&w->track, mg_now_mono(), "QMP event %s", stop ? "STOP" : "RESUME");
		/* The guest just stopped: ask for the run state now rather than
		 * at the next round, so finish-migrate is dated from here. */
		if (stop)
			send_requests(w);
	}
}

static void qmp_connect(struct mg_watch *w)
{
	static const struct mg_qmp_callbacks cb = {
		.on_ready = on_qmp_ready, .on_closed = on_qmp_closed, .on_event = on_qmp_event,
	};
	int r;

	if (!w->qmp) {
		if (mg_qmp_new(w->loop, w->name, &w->qmp) < 0)
			return;
		mg_qmp_set_callbacks(w->qmp, &cb, w);
		/* Only the QEMU being watched may answer for it. */
		mg_qmp_expect_peer(w->qmp, w->pid);
	}
	r = mg_qmp_connect_unix(w->qmp, w->qmp_path);
	if (r < 0 && r != -EALREADY) {
		log_watch(w, LOG_DEBUG, NULL, "direct monitor %s: %s", w->qmp_path, strerror(-r));
		if (r == -EPERM)
			note_refused(w);
		if (kill(w->pid, 0) == 0 || errno != ESRCH)
			qmp_schedule_retry(w);
	}
}

/* --- public ------------------------------------------------------------ */

int mg_watch_track(struct mg_watch *w, enum mg_direction dir, const char *why)
{
	if (w->tracking)
		return 0;
	mg_track_init(&w->track, dir, &w->limits, mg_now_mono(), why);
	memset(&w->bql_state, 0, sizeof(w->bql_state));
	w->lv_unresponsive_since = 0;
	w->tracking = true;
	log_watch(w, LOG_INFO, NULL, "%s migration tracked (%s)", mg_direction_to_string(dir), why);
	emit(w, MIGGUARD_EVENT_MIGRATION_STARTED, "migration-started", why);
	start_rounds(w);
	return 0;
}

void mg_watch_on_status(struct mg_watch *w, const char *status, const char *source)
{
	if (w->tracking)
		handle_change(w, mg_track_on_status(&w->track, status, mg_now_mono(), source));
}

void mg_watch_end(struct mg_watch *w, enum mg_phase final, const char *why)
{
	if (w->tracking)
		handle_change(w, mg_track_end(&w->track, final, mg_now_mono(), why));
}

int mg_watch_new(sd_event *loop, const struct mg_watch_params *p, const struct mg_watch_callbacks *cb,
		 void *userdata, struct mg_watch **out)
{
	struct mg_watch *w = calloc(1, sizeof(*w));
	int r = -ENOMEM;

	if (!w)
		return -ENOMEM;
	/* A direct monitor is trusted only when its peer is this pid. */
	if (p->qmp_path && p->pid <= 0) {
		free(w);
		return -EINVAL;
	}
	w->loop = sd_event_ref(loop);
	w->name = strdup(p->name);
	w->uuid = p->uuid ? strdup(p->uuid) : NULL;
	w->qmp_path = p->qmp_path ? strdup(p->qmp_path) : NULL;
	w->lv = calloc(1, sizeof(*w->lv));
	if (!w->name || (p->uuid && !w->uuid) || (p->qmp_path && !w->qmp_path) || !w->lv)
		goto fail;
	atomic_init(&w->lv->refs, 1);
	w->pid = p->pid;
	if (p->dom) {
		virDomainRef(p->dom);
		w->dom = p->dom;
	}
	w->pool = p->pool;
	w->probe_interval = p->probe_interval;
	w->limits = p->limits;
	w->discover = p->discover;
	w->notify = p->notify;
	if (cb)
		w->cb = *cb;
	w->userdata = userdata;
	w->qmp_backoff = MG_WATCH_QMP_BACKOFF_MIN;
	r = sd_event_add_time(loop, &w->round, CLOCK_MONOTONIC, 0, 1000, on_round, w);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(w->round, SD_EVENT_OFF);
	/* Verdicts fall due at an exact time: 1 ms accuracy, not 250 ms. */
	r = sd_event_add_time(loop, &w->deadline, CLOCK_MONOTONIC, 0, 1000, on_deadline, w);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(w->deadline, SD_EVENT_OFF);
	if (w->qmp_path)
		qmp_connect(w);
	else if (w->discover)
		start_rounds(w);
	*out = w;
	return 0;
fail:
	mg_watch_free(w);
	return r;
}

void mg_watch_free(struct mg_watch *w)
{
	if (!w)
		return;
	/* A libvirt job still in flight reports to nobody from now on. */
	if (w->lv_job)
		w->lv_job->w = NULL;
	emit_forgotten(w);
	sd_event_source_disable_unref(w->round);
	sd_event_source_disable_unref(w->deadline);
	sd_event_source_disable_unref(w->qmp_retry);
	mg_qmp_unref(w->qmp);
	if (w->dom)
		virDomainFree(w->dom);
	lv_shared_unref(w->lv);
	sd_event_unref(w->loop);
	free(w->name);
	free(w->uuid);
	free(w->qmp_path);
	mg_procfs_scan_clear(&w->scan);
	free(w);
}

void mg_watch_set_domain(struct mg_watch *w, virDomainPtr dom)
{
	if (dom)
		virDomainRef(dom);
	if (w->dom)
		virDomainFree(w->dom);
	w->dom = dom;
}
