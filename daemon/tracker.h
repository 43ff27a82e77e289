/* tracker.h - the per-domain migration state machine of DESIGN.md section 4.
 * Pure logic: it is fed probe samples and libvirt/QMP migration signals with
 * their (monotonic) times, keeps the phase and a timeline of evidence, and
 * says when a migration is HUNG (source) or STALLED (destination).  The
 * timers and the probes that feed it live in watch.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MG_TRACK_TIMELINE_MAX 64
#define MG_TRACK_TEXT_MAX 192

enum mg_direction { MG_DIR_OUT, MG_DIR_IN };

enum mg_phase {
	MG_PHASE_ACTIVE,	/* migrating, guest still running */
	MG_PHASE_FINISHING,	/* guest stopped to finish (finish-migrate) or evidence of it */
	MG_PHASE_HUNG,		/* finishing for longer than finish_timeout (source) */
	MG_PHASE_STALLED,	/* incoming with no progress for incoming_timeout */
	MG_PHASE_POSTCOPY,	/* post-copy: never declared hung; postcopy.h watches it */
	MG_PHASE_COMPLETED,
	MG_PHASE_FAILED,
	MG_PHASE_CANCELLED,
};

struct mg_track_limits {
	uint64_t finish_timeout;	/* usec */
	uint64_t monitor_timeout;
	uint64_t incoming_timeout;
};

/* One round of probes.  Each part may be absent (valid = false). */
struct mg_probe_sample {
	uint64_t at;			/* monotonic usec */
	bool status_valid;		/* query-status answered */
	char run_state[32];		/* "running", "finish-migrate", "postmigrate", "inmigrate", ... */
	bool migrate_valid;		/* query-migrate answered */
	char migration_status[32];	/* "active", "pre-switchover", "device", "completed", ... */
	uint64_t unresponsive_since;	/* monitor: oldest unanswered request, 0 = answering */
	bool unresponsive_direct;	/* ... and it is QEMU's own monitor, not libvirt's */
	bool bql_valid;			/* the /proc BQL probe ran */
	bool bql_held_by_migration;	/* main thread waits on a mutex owned by live_migration */
	pid_t bql_owner;
	uint64_t bql_since;		/* first seen held (monotonic usec) */
	bool io_valid;			/* incoming progress counter read */
	uint64_t io_bytes;		/* bytes read by the destination QEMU (/proc/PID/io rchar) */
};

struct mg_track_event {
	uint64_t at;
	enum mg_phase phase;		/* phase after this entry */
	char text[MG_TRACK_TEXT_MAX];
};

struct mg_track {
	enum mg_direction direction;
	enum mg_phase phase;
	struct mg_track_limits limits;
	uint64_t started_at;
	uint64_t phase_since;		/* when the current phase began */
	uint64_t finishing_since;	/* start of the finishing evidence, 0 = none */
	uint64_t hung_at;
	uint64_t last_progress_at;	/* incoming */
	uint64_t last_io_bytes;
	/* The last BQL probe that ran saw the BQL not held by live_migration:
	 * then a silent libvirt monitor is libvirt being slow (its workers
	 * busy with other migrations), not QEMU hung. */
	bool bql_seen_free;
	uint64_t bql_held_since;	/* the last probe's BQL hold by live_migration, 0 = none */
	bool io_seen;
	/* Kept by the watch: its probe rounds, and those of an outgoing
	 * migration that sent no query (watch.c, may_be_quiet). */
	uint64_t probe_rounds, quiet_rounds;
	char finishing_reason[MG_TRACK_TEXT_MAX];
	size_t n_timeline;
	size_t dropped;			/* timeline entries lost to the bound */
	struct mg_track_event timeline[MG_TRACK_TIMELINE_MAX];
};

/* What a call changed, so the caller can log and act once. */
enum mg_track_change {
	MG_TRACK_UNCHANGED,
	MG_TRACK_PHASE_CHANGED,		/* see t->phase */
	MG_TRACK_BECAME_HUNG,		/* entered HUNG now (once per migration) */
	MG_TRACK_BECAME_STALLED,	/* entered STALLED now (once per migration) */
	MG_TRACK_ENDED,			/* COMPLETED, FAILED or CANCELLED now */
};

void mg_track_init(struct mg_track *t, enum mg_direction dir, const struct mg_track_limits *limits,
		   uint64_t now, const char *why);
/* Feeds one probe sample; returns what changed. */
enum mg_track_change mg_track_on_sample(struct mg_track *t, const struct mg_probe_sample *s);
/* Feeds a migration status from an event (QMP MIGRATION, libvirt job). */
enum mg_track_change mg_track_on_status(struct mg_track *t, const char *migration_status,
					uint64_t now, const char *source);
/* Ends the track from outside (job completed/failed, domain gone). */
enum mg_track_change mg_track_end(struct mg_track *t, enum mg_phase final, uint64_t now,
				  const char *why);
/* Time checks without a new sample (timer tick). */
enum mg_track_change mg_track_on_tick(struct mg_track *t, uint64_t now);

bool mg_phase_is_final(enum mg_phase p);
const char *mg_phase_to_string(enum mg_phase p);
const char *mg_direction_to_string(enum mg_direction d);
/* Adds a free-form timeline entry (actions, reconnects). */
void mg_track_note(struct mg_track *t, uint64_t now, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The monotonic time at which a verdict (HUNG or STALLED) falls due if
 * nothing changes, or 0 when none can; the caller arms a timer there so the
 * verdict does not wait for the next probe round. */
uint64_t mg_track_next_deadline(const struct mg_track *t);
