/* exec.c - the shipped "exec" plugin: runs a command for chosen events,
 * with the event's fields in its environment (MIGGUARD_EVENT,
 * MIGGUARD_DOMAIN, MIGGUARD_INCIDENT, ...) and the event name as its only
 * argument.  Options ([plugin exec]):
 *   command = /absolute/path   required, executable
 *   events  = hung,stalled,incident,action   (default; also
 *             migration-started, phase-changed, migration-ended)
 *   timeout = 60s   SIGKILL after this (1s to 1h; s, ms or m)
 *   user    = NAME  run it as this user, with that user's groups and none
 *             of the daemon's capabilities (default: as the daemon)
 * The command runs through the host's spawn: never on the daemon's loop. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "migguard/plugin.h"

static const char *const event_names[] = {
	"migration-started", "phase-changed", "hung", "stalled", "incident", "action", "migration-ended",
};
#define N_EVENTS (sizeof(event_names) / sizeof(event_names[0]))

struct exec_state {
	const struct migguard_host *host;
	char *command;
	bool want[N_EVENTS];
	uint64_t timeout_usec;
	bool as_user;
	struct migguard_user user;
	gid_t *groups;
};

static int event_index(const char *name, size_t len)
{
	for (size_t i = 0; i < N_EVENTS; i++)
		if (strlen(event_names[i]) == len && strncmp(event_names[i], name, len) == 0)
			return (int)i;
	return -1;
}

static int parse_events(struct exec_state *s, const char *list, char *err, size_t err_size)
{
	const char *p = list;

	memset(s->want, 0, sizeof(s->want));
	while (*p) {
		size_t len = strcspn(p, ", ");
		int i;

		if (len) {
			i = event_index(p, len);
			if (i < 0) {
				snprintf(err, err_size,
					 "events: unknown event \"%.*s\" (expected migration-started, phase-changed, hung, stalled, incident, action or migration-ended)",
					 (int)len, p);
				return -EINVAL;
			}
			s->want[i] = true;
		}
		p += len;
		p += strspn(p, ", ");
	}
	return 0;
}

static int parse_timeout(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long n;
	uint64_t mult = 1000000;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v)
		return -EINVAL;
	if (strcmp(end, "ms") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60000000;
	else if (*end && strcmp(end, "s") != 0)
		return -EINVAL;
	if (n > 3600000000ULL / mult * 1000)	/* overflow guard; range checked below */
		return -ERANGE;
	*out = n * mult;
	return *out >= 1000000 && *out <= 3600000000ULL ? 0 : -ERANGE;
}

/* Resolved once, when the configuration is loaded: the user database
 * (NSS: LDAP, sssd) is never asked from the event loop or a forked child. */
static int parse_user(struct exec_state *s, const char *name, char *err, size_t err_size)
{
	struct passwd *pw;
	int n = 16, e;

	errno = 0;
	pw = getpwnam(name);
	if (!pw) {
		/* getpwnam(3): "not found" may come with any of these. */
		e = errno == ESRCH || errno == EBADF || errno == EPERM ? ENOENT : errno ? errno : ENOENT;
		snprintf(err, err_size, "user: %s \"%s\"", e == ENOENT ? "no such user" : strerror(e), name);
		return -e;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, err_size, "user: \"%s\" is root (leave user unset to run as the daemon)", name);
		return -EINVAL;
	}
	for (;;) {
		gid_t *v = reallocarray(s->groups, (size_t)n, sizeof(*v));
		int want = n;

		if (!v)
			return -ENOMEM;
		s->groups = v;
		if (getgrouplist(pw->pw_name, pw->pw_gid, v, &want) >= 0) {
			n = want;
			break;
		}
		if (want <= n)
			want = n * 2;
		if (want > 65536) {
			snprintf(err, err_size, "user: \"%s\" is in too many groups", name);
			return -E2BIG;
		}
		n = want;
	}
	s->user = (struct migguard_user){ .uid = pw->pw_uid, .gid = pw->pw_gid, .n_groups = (size_t)n,
					  .groups = s->groups };
	s->as_user = true;
	return 0;
}

static void exec_fini(void *state)
{
	struct exec_state *s = state;

	if (s) {
		free(s->command);
		free(s->groups);
	}
	free(s);
}

