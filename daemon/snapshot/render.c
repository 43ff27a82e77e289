/* render.c - the gdb-like text and the JSON document of a snapshot.  The
 * JSON schema (version MG_SNAPSHOT_SCHEMA_VERSION) is documented in
 * man/migguard.1; addresses are "0x..." strings because JSON numbers lose
 * 64-bit precision in most readers.  In the text, everything the target
 * (or anyone) can choose is escaped (escape.h): thread and process names
 * (prctl(PR_SET_NAME), /proc/PID/task/TID/comm), file names behind a
 * descriptor, module paths and symbols; the JSON keeps the raw bytes, which
 * json-c escapes itself. */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "escape.h"
#include "util.h"

/* Holds any escaped thread name (struct mg_snap_thread.name). */
#define NAME_SIZE MG_ESCAPE_SIZE(sizeof(((struct mg_snap_thread *)0)->name))

/* The escaped name of thread tid, in buf (NAME_SIZE bytes). */
static const char *tname(const struct mg_snapshot *snap, pid_t tid, char *buf)
{
	const struct mg_snap_thread *t = mg_snapshot_thread(snap, tid);

	return t ? mg_escape(t->name, 0, buf, NAME_SIZE) : "?";
}

/* As gdb 13 prints a backtrace with inlined frames: the address only on
 * the innermost logical frame of each physical frame; the frames around
 * an inlined call (outer inlined calls and the holding function) show
 * just their call site, "#6  prepare_mmio_access () at file:line".
 * Without inlined frames every frame is innermost: the output is as
 * before. */
static void write_frame(const struct mg_snap_frame *f, const struct mg_snap_frame *inner, size_t k,
			FILE *out)
{
	char buf[MG_ESC_FIELD_MAX];
	const char *sym = f->symbol ? mg_escape(f->symbol, 0, buf, sizeof(buf)) : "??";

	if (inner && inner->inlined)
		fprintf(out, "#%-3zu%s ()", k, sym);
	else
		fprintf(out, "#%-3zu0x%016" PRIx64 " in %s ()", k, f->pc, sym);
	if (f->file)
		fprintf(out, " at %s:%d", mg_escape(f->file, 0, buf, sizeof(buf)), f->line);
	else if (f->module)
		fprintf(out, " from %s", mg_escape(f->module, 0, buf, sizeof(buf)));
	fputc('\n', out);
}

static void write_thread(const struct mg_snapshot *snap, const struct mg_snap_thread *t, size_t n,
			 FILE *out)
{
	char name[NAME_SIZE];

	fprintf(out, "\nThread %zu (Thread 0x%" PRIx64 " (LWP %d) \"%s\"):\n", n, t->thread_pointer,
		t->tid, mg_escape(t->name, 0, name, sizeof(name)));
	fprintf(out, "    state %c, wchan %s, wait %s", t->state, t->wchan[0] ? MG_ESC(t->wchan) : "-",
		mg_wait_kind_to_string(t->wait));
	if (t->futex_wait)
		fprintf(out, " on 0x%" PRIx64, t->futex_addr);
	if (t->owner)
		fprintf(out, " held by %s (%d)", tname(snap, t->owner, name), t->owner);
	fputc('\n', out);
	for (size_t k = 0; k < t->n_frames; k++)
		write_frame(&t->frames[k], k ? &t->frames[k - 1] : NULL, k, out);
	if (t->frames_truncated)
		fprintf(out, "(more frames: stopped at --max-frames)\n");
	if (t->unwind_error)
		fprintf(out, "(unwind: %s)\n", MG_ESC(t->unwind_error));
	if (t->kernel_worker)
		fprintf(out, "(kernel worker thread: no user stack)\n");
	if (!t->n_frames && t->kstack) {
		fprintf(out, "kernel stack:\n");
		mg_escape_fputs(t->kstack, MG_ESCAPE_MULTILINE, out);
		fputc('\n', out);
	}
}

