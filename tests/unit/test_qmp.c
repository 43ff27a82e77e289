/* Unit tests of the QMP client (qmp.c) against a scripted peer (qmppeer.h,
 * driven step by step): the test plays QEMU on the other end of a
 * socketpair (or a listening unix socket)
 * while the client runs on a real sd-event loop.  Each misbehaving-peer test
 * must end in a clean close with the right reason, never a crash or a stuck
 * loop (Check's per-test timeout catches the latter). */
#include "log.h"
#include "procid.h"
#include "qmp.h"
#include "util.h"

#include "mgcheck.h"
#include "qmppeer.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#define GREETING MG_QMPPEER_GREETING

static sd_event *loop;
static struct mg_qmp *q;
static struct mg_qmppeer *peer;		/* the test's end: plays QEMU */

static struct {
	int ready, closed, close_reason, events;
	char event[64], event_data[256];
	uint64_t event_ts;
} seen;

/* One request's outcome. */
struct result {
	int done, err;
	char json[512];
};

static void on_ready(struct mg_qmp *c, void *u) { seen.ready++; }
static void on_closed(struct mg_qmp *c, int reason, void *u)
{
	seen.closed++;
	seen.close_reason = reason;
}
static void on_event(struct mg_qmp *c, const char *name, json_object *data, uint64_t ts, void *u)
{
	seen.events++;
	snprintf(seen.event, sizeof(seen.event), "%s", name);
	snprintf(seen.event_data, sizeof(seen.event_data), "%s",
		 data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN) : "");
	seen.event_ts = ts;
}

static void on_reply(struct mg_qmp *c, int err, json_object *reply, void *u)
{
	struct result *res = u;

	res->done++;
	res->err = err;
	snprintf(res->json, sizeof(res->json), "%s",
		 reply ? json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN) : "");
}

static const struct mg_qmp_callbacks callbacks = { on_ready, on_closed, on_event };

static void setup(void)
{
	int sv[2];

	mg_log_setup(MG_LOG_STDERR, LOG_DEBUG, "test_qmp");
	signal(SIGPIPE, SIG_IGN);
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_qmp_new(loop, "peer-under-test", &q), 0);
	mg_qmp_set_callbacks(q, &callbacks, NULL);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	peer = mg_qmppeer_new(loop, sv[1]);
	ck_assert_int_eq(mg_qmp_connect_fd(q, sv[0]), 0);
}

static void teardown(void)
{
	q = mg_qmp_unref(q);
	mg_qmppeer_free(peer);
	peer = NULL;
	loop = sd_event_unref(loop);
}

static bool run_until(const int *flag, int want, unsigned ms)
{
	return mg_test_run_until(loop, flag, want, ms);
}

/* Plays QEMU's greeting and answers qmp_capabilities. */
static void handshake(bool offer_oob)
{
	const char *id = mg_qmppeer_greet(peer, offer_oob);

	ck_assert_int_eq(seen.ready, 0);
	mg_qmppeer_reply(peer, id, "{}");
	ck_assert(run_until(&seen.ready, 1, 1000));
	ck_assert_int_eq(mg_qmp_get_state(q), MG_QMP_READY);
}

START_TEST(test_handshake_then_query_status_returns_status)
{
	struct result res = { 0 };
	int major, minor, micro;
	const char *id;

	handshake(false);
	ck_assert(!mg_qmp_oob_enabled(q));
	ck_assert_int_eq(mg_qmp_version(q, &major, &minor, &micro), 0);
	ck_assert_int_eq(major * 10000 + minor * 100 + micro, 70222);
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, MG_USEC_PER_SEC, on_reply, &res), 0);
	ck_assert_int_eq(res.done, 0);	/* never from inside execute */
	id = mg_qmppeer_expect(peer, "query-status", false, NULL);
	ck_assert_str_eq(id, "mg-2");
	mg_qmppeer_reply(peer, id, "{\"status\": \"running\", \"singlestep\": false, \"running\": true}");
	ck_assert(run_until(&res.done, 1, 1000));
	ck_assert_int_eq(res.err, 0);
	ck_assert_str_eq(res.json, "{\"status\":\"running\",\"singlestep\":false,\"running\":true}");
	ck_assert_uint_eq(mg_qmp_unresponsive_since(q), 0);
	ck_assert_uint_eq(mg_qmp_n_outstanding(q), 0);
	/* oob was not offered: refused up front. */
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, true, 0, NULL, NULL), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_execute_before_ready_is_refused)
{
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, 0, NULL, NULL), -ENOTCONN);
}
END_TEST

