/* postcopy.c - see postcopy.h. */
#include "postcopy.h"
#include "log.h"
#include "msgid.h"
#include "procfs.h"
#include "sockfacts.h"
#include "util.h"

#include <dirent.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <errno.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum pc_state {
	PC_WATCHING,		/* post-copy running (or not known to be broken) */
	PC_BROKEN,		/* a break is open: paused, or stalled */
	PC_DONE,		/* ended, or this side's QEMU is gone */
};

struct mg_postcopy {
	sd_event *loop;
	struct mg_postcopy_params p;
	struct mg_postcopy_ops ops;
	struct mg_postcopy_callbacks cb;
	void *userdata;
	char *resume_uri, *resume_migrate_uri, *resume_listen_address, *peer_address;
	sd_event_source *tick;
	enum pc_state state;
	char status[32];		/* QEMU's last migration status */
	bool paused;			/* this side is known paused (QEMU or libvirt) */
	uint64_t bytes, progress_at;	/* socket traffic, and when it last moved */
	bool bytes_valid;
	/* The current (or last) break. */
	unsigned breaks;
	uint64_t broke_at;
	struct mg_incwriter *incident;
	unsigned pause_tries, resume_tries;
	uint64_t pause_at, next_resume_at;
	bool resuming;			/* a resume try was started in this break */
	bool gave_up;
	struct mg_worker_call *call;	/* the pause or resume in flight */
	int pidfd;			/* QEMU, for its sockets' duplicates; -1 */
	struct mg_nbd_server *nbd;	/* the params' copy */
};

static const char *side(const struct mg_postcopy *pc)
{
	return mg_watch_direction(pc->p.watch) == MG_DIR_OUT ? "source" : "destination";
}

static bool is_source(const struct mg_postcopy *pc)
{
	return mg_watch_direction(pc->p.watch) == MG_DIR_OUT;
}

/* --- one step to the journal, the incident, the sinks and the timeline --- */

static const char *step_message_id(const char *step)
{
	if (strcmp(step, MG_POSTCOPY_STEP_PAUSE) == 0)
		return MG_MESSAGE_POSTCOPY_PAUSE;
	if (strcmp(step, MG_POSTCOPY_STEP_RESUME) == 0)
		return MG_MESSAGE_POSTCOPY_RESUME;
	if (strcmp(step, MG_POSTCOPY_STEP_LOST) == 0)
		return MG_MESSAGE_POSTCOPY_LOST;
	return MG_MESSAGE_POSTCOPY_BREAK;
}

