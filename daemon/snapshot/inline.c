/* inline.c - see inline.h.
 *
 * dwarf_getscopes() gives the innermost scope at the address, but past the
 * innermost DW_TAG_inlined_subroutine it continues with the scopes of the
 * inlined function's abstract definition (libdw 0.188,
 * libdw/dwarf_getscopes.c), not with its callers: the concrete nesting
 * (lexical blocks, each inlined call, then the DW_TAG_subprogram that
 * holds the code) comes from dwarf_getscopes_die() on that innermost
 * scope.  Each inlined call is named by its DW_AT_abstract_origin
 * (dwarf_attr_integrate follows it) and says where it was called with
 * DW_AT_call_file (an index into its unit's file table) and
 * DW_AT_call_line. */
#include "snapshot/inline.h"

#include <dwarf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* One inlined call: the inlined function, and where the function around
 * it (the next one, or the holding function for the last) called it.  The
 * strings belong to the module's Dwarf (valid until dwfl_end). */
struct inline_call {
	const char *name;
	const char *call_file;	/* NULL without DW_AT_call_file */
	int call_line;
};

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;

	/* through DW_AT_abstract_origin / DW_AT_specification */
	return dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
}

static void call_site(Dwarf_Die *die, Dwarf_Files *files, size_t n_files, struct inline_call *c)
{
	Dwarf_Attribute attr;
	Dwarf_Word idx, line;

	if (files && dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &idx) == 0 && idx < n_files)
		c->call_file = dwarf_filesrc(files, idx, NULL, NULL);
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &line) == 0)
		c->call_line = (int)line;
}

static bool any_inlined(Dwarf_Die *scopes, int n)
{
	for (int i = 0; i < n; i++)
		if (dwarf_tag(&scopes[i]) == DW_TAG_inlined_subroutine)
			return true;
	return false;
}

/* The inlined calls at addr, innermost first, into *calls (malloc'd);
 * their number, 0 when there is none or no DWARF, -ENOMEM. */
static int inline_calls(Dwfl_Module *mod, Dwarf_Addr addr, struct inline_call **calls)
{
	_cleanup_free_ Dwarf_Die *scopes = NULL, *chain = NULL;
	Dwarf_Files *files = NULL;
	Dwarf_Die *cudie, cu;
	Dwarf_Addr bias;
	size_t n_files = 0, n = 0;
	int n_scopes, n_chain;

	*calls = NULL;
	/* NULL without DWARF: the stripped module's symbol table still
	 * names the containing function, as before. */
	cudie = dwfl_module_addrdie(mod, addr, &bias);
	if (!cudie)
		return 0;
	n_scopes = dwarf_getscopes(cudie, addr - bias, &scopes);
	if (n_scopes <= 0 || !any_inlined(scopes, n_scopes))
		return 0;
	n_chain = dwarf_getscopes_die(&scopes[0], &chain);
	if (n_chain <= 0)
		return 0;
	*calls = calloc(n_chain, sizeof(**calls));
	if (!*calls)
		return -ENOMEM;
	if (dwarf_diecu(&chain[0], &cu, NULL, NULL) && dwarf_getsrcfiles(&cu, &files, &n_files) != 0)
		files = NULL;
	for (int i = 0; i < n_chain; i++) {
		int tag = dwarf_tag(&chain[i]);
		const char *name;

		if (tag == DW_TAG_subprogram)
			break;
		if (tag != DW_TAG_inlined_subroutine)
			continue;	/* a lexical block */
		name = die_name(&chain[i]);
		/* An inlined call without a name cannot be shown or
		 * matched; its call site still belongs to the next one. */
		if (!name) {
			if (n > 0)
				call_site(&chain[i], files, n_files, &(*calls)[n - 1]);
			continue;
		}
		(*calls)[n].name = name;
		call_site(&chain[i], files, n_files, &(*calls)[n]);
		n++;
	}
	if (n == 0) {
		free(*calls);
		*calls = NULL;
	}
	return (int)n;
}

static char *lookup_line(Dwfl_Module *mod, Dwarf_Addr addr, int *line)
{
	Dwfl_Line *l = dwfl_module_getsrc(mod, addr);
	const char *file;

	if (!l)
		return NULL;
	file = dwfl_lineinfo(l, NULL, line, NULL, NULL, NULL);
	return file ? strdup(file) : NULL;
}

/* module, symbol and offset from the symbol table (the real name, GCC
 * clone suffixes and all); file:line from the line table when asked. */
static void symbolize_frame(Dwfl_Module *mod, Dwarf_Addr addr, struct mg_snap_frame *f, bool lines)
{
	const char *name, *sym;
	GElf_Off off;
	GElf_Sym s;

	name = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	if (name)
		f->module = strdup(name);
	sym = dwfl_module_addrinfo(mod, addr, &off, &s, NULL, NULL, NULL);
	if (sym) {
		f->symbol = strdup(sym);
		f->offset = off + (f->pc - addr);
	}
	if (lines)
		f->file = lookup_line(mod, addr, &f->line);
}

/* An inlined frame's location is the line table's at pc for the
 * innermost, else the call site recorded by the inlined call inside it;
 * the holding function's is the call site of the outermost inlined call.
 * These locations are taken even without --source-lines: the inline names
 * already cost the unit's DWARF, and a name without its place would not
 * say which call was inlined.  Frames outside inlined code are as before:
 * symbol table, lines only when asked. */
int mg_inline_frames(Dwfl *dwfl, uint64_t pc, bool activation, bool lines, struct mg_snap_frame **out)
{
	/* A return address points after the call: look up pc - 1 so that a
	 * call at the end of a function (or of an inlined block) is
	 * attributed to it. */
	Dwarf_Addr addr = activation ? pc : pc - 1;
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, addr);
	_cleanup_free_ struct inline_call *calls = NULL;
	struct mg_snap_frame *frames;
	size_t n = 0;

	if (mod) {
		int r = inline_calls(mod, addr, &calls);

		n = r > 0 ? (size_t)r : 0;
	}
	*out = frames = calloc(n + 1, sizeof(*frames));
	if (!frames)
		return -ENOMEM;
	for (size_t i = 0; i <= n; i++) {
		frames[i].pc = pc;
		frames[i].activation = activation;
	}
	if (!mod)
		return 1;
	symbolize_frame(mod, addr, &frames[n], lines && n == 0);
	for (size_t i = 0; i < n; i++) {
		struct mg_snap_frame *f = &frames[i];
		const struct inline_call *site = i > 0 ? &calls[i - 1] : NULL;

		f->inlined = true;
		f->module = frames[n].module ? strdup(frames[n].module) : NULL;
		f->symbol = strdup(calls[i].name);
		if (site) {
			f->file = site->call_file ? strdup(site->call_file) : NULL;
			f->line = site->call_line;
		} else {
			f->file = lookup_line(mod, addr, &f->line);
		}
	}
	if (n > 0 && calls[n - 1].call_file) {
		frames[n].file = strdup(calls[n - 1].call_file);
		frames[n].line = calls[n - 1].call_line;
	}
	return (int)n + 1;
}
