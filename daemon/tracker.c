/* tracker.c - see tracker.h.  The rules, from DESIGN.md section 4:
 *  - source: "finishing" while query-status says finish-migrate, or while a
 *    migration runs and the monitor has left a request unanswered for
 *    monitor_timeout (query-status is dispatched under the BQL, so silence
 *    means the BQL is held), or while the /proc probe sees the main thread
 *    waiting on a mutex owned by live_migration for monitor_timeout.
 *    Finishing for finish_timeout is HUNG.  The migration status is not
 *    used to see the phase: libvirt sets pause-before-switchover and the
 *    storage-stall hang comes before pre-switchover, with the status still
 *    "active" while the run state is finish-migrate.
 *  - destination: STALLED when the incoming QEMU has read nothing for
 *    incoming_timeout.
 *  - post-copy is never declared hung or stalled. */
#include "tracker.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *mg_phase_to_string(enum mg_phase p)
{
	switch (p) {
	case MG_PHASE_ACTIVE: return "active";
	case MG_PHASE_FINISHING: return "finishing";
	case MG_PHASE_HUNG: return "hung";
	case MG_PHASE_STALLED: return "stalled";
	case MG_PHASE_POSTCOPY: return "postcopy";
	case MG_PHASE_COMPLETED: return "completed";
	case MG_PHASE_FAILED: return "failed";
	case MG_PHASE_CANCELLED: return "cancelled";
	}
	return "unknown";
}

const char *mg_direction_to_string(enum mg_direction d)
{
	return d == MG_DIR_OUT ? "outgoing" : "incoming";
}

bool mg_phase_is_final(enum mg_phase p)
{
	return p == MG_PHASE_COMPLETED || p == MG_PHASE_FAILED || p == MG_PHASE_CANCELLED;
}

static void vnote(struct mg_track *t, uint64_t now, const char *fmt, va_list ap)
{
	struct mg_track_event *e;

	if (t->n_timeline == MG_TRACK_TIMELINE_MAX) {
		/* Keep the first entry (how tracking began); drop the oldest
		 * after it. */
		memmove(&t->timeline[1], &t->timeline[2],
			(MG_TRACK_TIMELINE_MAX - 2) * sizeof(t->timeline[0]));
		t->n_timeline--;
		t->dropped++;
	}
	e = &t->timeline[t->n_timeline++];
	e->at = now;
	e->phase = t->phase;
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
}

void mg_track_note(struct mg_track *t, uint64_t now, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(t, now, fmt, ap);
	va_end(ap);
}

