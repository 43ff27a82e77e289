/* unstick.c - see unstick.h.
 *
 * Where the facts come from: sockets' peers and queues from sockfacts.h
 * (sock_diag for unix sockets, QEMU's net/tcp{,6} read through the pinned
 * /proc directory for TCP) and, on the duplicate, TCP_INFO
 * (unacknowledged segments, time since the last ACK).  The storage servers from libvirt's status XML and
 * QEMU's command line (-blockdev JSON or dotted keys, -drive). */
#include "unstick.h"
#include "log.h"
#include "probe.h"
#include "snapshot/model.h"
#include "sockfacts.h"
#include "util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define MG_NBD_DEFAULT_PORT "10809"
#define MG_UNSTICK_MAX_SERVERS 32
#define MG_UNSTICK_CMDLINE_MAX (256 * 1024)
/* Frames are searched this deep: a drain sits ~20 physical frames under
 * the migration thread's entry. */
#define MG_UNSTICK_DEPTH 64
#define MG_UNSTICK_JITTER (200 * MG_USEC_PER_MSEC)

const char *mg_unstick_kind_to_string(enum mg_unstick_kind k)
{
	switch (k) {
	case MG_UNSTICK_DRAIN: return "a block-layer drain under vm_stop";
	case MG_UNSTICK_SWITCHOVER: return "the switch-over write of the migration stream";
	default: return "no known kind";
	}
}

/* --- the plan, from the snapshot ----------------------------------------- */

static bool has_any_frame(const struct mg_snap_thread *t, const char *const *patterns)
{
	for (; *patterns; patterns++)
		if (mg_snap_thread_has_frame(t, *patterns, MG_UNSTICK_DEPTH))
			return true;
	return false;
}

/* QEMU names an IOThread "IO <id>"; "IO mon_iothread" is the monitor's
 * own, which no block drain waits for. */
static bool is_iothread(const struct mg_snap_thread *t)
{
	return strncmp(t->name, "IO ", 3) == 0 && strcmp(t->name, "IO mon_iothread") != 0;
}

static bool is_write_syscall(long nr)
{
	return nr == SYS_sendmsg || nr == SYS_write || nr == SYS_writev || nr == SYS_sendto;
}

static void add_candidate(struct mg_unstick_plan *p, const struct mg_snap_thread *t, const struct mg_io_wait *w)
{
	unsigned long long ino;
	struct mg_unstick_candidate *c;

	if (!w->target || sscanf(w->target, "socket:[%llu]", &ino) != 1)
		return;
	for (size_t i = 0; i < p->n; i++)
		if (p->c[i].inode == ino)
			return;
	if (p->n == MG_UNSTICK_MAX_CANDIDATES)
		return;
	c = &p->c[p->n++];
	memset(c, 0, sizeof(*c));
	c->tid = t->tid;
	snprintf(c->thread, sizeof(c->thread), "%s", t->name);
	c->fd = w->fd;
	c->inode = ino;
	c->queue = -1;
}

static void add_thread_sockets(struct mg_unstick_plan *p, const struct mg_snapshot *snap,
			       const struct mg_snap_thread *t, int only_fd)
{
	for (size_t i = 0; i < snap->n_io_waits; i++) {
		const struct mg_io_wait *w = &snap->io_waits[i];

		if (w->tid == t->tid && (only_fd < 0 || w->fd == only_fd))
			add_candidate(p, t, w);
	}
}

static int64_t peer_queue(pid_t pid, int proc_dirfd, uint64_t inode, uint64_t *peer_inode);

