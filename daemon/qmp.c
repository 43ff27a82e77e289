/* qmp.c - see qmp.h.  The wire format is QEMU's docs/interop/qmp-spec:
 * JSON objects back to back (QEMU ends each with "\r\n", or spreads them over
 * lines with pretty=on), so input goes through json-c's streaming tokener
 * rather than a line splitter. */
#include "qmp.h"
#include "log.h"
#include "procid.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define READ_CHUNK (64u * 1024)
/* Our own commands are small and bounded by MG_QMP_*_MAX; this only guards
 * against a peer that never reads. */
#define MAX_OUTPUT (1024u * 1024)
/* QEMU's replies nest a few levels (query-block ~6); json-c's default is 32. */
#define JSON_DEPTH 64

struct mg_qmp_req {
	struct mg_qmp_req *next;	/* in send order */
	struct mg_qmp *q;
	char id[24];
	char cmd[48];			/* for logs */
	bool oob;
	bool timed_out;			/* callback already ran; a late reply is still due */
	uint64_t sent_at;
	sd_event_source *timer;
	mg_qmp_reply_fn cb;
	void *userdata;
};

struct mg_qmp {
	unsigned n_ref;
	sd_event *loop;
	char *name;
	char peer[128];			/* socket path, for logs */
	struct mg_qmp_callbacks cb;
	void *userdata;
	uint64_t handshake_timeout;
	pid_t peer_pid;			/* the process that must serve the socket, 0 = any */

	enum mg_qmp_state state;
	unsigned generation;		/* bumped per connection, see on_io() */
	int fd;
	sd_event_source *io;
	sd_event_source *handshake_timer;
	json_tokener *tok;
	size_t msg_bytes;		/* input fed into the message being parsed */
	char *out;
	size_t out_len, out_off;

	struct mg_qmp_req *reqs;
	uint64_t next_serial;
	size_t n_inband, n_oob;
	uint64_t unresponsive_since;

	bool oob_offered, oob_enabled, have_version;
	int version[3];
};

/* "1.250s": log lines read better in one unit. */
static const char *secs(uint64_t usec, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRIu64 ".%03" PRIu64 "s", usec / MG_USEC_PER_SEC,
		 usec % MG_USEC_PER_SEC / MG_USEC_PER_MSEC);
	return buf;
}

static void json_putp(json_object **o) { if (*o) json_object_put(*o); }
#define _cleanup_json_ _cleanup_(json_putp)

static void req_free(struct mg_qmp_req *r)
{
	sd_event_source_disable_unref(r->timer);
	free(r);
}

