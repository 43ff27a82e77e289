/* symname.c - see symname.h. */
#include "snapshot/symname.h"

#include <ctype.h>
#include <fnmatch.h>
#include <string.h>

/* Suffix words; each may carry a ".N" (GCC numbers clones per function). */
static const char *const clone_words[] = {
	"part", "isra", "constprop", "cold", "lto_priv", "llvm", "localalias", "clone",
};

/* Length of one ".word" or ".word.N" at s, 0 when s does not start one. */
static size_t suffix_len(const char *s)
{
	size_t n;

	if (s[0] != '.')
		return 0;
	for (size_t i = 0; i < sizeof(clone_words) / sizeof(clone_words[0]); i++) {
		n = strlen(clone_words[i]);
		if (strncmp(s + 1, clone_words[i], n) != 0 || (s[1 + n] != '.' && s[1 + n] != '\0'))
			continue;
		n++;
		if (s[n] == '.' && isdigit((unsigned char)s[n + 1])) {
			n++;
			while (isdigit((unsigned char)s[n]))
				n++;
		}
		if (s[n] == '.' || s[n] == '\0')
			return n;
	}
	return 0;
}

size_t mg_symname_base_len(const char *sym)
{
	const char *dot = strchr(sym, '.');
	const char *p;

	/* C identifiers have no '.': the first one starts the suffixes, and
	 * every part after it must be a known one (else leave the name be). */
	if (!dot || dot == sym)
		return strlen(sym);
	for (p = dot; *p;) {
		size_t n = suffix_len(p);

		if (!n)
			return strlen(sym);
		p += n;
	}
	return (size_t)(dot - sym);
}

bool mg_symname_match(const char *pattern, const char *sym)
{
	char base[512];
	size_t n;

	if (fnmatch(pattern, sym, 0) == 0)
		return true;
	n = mg_symname_base_len(sym);
	if (n == strlen(sym) || n >= sizeof(base))
		return false;
	memcpy(base, sym, n);
	base[n] = '\0';
	return fnmatch(pattern, base, 0) == 0;
}
