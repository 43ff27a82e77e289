/* standalone.h - `migguardd --qmp SOCKET --pid PID`: guards one QEMU
 * process without libvirt.  It finds outgoing migrations itself (QMP
 * MIGRATION events and query-migrate polls), tracks them with the same
 * tracker, and writes an incident on HUNG. */
#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "conf.h"

struct mg_standalone;

/* name may be NULL ("pid-PID").  The loop exits when the process is gone. */
int mg_standalone_start(sd_event *loop, const struct mg_conf *conf, const char *qmp_path, pid_t pid,
			const char *name, struct mg_standalone **out);
void mg_standalone_free(struct mg_standalone *s);
/* Incident files and action records queued or being written (0 for NULL). */
size_t mg_standalone_n_writes_pending(const struct mg_standalone *s);
