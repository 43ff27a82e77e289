/* conftable.h - the key table and helpers shared by conf.c (defaults,
 * overrides, dump) and confload.c (the file reader); nothing else includes
 * it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define MG_CONF_PLUGIN_PREFIX "plugin "
#define MG_CONF_PLUGIN_NAME_MAX 32
/* The number of entries in mg_conf_keys (checked where it is defined). */
#define MG_CONF_N_KEYS 29

enum mg_conf_key_type {
	KEY_STRING,	/* non-empty string */
	KEY_PATH,	/* absolute path */
	KEY_PATH_OPT,	/* absolute path, or empty for "off" */
	KEY_PATH_LIST,	/* colon-separated absolute paths, or empty */
	KEY_LOG_LEVEL,
	KEY_DURATION,
	KEY_ACTION,
	KEY_BOOL,
	KEY_TEMPLATE,	/* socket template, see mg_conf_expand_template() */
	KEY_URI_TEMPLATE, /* "" or a URI template, see mg_conf_expand_uri() */
	KEY_PC_ACTION,
	KEY_UINT,
};

struct mg_conf_key {
	const char *section;
	const char *name;
	enum mg_conf_key_type type;
	size_t offset;
	uint64_t min, max;	/* durations (usec) and numbers */
};

/* Every key with its section, type and range; parsing, validation and the
 * dump all walk it. */
extern const struct mg_conf_key mg_conf_keys[MG_CONF_N_KEYS];

/* String-valued keys own a heap string at their offset. */
bool mg_conf_key_is_string(const struct mg_conf_key *k);
char **mg_conf_string_field(struct mg_conf *conf, const struct mg_conf_key *k);
void mg_conf_sections_free(struct mg_conf_section *v, size_t n);
/* Checks a socket template's escapes; tells whether it names the domain. */
int mg_conf_template_check(const char *tmpl, bool *names_domain);