/* "the BQL" for the BQL, "mutex 0x..." for any other lock in a cycle: the
 * BQL is the lock every reader of a QEMU deadlock looks for first. */
static const char *lock_name(const struct mg_snapshot *snap, uint64_t addr, char *buf, size_t size)
{
	if (snap->locks.bql && addr == snap->locks.bql)
		return "the BQL";
	snprintf(buf, size, "mutex 0x%" PRIx64, addr);
	return buf;
}

char *mg_snapshot_cycle_sentence(const struct mg_snapshot *snap, size_t cycle, char *buf, size_t size)
{
	const struct mg_lock_cycle *c;
	char name[NAME_SIZE], l1[32], l2[32];
	size_t len;

	buf[0] = '\0';
	if (cycle >= snap->locks.n_cycles)
		return buf;
	c = &snap->locks.cycles[cycle];
	len = snprintf(buf, size, "deadlock: %s (%d) holds %s and waits for %s", tname(snap, c->tids[0], name),
		       c->tids[0], lock_name(snap, c->addrs[c->n - 1], l1, sizeof(l1)),
		       lock_name(snap, c->addrs[0], l2, sizeof(l2)));
	for (size_t i = 1; i < c->n && len < size; i++)
		len += snprintf(buf + len, size - len, " held by %s (%d), which waits for %s",
				tname(snap, c->tids[i], name), c->tids[i],
				lock_name(snap, c->addrs[i], l1, sizeof(l1)));
	return buf;
}

static void write_bql(const struct mg_snapshot *snap, FILE *out)
{
	const struct mg_lockgraph *g = &snap->locks;
	char name[NAME_SIZE];
	size_t waiters = 0;

	if (!g->bql) {
		fprintf(out, "BQL: not identified (no thread waits for a mutex that looks like it)\n");
		return;
	}
	fprintf(out, "BQL: 0x%" PRIx64 " (%s), ", g->bql, g->bql_source);
	if (g->bql_owner)
		fprintf(out, "held by %s (%d)", tname(snap, g->bql_owner, name), g->bql_owner);
	else
		fprintf(out, "owner unknown");
	for (size_t i = 0; i < g->n_edges; i++)
		if (g->edges[i].addr == g->bql)
			fprintf(out, "%s%s (%d)", waiters++ ? ", " : "; waited for by ",
				tname(snap, g->edges[i].waiter, name), g->edges[i].waiter);
	fputc('\n', out);
}

/* Only chains that lead somewhere: sockets, pipes, files (not the
 * eventfds every QEMU thread polls). */
static bool io_shown(const struct mg_io_wait *w)
{
	return w->target && strncmp(w->target, "anon_inode:", 11) != 0;
}

static void write_io_wait(const struct mg_snapshot *snap, const struct mg_io_wait *w, FILE *out)
{
	char name[NAME_SIZE];

	fprintf(out, "I/O wait: %s (%d) fd %d %s", tname(snap, w->tid, name), w->tid, w->fd, MG_ESC(w->target));
	if (w->detail)
		fprintf(out, " (%s)", MG_ESC(w->detail));
	if (w->peer_pid)
		fprintf(out, " -> %s (%d) %s", mg_escape(w->peer_comm, 0, name, sizeof(name)), w->peer_pid,
			MG_ESC(w->peer_state));
	fputc('\n', out);
}

static void write_io_role(const struct mg_snapshot *snap, enum mg_io_role role, FILE *out)
{
	for (size_t i = 0; i < snap->n_io_waits; i++)
		if (snap->io_waits[i].role == role && io_shown(&snap->io_waits[i]))
			write_io_wait(snap, &snap->io_waits[i], out);
}

/* Unranked (no BQL owner), every chain as found.  Ranked, the hang's
 * chains first under their heading, then the idle ones under theirs
 * (all) or only their count (the summary paragraph: a reader of an
 * incident should not follow the monitor thread's sockets to libvirtd). */
