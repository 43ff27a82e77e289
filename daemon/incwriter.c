/* incwriter.c - see incwriter.h.
 *
 * What a worker thread reads (the evidence, the action records) is owned by
 * its job while the job is out and comes back to the writer in the job's
 * done callback: the loop and the thread never share memory, json-c's
 * unlocked reference counts included. */
#include "incwriter.h"
#include "log.h"
#include "msgid.h"
#include "notify.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define MG_INCWRITER_STACKS_MAX (48 * 1024)	/* journald takes more; readers do not */

struct evidence {
	struct mg_incident_input in;	/* points into the members below */
	char *domain, *uuid, *snapshot_error, *stacks, *summary, *status_xml, *qemu_log, *name;
	struct mg_track track;
	json_object *snapshot;
	char *state_dir;
	unsigned max_count;
	uint64_t max_age;
	bool has_ledger;
	struct mg_ledger_entry ledger;
};

struct action {
	struct action *next;
	char dir[PATH_MAX];
	char step[32];
	char detail[512];
	int result;
	uint64_t at;
};

struct mg_incwriter {
	unsigned refs;
	sd_event *loop;			/* borrowed: see failed() */
	struct mg_worker_pool *pool;
	struct mg_notify *notify;	/* borrowed: see mg_incwriter_params */
	struct evidence *ev;		/* NULL while a write job has it, or once written */
	char domain[256];
	char dir[PATH_MAX];
	uint64_t stopped_us;
	bool written, busy, gave_up;
	unsigned attempts;
	sd_event_source *retry;		/* floating; holds a reference to the writer */
	struct action *actions, **actions_tail;
};

static void kick(struct mg_incwriter *iw);

static void evidence_free(struct evidence *ev)
{
	if (!ev)
		return;
	free(ev->domain);
	free(ev->uuid);
	free(ev->snapshot_error);
	free(ev->stacks);
	free(ev->summary);
	free(ev->status_xml);
	free(ev->qemu_log);
	free(ev->name);
	free(ev->state_dir);
	json_object_put(ev->snapshot);
	free(ev);
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src && !(*dst = strdup(src)))
		return -ENOMEM;
	return 0;
}

static struct evidence *evidence_new(const struct mg_incwriter_params *p, const struct mg_incident_input *in)
{
	struct evidence *ev = calloc(1, sizeof(*ev));
	char name[160];

	if (!ev)
		return NULL;
	mg_incident_name(in, name, sizeof(name));
	if (dup_opt(&ev->domain, in->domain ? in->domain : "?") < 0 || dup_opt(&ev->uuid, in->uuid) < 0 ||
	    dup_opt(&ev->snapshot_error, in->snapshot_error) < 0 || dup_opt(&ev->stacks, in->stacks_text) < 0 ||
	    dup_opt(&ev->summary, in->summary) < 0 || dup_opt(&ev->status_xml, in->status_xml_path) < 0 ||
	    dup_opt(&ev->qemu_log, in->qemu_log_path) < 0 || dup_opt(&ev->name, name) < 0 ||
	    dup_opt(&ev->state_dir, p->state_dir) < 0) {
		evidence_free(ev);
		return NULL;
	}
	if (in->track)
		ev->track = *in->track;
	ev->in = (struct mg_incident_input){
		.domain = ev->domain, .uuid = ev->uuid, .pid = in->pid, .direction = in->direction,
		.track = in->track ? &ev->track : NULL, .snapshot = in->snapshot,
		.snapshot_error = ev->snapshot_error, .stacks_text = ev->stacks, .summary = ev->summary,
		.status_xml_path = ev->status_xml, .qemu_log_path = ev->qemu_log, .name = ev->name,
	};
	/* The caller's reference is ours now. */
	ev->snapshot = in->snapshot;
	ev->max_count = p->max_count;
	ev->max_age = p->max_age;
	if (p->ledger) {
		ev->has_ledger = true;
		ev->ledger = *p->ledger;
	}
	return ev;
}

/* --- jobs ------------------------------------------------------------- */

struct write_job {
	struct mg_incwriter *iw;	/* loop side only (done) */
	struct evidence *ev;
	int ledger_result;
	char dir[PATH_MAX];
};

