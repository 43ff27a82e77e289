/* status.c - see status.h. */
#include "status.h"
#include "log.h"
#include "procid.h"
#include "textfile.h"
#include "util.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct entry {
	const void *key;
	char domain[256], uuid[40], detail[256];
	int pid;
	enum mg_direction dir;
	enum mg_phase phase;
	uint64_t since;			/* CLOCK_REALTIME of the phase start */
	uint64_t tracked_at;
	struct entry *next;
};

struct mg_status {
	struct entry *entries;
	char daemon[256];
	uint64_t loop_late_max, loop_late_own_max;	/* µs */
	uint64_t started;
	/* Who wrote the file, beyond a pid that may be reused: our start time
	 * (clock ticks since boot) and the boot it counts from. */
	uint64_t start_time;
	char boot_id[40];
	struct mg_textfile *file;
};

int mg_status_new(struct mg_status **out)
{
	struct mg_status *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->started = mg_now_real();
	/* Without them `migguard status` falls back to the process name. */
	if (mg_procfs_start_time(getpid(), &st->start_time) < 0)
		st->start_time = 0;
	mg_boot_id(st->boot_id, sizeof(st->boot_id));
	*out = st;
	return 0;
}

struct mg_status *mg_status_free(struct mg_status *st)
{
	if (!st)
		return NULL;
	mg_textfile_free(st->file, true);
	while (st->entries) {
		struct entry *e = st->entries;

		st->entries = e->next;
		free(e);
	}
	free(st);
	return NULL;
}

static void track(struct mg_status *st, const struct mg_event *ev)
{
	const struct migguard_event *m = &ev->ev;
	struct entry *e;

	for (e = st->entries; e && e->key != ev->key; e = e->next)
		;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return;
		e->key = ev->key;
		e->tracked_at = mg_now_real();
		e->since = e->tracked_at;
		e->phase = ev->phase;
		e->next = st->entries;
		st->entries = e;
	}
	snprintf(e->domain, sizeof(e->domain), "%s", m->domain ? m->domain : "");
	snprintf(e->uuid, sizeof(e->uuid), "%s", m->uuid ? m->uuid : "");
	snprintf(e->detail, sizeof(e->detail), "%s", m->detail ? m->detail : "");
	e->pid = m->pid;
	e->dir = ev->dir;
	if (e->phase != ev->phase) {
		e->phase = ev->phase;
		e->since = mg_now_real();
	}
	mg_textfile_changed(st->file);
}

static void untrack(struct mg_status *st, const void *key)
{
	for (struct entry **p = &st->entries; *p; p = &(*p)->next) {
		if ((*p)->key == key) {
			struct entry *e = *p;

			*p = e->next;
			free(e);
			mg_textfile_changed(st->file);
			return;
		}
	}
}

static void set_daemon(struct mg_status *st, const char *text)
{
	if (strcmp(st->daemon, text ? text : "") != 0) {
		snprintf(st->daemon, sizeof(st->daemon), "%s", text ? text : "");
		mg_textfile_changed(st->file);
	}
}

void mg_status_set_loop_lateness(struct mg_status *st, uint64_t max_usec, uint64_t own_max_usec)
{
	if (st->loop_late_max == max_usec && st->loop_late_own_max == own_max_usec)
		return;
	st->loop_late_max = max_usec;
	st->loop_late_own_max = own_max_usec;
	mg_textfile_changed(st->file);
}

void mg_status_on_event(void *userdata, const struct mg_event *e)
{
	struct mg_status *st = userdata;

	switch (e->kind) {
	case MG_EVENT_PLUGIN:
		if (e->ev.kind == MIGGUARD_EVENT_MIGRATION_ENDED)
			untrack(st, e->key);
		else if (e->ev.kind != MIGGUARD_EVENT_INCIDENT_WRITTEN && e->ev.kind != MIGGUARD_EVENT_ACTION_DONE)
			track(st, e);
		break;
	case MG_EVENT_NOTE:
		track(st, e);
		break;
	case MG_EVENT_FORGOTTEN:
		untrack(st, e->key);
		break;
	case MG_EVENT_DAEMON:
		set_daemon(st, e->ev.detail);
		break;
	case MG_EVENT_CONNECTION:
		break;
	}
}

static json_object *render_json(const struct mg_status *st)
{
	json_object *root = json_object_new_object(), *list = json_object_new_array();
	char buf[64];

	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "pid", json_object_new_int((int)getpid()));
	if (st->start_time)
		json_object_object_add(root, "start_time", json_object_new_int64((int64_t)st->start_time));
	if (st->boot_id[0])
		json_object_object_add(root, "boot_id", json_object_new_string(st->boot_id));
	json_object_object_add(root, "package_version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(root, "started", json_object_new_string(mg_format_utc(st->started, buf, sizeof(buf))));
	json_object_object_add(root, "updated",
			       json_object_new_string(mg_format_utc(mg_now_real(), buf, sizeof(buf))));
	json_object_object_add(root, "daemon", json_object_new_string(st->daemon));
	json_object_object_add(root, "loop_lateness_max_ms",
			       json_object_new_double((double)(st->loop_late_max / 100) / 10.0));
	json_object_object_add(root, "loop_lateness_own_max_ms",
			       json_object_new_double((double)(st->loop_late_own_max / 100) / 10.0));
	for (struct entry *e = st->entries; e; e = e->next) {
		json_object *m = json_object_new_object();

		json_object_object_add(m, "domain", json_object_new_string(e->domain));
		if (e->uuid[0])
			json_object_object_add(m, "uuid", json_object_new_string(e->uuid));
		json_object_object_add(m, "pid", json_object_new_int(e->pid));
		json_object_object_add(m, "direction", json_object_new_string(mg_direction_to_string(e->dir)));
		json_object_object_add(m, "phase", json_object_new_string(mg_phase_to_string(e->phase)));
		json_object_object_add(m, "phase_since", json_object_new_string(mg_format_utc(e->since, buf, sizeof(buf))));
		json_object_object_add(m, "tracked_since",
				       json_object_new_string(mg_format_utc(e->tracked_at, buf, sizeof(buf))));
		json_object_object_add(m, "detail", json_object_new_string(e->detail));
		json_object_array_add(list, m);
	}
	json_object_object_add(root, "migrations", list);
	return root;
}

static char *render_text(void *userdata)
{
	json_object *root = render_json(userdata);
	char *text = NULL;

	if (asprintf(&text, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY)) < 0)
		text = NULL;
	json_object_put(root);
	return text;
}

int mg_status_set_dir(struct mg_status *st, sd_event *loop, const char *state_dir)
{
	_cleanup_free_ char *path = NULL;
	int r;

	st->file = mg_textfile_free(st->file, true);
	/* The state dir may not exist yet before the first incident. */
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return mg_error_errno(-errno, "cannot create %s", state_dir);
	if (asprintf(&path, "%s/status.json", state_dir) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	r = mg_textfile_new(loop, "status file", path, 0600, render_text, st, &st->file);
	if (r < 0)
		return mg_error_errno(r, "cannot schedule status writes");
	return 0;
}
