/* main.c - migguardd: flags, configuration, the sd-event loop, sd_notify,
 * signals. */
#include "conf.h"
#include "domains.h"
#include "event.h"
#include "incwriter.h"
#include "log.h"
#include "standalone.h"
#include "metrics.h"
#include "plugin.h"
#include "status.h"
#include "util.h"
#include "virt.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sysexits.h>
#include <libvirt/virterror.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

struct mg_daemon {
	sd_event *loop;
	struct mg_conf conf;
	const char *conf_path;
	bool conf_path_explicit;
	int verbose;
	struct mg_virt *virt;
	struct mg_domains *domains;
	/* standalone mode: one QEMU, no libvirt */
	const char *qmp_path;
	pid_t pid;
	const char *name;
	struct mg_standalone *standalone;
	sd_event_source *drain;		/* stopping: waits for incident writes */
	uint64_t drain_until;
	bool config_error;		/* exit EX_CONFIG: a plugin refused its section */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: migguardd [OPTIONS]\n"
		"Guards libvirt/QEMU live migrations: times the finish-migrate phase,\n"
		"diagnoses a hung migration and acts on it by policy.\n\n"
		"  -f, --foreground          stay in the foreground, log to stderr\n"
		"  -v, --verbose             log more (repeat for debug)\n"
		"  -c, --config FILE         configuration file (default %s)\n"
		"      --check-config [FILE] validate the configuration and exit\n"
		"                            (with -v, print every effective key)\n"
		"      --qmp SOCKET --pid PID [--name NAME]\n"
		"                            standalone mode: guard one QEMU through its\n"
		"                            QMP socket, without libvirt\n"
		"  -V, --version             print the version and exit\n"
		"  -h, --help                print this help and exit\n",
		MG_CONF_DEFAULT_PATH);
}

/* The default file may be absent (every key has a default); a file named
 * on the command line must exist. */
static int load_conf(const char *path, bool explicit, struct mg_conf *conf)
{
	char err[MG_CONF_ERROR_MAX];
	int r;

	r = mg_conf_load(path, conf, err, sizeof(err));
	if (r == -ENOENT && !explicit) {
		mg_info("%s not found, using defaults", path);
		return 0;
	}
	if (r < 0)
		mg_error("%s", err);
	return r;
}

static int check_config(const char *path, bool explicit, int verbose)
{
	struct mg_conf conf;
	int r;

	if (mg_conf_init_defaults(&conf) < 0)
		return EXIT_FAILURE;
	r = load_conf(path, explicit, &conf);
	if (r == 0) {
		struct mg_plugins *plugins = NULL;
		char err[MG_CONF_ERROR_MAX];

		/* Each plugin checks its own section when loaded. */
		r = mg_plugins_load(NULL, &conf, NULL, &plugins, err, sizeof(err));
		if (r < 0)
			fprintf(stderr, "%s\n", err);
		mg_plugins_free(plugins);
	}
	if (r == 0) {
		printf("%s: configuration is valid\n", path);
		if (verbose)
			mg_conf_dump(&conf, stdout);
	}
	mg_conf_clear(&conf);
	return r < 0 ? EX_CONFIG : EXIT_SUCCESS;
}

static void notify_status(struct mg_daemon *d)
{
	char text[512] = "";

	if (d->virt)
		snprintf(text, sizeof(text), "%s", mg_virt_status(d->virt));
	else if (d->standalone)
		snprintf(text, sizeof(text), "guarding pid %d through %s", (int)d->pid, d->qmp_path);
	if (text[0]) {
		sd_notifyf(false, "STATUS=%s", text);
		mg_status_set_daemon(text);
	}
}

static void on_connected(struct mg_virt *v, virConnectPtr conn, void *userdata)
{
	struct mg_daemon *d = userdata;

	mg_domains_connected(d->domains, conn);
	mg_metrics_libvirt_connected(true);
	notify_status(d);
}

