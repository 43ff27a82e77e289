/* inline.h - the logical frames of one pc: the calls the compiler inlined
 * there, from DWARF (DW_TAG_inlined_subroutine), as gdb and `eu-stack -i`
 * show them, then the function that holds the code, from the symbol table
 * (which knows only that one). */
#pragma once

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stdint.h>

#include "snapshot/snapshot.h"

/* The logical frames of the physical frame at pc (activation: pc is exact,
 * else a return address), innermost first, into *frames (malloc'd, with
 * their strings; the caller frees both): one per inlined call
 * (inlined = true), then the holding function, as struct mg_snap_frame
 * describes.  Returns their number (>= 1; 1 without DWARF, or outside
 * inlined code), or -ENOMEM.  file:line for every frame when lines is
 * set, else only for the frames of an inline chain.  Loads the module's
 * DWARF (own or separate, through the Dwfl's find_debuginfo) on first
 * use: call it while the target runs. */
int mg_inline_frames(Dwfl *dwfl, uint64_t pc, bool activation, bool lines, struct mg_snap_frame **frames);
