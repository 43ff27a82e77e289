/* mgcheck.h - what every Check program here ends with: run the suite,
 * exit non-zero when a test failed. */
#pragma once

#include <check.h>
#include <stdlib.h>

static inline int mg_check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
