/* conf.h - the daemon's configuration: INI file parsed with libinih, every
 * key defaulted and validated, errors reported as "file:line: ...". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MG_CONF_DEFAULT_PATH SYSCONFDIR "/migguard/migguard.conf"
#define MG_CONF_ERROR_MAX 512
/* Fixed rather than under $(localstatedir): systemd puts a service's
 * StateDirectory= under /var/lib whatever the prefix. */
#define MG_CONF_DEFAULT_STATE_DIR "/var/lib/migguard"
/* libvirt's own (QEMU driver, system instance). */
#define MG_CONF_DEFAULT_LIBVIRT_RUN_DIR "/run/libvirt/qemu"
#define MG_CONF_DEFAULT_LIBVIRT_LOG_DIR "/var/log/libvirt/qemu"
#define MG_CONF_DEFAULT_PLUGIN_DIR PKGLIBDIR "/plugins"
#define MG_CONF_DEFAULT_SIGNATURES_DIR PKGDATADIR "/signatures"

enum mg_action { MG_ACTION_NONE, MG_ACTION_CANCEL, MG_ACTION_RECOVER };
/* What the guard does when a post-copy migration's link breaks or stalls:
 * nothing, pause both sides (postcopy-paused) and keep them there, or
 * pause and resume when the destination answers again. */
enum mg_pc_action { MG_PC_NONE, MG_PC_PAUSE, MG_PC_RECOVER };

/* One key of a [plugin NAME] section, with its line for the plugin's own
 * "file:line" errors. */
struct mg_conf_kv {
	char *key;
	char *value;
	unsigned line;
};

/* A [plugin NAME] section, kept verbatim: the plugin validates it. */
struct mg_conf_section {
	char *name;			/* NAME, without "plugin " */
	unsigned line;			/* of its first [plugin NAME] header */
	size_t n;
	struct mg_conf_kv *kv;
};

struct mg_conf {
	/* [daemon] */
	char *uri;
	char *state_dir;
	int log_level;			/* syslog level */
	char *libvirt_run_dir;		/* libvirt's status XML: NAME.xml */
	char *libvirt_log_dir;		/* QEMU logs: NAME.log */
	char *plugin_dir;		/* NAME.so of each [plugin NAME] */
	/* [guard] */
	uint64_t probe_interval;	/* usec */
	uint64_t finish_timeout;
	uint64_t monitor_timeout;
	uint64_t incoming_timeout;
	enum mg_action action;
	uint64_t recover_grace;
	uint64_t disk_check;		/* after a recovery: watch for a successful I/O this long; 0 = off */
	bool unstick;			/* the unstick rung (socket shutdown) may run */
	bool core_dump;
	bool restart;
	enum mg_pc_action postcopy_action;
	uint64_t postcopy_stall_timeout;	/* postcopy-active without progress this long: stalled */
	/* [postcopy]: how a paused post-copy migration is resumed (templates,
	 * "" = not set; expansions %n %u %a %%, %a = the destination's address
	 * as the migration stream's peer) */
	char *resume_uri;		/* the destination libvirt's URI (dconnuri) */
	char *resume_migrate_uri;	/* the migration stream's URI; "" = libvirt's choice */
	char *resume_listen_address;	/* where the destination listens; "" = libvirt's choice */
	uint64_t resume_interval;	/* between tries */
	unsigned resume_tries;		/* per break */
	/* [qmp] */
	char *socket_template;		/* "" = no direct monitor; expansions %n %u %% */
	/* [incidents] */
	unsigned max_count;
	uint64_t max_age;
	/* [snapshot] */
	char *signatures_dir;		/* known-issue signatures (*.sig) */
	char *debuginfo_path;		/* "" or colon-separated directories of separate
					 * debug files searched before /usr/lib/debug */
	/* [metrics] */
	char *metrics_textfile;		/* "" = no Prometheus textfile */
	/* [plugin NAME] sections in file order */
	struct mg_conf_section *plugins;
	size_t n_plugins;
	char *path;			/* file the values came from; NULL = defaults */
};

/* Fills conf with every default; 0 or -ENOMEM. */
int mg_conf_init_defaults(struct mg_conf *conf);
/* Frees the strings of conf (not conf itself). */
void mg_conf_clear(struct mg_conf *conf);

/* Loads path on top of the defaults into *conf only when the whole file is
 * valid; otherwise leaves *conf untouched, writes "file:line: message" to
 * err and returns -EINVAL (or -errno when the file cannot be read). */
int mg_conf_load(const char *path, struct mg_conf *conf, char *err, size_t err_size);

/* The environment variables that override a path key, for tests and a
 * libvirt with other paths: MIGGUARD_LIBVIRT_RUN_DIR, _LIBVIRT_LOG_DIR,
 * _PLUGIN_DIR ([daemon] libvirt_run_dir, libvirt_log_dir, plugin_dir),
 * MIGGUARD_SIGNATURES_DIR, _DEBUGINFO_PATH ([snapshot] signatures_dir,
 * debuginfo_path).  Read once, by main; applied on top of every file
 * loaded (start, SIGHUP, --check-config, whose -v shows them). */
struct mg_conf_overrides {
	const char *libvirt_run_dir, *libvirt_log_dir, *plugin_dir, *signatures_dir, *debuginfo_path;
};

/* Reads the overrides from the environment (unset or empty: none); the
 * strings are the environment's. */
void mg_conf_overrides_read(struct mg_conf_overrides *o);
/* Sets every key o overrides; 0 or -ENOMEM (conf then unchanged). */
int mg_conf_overrides_apply(const struct mg_conf_overrides *o, struct mg_conf *conf);

/* Writes every key with its effective value, as an INI file; control
 * bytes in values are escaped (\xNN, see escape.h). */
void mg_conf_dump(const struct mg_conf *conf, FILE *out);

/* The [plugin NAME] section, or NULL when the file has none. */
const struct mg_conf_section *mg_conf_plugin_section(const struct mg_conf *conf, const char *name);

/* Expands a socket_template: %n = domain name, %u = uuid, %% = '%'.  0, or
 * -EINVAL (bad template, or a name that would leave the directory: '/',
 * "." or "..") or -ENAMETOOLONG when it does not fit in buf. */
int mg_conf_expand_template(const char *tmpl, const char *name, const char *uuid,
			    char *buf, size_t size);

/* A resume template expanded: %n name, %u uuid, %a peer address (NULL or
 * "": -ENODATA when the template uses it), %% a %.  0, -EINVAL,
 * -ENAMETOOLONG. */
int mg_conf_expand_uri(const char *tmpl, const char *name, const char *uuid, const char *peer, char *buf,
		       size_t size);
const char *mg_pc_action_to_string(enum mg_pc_action a);
int mg_pc_action_from_string(const char *s, enum mg_pc_action *out);
const char *mg_action_to_string(enum mg_action a);
/* 0 and *out set, or -EINVAL. */
int mg_action_from_string(const char *s, enum mg_action *out);
