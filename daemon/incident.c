/* incident.c - see incident.h. */
#include "incident.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define MG_QEMU_LOG_TAIL (64 * 1024)
#define MG_CMDLINE_MAX (256 * 1024)

static const char *const secret_keys[] = { "password", "passwd", "secret", "key", "token" };

/* Replaces [start, end) of s, a string in a buffer of size bytes, with
 * "***"; returns the new end offset.  A value shorter than the stars makes
 * the string grow: what no longer fits is cut from its end (the buffer may
 * already be full: mg_incident_read_cmdline fills it to size - 1). */
static size_t splice_stars(char *s, size_t size, size_t start, size_t end)
{
	size_t len = strlen(s), stars = 3, tail = len - end;

	if (start + stars > size - 1)
		stars = size - 1 - start;
	if (start + stars + tail > size - 1)
		tail = size - 1 - start - stars;
	memmove(s + start + stars, s + end, tail);
	s[start + stars + tail] = '\0';
	memcpy(s + start, "***", stars);
	return start + stars;
}

static bool key_boundary(const char *s, size_t i)
{
	return i == 0 || strchr(" ,-{\"'", s[i - 1]);
}

/* Each secret key of the list, and "data" inside a secret object, given as
 * key=value (QEMU's option syntax) or "key":"value" (its JSON syntax), has
 * its value replaced.  A value is never shown, even partly. */
void mg_incident_redact(char *s, size_t size)
{
	if (size == 0)
		return;
	for (size_t i = 0; s[i]; i++) {
		for (size_t k = 0; k <= MG_ARRAY_SIZE(secret_keys); k++) {
			const char *key = k < MG_ARRAY_SIZE(secret_keys) ? secret_keys[k] : "data";
			size_t kl = strlen(key), v, e;
			bool json;

			if (!key_boundary(s, i) || strncasecmp(s + i, key, kl) != 0)
				continue;
			if (k == MG_ARRAY_SIZE(secret_keys) && !strcasestr(s, "secret"))
				continue;
			v = i + kl;
			json = s[v] == '"' && s[v + 1] == ':' && s[v + 2] == '"';
			if (json)
				v += 3;
			else if (s[v] == '=')
				v += 1;
			else
				continue;
			for (e = v; s[e] && (json ? s[e] != '"' : !strchr(", ", s[e])); e++)
				if (json && s[e] == '\\' && s[e + 1])
					e++;
			if (e > v)
				i = splice_stars(s, size, v, e) - 1;
			break;
		}
	}
}

int mg_incident_read_cmdline(pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = mg_read_file(path, buf, size);
	if (n < 0)
		return (int)n;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	mg_incident_redact(buf, size);
	return 0;
}

static int write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	size_t off = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

static int write_text(const char *dir, const char *name, const char *text)
{
	return write_file(dir, name, text ? text : "", text ? strlen(text) : 0);
}

/* The last MG_QEMU_LOG_TAIL bytes, starting at a line boundary. */
static int copy_tail(const char *src, const char *dir, const char *name)
{
	_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	off_t start;
	ssize_t n;
	char *p;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	start = st.st_size > MG_QEMU_LOG_TAIL ? st.st_size - MG_QEMU_LOG_TAIL : 0;
	buf = malloc(MG_QEMU_LOG_TAIL + 1);
	if (!buf)
		return -ENOMEM;
	n = pread(fd, buf, MG_QEMU_LOG_TAIL, start);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	p = buf;
	if (start > 0 && (p = strchr(buf, '\n')))
		p++;
	else if (!p)
		p = buf;
	return write_file(dir, name, p, (size_t)(buf + n - p));
}

static int copy_whole(const char *src, const char *dir, const char *name)
{
	_cleanup_free_ char *buf = malloc(MG_CMDLINE_MAX);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = mg_read_file(src, buf, MG_CMDLINE_MAX);
	if (n < 0)
		return (int)n;
	return write_file(dir, name, buf, (size_t)n);
}

/* Monotonic timestamps of the tracker, as UTC wall-clock strings. */
static json_object *utc_json(uint64_t mono)
{
	char buf[40];
	uint64_t real = mg_now_real() - (mg_now_mono() - mono);

	return json_object_new_string(mg_format_utc(real, buf, sizeof(buf)));
}

