/* ledger.c - see ledger.h. */
#include "ledger.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

struct mg_ledger {
	char *state_dir;
	struct mg_ledger_entry *entries;
	size_t n, cap;
};

void mg_ledger_key_init(struct mg_ledger_key *k, const struct mg_procid *id, const char *uuid,
			enum mg_direction dir)
{
	memset(k, 0, sizeof(*k));
	k->pid = id->pid;
	k->start_time = id->start_time;
	snprintf(k->uuid, sizeof(k->uuid), "%s", uuid ? uuid : "");
	k->dir = dir;
}

static bool key_eq(const struct mg_ledger_key *a, const struct mg_ledger_key *b)
{
	return a->pid == b->pid && a->start_time == b->start_time && a->dir == b->dir &&
	       strcmp(a->uuid, b->uuid) == 0;
}

/* STATE_DIR/acted/PID-START-UUID-DIR.json; the UUID comes from libvirt,
 * only its hex digits and dashes are kept (it becomes a path component). */
static void record_path(const char *state_dir, const struct mg_ledger_key *k, char *buf, size_t size)
{
	char uuid[40];
	size_t j = 0;

	for (size_t i = 0; k->uuid[i] && j < sizeof(uuid) - 1; i++)
		if (strchr("0123456789abcdefABCDEF-", k->uuid[i]))
			uuid[j++] = k->uuid[i];
	uuid[j] = '\0';
	snprintf(buf, size, "%s/acted/%d-%" PRIu64 "-%s-%s.json", state_dir, (int)k->pid, k->start_time,
		 j ? uuid : "nouuid", mg_direction_to_string(k->dir));
}

int mg_ledger_write(const char *state_dir, const struct mg_ledger_entry *e)
{
	char dir[PATH_MAX], path[PATH_MAX + 128], at[40];
	json_object *o;
	const char *s;
	int r;

	snprintf(dir, sizeof(dir), "%s/acted", state_dir);
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	record_path(state_dir, &e->key, path, sizeof(path));
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "pid", json_object_new_int(e->key.pid));
	json_object_object_add(o, "start_time", json_object_new_uint64(e->key.start_time));
	json_object_object_add(o, "uuid", json_object_new_string(e->key.uuid));
	json_object_object_add(o, "direction", json_object_new_string(mg_direction_to_string(e->key.dir)));
	json_object_object_add(o, "acted", json_object_new_boolean(e->acted));
	json_object_object_add(o, "incident", json_object_new_string(e->incident));
	json_object_object_add(o, "at", json_object_new_string(mg_format_utc(e->at, at, sizeof(at))));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	r = mg_write_file_atomic(path, s, strlen(s), 0600, true);
	json_object_put(o);
	return r;
}

