/* migguard/plugin.h - the plugin ABI of migguardd (version 1).
 *
 * A plugin is a shared object NAME.so in migguardd's plugin directory
 * (PKGLIBDIR/plugins), loaded for each [plugin NAME] section of
 * migguard.conf.  It exports one symbol:
 *
 *     const struct migguard_plugin migguard_plugin_v1 = { ... };
 *
 * The file, its directory and every directory above it must be owned by
 * root and writable by nobody else (a sticky directory above the plugin's
 * own, like /tmp, excepted), or migguardd refuses to load it; it is opened
 * once, checked through that descriptor and loaded from it.  Every callback runs on migguardd's
 * event loop thread and must return at once: a plugin that has slow work to
 * do (a command, a network call) hands it to host->spawn, which runs it in a
 * child process with a deadline. */
#ifndef MIGGUARD_PLUGIN_H
#define MIGGUARD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MIGGUARD_PLUGIN_ABI 1

enum migguard_event_kind {
	MIGGUARD_EVENT_MIGRATION_STARTED = 1,	/* a migration is tracked */
	MIGGUARD_EVENT_PHASE_CHANGED,		/* active -> finishing, ... */
	MIGGUARD_EVENT_VERDICT,			/* HUNG (outgoing) or STALLED (incoming) */
	MIGGUARD_EVENT_INCIDENT_WRITTEN,	/* incident directory complete */
	MIGGUARD_EVENT_ACTION_DONE,		/* one escalation-ladder step */
	MIGGUARD_EVENT_MIGRATION_ENDED,		/* completed, failed or cancelled */
};

/* Strings are valid only during the on_event call; absent ones are NULL. */
struct migguard_event {
	enum migguard_event_kind kind;
	const char *name;	/* "migration-started", "phase-changed", "hung",
				 * "stalled", "incident", "action", "migration-ended" */
	uint64_t time_usec;	/* CLOCK_REALTIME */
	const char *domain;
	const char *uuid;
	int pid;		/* the QEMU process */
	const char *direction;	/* "outgoing" or "incoming" */
	const char *phase;	/* the phase after the event */
	const char *incident;	/* incident directory, once written */
	const char *step;	/* ACTION_DONE: cancel, yank, kill, ... */
	int result;		/* ACTION_DONE, INCIDENT_WRITTEN: 0 or -errno */
	const char *detail;	/* one human-readable sentence */
};

/* One key of the plugin's [plugin NAME] section, with its line number. */
struct migguard_option {
	const char *key;
	const char *value;
	unsigned line;
};

/* Who a spawned command runs as (host->spawn_as). */
struct migguard_user {
	uid_t uid;		/* not 0 */
	gid_t gid;
	size_t n_groups;	/* the supplementary groups, all of them */
	const gid_t *groups;
};

/* What migguardd offers a plugin. */
struct migguard_host {
	unsigned abi;
	/* syslog priority; lands in the journal with the plugin's name. */
	void (*log)(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	/* Runs argv[0] (an absolute path) with envp in a child process: stdin
	 * from /dev/null, stdout and stderr to migguardd's log; SIGKILLed after
	 * timeout_usec (0 = 60 s); its exit is logged.  Returns at once: 0 or a
	 * negative errno. */
	int (*spawn)(const char *const *argv, const char *const *envp, uint64_t timeout_usec);
	/* Like spawn, as user (NULL: as spawn): the child takes user's groups,
	 * gid and uid before exec, which leaves it none of migguardd's
	 * capabilities, and checks that none is left; when it cannot, it
	 * logs why and exits 126.  Appended to ABI 1 with the exec plugin's
	 * user option: plugins ship with their migguardd. */
	int (*spawn_as)(const char *const *argv, const char *const *envp, uint64_t timeout_usec,
			const struct migguard_user *user);
};

struct migguard_plugin {
	unsigned abi;		/* MIGGUARD_PLUGIN_ABI */
	const char *name;	/* must equal the file's NAME */
	/* Validates the options and sets *state.  On error returns a negative
	 * errno, writes a message to err and the offending option's line to
	 * *err_line (0 = the section itself). */
	int (*init)(const struct migguard_host *host, const struct migguard_option *opts, size_t n_opts,
		    void **state, char *err, size_t err_size, unsigned *err_line);
	void (*on_event)(void *state, const struct migguard_event *ev);
	void (*fini)(void *state);
};

#endif