static void record(struct mg_postcopy *pc, const char *step, int result, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void record(struct mg_postcopy *pc, const char *step, int result, const char *fmt, ...)
{
	struct mg_watch *w = pc->p.watch;
	const char *res = result == 0 ? "ok" : strerror(-result);
	char detail[768], pid[16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(pid, sizeof(pid), "%d", (int)mg_watch_pid(w));
	struct mg_log_field f[] = {
		{ "MIGGUARD_DOMAIN", mg_watch_name(w) }, { "MIGGUARD_UUID", mg_watch_uuid(w) },
		{ "MIGGUARD_PID", pid }, { "MIGGUARD_STEP", step }, { "MIGGUARD_RESULT", res },
		{ "MIGGUARD_INCIDENT", pc->incident ? mg_incwriter_dir(pc->incident) : NULL },
	};
	mg_log_full(result == 0 ? LOG_NOTICE : LOG_WARNING, 0, step_message_id(step), f, MG_ARRAY_SIZE(f),
		    "domain %s: %s %s: %s: %s", mg_watch_name(w), side(pc), step, res, detail);
	if (pc->incident)
		mg_incwriter_add_action(pc->incident, step, result, detail);
	if (pc->p.notify) {
		struct mg_event e = mg_event_plugin(MIGGUARD_EVENT_ACTION_DONE, "action");

		mg_watch_describe(w, &e);
		e.ev.incident = pc->incident ? mg_incwriter_dir(pc->incident) : NULL;
		e.ev.step = step;
		e.ev.result = result;
		e.ev.detail = detail;
		mg_notify_dispatch(pc->p.notify, &e);
	}
	mg_watch_note(w, "%s: %s: %s", step, res, detail);
}

/* --- the libvirt calls (worker threads) ---------------------------------- */

struct job {
	const struct mg_postcopy_ops *ops;
	virDomainPtr dom;
	bool resume;
	char dconnuri[1024], migrate_uri[1024], listen_address[256];
	unsigned long flags;
	unsigned brk, try;		/* which break and try it is, for the record */
	char err[512];			/* written by the worker; read only after it returned */
};

static void job_free(void *arg)
{
	struct job *j = arg;

	if (j->dom)
		virDomainFree(j->dom);
	free(j);
}

static int job_run(void *arg)
{
	struct job *j = arg;

	if (j->resume)
		return j->ops->resume(j->dom, j->dconnuri, j->migrate_uri, j->listen_address, j->flags, j->err,
				      sizeof(j->err));
	return j->ops->pause(j->dom, j->err, sizeof(j->err));
}

static void libvirt_error(char *err, size_t size, const char *what)
{
	const char *m = virGetLastErrorMessage();

	snprintf(err, size, "%s: %s", what, m && *m ? m : "unknown libvirt error");
}

static int lv_pause(virDomainPtr dom, char *err, size_t size)
{
	char first[256];
	char *reply = NULL;
	int r = -EIO;

	if (virDomainAbortJobFlags(dom, VIR_DOMAIN_ABORT_JOB_POSTCOPY) == 0) {
		snprintf(err, size, "virDomainAbortJobFlags(POSTCOPY)");
		return 0;
	}
	/* libvirt 9.0 may refuse it on a side that has no outgoing job: QEMU's
	 * migrate-pause works on both ends. */
	libvirt_error(first, sizeof(first), "virDomainAbortJobFlags(POSTCOPY)");
	if (virDomainQemuMonitorCommand(dom, "{\"execute\":\"migrate-pause\"}", &reply, 0) < 0) {
		char second[256];

		libvirt_error(second, sizeof(second), "migrate-pause");
		snprintf(err, size, "%s; %s", first, second);
	} else if (reply && strstr(reply, "\"error\"")) {
		snprintf(err, size, "%s; migrate-pause: %.200s", first, reply);
	} else {
		snprintf(err, size, "migrate-pause through libvirt's monitor (%s)", first);
		r = 0;
	}
	free(reply);
	return r;
}

static int lv_resume(virDomainPtr dom, const char *dconnuri, const char *migrate_uri, const char *listen_address,
		     unsigned long flags, char *err, size_t size)
{
	virTypedParameterPtr params = NULL;
	int n = 0, max = 0, r = 0;

	if (*migrate_uri && virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_URI, migrate_uri) < 0)
		r = -ENOMEM;
	if (r == 0 && *listen_address &&
	    virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_LISTEN_ADDRESS, listen_address) < 0)
		r = -ENOMEM;
	if (r == 0 && virDomainMigrateToURI3(dom, dconnuri, params, (unsigned)n, flags) < 0) {
		libvirt_error(err, size, "virDomainMigrateToURI3");
		r = -EIO;
	} else if (r == 0) {
		snprintf(err, size, "virDomainMigrateToURI3 returned: the migration completed");
	}
	virTypedParamsFree(params, n);
	return r;
}

static const struct mg_postcopy_ops libvirt_ops = { .pause = lv_pause, .resume = lv_resume };

/* --- the steps ------------------------------------------------------------ */

static void open_break(struct mg_postcopy *pc, bool act, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void call_done(int result, void *arg, void *userdata);

static int submit(struct mg_postcopy *pc, struct job *j, const char *what, uint64_t timeout)
{
	struct mg_worker_call_spec spec = {
		.what = what, .run = job_run, .arg = j, .free_arg = job_free, .timeout_usec = timeout,
		.done = call_done, .userdata = pc,
	};

	pc->call = mg_worker_call_cancel(pc->call);
	return mg_worker_call(pc->p.pool, &spec, &pc->call);
}

static struct job *new_job(struct mg_postcopy *pc, bool resume)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->ops = &pc->ops;
	j->dom = pc->p.dom;
	if (j->dom)
		virDomainRef(j->dom);
	j->resume = resume;
	return j;
}