START_TEST(test_oob_negotiated_when_offered_and_exec_oob_sent)
{
	struct result res = { 0 };
	json_object *args = json_object_new_object();
	const char *id;

	handshake(true);
	ck_assert(mg_qmp_oob_enabled(q));
	json_object_object_add(args, "uri", json_object_new_string("unix:/x"));
	ck_assert_int_eq(mg_qmp_execute(q, "migrate-recover", args, true, MG_USEC_PER_SEC, on_reply, &res), 0);
	json_object_put(args);
	id = mg_qmppeer_expect(peer, "migrate-recover", true, NULL);
	mg_qmppeer_reply(peer, id, "{}");
	ck_assert(run_until(&res.done, 1, 1000));
	ck_assert_int_eq(res.err, 0);
}
END_TEST

START_TEST(test_events_delivered_with_name_data_and_timestamp)
{
	handshake(false);
	mg_qmppeer_send(peer, "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 250000}, "
		 "\"event\": \"MIGRATION\", \"data\": {\"status\": \"active\"}}\r\n");
	ck_assert(run_until(&seen.events, 1, 1000));
	ck_assert_str_eq(seen.event, "MIGRATION");
	ck_assert_str_eq(seen.event_data, "{\"status\":\"active\"}");
	ck_assert_uint_eq(seen.event_ts, UINT64_C(1700000000250000));
}
END_TEST

START_TEST(test_error_reply_reported_as_eremoteio_with_class_and_desc)
{
	struct result res = { 0 };
	const char *id;
	char buf[256];

	handshake(false);
	ck_assert_int_eq(mg_qmp_execute(q, "migrate_cancel", NULL, false, 0, on_reply, &res), 0);
	id = mg_qmppeer_expect(peer, "migrate_cancel", false, NULL);
	snprintf(buf, sizeof(buf), "{\"id\": \"%s\", \"error\": {\"class\": \"GenericError\", "
		 "\"desc\": \"no migration\"}}\r\n", id);
	mg_qmppeer_send(peer, buf);
	ck_assert(run_until(&res.done, 1, 1000));
	ck_assert_int_eq(res.err, -EREMOTEIO);
	ck_assert_str_eq(res.json, "{\"class\":\"GenericError\",\"desc\":\"no migration\"}");
	ck_assert_int_eq(seen.closed, 0);
}
END_TEST

START_TEST(test_no_greeting_times_out_and_closes_cleanly)
{
	char c;

	/* Re-arm with a short deadline: reconnect on a fresh pair. */
	int sv[2];

	mg_qmp_close(q);
	mg_qmp_set_handshake_timeout(q, 200 * MG_USEC_PER_MSEC);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	mg_qmppeer_attach(peer, sv[1]);
	ck_assert_int_eq(mg_qmp_connect_fd(q, sv[0]), 0);
	ck_assert(run_until(&seen.closed, 1, 2000));
	ck_assert_int_eq(seen.close_reason, -ETIMEDOUT);
	ck_assert_int_eq(seen.ready, 0);
	ck_assert_int_eq(mg_qmp_get_state(q), MG_QMP_DISCONNECTED);
	ck_assert_int_eq(recv(mg_qmppeer_fd(peer), &c, 1, 0), 0);	/* the client closed its end */
}
END_TEST

/* QEMU during a BQL hang: a new connection gets the greeting, but
 * qmp_capabilities never answers. */
START_TEST(test_capabilities_never_answered_times_out)
{
	char buf[512];
	int sv[2];

	mg_qmp_close(q);
	mg_qmp_set_handshake_timeout(q, 300 * MG_USEC_PER_MSEC);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	mg_qmppeer_attach(peer, sv[1]);
	ck_assert_int_eq(mg_qmp_connect_fd(q, sv[0]), 0);
	snprintf(buf, sizeof(buf), GREETING, "\"oob\"");
	mg_qmppeer_send(peer, buf);
	mg_qmppeer_expect(peer, "qmp_capabilities", false, NULL);
	ck_assert_int_eq(mg_qmp_get_state(q), MG_QMP_NEGOTIATING);
	ck_assert(run_until(&seen.closed, 1, 2000));
	ck_assert_int_eq(seen.close_reason, -ETIMEDOUT);
	ck_assert_int_eq(seen.ready, 0);
}
END_TEST

