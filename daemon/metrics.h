/* metrics.h - counters of what the guard saw and did, written as a
 * Prometheus textfile ([metrics] textfile, for node_exporter's textfile
 * collector) after each change, atomically (temp file + rename, mode 0644:
 * the figures hold no secrets).  One set per daemon process: the guard
 * watches one hypervisor.  The counters always count; the file is written
 * only between mg_metrics_start() and mg_metrics_stop(). */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-event.h>

#include "tracker.h"

/* A migration started or stopped being tracked; `final` is its last phase. */
void mg_metrics_tracked(enum mg_direction dir);
void mg_metrics_untracked(enum mg_direction dir, enum mg_phase final);
/* The guard stopped watching a tracked migration without seeing it end
 * (its domain went away, the daemon stops): no longer tracked, not ended. */
void mg_metrics_forget(enum mg_direction dir);
/* A verdict: HUNG (source) or STALLED (incoming). */
void mg_metrics_verdict(enum mg_phase verdict);
/* An incident written (result 0) or not (negative errno). */
void mg_metrics_incident(int result);
/* One ladder step (action.c's names: cancel, yank, kill, ...) and result. */
void mg_metrics_action(const char *step, int result);
void mg_metrics_libvirt_connected(bool connected);

/* Writes the file now and after every change from the loop; path "" turns
 * it off.  0 or a negative errno (the first write failing is logged, and
 * the daemon goes on). */
int mg_metrics_start(sd_event *loop, const char *path);
void mg_metrics_stop(void);
/* The text exposition format of the current figures. */
void mg_metrics_render(FILE *out);
/* Back to zero (tests). */
void mg_metrics_reset(void);