void mg_unstick_plan(const struct mg_snapshot *snap, struct mg_unstick_plan *p)
{
	static const char *const stop[] = { "vm_stop*", "do_vm_stop*", "vm_stop_force_state*", NULL };
	static const char *const drain[] = {
		"aio_poll*", "bdrv_drain*", "bdrv_do_drained_begin*", "bdrv_drained_begin*", "blk_drain*",
		"bdrv_try_change_aio_context*", "bdrv_flush_all*", "bdrv_flush*", NULL,
	};
	static const char *const complete[] = {
		"qemu_savevm_state_complete_precopy*", "migration_completion*", NULL,
	};
	const struct mg_snap_thread *owner;

	memset(p, 0, sizeof(*p));
	p->kind = MG_UNSTICK_NONE;
	p->lock_cycle = snap->locks.n_cycles > 0;
	p->bql_owner = snap->locks.bql_owner;
	owner = p->bql_owner ? mg_snapshot_thread(snap, p->bql_owner) : NULL;
	if (owner)
		snprintf(p->owner_name, sizeof(p->owner_name), "%s", owner->name);
	if (p->lock_cycle) {
		char sentence[256];

		snprintf(p->why, sizeof(p->why), "a lock cycle inside QEMU (%s): no socket to shut",
			 mg_snapshot_cycle_sentence(snap, 0, sentence, sizeof(sentence)));
		return;
	}
	if (!owner) {
		snprintf(p->why, sizeof(p->why), "the snapshot names no BQL holder");
		return;
	}
	if (strcmp(owner->name, MG_PROBE_MIGRATION_COMM) != 0) {
		snprintf(p->why, sizeof(p->why), "the BQL holder is %s (%d), not %s", owner->name,
			 (int)owner->tid, MG_PROBE_MIGRATION_COMM);
		return;
	}
	if (owner->in_syscall && is_write_syscall(owner->syscall_nr) && has_any_frame(owner, complete)) {
		p->kind = MG_UNSTICK_SWITCHOVER;
		add_thread_sockets(p, snap, owner, (int)owner->args[0]);
	} else if (owner->wait == MG_WAIT_IO && has_any_frame(owner, complete) && !has_any_frame(owner, stop)) {
		/* A non-blocking channel waits in poll for room to write. */
		p->kind = MG_UNSTICK_SWITCHOVER;
		add_thread_sockets(p, snap, owner, -1);
	} else if (has_any_frame(owner, stop) && has_any_frame(owner, drain)) {
		p->kind = MG_UNSTICK_DRAIN;
		add_thread_sockets(p, snap, owner, -1);
		for (size_t i = 0; i < snap->n_threads; i++)
			if (is_iothread(&snap->threads[i]) && snap->threads[i].wait == MG_WAIT_IO)
				add_thread_sockets(p, snap, &snap->threads[i], -1);
	} else {
		snprintf(p->why, sizeof(p->why), "the stack of %s (%d) matches no known kind: neither a block "
			 "drain under vm_stop nor the switch-over write", owner->name, (int)owner->tid);
		return;
	}
	if (p->n == 0) {
		snprintf(p->why, sizeof(p->why), "%s in %s (%d), but it waits on no socket",
			 mg_unstick_kind_to_string(p->kind), owner->name, (int)owner->tid);
		p->kind = MG_UNSTICK_NONE;
		return;
	}
	for (size_t i = 0; i < p->n; i++) {
		uint64_t peer;

		p->c[i].queue = peer_queue(snap->pid, -1, p->c[i].inode, &peer);
		p->c[i].queue_at = mg_now_mono();
	}
	snprintf(p->why, sizeof(p->why), "%s in %s (%d), %zu socket(s) waited on",
		 mg_unstick_kind_to_string(p->kind), owner->name, (int)owner->tid, p->n);
}

/* --- socket facts ---------------------------------------------------------- */

/* The queue that says whether the peer reads: a unix peer's receive queue;
 * a TCP peer on this host, its receive queue; a TCP peer elsewhere, our
 * own send queue (bytes not yet acknowledged).  -1 when unknown. */
static int64_t peer_queue(pid_t pid, int proc_dirfd, uint64_t inode, uint64_t *peer_inode)
{
	_cleanup_free_ struct mg_unix_sock *socks = NULL;
	_cleanup_free_ struct mg_tcp_sock *lines = NULL;
	const struct mg_unix_sock *u, *pu;
	const struct mg_tcp_sock *me, *peer;
	size_t n = 0;

	*peer_inode = 0;
	if (mg_sockfacts_unix(&socks, &n) == 0 && (u = mg_sockfacts_unix_find(socks, n, inode))) {
		*peer_inode = u->peer;
		pu = u->peer ? mg_sockfacts_unix_find(socks, n, u->peer) : NULL;
		return pu ? pu->rqueue : -1;
	}
	n = mg_sockfacts_tcp(pid, proc_dirfd, &lines);
	me = mg_sockfacts_tcp_find(lines, n, inode);
	if (!me)
		return -1;
	peer = mg_sockfacts_tcp_peer(lines, n, me);
	if (peer) {
		*peer_inode = peer->inode;
		return peer->rx;
	}
	return me->tx;
}

/* --- the storage servers --------------------------------------------------- */

struct servers {
	size_t n;
	struct mg_nbd_server s[MG_UNSTICK_MAX_SERVERS];
};

static void add_server(struct servers *sv, const struct mg_nbd_server *s)
{
	if (sv->n < MG_UNSTICK_MAX_SERVERS && (s->path[0] || s->host[0]))
		sv->s[sv->n++] = *s;
}

/* {"driver": "nbd", "server": {"type": "unix", "path": ...} | {"type":
 * "inet", "host": ..., "port": ...}, "reconnect-delay": N}, anywhere in a
 * -blockdev JSON value (a format node nests its protocol node). */
