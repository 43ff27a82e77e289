/* Unit tests of escape.c: what a terminal would obey (C0, DEL, C1, bytes
 * that are not UTF-8) comes out as \xNN, everything else as is; bounded
 * output is cut at a whole character and marked. */
#include "escape.h"
#include "util.h"

#include "mgcheck.h"
#include <stdlib.h>
#include <string.h>

START_TEST(test_c0_controls_and_del_become_hex)
{
	char buf[256];

	ck_assert_str_eq(mg_escape("a\x1b[2Jb", 0, buf, sizeof(buf)), "a\\x1b[2Jb");
	ck_assert_str_eq(mg_escape("\x01\x07\x7f\x1f", 0, buf, sizeof(buf)), "\\x01\\x07\\x7f\\x1f");
	ck_assert_str_eq(mg_escape("line\nnext\ttab\r", 0, buf, sizeof(buf)), "line\\x0anext\\x09tab\\x0d");
}
END_TEST

START_TEST(test_multiline_keeps_newline_and_tab_only)
{
	char buf[256];

	ck_assert_str_eq(mg_escape("a\nb\tc\r\x1b", MG_ESCAPE_MULTILINE, buf, sizeof(buf)), "a\nb\tc\\x0d\\x1b");
}
END_TEST

START_TEST(test_printable_ascii_and_utf8_are_copied)
{
	char buf[256], ascii[128];
	size_t n = 0;

	for (int c = 0x20; c < 0x7f; c++)
		ascii[n++] = (char)c;
	ascii[n] = '\0';
	ck_assert_str_eq(mg_escape(ascii, 0, buf, sizeof(buf)), ascii);
	/* é, €, 𝄞, U+00A0 (just past the C1 range) */
	ck_assert_str_eq(mg_escape("\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\xc2\xa0", 0, buf, sizeof(buf)),
			 "\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\xc2\xa0");
	ck_assert_str_eq(mg_escape(NULL, 0, buf, sizeof(buf)), "");
}
END_TEST

START_TEST(test_c1_controls_and_broken_utf8_become_hex)
{
	char buf[256];

	/* U+009B (CSI) in UTF-8, a lone 0x9b, a cut sequence, an overlong
	 * '/', a surrogate, a code point past U+10FFFF. */
	ck_assert_str_eq(mg_escape("\xc2\x9b" "1m", 0, buf, sizeof(buf)), "\\xc2\\x9b1m");
	ck_assert_str_eq(mg_escape("\x9b" "1m", 0, buf, sizeof(buf)), "\\x9b1m");
	ck_assert_str_eq(mg_escape("\xe2\x82", 0, buf, sizeof(buf)), "\\xe2\\x82");
	ck_assert_str_eq(mg_escape("\xc0\xaf", 0, buf, sizeof(buf)), "\\xc0\\xaf");
	ck_assert_str_eq(mg_escape("\xed\xa0\x80", 0, buf, sizeof(buf)), "\\xed\\xa0\\x80");
	ck_assert_str_eq(mg_escape("\xf4\x90\x80\x80", 0, buf, sizeof(buf)), "\\xf4\\x90\\x80\\x80");
}
END_TEST

START_TEST(test_escaping_twice_changes_nothing)
{
	static const char *const in[] = { "\x1b]0;owned\x07", "a\\x1bb", "\xc2\x9b\x9b\xff", "plain" };
	char once[256], twice[256];

	for (size_t i = 0; i < MG_ARRAY_SIZE(in); i++) {
		mg_escape(in[i], 0, once, sizeof(once));
		ck_assert_str_eq(mg_escape(once, 0, twice, sizeof(twice)), once);
	}
}
END_TEST

START_TEST(test_output_is_bounded_and_cut_at_a_whole_escape)
{
	char buf[12];

	memset(buf, 'Z', sizeof(buf));
	/* "ab" + \x1b + \x1b = 10 bytes + NUL fits in 12. */
	ck_assert_str_eq(mg_escape("ab\x1b\x1b", 0, buf, sizeof(buf)), "ab\\x1b\\x1b");
	/* One more escape does not fit: cut before it, never inside one. */
	ck_assert_str_eq(mg_escape("ab\x1b\x1b\x1b", 0, buf, sizeof(buf)), "ab\\x1b...");
	ck_assert_str_eq(mg_escape("abcdefghijklmnop", 0, buf, sizeof(buf)), "abcdefgh...");
	/* A multi-byte character is never split. */
	ck_assert_str_eq(mg_escape("abcdefg\xe2\x82\xac\xe2\x82\xac", 0, buf, sizeof(buf)), "abcdefg...");
	ck_assert_str_eq(mg_escape("abc", 0, buf, 1), "");
	ck_assert_str_eq(mg_escape("abc", 0, buf, 3), "");
	ck_assert_str_eq(mg_escape("ab", 0, buf, 3), "ab");
}
END_TEST

START_TEST(test_size_macro_holds_any_input)
{
	char in[16], out[MG_ESCAPE_SIZE(sizeof(in) - 1)];

	memset(in, 0x1b, sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	mg_escape(in, 0, out, sizeof(out));
	ck_assert_uint_eq(strlen(out), 4 * (sizeof(in) - 1));
	ck_assert_ptr_null(strstr(out, "..."));
}
END_TEST

START_TEST(test_fputs_escapes_long_text_whole)
{
	size_t n = 10000, len = 0;
	char *in = malloc(n + 1), *out = NULL;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(f);
	memset(in, 0x07, n);
	in[n] = '\0';
	mg_escape_fputs(in, 0, f);
	fclose(f);
	ck_assert_uint_eq(len, 4 * n);
	ck_assert_int_eq(strncmp(out, "\\x07\\x07", 8), 0);
	free(in);
	free(out);
}
END_TEST

static Suite *escape_suite(void)
{
	Suite *s = suite_create("escape");
	TCase *tc = tcase_create("escape");

	tcase_add_test(tc, test_c0_controls_and_del_become_hex);
	tcase_add_test(tc, test_multiline_keeps_newline_and_tab_only);
	tcase_add_test(tc, test_printable_ascii_and_utf8_are_copied);
	tcase_add_test(tc, test_c1_controls_and_broken_utf8_become_hex);
	tcase_add_test(tc, test_escaping_twice_changes_nothing);
	tcase_add_test(tc, test_output_is_bounded_and_cut_at_a_whole_escape);
	tcase_add_test(tc, test_size_macro_holds_any_input);
	tcase_add_test(tc, test_fputs_escapes_long_text_whole);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(escape_suite());
}
