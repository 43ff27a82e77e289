/* loopmon.c - see loopmon.h. */
#include "loopmon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct mg_loopmon {
	sd_event_source *timer;
	void (*changed)(const struct mg_loopmon *lm, void *userdata);
	void *userdata;
	uint64_t max, max_own, last, reported, reported_own;
	int schedstat_fd;		/* -1: the CPU wait is not known (counted as 0) */
	/* The thread's run_delay (ns) read at each measurement, with when
	 * (µs): a measurement's CPU wait is counted from the last sample at
	 * or before its due time.  With several timers measuring, "since the
	 * last read" gave one sample the wait another was late by. */
	struct { uint64_t at, ns; } samples[MG_LOOPMON_SAMPLES];
	unsigned next_sample, n_samples;
	uint64_t ticks;
};

void mg_loopmon_note(struct mg_loopmon *lm, uint64_t late, uint64_t cpu_wait)
{
	uint64_t own = late > cpu_wait ? late - cpu_wait : 0;
	bool grew = false;

	lm->last = late;
	if (late > lm->max) {
		lm->max = late;
		grew |= lm->max >= lm->reported + MG_LOOPMON_STEP;
	}
	if (own > lm->max_own) {
		lm->max_own = own;
		grew |= lm->max_own >= lm->reported_own + MG_LOOPMON_STEP;
	}
	if (grew) {
		lm->reported = lm->max;
		lm->reported_own = lm->max_own;
		if (lm->changed)
			lm->changed(lm, lm->userdata);
	}
}

/* Nanoseconds this thread has waited on a run queue (schedstat field 2). */
static int read_run_delay(int fd, uint64_t *out)
{
	char buf[96];
	unsigned long long run, wait;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
		return -EINVAL;
	*out = wait;
	return 0;
}

static void add_sample(struct mg_loopmon *lm, uint64_t at, uint64_t ns)
{
	lm->samples[lm->next_sample] = (typeof(lm->samples[0])){ at, ns };
	lm->next_sample = (lm->next_sample + 1) % MG_LOOPMON_SAMPLES;
	if (lm->n_samples < MG_LOOPMON_SAMPLES)
		lm->n_samples++;
}

/* run_delay at the latest sample taken at or before due; when every kept
 * sample is newer, the oldest (the wait before it is then not subtracted:
 * the lateness counts as the daemon's own, never the reverse). */
static uint64_t baseline(const struct mg_loopmon *lm, uint64_t due)
{
	uint64_t best_at = 0, best = 0, oldest_at = UINT64_MAX, oldest = 0;
	bool found = false;

	for (unsigned i = 0; i < lm->n_samples; i++) {
		uint64_t at = lm->samples[i].at;

		if (at <= due && (!found || at > best_at)) {
			best_at = at;
			best = lm->samples[i].ns;
			found = true;
		}
		if (at < oldest_at) {
			oldest_at = at;
			oldest = lm->samples[i].ns;
		}
	}
	return found ? best : oldest;
}

/* Returns now. */
static uint64_t measure(struct mg_loopmon *lm, uint64_t due)
{
	/* Not sd_event_now(): that is when the loop woke, before the callbacks
	 * dispatched ahead of this one ran. */
	uint64_t now = mg_now_mono(), rd, wait = 0;

	/* Read every time (reading only when late was tried: the first
	 * system call after a wake-up runs cold whichever it is, and the
	 * round's own reads then paid what this one saved). */
	if (lm->schedstat_fd >= 0 && read_run_delay(lm->schedstat_fd, &rd) == 0) {
		uint64_t base = baseline(lm, due);

		wait = rd > base ? (rd - base) / 1000 : 0;
		add_sample(lm, now, rd);
	}
	mg_loopmon_note(lm, now > due ? now - due : 0, wait);
	return now;
}

static int on_tick(sd_event_source *s, uint64_t due, void *userdata)
{
	struct mg_loopmon *lm = userdata;
	uint64_t now = measure(lm, due);
	int r;

	lm->ticks++;
	/* Due a period after now, not after due: a stall must not be followed
	 * by a burst of catch-up ticks. */
	r = sd_event_source_set_time(s, now + MG_LOOPMON_PERIOD);
	if (r >= 0)
		r = sd_event_source_set_enabled(s, SD_EVENT_ON);
	return r;
}

void mg_loopmon_observe(struct mg_loopmon *lm, uint64_t due, uint64_t accuracy)
{
	uint64_t now = measure(lm, due + accuracy);

	/* The slack keeps the tick behind a timer re-armed a period from its
	 * own dispatch, which comes a little after this call. */
	(void)sd_event_source_set_time(lm->timer, now + MG_LOOPMON_PERIOD + MG_LOOPMON_SLACK);
}

int mg_loopmon_new(sd_event *loop, void (*changed)(const struct mg_loopmon *lm, void *userdata), void *userdata,
		   struct mg_loopmon **out)
{
	uint64_t rd = 0;
	struct mg_loopmon *lm = calloc(1, sizeof(*lm));
	int r;

	if (!lm)
		return -ENOMEM;
	lm->changed = changed;
	lm->userdata = userdata;
	/* Without it (a kernel without schedstats) all lateness counts as own. */
	lm->schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	if (lm->schedstat_fd >= 0 && read_run_delay(lm->schedstat_fd, &rd) < 0) {
		close(lm->schedstat_fd);
		lm->schedstat_fd = -1;
	} else if (lm->schedstat_fd >= 0) {
		add_sample(lm, mg_now_mono(), rd);
	}
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
		if (lm->schedstat_fd >= 0)
			close(lm->schedstat_fd);
		free(lm);
	}
	return NULL;
}

uint64_t mg_loopmon_max(const struct mg_loopmon *lm) { return lm->max; }
uint64_t mg_loopmon_max_own(const struct mg_loopmon *lm) { return lm->max_own; }
uint64_t mg_loopmon_last(const struct mg_loopmon *lm) { return lm->last; }
uint64_t mg_loopmon_ticks(const struct mg_loopmon *lm) { return lm->ticks; }
