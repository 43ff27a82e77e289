/* manager.c - see manager.h. */
#include "manager.h"
#include "domains.h"
#include "env.h"
#include "event.h"
#include "incwriter.h"
#include "log.h"
#include "loopmon.h"
#include "metrics.h"
#include "report.h"
#include "notify.h"
#include "plugin.h"
#include "standalone.h"
#include "status.h"
#include "util.h"
#include "virt.h"
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libvirt/virterror.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

struct mg_manager {
	struct mg_manager_params p;
	sd_event *loop;
	struct mg_conf conf;		/* replaced in place on SIGHUP: borrowers keep &conf */
	/* The sinks, in dispatch order, and their dispatcher. */
	struct mg_notify *notify;
	struct mg_metrics *metrics;
	struct mg_loopmon *loopmon;
	uint64_t late_warned;		/* the own lateness last warned about */
	struct mg_status *status;
	struct mg_plugins *plugins;	/* NULL: the file names none */
	struct mg_worker_pool *pool;	/* blocking libvirt calls (libvirt mode) */
	struct mg_worker_pool *io;	/* incident files and ledger records: one thread */
	struct mg_worker_pool *snap;	/* snapshots (report.h) */
	struct mg_virt *virt;
	struct mg_domains *domains;
	struct mg_standalone *standalone;
	sd_event_source *drain;		/* stopping: waits for incident writes */
	uint64_t drain_until;
	bool loop_ran;			/* "stopped" is logged once torn down */
};

#define SINK_METRICS "metrics"
#define SINK_STATUS "status"
#define SINK_PLUGINS "plugins"

/* --- configuration ----------------------------------------------------- */

/* The default file may be absent (every key has a default); a file named
 * on the command line must exist.  Errors are logged. */
static int load_file(const struct mg_manager_params *p, struct mg_conf *conf)
{
	char err[MG_CONF_ERROR_MAX];
	int r;

	r = mg_conf_init_defaults(conf);
	if (r < 0)
		return mg_error_errno(r, "cannot set up the configuration");
	r = mg_conf_load(p->conf_path, conf, err, sizeof(err));
	if (r == -ENOENT && !p->conf_path_explicit) {
		mg_info("%s not found, using defaults", p->conf_path);
		r = 0;
	} else if (r < 0) {
		mg_error("%s", err);
	}
	if (r == 0 && (r = mg_conf_overrides_apply(&p->overrides, conf)) < 0)
		mg_error_errno(r, "cannot apply the environment's overrides");
	if (r < 0)
		mg_conf_clear(conf);
	return r;
}

/* The file, then its plugins (each checks its own section when loaded):
 * 0, or a negative errno with the plugin's error in err ("" when the file's
 * error was logged). */
static int load_all(const struct mg_manager_params *p, sd_event *loop, struct mg_conf *conf,
		    struct mg_plugins **plugins, char *err, size_t err_size)
{
	int r;

	err[0] = '\0';
	*plugins = NULL;
	r = load_file(p, conf);
	if (r < 0)
		return r;
	r = mg_plugins_load(loop, conf, NULL, plugins, err, err_size);
	if (r < 0)
		mg_conf_clear(conf);
	return r;
}

int mg_manager_check_config(const struct mg_manager_params *p)
{
	_cleanup_(mg_plugins_freep) struct mg_plugins *plugins = NULL;
	char err[MG_CONF_ERROR_MAX];
	struct mg_conf conf;
	int r;

	r = load_all(p, NULL, &conf, &plugins, err, sizeof(err));
	if (r < 0) {
		if (err[0])
			fprintf(stderr, "%s\n", err);
		return r;
	}
	printf("%s: configuration is valid\n", p->conf_path);
	if (p->verbose)
		mg_conf_dump(&conf, stdout);
	mg_conf_clear(&conf);
	return 0;
}

