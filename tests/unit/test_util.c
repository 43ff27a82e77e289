/* Unit tests of util.c's parse and format helpers, and of its file
 * helpers against files planted by another user (real FIFOs, symlinks). */
#include "util.h"

#include "mgcheck.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

START_TEST(test_duration_units_parse_to_usec)
{
	static const struct { const char *s; uint64_t usec; } cases[] = {
		{ "0", 0 }, { "7", 7 * MG_USEC_PER_SEC }, { "250us", 250 },
		{ "250ms", 250 * MG_USEC_PER_MSEC }, { "3s", 3 * MG_USEC_PER_SEC },
		{ "2m", 120 * MG_USEC_PER_SEC }, { "2min", 120 * MG_USEC_PER_SEC },
		{ "1h", 3600 * MG_USEC_PER_SEC }, { "30d", 30 * 86400 * MG_USEC_PER_SEC },
		{ "5 s", 5 * MG_USEC_PER_SEC },
	};

	for (size_t i = 0; i < MG_ARRAY_SIZE(cases); i++) {
		uint64_t v = 12345;

		ck_assert_msg(mg_parse_duration(cases[i].s, &v) == 0, "%s", cases[i].s);
		ck_assert_msg(v == cases[i].usec, "%s -> %llu", cases[i].s, (unsigned long long)v);
	}
}
END_TEST

START_TEST(test_duration_garbage_is_einval_and_leaves_output)
{
	static const char *const bad[] = { "", "abc", "-1s", "+1s", "1x", "1sec", "s", "1.5s", "1s ", "ms" };

	for (size_t i = 0; i < MG_ARRAY_SIZE(bad); i++) {
		uint64_t v = 42;

		ck_assert_msg(mg_parse_duration(bad[i], &v) == -EINVAL, "\"%s\"", bad[i]);
		ck_assert_uint_eq(v, 42);
	}
	ck_assert_int_eq(mg_parse_duration(NULL, &(uint64_t){ 0 }), -EINVAL);
}
END_TEST

