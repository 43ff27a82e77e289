/* fuzz_guard - the consumers of QMP replies and events: the standalone
 * guard (daemon/standalone.c, daemon/guard.c) in front of the real watch
 * (daemon/watch.c), tracker and ladder (daemon/ladder.c), with the real QMP
 * client connected to a scripted in-process peer on a unix socket, as
 * `migguardd --qmp SOCK --pid PID` runs.  The guarded process is a child
 * of the harness that only sleeps.  A verdict goes through the real
 * report.c, incident writer (daemon/incwriter.c, its own thread) and
 * ledger into a scratch state directory emptied before each input, so the
 * ladder's action records are appended to a real report.json; only the
 * stack snapshot is a stub.
 *
 * The input is a script, one item per line (libvirt's qemuMonitorTest
 * idea, as data):
 *   R<json>   reply {"return": <json>, "id": ID} to the oldest request the
 *             guard sent and the script has not answered yet;
 *   X<json>   reply {"error": <json>, "id": ID} to it;
 *   W         let 2 ms pass (request deadlines, probe rounds, the ladder);
 *   anything else is sent as it is (the greeting, events, garbage).
 * (MG_FUZZ_TRACE=1 prints the conversation.)
 * When R or X finds no request, the loop runs (up to 3 ms) until one comes.
 * Byte 0 is the configuration: bits 0-1 action (none, cancel, recover),
 * bits 2-3 monitor_timeout 0 (no deadlines)/1/5/20 ms, bit 4 finish_timeout 0
 * (else 3 ms),
 * bit 5 recover_grace 0 (the kill step: the child is replaced), bit 6
 * a state directory that cannot be created (incident write failures),
 * bit 7 the guard stopped before the monitor closes (SIGTERM mid-ladder). */
#include "conf.h"
#include "env.h"
#include "incident.h"
#include "metrics.h"
#include "report.h"
#include "snapshot/snapshot.h"
#include "standalone.h"
#include "status.h"
#include "util.h"
#include "fuzz.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#define MAX_RUNS 64		/* loop dispatches per pump */
#define MAX_WAITS 48		/* timed loop runs per input */
#define MAX_PENDING 32

static char sock_path[108], state_dir[PATH_MAX];
static int listen_fd = -1;
static pid_t child = -1;
static unsigned n_inputs;
static bool trace;		/* MG_FUZZ_TRACE=1: the conversation on stderr */

/* The snapshot is replaced: a real one stops and unwinds the child with
 * ptrace (tens of ms); report.c gets "not permitted", its path when the
 * guard may not trace QEMU, and writes the incident without stacks (the
 * rest of the snapshot library is the real one: the unstick rung's plan
 * and checks use its model). */
int mg_snapshot_take(pid_t pid, const struct mg_snapshot_opts *opts, struct mg_snapshot **out)
{
	*out = NULL;
	return -EPERM;
}

/* The guarded "QEMU": a child that creates and listens on the monitor
 * socket (so SO_PEERCRED names it, as the guard checks), hands the
 * listening socket to the harness, and sleeps. */
static void spawn_child(void)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, byte = 0;
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t r;
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) < 0)
		abort();
	child = fork();
	if (child < 0)
		abort();
	if (child == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
		unlink(sock_path);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)
			_exit(1);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		if (sendmsg(sp[1], &mh, 0) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	close(sp[1]);
	/* libFuzzer's -timeout alarm interrupts. */
	while ((r = recvmsg(sp[0], &mh, 0)) < 0 && errno == EINTR)
		;
	if (r <= 0 || !(c = CMSG_FIRSTHDR(&mh)) || c->cmsg_type != SCM_RIGHTS)
		abort();
	close(sp[0]);
	if (listen_fd >= 0)
		close(listen_fd);
	memcpy(&listen_fd, CMSG_DATA(c), sizeof(int));
}

