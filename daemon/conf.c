/* conf.c - see conf.h: the key table (conftable.h), defaults, the
 * environment's overrides, socket templates and the dump; the file reader
 * is confload.c. */
#include "conf.h"
#include "conftable.h"
#include "escape.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MSECS(x) ((uint64_t)(x) * MG_USEC_PER_MSEC)
#define SECS(x) ((uint64_t)(x) * MG_USEC_PER_SEC)
#define MINS(x) (SECS(x) * 60)
#define HOURS(x) (MINS(x) * 60)
#define DAYS(x) (HOURS(x) * 24)

#define KEY(sec, key, type, field, lo, hi) \
	{ sec, #key, type, offsetof(struct mg_conf, field), lo, hi }

const struct mg_conf_key mg_conf_keys[MG_CONF_N_KEYS] = {
	KEY("daemon", uri, KEY_STRING, uri, 0, 0),
	KEY("daemon", state_dir, KEY_PATH, state_dir, 0, 0),
	KEY("daemon", log_level, KEY_LOG_LEVEL, log_level, 0, 0),
	KEY("daemon", libvirt_run_dir, KEY_PATH, libvirt_run_dir, 0, 0),
	KEY("daemon", libvirt_log_dir, KEY_PATH, libvirt_log_dir, 0, 0),
	KEY("daemon", plugin_dir, KEY_PATH, plugin_dir, 0, 0),
	KEY("guard", probe_interval, KEY_DURATION, probe_interval, MSECS(100), SECS(60)),
	KEY("guard", finish_timeout, KEY_DURATION, finish_timeout, SECS(1), HOURS(24)),
	KEY("guard", monitor_timeout, KEY_DURATION, monitor_timeout, MSECS(100), MINS(10)),
	KEY("guard", incoming_timeout, KEY_DURATION, incoming_timeout, SECS(1), HOURS(24)),
	KEY("guard", action, KEY_ACTION, action, 0, 0),
	KEY("guard", recover_grace, KEY_DURATION, recover_grace, 0, HOURS(1)),
	KEY("guard", disk_check, KEY_DURATION, disk_check, 0, HOURS(24)),
	KEY("guard", unstick, KEY_BOOL, unstick, 0, 0),
	KEY("guard", core_dump, KEY_BOOL, core_dump, 0, 0),
	KEY("guard", restart, KEY_BOOL, restart, 0, 0),
	KEY("guard", postcopy_action, KEY_PC_ACTION, postcopy_action, 0, 0),
	KEY("guard", postcopy_stall_timeout, KEY_DURATION, postcopy_stall_timeout, SECS(1), HOURS(1)),
	KEY("qmp", socket_template, KEY_TEMPLATE, socket_template, 0, 0),
	KEY("postcopy", resume_uri, KEY_URI_TEMPLATE, resume_uri, 0, 0),
	KEY("postcopy", resume_migrate_uri, KEY_URI_TEMPLATE, resume_migrate_uri, 0, 0),
	KEY("postcopy", resume_listen_address, KEY_URI_TEMPLATE, resume_listen_address, 0, 0),
	KEY("postcopy", resume_interval, KEY_DURATION, resume_interval, SECS(1), HOURS(1)),
	KEY("postcopy", resume_tries, KEY_UINT, resume_tries, 1, 1000),
	KEY("incidents", max_count, KEY_UINT, max_count, 1, 100000),
	KEY("incidents", max_age, KEY_DURATION, max_age, MINS(1), DAYS(3650)),
	KEY("snapshot", signatures_dir, KEY_PATH, signatures_dir, 0, 0),
	KEY("snapshot", debuginfo_path, KEY_PATH_LIST, debuginfo_path, 0, 0),
	KEY("metrics", textfile, KEY_PATH_OPT, metrics_textfile, 0, 0),
};

/* A key added to the table must be counted in conftable.h. */
_Static_assert(MG_ARRAY_SIZE(mg_conf_keys) == MG_CONF_N_KEYS, "MG_CONF_N_KEYS");

static const char *const action_names[] = {
	[MG_ACTION_NONE] = "none", [MG_ACTION_CANCEL] = "cancel", [MG_ACTION_RECOVER] = "recover",
};

static const char *const pc_action_names[] = {
	[MG_PC_NONE] = "none", [MG_PC_PAUSE] = "pause", [MG_PC_RECOVER] = "recover",
};

/* The name of enum value v in names[], and back. */
static const char *enum_name(const char *const *names, size_t n, unsigned v)
{
	return v < n ? names[v] : "?";
}

static int enum_value(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

const char *mg_pc_action_to_string(enum mg_pc_action a)
{
	return enum_name(pc_action_names, MG_ARRAY_SIZE(pc_action_names), (unsigned)a);
}

int mg_pc_action_from_string(const char *s, enum mg_pc_action *out)
{
	int v = enum_value(pc_action_names, MG_ARRAY_SIZE(pc_action_names), s);

	if (v < 0)
		return v;
	*out = (enum mg_pc_action)v;
	return 0;
}

int mg_conf_expand_uri(const char *tmpl, const char *name, const char *uuid, const char *peer, char *buf,
		       size_t size)
{
	size_t len = 0;

	if (size == 0)
		return -ENAMETOOLONG;
	for (const char *s = tmpl; *s; s++) {
		char one[2] = { *s, '\0' };
		const char *piece = one;
		size_t n;

		if (*s == '%') {
			s++;
			if (*s == 'n')
				piece = name ? name : "";
			else if (*s == 'u')
				piece = uuid ? uuid : "";
			else if (*s == 'a')
				piece = peer;
			else if (*s == '%')
				piece = "%";
			else
				return -EINVAL;
			if (!piece || !*piece)
				return -ENODATA;
		}
		n = strlen(piece);
		if (len + n >= size)
			return -ENAMETOOLONG;
		memcpy(buf + len, piece, n);
		len += n;
	}
	buf[len] = '\0';
	return 0;
}

const char *mg_action_to_string(enum mg_action a)
{
	return enum_name(action_names, MG_ARRAY_SIZE(action_names), (unsigned)a);
}

int mg_action_from_string(const char *s, enum mg_action *out)
{
	int v = enum_value(action_names, MG_ARRAY_SIZE(action_names), s);

	if (v < 0)
		return v;
	*out = (enum mg_action)v;
	return 0;
}

void mg_conf_sections_free(struct mg_conf_section *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < v[i].n; j++) {
			free(v[i].kv[j].key);
			free(v[i].kv[j].value);
		}
		free(v[i].kv);
		free(v[i].name);
	}
	free(v);
}

