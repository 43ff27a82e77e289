/* model.h - the snapshot's data model's own functions (model.c), for the
 * files of snapshot/ and for tests that build snapshots by hand.  model.c
 * is the bottom of snapshot/: it includes nothing of snapshot/ but
 * snapshot.h and calls nothing above it (see the layout in snapshot.h). */
#pragma once

#include <sys/types.h>

#include "snapshot/snapshot.h"

/* Appends a note to snap->errors (one line) and marks the snapshot partial
 * when partial is true. */
void mg_snap_note(struct mg_snapshot *snap, bool partial, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The index of the thread with this tid in snap->threads, or -1.  The
 * threads are sorted by tid (procfacts.c sorts them; hand-built snapshots
 * list them in that order), so this is a binary search. */
ssize_t mg_snap_thread_index(const struct mg_snapshot *snap, pid_t tid);

/* True for the thread whose frames hold a symbol matching the fnmatch
 * pattern within the innermost depth physical frames (a frame inlined
 * into one of them counts with it: inline expansion never pushes a frame
 * out of reach). */
bool mg_snap_thread_has_frame(const struct mg_snap_thread *t, const char *pattern, size_t depth);

/* Free what each part of the snapshot owns and leave the part empty. */
void mg_snap_threads_clear(struct mg_snapshot *snap);
void mg_snap_locks_clear(struct mg_lockgraph *g);
void mg_snap_io_waits_clear(struct mg_snapshot *snap);
void mg_snap_sigs_clear(struct mg_snapshot *snap);
