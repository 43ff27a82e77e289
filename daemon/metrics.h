/* metrics.h - counters of what the guard saw and did, written as a
 * Prometheus textfile ([metrics] textfile, for node_exporter's textfile
 * collector) after each change, atomically (temp file + rename, mode 0644:
 * the figures hold no secrets).  A sink (notify.h): the counters follow
 * the events it is handed; the manager owns one set per daemon process
 * (the guard watches one hypervisor).  The counters always count; the file
 * is written only while a textfile is set. */
#pragma once

#include <stdio.h>
#include <systemd/sd-event.h>

#include "notify.h"

struct mg_metrics;

/* All counters at zero, no file.  0 or -ENOMEM. */
int mg_metrics_new(struct mg_metrics **out);
/* Stops writing (the file stays: a scraper reads the last figures).
 * Returns NULL. */
struct mg_metrics *mg_metrics_free(struct mg_metrics *m);
static inline void mg_metrics_freep(struct mg_metrics **m) { if (*m) mg_metrics_free(*m); }

/* Writes the file now and after every change from loop; path "" or NULL
 * turns it off; a new path replaces the old one (SIGHUP), the counters
 * stay.  0 or a negative errno (the daemon goes on). */
int mg_metrics_set_textfile(struct mg_metrics *m, sd_event *loop, const char *path);

/* The sink (userdata: the struct mg_metrics):
 *   migration-started        tracked_total and tracking, by direction;
 *   hung / stalled           hung_total / stalled_total;
 *   migration-ended          tracking down, ended_total by final phase;
 *   incident                 written or errors, by result;
 *   action                   actions_total by step and result;
 *   MG_EVENT_FORGOTTEN       tracking down (not ended) when it was tracking;
 *   MG_EVENT_CONNECTION      libvirt_connected. */
void mg_metrics_on_event(void *userdata, const struct mg_event *e);

/* The event loop's largest lateness since start and its largest own
 * lateness (loopmon.h), in µs: migguard_loop_lateness_max_seconds and
 * migguard_loop_lateness_own_max_seconds. */
void mg_metrics_set_loop_lateness(struct mg_metrics *m, uint64_t max_usec, uint64_t own_max_usec);
/* The text exposition format of the current figures. */
void mg_metrics_render(const struct mg_metrics *m, FILE *out);
