/* guard.c - see guard.h. */
#include "guard.h"
#include "ladder.h"
#include "postcopy.h"
#include "domxml.h"
#include "incwriter.h"
#include "log.h"
#include "report.h"
#include "util.h"
#include "watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mg_guard {
	struct mg_env env;		/* borrowed from the manager */
	struct mg_ledger *ledger;	/* borrowed from the owner */
	struct mg_guard_callbacks cb;
	void *userdata;
	char name[256];
	char uuid[VIR_UUID_STRING_BUFLEN];	/* "" in standalone mode */
	bool libvirt;
	struct mg_procid id;		/* the QEMU process as first seen */
	struct mg_watch *watch;
	virDomainPtr dom;		/* NULL while disconnected, and in standalone mode */
	/* Per migration: reset when one starts and when it ends. */
	bool reported;			/* the verdict was handled (incident, or the ledger's record) */
	bool acted;			/* never act twice on one migration */
	unsigned generation;		/* counts migrations: a late report of an old one */
	struct mg_report *report;	/* the verdict's snapshot, until it is an incident */
	struct report_ctx {		/* what the report's end needs of its verdict */
		unsigned generation;
		struct mg_ledger_entry rec;
		enum mg_action action;
		char xml[1024];
	} pending;
	struct mg_incwriter *incident;	/* the last verdict's incident, for its ladder */
	struct mg_ladder *ladder;	/* the last verdict's actions (may outlive its migration) */
	struct mg_postcopy *postcopy;	/* the post-copy guard of the last migration in post-copy */
};

static const char *uuid_or_null(const struct mg_guard *g)
{
	return g->uuid[0] ? g->uuid : NULL;
}

static void ledger_key(const struct mg_guard *g, enum mg_direction dir, struct mg_ledger_key *k)
{
	mg_ledger_key_init(k, &g->id, uuid_or_null(g), dir);
}

static void on_ladder_done(struct mg_ladder *l, void *userdata)
{
	struct mg_guard *g = userdata;

	mg_notice("domain %s: actions finished", g->name);
}

/* The policy, and the incident's context files for a libvirt domain: its
 * status XML and QEMU log, and its <metadata> (migguard:action) over the
 * file's [guard] action. */
static enum mg_action policy(const struct mg_guard *g, char *xml, char *log, size_t size)
{
	const struct mg_conf *conf = g->env.conf;
	struct mg_domxml x;
	char err[256];

	if (!g->libvirt)
		return conf->action;
	snprintf(xml, size, "%s/%s.xml", conf->libvirt_run_dir, g->name);
	snprintf(log, size, "%s/%s.log", conf->libvirt_log_dir, g->name);
	if (mg_domxml_parse_file(xml, &x, err, sizeof(err)) == 0 && x.has_action)
		return x.action;
	return conf->action;
}

/* Starts the ladder, once per migration; the ladder of an earlier
 * migration of this QEMU, finished or not, goes. */
static void act(struct mg_guard *g, enum mg_action action, const struct mg_unstick_plan *plan,
		const char *status_xml)
{
	const struct mg_conf *conf = g->env.conf;
	struct mg_ladder_params p = {
		.action = action, .watch = g->watch, .dom = g->dom, .pool = g->env.pool,
		.notify = g->env.notify, .id = &g->id, .incident = g->incident,
		.step_timeout = conf->monitor_timeout, .recover_grace = conf->recover_grace,
		.disk_check = conf->disk_check, .core_dump = conf->core_dump, .restart = conf->restart,
		.no_unstick = !conf->unstick,
		.plan = *plan, .status_xml = status_xml,
	};
	int r;

	if (g->acted || action == MG_ACTION_NONE)
		return;
	g->acted = true;
	mg_ladder_free(g->ladder);
	g->ladder = NULL;
	mg_notice("domain %s: action %s", g->name, mg_action_to_string(action));
	r = mg_ladder_start(g->env.loop, &p, on_ladder_done, g, &g->ladder);
	/* -ECANCELED: a post-copy migration is never acted on. */
	if (r < 0 && r != -ECANCELED)
		mg_error_errno(r, "domain %s: cannot start the actions", g->name);
}

/* The snapshot is an incident now (or could not be): note it in the
 * ledger and act, unless the migration ended meanwhile (then the incident
 * stands as evidence, and nothing is done to a migration that is over). */
