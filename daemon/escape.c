/* escape.c - see escape.h. */
#include "escape.h"

#include <stdbool.h>
#include <string.h>

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* How the character at s is written: *len bytes of s, escaped (each as
 * \xNN) or copied. */
static bool must_escape(const unsigned char *s, unsigned flags, size_t *len)
{
	size_t n = utf8_len(s);

	if (n == 0) {
		*len = 1;
		return true;
	}
	*len = n;
	if (n == 1)
		return (s[0] < 0x20 || s[0] == 0x7f) &&
		       !((flags & MG_ESCAPE_MULTILINE) && (s[0] == '\n' || s[0] == '\t'));
	/* U+0080-U+009F, the C1 controls. */
	return n == 2 && s[0] == 0xc2 && s[1] <= 0x9f;
}

/* Calls out(piece, len, ctx) for each piece of the escaped text; stops
 * when it returns false. */
static void escape_each(const char *str, unsigned flags, bool (*out)(const char *, size_t, void *), void *ctx)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	while (*s) {
		size_t len;

		if (must_escape(s, flags, &len)) {
			char e[4 * 4];

			for (size_t i = 0; i < len; i++) {
				e[4 * i] = '\\';
				e[4 * i + 1] = 'x';
				e[4 * i + 2] = hex[s[i] >> 4];
				e[4 * i + 3] = hex[s[i] & 0xf];
			}
			if (!out(e, 4 * len, ctx))
				return;
		} else if (!out((const char *)s, len, ctx)) {
			return;
		}
		s += len;
	}
}

struct buf_ctx {
	char *buf;
	size_t size, len;
	size_t mark;		/* the last piece boundary with room for "..." */
	bool cut;
};

/* Whole pieces only (a character, or one escaped byte's \xNN): a piece
 * that does not fit with the NUL ends the output. */
static bool to_buf(const char *piece, size_t len, void *p)
{
	struct buf_ctx *b = p;

	if (b->len + len + 1 > b->size) {
		b->cut = true;
		return false;
	}
	memcpy(b->buf + b->len, piece, len);
	b->len += len;
	if (b->len + 4 <= b->size)
		b->mark = b->len;
	return true;
}

const char *mg_escape(const char *s, unsigned flags, char *buf, size_t size)
{
	struct buf_ctx b = { .buf = buf, .size = size };

	if (size == 0)
		return buf;
	escape_each(s, flags, to_buf, &b);
	if (b.cut) {
		b.len = b.mark;
		if (b.len + 4 <= size) {
			memcpy(buf + b.len, "...", 3);
			b.len += 3;
		}
	}
	buf[b.len] = '\0';
	return buf;
}

static bool to_file(const char *piece, size_t len, void *f)
{
	return fwrite(piece, 1, len, f) == len;
}

void mg_escape_fputs(const char *s, unsigned flags, FILE *f)
{
	escape_each(s, flags, to_file, f);
}
