/* qmp.h - a non-blocking QMP client on the sd-event loop (json-c).
 *
 * One struct mg_qmp is one monitor connection: greeting, qmp_capabilities
 * (with "oob" when QEMU offers it), requests with ids "mg-N" matched to their
 * replies, a deadline per request, events to a callback.  Nothing here ever
 * blocks the loop: the socket is non-blocking, output is queued on EAGAIN,
 * input is bounded (MG_QMP_MAX_MESSAGE).
 *
 * Promises:
 *  - every request's callback runs exactly once: with the reply, the error
 *    QEMU sent, -ETIMEDOUT at its deadline, the close reason, or -ECANCELED
 *    when the owner closes or frees the connection;
 *  - a request that times out marks the connection "unresponsive since" the
 *    time it was sent, until QEMU answers an in-band request again.  Only
 *    in-band replies clear the mark: out-of-band ones come from QEMU's
 *    monitor I/O thread and keep answering while the main loop is stuck on
 *    the BQL, which is exactly the hang the guard looks for;
 *  - qmp.c logs every problem it detects on the wire (naming the peer) once;
 *    on_closed's reason is for the owner's decisions, not to be logged again
 *    as an error.
 *
 * QEMU behaviour this relies on (7.2, monitor/qmp.c): in-band commands are
 * dispatched in order by the main loop under the BQL; with "oob" enabled the
 * monitor reads ahead up to 8 queued in-band requests and stops reading
 * (out-of-band ones included) when that queue is full, so the client keeps at
 * most MG_QMP_INBAND_MAX in-band requests outstanding.  A connection made
 * while the main loop hangs gets the greeting but qmp_capabilities is never
 * answered: connect before the hang and keep the connection. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>
#include <systemd/sd-event.h>

/* A reply or event larger than this closes the connection (-EMSGSIZE). */
#define MG_QMP_MAX_MESSAGE (16u * 1024 * 1024)
/* In-band requests outstanding at once, timed-out ones included (their late
 * replies are still due); more is refused with -EBUSY.  Below QEMU's queue of
 * 8 so the monitor keeps reading out-of-band commands during a hang. */
#define MG_QMP_INBAND_MAX 4
/* Out-of-band requests outstanding at once; more is refused with -EBUSY. */
#define MG_QMP_OOB_MAX 8
/* Default deadline for the greeting plus qmp_capabilities. */
#define MG_QMP_HANDSHAKE_TIMEOUT (5 * UINT64_C(1000000))

struct mg_qmp;

enum mg_qmp_state {
	MG_QMP_DISCONNECTED,	/* new, closed, or failed: connect again to reconnect */
	MG_QMP_CONNECTING,	/* non-blocking connect() in progress */
	MG_QMP_GREETING,	/* connected, waiting for {"QMP": ...} */
	MG_QMP_NEGOTIATING,	/* qmp_capabilities sent */
	MG_QMP_READY,		/* commands may be executed */
};

/* The outcome of one request.  err == 0: reply is the "return" value, as
 * the peer sent it: any JSON type, NULL for a JSON null, so the callback
 * type-checks it before use (json_object_is_type, mg_qmp_member_string).
 * err == -EREMOTEIO: reply is QEMU's "error" object (see
 * mg_qmp_error_class/desc).  Otherwise reply is NULL: -EBADMSG (an "error"
 * member that is not an object), -ETIMEDOUT (deadline), -ECANCELED (owner
 * closed or freed the connection), or the close reason.  reply is
 * borrowed: take a json_object_get() to keep it. */
typedef void (*mg_qmp_reply_fn)(struct mg_qmp *q, int err, json_object *reply, void *userdata);

struct mg_qmp_callbacks {
	/* The handshake finished; mg_qmp_execute() works from now on. */
	void (*on_ready)(struct mg_qmp *q, void *userdata);
	/* The connection ended on its own (peer, protocol error, handshake
	 * timeout, failed connect): reason is a negative errno (-ECONNRESET,
	 * -EBADMSG, -EMSGSIZE, -ETIMEDOUT, -ECONNREFUSED, ...).  Not called for
	 * mg_qmp_close() or the last unref.  The owner may reconnect from here. */
	void (*on_closed)(struct mg_qmp *q, int reason, void *userdata);
	/* A QMP event; data is an object or NULL (absent, or not an object:
	 * dropped with a warning), its members still unchecked; timestamp_usec
	 * is QEMU's wall clock (CLOCK_REALTIME usec), 0 when absent or
	 * malformed.  All borrowed. */
	void (*on_event)(struct mg_qmp *q, const char *event, json_object *data,
			 uint64_t timestamp_usec, void *userdata);
};

/* Creates a disconnected client on loop; name_for_logs names the peer in
 * every log line (e.g. the domain name).  0 or -ENOMEM. */
int mg_qmp_new(sd_event *loop, const char *name_for_logs, struct mg_qmp **out);
struct mg_qmp *mg_qmp_ref(struct mg_qmp *q);
/* Drops a reference; the last one closes the connection (pending requests
 * complete with -ECANCELED, on_closed is not called).  Returns NULL. */
