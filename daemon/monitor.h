/* monitor.h - the monitor transport of one watched QEMU, for its watch:
 *   - a direct QMP socket (DESIGN.md section 4): connected when the watch
 *     starts and kept, because a connection made during a hang gets QEMU's
 *     greeting but never an answer to qmp_capabilities (libvirt 9.0 / QEMU
 *     7.2 test bed); only a socket served by the QEMU's pid is used (qmp.h,
 *     mg_qmp_expect_peer); reconnected with backoff (backoff.h) while the
 *     QEMU lives;
 *   - else libvirt's qemu-monitor-command on a worker, for query-status on
 *     the source only: libvirt refuses it on the destination during an
 *     incoming migration, and on the source it may block 30 s on the job
 *     lock, so it runs with a deadline and never more than one at a time,
 *     also while an earlier one is stuck inside libvirt.
 * It sends the probe round's requests (at most one of each outstanding)
 * and hands replies and QEMU's events to the watch, which judges them. */
#pragma once

#include <json-c/json.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "qmp.h"
#include "worker.h"

struct mg_monitor;

struct mg_monitor_params {
	const char *name;		/* the domain, for logs */
	pid_t pid;			/* the QEMU process; > 0 with qmp_path */
	const char *qmp_path;		/* direct monitor socket, or NULL */
	virDomainPtr dom;		/* libvirt's transport, or NULL */
	struct mg_worker_pool *pool;	/* required with dom */
	uint64_t timeout;		/* deadline of each request (monitor_timeout) */
};

struct mg_monitor_callbacks {
	/* The direct monitor is connected and negotiated. */
	void (*ready)(struct mg_monitor *m, bool oob, void *userdata);
	/* The direct monitor closed (connected) or a connection attempt
	 * failed (!connected); reason is a negative errno, -EPERM for a
	 * socket not served by the QEMU.  A retry follows while it lives. */
	void (*down)(struct mg_monitor *m, int reason, bool connected, void *userdata);
	/* A QMP event on the direct monitor (data may be NULL). */
	void (*event)(struct mg_monitor *m, const char *event, json_object *data, void *userdata);
	/* query-status's and query-migrate's "return" values (not checked). */
	void (*status)(struct mg_monitor *m, json_object *ret, void *userdata);
	void (*migrate)(struct mg_monitor *m, json_object *ret, void *userdata);
};

/* Nothing is connected before mg_monitor_start.  0 or a negative errno. */
int mg_monitor_new(sd_event *loop, const struct mg_monitor_params *p, const struct mg_monitor_callbacks *cb,
		   void *userdata, struct mg_monitor **out);
/* Connects the direct monitor, when there is one (its callbacks may run
 * from here). */
void mg_monitor_start(struct mg_monitor *m);
/* Requests still out are cancelled (their callbacks do not reach the
 * owner); a libvirt call stuck inside libvirt finishes on its own. */
void mg_monitor_free(struct mg_monitor *m);

/* One probe round's requests: query-status (direct monitor, else libvirt's;
 * the caller never asks libvirt's about an incoming QEMU) and query-migrate
 * (direct monitor only), each unless one is still outstanding.  When the
 * reconnect timer could not be armed, this round reconnects instead. */
void mg_monitor_probe(struct mg_monitor *m, bool status, bool migrate);
/* The direct monitor when connected and READY, else NULL. */
struct mg_qmp *mg_monitor_qmp(struct mg_monitor *m);
const char *mg_monitor_path(const struct mg_monitor *m);
/* The oldest unanswered request on either transport (monotonic usec), 0
 * when the monitor answers. */
uint64_t mg_monitor_unresponsive_since(const struct mg_monitor *m);
/* The direct monitor (QEMU's own, not libvirt's) has a request unanswered:
 * QEMU itself is silent, which libvirt being slow can never explain. */
bool mg_monitor_unresponsive_direct(const struct mg_monitor *m);
/* A new migration: forget libvirt's unanswered time of the last one. */
void mg_monitor_restart_clock(struct mg_monitor *m);
/* Replaces the libvirt domain handle (after a reconnect); dom may be NULL. */
void mg_monitor_set_domain(struct mg_monitor *m, virDomainPtr dom);
