/* qmpreq.h - the requests outstanding on one QMP connection: their records in
 * send order, the in-band and out-of-band counts, and "unresponsive since".
 *
 * One struct mg_qmpreq_table is embedded in each struct mg_qmp.  The table
 * keeps the records and the bookkeeping; the client owns the event loop, the
 * deadlines' timers' callbacks and the wire.  A record's callback is run
 * through mg_qmpreq_complete() or taken by mg_qmpreq_expire(), so it runs at
 * most once.
 *
 * QEMU behaviour this relies on (7.2, monitor/qmp.c): in-band requests are
 * answered in order by the main loop under the BQL; out-of-band ones by the
 * monitor's I/O thread, which keeps answering while the main loop is stuck.
 * So only an in-band reply proves the monitor answers again, and an in-band
 * reply means every in-band request sent before it will never be answered. */
#pragma once

#include "qmp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct mg_qmpreq {
	struct mg_qmpreq *next;		/* in send order */
	struct mg_qmp *q;
	char id[24];
	char cmd[48];			/* for logs */
	bool oob;
	bool timed_out;			/* callback already ran; a late reply is still due */
	uint64_t sent_at;
	sd_event_source *timer;		/* the deadline, set by the client; freed with r
					 * (a spare record keeps it, disabled, for reuse) */
	struct mg_qmpreq_table *table;	/* where a freed record is kept for reuse */
	mg_qmp_reply_fn cb;
	void *userdata;
};

struct mg_qmpreq_table {
	const char *name;		/* the client's, for logs; borrowed */
	struct mg_qmpreq *head;
	uint64_t next_serial;
	size_t n_inband, n_oob;
	uint64_t unresponsive_since;
	/* Freed records kept for the next requests, with their timers: a
	 * probe round's requests allocate nothing. */
	struct mg_qmpreq *spare;
	unsigned n_spare;
};

#define MG_QMPREQ_SPARE 4

/* Prepares an empty table; name_for_logs is borrowed for its log lines. */
void mg_qmpreq_table_init(struct mg_qmpreq_table *t, const char *name_for_logs);
/* Frees the spare records (the table holds no outstanding ones by then). */
void mg_qmpreq_table_done(struct mg_qmpreq_table *t);

/* A new record of cmd for client q, not yet in the table: id "mg-N" (N the
 * table's next serial, never reused on the table), sent_at now; a spare
 * record when there is one (its timer, if any, disabled: re-arm it).  NULL
 * when out of memory (the serial is then unchanged). */
struct mg_qmpreq *mg_qmpreq_new(struct mg_qmpreq_table *t, struct mg_qmp *q, const char *cmd,
				bool oob, mg_qmp_reply_fn cb, void *userdata);
/* Frees r and its timer without running its callback, or keeps it (its
 * timer disabled) as one of its table's spares. */
void mg_qmpreq_free(struct mg_qmpreq *r);
static inline void mg_qmpreq_freep(struct mg_qmpreq **r) { if (*r) mg_qmpreq_free(*r); }

/* Appends r (sent last) and counts it. */
void mg_qmpreq_append(struct mg_qmpreq_table *t, struct mg_qmpreq *r);
/* Unlinks r from the table and its counts. */
void mg_qmpreq_unlink(struct mg_qmpreq_table *t, struct mg_qmpreq *r);
/* Unlinks and returns the oldest record; NULL when the table is empty. */
struct mg_qmpreq *mg_qmpreq_pop(struct mg_qmpreq_table *t);
/* The record with id, timed-out ones included; NULL when none. */
struct mg_qmpreq *mg_qmpreq_find(const struct mg_qmpreq_table *t, const char *id);
/* Runs r's callback, if any, with (r->q, err, reply) and frees r first, so
 * the callback may use the table; r must be unlinked. */
void mg_qmpreq_complete(struct mg_qmpreq *r, int err, json_object *reply);

/* True when another request of this kind would pass MG_QMP_INBAND_MAX or
 * MG_QMP_OOB_MAX (timed-out ones still count: their replies are due). */
bool mg_qmpreq_full(const struct mg_qmpreq_table *t, bool oob);
/* Records in the table. */
size_t mg_qmpreq_count(const struct mg_qmpreq_table *t);

/* r's deadline passed: its timer is dropped and its callback handed back in
 * *cb / *userdata for the caller to run with -ETIMEDOUT; the record stays
 * until the late reply.  A timed-out in-band request marks the table
 * unresponsive since r was sent, unless it already is; logged once (the
 * rest at debug level). */
void mg_qmpreq_expire(struct mg_qmpreq_table *t, struct mg_qmpreq *r, mg_qmp_reply_fn *cb,
		      void **userdata);
/* QEMU answered in-band request r (still in the table): the mark is cleared
 * (logged when it was set) and every timed-out in-band request sent before r
 * is dropped, so it stops holding MG_QMP_INBAND_MAX. */
void mg_qmpreq_inband_answered(struct mg_qmpreq_table *t, struct mg_qmpreq *r);
/* Clears the mark without a log line: the connection ended. */
void mg_qmpreq_clear_unresponsive(struct mg_qmpreq_table *t);