/* Unlinks r from q's list and its counters. */
static void req_unlink(struct mg_qmp *q, struct mg_qmp_req *r)
{
	for (struct mg_qmp_req **p = &q->reqs; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	r->next = NULL;
	if (r->oob)
		q->n_oob--;
	else
		q->n_inband--;
}

/* Runs r's callback (once) and frees r; r must be unlinked. */
static void req_complete(struct mg_qmp *q, struct mg_qmp_req *r, int err, json_object *reply)
{
	mg_qmp_reply_fn cb = r->cb;
	void *userdata = r->userdata;

	req_free(r);
	if (cb)
		cb(q, err, reply, userdata);
}

/* Tears the connection down and completes every request with err.  Does not
 * call on_closed: see fail(). */
static void disconnect(struct mg_qmp *q, int err)
{
	if (q->state == MG_QMP_DISCONNECTED)
		return;
	q->state = MG_QMP_DISCONNECTED;
	q->io = sd_event_source_disable_unref(q->io);
	q->handshake_timer = sd_event_source_disable_unref(q->handshake_timer);
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	json_tokener_reset(q->tok);
	q->msg_bytes = 0;
	q->out_len = q->out_off = 0;
	q->unresponsive_since = 0;
	q->oob_offered = q->oob_enabled = false;
	/* Pop one at a time: a callback may execute (and get -ENOTCONN) or
	 * even reconnect. */
	while (q->reqs) {
		struct mg_qmp_req *r = q->reqs;

		req_unlink(q, r);
		req_complete(q, r, err, NULL);
	}
}

/* The connection failed on its own: the cause is already logged. */
static void fail(struct mg_qmp *q, int reason)
{
	if (q->state == MG_QMP_DISCONNECTED)
		return;
	disconnect(q, reason);
	if (q->cb.on_closed)
		q->cb.on_closed(q, reason, q->userdata);
}

static int update_io_events(struct mg_qmp *q)
{
	uint32_t events;

	if (q->state == MG_QMP_CONNECTING)
		events = EPOLLOUT;
	else
		events = EPOLLIN | (q->out_off < q->out_len ? EPOLLOUT : 0);
	return sd_event_source_set_io_events(q->io, events);
}

/* Queues one message; the io handler writes it, so no callback can run from
 * inside mg_qmp_execute(). */
static int queue_message(struct mg_qmp *q, json_object *msg)
{
	const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len, need;
	char *p;

	if (!s)
		return -ENOMEM;
	len = strlen(s);
	if (q->out_off > 0 && q->out_off == q->out_len)
		q->out_off = q->out_len = 0;
	need = q->out_len + len + 1;
	if (need > MAX_OUTPUT)
		return -ENOBUFS;
	p = realloc(q->out, need);
	if (!p)
		return -ENOMEM;
	q->out = p;
	memcpy(q->out + q->out_len, s, len);
	q->out[q->out_len + len] = '\n';
	q->out_len = need;
	return update_io_events(q);
}

static int flush_output(struct mg_qmp *q)
{
	while (q->out_off < q->out_len) {
		ssize_t n = send(q->fd, q->out + q->out_off, q->out_len - q->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		q->out_off += (size_t)n;
	}
	if (q->out_off == q->out_len)
		q->out_off = q->out_len = 0;
	return update_io_events(q);
}

/* Builds, registers and queues one request. */
static int send_request(struct mg_qmp *q, const char *cmd, json_object *args, bool oob,
			uint64_t timeout_usec, mg_qmp_reply_fn cb, void *userdata);

static void on_capabilities(struct mg_qmp *q, int err, json_object *reply, void *userdata)
{
	if (err < 0 && q->state != MG_QMP_NEGOTIATING)
		return;		/* closing: the cause is logged and reported already */
	if (err < 0) {
		mg_error("qmp %s: qmp_capabilities refused: %s: %s", q->name,
			 err == -EREMOTEIO ? mg_qmp_error_class(reply) : "malformed reply",
			 err == -EREMOTEIO ? mg_qmp_error_desc(reply) : strerror(-err));
		fail(q, -EPROTO);
		return;
	}
	q->handshake_timer = sd_event_source_disable_unref(q->handshake_timer);
	q->oob_enabled = q->oob_offered;
	q->state = MG_QMP_READY;
	mg_debug("qmp %s: ready (QEMU %d.%d.%d, oob %s)", q->name, q->version[0], q->version[1],
		 q->version[2], q->oob_enabled ? "on" : "off");
	if (q->cb.on_ready)
		q->cb.on_ready(q, q->userdata);
}

static int handle_greeting(struct mg_qmp *q, json_object *msg)
{
	_cleanup_json_ json_object *args = NULL;
	json_object *qmp, *o, *caps;
	static const char *const keys[] = { "major", "minor", "micro" };
	int r;

	if (!json_object_object_get_ex(msg, "QMP", &qmp) ||
	    !json_object_is_type(qmp, json_type_object)) {
		mg_error("qmp %s: expected the QMP greeting, got: %.200s", q->name,
			 json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN));
		return -EBADMSG;
	}
	/* json_object_object_get_ex() is false on a non-object: no check of
	 * its own needed before it, only before every other accessor. */
	if (json_object_object_get_ex(qmp, "version", &o) &&
	    json_object_object_get_ex(o, "qemu", &o)) {
		q->have_version = true;
		for (size_t i = 0; i < MG_ARRAY_SIZE(keys); i++) {
			json_object *v;

			q->version[i] = json_object_object_get_ex(o, keys[i], &v) &&
				json_object_is_type(v, json_type_int) ? json_object_get_int(v) : 0;
		}
	}
	if (json_object_object_get_ex(qmp, "capabilities", &caps) &&
	    json_object_is_type(caps, json_type_array))
		for (size_t i = 0; i < json_object_array_length(caps); i++) {
			json_object *c = json_object_array_get_idx(caps, i);

			if (json_object_is_type(c, json_type_string) &&
			    strcmp(json_object_get_string(c), "oob") == 0)
				q->oob_offered = true;
		}
	if (q->oob_offered) {
		json_object *en = json_object_new_array();

		args = json_object_new_object();
		if (!args || !en || json_object_array_add(en, json_object_new_string("oob")) < 0 ||
		    json_object_object_add(args, "enable", en) < 0) {
			json_object_put(en);
			return -ENOMEM;
		}
	}
	q->state = MG_QMP_NEGOTIATING;
	/* No deadline of its own: the handshake timer covers it. */
	r = send_request(q, "qmp_capabilities", args, false, 0, on_capabilities, NULL);
	if (r < 0)
		return mg_error_errno(r, "qmp %s: cannot send qmp_capabilities", q->name);
	return 0;
}

/* An integer member of obj, or 0 when absent or of another type. */
static int64_t member_int64(json_object *obj, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_int) ?
		json_object_get_int64(v) : 0;
}