static int write_run(void *arg)
{
	struct write_job *j = arg;
	struct evidence *ev = j->ev;
	_cleanup_free_ char *dir = NULL;
	int r;

	/* The record first: once the guard acts, a restart must know. */
	if (ev->has_ledger) {
		snprintf(ev->ledger.incident, sizeof(ev->ledger.incident), "%s/incidents/%s", ev->state_dir,
			 ev->name);
		j->ledger_result = mg_ledger_write(ev->state_dir, &ev->ledger);
	}
	r = mg_incident_write(ev->state_dir, &ev->in, &dir);
	if (r < 0)
		return r;
	snprintf(j->dir, sizeof(j->dir), "%s", dir ? dir : "");
	mg_incident_prune(ev->state_dir, ev->max_count, ev->max_age, strrchr(j->dir, '/') + 1);
	return 0;
}

static void write_job_free(void *arg)
{
	struct write_job *j = arg;

	evidence_free(j->ev);
	free(j);
}

struct action_job {
	struct mg_incwriter *iw;
	struct action *a;
};

static int action_run(void *arg)
{
	struct action_job *j = arg;

	return mg_incident_add_action_at(j->a->dir, j->a->at, j->a->step, j->a->result, j->a->detail);
}

static void action_job_free(void *arg)
{
	struct action_job *j = arg;

	free(j->a);
	free(j);
}

/* --- on the loop ------------------------------------------------------ */

/* The incident written (dir, result 0) or not (NULL, a negative errno),
 * to every sink (metrics, plugins). */
static void emit_incident(struct mg_incwriter *iw, const struct evidence *ev, const char *dir, int result)
{
	struct mg_event e = mg_event_plugin(MIGGUARD_EVENT_INCIDENT_WRITTEN, "incident");

	e.dir = ev->in.direction;
	e.phase = ev->track.phase;
	e.ev.domain = ev->domain;
	e.ev.uuid = ev->uuid;
	e.ev.pid = (int)ev->in.pid;
	e.ev.direction = mg_direction_to_string(ev->in.direction);
	e.ev.phase = mg_phase_to_string(ev->track.phase);
	e.ev.incident = dir;
	e.ev.result = result;
	e.ev.detail = ev->summary;
	mg_notify_dispatch(iw->notify, &e);
}

static void log_written(struct mg_incwriter *iw, const struct evidence *ev)
{
	struct mg_log_field f[] = {
		{ "MIGGUARD_DOMAIN", ev->domain }, { "MIGGUARD_UUID", ev->uuid }, { "MIGGUARD_INCIDENT", iw->dir },
	};

	emit_incident(iw, ev, iw->dir, 0);
	mg_log_full(LOG_ERR, 0, MG_MESSAGE_INCIDENT, f, MG_ARRAY_SIZE(f),
		    "domain %s: incident written to %s (target stopped %llu us for the snapshot)%s",
		    ev->domain, iw->dir, (unsigned long long)iw->stopped_us,
		    iw->attempts ? " after the state directory could be written again" : "");
	mg_log(LOG_NOTICE, "domain %s: %s", ev->domain, ev->summary ? ev->summary : "");
}

