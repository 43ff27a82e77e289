/* qmpreq.c - see qmpreq.h. */
#include "qmpreq.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mg_qmpreq_table_init(struct mg_qmpreq_table *t, const char *name_for_logs)
{
	*t = (struct mg_qmpreq_table){ .name = name_for_logs };
}

void mg_qmpreq_table_done(struct mg_qmpreq_table *t)
{
	while (t->spare) {
		struct mg_qmpreq *r = t->spare;

		t->spare = r->next;
		sd_event_source_disable_unref(r->timer);
		free(r);
	}
	t->n_spare = 0;
}

struct mg_qmpreq *mg_qmpreq_new(struct mg_qmpreq_table *t, struct mg_qmp *q, const char *cmd,
				bool oob, mg_qmp_reply_fn cb, void *userdata)
{
	struct mg_qmpreq *r = t->spare;
	sd_event_source *timer = NULL;

	if (r) {
		t->spare = r->next;
		t->n_spare--;
		timer = r->timer;
		*r = (struct mg_qmpreq){ 0 };
	} else {
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
	}
	r->timer = timer;
	r->table = t;
	r->q = q;
	r->oob = oob;
	r->cb = cb;
	r->userdata = userdata;
	r->sent_at = mg_now_mono();
	snprintf(r->id, sizeof(r->id), "mg-%" PRIu64, ++t->next_serial);
	snprintf(r->cmd, sizeof(r->cmd), "%s", cmd);
	return r;
}

void mg_qmpreq_free(struct mg_qmpreq *r)
{
	struct mg_qmpreq_table *t = r->table;

	if (t && t->n_spare < MG_QMPREQ_SPARE) {
		if (r->timer)
			sd_event_source_set_enabled(r->timer, SD_EVENT_OFF);
		r->next = t->spare;
		t->spare = r;
		t->n_spare++;
		return;
	}
	sd_event_source_disable_unref(r->timer);
	free(r);
}

void mg_qmpreq_append(struct mg_qmpreq_table *t, struct mg_qmpreq *r)
{
	struct mg_qmpreq **tail;

	for (tail = &t->head; *tail; tail = &(*tail)->next)
		;
	*tail = r;
	if (r->oob)
		t->n_oob++;
	else
		t->n_inband++;
}

void mg_qmpreq_unlink(struct mg_qmpreq_table *t, struct mg_qmpreq *r)
{
	for (struct mg_qmpreq **p = &t->head; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	r->next = NULL;
	if (r->oob)
		t->n_oob--;
	else
		t->n_inband--;
}

struct mg_qmpreq *mg_qmpreq_pop(struct mg_qmpreq_table *t)
{
	struct mg_qmpreq *r = t->head;

	if (r)
		mg_qmpreq_unlink(t, r);
	return r;
}

struct mg_qmpreq *mg_qmpreq_find(const struct mg_qmpreq_table *t, const char *id)
{
	for (struct mg_qmpreq *r = t->head; r; r = r->next)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

void mg_qmpreq_complete(struct mg_qmpreq *r, int err, json_object *reply)
{
	struct mg_qmp *q = r->q;
	mg_qmp_reply_fn cb = r->cb;
	void *userdata = r->userdata;

	mg_qmpreq_free(r);
	if (cb)
		cb(q, err, reply, userdata);
}

bool mg_qmpreq_full(const struct mg_qmpreq_table *t, bool oob)
{
	return oob ? t->n_oob >= MG_QMP_OOB_MAX : t->n_inband >= MG_QMP_INBAND_MAX;
}

size_t mg_qmpreq_count(const struct mg_qmpreq_table *t)
{
	return t->n_inband + t->n_oob;
}

void mg_qmpreq_expire(struct mg_qmpreq_table *t, struct mg_qmpreq *r, mg_qmp_reply_fn *cb,
		      void **userdata)
{
	char buf[32];

	*cb = r->cb;
	*userdata = r->userdata;
	r->timer = sd_event_source_disable_unref(r->timer);
	r->timed_out = true;
	r->cb = NULL;
	/* The record stays until the late reply, which clears the mark. */
	if (!r->oob && !t->unresponsive_since) {
		t->unresponsive_since = r->sent_at;
		mg_warn("qmp %s: monitor unresponsive: %s (%s) unanswered after %s", t->name, r->cmd,
			r->id, mg_format_seconds(mg_now_mono() - r->sent_at, buf, sizeof(buf)));
	} else {
		mg_debug("qmp %s: %s (%s) timed out", t->name, r->cmd, r->id);
	}
}

/* An in-band reply proves the main loop runs again.  QEMU answers in-band
 * requests in order, so timed-out in-band requests sent before this one will
 * never be answered: forget them so they stop holding MG_QMP_INBAND_MAX. */
void mg_qmpreq_inband_answered(struct mg_qmpreq_table *t, struct mg_qmpreq *answered)
{
	if (t->unresponsive_since) {
		char buf[32];

		mg_notice("qmp %s: monitor answers again after %s", t->name,
			  mg_format_seconds(mg_now_mono() - t->unresponsive_since, buf, sizeof(buf)));
		t->unresponsive_since = 0;
	}
	for (struct mg_qmpreq *r = t->head, *next; r && r != answered; r = next) {
		next = r->next;
		if (!r->oob && r->timed_out) {
			mg_debug("qmp %s: %s (%s) will never be answered; dropped", t->name, r->id, r->cmd);
			mg_qmpreq_unlink(t, r);
			mg_qmpreq_free(r);
		}
	}
}

void mg_qmpreq_clear_unresponsive(struct mg_qmpreq_table *t)
{
	t->unresponsive_since = 0;
}
