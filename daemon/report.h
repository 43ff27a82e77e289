/* report.h - what happens on a verdict: the snapshot (the target is
 * stopped only while it is unwound), the summary and the unstick plan, on
 * a thread of the snapshot pool; then, back on the loop, the incident
 * handed to an incident writer (incwriter.h) that writes it, applies
 * retention and logs the journal entry naming it, off the loop too.
 *
 * Why off the loop: when many migrations hang at once (a storage outage
 * during an evacuation), snapshots taken one after another on the loop
 * would push every other domain's deadline, the watchdog ping and
 * libvirt's keepalive back by the sum of them.  The pool is bounded
 * (MG_REPORT_WORKERS threads): snapshots of different QEMUs may overlap,
 * each stops only its own target. */
#pragma once

#include "env.h"
#include "incwriter.h"
#include "ledger.h"
#include "unstick.h"
#include "watch.h"

#define MG_REPORT_WORKERS 2
/* A snapshot still running then is given up: the incident is written
 * without stacks (the thread finishes on its own). */
#define MG_REPORT_SNAPSHOT_TIMEOUT (30 * MG_USEC_PER_SEC)

struct mg_report;

/* On the loop, once, unless cancelled first.  r: 0 when the incident was
 * handed to its writer (iw, a reference for the caller), or a negative
 * errno (already logged; iw NULL).  plan: what the snapshot says the hang
 * waits on (kind NONE, with the reason, without a snapshot). */
typedef void (*mg_report_done_fn)(int r, struct mg_incwriter *iw, const struct mg_unstick_plan *plan,
				  void *userdata);

/* Starts the report of w's current verdict, with env's conf (state_dir,
 * retention, [snapshot] keys, read now), its snap pool (the snapshot), io
 * pool (the files) and sinks.  status_xml and qemu_log are context files
 * to copy (NULL when absent); ledger (may be NULL) is the record written
 * before the incident.  The track is copied now: the incident shows the
 * verdict, not what followed while the snapshot ran.  *out is the
 * caller's handle, released with mg_report_cancel() (also after done).
 * 0, or a negative errno (logged; done never runs). */
int mg_report_start(const struct mg_env *env, struct mg_watch *w, const char *status_xml, const char *qemu_log,
		    const struct mg_ledger_entry *ledger, mg_report_done_fn done, void *userdata,
		    struct mg_report **out);
/* The owner lets go: done never runs from now on, but a snapshot already
 * taken still becomes an incident (the evidence is kept when the domain
 * went away meanwhile).  NULL is fine.  Returns NULL. */
struct mg_report *mg_report_cancel(struct mg_report *r);

/* A verdict on a migration this guard, or the instance before its
 * restart, already reported (see ledger.h): logs that it already acted and
 * says so to env's sinks (MG_EVENT_NOTE: status.json shows it).  Returns
 * whether e is non-NULL. */
bool mg_report_already(const struct mg_env *env, const struct mg_ledger_entry *e, struct mg_watch *w);
