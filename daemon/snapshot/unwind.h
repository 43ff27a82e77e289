/* unwind.h - stops every thread of the target with ptrace, unwinds its
 * stack with libdw (PCs only), releases it, then symbolizes. */
#pragma once

#include <stdint.h>

#include "snapshot/snapshot.h"

struct mg_unwind;

/* Reports the target's modules and prepares the unwinder (target runs). */
int mg_unwind_prepare(pid_t pid, struct mg_unwind **out);
/* Stops the threads of snap that may be stopped (not D, not gone), unwinds
 * at most max_frames frames each, releases them; sets snap->stopped_us.
 * 0, or -EPERM when no thread could be attached. */
int mg_unwind_capture(struct mg_unwind *uw, struct mg_snapshot *snap, unsigned max_frames);
/* Fills module/symbol/offset of every frame, and file/line when lines is
 * set and debuginfo is found (target runs). */
void mg_unwind_symbolize(struct mg_unwind *uw, struct mg_snapshot *snap, bool lines);
/* Address of a data or function symbol in any module (also static ones,
 * from .symtab); 0 when not found. */
uint64_t mg_unwind_symbol_addr(struct mg_unwind *uw, const char *name);
void mg_unwind_free(struct mg_unwind *uw);