static void write_io_waits(const struct mg_snapshot *snap, bool all, FILE *out)
{
	size_t n_hang = 0, n_idle = 0;

	for (size_t i = 0; i < snap->n_io_waits; i++) {
		if (!io_shown(&snap->io_waits[i]))
			continue;
		n_hang += snap->io_waits[i].role == MG_IO_HANG;
		n_idle += snap->io_waits[i].role == MG_IO_IDLE;
	}
	write_io_role(snap, MG_IO_UNRANKED, out);
	if (!n_hang && !n_idle)
		return;
	if (!n_hang)
		fprintf(out, "no I/O wait on the hang's path\n");
	else if (all)
		fprintf(out, "I/O waits on the hang's path (the BQL holder and the threads it waits for):\n");
	write_io_role(snap, MG_IO_HANG, out);
	if (all && n_idle) {
		fprintf(out, "I/O waits not on the hang's path (idle):\n");
		write_io_role(snap, MG_IO_IDLE, out);
	} else if (n_idle) {
		fprintf(out, "(+%zu idle I/O wait%s not on the hang's path)\n", n_idle, n_idle == 1 ? "" : "s");
	}
}

static void write_summary(const struct mg_snapshot *snap, bool all_io, FILE *out)
{
	char buf[1024];

	write_bql(snap, out);
	for (size_t i = 0; i < snap->locks.n_cycles; i++)
		fprintf(out, "%s\n", mg_snapshot_cycle_sentence(snap, i, buf, sizeof(buf)));
	if (snap->locks.n_cycles == 0)
		fprintf(out, "no lock cycle\n");
	write_io_waits(snap, all_io, out);
	for (size_t i = 0; i < snap->n_sigs; i++) {
		const struct mg_sig_result *s = &snap->sigs[i];

		if (s->status == MG_SIG_MATCH)
			fprintf(out, "known issue [%s]: %s\n  threads: %s\n  %s\n  fix: %s\n", s->id, s->title,
				MG_ESC(s->reason), s->explanation ? s->explanation : "", s->fix ? s->fix : "-");
		else if (s->status == MG_SIG_UNMATCHABLE)
			fprintf(out, "signature [%s] unmatchable: %s\n", s->id, MG_ESC(s->reason));
	}
	fprintf(out, "target stopped %" PRIu64 " us, snapshot took %" PRIu64 " us%s\n", snap->stopped_us,
		snap->wall_us, snap->partial ? " (partial: see notes)" : "");
	if (snap->errors) {
		fprintf(out, "notes:\n");
		mg_escape_fputs(snap->errors, MG_ESCAPE_MULTILINE, out);
	}
}

void mg_snapshot_write_summary(const struct mg_snapshot *snap, FILE *out)
{
	write_summary(snap, false, out);
}

void mg_snapshot_write_text(const struct mg_snapshot *snap, FILE *out)
{
	char when[64], comm[MG_ESCAPE_SIZE(sizeof(snap->comm))];

	fprintf(out, "Process %d \"%s\", %zu threads, captured %s\n", snap->pid,
		mg_escape(snap->comm, 0, comm, sizeof(comm)), snap->n_threads,
		mg_format_utc(snap->captured_at, when, sizeof(when)));
	for (size_t i = 0; i < snap->n_threads; i++)
		if (!snap->threads[i].gone)
			write_thread(snap, &snap->threads[i], i + 1, out);
	fprintf(out, "\nSummary:\n");
	write_summary(snap, true, out);
}

/* --- JSON ----------------------------------------------------------------- */

static json_object *jaddr(uint64_t a)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, a);
	return json_object_new_string(buf);
}