START_TEST(test_duration_overflow_is_erange)
{
	uint64_t v;

	ck_assert_int_eq(mg_parse_duration("99999999999999999999999s", &v), -ERANGE);
	ck_assert_int_eq(mg_parse_duration("18446744073709551615d", &v), -ERANGE);
	ck_assert_int_eq(mg_parse_duration("18446744073709551615us", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(test_duration_formats_in_largest_exact_unit)
{
	static const struct { uint64_t usec; const char *s; } cases[] = {
		{ 0, "0s" }, { 1, "1us" }, { 1500, "1500us" }, { 250 * MG_USEC_PER_MSEC, "250ms" },
		{ 1500 * MG_USEC_PER_MSEC, "1500ms" }, { 3 * MG_USEC_PER_SEC, "3s" },
		{ 90 * MG_USEC_PER_SEC, "90s" }, { 60 * MG_USEC_PER_SEC, "1m" },
		{ 7200 * MG_USEC_PER_SEC, "2h" }, { 86400 * MG_USEC_PER_SEC, "1d" },
		{ 90 * 86400 * MG_USEC_PER_SEC, "90d" },
	};
	char buf[32];

	for (size_t i = 0; i < MG_ARRAY_SIZE(cases); i++)
		ck_assert_str_eq(mg_format_duration(cases[i].usec, buf, sizeof(buf)), cases[i].s);
}
END_TEST

START_TEST(test_duration_format_parses_back_exactly)
{
	static const uint64_t values[] = {
		0, 1, 999, 1000, 1001, 999999, MG_USEC_PER_SEC, 61 * MG_USEC_PER_SEC,
		3601 * MG_USEC_PER_SEC, 86400 * MG_USEC_PER_SEC, 3650 * 86400 * MG_USEC_PER_SEC,
		UINT64_MAX,
	};
	char buf[32];

	for (size_t i = 0; i < MG_ARRAY_SIZE(values); i++) {
		uint64_t back = 0;

		mg_format_duration(values[i], buf, sizeof(buf));
		ck_assert_msg(mg_parse_duration(buf, &back) == 0, "%s", buf);
		ck_assert_msg(back == values[i], "%s", buf);
	}
}
END_TEST

START_TEST(test_bool_accepts_the_usual_spellings)
{
	static const char *const yes[] = { "yes", "YES", "true", "True", "on", "1" };
	static const char *const no[] = { "no", "No", "false", "FALSE", "off", "0" };
	static const char *const bad[] = { "", "y", "n", "2", "maybe", "yes " };

	for (size_t i = 0; i < MG_ARRAY_SIZE(yes); i++)
		ck_assert_msg(mg_parse_bool(yes[i]) == 1, "%s", yes[i]);
	for (size_t i = 0; i < MG_ARRAY_SIZE(no); i++)
		ck_assert_msg(mg_parse_bool(no[i]) == 0, "%s", no[i]);
	for (size_t i = 0; i < MG_ARRAY_SIZE(bad); i++)
		ck_assert_msg(mg_parse_bool(bad[i]) == -EINVAL, "\"%s\"", bad[i]);
}
END_TEST

START_TEST(test_int_range_bounds_are_inclusive)
{
	long long v = 7;

	ck_assert_int_eq(mg_parse_int("1", 1, 10, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(mg_parse_int("10", 1, 10, &v), 0);
	ck_assert_int_eq(v, 10);
	ck_assert_int_eq(mg_parse_int("-5", -10, 10, &v), 0);
	ck_assert_int_eq(v, -5);
	v = 7;
	ck_assert_int_eq(mg_parse_int("0", 1, 10, &v), -ERANGE);
	ck_assert_int_eq(mg_parse_int("11", 1, 10, &v), -ERANGE);
	ck_assert_int_eq(mg_parse_int("99999999999999999999", LLONG_MIN, LLONG_MAX, &v), -ERANGE);
	ck_assert_int_eq(v, 7);
}
END_TEST

START_TEST(test_int_garbage_is_einval)
{
	static const char *const bad[] = { "", "abc", "12abc", "1.5", "1 " };
	long long v = 7;

	for (size_t i = 0; i < MG_ARRAY_SIZE(bad); i++)
		ck_assert_msg(mg_parse_int(bad[i], 0, 100, &v) == -EINVAL, "\"%s\"", bad[i]);
	ck_assert_int_eq(mg_parse_int(NULL, 0, 100, &v), -EINVAL);
	ck_assert_int_eq(v, 7);
}
END_TEST

START_TEST(test_utc_format_has_milliseconds_and_z)
{
	char buf[40];

	/* 2021-01-02T03:04:05.678Z */
	ck_assert_str_eq(mg_format_utc(UINT64_C(1609556645678901), buf, sizeof(buf)),
			 "2021-01-02T03:04:05.678Z");
}
END_TEST

/* Runs fn(arg) in a child killed by SIGALRM after 2 s, so that a call that
 * blocks fails the test instead of hanging it; returns the child's status. */
static int run_bounded(int (*fn)(const char *), const char *arg)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(2);
		_exit(fn(arg) == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static int write_prom(const char *path)
{
	return mg_write_file_atomic(path, "m 1\n", 4, 0644, false);
}

static int read_prom(const char *path)
{
	char buf[64];

	return mg_read_file(path, buf, sizeof(buf)) == -EINVAL ? 0 : 1;
}

/* The directory's entries other than "." and "..", one per line. */
static void list_dir(const char *path, char *out, size_t size)
{
	DIR *d = opendir(path);
	struct dirent *e;
	size_t len = 0;

	ck_assert_ptr_nonnull(d);
	out[0] = '\0';
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			len += (size_t)snprintf(out + len, size - len, "%s\n", e->d_name);
	closedir(d);
}

START_TEST(test_atomic_write_is_not_blocked_by_a_fifo_at_the_old_temporary_name)
{
	char dir[] = "/tmp/mgutil.XXXXXX", path[128], fifo[128], link[128], names[512], buf[64];
	struct stat st;
	int status;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/m.prom", dir);
	/* The name the writer used to open with O_CREAT and no O_EXCL: a FIFO
	 * there blocked the daemon in open() forever. */
	snprintf(fifo, sizeof(fifo), "%s/.m.prom.tmp", dir);
	ck_assert_int_eq(mkfifo(fifo, 0666), 0);
	status = run_bounded(write_prom, path);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the write did not return (status 0x%x)", (unsigned)status);
	ck_assert_int_eq(mg_read_file(path, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "m 1\n");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	/* The planted FIFO is left alone and the writer leaves nothing. */
	ck_assert_int_eq(lstat(fifo, &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	list_dir(dir, names, sizeof(names));
	ck_assert_msg(strlen(names) == strlen(".m.prom.tmp\nm.prom\n") && strstr(names, ".m.prom.tmp\n") &&
		      (strncmp(names, "m.prom\n", 7) == 0 || strstr(names, "\nm.prom\n")), "%s", names);

	/* A symlink at the old name is not followed either. */
	ck_assert_int_eq(unlink(fifo), 0);
	snprintf(link, sizeof(link), "%s/victim", dir);
	ck_assert_int_eq(symlink(link, fifo), 0);
	ck_assert_int_eq(write_prom(path), 0);
	ck_assert_int_eq(access(link, F_OK), -1);

	snprintf(names, sizeof(names), "rm -rf %s", dir);
	ck_assert_int_eq(system(names), 0);
}
END_TEST

START_TEST(test_read_file_refuses_a_fifo_without_blocking)
{
	char dir[] = "/tmp/mgutil.XXXXXX", fifo[128], cmd[128];
	int status;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/status.json", dir);
	ck_assert_int_eq(mkfifo(fifo, 0666), 0);
	status = run_bounded(read_prom, fifo);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the read blocked or read the FIFO (status 0x%x)", (unsigned)status);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_duration_units_parse_to_usec);
	tcase_add_test(tc, test_duration_garbage_is_einval_and_leaves_output);
	tcase_add_test(tc, test_duration_overflow_is_erange);
	tcase_add_test(tc, test_duration_formats_in_largest_exact_unit);
	tcase_add_test(tc, test_duration_format_parses_back_exactly);
	tcase_add_test(tc, test_bool_accepts_the_usual_spellings);
	tcase_add_test(tc, test_int_range_bounds_are_inclusive);
	tcase_add_test(tc, test_int_garbage_is_einval);
	tcase_add_test(tc, test_utc_format_has_milliseconds_and_z);
	suite_add_tcase(s, tc);
	tc = tcase_create("files");
	tcase_add_test(tc, test_atomic_write_is_not_blocked_by_a_fifo_at_the_old_temporary_name);
	tcase_add_test(tc, test_read_file_refuses_a_fifo_without_blocking);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(util_suite());
}
