/* Unit tests of coredump.c: the core_pattern to file-name rules, and a real
 * aborted child whose core is found where the kernel put it. */
#include "coredump.h"
#include "util.h"

#include "mgcheck.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(test_relative_pattern_is_taken_from_the_cwd)
{
	char g[256];

	ck_assert_int_eq(mg_coredump_glob("core", false, 42, "/var/lib/x", g, sizeof(g)), 0);
	ck_assert_str_eq(g, "/var/lib/x/core");
	ck_assert_int_eq(mg_coredump_glob("core", false, 42, "/", g, sizeof(g)), 0);
	ck_assert_str_eq(g, "/core");
	ck_assert_int_eq(mg_coredump_glob("core.%e", false, 42, NULL, g, sizeof(g)), 0);
	ck_assert_str_eq(g, "core.*");
}
END_TEST

START_TEST(test_core_uses_pid_appends_the_pid_unless_the_pattern_has_p)
{
	char g[256];

	ck_assert_int_eq(mg_coredump_glob("core", true, 42, "/srv", g, sizeof(g)), 0);
	ck_assert_str_eq(g, "/srv/core.42");
	ck_assert_int_eq(mg_coredump_glob("/cores/%e.%p", true, 42, "/srv", g, sizeof(g)), 0);
	ck_assert_str_eq(g, "/cores/*.42");
	/* %P (the pid in the initial namespace) does not stop the suffix. */
	ck_assert_int_eq(mg_coredump_glob("/cores/c.%P", true, 42, "/srv", g, sizeof(g)), 0);
	ck_assert_str_eq(g, "/cores/c.42.42");
}
END_TEST

START_TEST(test_specifiers_become_wildcards_and_literals_are_escaped)
{
	char g[256];

	ck_assert_int_eq(mg_coredump_glob("/c/%e-%t-%s-100%%*[x]%", false, 7, "/", g, sizeof(g)), 0);
	ck_assert_str_eq(g, "/c/*-*-*-100%\\*\\[x]");
	ck_assert_int_eq(mg_coredump_glob("core", false, 7, "/a*b", g, sizeof(g)), 0);
	ck_assert_str_eq(g, "/a\\*b/core");
}
END_TEST

START_TEST(test_pipe_or_too_long_pattern_has_no_file_glob)
{
	char g[16];

	ck_assert_int_eq(mg_coredump_glob("|/lib/systemd/systemd-coredump %P", false, 7, "/", g, sizeof(g)),
			 -EINVAL);
	ck_assert_int_eq(mg_coredump_glob("/very/long/pattern/%p", false, 7, "/", g, sizeof(g)),
			 -ENAMETOOLONG);
}
END_TEST

START_TEST(test_pipe_helper_is_named_with_coredumpctl_hint)
{
	struct mg_coredump c = { .pid = 4242, .cwd_fd = -1 };
	char out[512];

	snprintf(c.pattern, sizeof(c.pattern), "|/lib/systemd/systemd-coredump %%P %%u");
	ck_assert_int_eq(mg_coredump_locate(&c, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "piped") && strstr(out, "coredumpctl info 4242"), "%s", out);
}
END_TEST

START_TEST(test_an_older_core_is_not_taken_for_this_one)
{
	char dir[] = "/tmp/mgcore.XXXXXX", path[128], out[512];
	struct mg_coredump c = { .pid = 77, .cwd_fd = -1 };
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(c.pattern, sizeof(c.pattern), "%s/core.%%e.%%p", dir);
	c.prepared_at = mg_now_real();
	snprintf(path, sizeof(path), "%s/core.qemu-system-x86.77", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	ck_assert_int_eq(futimens(fd, old), 0);
	close(fd);
	ck_assert_int_eq(mg_coredump_locate(&c, out, sizeof(out)), -ENOENT);
	ck_assert_msg(strstr(out, "no core found"), "%s", out);

	fd = open(path, O_WRONLY);
	ck_assert_int_eq(futimens(fd, NULL), 0);
	close(fd);
	ck_assert_int_eq(mg_coredump_locate(&c, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, path) && strstr(out, "(1 bytes"), "%s", out);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* A child with a soft RLIMIT_CORE of 0 (what systemd gives libvirtd and so
 * QEMU) is aborted after mg_coredump_prepare: the kernel's own verdict
 * (WCOREDUMP) and what locate says must agree, and a file core must be
 * where locate says. */
START_TEST(test_aborted_child_core_is_found_where_the_kernel_put_it)
{
	char dir[] = "/tmp/mgcore.XXXXXX", out[2048], path[1024];
	struct mg_coredump c;
	struct rlimit rl;
	int status, r, pfd[2];
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		struct rlimit zero;

		getrlimit(RLIMIT_CORE, &zero);
		zero.rlim_cur = 0;
		if (chdir(dir) < 0 || setrlimit(RLIMIT_CORE, &zero) < 0)
			_exit(1);
		close(pfd[0]);
		close(pfd[1]);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	ck_assert_int_eq(read(pfd[0], out, 1), 0);	/* the child is set up */
	close(pfd[0]);

	ck_assert_int_eq(mg_coredump_prepare(pid, &c), 0);
	ck_assert_str_eq(c.cwd, dir);
	ck_assert_int_eq(prlimit(pid, RLIMIT_CORE, NULL, &rl), 0);
	if (c.pattern[0] != '|' && !c.no_core) {
		ck_assert_msg(strstr(c.limit, "raised from 0"), "%s", c.limit);
		ck_assert(rl.rlim_cur == rl.rlim_max);
	}
	ck_assert_int_eq(kill(pid, SIGABRT), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);

	r = mg_coredump_locate(&c, out, sizeof(out));
	if (c.pattern[0] == '|') {
		ck_assert_int_eq(r, 0);
		ck_assert_msg(strstr(out, "piped"), "%s", out);
	} else if (WCOREDUMP(status)) {
		struct stat st;

		ck_assert_msg(r == 0, "the kernel dumped a core but: %s", out);
		ck_assert_int_eq(sscanf(out, "core written to %1023s", path), 1);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_int_gt(st.st_size, 0);
		unlink(path);
	} else {
		ck_assert_msg(r == -ENOENT, "no core was dumped but: %s", out);
	}
	mg_coredump_release(&c);
	/* Anything else the pattern left in dir (none expected). */
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

START_TEST(test_prepare_on_a_gone_process_is_esrch)
{
	struct mg_coredump c;
	pid_t pid = fork();
	int status;

	if (pid == 0)
		_exit(0);
	waitpid(pid, &status, 0);
	ck_assert_int_eq(mg_coredump_prepare(pid, &c), -ESRCH);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("coredump");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_relative_pattern_is_taken_from_the_cwd);
	tcase_add_test(tc, test_core_uses_pid_appends_the_pid_unless_the_pattern_has_p);
	tcase_add_test(tc, test_specifiers_become_wildcards_and_literals_are_escaped);
	tcase_add_test(tc, test_pipe_or_too_long_pattern_has_no_file_glob);
	tcase_add_test(tc, test_pipe_helper_is_named_with_coredumpctl_hint);
	tcase_add_test(tc, test_an_older_core_is_not_taken_for_this_one);
	tcase_add_test(tc, test_aborted_child_core_is_found_where_the_kernel_put_it);
	tcase_add_test(tc, test_prepare_on_a_gone_process_is_esrch);
	suite_add_tcase(s, tc);
	return mg_check_run(s);
}
