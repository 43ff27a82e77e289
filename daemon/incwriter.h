/* incwriter.h - writes one incident off the event loop and appends its
 * actions after it, in order.
 *
 * Writing an incident creates files and fsyncs them; a slow or hung state
 * directory (full disk, dead NFS, a FIFO where a context file is read)
 * must not stall every watch until the watchdog kills the guard.  So the
 * files are written on a worker (worker.h) whose pool has one thread and
 * no deadline: its jobs run in submission order, and one incident has at
 * most one job queued at a time (its write, then each action).
 *
 * When the files cannot be written (ENOSPC, EROFS, EIO, ...) the evidence
 * (summary, lock facts, I/O-wait chains, stacks) goes to the journal as
 * structured fields at once, and the write is retried with a backoff
 * (MG_INCWRITER_RETRY_*) until it succeeds or the retries run out; actions
 * wait for it. */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "incident.h"
#include "ledger.h"
#include "notify.h"
#include "worker.h"

#define MG_INCWRITER_RETRY_FIRST (2 * MG_USEC_PER_SEC)
#define MG_INCWRITER_RETRY_MAX (60 * MG_USEC_PER_SEC)
#define MG_INCWRITER_RETRY_COUNT 30	/* about 25 min of retries */
/* How long a stopping guard waits for queued writes (a hung state
 * directory must not keep it from stopping). */
#define MG_INCWRITER_DRAIN (5 * MG_USEC_PER_SEC)

struct mg_incwriter;

struct mg_incwriter_params {
	const char *state_dir;
	unsigned max_count;		/* retention, applied after each write */
	uint64_t max_age;
	struct mg_worker_pool *pool;	/* one thread (max_active 1) */
	/* Gets "incident" (written, or not with its error) from the loop;
	 * borrowed: must outlive the writer's last job (the manager frees the
	 * sinks after the pools).  May be NULL. */
	struct mg_notify *notify;
	const struct mg_ledger_entry *ledger;	/* written before the incident; may be NULL */
	uint64_t stopped_us;		/* how long the snapshot stopped the target */
};

/* Copies in (snapshot: takes over the caller's reference) and queues the
 * write; the incident's directory is named now (mg_incwriter_dir).
 * *out gets a reference.  0 or a negative errno; the snapshot reference is
 * taken over in every case. */
int mg_incwriter_start(sd_event *loop, const struct mg_incwriter_params *p, const struct mg_incident_input *in,
		       struct mg_incwriter **out);
/* Queues an action record {step, at, result, detail} after the write. */
void mg_incwriter_add_action(struct mg_incwriter *iw, const char *step, int result, const char *detail);
/* The incident directory (the name chosen at start; the final one once
 * written, which differs only if another incident took that name). */
const char *mg_incwriter_dir(const struct mg_incwriter *iw);
/* True once the files are written. */
bool mg_incwriter_written(const struct mg_incwriter *iw);

struct mg_incwriter *mg_incwriter_ref(struct mg_incwriter *iw);
/* Drops a reference; queued work goes on until done.  Returns NULL. */
struct mg_incwriter *mg_incwriter_unref(struct mg_incwriter *iw);
static inline void mg_incwriter_unrefp(struct mg_incwriter **iw) { if (*iw) mg_incwriter_unref(*iw); }