struct mg_qmp *mg_qmp_unref(struct mg_qmp *q);
static inline void mg_qmp_freep(struct mg_qmp **q) { if (*q) mg_qmp_unref(*q); }

/* Callbacks (copied) and their userdata; any member may be NULL. */
void mg_qmp_set_callbacks(struct mg_qmp *q, const struct mg_qmp_callbacks *cb, void *userdata);
/* Deadline from connect to READY (default MG_QMP_HANDSHAKE_TIMEOUT). */
void mg_qmp_set_handshake_timeout(struct mg_qmp *q, uint64_t usec);
/* From the next connection on, the socket must be served by process pid:
 * its SO_PEERCRED must pass mg_procid_check_peer() (pid or one of its
 * threads, a uid of pid's or root), checked as soon as the connection is
 * made and before anything is read from it.  A refused peer is logged as
 * an error and the connection ends with -EPERM (-ESRCH when pid is gone):
 * it never reaches READY, so no reply or event of it reaches the owner.
 * 0 (the default) checks nothing.  Relies on QEMU creating its monitor
 * socket itself (-qmp unix:PATH,server=on or -chardev socket,...,server=on):
 * a socket made by another process and passed to QEMU names that process. */
void mg_qmp_expect_peer(struct mg_qmp *q, pid_t pid);

/* Starts a non-blocking connect to a unix socket; the outcome arrives via
 * on_ready or on_closed.  Returns 0, -EALREADY when not disconnected,
 * -ENAMETOOLONG, -EPERM / -ESRCH when the peer is refused (logged, see
 * mg_qmp_expect_peer), or the immediate connect() error (-ENOENT,
 * -ECONNREFUSED, -EAGAIN when the listen backlog is full), not logged: the
 * caller decides whether a missing socket is worth a line. */
int mg_qmp_connect_unix(struct mg_qmp *q, const char *path);
/* Adopts an already connected stream socket (made non-blocking and
 * close-on-exec here; closed by the client from now on, even on error);
 * the handshake starts at once.  0, -EALREADY, -EPERM / -ESRCH (refused
 * peer, see mg_qmp_expect_peer), or -errno. */
int mg_qmp_connect_fd(struct mg_qmp *q, int fd);
/* Closes the connection now; pending requests complete with -ECANCELED;
 * on_closed is not called.  The client may connect again. */
void mg_qmp_close(struct mg_qmp *q);

/* Sends {"execute"|"exec-oob": cmd, "arguments": args, "id": "mg-N"}.
 * args may be NULL; the client takes a reference of its own.  timeout_usec 0
 * means no deadline.  cb may be NULL (the reply is consumed).  Returns 0 (cb
 * will run exactly once, never from inside this call), -ENOTCONN before READY,
 * -EOPNOTSUPP for oob when QEMU did not offer it, -EBUSY over
 * MG_QMP_INBAND_MAX / MG_QMP_OOB_MAX outstanding, -ENOMEM. */
int mg_qmp_execute(struct mg_qmp *q, const char *cmd, json_object *args, bool oob,
		   uint64_t timeout_usec, mg_qmp_reply_fn cb, void *userdata);

enum mg_qmp_state mg_qmp_get_state(const struct mg_qmp *q);
const char *mg_qmp_state_to_string(enum mg_qmp_state s);
const char *mg_qmp_name(const struct mg_qmp *q);
/* True once qmp_capabilities enabled out-of-band execution. */
bool mg_qmp_oob_enabled(const struct mg_qmp *q);
/* QEMU's version from the greeting, e.g. (7, 2, 22); -ENODATA before it. */
int mg_qmp_version(const struct mg_qmp *q, int *major, int *minor, int *micro);
/* Monotonic usec at which the oldest timed-out, still unanswered in-band
 * request was sent; 0 while the monitor answers. */
uint64_t mg_qmp_unresponsive_since(const struct mg_qmp *q);
/* Requests sent and not yet answered (timed-out ones included). */
size_t mg_qmp_n_outstanding(const struct mg_qmp *q);

/* The string member key of obj; NULL when obj is not an object, or the
 * member is absent or not a string (a JSON null included).  Every member
 * of a reply or an event goes through a type check like this one before
 * use: json-c returns NULL for a JSON null, and its array functions abort
 * on anything but an array. */
const char *mg_qmp_member_string(json_object *obj, const char *key);

/* Longest QAPI enum value accepted from the peer, NUL included (QEMU 7.2's
 * longest RunState and MigrationStatus values have 22 characters). */
#define MG_QMP_ENUM_MAX 32
/* Like mg_qmp_member_string, and NULL unless the string looks like a QAPI
 * enum value (a RunState, a MigrationStatus): 1 to MG_QMP_ENUM_MAX - 1
 * characters of [A-Za-z0-9_.-].  What the guard compares and logs. */
const char *mg_qmp_member_enum(json_object *obj, const char *key);

/* The "class" / "desc" of an error object passed with -EREMOTEIO; never NULL
 * ("" when absent or not a string). */
const char *mg_qmp_error_class(json_object *error);
const char *mg_qmp_error_desc(json_object *error);
