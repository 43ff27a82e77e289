/* ladder.h - the escalation ladder of DESIGN.md section 6, run once per
 * migration after its incident is written:
 *   cancel  - QMP migrate_cancel on the direct monitor, else
 *             virDomainAbortJob on a worker;
 *   yank    - (recover) out-of-band yank of the migration channel and the
 *             NBD block nodes on the direct monitor; with a lock cycle in
 *             the snapshot it is recorded as unable to end it, and a hang
 *             that outlasts recover_grace is recorded as "yank-check";
 *   kill    - (recover, still hung after recover_grace) SIGABRT for a core
 *             with core_dump = yes, else SIGKILL, through a pidfd after
 *             checking the process start time: never a recycled pid;
 *   restart - (recover, restart = yes) start the domain again from its
 *             persistent definition;
 *   destroy - (incoming side, STALLED) virDomainDestroy on the destination.
 * Every step has a deadline, never blocks the loop, and is appended to the
 * incident with its result and what was seen afterwards. */
#pragma once

#include <libvirt/libvirt.h>
#include <systemd/sd-event.h>

#include "conf.h"
#include "util.h"
#include "incwriter.h"
#include "notify.h"
#include "procid.h"
#include "watch.h"
#include "worker.h"

struct mg_ladder;

/* What the ladder records, one name each (the incident's "step", the
 * metrics' step label, the plugins' event step, the log): the rungs and
 * the checks after them. */
enum mg_ladder_step {
	MG_LADDER_CANCEL,
	MG_LADDER_CANCEL_CHECK,
	MG_LADDER_YANK,
	MG_LADDER_YANK_CHECK,		/* a lock cycle outlasted the yank */
	MG_LADDER_RECOVER_CHECK,	/* the hang after recover_grace */
	MG_LADDER_KILL,
	MG_LADDER_KILL_CHECK,
	MG_LADDER_CORE,
	MG_LADDER_RESTART,
	MG_LADDER_DESTROY,
	MG_LADDER_DESTROY_CHECK,
	MG_LADDER_STEP_LAST
};
MG_ENUM_DECL(mg_ladder_step, enum mg_ladder_step);

struct mg_ladder_params {
	enum mg_action action;		/* none does nothing */
	/* The watched migration acted on (borrowed; must outlive the ladder):
	 * its direction and phase at the start, whether it is still tracked,
	 * its identity for events, its timeline for notes (watch.h), and its
	 * direct monitor when connected. */
	struct mg_watch *watch;
	virDomainPtr dom;		/* may be NULL (standalone) */
	struct mg_worker_pool *pool;	/* required with dom */
	const struct mg_procid *id;	/* the QEMU process as first seen */
	struct mg_notify *notify;	/* each step's event goes there (borrowed, may be NULL) */
	struct mg_incwriter *incident;	/* where steps are recorded (off the loop, after
					 * the incident itself; referenced), may be NULL */
	uint64_t step_timeout;		/* deadline of one request (monitor_timeout) */
	uint64_t recover_grace;
	bool core_dump;
	bool restart;
	bool lock_cycle;		/* the incident's snapshot found a mutex cycle: a
					 * deadlock inside QEMU that no yank ends (the yank
					 * still runs, its record says so) */
};

/* Starts the ladder for the watch's current verdict; done runs once at the
 * end (from the loop).  0, -ECANCELED when there is nothing to do (action
 * none, or a post-copy migration: never acted on), or a negative errno. */
int mg_ladder_start(sd_event *loop, const struct mg_ladder_params *p,
		    void (*done)(struct mg_ladder *a, void *userdata), void *userdata,
		    struct mg_ladder **out);
void mg_ladder_free(struct mg_ladder *a);
/* One line per step taken, for logs and tests. */
const char *mg_ladder_summary(const struct mg_ladder *a);
/* True once done has run. */
bool mg_ladder_finished(const struct mg_ladder *a);
