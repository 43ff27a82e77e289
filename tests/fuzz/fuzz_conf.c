/* fuzz_conf - the configuration reader (daemon/conf.c): the input is the
 * whole file, read by mg_conf_load() as the daemon reads it (a real file),
 * then dumped and its socket_template expanded as the daemon would. */
#include "conf.h"
#include "fuzz.h"

static char path[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(path, sizeof(path), "%s/migguard.conf", fuzz_setup("conf"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[MG_CONF_ERROR_MAX], sock[108];
	struct mg_conf conf;
	FILE *out;

	fuzz_write_file(path, data, size);
	if (mg_conf_init_defaults(&conf) < 0)
		return 0;
	if (mg_conf_load(path, &conf, err, sizeof(err)) == 0) {
		out = fopen("/dev/null", "we");
		if (out) {
			mg_conf_dump(&conf, out);
			fclose(out);
		}
		mg_conf_expand_template(conf.socket_template, "dom-%n/..", "uuid", sock, sizeof(sock));
		mg_conf_expand_template(conf.socket_template, "busy", "", sock, sizeof(sock));
		for (size_t i = 0; i < conf.n_plugins; i++)
			mg_conf_plugin_section(&conf, conf.plugins[i].name);
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort();	/* the error message must be a terminated string */
	}
	mg_conf_clear(&conf);
	return 0;
}
