/* virt.c - see virt.h. */
#include "virt.h"
#include "backoff.h"
#include "log.h"
#include "qmp.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <json-c/json.h>

#define MG_VIRT_BACKOFF_MIN (1 * MG_USEC_PER_SEC)
#define MG_VIRT_BACKOFF_MAX (60 * MG_USEC_PER_SEC)
/* libvirt's keepalive: a probe every 5 s, the connection is declared dead
 * after 3 unanswered ones, so a hung or vanished libvirtd is noticed in
 * about 20 s even when no call is in flight. */
#define MG_VIRT_KEEPALIVE_INTERVAL 5
#define MG_VIRT_KEEPALIVE_COUNT 3

struct mg_virt {
	sd_event *loop;
	char *uri;
	struct mg_virt_callbacks cb;
	void *userdata;
	enum mg_virt_state state;
	virConnectPtr conn;
	int lifecycle_id;
	int iteration_id;
	int job_completed_id;
	int qemu_event_id;
	int qemu_stop_id;
	struct mg_backoff retry;	/* armed while in BACKOFF */
	sd_event_source *teardown;	/* defer source after a close callback */
	char status[512];
	char last_error[256];
};

static const char *const event_names[] = {
	"defined", "undefined", "started", "suspended", "resumed",
	"stopped", "shutdown", "pmsuspended", "crashed",
};

/* Indexed by libvirt's stable enum values (virDomainEvent*DetailType). */
static const char *const *const detail_names[] = {
	(const char *const[]){ "added", "updated", "renamed", "from-snapshot", NULL },
	(const char *const[]){ "removed", "renamed", NULL },
	(const char *const[]){ "booted", "migrated", "restored", "from-snapshot", "wakeup", "recreated", NULL },
	(const char *const[]){ "paused", "migrated", "ioerror", "watchdog", "restored",
			       "from-snapshot", "api-error", "postcopy", "postcopy-failed", NULL },
	(const char *const[]){ "unpaused", "migrated", "from-snapshot", "postcopy", "postcopy-failed", NULL },
	(const char *const[]){ "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
			       "from-snapshot", NULL },
	(const char *const[]){ "finished", "guest", "host", NULL },
	(const char *const[]){ "memory", "disk", NULL },
	(const char *const[]){ "panicked", "crashloaded", NULL },
};

const char *mg_virt_event_to_string(int event)
{
	if (event < 0 || (size_t)event >= MG_ARRAY_SIZE(event_names))
		return "unknown";
	return event_names[event];
}

const char *mg_virt_event_detail_to_string(int event, int detail)
{
	const char *const *names;

	if (event < 0 || (size_t)event >= MG_ARRAY_SIZE(detail_names) || detail < 0)
		return "unknown";
	names = detail_names[event];
	for (int i = 0; names[i]; i++)
		if (i == detail)
			return names[i];
	return "unknown";
}

const char *mg_virt_state_to_string(enum mg_virt_state s)
{
	switch (s) {
	case MG_VIRT_DISCONNECTED: return "disconnected";
	case MG_VIRT_CONNECTED: return "connected";
	case MG_VIRT_BACKOFF: return "backoff";
	}
	return "unknown";
}

enum mg_virt_state mg_virt_get_state(const struct mg_virt *v) { return v->state; }
virConnectPtr mg_virt_conn(const struct mg_virt *v) { return v->state == MG_VIRT_CONNECTED ? v->conn : NULL; }
const char *mg_virt_uri(const struct mg_virt *v) { return v->uri; }
const char *mg_virt_status(const struct mg_virt *v) { return v->status; }