int mg_ledger_remove(const char *state_dir, const struct mg_ledger_key *k)
{
	char path[PATH_MAX + 128];

	record_path(state_dir, k, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* One record file; every member type-checked: the file may have been
 * edited or cut short.  0, or -EINVAL for a record to skip. */
static int parse_record(const char *path, struct mg_ledger_entry *e)
{
	json_object *o = json_object_from_file(path), *v;
	const char *s;
	int r = -EINVAL;

	memset(e, 0, sizeof(*e));
	if (!o || !json_object_is_type(o, json_type_object))
		goto out;
	if (!json_object_object_get_ex(o, "pid", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) <= 0 || json_object_get_int64(v) > INT32_MAX)
		goto out;
	e->key.pid = (pid_t)json_object_get_int64(v);
	if (!json_object_object_get_ex(o, "start_time", &v) || !json_object_is_type(v, json_type_int))
		goto out;
	e->key.start_time = json_object_get_uint64(v);
	if (!(s = jstr(o, "uuid")))
		goto out;
	snprintf(e->key.uuid, sizeof(e->key.uuid), "%s", s);
	if (!(s = jstr(o, "direction")))
		goto out;
	if (strcmp(s, mg_direction_to_string(MG_DIR_OUT)) == 0)
		e->key.dir = MG_DIR_OUT;
	else if (strcmp(s, mg_direction_to_string(MG_DIR_IN)) == 0)
		e->key.dir = MG_DIR_IN;
	else
		goto out;
	e->acted = json_object_object_get_ex(o, "acted", &v) && json_object_is_type(v, json_type_boolean) &&
		   json_object_get_boolean(v);
	snprintf(e->incident, sizeof(e->incident), "%s", (s = jstr(o, "incident")) ? s : "");
	e->at = mg_now_real();
	r = 0;
out:
	json_object_put(o);
	return r;
}

static int add(struct mg_ledger *l, const struct mg_ledger_entry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct mg_ledger_entry *n = realloc(l->entries, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->entries = n;
		l->cap = cap;
	}
	l->entries[l->n++] = *e;
	return 0;
}

/* The process of a record still runs: same pid, same start time. */
static bool process_lives(const struct mg_ledger_key *k)
{
	uint64_t start;

	return mg_procfs_start_time(k->pid, &start) == 0 && start == k->start_time;
}

int mg_ledger_open(const char *state_dir, struct mg_ledger **out)
{
	struct mg_ledger *l = calloc(1, sizeof(*l));
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *de;
	DIR *d;

	if (!l || !(l->state_dir = strdup(state_dir))) {
		free(l);
		return -ENOMEM;
	}
	*out = l;
	snprintf(dir, sizeof(dir), "%s/acted", state_dir);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : mg_warn_errno(errno, "ledger: cannot read %s", dir);
	while ((de = readdir(d))) {
		struct mg_ledger_entry e;
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (parse_record(path, &e) < 0) {
			mg_warn("ledger: %s is not a record; removed", path);
			unlink(path);
			continue;
		}
		if (!process_lives(&e.key)) {
			mg_info("ledger: QEMU pid %d of %s is gone; its record is removed", (int)e.key.pid, path);
			unlink(path);
			continue;
		}
		if (add(l, &e) < 0)
			break;
		mg_info("ledger: already acted on the %s migration of pid %d (incident %s)",
			mg_direction_to_string(e.key.dir), (int)e.key.pid, e.incident[0] ? e.incident : "unknown");
	}
	closedir(d);
	return 0;
}

void mg_ledger_free(struct mg_ledger *l)
{
	if (!l)
		return;
	free(l->entries);
	free(l->state_dir);
	free(l);
}

const char *mg_ledger_state_dir(const struct mg_ledger *l) { return l->state_dir; }

const struct mg_ledger_entry *mg_ledger_find(const struct mg_ledger *l, const struct mg_ledger_key *k)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (key_eq(&l->entries[i].key, k))
			return &l->entries[i];
	return NULL;
}

int mg_ledger_note(struct mg_ledger *l, const struct mg_ledger_key *k, bool acted, const char *incident)
{
	struct mg_ledger_entry *e = (struct mg_ledger_entry *)mg_ledger_find(l, k);
	struct mg_ledger_entry fresh = { .key = *k };

	if (!e) {
		int r = add(l, &fresh);

		if (r < 0)
			return r;
		e = &l->entries[l->n - 1];
		e->at = mg_now_real();
	}
	e->acted = e->acted || acted;
	if (incident)
		snprintf(e->incident, sizeof(e->incident), "%s", incident);
	return 0;
}

struct remove_job {
	char *state_dir;
	struct mg_ledger_key key;
};

static int remove_run(void *arg)
{
	struct remove_job *j = arg;

	return mg_ledger_remove(j->state_dir, &j->key);
}

static void remove_done(int r, void *arg)
{
	struct remove_job *j = arg;

	if (r < 0 && r != -ECANCELED)
		mg_warn_errno(r, "ledger: cannot remove the record of pid %d", (int)j->key.pid);
}

static void remove_free(void *arg)
{
	struct remove_job *j = arg;

	free(j->state_dir);
	free(j);
}

void mg_ledger_forget(struct mg_ledger *l, const struct mg_ledger_key *k, struct mg_worker_pool *pool)
{
	struct remove_job *j;
	size_t i;

	for (i = 0; l && i < l->n && !key_eq(&l->entries[i].key, k); i++)
		;
	if (!l || i == l->n)
		return;
	l->entries[i] = l->entries[--l->n];
	j = calloc(1, sizeof(*j));
	if (j && (j->state_dir = strdup(l->state_dir))) {
		struct mg_work w = {
			.what = "ledger record removal", .run = remove_run, .done = remove_done,
			.free_arg = remove_free, .arg = j,
		};

		j->key = *k;
		if (pool && mg_worker_submit(pool, &w) == 0)
			return;
	}
	if (j)
		remove_free(j);
	if (mg_ledger_remove(l->state_dir, k) < 0)
		mg_warn("ledger: cannot remove the record of pid %d", (int)k->pid);
}

void mg_ledger_forget_all(struct mg_ledger *l, const struct mg_procid *id, const char *uuid,
			  struct mg_worker_pool *pool)
{
	for (size_t i = 0; l && i < l->n;) {
		struct mg_ledger_key k = l->entries[i].key;

		if ((id && (k.pid != id->pid || k.start_time != id->start_time)) ||
		    (uuid && strcmp(k.uuid, uuid) != 0)) {
			i++;
			continue;
		}
		mg_info("ledger: the %s migration of pid %d is no longer running; its record is removed",
			mg_direction_to_string(k.dir), (int)k.pid);
		mg_ledger_forget(l, &k, pool);	/* moves the last entry to i */
	}
}