static void servers_from_json(json_object *o, struct servers *sv, int depth)
{
	json_object *server, *v;
	const char *driver;

	if (depth > 8 || !json_object_is_type(o, json_type_object))
		return;
	driver = json_object_object_get_ex(o, "driver", &v) && json_object_is_type(v, json_type_string)
			 ? json_object_get_string(v) : NULL;
	if (driver && strcmp(driver, "nbd") == 0 && json_object_object_get_ex(o, "server", &server) &&
	    json_object_is_type(server, json_type_object)) {
		struct mg_nbd_server s = { 0 };
		json_object *t, *path, *host, *port, *delay;
		const char *type = json_object_object_get_ex(server, "type", &t) &&
					   json_object_is_type(t, json_type_string) ? json_object_get_string(t) : "";

		if (strcmp(type, "unix") == 0 && json_object_object_get_ex(server, "path", &path) &&
		    json_object_is_type(path, json_type_string)) {
			s.is_unix = true;
			snprintf(s.path, sizeof(s.path), "%s", json_object_get_string(path));
		} else if (strcmp(type, "inet") == 0 && json_object_object_get_ex(server, "host", &host) &&
			   json_object_is_type(host, json_type_string)) {
			snprintf(s.host, sizeof(s.host), "%s", json_object_get_string(host));
			if (json_object_object_get_ex(server, "port", &port) &&
			    (json_object_is_type(port, json_type_string) || json_object_is_type(port, json_type_int)))
				snprintf(s.port, sizeof(s.port), "%s", json_object_get_string(port));
		}
		if (json_object_object_get_ex(o, "reconnect-delay", &delay) &&
		    json_object_is_type(delay, json_type_int) && json_object_get_int64(delay) > 0 &&
		    json_object_get_int64(delay) < 3600)
			s.reconnect_delay = (unsigned)json_object_get_int64(delay);
		add_server(sv, &s);
	}
	json_object_object_foreach(o, key, child) {
		(void)key;
		servers_from_json(child, sv, depth + 1);
	}
}

/* QEMU's dotted options: "file.driver=nbd,file.server.type=unix,
 * file.server.path=/x" (",," is a literal comma), or the legacy
 * "file=nbd:unix:/x" / "nbd+unix:///?socket=/x" / "nbd:HOST:PORT". */
static void servers_from_opts(const char *arg, struct servers *sv)
{
	struct mg_nbd_server s = { 0 };
	char key[128], val[512];
	const char *p = arg;
	bool nbd = false;

	while (*p) {
		size_t k = 0, v = 0;

		while (*p && *p != '=' && *p != ',' && k + 1 < sizeof(key))
			key[k++] = *p++;
		key[k] = '\0';
		if (*p == '=')
			p++;
		while (*p && v + 1 < sizeof(val)) {
			if (*p == ',' && p[1] == ',') {
				val[v++] = ',';
				p += 2;
				continue;
			}
			if (*p == ',')
				break;
			val[v++] = *p++;
		}
		val[v] = '\0';
		if (*p == ',')
			p++;
		size_t kl = strlen(key);
#define ENDS(suffix) (kl >= strlen(suffix) && strcmp(key + kl - strlen(suffix), suffix) == 0)
		if ((ENDS("driver") && strcmp(val, "nbd") == 0))
			nbd = true;
		if (ENDS("server.path")) {
			s.is_unix = true;
			snprintf(s.path, sizeof(s.path), "%s", val);
		} else if (ENDS("server.host")) {
			snprintf(s.host, sizeof(s.host), "%s", val);
		} else if (ENDS("server.port")) {
			snprintf(s.port, sizeof(s.port), "%s", val);
		} else if (ENDS("reconnect-delay")) {
			long long d;

			if (mg_parse_int(val, 0, 3600, &d) == 0)
				s.reconnect_delay = (unsigned)d;
		} else if (strncmp(val, "nbd:unix:", 9) == 0) {
			nbd = s.is_unix = true;
			snprintf(s.path, sizeof(s.path), "%.*s", (int)strcspn(val + 9, ":"), val + 9);
		} else if (strncmp(val, "nbd+unix://", 11) == 0 && strstr(val, "socket=")) {
			const char *sock = strstr(val, "socket=") + 7;

			nbd = s.is_unix = true;
			snprintf(s.path, sizeof(s.path), "%.*s", (int)strcspn(sock, "&"), sock);
		} else if (strncmp(val, "nbd:", 4) == 0) {
			const char *h = val + 4, *colon = strchr(h, ':');

			nbd = true;
			snprintf(s.host, sizeof(s.host), "%.*s", (int)(colon ? colon - h : (ptrdiff_t)strlen(h)), h);
			if (colon)
				snprintf(s.port, sizeof(s.port), "%.*s", (int)strcspn(colon + 1, ":/"), colon + 1);
		}
#undef ENDS
	}
	if (nbd)
		add_server(sv, &s);
}