static void on_report_done(int r, struct mg_incwriter *iw, const struct mg_unstick_plan *plan, void *userdata)
{
	struct mg_guard *g = userdata;
	struct report_ctx *c = &g->pending;

	g->report = mg_report_cancel(g->report);
	if (c->generation != g->generation) {
		mg_notice("domain %s: the migration ended while its snapshot was taken; no action", g->name);
		mg_incwriter_unref(iw);
		return;
	}
	mg_incwriter_unref(g->incident);
	g->incident = iw;
	/* Stopping: the next guard finds no ledger record and acts. */
	if (r == -ECANCELED)
		return;
	mg_ledger_note(g->ledger, &c->rec.key, c->rec.acted, iw ? mg_incwriter_dir(iw) : NULL);
	act(g, c->action, plan, c->xml[0] ? c->xml : NULL);
}

/* HUNG or STALLED: report once, act once (also across the guard's
 * restarts: the ledger).  The snapshot runs on the snapshot pool; the
 * actions start when it is done (they need its plan, and the incident
 * they append to). */
static void on_verdict(struct mg_watch *w, enum mg_track_change c, void *userdata)
{
	struct mg_guard *g = userdata;
	struct report_ctx *ctx = &g->pending;
	char log[1024] = "";
	int r;

	if (g->reported)
		return;
	g->reported = true;
	*ctx = (struct report_ctx){ .generation = g->generation, .rec = { .at = mg_now_real() } };
	/* A guard restarted after its verdict re-finds the same migration. */
	ledger_key(g, mg_watch_direction(w), &ctx->rec.key);
	if (mg_report_already(&g->env, mg_ledger_find(g->ledger, &ctx->rec.key), w)) {
		g->acted = true;
		return;
	}
	ctx->action = policy(g, ctx->xml, log, sizeof(ctx->xml));
	ctx->rec.acted = !g->acted && ctx->action != MG_ACTION_NONE;
	g->incident = mg_incwriter_unref(g->incident);
	g->report = mg_report_cancel(g->report);
	r = mg_report_start(&g->env, w, ctx->xml[0] ? ctx->xml : NULL, log[0] ? log : NULL, &ctx->rec,
			    on_report_done, g, &g->report);
	if (r < 0) {
		/* Already logged: act without the snapshot's plan. */
		struct mg_unstick_plan none = { .kind = MG_UNSTICK_NONE };

		snprintf(none.why, sizeof(none.why), "no snapshot: %s", strerror(-r));
		mg_ledger_note(g->ledger, &ctx->rec.key, ctx->rec.acted, NULL);
		act(g, ctx->action, &none, ctx->xml[0] ? ctx->xml : NULL);
	}
}

/* A later migration is a new one: it may be reported and acted on again. */
static void on_ended(struct mg_watch *w, void *userdata)
{
	struct mg_guard *g = userdata;
	struct mg_ledger_key k;

	g->reported = false;
	g->acted = false;
	g->generation++;
	/* Whoever ended it (the probe seeing QEMU gone, libvirt's STOPPED),
	 * a post-copy whose QEMU is gone lost the guest on this side. */
	if (g->postcopy && mg_watch_phase(w) != MG_PHASE_COMPLETED && mg_procid_exited(&g->id)) {
		const struct mg_track *t = mg_watch_get_track(w);

		mg_postcopy_on_qemu_gone(g->postcopy, t->n_timeline ? t->timeline[t->n_timeline - 1].text
								    : "the QEMU process exited");
	}
	if (g->postcopy)
		mg_postcopy_on_end(g->postcopy, mg_watch_phase(w), "the migration ended");
	ledger_key(g, mg_watch_direction(w), &k);
	mg_ledger_forget(g->ledger, &k, g->env.io);
}

static void on_untracked_status(struct mg_watch *w, const char *status, void *userdata)
{
	struct mg_guard *g = userdata;

	if (g->cb.untracked_status)
		g->cb.untracked_status(g, status, g->userdata);
}

/* A post-copy break's incident: the track so far and the paragraph; no
 * snapshot (QEMU is not hung: its link is). */
static struct mg_incwriter *open_postcopy_incident(struct mg_postcopy *pc, const char *summary, void *userdata)
{
	struct mg_guard *g = userdata;
	const struct mg_conf *conf = g->env.conf;
	char xml[1024] = "", log[1024] = "";
	struct mg_incwriter *iw = NULL;
	struct mg_track t = *mg_watch_get_track(g->watch);
	struct mg_incident_input in = {
		.domain = g->name, .uuid = uuid_or_null(g), .pid = g->id.pid, .direction = t.direction, .track = &t,
		.snapshot_error = "post-copy: no stack snapshot (QEMU is not hung, its migration link is)",
		.summary = summary,
	};
	struct mg_incwriter_params ip = {
		.state_dir = conf->state_dir, .max_count = conf->max_count, .max_age = conf->max_age,
		.pool = g->env.io, .notify = g->env.notify,
	};

