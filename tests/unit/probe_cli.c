/* probe_cli - runs the /proc BQL probe (probe.c) once on a pid and prints
 * the result as key=value lines, for the QEMU integration tests:
 *   probe_cli PID
 * Exit 0 when the probe ran (whatever it found), 1 on an error. */
#include "probe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct mg_bql_result res;
	char *end;
	long pid;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PID\n", argv[0]);
		return 2;
	}
	pid = strtol(argv[1], &end, 10);
	if (*end || pid <= 0) {
		fprintf(stderr, "probe_cli: bad pid '%s'\n", argv[1]);
		return 2;
	}
	r = mg_probe_bql((pid_t)pid, NULL, &res);
	if (r < 0) {
		fprintf(stderr, "probe_cli: pid %ld: %s\n", pid, strerror(-r));
		return 1;
	}
	printf("held=%d\nmain_blocked=%d\nmain_syscall=%ld\nfutex_addr=0x%" PRIx64 "\nowner_tid=%d\n"
	       "owner_comm=%s\nowner_is_migration=%d\nn_waiters=%u\n",
	       res.held, res.main_blocked, res.main_syscall, res.futex_addr, (int)res.owner_tid,
	       res.owner_comm, res.owner_is_migration, res.n_waiters);
	return 0;
}
