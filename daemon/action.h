/* action.h - the escalation ladder of DESIGN.md section 6, run once per
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
#include "incwriter.h"
#include "notify.h"
#include "procid.h"
#include "watch.h"
#include "worker.h"

struct mg_ladder;

struct mg_ladder_params {
	enum mg_action action;		/* none does nothing */
	struct mg_watch *watch;		/* borrowed; must outlive the action */
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
 * end (from the loop).  0 or a negative errno. */
int mg_ladder_start(sd_event *loop, const struct mg_ladder_params *p,
		    void (*done)(struct mg_ladder *a, void *userdata), void *userdata,
		    struct mg_ladder **out);
void mg_ladder_free(struct mg_ladder *a);
/* One line per step taken, for logs and tests. */
const char *mg_ladder_summary(const struct mg_ladder *a);
/* True once done has run. */
bool mg_ladder_finished(const struct mg_ladder *a);