	if (g->libvirt) {
		snprintf(xml, sizeof(xml), "%s/%s.xml", conf->libvirt_run_dir, g->name);
		snprintf(log, sizeof(log), "%s/%s.log", conf->libvirt_log_dir, g->name);
		in.status_xml_path = xml;
		in.qemu_log_path = log;
	}
	if (mg_incwriter_start(g->env.loop, &ip, &in, &iw) < 0)
		return NULL;
	return iw;
}

/* The first post-copy status of a migration starts its post-copy guard,
 * with the policy read now (the domain's <metadata> over the file's) and
 * the job's flags, which a resume must repeat. */
static void on_postcopy_status(struct mg_watch *w, const char *status, const char *source, void *userdata)
{
	static const struct mg_postcopy_callbacks cb = { .open_incident = open_postcopy_incident };
	struct mg_guard *g = userdata;
	const struct mg_conf *conf = g->env.conf;
	struct mg_domxml x;
	char err[256];
	int r;

	if (!g->postcopy) {
		struct mg_postcopy_params p = {
			.watch = w, .dom = g->dom, .pool = g->env.pool, .notify = g->env.notify,
			.action = conf->postcopy_action, .probe_interval = conf->probe_interval,
			.stall_timeout = conf->postcopy_stall_timeout, .step_timeout = conf->monitor_timeout,
			.resume_uri = conf->resume_uri, .resume_migrate_uri = conf->resume_migrate_uri,
			.resume_listen_address = conf->resume_listen_address,
			.resume_interval = conf->resume_interval, .resume_tries = conf->resume_tries,
		};

		char peer[64] = "";
		bool have_xml = g->libvirt && mg_domxml_read(conf->libvirt_run_dir, g->name, &x, err, sizeof(err)) == 0;

		if (have_xml) {
			if (x.has_postcopy_action)
				p.action = x.postcopy_action;
			p.job_flags = x.job_flags;
			p.has_job_flags = x.has_job_flags;
			p.nbd = x.nbd;
			p.n_nbd = x.n_nbd;
		}
		if (mg_watch_direction(w) == MG_DIR_OUT) {
			r = mg_postcopy_migration_peer(g->id.pid, have_xml ? x.nbd : NULL, have_xml ? x.n_nbd : 0, peer,
						       sizeof(peer));
			if (r == 0)
				p.peer_address = peer;
			else
				mg_notice("domain %s: post-copy: the destination's address (%%a) is not known: %s",
					  g->name, r == -ENOTUNIQ ? "several candidate connections" : strerror(-r));
		}
		r = mg_postcopy_new(g->env.loop, &p, &cb, g, &g->postcopy);
		if (r < 0) {
			mg_error_errno(r, "domain %s: cannot watch the post-copy migration", g->name);
			return;
		}
		mg_notice("domain %s: post-copy (%s side): watched, postcopy_action = %s", g->name,
			  mg_watch_direction(w) == MG_DIR_OUT ? "source" : "destination",
			  mg_pc_action_to_string(p.action));
	}
	mg_postcopy_on_status(g->postcopy, status, source);
}

static int make_watch(struct mg_guard *g, const struct mg_guard_params *p)
{
	static const struct mg_watch_callbacks cb = {
		.verdict = on_verdict, .ended = on_ended, .untracked_status = on_untracked_status,
		.postcopy = on_postcopy_status,
	};
	const struct mg_conf *conf = g->env.conf;
	struct mg_watch_params wp = {
		.name = g->name, .uuid = uuid_or_null(g), .pid = g->id.pid, .qmp_path = p->qmp_path,
		.dom = g->dom, .pool = g->env.pool, .notify = g->env.notify, .loopmon = g->env.loopmon,
		.probe_interval = conf->probe_interval,
		.limits = { conf->finish_timeout, conf->monitor_timeout, conf->incoming_timeout },
		.discover = p->discover,
	};

	return mg_watch_new(g->env.loop, &wp, &cb, g, &g->watch);
}