static json_object *timeline_json(const struct mg_track *t)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < t->n_timeline; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "at", utc_json(t->timeline[i].at));
		json_object_object_add(e, "t_s", json_object_new_double(
			(double)(t->timeline[i].at - t->started_at) / 1e6));
		json_object_object_add(e, "phase", json_object_new_string(mg_phase_to_string(t->timeline[i].phase)));
		json_object_object_add(e, "text", json_object_new_string(t->timeline[i].text));
		json_object_array_add(a, e);
	}
	return a;
}

static json_object *report_json(const struct mg_incident_input *in)
{
	const struct mg_track *t = in->track;
	json_object *r = json_object_new_object();
	json_object *timing = json_object_new_object();
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	json_object_object_add(r, "schema", json_object_new_string(MG_INCIDENT_SCHEMA));
	json_object_object_add(r, "domain", json_object_new_string(in->domain));
	json_object_object_add(r, "uuid", in->uuid ? json_object_new_string(in->uuid) : NULL);
	json_object_object_add(r, "pid", json_object_new_int(in->pid));
	json_object_object_add(r, "host", json_object_new_string(host));
	json_object_object_add(r, "direction", json_object_new_string(mg_direction_to_string(in->direction)));
	json_object_object_add(r, "verdict", json_object_new_string(t ? mg_phase_to_string(t->phase) : "unknown"));
	if (t) {
		json_object_object_add(timing, "migration_started_at", utc_json(t->started_at));
		if (t->finishing_since)
			json_object_object_add(timing, "finishing_since", utc_json(t->finishing_since));
		if (t->hung_at)
			json_object_object_add(timing, "verdict_at", utc_json(t->hung_at));
		json_object_object_add(timing, "finish_timeout_s",
				       json_object_new_double((double)t->limits.finish_timeout / 1e6));
		json_object_object_add(timing, "probe_rounds", json_object_new_int64((int64_t)t->probe_rounds));
		if (t->direction == MG_DIR_OUT)
			json_object_object_add(timing, "quiet_rounds", json_object_new_int64((int64_t)t->quiet_rounds));
		json_object_object_add(r, "timing", timing);
		json_object_object_add(r, "evidence", json_object_new_string(t->finishing_reason));
		json_object_object_add(r, "timeline", timeline_json(t));
	} else {
		json_object_put(timing);
	}
	json_object_object_add(r, "summary", in->summary ? json_object_new_string(in->summary) : NULL);
	json_object_object_add(r, "snapshot", in->snapshot ? json_object_get(in->snapshot) : NULL);
	if (in->snapshot_error)
		json_object_object_add(r, "snapshot_error", json_object_new_string(in->snapshot_error));
	json_object_object_add(r, "actions", json_object_new_array());
	return r;
}

static int write_json(const char *dir, const char *name, json_object *obj)
{
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return mg_write_file_atomic(path, s, strlen(s), 0600, true);
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void mg_incident_name(const struct mg_incident_input *in, char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32], dom[64];
	size_t i;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	/* The domain name becomes a path component: keep it harmless. */
	for (i = 0; in->domain[i] && i < sizeof(dom) - 1; i++)
		dom[i] = (isalnum((unsigned char)in->domain[i]) || strchr("._-", in->domain[i]))
			 ? in->domain[i] : '_';
	dom[i] = '\0';
	snprintf(buf, size, "%s-%s-%.8s", stamp, dom, in->uuid ? in->uuid : "nouuid");
}

static int ensure_dir(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int fill_dir(const char *dir, const struct mg_incident_input *in)
{
	char ctx[PATH_MAX + 256], path[64];
	_cleanup_free_ char *cmd = malloc(MG_CMDLINE_MAX);
	json_object *report;
	int r;

	report = report_json(in);
	r = write_json(dir, "report.json", report);
	json_object_put(report);
	if (r < 0)
		return r;
	if ((r = write_text(dir, "stacks.txt", in->stacks_text)) < 0)
		return r;
	snprintf(ctx, sizeof(ctx), "%s/context", dir);
	if ((r = ensure_dir(ctx)) < 0)
		return r;
	/* Context is best effort: a missing log must not lose the incident. */
	if (in->status_xml_path && copy_whole(in->status_xml_path, ctx, "status.xml") < 0)
		mg_debug("incident: no status XML at %s", in->status_xml_path);
	if (in->qemu_log_path && copy_tail(in->qemu_log_path, ctx, "qemu.log") < 0)
		mg_debug("incident: no QEMU log at %s", in->qemu_log_path);
	if (cmd && mg_incident_read_cmdline(in->pid, cmd, MG_CMDLINE_MAX) == 0)
		write_text(ctx, "cmdline.txt", cmd);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)in->pid);
	copy_whole(path, ctx, "proc-status.txt");
	return 0;
}

