/* qmpwire.c - see qmpwire.h. */
#include "qmpwire.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* QEMU's replies nest a few levels (query-block ~6); json-c's default is 32. */
#define JSON_DEPTH 64

int mg_qmpwire_init(struct mg_qmpwire *w, size_t max_message)
{
	*w = (struct mg_qmpwire){ .max_message = max_message };
	w->tok = json_tokener_new_ex(JSON_DEPTH);
	if (!w->tok)
		return -ENOMEM;
	json_tokener_set_flags(w->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	return 0;
}

void mg_qmpwire_done(struct mg_qmpwire *w)
{
	if (w->tok)
		json_tokener_free(w->tok);
	w->tok = NULL;
	free(w->out);
	w->out = NULL;
	w->out_len = w->out_off = w->out_cap = 0;
}

void mg_qmpwire_reset(struct mg_qmpwire *w)
{
	json_tokener_reset(w->tok);
	w->msg_bytes = 0;
	w->out_len = w->out_off = 0;
}

int mg_qmpwire_queue_text(struct mg_qmpwire *w, const char *s, size_t len)
{
	size_t need;

	if (w->out_off > 0 && w->out_off == w->out_len)
		w->out_off = w->out_len = 0;
	need = w->out_len + len + 1;
	if (need > MG_QMPWIRE_MAX_OUTPUT)
		return -ENOBUFS;
	if (need > w->out_cap) {
		size_t cap = w->out_cap ? w->out_cap : 256;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(w->out, cap);
		if (!p)
			return -ENOMEM;
		w->out = p;
		w->out_cap = cap;
	}
	memcpy(w->out + w->out_len, s, len);
	w->out[w->out_len + len] = '\n';
	w->out_len = need;
	return 0;
}

int mg_qmpwire_queue(struct mg_qmpwire *w, json_object *msg)
{
	const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		return -ENOMEM;
	return mg_qmpwire_queue_text(w, s, strlen(s));
}

int mg_qmpwire_flush(struct mg_qmpwire *w, int fd)
{
	while (w->out_off < w->out_len) {
		ssize_t n = send(fd, w->out + w->out_off, w->out_len - w->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		w->out_off += (size_t)n;
	}
	if (w->out_off == w->out_len)
		w->out_off = w->out_len = 0;
	return 0;
}

bool mg_qmpwire_pending(const struct mg_qmpwire *w)
{
	return w->out_off < w->out_len;
}

int mg_qmpwire_next(struct mg_qmpwire *w, const char *buf, size_t len, size_t *used,
		    json_object **msg, const char **error)
{
	json_object *o = json_tokener_parse_ex(w->tok, buf, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(w->tok);

	*used = json_tokener_get_parse_end(w->tok);
	*msg = NULL;
	*error = NULL;
	/* Counted across calls: a peer that never closes its message must not
	 * grow the tokener's buffer without end. */
	w->msg_bytes += *used;
	if (w->msg_bytes > w->max_message) {
		json_object_put(o);
		return -EMSGSIZE;
	}
	if (!o) {
		if (jerr == json_tokener_continue)
			return 0;
		*error = json_tokener_error_desc(jerr);
		return -EBADMSG;
	}
	w->msg_bytes = 0;
	*msg = o;
	return 1;
}
