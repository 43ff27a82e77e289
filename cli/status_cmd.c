/* status_cmd.c - see status_cmd.h. */
#include "status_cmd.h"
#include "common.h"
#include "escape.h"
#include "procid.h"
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

/* Exit statuses (man/migguard.1): 3 as LSB's "program is not running";
 * the others from sysexits.h. */
#define MG_STATUS_NOT_RUNNING 3
#define MG_STATUS_PERMISSION EX_NOPERM		/* 77: cannot tell, status.json or /proc unreadable */
#define MG_STATUS_MALFORMED EX_DATAERR		/* 65: status.json malformed */

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

static void print_table(struct mg_cli_doc *doc, json_object *list)
{
	size_t n = json_object_array_length(list);

	printf("\n%zu migration%s watched%s\n", n, n == 1 ? "" : "s", n ? ":" : ".");
	if (!n)
		return;
	printf("  %-20s %-9s %-10s %10s %8s  %s\n", "DOMAIN", "DIRECTION", "PHASE", "FOR", "QEMU PID", "LAST");
	for (size_t i = 0; i < n; i++) {
		json_object *m = mg_cli_object_at(doc, list, "migrations", i);
		double age;
		char for_[32] = "?", pid[24] = "?";
		int64_t v;

		if (!m)
			continue;
		age = age_of(mg_cli_str(doc, m, "phase_since", ""));
		if (age >= 0)
			snprintf(for_, sizeof(for_), "%.1f s", age);
		if (mg_cli_int(doc, m, "pid", &v))
			snprintf(pid, sizeof(pid), "%lld", (long long)v);
		printf("  %-20s %-9s %-10s %10s %8s  %s\n", MG_ESC(mg_cli_str(doc, m, "domain", "")),
		       MG_ESC(mg_cli_str(doc, m, "direction", "")), MG_ESC(mg_cli_str(doc, m, "phase", "")), for_, pid,
		       MG_ESC(mg_cli_str(doc, m, "detail", "")));
	}
}

/* Whether pid is still the daemon that wrote doc: a pid alone proves
 * nothing once the daemon died and the pid was reused.  The daemon records
 * its start time (field 22 of /proc/PID/stat) and the boot id
 * (daemon/status.h); a file without them (an older daemon) is trusted when
 * the process is named migguardd.  0 (it is), -ESRCH (no such process),
 * -ESTALE (another process, *why says which), -EACCES (/proc hides it). */
static int same_daemon(struct mg_cli_doc *doc, pid_t pid, char *why, size_t size)
{
	char comm[64], boot[64];
	const char *rec_boot = mg_cli_str(doc, doc->root, "boot_id", NULL);
	uint64_t start;
	int64_t rec_start;
	int r = mg_procfs_start_time(pid, &start);

	if (r == -ESRCH)
		/* Mounted with hidepid=, /proc shows only our own processes. */
		return kill(pid, 0) < 0 && errno == EPERM ? -EACCES : -ESRCH;
	if (r == -EACCES || r == -EPERM)
		return -EACCES;
	if (mg_procfs_comm(pid, 0, comm, sizeof(comm)) < 0)
		snprintf(comm, sizeof(comm), "?");
	snprintf(why, size, "pid %d is now %s", (int)pid, MG_ESC(comm));
	if (r < 0)
		return r;
	if (rec_boot) {
		if (mg_boot_id_of(pid, boot, sizeof(boot)) == 0 && strcmp(boot, rec_boot) != 0) {
			snprintf(why, size, "the file is from an earlier boot");
			return -ESTALE;
		}
	}
	if (mg_cli_int(doc, doc->root, "start_time", &rec_start))
		return (uint64_t)rec_start == start ? 0 : -ESTALE;
	return strcmp(comm, "migguardd") == 0 ? 0 : -ESTALE;
}

/* Reads status.json and says whether its daemon runs: 0 or an exit
 * status (the message printed). */
static int load_running(const char *path, struct mg_cli_doc *doc, pid_t *pid_out)
{
	char why[160] = "";
	int64_t pid = 0;
	int r = mg_cli_doc_load(path, doc);

	if (r == -ENOENT) {
		printf("migguardd is not running (no %s)\n", MG_ESC(path));
		return MG_STATUS_NOT_RUNNING;
	}
	if (r == -EACCES || r == -EPERM) {
		fprintf(stderr, "migguard: cannot tell whether migguardd runs: %s: permission denied (run as root)\n",
			MG_ESC(path));
		return MG_STATUS_PERMISSION;
	}
	if (r < 0) {
		fprintf(stderr, "migguard: cannot tell whether migguardd runs: %s: %s\n", MG_ESC(path),
			mg_cli_doc_strerror(r));
		return r == -EBADMSG || r == -EINVAL || r == -EFBIG ? MG_STATUS_MALFORMED : EXIT_FAILURE;
	}
	if (!mg_cli_int(doc, doc->root, "pid", &pid) || pid <= 0 || pid > INT_MAX) {
		fprintf(stderr, "migguard: cannot tell whether migguardd runs: %s: malformed: %s\n", MG_ESC(path),
			doc->problem[0] ? MG_ESC(doc->problem) : "no valid \"pid\"");
		return MG_STATUS_MALFORMED;
	}
	r = same_daemon(doc, (pid_t)pid, why, sizeof(why));
	if (r == -EACCES) {
		fprintf(stderr, "migguard: cannot tell whether migguardd (pid %d) runs: /proc/%d: permission denied\n",
			(int)pid, (int)pid);
		return MG_STATUS_PERMISSION;
	}
	if (r < 0) {
		printf("migguardd (pid %d) is not running%s%s: %s is from %s, the daemon died without removing it\n",
		       (int)pid, why[0] && r == -ESTALE ? ", " : "", r == -ESTALE ? why : "", MG_ESC(path),
		       MG_ESC(mg_cli_str(doc, doc->root, "updated", "?")));
		return MG_STATUS_NOT_RUNNING;
	}
	*pid_out = (pid_t)pid;
	return 0;
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
	struct mg_cli_doc doc = { 0 };
	json_object *list;
	double late, own;
	bool json = false;
	pid_t pid = 0;
	int c, r;

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
	r = load_running(path, &doc, &pid);
	if (r != 0)
		goto out;
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(doc.root, JSON_C_TO_STRING_PRETTY));
		goto out;
	}
	printf("migguardd %s (pid %d) running since %s\n", MG_ESC(mg_cli_str(&doc, doc.root, "package_version", "")),
	       (int)pid, MG_ESC(mg_cli_str(&doc, doc.root, "started", "")));
	printf("  %s\n", MG_ESC(mg_cli_str(&doc, doc.root, "daemon", "")));
	/* Absent from the files of daemons before 0.2. */
	if (mg_cli_double(&doc, doc.root, "loop_lateness_max_ms", &late)) {
		if (mg_cli_double(&doc, doc.root, "loop_lateness_own_max_ms", &own))
			printf("  loop lateness: max %.1f ms since start, %.1f ms of it the daemon's own\n", late,
			       own);
		else
			printf("  loop lateness: max %.1f ms since start\n", late);
	}
	if ((list = mg_cli_array(&doc, doc.root, "migrations")))
		print_table(&doc, list);
	if (doc.problem[0]) {
		fflush(stdout);
		fprintf(stderr, "migguard: %s malformed: %s\n", MG_ESC(path), MG_ESC(doc.problem));
		r = MG_STATUS_MALFORMED;
	}
out:
	mg_cli_doc_clear(&doc);
	mg_conf_clear(&conf);
	return r;
}
