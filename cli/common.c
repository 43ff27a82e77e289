/* common.c - see common.h. */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

int mg_cli_state_dir(const char *state_dir, const char *conf_path, struct mg_conf *conf, const char **out)
{
	char err[MG_CONF_ERROR_MAX];
	int r;

	if (mg_conf_init_defaults(conf) < 0)
		return EXIT_FAILURE;
	if (!state_dir) {
		r = mg_conf_load(conf_path, conf, err, sizeof(err));
		if (r < 0 && r != -ENOENT) {
			fprintf(stderr, "migguard: %s\n", err);
			return EX_CONFIG;
		}
		state_dir = conf->state_dir;
	}
	*out = state_dir;
	return 0;
}

const char *mg_cli_jstr(json_object *o, const char *key, const char *dflt)
{
	json_object *v;

	if (o && json_object_object_get_ex(o, key, &v) && v)
		return json_object_get_string(v);
	return dflt;
}
