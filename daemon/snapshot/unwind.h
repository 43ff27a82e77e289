/* unwind.h - stops every thread of the target with ptrace, unwinds its
 * stack with libdw (PCs only), releases it, then symbolizes. */
#pragma once

#include <stdint.h>

#include "snapshot/snapshot.h"

struct mg_unwind;

/* Reports the target's modules and prepares the unwinder (target runs).
 * debuginfo_dirs (NULL for none): colon-separated directories searched for
 * separate debug files before libdwfl's default places (the binary's
 * directory, its .debug/, /usr/lib/debug), each by build-id
 * (DIR/.build-id/xx/yyyy.debug) and by .gnu_debuglink
 * (DIR/<the binary's directory>/<debuglink>). */
int mg_unwind_prepare(pid_t pid, const char *debuginfo_dirs, struct mg_unwind **out);
/* Stops the threads of snap that may be stopped (not D, not gone), unwinds
 * at most max_frames frames each, releases them; sets snap->stopped_us.
 * 0, or -EPERM when no thread could be attached. */
int mg_unwind_capture(struct mg_unwind *uw, struct mg_snapshot *snap, unsigned max_frames);
/* Turns each thread's physical frames into its logical frames (see struct
 * mg_snap_frame): module/symbol/offset from the symbol table, the calls
 * inlined at each pc from DWARF when the module has it (own or separate
 * debug file), with their file:line; file:line of the other frames only
 * when lines is set (target runs). */
void mg_unwind_symbolize(struct mg_unwind *uw, struct mg_snapshot *snap, bool lines);
/* How many modules have their DWARF loaded (for the debug log that shows
 * none is loaded during the stop). */
unsigned mg_unwind_dwarf_loaded(struct mg_unwind *uw);
/* Address of a data or function symbol in any module (also static ones,
 * from .symtab); 0 when not found. */
uint64_t mg_unwind_symbol_addr(struct mg_unwind *uw, const char *name);
void mg_unwind_free(struct mg_unwind *uw);
