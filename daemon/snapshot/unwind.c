/* unwind.c - see unwind.h.
 *
 * Stopping: we attach every thread ourselves with PTRACE_SEIZE +
 * PTRACE_INTERRUPT and hand libdw the already-stopped threads
 * (dwfl_linux_proc_attach(..., assume_ptrace_stopped = true)).  Doing the
 * attach here rather than in libdw (which PTRACE_ATTACHes one thread at a
 * time and then blocks in waitpid) buys three things:
 *  - all threads are stopped together, so the stacks are one consistent
 *    picture and the stop is one short interval we can measure;
 *  - a thread in D state is never attached: a ptrace stop is only reported
 *    once the uninterruptible sleep ends, which may be never (a hung NFS or
 *    NBD request), and PTRACE_DETACH needs a stopped tracee.  Such threads
 *    keep their /proc facts and kernel stack, without user frames;
 *  - a SEIZEd tracee that was in group-stop (the target was SIGSTOPped)
 *    stays in group-stop after PTRACE_DETACH, so we never resume a process
 *    someone stopped, and never leave a running one stopped.
 * libdw's unwinder then only reads registers (PTRACE_GETREGS) and memory.
 *
 * Everything that can be done without the stop is done outside it: the
 * module list and the .eh_frame tables of the modules that hold the
 * threads' PCs are loaded before the stop; symbols, DWARF (inlined calls,
 * source lines) and separate debug files after.  The unwinder itself only
 * reads DWARF (.debug_frame) for a PC that .eh_frame does not cover
 * (libdwfl/frame_unwind.c); the debug log counts the modules whose DWARF
 * was loaded during the stop. */
#include "snapshot/unwind.h"

#include <elfutils/libdwfl.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#if defined(__x86_64__)
#include <asm/prctl.h>
#endif
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "procfs.h"
#include "snapshot/inline.h"
#include "snapshot/model.h"
#include "util.h"

/* How long we wait for seized threads to report their stop. */
#define MG_STOP_DEADLINE_USEC (500 * MG_USEC_PER_MSEC)

struct mg_unwind {
	pid_t pid;
	Dwfl *dwfl;
	bool attached;
	/* libdwfl keeps pointers to both for the Dwfl's lifetime */
	Dwfl_Callbacks callbacks;
	char *debuginfo_path;
};

/* Per-thread bookkeeping during the stop. */
struct stop_state {
	bool seized, stopped;
	int pending_sig;	/* signal-delivery-stop seen: re-inject on detach */
};

/* libdwfl's default search (libdwfl.h): the binary's directory, its .debug/
 * subdirectory (by .gnu_debuglink), /usr/lib/debug (by build-id under
 * .build-id/xx/yyyy.debug, then by debuglink under the binary's path). */
#define MG_DEFAULT_DEBUGINFO_PATH ":.debug:/usr/lib/debug"

static int prewarm_module(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start,
			  void *arg)
{
	Dwarf_Addr bias;

	dwfl_module_eh_cfi(mod, &bias);
	return DWARF_CB_OK;
}

int mg_unwind_prepare(pid_t pid, const char *debuginfo_dirs, struct mg_unwind **out)
{
	struct mg_unwind *uw = calloc(1, sizeof(*uw));
	int r;

	if (!uw)
		return -ENOMEM;
	uw->pid = pid;
	if (debuginfo_dirs && *debuginfo_dirs)
		r = asprintf(&uw->debuginfo_path, "%s:" MG_DEFAULT_DEBUGINFO_PATH, debuginfo_dirs);
	else
		r = (uw->debuginfo_path = strdup(MG_DEFAULT_DEBUGINFO_PATH)) ? 0 : -1;
	if (r < 0) {
		free(uw);
		return -ENOMEM;
	}
	uw->callbacks = (Dwfl_Callbacks) {
		.find_elf = dwfl_linux_proc_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.debuginfo_path = &uw->debuginfo_path,
	};
	uw->dwfl = dwfl_begin(&uw->callbacks);
	if (!uw->dwfl) {
		mg_unwind_free(uw);
		return -ENOMEM;
	}
	r = dwfl_linux_proc_report(uw->dwfl, pid);
	if (dwfl_report_end(uw->dwfl, NULL, NULL) != 0 || r != 0) {
		mg_unwind_free(uw);
		return r > 0 ? -r : -ESRCH;
	}
	/* Load every module's unwind tables now, while the target runs. */
	dwfl_getmodules(uw->dwfl, prewarm_module, NULL, 0);
	r = dwfl_linux_proc_attach(uw->dwfl, pid, true);
	uw->attached = r == 0;
	*out = uw;
	return 0;
}

void mg_unwind_free(struct mg_unwind *uw)
{
	if (!uw)
		return;
	if (uw->dwfl)
		dwfl_end(uw->dwfl);
	free(uw->debuginfo_path);
	free(uw);
}