static void remember_libvirt_error(struct mg_virt *v)
{
	const char *msg = virGetLastErrorMessage();

	snprintf(v->last_error, sizeof(v->last_error), "%s", msg ? msg : "unknown error");
	virResetLastError();
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	struct mg_virt *v = opaque;
	char uuid[VIR_UUID_STRING_BUFLEN] = "";
	const char *name = virDomainGetName(dom);
	const char *ev = mg_virt_event_to_string(event);
	const char *det = mg_virt_event_detail_to_string(event, detail);
	struct mg_log_field fields[] = {
		{ "MIGGUARD_DOMAIN", name }, { "MIGGUARD_UUID", uuid },
		{ "MIGGUARD_EVENT", ev }, { "MIGGUARD_DETAIL", det },
	};

	virDomainGetUUIDString(dom, uuid);
	mg_log_full(LOG_INFO, 0, NULL, fields, MG_ARRAY_SIZE(fields),
		    "domain %s: lifecycle %s (%s)", name, ev, det);
	if (v->cb.lifecycle)
		v->cb.lifecycle(v, dom, event, detail, v->userdata);
	return 0;
}

static int iteration_cb(virConnectPtr conn, virDomainPtr dom, int iteration, void *opaque)
{
	struct mg_virt *v = opaque;

	mg_debug("domain %s: migration iteration %d", virDomainGetName(dom), iteration);
	if (v->cb.migration_iteration)
		v->cb.migration_iteration(v, dom, iteration, v->userdata);
	return 0;
}

static int job_completed_cb(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
			    int nparams, void *opaque)
{
	struct mg_virt *v = opaque;

	mg_debug("domain %s: job completed", virDomainGetName(dom));
	if (v->cb.job_completed)
		v->cb.job_completed(v, dom, params, nparams, v->userdata);
	return 0;
}

/* QEMU's MIGRATION event, {"status": MigrationStatus}, as libvirt-qemu
 * relays it: details is QEMU's "data" as JSON text, unchecked by libvirt.
 * Without a status string (null, a number, no data) the event is dropped
 * here, so the callback never gets a NULL or an unchecked status. */
static void qemu_event_cb(virConnectPtr conn, virDomainPtr dom, const char *event, long long secs,
			  unsigned int micros, const char *details, void *opaque)
{
	struct mg_virt *v = opaque;
	json_object *root = details ? json_tokener_parse(details) : NULL;
	const char *status = mg_qmp_member_enum(root, "status");

	if (!status) {
		mg_warn("domain %s: QEMU MIGRATION event ignored: no migration status in %.200s",
			virDomainGetName(dom), root ? json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN) :
			"no JSON data");
	} else {
		mg_debug("domain %s: QEMU MIGRATION %s", virDomainGetName(dom), status);
		if (v->cb.qemu_migration)
			v->cb.qemu_migration(v, dom, status, v->userdata);
	}
	json_object_put(root);
}

/* QEMU's STOP event as libvirt-qemu relays it, the way it relays
 * MIGRATION: its data is not needed, only that the guest paused. */
static void qemu_stop_cb(virConnectPtr conn, virDomainPtr dom, const char *event, long long secs,
			 unsigned int micros, const char *details, void *opaque)
{
	struct mg_virt *v = opaque;

	if (v->cb.qemu_stop)
		v->cb.qemu_stop(v, dom, v->userdata);
}

static void close_conn(struct mg_virt *v)
{
	if (!v->conn)
		return;
	/* On a dead connection these fail; the local state is freed anyway. */
	if (v->lifecycle_id >= 0)
		virConnectDomainEventDeregisterAny(v->conn, v->lifecycle_id);
	if (v->iteration_id >= 0)
		virConnectDomainEventDeregisterAny(v->conn, v->iteration_id);
	if (v->job_completed_id >= 0)
		virConnectDomainEventDeregisterAny(v->conn, v->job_completed_id);
	if (v->qemu_event_id >= 0)
		virConnectDomainQemuMonitorEventDeregister(v->conn, v->qemu_event_id);
	if (v->qemu_stop_id >= 0)
		virConnectDomainQemuMonitorEventDeregister(v->conn, v->qemu_stop_id);
	v->lifecycle_id = v->iteration_id = v->job_completed_id = v->qemu_event_id = v->qemu_stop_id = -1;
	virConnectUnregisterCloseCallback(v->conn, NULL);
	virConnectClose(v->conn);
	virResetLastError();
	v->conn = NULL;
}