static void handle_event(struct mg_qmp *q, json_object *msg, const char *name)
{
	json_object *data = NULL, *ts;
	uint64_t at = 0;

	/* QEMU's events carry an object or no data at all (qapi: every event's
	 * data is a struct); anything else reaches the owner as no data. */
	if (json_object_object_get_ex(msg, "data", &data) && data &&
	    !json_object_is_type(data, json_type_object)) {
		mg_warn("qmp %s: event %s: data is not an object, dropped: %.200s", q->name, name,
			json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN));
		data = NULL;
	}
	if (json_object_object_get_ex(msg, "timestamp", &ts)) {
		int64_t sec = member_int64(ts, "seconds"), usec = member_int64(ts, "microseconds");

		/* QEMU sends {-1, -1} when it could not read the clock; a value
		 * that would overflow the usec count is as unknown. */
		if (sec > 0 && (uint64_t)sec < UINT64_MAX / MG_USEC_PER_SEC - 1 &&
		    usec >= 0 && (uint64_t)usec < MG_USEC_PER_SEC)
			at = (uint64_t)sec * MG_USEC_PER_SEC + (uint64_t)usec;
	}
	if (q->state != MG_QMP_READY) {
		mg_debug("qmp %s: event %s before negotiation ignored", q->name, name);
		return;
	}
	if (q->cb.on_event)
		q->cb.on_event(q, name, data, at, q->userdata);
}

