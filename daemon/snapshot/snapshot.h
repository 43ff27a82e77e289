/* snapshot.h - the built-in stack snapshot of a process (a QEMU, usually):
 * per-thread /proc facts, stacks unwound with libdw, the lock graph
 * (waiter -> mutex owner, cycles, the BQL), I/O-wait chains and
 * known-issue signature matches, rendered as gdb-like text or JSON.
 *
 * Order of work (DESIGN.md section 5): /proc facts and futex words are read
 * while the target runs; then every thread is stopped, unwound and released
 * (only PCs are kept); symbolization, the lock graph, I/O chains and
 * signatures are computed after the target runs again.
 *
 * The files of snapshot/, top to bottom; each includes and calls only
 * files below it (checked with grep for #include "snapshot/ and mg_ calls):
 *
 *   snapshot.c   mg_snapshot_take: the order of the steps
 *     -> procfacts.c  step 1: /proc facts and futex words (through procfs.h)
 *     -> unwind.c     step 2: stop, unwind, release; symbolize
 *          -> inline.c     inlined calls from DWARF
 *     -> lockgraph.c  wait kinds, edges, cycles, the BQL
 *     -> iowait.c     fd -> socket/file -> peer (through procfs.h); which
 *                     waits are on the hang's path (from the lock graph)
 *     -> signature.c  known-issue matches
 *          -> symname.c    symbol name patterns (iowait.c's drain frames too)
 *   render.c     text and JSON of a finished snapshot (for cli/, report.c)
 *   model.c      the data model below: free, thread by tid, notes, frame
 *                match, wait kind names; includes only snapshot.h/model.h,
 *                calls nothing of snapshot/.  Every file above may call it.
 *
 * Outside snapshot/ it uses only procfs.h, sockfacts.h, util.h, log.h and
 * escape.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <json-c/json.h>

/* Version of the JSON document mg_snapshot_to_json() builds; bumped on any
 * incompatible change (see man/migguard.1, "JSON SCHEMA"). */
#define MG_SNAPSHOT_SCHEMA_VERSION 1
#define MG_SNAPSHOT_DEFAULT_MAX_FRAMES 64

/* What a blocked thread waits for, decided by mg_lockgraph_classify(). */
enum mg_wait_kind {
	MG_WAIT_NONE,		/* running, or not in a wait we understand */
	MG_WAIT_MUTEX,		/* glibc pthread_mutex_t (futex on __lock) */
	MG_WAIT_MUTEX_PI,	/* priority-inheritance mutex (owner in the word) */
	MG_WAIT_CONDVAR,	/* pthread_cond_t */
	MG_WAIT_FUTEX,		/* another futex (QemuEvent, semaphore, ...) */
	MG_WAIT_IO,		/* poll/ppoll/epoll_wait/read/write/... */
	MG_WAIT_OTHER,		/* another blocking syscall */
};
const char *mg_wait_kind_to_string(enum mg_wait_kind kind);

/* A logical frame, as gdb shows them.  A physical frame (one pc, one
 * activation record) whose pc lies in code the compiler inlined becomes
 * several logical frames, innermost first: one per inlined call
 * (inlined = true: symbol is the inlined function's DWARF name, file:line
 * the place in it), then the function holding the code (inlined = false:
 * symbol from the symbol table, as without DWARF, e.g. a GCC clone
 * "bdrv_do_drained_begin.part.0"; file:line the call site of the
 * outermost inlined call).  All of them carry the physical frame's pc.
 * Every physical frame ends with exactly one frame with inlined = false,
 * so counting those counts physical frames.  Without DWARF (stripped, no
 * debug file found) no frame is inlined. */
struct mg_snap_frame {
	uint64_t pc;
	bool activation;	/* pc is exact (frame #0 or a signal frame) */
	bool inlined;		/* an inlined call (DW_TAG_inlined_subroutine) */
	char *module;		/* path of the ELF mapping, NULL when unknown */
	char *symbol;		/* NULL when no symbol covers pc */
	uint64_t offset;	/* pc - symbol start; 0 for an inlined frame */
	char *file;		/* source file when debuginfo is present */
	int line;
};

struct mg_snap_thread {
	pid_t tid;
	char name[64];
	char state;		/* /proc state letter: R S D T t Z X */
	char wchan[64];
	bool in_syscall;	/* syscall_nr and args are valid */
	long syscall_nr;
	uint64_t args[6];
	uint64_t sp, pc;	/* user sp/pc from /proc/.../syscall */
	uint64_t thread_pointer;	/* pthread_t (x86_64 fs base), 0 if unknown */
	char *kstack;		/* /proc/.../stack when readable */

	/* futex waits: the word and the owner read before any stop */
	bool futex_wait;
	uint64_t futex_addr;
	int futex_op;		/* op without the private/clock flags */
	uint32_t futex_val;	/* the value the waiter expected */
	bool word_valid;
	uint32_t futex_word;	/* current value of the word */
	int32_t futex_owner_field;	/* the int at addr+8 (__owner for a mutex) */
	enum mg_wait_kind wait;
	pid_t owner;		/* mutex owner TID when known, else 0 */

	struct mg_snap_frame *frames;	/* logical frames, innermost first */
	size_t n_frames;
	bool frames_truncated;	/* stopped at max_frames physical frames */
	char *unwind_error;	/* why the stack is missing or short */
	bool stopped;		/* was ptrace-stopped for the unwind */
	bool kernel_worker;	/* a kernel thread in the process (vhost, kvm-nx-lpage-recovery) */
	bool gone;		/* exited during the snapshot */
};

