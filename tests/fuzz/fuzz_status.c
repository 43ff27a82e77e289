/* fuzz_status - `migguard status` (cli/status_cmd.c) reading
 * STATE_DIR/status.json.  The texts @PID, @START and @BOOT in the input
 * become this process's pid, its start time and the boot id, so the
 * fuzzer can name a running daemon and reach the table. */
#include "procid.h"
#include "status_cmd.h"
#include "util.h"
#include "fuzz.h"

static char state[PATH_MAX], path[PATH_MAX + 16];
static struct { const char *token; char value[64]; } subst[] = { { "@PID", "" }, { "@START", "" }, { "@BOOT", "" } };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint64_t start = 0;
	ssize_t n;

	snprintf(state, sizeof(state), "%s", fuzz_setup("status"));
	snprintf(path, sizeof(path), "%s/status.json", state);
	snprintf(subst[0].value, sizeof(subst[0].value), "%d", (int)getpid());
	mg_proc_start_time(getpid(), &start);
	snprintf(subst[1].value, sizeof(subst[1].value), "%llu", (unsigned long long)start);
	n = mg_read_file("/proc/sys/kernel/random/boot_id", subst[2].value, sizeof(subst[2].value));
	if (n > 0 && subst[2].value[n - 1] == '\n')
		subst[2].value[n - 1] = '\0';
	fuzz_silence_stdout();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Each token is at least 4 bytes and each value below 64. */
	char *in = malloc(size * 16 + 1), *argv[] = {
		(char *)"status", (char *)"--state-dir", state, (char *)"--json", NULL
	};
	size_t len = 0;

	if (!in)
		abort();
	for (size_t i = 0; i < size;) {
		size_t k;

		for (k = 0; k < MG_ARRAY_SIZE(subst); k++) {
			size_t tl = strlen(subst[k].token);

			if (size - i >= tl && memcmp(data + i, subst[k].token, tl) == 0) {
				memcpy(in + len, subst[k].value, strlen(subst[k].value));
				len += strlen(subst[k].value);
				i += tl;
				break;
			}
		}
		if (k == MG_ARRAY_SIZE(subst))
			in[len++] = (char)data[i++];
	}
	fuzz_write_file(path, in, len);
	free(in);
	mg_cli_status(3, argv);
	mg_cli_status(4, argv);
	return 0;
}
