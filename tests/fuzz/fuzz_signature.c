/* fuzz_signature - the known-issue signature loader
 * (daemon/snapshot/signature.c; format in conf/signatures/README): the
 * input is one .sig file in a signatures directory, loaded by
 * mg_signatures_load() as `migguard snapshot` and the daemon do, then
 * matched against hand-built snapshots (the seed's lock cycle in the shapes
 * of tests/unit/fake_snapshot.h) and rendered into
 * the summary and the JSON an incident carries. */
#include "snapshot/lockgraph.h"
#include "snapshot/model.h"
#include "snapshot/signature.h"
#include "../unit/fake_snapshot.h"
#include "util.h"
#include "fuzz.h"

static char dir[PATH_MAX], path[PATH_MAX + 16];
static struct mg_snapshot *snaps[4];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(dir, sizeof(dir), "%s", fuzz_setup("signature"));
	snprintf(path, sizeof(path), "%s/fuzz.sig", dir);
	snaps[0] = mg_test_deadlock(MG_TEST_DWARF);
	snaps[1] = mg_test_deadlock(MG_TEST_SYMTAB);
	snaps[2] = mg_test_deadlock(MG_TEST_REPORT);
	snaps[3] = mg_test_deadlock(MG_TEST_BARE);
	devnull = fopen("/dev/null", "we");
	if (!devnull)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_signature *sigs = NULL;
	size_t n = 0;

	fuzz_write_file(path, data, size);
	if (mg_signatures_load(dir, &sigs, &n) == 0) {
		for (size_t i = 0; i < MG_ARRAY_SIZE(snaps); i++) {
			json_object *j;

			mg_signatures_match(sigs, n, snaps[i]);
			mg_snapshot_write_summary(snaps[i], devnull);
			mg_snapshot_write_text(snaps[i], devnull);
			j = mg_snapshot_to_json(snaps[i]);
			json_object_to_json_string(j);
			json_object_put(j);
			mg_snap_sigs_clear(snaps[i]);
		}
	}
	mg_signatures_free(sigs, n);
	return 0;
}
