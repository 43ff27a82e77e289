/* domains.c - see domains.h. */
#include "domains.h"
#include "ladder.h"
#include "domxml.h"
#include "incident.h"
#include "incwriter.h"
#include "ledger.h"
#include "log.h"
#include "procid.h"
#include "report.h"
#include "util.h"
#include "virt.h"
#include "watch.h"

#include <errno.h>
#include <string.h>
#include <libvirt/virterror.h>

struct mg_dom_entry {
	struct mg_domains *ds;
	char uuid[VIR_UUID_STRING_BUFLEN];
	char name[256];
	pid_t pid;
	struct mg_procid id;		/* the QEMU process as first seen */
	struct mg_watch *watch;
	virDomainPtr dom;		/* NULL while disconnected */
	bool reported;			/* incident written for the current track */
	struct mg_incwriter *incident;
	struct mg_ladder *ladder;	/* the actions on the current verdict */
	bool acted;			/* never act twice on one migration */
};

struct mg_domains {
	struct mg_env env;		/* borrowed from the manager */
	struct mg_ledger *ledger;	/* what the guard did, across its restarts */
	struct mg_dom_entry **entries;
	size_t n_entries;
};

static struct mg_dom_entry *find(struct mg_domains *ds, const char *uuid)
{
	for (size_t i = 0; i < ds->n_entries; i++)
		if (strcmp(ds->entries[i]->uuid, uuid) == 0)
			return ds->entries[i];
	return NULL;
}

static void entry_free(struct mg_dom_entry *e)
{
	mg_ladder_free(e->ladder);
	mg_watch_free(e->watch);
	if (e->dom)
		virDomainFree(e->dom);
	mg_procid_release(&e->id);
	mg_incwriter_unref(e->incident);
	free(e);
}

static void forget(struct mg_domains *ds, const char *uuid)
{
	for (size_t i = 0; i < ds->n_entries; i++) {
		if (strcmp(ds->entries[i]->uuid, uuid) != 0)
			continue;
		entry_free(ds->entries[i]);
		ds->entries[i] = ds->entries[--ds->n_entries];
		return;
	}
}

static void on_ladder_done(struct mg_ladder *l, void *userdata)
{
	struct mg_dom_entry *e = userdata;

	mg_notice("domain %s: actions finished", e->name);
}

/* The policy: the domain's <metadata> (migguard:action) over the file's. */
static enum mg_action policy(struct mg_dom_entry *e, const char *status_xml)
{
	struct mg_domxml x;
	char err[256];

	if (mg_domxml_parse_file(status_xml, &x, err, sizeof(err)) == 0 && x.has_action)
		return x.action;
	return e->ds->env.conf->action;
}

static void act(struct mg_dom_entry *e, enum mg_action action, bool lock_cycle)
{
	const struct mg_conf *conf = e->ds->env.conf;
	struct mg_ladder_params p = {
		.action = action, .watch = e->watch, .dom = e->dom, .pool = e->ds->env.pool,
		.notify = e->ds->env.notify, .id = &e->id, .incident = e->incident,
		.step_timeout = conf->monitor_timeout, .recover_grace = conf->recover_grace,
		.core_dump = conf->core_dump, .restart = conf->restart, .lock_cycle = lock_cycle,
	};
	int r;

	if (e->acted || p.action == MG_ACTION_NONE)
		return;
	e->acted = true;
	mg_ladder_free(e->ladder);
	e->ladder = NULL;
	mg_notice("domain %s: action %s", e->name, mg_action_to_string(p.action));
	r = mg_ladder_start(e->ds->env.loop, &p, on_ladder_done, e, &e->ladder);
	if (r < 0 && r != -ECANCELED)
		mg_error_errno(r, "domain %s: cannot start the actions", e->name);
}

static void on_verdict(struct mg_watch *w, enum mg_track_change c, void *userdata)
{
	struct mg_dom_entry *e = userdata;
	struct mg_domains *ds = e->ds;
	struct mg_ledger_entry rec = { .at = mg_now_real() };
	char xml[1024], log[1024];
	enum mg_action action;
	bool lock_cycle = false;

	if (e->reported)
		return;
	e->reported = true;
	/* A guard restarted after its verdict re-finds the same migration. */
	mg_ledger_key_init(&rec.key, &e->id, e->uuid, mg_watch_get_track(w)->direction);
	if (mg_report_already(&ds->env, mg_ledger_find(ds->ledger, &rec.key), w)) {
		e->acted = true;
		return;
	}
	snprintf(xml, sizeof(xml), "%s/%s.xml", ds->env.conf->libvirt_run_dir, e->name);
	snprintf(log, sizeof(log), "%s/%s.log", ds->env.conf->libvirt_log_dir, e->name);
	action = policy(e, xml);
	rec.acted = !e->acted && action != MG_ACTION_NONE;
	e->incident = mg_incwriter_unref(e->incident);
	mg_report_incident(&ds->env, w, xml, log, &rec, &e->incident, &lock_cycle);
	mg_ledger_note(ds->ledger, &rec.key, rec.acted, e->incident ? mg_incwriter_dir(e->incident) : NULL);
	act(e, action, lock_cycle);
}