int mg_manager_load_config(struct mg_manager *m)
{
	char err[MG_CONF_ERROR_MAX];
	struct mg_conf conf;
	int r;

	r = load_file(&m->p, &conf);
	if (r < 0)
		return r;
	mg_conf_clear(&m->conf);
	m->conf = conf;
	/* Before the plugins: their init logs at the configured level. */
	mg_log_set_max_level(m->p.verbose ? LOG_DEBUG : m->conf.log_level);
	r = mg_plugins_load(m->loop, &m->conf, NULL, &m->plugins, err, sizeof(err));
	if (r < 0) {
		mg_error("%s", err);
		return r;
	}
	if (m->plugins)
		mg_notice("%zu plugin%s loaded from %s", mg_plugins_count(m->plugins),
			  mg_plugins_count(m->plugins) == 1 ? "" : "s", m->conf.plugin_dir);
	return 0;
}

/* --- the sinks ----------------------------------------------------------- */

/* The plugin sink follows the loaded set: replaced in place on reload, so
 * the order of dispatch stays metrics, status, plugins. */
static void register_plugins(struct mg_manager *m)
{
	if (m->plugins)
		mg_notify_register(m->notify, SINK_PLUGINS, mg_plugins_on_event, m->plugins);
	else
		mg_notify_unregister(m->notify, SINK_PLUGINS);
}

/* A metrics file that cannot be set up is logged; the guard goes on. */
static void start_metrics(struct mg_manager *m)
{
	int r = mg_metrics_set_textfile(m->metrics, m->loop, m->conf.metrics_textfile);

	if (r < 0)
		mg_error_errno(r, "metrics textfile %s: cannot set up", m->conf.metrics_textfile);
}

/* One line on the daemon, to systemd and to the sinks (status.json). */
static void notify_status(struct mg_manager *m)
{
	char text[512] = "";
	struct mg_event e = mg_event_make(MG_EVENT_DAEMON);

	if (m->virt)
		snprintf(text, sizeof(text), "%s", mg_virt_status(m->virt));
	else if (m->standalone)
		snprintf(text, sizeof(text), "guarding pid %d through %s", (int)m->p.pid, m->p.qmp_path);
	if (!text[0])
		return;
	sd_notifyf(false, "STATUS=%s", text);
	e.ev.detail = text;
	mg_notify_dispatch(m->notify, &e);
}

static void notify_connection(struct mg_manager *m, bool connected)
{
	struct mg_event e = mg_event_make(MG_EVENT_CONNECTION);

	e.connected = connected;
	mg_notify_dispatch(m->notify, &e);
	notify_status(m);
}

/* --- libvirt's callbacks ------------------------------------------------ */

static void on_connected(struct mg_virt *v, virConnectPtr conn, void *userdata)
{
	struct mg_manager *m = userdata;

	mg_domains_connected(m->domains, conn);
	notify_connection(m, true);
}

static void on_disconnected(struct mg_virt *v, void *userdata)
{
	struct mg_manager *m = userdata;

	mg_domains_disconnected(m->domains);
	notify_connection(m, false);
}

static void on_lifecycle(struct mg_virt *v, virDomainPtr dom, int event, int detail, void *userdata)
{
	mg_domains_lifecycle(((struct mg_manager *)userdata)->domains, dom, event, detail);
}

static void on_iteration(struct mg_virt *v, virDomainPtr dom, int iteration, void *userdata)
{
	mg_domains_iteration(((struct mg_manager *)userdata)->domains, dom, iteration);
}

static void on_job_completed(struct mg_virt *v, virDomainPtr dom, virTypedParameterPtr params,
			     int nparams, void *userdata)
{
	mg_domains_job_completed(((struct mg_manager *)userdata)->domains, dom);
}

static void on_qemu_migration(struct mg_virt *v, virDomainPtr dom, const char *status, void *userdata)
{
	mg_domains_qemu_migration(((struct mg_manager *)userdata)->domains, dom, status);
}

static void on_qemu_stop(struct mg_virt *v, virDomainPtr dom, void *userdata)
{
	mg_domains_qemu_stop(((struct mg_manager *)userdata)->domains, dom);
}