static json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *thread_json(const struct mg_snap_thread *t)
{
	json_object *o = json_object_new_object(), *frames = json_object_new_array();
	char state[2] = { t->state, 0 };

	json_object_object_add(o, "tid", json_object_new_int(t->tid));
	json_object_object_add(o, "name", json_object_new_string(t->name));
	json_object_object_add(o, "state", json_object_new_string(state));
	json_object_object_add(o, "wchan", jstr(t->wchan[0] ? t->wchan : NULL));
	if (t->in_syscall) {
		json_object *sc = json_object_new_object(), *args = json_object_new_array();

		json_object_object_add(sc, "nr", json_object_new_int64(t->syscall_nr));
		for (int i = 0; i < 6; i++)
			json_object_array_add(args, jaddr(t->args[i]));
		json_object_object_add(sc, "args", args);
		json_object_object_add(o, "syscall", sc);
	} else {
		json_object_object_add(o, "syscall", NULL);
	}
	json_object_object_add(o, "wait", json_object_new_string(mg_wait_kind_to_string(t->wait)));
	if (t->futex_wait)
		json_object_object_add(o, "futex", jaddr(t->futex_addr));
	if (t->owner)
		json_object_object_add(o, "owner", json_object_new_int(t->owner));
	for (size_t k = 0; k < t->n_frames; k++) {
		const struct mg_snap_frame *f = &t->frames[k];
		json_object *fo = json_object_new_object();

		json_object_object_add(fo, "pc", jaddr(f->pc));
		json_object_object_add(fo, "module", jstr(f->module));
		json_object_object_add(fo, "symbol", jstr(f->symbol));
		/* an inlined function has no symbol of its own to be offset into */
		json_object_object_add(fo, "offset", f->symbol && !f->inlined ?
				       json_object_new_int64((int64_t)f->offset) : NULL);
		/* only on inlined frames: readers of schema 1 see no change */
		if (f->inlined)
			json_object_object_add(fo, "inlined", json_object_new_boolean(true));
		json_object_object_add(fo, "file", jstr(f->file));
		json_object_object_add(fo, "line", f->file ? json_object_new_int(f->line) : NULL);
		json_object_array_add(frames, fo);
	}
	json_object_object_add(o, "frames", frames);
	if (t->unwind_error)
		json_object_object_add(o, "unwind_error", jstr(t->unwind_error));
	if (t->kstack)
		json_object_object_add(o, "kernel_stack", jstr(t->kstack));
	if (t->kernel_worker)
		json_object_object_add(o, "kernel_worker", json_object_new_boolean(true));
	return o;
}

static json_object *locks_json(const struct mg_snapshot *snap)
{
	const struct mg_lockgraph *g = &snap->locks;
	json_object *o = json_object_new_object(), *edges = json_object_new_array(),
		    *cycles = json_object_new_array();
	char buf[1024];

	json_object_object_add(o, "bql", g->bql ? jaddr(g->bql) : NULL);
	json_object_object_add(o, "bql_source", jstr(g->bql_source));
	json_object_object_add(o, "bql_owner", g->bql_owner ? json_object_new_int(g->bql_owner) : NULL);
	for (size_t i = 0; i < g->n_edges; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "waiter", json_object_new_int(g->edges[i].waiter));
		json_object_object_add(e, "owner", json_object_new_int(g->edges[i].owner));
		json_object_object_add(e, "addr", jaddr(g->edges[i].addr));
		json_object_object_add(e, "kind", json_object_new_string(mg_wait_kind_to_string(g->edges[i].kind)));
		json_object_array_add(edges, e);
	}
	for (size_t i = 0; i < g->n_cycles; i++) {
		json_object *c = json_object_new_object(), *tids = json_object_new_array(),
			    *addrs = json_object_new_array();

		for (size_t k = 0; k < g->cycles[i].n; k++) {
			json_object_array_add(tids, json_object_new_int(g->cycles[i].tids[k]));
			json_object_array_add(addrs, jaddr(g->cycles[i].addrs[k]));
		}
		json_object_object_add(c, "threads", tids);
		json_object_object_add(c, "waits_for", addrs);
		json_object_object_add(c, "sentence", json_object_new_string(
			mg_snapshot_cycle_sentence(snap, i, buf, sizeof(buf))));
		json_object_array_add(cycles, c);
	}
	json_object_object_add(o, "edges", edges);
	json_object_object_add(o, "cycles", cycles);
	return o;
}

