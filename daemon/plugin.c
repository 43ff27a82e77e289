/* plugin.c - see plugin.h. */
#include "plugin.h"
#include "log.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MG_SPAWN_DEFAULT_TIMEOUT (60 * MG_USEC_PER_SEC)

struct loaded {
	char *name;
	void *handle;
	const struct migguard_plugin *plugin;
	void *state;
};

struct mg_plugins {
	size_t n;
	struct loaded *v;
};

struct child {
	pid_t pid;
	char what[300];			/* "plugin NAME: PATH" for the log */
	sd_event_source *exit_src, *timeout_src;
	bool killed;
};

static struct mg_plugins *current;
static sd_event *spawn_loop;
/* The plugin being called, so host->log and host->spawn can name it. */
static const char *calling = "?";

const char *mg_plugin_dir(void)
{
	const char *env = getenv("MIGGUARD_PLUGIN_DIR");

	return env && *env ? env : PKGLIBDIR "/plugins";
}

/* --- what the host offers ---------------------------------------------- */

static void host_log(int priority, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mg_log(priority, "plugin %s: %s", calling, msg);
}

static void child_free(struct child *c)
{
	sd_event_source_disable_unref(c->exit_src);
	sd_event_source_disable_unref(c->timeout_src);
	free(c);
}

static int on_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct child *c = userdata;

	if (si->si_code == CLD_EXITED && si->si_status == 0)
		mg_debug("%s (pid %d) exited 0", c->what, (int)c->pid);
	else if (si->si_code == CLD_EXITED)
		mg_warn("%s (pid %d) exited %d", c->what, (int)c->pid, si->si_status);
	else
		mg_warn("%s (pid %d) killed by signal %d%s", c->what, (int)c->pid, si->si_status,
			   c->killed ? " after its timeout" : "");
	child_free(c);
	return 0;
}

static int on_child_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct child *c = userdata;

	/* Not reaped yet (sd-event reaps in on_child_exit): the pid is still
	 * ours, never another process's. */
	c->killed = true;
	kill(c->pid, SIGKILL);
	return 0;
}

