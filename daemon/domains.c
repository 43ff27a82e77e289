/* domains.c - see domains.h. */
#include "domains.h"
#include "domxml.h"
#include "guard.h"
#include "incident.h"
#include "ledger.h"
#include "log.h"
#include "virt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libvirt/virterror.h>

struct mg_domains {
	struct mg_env env;		/* borrowed from the manager */
	struct mg_ledger *ledger;	/* what the guard did, across its restarts */
	struct mg_guard **guards;	/* one per domain whose QEMU was seen migrating */
	size_t n_guards;
};

static ssize_t find(struct mg_domains *ds, const char *uuid)
{
	for (size_t i = 0; i < ds->n_guards; i++)
		if (strcmp(mg_guard_uuid(ds->guards[i]), uuid) == 0)
			return (ssize_t)i;
	return -1;
}

/* Each guard keeps at most one libvirt call in flight for its watch and
 * one for its ladder: when all their QEMUs hang at once, all those calls
 * may be stuck together, and each ladder must still get its own. */
static void bound_stuck_calls(struct mg_domains *ds)
{
	if (ds->env.pool)
		mg_worker_pool_set_max_stuck(ds->env.pool, MG_WORKER_MAX_STUCK + 2 * (unsigned)ds->n_guards);
}

static void forget(struct mg_domains *ds, struct mg_guard *g)
{
	for (size_t i = 0; i < ds->n_guards; i++) {
		if (ds->guards[i] != g)
			continue;
		mg_guard_free(g);
		ds->guards[i] = ds->guards[--ds->n_guards];
		bound_stuck_calls(ds);
		return;
	}
}

/* The direct monitor, when the domain was given one (see [qmp]
 * socket_template); otherwise the guard uses libvirt's on the source. */
static const char *qmp_path(const struct mg_conf *conf, const char *name, const char *uuid, char *buf, size_t size)
{
	if (conf->socket_template && *conf->socket_template &&
	    mg_conf_expand_template(conf->socket_template, name, uuid, buf, size) == 0 && access(buf, F_OK) == 0)
		return buf;
	return NULL;
}

static ssize_t add(struct mg_domains *ds, virDomainPtr dom, const char *uuid, pid_t pid)
{
	struct mg_guard **g = realloc(ds->guards, (ds->n_guards + 1) * sizeof(*g));
	char qmp[1024];
	struct mg_guard_params p = {
		.name = virDomainGetName(dom), .uuid = uuid, .pid = pid, .dom = dom, .libvirt = true,
		.ledger = ds->ledger,
	};

	if (!g)
		return -ENOMEM;
	ds->guards = g;
	p.qmp_path = qmp_path(ds->env.conf, p.name, uuid, qmp, sizeof(qmp));
	if (mg_guard_new(&ds->env, &p, NULL, NULL, &ds->guards[ds->n_guards]) < 0)
		return -1;
	ds->n_guards++;
	bound_stuck_calls(ds);
	return (ssize_t)ds->n_guards - 1;
}

/* Finds or creates the guard of the domain's QEMU, whose pid libvirt's
 * status XML names: a new QEMU (a restart) gets a new guard. */
static struct mg_guard *ensure_guard(struct mg_domains *ds, virDomainPtr dom, struct mg_domxml *x)
{
	char uuid[VIR_UUID_STRING_BUFLEN], err[256];
	struct mg_domxml local;
	ssize_t i;

	if (virDomainGetUUIDString(dom, uuid) < 0)
		return NULL;
	if (!x) {
		x = &local;
		if (mg_domxml_read(ds->env.conf->libvirt_run_dir, virDomainGetName(dom), x, err, sizeof(err)) < 0) {
			mg_warn("domain %s: cannot read libvirt status XML: %s", virDomainGetName(dom), err);
			return NULL;
		}
	}
	i = find(ds, uuid);
	if (i >= 0 && mg_guard_pid(ds->guards[i]) != x->pid) {
		forget(ds, ds->guards[i]);
		i = -1;
	}
	if (i < 0 && x->pid > 0)
		i = add(ds, dom, uuid, x->pid);
	return i >= 0 ? ds->guards[i] : NULL;
}

