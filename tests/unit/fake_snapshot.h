/* fake_snapshot.h - hand-built snapshot threads for the tests of the
 * signature matcher (tests/unit/test_signature.c, tests/fuzz/fuzz_signature.c). */
#pragma once

#include <stdlib.h>
#include <string.h>

#include "snapshot/snapshot.h"

/* Gives t the frames syms (innermost first; NULL: an unresolved frame).
 * glibc's frames keep their names in a stripped QEMU, so they get libc as
 * their module, the others QEMU. */
static inline void mg_test_set_frames(struct mg_snap_thread *t, const char *const *syms, size_t n)
{
	t->frames = calloc(n, sizeof(*t->frames));
	t->n_frames = n;
	for (size_t i = 0; i < n; i++) {
		t->frames[i].pc = 0x1000 + i;
		t->frames[i].symbol = syms[i] ? strdup(syms[i]) : NULL;
		t->frames[i].module = strdup(syms[i] && (strncmp(syms[i], "__lll", 5) == 0 ||
							  strncmp(syms[i], "pthread_", 8) == 0)
					     ? "/usr/lib/x86_64-linux-gnu/libc.so.6"
					     : "/usr/bin/qemu-system-x86_64");
	}
}