static void servers_from_cmdline(int proc_dirfd, struct servers *sv)
{
	_cleanup_free_ char *buf = malloc(MG_UNSTICK_CMDLINE_MAX);
	_cleanup_close_ int fd = openat(proc_dirfd, "cmdline", O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	if (!buf || fd < 0)
		return;
	while (len < MG_UNSTICK_CMDLINE_MAX - 1 && (n = read(fd, buf + len, MG_UNSTICK_CMDLINE_MAX - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	for (size_t i = 0; i < len; i += strlen(buf + i) + 1) {
		const char *arg = buf + i;

		if (!strstr(arg, "nbd"))
			continue;
		if (arg[0] == '{') {
			json_object *o = json_tokener_parse(arg);

			servers_from_json(o, sv, 0);
			json_object_put(o);
		} else {
			servers_from_opts(arg, sv);
		}
	}
}

/* --- the checks ------------------------------------------------------------ */

struct run {
	const struct mg_unstick_params *p;
	struct mg_unstick_result *res;
	int dirfd;			/* /proc/PID, pinned */
	struct servers sv;
};

static int check(struct run *x, const char *name, int result, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int check(struct run *x, const char *name, int result, const char *fmt, ...)
{
	struct mg_unstick_check *c = &x->res->checks[x->res->n_checks++];
	va_list ap;

	c->name = name;
	c->result = result;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	return result;
}

static int pidfd_alive(int pidfd)
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 ? -errno : 0;
}

static int stat_start_time(int dirfd, uint64_t *start)
{
	char buf[1024];
	_cleanup_close_ int fd = openat(dirfd, "stat", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	const char *p;
	unsigned long long v;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* Fields after the comm: state is 3, starttime 22. */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			 &v) != 1)
		return -EIO;
	*start = v;
	return 0;
}

static int check_pinned(struct run *x)
{
	const struct mg_procid *id = x->p->id;
	char path[64], exe[256];
	uint64_t start = 0;
	int r;

	if (id->pidfd < 0)
		return check(x, "pinned", -ENOSYS, "no pidfd for pid %d (pidfd_open needs Linux 5.3, "
			     "pidfd_getfd 5.6): the socket cannot be taken safely", (int)id->pid);
	snprintf(path, sizeof(path), "/proc/%d", (int)id->pid);
	x->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x->dirfd < 0)
		return check(x, "pinned", -errno, "cannot open %s: %s", path, strerror(errno));
	/* The directory opened above belongs to the pidfd's process only if
	 * that process still lived after the open: a pid is reused only once
	 * its process is gone. */
	r = pidfd_alive(id->pidfd);
	if (r < 0)
		return check(x, "pinned", r, "QEMU pid %d has exited", (int)id->pid);
	r = stat_start_time(x->dirfd, &start);
	if (r < 0)
		return check(x, "pinned", r, "cannot read the start time of pid %d", (int)id->pid);
	if (start != id->start_time)
		return check(x, "pinned", -ESTALE, "pid %d started at tick %" PRIu64 ", the guarded QEMU at %"
			     PRIu64 ": another process", (int)id->pid, start, id->start_time);
	mg_procid_exe(id->pid, x->dirfd, exe, sizeof(exe));
	if (!id->exe[0] || strcmp(exe, id->exe) != 0)
		return check(x, "pinned", -ESTALE, "pid %d runs '%s', the guarded QEMU ran '%s'", (int)id->pid,
			     exe, id->exe);
	return check(x, "pinned", 0, "pid %d through its pidfd: start time %" PRIu64 ", exe %s", (int)id->pid,
		     start, exe);
}

static int check_hang(struct run *x)
{
	const struct mg_unstick_hang *h = &x->p->hang;
	struct mg_bql_result now;
	uint64_t t = mg_now_mono();
	int r;

	if (h->phase != MG_PHASE_HUNG)
		return check(x, "hang", -EINVAL, "the migration is %s, not a hung pre-copy",
			     mg_phase_to_string(h->phase));
	if (!h->bql_valid || !h->bql_held || strcmp(h->bql_owner_comm, MG_PROBE_MIGRATION_COMM) != 0)
		return check(x, "hang", -EINVAL, "the BQL was not seen held by %s (%s)", MG_PROBE_MIGRATION_COMM,
			     h->bql_valid && h->bql_held ? h->bql_owner_comm : "not held");
	/* The hang's start is when the first unanswered request went out; a
	 * lock taken between two rounds is first seen one round later: two
	 * rounds of slack (and the loop's own lateness) before calling the
	 * holder a newcomer. */
	if (h->bql_since > h->hang_since + 2 * h->probe_interval + MG_UNSTICK_JITTER)
		return check(x, "hang", -EINVAL, "the BQL holder was first seen %.1f s into the hang: it "
			     "changed hands (contention, not one hang)",
			     (double)(h->bql_since - h->hang_since) / 1e6);
	if (!h->unresponsive_since)
		return check(x, "hang", -EINVAL, "QEMU's monitor answers: contention, not a hang");
	r = mg_probe_bql(x->p->id->pid, NULL, &now);
	if (r < 0)
		return check(x, "hang", r, "cannot probe the BQL now");
	if (!now.held || now.owner_tid != h->bql_owner || now.futex_addr != h->bql_futex)
		return check(x, "hang", -EINVAL, "the BQL is %s now, no longer held by %s (%d)",
			     now.held ? "held by another thread" : "free", MG_PROBE_MIGRATION_COMM,
			     (int)h->bql_owner);
	return check(x, "hang", 0, "BQL held by %s (%d) for the whole hang (%.1f s), the monitor silent for "
		     "%.1f s, pre-copy", MG_PROBE_MIGRATION_COMM, (int)h->bql_owner,
		     (double)(t - h->hang_since) / 1e6, (double)(t - h->unresponsive_since) / 1e6);
}

/* The candidates whose fd still names the socket the snapshot saw. */
static int check_wait(struct run *x, bool *alive)
{
	const struct mg_unstick_plan *pl = x->p->plan;
	char list[256] = "";
	size_t n = 0, len = 0;

	if (pl->kind == MG_UNSTICK_NONE)
		return check(x, "wait", -ENOENT, "%s", pl->why);
	for (size_t i = 0; i < pl->n; i++) {
		char path[32], target[64], want[64];
		ssize_t k;

		snprintf(path, sizeof(path), "fd/%d", pl->c[i].fd);
		snprintf(want, sizeof(want), "socket:[%" PRIu64 "]", pl->c[i].inode);
		k = readlinkat(x->dirfd, path, target, sizeof(target) - 1);
		target[k > 0 ? k : 0] = '\0';
		alive[i] = strcmp(target, want) == 0;
		if (!alive[i])
			continue;
		n++;
		len += (size_t)snprintf(list + len, len < sizeof(list) ? sizeof(list) - len : 0, "%sfd %d in %s",
					len ? ", " : "", pl->c[i].fd, pl->c[i].thread);
		if (len >= sizeof(list))
			len = sizeof(list) - 1;
	}
	if (n == 0)
		return check(x, "wait", -ESTALE, "%s, but the fds the snapshot saw no longer name those sockets",
			     mg_unstick_kind_to_string(pl->kind));
	return check(x, "wait", 0, "%s (BQL holder %s %d): %s", mg_unstick_kind_to_string(pl->kind),
		     pl->owner_name, (int)pl->bql_owner, list);
}

/* A socket we took out of QEMU and what we learnt about it. */
struct taken {
	int fd;				/* our duplicate, -1 when not taken */
	const struct mg_unstick_candidate *c;
	int family;
	char peer[160];			/* "unix:/path" or "1.2.3.4:5" */
	const struct mg_nbd_server *server;	/* the drive's server it connects to */
	uint64_t peer_inode;		/* on this host, 0 when not */
	pid_t peer_pid;
	char peer_comm[64];
	char why[256];			/* why it failed check 4 or 5 */
};

static const char *const libvirt_daemons[] = {
	"libvirtd", "virtqemud", "virtlogd", "virtlockd", "virtproxyd", "virtnetworkd", "virtstoraged", NULL,
};

static bool is_libvirt_daemon(const char *comm)
{
	for (const char *const *d = libvirt_daemons; *d; d++)
		if (strcmp(comm, *d) == 0)
			return true;
	return false;
}

static void addr_text(const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *u = (const struct sockaddr_un *)ss;
		size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;

		if (n == 0)
			snprintf(buf, size, "unix:(unnamed)");
		else if (u->sun_path[0] == '\0')
			snprintf(buf, size, "unix:@%.*s", (int)(n - 1), u->sun_path + 1);
		else
			snprintf(buf, size, "unix:%.*s", (int)strnlen(u->sun_path, n), u->sun_path);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		snprintf(buf, size, "family %d", ss->ss_family);
	}
}

/* The drive server the peer address is, or NULL.  Servers given by name
 * are not resolved: no DNS lookup on the loop, during a storage outage. */
static const struct mg_nbd_server *match_server(const struct servers *sv, const struct sockaddr_storage *peer,
						socklen_t len)
{
	for (size_t i = 0; i < sv->n; i++) {
		const struct mg_nbd_server *s = &sv->s[i];
		unsigned long port;
		char *end;

		if (s->is_unix && peer->ss_family == AF_UNIX) {
			const struct sockaddr_un *u = (const struct sockaddr_un *)peer;
			size_t n = len - offsetof(struct sockaddr_un, sun_path);

			if (n > 0 && strnlen(u->sun_path, n) == strlen(s->path) &&
			    strncmp(u->sun_path, s->path, n) == 0)
				return s;
			continue;
		}
		if (s->is_unix)
			continue;
		port = strtoul(s->port[0] ? s->port : MG_NBD_DEFAULT_PORT, &end, 10);
		if (*end)
			continue;
		if (peer->ss_family == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)peer;
			struct in_addr want;
			const char *h = strcmp(s->host, "localhost") == 0 ? "127.0.0.1" : s->host;

			if (inet_pton(AF_INET, h, &want) == 1 && want.s_addr == a->sin_addr.s_addr &&
			    ntohs(a->sin_port) == port)
				return s;
		} else if (peer->ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)peer;
			struct in6_addr want;
			char h[256];

			snprintf(h, sizeof(h), "%s", s->host[0] == '[' ? s->host + 1 : s->host);
			h[strcspn(h, "]")] = '\0';
			if (inet_pton(AF_INET6, h, &want) == 1 && memcmp(&want, &a->sin6_addr, sizeof(want)) == 0 &&
			    ntohs(a->sin6_port) == port)
				return s;
		}
	}
	return NULL;
}