static void track(struct mg_domains *ds, virDomainPtr dom, struct mg_domxml *x, enum mg_direction dir,
		  const char *why)
{
	struct mg_guard *g = ensure_guard(ds, dom, x);

	if (g)
		mg_guard_track(g, dir, why);
}

static struct mg_guard *guard_of(struct mg_domains *ds, virDomainPtr dom)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	ssize_t i;

	if (virDomainGetUUIDString(dom, uuid) < 0)
		return NULL;
	i = find(ds, uuid);
	return i >= 0 ? ds->guards[i] : NULL;
}

/* The direction of the domain's migration job, from the status XML. */
static int job_direction(struct mg_domains *ds, virDomainPtr dom, struct mg_domxml *x, enum mg_direction *dir)
{
	char err[256];

	if (mg_domxml_read(ds->env.conf->libvirt_run_dir, virDomainGetName(dom), x, err, sizeof(err)) < 0)
		return -ENOENT;
	if (strcmp(x->async_job, "migration out") == 0)
		*dir = MG_DIR_OUT;
	else if (strcmp(x->async_job, "migration in") == 0)
		*dir = MG_DIR_IN;
	else
		return -ENODATA;
	return 0;
}

void mg_domains_iteration(struct mg_domains *ds, virDomainPtr dom, int iteration)
{
	char why[64];

	snprintf(why, sizeof(why), "libvirt: migration iteration %d", iteration);
	track(ds, dom, NULL, MG_DIR_OUT, why);
}

void mg_domains_qemu_migration(struct mg_domains *ds, virDomainPtr dom, const char *status)
{
	struct mg_guard *g = guard_of(ds, dom);
	struct mg_domxml x;
	enum mg_direction dir;
	char why[96];

	if (g && mg_guard_tracking(g)) {
		mg_guard_on_migration_event(g, status);
		return;
	}
	if (strcmp(status, "setup") != 0 && strcmp(status, "active") != 0)
		return;
	if (job_direction(ds, dom, &x, &dir) < 0)
		return;
	snprintf(why, sizeof(why), "QEMU MIGRATION %s, libvirt job %s", status, x.async_job);
	track(ds, dom, &x, dir, why);
}

void mg_domains_qemu_stop(struct mg_domains *ds, virDomainPtr dom)
{
	struct mg_guard *g = guard_of(ds, dom);

	if (g && mg_guard_tracking(g))
		mg_guard_on_stop(g);
}

void mg_domains_job_completed(struct mg_domains *ds, virDomainPtr dom)
{
	struct mg_guard *g = guard_of(ds, dom);

	if (g)
		mg_guard_end(g, MG_PHASE_COMPLETED, "libvirt: job completed");
}

void mg_domains_lifecycle(struct mg_domains *ds, virDomainPtr dom, int event, int detail)
{
	struct mg_guard *g = guard_of(ds, dom);
	char why[96];

	snprintf(why, sizeof(why), "libvirt: %s (%s)", mg_virt_event_to_string(event),
		 mg_virt_event_detail_to_string(event, detail));
	if (event == VIR_DOMAIN_EVENT_STARTED && detail == VIR_DOMAIN_EVENT_STARTED_MIGRATED) {
		track(ds, dom, NULL, MG_DIR_IN, why);
		return;
	}
	if (!g)
		return;
	if (event == VIR_DOMAIN_EVENT_RESUMED && detail == VIR_DOMAIN_EVENT_RESUMED_MIGRATED &&
	    mg_guard_tracking(g) && mg_guard_direction(g) == MG_DIR_IN) {
		mg_guard_end(g, MG_PHASE_COMPLETED, why);
	} else if ((event == VIR_DOMAIN_EVENT_SUSPENDED && detail == VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED) ||
		   (event == VIR_DOMAIN_EVENT_RESUMED && detail == VIR_DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED)) {
		mg_guard_note(g, why);
		mg_guard_postcopy_failed(g, why);
	} else if (event == VIR_DOMAIN_EVENT_SUSPENDED) {
		/* Never the hang signal: in the real failure STOP is not sent. */
		mg_guard_note(g, why);
	} else if (event == VIR_DOMAIN_EVENT_STOPPED) {
		mg_guard_end(g, detail == VIR_DOMAIN_EVENT_STOPPED_MIGRATED ? MG_PHASE_COMPLETED
									 : MG_PHASE_FAILED, why);
		/* The actions go on (restart follows the kill's STOPPED). */
		if (!mg_guard_acting(g))
			forget(ds, g);
	}
}

