/* report.h - what happens on a verdict: snapshot first (the target is
 * stopped only while it is unwound), then the summary, and the incident
 * handed to an incident writer (incwriter.h) that writes it, applies
 * retention and logs the journal entry naming it, off the loop. */
#pragma once

#include "env.h"
#include "incwriter.h"
#include "ledger.h"
#include "unstick.h"
#include "watch.h"

/* Starts the incident of w's current verdict, with env's conf (state_dir,
 * retention, [snapshot] keys), its io pool (the incident is written there)
 * and its sinks (the "incident" event).  status_xml and qemu_log are
 * context files to copy (NULL when absent); ledger (may be NULL) is the record written before the incident.
 * *out gets the writer (a reference), for the actions; *plan (may be
 * NULL) what the snapshot says the hang waits on, for the unstick rung
 * (kind NONE without a snapshot).  0 or a negative errno, already
 * logged. */
int mg_report_incident(const struct mg_env *env, struct mg_watch *w, const char *status_xml, const char *qemu_log,
		       const struct mg_ledger_entry *ledger, struct mg_incwriter **out, struct mg_unstick_plan *plan);

/* A verdict on a migration this guard, or the instance before its
 * restart, already reported (see ledger.h): logs that it already acted and
 * says so to env's sinks (MG_EVENT_NOTE: status.json shows it).  Returns
 * whether e is non-NULL. */
bool mg_report_already(const struct mg_env *env, const struct mg_ledger_entry *e, struct mg_watch *w);
