/* lockgraph.c - see lockgraph.h.
 *
 * Telling a mutex wait from a condition-variable wait (glibc >= 2.25,
 * x86_64 and other LP64 layouts):
 *  - pthread_mutex_lock on a contended normal mutex ends in
 *    __lll_lock_wait: futex(&m->__lock, FUTEX_WAIT, 2).  The word is the
 *    mutex's first int, and m->__owner (int, 8 bytes further) is the TID
 *    of the holder.  pthread_mutex_timedlock does the same with
 *    FUTEX_WAIT_BITSET.  A PI mutex waits with FUTEX_LOCK_PI and keeps the
 *    owner TID in the word itself.
 *  - pthread_cond_wait waits on cond->__g_signals[g] with FUTEX_WAIT_BITSET
 *    and an expected value that is a signal count, not 2; the int 8 bytes
 *    after it is not a TID.  The condvar does not record its mutex.
 * So, when frames have symbols, they decide (__lll_lock_wait or
 * pthread_mutex_*lock in the innermost frames: mutex; pthread_cond_*wait:
 * condvar).  Without symbols a futex wait is a mutex wait when the
 * expected value is 2 and the int at word+8 is the TID of a live thread of
 * this process (that TID is then the owner); otherwise FUTEX_WAIT_BITSET
 * is reported as a condvar wait and FUTEX_WAIT as another futex (QemuEvent,
 * semaphores, glibc internal locks). */
#include "snapshot/lockgraph.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "snapshot/model.h"
#include "util.h"

/* Physical frames (mg_snap_thread_has_frame): the lock call sits in the
 * innermost few, inlined glibc helpers (futex_wait, lll_mutex_lock_optimized)
 * come on top of them with debuginfo. */
#define MG_SYMBOL_DEPTH 4

static bool is_io_syscall(long nr)
{
	switch (nr) {
	case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6:
	case SYS_epoll_wait: case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
	case SYS_read: case SYS_write: case SYS_readv: case SYS_writev:
	case SYS_pread64: case SYS_pwrite64: case SYS_preadv: case SYS_pwritev:
	case SYS_recvmsg: case SYS_sendmsg: case SYS_recvfrom: case SYS_sendto:
	case SYS_connect: case SYS_accept: case SYS_accept4:
		return true;
	default:
		return false;
	}
}

static enum mg_wait_kind kind_from_symbols(const struct mg_snap_thread *t)
{
	if (mg_snap_thread_has_frame(t, "*pthread_cond_*wait*", MG_SYMBOL_DEPTH))
		return MG_WAIT_CONDVAR;
	if (mg_snap_thread_has_frame(t, "__lll_lock_wait*", MG_SYMBOL_DEPTH) ||
	    mg_snap_thread_has_frame(t, "*pthread_mutex_*lock*", MG_SYMBOL_DEPTH))
		return MG_WAIT_MUTEX;
	return MG_WAIT_NONE;
}

static void classify_futex(const struct mg_snapshot *snap, struct mg_snap_thread *t)
{
	bool owner_live = t->word_valid && t->futex_owner_field > 0 &&
			  t->futex_owner_field != t->tid &&
			  mg_snap_thread_index(snap, t->futex_owner_field) >= 0;
	enum mg_wait_kind by_sym = kind_from_symbols(t);

	if (t->futex_op == FUTEX_LOCK_PI) {
		t->wait = MG_WAIT_MUTEX_PI;
		t->owner = t->word_valid ? (pid_t)(t->futex_word & FUTEX_TID_MASK) : 0;
		return;
	}
	if (by_sym == MG_WAIT_CONDVAR) {
		t->wait = MG_WAIT_CONDVAR;
	} else if (by_sym == MG_WAIT_MUTEX || (t->futex_val == 2 && owner_live)) {
		t->wait = MG_WAIT_MUTEX;
		t->owner = owner_live ? t->futex_owner_field : 0;
	} else if (t->futex_op == FUTEX_WAIT_BITSET) {
		t->wait = MG_WAIT_CONDVAR;
	} else {
		t->wait = MG_WAIT_FUTEX;
	}
}

void mg_lockgraph_classify(struct mg_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_threads; i++) {
		struct mg_snap_thread *t = &snap->threads[i];

		t->wait = MG_WAIT_NONE;
		t->owner = 0;
		if (t->gone || t->kernel_worker)
			continue;
		if (t->futex_wait)
			classify_futex(snap, t);
		else if (t->in_syscall && is_io_syscall(t->syscall_nr))
			t->wait = MG_WAIT_IO;
		else if (t->in_syscall && (t->state == 'S' || t->state == 'D'))
			t->wait = MG_WAIT_OTHER;
	}
}

static bool is_mutex(enum mg_wait_kind k)
{
	return k == MG_WAIT_MUTEX || k == MG_WAIT_MUTEX_PI;
}

/* The BQL without its own symbol: the mutex a thread waits for through
 * QEMU's BQL lock function (exported by distribution builds:
 * qemu_mutex_lock_iothread_impl up to QEMU 8.1, bql_lock_impl since 8.2),
 * else the mutex the main thread waits for, else the one most CPU threads
 * ("CPU n/KVM", "CPU n/TCG") wait for. */
