/* Unit tests of plugin.c with the real shipped exec plugin (a copy of the
 * built exec.so in a private root-owned directory): loading and refusing,
 * the exec plugin's own option errors, and commands spawned from a real
 * sd-event loop with the event in their environment, killed at timeout. */
#include "plugin.h"
#include "util.h"

#include "mgcheck.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

static char dir[] = "/tmp/mgplugin.XXXXXX";
static char plugdir[128];

static void setup(void)
{
	char cmd[512];
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	chmod(dir, 0755);
	snprintf(plugdir, sizeof(plugdir), "%s/plugins", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -m 0755 %s && install -m 0755 %s/exec.so %s/",
		 plugdir, MG_TEST_PLUGINDIR, plugdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
}

/* Writes text as a config file and loads it. */
static void conf_from(const char *text, struct mg_conf *conf)
{
	char path[256], err[MG_CONF_ERROR_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/test.conf", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(mg_conf_init_defaults(conf), 0);
	ck_assert_msg(mg_conf_load(path, conf, err, sizeof(err)) == 0, "%s", err);
}

static int load_text(const char *text, struct mg_plugins **set, char *err, size_t size, sd_event *loop)
{
	struct mg_conf conf;
	int r;

	conf_from(text, &conf);
	r = mg_plugins_load(loop, &conf, plugdir, set, err, size);
	mg_conf_clear(&conf);
	return r;
}

static void assert_error(const char *text, const char *want)
{
	struct mg_plugins *set = NULL;
	char err[MG_CONF_ERROR_MAX] = "", full[300];
	const char *colon;

	ck_assert_int_lt(load_text(text, &set, err, sizeof(err), NULL), 0);
	ck_assert_ptr_null(set);
	/* After "PATH/test.conf". */
	snprintf(full, sizeof(full), "%s/test.conf", dir);
	ck_assert_msg(strncmp(err, full, strlen(full)) == 0, "%s", err);
	colon = err + strlen(full);
	ck_assert_msg(strstr(colon, want) == colon, "got \"%s\", want \"%s\"", colon, want);
}

START_TEST(test_missing_plugin_is_refused_at_its_section_line)
{
	char want[256];

	snprintf(want, sizeof(want), ":2: [plugin nope] %s/nope.so: No such file or directory", plugdir);
	assert_error("\n[plugin nope]\nfoo = bar\n", want);
}
END_TEST

START_TEST(test_group_writable_plugin_is_refused)
{
	char path[256], want[512];

	snprintf(path, sizeof(path), "%s/exec.so", plugdir);
	ck_assert_int_eq(chmod(path, 0775), 0);
	snprintf(want, sizeof(want), ":1: [plugin exec] %s: must be owned by root and not writable by group or others (uid 0, mode 0775)", path);
	assert_error("[plugin exec]\ncommand = /bin/true\n", want);
}
END_TEST

START_TEST(test_exec_option_errors_name_their_line)
{
	assert_error("[plugin exec]\ncommand = /bin/true\ncolour = red\n",
		     ":3: [plugin exec] unknown key \"colour\" (expected command, events, timeout or user)");
	assert_error("[plugin exec]\ncommand = /bin/true\nuser = no-such-user-here\n",
		     ":3: [plugin exec] user: no such user \"no-such-user-here\"");
	assert_error("[plugin exec]\ncommand = /bin/true\nuser = root\n",
		     ":3: [plugin exec] user: \"root\" is root (leave user unset to run as the daemon)");
	assert_error("[plugin exec]\ncommand = true\n",
		     ":2: [plugin exec] command: \"true\" is not an absolute path");
	assert_error("[guard]\naction = none\n[plugin exec]\nevents = hung\n",
		     ":3: [plugin exec] command: missing (the program to run)");
	assert_error("[plugin exec]\ncommand = /bin/true\nevents = hung,exploded\n",
		     ":3: [plugin exec] events: unknown event \"exploded\"");
	assert_error("[plugin exec]\ncommand = /bin/true\ntimeout = 2h\n",
		     ":3: [plugin exec] timeout: invalid duration \"2h\" (1s to 1h; s, ms or m)");
}
END_TEST

/* DIR/p/plugins/exec.so, a copy of the real one, with DIR/p made
 * (owner, mode); returns DIR/p/plugins in out. */
static void nested_plugin_dir(uid_t owner, mode_t mode, char *out, size_t size)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "mkdir -m 0755 %s/p %s/p/plugins && install -m 0755 %s/exec.so %s/p/plugins/",
		 dir, dir, MG_TEST_PLUGINDIR, dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(out, size, "%s/p", dir);
	ck_assert_int_eq(chown(out, owner, 0), 0);
	ck_assert_int_eq(chmod(out, mode), 0);
	snprintf(out, size, "%s/p/plugins", dir);
}

static int load_from(const char *from, char *err, size_t size)
{
	struct mg_plugins *set = NULL;
	struct mg_conf conf;
	int r;

	conf_from("[plugin exec]\ncommand = /bin/true\n", &conf);
	r = mg_plugins_load(NULL, &conf, from, &set, err, size);
	mg_conf_clear(&conf);
	mg_plugins_free(set);
	return r;
}

START_TEST(test_plugin_below_a_directory_others_can_write_is_refused)
{
	static const struct { uid_t owner; mode_t mode; } bad[] = {
		{ NOBODY, 0755 },	/* nobody could swap the plugins directory */
		{ 0, 0775 },		/* so could the group */
		{ 0, 0757 },
	};
	char from[256], err[MG_CONF_ERROR_MAX], want[512];

	for (size_t i = 0; i < MG_ARRAY_SIZE(bad); i++) {
		nested_plugin_dir(bad[i].owner, bad[i].mode, from, sizeof(from));
		ck_assert_int_eq(load_from(from, err, sizeof(err)), -EPERM);
		snprintf(want, sizeof(want), "%s/p: must be owned by root and not writable by group or others (uid %u, mode %04o)",
			 dir, (unsigned)bad[i].owner, (unsigned)bad[i].mode);
		ck_assert_msg(strstr(err, want), "got \"%s\", want \"%s\"", err, want);
		snprintf(want, sizeof(want), "rm -rf %s/p", dir);
		ck_assert_int_eq(system(want), 0);
	}
}
END_TEST

START_TEST(test_plugin_below_a_sticky_root_directory_loads_but_not_in_one)
{
	char from[256], err[MG_CONF_ERROR_MAX] = "", want[512];

	/* Like /tmp: others may add entries, not rename root's. */
	nested_plugin_dir(0, 01777, from, sizeof(from));
	ck_assert_msg(load_from(from, err, sizeof(err)) == 0, "%s", err);
	/* The plugin's own directory has no such excuse. */
	ck_assert_int_eq(chmod(from, 01777), 0);
	ck_assert_int_eq(load_from(from, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want), "%s: must be owned by root and not writable by group or others (uid 0, mode 1777)",
		 from);
	ck_assert_msg(strstr(err, want), "got \"%s\", want \"%s\"", err, want);
}
END_TEST

START_TEST(test_symlink_to_a_plugin_is_not_followed)
{
	char from[256], link[300], err[MG_CONF_ERROR_MAX], want[512];

	nested_plugin_dir(0, 0755, from, sizeof(from));
	snprintf(link, sizeof(link), "%s/exec.so", plugdir);
	ck_assert_int_eq(unlink(link), 0);
	snprintf(want, sizeof(want), "%s/exec.so", from);
	ck_assert_int_eq(symlink(want, link), 0);
	ck_assert_int_eq(load_from(plugdir, err, sizeof(err)), -ELOOP);
	snprintf(want, sizeof(want), "%s: a symbolic link (not followed)", link);
	ck_assert_msg(strstr(err, want), "got \"%s\", want \"%s\"", err, want);
}
END_TEST

/* Keeps this process on the nth CPU it may use; best effort: with a
 * single CPU, both sides share it. */
static void pin_to_cpu(int nth)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || CPU_COUNT(&set) < 2)
		return;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, &set) && nth-- == 0) {
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
			return;
		}
	}
}

