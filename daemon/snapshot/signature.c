/* signature.c - see signature.h; the file format is documented in
 * conf/signatures/README. */
#include "snapshot/signature.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "snapshot/symname.h"
#include "util.h"

#define MG_SIG_MAX_CLAUSES 4
#define MG_SIG_MAX_FRAMES 16

enum clause_wait { CW_ANY, CW_MUTEX, CW_CONDVAR, CW_IO, CW_BQL };

struct clause {
	char *thread;			/* fnmatch pattern on the thread name */
	char *frames[MG_SIG_MAX_FRAMES];	/* caller first; "a|b" alternatives */
	bool may_inline[MG_SIG_MAX_FRAMES];	/* "(f)": invisible without debug info */
	size_t n_frames;
	enum clause_wait wait;
	bool holds_bql;
	int owner;			/* 1-based clause whose thread owns our mutex */
};

struct mg_signature {
	char *id, *title, *explanation, *fix;
	struct clause clauses[MG_SIG_MAX_CLAUSES];
	size_t n_clauses;
};

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Appends to a multi-line text field (explanation lines are joined). */
static int append_text(char **field, const char *v)
{
	char *n;

	if (!*field)
		return (*field = strdup(v)) ? 0 : -ENOMEM;
	if (asprintf(&n, "%s %s", *field, v) < 0)
		return -ENOMEM;
	free(*field);
	*field = n;
	return 0;
}

/* One item of "frames:": a pattern, or "(pattern)" for a function the
 * compiler may have inlined into its caller. */
static int parse_frame_item(struct clause *cl, char *item)
{
	char *p = trim(item);
	size_t len = strlen(p);
	bool inl = len >= 2 && p[0] == '(' && p[len - 1] == ')';

	if (inl) {
		p[len - 1] = '\0';
		p = trim(p + 1);
	}
	if (!*p || strpbrk(p, "()"))
		return -EINVAL;
	if (cl->n_frames == MG_SIG_MAX_FRAMES)
		return -E2BIG;
	cl->may_inline[cl->n_frames] = inl;
	return (cl->frames[cl->n_frames++] = strdup(p)) ? 0 : -ENOMEM;
}

static int parse_frames(struct clause *cl, char *v)
{
	char *save = NULL;
	int r;

	for (char *tok = strtok_r(v, ">", &save); tok; tok = strtok_r(NULL, ">", &save))
		if ((r = parse_frame_item(cl, tok)) < 0)
			return r;
	return cl->n_frames ? 0 : -EINVAL;
}

static int parse_wait(struct clause *cl, const char *v)
{
	static const char *const names[] = {
		[CW_ANY] = "any", [CW_MUTEX] = "mutex", [CW_CONDVAR] = "condvar", [CW_IO] = "io",
		[CW_BQL] = "bql",
	};

	for (size_t i = 0; i < MG_ARRAY_SIZE(names); i++)
		if (strcmp(v, names[i]) == 0) {
			cl->wait = (enum clause_wait)i;
			return 0;
		}
	return -EINVAL;
}

static int parse_line(struct mg_signature *s, const char *key, char *v)
{
	struct clause *cl = s->n_clauses ? &s->clauses[s->n_clauses - 1] : NULL;
	long long n;

	if (strcmp(key, "title") == 0)
		return append_text(&s->title, v);
	if (strcmp(key, "explanation") == 0)
		return append_text(&s->explanation, v);
	if (strcmp(key, "fix") == 0)
		return append_text(&s->fix, v);
	if (strcmp(key, "thread") == 0) {
		if (s->n_clauses == MG_SIG_MAX_CLAUSES)
			return -E2BIG;
		cl = &s->clauses[s->n_clauses++];
		return (cl->thread = strdup(v)) ? 0 : -ENOMEM;
	}
	if (!cl)
		return -EINVAL;	/* clause keys before the first "thread:" */
	if (strcmp(key, "frames") == 0)
		return parse_frames(cl, v);
	if (strcmp(key, "wait") == 0)
		return parse_wait(cl, v);
	if (strcmp(key, "holds") == 0 && strcmp(v, "bql") == 0)
		return (cl->holds_bql = true) ? 0 : 0;
	if (strcmp(key, "owner") == 0 && mg_parse_int(v, 1, MG_SIG_MAX_CLAUSES, &n) == 0)
		return (cl->owner = (int)n) ? 0 : 0;
	return -EINVAL;
}