static struct mg_qmp_req *find_request(struct mg_qmp *q, const char *id)
{
	for (struct mg_qmp_req *r = q->reqs; r; r = r->next)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

/* An in-band reply proves the main loop runs again.  QEMU answers in-band
 * requests in order, so timed-out in-band requests sent before this one will
 * never be answered: forget them so they stop holding MG_QMP_INBAND_MAX. */
static void inband_answered(struct mg_qmp *q, struct mg_qmp_req *answered)
{
	if (q->unresponsive_since) {
		char buf[32];

		mg_notice("qmp %s: monitor answers again after %s", q->name,
			  secs(mg_now_mono() - q->unresponsive_since, buf, sizeof(buf)));
		q->unresponsive_since = 0;
	}
	for (struct mg_qmp_req *r = q->reqs, *next; r && r != answered; r = next) {
		next = r->next;
		if (!r->oob && r->timed_out) {
			mg_debug("qmp %s: %s (%s) will never be answered; dropped", q->name, r->id, r->cmd);
			req_unlink(q, r);
			req_free(r);
		}
	}
}

/* An error member wins over a return member; either may be any JSON value
 * (NULL for a JSON null): the owner type-checks the return value, the error
 * must be an object. */
static int handle_reply(struct mg_qmp *q, json_object *msg, json_object *ret, bool has_error,
			json_object *error)
{
	json_object *idobj = NULL;
	const char *id = NULL;
	struct mg_qmp_req *r;

	if (json_object_object_get_ex(msg, "id", &idobj) && json_object_is_type(idobj, json_type_string))
		id = json_object_get_string(idobj);
	r = id ? find_request(q, id) : NULL;
	if (!r) {
		/* QEMU answers a request it could not parse with an error and no
		 * id; anything else is a peer bug.  Neither matches a request. */
		mg_warn("qmp %s: %s with %s%s ignored%s%s%s%s", q->name,
			has_error ? "error reply" : "reply", id ? "unknown id " : "no id", id ? id : "",
			has_error ? ": " : "", has_error ? mg_qmp_error_class(error) : "",
			has_error ? ": " : "", has_error ? mg_qmp_error_desc(error) : "");
		return 0;
	}
	if (!r->oob)
		inband_answered(q, r);
	req_unlink(q, r);
	if (r->timed_out) {
		mg_debug("qmp %s: late reply to %s (%s) consumed", q->name, r->id, r->cmd);
		req_free(r);
		return 0;
	}
	if (has_error && !json_object_is_type(error, json_type_object)) {
		mg_warn("qmp %s: %s (%s): malformed error reply: %.200s", q->name, r->cmd, r->id,
			json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN));
		req_complete(q, r, -EBADMSG, NULL);
		return 0;
	}
	req_complete(q, r, has_error ? -EREMOTEIO : 0, has_error ? error : ret);
	return 0;
}

static int handle_message(struct mg_qmp *q, json_object *msg)
{
	json_object *o, *ret = NULL, *error = NULL;
	bool has_ret, has_error;

	if (!json_object_is_type(msg, json_type_object)) {
		mg_error("qmp %s: protocol error: message is not a JSON object: %.200s", q->name,
			 json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN));
		return -EBADMSG;
	}
	if (q->state == MG_QMP_GREETING)
		return handle_greeting(q, msg);
	if (json_object_object_get_ex(msg, "event", &o) && json_object_is_type(o, json_type_string)) {
		handle_event(q, msg, json_object_get_string(o));
		return 0;
	}
	has_ret = json_object_object_get_ex(msg, "return", &ret);
	has_error = json_object_object_get_ex(msg, "error", &error);
	if (has_ret || has_error)
		return handle_reply(q, msg, ret, has_error, error);
	if (json_object_object_get_ex(msg, "QMP", &o)) {
		mg_warn("qmp %s: second greeting ignored", q->name);
		return 0;
	}
	mg_warn("qmp %s: unknown message ignored: %.200s", q->name,
		json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN));
	return 0;
}

/* Feeds input to the tokener and handles every complete message; stops when
 * a callback closed the connection. */
