/* main.c - `migguard`, the operator's command.  Subcommands are a table:
 * each lives in its own file with a header (snapshot_cmd.h,
 * incidents_cmd.h, status_cmd.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "incidents_cmd.h"
#include "log.h"
#include "snapshot_cmd.h"
#include "status_cmd.h"
#include "util.h"

struct mg_cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct mg_cli_command commands[] = {
	{ "snapshot", mg_cli_snapshot, "threads, stacks, lock graph and known issues of a QEMU pid or domain" },
	{ "incidents", mg_cli_incidents, "list or show the incidents recorded by migguardd" },
	{ "status", mg_cli_status, "what migguardd watches now: migrations, phases, libvirt connection" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: migguard COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; i < MG_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nSee migguard(1).\n");
}

int main(int argc, char **argv)
{
	mg_log_setup(MG_LOG_STDERR, LOG_NOTICE, "migguard");
	/* Debug info comes from the local disk only: a debuginfod download in
	 * the middle of an incident would make the snapshot as slow as gdb. */
	unsetenv("DEBUGINFOD_URLS");
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE : 0;
	}
	for (size_t i = 0; i < MG_ARRAY_SIZE(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "migguard: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EX_USAGE;
}
