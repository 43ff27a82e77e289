/* fuzz.h - what the libFuzzer targets of tests/fuzz/ share: quiet but
 * complete logging (every message is still formatted), a private scratch
 * directory (on /dev/shm when it exists: report.json writes are fsynced),
 * and NUL-terminated copies of the input.  Header-only: each target is one
 * file linked against the daemon's own code. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "procid.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char fuzz_dir[PATH_MAX];

static int fuzz_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

/* Removes path and everything under it (nothing when it is missing). */
static inline void fuzz_rm_rf(const char *path)
{
	nftw(path, fuzz_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void fuzz_cleanup(void)
{
	if (fuzz_dir[0])
		fuzz_rm_rf(fuzz_dir);
}

/* Logging at debug level so every format string runs; MG_FUZZ_LOG=0 keeps
 * it (libFuzzer's -close_fd_mask=2 hides it), otherwise to stderr as well.
 * Creates the scratch directory.  Returns it. */
static inline const char *fuzz_setup(const char *name)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

	mg_log_setup(MG_LOG_STDERR, getenv("MG_FUZZ_QUIET") ? LOG_EMERG : LOG_DEBUG, name);
	signal(SIGPIPE, SIG_IGN);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/mg-%s-XXXXXX", base ? base : "/tmp", name);
	if (!mkdtemp(fuzz_dir)) {
		perror("mkdtemp");
		abort();
	}
	atexit(fuzz_cleanup);
	return fuzz_dir;
}

/* A NUL-terminated copy of the input (embedded NULs kept). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Writes data to path (created or truncated); aborts on failure: the
 * harness, not the code under test, would be broken. */
static inline void fuzz_write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) < 0) {
		perror(path);
		abort();
	}
}

/* Sends stdout to /dev/null: the CLI readers print what they read
 * (MG_FUZZ_STDOUT=1 keeps it, to see what a reproducer prints). */
static inline void fuzz_silence_stdout(void)
{
	int fd;

	if (getenv("MG_FUZZ_STDOUT"))
		return;
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
		abort();
	close(fd);
}

/* @PID, @START and @BOOT in an input become this process's pid, its start
 * time and the boot id, so that a fuzzed file can name a live process (a
 * running daemon, a ledger record's QEMU). */
static struct { const char *token; char value[64]; } fuzz_self_tokens[] = {
	{ "@PID", "" }, { "@START", "" }, { "@BOOT", "" },
};

static inline void fuzz_self_tokens_init(void)
{
	uint64_t start = 0;

	snprintf(fuzz_self_tokens[0].value, sizeof(fuzz_self_tokens[0].value), "%d", (int)getpid());
	if (mg_procfs_start_time(getpid(), &start) < 0)
		abort();
	snprintf(fuzz_self_tokens[1].value, sizeof(fuzz_self_tokens[1].value), "%llu", (unsigned long long)start);
	mg_boot_id(fuzz_self_tokens[2].value, sizeof(fuzz_self_tokens[2].value));
}

/* data with the tokens replaced, malloc'ed and NUL-terminated; *len its
 * length.  Each token is at least 4 bytes and each value below 64. */
static inline char *fuzz_substitute(const uint8_t *data, size_t size, size_t *len)
{
	char *out = malloc(size * 16 + 1);

	if (!out)
		abort();
	*len = 0;
	for (size_t i = 0; i < size;) {
		size_t k;

		for (k = 0; k < sizeof(fuzz_self_tokens) / sizeof(fuzz_self_tokens[0]); k++) {
			size_t tl = strlen(fuzz_self_tokens[k].token), vl = strlen(fuzz_self_tokens[k].value);

			if (size - i >= tl && memcmp(data + i, fuzz_self_tokens[k].token, tl) == 0) {
				memcpy(out + *len, fuzz_self_tokens[k].value, vl);
				*len += vl;
				i += tl;
				break;
			}
		}
		if (k == sizeof(fuzz_self_tokens) / sizeof(fuzz_self_tokens[0]))
			out[(*len)++] = (char)data[i++];
	}
	out[*len] = '\0';
	return out;
}
