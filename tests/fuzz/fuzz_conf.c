/* fuzz_conf - the configuration reader (daemon/conf.c): the input is the
 * whole file, read by mg_conf_load() as the daemon reads it (a real file).
 * A file that loads is dumped (`migguardd --check-config -v`); when the
 * file is printable ASCII and newlines (the dump escapes the rest, for the
 * terminal) the dump must load again to the same dump: what the daemon
 * shows is a valid configuration with the same meaning.  The socket_template is expanded as
 * domains.c does. */
#include "conf.h"
#include "fuzz.h"

static char path[PATH_MAX], again[PATH_MAX + 8];
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(path, sizeof(path), "%s/migguard.conf", fuzz_setup("conf"));
	snprintf(again, sizeof(again), "%s.dump", path);
	return 0;
}

/* The dump of conf, malloc'ed. */
static char *dump(const struct mg_conf *conf, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		abort();
	mg_conf_dump(conf, f);
	fclose(f);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[MG_CONF_ERROR_MAX], sock[108];
	struct mg_conf conf, conf2;
	char *d1, *d2;
	size_t l1, l2;

	fuzz_write_file(path, data, size);
	if (mg_conf_init_defaults(&conf) < 0)
		return 0;
	if (mg_conf_load(path, &conf, err, sizeof(err)) < 0) {
		if (!memchr(err, '\0', sizeof(err)) || !err[0])
			abort();	/* an error is a terminated, non-empty message */
		mg_conf_clear(&conf);
		return 0;
	}
	mg_conf_expand_template(conf.socket_template, "dom-%n/..", "uuid", sock, sizeof(sock));
	mg_conf_expand_template(conf.socket_template, "busy", "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", sock,
				sizeof(sock));
	for (size_t i = 0; i < conf.n_plugins; i++)
		if (mg_conf_plugin_section(&conf, conf.plugins[i].name) != &conf.plugins[i])
			abort();	/* a name given twice must have been merged */
	d1 = dump(&conf, &l1);
	for (size_t i = 0; i < size; i++)
		if ((data[i] < 0x20 || data[i] > 0x7e) && data[i] != '\n') {
			free(d1);
			mg_conf_clear(&conf);
			return 0;
		}
	fuzz_write_file(again, d1, l1);
	if (mg_conf_init_defaults(&conf2) < 0)
		abort();
	if (mg_conf_load(again, &conf2, err, sizeof(err)) < 0) {
		fprintf(stderr, "the dump of a valid file does not load: %s\n--- dump:\n%s", err, d1);
		abort();
	}
	d2 = dump(&conf2, &l2);
	if (l1 != l2 || memcmp(d1, d2, l1) != 0) {
		fprintf(stderr, "the dump loads to another configuration:\n--- first:\n%s--- second:\n%s", d1, d2);
		abort();
	}
	free(d1);
	free(d2);
	mg_conf_clear(&conf2);
	mg_conf_clear(&conf);
	return 0;
}