/* Tests call their own ops without a domain. */
static bool has_target(const struct mg_postcopy *pc)
{
	return pc->p.pool && (pc->p.dom || pc->p.ops);
}

static bool can_call(const struct mg_postcopy *pc)
{
	return has_target(pc) && !(pc->call && mg_worker_call_busy(pc->call));
}

static void pause_side(struct mg_postcopy *pc)
{
	char what[300];
	struct job *j;
	int r;

	if (pc->p.action == MG_PC_NONE || pc->paused || pc->pause_tries >= MG_POSTCOPY_PAUSE_TRIES)
		return;
	if (!has_target(pc)) {
		if (pc->pause_tries++ == 0)
			record(pc, MG_POSTCOPY_STEP_PAUSE, -EOPNOTSUPP, "no libvirt domain to pause (standalone mode)");
		return;
	}
	if (!can_call(pc))
		return;
	j = new_job(pc, false);
	if (!j)
		return;
	pc->pause_tries++;
	pc->pause_at = mg_now_mono();
	snprintf(what, sizeof(what), "post-copy pause of %s", mg_watch_name(pc->p.watch));
	r = submit(pc, j, what, pc->p.step_timeout);
	if (r < 0)
		record(pc, MG_POSTCOPY_STEP_PAUSE, r, "try %u of %u: cannot submit the call", pc->pause_tries,
		       MG_POSTCOPY_PAUSE_TRIES);
}

static int expand(const struct mg_postcopy *pc, const char *tmpl, char *buf, size_t size)
{
	return mg_conf_expand_uri(tmpl, mg_watch_name(pc->p.watch), mg_watch_uuid(pc->p.watch), pc->peer_address,
				  buf, size);
}

static void resume_source(struct mg_postcopy *pc)
{
	uint64_t now = mg_now_mono();
	char what[300];
	struct job *j;
	int r;

	/* QEMU's own word that it is paused: libvirt's POSTCOPY_FAILED event
	 * may come first, and a resume before QEMU paused is refused. */
	if (pc->p.action != MG_PC_RECOVER || !is_source(pc) || pc->state != PC_BROKEN || !pc->paused ||
	    strcmp(pc->status, "postcopy-paused") != 0 || pc->gave_up || now < pc->next_resume_at || !can_call(pc))
		return;
	if (pc->resume_tries >= pc->p.resume_tries) {
		pc->gave_up = true;
		record(pc, MG_POSTCOPY_STEP_RESUME, -ETIMEDOUT,
		       "gave up after %u tries: both sides stay paused (postcopy-paused); the guest needs both "
		       "hosts: resume it by hand (virsh migrate --live --p2p --postcopy --postcopy-resume) and "
		       "never destroy either side", pc->resume_tries);
		return;
	}
	pc->next_resume_at = now + pc->p.resume_interval;
	if (!*pc->resume_uri) {
		pc->gave_up = true;
		record(pc, MG_POSTCOPY_STEP_RESUME, -EDESTADDRREQ,
		       "[postcopy] resume_uri is not set: the guard cannot tell where the destination is; both "
		       "sides stay paused");
		return;
	}
	j = new_job(pc, true);
	if (!j)
		return;
	r = expand(pc, pc->resume_uri, j->dconnuri, sizeof(j->dconnuri));
	if (r >= 0)
		r = expand(pc, pc->resume_migrate_uri, j->migrate_uri, sizeof(j->migrate_uri));
	if (r >= 0)
		r = expand(pc, pc->resume_listen_address, j->listen_address, sizeof(j->listen_address));
	if (r < 0) {
		job_free(j);
		pc->gave_up = true;
		record(pc, MG_POSTCOPY_STEP_RESUME, r, "cannot expand the [postcopy] resume templates%s",
		       r == -ENODATA ? ": %a is used but the destination's address is not known" : "");
		return;
	}
	/* The job's own flags, so libvirt accepts it as the same migration. */
	j->flags = (pc->p.has_job_flags ? pc->p.job_flags : VIR_MIGRATE_LIVE | VIR_MIGRATE_POSTCOPY) |
		   VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_POSTCOPY | VIR_MIGRATE_POSTCOPY_RESUME;
	pc->resume_tries++;
	pc->resuming = true;
	j->brk = pc->breaks;
	j->try = pc->resume_tries;
	snprintf(what, sizeof(what), "post-copy resume of %s", mg_watch_name(pc->p.watch));
	record(pc, MG_POSTCOPY_STEP_RESUME, 0, "try %u of %u: virDomainMigrateToURI3 to %s (uri %s, listen %s, "
	       "flags 0x%lx)", pc->resume_tries, pc->p.resume_tries, j->dconnuri,
	       j->migrate_uri[0] ? j->migrate_uri : "libvirt's choice",
	       j->listen_address[0] ? j->listen_address : "libvirt's choice", j->flags);
	/* No deadline: the call returns when the migration is over; the
	 * status events say earlier whether it runs again. */
	r = submit(pc, j, what, 0);
	if (r < 0)
		record(pc, MG_POSTCOPY_STEP_RESUME, r, "try %u: cannot submit the call", pc->resume_tries);
}

