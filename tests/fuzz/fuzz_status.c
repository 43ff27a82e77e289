/* fuzz_status - `migguard status` (cli/status_cmd.c) reading
 * STATE_DIR/status.json.  The texts @PID, @START and @BOOT in the input
 * become this process's pid, its start time and the boot id, so the
 * fuzzer can name a running daemon and reach the table. */
#include "procid.h"
#include "status_cmd.h"
#include "util.h"
#include "fuzz.h"

static char state[PATH_MAX], path[PATH_MAX + 16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(state, sizeof(state), "%s", fuzz_setup("status"));
	snprintf(path, sizeof(path), "%s/status.json", state);
	fuzz_self_tokens_init();
	fuzz_silence_stdout();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[] = { (char *)"status", (char *)"--state-dir", state, (char *)"--json", NULL };
	size_t len = 0;
	char *in = fuzz_substitute(data, size, &len);

	fuzz_write_file(path, in, len);
	free(in);
	mg_cli_status(3, argv);
	mg_cli_status(4, argv);
	return 0;
}
