/* Unit tests of the configuration loader (conf.c), data-driven: every file
 * under tests/data/conf/ is loaded and its values or its exact error checked. */
#include "conf.h"
#include "util.h"

#include "mgcheck.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>

#define CONF_DIR MG_TEST_DATADIR "/conf/"
#define S(x) ((uint64_t)(x) * MG_USEC_PER_SEC)
#define MS(x) ((uint64_t)(x) * MG_USEC_PER_MSEC)

/* A file that must be refused, and the error after "PATH:". */
struct bad_case {
	const char *file;
	const char *error;
};

static const struct bad_case bad_cases[] = {
	{ "bad-duration.conf",
	  "5: [guard] finish_timeout: invalid duration \"abc\" (expected e.g. 30s, 500ms, 2m)" },
	{ "duration-out-of-range.conf",
	  "3: [guard] probe_interval: \"50ms\" is out of range (100ms..1m)" },
	{ "count-out-of-range.conf", "2: [incidents] max_count: \"0\" is out of range (1..100000)" },
	{ "bad-number.conf", "2: [incidents] max_count: invalid number \"many\"" },
	{ "bad-bool.conf", "2: [guard] core_dump: invalid boolean \"maybe\" (expected yes or no)" },
	{ "bad-action.conf",
	  "2: [guard] action: invalid action \"kill\" (expected none, cancel or recover)" },
	{ "bad-log-level.conf",
	  "2: [daemon] log_level: invalid log level \"loud\" (expected err, warning, notice, info or debug)" },
	{ "relative-state-dir.conf",
	  "2: [daemon] state_dir: \"var/lib/migguard\" is not an absolute path" },
	{ "empty-uri.conf", "2: [daemon] uri: must not be empty" },
	{ "relative-debuginfo-path.conf",
	  "2: [snapshot] debuginfo_path: \"debug\" is not an absolute path" },
	{ "relative-metrics-textfile.conf",
	  "2: [metrics] textfile: \"migguard.prom\" is not an absolute path" },
	{ "template-without-domain.conf",
	  "2: [qmp] socket_template: \"/run/migguard/qmp.sock\" must contain %n (domain name) or %u (uuid)" },
	{ "template-relative.conf",
	  "2: [qmp] socket_template: \"qmp/%n.sock\" is not an absolute path" },
	{ "template-bad-expansion.conf",
	  "2: [qmp] socket_template: \"/run/%n-%x.sock\" has an unknown % expansion (expected %n, %u or %%)" },
	{ "unknown-section.conf", "4: unknown section [foo]" },
	{ "unknown-empty-section.conf", "2: unknown section [sandbox]" },
	{ "unknown-key.conf", "3: [guard] unknown key \"foo\"" },
	{ "key-before-section.conf", "2: key \"uri\" outside any section" },
	{ "duplicate-key.conf", "4: [guard] finish_timeout: duplicate key (first set on line 2)" },
	{ "duplicate-key-reopened-section.conf",
	  "5: [guard] restart: duplicate key (first set on line 2)" },
	{ "syntax-error.conf", "3: syntax error" },
	{ "syntax-error-section.conf", "1: syntax error" },
	{ "syntax-before-key-error.conf", "2: syntax error" },
	{ "monitor-not-shorter.conf",
	  "3: [guard] monitor_timeout: must be shorter than finish_timeout (10s >= 10s)" },
	{ "finish-not-longer.conf",
	  "4: [guard] finish_timeout: must be longer than probe_interval (8s <= 10s)" },
	{ "finish-default-too-short.conf",
	  "2: [guard] monitor_timeout: must be shorter than finish_timeout (45s >= 30s)" },
	{ "bad-plugin-name.conf",
	  "1: invalid plugin name in [plugin ../evil] (1 to 32 of A-Z a-z 0-9 _ -)" },
	{ "duplicate-plugin-key.conf",
	  "3: [plugin exec] command: duplicate key (first set on line 2)" },
	/* Both loaded, and their dump read back as another configuration
	 * (found by fuzz_conf). */
	{ "plugin-empty-key.conf", "3: [plugin exec] invalid key \"\" (1 to 32 of A-Z a-z 0-9 _ -)" },
	{ "plugin-value-comment.conf", "2: [plugin exec] command: a value cannot start with ';' (a comment?)" },
	{ "value-comment.conf", "2: [daemon] uri: a value cannot start with ';' (a comment?)" },
	/* "action = cancel\0kill" used to load as action = cancel. */
	{ "nul-byte.conf", "4: NUL byte in the line" },
	/* Terminal escapes in a value are shown, not sent to the terminal. */
	{ "control-bytes.conf",
	  "2: [guard] action: invalid action \"\\x1b[2J\\x1b]0;owned\\x07kill\" (expected none, cancel or recover)" },
};

