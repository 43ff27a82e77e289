/* watch.h - one watched QEMU process: the probe rounds while a migration is
 * tracked (its monitor through monitor.h, a direct QMP socket or libvirt's
 * qemu-monitor-command on a worker; its tasks through procfs.h, one scan a
 * round), the verdict timer, and the tracker they feed; its changes go to
 * the sinks (notify.h).  Used by the libvirt-driven daemon and by
 * standalone mode. */
#pragma once

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "notify.h"
#include "probe.h"
#include "qmp.h"
#include "tracker.h"
#include "worker.h"

struct mg_watch;

struct mg_watch_params {
	const char *name;		/* domain name (logs, incidents) */
	const char *uuid;		/* may be NULL */
	pid_t pid;			/* the QEMU process */
	const char *qmp_path;		/* direct monitor socket, or NULL; needs pid > 0:
					 * only a socket served by pid is used (qmp.h,
					 * mg_qmp_expect_peer) */
	virDomainPtr dom;		/* for libvirt's monitor transport, or NULL */
	struct mg_worker_pool *pool;	/* required with dom */
	uint64_t probe_interval;
	struct mg_track_limits limits;
	/* Poll query-migrate even when no migration is tracked (standalone
	 * mode finds migrations by itself). */
	bool discover;
	/* Where the track's changes go (notify.h; borrowed, may be NULL):
	 * migration-started, phase-changed, hung/stalled, migration-ended,
	 * and MG_EVENT_FORGOTTEN when the watch is freed. */
	struct mg_notify *notify;
	/* Each probe round's timer measures the loop's lateness for it
	 * (loopmon.h; borrowed, may be NULL). */
	struct mg_loopmon *loopmon;
};

struct mg_watch_callbacks {
	/* HUNG or STALLED now (once per migration); the track says why. */
	void (*verdict)(struct mg_watch *w, enum mg_track_change c, void *userdata);
	/* The tracked migration ended (completed, failed, cancelled). */
	void (*ended)(struct mg_watch *w, void *userdata);
	/* A migration status seen while nothing is tracked (QMP MIGRATION
	 * event or discovery poll). */
	void (*untracked_status)(struct mg_watch *w, const char *status, void *userdata);
	/* A post-copy status (postcopy-active, -paused, -recover) of the
	 * tracked migration, from any source (event or query-migrate), after
	 * the tracker took it in. */
	void (*postcopy)(struct mg_watch *w, const char *status, const char *source, void *userdata);
};

int mg_watch_new(sd_event *loop, const struct mg_watch_params *p, const struct mg_watch_callbacks *cb,
		 void *userdata, struct mg_watch **out);
void mg_watch_free(struct mg_watch *w);

/* Starts tracking a migration (no-op when one is tracked and not final). */
int mg_watch_track(struct mg_watch *w, enum mg_direction dir, const char *why);
/* A migration status from an event. */
void mg_watch_on_status(struct mg_watch *w, const char *status, const char *source);
/* QEMU's MIGRATION event (data.status) and STOP event, from the direct
 * monitor or relayed by libvirt: the first says QEMU reports every status
 * change as an event (rounds may then be quiet), the second asks for the
 * run state at once. */
void mg_watch_on_migration_event(struct mg_watch *w, const char *status);
void mg_watch_on_stop(struct mg_watch *w);
/* Ends the tracked migration from outside (libvirt job/lifecycle events). */
void mg_watch_end(struct mg_watch *w, enum mg_phase final, const char *why);

bool mg_watch_tracking(const struct mg_watch *w);
struct mg_track *mg_watch_get_track(struct mg_watch *w);
/* The tracked (or last tracked) migration's direction and phase. */
enum mg_direction mg_watch_direction(const struct mg_watch *w);
enum mg_phase mg_watch_phase(const struct mg_watch *w);
/* Adds a line, dated now, to the timeline (the evidence) of the tracked
 * migration, or of the last one once it ended (the ladder's later steps). */
void mg_watch_note(struct mg_watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fills e's identity of the watched migration: key (the watch), domain,
 * uuid, pid, direction and phase (strings valid while w lives and the
 * track is unchanged), for events emitted about it by others. */
void mg_watch_describe(const struct mg_watch *w, struct mg_event *e);
const char *mg_watch_name(const struct mg_watch *w);
const char *mg_watch_uuid(const struct mg_watch *w);
pid_t mg_watch_pid(const struct mg_watch *w);
/* The direct monitor when connected and READY, else NULL (for actions). */
struct mg_qmp *mg_watch_qmp(struct mg_watch *w);
/* The monitor's oldest unanswered request (monotonic usec), 0 when it
 * answers. */
uint64_t mg_watch_unresponsive_since(const struct mg_watch *w);
uint64_t mg_watch_probe_interval(const struct mg_watch *w);
/* The last BQL probe result (valid after a probe round). */
const struct mg_bql_result *mg_watch_last_bql(const struct mg_watch *w);
/* Replaces the libvirt domain handle used by the monitor transport (after
 * a reconnect the old handle's connection is gone); dom may be NULL. */
void mg_watch_set_domain(struct mg_watch *w, virDomainPtr dom);
