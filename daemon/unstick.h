/* unstick.h - the unstick rung (DESIGN.md section 6): end a hang whose
 * BQL holder waits on a socket whose peer stalled, from outside QEMU and
 * without a monitor, by duplicating exactly that socket out of QEMU
 * (pidfd_getfd) and shutting the duplicate down (shutdown(SHUT_RDWR) acts
 * on QEMU's own socket: its blocked poll or send wakes as if the peer had
 * gone).  QEMU's NBD client then treats it as a lost connection and
 * reconnects by itself once the server answers; a yank of the block node
 * would instead fail every later I/O for the life of the QEMU.
 *
 * Two halves:
 *   mg_unstick_plan   - from the incident's snapshot (the target has run on
 *                       since): which kind of wait the hang is and which
 *                       sockets it depends on, with their peers' queues.
 *   mg_unstick_run    - the five checks, in order, then the one shutdown:
 *                       1 pinned  the process through its pidfd: /proc/PID
 *                                 opened as a directory and proven to be
 *                                 the pidfd's process; start time and exe
 *                                 are the guarded QEMU's; every later
 *                                 /proc read of QEMU goes through it
 *                       2 hang    the BQL held by live_migration for the
 *                                 whole hang (and still, same owner and
 *                                 mutex), the monitor unresponsive, the
 *                                 migration pre-copy
 *                       3 wait    the plan's kind is known: a block-layer
 *                                 drain under vm_stop, or the switch-over
 *                                 write; its sockets are still the fds the
 *                                 snapshot saw
 *                       4 socket  on the duplicate: a connected stream
 *                                 socket, not listening, QEMU's end not a
 *                                 server's (monitor, chardev, display,
 *                                 vhost-user), the inode of the diagnosis,
 *                                 the peer a storage server of a drive
 *                                 (drain) or not one (switch-over), never
 *                                 a libvirt daemon
 *                       5 peer    stalled: stopped, dead or in D state,
 *                                 its receive queue not moving, or (TCP)
 *                                 our data unacknowledged
 *                       Exactly one socket must pass 4 and 5; any doubt
 *                       refuses, and nothing else is tried.
 * Synchronous and short (a few /proc reads, one netlink dump): run from
 * the loop.  The verification after the shutdown is the ladder's. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "domxml.h"
#include "procid.h"
#include "snapshot/snapshot.h"
#include "tracker.h"

enum mg_unstick_kind {
	MG_UNSTICK_NONE,	/* no known kind: unstick refuses at check 3 */
	MG_UNSTICK_DRAIN,	/* block-layer drain under vm_stop */
	MG_UNSTICK_SWITCHOVER,	/* live_migration writing the final state */
};
const char *mg_unstick_kind_to_string(enum mg_unstick_kind k);

#define MG_UNSTICK_MAX_CANDIDATES 8
#define MG_UNSTICK_CHECKS 5

/* A socket the hang waits on, as the snapshot saw it. */
struct mg_unstick_candidate {
	pid_t tid;			/* the waiting thread */
	char thread[64];
	int fd;
	uint64_t inode;
	/* The peer's (or, for a peer off this host, our own unsent or
	 * unacknowledged) queue in bytes at plan time, -1 when unknown. */
	int64_t queue;
	uint64_t queue_at;		/* monotonic usec of that sample */
};

struct mg_unstick_plan {
	enum mg_unstick_kind kind;
	pid_t bql_owner;
	char owner_name[64];
	bool lock_cycle;		/* the snapshot found a mutex cycle */
	size_t n;
	struct mg_unstick_candidate c[MG_UNSTICK_MAX_CANDIDATES];
	char why[256];			/* the kind, or why none */
};

/* The plan for a snapshot of a hung QEMU.  Never fails: a snapshot that
 * says nothing gives kind NONE with why set. */
void mg_unstick_plan(const struct mg_snapshot *snap, struct mg_unstick_plan *out);

/* Check 2's facts, from the watch that declared the hang. */
struct mg_unstick_hang {
	enum mg_phase phase;		/* the track's phase (never POSTCOPY) */
	uint64_t hang_since;		/* monotonic usec: start of the finishing evidence */
	bool bql_valid;			/* the watch's last BQL probe */
	bool bql_held;
	pid_t bql_owner;
	char bql_owner_comm[64];
	uint64_t bql_futex;
	uint64_t bql_since;		/* monotonic usec the owner was first seen */
	uint64_t unresponsive_since;	/* the monitor's oldest unanswered request, 0 = answering */
	uint64_t probe_interval;	/* slack for "the whole hang": the holder
					 * must be seen within two rounds of its start */
};

struct mg_unstick_params {
	const struct mg_procid *id;	/* the guarded QEMU, with its pidfd and exe */
	const struct mg_unstick_plan *plan;
	struct mg_unstick_hang hang;
	/* The drives' storage servers: libvirt's status XML (NULL in
	 * standalone mode); QEMU's command line is read too (through the
	 * pinned /proc directory). */
	const struct mg_domxml *xml;
	/* How long a "not moving" queue must stay unchanged (usec). */
	uint64_t queue_window;
};

struct mg_unstick_check {
	const char *name;		/* "pinned", "hang", "wait", "socket", "peer" */
	int result;			/* 0 or a negative errno */
	char detail[384];
};

struct mg_unstick_result {
	size_t n_checks;		/* checks run: all five, or up to the first failure */
	struct mg_unstick_check checks[MG_UNSTICK_CHECKS];
	/* -EAGAIN: the peer's queue must be sampled again at retry_at before
	 * check 5 can decide (the checks above it passed; run again then). */
	uint64_t retry_at;
	bool shut;			/* the shutdown was done */
	int fd;				/* the fd in QEMU that was shut */
	uint64_t inode;
	char what[384];			/* what was shut, for the record */
	unsigned reconnect_delay;	/* seconds: the drive's reconnect-delay */
};

/* Runs the checks and, when all pass, shuts the one socket.  0 when it was
 * shut (*res says which), -EAGAIN (see retry_at), or the failing check's
 * negative errno (res->checks[res->n_checks - 1] says why). */
int mg_unstick_run(const struct mg_unstick_params *p, struct mg_unstick_result *res);
