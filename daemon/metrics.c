/* metrics.c - see metrics.h. */
#include "metrics.h"
#include "textfile.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MG_METRICS_STEPS 16

struct step_count {
	char step[24];
	unsigned long long ok, failed;
};

struct mg_metrics {
	unsigned long long tracked_total[2];	/* by direction */
	unsigned long long tracking[2];
	unsigned long long ended[2][3];		/* completed, failed, cancelled */
	unsigned long long hung, stalled;
	unsigned long long incidents, incident_errors;
	struct step_count steps[MG_METRICS_STEPS];
	bool connected;
	uint64_t loop_late_max, loop_late_own_max;	/* µs */
	double started;				/* unix time of the first textfile */
	struct mg_textfile *file;		/* NULL: no textfile configured */
};

static const char *const dir_names[2] = { "outgoing", "incoming" };
static const char *const end_names[3] = { "completed", "failed", "cancelled" };

int mg_metrics_new(struct mg_metrics **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

struct mg_metrics *mg_metrics_free(struct mg_metrics *m)
{
	if (m) {
		mg_textfile_free(m->file, false);
		free(m);
	}
	return NULL;
}

static void tracked(struct mg_metrics *m, enum mg_direction dir)
{
	m->tracked_total[dir == MG_DIR_IN]++;
	m->tracking[dir == MG_DIR_IN]++;
}

static void untracked(struct mg_metrics *m, enum mg_direction dir, enum mg_phase final)
{
	int i = dir == MG_DIR_IN;

	if (m->tracking[i])
		m->tracking[i]--;
	if (final == MG_PHASE_COMPLETED)
		m->ended[i][0]++;
	else if (final == MG_PHASE_CANCELLED)
		m->ended[i][2]++;
	else
		m->ended[i][1]++;
}

static void forget(struct mg_metrics *m, enum mg_direction dir)
{
	if (m->tracking[dir == MG_DIR_IN])
		m->tracking[dir == MG_DIR_IN]--;
}

static void verdict(struct mg_metrics *m, enum mg_phase phase)
{
	if (phase == MG_PHASE_HUNG)
		m->hung++;
	else if (phase == MG_PHASE_STALLED)
		m->stalled++;
}

static void incident(struct mg_metrics *m, int result)
{
	if (result == 0)
		m->incidents++;
	else
		m->incident_errors++;
}

/* False when the table of steps is full (a step never seen before). */
static bool action(struct mg_metrics *m, const char *step, int result)
{
	struct step_count *c = NULL;

	if (!step)
		return false;
	for (size_t i = 0; i < MG_METRICS_STEPS && !c; i++) {
		if (!m->steps[i].step[0])
			snprintf(m->steps[i].step, sizeof(m->steps[i].step), "%s", step);
		if (strcmp(m->steps[i].step, step) == 0)
			c = &m->steps[i];
	}
	if (!c)
		return false;
	if (result == 0)
		c->ok++;
	else
		c->failed++;
	return true;
}

/* Whether the plugin event changed a figure. */
static bool on_plugin_event(struct mg_metrics *m, const struct mg_event *e)
{
	switch (e->ev.kind) {
	case MIGGUARD_EVENT_MIGRATION_STARTED:
		tracked(m, e->dir);
		return true;
	case MIGGUARD_EVENT_VERDICT:
		verdict(m, e->phase);
		return true;
	case MIGGUARD_EVENT_MIGRATION_ENDED:
		untracked(m, e->dir, e->phase);
		return true;
	case MIGGUARD_EVENT_INCIDENT_WRITTEN:
		incident(m, e->ev.result);
		return true;
	case MIGGUARD_EVENT_ACTION_DONE:
		return action(m, e->ev.step, e->ev.result);
	case MIGGUARD_EVENT_PHASE_CHANGED:
		break;
	}
	return false;
}

void mg_metrics_on_event(void *userdata, const struct mg_event *e)
{
	struct mg_metrics *m = userdata;
	bool changed = false;

	switch (e->kind) {
	case MG_EVENT_PLUGIN:
		changed = on_plugin_event(m, e);
		break;
	case MG_EVENT_FORGOTTEN:
		if (e->tracking)
			forget(m, e->dir);
		changed = e->tracking;
		break;
	case MG_EVENT_CONNECTION:
		changed = m->connected != e->connected;
		m->connected = e->connected;
		break;
	case MG_EVENT_NOTE:
	case MG_EVENT_DAEMON:
		break;
	}
	if (changed)
		mg_textfile_changed(m->file);
}

static void header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void mg_metrics_render(const struct mg_metrics *m, FILE *out)
{
	header(out, "migguard_migrations_tracked_total", "counter",
	       "Migrations the guard started tracking.");
	for (int d = 0; d < 2; d++)
		fprintf(out, "migguard_migrations_tracked_total{direction=\"%s\"} %llu\n", dir_names[d],
			m->tracked_total[d]);
	header(out, "migguard_migrations_tracking", "gauge", "Migrations tracked now.");
	for (int d = 0; d < 2; d++)
		fprintf(out, "migguard_migrations_tracking{direction=\"%s\"} %llu\n", dir_names[d], m->tracking[d]);
	header(out, "migguard_migrations_ended_total", "counter",
	       "Tracked migrations that ended, by how (failed includes a killed QEMU).");
	for (int d = 0; d < 2; d++)
		for (int e = 0; e < 3; e++)
			fprintf(out, "migguard_migrations_ended_total{direction=\"%s\",result=\"%s\"} %llu\n",
				dir_names[d], end_names[e], m->ended[d][e]);
	header(out, "migguard_migrations_hung_total", "counter",
	       "Outgoing migrations declared HUNG (finishing longer than finish_timeout).");
	fprintf(out, "migguard_migrations_hung_total %llu\n", m->hung);
	header(out, "migguard_migrations_stalled_total", "counter",
	       "Incoming migrations declared STALLED (no progress for incoming_timeout).");
	fprintf(out, "migguard_migrations_stalled_total %llu\n", m->stalled);
	header(out, "migguard_incidents_written_total", "counter", "Incidents written.");
	fprintf(out, "migguard_incidents_written_total %llu\n", m->incidents);
	header(out, "migguard_incident_errors_total", "counter", "Incidents that could not be written.");
	fprintf(out, "migguard_incident_errors_total %llu\n", m->incident_errors);
	header(out, "migguard_actions_total", "counter", "Escalation-ladder steps taken, by step and result.");
	for (size_t i = 0; i < MG_METRICS_STEPS && m->steps[i].step[0]; i++) {
		fprintf(out, "migguard_actions_total{step=\"%s\",result=\"ok\"} %llu\n", m->steps[i].step,
			m->steps[i].ok);
		fprintf(out, "migguard_actions_total{step=\"%s\",result=\"failed\"} %llu\n", m->steps[i].step,
			m->steps[i].failed);
	}
	header(out, "migguard_libvirt_connected", "gauge", "1 while the guard is connected to libvirt.");
	fprintf(out, "migguard_libvirt_connected %d\n", m->connected);
	header(out, "migguard_loop_lateness_max_seconds", "gauge",
	       "The event loop's largest lateness since start (how late a timer ran).");
	fprintf(out, "migguard_loop_lateness_max_seconds %.6f\n", (double)m->loop_late_max / 1e6);
	header(out, "migguard_loop_lateness_own_max_seconds", "gauge",
	       "The same without the time the loop's thread waited for a CPU: what the daemon's own work cost.");
	fprintf(out, "migguard_loop_lateness_own_max_seconds %.6f\n", (double)m->loop_late_own_max / 1e6);
	header(out, "migguard_start_time_seconds", "gauge", "When migguardd started (unix time).");
	fprintf(out, "migguard_start_time_seconds %.3f\n", m->started);
}

static char *render_text(void *userdata)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return NULL;
	mg_metrics_render(userdata, f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int mg_metrics_set_textfile(struct mg_metrics *m, sd_event *loop, const char *path)
{
	m->file = mg_textfile_free(m->file, false);
	if (!path || !*path)
		return 0;
	if (m->started == 0)
		m->started = (double)mg_now_real() / 1e6;
	/* 0644 whatever the umask (the unit's is 0077): node_exporter runs as
	 * another user. */
	return mg_textfile_new(loop, "metrics textfile", path, 0644, render_text, m, &m->file);
}

void mg_metrics_set_loop_lateness(struct mg_metrics *m, uint64_t max_usec, uint64_t own_max_usec)
{
	if (m->loop_late_max == max_usec && m->loop_late_own_max == own_max_usec)
		return;
	m->loop_late_max = max_usec;
	m->loop_late_own_max = own_max_usec;
	mg_textfile_changed(m->file);
}
