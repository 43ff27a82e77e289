/* Unit tests of notify.c: every registered sink gets every event once, in
 * the order the sinks were registered; a re-registered sink keeps its
 * place; and the shipped sinks (metrics, status) take only what is theirs. */
#include "metrics.h"
#include "notify.h"
#include "plugin.h"
#include "status.h"
#include "util.h"

#include "mgcheck.h"
#include "mgsink.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct mg_event hung(const char *domain)
{
	struct mg_event e = mg_event_plugin(MIGGUARD_EVENT_VERDICT, "hung");

	e.key = domain;
	e.dir = MG_DIR_OUT;
	e.phase = MG_PHASE_HUNG;
	e.ev.domain = domain;
	e.ev.pid = 4242;
	e.ev.direction = "outgoing";
	e.ev.phase = "hung";
	e.ev.detail = "finishing for 5.0 s";
	return e;
}

START_TEST(test_each_sink_gets_each_event_once_in_registration_order)
{
	struct mg_notify *n = NULL;
	struct mg_test_order order = { 0 };
	struct mg_test_sink *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)), *c = calloc(1, sizeof(*c));
	struct mg_event e1 = hung("d1"), e2 = mg_event_make(MG_EVENT_DAEMON);

	ck_assert_int_eq(mg_notify_new(&n), 0);
	a->order = b->order = c->order = &order;
	mg_test_sink_register(n, a, "first");
	mg_test_sink_register(n, b, "second");
	mg_test_sink_register(n, c, "third");
	ck_assert_uint_eq(mg_notify_count(n), 3);
	e2.ev.detail = "libvirt qemu:///system: connected";

	mg_notify_dispatch(n, &e1);
	mg_notify_dispatch(n, &e2);

	ck_assert_uint_eq(order.n, 6);
	ck_assert_str_eq(order.labels[0], "first");
	ck_assert_str_eq(order.labels[1], "second");
	ck_assert_str_eq(order.labels[2], "third");
	ck_assert_str_eq(order.labels[3], "first");
	ck_assert_str_eq(order.labels[5], "third");
	for (struct mg_test_sink *s = a; s; s = s == a ? b : s == b ? c : NULL) {
		ck_assert_uint_eq(s->n, 2);
		ck_assert_int_eq(mg_test_sink_get(s, 0)->kind, MG_EVENT_PLUGIN);
		ck_assert_int_eq(mg_test_sink_get(s, 0)->ev.kind, MIGGUARD_EVENT_VERDICT);
		ck_assert_str_eq(mg_test_sink_get(s, 0)->ev.name, "hung");
		ck_assert_str_eq(mg_test_sink_get(s, 0)->ev.domain, "d1");
		ck_assert_int_eq(mg_test_sink_get(s, 0)->ev.pid, 4242);
		ck_assert_uint_ne(mg_test_sink_get(s, 0)->ev.time_usec, 0);
		ck_assert_int_eq(mg_test_sink_get(s, 1)->kind, MG_EVENT_DAEMON);
		ck_assert_str_eq(mg_test_sink_get(s, 1)->ev.detail, "libvirt qemu:///system: connected");
		ck_assert_uint_eq(mg_test_sink_count(s, MIGGUARD_EVENT_VERDICT), 1);
	}
	mg_notify_free(n);
	free(a);
	free(b);
	free(c);
}
END_TEST

/* A reload swaps the plugin set: the sink keeps its place in the order. */
START_TEST(test_a_sink_registered_again_keeps_its_place)
{
	struct mg_notify *n = NULL;
	struct mg_test_order order = { 0 };
	struct mg_test_sink *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)), *b2 = calloc(1, sizeof(*b2)),
			    *c = calloc(1, sizeof(*c));
	struct mg_event e = hung("d1");

	ck_assert_int_eq(mg_notify_new(&n), 0);
	a->order = b->order = b2->order = c->order = &order;
	mg_test_sink_register(n, a, "a");
	mg_test_sink_register(n, b, "b");
	mg_test_sink_register(n, c, "c");
	b2->label = "b2";
	ck_assert_int_eq(mg_notify_register(n, "b", mg_test_sink_on_event, b2), 0);
	ck_assert_uint_eq(mg_notify_count(n), 3);
	mg_notify_dispatch(n, &e);
	ck_assert_uint_eq(order.n, 3);
	ck_assert_str_eq(order.labels[0], "a");
	ck_assert_str_eq(order.labels[1], "b2");
	ck_assert_str_eq(order.labels[2], "c");
	ck_assert_uint_eq(b->n, 0);

	ck_assert_int_eq(mg_notify_unregister(n, "b"), 0);
	ck_assert_int_eq(mg_notify_unregister(n, "b"), -ENOENT);
	mg_notify_dispatch(n, &e);
	ck_assert_uint_eq(order.n, 5);
	ck_assert_str_eq(order.labels[3], "a");
	ck_assert_str_eq(order.labels[4], "c");
	ck_assert_uint_eq(b2->n, 1);
	ck_assert_int_eq(mg_notify_register(n, "x", NULL, NULL), -EINVAL);
	/* Nobody listening is no error for an emitter. */
	mg_notify_dispatch(NULL, &e);
	mg_notify_free(n);
	free(a);
	free(b);
	free(b2);
	free(c);
}
END_TEST