static int grow(struct mg_signature **sigs, size_t *n)
{
	struct mg_signature *ns = realloc(*sigs, (*n + 1) * sizeof(**sigs));

	if (!ns)
		return -ENOMEM;
	memset(&ns[*n], 0, sizeof(ns[*n]));
	*sigs = ns;
	(*n)++;
	return 0;
}

int mg_signatures_parse(const char *name, const char *text, struct mg_signature **sigs, size_t *n_sigs)
{
	_cleanup_free_ char *copy = strdup(text);
	char *save = NULL, *line;
	unsigned lineno = 0;
	size_t first = *n_sigs;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *l = trim(line), *colon, *key;

		lineno++;
		if (!*l || *l == '#')
			continue;
		colon = strchr(l, ':');
		if (!colon) {
			r = -EINVAL;
			break;
		}
		*colon = '\0';
		key = trim(l);
		if (strcmp(key, "id") == 0) {
			if ((r = grow(sigs, n_sigs)) < 0)
				break;
			if (!((*sigs)[*n_sigs - 1].id = strdup(trim(colon + 1)))) {
				r = -ENOMEM;
				break;
			}
			continue;
		}
		if (*n_sigs == first || (r = parse_line(&(*sigs)[*n_sigs - 1], key, trim(colon + 1))) < 0) {
			r = r < 0 ? r : -EINVAL;
			break;
		}
	}
	for (size_t i = first; r == 0 && i < *n_sigs; i++)
		if (!(*sigs)[i].title || !(*sigs)[i].n_clauses) {
			lineno = 0;
			r = mg_log_errno(LOG_ERR, EINVAL, "%s: signature %s: needs title: and thread:", name,
					 (*sigs)[i].id);
		}
	if (r < 0 && lineno)
		mg_error("%s:%u: %s", name, lineno,
			 r == -EINVAL ? "expected KEY: VALUE (see conf/signatures/README)" : strerror(-r));
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int mg_signatures_load(const char *dir, struct mg_signature **out, size_t *n_out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *names[256];
	size_t n = 0;
	int r = 0;

	*out = NULL;
	*n_out = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < MG_ARRAY_SIZE(names)) {
		size_t len = strlen(de->d_name);

		if (len > 4 && strcmp(de->d_name + len - 4, ".sig") == 0 && (names[n] = strdup(de->d_name)))
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[4096], text[65536];
		ssize_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		len = mg_read_file(path, text, sizeof(text));
		if (len < 0)
			r = mg_error_errno(len, "%s", path);
		else if (r == 0)
			r = mg_signatures_parse(path, text, out, n_out);
		free(names[i]);
	}
	return r;
}

static void clause_free(struct clause *cl)
{
	free(cl->thread);
	for (size_t k = 0; k < cl->n_frames; k++)
		free(cl->frames[k]);
}

void mg_signatures_free(struct mg_signature *sigs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(sigs[i].id);
		free(sigs[i].title);
		free(sigs[i].explanation);
		free(sigs[i].fix);
		for (size_t c = 0; c < sigs[i].n_clauses; c++)
			clause_free(&sigs[i].clauses[c]);
	}
	free(sigs);
}

/* --- matching ------------------------------------------------------------ */

static bool alt_match(const char *alts, const char *sym)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", alts);
	for (char *a = strtok_r(buf, "|", &save); a; a = strtok_r(NULL, "|", &save))
		if (mg_symname_match(trim(a), sym))
			return true;
	return false;
}

/* Debug info is per module: a QEMU stripped of DWARF runs on a libc whose
 * debug file may be installed (libc6-dbg).  A module has it on this stack
 * when one of its frames is an inlined call or carries a source line. */
