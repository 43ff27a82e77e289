/* mgcheck.h - what every Check program here ends with: run the suite,
 * exit non-zero when a test failed; and a scratch directory per test. */
#pragma once

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int mg_check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* A fresh directory /tmp/mg-test-NAME.XXXXXX in buf (a fixture's setup). */
static inline void mg_test_mkdtemp(char *buf, size_t size, const char *name)
{
	ck_assert_int_lt(snprintf(buf, size, "/tmp/mg-test-%s.XXXXXX", name), (int)size);
	ck_assert_ptr_nonnull(mkdtemp(buf));
}

/* Removes path and everything below it (a fixture's teardown). */
static inline void mg_test_rm_rf(const char *path)
{
	char *cmd = NULL;

	ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", path), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

/* A pid that no process has now: a child that exited and was reaped (until
 * the pid is reused, which no test waits long enough to see). */
static inline pid_t mg_test_dead_pid(void)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}