/* --- stopping ------------------------------------------------------------- */

/* True while a libvirt call made for a domain has not returned: closing
 * the connection would then wait behind it (libvirt serialises the
 * client's calls), possibly forever. */
static bool libvirt_busy(const struct mg_manager *m)
{
	return m->pool && (mg_worker_pool_n_stuck(m->pool) > 0 || mg_worker_pool_n_pending(m->pool) > 0);
}

/* Snapshots being taken (each becomes an incident) and incident files
 * and action records queued or being written. */
static size_t writes_pending(const struct mg_manager *m)
{
	return (m->snap ? mg_worker_pool_n_pending(m->snap) : 0) + (m->io ? mg_worker_pool_n_pending(m->io) : 0);
}

/* Everything that guards, from the loop when stopping (and again, a no-op
 * then, from mg_manager_free).  Closing libvirt's connection updates its
 * loop sources: do it while the loop still accepts changes.  But a close
 * waits behind any call still inside libvirt, and during a hang such a call
 * never returns: then leave the connection to the process exit (libvirt
 * 9.0: the event deregistration queued behind a stuck qemu-monitor-command).
 * The pools go after their users; jobs still queued complete with
 * -ECANCELED and report to the sinks, which are still there. */
static void release_guards(struct mg_manager *m)
{
	m->drain = sd_event_source_disable_unref(m->drain);
	if (m->virt && libvirt_busy(m))
		mg_notice("a libvirt call is stuck; exiting without closing the connection");
	else
		mg_virt_free(m->virt);
	m->virt = NULL;
	mg_domains_free(m->domains);
	m->domains = NULL;
	mg_standalone_free(m->standalone);
	m->standalone = NULL;
	m->pool = mg_worker_pool_free(m->pool);
	/* Before io: a snapshot cancelled now writes nothing. */
	m->snap = mg_worker_pool_free(m->snap);
	m->io = mg_worker_pool_free(m->io);
}

static int stop(struct mg_manager *m)
{
	release_guards(m);
	return sd_event_exit(m->loop, 0);
}

/* Incident files and action records are written off the loop: a stop
 * right after a verdict would cancel the queued ones and lose the ladder's
 * last steps.  Wait for them, but not forever (a hung state directory). */
static int on_drain(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct mg_manager *m = userdata;
	size_t n = writes_pending(m);

	if (n > 0 && mg_now_mono() < m->drain_until) {
		sd_event_source_set_time_relative(src, 20 * MG_USEC_PER_MSEC);
		return sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
	}
	if (n > 0)
		mg_warn("stopping with %zu incident write(s) unfinished", n);
	return stop(m);
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct mg_manager *m = userdata;
	size_t n;

	if (m->drain) {
		mg_notice("received %s again, stopping now", strsignal((int)si->ssi_signo));
		return stop(m);
	}
	mg_notice("received %s, stopping", strsignal((int)si->ssi_signo));
	sd_notify(false, "STOPPING=1");
	n = writes_pending(m);
	if (n == 0)
		return stop(m);
	mg_notice("waiting up to %u s for %zu incident write(s)",
		  (unsigned)(MG_INCWRITER_DRAIN / MG_USEC_PER_SEC), n);
	m->drain_until = mg_now_mono() + MG_INCWRITER_DRAIN;
	if (sd_event_add_time_relative(m->loop, &m->drain, CLOCK_MONOTONIC, 0, 0, on_drain, m) < 0)
		return stop(m);
	return 0;
}

/* --- reload --------------------------------------------------------------- */

