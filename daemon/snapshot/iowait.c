/* iowait.c - see iowait.h.
 *
 * Sources: the pollfd array of poll/ppoll is read from the target's memory
 * (its address and length are the syscall's first two arguments); an
 * epoll fd's targets are the "tfd:" lines of /proc/PID/fdinfo/EPFD; other
 * syscalls wait on their first argument.  Socket peers come from
 * sockfacts.h: a unix socket's from sock_diag, a TCP socket's from the
 * target's net/tcp{,6} (a local peer is the socket with the addresses
 * swapped).  The process holding a peer inode is found with one
 * scan of /proc/[pid]/fd.
 *
 * Ranking: a hung QEMU has many threads in I/O wait that have nothing to
 * do with the hang (the monitor thread on its sockets to libvirtd and
 * migguardd, idle IOThreads); the reader wants the chain the BQL holder is
 * stuck on first.  See mg_iowait_hang_path() for what is on the path. */
#include "snapshot/iowait.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "procfs.h"
#include "sockfacts.h"
#include "snapshot/model.h"
#include "snapshot/symname.h"
#include "util.h"

#define MG_MAX_POLLFDS 256

struct io_ctx {
	struct mg_snapshot *snap;
	struct mg_unix_sock *unix_socks;	/* one sock_diag dump, on first need */
	size_t n_unix;
	bool unix_loaded;
	struct mg_tcp_sock *tcp_socks;		/* the target's net/tcp{,6}, on first need */
	size_t n_tcp;
	bool tcp_loaded;
};

static uint64_t unix_peer_of(struct io_ctx *c, uint64_t ino)
{
	const struct mg_unix_sock *u;

	if (!c->unix_loaded) {
		c->unix_loaded = true;
		mg_sockfacts_unix(&c->unix_socks, &c->n_unix);
	}
	u = mg_sockfacts_unix_find(c->unix_socks, c->n_unix, ino);
	return u ? u->peer : 0;
}

/* For a TCP socket inode: "local -> remote" and the inode of the local
 * socket with the addresses swapped (0 when the peer is not on this host). */
static uint64_t tcp_peer_of(struct io_ctx *c, uint64_t ino, char *desc, size_t size)
{
	const struct mg_tcp_sock *me, *peer;

	if (!c->tcp_loaded) {
		c->tcp_loaded = true;
		c->n_tcp = mg_sockfacts_tcp(c->snap->pid, -1, &c->tcp_socks);
	}
	me = mg_sockfacts_tcp_find(c->tcp_socks, c->n_tcp, ino);
	if (!me)
		return 0;
	peer = mg_sockfacts_tcp_peer(c->tcp_socks, c->n_tcp, me);
	snprintf(desc, size, "tcp %s -> %s (hex addr:port)%s", me->local, me->remote,
		 peer ? "" : ", peer not on this host");
	return peer ? peer->inode : 0;
}

static int add_wait(struct io_ctx *c, pid_t tid, int fd)
{
	struct mg_snapshot *snap = c->snap;
	struct mg_io_wait *nw, *w;
	char path[64], target[256];
	ssize_t n;

	for (size_t i = 0; i < snap->n_io_waits; i++)
		if (snap->io_waits[i].tid == tid && snap->io_waits[i].fd == fd)
			return 0;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", snap->pid, fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	nw = realloc(snap->io_waits, (snap->n_io_waits + 1) * sizeof(*nw));
	if (!nw)
		return -ENOMEM;
	snap->io_waits = nw;
	w = &nw[snap->n_io_waits++];
	memset(w, 0, sizeof(*w));
	w->tid = tid;
	w->fd = fd;
	w->target = strdup(target);
	return 0;
}

static int collect_epoll(struct io_ctx *c, pid_t tid, int epfd)
{
	char path[64], line[256];
	_cleanup_fclose_ FILE *f = NULL;
	int r = add_wait(c, tid, epfd);

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", c->snap->pid, epfd);
	f = fopen(path, "re");
	while (r == 0 && f && fgets(line, sizeof(line), f)) {
		int tfd;

		if (sscanf(line, "tfd: %d", &tfd) == 1)
			r = add_wait(c, tid, tfd);
	}
	return r;
}

