/* fuzz_qmp - the QMP transport (daemon/qmp.c): the input is what the
 * monitor socket delivers, fed through a socketpair into the real client
 * on a real sd-event loop.  Once the handshake is done the client has
 * requests outstanding (ids mg-2 ... in order: query-status, query-migrate
 * with a 1 ms deadline, and out-of-band query-yank when "oob" was offered),
 * so replies, errors, late replies and events all reach their code.
 *
 * Byte 0 steers the harness, the rest is the stream:
 *   bits 0-5  chunk size in 16-byte units (0: the whole stream at once), so
 *             messages split across reads;
 *   bit 6     keep the socket open at the end (else EOF);
 *   bit 7     wait 2 ms at the end so deadlines fire.
 * Every loop run is bounded: an input cannot make the harness spin.  Each
 * request's callback must run exactly once, and never from inside
 * mg_qmp_execute() (qmp.h). */
#include "qmp.h"
#include "util.h"
#include "fuzz.h"

#include <sys/socket.h>

#define MAX_RUNS 64		/* loop dispatches after each chunk */

struct state {
	struct mg_qmp *q;
	int ready, closed, events, replies, sent;
	bool in_execute;
};

/* qmp.h: a request's callback runs exactly once, never from inside
 * mg_qmp_execute(); the harness counts. */
static void execute(struct state *st, const char *cmd, json_object *args, bool oob, uint64_t timeout);

static void on_reply(struct mg_qmp *q, int err, json_object *reply, void *userdata)
{
	struct state *st = userdata;

	/* The reply is borrowed: reading it all catches a freed one. */
	if (reply)
		json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	if (err == -EREMOTEIO && (!mg_qmp_error_class(reply) || !mg_qmp_error_desc(reply)))
		abort();
	if (err != 0 && err != -EREMOTEIO && reply)
		abort();	/* qmp.h: a reply with 0 and -EREMOTEIO only ("return": null is NULL) */
	if (st->in_execute)
		abort();
	st->replies++;
}

static void execute(struct state *st, const char *cmd, json_object *args, bool oob, uint64_t timeout)
{
	st->in_execute = true;
	if (mg_qmp_execute(st->q, cmd, args, oob, timeout, on_reply, st) == 0)
		st->sent++;
	st->in_execute = false;
}

static void on_ready(struct mg_qmp *q, void *userdata)
{
	struct state *st = userdata;
	json_object *args = json_object_new_object();
	int major, minor, micro;

	st->ready++;
	mg_qmp_version(q, &major, &minor, &micro);
	json_object_object_add(args, "x", json_object_new_int(1));
	execute(st, "query-status", NULL, false, 0);
	execute(st, "query-migrate", args, false, MG_USEC_PER_MSEC);
	if (mg_qmp_oob_enabled(q))
		execute(st, "query-yank", NULL, true, 0);
	json_object_put(args);
}

static void on_closed(struct mg_qmp *q, int reason, void *userdata)
{
	struct state *st = userdata;

	if (reason >= 0)
		abort();
	st->closed++;
}

static void on_event(struct mg_qmp *q, const char *event, json_object *data, uint64_t ts, void *userdata)
{
	struct state *st = userdata;

	if (!event)
		abort();
	if (data)
		json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN);
	/* What the watch does with a MIGRATION event: a string status. */
	st->events++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_setup("qmp");
	return 0;
}

static void run(sd_event *loop, int peer, uint64_t timeout)
{
	char sink[4096];

	for (int i = 0; i < MAX_RUNS && sd_event_run(loop, timeout) > 0; i++)
		timeout = 0;
	/* Drain what the client sent, as QEMU would read it. */
	while (recv(peer, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mg_qmp_callbacks cb = { on_ready, on_closed, on_event };
	struct state st = { 0 };
	sd_event *loop = NULL;
	size_t chunk, off;
	int sv[2];

	if (size < 1)
		return 0;
	chunk = (data[0] & 0x3f) ? (size_t)(data[0] & 0x3f) * 16 : size;
	if (sd_event_new(&loop) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    mg_qmp_new(loop, "fuzz", &st.q) < 0)
		abort();
	mg_qmp_set_callbacks(st.q, &cb, &st);
	if (mg_qmp_connect_fd(st.q, sv[0]) < 0)
		abort();
	for (off = 1; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (send(sv[1], data + off, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			break;
		run(loop, sv[1], 0);
	}
	if (data[0] & 0x80)
		run(loop, sv[1], 2 * MG_USEC_PER_MSEC);
	if (!(data[0] & 0x40)) {
		close(sv[1]);
		sv[1] = -1;
		for (int i = 0; i < MAX_RUNS && sd_event_run(loop, 0) > 0; i++)
			;
	}
	mg_qmp_unref(st.q);
	if (st.replies != st.sent)
		abort();	/* a callback lost or run twice */
	if (sv[1] >= 0)
		close(sv[1]);
	sd_event_unref(loop);
	return 0;
}
