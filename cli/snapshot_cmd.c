/* snapshot_cmd.c - see snapshot_cmd.h. */
#include "snapshot_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "domxml.h"
#include "escape.h"
#include "log.h"
#include "snapshot/snapshot.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: migguard snapshot [--json] [--output DIR] [--max-frames N]\n"
		   "                         [--signatures DIR] [--source-lines]\n"
		   "                         [--debuginfo-path DIR[:DIR...]]\n"
		   "                         [--no-unwind] [--verbose]\n"
		   "                         PID | --domain NAME [--libvirt-run-dir DIR]\n");
}

/* The QEMU pid from libvirt's status XML: no libvirt call, so it works
 * while every virsh command on the domain hangs. */
static int domain_pid(const char *run_dir, const char *name, pid_t *pid)
{
	struct mg_domxml dx;
	char err[512] = "";
	int r = mg_domxml_read(run_dir, name, &dx, err, sizeof(err));

	if (r < 0) {
		fprintf(stderr, "migguard: domain %s: %s\n", MG_ESC(name), err[0] ? MG_ESC(err) : strerror(-r));
		return r;
	}
	if (dx.pid <= 0) {
		fprintf(stderr, "migguard: domain %s is not running (no pid in its status XML)\n", MG_ESC(name));
		return -ESRCH;
	}
	*pid = dx.pid;
	return 0;
}

static int emit(const struct mg_snapshot *snap, bool json, const char *dir)
{
	int r;

	if (dir) {
		r = mg_snapshot_write_dir(snap, dir);
		if (r < 0) {
			fprintf(stderr, "migguard: writing %s: %s\n", MG_ESC(dir), strerror(-r));
			return EX_CANTCREAT;
		}
	}
	if (json) {
		json_object *doc = mg_snapshot_to_json(snap);

		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(doc);
	} else if (dir) {
		mg_snapshot_write_summary(snap, stdout);
		printf("report: %s/report.json, %s/stacks.txt\n", MG_ESC(dir), MG_ESC(dir));
	} else {
		mg_snapshot_write_text(snap, stdout);
	}
	return fflush(stdout) == 0 ? 0 : EXIT_FAILURE;
}

int mg_cli_snapshot(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "max-frames", required_argument, NULL, 'm' },
		{ "signatures", required_argument, NULL, 's' },
		{ "domain", required_argument, NULL, 'd' },
		{ "libvirt-run-dir", required_argument, NULL, 'r' },
		{ "no-unwind", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "source-lines", no_argument, NULL, 'l' },
		{ "debuginfo-path", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct mg_snapshot_opts opts = { .debuginfo_dirs = getenv("MIGGUARD_DEBUGINFO_PATH") };
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *snap = NULL;
	const char *dir = NULL, *domain = NULL, *run_dir = NULL;
	bool json = false;
	long long v;
	pid_t pid = 0;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jo:m:s:d:r:nvlg:h", options, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'o': dir = optarg; break;
		case 'm':
			if (mg_parse_int(optarg, 1, 4096, &v) < 0) {
				fprintf(stderr, "migguard: --max-frames: expected 1..4096\n");
				return EX_USAGE;
			}
			opts.max_frames = (unsigned)v;
			break;
		case 's': opts.signatures_dir = optarg; break;
		case 'd': domain = optarg; break;
		case 'r': run_dir = optarg; break;
		case 'n': opts.no_unwind = true; break;
		case 'v': mg_log_set_max_level(LOG_DEBUG); break;
		case 'l': opts.source_lines = true; break;
		case 'g': opts.debuginfo_dirs = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (domain && optind == argc) {
		if (domain_pid(run_dir, domain, &pid) < 0)
			return EX_UNAVAILABLE;
	} else if (!domain && optind + 1 == argc && mg_parse_int(argv[optind], 1, INT_MAX, &v) == 0) {
		pid = (pid_t)v;
	} else {
		usage(stderr);
		return EX_USAGE;
	}
	r = mg_snapshot_take(pid, &opts, &snap);
	if (r == -EPERM)
		return EX_NOPERM;
	if (r < 0)
		return EX_UNAVAILABLE;
	return emit(snap, json, dir);
}