/* A bad new file is reported and the running configuration kept whole. */
static int on_reload_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct mg_manager *m = userdata;
	struct mg_plugins *plugins = NULL, *old;
	char err[MG_CONF_ERROR_MAX];
	struct mg_conf fresh;

	sd_notify(false, "RELOADING=1");
	if (load_all(&m->p, m->loop, &fresh, &plugins, err, sizeof(err)) < 0) {
		if (err[0])
			mg_error("%s", err);
		mg_error("reload of %s failed, keeping the running configuration", m->p.conf_path);
		goto out;
	}
	/* The sink points at the new set before the old one goes. */
	old = m->plugins;
	m->plugins = plugins;
	register_plugins(m);
	mg_plugins_free(old);
	if (strcmp(fresh.state_dir, m->conf.state_dir) != 0)
		mg_status_set_dir(m->status, m->loop, fresh.state_dir);
	/* In place: the registry and the guards hold &m->conf. */
	mg_conf_clear(&m->conf);
	m->conf = fresh;
	mg_log_set_max_level(m->p.verbose ? LOG_DEBUG : m->conf.log_level);
	mg_notice("configuration reloaded from %s", m->p.conf_path);
	if (m->virt)
		mg_virt_set_uri(m->virt, m->conf.uri);
	start_metrics(m);
out:
	sd_notify(false, "READY=1");
	notify_status(m);
	return 0;
}

/* --- life ----------------------------------------------------------------- */

int mg_manager_new(const struct mg_manager_params *p, struct mg_manager **out)
{
	_cleanup_(mg_manager_freep) struct mg_manager *m = NULL;
	sigset_t mask;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return mg_error_errno(-ENOMEM, "cannot set up the daemon");
	m->p = *p;
	r = mg_conf_init_defaults(&m->conf);
	if (r >= 0)
		r = mg_notify_new(&m->notify);
	if (r >= 0)
		r = mg_metrics_new(&m->metrics);
	if (r >= 0)
		r = mg_status_new(&m->status);
	if (r < 0)
		return mg_error_errno(r, "cannot set up the daemon");

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* Plugin commands are reaped by sd-event child sources, which need
	 * SIGCHLD blocked in every thread: before any thread exists. */
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* A peer that closes a socket mid-write must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);

	r = sd_event_default(&m->loop);
	if (r < 0)
		return mg_error_errno(r, "cannot create the event loop");
	if ((r = sd_event_add_signal(m->loop, NULL, SIGTERM, on_exit_signal, m)) < 0 ||
	    (r = sd_event_add_signal(m->loop, NULL, SIGINT, on_exit_signal, m)) < 0 ||
	    (r = sd_event_add_signal(m->loop, NULL, SIGHUP, on_reload_signal, m)) < 0)
		return mg_error_errno(r, "cannot watch signals");
	/* Pings systemd at half of WatchdogSec while the loop turns; a no-op
	 * without a watchdog. */
	r = sd_event_set_watchdog(m->loop, true);
	if (r < 0)
		return mg_error_errno(r, "cannot enable the watchdog");
	*out = MG_TAKE_PTR(m);
	return 0;
}

/* What the registry and the guards borrow. */
static struct mg_env lent_env(struct mg_manager *m)
{
	return (struct mg_env){
		.loop = m->loop, .conf = &m->conf, .notify = m->notify, .pool = m->pool, .io = m->io,
		.snap = m->snap, .loopmon = m->loopmon,
	};
}

static int start_standalone(struct mg_manager *m)
{
	struct mg_env e;
	int r;

	r = mg_worker_pool_new(m->loop, 1, 0, &m->io);
	if (r >= 0)
		r = mg_worker_pool_new(m->loop, MG_REPORT_WORKERS, 0, &m->snap);
	if (r < 0)
		return mg_error_errno(r, "standalone: cannot set up the guard");
	e = lent_env(m);
	return mg_standalone_start(&e, m->p.qmp_path, m->p.pid, m->p.name, &m->standalone);
}

/* libvirt's client prints every error to stderr by default; errors are
 * logged once, by the caller that handles them. */
static void silence_libvirt(void *userdata, virErrorPtr err) {}