static void on_ended(struct mg_watch *w, void *userdata)
{
	struct mg_dom_entry *e = userdata;
	struct mg_ledger_key k;

	e->reported = false;
	mg_ledger_key_init(&k, &e->id, e->uuid, mg_watch_get_track(w)->direction);
	mg_ledger_forget(e->ds->ledger, &k, e->ds->env.io);
}

static int make_watch(struct mg_domains *ds, struct mg_dom_entry *e, virDomainPtr dom)
{
	static const struct mg_watch_callbacks cb = { .verdict = on_verdict, .ended = on_ended };
	const struct mg_conf *conf = ds->env.conf;
	char qmp[1024] = "";
	struct mg_watch_params p = {
		.name = e->name, .uuid = e->uuid, .pid = e->pid, .dom = dom, .pool = ds->env.pool,
		.notify = ds->env.notify,
		.probe_interval = conf->probe_interval,
		.limits = { conf->finish_timeout, conf->monitor_timeout, conf->incoming_timeout },
	};

	/* The direct monitor is used when the domain was given one (see
	 * [qmp] socket_template); otherwise libvirt's monitor on the source. */
	if (conf->socket_template && *conf->socket_template &&
	    mg_conf_expand_template(conf->socket_template, e->name, e->uuid, qmp, sizeof(qmp)) == 0 &&
	    access(qmp, F_OK) == 0)
		p.qmp_path = qmp;
	return mg_watch_new(ds->env.loop, &p, &cb, e, &e->watch);
}

/* Finds or creates the domain's entry and its watch, for the QEMU pid in
 * libvirt's status XML. */
static struct mg_dom_entry *ensure_entry(struct mg_domains *ds, virDomainPtr dom, struct mg_domxml *x)
{
	char uuid[VIR_UUID_STRING_BUFLEN], err[256];
	struct mg_dom_entry *e;
	struct mg_domxml local;
	int r;

	if (virDomainGetUUIDString(dom, uuid) < 0)
		return NULL;
	if (!x) {
		x = &local;
		if (mg_domxml_read(ds->env.conf->libvirt_run_dir, virDomainGetName(dom), x, err, sizeof(err)) < 0) {
			mg_warn("domain %s: cannot read libvirt status XML: %s", virDomainGetName(dom), err);
			return NULL;
		}
	}
	e = find(ds, uuid);
	if (e && e->pid != x->pid) {
		forget(ds, uuid);
		e = NULL;
	}
	if (e)
		return e;
	if (x->pid <= 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ds = ds;
	snprintf(e->uuid, sizeof(e->uuid), "%s", uuid);
	snprintf(e->name, sizeof(e->name), "%s", virDomainGetName(dom));
	e->pid = x->pid;
	e->id.pidfd = -1;
	r = mg_procid_capture(e->pid, &e->id);
	if (r < 0) {
		mg_warn_errno(r, "domain %s: QEMU pid %d", e->name, (int)e->pid);
		free(e);
		return NULL;
	}
	virDomainRef(dom);
	e->dom = dom;
	r = make_watch(ds, e, dom);
	if (r < 0) {
		mg_error_errno(r, "domain %s: cannot watch it", e->name);
		entry_free(e);
		return NULL;
	}
	struct mg_dom_entry **n = realloc(ds->entries, (ds->n_entries + 1) * sizeof(*n));
	if (!n) {
		entry_free(e);
		return NULL;
	}
	ds->entries = n;
	ds->entries[ds->n_entries++] = e;
	return e;
}

static void track(struct mg_domains *ds, virDomainPtr dom, struct mg_domxml *x, enum mg_direction dir,
		  const char *why)
{
	struct mg_dom_entry *e = ensure_entry(ds, dom, x);

	if (e && !mg_watch_tracking(e->watch)) {
		e->reported = false;
		e->acted = false;
		mg_watch_track(e->watch, dir, why);
	}
}

static struct mg_watch *watch_of(struct mg_domains *ds, virDomainPtr dom)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	struct mg_dom_entry *e;

	if (virDomainGetUUIDString(dom, uuid) < 0)
		return NULL;
	e = find(ds, uuid);
	return e ? e->watch : NULL;
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
	struct mg_watch *w = watch_of(ds, dom);
	struct mg_domxml x;
	enum mg_direction dir;
	char why[96];

	if (w && mg_watch_tracking(w)) {
		mg_watch_on_status(w, status, "QEMU MIGRATION event");
		return;
	}
	if (strcmp(status, "setup") != 0 && strcmp(status, "active") != 0)
		return;
	if (job_direction(ds, dom, &x, &dir) < 0)
		return;
	snprintf(why, sizeof(why), "QEMU MIGRATION %s, libvirt job %s", status, x.async_job);
	track(ds, dom, &x, dir, why);
}

