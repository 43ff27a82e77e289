/* status.h - STATE_DIR/status.json: what migguardd watches right now (the
 * migrations it tracks, their phase and since when, the libvirt
 * connection), rewritten after each change (temp file + rename) for
 * `migguard status`.  Removed when the daemon stops cleanly, so a file
 * whose pid is gone tells the reader the daemon died.  A pid alone is no
 * proof (it is reused): the file also holds the daemon's start time
 * ("start_time", field 22 of /proc/PID/stat, clock ticks since boot) and
 * "boot_id" (/proc/sys/kernel/random/boot_id), which the reader compares
 * with /proc/PID/stat and its own boot.
 *
 * A sink (notify.h) owned by the manager: the entries follow the events. */
#pragma once

#include <systemd/sd-event.h>

#include "notify.h"

struct mg_status;

/* No entries, no file; notes the daemon's start (time, start time, boot).
 * 0 or -ENOMEM. */
int mg_status_new(struct mg_status **out);
/* Stops writing, removes the file, frees the entries.  Returns NULL. */
struct mg_status *mg_status_free(struct mg_status *st);
static inline void mg_status_freep(struct mg_status **st) { if (*st) mg_status_free(*st); }

/* Writes state_dir/status.json now and after every change from loop (the
 * directory is created when missing); a new directory replaces the old
 * one (SIGHUP), whose file is removed.  0 or a negative errno (logged). */
int mg_status_set_dir(struct mg_status *st, sd_event *loop, const char *state_dir);

/* The event loop's largest lateness since start and its largest own
 * lateness (loopmon.h), in µs: "loop_lateness_max_ms",
 * "loop_lateness_own_max_ms". */
void mg_status_set_loop_lateness(struct mg_status *st, uint64_t max_usec, uint64_t own_max_usec);
/* The sink (userdata: the struct mg_status):
 *   migration-started, phase-changed, hung, stalled, MG_EVENT_NOTE
 *                            add or update the entry of e->key (domain,
 *                            uuid, pid, direction, phase and since when,
 *                            ev.detail);
 *   migration-ended, MG_EVENT_FORGOTTEN
 *                            remove it;
 *   MG_EVENT_DAEMON          the daemon line (ev.detail).
 * Incidents and actions leave the file alone. */
void mg_status_on_event(void *userdata, const struct mg_event *e);
