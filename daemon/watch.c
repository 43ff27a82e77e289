/* watch.c - see watch.h. */
#include "watch.h"
#include "log.h"
#include "loopmon.h"
#include "monitor.h"
#include "msgid.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

struct mg_watch {
	sd_event *loop;
	char *name, *uuid;
	pid_t pid;
	uint64_t probe_interval;
	struct mg_track_limits limits;
	bool discover;
	struct mg_notify *notify;
	struct mg_loopmon *loopmon;
	struct mg_watch_callbacks cb;
	void *userdata;

	struct mg_monitor *mon;		/* direct QMP or libvirt's (monitor.h) */

	bool tracking;
	struct mg_track track;
	sd_event_source *round;
	sd_event_source *deadline;
	struct mg_bql_state bql_state;
	struct mg_bql_result bql;
	bool bql_ok;
	struct mg_procfs_scan scan;	/* the task list, kept open while rounds run */
	/* A MIGRATION event of the tracked migration arrived: QEMU reports
	 * its every status change (the "events" capability, which libvirt
	 * always sets), so the rounds need no query-migrate. */
	bool migration_events;
};

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

struct mg_qmp *mg_watch_qmp(struct mg_watch *w) { return mg_monitor_qmp(w->mon); }
uint64_t mg_watch_unresponsive_since(const struct mg_watch *w) { return mg_monitor_unresponsive_since(w->mon); }
uint64_t mg_watch_probe_interval(const struct mg_watch *w) { return w->probe_interval; }

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
		log_watch(w, LOG_DEBUG, NULL, "%" PRIu64 " probe rounds, %" PRIu64 " of them without a query",
			  w->track.probe_rounds, w->track.quiet_rounds);
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
	s.unresponsive_since = mg_monitor_unresponsive_since(w->mon);
	s.unresponsive_direct = mg_monitor_unresponsive_direct(w->mon);
	feed(w, &s);
}

static void on_status(struct mg_monitor *m, json_object *reply, void *userdata)
{
	status_from_reply(userdata, reply);
}

static void postcopy_status(struct mg_watch *w, const char *status, const char *source);

static void on_migrate(struct mg_monitor *m, json_object *reply, void *userdata)
{
	struct mg_watch *w = userdata;
	struct mg_probe_sample s = { .at = mg_now_mono(), .migrate_valid = true };
	const char *st;
	json_object *o;

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
	s.unresponsive_since = mg_monitor_unresponsive_since(w->mon);
	s.unresponsive_direct = mg_monitor_unresponsive_direct(w->mon);
	feed(w, &s);
	postcopy_status(w, s.migration_status, "query-migrate");
}

/* --- probe rounds ------------------------------------------------------ */

/* Lets sd-event fire the rounds of several watches in one wake-up. */
#define ROUND_ACCURACY (1 * MG_USEC_PER_MSEC)

/* QEMU runs an outgoing migration in a thread named live_migration (with
 * debug-threads=on, which libvirt always sets): its presence is a migration
 * in progress even when the monitor no longer answers. */
static bool has_migration_thread(struct mg_procfs_scan *scan)
{
	for (size_t i = 0; i < scan->n; i++) {
		const char *comm = mg_procfs_scan_comm(scan, i);

		/* The name is kept across rounds: the read of its syscall
		 * line says whether the thread still lives. */
		if (comm && strcmp(comm, MG_PROBE_MIGRATION_COMM) == 0 && mg_procfs_scan_syscall(scan, i, NULL))
			return true;
	}
	return false;
}

static void send_requests(struct mg_watch *w)
{
	/* An incoming QEMU is judged by the bytes it reads (/proc/PID/io):
	 * our own requests would count as progress, so none are sent to it
	 * (nor would libvirt run qemu-monitor-command there). */
	if (w->tracking && w->track.direction == MG_DIR_IN)
		return;
	/* QEMU refuses migrate-set-capabilities while a migration runs
	 * (migrate_caps_check, 7.2), so once one MIGRATION event of this
	 * migration came, every later status change comes as one too. */
	mg_monitor_probe(w->mon, w->tracking, w->tracking ? !w->migration_events : w->discover);
}

/* A round of an active outgoing migration may skip its query-status when
 * QEMU reports every status change as an event (the STOP that opens
 * finish-migrate asks for the run state at once: on_stop_event) and
 * nothing is outstanding: the /proc probe then decides, and the query goes
 * only when the main loop is not idle in its poll or the guest is paused
 * (probe.h).  This is most rounds of a long migration, and the query's
 * send and its reply's wake-up were most of a round's cost (bench/detect). */