START_TEST(test_garbage_json_closes_and_fails_pending_request)
{
	struct result res = { 0 };

	handshake(false);
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, 0, on_reply, &res), 0);
	mg_qmppeer_expect(peer, "query-status", false, NULL);
	mg_qmppeer_send(peer, "{\"return\": }garbage\r\n");
	ck_assert(run_until(&seen.closed, 1, 1000));
	ck_assert_int_eq(seen.close_reason, -EBADMSG);
	ck_assert_int_eq(res.done, 1);
	ck_assert_int_eq(res.err, -EBADMSG);
	ck_assert_int_eq(mg_qmp_get_state(q), MG_QMP_DISCONNECTED);
}
END_TEST

/* An event QEMU sent a reconnected monitor ahead of its greeting (seen in
 * CI): skipped, the handshake then completes; nothing else may come first. */
START_TEST(test_event_before_the_greeting_is_skipped)
{
	mg_qmppeer_send(peer, "{\"timestamp\": {\"seconds\": 1796106682, \"microseconds\": 679985}, "
			      "\"event\": \"MIGRATION_PASS\", \"data\": {\"pass\": 1}}\r\n");
	ck_assert(run_until(NULL, 0, 100));
	ck_assert_int_eq(seen.closed, 0);
	ck_assert_int_eq(seen.events, 0);
	handshake(false);
}
END_TEST

START_TEST(test_garbage_instead_of_greeting_closes)
{
	mg_qmppeer_send(peer, "SSH-2.0-OpenSSH_9.2\r\n");
	ck_assert(run_until(&seen.closed, 1, 1000));
	ck_assert_int_eq(seen.close_reason, -EBADMSG);
}
END_TEST

START_TEST(test_message_that_is_not_an_object_closes)
{
	handshake(false);
	mg_qmppeer_send(peer, "[1, 2, 3]\r\n");
	ck_assert(run_until(&seen.closed, 1, 1000));
	ck_assert_int_eq(seen.close_reason, -EBADMSG);
}
END_TEST

/* Writes 17 MiB of one unfinished string, blocking; stops when the client
 * closes. */
static void *oversized_writer(void *arg)
{
	static char chunk[64 * 1024];
	size_t total = 0;

	memset(chunk, 'A', sizeof(chunk));
	if (send(mg_qmppeer_fd(peer), "{\"return\": \"", 12, MSG_NOSIGNAL) < 0)
		return NULL;
	while (total < 17u * 1024 * 1024) {
		ssize_t n = send(mg_qmppeer_fd(peer), chunk, sizeof(chunk), MSG_NOSIGNAL);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	return NULL;
}

START_TEST(test_oversized_message_closes_with_emsgsize)
{
	struct result res = { 0 };
	pthread_t t;

	handshake(false);
	ck_assert_int_eq(mg_qmp_execute(q, "query-qmp-schema", NULL, false, 0, on_reply, &res), 0);
	mg_qmppeer_expect(peer, "query-qmp-schema", false, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, oversized_writer, NULL), 0);
	ck_assert(run_until(&seen.closed, 1, 10000));
	pthread_join(t, NULL);
	ck_assert_int_eq(seen.close_reason, -EMSGSIZE);
	ck_assert_int_eq(res.done, 1);
	ck_assert_int_eq(res.err, -EMSGSIZE);
}
END_TEST

START_TEST(test_reply_trickled_one_byte_at_a_time_is_parsed)
{
	struct result res = { 0 };
	char reply[256];
	const char *id;
	size_t last;

	handshake(false);
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, 5 * MG_USEC_PER_SEC,
					on_reply, &res), 0);
	id = mg_qmppeer_expect(peer, "query-status", false, NULL);
	snprintf(reply, sizeof(reply), "{\"return\": {\"status\": \"finish-migrate\", "
		 "\"running\": false}, \"id\": \"%s\"}\r\n", id);
	last = (size_t)(strrchr(reply, '}') - reply);
	for (size_t i = 0; reply[i]; i++) {
		ck_assert_int_eq(send(mg_qmppeer_fd(peer), reply + i, 1, MSG_NOSIGNAL), 1);
		ck_assert_int_ge(sd_event_run(loop, 20 * MG_USEC_PER_MSEC), 0);
		if (i < last)
			ck_assert_int_eq(res.done, 0);
	}
	ck_assert(run_until(&res.done, 1, 1000));
	ck_assert_int_eq(res.err, 0);
	ck_assert_str_eq(res.json, "{\"status\":\"finish-migrate\",\"running\":false}");
}
END_TEST