static void assert_defaults(const struct mg_conf *c)
{
	ck_assert_str_eq(c->uri, "qemu:///system");
	ck_assert_str_eq(c->state_dir, "/var/lib/migguard");
	ck_assert_int_eq(c->log_level, LOG_INFO);
	ck_assert_uint_eq(c->probe_interval, S(1));
	ck_assert_uint_eq(c->finish_timeout, S(30));
	ck_assert_uint_eq(c->monitor_timeout, S(5));
	ck_assert_uint_eq(c->incoming_timeout, S(120));
	ck_assert_int_eq(c->action, MG_ACTION_NONE);
	ck_assert_uint_eq(c->recover_grace, S(30));
	ck_assert(!c->core_dump);
	ck_assert(!c->restart);
	ck_assert_str_eq(c->socket_template, "");
	ck_assert_uint_eq(c->max_count, 50);
	ck_assert_uint_eq(c->max_age, S(30 * 86400));
	ck_assert_str_eq(c->metrics_textfile, "");
	ck_assert_str_eq(c->libvirt_run_dir, "/run/libvirt/qemu");
	ck_assert_str_eq(c->libvirt_log_dir, "/var/log/libvirt/qemu");
	ck_assert_str_eq(c->plugin_dir, PKGLIBDIR "/plugins");
	ck_assert_str_eq(c->signatures_dir, PKGDATADIR "/signatures");
	ck_assert_str_eq(c->debuginfo_path, "");
	ck_assert_uint_eq(c->n_plugins, 0);
}

static void assert_full(const struct mg_conf *c)
{
	ck_assert_str_eq(c->uri, "qemu+unix:///system?socket=/run/libvirt/alt-sock");
	ck_assert_str_eq(c->state_dir, "/srv/migguard");
	ck_assert_int_eq(c->log_level, LOG_DEBUG);
	ck_assert_uint_eq(c->probe_interval, MS(250));
	ck_assert_uint_eq(c->finish_timeout, S(120));
	ck_assert_uint_eq(c->monitor_timeout, S(3));
	ck_assert_uint_eq(c->incoming_timeout, S(3600));
	ck_assert_int_eq(c->action, MG_ACTION_RECOVER);
	ck_assert_uint_eq(c->recover_grace, 0);
	ck_assert(c->core_dump);
	ck_assert(c->restart);
	ck_assert_str_eq(c->socket_template, "/run/migguard/qmp/%n-%u.sock");
	ck_assert_uint_eq(c->max_count, 7);
	ck_assert_uint_eq(c->max_age, S(90 * 86400));
	ck_assert_str_eq(c->metrics_textfile, "/var/lib/prometheus/node-exporter/migguard.prom");
	ck_assert_str_eq(c->libvirt_run_dir, "/run/libvirt-alt/qemu");
	ck_assert_str_eq(c->libvirt_log_dir, "/var/log/libvirt-alt/qemu");
	ck_assert_str_eq(c->plugin_dir, "/usr/lib/migguard-alt/plugins");
	ck_assert_str_eq(c->signatures_dir, "/srv/signatures");
	ck_assert_str_eq(c->debuginfo_path, "/srv/debug:/opt/qemu/debug");
}

/* The environment's overrides (read once by main) win over the file, and
 * only the keys they name change. */