static const char *snapshot_member(const struct evidence *ev, const char *key)
{
	json_object *v;

	if (!ev->snapshot || !json_object_is_type(ev->snapshot, json_type_object) ||
	    !json_object_object_get_ex(ev->snapshot, key, &v) || !v)
		return NULL;
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* The files could not be written: the journal gets what an operator needs
 * to act on the hang now, as structured fields. */
static void log_evidence(struct mg_incwriter *iw, const struct evidence *ev, int r)
{
	char pid[16], stacks[MG_INCWRITER_STACKS_MAX];
	struct mg_log_field f[] = {
		{ "MIGGUARD_DOMAIN", ev->domain }, { "MIGGUARD_UUID", ev->uuid }, { "MIGGUARD_PID", pid },
		{ "MIGGUARD_VERDICT", mg_phase_to_string(ev->track.phase) },
		{ "MIGGUARD_SUMMARY", ev->summary }, { "MIGGUARD_EVIDENCE", ev->track.finishing_reason },
		{ "MIGGUARD_LOCKS", snapshot_member(ev, "locks") },
		{ "MIGGUARD_IO_WAITS", snapshot_member(ev, "io_waits") },
		{ "MIGGUARD_SNAPSHOT_ERROR", ev->snapshot_error },
		{ "MIGGUARD_INCIDENT", iw->dir }, { "MIGGUARD_STACKS", stacks },
	};

	snprintf(pid, sizeof(pid), "%d", (int)ev->in.pid);
	snprintf(stacks, sizeof(stacks), "%s", ev->stacks ? ev->stacks : "");
	emit_incident(iw, ev, NULL, r);
	mg_log_full(LOG_ERR, r, MG_MESSAGE_INCIDENT_UNWRITTEN, f, MG_ARRAY_SIZE(f),
		    "domain %s: incident cannot be written (its evidence is in this entry; retrying)", ev->domain);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct mg_incwriter *iw = mg_incwriter_ref(userdata);

	/* The loop's reference to the timer, dropped: once the dispatch is
	 * over it is freed, and its destroy callback drops its reference. */
	iw->retry = NULL;
	sd_event_source_disable_unref(s);
	kick(iw);
	mg_incwriter_unref(iw);
	return 0;
}

static void retry_destroyed(void *userdata)
{
	mg_incwriter_unref(userdata);
}

/* A write or an action failed (or could not be queued): try again later,
 * with a backoff, a bounded number of times. */
static void failed(struct mg_incwriter *iw, int err)
{
	uint64_t delay = MG_INCWRITER_RETRY_FIRST;
	char d[32];
	int r;

	if (++iw->attempts > MG_INCWRITER_RETRY_COUNT) {
		mg_error_errno(err, "domain %s: incident %s given up after %u attempts; the journal has its evidence",
			       iw->domain, iw->dir, iw->attempts);
		iw->gave_up = true;
		return;
	}
	for (unsigned i = 1; i < iw->attempts && delay < MG_INCWRITER_RETRY_MAX; i++)
		delay *= 2;
	if (delay > MG_INCWRITER_RETRY_MAX)
		delay = MG_INCWRITER_RETRY_MAX;
	/* The timer is the loop's (floating), not ours: when the guard stops
	 * and frees its loop with a retry still pending, the loop frees the
	 * timer and the timer its reference to the writer; holding the loop
	 * here instead would keep both alive for ever. */
	r = sd_event_add_time_relative(iw->loop, &iw->retry, CLOCK_MONOTONIC, delay, MG_USEC_PER_SEC / 10,
				       on_retry, iw);
	if (r >= 0) {
		mg_incwriter_ref(iw);
		sd_event_source_set_destroy_callback(iw->retry, retry_destroyed);
		r = sd_event_source_set_floating(iw->retry, true);
		/* Ours dropped: the loop's is the one left (or none on error,
		 * and the destroy callback has dropped the writer's). */
		sd_event_source_unref(iw->retry);
		if (r < 0)
			iw->retry = NULL;
	}
	if (r < 0) {
		mg_error_errno(r, "domain %s: incident %s: cannot arm its retry", iw->domain, iw->dir);
		iw->gave_up = true;
		return;
	}
	mg_notice("domain %s: incident %s: next attempt in %s", iw->domain, iw->dir,
		  mg_format_duration(delay, d, sizeof(d)));
}

static void write_done(int r, void *arg)
{
	struct write_job *j = arg;
	struct mg_incwriter *iw = j->iw;

	iw->busy = false;
	if (r == -ECANCELED) {
		/* The pool goes away: the guard stops. */
		mg_warn("domain %s: incident %s not written: the guard stops", iw->domain, iw->dir);
		iw->gave_up = true;
		mg_incwriter_unref(iw);
		return;
	}
	iw->ev = MG_TAKE_PTR(j->ev);
	if (j->ledger_result < 0)
		mg_warn_errno(j->ledger_result, "domain %s: cannot record that the guard acted", iw->domain);
	if (r == 0) {
		snprintf(iw->dir, sizeof(iw->dir), "%s", j->dir);
		iw->written = true;
		log_written(iw, iw->ev);
		evidence_free(MG_TAKE_PTR(iw->ev));
		iw->attempts = 0;
		kick(iw);
	} else {
		if (iw->attempts == 0)
			log_evidence(iw, iw->ev, r);
		failed(iw, r);
	}
	mg_incwriter_unref(iw);
}

static void action_done(int r, void *arg)
{
	struct action_job *j = arg;
	struct mg_incwriter *iw = j->iw;

	iw->busy = false;
	if (r == -ECANCELED) {
		iw->gave_up = true;
	} else if (r < 0) {
		/* Back to the head of the queue, for the retry. */
		j->a->next = iw->actions;
		if (!iw->actions)
			iw->actions_tail = &j->a->next;
		iw->actions = MG_TAKE_PTR(j->a);
		failed(iw, r);
	} else {
		iw->attempts = 0;
		kick(iw);
	}
	mg_incwriter_unref(iw);
}

static int submit_write(struct mg_incwriter *iw)
{
	struct write_job *j = calloc(1, sizeof(*j));
	struct mg_work w = {
		.what = "incident write", .run = write_run, .done = write_done, .free_arg = write_job_free,
	};
	int r;

	if (!j)
		return -ENOMEM;
	j->iw = iw;
	j->ev = MG_TAKE_PTR(iw->ev);
	w.arg = j;
	r = mg_worker_submit(iw->pool, &w);
	if (r < 0) {
		iw->ev = MG_TAKE_PTR(j->ev);
		free(j);
		return r;
	}
	mg_incwriter_ref(iw);
	iw->busy = true;
	return 0;
}

static int submit_action(struct mg_incwriter *iw)
{
	struct action_job *j = calloc(1, sizeof(*j));
	struct mg_work w = {
		.what = "incident action", .run = action_run, .done = action_done, .free_arg = action_job_free,
	};
	int r;

	if (!j)
		return -ENOMEM;
	j->iw = iw;
	j->a = iw->actions;
	snprintf(j->a->dir, sizeof(j->a->dir), "%s", iw->dir);
	w.arg = j;
	r = mg_worker_submit(iw->pool, &w);
	if (r < 0) {
		free(j);
		return r;
	}
	iw->actions = j->a->next;
	if (!iw->actions)
		iw->actions_tail = &iw->actions;
	j->a->next = NULL;
	mg_incwriter_ref(iw);
	iw->busy = true;
	return 0;
}

/* Starts the next job: the write until it succeeded, then each action. */
static void kick(struct mg_incwriter *iw)
{
	int r = 0;

	if (iw->busy || iw->retry || iw->gave_up)
		return;
	if (!iw->written)
		r = submit_write(iw);
	else if (iw->actions)
		r = submit_action(iw);
	if (r < 0) {
		if (!iw->written && iw->attempts == 0)
			log_evidence(iw, iw->ev, r);
		failed(iw, r);
	}
}

int mg_incwriter_start(sd_event *loop, const struct mg_incwriter_params *p, const struct mg_incident_input *in,
		       struct mg_incwriter **out)
{
	struct mg_incwriter *iw = calloc(1, sizeof(*iw));

	if (!iw) {
		json_object_put(in->snapshot);
		return -ENOMEM;
	}
	iw->ev = evidence_new(p, in);
	if (!iw->ev) {
		json_object_put(in->snapshot);
		free(iw);
		return -ENOMEM;
	}
	iw->refs = 1;
	iw->loop = loop;
	iw->pool = p->pool;
	iw->notify = p->notify;
	iw->stopped_us = p->stopped_us;
	iw->actions_tail = &iw->actions;
	snprintf(iw->domain, sizeof(iw->domain), "%s", iw->ev->domain);
	snprintf(iw->dir, sizeof(iw->dir), "%s/incidents/%s", p->state_dir, iw->ev->name);
	kick(iw);
	*out = iw;
	return 0;
}

void mg_incwriter_add_action(struct mg_incwriter *iw, const char *step, int result, const char *detail)
{
	struct action *a;

	if (iw->gave_up)
		return;		/* the journal has it (the ladder logs every step) */
	a = calloc(1, sizeof(*a));
	if (!a)
		return;
	snprintf(a->step, sizeof(a->step), "%s", step);
	snprintf(a->detail, sizeof(a->detail), "%s", detail ? detail : "");
	a->result = result;
	a->at = mg_now_real();
	*iw->actions_tail = a;
	iw->actions_tail = &a->next;
	kick(iw);
}

const char *mg_incwriter_dir(const struct mg_incwriter *iw) { return iw->dir; }
bool mg_incwriter_written(const struct mg_incwriter *iw) { return iw->written; }

struct mg_incwriter *mg_incwriter_ref(struct mg_incwriter *iw)
{
	iw->refs++;
	return iw;
}

struct mg_incwriter *mg_incwriter_unref(struct mg_incwriter *iw)
{
	if (!iw || --iw->refs > 0)
		return NULL;
	while (iw->actions) {
		struct action *a = iw->actions;

		iw->actions = a->next;
		free(a);
	}
	evidence_free(iw->ev);
	free(iw);
	return NULL;
}
