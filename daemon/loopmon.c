/* loopmon.c - see loopmon.h. */
#include "loopmon.h"

#include <errno.h>
#include <stdlib.h>

struct mg_loopmon {
	sd_event_source *timer;
	void (*changed)(uint64_t max_usec, void *userdata);
	void *userdata;
	uint64_t max, last, reported;
};

void mg_loopmon_note(struct mg_loopmon *lm, uint64_t late)
{
	lm->last = late;
	if (late <= lm->max)
		return;
	lm->max = late;
	if (lm->max >= lm->reported + MG_LOOPMON_STEP) {
		lm->reported = lm->max;
		if (lm->changed)
			lm->changed(lm->max, lm->userdata);
	}
}

static int on_tick(sd_event_source *s, uint64_t due, void *userdata)
{
	struct mg_loopmon *lm = userdata;
	/* Not sd_event_now(): that is when the loop woke, before the callbacks
	 * dispatched ahead of this one ran. */
	uint64_t now = mg_now_mono();
	int r;

	mg_loopmon_note(lm, now > due ? now - due : 0);
	/* Due a period after now, not after due: a stall must not be followed
	 * by a burst of catch-up ticks. */
	r = sd_event_source_set_time(s, now + MG_LOOPMON_PERIOD);
	if (r >= 0)
		r = sd_event_source_set_enabled(s, SD_EVENT_ON);
	return r;
}

int mg_loopmon_new(sd_event *loop, void (*changed)(uint64_t max_usec, void *userdata), void *userdata,
		   struct mg_loopmon **out)
{
	struct mg_loopmon *lm = calloc(1, sizeof(*lm));
	int r;

	if (!lm)
		return -ENOMEM;
	lm->changed = changed;
	lm->userdata = userdata;
	r = sd_event_add_time(loop, &lm->timer, CLOCK_MONOTONIC, mg_now_mono() + MG_LOOPMON_PERIOD, 1, on_tick,
			      lm);
	if (r >= 0)
		r = sd_event_source_set_enabled(lm->timer, SD_EVENT_ON);
	if (r < 0) {
		mg_loopmon_free(lm);
		return r;
	}
	/* Ahead of other sources due at the same time: measure, do not wait. */
	(void)sd_event_source_set_priority(lm->timer, SD_EVENT_PRIORITY_IMPORTANT);
	*out = lm;
	return 0;
}

struct mg_loopmon *mg_loopmon_free(struct mg_loopmon *lm)
{
	if (lm) {
		sd_event_source_disable_unref(lm->timer);
		free(lm);
	}
	return NULL;
}

uint64_t mg_loopmon_max(const struct mg_loopmon *lm) { return lm->max; }
uint64_t mg_loopmon_last(const struct mg_loopmon *lm) { return lm->last; }
