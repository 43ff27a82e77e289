/* mgsink.h - a capturing sink for unit tests (notify.h): register it,
 * run the code under test, then read what it was told, in order.  Each
 * event is copied whole, its strings included, so the emitter's buffers
 * may be gone by the time the test looks. */
#pragma once

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "notify.h"

#define MG_TEST_SINK_MAX 64

/* Which sink saw which event when, across sinks. */
struct mg_test_order {
	size_t n;
	const char *labels[4 * MG_TEST_SINK_MAX];
};

struct mg_test_event {
	struct mg_event e;		/* the strings point into the members below */
	char name[32], domain[256], uuid[40], direction[16], phase[16], incident[512], step[32],
		detail[768];
};

struct mg_test_sink {
	const char *label;		/* recorded in order[] at each event (dispatch order) */
	size_t n;			/* events seen (at most MG_TEST_SINK_MAX kept) */
	struct mg_test_event events[MG_TEST_SINK_MAX];
	/* Shared by sinks that test their relative order; may be NULL. */
	struct mg_test_order *order;
};

static inline const char *mg_test_copy(char *dst, size_t size, const char *src)
{
	if (!src)
		return NULL;
	snprintf(dst, size, "%s", src);
	return dst;
}

/* The sink function: userdata is the struct mg_test_sink. */
static inline void mg_test_sink_on_event(void *userdata, const struct mg_event *e)
{
	struct mg_test_sink *s = userdata;
	struct mg_test_event *t;

	if (s->order && s->order->n < sizeof(s->order->labels) / sizeof(s->order->labels[0]))
		s->order->labels[s->order->n++] = s->label;
	if (s->n++ >= MG_TEST_SINK_MAX)
		return;
	t = &s->events[s->n - 1];
	t->e = *e;
	t->e.ev.name = mg_test_copy(t->name, sizeof(t->name), e->ev.name);
	t->e.ev.domain = mg_test_copy(t->domain, sizeof(t->domain), e->ev.domain);
	t->e.ev.uuid = mg_test_copy(t->uuid, sizeof(t->uuid), e->ev.uuid);
	t->e.ev.direction = mg_test_copy(t->direction, sizeof(t->direction), e->ev.direction);
	t->e.ev.phase = mg_test_copy(t->phase, sizeof(t->phase), e->ev.phase);
	t->e.ev.incident = mg_test_copy(t->incident, sizeof(t->incident), e->ev.incident);
	t->e.ev.step = mg_test_copy(t->step, sizeof(t->step), e->ev.step);
	t->e.ev.detail = mg_test_copy(t->detail, sizeof(t->detail), e->ev.detail);
}

/* Registers s under label on n (fails the test when it cannot). */
static inline void mg_test_sink_register(struct mg_notify *n, struct mg_test_sink *s, const char *label)
{
	s->label = label;
	ck_assert_int_eq(mg_notify_register(n, label, mg_test_sink_on_event, s), 0);
}

/* The i-th event s saw (fails the test when there is none). */
static inline const struct mg_event *mg_test_sink_get(const struct mg_test_sink *s, size_t i)
{
	ck_assert_msg(i < s->n && i < MG_TEST_SINK_MAX, "sink %s saw %zu events, no #%zu", s->label, s->n, i);
	return &s->events[i].e;
}

/* How many events of the ABI kind k (MG_EVENT_PLUGIN) s saw. */
static inline size_t mg_test_sink_count(const struct mg_test_sink *s, enum migguard_event_kind k)
{
	size_t c = 0;

	for (size_t i = 0; i < s->n && i < MG_TEST_SINK_MAX; i++)
		c += s->events[i].e.kind == MG_EVENT_PLUGIN && s->events[i].e.ev.kind == k;
	return c;
}