static json_object *io_json(const struct mg_io_wait *w)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "tid", json_object_new_int(w->tid));
	json_object_object_add(o, "fd", json_object_new_int(w->fd));
	json_object_object_add(o, "target", jstr(w->target));
	json_object_object_add(o, "detail", jstr(w->detail));
	/* absent when unranked: readers of schema 1 see no change */
	if (w->role != MG_IO_UNRANKED)
		json_object_object_add(o, "role", json_object_new_string(w->role == MG_IO_HANG ? "hang" : "idle"));
	if (w->peer_pid) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "pid", json_object_new_int(w->peer_pid));
		json_object_object_add(p, "comm", json_object_new_string(w->peer_comm));
		json_object_object_add(p, "state", json_object_new_string(w->peer_state));
		json_object_object_add(o, "peer", p);
	} else {
		json_object_object_add(o, "peer", NULL);
	}
	return o;
}

static json_object *sig_json(const struct mg_sig_result *s)
{
	static const char *const status[] = { "no-match", "match", "unmatchable" };
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", jstr(s->id));
	json_object_object_add(o, "title", jstr(s->title));
	json_object_object_add(o, "status", json_object_new_string(status[s->status]));
	json_object_object_add(o, "reason", jstr(s->reason));
	json_object_object_add(o, "explanation", jstr(s->explanation));
	json_object_object_add(o, "fix", jstr(s->fix));
	return o;
}

json_object *mg_snapshot_to_json(const struct mg_snapshot *snap)
{
	json_object *o = json_object_new_object(), *threads = json_object_new_array(),
		    *io = json_object_new_array(), *sigs = json_object_new_array();
	char when[64];

	json_object_object_add(o, "schema_version", json_object_new_int(MG_SNAPSHOT_SCHEMA_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(snap->pid));
	json_object_object_add(o, "comm", json_object_new_string(snap->comm));
	json_object_object_add(o, "captured_at", json_object_new_string(
		mg_format_utc(snap->captured_at, when, sizeof(when))));
	json_object_object_add(o, "stopped_us", json_object_new_int64((int64_t)snap->stopped_us));
	json_object_object_add(o, "wall_us", json_object_new_int64((int64_t)snap->wall_us));
	json_object_object_add(o, "was_stopped", json_object_new_boolean(snap->was_stopped));
	json_object_object_add(o, "partial", json_object_new_boolean(snap->partial));
	json_object_object_add(o, "notes", jstr(snap->errors));
	for (size_t i = 0; i < snap->n_threads; i++)
		if (!snap->threads[i].gone)
			json_object_array_add(threads, thread_json(&snap->threads[i]));
	json_object_object_add(o, "threads", threads);
	json_object_object_add(o, "locks", locks_json(snap));
	for (size_t i = 0; i < snap->n_io_waits; i++)
		json_object_array_add(io, io_json(&snap->io_waits[i]));
	json_object_object_add(o, "io_waits", io);
	for (size_t i = 0; i < snap->n_sigs; i++)
		json_object_array_add(sigs, sig_json(&snap->sigs[i]));
	json_object_object_add(o, "signatures", sigs);
	return o;
}

int mg_snapshot_write_dir(const struct mg_snapshot *snap, const char *dir)
{
	char path[4096];
	json_object *doc;
	_cleanup_fclose_ FILE *f = NULL;
	int r;

	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/report.json", dir);
	doc = mg_snapshot_to_json(snap);
	r = json_object_to_file_ext(path, doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(doc);
	if (r < 0)
		return -EIO;
	snprintf(path, sizeof(path), "%s/stacks.txt", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	mg_snapshot_write_text(snap, f);
	return fflush(f) == 0 ? 0 : -errno;
}
