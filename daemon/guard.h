/* guard.h - one guarded QEMU process: its identity (pid + start time, see
 * procid.h), its watch (watch.h), and what happens on a verdict: the
 * ledger is asked whether this migration was already reported (also by
 * the guard before its restart), the incident is written once
 * (report.h), the policy picked, and the ladder (ladder.h) started at most
 * once per migration.  When the migration ends the per-migration state is
 * reset and its ledger record forgotten.  The libvirt registry
 * (domains.h) and standalone mode (standalone.h) map events and discovery
 * to guards; nothing else in them knows about verdicts.
 *
 * One domain's outgoing migration through the code, each file entered once
 * on the way down (the verdict is the one call back up, watch -> guard):
 *   manager.c  libvirt's MIGRATION_ITERATION event (virt.c) to the registry
 *   domains.c  mg_domains_iteration: the guard of the QEMU pid in the status
 *              XML (domxml.c), made when new; mg_guard_track
 *   guard.c    a new migration (flags reset); mg_watch_track
 *   watch.c    probe rounds (qmp.c, probe.c) -> tracker.c; HUNG -> on_verdict
 *   guard.c    ledger.c (reported before a restart?), the policy, report.c
 *              (snapshot/, incwriter.c), then the ladder (ladder.c), once
 * The end: domains.c (JOB_COMPLETED, STOPPED) mg_guard_end -> watch.c ->
 * "ended" -> guard.c resets the flags and forgets the ledger record. */
#pragma once

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <sys/types.h>

#include "env.h"
#include "ledger.h"
#include "procid.h"
#include "tracker.h"

struct mg_guard;

struct mg_guard_params {
	const char *name;		/* domain name, or "pid-PID" (copied) */
	const char *uuid;		/* libvirt's uuid; NULL in standalone mode (copied) */
	pid_t pid;			/* the QEMU process; its identity is captured at new */
	const char *qmp_path;		/* direct monitor socket, or NULL (watch.h) */
	virDomainPtr dom;		/* libvirt's handle (referenced), or NULL */
	/* A libvirt domain: its incident copies the status XML and QEMU log
	 * from [daemon] libvirt_run_dir and libvirt_log_dir, and its
	 * <metadata> migguard:action (read at the verdict) overrides
	 * [guard] action.  Otherwise no context files and [guard] action. */
	bool libvirt;
	/* Poll for migrations while none is tracked (standalone mode). */
	bool discover;
	struct mg_ledger *ledger;	/* borrowed; may be NULL */
};

struct mg_guard_callbacks {
	/* A migration status seen while nothing is tracked (see watch.h):
	 * the owner decides whether it starts a migration (mg_guard_track). */
	void (*untracked_status)(struct mg_guard *g, const char *status, void *userdata);
};

/* env (copied; what it points to is borrowed; conf is read at each
 * verdict) needs io, and pool when p->dom may be set.  Captures the
 * process identity and creates the watch; logs why it cannot.  0 or a
 * negative errno (-ESRCH: no such process). */
int mg_guard_new(const struct mg_env *env, const struct mg_guard_params *p, const struct mg_guard_callbacks *cb,
		 void *userdata, struct mg_guard **out);
/* Frees the ladder (its libvirt call, if any, reports to nobody), the
 * watch, the incident reference and the libvirt handle. */
void mg_guard_free(struct mg_guard *g);

/* Starts following a migration; a no-op while one is tracked.  A new
 * migration: it may be reported, and acted on, once. */
int mg_guard_track(struct mg_guard *g, enum mg_direction dir, const char *why);
/* A migration status from an event (QMP MIGRATION, libvirt's relay). */
void mg_guard_on_status(struct mg_guard *g, const char *status, const char *source);
/* QEMU's MIGRATION and STOP events, relayed by libvirt (watch.h). */
void mg_guard_on_migration_event(struct mg_guard *g, const char *status);
void mg_guard_on_stop(struct mg_guard *g);
/* Ends the tracked migration from outside (libvirt job/lifecycle events). */
void mg_guard_end(struct mg_guard *g, enum mg_phase final, const char *why);
/* A timeline entry on the tracked migration (nothing when none is). */
void mg_guard_note(struct mg_guard *g, const char *why);

bool mg_guard_tracking(const struct mg_guard *g);
/* The tracked migration's direction (meaningful while tracking). */
enum mg_direction mg_guard_direction(const struct mg_guard *g);
/* True while the ladder runs: the guard must not go (a restart follows
 * the kill's STOPPED event). */
bool mg_guard_acting(const struct mg_guard *g);
pid_t mg_guard_pid(const struct mg_guard *g);
/* The domain's uuid; "" in standalone mode. */
const char *mg_guard_uuid(const struct mg_guard *g);
const struct mg_procid *mg_guard_id(const struct mg_guard *g);

/* Replaces libvirt's handle (after a reconnect; NULL while disconnected):
 * the watch's monitor transport and the ladder's next start use it. */
void mg_guard_set_domain(struct mg_guard *g, virDomainPtr dom);

/* A migration of this process is known to be over although no track saw
 * it end (the guard was down): its records must not stand for the next
 * one (mg_ledger_forget_all, logged). */
void mg_guard_forget_records(struct mg_guard *g);
/* libvirt says its post-copy failed (lifecycle detail POSTCOPY_FAILED). */
void mg_guard_postcopy_failed(struct mg_guard *g, const char *why);

/* The process exited: its records in both directions go. */
void mg_guard_exited(struct mg_guard *g);