static int feed_input(struct mg_qmp *q, const char *buf, size_t len)
{
	unsigned generation = q->generation;
	size_t off = 0;

	while (off < len && q->state >= MG_QMP_GREETING && q->generation == generation) {
		json_object *msg = json_tokener_parse_ex(q->tok, buf + off, (int)(len - off));
		enum json_tokener_error jerr = json_tokener_get_error(q->tok);
		size_t used = json_tokener_get_parse_end(q->tok);
		int r;

		off += used;
		q->msg_bytes += used;
		if (q->msg_bytes > MG_QMP_MAX_MESSAGE) {
			json_object_put(msg);
			mg_error("qmp %s: message larger than %u bytes, closing", q->name,
				 MG_QMP_MAX_MESSAGE);
			return -EMSGSIZE;
		}
		if (!msg) {
			if (jerr == json_tokener_continue)
				continue;
			mg_error("qmp %s: invalid JSON (%s) near: %.*s", q->name,
				 json_tokener_error_desc(jerr), (int)(len - off < 40 ? len - off : 40),
				 buf + off);
			return -EBADMSG;
		}
		q->msg_bytes = 0;
		r = handle_message(q, msg);
		json_object_put(msg);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Whoever can write the socket's directory can serve its path: the socket
 * counts as QEMU's monitor only when the listening process is the QEMU
 * being guarded (SO_PEERCRED names the process that called listen(), here
 * QEMU's own -qmp/-chardev socket).  Checked before a byte is read, so a
 * refused peer can neither make the guard declare anything nor get any
 * process signalled. */
static int check_peer(struct mg_qmp *q)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char why[160];
	int r;

	if (q->peer_pid <= 0)
		return 0;
	if (getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return mg_error_errno(errno, "qmp %s: refusing the monitor at %s: no peer credentials",
				      q->name, q->peer);
	r = mg_procid_check_peer(q->peer_pid, cred.pid, cred.uid, why, sizeof(why));
	if (r == -ESRCH) {
		mg_info("qmp %s: pid %d is gone, not connecting to %s", q->name, (int)q->peer_pid, q->peer);
		return r;
	}
	if (r < 0) {
		mg_error("qmp %s: refusing the monitor at %s (peer pid %d uid %u): %s; nothing it "
			 "sends is read", q->name, q->peer, (int)cred.pid, (unsigned)cred.uid, why);
		return -EPERM;
	}
	return 0;
}

static int finish_connect(struct mg_qmp *q)
{
	int err = 0, r;
	socklen_t len = sizeof(err);

	if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		return mg_error_errno(err, "qmp %s: cannot connect to %s", q->name, q->peer);
	r = check_peer(q);
	if (r < 0)
		return r;
	q->state = MG_QMP_GREETING;
	return update_io_events(q);
}

static int read_input(struct mg_qmp *q)
{
	char buf[READ_CHUNK];
	ssize_t n;

	/* One read per wake-up: sd-event is level-triggered, and other
	 * sources get their turn between chunks of a large message. */
	n = recv(q->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return mg_error_errno(errno, "qmp %s: read failed", q->name);
	}
	if (n == 0) {
		mg_info("qmp %s: peer closed the connection (%s, %zu request(s) pending)", q->name,
			mg_qmp_state_to_string(q->state), mg_qmp_n_outstanding(q));
		return -ECONNRESET;
	}
	return feed_input(q, buf, (size_t)n);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct mg_qmp *q = mg_qmp_ref(userdata);
	/* A callback may close and reconnect: an error seen on the old
	 * connection must not fail the new one. */
	unsigned generation = q->generation;
	int r = 0;

	if (q->state == MG_QMP_CONNECTING) {
		r = finish_connect(q);
		goto out;
	}
	if (revents & EPOLLOUT) {
		r = flush_output(q);
		if (r < 0) {
			mg_error_errno(r, "qmp %s: write failed", q->name);
			goto out;
		}
	}
	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
		r = read_input(q);
out:
	if (r < 0 && q->generation == generation)
		fail(q, r);
	mg_qmp_unref(q);
	return 0;
}

static int on_handshake_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct mg_qmp *q = mg_qmp_ref(userdata);
	char buf[32];

	mg_error("qmp %s: %s within %s, closing", q->name,
		 q->state == MG_QMP_NEGOTIATING ? "qmp_capabilities not answered" :
		 q->state == MG_QMP_CONNECTING ? "connect not finished" : "no greeting",
		 secs(q->handshake_timeout, buf, sizeof(buf)));
	fail(q, -ETIMEDOUT);
	mg_qmp_unref(q);
	return 0;
}

static int on_request_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct mg_qmp_req *r = userdata;
	struct mg_qmp *q = mg_qmp_ref(r->q);
	mg_qmp_reply_fn cb = r->cb;
	void *cb_userdata = r->userdata;
	char buf[32];

	r->timer = sd_event_source_disable_unref(r->timer);
	r->timed_out = true;
	r->cb = NULL;
	/* The record stays until the late reply, which clears the mark. */
	if (!r->oob && !q->unresponsive_since) {
		q->unresponsive_since = r->sent_at;
		mg_warn("qmp %s: monitor unresponsive: %s (%s) unanswered after %s", q->name, r->cmd,
			r->id, secs(mg_now_mono() - r->sent_at, buf, sizeof(buf)));
	} else {
		mg_debug("qmp %s: %s (%s) timed out", q->name, r->cmd, r->id);
	}
	if (cb)
		cb(q, -ETIMEDOUT, NULL, cb_userdata);
	mg_qmp_unref(q);
	return 0;
}

static int send_request(struct mg_qmp *q, const char *cmd, json_object *args, bool oob,
			uint64_t timeout_usec, mg_qmp_reply_fn cb, void *userdata)
{
	_cleanup_json_ json_object *msg = json_object_new_object();
	_cleanup_free_ struct mg_qmp_req *r = calloc(1, sizeof(*r));
	struct mg_qmp_req **tail;
	int ret;

	if (!msg || !r)
		return -ENOMEM;
	r->q = q;
	r->oob = oob;
	r->cb = cb;
	r->userdata = userdata;
	r->sent_at = mg_now_mono();
	snprintf(r->id, sizeof(r->id), "mg-%" PRIu64, ++q->next_serial);
	snprintf(r->cmd, sizeof(r->cmd), "%s", cmd);
	if (json_object_object_add(msg, oob ? "exec-oob" : "execute", json_object_new_string(cmd)) < 0 ||
	    (args && json_object_object_add(msg, "arguments", json_object_get(args)) < 0) ||
	    json_object_object_add(msg, "id", json_object_new_string(r->id)) < 0)
		return -ENOMEM;
	if (timeout_usec > 0) {
		ret = sd_event_add_time(q->loop, &r->timer, CLOCK_MONOTONIC,
					r->sent_at + timeout_usec, MG_USEC_PER_MSEC,
					on_request_timeout, r);
		if (ret < 0)
			return ret;
	}
	ret = queue_message(q, msg);
	if (ret < 0) {
		r->timer = sd_event_source_disable_unref(r->timer);
		return ret;
	}
	for (tail = &q->reqs; *tail; tail = &(*tail)->next)
		;
	*tail = MG_TAKE_PTR(r);
	if (oob)
		q->n_oob++;
	else
		q->n_inband++;
	return 0;
}

int mg_qmp_execute(struct mg_qmp *q, const char *cmd, json_object *args, bool oob,
		   uint64_t timeout_usec, mg_qmp_reply_fn cb, void *userdata)
{
	if (!cmd || !*cmd)
		return -EINVAL;
	if (q->state != MG_QMP_READY)
		return -ENOTCONN;
	if (oob && !q->oob_enabled)
		return -EOPNOTSUPP;
	if (oob ? q->n_oob >= MG_QMP_OOB_MAX : q->n_inband >= MG_QMP_INBAND_MAX)
		return -EBUSY;
	return send_request(q, cmd, args, oob, timeout_usec, cb, userdata);
}

int mg_qmp_new(sd_event *loop, const char *name_for_logs, struct mg_qmp **out)
{
	_cleanup_(mg_qmp_freep) struct mg_qmp *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->n_ref = 1;
	q->fd = -1;
	q->loop = sd_event_ref(loop);
	q->handshake_timeout = MG_QMP_HANDSHAKE_TIMEOUT;
	q->name = strdup(name_for_logs ? name_for_logs : "?");
	q->tok = json_tokener_new_ex(JSON_DEPTH);
	if (!q->name || !q->tok)
		return -ENOMEM;
	json_tokener_set_flags(q->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	*out = MG_TAKE_PTR(q);
	return 0;
}

struct mg_qmp *mg_qmp_ref(struct mg_qmp *q)
{
	if (q)
		q->n_ref++;
	return q;
}

struct mg_qmp *mg_qmp_unref(struct mg_qmp *q)
{
	if (!q || --q->n_ref > 0)
		return NULL;
	/* Callbacks run by disconnect() may take and drop references. */
	q->n_ref = 1;
	disconnect(q, -ECANCELED);
	if (q->tok)
		json_tokener_free(q->tok);
	sd_event_unref(q->loop);
	free(q->out);
	free(q->name);
	free(q);
	return NULL;
}

void mg_qmp_set_callbacks(struct mg_qmp *q, const struct mg_qmp_callbacks *cb, void *userdata)
{
	q->cb = cb ? *cb : (struct mg_qmp_callbacks){ 0 };
	q->userdata = userdata;
}

void mg_qmp_set_handshake_timeout(struct mg_qmp *q, uint64_t usec)
{
	q->handshake_timeout = usec;
}

void mg_qmp_expect_peer(struct mg_qmp *q, pid_t pid)
{
	q->peer_pid = pid;
}

/* Takes fd (connected or connecting) and starts the handshake clock. */
static int attach(struct mg_qmp *q, int fd, enum mg_qmp_state state)
{
	int r;

	q->fd = fd;
	q->state = state;
	q->generation++;
	q->have_version = false;
	if (state == MG_QMP_GREETING) {
		r = check_peer(q);
		if (r < 0) {
			disconnect(q, r);
			return r;
		}
	}
	r = sd_event_add_io(q->loop, &q->io, fd, state == MG_QMP_CONNECTING ? EPOLLOUT : EPOLLIN,
			    on_io, q);
	if (r >= 0 && q->handshake_timeout > 0)
		r = sd_event_add_time_relative(q->loop, &q->handshake_timer, CLOCK_MONOTONIC,
					       q->handshake_timeout, MG_USEC_PER_MSEC,
					       on_handshake_timeout, q);
	if (r < 0)
		disconnect(q, r);
	return r;
}

int mg_qmp_connect_unix(struct mg_qmp *q, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int r;

	if (q->state != MG_QMP_DISCONNECTED)
		return -EALREADY;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0 && errno != EINPROGRESS)
		return -errno;
	snprintf(q->peer, sizeof(q->peer), "%s", path);
	return attach(q, MG_TAKE_FD(fd), r < 0 ? MG_QMP_CONNECTING : MG_QMP_GREETING);
}

int mg_qmp_connect_fd(struct mg_qmp *q, int fd)
{
	int flags;

	if (q->state != MG_QMP_DISCONNECTED) {
		close(fd);
		return -EALREADY;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	snprintf(q->peer, sizeof(q->peer), "fd %d", fd);
	return attach(q, fd, MG_QMP_GREETING);
}

void mg_qmp_close(struct mg_qmp *q)
{
	disconnect(q, -ECANCELED);
}

enum mg_qmp_state mg_qmp_get_state(const struct mg_qmp *q) { return q->state; }
const char *mg_qmp_name(const struct mg_qmp *q) { return q->name; }
bool mg_qmp_oob_enabled(const struct mg_qmp *q) { return q->oob_enabled; }
uint64_t mg_qmp_unresponsive_since(const struct mg_qmp *q) { return q->unresponsive_since; }
size_t mg_qmp_n_outstanding(const struct mg_qmp *q) { return q->n_inband + q->n_oob; }

int mg_qmp_version(const struct mg_qmp *q, int *major, int *minor, int *micro)
{
	if (!q->have_version)
		return -ENODATA;
	*major = q->version[0];
	*minor = q->version[1];
	*micro = q->version[2];
	return 0;
}

const char *mg_qmp_state_to_string(enum mg_qmp_state s)
{
	switch (s) {
	case MG_QMP_DISCONNECTED: return "disconnected";
	case MG_QMP_CONNECTING: return "connecting";
	case MG_QMP_GREETING: return "greeting";
	case MG_QMP_NEGOTIATING: return "negotiating";
	case MG_QMP_READY: return "ready";
	}
	return "?";
}

const char *mg_qmp_member_string(json_object *obj, const char *key)
{
	json_object *v;

	if (!json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

const char *mg_qmp_member_enum(json_object *obj, const char *key)
{
	const char *s = mg_qmp_member_string(obj, key);
	size_t len = s ? strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") : 0;

	return len > 0 && len < MG_QMP_ENUM_MAX && s[len] == '\0' ? s : NULL;
}

static const char *error_field(json_object *error, const char *key)
{
	const char *s = mg_qmp_member_string(error, key);

	return s ? s : "";
}

const char *mg_qmp_error_class(json_object *error) { return error_field(error, "class"); }
const char *mg_qmp_error_desc(json_object *error) { return error_field(error, "desc"); }
