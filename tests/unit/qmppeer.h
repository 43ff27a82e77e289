/* qmppeer.h - a scripted QMP peer for unit tests: the test's end of a QMP
 * connection, playing QEMU, so the QMP client, the watch and the ladder are
 * tested without one (libvirt's tests/qemumonitortestutils.c idea: the
 * conversation as data, qemuMonitorTestAddItem(test, "query-status", reply)).
 *
 * Two ways to drive it:
 *   - step by step, the test in control of every byte and of the timing
 *     (test_qmp: malformed input, trickled replies): attach the server end
 *     of a socketpair, then send / recv / expect / reply / handshake, each
 *     running the loop while it waits;
 *   - scripted, on the loop (test_watch, test_ladder): the peer listens on
 *     a unix socket of this process (so SO_PEERCRED names the test's pid:
 *     give the client getpid() as the QEMU pid), greets each connection,
 *     answers qmp_capabilities and then each command by its script: the
 *     command's queued items first, in order, then its standing answer; a
 *     command with neither is answered CommandNotFound and counted as
 *     unexpected.  An answer is a "return" value, an error, or none at all
 *     (the command stays outstanding, as under a held BQL), optionally
 *     after a delay. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "mgloop.h"

struct mg_qmppeer;

/* QEMU 7.2's greeting; %s is the capabilities list ("\"oob\"" or ""). */
#define MG_QMPPEER_GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, " \
	"\"package\": \"Debian\"}, \"capabilities\": [%s]}}\r\n"

void mg_qmppeer_free(struct mg_qmppeer *p);

/* --- step by step --------------------------------------------------------- */

/* A peer on loop for the server end fd of a connection (owned from here;
 * -1 for none yet).  Fails the test when it cannot. */
struct mg_qmppeer *mg_qmppeer_new(sd_event *loop, int fd);
/* Its connection's fd (-1 when none); the test may write raw bytes to it. */
int mg_qmppeer_fd(const struct mg_qmppeer *p);
/* Closes the current connection and serves fd (-1: none) from a clean
 * buffer. */
void mg_qmppeer_attach(struct mg_qmppeer *p, int fd);
/* Sends text as it is. */
void mg_qmppeer_send(struct mg_qmppeer *p, const char *text);
/* The client's next message (one line), running the loop up to 2 s. */
json_object *mg_qmppeer_recv(struct mg_qmppeer *p);
/* Expects command cmd (execute, or exec-oob when oob) and returns its id
 * (valid until the next call); *args gets its arguments (a reference) or
 * NULL when args is given. */
const char *mg_qmppeer_expect(struct mg_qmppeer *p, const char *cmd, bool oob, json_object **args);
/* {"return": ret, "id": id}. */
void mg_qmppeer_reply(struct mg_qmppeer *p, const char *id, const char *ret);
/* Sends QEMU 7.2's greeting (offering oob or not), expects qmp_capabilities
 * (with {"enable":["oob"]} exactly when offered) and returns its id: the
 * test answers it when it wants the client ready. */
const char *mg_qmppeer_greet(struct mg_qmppeer *p, bool offer_oob);

/* --- scripted ---------------------------------------------------------------- */

/* A peer listening on path (replaced if it exists), offering oob or not. */
struct mg_qmppeer *mg_qmppeer_listen(sd_event *loop, const char *path, bool offer_oob);
/* The standing answer to cmd: ret as its "return" value, or with ret NULL
 * no answer at all. */
void mg_qmppeer_answer(struct mg_qmppeer *p, const char *cmd, const char *ret);
/* The standing answer to cmd: an error of class cls with desc. */
void mg_qmppeer_answer_error(struct mg_qmppeer *p, const char *cmd, const char *cls, const char *desc);
/* One answer for the next cmd not yet answered by an item, before the
 * standing one: ret (NULL: none), or with cls an error; after delay usec. */
void mg_qmppeer_add_item(struct mg_qmppeer *p, const char *cmd, const char *ret, const char *cls,
			 uint64_t delay);
/* Sends QEMU's event name with data (a JSON object, or NULL: no data
 * member) to the connected client, now. */
void mg_qmppeer_event(struct mg_qmppeer *p, const char *name, const char *data);
/* Connections accepted so far; whether one is open and negotiated. */
unsigned mg_qmppeer_connections(const struct mg_qmppeer *p);
bool mg_qmppeer_ready(const struct mg_qmppeer *p);
/* How many cmd requests arrived (execute and exec-oob alike). */
unsigned mg_qmppeer_count(const struct mg_qmppeer *p, const char *cmd);
/* Whether the last cmd came as exec-oob. */
bool mg_qmppeer_last_oob(const struct mg_qmppeer *p, const char *cmd);
/* The last cmd's arguments as compact JSON ("" when none, NULL when the
 * command never came). */
const char *mg_qmppeer_last_args(const struct mg_qmppeer *p, const char *cmd);
/* Commands that had no script. */
unsigned mg_qmppeer_unexpected(const struct mg_qmppeer *p);
