/* model.c - see model.h: the data model of snapshot.h and nothing else.
 * The bottom of snapshot/: every other file of it may call these, these
 * call none of them. */
#include "snapshot/model.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

void mg_snap_note(struct mg_snapshot *snap, bool partial, const char *fmt, ...)
{
	va_list ap;
	char *line, *all;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	if (partial)
		snap->partial = true;
	if (!line)
		return;
	if (asprintf(&all, "%s%s\n", snap->errors ? snap->errors : "", line) >= 0) {
		free(snap->errors);
		snap->errors = all;
	}
	free(line);
}

ssize_t mg_snap_thread_index(const struct mg_snapshot *snap, pid_t tid)
{
	size_t lo = 0, hi = snap->n_threads;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (snap->threads[mid].tid == tid)
			return (ssize_t)mid;
		if (snap->threads[mid].tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const struct mg_snap_thread *mg_snapshot_thread(const struct mg_snapshot *snap, pid_t tid)
{
	ssize_t i = mg_snap_thread_index(snap, tid);

	return i < 0 ? NULL : &snap->threads[i];
}

bool mg_snap_thread_has_frame(const struct mg_snap_thread *t, const char *pattern, size_t depth)
{
	size_t physical = 0;

	/* Depth counts physical frames: each ends with its one frame that is
	 * not inlined (snapshot.h), so a depth chosen before inline frames
	 * existed still reaches the same code. */
	for (size_t i = 0; i < t->n_frames && physical < depth; i++) {
		if (t->frames[i].symbol && fnmatch(pattern, t->frames[i].symbol, 0) == 0)
			return true;
		if (!t->frames[i].inlined)
			physical++;
	}
	return false;
}

const char *mg_wait_kind_to_string(enum mg_wait_kind kind)
{
	static const char *const names[] = {
		[MG_WAIT_NONE] = "none", [MG_WAIT_MUTEX] = "mutex", [MG_WAIT_MUTEX_PI] = "mutex-pi",
		[MG_WAIT_CONDVAR] = "condvar", [MG_WAIT_FUTEX] = "futex", [MG_WAIT_IO] = "io",
		[MG_WAIT_OTHER] = "syscall",
	};

	return (unsigned)kind < MG_ARRAY_SIZE(names) ? names[kind] : "?";
}

void mg_snap_threads_clear(struct mg_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_threads; i++) {
		struct mg_snap_thread *t = &snap->threads[i];

		for (size_t k = 0; k < t->n_frames; k++) {
			free(t->frames[k].module);
			free(t->frames[k].symbol);
			free(t->frames[k].file);
		}
		free(t->frames);
		free(t->kstack);
		free(t->unwind_error);
	}
	free(snap->threads);
	snap->threads = NULL;
	snap->n_threads = 0;
}

void mg_snap_locks_clear(struct mg_lockgraph *g)
{
	for (size_t i = 0; i < g->n_cycles; i++) {
		free(g->cycles[i].tids);
		free(g->cycles[i].addrs);
	}
	free(g->cycles);
	free(g->edges);
	*g = (struct mg_lockgraph){ 0 };
}

void mg_snap_io_waits_clear(struct mg_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_io_waits; i++) {
		free(snap->io_waits[i].target);
		free(snap->io_waits[i].detail);
	}
	free(snap->io_waits);
	snap->io_waits = NULL;
	snap->n_io_waits = 0;
}

void mg_snap_sigs_clear(struct mg_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_sigs; i++) {
		struct mg_sig_result *r = &snap->sigs[i];

		free(r->id);
		free(r->title);
		free(r->explanation);
		free(r->fix);
		free(r->reason);
	}
	free(snap->sigs);
	snap->sigs = NULL;
	snap->n_sigs = 0;
}

void mg_snapshot_free(struct mg_snapshot *snap)
{
	if (!snap)
		return;
	mg_snap_threads_clear(snap);
	mg_snap_locks_clear(&snap->locks);
	mg_snap_io_waits_clear(snap);
	mg_snap_sigs_clear(snap);
	free(snap->errors);
	free(snap);
}