static void kill_child(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = fuzz_setup("guard");

	snprintf(sock_path, sizeof(sock_path), "%s/qmp.sock", dir);
	spawn_child();
	atexit(kill_child);
	trace = getenv("MG_FUZZ_TRACE");
	return 0;
}

/* The peer's side of the conversation. */
struct peer {
	sd_event *loop;
	int fd;
	char in[65536];
	size_t in_len;
	char *pending[MAX_PENDING];	/* ids of unanswered requests, oldest first */
	size_t n_pending;
	int waits;
};

static void peer_take(struct peer *p, const char *line)
{
	json_object *msg = json_tokener_parse(line), *id;

	if (trace)
		fprintf(stderr, "peer <- %s\n", line);
	if (!msg)
		abort();	/* the client sends JSON, one message per line */
	if (json_object_object_get_ex(msg, "id", &id) && p->n_pending < MAX_PENDING)
		p->pending[p->n_pending++] = strdup(json_object_get_string(id));
	json_object_put(msg);
}

static void peer_read(struct peer *p)
{
	ssize_t n;

	while (p->fd >= 0 && (n = recv(p->fd, p->in + p->in_len, sizeof(p->in) - 1 - p->in_len, MSG_DONTWAIT)) > 0) {
		char *start = p->in, *nl;

		p->in_len += (size_t)n;
		p->in[p->in_len] = '\0';
		while ((nl = memchr(start, '\n', p->in_len - (size_t)(start - p->in)))) {
			*nl = '\0';
			peer_take(p, start);
			start = nl + 1;
		}
		p->in_len -= (size_t)(start - p->in);
		memmove(p->in, start, p->in_len);
		if (p->in_len == sizeof(p->in) - 1)
			abort();	/* a line longer than any request */
	}
}

/* Runs the loop: first run waits up to timeout usec, then until idle. */
static void pump(struct peer *p, uint64_t timeout)
{
	if (timeout && p->waits++ >= MAX_WAITS)
		timeout = 0;
	for (int i = 0; i < MAX_RUNS && sd_event_run(p->loop, timeout) > 0; i++)
		timeout = 0;
	peer_read(p);
}