static bool may_stop(const struct mg_snap_thread *t)
{
	return !t->gone && !t->kernel_worker && t->state != 'D' && t->state != 'Z' && t->state != 'X';
}

/* Seizes and interrupts every eligible thread; -EPERM when the first
 * attach is refused (then nothing is attached). */
static int seize_all(struct mg_snapshot *snap, struct stop_state *st)
{
	size_t n_seized = 0;

	for (size_t i = 0; i < snap->n_threads; i++) {
		struct mg_snap_thread *t = &snap->threads[i];

		if (!may_stop(t)) {
			if (!t->gone && !t->kernel_worker)
				mg_snap_note(snap, false, "thread %d in state %c: not stopped, no user frames "
					     "(a ptrace stop waits for an uninterruptible sleep to end)",
					     t->tid, t->state);
			continue;
		}
		if (ptrace(PTRACE_SEIZE, t->tid, NULL, NULL) < 0) {
			int err = errno;

			/* The kernel refuses to attach an exiting task with
			 * EPERM too: that is "gone", not "not allowed". */
			if (err == EPERM && mg_procfs_exiting(snap->pid, t->tid))
				err = ESRCH;
			if ((err == EPERM || err == EACCES) && n_seized == 0)
				return -EPERM;
			if (err == ESRCH)
				t->gone = true;
			else
				mg_snap_note(snap, true, "ptrace seize %d: %s", t->tid, strerror(err));
			continue;
		}
		st[i].seized = true;
		n_seized++;
		if (ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL) < 0 && errno == ESRCH)
			t->gone = true;
	}
	return 0;
}

/* Collects the stops; a signal that arrives first is remembered and
 * re-injected at detach, as gdb does. */
static void wait_stops(struct mg_snapshot *snap, struct stop_state *st)
{
	uint64_t deadline = mg_now_mono() + MG_STOP_DEADLINE_USEC;
	size_t waiting;

	do {
		bool progress = false;

		waiting = 0;
		for (size_t i = 0; i < snap->n_threads; i++) {
			struct mg_snap_thread *t = &snap->threads[i];
			int status;
			pid_t w;

			if (!st[i].seized || st[i].stopped || t->gone)
				continue;
			w = waitpid(t->tid, &status, __WALL | WNOHANG);
			if (w == 0) {
				waiting++;
				continue;
			}
			progress = true;
			if (w < 0 || WIFEXITED(status) || WIFSIGNALED(status)) {
				t->gone = true;
				continue;
			}
			if (WIFSTOPPED(status)) {
				int sig = WSTOPSIG(status);

				if ((status >> 16) == 0 && sig != SIGSTOP && sig != SIGTRAP)
					st[i].pending_sig = sig;
				st[i].stopped = true;
			}
		}
		if (waiting && !progress) {
			struct timespec ts = { 0, 20 * 1000 };

			nanosleep(&ts, NULL);
		}
	} while (waiting && mg_now_mono() < deadline);
	for (size_t i = 0; i < snap->n_threads; i++)
		if (st[i].seized && !st[i].stopped && !snap->threads[i].gone)
			mg_snap_note(snap, true, "thread %d did not stop within %" PRIu64 " ms (entered D state?); "
				     "it stays traced until it stops or migguard exits",
				     snap->threads[i].tid, MG_STOP_DEADLINE_USEC / MG_USEC_PER_MSEC);
}

static void detach_all(struct mg_snapshot *snap, struct stop_state *st)
{
	for (size_t i = 0; i < snap->n_threads; i++) {
		if (!st[i].seized || !st[i].stopped)
			continue;
		ptrace(PTRACE_DETACH, snap->threads[i].tid, NULL,
		       (void *)(intptr_t)st[i].pending_sig);
	}
}

struct unwind_ctx {
	struct mg_snapshot *snap;
	struct stop_state *st;
	unsigned max_frames;
};

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct mg_snap_thread *t = arg;
	struct mg_snap_frame *f = &t->frames[t->n_frames];
	Dwarf_Addr pc;
	bool activation;

	if (!dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	f->pc = pc;
	f->activation = activation;
	t->n_frames++;
	return DWARF_CB_OK;
}

/* A bounded frame callback: dwfl_thread_getframes has no limit of its own,
 * so the wrapper aborts at max_frames. */
struct bounded {
	struct mg_snap_thread *t;
	unsigned max;
};

static int bounded_frame_cb(Dwfl_Frame *state, void *arg)
{
	struct bounded *b = arg;

	if (b->t->n_frames >= b->max) {
		b->t->frames_truncated = true;
		return DWARF_CB_ABORT;
	}
	return frame_cb(state, b->t);
}

