/* snapshot.c - see snapshot.h: mg_snapshot_take(), the order of the steps
 * and their errors.  The top of snapshot/ (the layout: snapshot.h). */
#include "snapshot/snapshot.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "procfs.h"
#include "snapshot/iowait.h"
#include "snapshot/lockgraph.h"
#include "snapshot/model.h"
#include "snapshot/procfacts.h"
#include "snapshot/signature.h"
#include "snapshot/unwind.h"
#include "util.h"

/* Unwinds and symbolizes; returns the BQL's address when the executable
 * has the symbol (0 otherwise), or -EPERM through *err. */
static uint64_t unwind_stacks(struct mg_snapshot *snap, const struct mg_snapshot_opts *opts, int *err)
{
	struct mg_unwind *uw = NULL;
	uint64_t bql = 0;
	int r;

	*err = 0;
	uint64_t t0 = mg_now_mono(), t1, t2;

	r = mg_unwind_prepare(snap->pid, opts->debuginfo_dirs, &uw);
	t1 = mg_now_mono();
	if (r < 0) {
		mg_snap_note(snap, true, "no stacks: cannot read the modules of %d: %s", snap->pid,
			     strerror(-r));
		return 0;
	}
	r = mg_unwind_capture(uw, snap, opts->max_frames ? opts->max_frames : MG_SNAPSHOT_DEFAULT_MAX_FRAMES);
	if (r < 0) {
		*err = r;
	} else {
		t2 = mg_now_mono();
		mg_unwind_symbolize(uw, snap, opts->source_lines);
		bql = mg_unwind_symbol_addr(uw, MG_BQL_SYMBOL);
		mg_debug("snapshot %d: prepare %" PRIu64 " us, stop+unwind %" PRIu64 " us, symbolize %" PRIu64
			 " us, DWARF of %u modules", snap->pid, t1 - t0, t2 - t1, mg_now_mono() - t2,
			 mg_unwind_dwarf_loaded(uw));
	}
	mg_unwind_free(uw);
	return bql;
}

static void match_signatures(struct mg_snapshot *snap, const char *dir)
{
	struct mg_signature *sigs = NULL;
	size_t n = 0;
	int r = mg_signatures_load(dir, &sigs, &n);

	if (r < 0)
		mg_snap_note(snap, false, "signatures from %s: %s", dir, strerror(-r));
	if (mg_signatures_match(sigs, n, snap) < 0)
		mg_snap_note(snap, false, "signature matching: out of memory");
	mg_signatures_free(sigs, n);
}

/* The promise "never left stopped", checked rather than assumed. */
static void check_released(struct mg_snapshot *snap)
{
	char s = mg_procfs_state(snap->pid, snap->pid);

	if (s == '?') {
		mg_snap_note(snap, true, "the target exited during the snapshot");
		return;
	}
	if (!snap->was_stopped && (s == 'T' || s == 't'))
		mg_snap_note(snap, true, "the target is in state %c after the snapshot", s);
}

void mg_snapshot_prepare_process(void)
{
	/* The library libdw loads on its first lookup (the same handle: kept
	 * open, as libdw keeps its own). */
	void *h = dlopen("libdebuginfod.so.1", RTLD_NOW | RTLD_LOCAL);
	void *(*begin)(void);
	void (*end)(void *);

	if (!h)
		return;
	begin = (void *(*)(void))dlsym(h, "debuginfod_begin");
	end = (void (*)(void *))dlsym(h, "debuginfod_end");
	if (begin && end) {
		void *client = begin();

		if (client)
			end(client);
	}
}

int mg_snapshot_take(pid_t pid, const struct mg_snapshot_opts *opts, struct mg_snapshot **out)
{
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *snap = calloc(1, sizeof(*snap));
	uint64_t t0 = mg_now_mono(), t1, bql = 0;
	int32_t owner = 0;
	int r;

	if (!snap)
		return -ENOMEM;
	snap->pid = pid;
	snap->captured_at = mg_now_real();
	r = mg_procfacts_read(snap);
	if (r == -ESRCH)
		return mg_error_errno(r, "process %d does not exist", pid);
	if (r == -EPERM)
		return mg_error_errno(r, "process %d: permission denied reading /proc/%d/syscall "
				      "(needs root or ptrace rights over the target)", pid, pid);
	if (r < 0)
		return mg_error_errno(r, "process %d: cannot list threads", pid);
	mg_debug("snapshot %d: /proc facts of %zu threads %" PRIu64 " us", pid, snap->n_threads,
		 mg_now_mono() - t0);
	if (!opts->no_unwind) {
		bql = unwind_stacks(snap, opts, &r);
		if (r < 0)
			return r;	/* logged by mg_unwind_capture */
	}
	mg_lockgraph_classify(snap);
	if (bql && mg_procfs_read_mem(pid, bql + 8, &owner, sizeof(owner)) < 0)
		owner = 0;
	t1 = mg_now_mono();
	if (mg_lockgraph_build(snap, bql, owner) < 0 || mg_iowait_collect(snap) < 0)
		mg_snap_note(snap, true, "out of memory building the lock graph or I/O chains");
	mg_debug("snapshot %d: lock graph and I/O chains %" PRIu64 " us", pid, mg_now_mono() - t1);
	match_signatures(snap, opts->signatures_dir ? opts->signatures_dir : PKGDATADIR "/signatures");
	check_released(snap);
	snap->wall_us = mg_now_mono() - t0;
	*out = MG_TAKE_PTR(snap);
	return 0;
}
