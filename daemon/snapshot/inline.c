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

#include "util.h"

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;

	/* through DW_AT_abstract_origin / DW_AT_specification */
	return dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
}

static void call_site(Dwarf_Die *die, Dwarf_Files *files, size_t n_files, struct mg_inline_call *c)
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

int mg_inline_calls(Dwfl_Module *mod, Dwarf_Addr addr, struct mg_inline_call **calls)
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