bool mg_conf_key_is_string(const struct mg_conf_key *k)
{
	return k->type == KEY_STRING || k->type == KEY_PATH || k->type == KEY_PATH_OPT ||
	       k->type == KEY_PATH_LIST || k->type == KEY_TEMPLATE || k->type == KEY_URI_TEMPLATE;
}

char **mg_conf_string_field(struct mg_conf *conf, const struct mg_conf_key *k)
{
	return (char **)((char *)conf + k->offset);
}

void mg_conf_clear(struct mg_conf *conf)
{
	for (size_t i = 0; i < MG_CONF_N_KEYS; i++) {
		if (mg_conf_key_is_string(&mg_conf_keys[i])) {
			free(*mg_conf_string_field(conf, &mg_conf_keys[i]));
			*mg_conf_string_field(conf, &mg_conf_keys[i]) = NULL;
		}
	}
	free(conf->path);
	mg_conf_sections_free(conf->plugins, conf->n_plugins);
	conf->path = NULL;
	conf->plugins = NULL;
	conf->n_plugins = 0;
}

int mg_conf_init_defaults(struct mg_conf *conf)
{
	*conf = (struct mg_conf){
		.log_level = LOG_INFO,
		.probe_interval = SECS(1),
		.finish_timeout = SECS(30),
		.monitor_timeout = SECS(5),
		.incoming_timeout = SECS(120),
		.action = MG_ACTION_NONE,
		.recover_grace = SECS(30),
		.disk_check = SECS(600),
		.core_dump = false,
		.unstick = true,
		.restart = false,
		.postcopy_action = MG_PC_PAUSE,
		.postcopy_stall_timeout = SECS(30),
		.resume_interval = SECS(5),
		.resume_tries = 30,
		.max_count = 50,
		.max_age = DAYS(30),
	};
	conf->uri = strdup("qemu:///system");
	conf->state_dir = strdup(MG_CONF_DEFAULT_STATE_DIR);
	conf->libvirt_run_dir = strdup(MG_CONF_DEFAULT_LIBVIRT_RUN_DIR);
	conf->libvirt_log_dir = strdup(MG_CONF_DEFAULT_LIBVIRT_LOG_DIR);
	conf->plugin_dir = strdup(MG_CONF_DEFAULT_PLUGIN_DIR);
	conf->socket_template = strdup("");
	conf->resume_uri = strdup("");
	conf->resume_migrate_uri = strdup("");
	conf->resume_listen_address = strdup("");
	conf->signatures_dir = strdup(MG_CONF_DEFAULT_SIGNATURES_DIR);
	conf->debuginfo_path = strdup("");
	conf->metrics_textfile = strdup("");
	/* Every string key has a default: none is ever NULL. */
	for (size_t i = 0; i < MG_CONF_N_KEYS; i++) {
		if (mg_conf_key_is_string(&mg_conf_keys[i]) && !*mg_conf_string_field(conf, &mg_conf_keys[i])) {
			mg_conf_clear(conf);
			return -ENOMEM;
		}
	}
	return 0;
}

