/* loopmon.h - how late the event loop is: a timer due every
 * MG_LOOPMON_PERIOD with 1 µs accuracy, whose dispatch time minus its due
 * time is the loop's lateness at that moment (anything that blocks the
 * loop - a slow callback, a blocking call - shows as lateness, and every
 * other timer, the watchdog ping and libvirt's keepalive are as late).
 * The maximum since start is kept; owners hear of a new maximum when it
 * grows by MG_LOOPMON_STEP or more, so a slowly creeping figure does not
 * rewrite files on every tick.
 *
 * On a loaded host a timer is also late because the loop's thread waited
 * for a CPU, which no design of the daemon can avoid: the kernel counts
 * that wait (run_delay, /proc/thread-self/schedstat), and the "own"
 * lateness is the lateness minus the wait since the due time (from the
 * last run_delay sample at or before it) - what the daemon's own
 * callbacks cost the loop.  A loop thread that is neither running nor
 * queued (its vCPU descheduled by a hypervisor) is not in run_delay: such
 * time counts as own.
 *
 * Other timers can stand in for the tick: a callback of a timer due at
 * `due` calls mg_loopmon_observe(), which measures the same way and moves
 * the tick MG_LOOPMON_PERIOD + MG_LOOPMON_SLACK ahead, so while probe
 * rounds run at least as often as the period (bench/detect's 100 ms) the
 * tick never wakes the loop by itself.
 *
 * Cost: at most one wake-up per period (10 per second), a clock read and
 * a schedstat read each. */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "util.h"

#define MG_LOOPMON_PERIOD (100 * MG_USEC_PER_MSEC)
#define MG_LOOPMON_STEP (1 * MG_USEC_PER_MSEC)
#define MG_LOOPMON_SLACK (MG_LOOPMON_PERIOD / 2)
#define MG_LOOPMON_SAMPLES 32

struct mg_loopmon;

/* changed (may be NULL) runs on the loop when a maximum grew. 0 or -errno.
 * Call it on the loop's thread (its schedstat is the one read). */
int mg_loopmon_new(sd_event *loop, void (*changed)(const struct mg_loopmon *lm, void *userdata), void *userdata,
		   struct mg_loopmon **out);
struct mg_loopmon *mg_loopmon_free(struct mg_loopmon *lm);
static inline void mg_loopmon_freep(struct mg_loopmon **lm) { if (*lm) mg_loopmon_free(*lm); }
/* The largest lateness seen since start, the largest own lateness (CPU
 * wait taken out), and the last lateness. */
uint64_t mg_loopmon_max(const struct mg_loopmon *lm);
uint64_t mg_loopmon_max_own(const struct mg_loopmon *lm);
uint64_t mg_loopmon_last(const struct mg_loopmon *lm);
/* How often its own timer fired (the others observed: tests, bench). */
uint64_t mg_loopmon_ticks(const struct mg_loopmon *lm);
/* Called from another timer's callback with that timer's due time (its
 * sd_event time callback's usec) and accuracy: measures the loop's
 * lateness there, beyond the accuracy (sd-event may fire a timer that much
 * after its due time by design, to coalesce wake-ups), and postpones the
 * tick (see above). */
void mg_loopmon_observe(struct mg_loopmon *lm, uint64_t due, uint64_t accuracy);
/* Feeds one measurement: the lateness and the CPU wait within it (for the
 * timer, and for tests). */
void mg_loopmon_note(struct mg_loopmon *lm, uint64_t late_usec, uint64_t cpu_wait_usec);