void mg_domains_job_completed(struct mg_domains *ds, virDomainPtr dom)
{
	struct mg_watch *w = watch_of(ds, dom);

	if (w)
		mg_watch_end(w, MG_PHASE_COMPLETED, "libvirt: job completed");
}

void mg_domains_lifecycle(struct mg_domains *ds, virDomainPtr dom, int event, int detail)
{
	struct mg_watch *w = watch_of(ds, dom);
	char uuid[VIR_UUID_STRING_BUFLEN], why[96];

	snprintf(why, sizeof(why), "libvirt: %s (%s)", mg_virt_event_to_string(event),
		 mg_virt_event_detail_to_string(event, detail));
	if (event == VIR_DOMAIN_EVENT_STARTED && detail == VIR_DOMAIN_EVENT_STARTED_MIGRATED) {
		track(ds, dom, NULL, MG_DIR_IN, why);
		return;
	}
	if (!w)
		return;
	if (event == VIR_DOMAIN_EVENT_RESUMED && detail == VIR_DOMAIN_EVENT_RESUMED_MIGRATED &&
	    mg_watch_tracking(w) && mg_watch_get_track(w)->direction == MG_DIR_IN) {
		mg_watch_end(w, MG_PHASE_COMPLETED, why);
	} else if (event == VIR_DOMAIN_EVENT_SUSPENDED && mg_watch_tracking(w)) {
		/* Never the hang signal: in the real failure STOP is not sent. */
		mg_track_note(mg_watch_get_track(w), mg_now_mono(), "%s", why);
	} else if (event == VIR_DOMAIN_EVENT_STOPPED) {
		mg_watch_end(w, detail == VIR_DOMAIN_EVENT_STOPPED_MIGRATED ? MG_PHASE_COMPLETED
									 : MG_PHASE_FAILED, why);
		/* The actions go on (restart follows the kill's STOPPED). */
		if (virDomainGetUUIDString(dom, uuid) == 0 &&
		    !(find(ds, uuid)->ladder && !mg_ladder_finished(find(ds, uuid)->ladder)))
			forget(ds, uuid);
	}
}

/* A job found at connect: control info reads libvirt's own state (no job,
 * no monitor), the status XML says which job it is. */
static void rediscover(struct mg_domains *ds, virDomainPtr dom)
{
	virDomainControlInfo info;
	struct mg_domxml x;
	enum mg_direction dir;
	struct mg_watch *w;
	char why[160];

	if (virDomainGetControlInfo(dom, &info, 0) < 0) {
		virResetLastError();
		return;
	}
	w = watch_of(ds, dom);
	if (w) {
		char uuid[VIR_UUID_STRING_BUFLEN];
		struct mg_dom_entry *e;

		mg_watch_set_domain(w, dom);
		if (virDomainGetUUIDString(dom, uuid) == 0 && (e = find(ds, uuid))) {
			virDomainRef(dom);
			if (e->dom)
				virDomainFree(e->dom);
			e->dom = dom;
		}
	}
	/* The status XML's async job decides.  Control info only dates it:
	 * during a job it says JOB, but a libvirtd restarted during a hang
	 * says OCCUPIED (its reconnect thread is stuck in the monitor) while
	 * the migration job is still recorded (libvirt 9.0, seen here). */
	if (info.state == VIR_DOMAIN_CONTROL_OK || job_direction(ds, dom, &x, &dir) < 0) {
		char uuid[VIR_UUID_STRING_BUFLEN];

		/* No migration job: one the guard acted on ended while it was
		 * down; its record must not stand for the next one. */
		if (info.state == VIR_DOMAIN_CONTROL_OK && virDomainGetUUIDString(dom, uuid) == 0)
			mg_ledger_forget_all(ds->ledger, NULL, uuid, ds->env.io);
		return;
	}
	snprintf(why, sizeof(why), "found at connect: libvirt job %s (%s), control %s for %.1f s",
		 x.async_job, x.job_phase, info.state == VIR_DOMAIN_CONTROL_JOB ? "job" :
		 info.state == VIR_DOMAIN_CONTROL_OCCUPIED ? "occupied" : "error",
		 (double)info.stateTime / 1000);
	track(ds, dom, &x, dir, why);
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
	/* Watches go on: the /proc probe and a direct monitor need no
	 * libvirt.  Their libvirt handles are replaced on reconnect. */
	for (size_t i = 0; i < ds->n_entries; i++) {
		struct mg_dom_entry *e = ds->entries[i];

		mg_watch_set_domain(e->watch, NULL);
		if (e->dom)
			virDomainFree(e->dom);
		e->dom = NULL;
	}
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
	for (size_t i = 0; i < ds->n_entries; i++)
		entry_free(ds->entries[i]);
	free(ds->entries);
	mg_ledger_free(ds->ledger);
	free(ds);
}