void mg_conf_overrides_read(struct mg_conf_overrides *o)
{
	static const char *const names[] = {
		"MIGGUARD_LIBVIRT_RUN_DIR", "MIGGUARD_LIBVIRT_LOG_DIR", "MIGGUARD_PLUGIN_DIR",
		"MIGGUARD_SIGNATURES_DIR", "MIGGUARD_DEBUGINFO_PATH",
	};
	const char **v[] = { &o->libvirt_run_dir, &o->libvirt_log_dir, &o->plugin_dir,
			     &o->signatures_dir, &o->debuginfo_path };

	for (size_t i = 0; i < MG_ARRAY_SIZE(names); i++) {
		const char *e = getenv(names[i]);

		*v[i] = e && *e ? e : NULL;
	}
}

int mg_conf_overrides_apply(const struct mg_conf_overrides *o, struct mg_conf *conf)
{
	const char *from[] = { o->libvirt_run_dir, o->libvirt_log_dir, o->plugin_dir,
			       o->signatures_dir, o->debuginfo_path };
	char **to[] = { &conf->libvirt_run_dir, &conf->libvirt_log_dir, &conf->plugin_dir,
			&conf->signatures_dir, &conf->debuginfo_path };
	char *copy[MG_ARRAY_SIZE(from)] = { 0 };

	/* All or nothing. */
	for (size_t i = 0; i < MG_ARRAY_SIZE(from); i++) {
		if (from[i] && !(copy[i] = strdup(from[i]))) {
			for (size_t j = 0; j < i; j++)
				free(copy[j]);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < MG_ARRAY_SIZE(from); i++) {
		if (copy[i]) {
			free(*to[i]);
			*to[i] = copy[i];
		}
	}
	return 0;
}

const struct mg_conf_section *mg_conf_plugin_section(const struct mg_conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->n_plugins; i++)
		if (strcmp(conf->plugins[i].name, name) == 0)
			return &conf->plugins[i];
	return NULL;
}

