/* incident.h - the incident directory of DESIGN.md section 5:
 * STATE_DIR/incidents/<UTC time>-<domain>-<uuid8>/ with report.json,
 * stacks.txt and context/, written atomically (temp dir + rename), mode
 * 0700/0600, with retention by count and age. */
#pragma once

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

#include "tracker.h"

#define MG_INCIDENT_SCHEMA "migguard.incident/1"

struct mg_incident_input {
	const char *domain;
	const char *uuid;		/* may be NULL (standalone mode) */
	pid_t pid;
	enum mg_direction direction;
	const struct mg_track *track;	/* timeline, phase timings, verdict */
	json_object *snapshot;		/* snapshot JSON (borrowed), NULL if it failed */
	const char *snapshot_error;	/* why there is no or only a partial snapshot */
	const char *stacks_text;	/* gdb-like text + summary, may be NULL */
	const char *summary;		/* one paragraph: what hung, BQL owner, I/O wait, signature */
	const char *status_xml_path;	/* libvirt status XML to copy, may be NULL */
	const char *qemu_log_path;	/* QEMU log whose tail to copy, may be NULL */
	const char *name;		/* directory name (mg_incident_name), NULL: named now */
};

/* The directory name of a new incident: <UTC time>-<domain>-<uuid8>. */
void mg_incident_name(const struct mg_incident_input *in, char *buf, size_t size);

/* Writes a new incident; *out_dir receives its path (caller frees).
 * Returns 0 or a negative errno (ENOSPC, EACCES, ...), already logged. */
int mg_incident_write(const char *state_dir, const struct mg_incident_input *in, char **out_dir);

/* Keeps the evidence of writes a crash interrupted: each temporary
 * directory whose writer is gone becomes a visible incident NAME-partial
 * with "partial": true in its report.json, which listing, retention and the
 * CLI see.  Called at start; returns how many were recovered (or -errno). */
int mg_incident_recover(const char *state_dir);

/* Appends an action record {step, started_at, result, detail} to the
 * report's "actions" array, rewriting report.json atomically. */
int mg_incident_add_action(const char *incident_dir, const char *step, int result,
			   const char *detail);
/* The same, for an action taken at the CLOCK_REALTIME time at (usec). */
int mg_incident_add_action_at(const char *incident_dir, uint64_t at, const char *step, int result,
			      const char *detail);

/* The incident directory names in incidents_dir (STATE_DIR/incidents),
 * oldest first: names start with the UTC time.  0, or a negative errno
 * (-ENOENT before the first incident). */
int mg_incident_list(const char *incidents_dir, char ***names, size_t *n);
void mg_incident_list_free(char **names, size_t n);

/* Removes the oldest incidents beyond max_count and those older than
 * max_age (usec), never keep (a directory name, may be NULL: the incident
 * just written, which after a clock step back sorts first); returns how
 * many were removed or a negative errno. */
int mg_incident_prune(const char *state_dir, unsigned max_count, uint64_t max_age, const char *keep);

/* Copies /proc/PID/cmdline into buf with arguments joined by spaces and the
 * values of password=, secret=, key= (and similar) replaced by "***". */
int mg_incident_read_cmdline(pid_t pid, char *buf, size_t size);
/* Redacts secrets in a command line in place, within its buffer of size
 * bytes: "***" may be longer than the value it hides, and what then no
 * longer fits is cut from the end (exposed for tests). */
void mg_incident_redact(char *cmdline, size_t size);