static int thread_cb(Dwfl_Thread *thread, void *arg)
{
	struct unwind_ctx *c = arg;
	ssize_t idx = mg_snap_thread_index(c->snap, dwfl_thread_tid(thread));
	struct mg_snap_thread *t = idx < 0 ? NULL : &c->snap->threads[idx];
	struct bounded b;
	int r;

	if (!t || !c->st[idx].stopped)
		return DWARF_CB_OK;
	t->stopped = true;
#if defined(__x86_64__)
	{
		/* gdb's "Thread 0x..." is pthread_self(), the fs base on x86_64. */
		unsigned long fs = 0;

		if (ptrace(PTRACE_ARCH_PRCTL, t->tid, &fs, ARCH_GET_FS) == 0)
			t->thread_pointer = fs;
	}
#endif
	t->frames = calloc(c->max_frames, sizeof(*t->frames));
	if (!t->frames)
		return DWARF_CB_OK;
	b.t = t;
	b.max = c->max_frames;
	r = dwfl_thread_getframes(thread, bounded_frame_cb, &b);
	/* The unwinder ends with an error at the outermost frame of most
	 * stacks (no CFI for _start / clone3); keep it only for short ones. */
	if (r < 0 && t->n_frames < 2 && !t->frames_truncated)
		t->unwind_error = strdup(dwfl_errmsg(-1));
	/* No frame at all means the registers could not be read: a stopped
	 * thread only fails that when the process is being killed.  libdw
	 * (0.188, linux-pid-attach.c) then still believes the thread is
	 * attached and asserts on the next one, so stop here. */
	if (r < 0 && t->n_frames == 0) {
		mg_snap_note(c->snap, true, "unwinding stopped at thread %d: %s (target exiting?)", t->tid,
			     t->unwind_error ? t->unwind_error : "no registers");
		return DWARF_CB_ABORT;
	}
	return DWARF_CB_OK;
}

static int count_dwarf_module(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start,
			      void *arg)
{
	Dwarf_Addr dwbias;

	/* dwbias is -1 until the module's DWARF (own or separate) is loaded;
	 * asking does not load it. */
	dwfl_module_info(mod, NULL, NULL, NULL, &dwbias, NULL, NULL, NULL);
	if (dwbias != (Dwarf_Addr)-1)
		(*(unsigned *)arg)++;
	return DWARF_CB_OK;
}

unsigned mg_unwind_dwarf_loaded(struct mg_unwind *uw)
{
	unsigned n = 0;

	dwfl_getmodules(uw->dwfl, count_dwarf_module, &n, 0);
	return n;
}

int mg_unwind_capture(struct mg_unwind *uw, struct mg_snapshot *snap, unsigned max_frames)
{
	_cleanup_free_ struct stop_state *st = calloc(snap->n_threads ? snap->n_threads : 1, sizeof(*st));
	struct unwind_ctx c = { .snap = snap, .max_frames = max_frames };
	uint64_t t0;
	unsigned dwarf_before;
	int r;

	if (!st)
		return -ENOMEM;
	if (!uw->attached) {
		mg_snap_note(snap, true, "libdw cannot attach to %d: %s", snap->pid, dwfl_errmsg(-1));
		return 0;
	}
	c.st = st;
	dwarf_before = mg_unwind_dwarf_loaded(uw);
	t0 = mg_now_mono();
	r = seize_all(snap, st);
	if (r < 0)
		return mg_error_errno(r, "cannot trace process %d (ptrace; needs CAP_SYS_PTRACE or the "
				      "same user, and no Yama restriction)", snap->pid);
	wait_stops(snap, st);
	mg_debug("snapshot %d: all threads stopped after %" PRIu64 " us", snap->pid, mg_now_mono() - t0);
	/* > 0: thread_cb aborted and noted why */
	if (dwfl_getthreads(uw->dwfl, thread_cb, &c) < 0)
		mg_snap_note(snap, true, "libdw: %s", dwfl_errmsg(-1));
	detach_all(snap, st);
	snap->stopped_us = mg_now_mono() - t0;
	/* Counted after the release, so the count costs the target nothing. */
	mg_debug("snapshot %d: DWARF loaded during the stop: %u modules", snap->pid,
		 mg_unwind_dwarf_loaded(uw) - dwarf_before);
	return 0;
}

/* The logical frames of one physical frame (one pc). */
struct chain {
	uint64_t pc;
	bool activation;
	struct mg_snap_frame *frames;
	size_t n;
};

static void copy_frame(struct mg_snap_frame *dst, const struct mg_snap_frame *src)
{
	*dst = *src;
	dst->module = src->module ? strdup(src->module) : NULL;
	dst->symbol = src->symbol ? strdup(src->symbol) : NULL;
	dst->file = src->file ? strdup(src->file) : NULL;
}