static int collect_thread(struct io_ctx *c, const struct mg_snap_thread *t)
{
	struct pollfd pfds[MG_MAX_POLLFDS];
	size_t n;
	int r = 0;

	switch (t->syscall_nr) {
	case SYS_poll:
	case SYS_ppoll:
		n = t->args[1] < MG_MAX_POLLFDS ? t->args[1] : MG_MAX_POLLFDS;
		if (n == 0 || mg_procfs_read_mem(c->snap->pid, t->args[0], pfds, n * sizeof(*pfds)) < 0)
			return 0;
		for (size_t i = 0; i < n && r == 0; i++)
			if (pfds[i].fd >= 0)
				r = add_wait(c, t->tid, pfds[i].fd);
		return r;
	case SYS_select:
	case SYS_pselect6:
		return 0;	/* fd_sets: rare in QEMU, not followed */
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
		return collect_epoll(c, t->tid, (int)t->args[0]);
	default:
		return add_wait(c, t->tid, (int)t->args[0]);
	}
}

/* What each socket or pipe is connected to: sets ->detail and, through
 * wanted[i], the inode whose holder is the peer. */
static void describe_peers(struct io_ctx *c, char (*wanted)[48])
{
	struct mg_snapshot *snap = c->snap;

	for (size_t i = 0; i < snap->n_io_waits; i++) {
		struct mg_io_wait *w = &snap->io_waits[i];
		unsigned long ino;
		uint64_t peer = 0;
		char desc[256] = "";

		wanted[i][0] = '\0';
		if (!w->target)
			continue;
		if (sscanf(w->target, "pipe:[%lu]", &ino) == 1) {
			snprintf(wanted[i], sizeof(wanted[i]), "%s", w->target);
			continue;
		}
		if (sscanf(w->target, "socket:[%lu]", &ino) != 1)
			continue;
		if ((peer = unix_peer_of(c, ino)))
			snprintf(desc, sizeof(desc), "unix, peer socket:[%" PRIu64 "]", peer);
		else
			peer = tcp_peer_of(c, ino, desc, sizeof(desc));
		if (desc[0])
			w->detail = strdup(desc);
		if (peer)
			snprintf(wanted[i], sizeof(wanted[i]), "socket:[%" PRIu64 "]", peer);
	}
}

/* One scan of every process's fds for the wanted link targets.  A peer in
 * another process wins over one in the target itself (a socketpair). */
static const char *state_name(char s)
{
	switch (s) {
	case 'R': return "running";
	case 'S': return "sleeping";
	case 'D': return "disk sleep";
	case 'T': return "stopped";
	case 't': return "tracing stop";
	case 'Z': return "zombie";
	case 'X': return "dead";
	case 'I': return "idle";
	default: return "unknown";
	}
}

/* The peer's name and "X (state name)", e.g. "T (stopped)"; left empty
 * when the peer is gone. */
static void describe(struct mg_io_wait *w)
{
	struct mg_procfs_stat st;
	size_t n;
	int r = mg_procfs_stat(w->peer_pid, 0, &st);

	if (r < 0 && r != -EINVAL)
		return;
	if (mg_procfs_comm(w->peer_pid, 0, w->peer_comm, sizeof(w->peer_comm)) < 0)
		snprintf(w->peer_comm, sizeof(w->peer_comm), "?");
	n = strlen(w->peer_comm);
	while (n && w->peer_comm[n - 1] == ' ')
		w->peer_comm[--n] = '\0';
	snprintf(w->peer_state, sizeof(w->peer_state), "%c (%s)", st.state, state_name(st.state));
}

