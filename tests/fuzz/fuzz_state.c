/* fuzz_state - files in the daemon's state directory, read at start and on
 * the loop: the ledger's records (STATE_DIR/acted/NAME.json, daemon/
 * ledger.c), half-written incidents (STATE_DIR/incidents/.tmp-NAME,
 * mg_incident_recover), and the incident listing and retention
 * (mg_incident_list, mg_incident_prune in daemon/incident.c).
 *
 * The first line of the input is NAME (a '/' becomes '_'), the rest is the
 * content of every file; @PID, @START and @BOOT become this process's pid,
 * its start time and the boot id, so a record can name a live process. */
#include "incident.h"
#include "ledger.h"
#include "procid.h"
#include "util.h"
#include "fuzz.h"

#include <sys/stat.h>

static char state[PATH_MAX];
static struct mg_procid self;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(state, sizeof(state), "%s/state", fuzz_setup("state"));
	self.pidfd = -1;
	if (mg_procid_capture(getpid(), &self) < 0)
		abort();
	fuzz_self_tokens_init();
	return 0;
}

static void put(const char *dir, const char *name, const char *content, size_t len)
{
	char path[PATH_MAX + 512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fuzz_write_file(path, content, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t nlen = nl ? (size_t)(nl - data) : 0, clen, tlen;
	char *name, *content, dir[PATH_MAX + 512], file[300];
	struct mg_ledger *l = NULL;
	char **names;
	size_t n;

	if (nlen > 200)
		return 0;
	name = fuzz_substitute(data, nlen, &tlen);
	content = fuzz_substitute(nl ? nl + 1 : data, nl ? size - nlen - 1 : size, &clen);
	for (char *p = name; *p; p++)
		if (*p == '/')
			*p = '_';
	if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strlen(name) != tlen || tlen > 200)
		goto out;	/* not a file name, or too long for one */
	fuzz_rm_rf(state);
	if (mkdir(state, 0700) < 0)
		abort();
	snprintf(dir, sizeof(dir), "%s/acted", state);
	mkdir(dir, 0700);
	snprintf(file, sizeof(file), "%s.json", name);
	put(dir, file, content, clen);
	snprintf(dir, sizeof(dir), "%s/incidents", state);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/incidents/.tmp-%s", state, name);
	if (mkdir(dir, 0700) == 0)
		put(dir, "report.json", content, clen);
	snprintf(dir, sizeof(dir), "%s/incidents/%s", state, name);
	if (mkdir(dir, 0700) == 0)
		put(dir, "report.json", content, clen);

	mg_incident_recover(state);
	if (mg_ledger_open(state, &l) == 0) {
		for (enum mg_direction d = MG_DIR_OUT; d <= MG_DIR_IN; d++) {
			struct mg_ledger_key k;

			mg_ledger_key_init(&k, &self, NULL, d);
			if (!mg_ledger_find(l, &k))
				mg_ledger_note(l, &k, true, "x");
			mg_ledger_forget(l, &k, NULL);
		}
		mg_ledger_forget_all(l, &self, NULL, NULL);
	}
	mg_ledger_free(l);
	snprintf(dir, sizeof(dir), "%s/incidents", state);
	if (mg_incident_list(dir, &names, &n) == 0)
		mg_incident_list_free(names, n);
	mg_incident_prune(state, 1, 30 * 24 * 3600 * MG_USEC_PER_SEC, name);
out:
	free(name);
	free(content);
	return 0;
}