static int try_connect(struct mg_virt *v);

static int retry_cb(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct mg_virt *v = userdata;

	try_connect(v);
	return 0;
}

static int schedule_retry(struct mg_virt *v)
{
	char d[32];
	int r;

	v->state = MG_VIRT_BACKOFF;
	snprintf(v->status, sizeof(v->status), "reconnecting to %s in %s (%s)", v->uri,
		 mg_format_duration(mg_backoff_delay(&v->retry), d, sizeof(d)), v->last_error);
	mg_warn("libvirt %s: %s; retrying in %s", v->uri, v->last_error, d);
	/* Logged there; no timer, no retry: the state says so, and a reload
	 * with another URI or a restart tries again. */
	r = mg_backoff_schedule(&v->retry);
	if (r < 0) {
		v->state = MG_VIRT_DISCONNECTED;
		snprintf(v->status, sizeof(v->status), "disconnected from %s: cannot schedule a reconnect (%s)",
			 v->uri, v->last_error);
	}
	return r;
}

static const char *close_reason(int reason)
{
	switch (reason) {
	case VIR_CONNECT_CLOSE_REASON_ERROR: return "I/O error";
	case VIR_CONNECT_CLOSE_REASON_EOF: return "end of file";
	case VIR_CONNECT_CLOSE_REASON_KEEPALIVE: return "keepalive timeout";
	case VIR_CONNECT_CLOSE_REASON_CLIENT: return "closed by client";
	}
	return "unknown reason";
}

static int teardown_cb(sd_event_source *s, void *userdata)
{
	struct mg_virt *v = userdata;

	v->teardown = sd_event_source_disable_unref(v->teardown);
	if (v->cb.disconnected)
		v->cb.disconnected(v, v->userdata);
	close_conn(v);
	v->state = MG_VIRT_DISCONNECTED;
	schedule_retry(v);
	return 0;
}

/* libvirt calls this from inside its own dispatch; closing the connection
 * here would free what the caller still uses, so the teardown is deferred
 * to the next loop iteration. */
static void close_cb(virConnectPtr conn, int reason, void *opaque)
{
	struct mg_virt *v = opaque;
	int r;

	snprintf(v->last_error, sizeof(v->last_error), "connection closed: %s", close_reason(reason));
	mg_warn("libvirt %s: connection closed (%s)", v->uri, close_reason(reason));
	if (v->teardown)
		return;
	r = sd_event_add_defer(v->loop, &v->teardown, teardown_cb, v);
	if (r < 0)
		mg_error_errno(r, "cannot schedule libvirt teardown");
}

static void log_active_domains(struct mg_virt *v)
{
	virDomainPtr *doms = NULL;
	char when[40];
	int n;

	/* Listing reads libvirt's own state and never enters a QEMU monitor. */
	n = virConnectListAllDomains(v->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		remember_libvirt_error(v);
		mg_warn("libvirt %s: cannot list domains: %s", v->uri, v->last_error);
		return;
	}
	/* The time, not a domain count: a count would be stale at the next
	 * domain start, a connection time stays true. */
	snprintf(v->status, sizeof(v->status), "connected to %s since %s (%d active domain%s then)", v->uri,
		 mg_format_utc(mg_now_real(), when, sizeof(when)), n, n == 1 ? "" : "s");
	for (int i = 0; i < n; i++) {
		const char *name = virDomainGetName(doms[i]);
		struct mg_log_field f[] = { { "MIGGUARD_DOMAIN", name } };

		mg_log_full(LOG_INFO, 0, NULL, f, 1, "domain %s: active at connect", name);
		virDomainFree(doms[i]);
	}
	free(doms);
}