/* QEMU with pretty=on spreads a message over lines; two in one write. */
START_TEST(test_pretty_printed_messages_in_one_write)
{
	struct result a = { 0 }, b = { 0 };
	char buf[512], ida[64];

	handshake(false);
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, 0, on_reply, &a), 0);
	snprintf(ida, sizeof(ida), "%s", mg_qmppeer_expect(peer, "query-status", false, NULL));
	ck_assert_int_eq(mg_qmp_execute(q, "query-migrate", NULL, false, 0, on_reply, &b), 0);
	snprintf(buf, sizeof(buf), "{\n    \"return\": {\n        \"status\": \"running\"\n    },\n"
		 "    \"id\": \"%s\"\n}\r\n{\"return\": {}, \"id\": \"%s\"}\r\n", ida,
		 mg_qmppeer_expect(peer, "query-migrate", false, NULL));
	mg_qmppeer_send(peer, buf);
	ck_assert(run_until(&b.done, 1, 1000));
	ck_assert_int_eq(a.done, 1);
	ck_assert_int_eq(a.err, 0);
	ck_assert_int_eq(b.err, 0);
}
END_TEST

START_TEST(test_reply_with_unknown_id_ignored_and_real_reply_matched)
{
	struct result res = { 0 };
	const char *id;

	handshake(false);
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, 0, on_reply, &res), 0);
	id = mg_qmppeer_expect(peer, "query-status", false, NULL);
	mg_qmppeer_reply(peer, "mg-999", "{\"status\": \"bogus\"}");
	mg_qmppeer_send(peer, "{\"return\": {}}\r\n");	/* no id at all */
	mg_qmppeer_send(peer, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\r\n");
	mg_qmppeer_reply(peer, id, "{\"status\": \"running\"}");
	ck_assert(run_until(&res.done, 1, 1000));
	ck_assert_int_eq(res.err, 0);
	ck_assert_str_eq(res.json, "{\"status\":\"running\"}");
	ck_assert_int_eq(seen.closed, 0);
}
END_TEST

START_TEST(test_peer_closes_mid_request_fails_pending_with_econnreset)
{
	struct result res = { 0 };

	handshake(false);
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, 0, on_reply, &res), 0);
	mg_qmppeer_expect(peer, "query-status", false, NULL);
	mg_qmppeer_send(peer, "{\"return\": {\"sta");
	mg_qmppeer_attach(peer, -1);
	ck_assert(run_until(&seen.closed, 1, 1000));
	ck_assert_int_eq(seen.close_reason, -ECONNRESET);
	ck_assert_int_eq(res.done, 1);
	ck_assert_int_eq(res.err, -ECONNRESET);
}
END_TEST

START_TEST(test_timeout_marks_unresponsive_and_late_reply_clears_it)
{
	struct result res = { 0 }, next = { 0 };
	uint64_t before = mg_now_mono();
	char id[64];

	handshake(true);
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, 200 * MG_USEC_PER_MSEC,
					on_reply, &res), 0);
	snprintf(id, sizeof(id), "%s", mg_qmppeer_expect(peer, "query-status", false, NULL));
	ck_assert(run_until(&res.done, 1, 2000));
	ck_assert_int_eq(res.err, -ETIMEDOUT);
	ck_assert_uint_ge(mg_qmp_unresponsive_since(q), before);
	ck_assert_uint_le(mg_qmp_unresponsive_since(q), before + 200 * MG_USEC_PER_MSEC);
	ck_assert_uint_eq(mg_qmp_n_outstanding(q), 1);	/* its reply is still due */

	/* An out-of-band reply comes from QEMU's monitor thread, not the
	 * main loop: it does not clear the mark. */
	ck_assert_int_eq(mg_qmp_execute(q, "query-yank", NULL, true, MG_USEC_PER_SEC, on_reply, &next), 0);
	mg_qmppeer_reply(peer, mg_qmppeer_expect(peer, "query-yank", true, NULL), "[]");
	ck_assert(run_until(&next.done, 1, 1000));
	ck_assert_int_eq(next.err, 0);
	ck_assert_uint_ne(mg_qmp_unresponsive_since(q), 0);

	/* The late in-band reply: consumed silently, the mark cleared. */
	mg_qmppeer_reply(peer, id, "{\"status\": \"running\"}");
	run_until(NULL, 0, 100);
	ck_assert_int_eq(res.done, 1);
	ck_assert_uint_eq(mg_qmp_unresponsive_since(q), 0);
	ck_assert_uint_eq(mg_qmp_n_outstanding(q), 0);
	ck_assert_int_eq(seen.closed, 0);
}
END_TEST