static void on_disconnected(struct mg_virt *v, void *userdata)
{
	struct mg_daemon *d = userdata;

	mg_domains_disconnected(d->domains);
	mg_metrics_libvirt_connected(false);
	notify_status(d);
}

static void on_lifecycle(struct mg_virt *v, virDomainPtr dom, int event, int detail, void *userdata)
{
	mg_domains_lifecycle(((struct mg_daemon *)userdata)->domains, dom, event, detail);
}

static void on_iteration(struct mg_virt *v, virDomainPtr dom, int iteration, void *userdata)
{
	mg_domains_iteration(((struct mg_daemon *)userdata)->domains, dom, iteration);
}

static void on_job_completed(struct mg_virt *v, virDomainPtr dom, virTypedParameterPtr params,
			     int nparams, void *userdata)
{
	mg_domains_job_completed(((struct mg_daemon *)userdata)->domains, dom);
}

static void on_qemu_migration(struct mg_virt *v, virDomainPtr dom, const char *status, void *userdata)
{
	mg_domains_qemu_migration(((struct mg_daemon *)userdata)->domains, dom, status);
}

static int stop(struct mg_daemon *d)
{
	d->drain = sd_event_source_disable_unref(d->drain);
	/* Closing libvirt's connection updates its loop sources: do it while
	 * the loop still accepts changes.  But a close waits behind any call
	 * still inside libvirt, and during a hang such a call never returns:
	 * then leave the connection to the process exit (libvirt 9.0: the
	 * event deregistration queued behind a stuck qemu-monitor-command). */
	if (mg_domains_libvirt_busy(d->domains))
		mg_notice("a libvirt call is stuck; exiting without closing the connection");
	else
		mg_virt_free(d->virt);
	d->virt = NULL;
	mg_domains_free(d->domains);
	d->domains = NULL;
	mg_standalone_free(d->standalone);
	d->standalone = NULL;
	return sd_event_exit(d->loop, 0);
}

static size_t writes_pending(const struct mg_daemon *d)
{
	return mg_domains_n_writes_pending(d->domains) + mg_standalone_n_writes_pending(d->standalone);
}

/* Incident files and action records are written off the loop: a stop
 * right after a verdict would cancel the queued ones and lose the ladder's
 * last steps.  Wait for them, but not forever (a hung state directory). */
static int on_drain(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct mg_daemon *d = userdata;
	size_t n = writes_pending(d);

	if (n > 0 && mg_now_mono() < d->drain_until) {
		sd_event_source_set_time_relative(src, 20 * MG_USEC_PER_MSEC);
		return sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
	}
	if (n > 0)
		mg_warn("stopping with %zu incident write(s) unfinished", n);
	return stop(d);
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct mg_daemon *d = userdata;
	size_t n;

	if (d->drain) {
		mg_notice("received %s again, stopping now", strsignal((int)si->ssi_signo));
		return stop(d);
	}
	mg_notice("received %s, stopping", strsignal((int)si->ssi_signo));
	sd_notify(false, "STOPPING=1");
	n = writes_pending(d);
	if (n == 0)
		return stop(d);
	mg_notice("waiting up to %u s for %zu incident write(s)",
		  (unsigned)(MG_INCWRITER_DRAIN / MG_USEC_PER_SEC), n);
	d->drain_until = mg_now_mono() + MG_INCWRITER_DRAIN;
	if (sd_event_add_time_relative(d->loop, &d->drain, CLOCK_MONOTONIC, 0, 0, on_drain, d) < 0)
		return stop(d);
	return 0;
}

/* A metrics file that cannot be set up is logged; the guard goes on. */
static void start_metrics(struct mg_daemon *d)
{
	int r = mg_metrics_start(d->loop, d->conf.metrics_textfile);

	if (r < 0)
		mg_error_errno(r, "metrics textfile %s: cannot set up", d->conf.metrics_textfile);
}

