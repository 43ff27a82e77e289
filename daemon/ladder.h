/* ladder.h - the escalation ladder of DESIGN.md section 6, run once per
 * migration after its incident is written:
 *   cancel     - QMP migrate_cancel on the direct monitor, else
 *                virDomainAbortJob on a worker; not sent during a BQL hang
 *                (live_migration holds the BQL and the monitor is silent):
 *                an in-band cancel queues behind the hang, and libvirt's
 *                abort there leaves libvirt's job stuck after a recovery;
 *   unstick    - (recover) the one socket the hang waits on, shut from
 *                outside QEMU after five checks (unstick.h); with a direct
 *                monitor and the switch-over write, an out-of-band yank of
 *                the migration channel instead (QEMU's own teardown: no fd
 *                to pick).  Never a yank of NBD block nodes: a yanked NBD
 *                node fails every later I/O for the life of the QEMU;
 *   unstick-check - QEMU recovered: the migration ended, the BQL free,
 *                query-status answers "running" (direct monitor or
 *                libvirt's), within monitor_timeout plus the drive's
 *                reconnect-delay;
 *   kill       - (recover, still hung after recover_grace) SIGABRT for a
 *                core with core_dump = yes, else SIGKILL, through a pidfd
 *                after checking the process start time: never a recycled
 *                pid;
 *   restart    - (recover, restart = yes) start the domain again from its
 *                persistent definition;
 *   disk-check - after any recovery: whether the guest's disk works, from
 *                query-blockstats (an I/O that succeeded after it), for
 *                up to disk_check;
 *   destroy    - (incoming side, STALLED) virDomainDestroy on the
 *                destination.
 * Every step has a deadline, never blocks the loop, and is appended to the
 * incident with its result and what was seen afterwards. */
#pragma once

#include <libvirt/libvirt.h>
#include <systemd/sd-event.h>

#include "conf.h"
#include "util.h"
#include "incwriter.h"
#include "notify.h"
#include "domxml.h"
#include "procid.h"
#include "unstick.h"
#include "watch.h"
#include "worker.h"

struct mg_ladder;

/* What the ladder records, one name each (the incident's "step", the
 * metrics' step label, the plugins' event step, the log): the rungs and
 * the checks after them. */
enum mg_ladder_step {
	MG_LADDER_CANCEL,
	MG_LADDER_CANCEL_CHECK,
	MG_LADDER_UNSTICK,		/* its checks, then the shutdown */
	MG_LADDER_UNSTICK_CHECK,	/* did QEMU recover */
	MG_LADDER_YANK,
	MG_LADDER_RECOVER_CHECK,	/* the hang after recover_grace */
	MG_LADDER_KILL,
	MG_LADDER_KILL_CHECK,
	MG_LADDER_CORE,
	MG_LADDER_RESTART,
	MG_LADDER_DISK_CHECK,
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
	uint64_t disk_check;		/* 0: no disk check after a recovery */
	bool no_unstick;		/* unstick = no: the rung is skipped (recorded) */
	bool core_dump;
	bool restart;
	/* What the incident's snapshot says the hang waits on (unstick.h);
	 * kind NONE when there was no snapshot. */
	struct mg_unstick_plan plan;
	/* libvirt's status XML of the domain (the drives' storage servers),
	 * NULL in standalone mode; read when the rung runs. */
	const char *status_xml;
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
