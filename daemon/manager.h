/* manager.h - the daemon's state, one owner (systemd timesyncd's Manager
 * is the model): the event loop, the configuration (file + environment
 * overrides + plugins, reloaded on SIGHUP), the sinks (metrics, status.json,
 * plugins) and their dispatcher, the worker pools, the libvirt connection
 * and its domain registry or the standalone guard.  Created and freed in
 * one place: main's run() holds it with _cleanup_(mg_manager_freep).
 *
 * Signals: SIGTERM/SIGINT stop, after the incident writes still queued
 * (at most MG_INCWRITER_DRAIN; a second signal stops at once); SIGHUP
 * reloads, keeping the running configuration whole when the new one is
 * bad.  sd_notify: READY, RELOADING, STOPPING, STATUS (the same line as
 * status.json's "daemon"); the watchdog is pinged while the loop turns. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "conf.h"

struct mg_manager_params {
	const char *conf_path;
	bool conf_path_explicit;	/* named on the command line: must exist */
	int verbose;			/* -v count: debug logging overrides log_level */
	struct mg_conf_overrides overrides;
	/* standalone mode (qmp_path set): one QEMU, no libvirt */
	const char *qmp_path;
	pid_t pid;
	const char *name;		/* may be NULL */
};

struct mg_manager;

/* Blocks the signals the daemon handles (before any thread exists),
 * creates the loop with its signal sources and watchdog, and the sinks
 * (not yet writing).  p's strings are borrowed for the manager's life.
 * 0 or a negative errno, logged. */
int mg_manager_new(const struct mg_manager_params *p, struct mg_manager **out);
/* Loads the configuration file (an absent default file means defaults),
 * the overrides and the plugins the file names.  0 or a negative errno,
 * logged with file:line: a configuration error. */
int mg_manager_load_config(struct mg_manager *m);
/* Starts writing the metrics textfile and status.json, registers the
 * sinks, connects to libvirt (or starts the standalone guard), tells
 * systemd READY=1 and runs the loop until a stop.  0 or a negative errno,
 * logged. */
int mg_manager_run(struct mg_manager *m);
/* The one teardown: guards, libvirt connection (left to the exit when a
 * libvirt call is stuck), pools, sinks (status.json removed), loop,
 * configuration.  Returns NULL. */
struct mg_manager *mg_manager_free(struct mg_manager *m);
static inline void mg_manager_freep(struct mg_manager **m) { if (*m) mg_manager_free(*m); }

/* --check-config: loads as mg_manager_load_config does (plugins' init
 * checks their sections), prints "PATH: configuration is valid" and, with
 * verbose, every effective key.  0 or a negative errno (printed). */
int mg_manager_check_config(const struct mg_manager_params *p);