static void call_done(int result, void *arg, void *userdata)
{
	struct mg_postcopy *pc = userdata;
	struct job *j = arg;
	/* Past the deadline the worker may still write err. */
	const char *err = result == -ETIMEDOUT ? "no answer within the deadline" : j->err;

	pc->call = mg_worker_call_cancel(pc->call);
	if (j->resume) {
		if (result == 0)
			record(pc, MG_POSTCOPY_STEP_RESUME, 0, "break %u, try %u: %s", j->brk, j->try, err);
		else
			record(pc, MG_POSTCOPY_STEP_RESUME, result, "break %u, try %u failed: %s%s", j->brk, j->try, err,
			       pc->state == PC_BROKEN && pc->resume_tries < pc->p.resume_tries ?
				       "; trying again later" : "");
	} else {
		record(pc, MG_POSTCOPY_STEP_PAUSE, result, "try %u of %u: %s", pc->pause_tries,
		       MG_POSTCOPY_PAUSE_TRIES, err);
	}
}

/* A break: the incident, then (act) the policy's first step. */
static void open_break(struct mg_postcopy *pc, bool act, const char *fmt, ...)
{
	char why[512], summary[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pc->state = PC_BROKEN;
	pc->breaks++;
	pc->broke_at = mg_now_mono();
	pc->pause_tries = pc->resume_tries = 0;
	pc->resuming = pc->gave_up = false;
	/* Not at once: libvirt's own migration call and the destination's
	 * Finish3 still hold their jobs for a moment, and a resume then waits
	 * up to 30 s for the destination's job lock (seen here). */
	pc->next_resume_at = mg_now_mono() + pc->p.resume_interval;
	pc->incident = mg_incwriter_unref(pc->incident);
	snprintf(summary, sizeof(summary),
		 "The post-copy migration of %s (QEMU pid %d, %s side) broke (break %u): %s. "
		 "This side: QEMU migration status %s, %s. Policy: postcopy_action = %s. "
		 "The guest's memory lives on both hosts: neither side is destroyed or killed. "
		 "postcopy-blocktime: not recorded (libvirt does not enable QEMU's capability).",
		 mg_watch_name(pc->p.watch), (int)mg_watch_pid(pc->p.watch), side(pc), pc->breaks, why,
		 pc->status[0] ? pc->status : "unknown", pc->paused ? "paused" : "not yet paused",
		 mg_pc_action_to_string(pc->p.action));
	if (pc->cb.open_incident)
		pc->incident = pc->cb.open_incident(pc, summary, pc->userdata);
	record(pc, MG_POSTCOPY_STEP_BREAK, 0, "break %u: %s", pc->breaks, why);
	if (!act)
		return;
	if (!pc->paused)
		pause_side(pc);
	resume_source(pc);
}

static void close_break(struct mg_postcopy *pc, const char *why)
{
	if (pc->state != PC_BROKEN)
		return;
	pc->state = PC_WATCHING;
	pc->paused = false;
	pc->progress_at = mg_now_mono();
	pc->bytes_valid = false;
	record(pc, MG_POSTCOPY_STEP_RESUME, 0, "break %u closed after %.1f s: %s", pc->breaks,
	       (double)(mg_now_mono() - pc->broke_at) / 1e6, why);
}

static void read_progress(struct mg_postcopy *pc, uint64_t now)
{
	uint64_t bytes;

	if (mg_postcopy_traffic(mg_watch_pid(pc->p.watch), pc->pidfd, pc->p.nbd, pc->p.n_nbd, &bytes) < 0)
		return;
	if (!pc->bytes_valid || bytes >= pc->bytes + MG_POSTCOPY_MIN_PROGRESS) {
		pc->bytes = bytes;
		pc->bytes_valid = true;
		pc->progress_at = now;
	}
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct mg_postcopy *pc = userdata;
	uint64_t now = mg_now_mono();

	if (pc->state == PC_DONE)
		return 0;
	read_progress(pc, now);
	if (pc->state == PC_WATCHING && !pc->paused && now - pc->progress_at >= pc->p.stall_timeout &&
	    strcmp(pc->status, "postcopy-recover") != 0)
		open_break(pc, true, "stalled: QEMU's socket traffic grew by less than %u KiB in %.1f s (status %s)",
			   MG_POSTCOPY_MIN_PROGRESS / 1024, (double)(now - pc->progress_at) / 1e6,
			   pc->status[0] ? pc->status : "unknown");
	if (pc->state == PC_BROKEN && !pc->paused && pc->pause_tries &&
	    now - pc->pause_at >= pc->p.step_timeout + pc->p.probe_interval)
		pause_side(pc);
	resume_source(pc);
	sd_event_source_set_time(s, now + pc->p.probe_interval);
	return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* --- inputs --------------------------------------------------------------- */

void mg_postcopy_on_status(struct mg_postcopy *pc, const char *status, const char *source)
{
	if (pc->state == PC_DONE || !status)
		return;
	snprintf(pc->status, sizeof(pc->status), "%s", status);
	if (strcmp(status, "postcopy-paused") == 0) {
		pc->paused = true;
		if (pc->state == PC_WATCHING)
			open_break(pc, true, "QEMU entered postcopy-paused (%s)", source);
		else
			resume_source(pc);
	} else if (strcmp(status, "postcopy-active") == 0) {
		/* Active again after a pause (a resume, ours or the operator's);
		 * a stall not yet paused stays open. */
		if (pc->state == PC_BROKEN && (pc->paused || pc->resuming))
			close_break(pc, "QEMU is postcopy-active again");
		pc->paused = false;
		pc->progress_at = mg_now_mono();
	} else if (strcmp(status, "postcopy-recover") == 0) {
		pc->paused = false;
	}
}

void mg_postcopy_on_failed(struct mg_postcopy *pc, const char *why)
{
	if (pc->state == PC_DONE)
		return;
	/* QEMU's own status decides: libvirt 9.0 can send POSTCOPY_FAILED
	 * after a resume that worked (its resume call failing although QEMU
	 * resumed), and on a real break QEMU's postcopy-paused follows. */
	if (strcmp(pc->status, "postcopy-active") == 0 || strcmp(pc->status, "postcopy-recover") == 0) {
		mg_watch_note(pc->p.watch, "%s while QEMU says %s: QEMU's word is awaited", why, pc->status);
		return;
	}
	pc->paused = true;
	if (pc->state == PC_WATCHING)
		open_break(pc, true, "%s", why);
	else
		resume_source(pc);
}

void mg_postcopy_on_qemu_gone(struct mg_postcopy *pc, const char *why)
{
	if (pc->state == PC_DONE)
		return;
	if (pc->state == PC_WATCHING)
		open_break(pc, false, "this side's QEMU is gone (%s)", why);
	pc->state = PC_DONE;
	record(pc, MG_POSTCOPY_STEP_LOST, -ESRCH,
	       "the %s QEMU is gone during post-copy (%s): the guest's memory that only it held is lost, the "
	       "guest cannot be recovered; the %s side is left as it is for the operator (never destroyed)",
	       side(pc), why, is_source(pc) ? "destination" : "source");
}

void mg_postcopy_on_end(struct mg_postcopy *pc, enum mg_phase final, const char *why)
{
	if (pc->state == PC_DONE)
		return;
	if (pc->state == PC_BROKEN && final == MG_PHASE_COMPLETED)
		close_break(pc, "the migration completed");
	pc->state = PC_DONE;
}

bool mg_postcopy_busy(const struct mg_postcopy *pc)
{
	return pc->call && mg_worker_call_busy(pc->call);
}

unsigned mg_postcopy_breaks(const struct mg_postcopy *pc) { return pc->breaks; }
bool mg_postcopy_broken(const struct mg_postcopy *pc) { return pc->state == PC_BROKEN; }

/* --- the destination's address ------------------------------------------- */

#define PEER_MAX_SOCKETS 256
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* pid's sockets: their inodes, and the fd numbers they have in pid. */
static size_t socket_inodes(pid_t pid, uint64_t *v, int *fds, size_t max)
{
	char path[64], target[64];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		unsigned long long ino;
		ssize_t len = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);

		if (len <= 0)
			continue;
		target[len] = '\0';
		if (sscanf(target, "socket:[%llu]", &ino) == 1) {
			fds[n] = atoi(de->d_name);
			v[n++] = ino;
		}
	}
	closedir(d);
	return n;
}

