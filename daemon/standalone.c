/* standalone.c - see standalone.h. */
#include "standalone.h"
#include "ladder.h"
#include "incident.h"
#include "incwriter.h"
#include "ledger.h"
#include "log.h"
#include "procid.h"
#include "report.h"
#include "util.h"
#include "watch.h"

#include <errno.h>
#include <string.h>


struct mg_standalone {
	struct mg_env env;		/* borrowed from the manager */
	struct mg_watch *watch;
	struct mg_procid id;
	sd_event_source *alive;
	struct mg_ladder *ladder;
	struct mg_ledger *ledger;	/* what the guard did, across its restarts */
	struct mg_incwriter *incident;
	sd_event_source *drain;		/* exit once the incident's files are written */
	uint64_t drain_until;
	bool acted;
};

/* status comes type-checked from watch.c; NULL (no status) is not running
 * all the same, so no path here can reach strcmp with it. */
static bool migration_running(const char *status)
{
	static const char *const running[] = { "setup", "active", "pre-switchover", "device",
					       "postcopy-active", "wait-unplug" };

	if (!status)
		return false;
	for (size_t i = 0; i < MG_ARRAY_SIZE(running); i++)
		if (strcmp(status, running[i]) == 0)
			return true;
	return false;
}

static void on_untracked_status(struct mg_watch *w, const char *status, void *userdata)
{
	struct mg_standalone *s = userdata;
	char why[96];

	if (!migration_running(status)) {
		/* Ended while no guard ran: its record must not stand for the
		 * next migration of this QEMU. */
		if (status)
			mg_ledger_forget_all(s->ledger, &s->id, NULL, s->env.io);
		return;
	}
	snprintf(why, sizeof(why), "QEMU migration status %s", status);
	mg_watch_track(w, MG_DIR_OUT, why);
	mg_watch_on_status(w, status, "QMP");
}

static void on_ladder_done(struct mg_ladder *l, void *userdata)
{
	mg_notice("standalone: actions finished");
}

static void on_verdict(struct mg_watch *w, enum mg_track_change c, void *userdata)
{
	struct mg_standalone *s = userdata;
	struct mg_ledger_entry rec = { .at = mg_now_real() };
	struct mg_ladder_params p = {
		.action = s->env.conf->action, .watch = w, .notify = s->env.notify, .id = &s->id,
		.step_timeout = s->env.conf->monitor_timeout, .recover_grace = s->env.conf->recover_grace,
		.core_dump = s->env.conf->core_dump,
	};

	/* A guard restarted after its verdict re-finds the same migration. */
	mg_ledger_key_init(&rec.key, &s->id, NULL, mg_watch_get_track(w)->direction);
	if (mg_report_already(&s->env, mg_ledger_find(s->ledger, &rec.key), w)) {
		s->acted = true;
		return;
	}
	rec.acted = !s->acted && p.action != MG_ACTION_NONE;
	s->incident = mg_incwriter_unref(s->incident);
	mg_report_incident(&s->env, w, NULL, NULL, &rec, &s->incident, &p.lock_cycle);
	mg_ledger_note(s->ledger, &rec.key, rec.acted, s->incident ? mg_incwriter_dir(s->incident) : NULL);
	if (s->acted || p.action == MG_ACTION_NONE)
		return;
	s->acted = true;
	p.incident = s->incident;
	/* The ladder of an earlier migration of this QEMU, finished or not. */
	mg_ladder_free(s->ladder);
	s->ladder = NULL;
	if (mg_ladder_start(s->env.loop, &p, on_ladder_done, s, &s->ladder) < 0)
		mg_error("standalone: cannot start the actions");
}

static void on_ended(struct mg_watch *w, void *userdata)
{
	struct mg_standalone *s = userdata;
	struct mg_ledger_key k;

	/* A later migration is a new one: it may be acted on again. */
	s->acted = false;
	mg_ledger_key_init(&k, &s->id, NULL, mg_watch_get_track(w)->direction);
	mg_ledger_forget(s->ledger, &k, s->env.io);
}