START_TEST(test_overrides_replace_only_their_keys)
{
	struct mg_conf_overrides o = { .libvirt_run_dir = "/tmp/run", .debuginfo_path = "/tmp/debug" };
	struct mg_conf c;
	char err[MG_CONF_ERROR_MAX];

	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	ck_assert_int_eq(mg_conf_load(CONF_DIR "valid-full.conf", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(mg_conf_overrides_apply(&o, &c), 0);
	ck_assert_str_eq(c.libvirt_run_dir, "/tmp/run");
	ck_assert_str_eq(c.debuginfo_path, "/tmp/debug");
	ck_assert_str_eq(c.libvirt_log_dir, "/var/log/libvirt-alt/qemu");
	ck_assert_str_eq(c.plugin_dir, "/usr/lib/migguard-alt/plugins");
	ck_assert_str_eq(c.signatures_dir, "/srv/signatures");
	mg_conf_clear(&c);

	setenv("MIGGUARD_PLUGIN_DIR", "/tmp/plugins", 1);
	setenv("MIGGUARD_SIGNATURES_DIR", "", 1);
	unsetenv("MIGGUARD_LIBVIRT_RUN_DIR");
	mg_conf_overrides_read(&o);
	ck_assert_str_eq(o.plugin_dir, "/tmp/plugins");
	/* Empty is unset: the key keeps its value. */
	ck_assert_ptr_null(o.signatures_dir);
	ck_assert_ptr_null(o.libvirt_run_dir);
	unsetenv("MIGGUARD_PLUGIN_DIR");
	unsetenv("MIGGUARD_SIGNATURES_DIR");
}
END_TEST

START_TEST(test_defaults_are_documented_values)
{
	struct mg_conf c;

	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	assert_defaults(&c);
	ck_assert_ptr_null(c.path);
	mg_conf_clear(&c);
}
END_TEST

START_TEST(test_full_file_sets_every_key)
{
	struct mg_conf c;
	char err[MG_CONF_ERROR_MAX];

	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	ck_assert_msg(mg_conf_load(CONF_DIR "valid-full.conf", &c, err, sizeof(err)) == 0, "%s", err);
	assert_full(&c);
	ck_assert_str_eq(c.path, CONF_DIR "valid-full.conf");
	mg_conf_clear(&c);
}
END_TEST

START_TEST(test_empty_or_comment_only_file_gives_defaults)
{
	static const char *const files[] = { "empty.conf", "comments-only.conf" };

	for (size_t i = 0; i < MG_ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *path = NULL;
		struct mg_conf c;
		char err[MG_CONF_ERROR_MAX];

		ck_assert_int_ge(asprintf(&path, CONF_DIR "%s", files[i]), 0);
		ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
		ck_assert_msg(mg_conf_load(path, &c, err, sizeof(err)) == 0, "%s", err);
		assert_defaults(&c);
		mg_conf_clear(&c);
	}
}
END_TEST

START_TEST(test_load_replaces_previous_values_with_defaults)
{
	struct mg_conf c;
	char err[MG_CONF_ERROR_MAX];

	/* "on top of the defaults": keys absent from the second file do not
	 * keep the first file's values. */
	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	ck_assert_int_eq(mg_conf_load(CONF_DIR "valid-full.conf", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(mg_conf_load(CONF_DIR "empty.conf", &c, err, sizeof(err)), 0);
	assert_defaults(&c);
	mg_conf_clear(&c);
}
END_TEST

START_TEST(test_invalid_file_is_rejected_with_file_line_message)
{
	const struct bad_case *bc = &bad_cases[_i];
	_cleanup_free_ char *path = NULL, *want = NULL;
	struct mg_conf c;
	char err[MG_CONF_ERROR_MAX];

	ck_assert_int_ge(asprintf(&path, CONF_DIR "%s", bc->file), 0);
	ck_assert_int_ge(asprintf(&want, "%s:%s", path, bc->error), 0);
	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	ck_assert_int_eq(mg_conf_load(path, &c, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, want);
	mg_conf_clear(&c);
}
END_TEST

START_TEST(test_failed_load_leaves_previous_conf_unchanged)
{
	struct mg_conf c;
	char err[MG_CONF_ERROR_MAX];
	char *uri_before;

	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	ck_assert_int_eq(mg_conf_load(CONF_DIR "valid-full.conf", &c, err, sizeof(err)), 0);
	uri_before = c.uri;
	for (size_t i = 0; i < MG_ARRAY_SIZE(bad_cases); i++) {
		_cleanup_free_ char *path = NULL;

		ck_assert_int_ge(asprintf(&path, CONF_DIR "%s", bad_cases[i].file), 0);
		ck_assert_int_eq(mg_conf_load(path, &c, err, sizeof(err)), -EINVAL);
		assert_full(&c);
		ck_assert_ptr_eq(c.uri, uri_before);
		ck_assert_str_eq(c.path, CONF_DIR "valid-full.conf");
	}
	ck_assert_int_eq(mg_conf_load(CONF_DIR "absent.conf", &c, err, sizeof(err)), -ENOENT);
	assert_full(&c);
	mg_conf_clear(&c);
}
END_TEST

START_TEST(test_missing_file_is_enoent_naming_the_path)
{
	struct mg_conf c;
	char err[MG_CONF_ERROR_MAX];

	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	ck_assert_int_eq(mg_conf_load(CONF_DIR "absent.conf", &c, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, CONF_DIR "absent.conf: cannot open: No such file or directory");
	assert_defaults(&c);
	mg_conf_clear(&c);
}
END_TEST

START_TEST(test_unreadable_path_is_errno_naming_the_path)
{
	struct mg_conf c;
	char err[MG_CONF_ERROR_MAX];

	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	ck_assert_int_eq(mg_conf_load(CONF_DIR, &c, err, sizeof(err)), -EISDIR);
	ck_assert_str_eq(err, CONF_DIR ": not a regular file");
	assert_defaults(&c);
	mg_conf_clear(&c);
}
END_TEST

START_TEST(test_overlong_line_is_rejected_not_split)
{
	struct mg_conf c;
	char err[MG_CONF_ERROR_MAX];

	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	ck_assert_int_eq(mg_conf_load(CONF_DIR "long-line.conf", &c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strncmp(err, CONF_DIR "long-line.conf:2: line too long (at most ",
			      strlen(CONF_DIR "long-line.conf:2: line too long (at most ")) == 0,
		      "%s", err);
	mg_conf_clear(&c);
}
END_TEST

/* Loads path in a child killed by SIGALRM after 2 s, so that a loader that
 * never returns fails the test instead of hanging it; the child reports
 * the result and the error through a pipe. */
static int load_bounded(const char *path, char *err, size_t size)
{
	int fds[2], status, r = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct mg_conf c;
		char msg[MG_CONF_ERROR_MAX + 16];
		int len;

		alarm(2);
		close(fds[0]);
		if (mg_conf_init_defaults(&c) < 0)
			_exit(2);
		r = mg_conf_load(path, &c, err, size);
		len = snprintf(msg, sizeof(msg), "%d %s", r, err);
		_exit(write(fds[1], msg, (size_t)len) == len ? 0 : 2);
	}
	close(fds[1]);
	n = read(fds[0], err, size - 1);
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "loading %s did not return (status 0x%x)", path, (unsigned)status);
	ck_assert_int_gt(n, 0);
	err[n] = '\0';
	ck_assert_int_eq(sscanf(err, "%d", &r), 1);
	memmove(err, strchr(err, ' ') + 1, strlen(strchr(err, ' ')));
	return r;
}

START_TEST(test_device_config_is_refused_promptly_naming_it)
{
	char err[MG_CONF_ERROR_MAX];

	ck_assert_int_eq(load_bounded("/dev/zero", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "/dev/zero: not a regular file");
}
END_TEST

START_TEST(test_fifo_config_is_refused_without_waiting_for_a_writer)
{
	char dir[] = "/tmp/mgconf.XXXXXX", path[64], err[MG_CONF_ERROR_MAX], want[128];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/migguard.conf", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(load_bounded(path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: not a regular file", path);
	ck_assert_str_eq(err, want);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* Writes a file of count lines of line each (line ends in '\n' or not). */
static void write_lines(const char *path, const char *line, size_t count)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < count; i++)
		fputs(line, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The dump ends every line with a newline; a last line without one must
 * not be held to another bound (found by fuzz_conf: 199 characters loaded
 * without the newline and were refused with it). */
START_TEST(test_line_bound_is_the_same_with_or_without_its_newline)
{
	char dir[] = "/tmp/mgconf.XXXXXX", path[64], err1[MG_CONF_ERROR_MAX], err2[MG_CONF_ERROR_MAX];
	char line[600];
	bool seen_ok = false, seen_refused = false;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/line.conf", dir);
	for (size_t len = 100; len < 520; len++) {
		struct mg_conf c;
		int r1, r2;

		/* [daemon] uri = qemu:///system?x=xxx... of len characters */
		snprintf(line, sizeof(line), "[daemon]\nuri = qemu:///system?x=");
		size_t head = strlen(line), target = strlen("[daemon]\n") + len;
		memset(line + head, 'x', target - head);
		line[target] = '\0';
		write_lines(path, line, 1);
		ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
		r1 = mg_conf_load(path, &c, err1, sizeof(err1));
		mg_conf_clear(&c);
		strcat(line, "\n");
		write_lines(path, line, 1);
		ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
		r2 = mg_conf_load(path, &c, err2, sizeof(err2));
		mg_conf_clear(&c);
		ck_assert_msg(r1 == r2, "%zu characters: %d without the newline (%s), %d with it (%s)",
			      len, r1, r1 ? err1 : "", r2, r2 ? err2 : "");
		seen_ok |= r1 == 0;
		seen_refused |= r1 < 0;
	}
	/* The range must straddle the bound, or the test proved nothing. */
	ck_assert(seen_ok && seen_refused);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* Loads path, dumps it, loads the dump: both loads must succeed alike and
 * the two dumps match.  Returns the first load's result. */
static int load_dump_load(const char *path)
{
	_cleanup_free_ char *text1 = NULL, *text2 = NULL;
	char err[MG_CONF_ERROR_MAX], back[] = "/tmp/mg-test-conf-dump-XXXXXX";
	struct mg_conf c;
	size_t len1 = 0, len2 = 0;
	FILE *f;
	int r, fd;

	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	r = mg_conf_load(path, &c, err, sizeof(err));
	if (r == 0) {
		f = open_memstream(&text1, &len1);
		mg_conf_dump(&c, f);
		fclose(f);
	}
	mg_conf_clear(&c);
	if (r < 0)
		return r;
	fd = mkstemp(back);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text1, len1), (ssize_t)len1);
	close(fd);
	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	ck_assert_msg(mg_conf_load(back, &c, err, sizeof(err)) == 0, "the dump does not load: %s", err);
	f = open_memstream(&text2, &len2);
	mg_conf_dump(&c, f);
	fclose(f);
	mg_conf_clear(&c);
	unlink(back);
	ck_assert_str_eq(text1, text2);
	return 0;
}

/* "key=value" at the line bound: the dump's "key = value" was two
 * characters over it and did not load (found by fuzz_conf). */
START_TEST(test_line_at_the_bound_survives_the_dump)
{
	char dir[] = "/tmp/mgconf.XXXXXX", path[64], line[600];
	bool seen_ok = false, seen_refused = false;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/line.conf", dir);
	for (size_t len = 100; len < 520; len++) {
		int r;

		snprintf(line, sizeof(line), "[daemon]\nuri=qemu:///system?x=");
		size_t head = strlen(line), target = strlen("[daemon]\n") + len;
		memset(line + head, 'x', target - head);
		strcpy(line + target, "\n");
		write_lines(path, line, 1);
		r = load_dump_load(path);
		seen_ok |= r == 0;
		seen_refused |= r < 0;
	}
	ck_assert(seen_ok && seen_refused);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_huge_line_or_file_is_refused_at_its_line)
{
	char dir[] = "/tmp/mgconf.XXXXXX", path[64], err[MG_CONF_ERROR_MAX], want[160];
	static char line[64 * 1024];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	/* 64 KiB without a newline: refused at the bound. */
	memset(line, 'x', sizeof(line) - 1);
	write_lines(path, line, 1);
	ck_assert_int_eq(load_bounded(path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: line too long (at most ", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	/* Two million comment lines: each is short, the file is not. */
	write_lines(path, "#\n", 2 * 1024 * 1024);
	ck_assert_int_eq(load_bounded(path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:524289: file too long (at most 1048576 bytes)", path);
	ck_assert_str_eq(err, want);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_plugin_sections_are_kept_with_lines)
{
	const struct mg_conf_section *exec, *metrics;
	struct mg_conf c;
	char err[MG_CONF_ERROR_MAX];

	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	ck_assert_msg(mg_conf_load(CONF_DIR "plugin.conf", &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.action, MG_ACTION_CANCEL);
	ck_assert_uint_eq(c.n_plugins, 2);
	exec = mg_conf_plugin_section(&c, "exec");
	ck_assert_ptr_nonnull(exec);
	ck_assert_uint_eq(exec->n, 2);
	ck_assert_str_eq(exec->kv[0].key, "command");
	ck_assert_str_eq(exec->kv[0].value, "/usr/local/bin/notify");
	ck_assert_uint_eq(exec->kv[0].line, 5);
	ck_assert_str_eq(exec->kv[1].key, "timeout");
	ck_assert_str_eq(exec->kv[1].value, "5s");
	ck_assert_uint_eq(exec->kv[1].line, 6);
	metrics = mg_conf_plugin_section(&c, "metrics-file");
	ck_assert_ptr_nonnull(metrics);
	ck_assert_uint_eq(metrics->n, 1);
	ck_assert_uint_eq(metrics->kv[0].line, 8);
	ck_assert_ptr_null(mg_conf_plugin_section(&c, "absent"));
	mg_conf_clear(&c);
}
END_TEST

/* The dump is an INI file that loads back into the same values. */
START_TEST(test_dump_loads_back_to_same_values)
{
	static const char *const files[] = { "valid-full.conf", "plugin.conf", "empty.conf" };

	for (size_t i = 0; i < MG_ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *path = NULL, *text1 = NULL, *text2 = NULL;
		char tmp[] = "/tmp/mg-test-conf-XXXXXX";
		struct mg_conf c, back;
		char err[MG_CONF_ERROR_MAX];
		size_t len1 = 0, len2 = 0;
		FILE *f;
		int fd;

		ck_assert_int_ge(asprintf(&path, CONF_DIR "%s", files[i]), 0);
		ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
		ck_assert_int_eq(mg_conf_init_defaults(&back), 0);
		ck_assert_msg(mg_conf_load(path, &c, err, sizeof(err)) == 0, "%s", err);
		f = open_memstream(&text1, &len1);
		mg_conf_dump(&c, f);
		fclose(f);

		fd = mkstemp(tmp);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, text1, len1), (ssize_t)len1);
		close(fd);
		ck_assert_msg(mg_conf_load(tmp, &back, err, sizeof(err)) == 0, "%s\n%s", err, text1);
		unlink(tmp);
		f = open_memstream(&text2, &len2);
		mg_conf_dump(&back, f);
		fclose(f);
		ck_assert_str_eq(text1, text2);
		mg_conf_clear(&c);
		mg_conf_clear(&back);
	}
}
END_TEST

START_TEST(test_dump_shows_durations_in_short_form)
{
	_cleanup_free_ char *text = NULL;
	struct mg_conf c;
	size_t len = 0;
	FILE *f;

	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	f = open_memstream(&text, &len);
	mg_conf_dump(&c, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "[guard]\nprobe_interval = 1s\nfinish_timeout = 30s\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nmax_age = 30d\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nlog_level = info\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nsocket_template =\n"));
	mg_conf_clear(&c);
}
END_TEST

START_TEST(test_dump_escapes_control_bytes_in_values)
{
	_cleanup_free_ char *text = NULL;
	char err[MG_CONF_ERROR_MAX];
	struct mg_conf c;
	size_t len = 0;
	FILE *f;

	ck_assert_int_eq(mg_conf_init_defaults(&c), 0);
	ck_assert_msg(mg_conf_load(CONF_DIR "control-bytes-value.conf", &c, err, sizeof(err)) == 0, "%s", err);
	f = open_memstream(&text, &len);
	mg_conf_dump(&c, f);
	fclose(f);
	ck_assert_msg(strstr(text, "\nuri = qemu:///\\x1b]0;owned\\x07system\n"), "%s", text);
	ck_assert_msg(strstr(text, "\ncommand = /bin/\\x1b[2Jtrue\n"), "%s", text);
	mg_conf_clear(&c);
}
END_TEST

START_TEST(test_action_names_round_trip)
{
	enum mg_action a;

	for (int i = MG_ACTION_NONE; i <= MG_ACTION_RECOVER; i++) {
		ck_assert_int_eq(mg_action_from_string(mg_action_to_string(i), &a), 0);
		ck_assert_int_eq(a, i);
	}
	ck_assert_int_eq(mg_action_from_string("kill", &a), -EINVAL);
	ck_assert_str_eq(mg_action_to_string(99), "?");
}
END_TEST

START_TEST(test_template_expands_name_uuid_and_percent)
{
	char buf[64];

	ck_assert_int_eq(mg_conf_expand_template("/run/q/%n-%u.%%sock", "vm1", "abcd", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/run/q/vm1-abcd.%sock");
	ck_assert_int_eq(mg_conf_expand_template("/run/%n", "a/b", "u", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(mg_conf_expand_template("/run/%n", "..", "u", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(mg_conf_expand_template("/run/%x", "vm", "u", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(mg_conf_expand_template("/run/%n", "vm", "u", buf, 8), 0);
	ck_assert_int_eq(mg_conf_expand_template("/run/%n", "vm", "u", buf, 7), -ENAMETOOLONG);
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("load");

	tcase_add_test(tc, test_defaults_are_documented_values);
	tcase_add_test(tc, test_full_file_sets_every_key);
	tcase_add_test(tc, test_overrides_replace_only_their_keys);
	tcase_add_test(tc, test_empty_or_comment_only_file_gives_defaults);
	tcase_add_test(tc, test_load_replaces_previous_values_with_defaults);
	tcase_add_loop_test(tc, test_invalid_file_is_rejected_with_file_line_message, 0,
			    (int)MG_ARRAY_SIZE(bad_cases));
	tcase_add_test(tc, test_failed_load_leaves_previous_conf_unchanged);
	tcase_add_test(tc, test_missing_file_is_enoent_naming_the_path);
	tcase_add_test(tc, test_unreadable_path_is_errno_naming_the_path);
	tcase_add_test(tc, test_overlong_line_is_rejected_not_split);
	tcase_add_test(tc, test_device_config_is_refused_promptly_naming_it);
	tcase_add_test(tc, test_fifo_config_is_refused_without_waiting_for_a_writer);
	tcase_add_test(tc, test_huge_line_or_file_is_refused_at_its_line);
	tcase_add_test(tc, test_plugin_sections_are_kept_with_lines);
	tcase_add_test(tc, test_line_bound_is_the_same_with_or_without_its_newline);
	tcase_add_test(tc, test_line_at_the_bound_survives_the_dump);
	tcase_add_test(tc, test_dump_loads_back_to_same_values);
	tcase_add_test(tc, test_dump_shows_durations_in_short_form);
	tcase_add_test(tc, test_dump_escapes_control_bytes_in_values);
	tcase_add_test(tc, test_action_names_round_trip);
	tcase_add_test(tc, test_template_expands_name_uuid_and_percent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(conf_suite());
}