static bool is_nbd_server(const struct mg_nbd_server *nbd, size_t n_nbd, const char *host, unsigned port)
{
	for (size_t i = 0; i < n_nbd; i++) {
		unsigned want = nbd[i].port[0] ? (unsigned)strtoul(nbd[i].port, NULL, 10) : 10809;

		if (!nbd[i].is_unix && strcmp(nbd[i].host, host) == 0 && want == port)
			return true;
	}
	return false;
}

int mg_postcopy_migration_peer(pid_t pid, const struct mg_nbd_server *nbd, size_t n_nbd, char *buf, size_t size)
{
	uint64_t inodes[PEER_MAX_SOCKETS];
	int fds[PEER_MAX_SOCKETS];
	unsigned listen_ports[PEER_MAX_SOCKETS];
	size_t n_ino = socket_inodes(pid, inodes, fds, PEER_MAX_SOCKETS), n_listen = 0, n_tcp;
	_cleanup_free_ struct mg_tcp_sock *v = NULL;
	char found[64] = "";
	int r = -ENOENT;

	n_tcp = mg_sockfacts_tcp(pid, -1, &v);
	for (size_t i = 0; i < n_ino; i++) {
		const struct mg_tcp_sock *s = mg_sockfacts_tcp_find(v, n_tcp, inodes[i]);

		if (s && s->state == MG_TCP_LISTEN)
			listen_ports[n_listen++] = mg_sockfacts_tcp_port(s->local);
	}
	for (size_t i = 0; i < n_ino; i++) {
		const struct mg_tcp_sock *s = mg_sockfacts_tcp_find(v, n_tcp, inodes[i]);
		unsigned local, port;
		char host[64];
		bool accepted = false;

		if (!s || s->state != 0x01 || mg_sockfacts_tcp_host(s->remote, host, sizeof(host)) < 0)
			continue;
		local = mg_sockfacts_tcp_port(s->local);
		port = mg_sockfacts_tcp_port(s->remote);
		for (size_t k = 0; k < n_listen; k++)
			accepted |= listen_ports[k] == local;
		if (accepted || is_nbd_server(nbd, n_nbd, host, port))
			continue;
		if (found[0] && strcmp(found, host) != 0)
			return -ENOTUNIQ;
		snprintf(found, sizeof(found), "%s", host);
		r = 0;
	}
	if (r == 0 && snprintf(buf, size, "%s", found) >= (int)size)
		return -ENAMETOOLONG;
	return r;
}

