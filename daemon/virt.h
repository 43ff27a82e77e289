/* virt.h - the libvirt connection: open, keepalive, close detection,
 * reconnect with exponential backoff, and domain event subscriptions.
 * Everything runs on the sd-event loop (libvirt's client is driven by it
 * through event.c). */
#pragma once

#include <libvirt/libvirt.h>
#include <systemd/sd-event.h>

struct mg_virt;

enum mg_virt_state {
	MG_VIRT_DISCONNECTED,
	MG_VIRT_CONNECTED,
	MG_VIRT_BACKOFF,	/* waiting before the next connection attempt */
};

struct mg_virt_callbacks {
	/* A connection is up and subscribed (first time or after a reconnect). */
	void (*connected)(struct mg_virt *v, virConnectPtr conn, void *userdata);
	/* The connection was lost; conn is about to be closed. */
	void (*disconnected)(struct mg_virt *v, void *userdata);
	/* A lifecycle event (VIR_DOMAIN_EVENT_*), already logged. */
	void (*lifecycle)(struct mg_virt *v, virDomainPtr dom, int event, int detail, void *userdata);
	/* Source side: QEMU finished a pass over guest memory. */
	void (*migration_iteration)(struct mg_virt *v, virDomainPtr dom, int iteration, void *userdata);
	/* A job ended (success or not); params as virDomainGetJobStats. */
	void (*job_completed)(struct mg_virt *v, virDomainPtr dom, virTypedParameterPtr params,
			      int nparams, void *userdata);
	/* QEMU's MIGRATION event relayed by libvirt-qemu: data.status. */
	void (*qemu_migration)(struct mg_virt *v, virDomainPtr dom, const char *status, void *userdata);
	/* QEMU's STOP event relayed by libvirt-qemu (the guest paused: at
	 * switch-over, the run state finish-migrate). */
	void (*qemu_stop)(struct mg_virt *v, virDomainPtr dom, void *userdata);
};

/* Creates the connection object; nothing is opened until mg_virt_start. */
int mg_virt_new(sd_event *loop, const char *uri, const struct mg_virt_callbacks *cb,
		void *userdata, struct mg_virt **out);
/* First connection attempt; on failure schedules retries, so it only fails
 * on resource errors. */
int mg_virt_start(struct mg_virt *v);
/* Changes the URI (SIGHUP); reconnects when it differs. */
int mg_virt_set_uri(struct mg_virt *v, const char *uri);
void mg_virt_free(struct mg_virt *v);
static inline void mg_virt_freep(struct mg_virt **v) { if (*v) mg_virt_free(*v); }

enum mg_virt_state mg_virt_get_state(const struct mg_virt *v);
/* The live connection or NULL; borrowed. */
virConnectPtr mg_virt_conn(const struct mg_virt *v);
const char *mg_virt_uri(const struct mg_virt *v);
/* "connected to URI", "reconnecting to URI in 4s (...)": for STATUS=. */
const char *mg_virt_status(const struct mg_virt *v);

const char *mg_virt_state_to_string(enum mg_virt_state s);
const char *mg_virt_event_to_string(int event);
const char *mg_virt_event_detail_to_string(int event, int detail);