static int host_spawn(const char *const *argv, const char *const *envp, uint64_t timeout_usec)
{
	struct child *c;
	sigset_t all;
	pid_t pid;
	int r;

	if (!spawn_loop)
		return -ENOTCONN;
	if (!argv || !argv[0] || argv[0][0] != '/')
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	snprintf(c->what, sizeof(c->what), "plugin %s: %s", calling, argv[0]);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		free(c);
		return r;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		/* The daemon blocks its signals for sd-event: the command must
		 * not inherit that. */
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		if (null < 0 || dup2(null, STDIN_FILENO) < 0)
			_exit(126);
		close_range(3, ~0U, 0);
		execve(argv[0], (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	c->pid = pid;
	r = sd_event_add_child(spawn_loop, &c->exit_src, pid, WEXITED, on_child_exit, c);
	if (r >= 0)
		r = sd_event_add_time_relative(spawn_loop, &c->timeout_src, CLOCK_MONOTONIC,
					       timeout_usec ? timeout_usec : MG_SPAWN_DEFAULT_TIMEOUT, 0,
					       on_child_timeout, c);
	if (r < 0) {
		/* Without a watch the child would stay a zombie: kill and reap it
		 * here, it has barely started. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		child_free(c);
		return r;
	}
	mg_debug("%s started (pid %d)", c->what, (int)pid);
	return 0;
}

static const struct migguard_host host = {
	.abi = MIGGUARD_PLUGIN_ABI,
	.log = host_log,
	.spawn = host_spawn,
};

/* --- loading ------------------------------------------------------------ */

/* Root-owned and writable by nobody else: whoever can write a plugin runs
 * code as the daemon. */
static int check_trusted(const char *path, bool want_dir, char *why, size_t size)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		snprintf(why, size, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		snprintf(why, size, "%s: not a %s", path, want_dir ? "directory" : "regular file");
		return -EPERM;
	}
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(why, size, "%s: must be owned by root and not writable by group or others (uid %u, mode %04o)",
			 path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static int load_one(const struct mg_conf *conf, const struct mg_conf_section *sec, const char *dir,
		    struct loaded *l, char *err, size_t err_size)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ struct migguard_option *opts = NULL;
	const char *file = conf->path ? conf->path : "(defaults)";
	char why[512] = "";
	unsigned line = sec->line;
	int r;

#define FAIL(errnum, ...) do { \
		snprintf(why, sizeof(why), __VA_ARGS__); \
		r = (errnum); \
		goto fail; \
	} while (0)

	if (asprintf(&path, "%s/%s.so", dir, sec->name) < 0)
		return -ENOMEM;
	if ((r = check_trusted(dir, true, why, sizeof(why))) < 0 ||
	    (r = check_trusted(path, false, why, sizeof(why))) < 0)
		goto fail;
	l->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!l->handle)
		FAIL(-ENOEXEC, "cannot load %s: %s", path, dlerror());
	l->plugin = dlsym(l->handle, "migguard_plugin_v1");
	if (!l->plugin)
		FAIL(-ENOEXEC, "%s does not export migguard_plugin_v1", path);
	if (l->plugin->abi != MIGGUARD_PLUGIN_ABI)
		FAIL(-ENOEXEC, "%s has plugin ABI %u, migguardd speaks %u", path, l->plugin->abi,
		     MIGGUARD_PLUGIN_ABI);
	if (!l->plugin->name || strcmp(l->plugin->name, sec->name) != 0 || !l->plugin->init)
		FAIL(-ENOEXEC, "%s is not the plugin \"%s\"", path, sec->name);
	opts = calloc(sec->n ? sec->n : 1, sizeof(*opts));
	if (!opts)
		return -ENOMEM;
	for (size_t i = 0; i < sec->n; i++)
		opts[i] = (struct migguard_option){ sec->kv[i].key, sec->kv[i].value, sec->kv[i].line };
	calling = sec->name;
	r = l->plugin->init(&host, opts, sec->n, &l->state, why, sizeof(why), &line);
	calling = "?";
	if (r < 0) {
		if (!why[0])
			snprintf(why, sizeof(why), "%s", strerror(-r));
		if (!line)
			line = sec->line;
		goto fail;
	}
	l->name = strdup(sec->name);
	return l->name ? 0 : -ENOMEM;
fail:
#undef FAIL
	if (line)
		snprintf(err, err_size, "%s:%u: [plugin %s] %s", file, line, sec->name, why);
	else
		snprintf(err, err_size, "%s: [plugin %s] %s", file, sec->name, why);
	if (l->handle)
		dlclose(l->handle);
	l->handle = NULL;
	return r;
}

int mg_plugins_load(sd_event *loop, const struct mg_conf *conf, const char *dir, struct mg_plugins **out,
		    char *err, size_t err_size)
{
	struct mg_plugins *set;
	int r = 0;

	*out = NULL;
	if (conf->n_plugins == 0)
		return 0;
	if (!dir)
		dir = mg_plugin_dir();
	set = calloc(1, sizeof(*set));
	if (!set || !(set->v = calloc(conf->n_plugins, sizeof(*set->v)))) {
		free(set);
		return -ENOMEM;
	}
	spawn_loop = loop;
	for (size_t i = 0; i < conf->n_plugins && r == 0; i++) {
		r = load_one(conf, &conf->plugins[i], dir, &set->v[i], err, err_size);
		if (r == 0)
			set->n++;
	}
	if (r < 0) {
		mg_plugins_free(set);
		return r;
	}
	*out = set;
	return 0;
}

void mg_plugins_free(struct mg_plugins *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++) {
		struct loaded *l = &set->v[i];

		calling = l->name;
		if (l->plugin->fini)
			l->plugin->fini(l->state);
		calling = "?";
		dlclose(l->handle);
		free(l->name);
	}
	free(set->v);
	free(set);
}

size_t mg_plugins_count(const struct mg_plugins *set) { return set ? set->n : 0; }

struct mg_plugins *mg_plugins_set_current(struct mg_plugins *set)
{
	struct mg_plugins *old = current;

	current = set;
	return old;
}

void mg_plugins_emit(const struct migguard_event *ev)
{
	if (!current)
		return;
	for (size_t i = 0; i < current->n; i++) {
		struct loaded *l = &current->v[i];

		if (!l->plugin->on_event)
			continue;
		calling = l->name;
		l->plugin->on_event(l->state, ev);
		calling = "?";
	}
}

void mg_plugins_emit_simple(enum migguard_event_kind kind, const char *name, const char *domain,
			    const char *uuid, int pid, const char *direction, const char *phase,
			    const char *incident, const char *step, int result, const char *detail)
{
	struct migguard_event ev = {
		.kind = kind, .name = name, .time_usec = mg_now_real(), .domain = domain, .uuid = uuid,
		.pid = pid, .direction = direction, .phase = phase, .incident = incident, .step = step,
		.result = result, .detail = detail,
	};

	if (current)
		mg_plugins_emit(&ev);
}