static bool module_has_debuginfo(const struct mg_snap_thread *t, const char *module)
{
	for (size_t i = 0; i < t->n_frames; i++)
		if ((t->frames[i].inlined || t->frames[i].file) && t->frames[i].module && module &&
		    strcmp(t->frames[i].module, module) == 0)
			return true;
	return false;
}

/* Patterns k.. in order among frames i-1 down to 0 (outermost first).  A
 * "(f)" pattern may be skipped only where f's code would sit in a module
 * without debug info: an inlined f then leaves no trace, while where debug
 * info shows inlined calls, f missing is a different stack.  That module is
 * the caller's (the frame the previous pattern matched, at prev), or for a
 * first pattern the callee's: then bare_next asks the next match for it. */
static bool frames_from(const struct clause *cl, size_t k, const struct mg_snap_thread *t, size_t i,
			size_t prev, bool bare_next)
{
	if (k == cl->n_frames)
		return true;
	if (cl->may_inline[k]) {
		if (prev == SIZE_MAX && frames_from(cl, k + 1, t, i, prev, true))
			return true;
		if (prev != SIZE_MAX && !module_has_debuginfo(t, t->frames[prev].module) &&
		    frames_from(cl, k + 1, t, i, prev, false))
			return true;
	}
	while (i-- > 0)
		if (t->frames[i].symbol && alt_match(cl->frames[k], t->frames[i].symbol)) {
			if (bare_next && module_has_debuginfo(t, t->frames[i].module))
				return false;
			return frames_from(cl, k + 1, t, i, i, false);
		}
	return false;
}

/* The patterns, caller first, appear in that order from the outermost
 * frame inwards; other frames may come in between (wrappers, inlined
 * helpers).  Taking the outermost frame each pattern matches is never
 * worse than a later one, so only "(f)" items branch. */
static bool frames_match(const struct clause *cl, const struct mg_snap_thread *t)
{
	return frames_from(cl, 0, t, t->n_frames, SIZE_MAX, false);
}

static bool state_match(const struct clause *cl, const struct mg_snap_thread *t,
			const struct mg_snapshot *snap)
{
	bool mutex = t->wait == MG_WAIT_MUTEX || t->wait == MG_WAIT_MUTEX_PI;

	if (cl->holds_bql && (!snap->locks.bql || snap->locks.bql_owner != t->tid))
		return false;
	switch (cl->wait) {
	case CW_MUTEX: return mutex;
	case CW_CONDVAR: return t->wait == MG_WAIT_CONDVAR;
	case CW_IO: return t->wait == MG_WAIT_IO;
	case CW_BQL: return mutex && snap->locks.bql && t->futex_addr == snap->locks.bql;
	default: return true;
	}
}

static bool clause_match(const struct clause *cl, const struct mg_snap_thread *t,
			 const struct mg_snapshot *snap)
{
	return !t->gone && fnmatch(cl->thread, t->name, 0) == 0 && frames_match(cl, t) &&
	       state_match(cl, t, snap);
}

/* Backtracking over threads, one distinct thread per clause; then the
 * owner: constraints between the chosen threads. */
static bool assign(const struct mg_signature *s, const struct mg_snapshot *snap, size_t ci,
		   const struct mg_snap_thread **chosen)
{
	if (ci == s->n_clauses) {
		for (size_t c = 0; c < s->n_clauses; c++) {
			int o = s->clauses[c].owner;

			if (o && ((size_t)o > s->n_clauses || chosen[c]->owner != chosen[o - 1]->tid))
				return false;
		}
		return true;
	}
	for (size_t i = 0; i < snap->n_threads; i++) {
		const struct mg_snap_thread *t = &snap->threads[i];
		bool used = false;

		for (size_t c = 0; c < ci; c++)
			used |= chosen[c] == t;
		if (used || !clause_match(&s->clauses[ci], t, snap))
			continue;
		chosen[ci] = t;
		if (assign(s, snap, ci + 1, chosen))
			return true;
	}
	return false;
}

