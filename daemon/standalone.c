/* standalone.c - see standalone.h. */
#include "standalone.h"
#include "guard.h"
#include "incident.h"
#include "incwriter.h"
#include "ledger.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mg_standalone {
	struct mg_env env;		/* borrowed from the manager */
	struct mg_ledger *ledger;	/* what the guard did, across its restarts */
	struct mg_guard *guard;
	sd_event_source *alive;
	sd_event_source *drain;		/* exit once the incident's files are written */
	uint64_t drain_until;
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

/* Discovery: a QMP MIGRATION event or a query-migrate poll saw a status
 * while nothing was tracked. */
static void on_untracked_status(struct mg_guard *g, const char *status, void *userdata)
{
	char why[96];

	if (!migration_running(status)) {
		/* Ended while no guard ran: its record must not stand for the
		 * next migration of this QEMU. */
		if (status)
			mg_guard_forget_records(g);
		return;
	}
	snprintf(why, sizeof(why), "QEMU migration status %s", status);
	mg_guard_track(g, MG_DIR_OUT, why);
	mg_guard_on_status(g, status, "QMP");
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

	mg_notice("pid %d exited, standalone guard stops", (int)mg_guard_pid(s->guard));
	/* Its migrations are over: nothing left to not act on twice. */
	mg_guard_exited(s->guard);
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
	static const struct mg_guard_callbacks cb = { .untracked_status = on_untracked_status };
	struct mg_standalone *s;
	char dflt[32];
	struct mg_guard_params p = { .pid = pid, .qmp_path = qmp_path, .discover = true };
	int pidfd, r;

	if (!env->io)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->env = *env;
	mg_incident_recover(env->conf->state_dir);
	r = mg_ledger_open(env->conf->state_dir, &s->ledger);
	if (r == -ENOMEM)
		goto fail;
	snprintf(dflt, sizeof(dflt), "pid-%d", (int)pid);
	p.name = name ? name : dflt;
	p.ledger = s->ledger;
	r = mg_guard_new(env, &p, &cb, s, &s->guard);
	if (r < 0)
		goto fail;
	pidfd = mg_guard_id(s->guard)->pidfd;
	if (pidfd >= 0) {
		r = sd_event_add_io(env->loop, &s->alive, pidfd, EPOLLIN, on_exit_of_target, s);
		if (r < 0)
			goto fail;
	}
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
	sd_event_source_disable_unref(s->drain);
	/* Its pidfd is the guard's. */
	sd_event_source_disable_unref(s->alive);
	mg_guard_free(s->guard);
	mg_ledger_free(s->ledger);
	free(s);
}
