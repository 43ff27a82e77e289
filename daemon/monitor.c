/* monitor.c - see monitor.h. */
#include "monitor.h"
#include "backoff.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <libvirt/libvirt-qemu.h>

#define MG_MONITOR_BACKOFF_MIN (1 * MG_USEC_PER_SEC)
#define MG_MONITOR_BACKOFF_MAX (30 * MG_USEC_PER_SEC)

struct mg_monitor {
	sd_event *loop;
	char *name, *qmp_path;
	pid_t pid;
	virDomainPtr dom;
	struct mg_worker_pool *pool;
	uint64_t timeout;
	struct mg_monitor_callbacks cb;
	void *userdata;

	struct mg_qmp *qmp;
	struct mg_backoff retry;
	bool reconnect_due;		/* the retry timer could not be armed */
	bool status_pending, migrate_pending;

	struct mg_worker_call *lv;	/* the last libvirt call, until the next */
	uint64_t lv_unresponsive_since;
};

struct mg_qmp *mg_monitor_qmp(struct mg_monitor *m)
{
	return m->qmp && mg_qmp_get_state(m->qmp) == MG_QMP_READY ? m->qmp : NULL;
}

const char *mg_monitor_path(const struct mg_monitor *m) { return m->qmp_path; }
void mg_monitor_restart_clock(struct mg_monitor *m) { m->lv_unresponsive_since = 0; }

bool mg_monitor_unresponsive_direct(const struct mg_monitor *m)
{
	return m->qmp && mg_qmp_unresponsive_since(m->qmp) != 0;
}

uint64_t mg_monitor_unresponsive_since(const struct mg_monitor *m)
{
	uint64_t q = m->qmp ? mg_qmp_unresponsive_since(m->qmp) : 0;

	if (!q)
		return m->lv_unresponsive_since;
	if (!m->lv_unresponsive_since)
		return q;
	return q < m->lv_unresponsive_since ? q : m->lv_unresponsive_since;
}

/* --- libvirt's transport ------------------------------------------------ */

/* The call's own state: it may outlive the monitor, stuck inside libvirt. */
struct lv_job {
	virDomainPtr dom;
	char *reply;
	uint64_t sent_at;
};

static int lv_run(void *arg)
{
	struct lv_job *j = arg;

	if (virDomainQemuMonitorCommand(j->dom, "{\"execute\":\"query-status\"}", &j->reply, 0) < 0)
		return -EIO;
	return 0;
}

static void lv_done(int result, void *arg, void *userdata)
{
	struct lv_job *j = arg;
	struct mg_monitor *m = userdata;
	json_object *root, *ret;

	if (result == -ETIMEDOUT) {
		if (!m->lv_unresponsive_since)
			m->lv_unresponsive_since = j->sent_at;
		return;
	}
	if (result < 0)
		return;
	m->lv_unresponsive_since = 0;
	root = j->reply ? json_tokener_parse(j->reply) : NULL;
	if (root && json_object_object_get_ex(root, "return", &ret) && m->cb.status)
		m->cb.status(m, ret, m->userdata);
	json_object_put(root);
}

static void lv_free(void *arg)
{
	struct lv_job *j = arg;

	virDomainFree(j->dom);
	free(j->reply);
	free(j);
}

static void lv_query_status(struct mg_monitor *m)
{
	struct lv_job *j;
	struct mg_worker_call_spec spec;
	char what[300];

	/* One call at a time, a stuck one included: the pool's threads are
	 * few and the ladder needs one. */
	if (!m->dom || !m->pool || (m->lv && mg_worker_call_busy(m->lv)))
		return;
	m->lv = mg_worker_call_cancel(m->lv);
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	virDomainRef(m->dom);
	j->dom = m->dom;
	j->sent_at = mg_now_mono();
	snprintf(what, sizeof(what), "qemu-monitor-command query-status %s", m->name);
	spec = (struct mg_worker_call_spec){ .what = what, .run = lv_run, .arg = j, .free_arg = lv_free,
					     .timeout_usec = m->timeout, .done = lv_done, .userdata = m };
	mg_worker_call(m->pool, &spec, &m->lv);
}

/* --- the direct monitor ------------------------------------------------- */

static void on_status_reply(struct mg_qmp *q, int err, json_object *reply, void *userdata)
{
	struct mg_monitor *m = userdata;

	m->status_pending = false;
	if (err == 0 && m->cb.status)
		m->cb.status(m, reply, m->userdata);
	else if (err != 0 && err != -ETIMEDOUT && err != -ECANCELED)
		mg_debug("domain %s: query-status failed: %s", m->name, strerror(-err));
}

static void on_migrate_reply(struct mg_qmp *q, int err, json_object *reply, void *userdata)
{
	struct mg_monitor *m = userdata;

	m->migrate_pending = false;
	if (err == 0 && m->cb.migrate)
		m->cb.migrate(m, reply, m->userdata);
}