/* Whether QEMU listens on the local port of this accepted TCP socket: a
 * connection accepted by QEMU (VNC, a chardev or NBD server) is a client's,
 * never storage QEMU depends on. */
static bool accepted_by_qemu(struct run *x, const struct sockaddr_storage *local)
{
	_cleanup_free_ struct mg_tcp_sock *lines = NULL;
	size_t n = mg_sockfacts_tcp(x->p->id->pid, x->dirfd, &lines);
	unsigned port = local->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)local)->sin_port)
						    : ntohs(((const struct sockaddr_in6 *)local)->sin6_port);
	_cleanup_close_ int fds = openat(x->dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *e;
	bool found = false;

	if (fds < 0 || !(d = fdopendir(dup(fds))))
		return false;
	while (!found && (e = readdir(d))) {
		char target[64];
		unsigned long long ino;
		ssize_t k = readlinkat(fds, e->d_name, target, sizeof(target) - 1);

		if (k <= 0)
			continue;
		target[k] = '\0';
		if (sscanf(target, "socket:[%llu]", &ino) != 1)
			continue;
		for (size_t i = 0; i < n; i++)
			if (lines[i].inode == ino && lines[i].state == MG_TCP_LISTEN &&
			    mg_sockfacts_tcp_port(lines[i].local) == port)
				found = true;
	}
	closedir(d);
	return found;
}