static uint64_t guess_bql(const struct mg_snapshot *snap, const char **source)
{
	uint64_t best = 0;
	size_t best_n = 0;
	const struct mg_snap_thread *main_thread = mg_snapshot_thread(snap, snap->pid);

	for (size_t i = 0; i < snap->n_threads; i++) {
		const struct mg_snap_thread *t = &snap->threads[i];

		if (is_mutex(t->wait) && (mg_snap_thread_has_frame(t, "qemu_mutex_lock_iothread*", 6) ||
					  mg_snap_thread_has_frame(t, "bql_lock*", 6))) {
			*source = "the mutex taken by qemu_mutex_lock_iothread/bql_lock";
			return t->futex_addr;
		}
	}
	if (main_thread && is_mutex(main_thread->wait)) {
		*source = "the mutex the main thread waits for";
		return main_thread->futex_addr;
	}
	for (size_t i = 0; i < snap->n_threads; i++) {
		const struct mg_snap_thread *t = &snap->threads[i];
		size_t n = 0;

		if (!is_mutex(t->wait) || strncmp(t->name, "CPU ", 4) != 0)
			continue;
		for (size_t k = 0; k < snap->n_threads; k++)
			if (is_mutex(snap->threads[k].wait) && strncmp(snap->threads[k].name, "CPU ", 4) == 0 &&
			    snap->threads[k].futex_addr == t->futex_addr)
				n++;
		if (n > best_n) {
			best_n = n;
			best = t->futex_addr;
		}
	}
	if (best)
		*source = "the mutex the CPU threads wait for";
	return best;
}

static int add_cycle(struct mg_lockgraph *g, const struct mg_snapshot *snap, size_t start,
		     const size_t *next)
{
	struct mg_lock_cycle *nc, *c;
	size_t n = 1, first = start;

	for (size_t i = next[start]; i != start; i = next[i])
		n++;
	/* Start the sentence at the BQL holder when it is in the cycle: that
	 * is the thread an operator looks for first. */
	for (size_t i = start, k = 0; k < n; i = next[i], k++)
		if (g->bql && snap->threads[i].tid == g->bql_owner)
			first = i;
	nc = realloc(g->cycles, (g->n_cycles + 1) * sizeof(*g->cycles));
	if (!nc)
		return -ENOMEM;
	g->cycles = nc;
	c = &g->cycles[g->n_cycles];
	c->n = n;
	c->tids = calloc(n, sizeof(*c->tids));
	c->addrs = calloc(n, sizeof(*c->addrs));
	if (!c->tids || !c->addrs) {
		free(c->tids);
		free(c->addrs);
		return -ENOMEM;
	}
	for (size_t i = first, k = 0; k < n; i = next[i], k++) {
		c->tids[k] = snap->threads[i].tid;
		c->addrs[k] = snap->threads[i].futex_addr;
	}
	g->n_cycles++;
	return 0;
}

/* Each waiter waits for one mutex, so every node has at most one outgoing
 * edge: walking from each unvisited node finds every cycle once. */
static int find_cycles(struct mg_lockgraph *g, const struct mg_snapshot *snap)
{
	size_t n = snap->n_threads, none = (size_t)-1;
	_cleanup_free_ size_t *next = calloc(n ? n : 1, sizeof(*next));
	_cleanup_free_ unsigned char *color = calloc(n ? n : 1, 1);
	int r;

	if (!next || !color)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct mg_snap_thread *t = &snap->threads[i];
		ssize_t k = is_mutex(t->wait) && t->owner > 0 ? mg_snap_thread_index(snap, t->owner) : -1;

		next[i] = k >= 0 ? (size_t)k : none;
	}
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		while (j != none && color[j] == 0) {
			color[j] = 1;
			j = next[j];
		}
		if (j != none && color[j] == 1 && (r = add_cycle(g, snap, j, next)) < 0)
			return r;
		for (j = i; j != none && color[j] == 1; j = next[j])
			color[j] = 2;
	}
	return 0;
}

int mg_lockgraph_build(struct mg_snapshot *snap, uint64_t bql_addr, pid_t bql_owner_hint)
{
	struct mg_lockgraph *g = &snap->locks;

	mg_snap_locks_clear(g);
	for (size_t i = 0; i < snap->n_threads; i++) {
		const struct mg_snap_thread *t = &snap->threads[i];
		struct mg_lock_edge *ne;

		if (!is_mutex(t->wait) || t->owner <= 0)
			continue;
		ne = realloc(g->edges, (g->n_edges + 1) * sizeof(*g->edges));
		if (!ne)
			return -ENOMEM;
		g->edges = ne;
		g->edges[g->n_edges++] = (struct mg_lock_edge){
			.waiter = t->tid, .owner = t->owner, .addr = t->futex_addr, .kind = t->wait,
		};
	}
	if (bql_addr) {
		g->bql = bql_addr;
		g->bql_source = "symbol " MG_BQL_SYMBOL;
	} else {
		g->bql = guess_bql(snap, &g->bql_source);
	}
	if (g->bql) {
		g->bql_owner = bql_owner_hint;
		for (size_t i = 0; i < g->n_edges; i++)
			if (g->edges[i].addr == g->bql)
				g->bql_owner = g->edges[i].owner;
	}
	return find_cycles(g, snap);
}