/* A job found at connect: control info reads libvirt's own state (no job,
 * no monitor), the status XML says which job it is. */
static void rediscover(struct mg_domains *ds, virDomainPtr dom)
{
	virDomainControlInfo info;
	struct mg_domxml x;
	enum mg_direction dir;
	struct mg_guard *g;
	char why[160];

	if (virDomainGetControlInfo(dom, &info, 0) < 0) {
		virResetLastError();
		return;
	}
	if ((g = guard_of(ds, dom)))
		mg_guard_set_domain(g, dom);
	/* The status XML's async job decides.  Control info only dates it:
	 * it says OK during a healthy migration whenever no monitor call is in
	 * progress, JOB or OCCUPIED (a libvirtd restarted during a hang: its
	 * reconnect thread is stuck in the monitor) otherwise (libvirt 9.0,
	 * seen here). */
	if (job_direction(ds, dom, &x, &dir) < 0) {
		char uuid[VIR_UUID_STRING_BUFLEN];

		/* No migration job: one the guard acted on ended while it was
		 * down; its record must not stand for the next one. */
		if (info.state == VIR_DOMAIN_CONTROL_OK && virDomainGetUUIDString(dom, uuid) == 0)
			mg_ledger_forget_all(ds->ledger, NULL, uuid, ds->env.io);
		return;
	}
	snprintf(why, sizeof(why), "found at connect: libvirt job %s (%s), control %s for %.1f s",
		 x.async_job, x.job_phase, info.state == VIR_DOMAIN_CONTROL_OK ? "ok" :
		 info.state == VIR_DOMAIN_CONTROL_JOB ? "job" :
		 info.state == VIR_DOMAIN_CONTROL_OCCUPIED ? "occupied" : "error",
		 (double)info.stateTime / 1000);
	track(ds, dom, &x, dir, why);
	/* A post-copy that broke while the guard was away: libvirt keeps the
	 * job, paused (libvirt >= 8.5), and QEMU sends no event for it. */
	if (strcmp(x.job_phase, "postcopy_failed") == 0 && (g = guard_of(ds, dom)))
		mg_guard_on_status(g, "postcopy-paused", "status XML: job phase postcopy_failed");
}

void mg_domains_connected(struct mg_domains *ds, virConnectPtr conn)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);

	for (int i = 0; i < n; i++) {
		rediscover(ds, doms[i]);
		virDomainFree(doms[i]);
	}
	free(doms);
	if (n < 0)
		virResetLastError();
}

void mg_domains_disconnected(struct mg_domains *ds)
{
	/* Guards go on: the /proc probe and a direct monitor need no
	 * libvirt.  Their libvirt handles are replaced on reconnect. */
	for (size_t i = 0; i < ds->n_guards; i++)
		mg_guard_set_domain(ds->guards[i], NULL);
}

int mg_domains_new(const struct mg_env *env, struct mg_domains **out)
{
	struct mg_domains *ds;
	int r;

	if (!env->pool || !env->io)
		return -EINVAL;
	ds = calloc(1, sizeof(*ds));
	if (!ds)
		return -ENOMEM;
	ds->env = *env;
	mg_incident_recover(env->conf->state_dir);
	r = mg_ledger_open(env->conf->state_dir, &ds->ledger);
	if (r == -ENOMEM) {
		mg_domains_free(ds);
		return r;
	}
	*out = ds;
	return 0;
}

void mg_domains_free(struct mg_domains *ds)
{
	if (!ds)
		return;
	for (size_t i = 0; i < ds->n_guards; i++)
		mg_guard_free(ds->guards[i]);
	free(ds->guards);
	mg_ledger_free(ds->ledger);
	free(ds);
}
