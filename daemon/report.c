/* report.c - see report.h. */
#include "report.h"
#include "log.h"
#include "snapshot/snapshot.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mg_report {
	/* The owner's and the pool job's; atomic because free_arg runs on a
	 * worker thread when the pool is freed while the snapshot runs. */
	unsigned n_ref;
	struct mg_env env;		/* the manager's: outlives every job */
	mg_report_done_fn done;		/* NULL once the owner let go */
	void *userdata;
	/* Set on the loop before submission; the worker only reads them. */
	pid_t pid;
	char *name, *uuid, *status_xml, *qemu_log, *signatures_dir, *debuginfo_dirs;
	struct mg_track track;
	struct mg_ledger_entry ledger;
	bool has_ledger;
	/* Written by the worker; read on the loop only once run returned. */
	char *stacks, *summary;
	json_object *snap_json;
	char snap_error[256];
	struct mg_unstick_plan plan;
	uint64_t stopped_us;
};

static void report_unref(struct mg_report *r)
{
	if (!r || __atomic_sub_fetch(&r->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	free(r->name);
	free(r->uuid);
	free(r->status_xml);
	free(r->qemu_log);
	free(r->signatures_dir);
	free(r->debuginfo_dirs);
	free(r->stacks);
	free(r->summary);
	if (r->snap_json)
		json_object_put(r->snap_json);
	free(r);
}

static void summary_text(struct mg_report *r, const struct mg_snapshot *snap)
{
	const struct mg_track *t = &r->track;
	size_t len = 0;
	FILE *f = open_memstream(&r->summary, &len);

	if (!f)
		return;
	fprintf(f, "The %s migration of %s (QEMU pid %d) is %s: %s.", mg_direction_to_string(t->direction),
		r->name, (int)r->pid, t->phase == MG_PHASE_HUNG ? "hung" : mg_phase_to_string(t->phase),
		t->n_timeline ? t->timeline[t->n_timeline - 1].text : "no evidence");
	if (snap) {
		fputc(' ', f);
		mg_snapshot_write_summary(snap, f);
	} else {
		fprintf(f, " No stack snapshot: %s.", r->snap_error);
	}
	fclose(f);
}

/* On a snapshot thread: everything that reads the target. */
static int report_run(void *arg)
{
	struct mg_report *r = arg;
	/* debuginfo_path: separate debug files outside /usr/lib/debug (tests,
	 * local builds). */
	struct mg_snapshot_opts opts = { .signatures_dir = r->signatures_dir, .debuginfo_dirs = r->debuginfo_dirs };
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *snap = NULL;
	int k;

	k = mg_snapshot_take(r->pid, &opts, &snap);
	if (k < 0) {
		snprintf(r->snap_error, sizeof(r->snap_error), "snapshot of pid %d failed: %s", (int)r->pid,
			 strerror(-k));
		snap = NULL;
	} else {
		size_t len = 0;
		FILE *f = open_memstream(&r->stacks, &len);

		if (f) {
			mg_snapshot_write_text(snap, f);
			fclose(f);
		}
		r->snap_json = mg_snapshot_to_json(snap);
		r->stopped_us = snap->stopped_us;
		if (snap->partial)
			snprintf(r->snap_error, sizeof(r->snap_error), "partial snapshot: %s",
				 snap->errors ? snap->errors : "see report");
	}
	summary_text(r, snap);
	if (snap)
		mg_unstick_plan(snap, &r->plan);
	else
		snprintf(r->plan.why, sizeof(r->plan.why), "no snapshot: %.240s", r->snap_error);
	return 0;
}

/* On the loop, once: the incident from what the thread found (nothing of
 * it when the deadline passed first: the thread may still write there). */
static void report_done(int result, void *arg)
{
	struct mg_report *r = arg;
	const struct mg_conf *conf = r->env.conf;
	struct mg_incwriter *iw = NULL;
	struct mg_unstick_plan none = { .kind = MG_UNSTICK_NONE };
	const struct mg_unstick_plan *plan = &r->plan;
	char error[256];
	int k = result;

	if (result == -ECANCELED) {
		mg_notice("domain %s: stopping; the snapshot's incident is not written", r->name);
	} else {
		struct mg_incident_input in = {
			.domain = r->name, .uuid = r->uuid, .pid = r->pid, .direction = r->track.direction,
			.track = &r->track, .status_xml_path = r->status_xml, .qemu_log_path = r->qemu_log,
		};
		struct mg_incwriter_params p = {
			.state_dir = conf->state_dir, .max_count = conf->max_count, .max_age = conf->max_age,
			.pool = r->env.io, .notify = r->env.notify, .ledger = r->has_ledger ? &r->ledger : NULL,
		};

		if (result < 0) {
			snprintf(error, sizeof(error), "snapshot of pid %d did not finish within %u s: %s",
				 (int)r->pid, (unsigned)(MG_REPORT_SNAPSHOT_TIMEOUT / MG_USEC_PER_SEC),
				 strerror(-result));
			mg_warn("domain %s: %s; the incident is written without stacks", r->name, error);
			in.snapshot_error = error;
			in.summary = error;
			snprintf(none.why, sizeof(none.why), "no snapshot: %.240s", error);
			plan = &none;
		} else {
			in.snapshot = r->snap_json;
			in.snapshot_error = r->snap_error[0] ? r->snap_error : NULL;
			in.stacks_text = r->stacks;
			in.summary = r->summary;
			p.stopped_us = r->stopped_us;
		}
		/* The files are written on the io pool's thread: the loop goes on. */
		k = mg_incwriter_start(r->env.loop, &p, &in, &iw);
		if (k < 0)
			mg_error_errno(k, "domain %s: cannot start writing the incident", r->name);
		/* The writer took over the snapshot's reference. */
		if (result >= 0)
			r->snap_json = NULL;
	}
	if (r->done)
		r->done(k < 0 ? k : 0, iw, plan, r->userdata);
	else
		mg_incwriter_unref(iw);
}

static void report_free_arg(void *arg)
{
	report_unref(arg);
}

static int dup_opt(char **dst, const char *s)
{
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

int mg_report_start(const struct mg_env *env, struct mg_watch *w, const char *status_xml, const char *qemu_log,
		    const struct mg_ledger_entry *ledger, mg_report_done_fn done, void *userdata,
		    struct mg_report **out)
{
	const struct mg_conf *conf = env->conf;
	struct mg_report *r;
	char what[300];
	int k;

	if (!env->snap || !env->io)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return mg_error_errno(-ENOMEM, "domain %s: cannot start the incident", mg_watch_name(w));
	r->n_ref = 1;
	r->env = *env;
	r->done = done;
	r->userdata = userdata;
	r->pid = mg_watch_pid(w);
	r->track = *mg_watch_get_track(w);
	r->plan.kind = MG_UNSTICK_NONE;
	if (ledger) {
		r->ledger = *ledger;
		r->has_ledger = true;
	}
	k = dup_opt(&r->name, mg_watch_name(w));
	if (k >= 0)
		k = dup_opt(&r->uuid, mg_watch_uuid(w));
	if (k >= 0)
		k = dup_opt(&r->status_xml, status_xml);
	if (k >= 0)
		k = dup_opt(&r->qemu_log, qemu_log);
	if (k >= 0)
		k = dup_opt(&r->signatures_dir, conf->signatures_dir);
	if (k >= 0)
		k = dup_opt(&r->debuginfo_dirs, conf->debuginfo_path);
	if (k < 0) {
		report_unref(r);
		return mg_error_errno(k, "domain %s: cannot start the incident", mg_watch_name(w));
	}
	snprintf(what, sizeof(what), "snapshot of %s (pid %d)", r->name, (int)r->pid);
	struct mg_work job = {
		.what = what, .run = report_run, .done = report_done, .free_arg = report_free_arg, .arg = r,
		.timeout_usec = MG_REPORT_SNAPSHOT_TIMEOUT,
	};
	r->n_ref = 2;
	k = mg_worker_submit(env->snap, &job);
	if (k < 0) {
		/* free_arg does not run for a job that was never queued. */
		r->n_ref = 1;
		report_unref(r);
		return mg_error_errno(k, "domain %s: cannot queue the snapshot", mg_watch_name(w));
	}
	*out = r;
	return 0;
}

struct mg_report *mg_report_cancel(struct mg_report *r)
{
	if (r) {
		r->done = NULL;
		report_unref(r);
	}
	return NULL;
}
bool mg_report_already(const struct mg_env *env, const struct mg_ledger_entry *e, struct mg_watch *w)
{
	const struct mg_track *t = mg_watch_get_track(w);
	struct mg_event ev = mg_event_make(MG_EVENT_NOTE);
	char text[768];

	if (!e)
		return false;
	snprintf(text, sizeof(text), "already %s on this migration before a restart: incident %s",
		 e->acted ? "acted" : "reported", e->incident[0] ? e->incident : "(not written)");
	mg_notice("domain %s: %s %s; no second incident, no second action", mg_watch_name(w),
		  mg_phase_to_string(t->phase), text);
	mg_watch_describe(w, &ev);
	ev.ev.detail = text;
	mg_notify_dispatch(env->notify, &ev);
	return true;
}
