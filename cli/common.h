/* common.h - what several migguard subcommands share. */
#pragma once

#include <json-c/json.h>

#include "conf.h"

/* The state dir to read: state_dir when given, else the one in conf_path
 * (a missing file means the defaults).  conf is initialised here and must
 * be cleared by the caller.  0, or a process exit status (the error
 * printed). */
int mg_cli_state_dir(const char *state_dir, const char *conf_path, struct mg_conf *conf, const char **out);

/* The string value of o[key] (o may be NULL), or dflt when absent. */
const char *mg_cli_jstr(json_object *o, const char *key, const char *dflt);