struct mg_lock_edge {
	pid_t waiter, owner;
	uint64_t addr;
	enum mg_wait_kind kind;
};

/* waiters[i] waits for addrs[i], which waiters[(i + 1) % n] holds. */
struct mg_lock_cycle {
	size_t n;
	pid_t *tids;
	uint64_t *addrs;
};

struct mg_lockgraph {
	struct mg_lock_edge *edges;
	size_t n_edges;
	struct mg_lock_cycle *cycles;
	size_t n_cycles;
	uint64_t bql;		/* 0 when not identified */
	pid_t bql_owner;	/* 0 when free or unknown */
	const char *bql_source;	/* how the BQL was identified */
};

/* Whether an I/O wait is one the hang depends on (mg_iowait_rank). */
enum mg_io_role {
	MG_IO_UNRANKED,		/* no BQL owner known: nothing can be said */
	MG_IO_HANG,		/* a wait of a thread on the hang's path */
	MG_IO_IDLE,		/* any other wait: a thread idling meanwhile */
};

struct mg_io_wait {
	pid_t tid;
	int fd;
	char *target;		/* readlink of /proc/PID/fd/N */
	char *detail;		/* e.g. "unix peer ino 1234", "tcp 10.0.0.1:10809" */
	pid_t peer_pid;		/* 0 when unknown or not a socket */
	char peer_comm[64];
	char peer_state[32];	/* e.g. "T (stopped)" */
	enum mg_io_role role;
};

enum mg_sig_status { MG_SIG_NO_MATCH, MG_SIG_MATCH, MG_SIG_UNMATCHABLE };

struct mg_sig_result {
	char *id, *title, *explanation, *fix;
	enum mg_sig_status status;
	char *reason;		/* matched threads, or why it cannot be decided */
};

struct mg_snapshot {
	pid_t pid;
	char comm[64];
	uint64_t captured_at;	/* CLOCK_REALTIME usec at the start */
	uint64_t stopped_us;	/* first stop to last release */
	uint64_t wall_us;	/* the whole snapshot */
	bool was_stopped;	/* the target was in group-stop (T) before */
	bool partial;		/* something could not be read (see errors) */
	char *errors;		/* newline-separated notes, NULL when none */

	struct mg_snap_thread *threads;	/* sorted by tid, ascending */
	size_t n_threads;
	struct mg_lockgraph locks;
	struct mg_io_wait *io_waits;	/* the hang's first when ranked */
	size_t n_io_waits;
	struct mg_sig_result *sigs;
	size_t n_sigs;
};

struct mg_snapshot_opts {
	unsigned max_frames;		/* physical frames per thread;
					 * 0 = MG_SNAPSHOT_DEFAULT_MAX_FRAMES */
	const char *signatures_dir;	/* NULL = PKGDATADIR/signatures */
	bool no_unwind;			/* /proc facts only, never stops the target */
	bool source_lines;		/* file:line from debuginfo: costs ~5x the
					 * symbolization (after the target runs);
					 * inlined frames and the frame holding
					 * them have theirs anyway */
	const char *debuginfo_dirs;	/* colon-separated directories searched
					 * for separate debug files first (by
					 * build-id, by debuglink); NULL: only
					 * libdwfl's default places */
};

/* Once per process, on its main thread, before any snapshot: libdw's
 * debuginfo lookup starts a debuginfod client (elfutils 0.188 does so even
 * with no server configured), whose first use initialises libcurl and,
 * through libssh2, OpenSSL - process-wide state plus state of the calling
 * thread.  Done here instead of on the daemon's snapshot threads: that
 * cost leaves the first hang's snapshot, and no worker thread is left
 * holding OpenSSL's per-thread state at exit (LeakSanitizer saw it).  A
 * no-op without libdebuginfod. */
void mg_snapshot_prepare_process(void);

/* Takes a snapshot of pid.  Returns 0 (possibly a partial snapshot, see
 * ->partial), -ESRCH when pid does not exist, -EPERM when it may not be
 * traced; the cause is logged.  The target is never left stopped (a target
 * that was already SIGSTOPped stays stopped). */
int mg_snapshot_take(pid_t pid, const struct mg_snapshot_opts *opts, struct mg_snapshot **out);
void mg_snapshot_free(struct mg_snapshot *snap);
static inline void mg_snapshot_freep(struct mg_snapshot **snap) { mg_snapshot_free(*snap); }

/* gdb-like `thread apply all bt` text, then the summary with every I/O
 * chain: when ranked, the hang's under one heading, the idle ones under
 * another. */
void mg_snapshot_write_text(const struct mg_snapshot *snap, FILE *f);
/* The one-paragraph summary: BQL owner, cycles, I/O chains (when ranked,
 * only the hang's, and a count of the idle ones), signatures. */
void mg_snapshot_write_summary(const struct mg_snapshot *snap, FILE *f);
/* One sentence per deadlock cycle into buf ("" when none); returns buf. */
char *mg_snapshot_cycle_sentence(const struct mg_snapshot *snap, size_t cycle, char *buf,
				 size_t size);
/* The versioned JSON document (caller owns the reference). */
json_object *mg_snapshot_to_json(const struct mg_snapshot *snap);
/* Writes DIR/report.json and DIR/stacks.txt (DIR is created); 0 or -errno. */
int mg_snapshot_write_dir(const struct mg_snapshot *snap, const char *dir);

/* The thread with this tid, or NULL (threads are sorted by tid: model.h). */
const struct mg_snap_thread *mg_snapshot_thread(const struct mg_snapshot *snap, pid_t tid);
