/* incidents_cmd.c - see incidents_cmd.h. */
#include "incidents_cmd.h"
#include "common.h"
#include "conf.h"
#include "escape.h"
#include "incident.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <json-c/json.h>
#include <string.h>
#include <sysexits.h>

/* Loads base/name/report.json into doc; 0 or a negative errno (see
 * mg_cli_doc_load). */
static int load_report(const char *base, const char *name, struct mg_cli_doc *doc)
{
	char path[PATH_MAX];

	memset(doc, 0, sizeof(*doc));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s/report.json", base, name) >= sizeof(path))
		return -ENAMETOOLONG;
	return mg_cli_doc_load(path, doc);
}

/* One row: a report that cannot be read or holds a member of the wrong
 * type is listed as such (the reason on stderr), never stops the list. */
static void list_one(const char *base, const char *name)
{
	struct mg_cli_doc doc;
	json_object *acts = NULL;
	char pid[24] = "?", nacts[24] = "?";
	const char *domain = "?", *verdict;
	int64_t v;
	int r = load_report(base, name, &doc);

	if (r == 0) {
		domain = mg_cli_str(&doc, doc.root, "domain", "?");
		verdict = mg_cli_str(&doc, doc.root, "verdict", "?");
		if (mg_cli_int(&doc, doc.root, "pid", &v))
			snprintf(pid, sizeof(pid), "%lld", (long long)v);
		if ((acts = mg_cli_array(&doc, doc.root, "actions")))
			snprintf(nacts, sizeof(nacts), "%zu", json_object_array_length(acts));
		else if (!doc.problem[0])
			snprintf(nacts, sizeof(nacts), "0");
		if (doc.problem[0]) {
			verdict = "(malformed)";
			fprintf(stderr, "migguard: incident %s: report.json: malformed: %s\n", MG_ESC(name),
				MG_ESC(doc.problem));
		}
	} else {
		verdict = r == -EBADMSG ? "(malformed)" : "(unreadable)";
		fprintf(stderr, "migguard: incident %s: report.json: %s\n", MG_ESC(name), mg_cli_doc_strerror(r));
	}
	printf("%-48s %-16s %-12s %-8s %s\n", MG_ESC(name), MG_ESC(domain), MG_ESC(verdict), pid, nacts);
	mg_cli_doc_clear(&doc);
}

static int cmd_list(const char *base)
{
	char **names;
	size_t n;
	int r = mg_incident_list(base, &names, &n);

	if (r == -ENOENT) {
		printf("no incidents in %s\n", MG_ESC(base));
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "migguard: cannot read %s: %s\n", MG_ESC(base), strerror(-r));
		return EXIT_FAILURE;
	}
	if (n == 0)
		printf("no incidents in %s\n", MG_ESC(base));
	else
		printf("%-48s %-16s %-12s %-8s %s\n", "ID", "DOMAIN", "VERDICT", "PID", "ACTIONS");
	/* Newest first. */
	for (size_t i = n; i-- > 0;)
		list_one(base, names[i]);
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

/* Whether o[key] is there (and not null), of whatever type. */
static bool present(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v;
}

static void print_timeline(struct mg_cli_doc *doc)
{
	json_object *tl = mg_cli_array(doc, doc->root, "timeline");
	json_object *acts = mg_cli_array(doc, doc->root, "actions");

	if (tl || present(doc->root, "timeline"))
		printf("\nTimeline:%s\n", tl ? "" : " (malformed)");
	for (size_t i = 0; tl && i < json_object_array_length(tl); i++) {
		json_object *e = mg_cli_object_at(doc, tl, "timeline", i);
		double t = 0;

		if (!e)
			continue;
		mg_cli_double(doc, e, "t_s", &t);
		printf("  %s  +%7.2fs  %-10s %s\n", MG_ESC(mg_cli_str(doc, e, "at", "?")), t,
		       MG_ESC(mg_cli_str(doc, e, "phase", "?")), MG_ESC(mg_cli_str(doc, e, "text", "")));
	}
	if (acts || present(doc->root, "actions"))
		printf("\nActions:%s\n", !acts ? " (malformed)" : json_object_array_length(acts) ? "" : " none");
	for (size_t i = 0; acts && i < json_object_array_length(acts); i++) {
		json_object *a = mg_cli_object_at(doc, acts, "actions", i);

		if (!a)
			continue;
		printf("  %s  %-14s %-22s %s\n", MG_ESC(mg_cli_str(doc, a, "at", "?")),
		       MG_ESC(mg_cli_str(doc, a, "step", "?")), MG_ESC(mg_cli_str(doc, a, "result", "?")),
		       MG_ESC(mg_cli_str(doc, a, "detail", "")));
	}
}

/* Prints what the report holds; a member of the wrong type is left out
 * and named on stderr (exit EX_DATAERR), the rest still shown. */
static int cmd_show(const char *base, const char *id)
{
	char name[512], pid[24] = "?";
	struct mg_cli_doc doc;
	const char *snap_error;
	int64_t v;
	int r = resolve_id(base, id, name, sizeof(name));

	if (r < 0) {
		fprintf(stderr, "migguard: incident \"%s\": %s\n", MG_ESC(id),
			r == -EEXIST ? "ambiguous prefix" : r == -ENOENT ? "not found" : strerror(-r));
		return EXIT_FAILURE;
	}
	r = load_report(base, name, &doc);
	if (r < 0) {
		fprintf(stderr, "migguard: %s/%s/report.json: %s\n", MG_ESC(base), MG_ESC(name), mg_cli_doc_strerror(r));
		mg_cli_doc_clear(&doc);
		return r == -EBADMSG ? EX_DATAERR : EXIT_FAILURE;
	}
	if (mg_cli_int(&doc, doc.root, "pid", &v))
		snprintf(pid, sizeof(pid), "%lld", (long long)v);
	printf("Incident %s\n", MG_ESC(name));
	printf("  domain     %s (uuid %s)\n", MG_ESC(mg_cli_str(&doc, doc.root, "domain", "?")),
	       MG_ESC(mg_cli_str(&doc, doc.root, "uuid", "-")));
	printf("  host       %s, QEMU pid %s, %s migration\n", MG_ESC(mg_cli_str(&doc, doc.root, "host", "?")), pid,
	       MG_ESC(mg_cli_str(&doc, doc.root, "direction", "?")));
	printf("  verdict    %s\n", MG_ESC(mg_cli_str(&doc, doc.root, "verdict", "?")));
	printf("  evidence   %s\n", MG_ESC(mg_cli_str(&doc, doc.root, "evidence", "-")));
	if ((snap_error = mg_cli_str(&doc, doc.root, "snapshot_error", NULL))) {
		printf("  snapshot   ");
		mg_escape_fputs(snap_error, MG_ESCAPE_MULTILINE, stdout);
		putchar('\n');
	}
	putchar('\n');
	mg_escape_fputs(mg_cli_str(&doc, doc.root, "summary", "(no summary)"), MG_ESCAPE_MULTILINE, stdout);
	putchar('\n');
	print_timeline(&doc);
	printf("\nFiles: %s/%s/{report.json,stacks.txt,context/}\n", MG_ESC(base), MG_ESC(name));
	r = 0;
	if (doc.problem[0]) {
		fflush(stdout);
		fprintf(stderr, "migguard: %s/%s/report.json: malformed: %s\n", MG_ESC(base), MG_ESC(name),
			MG_ESC(doc.problem));
		r = EX_DATAERR;
	}
	mg_cli_doc_clear(&doc);
	return r;
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
