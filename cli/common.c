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