/* A bad new file is reported and the running configuration kept whole. */
static int on_reload_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct mg_daemon *d = userdata;
	struct mg_plugins *plugins = NULL;
	struct mg_conf fresh;
	int r;

	sd_notify(false, "RELOADING=1");
	if (mg_conf_init_defaults(&fresh) < 0)
		goto out;
	r = load_conf(d->conf_path, d->conf_path_explicit, &fresh);
	if (r == 0) {
		char err[MG_CONF_ERROR_MAX];

		r = mg_plugins_load(d->loop, &fresh, NULL, &plugins, err, sizeof(err));
		if (r < 0)
			mg_error("%s", err);
	}
	if (r < 0) {
		mg_error("reload of %s failed, keeping the running configuration", d->conf_path);
		mg_conf_clear(&fresh);
		goto out;
	}
	mg_plugins_free(mg_plugins_set_current(plugins));
	if (strcmp(fresh.state_dir, d->conf.state_dir) != 0)
		mg_status_start(d->loop, fresh.state_dir);
	mg_conf_clear(&d->conf);
	d->conf = fresh;
	mg_log_set_max_level(d->verbose ? LOG_DEBUG : d->conf.log_level);
	mg_notice("configuration reloaded from %s", d->conf_path);
	if (d->virt)
		mg_virt_set_uri(d->virt, d->conf.uri);
	start_metrics(d);
out:
	sd_notify(false, "READY=1");
	notify_status(d);
	return 0;
}

/* libvirt prints every error to stderr by default; errors are logged once,
 * by the caller that handles them. */
static void silence_libvirt(void *userdata, virErrorPtr err) {}

