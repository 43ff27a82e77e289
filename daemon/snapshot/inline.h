/* inline.h - the calls the compiler inlined at an address, from DWARF
 * (DW_TAG_inlined_subroutine), as gdb and `eu-stack -i` show them.  The
 * symbol table knows only the function the code was inlined into. */
#pragma once

#include <elfutils/libdwfl.h>
#include <stddef.h>

/* One inlined call: the inlined function, and where the function around
 * it (the next entry, or the containing function for the last) called it.
 * The strings belong to the module's Dwarf (valid until dwfl_end). */
struct mg_inline_call {
	const char *name;
	const char *call_file;	/* NULL when the DIE has no DW_AT_call_file */
	int call_line;
};

/* The inlined calls at addr (a module address as dwfl_addrmodule takes
 * it), innermost first, into *calls (malloc'd, caller frees).  Returns
 * their number: 0 when addr is in no inlined code, when the module has no
 * DWARF (neither in its file nor in a debug file the module's debuginfo
 * callback finds) or when the DWARF cannot be read; -ENOMEM.  Loads the
 * module's DWARF on first use: call it while the target runs. */
int mg_inline_calls(Dwfl_Module *mod, Dwarf_Addr addr, struct mg_inline_call **calls);