START_TEST(test_inband_requests_bounded_while_unanswered)
{
	struct result res[MG_QMP_INBAND_MAX] = { 0 };

	handshake(true);
	for (int i = 0; i < MG_QMP_INBAND_MAX; i++)
		ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, 100 * MG_USEC_PER_MSEC,
						on_reply, &res[i]), 0);
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, 0, NULL, NULL), -EBUSY);
	for (int i = 0; i < MG_QMP_INBAND_MAX; i++) {
		ck_assert(run_until(&res[i].done, 1, 2000));
		ck_assert_int_eq(res[i].err, -ETIMEDOUT);
	}
	/* Timed out but still due: they keep their slots. */
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, 0, NULL, NULL), -EBUSY);
	/* Out-of-band still goes through. */
	ck_assert_int_eq(mg_qmp_execute(q, "query-yank", NULL, true, 0, NULL, NULL), 0);
}
END_TEST

static void close_from_callback(struct mg_qmp *c, int err, json_object *reply, void *u)
{
	on_reply(c, err, reply, u);
	mg_qmp_close(c);
}

START_TEST(test_close_from_reply_callback_stops_processing)
{
	struct result a = { 0 }, b = { 0 };
	char buf[256], ida[64];

	handshake(false);
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, 0, close_from_callback, &a), 0);
	snprintf(ida, sizeof(ida), "%s", mg_qmppeer_expect(peer, "query-status", false, NULL));
	ck_assert_int_eq(mg_qmp_execute(q, "query-migrate", NULL, false, 0, on_reply, &b), 0);
	snprintf(buf, sizeof(buf), "{\"return\": {}, \"id\": \"%s\"}\r\n{\"return\": {}, \"id\": \"%s\"}\r\n",
		 ida, mg_qmppeer_expect(peer, "query-migrate", false, NULL));
	mg_qmppeer_send(peer, buf);
	ck_assert(run_until(&b.done, 1, 1000));
	ck_assert_int_eq(a.err, 0);
	ck_assert_int_eq(b.err, -ECANCELED);
	ck_assert_int_eq(seen.closed, 0);	/* owner's close: no on_closed */
}
END_TEST

START_TEST(test_unref_with_pending_request_cancels_it)
{
	struct result res = { 0 };

	handshake(false);
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, MG_USEC_PER_SEC, on_reply, &res), 0);
	q = mg_qmp_unref(q);
	ck_assert_int_eq(res.done, 1);
	ck_assert_int_eq(res.err, -ECANCELED);
}
END_TEST

START_TEST(test_connect_unix_socket_and_reconnect)
{
	char path[108], buf[512];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd;

	mg_qmp_close(q);
	snprintf(path, sizeof(path), "/tmp/test_qmp.%d.sock", (int)getpid());
	unlink(path);
	ck_assert_int_eq(mg_qmp_connect_unix(q, path), -ENOENT);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	for (int round = 1; round <= 2; round++) {
		ck_assert_int_eq(mg_qmp_connect_unix(q, path), 0);
		ck_assert_int_eq(mg_qmp_connect_unix(q, path), -EALREADY);
		mg_qmppeer_attach(peer, accept4(lfd, NULL, NULL, SOCK_CLOEXEC));
		ck_assert_int_ge(mg_qmppeer_fd(peer), 0);
		snprintf(buf, sizeof(buf), GREETING, "\"oob\"");
		mg_qmppeer_send(peer, buf);
		mg_qmppeer_reply(peer, mg_qmppeer_expect(peer, "qmp_capabilities", false, NULL), "{}");
		ck_assert(run_until(&seen.ready, round, 1000));
		ck_assert(mg_qmp_oob_enabled(q));
		/* QEMU goes away; the owner reconnects. */
		mg_qmppeer_attach(peer, -1);
		ck_assert(run_until(&seen.closed, round, 1000));
	}
	close(lfd);
	unlink(path);
}
END_TEST


