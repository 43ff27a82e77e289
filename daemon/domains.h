/* domains.h - the daemon's libvirt registry: maps libvirt's events to
 * guards (guard.h), one per domain's QEMU process (the pid in libvirt's
 * status XML: a restarted QEMU gets a new guard), and finds jobs already
 * running at start-up and after every reconnect (virDomainGetControlInfo,
 * which takes no job).  What happens on a verdict is the guard's. */
#pragma once

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "env.h"

struct mg_domains;

/* env (copied; what it points to is borrowed) needs pool and io; its conf
 * is read at each use, so a reload takes effect for the next verdict.
 * Recovers half-written incidents and opens the ledger in the state
 * directory.  0, -EINVAL or -ENOMEM. */
int mg_domains_new(const struct mg_env *env, struct mg_domains **out);
/* Frees every guard (its watch, ladder and incident reference); jobs
 * still on env's pools report to nobody. */
void mg_domains_free(struct mg_domains *ds);

/* Callbacks for virt.c (see struct mg_virt_callbacks). */
void mg_domains_connected(struct mg_domains *ds, virConnectPtr conn);
void mg_domains_disconnected(struct mg_domains *ds);
void mg_domains_lifecycle(struct mg_domains *ds, virDomainPtr dom, int event, int detail);
void mg_domains_iteration(struct mg_domains *ds, virDomainPtr dom, int iteration);
void mg_domains_job_completed(struct mg_domains *ds, virDomainPtr dom);
void mg_domains_qemu_migration(struct mg_domains *ds, virDomainPtr dom, const char *status);
/* QEMU's STOP event (libvirt-qemu's relay). */
void mg_domains_qemu_stop(struct mg_domains *ds, virDomainPtr dom);