int mg_conf_template_check(const char *tmpl, bool *names_domain)
{
	*names_domain = false;
	for (const char *s = tmpl; *s; s++) {
		if (*s != '%')
			continue;
		s++;
		if (*s == 'n' || *s == 'u')
			*names_domain = true;
		else if (*s != '%')
			return -EINVAL;
	}
	return 0;
}

int mg_conf_expand_template(const char *tmpl, const char *name, const char *uuid,
			    char *buf, size_t size)
{
	size_t len = 0;

	/* The name becomes one path component: libvirt forbids '/' in QEMU
	 * domain names, but a crafted one must not escape the directory. */
	if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	if (size == 0)
		return -ENAMETOOLONG;
	for (const char *s = tmpl; *s; s++) {
		const char *piece;
		char one[2] = { *s, '\0' };
		size_t n;

		if (*s != '%') {
			piece = one;
		} else {
			s++;
			if (*s == 'n')
				piece = name;
			else if (*s == 'u')
				piece = uuid;
			else if (*s == '%')
				piece = "%";
			else
				return -EINVAL;
		}
		n = strlen(piece);
		if (len + n >= size)
			return -ENAMETOOLONG;
		memcpy(buf + len, piece, n);
		len += n;
	}
	buf[len] = '\0';
	return 0;
}

/* One "key = value" line.  A line the reader took at its bound (inih's
 * INI_MAX_LINE) must come back: without the blanks when they would push
 * it over. */
static void dump_kv(const char *key, const char *value, FILE *out)
{
	size_t len = strlen(key) + (value ? strlen(value) : 0);
	const char *eq = len + 3 < INI_MAX_LINE ? " = " : "=";

	if (!value || !*value)
		eq = " =";
	fputs(MG_ESC(key), out);
	fputs(eq, out);
	/* A value may hold any byte but NUL: shown, not obeyed. */
	mg_escape_fputs(value, 0, out);
	fputc('\n', out);
}

static void dump_value(const struct mg_conf *conf, const struct mg_conf_key *k, FILE *out)
{
	const void *field = (const char *)conf + k->offset;
	char buf[32];
	const char *s = NULL;

	switch (k->type) {
	case KEY_STRING:
	case KEY_PATH:
	case KEY_PATH_OPT:
	case KEY_PATH_LIST:
	case KEY_TEMPLATE:
	case KEY_URI_TEMPLATE:
		s = *(char *const *)field;
		break;
	case KEY_LOG_LEVEL:
		s = mg_log_level_to_string(*(const int *)field);
		break;
	case KEY_DURATION:
		s = mg_format_duration(*(const uint64_t *)field, buf, sizeof(buf));
		break;
	case KEY_ACTION:
		s = mg_action_to_string(*(const enum mg_action *)field);
		break;
	case KEY_PC_ACTION:
		s = mg_pc_action_to_string(*(const enum mg_pc_action *)field);
		break;
	case KEY_BOOL:
		s = *(const bool *)field ? "yes" : "no";
		break;
	case KEY_UINT:
		snprintf(buf, sizeof(buf), "%u", *(const unsigned *)field);
		s = buf;
		break;
	}
	dump_kv(k->name, s, out);
}

void mg_conf_dump(const struct mg_conf *conf, FILE *out)
{
	const char *section = NULL;

	for (size_t i = 0; i < MG_CONF_N_KEYS; i++) {
		if (!section || strcmp(section, mg_conf_keys[i].section) != 0) {
			section = mg_conf_keys[i].section;
			fprintf(out, "%s[%s]\n", i ? "\n" : "", section);
		}
		dump_value(conf, &mg_conf_keys[i], out);
	}
	for (size_t i = 0; i < conf->n_plugins; i++) {
		const struct mg_conf_section *sec = &conf->plugins[i];

		fprintf(out, "\n[" MG_CONF_PLUGIN_PREFIX "%s]\n", sec->name);
		for (size_t j = 0; j < sec->n; j++)
			dump_kv(sec->kv[j].key, sec->kv[j].value, out);
	}
}
