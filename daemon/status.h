/* status.h - STATE_DIR/status.json: what migguardd watches right now (the
 * migrations it tracks, their phase and since when, the libvirt
 * connection), rewritten after each change (temp file + rename) for
 * `migguard status`.  Removed when the daemon stops cleanly, so a file
 * whose pid is gone tells the reader the daemon died.  A pid alone is no
 * proof (it is reused): the file also holds the daemon's start time
 * ("start_time", field 22 of /proc/PID/stat, clock ticks since boot) and
 * "boot_id" (/proc/sys/kernel/random/boot_id), which the reader compares
 * with /proc/PID/stat and its own boot. */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "tracker.h"

/* Adds or updates the migration identified by key (the watch). */
void mg_status_track(const void *key, const char *domain, const char *uuid, int pid, enum mg_direction dir,
		     enum mg_phase phase, const char *detail);
void mg_status_untrack(const void *key);
/* One line on the daemon's connection (mg_virt_status, or standalone). */
void mg_status_set_daemon(const char *text);

/* Writes now and after every change; 0 or a negative errno (logged). */
int mg_status_start(sd_event *loop, const char *state_dir);
/* Stops writing and removes the file. */
void mg_status_stop(void);
