/* report.h - what happens on a verdict: snapshot first (the target is
 * stopped only while it is unwound), then the summary, the incident
 * directory, retention, and one journal entry naming the incident. */
#pragma once

#include "conf.h"
#include "watch.h"

/* Writes the incident of w's current verdict.  status_xml and qemu_log are
 * context files to copy (NULL when absent).  *out_dir (may be NULL) gets the
 * incident path.  0 or a negative errno, already logged. */
int mg_report_incident(const struct mg_conf *conf, struct mg_watch *w, const char *status_xml,
		       const char *qemu_log, char **out_dir);
