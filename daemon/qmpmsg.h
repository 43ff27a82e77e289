/* qmpmsg.h - the parts of QEMU's QMP messages that the client reads beyond
 * the dispatch on "event" / "return" / "error": the greeting and an event's
 * timestamp, and the one message it composes itself, qmp_capabilities'
 * arguments.  No state, no I/O, no logging; every member type-checked (json-c
 * returns NULL for a JSON null and aborts on array access to a non-array).
 *
 * QEMU's formats (docs/interop/qmp-spec, 7.2): the greeting is
 * {"QMP": {"version": {"qemu": {"major", "minor", "micro"}, ...},
 * "capabilities": ["oob"]}}; an event's timestamp is {"seconds",
 * "microseconds"} of the wall clock, {-1, -1} when QEMU could not read it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

struct mg_qmpmsg_greeting {
	bool have_version;	/* version.qemu present */
	int version[3];		/* major, minor, micro; 0 where absent or not an int */
	bool oob;		/* "oob" among the capabilities */
};

/* Reads greeting msg into *g.  0, or -EBADMSG when msg has no "QMP"
 * object (*g is then all false). */
int mg_qmpmsg_parse_greeting(json_object *msg, struct mg_qmpmsg_greeting *g);
/* The "arguments" of qmp_capabilities: {"enable": ["oob"]} when oob, else
 * none (*args NULL).  0 or -ENOMEM; the caller puts *args. */
int mg_qmpmsg_capabilities_args(bool oob, json_object **args);
/* The "timestamp" of event msg as CLOCK_REALTIME usec; 0 when absent,
 * malformed, QEMU's {-1, -1}, or too large for the usec count. */
uint64_t mg_qmpmsg_event_timestamp(json_object *msg);