static void find_holders(struct io_ctx *c, char (*wanted)[48])
{
	struct mg_snapshot *snap = c->snap;
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	bool any = false;

	for (size_t i = 0; i < snap->n_io_waits; i++)
		any |= wanted[i][0] != '\0';
	if (!any) {
		if (proc)
			closedir(proc);
		return;
	}
	while (proc && (pe = readdir(proc))) {
		long long pid;
		char path[300], target[64];
		DIR *fds;
		struct dirent *fe;

		if (mg_parse_int(pe->d_name, 1, INT32_MAX, &pid) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%lld/fd", pid);
		if (!(fds = opendir(path)))
			continue;
		while ((fe = readdir(fds))) {
			ssize_t n;

			if (fe->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%lld/fd/%.32s", pid, fe->d_name);
			n = readlink(path, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			for (size_t i = 0; i < snap->n_io_waits; i++) {
				struct mg_io_wait *w = &snap->io_waits[i];
				bool pipe_self = pid == snap->pid && strncmp(target, "pipe:", 5) == 0;

				if (!wanted[i][0] || strcmp(target, wanted[i]) != 0 || pipe_self)
					continue;
				if (w->peer_pid && w->peer_pid != snap->pid)
					continue;
				w->peer_pid = (pid_t)pid;
			}
		}
		closedir(fds);
	}
	if (proc)
		closedir(proc);
	for (size_t i = 0; i < snap->n_io_waits; i++) {
		struct mg_io_wait *w = &snap->io_waits[i];

		if (w->peer_pid)
			describe(w);
	}
}

/* --- the hang's path ------------------------------------------------------ */

/* Functions that wait for the requests of an AioContext to finish
 * (AIO_WAIT_WHILE polls inside them): a thread in one of them waits for
 * whichever IOThread runs those requests.  Matched without the clone
 * suffixes a build may add ("bdrv_do_drained_begin.part.0"). */
static const char *const drain_frames[] = {
	"aio_poll", "aio_wait_bh_oneshot", "bdrv_drain*", "bdrv_do_drained_begin*",
	"bdrv_drained_begin", "blk_drain*", "bdrv_try_change_aio_context",
	"bdrv_try_set_aio_context",
};

/* Anywhere in the stack: the poll sits under the drain, which sits as deep
 * as its caller (vm_stop from the migration thread) puts it. */
static bool in_drain(const struct mg_snap_thread *t)
{
	for (size_t i = 0; i < t->n_frames; i++)
		for (size_t k = 0; t->frames[i].symbol && k < MG_ARRAY_SIZE(drain_frames); k++)
			if (mg_symname_match(drain_frames[k], t->frames[i].symbol))
				return true;
	return false;
}

/* QEMU names an IOThread's thread "IO <id>"; its monitor thread is one
 * too, but it only serves the monitor sockets, never a drained disk. */
static bool is_iothread(const struct mg_snap_thread *t)
{
	return strncmp(t->name, "IO ", 3) == 0 && strcmp(t->name, "IO mon_iothread") != 0;
}

bool mg_iowait_hang_path(const struct mg_snapshot *snap, bool *on_path)
{
	const struct mg_lockgraph *g = &snap->locks;
	ssize_t owner = g->bql_owner > 0 ? mg_snap_thread_index(snap, g->bql_owner) : -1;
	bool drain = false;

	if (snap->n_threads)
		memset(on_path, 0, snap->n_threads * sizeof(*on_path));
	if (owner < 0)
		return false;
	on_path[owner] = true;
	/* Each round only adds threads, so this ends within n_threads rounds. */
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < g->n_edges; i++) {
			ssize_t w = mg_snap_thread_index(snap, g->edges[i].waiter);
			ssize_t o = mg_snap_thread_index(snap, g->edges[i].owner);

			if (w >= 0 && o >= 0 && on_path[w] && !on_path[o])
				on_path[o] = grew = true;
		}
		for (size_t i = 0; i < snap->n_threads && !drain; i++)
			drain = on_path[i] && in_drain(&snap->threads[i]);
		for (size_t i = 0; i < snap->n_threads && drain; i++)
			if (!on_path[i] && is_iothread(&snap->threads[i]))
				on_path[i] = grew = true;
	}
	return true;
}

int mg_iowait_rank(struct mg_snapshot *snap)
{
	_cleanup_free_ bool *on_path = calloc(snap->n_threads ? snap->n_threads : 1, sizeof(*on_path));
	bool ranked;
	size_t k = 0;

	if (!on_path)
		return -ENOMEM;
	ranked = mg_iowait_hang_path(snap, on_path);
	for (size_t i = 0; i < snap->n_io_waits; i++) {
		struct mg_io_wait *w = &snap->io_waits[i];
		ssize_t t = mg_snap_thread_index(snap, w->tid);

		w->role = !ranked ? MG_IO_UNRANKED : t >= 0 && on_path[t] ? MG_IO_HANG : MG_IO_IDLE;
	}
	/* Stable: each hang wait moves up past the idle ones before it. */
	for (size_t i = 0; i < snap->n_io_waits; i++) {
		struct mg_io_wait w = snap->io_waits[i];

		if (w.role != MG_IO_HANG)
			continue;
		memmove(&snap->io_waits[k + 1], &snap->io_waits[k], (i - k) * sizeof(w));
		snap->io_waits[k++] = w;
	}
	return 0;
}

int mg_iowait_collect(struct mg_snapshot *snap)
{
	struct io_ctx c = { .snap = snap };
	_cleanup_free_ char(*wanted)[48] = NULL;
	int r = 0;

	for (size_t i = 0; i < snap->n_threads && r == 0; i++)
		if (snap->threads[i].wait == MG_WAIT_IO && !snap->threads[i].gone)
			r = collect_thread(&c, &snap->threads[i]);
	if (r == 0 && snap->n_io_waits) {
		wanted = calloc(snap->n_io_waits, sizeof(*wanted));
		if (!wanted)
			r = -ENOMEM;
	}
	if (wanted) {
		describe_peers(&c, wanted);
		find_holders(&c, wanted);
	}
	free(c.unix_socks);
	free(c.tcp_socks);
	return r < 0 ? r : mg_iowait_rank(snap);
}
