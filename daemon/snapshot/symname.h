/* symname.h - function names as a compiler leaves them in a binary.
 *
 * GCC and clang emit specialised copies of a function under its name plus a
 * suffix: "bdrv_do_drained_begin.part.0" (partial inlining), ".isra.N"
 * (scalar replacement of arguments), ".constprop.N" (constant propagation),
 * ".cold" (the unlikely half split off), ".lto_priv.N" (a static under
 * LTO), clang's ".llvm.N", and combinations.  Which copy a build has depends
 * on its compiler and flags, so signatures name the function and the
 * matcher compares against the name without these suffixes.  Reports keep
 * the real name. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Length of sym without its trailing clone suffixes (strlen(sym) when it
 * has none, or when what follows the first '.' is not a known suffix). */
size_t mg_symname_base_len(const char *sym);

/* True when the fnmatch(3) pattern matches sym, or sym without its clone
 * suffixes (so "foo" matches "foo.part.0" and "foo.part.*" still works). */
bool mg_symname_match(const char *pattern, const char *sym);