static void *thread_park(void *arg)
{
	pid_t *tid = arg;

	__atomic_store_n(tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
}

/* A thread of the process serves as well as its main thread. */
static void check_peer_of_thread(pid_t self)
{
	pthread_t t;
	pid_t tid = 0;
	char why[160];

	ck_assert_int_eq(pthread_create(&t, NULL, thread_park, &tid), 0);
	while (!__atomic_load_n(&tid, __ATOMIC_SEQ_CST))
		sched_yield();
	ck_assert_int_ne(tid, self);
	ck_assert_int_eq(mg_procid_check_peer(self, tid, getuid(), why, sizeof(why)), 0);
	pthread_cancel(t);
	pthread_join(t, NULL);
}

/* --- hostile peers: every member type-checked (issue #10 item 2) -------- */

START_TEST(test_error_member_that_is_not_an_object_fails_request_with_ebadmsg)
{
	struct result res = { 0 }, res2 = { 0 };
	char buf[256];
	const char *id;

	handshake(false);
	ck_assert_int_eq(mg_qmp_execute(q, "query-status", NULL, false, MG_USEC_PER_SEC, on_reply, &res), 0);
	id = mg_qmppeer_expect(peer, "query-status", false, NULL);
	/* Not a success with no value: a broken reply. */
	snprintf(buf, sizeof(buf), "{\"error\": null, \"id\": \"%s\"}\r\n", id);
	mg_qmppeer_send(peer, buf);
	ck_assert(run_until(&res.done, 1, 1000));
	ck_assert_int_eq(res.err, -EBADMSG);
	ck_assert_str_eq(res.json, "");
	/* A null return is a success whose value the owner type-checks. */
	ck_assert_int_eq(mg_qmp_execute(q, "query-yank", NULL, false, MG_USEC_PER_SEC, on_reply, &res2), 0);
	id = mg_qmppeer_expect(peer, "query-yank", false, NULL);
	mg_qmppeer_reply(peer, id, "null");
	ck_assert(run_until(&res2.done, 1, 1000));
	ck_assert_int_eq(res2.err, 0);
	ck_assert_str_eq(res2.json, "");
	ck_assert_int_eq(mg_qmp_get_state(q), MG_QMP_READY);
}
END_TEST

START_TEST(test_capabilities_answered_with_null_error_closes_instead_of_ready)
{
	char buf[512];
	const char *id;

	snprintf(buf, sizeof(buf), GREETING, "");
	mg_qmppeer_send(peer, buf);
	id = mg_qmppeer_expect(peer, "qmp_capabilities", false, NULL);
	snprintf(buf, sizeof(buf), "{\"error\": null, \"id\": \"%s\"}\r\n", id);
	mg_qmppeer_send(peer, buf);
	ck_assert(run_until(&seen.closed, 1, 1000));
	ck_assert_int_eq(seen.close_reason, -EPROTO);
	ck_assert_int_eq(seen.ready, 0);
}
END_TEST

START_TEST(test_event_data_that_is_not_an_object_reaches_owner_as_null)
{
	static const char *const bad[] = { "\"active\"", "[1, 2]", "7", "null" };

	handshake(false);
	for (size_t i = 0; i < MG_ARRAY_SIZE(bad); i++) {
		char buf[256];

		snprintf(buf, sizeof(buf), "{\"event\": \"MIGRATION\", \"data\": %s}\r\n", bad[i]);
		mg_qmppeer_send(peer, buf);
		ck_assert(run_until(&seen.events, (int)i + 1, 1000));
		ck_assert_str_eq(seen.event, "MIGRATION");
		ck_assert_msg(strcmp(seen.event_data, "") == 0, "data %s reached the owner as %s", bad[i],
			      seen.event_data);
	}
	ck_assert_int_eq(mg_qmp_get_state(q), MG_QMP_READY);
}
END_TEST

START_TEST(test_timestamp_of_wrong_type_or_out_of_range_is_zero)
{
	static const char *const bad[] = {
		"{\"seconds\": \"1700000000\", \"microseconds\": 0}",
		"{\"seconds\": 1700000000, \"microseconds\": 1000000}",
		"{\"seconds\": 9223372036854775807, \"microseconds\": 0}",
		"{\"seconds\": 1700000000.5, \"microseconds\": 0}",
		"[1700000000, 0]",
	};

	handshake(false);
	for (size_t i = 0; i < MG_ARRAY_SIZE(bad); i++) {
		char buf[256];

		snprintf(buf, sizeof(buf), "{\"event\": \"STOP\", \"timestamp\": %s}\r\n", bad[i]);
		mg_qmppeer_send(peer, buf);
		ck_assert(run_until(&seen.events, (int)i + 1, 1000));
		ck_assert_msg(seen.event_ts == 0, "timestamp %s read as %" PRIu64, bad[i], seen.event_ts);
	}
}
END_TEST

START_TEST(test_member_string_and_enum_are_type_checked)
{
	json_object *o = json_tokener_parse("{\"null\": null, \"int\": 7, \"list\": [\"a\"], \"obj\": {},"
					    " \"s\": \"pre-switchover\", \"empty\": \"\", \"ctl\": \"a\\nb\","
					    " \"long\": \"abcdefghijklmnopqrstuvwxyzabcdef\"}");
	json_object *list = json_tokener_parse("[\"s\"]");

	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_null(mg_qmp_member_string(NULL, "s"));
	ck_assert_ptr_null(mg_qmp_member_string(list, "s"));
	ck_assert_ptr_null(mg_qmp_member_string(o, "absent"));
	ck_assert_ptr_null(mg_qmp_member_string(o, "null"));
	ck_assert_ptr_null(mg_qmp_member_string(o, "int"));
	ck_assert_ptr_null(mg_qmp_member_string(o, "list"));
	ck_assert_ptr_null(mg_qmp_member_string(o, "obj"));
	ck_assert_str_eq(mg_qmp_member_string(o, "s"), "pre-switchover");
	ck_assert_str_eq(mg_qmp_member_string(o, "ctl"), "a\nb");
	ck_assert_str_eq(mg_qmp_member_enum(o, "s"), "pre-switchover");
	ck_assert_ptr_null(mg_qmp_member_enum(o, "empty"));
	ck_assert_ptr_null(mg_qmp_member_enum(o, "ctl"));
	ck_assert_ptr_null(mg_qmp_member_enum(o, "long"));
	ck_assert_ptr_null(mg_qmp_member_enum(o, "null"));
	/* An error object with members of the wrong type reads as "". */
	ck_assert_str_eq(mg_qmp_error_class(o), "");
	ck_assert_str_eq(mg_qmp_error_desc(list), "");
	json_object_put(o);
	json_object_put(list);
}
END_TEST

/* --- peer credentials (issue #10 item 4) -------------------------------- */

/* A child that listens on path (so SO_PEERCRED names it) until killed. */
static pid_t spawn_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ready[2];
	char c;
	pid_t pid;

	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int lfd = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		unlink(path);
		if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

START_TEST(test_socket_served_by_another_process_is_refused_before_reading)
{
	char path[108];
	pid_t listener, other = fork();

	if (other == 0) {
		pause();
		_exit(0);
	}
	snprintf(path, sizeof(path), "/tmp/test_qmp.peer.%d.sock", (int)getpid());
	listener = spawn_listener(path);
	mg_qmp_close(q);
	/* The guarded process is `other`; the socket is served by `listener`. */
	mg_qmp_expect_peer(q, other);
	ck_assert_int_eq(mg_qmp_connect_unix(q, path), -EPERM);
	ck_assert_int_eq(mg_qmp_get_state(q), MG_QMP_DISCONNECTED);
	ck_assert_int_eq(seen.ready, 0);
	/* The same socket is accepted for the process that serves it. */
	mg_qmp_expect_peer(q, listener);
	ck_assert_int_eq(mg_qmp_connect_unix(q, path), 0);
	ck_assert_int_eq(mg_qmp_get_state(q), MG_QMP_GREETING);
	mg_qmp_close(q);
	/* A socketpair names its creator, this process. */
	{
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		mg_qmp_expect_peer(q, other);
		ck_assert_int_eq(mg_qmp_connect_fd(q, sv[0]), -EPERM);
		ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);	/* closed by the client */
		/* Refused before anything was read or sent: the peer sees EOF. */
		char c;
		ck_assert_int_eq(recv(sv[1], &c, 1, MSG_DONTWAIT), 0);
		ck_assert_int_eq(seen.ready, 0);
		close(sv[1]);
	}
	reap(listener);
	reap(other);
	unlink(path);
}
END_TEST

