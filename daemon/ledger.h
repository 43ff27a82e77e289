/* ledger.h - what the guard did about a migration, kept under
 * STATE_DIR/acted/ so it survives the guard's own restart: a guard killed
 * (or crash-looping) after its verdict re-finds the same hung migration
 * and must neither write a second incident nor run the ladder again.
 *
 * A migration's identity is its QEMU process (pid and start time, see
 * procid.h: a recycled pid is another process), the domain's UUID and the
 * direction.  A record is removed when the migration ends, and at load when
 * its process is gone. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "procid.h"
#include "tracker.h"
#include "worker.h"

struct mg_ledger_key {
	pid_t pid;
	uint64_t start_time;		/* /proc/PID/stat field 22 */
	char uuid[40];			/* "" when unknown (standalone) */
	enum mg_direction dir;
};

struct mg_ledger_entry {
	struct mg_ledger_key key;
	bool acted;			/* the ladder was started */
	char incident[512];		/* the incident directory, "" if not known */
	uint64_t at;			/* CLOCK_REALTIME usec of the verdict */
};

struct mg_ledger;

void mg_ledger_key_init(struct mg_ledger_key *k, const struct mg_procid *id, const char *uuid,
			enum mg_direction dir);

/* Loads STATE_DIR/acted/; records whose process is gone (or whose pid now
 * names another process) are removed.  Runs at start, before the loop.
 * 0 or a negative errno (logged); an unreadable record is skipped. */
int mg_ledger_open(const char *state_dir, struct mg_ledger **out);
void mg_ledger_free(struct mg_ledger *l);

/* In memory, on the loop: the record of k or NULL; notes a verdict (the
 * file is written by mg_ledger_write, off the loop); forgets k. */
const struct mg_ledger_entry *mg_ledger_find(const struct mg_ledger *l, const struct mg_ledger_key *k);
int mg_ledger_note(struct mg_ledger *l, const struct mg_ledger_key *k, bool acted, const char *incident);
/* Forgets k (the migration ended); its file is removed on pool (one
 * thread, see incwriter.h), or at once when pool is NULL. */
void mg_ledger_forget(struct mg_ledger *l, const struct mg_ledger_key *k, struct mg_worker_pool *pool);
/* Forgets every record of the process id (NULL: any) and the domain uuid
 * (NULL: any): a migration that is no longer running was found (the guard
 * was down when it ended), so a later one is not taken for it. */
void mg_ledger_forget_all(struct mg_ledger *l, const struct mg_procid *id, const char *uuid,
			  struct mg_worker_pool *pool);
/* The state directory the ledger lives under. */
const char *mg_ledger_state_dir(const struct mg_ledger *l);

/* Files, blocking (call from a worker): the record written durably (temp
 * file, fsync, rename), or removed.  0 or a negative errno. */
int mg_ledger_write(const char *state_dir, const struct mg_ledger_entry *e);
int mg_ledger_remove(const char *state_dir, const struct mg_ledger_key *k);
