/* event.h - libvirt's event loop implemented on top of one sd-event loop
 * (virEventRegisterImpl), so libvirt's client and our own sources share a
 * single thread. */
#pragma once

#include <systemd/sd-event.h>

/* Registers the implementation with libvirt; must be called once, before
 * the first virConnectOpen*.  The loop is borrowed, not owned. */
int mg_event_register(sd_event *loop);

/* The libvirt-facing callbacks, exposed for the unit tests (they call them
 * directly without a libvirt connection).  Semantics follow libvirt's
 * virEventAddHandleFunc & co: ids are positive and never reused; a
 * removal from inside any callback is safe; the ff (free function) of an
 * entry runs from the loop after removal, never inside the remove call. */
int mg_event_add_handle(int fd, int events, void (*cb)(int watch, int fd, int events, void *opaque),
			void *opaque, void (*ff)(void *opaque));
void mg_event_update_handle(int watch, int events);
int mg_event_remove_handle(int watch);
int mg_event_add_timeout(int timeout_ms, void (*cb)(int timer, void *opaque), void *opaque,
			 void (*ff)(void *opaque));
void mg_event_update_timeout(int timer, int timeout_ms);
int mg_event_remove_timeout(int timer);