static int run(struct mg_daemon *d)
{
	static const struct mg_virt_callbacks cb = {
		.connected = on_connected,
		.disconnected = on_disconnected,
		.lifecycle = on_lifecycle,
		.migration_iteration = on_iteration,
		.job_completed = on_job_completed,
		.qemu_migration = on_qemu_migration,
	};
	sigset_t mask;
	int r;

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

	r = sd_event_default(&d->loop);
	if (r < 0)
		return mg_error_errno(r, "cannot create the event loop");
	if ((r = sd_event_add_signal(d->loop, NULL, SIGTERM, on_exit_signal, d)) < 0 ||
	    (r = sd_event_add_signal(d->loop, NULL, SIGINT, on_exit_signal, d)) < 0 ||
	    (r = sd_event_add_signal(d->loop, NULL, SIGHUP, on_reload_signal, d)) < 0)
		return mg_error_errno(r, "cannot watch signals");
	/* Pings systemd at half of WatchdogSec while the loop turns; a no-op
	 * without a watchdog. */
	r = sd_event_set_watchdog(d->loop, true);
	if (r < 0)
		return mg_error_errno(r, "cannot enable the watchdog");

	virSetErrorFunc(NULL, silence_libvirt);
	start_metrics(d);
	/* Not fatal: the guard's job goes on without `migguard status`. */
	mg_status_start(d->loop, d->conf.state_dir);
	{
		struct mg_plugins *plugins = NULL;
		char err[MG_CONF_ERROR_MAX];

		r = mg_plugins_load(d->loop, &d->conf, NULL, &plugins, err, sizeof(err));
		if (r < 0) {
			mg_error("%s", err);
			d->config_error = true;
			return r;
		}
		mg_plugins_set_current(plugins);
		if (plugins)
			mg_notice("%zu plugin%s loaded from %s", mg_plugins_count(plugins),
				  mg_plugins_count(plugins) == 1 ? "" : "s", mg_plugin_dir());
	}
	if (d->qmp_path) {
		r = mg_standalone_start(d->loop, &d->conf, d->qmp_path, d->pid, d->name, &d->standalone);
		if (r < 0)
			return r;
		goto loop;
	}
	if (virInitialize() < 0)
		return mg_error("cannot initialise libvirt"), -EIO;
	r = mg_event_register(d->loop);
	if (r < 0)
		return mg_error_errno(r, "cannot register the libvirt event loop");
	r = mg_domains_new(d->loop, &d->conf, &d->domains);
	if (r < 0)
		return mg_error_errno(r, "cannot set up the domain registry");
	r = mg_virt_new(d->loop, d->conf.uri, &cb, d, &d->virt);
	if (r < 0)
		return mg_error_errno(r, "cannot set up the libvirt connection");
	r = mg_virt_start(d->virt);
	if (r < 0)
		return r;

loop:
	mg_notice("migguardd %s started (pid %d)", PACKAGE_VERSION, (int)getpid());
	sd_notify(false, "READY=1");
	notify_status(d);
	r = sd_event_loop(d->loop);
	if (r < 0)
		return mg_error_errno(r, "event loop failed");
	mg_metrics_stop();
	mg_status_stop();
	mg_notice("migguardd stopped");
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_CHECK_CONFIG = 0x100, OPT_QMP, OPT_PID, OPT_NAME };
	static const struct option options[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", optional_argument, NULL, OPT_CHECK_CONFIG },
		{ "qmp", required_argument, NULL, OPT_QMP },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct mg_daemon d = { .conf_path = MG_CONF_DEFAULT_PATH };
	bool foreground = false, check = false;
	int c, r;

	/* As the CLI: the incident's snapshot reads DWARF (inline frames) and
	 * must never wait for a debuginfod download. */
	unsetenv("DEBUGINFOD_URLS");
	while ((c = getopt_long(argc, argv, "fvc:Vh", options, NULL)) != -1) {
		switch (c) {
		case 'f': foreground = true; break;
		case 'v': d.verbose++; break;
		case 'c': d.conf_path = optarg; d.conf_path_explicit = true; break;
		case OPT_CHECK_CONFIG:
			check = true;
			if (optarg) {
				d.conf_path = optarg;
				d.conf_path_explicit = true;
			}
			break;
		case OPT_QMP: d.qmp_path = optarg; break;
		case OPT_PID: {
			long long v;

			if (mg_parse_int(optarg, 1, INT32_MAX, &v) < 0) {
				fprintf(stderr, "migguardd: invalid --pid '%s'\n", optarg);
				return EX_USAGE;
			}
			d.pid = (pid_t)v;
			break;
		}
		case OPT_NAME: d.name = optarg; break;
		case 'V': printf("migguardd %s\n", PACKAGE_VERSION); return EXIT_SUCCESS;
		case 'h': usage(stdout); return EXIT_SUCCESS;
		default: usage(stderr); return EX_USAGE;
		}
	}
	/* `--check-config FILE`, as written in the docs, as well as the
	 * getopt form `--check-config=FILE`. */
	if (check && !d.conf_path_explicit && optind == argc - 1) {
		d.conf_path = argv[optind++];
		d.conf_path_explicit = true;
	}
	if (!d.qmp_path != !d.pid) {
		fprintf(stderr, "migguardd: --qmp and --pid go together\n");
		return EX_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "migguardd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}

	/* Under systemd (Type=notify) the service stays in the foreground and
	 * logs to the journal; -f forces readable stderr lines. */
	mg_log_setup(foreground ? MG_LOG_STDERR : MG_LOG_AUTO,
		     d.verbose ? LOG_DEBUG : LOG_INFO, "migguardd");
	if (check)
		return check_config(d.conf_path, d.conf_path_explicit, d.verbose);

	if (mg_conf_init_defaults(&d.conf) < 0)
		return EXIT_FAILURE;
	if (load_conf(d.conf_path, d.conf_path_explicit, &d.conf) < 0) {
		mg_conf_clear(&d.conf);
		return EX_CONFIG;
	}
	mg_log_set_max_level(d.verbose ? LOG_DEBUG : d.conf.log_level);

	r = run(&d);
	mg_standalone_free(d.standalone);
	mg_plugins_free(mg_plugins_set_current(NULL));
	mg_status_stop();
	mg_metrics_stop();
	mg_virt_free(d.virt);
	mg_domains_free(d.domains);
	sd_event_unref(d.loop);
	mg_conf_clear(&d.conf);
	return d.config_error ? EX_CONFIG : r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
