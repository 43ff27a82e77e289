/* plugin.h - loads the plugins named by the [plugin NAME] sections
 * (include/migguard/plugin.h is their ABI) and hands them the guard's
 * events (a sink, notify.h).  A set is loaded whole or not at all, so a
 * reload with a bad plugin keeps the running set.  The host's spawn runs commands in child
 * processes watched by the loop (SIGCHLD must be blocked in every thread
 * before any is spawned). */
#pragma once

#include <stddef.h>
#include <systemd/sd-event.h>

#include "conf.h"
#include "migguard/plugin.h"
#include "notify.h"

struct mg_plugins;

/* Loads every [plugin NAME] of conf from dir (NULL = conf->plugin_dir):
 * 0 and *out (NULL when conf names none), or a negative errno with
 * "FILE:LINE: [plugin NAME] ..." in err.  Spawned commands are watched by
 * loop (NULL: plugins cannot spawn, for --check-config). */
int mg_plugins_load(sd_event *loop, const struct mg_conf *conf, const char *dir, struct mg_plugins **out,
		    char *err, size_t err_size);
/* Calls each plugin's fini and unloads it; set may be NULL. */
void mg_plugins_free(struct mg_plugins *set);
static inline void mg_plugins_freep(struct mg_plugins **set) { mg_plugins_free(*set); }
size_t mg_plugins_count(const struct mg_plugins *set);

/* The sink (notify.h; userdata: the set, may be NULL): hands each event
 * of the ABI's kinds (MG_EVENT_PLUGIN) to each plugin's on_event, in the
 * order of the file's sections; the daemon's own kinds go to none. */
void mg_plugins_on_event(void *userdata, const struct mg_event *e);
