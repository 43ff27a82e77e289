/* env.h - what the manager (manager.h) lends to the libvirt registry
 * (domains.h), standalone mode and the guards under them: the loop, the
 * configuration, the sinks' dispatcher and the worker pools.  All of it is
 * owned and freed by the manager, after everything that borrows it. */
#pragma once

#include <systemd/sd-event.h>

#include "conf.h"
#include "loopmon.h"
#include "notify.h"
#include "worker.h"

struct mg_env {
	sd_event *loop;
	/* Reloaded in place on SIGHUP: read it when needed, never copy it. */
	const struct mg_conf *conf;
	struct mg_notify *notify;
	/* Blocking libvirt calls, each with a deadline (NULL in standalone
	 * mode, which makes none). */
	struct mg_worker_pool *pool;
	/* Incident files and ledger records: one thread, in order. */
	struct mg_worker_pool *io;
	/* Snapshots (report.h): a few threads, no two on one QEMU. */
	struct mg_worker_pool *snap;
	/* The loop's lateness (loopmon.h): timers that run often feed it. */
	struct mg_loopmon *loopmon;
};