/* True when no frame of t in module has a symbol: the module is stripped
 * to the bone (no .symtab, no exported .dynsym entry on this stack), so
 * absence of a pattern proves nothing.  A module with some symbols (Debian's
 * QEMU exports its global functions) is judged on those. */
static bool module_bare(const struct mg_snap_thread *t, const char *module)
{
	for (size_t k = 0; k < t->n_frames; k++)
		if (t->frames[k].symbol && t->frames[k].module && module &&
		    strcmp(t->frames[k].module, module) == 0)
			return false;
	return true;
}

static bool clause_satisfiable(const struct clause *cl, const struct mg_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_threads; i++)
		if (clause_match(cl, &snap->threads[i], snap))
			return true;
	return false;
}

/* Why a clause could not be decided: a thread with the right name whose
 * stack runs through a module without any symbol, or has no stack. */
static char *unmatchable_reason(const struct clause *cl, const struct mg_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_threads; i++) {
		const struct mg_snap_thread *t = &snap->threads[i];
		size_t bare = 0;
		const char *module = NULL;
		char *reason = NULL;

		if (t->gone || fnmatch(cl->thread, t->name, 0) != 0 || clause_match(cl, t, snap))
			continue;
		for (size_t k = 0; k < t->n_frames; k++)
			if (!t->frames[k].symbol && module_bare(t, t->frames[k].module)) {
				bare++;
				module = module ? module : t->frames[k].module;
			}
		if (t->n_frames == 0)
			asprintf(&reason, "thread %s (%d) has no stack (%s)", t->name, t->tid,
				 t->unwind_error ? t->unwind_error : "not unwound");
		else if (bare)
			asprintf(&reason, "thread %s (%d): %zu of %zu frames have no symbol (%s: stripped, "
				 "no debuginfo found)", t->name, t->tid, bare, t->n_frames,
				 module ? module : "no module");
		if (reason)
			return reason;
	}
	return NULL;
}

static void match_one(const struct mg_signature *s, struct mg_snapshot *snap, struct mg_sig_result *res)
{
	const struct mg_snap_thread *chosen[MG_SIG_MAX_CLAUSES];
	char buf[512] = "";
	size_t len = 0;

	res->id = strdup(s->id);
	res->title = strdup(s->title);
	res->explanation = s->explanation ? strdup(s->explanation) : NULL;
	res->fix = s->fix ? strdup(s->fix) : NULL;
	if (assign(s, snap, 0, chosen)) {
		res->status = MG_SIG_MATCH;
		for (size_t c = 0; c < s->n_clauses && len < sizeof(buf); c++)
			len += snprintf(buf + len, sizeof(buf) - len, "%s%s (%d)", c ? ", " : "",
					chosen[c]->name, chosen[c]->tid);
		res->reason = strdup(buf);
		return;
	}
	/* A clause that fails on threads whose stacks can be read decides
	 * "no match" on its own; only when every failing clause is blocked by
	 * missing symbols is the signature "unmatchable". */
	res->status = MG_SIG_NO_MATCH;
	for (size_t c = 0; c < s->n_clauses; c++) {
		char *why;

		if (clause_satisfiable(&s->clauses[c], snap))
			continue;
		why = unmatchable_reason(&s->clauses[c], snap);
		if (!why) {
			free(res->reason);
			res->reason = NULL;
			res->status = MG_SIG_NO_MATCH;
			return;
		}
		if (res->status != MG_SIG_UNMATCHABLE) {
			res->status = MG_SIG_UNMATCHABLE;
			res->reason = why;
		} else {
			free(why);
		}
	}
}

int mg_signatures_match(const struct mg_signature *sigs, size_t n, struct mg_snapshot *snap)
{
	struct mg_sig_result *nr;

	if (n == 0)
		return 0;
	nr = realloc(snap->sigs, (snap->n_sigs + n) * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	snap->sigs = nr;
	for (size_t i = 0; i < n; i++) {
		struct mg_sig_result *res = &snap->sigs[snap->n_sigs++];

		memset(res, 0, sizeof(*res));
		match_one(&sigs[i], snap, res);
	}
	return 0;
}