static bool may_be_quiet(const struct mg_watch *w)
{
	return w->tracking && w->track.direction == MG_DIR_OUT && w->track.phase == MG_PHASE_ACTIVE &&
	       w->migration_events && !mg_monitor_unresponsive_since(w->mon);
}

static void probe_round(struct mg_watch *w)
{
	struct mg_probe_sample s = { .at = mg_now_mono() };
	bool quiet_ok = may_be_quiet(w);
	bool sent = w->tracking && !quiet_ok;
	int r;

	if (w->tracking)
		w->track.probe_rounds++;

	/* The requests first: QEMU answers them while /proc is read, so the
	 * replies are often there before the loop would sleep again. */
	if (sent)
		send_requests(w);
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
		s.unresponsive_since = mg_monitor_unresponsive_since(w->mon);
	s.unresponsive_direct = mg_monitor_unresponsive_direct(w->mon);
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
		if (w->track.direction == MG_DIR_IN && mg_procfs_scan_io_rchar(&w->scan, &s.io_bytes) == 0)
			s.io_valid = true;
		feed(w, &s);
		if (quiet_ok && w->bql_ok && mg_probe_main_loop_idle(&w->bql) && mg_probe_guest_running(&w->scan)) {
			w->track.quiet_rounds++;
			/* No query; a reconnect due still runs. */
			mg_monitor_probe(w->mon, false, false);
			return;
		}
	}
	if (!sent)
		send_requests(w);
}