int mg_incident_write(const char *state_dir, const struct mg_incident_input *in, char **out_dir)
{
	char base[PATH_MAX], name[160], tmp[PATH_MAX + 192], final[PATH_MAX + 192];
	int r;

	snprintf(base, sizeof(base), "%s/incidents", state_dir);
	if ((r = ensure_dir(state_dir)) < 0 || (r = ensure_dir(base)) < 0)
		return mg_error_errno(r, "incident: cannot create %s", base);
	if (in->name)
		snprintf(name, sizeof(name), "%s", in->name);
	else
		mg_incident_name(in, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%d", base, name, (int)getpid());
	rm_rf(tmp);
	if (mkdir(tmp, 0700) < 0)
		return mg_error_errno(errno, "incident: cannot create %s", tmp);
	r = fill_dir(tmp, in);
	if (r < 0) {
		rm_rf(tmp);
		return mg_error_errno(r, "incident for %s: cannot write it under %s", in->domain, base);
	}
	snprintf(final, sizeof(final), "%s/%s", base, name);
	for (int i = 2; access(final, F_OK) == 0 && i < 100; i++)
		snprintf(final, sizeof(final), "%s/%s-%d", base, name, i);
	if (rename(tmp, final) < 0) {
		r = -errno;
		rm_rf(tmp);
		return mg_error_errno(r, "incident: cannot rename %s", tmp);
	}
	if (out_dir)
		*out_dir = strdup(final);
	return 0;
}

int mg_incident_add_action(const char *dir, const char *step, int result, const char *detail)
{
	return mg_incident_add_action_at(dir, mg_now_real(), step, result, detail);
}

int mg_incident_add_action_at(const char *dir, uint64_t at, const char *step, int result, const char *detail)
{
	char path[PATH_MAX], stamp[40];
	json_object *report, *actions = NULL, *a;
	int r;

	snprintf(path, sizeof(path), "%s/report.json", dir);
	report = json_object_from_file(path);
	if (!report)
		return mg_error_errno(EIO, "incident: cannot read %s", path);
	if (!json_object_is_type(report, json_type_object)) {
		json_object_put(report);
		return mg_error_errno(EINVAL, "incident: %s is not a JSON object", path);
	}
	/* The file is on disk, anyone with access may have edited it: json-c
	 * aborts on an array call on another type. */
	if (!json_object_object_get_ex(report, "actions", &actions) ||
	    !json_object_is_type(actions, json_type_array)) {
		if (actions)
			mg_warn("incident: %s: \"actions\" is not an array; replaced", path);
		actions = json_object_new_array();
		json_object_object_add(report, "actions", actions);
	}
	a = json_object_new_object();
	json_object_object_add(a, "step", json_object_new_string(step));
	json_object_object_add(a, "at", json_object_new_string(mg_format_utc(at, stamp, sizeof(stamp))));
	json_object_object_add(a, "result", json_object_new_string(result == 0 ? "ok" : strerror(-result)));
	json_object_object_add(a, "detail", json_object_new_string(detail ? detail : ""));
	json_object_array_add(actions, a);
	r = write_json(dir, "report.json", report);
	json_object_put(report);
	if (r < 0)
		return mg_error_errno(r, "incident: cannot update %s", path);
	return 0;
}

/* Marks a recovered report.json partial, or writes a minimal one when the
 * crash came before it. */
static void mark_partial(const char *dir, const char *why)
{
	char path[PATH_MAX + 300];
	json_object *r;

	snprintf(path, sizeof(path), "%s/report.json", dir);
	r = json_object_from_file(path);
	if (!r || !json_object_is_type(r, json_type_object)) {
		json_object_put(r);
		r = json_object_new_object();
		json_object_object_add(r, "schema", json_object_new_string(MG_INCIDENT_SCHEMA));
		json_object_object_add(r, "verdict", json_object_new_string("unknown"));
		json_object_object_add(r, "actions", json_object_new_array());
	}
	json_object_object_add(r, "partial", json_object_new_boolean(true));
	json_object_object_add(r, "partial_reason", json_object_new_string(why));
	if (write_json(dir, "report.json", r) < 0)
		mg_warn("incident: cannot mark %s partial", dir);
	json_object_put(r);
}

/* A temporary directory is .tmp-NAME-PID (mg_incident_write); it is a
 * leftover when PID is gone, or is ours at start (a previous guard had the
 * same pid, as after a restart in a fresh pid namespace). */
static bool tmp_is_leftover(const char *tmp_name, pid_t *writer)
{
	const char *dash = strrchr(tmp_name, '-');
	long long pid;

	if (!dash || mg_parse_int(dash + 1, 1, INT32_MAX, &pid) < 0)
		return true;
	*writer = (pid_t)pid;
	return *writer == getpid() || (kill(*writer, 0) < 0 && errno == ESRCH);
}

int mg_incident_recover(const char *state_dir)
{
	char base[PATH_MAX], tmp[PATH_MAX + 256], final[PATH_MAX + 256], why[128];
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int n = 0;

	snprintf(base, sizeof(base), "%s/incidents", state_dir);
	d = opendir(base);
	if (!d)
		return errno == ENOENT ? 0 : mg_warn_errno(errno, "incident: cannot read %s", base);
	while ((de = readdir(d))) {
		const char *name = de->d_name + strlen(".tmp-");
		pid_t writer = 0;
		size_t len;

		if (strncmp(de->d_name, ".tmp-", 5) != 0 || !tmp_is_leftover(de->d_name, &writer))
			continue;
		snprintf(tmp, sizeof(tmp), "%s/%s", base, de->d_name);
		/* NAME without the writer's pid; the name starts with the time
		 * the incident was declared, so it sorts where it belongs. */
		len = writer ? (size_t)(strrchr(name, '-') - name) : strlen(name);
		snprintf(final, sizeof(final), "%s/%.*s-partial", base, (int)len, name);
		for (int i = 2; access(final, F_OK) == 0 && i < 100; i++)
			snprintf(final, sizeof(final), "%s/%.*s-partial-%d", base, (int)len, name, i);
		if (rename(tmp, final) < 0) {
			mg_warn_errno(errno, "incident: cannot recover %s", tmp);
			continue;
		}
		snprintf(why, sizeof(why), "the guard (pid %d) stopped while writing it", (int)writer);
		mark_partial(final, why);
		mg_warn("incident: %s was left half-written by a guard that stopped; kept as %s", tmp, final);
		n++;
	}
	return n;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int mg_incident_list(const char *incidents_dir, char ***out, size_t *n_out)
{
	DIR *d = opendir(incidents_dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	*n_out = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*n_out = n;
	return 0;
}

void mg_incident_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int mg_incident_prune(const char *state_dir, unsigned max_count, uint64_t max_age, const char *keep)
{
	char base[PATH_MAX], path[PATH_MAX * 2];
	char **names;
	size_t n;
	int removed = 0, r;
	time_t now = time(NULL);

	snprintf(base, sizeof(base), "%s/incidents", state_dir);
	r = mg_incident_list(base, &names, &n);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	for (size_t i = 0, left = n; i < n; i++) {
		struct stat st;
		bool too_many = left > max_count;

		if (keep && strcmp(names[i], keep) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, names[i]);
		/* An mtime ahead of now is an incident written before the clock
		 * stepped back: the newest, not the oldest. */
		if (too_many || (stat(path, &st) == 0 && st.st_mtime < now &&
				 (uint64_t)(now - st.st_mtime) > max_age / MG_USEC_PER_SEC)) {
			rm_rf(path);
			mg_info("incident %s removed (retention)", names[i]);
			removed++;
			left--;
		}
	}
	mg_incident_list_free(names, n);
	return removed;
}