static void free_frame(struct mg_snap_frame *f)
{
	free(f->module);
	free(f->symbol);
	free(f->file);
}

/* Replaces the thread's physical frames (pc only) by its logical frames. */
static void expand_thread(struct mg_snap_thread *t, struct chain *const *chains)
{
	struct mg_snap_frame *logical;
	size_t n = 0, k = 0;

	for (size_t i = 0; i < t->n_frames; i++)
		n += chains[i]->n;
	logical = calloc(n ? n : 1, sizeof(*logical));
	if (!logical) {
		/* Out of memory: the holding functions only, as without DWARF. */
		for (size_t i = 0; i < t->n_frames; i++)
			copy_frame(&t->frames[i], &chains[i]->frames[chains[i]->n - 1]);
		return;
	}
	for (size_t i = 0; i < t->n_frames; i++)
		for (size_t j = 0; j < chains[i]->n; j++)
			copy_frame(&logical[k++], &chains[i]->frames[j]);
	free(t->frames);
	t->frames = logical;
	t->n_frames = n;
}

/* libdwfl looks a symbol up by scanning the module's symbol table, and an
 * inline lookup walks the unit's DIEs: together the main cost of a
 * snapshot (glibc's symbol table has ~10k entries).  Threads of one kind
 * share their return addresses, so each distinct (pc, activation) is
 * resolved once, into an open-addressing table of chains. */
void mg_unwind_symbolize(struct mg_unwind *uw, struct mg_snapshot *snap, bool lines)
{
	size_t n = 0, size = 64, n_chains = 0, max_frames = 0;
	_cleanup_free_ struct chain *chains = NULL;
	_cleanup_free_ struct chain **table = NULL, **per_frame = NULL;

	for (size_t i = 0; i < snap->n_threads; i++) {
		n += snap->threads[i].n_frames;
		if (snap->threads[i].n_frames > max_frames)
			max_frames = snap->threads[i].n_frames;
	}
	while (size < 2 * n)
		size *= 2;
	chains = calloc(n ? n : 1, sizeof(*chains));
	table = calloc(size, sizeof(*table));
	per_frame = calloc(max_frames ? max_frames : 1, sizeof(*per_frame));
	if (!chains || !table || !per_frame) {
		mg_snap_note(snap, true, "symbolization: out of memory");
		return;
	}
	for (size_t i = 0; i < snap->n_threads; i++) {
		struct mg_snap_thread *t = &snap->threads[i];
		bool complete = true;
		int r;

		for (size_t k = 0; k < t->n_frames; k++) {
			const struct mg_snap_frame *f = &t->frames[k];
			size_t h = (size_t)((f->pc * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & (size - 1);

			while (table[h] && (table[h]->pc != f->pc || table[h]->activation != f->activation))
				h = (h + 1) & (size - 1);
			if (!table[h]) {
				struct chain *c = &chains[n_chains];

				c->pc = f->pc;
				c->activation = f->activation;
				r = mg_inline_frames(uw->dwfl, f->pc, f->activation, lines, &c->frames);
				if (r < 0) {
					complete = false;
					break;
				}
				c->n = (size_t)r;
				n_chains++;
				table[h] = c;
			}
			per_frame[k] = table[h];
		}
		if (complete)
			expand_thread(t, per_frame);
		else
			mg_snap_note(snap, true, "thread %d: symbolization out of memory", t->tid);
	}
	for (size_t i = 0; i < n_chains; i++) {
		for (size_t j = 0; j < chains[i].n; j++)
			free_frame(&chains[i].frames[j]);
		free(chains[i].frames);
	}
}

struct sym_search {
	const char *name;
	char exe[4096];
	uint64_t addr;
};

static int search_module(Dwfl_Module *mod, void **userdata, const char *mname, Dwarf_Addr start,
			 void *arg)
{
	struct sym_search *s = arg;
	int n;

	/* Only the executable: libraries hold no BQL, and loading every
	 * library's symbol table would cost more than the whole unwind. */
	if (!mname || strcmp(mname, s->exe) != 0)
		return DWARF_CB_OK;
	n = dwfl_module_getsymtab(mod);
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);

		if (name && sym.st_shndx != SHN_UNDEF && strcmp(name, s->name) == 0) {
			s->addr = addr;
			return DWARF_CB_ABORT;
		}
	}
	return DWARF_CB_OK;
}

uint64_t mg_unwind_symbol_addr(struct mg_unwind *uw, const char *name)
{
	struct sym_search s = { .name = name };
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", uw->pid);
	n = readlink(link, s.exe, sizeof(s.exe) - 1);
	if (n <= 0)
		return 0;
	s.exe[n] = '\0';
	dwfl_getmodules(uw->dwfl, search_module, &s, 0);
	return s.addr;
}