int mg_guard_new(const struct mg_env *env, const struct mg_guard_params *p, const struct mg_guard_callbacks *cb,
		 void *userdata, struct mg_guard **out)
{
	struct mg_guard *g;
	int r;

	if (!env->io || !env->snap || !p->name || (p->dom && !env->pool))
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->env = *env;
	g->ledger = p->ledger;
	if (cb)
		g->cb = *cb;
	g->userdata = userdata;
	snprintf(g->name, sizeof(g->name), "%s", p->name);
	snprintf(g->uuid, sizeof(g->uuid), "%s", p->uuid ? p->uuid : "");
	g->libvirt = p->libvirt;
	g->id.pidfd = -1;
	r = mg_procid_capture(p->pid, &g->id);
	if (r < 0) {
		mg_warn_errno(r, "domain %s: QEMU pid %d", g->name, (int)p->pid);
		free(g);
		return r;
	}
	if (p->dom) {
		virDomainRef(p->dom);
		g->dom = p->dom;
	}
	r = make_watch(g, p);
	if (r < 0) {
		mg_error_errno(r, "domain %s: cannot watch it", g->name);
		mg_guard_free(g);
		return r;
	}
	*out = g;
	return 0;
}

void mg_guard_free(struct mg_guard *g)
{
	if (!g)
		return;
	mg_report_cancel(g->report);
	mg_postcopy_free(g->postcopy);
	mg_ladder_free(g->ladder);
	mg_watch_free(g->watch);
	if (g->dom)
		virDomainFree(g->dom);
	mg_procid_release(&g->id);
	mg_incwriter_unref(g->incident);
	free(g);
}

int mg_guard_track(struct mg_guard *g, enum mg_direction dir, const char *why)
{
	if (mg_watch_tracking(g->watch))
		return 0;
	g->reported = false;
	g->acted = false;
	g->generation++;
	g->postcopy = mg_postcopy_free(g->postcopy);
	return mg_watch_track(g->watch, dir, why);
}

void mg_guard_on_status(struct mg_guard *g, const char *status, const char *source)
{
	mg_watch_on_status(g->watch, status, source);
}

void mg_guard_on_migration_event(struct mg_guard *g, const char *status)
{
	mg_watch_on_migration_event(g->watch, status);
}

void mg_guard_on_stop(struct mg_guard *g)
{
	mg_watch_on_stop(g->watch);
}

void mg_guard_end(struct mg_guard *g, enum mg_phase final, const char *why)
{
	mg_watch_end(g->watch, final, why);
}

void mg_guard_note(struct mg_guard *g, const char *why)
{
	if (mg_watch_tracking(g->watch))
		mg_watch_note(g->watch, "%s", why);
}

bool mg_guard_tracking(const struct mg_guard *g)
{
	return mg_watch_tracking(g->watch);
}

enum mg_direction mg_guard_direction(const struct mg_guard *g)
{
	return mg_watch_direction(g->watch);
}

bool mg_guard_acting(const struct mg_guard *g)
{
	if (g->report)
		return true;
	if (g->postcopy && (mg_postcopy_busy(g->postcopy) || mg_postcopy_broken(g->postcopy)))
		return true;
	return g->ladder && !mg_ladder_finished(g->ladder);
}

pid_t mg_guard_pid(const struct mg_guard *g)
{
	return g->id.pid;
}

const char *mg_guard_uuid(const struct mg_guard *g)
{
	return g->uuid;
}

const struct mg_procid *mg_guard_id(const struct mg_guard *g)
{
	return &g->id;
}

void mg_guard_set_domain(struct mg_guard *g, virDomainPtr dom)
{
	mg_watch_set_domain(g->watch, dom);
	if (dom)
		virDomainRef(dom);
	if (g->dom)
		virDomainFree(g->dom);
	g->dom = dom;
}

void mg_guard_postcopy_failed(struct mg_guard *g, const char *why)
{
	if (g->postcopy)
		mg_postcopy_on_failed(g->postcopy, why);
}

void mg_guard_forget_records(struct mg_guard *g)
{
	mg_ledger_forget_all(g->ledger, &g->id, NULL, g->env.io);
}

void mg_guard_exited(struct mg_guard *g)
{
	for (enum mg_direction d = MG_DIR_OUT; d <= MG_DIR_IN; d++) {
		struct mg_ledger_key k;

		ledger_key(g, d, &k);
		mg_ledger_forget(g->ledger, &k, g->env.io);
	}
}