static void peer_send(struct peer *p, const char *s, size_t len)
{
	if (trace)
		fprintf(stderr, "peer -> %.*s", (int)len, s);
	if (p->fd >= 0 && send(p->fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN) {
		close(p->fd);
		p->fd = -1;
	}
	pump(p, 0);
}

static void peer_reply(struct peer *p, const char *member, const char *json, size_t len)
{
	char *msg, *id;
	int n;

	for (int i = 0; i < 3 && !p->n_pending && p->fd >= 0; i++)
		pump(p, MG_USEC_PER_MSEC);
	if (!p->n_pending)
		return;
	id = p->pending[0];
	memmove(p->pending, p->pending + 1, --p->n_pending * sizeof(*p->pending));
	n = asprintf(&msg, "{\"%s\": %.*s, \"id\": \"%s\"}\r\n", member, (int)len, json, id ? id : "");
	free(id);
	if (n < 0)
		abort();
	peer_send(p, msg, (size_t)n);
	free(msg);
}

static void configure(struct mg_conf *conf, uint8_t b)
{
	static const uint64_t monitor[] = { 0, 1, 5, 20 };	/* 0: no deadlines */

	conf->action = (enum mg_action)((b & 3) % 3);
	conf->monitor_timeout = monitor[(b >> 2) & 3] * MG_USEC_PER_MSEC;
	conf->finish_timeout = b & 0x10 ? 0 : 3 * MG_USEC_PER_MSEC;
	conf->recover_grace = b & 0x20 ? 0 : 3600 * MG_USEC_PER_SEC;
	conf->probe_interval = MG_USEC_PER_MSEC;
	conf->core_dump = false;
	free(conf->state_dir);
	conf->state_dir = strdup(b & 0x40 ? "/proc/self/mg-unwritable" : state_dir);
	if (!conf->state_dir)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct peer p = { .fd = -1 };
	struct mg_standalone *s = NULL;
	struct mg_conf conf;
	/* The sinks the manager registers (no files): what they take in is
	 * fuzzed too. */
	struct mg_notify *notify = NULL;
	struct mg_metrics *metrics = NULL;
	struct mg_status *status = NULL;
	struct mg_env env;
	size_t off;
	pid_t w;

	if (size < 1 || size > 16384)
		return 0;
	while ((w = waitpid(child, NULL, WNOHANG)) < 0 && errno == EINTR)
		;
	if (w == child)
		spawn_child();	/* the ladder's kill step got it */
	/* Nothing carries over: the ledger (STATE_DIR/acted) would make the
	 * guard skip a migration an earlier input acted on.  A new directory
	 * each time: the incident thread of the last input may still write. */
	fuzz_rm_rf(state_dir);
	snprintf(state_dir, sizeof(state_dir), "%s/state-%u", fuzz_dir, ++n_inputs);
	if (mkdir(state_dir, 0700) < 0 || mg_conf_init_defaults(&conf) < 0 || sd_event_new(&p.loop) < 0)
		abort();
	configure(&conf, data[0]);
	env = (struct mg_env){ .loop = p.loop, .conf = &conf };
	if (mg_notify_new(&notify) < 0 || mg_metrics_new(&metrics) < 0 || mg_status_new(&status) < 0 ||
	    mg_notify_register(notify, "metrics", mg_metrics_on_event, metrics) < 0 ||
	    mg_notify_register(notify, "status", mg_status_on_event, status) < 0 ||
	    mg_worker_pool_new(p.loop, 1, 0, &env.io) < 0 ||
	    mg_worker_pool_new(p.loop, MG_REPORT_WORKERS, 0, &env.snap) < 0)
		abort();
	env.notify = notify;
	if (mg_standalone_start(&env, sock_path, child, "fuzz", &s) < 0)
		abort();
	/* The guard connected from mg_standalone_start: the newest connection
	 * is its (an older one would be a stale retry). */
	for (int fd; (fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
		if (p.fd >= 0)
			close(p.fd);
		p.fd = fd;
	}
	if (p.fd < 0)
		abort();
	pump(&p, 0);
	for (off = 1; off < size;) {
		const char *line = (const char *)data + off;
		const char *nl = memchr(line, '\n', size - off);
		size_t len = nl ? (size_t)(nl - line) : size - off;

		off += len + 1;
		if (len && line[0] == 'R')
			peer_reply(&p, "return", line + 1, len - 1);
		else if (len && line[0] == 'X')
			peer_reply(&p, "error", line + 1, len - 1);
		else if (len && line[0] == 'W')
			pump(&p, 2 * MG_USEC_PER_MSEC);
		else {
			char *msg = malloc(len + 2);

			memcpy(msg, line, len);
			msg[len] = '\n';
			peer_send(&p, msg, len + 1);
			free(msg);
		}
	}
	pump(&p, MG_USEC_PER_MSEC);
	/* Normally the monitor goes away first (its requests complete); with
	 * bit 7 the guard stops while QEMU still holds the monitor, as at
	 * SIGTERM in the middle of a ladder step. */
	if (!(data[0] & 0x80) && p.fd >= 0) {
		close(p.fd);
		p.fd = -1;
		pump(&p, 0);
	}
	mg_standalone_free(s);
	/* As the manager: the pools after their users (snapshots before the
	 * incident writer), the sinks after the pools. */
	mg_worker_pool_free(env.snap);
	mg_worker_pool_free(env.io);
	mg_status_free(status);
	mg_metrics_free(metrics);
	mg_notify_free(notify);
	if (p.fd >= 0)
		close(p.fd);
	for (size_t i = 0; i < p.n_pending; i++)
		free(p.pending[i]);
	sd_event_unref(p.loop);
	mg_conf_clear(&conf);
	return 0;
}
