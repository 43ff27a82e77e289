/* coredump.h - where the kernel puts the core of a QEMU the guard aborts
 * (action = recover with core_dump = yes), so the incident can say where it
 * went.  The kernel decides: kernel.core_pattern (a file pattern, relative
 * to the dumping process's cwd, or "|helper" such as systemd-coredump),
 * kernel.core_uses_pid, and the process's RLIMIT_CORE. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mg_coredump {
	pid_t pid;
	char pattern[256];	/* kernel.core_pattern when prepared */
	bool uses_pid;		/* kernel.core_uses_pid */
	char cwd[1024];		/* the process's cwd, for a relative pattern */
	int cwd_fd;		/* O_PATH of that cwd: it may be in another mount
				 * namespace than ours; -1 when not opened */
	uint64_t prepared_at;	/* CLOCK_REALTIME, usec */
	bool no_core;		/* file pattern and a hard RLIMIT_CORE of 0 */
	char limit[192];	/* what was seen and done about RLIMIT_CORE */
};

/* Right before SIGABRT, after the pid was verified: reads the kernel's
 * settings and the process's cwd, and raises its soft RLIMIT_CORE to the
 * hard limit (libvirt leaves QEMU libvirtd's limits unless qemu.conf sets
 * max_core, and under systemd the soft limit is 0: core_dump = yes asks for
 * a core).  0 or a negative errno (-ESRCH). */
int mg_coredump_prepare(pid_t pid, struct mg_coredump *c);
void mg_coredump_release(struct mg_coredump *c);

/* The glob(3) pattern of the core file for a file core_pattern: %p and %P
 * become the pid, %% a '%', every other specifier '*'; ".PID" is appended
 * as the kernel does when core_uses_pid is set and the pattern has no %p;
 * a relative pattern is taken from cwd (NULL: left relative).  0, -EINVAL
 * for a pipe pattern,
 * -ENAMETOOLONG. */
int mg_coredump_glob(const char *pattern, bool uses_pid, pid_t pid, const char *cwd, char *out,
		     size_t size);

/* Once the process has exited: 0 with "core written to PATH (N bytes)" or
 * "core piped to HELPER ...", or -ENOENT with why there is none. */
int mg_coredump_locate(const struct mg_coredump *c, char *out, size_t size);
