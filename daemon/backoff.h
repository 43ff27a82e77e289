/* backoff.h - one retry timer with exponential backoff, in one place
 * (collectd's utils_backoff.h: init / next / reset), for the libvirt
 * reconnect (virt.c) and the direct monitor's reconnect (monitor.c).
 *
 * The timer is allocated once, at init, so arming it later needs no
 * allocation; should arming still fail (sd-event refuses), the failure is
 * logged once per episode, the delay is not doubled, and the caller's own
 * retry path takes over (each caller's header says which). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct mg_backoff {
	sd_event_source *timer;		/* one-shot, off while idle */
	uint64_t min, max;
	uint64_t delay;			/* the next wait */
	bool failing;			/* arming failed, logged; until the next success */
	char what[64];			/* for the log */
};

/* Sets b up on loop: the first wait is min, each next one twice the last,
 * up to max; fn runs when a wait is over.  0 or a negative errno. */
int mg_backoff_init(struct mg_backoff *b, sd_event *loop, const char *what, uint64_t min, uint64_t max,
		    sd_event_time_handler_t fn, void *userdata);
/* Frees the timer; b may be zeroed or already done. */
void mg_backoff_done(struct mg_backoff *b);

/* The wait the next mg_backoff_schedule() arms. */
static inline uint64_t mg_backoff_delay(const struct mg_backoff *b) { return b->delay; }
/* True while a wait is armed. */
bool mg_backoff_pending(const struct mg_backoff *b);
/* Arms the wait for the current delay, then doubles the delay (up to max).
 * Already armed: 0, nothing changes.  A negative errno when the timer
 * cannot be armed (logged once until a schedule succeeds; the delay stays). */
int mg_backoff_schedule(struct mg_backoff *b);
/* Success (connected): the next wait is min again.  An armed wait stays. */
void mg_backoff_reset(struct mg_backoff *b);
/* Disarms a pending wait; the delay stays. */
void mg_backoff_cancel(struct mg_backoff *b);
