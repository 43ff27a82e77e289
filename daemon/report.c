/* report.c - see report.h. */
#include "report.h"
#include "log.h"
#include "snapshot/snapshot.h"
#include "util.h"

#include <errno.h>
#include <string.h>

static char *summary_text(struct mg_watch *w, const struct mg_snapshot *snap, const char *snap_error)
{
	const struct mg_track *t = mg_watch_get_track(w);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "The %s migration of %s (QEMU pid %d) is %s: %s.",
		mg_direction_to_string(t->direction), mg_watch_name(w), (int)mg_watch_pid(w),
		t->phase == MG_PHASE_HUNG ? "hung" : mg_phase_to_string(t->phase),
		t->n_timeline ? t->timeline[t->n_timeline - 1].text : "no evidence");
	if (snap) {
		fputc(' ', f);
		mg_snapshot_write_summary(snap, f);
	} else {
		fprintf(f, " No stack snapshot: %s.", snap_error);
	}
	fclose(f);
	return buf;
}

int mg_report_incident(const struct mg_env *env, struct mg_watch *w, const char *status_xml, const char *qemu_log,
		       const struct mg_ledger_entry *ledger, struct mg_incwriter **out, struct mg_unstick_plan *plan)
{
	const struct mg_conf *conf = env->conf;
	/* debuginfo_path: separate debug files outside /usr/lib/debug (tests,
	 * local builds). */
	struct mg_snapshot_opts opts = { .signatures_dir = conf->signatures_dir,
					 .debuginfo_dirs = conf->debuginfo_path };
	struct mg_snapshot *snap = NULL;
	_cleanup_free_ char *stacks = NULL, *summary = NULL;
	char snap_error[256] = "";
	json_object *snap_json = NULL;
	size_t stacks_len = 0;
	int r;

	r = mg_snapshot_take(mg_watch_pid(w), &opts, &snap);
	if (r < 0) {
		snprintf(snap_error, sizeof(snap_error), "snapshot of pid %d failed: %s",
			 (int)mg_watch_pid(w), strerror(-r));
		snap = NULL;
	} else {
		FILE *f = open_memstream(&stacks, &stacks_len);

		if (f) {
			mg_snapshot_write_text(snap, f);
			fclose(f);
		}
		snap_json = mg_snapshot_to_json(snap);
		if (snap->partial)
			snprintf(snap_error, sizeof(snap_error), "partial snapshot: %s",
				 snap->errors ? snap->errors : "see report");
	}
	summary = summary_text(w, snap, snap_error);
	if (plan && snap) {
		mg_unstick_plan(snap, plan);
	} else if (plan) {
		memset(plan, 0, sizeof(*plan));
		snprintf(plan->why, sizeof(plan->why), "no snapshot: %s", snap_error);
	}

	struct mg_incident_input in = {
		.domain = mg_watch_name(w), .uuid = mg_watch_uuid(w), .pid = mg_watch_pid(w),
		.direction = mg_watch_get_track(w)->direction, .track = mg_watch_get_track(w),
		.snapshot = snap_json, .snapshot_error = snap_error[0] ? snap_error : NULL,
		.stacks_text = stacks, .summary = summary,
		.status_xml_path = status_xml, .qemu_log_path = qemu_log,
	};
	struct mg_incwriter_params p = {
		.state_dir = conf->state_dir, .max_count = conf->max_count, .max_age = conf->max_age,
		.pool = env->io, .notify = env->notify, .ledger = ledger, .stopped_us = snap ? snap->stopped_us : 0,
	};
	/* The files are written on the pool's thread: the loop goes on. */
	r = mg_incwriter_start(env->loop, &p, &in, out);
	if (r < 0)
		mg_error_errno(r, "domain %s: cannot start writing the incident", mg_watch_name(w));
	mg_snapshot_free(snap);
	return r;
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
