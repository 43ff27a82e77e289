/* main.c - migguardd: flags, then run() with the manager (manager.h), which
 * owns everything else. */
#include "snapshot/snapshot.h"
#include "conf.h"
#include "log.h"
#include "manager.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <sysexits.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: migguardd [OPTIONS]\n"
		"Guards libvirt/QEMU live migrations: times the finish-migrate phase,\n"
		"diagnoses a hung migration and acts on it by policy.\n\n"
		"  -f, --foreground          stay in the foreground, log to stderr\n"
		"  -v, --verbose             log more (repeat for debug)\n"
		"  -c, --config FILE         configuration file (default %s)\n"
		"      --check-config [FILE] validate the configuration and exit\n"
		"                            (with -v, print every effective key)\n"
		"      --qmp SOCKET --pid PID [--name NAME]\n"
		"                            standalone mode: guard one QEMU through its\n"
		"                            QMP socket, without libvirt\n"
		"  -V, --version             print the version and exit\n"
		"  -h, --help                print this help and exit\n",
		MG_CONF_DEFAULT_PATH);
}

/* Exit 78 (EX_CONFIG) for a configuration a plugin or the file refuses,
 * 1 for anything else that stops the daemon. */
static int run(const struct mg_manager_params *p)
{
	_cleanup_(mg_manager_freep) struct mg_manager *m = NULL;

	if (mg_manager_new(p, &m) < 0)
		return EXIT_FAILURE;
	if (mg_manager_load_config(m) < 0)
		return EX_CONFIG;
	return mg_manager_run(m) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	enum { OPT_CHECK_CONFIG = 0x100, OPT_QMP, OPT_PID, OPT_NAME };
	static const struct option options[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", optional_argument, NULL, OPT_CHECK_CONFIG },
		{ "qmp", required_argument, NULL, OPT_QMP },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct mg_manager_params p = { .conf_path = MG_CONF_DEFAULT_PATH };
	bool foreground = false, check = false;
	int c;

	/* As the CLI: the incident's snapshot reads DWARF (inline frames) and
	 * must never wait for a debuginfod download. */
	unsetenv("DEBUGINFOD_URLS");
	mg_snapshot_prepare_process();
	while ((c = getopt_long(argc, argv, "fvc:Vh", options, NULL)) != -1) {
		switch (c) {
		case 'f': foreground = true; break;
		case 'v': p.verbose++; break;
		case 'c': p.conf_path = optarg; p.conf_path_explicit = true; break;
		case OPT_CHECK_CONFIG:
			check = true;
			if (optarg) {
				p.conf_path = optarg;
				p.conf_path_explicit = true;
			}
			break;
		case OPT_QMP: p.qmp_path = optarg; break;
		case OPT_PID: {
			long long v;

			if (mg_parse_int(optarg, 1, INT32_MAX, &v) < 0) {
				fprintf(stderr, "migguardd: invalid --pid '%s'\n", optarg);
				return EX_USAGE;
			}
			p.pid = (pid_t)v;
			break;
		}
		case OPT_NAME: p.name = optarg; break;
		case 'V': printf("migguardd %s\n", PACKAGE_VERSION); return EXIT_SUCCESS;
		case 'h': usage(stdout); return EXIT_SUCCESS;
		default: usage(stderr); return EX_USAGE;
		}
	}
	/* `--check-config FILE`, as written in the docs, as well as the
	 * getopt form `--check-config=FILE`. */
	if (check && !p.conf_path_explicit && optind == argc - 1) {
		p.conf_path = argv[optind++];
		p.conf_path_explicit = true;
	}
	if (!p.qmp_path != !p.pid) {
		fprintf(stderr, "migguardd: --qmp and --pid go together\n");
		return EX_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "migguardd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	/* The only environment the daemon reads, here, once: path overrides
	 * for tests (conf.h). */
	mg_conf_overrides_read(&p.overrides);

	/* Under systemd (Type=notify) the service stays in the foreground and
	 * logs to the journal; -f forces readable stderr lines. */
	mg_log_setup(foreground ? MG_LOG_STDERR : MG_LOG_AUTO,
		     p.verbose ? LOG_DEBUG : LOG_INFO, "migguardd");
	if (check)
		return mg_manager_check_config(&p) < 0 ? EX_CONFIG : EXIT_SUCCESS;
	return run(&p);
}
