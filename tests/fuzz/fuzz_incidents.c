/* fuzz_incidents - every reader of an incident's report.json: the CLI's
 * `migguard incidents` list and show (cli/incidents_cmd.c), and the
 * daemon's re-read when the ladder appends an action
 * (mg_incident_add_action in daemon/incident.c), whose output is shown
 * again.  The input is the file. */
#include "incident.h"
#include "incidents_cmd.h"
#include "fuzz.h"

#include <sys/stat.h>

#define NAME "20261125T081553.376Z-busy-0b4d1c2e"

static char state[PATH_MAX], dir[PATH_MAX], report[PATH_MAX + 16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(state, sizeof(state), "%s", fuzz_setup("incidents"));
	snprintf(dir, sizeof(dir), "%s/incidents", state);
	if (mkdir(dir, 0700) < 0)
		abort();
	snprintf(dir, sizeof(dir), "%s/incidents/" NAME, state);
	if (mkdir(dir, 0700) < 0)
		abort();
	snprintf(report, sizeof(report), "%s/report.json", dir);
	fuzz_silence_stdout();
	return 0;
}

static void cli(const char *cmd, const char *id)
{
	char *argv[] = { (char *)"incidents", (char *)"--state-dir", state, (char *)cmd, (char *)id, NULL };

	mg_cli_incidents(id ? 5 : 4, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write_file(report, data, size);
	cli("list", NULL);
	cli("show", NAME);
	cli("show", "2026");
	if (mg_incident_add_action(dir, "cancel", -ETIMEDOUT, "QMP migrate_cancel \"quoted\"\n") == 0) {
		cli("list", NULL);
		cli("show", NAME);
	}
	return 0;
}
