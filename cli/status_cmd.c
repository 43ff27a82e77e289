/* status_cmd.c - see status_cmd.h. */
#include "status_cmd.h"
#include "common.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#define MG_STATUS_NOT_RUNNING 3

static int jint(json_object *o, const char *key)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v) && v ? json_object_get_int(v) : 0;
}

/* "2026-11-25T08:15:53.376Z" -> seconds before now, or -1. */
static double age_of(const char *utc)
{
	struct tm tm = { 0 };
	struct timespec now;
	const char *rest = strptime(utc, "%Y-%m-%dT%H:%M:%S", &tm);
	double frac = 0;

	if (!rest)
		return -1;
	if (*rest == '.')
		frac = strtod(rest, NULL);
	clock_gettime(CLOCK_REALTIME, &now);
	return (double)now.tv_sec + now.tv_nsec / 1e9 - ((double)timegm(&tm) + frac);
}

static void print_table(json_object *list)
{
	size_t n = json_object_array_length(list);

	printf("\n%zu migration%s watched%s\n", n, n == 1 ? "" : "s", n ? ":" : ".");
	if (!n)
		return;
	printf("  %-20s %-9s %-10s %10s %8s  %s\n", "DOMAIN", "DIRECTION", "PHASE", "FOR", "QEMU PID", "LAST");
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(list, i);
		double age = age_of(mg_cli_jstr(m, "phase_since", ""));
		char for_[32];

		if (age < 0)
			snprintf(for_, sizeof(for_), "?");
		else
			snprintf(for_, sizeof(for_), "%.1f s", age);
		printf("  %-20s %-9s %-10s %10s %8d  %s\n", mg_cli_jstr(m, "domain", ""),
		       mg_cli_jstr(m, "direction", ""), mg_cli_jstr(m, "phase", ""), for_, jint(m, "pid"),
		       mg_cli_jstr(m, "detail", ""));
	}
}

int mg_cli_status(int argc, char **argv)
{
	static const struct option options[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *state_dir = NULL, *conf_path = MG_CONF_DEFAULT_PATH;
	char path[PATH_MAX];
	struct mg_conf conf;
	json_object *root = NULL, *list;
	bool json = false;
	int c, r, pid;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:c:jh", options, NULL)) != -1) {
		switch (c) {
		case 's': state_dir = optarg; break;
		case 'c': conf_path = optarg; break;
		case 'j': json = true; break;
		case 'h':
			printf("Usage: migguard status [--state-dir DIR | --config FILE] [--json]\n");
			return 0;
		default: return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Usage: migguard status [--state-dir DIR | --config FILE] [--json]\n");
		return EX_USAGE;
	}
	r = mg_cli_state_dir(state_dir, conf_path, &conf, &state_dir);
	if (r != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/status.json", state_dir);
	root = json_object_from_file(path);
	if (!root) {
		printf("migguardd is not running (no readable %s)\n", path);
		r = MG_STATUS_NOT_RUNNING;
		goto out;
	}
	pid = jint(root, "pid");
	/* EPERM still means alive; only ESRCH says the daemon is gone. */
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH)) {
		printf("migguardd (pid %d) is not running: %s is from %s, the daemon died without removing it\n",
		       pid, path, mg_cli_jstr(root, "updated", ""));
		r = MG_STATUS_NOT_RUNNING;
		goto out;
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
		goto out;
	}
	printf("migguardd %s (pid %d) running since %s\n", mg_cli_jstr(root, "package_version", ""), pid,
	       mg_cli_jstr(root, "started", ""));
	printf("  %s\n", mg_cli_jstr(root, "daemon", ""));
	if (json_object_object_get_ex(root, "migrations", &list))
		print_table(list);
out:
	json_object_put(root);
	mg_conf_clear(&conf);
	return r;
}