static int start_libvirt(struct mg_manager *m)
{
	static const struct mg_virt_callbacks cb = {
		.connected = on_connected,
		.disconnected = on_disconnected,
		.lifecycle = on_lifecycle,
		.migration_iteration = on_iteration,
		.job_completed = on_job_completed,
		.qemu_migration = on_qemu_migration, .qemu_stop = on_qemu_stop,
	};
	struct mg_env e;
	int r;

	if (virInitialize() < 0)
		return mg_error("cannot initialise libvirt"), -EIO;
	r = mg_event_register(m->loop);
	if (r < 0)
		return mg_error_errno(r, "cannot register the libvirt event loop");
	r = mg_worker_pool_new(m->loop, 0, 0, &m->pool);
	if (r >= 0)
		r = mg_worker_pool_new(m->loop, 1, 0, &m->io);
	if (r >= 0)
		r = mg_worker_pool_new(m->loop, MG_REPORT_WORKERS, 0, &m->snap);
	e = lent_env(m);
	if (r >= 0)
		r = mg_domains_new(&e, &m->domains);
	if (r < 0)
		return mg_error_errno(r, "cannot set up the domain registry");
	r = mg_virt_new(m->loop, m->conf.uri, &cb, m, &m->virt);
	if (r < 0)
		return mg_error_errno(r, "cannot set up the libvirt connection");
	return mg_virt_start(m->virt);
}

/* A new largest lateness: to the metrics and status.json; worth a warning
 * when it is long enough to delay a verdict noticeably. */
static void on_loop_lateness(const struct mg_loopmon *lm, void *userdata)
{
	struct mg_manager *m = userdata;
	uint64_t max = mg_loopmon_max(lm), own = mg_loopmon_max_own(lm);

	mg_metrics_set_loop_lateness(m->metrics, max, own);
	mg_status_set_loop_lateness(m->status, max, own);
	if (own >= 100 * MG_USEC_PER_MSEC && own > m->late_warned) {
		m->late_warned = own;
		mg_warn("the event loop ran %.0f ms late by its own callbacks (largest since start; %.0f ms "
			"with the waits for a CPU)", (double)own / 1000.0, (double)max / 1000.0);
	}
}

int mg_manager_run(struct mg_manager *m)
{
	int r;

	virSetErrorFunc(NULL, silence_libvirt);
	start_metrics(m);
	/* Not fatal: the guard's job goes on without `migguard status`. */
	mg_status_set_dir(m->status, m->loop, m->conf.state_dir);
	if ((r = mg_notify_register(m->notify, SINK_METRICS, mg_metrics_on_event, m->metrics)) < 0 ||
	    (r = mg_notify_register(m->notify, SINK_STATUS, mg_status_on_event, m->status)) < 0)
		return mg_error_errno(r, "cannot register the sinks");
	register_plugins(m);
	r = mg_loopmon_new(m->loop, on_loop_lateness, m, &m->loopmon);
	if (r < 0)
		return mg_error_errno(r, "cannot watch the event loop's lateness");
	r = m->p.qmp_path ? start_standalone(m) : start_libvirt(m);
	if (r < 0)
		return r;

	mg_notice("migguardd %s started (pid %d)", PACKAGE_VERSION, (int)getpid());
	sd_notify(false, "READY=1");
	notify_status(m);
	m->loop_ran = true;
	r = sd_event_loop(m->loop);
	if (r < 0) {
		m->loop_ran = false;
		return mg_error_errno(r, "event loop failed");
	}
	return 0;
}

struct mg_manager *mg_manager_free(struct mg_manager *m)
{
	if (!m)
		return NULL;
	release_guards(m);
	m->loopmon = mg_loopmon_free(m->loopmon);
	m->metrics = mg_metrics_free(m->metrics);
	/* Removes status.json: a daemon that stopped cleanly leaves none. */
	m->status = mg_status_free(m->status);
	if (m->loop_ran)
		mg_notice("migguardd stopped");
	mg_plugins_free(m->plugins);
	mg_notify_free(m->notify);
	sd_event_unref(m->loop);
	mg_conf_clear(&m->conf);
	free(m);
	return NULL;
}