static char *render(const struct mg_metrics *m)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	mg_metrics_render(m, f);
	fclose(f);
	return buf;
}

/* The daemon's own kinds never reach a plugin; the metrics count only the
 * kinds that are theirs (a status note or a daemon line counts nothing). */
START_TEST(test_daemon_kinds_stay_in_the_daemon)
{
	struct mg_metrics *m = NULL, *m0 = NULL;
	struct mg_event note = mg_event_make(MG_EVENT_NOTE), line = mg_event_make(MG_EVENT_DAEMON);
	char *t, *t0;

	ck_assert_int_eq(mg_metrics_new(&m), 0);
	ck_assert_int_eq(mg_metrics_new(&m0), 0);
	note.ev.detail = "already reported";
	line.ev.detail = "connected";
	mg_metrics_on_event(m, &note);
	mg_metrics_on_event(m, &line);
	/* No set loaded: nothing to call, nothing to crash on. */
	mg_plugins_on_event(NULL, &note);
	t = render(m);
	t0 = render(m0);
	ck_assert_str_eq(t, t0);
	free(t);
	free(t0);
	mg_metrics_free(m);
	mg_metrics_free(m0);
}
END_TEST

static void status_event(struct mg_status *st, enum mg_event_kind kind, enum migguard_event_kind ev_kind,
			 enum mg_phase phase, const char *detail)
{
	struct mg_event e = mg_event_make(kind);

	e.ev.kind = ev_kind;
	e.key = st;
	e.dir = MG_DIR_IN;
	e.phase = phase;
	e.ev.domain = "d2";
	e.ev.pid = 77;
	e.ev.detail = detail;
	mg_status_on_event(st, &e);
}

/* Reads status.json with json-c's spacing taken out ("key":"value"). */
static void read_status(const char *path, char *buf, size_t size)
{
	char *w = buf, p1 = 0, p2 = 0;	/* the two bytes read before *r */

	ck_assert_int_gt(mg_read_file(path, buf, size), 0);
	for (const char *r = buf; *r; r++) {
		char c = *r;

		if (!(c == ' ' && p1 == ':' && p2 == '"'))
			*w++ = c;
		p2 = p1;
		p1 = c;
	}
	*w = '\0';
}

/* status.json follows a migration's events: tracked with its phase and
 * detail, noted, gone at its end; the daemon line; removed at the end. */
START_TEST(test_status_file_follows_the_events)
{
	char dir[128], path[160], buf[8192];
	struct mg_status *st = NULL;
	sd_event *loop = NULL;

	mg_test_mkdtemp(dir, sizeof(dir), "notify");
	snprintf(path, sizeof(path), "%s/status.json", dir);
	ck_assert_int_ge(sd_event_new(&loop), 0);
	ck_assert_int_eq(mg_status_new(&st), 0);
	ck_assert_int_eq(mg_status_set_dir(st, loop, dir), 0);

	status_event(st, MG_EVENT_PLUGIN, MIGGUARD_EVENT_MIGRATION_STARTED, MG_PHASE_ACTIVE, "libvirt job");
	status_event(st, MG_EVENT_PLUGIN, MIGGUARD_EVENT_VERDICT, MG_PHASE_STALLED, "no progress");
	/* Neither an incident nor an action changes what the file says. */
	status_event(st, MG_EVENT_PLUGIN, MIGGUARD_EVENT_ACTION_DONE, MG_PHASE_STALLED, "destroyed");
	status_event(st, MG_EVENT_DAEMON, 0, MG_PHASE_ACTIVE, "libvirt connected");
	ck_assert_int_ge(sd_event_run(loop, 0), 0);
	read_status(path, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "\"domain\":\"d2\"") && strstr(buf, "\"phase\":\"stalled\"") &&
		      strstr(buf, "\"direction\":\"incoming\"") && strstr(buf, "\"detail\":\"no progress\"") &&
		      strstr(buf, "\"daemon\":\"libvirt connected\""), "%s", buf);

	status_event(st, MG_EVENT_NOTE, 0, MG_PHASE_STALLED, "already reported");
	ck_assert_int_ge(sd_event_run(loop, 0), 0);
	read_status(path, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "\"detail\":\"already reported\""), "%s", buf);

	status_event(st, MG_EVENT_PLUGIN, MIGGUARD_EVENT_MIGRATION_ENDED, MG_PHASE_FAILED, "ended");
	ck_assert_int_ge(sd_event_run(loop, 0), 0);
	read_status(path, buf, sizeof(buf));
	ck_assert_msg(!strstr(buf, "\"d2\""), "%s", buf);

	mg_status_free(st);
	ck_assert_int_eq(access(path, F_OK), -1);
	sd_event_unref(loop);
	mg_test_rm_rf(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("notify");

	tcase_add_test(tc, test_each_sink_gets_each_event_once_in_registration_order);
	tcase_add_test(tc, test_a_sink_registered_again_keeps_its_place);
	tcase_add_test(tc, test_daemon_kinds_stay_in_the_daemon);
	tcase_add_test(tc, test_status_file_follows_the_events);
	suite_add_tcase(s, tc);
	return mg_check_run(s);
}
