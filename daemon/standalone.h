/* standalone.h - `migguardd --qmp SOCKET --pid PID`: guards one QEMU
 * process without libvirt.  Its one guard (guard.h) finds outgoing
 * migrations by itself (QMP MIGRATION events and query-migrate polls);
 * this module starts tracking them, and stops the loop when the process
 * exits. */
#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "env.h"

struct mg_standalone;

/* env (copied; what it points to is borrowed) needs io (pool is unused).
 * name may be NULL ("pid-PID").  The loop exits when the process is gone,
 * once the io pool has written what it holds (at most
 * MG_INCWRITER_DRAIN). */
int mg_standalone_start(const struct mg_env *env, const char *qmp_path, pid_t pid, const char *name,
			struct mg_standalone **out);
void mg_standalone_free(struct mg_standalone *s);