static int on_round(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct mg_watch *w = userdata;

	if (w->loopmon)
		mg_loopmon_observe(w->loopmon, usec, ROUND_ACCURACY);
	probe_round(w);
	if (w->tracking || w->discover) {
		sd_event_source_set_time_relative(src, w->probe_interval);
		sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
	} else {
		/* No rounds until the next migration: its descriptors go. */
		mg_procfs_scan_clear(&w->scan);
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

/* --- the monitor's news ------------------------------------------------ */

static void on_monitor_ready(struct mg_monitor *m, bool oob, void *userdata)
{
	struct mg_watch *w = userdata;

	log_watch(w, LOG_INFO, NULL, "direct monitor %s connected (oob %s)", mg_monitor_path(m),
		  oob ? "on" : "off");
	if (w->tracking || w->discover)
		start_rounds(w);
}

/* The direct monitor went or could not be reached; the monitor retries.
 * One served by another process than the QEMU (qmpsock.c logged who): the
 * evidence of the migration says so too. */
static void on_monitor_down(struct mg_monitor *m, int reason, bool connected, void *userdata)
{
	struct mg_watch *w = userdata;

	log_watch(w, LOG_DEBUG, NULL, "direct monitor %s%s: %s", mg_monitor_path(m), connected ? " closed" : "",
		  strerror(-reason));
	if (reason == -EPERM && w->tracking)
		mg_track_note(&w->track, mg_now_mono(), "direct monitor %s refused: not served by pid %d",
			      mg_monitor_path(m), (int)w->pid);
}

/* QEMU's MIGRATION event is {"status": MigrationStatus} (qapi/migration.json,
 * since QEMU 2.4).  An event without one (a null, a number, a list, no data:
 * what a broken or compromised QEMU may send) is ignored here, where it is
 * parsed, so no consumer ever sees a NULL or an unchecked status. */
/* A MIGRATION event of the tracked migration, on either transport. */
static void migration_event(struct mg_watch *w, const char *status, const char *source)
{
	w->migration_events = true;
	mg_watch_on_status(w, status, source);
}

static void on_migration_event(struct mg_watch *w, json_object *data)
{
	const char *status = mg_qmp_member_enum(data, "status");

	if (!status) {
		log_watch(w, LOG_WARNING, NULL, "QMP event MIGRATION ignored: no migration status in %.200s",
			  json_text(data));
		return;
	}
	if (w->tracking)
		migration_event(w, status, "QMP MIGRATION event");
	else if (w->cb.untracked_status)
		w->cb.untracked_status(w, status, w->userdata);
}

static void on_stop_event(struct mg_watch *w, const char *source)
{
	if (!w->tracking)
		return;
	mg_track_note(&w->track, mg_now_mono(), "%s", source);
	/* The guest just stopped: ask for the run state now rather than at
	 * the next round, so finish-migrate is dated from here. */
	send_requests(w);
}

static void on_monitor_event(struct mg_monitor *m, const char *event, json_object *data, void *userdata)
{
	struct mg_watch *w = userdata;
	bool stop = strcmp(event, "STOP") == 0;

	if (strcmp(event, "MIGRATION") == 0) {
		on_migration_event(w, data);
	} else if (stop) {
		on_stop_event(w, "QMP event STOP");
	} else if (w->tracking && strcmp(event, "RESUME") == 0) {
		mg_track_note(&w->track, mg_now_mono(), "QMP event RESUME");
	}
}

/* --- public ------------------------------------------------------------ */

int mg_watch_track(struct mg_watch *w, enum mg_direction dir, const char *why)
{
	if (w->tracking)
		return 0;
	mg_track_init(&w->track, dir, &w->limits, mg_now_mono(), why);
	memset(&w->bql_state, 0, sizeof(w->bql_state));
	w->migration_events = false;
	mg_monitor_restart_clock(w->mon);
	w->tracking = true;
	log_watch(w, LOG_INFO, NULL, "%s migration tracked (%s)", mg_direction_to_string(dir), why);
	emit(w, MIGGUARD_EVENT_MIGRATION_STARTED, "migration-started", why);
	start_rounds(w);
	return 0;
}

static void postcopy_status(struct mg_watch *w, const char *status, const char *source)
{
	if (w->tracking && w->cb.postcopy && strncmp(status, "postcopy", 8) == 0)
		w->cb.postcopy(w, status, source, w->userdata);
}

void mg_watch_on_status(struct mg_watch *w, const char *status, const char *source)
{
	if (w->tracking) {
		handle_change(w, mg_track_on_status(&w->track, status, mg_now_mono(), source));
		postcopy_status(w, status, source);
	}
}

void mg_watch_on_migration_event(struct mg_watch *w, const char *status)
{
	if (w->tracking)
		migration_event(w, status, "QEMU MIGRATION event");
}

void mg_watch_on_stop(struct mg_watch *w)
{
	on_stop_event(w, "QEMU STOP event (libvirt)");
}

void mg_watch_end(struct mg_watch *w, enum mg_phase final, const char *why)
{
	if (w->tracking)
		handle_change(w, mg_track_end(&w->track, final, mg_now_mono(), why));
}

static int new_monitor(struct mg_watch *w, const struct mg_watch_params *p)
{
	static const struct mg_monitor_callbacks cb = {
		.ready = on_monitor_ready, .down = on_monitor_down, .event = on_monitor_event,
		.status = on_status, .migrate = on_migrate,
	};
	struct mg_monitor_params mp = {
		.name = p->name, .pid = p->pid, .qmp_path = p->qmp_path, .dom = p->dom, .pool = p->pool,
		.timeout = p->limits.monitor_timeout,
	};

	return mg_monitor_new(w->loop, &mp, &cb, w, &w->mon);
}

int mg_watch_new(sd_event *loop, const struct mg_watch_params *p, const struct mg_watch_callbacks *cb,
		 void *userdata, struct mg_watch **out)
{
	struct mg_watch *w;
	int r;

	/* A direct monitor is trusted only when its peer is this pid. */
	if (p->qmp_path && p->pid <= 0)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->loop = sd_event_ref(loop);
	w->name = strdup(p->name);
	w->uuid = p->uuid ? strdup(p->uuid) : NULL;
	r = -ENOMEM;
	if (!w->name || (p->uuid && !w->uuid))
		goto fail;
	w->pid = p->pid;
	w->probe_interval = p->probe_interval;
	w->limits = p->limits;
	w->discover = p->discover;
	w->notify = p->notify;
	w->loopmon = p->loopmon;
	if (cb)
		w->cb = *cb;
	w->userdata = userdata;
	r = new_monitor(w, p);
	if (r < 0)
		goto fail;
	r = sd_event_add_time(loop, &w->round, CLOCK_MONOTONIC, 0, ROUND_ACCURACY, on_round, w);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(w->round, SD_EVENT_OFF);
	/* Verdicts fall due at an exact time: 1 ms accuracy, not 250 ms. */
	r = sd_event_add_time(loop, &w->deadline, CLOCK_MONOTONIC, 0, 1000, on_deadline, w);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(w->deadline, SD_EVENT_OFF);
	if (p->qmp_path)
		mg_monitor_start(w->mon);
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
	emit_forgotten(w);
	sd_event_source_disable_unref(w->round);
	sd_event_source_disable_unref(w->deadline);
	mg_monitor_free(w->mon);
	sd_event_unref(w->loop);
	free(w->name);
	free(w->uuid);
	mg_procfs_scan_clear(&w->scan);
	free(w);
}

void mg_watch_set_domain(struct mg_watch *w, virDomainPtr dom)
{
	mg_monitor_set_domain(w->mon, dom);
}
