/* notify.h - the one fan-out of everything observable (DESIGN.md section 2):
 * an emitter fills one struct mg_event once and hands it to
 * mg_notify_dispatch(), which passes it to every registered sink in the
 * order they were registered (collectd's plugin_dispatch_notification is
 * the model).  Metrics, status.json and the plugins are sinks registered by
 * the manager; tests register their own (tests/unit/mgsink.h).  No
 * emitter names a sink.
 *
 * struct mg_event carries the plugin ABI's event (include/migguard/plugin.h,
 * ABI 1, unchanged) and a small daemon-side extension: the events only the
 * daemon's own sinks care about (a watch forgotten, a status note, the
 * libvirt connection, the daemon's status line) and the enums behind the
 * ABI's strings.  Only MG_EVENT_PLUGIN events reach plugins. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "migguard/plugin.h"
#include "tracker.h"

enum mg_event_kind {
	/* ev.kind says what happened: one of the ABI's kinds. */
	MG_EVENT_PLUGIN,
	/* The guard stopped watching a QEMU (its domain went away, the daemon
	 * stops); tracking says whether a migration was tracked, whose end
	 * it then never saw. */
	MG_EVENT_FORGOTTEN,
	/* What the guard says about a tracked migration changed (ev.detail),
	 * without a change of phase: e.g. "already reported" after a restart. */
	MG_EVENT_NOTE,
	/* The libvirt connection came up or went down (connected). */
	MG_EVENT_CONNECTION,
	/* The daemon's one-line status (ev.detail), as sent to systemd. */
	MG_EVENT_DAEMON,
};

struct mg_event {
	enum mg_event_kind kind;
	/* What plugins see (kind MG_EVENT_PLUGIN); the other kinds use its
	 * identity fields and detail.  Strings are borrowed for the dispatch. */
	struct migguard_event ev;
	/* Which migration: one status.json entry per key (its watch). */
	const void *key;
	/* ev.direction and ev.phase as the tracker's enums. */
	enum mg_direction dir;
	enum mg_phase phase;
	bool tracking;			/* MG_EVENT_FORGOTTEN */
	bool connected;			/* MG_EVENT_CONNECTION */
};

/* An event of kind, with its time (ev.time_usec, CLOCK_REALTIME) set and
 * nothing else: the emitter fills the rest once. */
struct mg_event mg_event_make(enum mg_event_kind kind);
/* The same for an event of the ABI: ev.kind and its name ("hung",
 * "action", ... as include/migguard/plugin.h lists them). */
static inline struct mg_event mg_event_plugin(enum migguard_event_kind ev_kind, const char *name)
{
	struct mg_event e = mg_event_make(MG_EVENT_PLUGIN);

	e.ev.kind = ev_kind;
	e.ev.name = name;
	return e;
}

/* A sink gets each event once, on the loop thread, and must return at
 * once; e is valid only during the call. */
typedef void (*mg_sink_fn)(void *userdata, const struct mg_event *e);

struct mg_notify;

/* An empty sink list: 0 or -ENOMEM. */
int mg_notify_new(struct mg_notify **out);
/* Drops the list; the sinks' own state belongs to whoever registered
 * them.  Returns NULL. */
struct mg_notify *mg_notify_free(struct mg_notify *n);
static inline void mg_notify_freep(struct mg_notify **n) { if (*n) mg_notify_free(*n); }

/* Adds the sink name at the end.  When a sink of that name is registered
 * already its callback and userdata are replaced in place, so that a
 * reload keeps the order.  0, -EINVAL or -ENOMEM. */
int mg_notify_register(struct mg_notify *n, const char *name, mg_sink_fn fn, void *userdata);
/* Removes the sink name; 0 or -ENOENT. */
int mg_notify_unregister(struct mg_notify *n, const char *name);
size_t mg_notify_count(const struct mg_notify *n);

/* Hands e to every sink in registration order; n may be NULL (nobody
 * listens: the emitter need not care).  A sink that registers or
 * unregisters sinks from its callback is not supported. */
void mg_notify_dispatch(const struct mg_notify *n, const struct mg_event *e);