void mg_monitor_probe(struct mg_monitor *m, bool status, bool migrate)
{
	struct mg_qmp *q;

	if (m->reconnect_due) {
		m->reconnect_due = false;
		mg_monitor_start(m);
	}
	q = mg_monitor_qmp(m);
	if (!q) {
		if (status)
			lv_query_status(m);
		return;
	}
	if (status && !m->status_pending &&
	    mg_qmp_execute(q, "query-status", NULL, false, m->timeout, on_status_reply, m) == 0)
		m->status_pending = true;
	if (migrate && !m->migrate_pending &&
	    mg_qmp_execute(q, "query-migrate", NULL, false, m->timeout, on_migrate_reply, m) == 0)
		m->migrate_pending = true;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	mg_monitor_start(userdata);
	return 0;
}

/* While the QEMU lives, for a QEMU that may serve the path again. */
static void schedule_retry(struct mg_monitor *m)
{
	if (kill(m->pid, 0) < 0 && errno == ESRCH)
		return;
	if (mg_backoff_schedule(&m->retry) < 0)
		m->reconnect_due = true;
}

static void on_qmp_ready(struct mg_qmp *q, void *userdata)
{
	struct mg_monitor *m = userdata;

	mg_backoff_reset(&m->retry);
	if (m->cb.ready)
		m->cb.ready(m, mg_qmp_oob_enabled(q), m->userdata);
}

static void on_qmp_closed(struct mg_qmp *q, int reason, void *userdata)
{
	struct mg_monitor *m = userdata;

	m->status_pending = m->migrate_pending = false;
	if (m->cb.down)
		m->cb.down(m, reason, true, m->userdata);
	schedule_retry(m);
}

static void on_qmp_event(struct mg_qmp *q, const char *event, json_object *data, uint64_t ts, void *userdata)
{
	struct mg_monitor *m = userdata;

	if (m->cb.event)
		m->cb.event(m, event, data, m->userdata);
}

void mg_monitor_start(struct mg_monitor *m)
{
	static const struct mg_qmp_callbacks cb = {
		.on_ready = on_qmp_ready, .on_closed = on_qmp_closed, .on_event = on_qmp_event,
	};
	int r;

	if (!m->qmp_path)
		return;
	if (!m->qmp) {
		if (mg_qmp_new(m->loop, m->name, &m->qmp) < 0)
			return;
		mg_qmp_set_callbacks(m->qmp, &cb, m);
		/* Only the QEMU being watched may answer for it. */
		mg_qmp_expect_peer(m->qmp, m->pid);
	}
	r = mg_qmp_connect_unix(m->qmp, m->qmp_path);
	if (r < 0 && r != -EALREADY) {
		if (m->cb.down)
			m->cb.down(m, r, false, m->userdata);
		schedule_retry(m);
	}
}

int mg_monitor_new(sd_event *loop, const struct mg_monitor_params *p, const struct mg_monitor_callbacks *cb,
		   void *userdata, struct mg_monitor **out)
{
	struct mg_monitor *m;
	int r;

	/* A direct monitor is trusted only when its peer is this pid. */
	if (p->qmp_path && p->pid <= 0)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->loop = sd_event_ref(loop);
	m->name = strdup(p->name);
	m->qmp_path = p->qmp_path ? strdup(p->qmp_path) : NULL;
	r = -ENOMEM;
	if (!m->name || (p->qmp_path && !m->qmp_path))
		goto fail;
	m->pid = p->pid;
	m->pool = p->pool;
	m->timeout = p->timeout;
	mg_monitor_set_domain(m, p->dom);
	if (cb)
		m->cb = *cb;
	m->userdata = userdata;
	r = mg_backoff_init(&m->retry, loop, "direct monitor reconnect", MG_MONITOR_BACKOFF_MIN,
			    MG_MONITOR_BACKOFF_MAX, on_retry, m);
	if (r < 0)
		goto fail;
	*out = m;
	return 0;
fail:
	mg_monitor_free(m);
	return r;
}

void mg_monitor_free(struct mg_monitor *m)
{
	if (!m)
		return;
	/* A libvirt call still in flight reports to nobody from now on. */
	m->lv = mg_worker_call_cancel(m->lv);
	mg_backoff_done(&m->retry);
	mg_qmp_unref(m->qmp);
	if (m->dom)
		virDomainFree(m->dom);
	sd_event_unref(m->loop);
	free(m->name);
	free(m->qmp_path);
	free(m);
}

void mg_monitor_set_domain(struct mg_monitor *m, virDomainPtr dom)
{
	if (dom)
		virDomainRef(dom);
	if (m->dom)
		virDomainFree(m->dom);
	m->dom = dom;
}
