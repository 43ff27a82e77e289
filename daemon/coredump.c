/* coredump.c - see coredump.h. */
#include "coredump.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static void format_limit(rlim_t v, char *out, size_t size)
{
	if (v == RLIM_INFINITY)
		snprintf(out, size, "unlimited");
	else
		snprintf(out, size, "%llu", (unsigned long long)v);
}

int mg_coredump_prepare(pid_t pid, struct mg_coredump *c)
{
	char path[64], buf[16] = "", cur[32], max[32];
	struct rlimit old, raised;
	ssize_t n;

	memset(c, 0, sizeof(*c));
	c->cwd_fd = -1;
	c->pid = pid;
	c->prepared_at = mg_now_real();
	if (mg_read_file("/proc/sys/kernel/core_pattern", c->pattern, sizeof(c->pattern)) < 0)
		snprintf(c->pattern, sizeof(c->pattern), "core");
	c->pattern[strcspn(c->pattern, "\n")] = '\0';
	if (mg_read_file("/proc/sys/kernel/core_uses_pid", buf, sizeof(buf)) > 0)
		c->uses_pid = buf[0] == '1';
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
	n = readlink(path, c->cwd, sizeof(c->cwd) - 1);
	if (n < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	c->cwd[n] = '\0';
	c->cwd_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (prlimit(pid, RLIMIT_CORE, NULL, &old) < 0) {
		snprintf(c->limit, sizeof(c->limit), "RLIMIT_CORE unreadable: %s", strerror(errno));
		return 0;
	}
	format_limit(old.rlim_cur, cur, sizeof(cur));
	format_limit(old.rlim_max, max, sizeof(max));
	if (c->pattern[0] == '|') {
		/* The kernel ignores RLIMIT_CORE for a pipe helper. */
		snprintf(c->limit, sizeof(c->limit), "RLIMIT_CORE %s (not used for a pipe)", cur);
	} else if (old.rlim_max == 0) {
		c->no_core = true;
		snprintf(c->limit, sizeof(c->limit),
			 "RLIMIT_CORE is 0 (hard): no core can be written; set max_core in qemu.conf");
	} else if (old.rlim_cur < old.rlim_max) {
		raised = (struct rlimit){ .rlim_cur = old.rlim_max, .rlim_max = old.rlim_max };
		if (prlimit(pid, RLIMIT_CORE, &raised, NULL) < 0)
			snprintf(c->limit, sizeof(c->limit), "RLIMIT_CORE %s, cannot raise it to %s: %s", cur,
				 max, strerror(errno));
		else
			snprintf(c->limit, sizeof(c->limit), "RLIMIT_CORE raised from %s to %s", cur, max);
	} else {
		snprintf(c->limit, sizeof(c->limit), "RLIMIT_CORE %s", cur);
	}
	return 0;
}

void mg_coredump_release(struct mg_coredump *c)
{
	if (c->cwd_fd >= 0)
		close(c->cwd_fd);
	c->cwd_fd = -1;
}

/* Appends s to out, escaping glob's metacharacters when literal. */
static int append(char *out, size_t size, size_t *len, const char *s, bool literal)
{
	for (; *s; s++) {
		if (literal && strchr("*?[\\", *s)) {
			if (*len + 1 >= size)
				return -ENAMETOOLONG;
			out[(*len)++] = '\\';
		}
		if (*len + 1 >= size)
			return -ENAMETOOLONG;
		out[(*len)++] = *s;
	}
	out[*len] = '\0';
	return 0;
}

int mg_coredump_glob(const char *pattern, bool uses_pid, pid_t pid, const char *cwd, char *out,
		     size_t size)
{
	char pidstr[16], ch[2] = "";
	bool pid_in_pattern = false;
	size_t len = 0;
	int r = 0;

	if (size == 0)
		return -ENAMETOOLONG;
	out[0] = '\0';
	if (pattern[0] == '|' || pattern[0] == '\0')
		return -EINVAL;
	snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
	if (pattern[0] != '/' && cwd) {
		r = append(out, size, &len, cwd, true);
		if (r == 0 && (len == 0 || out[len - 1] != '/'))
			r = append(out, size, &len, "/", true);
	}
	for (const char *p = pattern; *p && r == 0; p++) {
		if (*p != '%') {
			ch[0] = *p;
			r = append(out, size, &len, ch, true);
			continue;
		}
		/* A lone '%' at the end is dropped, as the kernel does. */
		switch (*++p) {
		case '\0': p--; break;
		case '%': r = append(out, size, &len, "%", true); break;
		case 'p': pid_in_pattern = true; /* fall through */
		case 'P': r = append(out, size, &len, pidstr, true); break;
		default: r = append(out, size, &len, "*", false); break;
		}
	}
	if (r == 0 && uses_pid && !pid_in_pattern) {
		r = append(out, size, &len, ".", true);
		if (r == 0)
			r = append(out, size, &len, pidstr, true);
	}
	return r;
}

struct best {
	char path[PATH_MAX];
	off_t size;
	struct timespec mtime;
};

/* Keeps the newest regular file written since `since`: a core left by an
 * earlier crash is not this one. */
static void consider(struct best *b, const char *path, const struct stat *st, uint64_t since)
{
	uint64_t mtime = (uint64_t)st->st_mtim.tv_sec * MG_USEC_PER_SEC + (uint64_t)st->st_mtim.tv_nsec / 1000;

	if (!S_ISREG(st->st_mode) || mtime < since)
		return;
	if (b->path[0] && (st->st_mtim.tv_sec < b->mtime.tv_sec ||
			   (st->st_mtim.tv_sec == b->mtime.tv_sec && st->st_mtim.tv_nsec <= b->mtime.tv_nsec)))
		return;
	snprintf(b->path, sizeof(b->path), "%s", path);
	b->size = st->st_size;
	b->mtime = st->st_mtim;
}

/* A bare relative name: read the directory through the fd opened before
 * the signal, so a cwd in QEMU's own mount namespace is still the right
 * one. */
static void scan_cwd(const struct mg_coredump *c, const char *name_glob, struct best *b, uint64_t since)
{
	int fd = openat(c->cwd_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (fnmatch(name_glob, de->d_name, FNM_PERIOD) != 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		snprintf(path, sizeof(path), "%s%s%s", c->cwd, strcmp(c->cwd, "/") ? "/" : "", de->d_name);
		consider(b, path, &st, since);
	}
	closedir(d);
}

int mg_coredump_locate(const struct mg_coredump *c, char *out, size_t size)
{
	uint64_t since = c->prepared_at > 2 * MG_USEC_PER_SEC ? c->prepared_at - 2 * MG_USEC_PER_SEC : 0;
	struct best b = { .path = "" };
	char pat[2048];
	glob_t g;
	int r;

	if (c->pattern[0] == '|') {
		bool coredumpd = strstr(c->pattern, "systemd-coredump") != NULL;

		snprintf(out, size, "core piped by the kernel to %s%s%d%s", c->pattern + 1,
			 coredumpd ? " (`coredumpctl info " : " (pid ", (int)c->pid,
			 coredumpd ? "` shows it)" : ")");
		return 0;
	}
	if (c->pattern[0] != '/' && !strchr(c->pattern, '/') && c->cwd_fd >= 0) {
		r = mg_coredump_glob(c->pattern, c->uses_pid, c->pid, NULL, pat, sizeof(pat));
		if (r == 0)
			scan_cwd(c, pat, &b, since);
	}
	if (!b.path[0]) {
		r = mg_coredump_glob(c->pattern, c->uses_pid, c->pid, c->cwd, pat, sizeof(pat));
		if (r < 0) {
			snprintf(out, size, "core_pattern '%s' gives no file name: %s", c->pattern, strerror(-r));
			return r;
		}
		if (glob(pat, GLOB_NOSORT, NULL, &g) == 0) {
			struct stat st;

			for (size_t i = 0; i < g.gl_pathc; i++)
				if (lstat(g.gl_pathv[i], &st) == 0)
					consider(&b, g.gl_pathv[i], &st, since);
			globfree(&g);
		}
	}
	if (b.path[0]) {
		snprintf(out, size, "core written to %s (%lld bytes; core_pattern '%s')", b.path,
			 (long long)b.size, c->pattern);
		return 0;
	}
	snprintf(out, size, "no core found at %s (core_pattern '%s'%s%s)", pat, c->pattern,
		 c->no_core ? "; " : "", c->no_core ? c->limit : "");
	return -ENOENT;
}