static int on_drain(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct mg_standalone *s = userdata;

	if (mg_worker_pool_n_pending(s->env.io) > 0 && mg_now_mono() < s->drain_until) {
		sd_event_source_set_time_relative(src, 20 * MG_USEC_PER_MSEC);
		sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
		return 0;
	}
	return sd_event_exit(s->env.loop, 0);
}

/* The process is watched through its pidfd: when it exits, so do we. */
static int on_exit_of_target(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct mg_standalone *s = userdata;

	mg_notice("pid %d exited, standalone guard stops", (int)s->id.pid);
	/* Its migrations are over: nothing left to not act on twice. */
	for (enum mg_direction d = MG_DIR_OUT; d <= MG_DIR_IN; d++) {
		struct mg_ledger_key k;

		mg_ledger_key_init(&k, &s->id, NULL, d);
		mg_ledger_forget(s->ledger, &k, s->env.io);
	}
	/* The last steps (the kill that ended it) are still being written
	 * off the loop: give them MG_INCWRITER_DRAIN, not forever (a full or
	 * hung state directory). */
	sd_event_source_set_enabled(src, SD_EVENT_OFF);
	s->drain_until = mg_now_mono() + MG_INCWRITER_DRAIN;
	if (sd_event_add_time_relative(s->env.loop, &s->drain, CLOCK_MONOTONIC, 0, 0, on_drain, s) < 0)
		return sd_event_exit(s->env.loop, 0);
	return 0;
}

int mg_standalone_start(const struct mg_env *env, const char *qmp_path, pid_t pid, const char *name,
			struct mg_standalone **out)
{
	static const struct mg_watch_callbacks cb = {
		.verdict = on_verdict, .ended = on_ended, .untracked_status = on_untracked_status,
	};
	const struct mg_conf *conf = env->conf;
	struct mg_standalone *s;
	char dflt[32];
	struct mg_watch_params p = {
		.pid = pid, .qmp_path = qmp_path, .probe_interval = conf->probe_interval,
		.limits = { conf->finish_timeout, conf->monitor_timeout, conf->incoming_timeout },
		.discover = true, .notify = env->notify,
	};
	int r;

	if (!env->io)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->env = *env;
	mg_incident_recover(conf->state_dir);
	s->id.pidfd = -1;
	r = mg_procid_capture(pid, &s->id);
	if (r < 0) {
		free(s);
		return mg_error_errno(r, "standalone: pid %d", (int)pid);
	}
	r = mg_ledger_open(conf->state_dir, &s->ledger);
	if (r == -ENOMEM)
		goto fail;
	snprintf(dflt, sizeof(dflt), "pid-%d", (int)pid);
	p.name = name ? name : dflt;
	if (s->id.pidfd >= 0) {
		r = sd_event_add_io(env->loop, &s->alive, s->id.pidfd, EPOLLIN, on_exit_of_target, s);
		if (r < 0)
			goto fail;
	}
	r = mg_watch_new(env->loop, &p, &cb, s, &s->watch);
	if (r < 0)
		goto fail;
	mg_notice("standalone: guarding %s (pid %d) through %s", p.name, (int)pid, qmp_path);
	*out = s;
	return 0;
fail:
	mg_standalone_free(s);
	return mg_error_errno(r, "standalone: cannot set up the guard");
}

void mg_standalone_free(struct mg_standalone *s)
{
	if (!s)
		return;
	mg_ladder_free(s->ladder);
	mg_watch_free(s->watch);
	sd_event_source_disable_unref(s->drain);
	mg_incwriter_unref(s->incident);
	mg_ledger_free(s->ledger);
	sd_event_source_disable_unref(s->alive);
	mg_procid_release(&s->id);
	free(s);
}