static int exec_init(const struct migguard_host *host, const struct migguard_option *opts, size_t n,
		     void **state, char *err, size_t err_size, unsigned *err_line)
{
	struct exec_state *s = calloc(1, sizeof(*s));
	int r = 0;

	if (!s)
		return -ENOMEM;
	s->host = host;
	s->timeout_usec = 60000000;
	r = parse_events(s, "hung,stalled,incident,action", err, err_size);
	for (size_t i = 0; i < n && r == 0; i++) {
		*err_line = opts[i].line;
		if (strcmp(opts[i].key, "command") == 0) {
			if (opts[i].value[0] != '/') {
				snprintf(err, err_size, "command: \"%s\" is not an absolute path", opts[i].value);
				r = -EINVAL;
			} else if (access(opts[i].value, X_OK) < 0) {
				snprintf(err, err_size, "command: %s: %s", opts[i].value, strerror(errno));
				r = -errno;
			} else if (!(s->command = strdup(opts[i].value))) {
				r = -ENOMEM;
			}
		} else if (strcmp(opts[i].key, "events") == 0) {
			r = parse_events(s, opts[i].value, err, err_size);
		} else if (strcmp(opts[i].key, "timeout") == 0) {
			r = parse_timeout(opts[i].value, &s->timeout_usec);
			if (r < 0)
				snprintf(err, err_size, "timeout: invalid duration \"%s\" (1s to 1h; s, ms or m)",
					 opts[i].value);
		} else if (strcmp(opts[i].key, "user") == 0) {
			r = parse_user(s, opts[i].value, err, err_size);
		} else {
			snprintf(err, err_size, "unknown key \"%s\" (expected command, events, timeout or user)",
				 opts[i].key);
			r = -EINVAL;
		}
	}
	if (r == 0 && !s->command) {
		*err_line = 0;
		snprintf(err, err_size, "command: missing (the program to run)");
		r = -EINVAL;
	}
	if (r < 0) {
		exec_fini(s);
		return r;
	}
	*err_line = 0;
	*state = s;
	return 0;
}

static void exec_on_event(void *state, const struct migguard_event *ev)
{
	struct exec_state *s = state;
	char env[12][1200], when[40];
	const char *envp[13], *argv[3];
	time_t secs = (time_t)(ev->time_usec / 1000000);
	struct tm tm;
	size_t k = 0;
	int i = ev->name ? event_index(ev->name, strlen(ev->name)) : -1;

	if (i < 0 || !s->want[i])
		return;
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
#define PUT(fmt, ...) snprintf(env[k], sizeof(env[k]), fmt, __VA_ARGS__), envp[k] = env[k], k++
	PUT("PATH=%s", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	PUT("MIGGUARD_EVENT=%s", ev->name);
	PUT("MIGGUARD_TIME=%s.%03uZ", when, (unsigned)(ev->time_usec / 1000 % 1000));
	PUT("MIGGUARD_DOMAIN=%s", ev->domain ? ev->domain : "");
	PUT("MIGGUARD_UUID=%s", ev->uuid ? ev->uuid : "");
	PUT("MIGGUARD_PID=%d", ev->pid);
	PUT("MIGGUARD_DIRECTION=%s", ev->direction ? ev->direction : "");
	PUT("MIGGUARD_PHASE=%s", ev->phase ? ev->phase : "");
	PUT("MIGGUARD_INCIDENT=%s", ev->incident ? ev->incident : "");
	PUT("MIGGUARD_STEP=%s", ev->step ? ev->step : "");
	PUT("MIGGUARD_RESULT=%s", ev->result == 0 ? "ok" : strerror(-ev->result));
	PUT("MIGGUARD_DETAIL=%s", ev->detail ? ev->detail : "");
#undef PUT
	envp[k] = NULL;
	argv[0] = s->command;
	argv[1] = ev->name;
	argv[2] = NULL;
	int r = s->host->spawn_as(argv, envp, s->timeout_usec, s->as_user ? &s->user : NULL);
	if (r < 0)
		s->host->log(LOG_WARNING, "cannot run %s for %s: %s", s->command, ev->name, strerror(-r));
}

const struct migguard_plugin migguard_plugin_v1 = {
	.abi = MIGGUARD_PLUGIN_ABI,
	.name = "exec",
	.init = exec_init,
	.on_event = exec_on_event,
	.fini = exec_fini,
};