START_TEST(test_peer_check_accepts_threads_and_root_refuses_other_uids)
{
	char why[160];
	pid_t self = getpid(), gone = fork();

	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	ck_assert_int_eq(mg_procid_check_peer(self, self, getuid(), why, sizeof(why)), 0);
	ck_assert_int_eq(mg_procid_check_peer(self, self, 0, why, sizeof(why)), 0);
	ck_assert_int_eq(mg_procid_check_peer(self, self, getuid() + 4242, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "uid"), "%s", why);
	ck_assert_int_eq(mg_procid_check_peer(self, 0, getuid(), why, sizeof(why)), -EPERM);
	ck_assert_int_eq(mg_procid_check_peer(self, 1, getuid(), why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "served by pid 1"), "%s", why);
	ck_assert_int_eq(mg_procid_check_peer(gone, gone, getuid(), why, sizeof(why)), -ESRCH);
	check_peer_of_thread(self);
}
END_TEST

static Suite *qmp_suite(void)
{
	Suite *s = suite_create("qmp");
	TCase *tc = tcase_create("client");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_handshake_then_query_status_returns_status);
	tcase_add_test(tc, test_execute_before_ready_is_refused);
	tcase_add_test(tc, test_oob_negotiated_when_offered_and_exec_oob_sent);
	tcase_add_test(tc, test_events_delivered_with_name_data_and_timestamp);
	tcase_add_test(tc, test_error_reply_reported_as_eremoteio_with_class_and_desc);
	tcase_add_test(tc, test_no_greeting_times_out_and_closes_cleanly);
	tcase_add_test(tc, test_capabilities_never_answered_times_out);
	tcase_add_test(tc, test_garbage_json_closes_and_fails_pending_request);
	tcase_add_test(tc, test_garbage_instead_of_greeting_closes);
	tcase_add_test(tc, test_event_before_the_greeting_is_skipped);
	tcase_add_test(tc, test_message_that_is_not_an_object_closes);
	tcase_add_test(tc, test_oversized_message_closes_with_emsgsize);
	tcase_add_test(tc, test_reply_trickled_one_byte_at_a_time_is_parsed);
	tcase_add_test(tc, test_pretty_printed_messages_in_one_write);
	tcase_add_test(tc, test_reply_with_unknown_id_ignored_and_real_reply_matched);
	tcase_add_test(tc, test_peer_closes_mid_request_fails_pending_with_econnreset);
	tcase_add_test(tc, test_timeout_marks_unresponsive_and_late_reply_clears_it);
	tcase_add_test(tc, test_inband_requests_bounded_while_unanswered);
	tcase_add_test(tc, test_close_from_reply_callback_stops_processing);
	tcase_add_test(tc, test_unref_with_pending_request_cancels_it);
	tcase_add_test(tc, test_connect_unix_socket_and_reconnect);
	tcase_add_test(tc, test_error_member_that_is_not_an_object_fails_request_with_ebadmsg);
	tcase_add_test(tc, test_capabilities_answered_with_null_error_closes_instead_of_ready);
	tcase_add_test(tc, test_event_data_that_is_not_an_object_reaches_owner_as_null);
	tcase_add_test(tc, test_timestamp_of_wrong_type_or_out_of_range_is_zero);
	tcase_add_test(tc, test_member_string_and_enum_are_type_checked);
	tcase_add_test(tc, test_socket_served_by_another_process_is_refused_before_reading);
	tcase_add_test(tc, test_peer_check_accepts_threads_and_root_refuses_other_uids);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(qmp_suite());
}