static void set_phase(struct mg_track *t, enum mg_phase p, uint64_t now, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_phase(struct mg_track *t, enum mg_phase p, uint64_t now, const char *fmt, ...)
{
	va_list ap;

	t->phase = p;
	t->phase_since = now;
	va_start(ap, fmt);
	vnote(t, now, fmt, ap);
	va_end(ap);
}

void mg_track_init(struct mg_track *t, enum mg_direction dir, const struct mg_track_limits *limits,
		   uint64_t now, const char *why)
{
	memset(t, 0, sizeof(*t));
	t->direction = dir;
	t->limits = *limits;
	t->started_at = now;
	t->last_progress_at = now;
	set_phase(t, MG_PHASE_ACTIVE, now, "%s migration tracked: %s", mg_direction_to_string(dir), why);
}

static double secs(uint64_t usec) { return (double)usec / 1e6; }

/* Evidence times come from other clocks reads (the probes) and may be a
 * little later than the sample time: an age is never negative. */
static uint64_t age(uint64_t at, uint64_t since) { return at > since ? at - since : 0; }

enum mg_track_change mg_track_end(struct mg_track *t, enum mg_phase final, uint64_t now, const char *why)
{
	if (mg_phase_is_final(t->phase))
		return MG_TRACK_UNCHANGED;
	set_phase(t, final, now, "migration %s after %.1f s: %s", mg_phase_to_string(final),
		  secs(age(now, t->started_at)), why);
	return MG_TRACK_ENDED;
}

enum mg_track_change mg_track_on_status(struct mg_track *t, const char *status, uint64_t now,
					const char *source)
{
	if (mg_phase_is_final(t->phase) || !status)
		return MG_TRACK_UNCHANGED;
	if (strcmp(status, "completed") == 0)
		return mg_track_end(t, MG_PHASE_COMPLETED, now, source);
	if (strcmp(status, "failed") == 0)
		return mg_track_end(t, MG_PHASE_FAILED, now, source);
	if (strcmp(status, "cancelled") == 0)
		return mg_track_end(t, MG_PHASE_CANCELLED, now, source);
	if (strncmp(status, "postcopy", 8) == 0 && t->phase != MG_PHASE_POSTCOPY) {
		set_phase(t, MG_PHASE_POSTCOPY, now, "post-copy (%s, from %s): the ladder never acts, the post-copy guard watches the link",
			  status, source);
		t->finishing_since = 0;
		return MG_TRACK_PHASE_CHANGED;
	}
	return MG_TRACK_UNCHANGED;
}

/* Collects the finishing evidence of one sample: the earliest time it
 * reaches back to, and the reasons, or 0 when the sample shows none. */
static uint64_t finishing_evidence(const struct mg_track *t, const struct mg_probe_sample *s,
				   char *why, size_t size)
{
	uint64_t since = 0;
	size_t len = 0;

	why[0] = '\0';
	if (s->status_valid && strcmp(s->run_state, "finish-migrate") == 0) {
		since = t->finishing_since ? t->finishing_since : s->at;
		len += (size_t)snprintf(why + len, size - len, "run state finish-migrate");
	}
	if (s->unresponsive_since && (s->unresponsive_direct || !t->bql_seen_free) &&
	    age(s->at, s->unresponsive_since) >= t->limits.monitor_timeout) {
		/* libvirt's silence counts from when the BQL was seen held, not
		 * from the request that waited on a busy libvirt before. */
		uint64_t from = !s->unresponsive_direct && t->bql_held_since > s->unresponsive_since ?
					t->bql_held_since : s->unresponsive_since;

		if (!since || from < since)
			since = from;
		if (len < size)
			len += (size_t)snprintf(why + len, size - len, "%smonitor unresponsive for %.1f s",
						len ? "; " : "", secs(age(s->at, s->unresponsive_since)));
	}
	if (s->bql_valid && s->bql_held_by_migration && s->bql_since &&
	    age(s->at, s->bql_since) >= t->limits.monitor_timeout) {
		if (!since || s->bql_since < since)
			since = s->bql_since;
		if (len < size)
			snprintf(why + len, size - len, "%sBQL held by live_migration (%d) for %.1f s",
				 len ? "; " : "", (int)s->bql_owner, secs(age(s->at, s->bql_since)));
	}
	return since;
}

/* True when the sample shows QEMU answering and out of finish-migrate. */
static bool clearly_not_finishing(const struct mg_probe_sample *s)
{
	return s->status_valid && !s->unresponsive_since &&
	       strcmp(s->run_state, "finish-migrate") != 0 &&
	       !(s->bql_valid && s->bql_held_by_migration);
}

static enum mg_track_change check_hung(struct mg_track *t, uint64_t now)
{
	if (t->phase != MG_PHASE_FINISHING || !t->finishing_since ||
	    age(now, t->finishing_since) < t->limits.finish_timeout)
		return MG_TRACK_UNCHANGED;
	t->hung_at = now;
	set_phase(t, MG_PHASE_HUNG, now, "HUNG: finishing for %.1f s (timeout %.1f s): %s",
		  secs(age(now, t->finishing_since)), secs(t->limits.finish_timeout), t->finishing_reason);
	return MG_TRACK_BECAME_HUNG;
}

static enum mg_track_change sample_outgoing(struct mg_track *t, const struct mg_probe_sample *s)
{
	char why[MG_TRACK_TEXT_MAX];
	uint64_t since;

	if (t->phase == MG_PHASE_POSTCOPY)
		return MG_TRACK_UNCHANGED;
	since = finishing_evidence(t, s, why, sizeof(why));
	if (since) {
		bool entering = t->phase == MG_PHASE_ACTIVE;

		snprintf(t->finishing_reason, sizeof(t->finishing_reason), "%s", why);
		if (!t->finishing_since || since < t->finishing_since)
			t->finishing_since = since;
		if (entering)
			set_phase(t, MG_PHASE_FINISHING, s->at, "finishing: %s", why);
		if (check_hung(t, s->at) == MG_TRACK_BECAME_HUNG)
			return MG_TRACK_BECAME_HUNG;
		return entering ? MG_TRACK_PHASE_CHANGED : MG_TRACK_UNCHANGED;
	}
	if (clearly_not_finishing(s)) {
		if (t->phase == MG_PHASE_FINISHING) {
			set_phase(t, MG_PHASE_ACTIVE, s->at, "left finish-migrate after %.1f s (run state %s)",
				  secs(age(s->at, t->finishing_since)), s->run_state);
			t->finishing_since = 0;
			return MG_TRACK_PHASE_CHANGED;
		}
		if (t->phase == MG_PHASE_HUNG && !t->finishing_since)
			return MG_TRACK_UNCHANGED;
		if (t->phase == MG_PHASE_HUNG) {
			mg_track_note(t, s->at, "QEMU answers again (run state %s)", s->run_state);
			t->finishing_since = 0;
		}
	}
	return MG_TRACK_UNCHANGED;
}

static enum mg_track_change sample_incoming(struct mg_track *t, const struct mg_probe_sample *s)
{
	if (s->io_valid && (!t->io_seen || s->io_bytes != t->last_io_bytes)) {
		if (t->phase == MG_PHASE_STALLED)
			mg_track_note(t, s->at, "incoming progress again (%llu bytes read)",
				      (unsigned long long)s->io_bytes);
		t->io_seen = true;
		t->last_io_bytes = s->io_bytes;
		t->last_progress_at = s->at;
	}
	return mg_track_on_tick(t, s->at);
}

enum mg_track_change mg_track_on_sample(struct mg_track *t, const struct mg_probe_sample *s)
{
	enum mg_track_change c;

	if (mg_phase_is_final(t->phase))
		return MG_TRACK_UNCHANGED;
	if (s->bql_valid) {
		t->bql_seen_free = !s->bql_held_by_migration;
		t->bql_held_since = s->bql_held_by_migration ? s->bql_since : 0;
	}
	if (s->migrate_valid) {
		c = mg_track_on_status(t, s->migration_status, s->at, "query-migrate");
		if (c != MG_TRACK_UNCHANGED)
			return c;
	}
	return t->direction == MG_DIR_OUT ? sample_outgoing(t, s) : sample_incoming(t, s);
}

enum mg_track_change mg_track_on_tick(struct mg_track *t, uint64_t now)
{
	if (t->direction == MG_DIR_OUT)
		return check_hung(t, now);
	if (t->phase != MG_PHASE_ACTIVE || age(now, t->last_progress_at) < t->limits.incoming_timeout)
		return MG_TRACK_UNCHANGED;
	set_phase(t, MG_PHASE_STALLED, now, "STALLED: incoming migration made no progress for %.1f s (timeout %.1f s)",
		  secs(age(now, t->last_progress_at)), secs(t->limits.incoming_timeout));
	return MG_TRACK_BECAME_STALLED;
}

uint64_t mg_track_next_deadline(const struct mg_track *t)
{
	if (t->direction == MG_DIR_OUT)
		return t->phase == MG_PHASE_FINISHING ? t->finishing_since + t->limits.finish_timeout : 0;
	return t->phase == MG_PHASE_ACTIVE ? t->last_progress_at + t->limits.incoming_timeout : 0;
}
