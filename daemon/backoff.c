/* backoff.c - see backoff.h. */
#include "backoff.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>

int mg_backoff_init(struct mg_backoff *b, sd_event *loop, const char *what, uint64_t min, uint64_t max,
		    sd_event_time_handler_t fn, void *userdata)
{
	int r;

	*b = (struct mg_backoff){ .min = min, .max = max < min ? min : max, .delay = min };
	snprintf(b->what, sizeof(b->what), "%s", what);
	r = sd_event_add_time(loop, &b->timer, CLOCK_MONOTONIC, 0, 0, fn, userdata);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(b->timer, SD_EVENT_OFF);
}

void mg_backoff_done(struct mg_backoff *b)
{
	b->timer = sd_event_source_disable_unref(b->timer);
}

bool mg_backoff_pending(const struct mg_backoff *b)
{
	int state = SD_EVENT_OFF;

	return b->timer && sd_event_source_get_enabled(b->timer, &state) >= 0 && state != SD_EVENT_OFF;
}

int mg_backoff_schedule(struct mg_backoff *b)
{
	int r;

	if (mg_backoff_pending(b))
		return 0;
	r = b->timer ? sd_event_source_set_time_relative(b->timer, b->delay) : -EINVAL;
	if (r >= 0)
		r = sd_event_source_set_enabled(b->timer, SD_EVENT_ONESHOT);
	if (r < 0) {
		if (!b->failing)
			mg_error_errno(r, "%s: cannot arm the retry timer", b->what);
		b->failing = true;
		return r;
	}
	b->failing = false;
	b->delay = b->delay > b->max / 2 ? b->max : b->delay * 2;
	return 0;
}

void mg_backoff_reset(struct mg_backoff *b)
{
	b->delay = b->min;
}

void mg_backoff_cancel(struct mg_backoff *b)
{
	if (b->timer)
		sd_event_source_set_enabled(b->timer, SD_EVENT_OFF);
}
