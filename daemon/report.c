/* report.c - see report.h. */
#include "report.h"
#include "incident.h"
#include "log.h"
#include "metrics.h"
#include "plugin.h"
#include "snapshot/snapshot.h"
#include "util.h"

#include <errno.h>
#include <string.h>

#define MG_MESSAGE_INCIDENT "2f6c8a0e4b1d4c3a9e5f7b2d0c4a6e8f"

/* The signatures shipped with the build tree are used by the tests
 * before installation. */
static const char *signatures_dir(void)
{
	const char *env = getenv("MIGGUARD_SIGNATURES_DIR");

	return env && *env ? env : NULL;
}

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

int mg_report_incident(const struct mg_conf *conf, struct mg_watch *w, const char *status_xml,
		       const char *qemu_log, char **out_dir)
{
	struct mg_snapshot_opts opts = { .signatures_dir = signatures_dir() };
	struct mg_snapshot *snap = NULL;
	_cleanup_free_ char *stacks = NULL, *summary = NULL, *dir = NULL;
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

	struct mg_incident_input in = {
		.domain = mg_watch_name(w), .uuid = mg_watch_uuid(w), .pid = mg_watch_pid(w),
		.direction = mg_watch_get_track(w)->direction, .track = mg_watch_get_track(w),
		.snapshot = snap_json, .snapshot_error = snap_error[0] ? snap_error : NULL,
		.stacks_text = stacks, .summary = summary,
		.status_xml_path = status_xml, .qemu_log_path = qemu_log,
	};
	r = mg_incident_write(conf->state_dir, &in, &dir);
	mg_metrics_incident(r);
	mg_plugins_emit_simple(MIGGUARD_EVENT_INCIDENT_WRITTEN, "incident", mg_watch_name(w), mg_watch_uuid(w),
			       (int)mg_watch_pid(w), mg_direction_to_string(mg_watch_get_track(w)->direction),
			       mg_phase_to_string(mg_watch_get_track(w)->phase), r == 0 ? dir : NULL, NULL, r,
			       summary);
	json_object_put(snap_json);
	if (r == 0) {
		struct mg_log_field f[] = {
			{ "MIGGUARD_DOMAIN", mg_watch_name(w) }, { "MIGGUARD_UUID", mg_watch_uuid(w) },
			{ "MIGGUARD_INCIDENT", dir },
		};
		char stopped[32];

		snprintf(stopped, sizeof(stopped), "%llu", snap ? (unsigned long long)snap->stopped_us : 0ULL);
		mg_log_full(LOG_ERR, 0, MG_MESSAGE_INCIDENT, f, MG_ARRAY_SIZE(f),
			    "domain %s: incident written to %s (target stopped %s us for the snapshot)",
			    mg_watch_name(w), dir, stopped);
		mg_log(LOG_NOTICE, "domain %s: %s", mg_watch_name(w), summary ? summary : "");
		mg_incident_prune(conf->state_dir, conf->max_count, conf->max_age);
		if (out_dir)
			*out_dir = MG_TAKE_PTR(dir);
	}
	mg_snapshot_free(snap);
	return r;
}
