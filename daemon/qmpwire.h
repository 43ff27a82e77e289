/* qmpwire.h - the bytes of one QMP connection, below the protocol: the
 * bounded output queue and the splitter of the input into JSON messages.
 *
 * One struct mg_qmpwire is embedded in each struct mg_qmp; it never touches
 * the event loop and logs nothing: it returns negative errno values and the
 * tokener's own error text, and the owner logs them once, naming its peer.
 *
 * QEMU's wire format (docs/interop/qmp-spec, 7.2): JSON objects back to back,
 * each ended with "\r\n" or spread over lines with pretty=on; so the input
 * goes through json-c's streaming tokener rather than a line splitter.  QEMU
 * reads commands the same way and needs no separator; we end ours with "\n"
 * for whoever reads a capture. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

/* Output queued and not yet written, past which mg_qmpwire_queue() refuses
 * with -ENOBUFS.  Our own commands are small and bounded by the client's
 * request limits; this only guards against a peer that never reads. */
#define MG_QMPWIRE_MAX_OUTPUT (1024u * 1024)

struct mg_qmpwire {
	json_tokener *tok;
	size_t max_message;		/* input bytes one message may take */
	size_t msg_bytes;		/* input fed into the message being parsed */
	char *out;			/* kept across messages: grows, never shrinks */
	size_t out_len, out_off;	/* queued bytes, and how many are written */
	size_t out_cap;
};

/* Prepares w (zeroed or not) for messages of at most max_message bytes.
 * 0 or -ENOMEM; mg_qmpwire_done() is safe either way. */
int mg_qmpwire_init(struct mg_qmpwire *w, size_t max_message);
/* Frees what w holds. */
void mg_qmpwire_done(struct mg_qmpwire *w);
/* Forgets a partial input message and any unwritten output: a new
 * connection starts clean. */
void mg_qmpwire_reset(struct mg_qmpwire *w);

/* Appends msg, serialised plain, and "\n" to the output.  Writes nothing:
 * the owner flushes when its socket is writable.  0, -ENOMEM, or -ENOBUFS
 * over MG_QMPWIRE_MAX_OUTPUT. */
int mg_qmpwire_queue(struct mg_qmpwire *w, json_object *msg);
/* The same for a message the caller serialised itself (len bytes of s,
 * without the "\n"). */
int mg_qmpwire_queue_text(struct mg_qmpwire *w, const char *s, size_t len);
/* Writes queued output to the non-blocking socket fd until it is all written
 * or the socket is full (EAGAIN).  0 or the send() error as -errno (EPIPE
 * without SIGPIPE when the peer is gone). */
int mg_qmpwire_flush(struct mg_qmpwire *w, int fd);
/* True while queued output is not yet written: the owner waits for
 * EPOLLOUT. */
bool mg_qmpwire_pending(const struct mg_qmpwire *w);

/* Feeds input from buf (len > 0) to the tokener until one message is
 * complete.  *used is the bytes of buf consumed in every case; the rest of
 * buf belongs to the next call.  Returns 1 with *msg the message (the caller
 * puts it), 0 when all of buf went into a message not yet complete,
 * -EMSGSIZE when the message has taken more than max_message bytes, or
 * -EBADMSG when the input is not JSON (a top-level JSON null included: it
 * parses to no object), with *error the tokener's description for the
 * owner's log line.  After an error the owner drops the connection: the
 * input is not resynchronised. */
int mg_qmpwire_next(struct mg_qmpwire *w, const char *buf, size_t len, size_t *used,
		    json_object **msg, const char **error);
