/* domains.h - the daemon's per-domain registry: turns libvirt's events
 * into migration tracks (DESIGN.md section 4) and watches (watch.c), finds
 * jobs already running at start-up and after every reconnect
 * (virDomainGetControlInfo, which takes no job), and writes the incident on
 * a verdict. */
#pragma once

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "conf.h"

struct mg_domains;

/* conf is borrowed and may be replaced by mg_domains_set_conf (SIGHUP). */
int mg_domains_new(sd_event *loop, const struct mg_conf *conf, struct mg_domains **out);
void mg_domains_free(struct mg_domains *ds);
void mg_domains_set_conf(struct mg_domains *ds, const struct mg_conf *conf);

/* Callbacks for virt.c (see struct mg_virt_callbacks). */
void mg_domains_connected(struct mg_domains *ds, virConnectPtr conn);
void mg_domains_disconnected(struct mg_domains *ds);
void mg_domains_lifecycle(struct mg_domains *ds, virDomainPtr dom, int event, int detail);
void mg_domains_iteration(struct mg_domains *ds, virDomainPtr dom, int iteration);
void mg_domains_job_completed(struct mg_domains *ds, virDomainPtr dom);
void mg_domains_qemu_migration(struct mg_domains *ds, virDomainPtr dom, const char *status);
/* True while a libvirt call made for a domain has not returned: closing the
 * connection would then wait behind it (libvirt serialises the client's
 * calls), possibly forever. */
bool mg_domains_libvirt_busy(const struct mg_domains *ds);
/* Incident files and action records queued or being written (0 for NULL). */
size_t mg_domains_n_writes_pending(const struct mg_domains *ds);
