/* internal.h - helpers shared by the snapshot's own files only. */
#pragma once

#include "snapshot/snapshot.h"

/* Appends a note to snap->errors (one line) and marks the snapshot partial
 * when partial is true. */
void mg_snap_note(struct mg_snapshot *snap, bool partial, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True for the thread whose frames hold a symbol matching the fnmatch
 * pattern within the innermost depth physical frames (a frame inlined
 * into one of them counts with it: inline expansion never pushes a frame
 * out of reach). */
bool mg_snap_thread_has_frame(const struct mg_snap_thread *t, const char *pattern, size_t depth);
