/* mgloop.h - running a test's sd-event loop until something happened,
 * never a sleep: the loop runs until the condition holds or a bound
 * passes, and the test asserts which. */
#pragma once

#include <check.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "util.h"

/* Runs loop until cond(arg) holds or ms pass; whether it holds.  With a
 * NULL cond it runs the loop for ms. */
static inline bool mg_test_run_until_cond(sd_event *loop, bool (*cond)(void *arg), void *arg, unsigned ms)
{
	uint64_t deadline = mg_now_mono() + ms * MG_USEC_PER_MSEC;

	for (uint64_t now = mg_now_mono(); (!cond || !cond(arg)) && now < deadline; now = mg_now_mono())
		ck_assert_int_ge(sd_event_run(loop, deadline - now), 0);
	return !cond || cond(arg);
}

struct mg_test_flag {
	const int *flag;
	int want;
};

static inline bool mg_test_flag_reached(void *arg)
{
	const struct mg_test_flag *f = arg;

	return *f->flag >= f->want;
}

/* Runs loop until *flag >= want or ms pass; whether it got there.  With a
 * NULL flag it runs the loop for ms. */
static inline bool mg_test_run_until(sd_event *loop, const int *flag, int want, unsigned ms)
{
	struct mg_test_flag f = { flag, want };

	return mg_test_run_until_cond(loop, flag ? mg_test_flag_reached : NULL, &f, ms);
}