/* The process holding a socket inode: the snapshot's peer when it still
 * holds it, else one scan of /proc. */
static pid_t holder_of(uint64_t inode, pid_t self)
{
	char want[64];
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	pid_t found = 0;

	snprintf(want, sizeof(want), "socket:[%" PRIu64 "]", inode);
	while (proc && !found && (pe = readdir(proc))) {
		long long pid;
		char path[300], target[64];
		DIR *fds;
		struct dirent *fe;

		if (mg_parse_int(pe->d_name, 1, INT32_MAX, &pid) < 0 || pid == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%lld/fd", pid);
		if (!(fds = opendir(path)))
			continue;
		while ((fe = readdir(fds))) {
			ssize_t k;

			snprintf(path, sizeof(path), "/proc/%lld/fd/%.32s", pid, fe->d_name);
			k = readlink(path, target, sizeof(target) - 1);
			if (k <= 0)
				continue;
			target[k] = '\0';
			if (strcmp(target, want) == 0) {
				found = (pid_t)pid;
				break;
			}
		}
		closedir(fds);
	}
	if (proc)
		closedir(proc);
	return found;
}

static bool check_socket_one(struct run *x, struct taken *t)
{
	const struct mg_unstick_plan *pl = x->p->plan;
	struct sockaddr_storage peer = { 0 }, local = { 0 };
	socklen_t plen = sizeof(peer), llen = sizeof(local), olen;
	struct stat st;
	int type = 0, listening = 0;
	uint64_t peer_ino;

	t->fd = (int)syscall(SYS_pidfd_getfd, x->p->id->pidfd, t->c->fd, 0);
	if (t->fd < 0) {
		snprintf(t->why, sizeof(t->why), "fd %d: pidfd_getfd: %s", t->c->fd, strerror(errno));
		return false;
	}
	if (fstat(t->fd, &st) < 0 || !S_ISSOCK(st.st_mode) || (uint64_t)st.st_ino != t->c->inode) {
		snprintf(t->why, sizeof(t->why), "fd %d is no longer socket:[%" PRIu64 "]", t->c->fd, t->c->inode);
		return false;
	}
	olen = sizeof(type);
	getsockopt(t->fd, SOL_SOCKET, SO_TYPE, &type, &olen);
	olen = sizeof(listening);
	getsockopt(t->fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen);
	if (type != SOCK_STREAM || listening) {
		snprintf(t->why, sizeof(t->why), "fd %d is %s", t->c->fd,
			 listening ? "a listening socket" : "not a stream socket");
		return false;
	}
	if (getpeername(t->fd, (struct sockaddr *)&peer, &plen) < 0 ||
	    getsockname(t->fd, (struct sockaddr *)&local, &llen) < 0) {
		snprintf(t->why, sizeof(t->why), "fd %d is not connected (%s)", t->c->fd, strerror(errno));
		return false;
	}
	t->family = peer.ss_family;
	addr_text(&peer, plen, t->peer, sizeof(t->peer));
	if (peer.ss_family == AF_UNIX) {
		/* QEMU's end has a name only when QEMU accepted the connection
		 * on a socket of its own: a monitor (libvirt's included), a
		 * chardev, a display or a vhost-user server. */
		if (llen > offsetof(struct sockaddr_un, sun_path)) {
			char name[160];

			addr_text(&local, llen, name, sizeof(name));
			snprintf(t->why, sizeof(t->why), "fd %d: QEMU's end is bound to %.100s: a connection QEMU "
				 "accepted (a monitor, chardev, display or vhost-user socket)", t->c->fd, name);
			return false;
		}
	} else if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) {
		if (accepted_by_qemu(x, &local)) {
			snprintf(t->why, sizeof(t->why), "fd %d (peer %s) was accepted on a port QEMU listens on",
				 t->c->fd, t->peer);
			return false;
		}
	} else {
		snprintf(t->why, sizeof(t->why), "fd %d: address family %d", t->c->fd, peer.ss_family);
		return false;
	}
	peer_queue(x->p->id->pid, x->dirfd, t->c->inode, &peer_ino);
	t->peer_inode = peer_ino;
	if (peer_ino && (t->peer_pid = holder_of(peer_ino, x->p->id->pid)) > 0 &&
	    mg_procfs_comm(t->peer_pid, 0, t->peer_comm, sizeof(t->peer_comm)) == 0 &&
	    is_libvirt_daemon(t->peer_comm)) {
		snprintf(t->why, sizeof(t->why), "fd %d: the peer is %s (pid %d): never shut a libvirt daemon's "
			 "connection (libvirt takes it as a crash)", t->c->fd, t->peer_comm, (int)t->peer_pid);
		return false;
	}
	t->server = match_server(&x->sv, &peer, plen);
	if (pl->kind == MG_UNSTICK_DRAIN && !t->server) {
		snprintf(t->why, sizeof(t->why), "fd %d: the peer %s is no drive's storage server (%zu known)",
			 t->c->fd, t->peer, x->sv.n);
		return false;
	}
	if (pl->kind == MG_UNSTICK_SWITCHOVER && t->server) {
		snprintf(t->why, sizeof(t->why), "fd %d: the peer %s is a drive's storage server, not the "
			 "migration destination", t->c->fd, t->peer);
		return false;
	}
	return true;
}

