/* plugin.h - loads the plugins named by the [plugin NAME] sections
 * (include/migguard/plugin.h is their ABI) and hands them the guard's
 * events.  A set is loaded whole or not at all, so a reload with a bad
 * plugin keeps the running set.  The host's spawn runs commands in child
 * processes watched by the loop (SIGCHLD must be blocked in every thread
 * before any is spawned). */
#pragma once

#include <stddef.h>
#include <systemd/sd-event.h>

#include "conf.h"
#include "migguard/plugin.h"

struct mg_plugins;

/* The directory plugins come from: $MIGGUARD_PLUGIN_DIR, else
 * PKGLIBDIR/plugins. */
const char *mg_plugin_dir(void);

/* Loads every [plugin NAME] of conf from dir (NULL = mg_plugin_dir()):
 * 0 and *out (NULL when conf names none), or a negative errno with
 * "FILE:LINE: [plugin NAME] ..." in err. */
int mg_plugins_load(sd_event *loop, const struct mg_conf *conf, const char *dir, struct mg_plugins **out,
		    char *err, size_t err_size);
/* Calls each plugin's fini and unloads it. */
void mg_plugins_free(struct mg_plugins *set);
size_t mg_plugins_count(const struct mg_plugins *set);

/* The set that mg_plugins_emit() reaches (NULL: none); returns the old one
 * for the caller to free. */
struct mg_plugins *mg_plugins_set_current(struct mg_plugins *set);
void mg_plugins_emit(const struct migguard_event *ev);
/* Fills time_usec and calls mg_plugins_emit(); the strings may be NULL. */
void mg_plugins_emit_simple(enum migguard_event_kind kind, const char *name, const char *domain,
			    const char *uuid, int pid, const char *direction, const char *phase,
			    const char *incident, const char *step, int result, const char *detail);
