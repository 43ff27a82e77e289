/* Unit tests of util.c's parse and format helpers. */
#include "util.h"

#include "mgcheck.h"
#include <errno.h>
#include <limits.h>
#include <string.h>

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
	return s;
}

int main(void)
{
	return mg_check_run(util_suite());
}
