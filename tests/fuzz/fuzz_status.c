/* fuzz_status - `migguard status` (cli/status_cmd.c) reading
 * STATE_DIR/status.json.  The text "@PID" in the input becomes this
 * process's pid, so the fuzzer can name a running daemon and reach the
 * table. */
#include "status_cmd.h"
#include "fuzz.h"

static char state[PATH_MAX], path[PATH_MAX + 16], pid[16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(state, sizeof(state), "%s", fuzz_setup("status"));
	snprintf(path, sizeof(path), "%s/status.json", state);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	fuzz_silence_stdout();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size * sizeof(pid) / 4 + 1), *argv[] = {
		(char *)"status", (char *)"--state-dir", state, (char *)"--json", NULL
	};
	size_t len = 0;

	if (!in)
		abort();
	for (size_t i = 0; i < size;) {
		if (size - i >= 4 && memcmp(data + i, "@PID", 4) == 0) {
			memcpy(in + len, pid, strlen(pid));
			len += strlen(pid);
			i += 4;
		} else {
			in[len++] = (char)data[i++];
		}
	}
	fuzz_write_file(path, in, len);
	free(in);
	mg_cli_status(3, argv);
	mg_cli_status(4, argv);
	return 0;
}