static int try_connect(struct mg_virt *v)
{
	mg_debug("libvirt %s: connecting", v->uri);
	v->conn = virConnectOpen(v->uri);
	if (!v->conn)
		goto fail;
	if (virConnectSetKeepAlive(v->conn, MG_VIRT_KEEPALIVE_INTERVAL, MG_VIRT_KEEPALIVE_COUNT) < 0)
		goto fail;
	if (virConnectRegisterCloseCallback(v->conn, close_cb, v, NULL) < 0)
		goto fail;
	v->lifecycle_id = virConnectDomainEventRegisterAny(v->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
							   VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), v, NULL);
	if (v->lifecycle_id < 0)
		goto fail;
	v->iteration_id = virConnectDomainEventRegisterAny(v->conn, NULL, VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
							   VIR_DOMAIN_EVENT_CALLBACK(iteration_cb), v, NULL);
	if (v->iteration_id < 0)
		goto fail;
	v->job_completed_id = virConnectDomainEventRegisterAny(v->conn, NULL, VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
							       VIR_DOMAIN_EVENT_CALLBACK(job_completed_cb), v, NULL);
	if (v->job_completed_id < 0)
		goto fail;
	v->qemu_event_id = virConnectDomainQemuMonitorEventRegister(v->conn, NULL, "MIGRATION",
								    qemu_event_cb, v, NULL, 0);
	if (v->qemu_event_id < 0)
		goto fail;
	v->qemu_stop_id = virConnectDomainQemuMonitorEventRegister(v->conn, NULL, "STOP", qemu_stop_cb, v, NULL, 0);
	if (v->qemu_stop_id < 0)
		goto fail;
	v->state = MG_VIRT_CONNECTED;
	mg_backoff_reset(&v->retry);
	mg_notice("libvirt %s: connected", v->uri);
	log_active_domains(v);
	if (v->cb.connected)
		v->cb.connected(v, v->conn, v->userdata);
	return 0;
fail:
	remember_libvirt_error(v);
	close_conn(v);
	return schedule_retry(v);
}

int mg_virt_new(sd_event *loop, const char *uri, const struct mg_virt_callbacks *cb,
		void *userdata, struct mg_virt **out)
{
	struct mg_virt *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	v->uri = strdup(uri);
	if (!v->uri) {
		free(v);
		return -ENOMEM;
	}
	v->loop = sd_event_ref(loop);
	if (cb)
		v->cb = *cb;
	v->userdata = userdata;
	v->lifecycle_id = v->iteration_id = v->job_completed_id = v->qemu_event_id = v->qemu_stop_id = -1;
	r = mg_backoff_init(&v->retry, loop, "libvirt reconnect", MG_VIRT_BACKOFF_MIN, MG_VIRT_BACKOFF_MAX,
			    retry_cb, v);
	if (r < 0) {
		mg_virt_free(v);
		return r;
	}
	snprintf(v->status, sizeof(v->status), "connecting to %s", uri);
	*out = v;
	return 0;
}

int mg_virt_start(struct mg_virt *v)
{
	return try_connect(v);
}

int mg_virt_set_uri(struct mg_virt *v, const char *uri)
{
	char *copy;

	if (strcmp(uri, v->uri) == 0)
		return 0;
	copy = strdup(uri);
	if (!copy)
		return -ENOMEM;
	mg_notice("libvirt: switching from %s to %s", v->uri, uri);
	if (v->state == MG_VIRT_CONNECTED && v->cb.disconnected)
		v->cb.disconnected(v, v->userdata);
	close_conn(v);
	mg_backoff_cancel(&v->retry);
	v->teardown = sd_event_source_disable_unref(v->teardown);
	free(v->uri);
	v->uri = copy;
	mg_backoff_reset(&v->retry);
	return try_connect(v);
}

void mg_virt_free(struct mg_virt *v)
{
	if (!v)
		return;
	close_conn(v);
	mg_backoff_done(&v->retry);
	sd_event_source_disable_unref(v->teardown);
	sd_event_unref(v->loop);
	free(v->uri);
	free(v);
}
