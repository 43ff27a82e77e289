/* incidents_cmd.c - see incidents_cmd.h. */
#include "incidents_cmd.h"
#include "common.h"
#include "conf.h"
#include "incident.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <json-c/json.h>
#include <string.h>
#include <sysexits.h>

static json_object *load_report(const char *base, const char *name)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/report.json", base, name) >= sizeof(path))
		return NULL;
	return json_object_from_file(path);
}

static int cmd_list(const char *base)
{
	char **names;
	size_t n;
	int r = mg_incident_list(base, &names, &n);

	if (r == -ENOENT) {
		printf("no incidents in %s\n", base);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "migguard: cannot read %s: %s\n", base, strerror(-r));
		return EXIT_FAILURE;
	}
	if (n == 0)
		printf("no incidents in %s\n", base);
	else
		printf("%-48s %-16s %-9s %-8s %s\n", "ID", "DOMAIN", "VERDICT", "PID", "ACTIONS");
	/* Newest first. */
	for (size_t i = n; i-- > 0;) {
		json_object *rep = load_report(base, names[i]), *acts = NULL;
		size_t nacts = 0;

		if (rep && json_object_object_get_ex(rep, "actions", &acts))
			nacts = json_object_array_length(acts);
		printf("%-48s %-16s %-9s %-8s %zu\n", names[i], mg_cli_jstr(rep, "domain", "?"),
		       mg_cli_jstr(rep, "verdict", rep ? "?" : "(unreadable)"), mg_cli_jstr(rep, "pid", "?"), nacts);
		json_object_put(rep);
	}
	mg_incident_list_free(names, n);
	return 0;
}

/* An ID is a directory name or an unambiguous prefix of one. */
static int resolve_id(const char *base, const char *id, char *name, size_t size)
{
	char **names;
	size_t n, hits = 0;
	int r = mg_incident_list(base, &names, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(names[i], id, strlen(id)) != 0)
			continue;
		if (hits++ == 0 || strcmp(names[i], id) == 0)
			snprintf(name, size, "%s", names[i]);
		if (strcmp(names[i], id) == 0) {
			hits = 1;
			break;
		}
	}
	mg_incident_list_free(names, n);
	return hits == 1 ? 0 : hits == 0 ? -ENOENT : -EEXIST;
}

static void print_timeline(json_object *rep)
{
	json_object *tl, *acts;

	if (json_object_object_get_ex(rep, "timeline", &tl)) {
		printf("\nTimeline:\n");
		for (size_t i = 0; i < json_object_array_length(tl); i++) {
			json_object *e = json_object_array_get_idx(tl, i);
			printf("  %s  +%7.2fs  %-10s %s\n", mg_cli_jstr(e, "at", "?"),
			       json_object_get_double(json_object_object_get(e, "t_s")),
			       mg_cli_jstr(e, "phase", "?"), mg_cli_jstr(e, "text", ""));
		}
	}
	if (json_object_object_get_ex(rep, "actions", &acts)) {
		size_t n = json_object_array_length(acts);

		printf("\nActions:%s\n", n ? "" : " none");
		for (size_t i = 0; i < n; i++) {
			json_object *a = json_object_array_get_idx(acts, i);
			printf("  %s  %-8s %-22s %s\n", mg_cli_jstr(a, "at", "?"), mg_cli_jstr(a, "step", "?"),
			       mg_cli_jstr(a, "result", "?"), mg_cli_jstr(a, "detail", ""));
		}
	}
}

static int cmd_show(const char *base, const char *id)
{
	char name[512];
	json_object *rep;
	int r = resolve_id(base, id, name, sizeof(name));

	if (r < 0) {
		fprintf(stderr, "migguard: incident \"%s\": %s\n", id,
			r == -EEXIST ? "ambiguous prefix" : r == -ENOENT ? "not found" : strerror(-r));
		return EXIT_FAILURE;
	}
	rep = load_report(base, name);
	if (!rep) {
		fprintf(stderr, "migguard: %s/%s/report.json: unreadable\n", base, name);
		return EXIT_FAILURE;
	}
	printf("Incident %s\n", name);
	printf("  domain     %s (uuid %s)\n", mg_cli_jstr(rep, "domain", "?"), mg_cli_jstr(rep, "uuid", "-"));
	printf("  host       %s, QEMU pid %s, %s migration\n", mg_cli_jstr(rep, "host", "?"), mg_cli_jstr(rep, "pid", "?"),
	       mg_cli_jstr(rep, "direction", "?"));
	printf("  verdict    %s\n", mg_cli_jstr(rep, "verdict", "?"));
	printf("  evidence   %s\n", mg_cli_jstr(rep, "evidence", "-"));
	if (mg_cli_jstr(rep, "snapshot_error", NULL))
		printf("  snapshot   %s\n", mg_cli_jstr(rep, "snapshot_error", ""));
	printf("\n%s\n", mg_cli_jstr(rep, "summary", "(no summary)"));
	print_timeline(rep);
	printf("\nFiles: %s/%s/{report.json,stacks.txt,context/}\n", base, name);
	json_object_put(rep);
	return 0;
}

int mg_cli_incidents(int argc, char **argv)
{
	static const struct option options[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *state_dir = NULL, *conf_path = MG_CONF_DEFAULT_PATH;
	char base[PATH_MAX];
	struct mg_conf conf;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:c:h", options, NULL)) != -1) {
		switch (c) {
		case 's': state_dir = optarg; break;
		case 'c': conf_path = optarg; break;
		case 'h':
			printf("Usage: migguard incidents [--state-dir DIR | --config FILE] [list | show ID]\n");
			return 0;
		default: return EX_USAGE;
		}
	}
	r = mg_cli_state_dir(state_dir, conf_path, &conf, &state_dir);
	if (r != 0) {
		mg_conf_clear(&conf);
		return r;
	}
	snprintf(base, sizeof(base), "%s/incidents", state_dir);
	if (optind >= argc || strcmp(argv[optind], "list") == 0)
		r = cmd_list(base);
	else if (strcmp(argv[optind], "show") == 0 && optind + 1 < argc)
		r = cmd_show(base, argv[optind + 1]);
	else {
		fprintf(stderr, "Usage: migguard incidents [list | show ID]\n");
		r = EX_USAGE;
	}
	mg_conf_clear(&conf);
	return r;
}