static int check_socket(struct run *x, const bool *alive, struct taken *taken, size_t *n_ok)
{
	const struct mg_unstick_plan *pl = x->p->plan;
	char why[384] = "", ok[384] = "";
	size_t wl = 0, ol = 0;

	*n_ok = 0;
	/* Both kinds need them: a drain's peer must be one, the switch-over
	 * write's must not. */
	if (x->p->xml)
		for (size_t i = 0; i < x->p->xml->n_nbd; i++)
			add_server(&x->sv, &x->p->xml->nbd[i]);
	servers_from_cmdline(x->dirfd, &x->sv);
	for (size_t i = 0; i < pl->n; i++) {
		struct taken *t = &taken[i];

		t->fd = -1;
		t->c = &pl->c[i];
		if (!alive[i])
			continue;
		if (!check_socket_one(x, t)) {
			wl += (size_t)snprintf(why + wl, wl < sizeof(why) ? sizeof(why) - wl : 0, "%s%s",
					       wl ? "; " : "", t->why);
			if (wl >= sizeof(why))
				wl = sizeof(why) - 1;
			if (t->fd >= 0)
				close(t->fd);
			t->fd = -1;
			continue;
		}
		(*n_ok)++;
		ol += (size_t)snprintf(ok + ol, ol < sizeof(ok) ? sizeof(ok) - ol : 0, "%sfd %d socket:[%" PRIu64
				       "] %s stream to %s%s%s%s", ol ? "; " : "", t->c->fd, t->c->inode,
				       t->family == AF_UNIX ? "unix" : "tcp", t->peer,
				       t->server ? " (a drive's NBD server)" : " (the migration destination)",
				       t->peer_pid ? ", held by " : "", t->peer_pid ? t->peer_comm : "");
		if (ol >= sizeof(ok))
			ol = sizeof(ok) - 1;
	}
	if (*n_ok == 0)
		return check(x, "socket", -EPERM, "no socket qualifies: %s", why[0] ? why : "none left");
	return check(x, "socket", 0, "%s%s%s", ok, why[0] ? "; rejected: " : "", why);
}

static const char *state_name(char s)
{
	switch (s) {
	case 'T': return "stopped";
	case 't': return "tracing stop";
	case 'D': return "disk sleep";
	case 'Z': return "zombie";
	case 'X': return "dead";
	case 'S': return "sleeping";
	case 'R': return "running";
	default: return "unknown";
	}
}

/* 1 stalled, 0 not, -EAGAIN sample again later; t->why says. */
static int peer_stalled(struct run *x, struct taken *t)
{
	const struct mg_unstick_candidate *c = t->c;
	uint64_t now = mg_now_mono(), peer_ino;
	int64_t q;

	if (t->peer_pid > 0) {
		char s = mg_procfs_state(t->peer_pid, 0);

		if (s == 'T' || s == 't' || s == 'D' || s == 'Z' || s == 'X') {
			snprintf(t->why, sizeof(t->why), "%s (pid %d) is %c (%s)", t->peer_comm, (int)t->peer_pid, s,
				 state_name(s));
			return 1;
		}
		if (s == '\0' || s == '?') {
			snprintf(t->why, sizeof(t->why), "%s (pid %d) is gone", t->peer_comm, (int)t->peer_pid);
			return 1;
		}
	}
	if (t->family != AF_UNIX && !t->peer_inode) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		/* A peer on another host: only its kernel's ACKs can be seen. */
		if (getsockopt(t->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
			if (ti.tcpi_unacked > 0 && (uint64_t)ti.tcpi_last_ack_recv * 1000 >= x->p->queue_window) {
				snprintf(t->why, sizeof(t->why), "the remote peer %s has left %u segment(s) "
					 "unacknowledged, no ACK for %u ms", t->peer, ti.tcpi_unacked,
					 ti.tcpi_last_ack_recv);
				return 1;
			}
			snprintf(t->why, sizeof(t->why), "the remote peer %s acknowledges our data (%u unacked, "
				 "last ACK %u ms ago): its host answers; a stuck server cannot be told from a slow one",
				 t->peer, ti.tcpi_unacked, ti.tcpi_last_ack_recv);
			return 0;
		}
	}
	q = peer_queue(x->p->id->pid, x->dirfd, c->inode, &peer_ino);
	if (q > 0 && q == c->queue && now >= c->queue_at + x->p->queue_window) {
		snprintf(t->why, sizeof(t->why), "the receive queue of %s holds %" PRId64 " bytes, unchanged "
			 "for %.1f s", t->peer_pid ? t->peer_comm : "the peer", q, (double)(now - c->queue_at) / 1e6);
		return 1;
	}
	if (q > 0 && q == c->queue) {
		x->res->retry_at = c->queue_at + x->p->queue_window;
		return -EAGAIN;
	}
	snprintf(t->why, sizeof(t->why), "%s (pid %d) is %c (%s) and %s: it reads, so it is slow, not stalled",
		 t->peer_pid ? t->peer_comm : "the peer", (int)t->peer_pid,
		 t->peer_pid ? mg_procfs_state(t->peer_pid, 0) : '?',
		 t->peer_pid ? state_name(mg_procfs_state(t->peer_pid, 0)) : "unknown",
		 q < 0 ? "its queue cannot be read" : q == 0 ? "its receive queue is empty" : "its receive queue moved");
	return 0;
}