/* Whether the file dev:ino is mapped into this process. */
static bool mapped(const struct stat *st)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");

	ck_assert_ptr_nonnull(f);
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long ino;

		if (sscanf(line, "%*s %*s %*s %x:%x %lu", &maj, &min, &ino) == 3)
			found = ino == st->st_ino && makedev(maj, min) == st->st_dev;
	}
	fclose(f);
	return found;
}

START_TEST(test_plugin_swapped_while_loading_is_never_the_one_loaded)
{
	char from[256], evil_dir[256], evil[300], err[MG_CONF_ERROR_MAX];
	_cleanup_free_ char *cmd = NULL;
	struct mg_plugins *set;
	struct mg_conf conf;
	unsigned loaded = 0, refused = 0, evil_loaded = 0;
	struct stat evil_st;
	cpu_set_t cpus;
	pid_t swapper;

	/* Two root-owned directories: plugins/ holds the trusted exec.so,
	 * evil/ a copy owned by nobody (as if nobody had written it).  A child
	 * swaps them as fast as it can while the loader runs. */
	nested_plugin_dir(0, 0755, from, sizeof(from));
	snprintf(evil_dir, sizeof(evil_dir), "%s/p/evil", dir);
	snprintf(evil, sizeof(evil), "%s/exec.so", evil_dir);
	/* The build directory's path is in it: no fixed size fits every checkout. */
	ck_assert_int_ge(asprintf(&cmd, "mkdir -m 0755 %s && install -m 0755 -o %d %s/exec.so %s/",
				  evil_dir, NOBODY, MG_TEST_PLUGINDIR, evil_dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(stat(evil, &evil_st), 0);
	conf_from("[plugin exec]\ncommand = /bin/true\n", &conf);
	swapper = fork();
	ck_assert_int_ge(swapper, 0);
	if (swapper == 0) {
		/* On another CPU than the loader's when there is one, so that the
		 * swaps interleave with the loader's steps, not with its time
		 * slices. */
		pin_to_cpu(1);
		for (;;)
			if (renameat2(AT_FDCWD, from, AT_FDCWD, evil_dir, RENAME_EXCHANGE) < 0)
				_exit(1);
	}
	ck_assert_int_eq(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
	pin_to_cpu(0);
	for (int i = 0; i < 3000 && evil_loaded == 0; i++) {
		set = NULL;
		if (mg_plugins_load(NULL, &conf, from, &set, err, sizeof(err)) == 0) {
			loaded++;
			evil_loaded += mapped(&evil_st);
			mg_plugins_free(set);
		} else {
			refused++;
		}
	}
	kill(swapper, SIGKILL);
	waitpid(swapper, NULL, 0);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	mg_conf_clear(&conf);
	ck_assert_msg(evil_loaded == 0, "the file owned by nobody was loaded (%u loads, %u refused)", loaded, refused);
	/* The race did run: both files were met. */
	ck_assert_msg(loaded > 0 && refused > 0, "%u loads, %u refused", loaded, refused);
}
END_TEST

static void write_script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n%s", body);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0755), 0);
}

static void run_until(sd_event *e, const char *path, bool exists)
{
	for (int i = 0; i < 1000 && (access(path, F_OK) == 0) != exists; i++)
		ck_assert_int_ge(sd_event_run(e, 10 * MG_USEC_PER_MSEC), 0);
	ck_assert_msg((access(path, F_OK) == 0) == exists, "%s %s", path, exists ? "missing" : "still there");
}

/* The set start_exec loaded, behind the fan-out as the manager puts it. */
static struct mg_plugins *loaded;
static struct mg_notify *fanout;

/* One event of d1's outgoing migration, through the fan-out. */
static void emit(enum migguard_event_kind kind, const char *name, const char *uuid, int pid, const char *phase,
		 const char *incident, const char *detail)
{
	struct mg_event e = mg_event_plugin(kind, name);

	e.ev.domain = "d1";
	e.ev.uuid = uuid;
	e.ev.pid = pid;
	e.ev.direction = "outgoing";
	e.ev.phase = phase;
	e.ev.incident = incident;
	e.ev.detail = detail;
	mg_notify_dispatch(fanout, &e);
}

static void stop_exec(sd_event *e)
{
	fanout = mg_notify_free(fanout);
	mg_plugins_free(loaded);
	loaded = NULL;
	sd_event_unref(e);
}

/* Writes DIR/NAME as a shell script, loads exec with it (plus extra
 * options) on a new loop and registers that set as the plugin sink. */
static sd_event *start_exec(const char *name, const char *body, const char *extra)
{
	char script[256], text[512], err[MG_CONF_ERROR_MAX];
	struct mg_plugins *set = NULL;
	sd_event *e = NULL;

	snprintf(script, sizeof(script), "%s/%s", dir, name);
	write_script(script, body);
	snprintf(text, sizeof(text), "[plugin exec]\ncommand = %s\n%s", script, extra);
	ck_assert_int_ge(sd_event_new(&e), 0);
	ck_assert_msg(load_text(text, &set, err, sizeof(err), e) == 0, "%s", err);
	ck_assert_uint_eq(mg_plugins_count(set), 1);
	loaded = set;
	ck_assert_int_eq(mg_notify_new(&fanout), 0);
	ck_assert_int_eq(mg_notify_register(fanout, "plugins", mg_plugins_on_event, loaded), 0);
	return e;
}

START_TEST(test_exec_runs_its_command_with_the_event_in_the_environment)
{
	char out[256], done[256], buf[4096];
	sd_event *e = start_exec("hook.sh", "env | grep '^MIGGUARD_' | sort > \"$(dirname \"$0\")/$1.env\"\n"
					    "echo \"argc=$#\" >> \"$(dirname \"$0\")/$1.env\"\n"
					    "touch \"$(dirname \"$0\")/$1.done\"\n", "");

	snprintf(out, sizeof(out), "%s/hung.env", dir);
	snprintf(done, sizeof(done), "%s/hung.done", dir);

	/* Not in the default events: nothing runs. */
	emit(MIGGUARD_EVENT_PHASE_CHANGED, "phase-changed", NULL, 1, "finishing", NULL, "x");
	emit(MIGGUARD_EVENT_VERDICT, "hung", "c6fdfea4-0000", 4242, "hung", NULL, "finishing for 30 s");
	run_until(e, done, true);
	ck_assert_int_gt(mg_read_file(out, buf, sizeof(buf)), 0);
	ck_assert_msg(strstr(buf, "MIGGUARD_EVENT=hung\n") && strstr(buf, "MIGGUARD_DOMAIN=d1\n") &&
		      strstr(buf, "MIGGUARD_UUID=c6fdfea4-0000\n") && strstr(buf, "MIGGUARD_PID=4242\n") &&
		      strstr(buf, "MIGGUARD_DETAIL=finishing for 30 s\n") && strstr(buf, "argc=1\n"), "%s", buf);
	snprintf(out, sizeof(out), "%s/phase-changed.env", dir);
	ck_assert_int_eq(access(out, F_OK), -1);

	stop_exec(e);
}
END_TEST

START_TEST(test_exec_user_runs_the_command_as_that_user_without_capabilities)
{
	char outdir[256], out[300], buf[4096], want[512];
	struct passwd *pw = getpwnam("nobody");
	gid_t groups[64];
	int n = (int)MG_ARRAY_SIZE(groups);
	size_t len;
	sd_event *e;

	/* This test runs as root with every capability: the hook must have
	 * none of them, nor root's groups. */
	ck_assert_ptr_nonnull(pw);
	ck_assert_int_ge(getgrouplist("nobody", pw->pw_gid, groups, &n), 0);
	snprintf(outdir, sizeof(outdir), "%s/out", dir);
	ck_assert_int_eq(mkdir(outdir, 0700), 0);
	ck_assert_int_eq(chown(outdir, pw->pw_uid, pw->pw_gid), 0);
	e = start_exec("hook.sh", "o=\"$(dirname \"$0\")/out\"\n"
				  "{ id -u; id -g; id -G; grep -E '^Cap(Inh|Prm|Eff|Amb):' /proc/self/status;\n"
				  "  env | grep '^MIGGUARD_EVENT='; } > \"$o/$1.tmp\" && mv \"$o/$1.tmp\" \"$o/$1.txt\"\n",
		       "user = nobody\n");
	snprintf(out, sizeof(out), "%s/hung.txt", outdir);
	emit(MIGGUARD_EVENT_VERDICT, "hung", NULL, 4242, "hung", NULL, "finishing for 30 s");
	run_until(e, out, true);
	ck_assert_int_gt(mg_read_file(out, buf, sizeof(buf)), 0);
	len = (size_t)snprintf(want, sizeof(want), "%u\n%u\n", (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%u", i ? " " : "", (unsigned)groups[i]);
	snprintf(want + len, sizeof(want) - len,
		 "\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
		 "CapAmb:\t0000000000000000\nMIGGUARD_EVENT=hung\n");
	ck_assert_str_eq(buf, want);
	stop_exec(e);
}
END_TEST

START_TEST(test_exec_command_is_killed_at_its_timeout)
{
	char pidfile[256], buf[64], proc[64];
	sd_event *e = start_exec("slow.sh", "echo $$ > \"$(dirname \"$0\")/slow.pid.tmp\"\n"
					    "mv \"$(dirname \"$0\")/slow.pid.tmp\" \"$(dirname \"$0\")/slow.pid\"\n"
					    "exec sleep 100\n", "events = incident\ntimeout = 1s\n");
	uint64_t t0 = mg_now_mono();

	snprintf(pidfile, sizeof(pidfile), "%s/slow.pid", dir);
	emit(MIGGUARD_EVENT_INCIDENT_WRITTEN, "incident", NULL, 1, "hung", "/x", "");
	run_until(e, pidfile, true);
	ck_assert_int_gt(mg_read_file(pidfile, buf, sizeof(buf)), 0);
	snprintf(proc, sizeof(proc), "/proc/%d", atoi(buf));
	/* Gone means killed and reaped by the loop. */
	run_until(e, proc, false);
	ck_assert_uint_ge(mg_now_mono() - t0, MG_USEC_PER_SEC);
	stop_exec(e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("plugin");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_missing_plugin_is_refused_at_its_section_line);
	tcase_add_test(tc, test_group_writable_plugin_is_refused);
	tcase_add_test(tc, test_plugin_below_a_directory_others_can_write_is_refused);
	tcase_add_test(tc, test_plugin_below_a_sticky_root_directory_loads_but_not_in_one);
	tcase_add_test(tc, test_plugin_swapped_while_loading_is_never_the_one_loaded);
	tcase_add_test(tc, test_symlink_to_a_plugin_is_not_followed);
	tcase_add_test(tc, test_exec_option_errors_name_their_line);
	tcase_add_test(tc, test_exec_runs_its_command_with_the_event_in_the_environment);
	tcase_add_test(tc, test_exec_user_runs_the_command_as_that_user_without_capabilities);
	tcase_add_test(tc, test_exec_command_is_killed_at_its_timeout);
	suite_add_tcase(s, tc);
	return mg_check_run(s);
}
