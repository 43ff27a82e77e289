/* escape.h - text that came from outside, made safe to print on a
 * terminal.  Thread names (any thread may set its own with
 * prctl(PR_SET_NAME) or /proc/self/task/TID/comm), domain names, file
 * names behind a descriptor and whatever sits in a report.json or
 * status.json can hold ESC and other control bytes that a terminal would
 * obey: move the cursor, retitle the window, hide or forge lines.
 *
 * Escaped as \xNN, one per byte: C0 controls (0x01-0x1f), DEL (0x7f), C1
 * controls in their UTF-8 form (U+0080-U+009F: some terminals take
 * "\xc2\x9b" as CSI) and every byte that is not part of well-formed UTF-8
 * (a lone 0x9b is CSI to an 8-bit terminal).  Anything else, backslash
 * included, is copied as is, so escaping is idempotent: text escaped by the
 * daemon (stacks.txt, the incident summary) and escaped again by the CLI
 * reads the same. */
#pragma once

#include <stdio.h>
#include <stddef.h>

/* Keep '\n' (multi-line text: a summary, a kernel stack); '\t' is kept
 * with it.  Without it both are escaped too (one-line fields). */
#define MG_ESCAPE_MULTILINE 1u

/* The size that always holds an escaped string of n bytes (each byte
 * becomes at most 4) and its NUL. */
#define MG_ESCAPE_SIZE(n) (4 * (n) + 1)

/* Writes s (NULL reads as "") escaped into buf, NUL-terminated, always
 * bounded by size; output that does not fit is cut at a character
 * boundary and ends with "...".  Returns buf. */
const char *mg_escape(const char *s, unsigned flags, char *buf, size_t size);

/* Writes s (NULL reads as "") escaped to f, whatever its length. */
void mg_escape_fputs(const char *s, unsigned flags, FILE *f);

/* A one-line field escaped into a buffer that lives until the end of the
 * enclosing block, for printf arguments: printf("%s", MG_ESC(name)).
 * Longer output is cut with "..." (use mg_escape_fputs for long text). */
#define MG_ESC_FIELD_MAX 1024
#define MG_ESC(s) mg_escape((s), 0, (char[MG_ESC_FIELD_MAX]){ 0 }, MG_ESC_FIELD_MAX)
