/* qmp_watch - drives the QMP client (qmp.c) against a real QEMU for the
 * integration tests: connects, then every 200 ms sends query-status
 * (in-band, 1 s deadline, one at a time) and, when out-of-band execution was
 * negotiated, query-yank out-of-band; prints one line per outcome:
 *   ready oob=1 | status=running | status-error=-110 | unresponsive=1 |
 *   responsive | oob=ok | oob-error=-110 | event=STOP | closed=-104
 * Usage: qmp_watch SOCKET SECONDS.  Exit 0 after SECONDS, 1 on a connect
 * error. */
#include "log.h"
#include "qmp.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool status_pending, oob_pending, was_unresponsive;

static void on_status(struct mg_qmp *q, int err, json_object *ret, void *u)
{
	json_object *s;

	status_pending = false;
	if (err == 0 && json_object_object_get_ex(ret, "status", &s))
		printf("status=%s\n", json_object_get_string(s));
	else
		printf("status-error=%d\n", err);
}

static void on_oob(struct mg_qmp *q, int err, json_object *ret, void *u)
{
	oob_pending = false;
	if (err == 0)
		printf("oob=ok\n");
	else
		printf("oob-error=%d\n", err);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *u)
{
	struct mg_qmp *q = u;
	bool unresponsive = mg_qmp_unresponsive_since(q) != 0;

	if (unresponsive != was_unresponsive)
		printf(unresponsive ? "unresponsive=1\n" : "responsive\n");
	was_unresponsive = unresponsive;
	if (mg_qmp_get_state(q) == MG_QMP_READY) {
		/* One in-band request at a time, as the guard does: while the
		 * main loop hangs, more would only fill QEMU's queue. */
		if (!status_pending && !unresponsive &&
		    mg_qmp_execute(q, "query-status", NULL, false, MG_USEC_PER_SEC, on_status, NULL) == 0)
			status_pending = true;
		if (mg_qmp_oob_enabled(q) && !oob_pending &&
		    mg_qmp_execute(q, "query-yank", NULL, true, MG_USEC_PER_SEC, on_oob, NULL) == 0)
			oob_pending = true;
	}
	return sd_event_source_set_time(s, usec + 200 * MG_USEC_PER_MSEC);
}

static void on_ready(struct mg_qmp *q, void *u) { printf("ready oob=%d\n", mg_qmp_oob_enabled(q)); }
static void on_closed(struct mg_qmp *q, int reason, void *u) { printf("closed=%d\n", reason); }
static void on_event(struct mg_qmp *q, const char *name, json_object *data, uint64_t ts, void *u)
{
	printf("event=%s\n", name);
}

int main(int argc, char **argv)
{
	static const struct mg_qmp_callbacks cb = { on_ready, on_closed, on_event };
	_cleanup_(mg_qmp_freep) struct mg_qmp *q = NULL;
	sd_event *loop = NULL;
	sd_event_source *tick = NULL;
	long long secs;
	int r;

	if (argc != 3 || mg_parse_int(argv[2], 1, 3600, &secs) < 0) {
		fprintf(stderr, "usage: %s SOCKET SECONDS\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	mg_log_setup(MG_LOG_STDERR, LOG_DEBUG, "qmp_watch");
	if (sd_event_default(&loop) < 0 || mg_qmp_new(loop, "watched", &q) < 0)
		return 1;
	mg_qmp_set_callbacks(q, &cb, NULL);
	r = mg_qmp_connect_unix(q, argv[1]);
	if (r < 0) {
		mg_error_errno(r, "cannot connect to %s", argv[1]);
		return 1;
	}
	if (sd_event_add_time_relative(loop, &tick, CLOCK_MONOTONIC, 200 * MG_USEC_PER_MSEC, 1,
				       on_tick, q) < 0 ||
	    sd_event_source_set_enabled(tick, SD_EVENT_ON) < 0 ||
	    sd_event_add_time_relative(loop, NULL, CLOCK_MONOTONIC, (uint64_t)secs * MG_USEC_PER_SEC,
				       1, NULL, NULL) < 0)
		return 1;
	r = sd_event_loop(loop);
	sd_event_source_disable_unref(tick);
	q = mg_qmp_unref(q);
	sd_event_unref(loop);
	return r < 0 ? 1 : 0;
}