static int check_peer(struct run *x, struct taken *taken, struct taken **chosen)
{
	const struct mg_unstick_plan *pl = x->p->plan;
	char why[384] = "";
	size_t wl = 0, n = 0;
	bool again = false;

	*chosen = NULL;
	for (size_t i = 0; i < pl->n; i++) {
		struct taken *t = &taken[i];
		int r;

		if (t->fd < 0)
			continue;
		r = peer_stalled(x, t);
		if (r == -EAGAIN) {
			again = true;
			continue;
		}
		if (r == 1) {
			n++;
			*chosen = t;
			continue;
		}
		wl += (size_t)snprintf(why + wl, wl < sizeof(why) ? sizeof(why) - wl : 0, "%sfd %d: %s",
				       wl ? "; " : "", t->c->fd, t->why);
		if (wl >= sizeof(why))
			wl = sizeof(why) - 1;
	}
	if (again && n <= 1) {
		*chosen = NULL;
		return -EAGAIN;
	}
	if (n > 1) {
		*chosen = NULL;
		return check(x, "peer", -ENOTUNIQ, "%zu sockets have a stalled peer: shutting one would not end "
			     "the hang and which one is a guess", n);
	}
	if (n == 0)
		return check(x, "peer", -EBUSY, "no stalled peer: %s", why);
	return check(x, "peer", 0, "fd %d: %s", (*chosen)->c->fd, (*chosen)->why);
}

int mg_unstick_run(const struct mg_unstick_params *p, struct mg_unstick_result *res)
{
	struct run x = { .p = p, .res = res, .dirfd = -1 };
	struct taken taken[MG_UNSTICK_MAX_CANDIDATES];
	bool alive[MG_UNSTICK_MAX_CANDIDATES] = { false };
	struct taken *chosen = NULL;
	size_t n_ok = 0;
	int r;

	memset(res, 0, sizeof(*res));
	res->fd = -1;
	for (size_t i = 0; i < MG_ARRAY_SIZE(taken); i++)
		taken[i].fd = -1;
	r = check_pinned(&x);
	if (r == 0)
		r = check_hang(&x);
	if (r == 0)
		r = check_wait(&x, alive);
	if (r == 0)
		r = check_socket(&x, alive, taken, &n_ok);
	if (r == 0)
		r = check_peer(&x, taken, &chosen);
	if (r == 0) {
		/* Last: the process is still the pinned one.  The duplicate is
		 * QEMU's own socket whatever happened, but the record must name
		 * the process it was taken from. */
		r = pidfd_alive(p->id->pidfd);
		if (r == 0 && shutdown(chosen->fd, SHUT_RDWR) < 0)
			r = -errno;
		if (r == 0) {
			res->shut = true;
			res->fd = chosen->c->fd;
			res->inode = chosen->c->inode;
			res->reconnect_delay = chosen->server ? chosen->server->reconnect_delay : 0;
			snprintf(res->what, sizeof(res->what), "shut down fd %d (socket:[%" PRIu64 "], %s stream to "
				 "%s%s%s) of QEMU pid %d with shutdown(SHUT_RDWR) on a pidfd_getfd duplicate",
				 chosen->c->fd, chosen->c->inode, chosen->family == AF_UNIX ? "unix" : "tcp",
				 chosen->peer, chosen->peer_pid ? ", " : "", chosen->peer_pid ? chosen->peer_comm : "",
				 (int)p->id->pid);
		} else {
			snprintf(res->what, sizeof(res->what), "shutdown of fd %d failed: %s", chosen->c->fd,
				 strerror(-r));
		}
	}
	for (size_t i = 0; i < MG_ARRAY_SIZE(taken); i++)
		if (taken[i].fd >= 0)
			close(taken[i].fd);
	if (x.dirfd >= 0)
		close(x.dirfd);
	return r;
}
