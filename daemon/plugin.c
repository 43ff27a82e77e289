/* plugin.c - see plugin.h. */
#include "plugin.h"
#include "escape.h"
#include "log.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MG_SPAWN_DEFAULT_TIMEOUT (60 * MG_USEC_PER_SEC)

struct loaded {
	char *name;
	void *handle;
	int fd;				/* the checked file, dlopen'ed as /proc/self/fd/N */
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

/* The host's callbacks (ABI 1) take no context argument, so what they
 * need lives here: the loop that watches spawned commands, and the plugin
 * being called, so host->log and host->spawn can name it.  One daemon, one
 * loop: set by mg_plugins_load. */
static sd_event *spawn_loop;
static const char *calling = "?";

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

/* In the child: one line to stderr, which is the daemon's log. */
static void child_say(const char *what, const char *msg, const char *why)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s: %s: %s\n", what, msg, why);

	if (n > 0)
		(void)!write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* In the child, before exec: becomes user.  A root process that sets all
 * its uids to non-zero loses its permitted and effective capabilities
 * (capabilities(7), "Effect of user ID changes"), the ambient set goes
 * with them; the inheritable set is cleared here.  Checked, not assumed:
 * SECBIT_KEEP_CAPS or a kernel that differs would leave them. */
static int child_become(const struct migguard_user *user, const char *what)
{
	struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = { 0 };
	const char *step = "setgroups";
	char msg[200];
	int e;

	if (setgroups(user->n_groups, user->groups) < 0)
		goto fail;
	step = "setresgid";
	if (setresgid(user->gid, user->gid, user->gid) < 0)
		goto fail;
	step = "setresuid";
	if (setresuid(user->uid, user->uid, user->uid) < 0)
		goto fail;
	step = "capset";
	if (syscall(SYS_capset, &head, caps) < 0)
		goto fail;
	step = "capget";
	if (syscall(SYS_capget, &head, caps) < 0)
		goto fail;
	for (size_t i = 0; i < MG_ARRAY_SIZE(caps); i++) {
		if (caps[i].effective || caps[i].permitted || caps[i].inheritable) {
			errno = EPERM;
			step = "capabilities left after setresuid";
			goto fail;
		}
	}
	return 0;
fail:
	e = errno;
	snprintf(msg, sizeof(msg), "cannot run as uid %u gid %u: %s", (unsigned)user->uid,
		 (unsigned)user->gid, step);
	child_say(what, msg, strerror(e));
	return -1;
}

static int host_spawn_as(const char *const *argv, const char *const *envp, uint64_t timeout_usec,
			 const struct migguard_user *user)
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
		if (user && (user->uid == 0 || child_become(user, c->what) < 0))
			_exit(126);
		close_range(3, ~0U, 0);
		execve(argv[0], (char *const *)argv, (char *const *)envp);
		child_say(c->what, "cannot execute", strerror(errno));
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

static int host_spawn(const char *const *argv, const char *const *envp, uint64_t timeout_usec)
{
	return host_spawn_as(argv, envp, timeout_usec, NULL);
}

static const struct migguard_host host = {
	.abi = MIGGUARD_PLUGIN_ABI,
	.log = host_log,
	.spawn = host_spawn,
	.spawn_as = host_spawn_as,
};

/* --- loading ------------------------------------------------------------ */

/* Root-owned and writable by nobody else: whoever can write a plugin, or
 * rename anything on the way to it, runs code as the daemon.  A directory
 * above the plugin's own may be writable by all when it is sticky and
 * root-owned (/tmp): nobody else can then rename or remove what root put
 * in it. */
static int check_trusted(const struct stat *st, const char *path, size_t len, bool is_file, bool sticky_ok,
			 char *why, size_t size)
{
	bool writable = st->st_mode & (S_IWGRP | S_IWOTH);

	if (is_file ? !S_ISREG(st->st_mode) : !S_ISDIR(st->st_mode)) {
		snprintf(why, size, "%.*s: not a %s", (int)len, path, is_file ? "regular file" : "directory");
		return -EPERM;
	}
	if (st->st_uid != 0 || (writable && !(sticky_ok && (st->st_mode & S_ISVTX)))) {
		snprintf(why, size, "%.*s: must be owned by root and not writable by group or others (uid %u, mode %04o)",
			 (int)len ? (int)len : 1, len ? path : "/", (unsigned)st->st_uid,
			 (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* Opens the absolute, symlink-free path one component at a time from /,
 * never following a symlink, and checks each directory and the file by
 * the descriptor it holds: what is checked is what is loaded, whatever is
 * renamed meanwhile.  The file's descriptor or a negative errno with why. */
static int open_trusted(const char *path, char *why, size_t size)
{
	_cleanup_close_ int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	const char *name = path + 1;
	struct stat st;
	int r;

	if (dir < 0 || fstat(dir, &st) < 0) {
		r = -errno;
		snprintf(why, size, "/: %s", strerror(-r));
		return r;
	}
	if ((r = check_trusted(&st, path, 0, false, true, why, size)) < 0)
		return r;
	for (;;) {
		size_t len = strcspn(name, "/");
		bool is_file = name[len] == '\0';
		_cleanup_free_ char *part = strndup(name, len);
		int fd;

		if (!part)
			return -ENOMEM;
		if (len == 0 || strcmp(part, ".") == 0 || strcmp(part, "..") == 0) {
			snprintf(why, size, "%s: not a canonical path", path);
			return -EINVAL;
		}
		/* O_NONBLOCK: a FIFO in the plugin's place is refused, not waited on. */
		fd = openat(dir, part, is_file ? O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK
					       : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			/* O_PATH|O_NOFOLLOW|O_DIRECTORY says ENOTDIR for a symlink. */
			if (r == -ELOOP || (r == -ENOTDIR && fstatat(dir, part, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
					    S_ISLNK(st.st_mode)))
				snprintf(why, size, "%.*s: a symbolic link (not followed)", (int)(name + len - path),
					 path);
			else
				snprintf(why, size, "%.*s: %s", (int)(name + len - path), path, strerror(-r));
			return r;
		}
		close(dir);
		dir = fd;
		if (fstat(dir, &st) < 0) {
			r = -errno;
			snprintf(why, size, "%s: %s", path, strerror(-r));
			return r;
		}
		/* The plugin's own directory is never sticky-excused. */
		r = check_trusted(&st, path, (size_t)(name + len - path), is_file,
				  !is_file && strchr(name + len + 1, '/'), why, size);
		if (r < 0 || is_file)
			return r < 0 ? r : MG_TAKE_FD(dir);
		name += len + 1;
	}
}

static int load_one(const struct mg_conf *conf, const struct mg_conf_section *sec, const char *dir,
		    struct loaded *l, char *err, size_t err_size)
{
	_cleanup_free_ char *path = NULL, *real_dir = NULL;
	_cleanup_free_ struct migguard_option *opts = NULL;
	const char *file = conf->path ? conf->path : "(defaults)";
	char why[512] = "", fd_path[32];
	unsigned line = sec->line;
	int r;

#define FAIL(errnum, ...) do { \
		snprintf(why, sizeof(why), __VA_ARGS__); \
		r = (errnum); \
		goto fail; \
	} while (0)

	l->fd = -1;
	/* Symlinks in the configured directory (/lib -> usr/lib) are resolved
	 * here once; open_trusted() then refuses any that appears later. */
	real_dir = realpath(dir, NULL);
	if (!real_dir)
		FAIL(-errno, "%s: %s", dir, strerror(errno));
	if (asprintf(&path, "%s/%s.so", real_dir, sec->name) < 0)
		return -ENOMEM;
	if ((r = l->fd = open_trusted(path, why, sizeof(why))) < 0)
		goto fail;
	/* The dynamic loader opens this magic link: the very file checked.
	 * The descriptor stays open while the plugin is loaded, so that no
	 * other plugin gets the same name (glibc returns an object already
	 * loaded under the name asked for). */
	snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", l->fd);
	l->handle = dlopen(fd_path, RTLD_NOW | RTLD_LOCAL);
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
		FAIL(-ENOMEM, "out of memory");
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
	if (l->name)
		return 0;
	if (l->plugin->fini)
		l->plugin->fini(l->state);
	FAIL(-ENOMEM, "out of memory");
fail:
#undef FAIL
	/* why may quote an option's value: escaped for the terminal. */
	if (line)
		snprintf(err, err_size, "%s:%u: [plugin %s] %s", MG_ESC(file), line, sec->name, MG_ESC(why));
	else
		snprintf(err, err_size, "%s: [plugin %s] %s", MG_ESC(file), sec->name, MG_ESC(why));
	if (l->handle)
		dlclose(l->handle);
	l->handle = NULL;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
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
		dir = conf->plugin_dir;
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
		close(l->fd);
		free(l->name);
	}
	free(set->v);
	free(set);
}

size_t mg_plugins_count(const struct mg_plugins *set) { return set ? set->n : 0; }

void mg_plugins_on_event(void *userdata, const struct mg_event *e)
{
	struct mg_plugins *set = userdata;

	/* The daemon's own kinds are not part of the ABI. */
	if (!set || e->kind != MG_EVENT_PLUGIN)
		return;
	for (size_t i = 0; i < set->n; i++) {
		struct loaded *l = &set->v[i];

		if (!l->plugin->on_event)
			continue;
		calling = l->name;
		l->plugin->on_event(l->state, &e->ev);
		calling = "?";
	}
}