/* Bytes QEMU's TCP streams moved: acknowledged by the peer and received,
 * read on a duplicate of each (TCP_INFO), closed at once - a duplicate kept
 * open would keep a connection QEMU closes alive for its peer. */
static uint64_t tcp_bytes(int pidfd, int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint64_t n = 0;
	int dup = pidfd >= 0 ? (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0) : -1;

	if (dup < 0)
		return 0;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(dup, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		n = ti.tcpi_bytes_acked + ti.tcpi_bytes_received;
	close(dup);
	return n;
}

int mg_postcopy_traffic(pid_t pid, int pidfd, const struct mg_nbd_server *nbd, size_t n_nbd, uint64_t *out)
{
	uint64_t inodes[PEER_MAX_SOCKETS], rchar = 0, wchar = 0, sum = 0;
	int fds[PEER_MAX_SOCKETS];
	size_t n_ino, n_tcp;
	_cleanup_free_ struct mg_tcp_sock *v = NULL;
	int r;

	/* A migration over a pipe or a unix socket that QEMU writes with
	 * write(2) (libvirt's tunnel) shows in rchar/wchar; sendmsg(2) and
	 * recvmsg(2), which QEMU's channels use, do not. */
	r = mg_procfs_io_rchar(pid, &rchar);
	if (r >= 0)
		r = mg_procfs_io_wchar(pid, &wchar);
	if (r < 0)
		return r;
	n_ino = socket_inodes(pid, inodes, fds, PEER_MAX_SOCKETS);
	n_tcp = mg_sockfacts_tcp(pid, -1, &v);
	for (size_t i = 0; i < n_ino; i++) {
		const struct mg_tcp_sock *s = mg_sockfacts_tcp_find(v, n_tcp, inodes[i]);
		char host[64];

		if (!s || s->state != 0x01)
			continue;
		/* The guest's storage is not the migration. */
		if (mg_sockfacts_tcp_host(s->remote, host, sizeof(host)) == 0 &&
		    is_nbd_server(nbd, n_nbd, host, mg_sockfacts_tcp_port(s->remote)))
			continue;
		sum += tcp_bytes(pidfd, fds[i]);
	}
	*out = rchar + wchar + sum;
	return 0;
}

/* --- life ------------------------------------------------------------------ */

static int dup_str(char **dst, const char *s)
{
	*dst = strdup(s ? s : "");
	return *dst ? 0 : -ENOMEM;
}

int mg_postcopy_new(sd_event *loop, const struct mg_postcopy_params *p, const struct mg_postcopy_callbacks *cb,
		    void *userdata, struct mg_postcopy **out)
{
	struct mg_postcopy *pc;
	int r;

	if (!p->watch || ((p->dom || p->ops) && !p->pool) || !p->probe_interval || !p->stall_timeout)
		return -EINVAL;
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc->loop = loop;
	pc->p = *p;
	pc->ops = p->ops ? *p->ops : libvirt_ops;
	if (cb)
		pc->cb = *cb;
	pc->userdata = userdata;
	pc->progress_at = mg_now_mono();
	pc->pidfd = (int)syscall(SYS_pidfd_open, mg_watch_pid(p->watch), 0);
	if (p->n_nbd) {
		pc->nbd = calloc(p->n_nbd, sizeof(*pc->nbd));
		if (pc->nbd)
			memcpy(pc->nbd, p->nbd, p->n_nbd * sizeof(*pc->nbd));
		pc->p.nbd = pc->nbd;
		pc->p.n_nbd = pc->nbd ? p->n_nbd : 0;
	}
	r = dup_str(&pc->resume_uri, p->resume_uri);
	if (r >= 0)
		r = dup_str(&pc->resume_migrate_uri, p->resume_migrate_uri);
	if (r >= 0)
		r = dup_str(&pc->resume_listen_address, p->resume_listen_address);
	if (r >= 0 && p->peer_address)
		r = dup_str(&pc->peer_address, p->peer_address);
	if (r >= 0)
		r = sd_event_add_time_relative(loop, &pc->tick, CLOCK_MONOTONIC, p->probe_interval,
					       p->probe_interval / 10, on_tick, pc);
	if (r < 0) {
		mg_postcopy_free(pc);
		return r;
	}
	/* Strings now ours; the params' pointers were the caller's. */
	pc->p.resume_uri = pc->p.resume_migrate_uri = pc->p.resume_listen_address = pc->p.peer_address = NULL;
	*out = pc;
	return 0;
}

struct mg_postcopy *mg_postcopy_free(struct mg_postcopy *pc)
{
	if (!pc)
		return NULL;
	mg_worker_call_cancel(pc->call);
	sd_event_source_disable_unref(pc->tick);
	mg_incwriter_unref(pc->incident);
	if (pc->pidfd >= 0)
		close(pc->pidfd);
	free(pc->nbd);
	free(pc->resume_uri);
	free(pc->resume_migrate_uri);
	free(pc->resume_listen_address);
	free(pc->peer_address);
	free(pc);
	return NULL;
}
