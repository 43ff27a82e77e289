/* domains.h - the daemon's per-domain registry: turns libvirt's events
 * into migration tracks (DESIGN.md section 4) and watches (watch.c), finds
 * jobs already running at start-up and after every reconnect
 * (virDomainGetControlInfo, which takes no job), and writes the incident on
 * a verdict. */
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
/* Frees every domain's watch, ladder and incident reference; jobs still
 * on env's pools report to nobody. */
void mg_domains_free(struct mg_domains *ds);

/* Callbacks for virt.c (see struct mg_virt_callbacks). */
void mg_domains_connected(struct mg_domains *ds, virConnectPtr conn);
void mg_domains_disconnected(struct mg_domains *ds);
void mg_domains_lifecycle(struct mg_domains *ds, virDomainPtr dom, int event, int detail);
void mg_domains_iteration(struct mg_domains *ds, virDomainPtr dom, int iteration);
void mg_domains_job_completed(struct mg_domains *ds, virDomainPtr dom);
void mg_domains_qemu_migration(struct mg_domains *ds, virDomainPtr dom, const char *status);
