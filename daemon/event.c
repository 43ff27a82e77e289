/* event.c - see event.h.
 *
 * Every libvirt handle or timeout is an entry in one table; each entry owns
 * one sd-event source (io, or time on CLOCK_MONOTONIC).
 *
 * Threads: libvirt calls add/update/remove from the loop thread (inside our
 * callbacks, or from API calls made there) and also from its own threads
 * (e.g. a worker's virDomain* call finishing an RPC).  sd-event is not
 * thread-safe, so the rule is: the table is guarded by `lock`; only the loop
 * thread touches sd-event objects.  A call from the loop thread applies its
 * change at once; a call from another thread records it in the entry
 * (`dirty`) and wakes the loop through an eventfd, whose handler applies
 * every pending change.
 *
 * Removal: an entry is marked deleted and its source dropped (at once on the
 * loop thread; sd-event allows dropping a source from inside its own
 * callback).  Its ff(opaque) runs from a defer source on a later dispatch,
 * never inside the remove call, because libvirt's remove is often called
 * with locks held that ff takes again (libvirt documents this for
 * virEventRemoveHandleFunc).  A deleted entry's callback is never called
 * again.  ff and the callbacks run without `lock`, so they may call back in.
 */
#include "event.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <libvirt/libvirt.h>

enum entry_kind { ENTRY_HANDLE, ENTRY_TIMEOUT };

struct entry {
	enum entry_kind kind;
	int id;
	int fd;			/* handles */
	int events;		/* handles: VIR_EVENT_HANDLE_* mask, 0 = disabled */
	int timeout_ms;		/* timeouts: -1 disabled, 0 every iteration, N periodic */
	void (*handle_cb)(int watch, int fd, int events, void *opaque);
	void (*timeout_cb)(int timer, void *opaque);
	void *opaque;
	void (*ff)(void *opaque);
	sd_event_source *source;
	bool dirty;		/* changed by another thread, not yet applied */
	bool deleted;
};

static struct {
	pthread_mutex_t lock;
	sd_event *loop;
	pthread_t loop_thread;
	int wake_fd;
	sd_event_source *wake_source;
	sd_event_source *reap_source;	/* defer: runs ff of deleted entries */
	struct entry **entries;
	size_t n_entries, cap_entries;
	int last_id;
	bool told_libvirt;	/* libvirt warns when asked twice */
} ev = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1 };

static bool on_loop_thread(void)
{
	return pthread_equal(pthread_self(), ev.loop_thread);
}

static uint32_t events_to_epoll(int events)
{
	return ((events & VIR_EVENT_HANDLE_READABLE) ? EPOLLIN : 0) |
	       ((events & VIR_EVENT_HANDLE_WRITABLE) ? EPOLLOUT : 0) |
	       ((events & VIR_EVENT_HANDLE_ERROR) ? EPOLLERR : 0) |
	       ((events & VIR_EVENT_HANDLE_HANGUP) ? EPOLLHUP : 0);
}

static int events_from_epoll(uint32_t revents)
{
	return ((revents & EPOLLIN) ? VIR_EVENT_HANDLE_READABLE : 0) |
	       ((revents & EPOLLOUT) ? VIR_EVENT_HANDLE_WRITABLE : 0) |
	       ((revents & EPOLLERR) ? VIR_EVENT_HANDLE_ERROR : 0) |
	       ((revents & EPOLLHUP) ? VIR_EVENT_HANDLE_HANGUP : 0);
}

/* Called with lock held. */
static struct entry *entry_find(enum entry_kind kind, int id)
{
	for (size_t i = 0; i < ev.n_entries; i++) {
		struct entry *e = ev.entries[i];

		if (e->id == id && e->kind == kind && !e->deleted)
			return e;
	}
	return NULL;
}

/* Arms a timeout's source for its current period, from now. */
static int timeout_arm(struct entry *e)
{
	int r;

	if (e->timeout_ms < 0)
		return sd_event_source_set_enabled(e->source, SD_EVENT_OFF);
	/* Period 0 means "every iteration": a deadline of now is already
	 * due at the next iteration, and re-armed each time it fires. */
	r = sd_event_source_set_time(e->source, mg_now_mono() +
				     (uint64_t)e->timeout_ms * MG_USEC_PER_MSEC);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(e->source, SD_EVENT_ONESHOT);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static int on_time(sd_event_source *s, uint64_t usec, void *userdata);

/* Makes the entry's sd-event source match the entry.  Loop thread, lock
 * held. */
static int entry_apply(struct entry *e)
{
	int r;

	e->dirty = false;
	if (e->deleted) {
		e->source = sd_event_source_unref(e->source);
		return 0;
	}
	if (e->kind == ENTRY_HANDLE) {
		if (!e->source) {
			r = sd_event_add_io(ev.loop, &e->source, e->fd, events_to_epoll(e->events),
					    on_io, e);
			if (r < 0)
				return r;
		} else if (e->events) {
			r = sd_event_source_set_io_events(e->source, events_to_epoll(e->events));
			if (r < 0)
				return r;
		}
		/* Off, not just an empty mask: epoll reports ERR and HUP even
		 * when they were not asked for. */
		return sd_event_source_set_enabled(e->source, e->events ? SD_EVENT_ON : SD_EVENT_OFF);
	}
	if (!e->source) {
		/* Accuracy 1 us: libvirt's keepalive and our tests expect
		 * millisecond timers, not sd-event's 250 ms default slack. */
		r = sd_event_add_time(ev.loop, &e->source, CLOCK_MONOTONIC, 0, 1, on_time, e);
		if (r < 0)
			return r;
	}
	return timeout_arm(e);
}

/* Wakes the reaper on the next iteration.  Loop thread. */
static void reap_schedule(void)
{
	int r = sd_event_source_set_enabled(ev.reap_source, SD_EVENT_ONESHOT);

	/* -ESTALE: the loop has finished (daemon exit); nothing will run. */
	if (r < 0 && r != -ESTALE)
		mg_error_errno(r, "event: cannot schedule freeing of removed entries");
}

/* Applies the changes other threads recorded.  Loop thread. */
static void apply_pending(void)
{
	bool reap = false;

	pthread_mutex_lock(&ev.lock);
	/* Removals first, so a closed fd number reused by a new handle is
	 * dropped from epoll before the new one is added. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ev.n_entries; i++) {
			struct entry *e = ev.entries[i];
			int r;

			if (!e->dirty || e->deleted != (pass == 0))
				continue;
			reap |= e->deleted;
			r = entry_apply(e);
			if (r < 0 && r != -ESTALE)
				mg_error_errno(r, "event: cannot apply a change to %s %d",
					       e->kind == ENTRY_HANDLE ? "handle" : "timeout", e->id);
		}
	}
	pthread_mutex_unlock(&ev.lock);
	if (reap)
		reap_schedule();
}

static int on_reap(sd_event_source *s, void *userdata)
{
	struct entry **dead = NULL;
	size_t n_dead = 0, kept = 0;

	apply_pending();
	pthread_mutex_lock(&ev.lock);
	dead = calloc(ev.n_entries ? ev.n_entries : 1, sizeof(*dead));
	if (!dead) {
		pthread_mutex_unlock(&ev.lock);
		reap_schedule();	/* try again on the next iteration */
		return 0;
	}
	for (size_t i = 0; i < ev.n_entries; i++) {
		struct entry *e = ev.entries[i];

		/* A deleted entry still dirty is another thread's removal
		 * that apply_pending() has not seen yet: next round. */
		if (e->deleted && !e->dirty)
			dead[n_dead++] = e;
		else
			ev.entries[kept++] = e;
	}
	ev.n_entries = kept;
	pthread_mutex_unlock(&ev.lock);

	for (size_t i = 0; i < n_dead; i++) {
		if (dead[i]->ff)
			dead[i]->ff(dead[i]->opaque);
		free(dead[i]);
	}
	free(dead);
	return 0;
}

static int on_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		mg_warn_errno(errno, "event: cannot read the wake-up eventfd");
	apply_pending();
	return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct entry *e = userdata;
	void (*cb)(int, int, int, void *);
	void *opaque;
	int id;

	pthread_mutex_lock(&ev.lock);
	if (e->deleted || !e->events) {
		pthread_mutex_unlock(&ev.lock);
		return 0;
	}
	cb = e->handle_cb;
	opaque = e->opaque;
	id = e->id;
	pthread_mutex_unlock(&ev.lock);
	cb(id, fd, events_from_epoll(revents), opaque);
	return 0;
}

static int on_time(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct entry *e = userdata;
	void (*cb)(int, void *);
	void *opaque;
	int id, r;

	pthread_mutex_lock(&ev.lock);
	if (e->deleted || e->timeout_ms < 0) {
		pthread_mutex_unlock(&ev.lock);
		return 0;
	}
	/* Re-armed before the call, so an update or removal made by the
	 * callback wins. */
	r = timeout_arm(e);
	if (r < 0)
		mg_error_errno(r, "event: cannot re-arm timeout %d", e->id);
	cb = e->timeout_cb;
	opaque = e->opaque;
	id = e->id;
	pthread_mutex_unlock(&ev.lock);
	cb(id, opaque);
	return 0;
}

/* Adds an entry and returns its id, or -1 (libvirt's convention). */
static int entry_add(struct entry *tmpl)
{
	_cleanup_free_ struct entry *e = NULL;
	bool here = on_loop_thread();
	int r, id = -1;

	e = malloc(sizeof(*e));
	if (!e)
		return -1;
	*e = *tmpl;
	pthread_mutex_lock(&ev.lock);
	if (!ev.loop) {
		mg_error("event: libvirt event added before mg_event_register()");
		goto out;
	}
	if (ev.last_id == INT_MAX) {
		mg_error("event: out of ids");
		goto out;
	}
	if (ev.n_entries == ev.cap_entries) {
		size_t cap = ev.cap_entries ? ev.cap_entries * 2 : 16;
		struct entry **v = reallocarray(ev.entries, cap, sizeof(*v));

		if (!v)
			goto out;
		ev.entries = v;
		ev.cap_entries = cap;
	}
	e->id = ev.last_id + 1;
	if (here) {
		r = entry_apply(e);
		if (r < 0) {
			e->source = sd_event_source_unref(e->source);
			mg_error_errno(r, "event: cannot add %s", e->kind == ENTRY_HANDLE ? "handle" : "timeout");
			goto out;
		}
	} else {
		e->dirty = true;
	}
	ev.last_id = e->id;
	id = e->id;
	ev.entries[ev.n_entries++] = MG_TAKE_PTR(e);
out:
	pthread_mutex_unlock(&ev.lock);
	if (id > 0 && !here)
		(void)eventfd_write(ev.wake_fd, 1);
	return id;
}

/* Applies a change made to e: at once on the loop thread, else through the
 * eventfd.  Called with lock held; returns whether to wake the loop. */
static bool entry_changed(struct entry *e)
{
	int r;

	if (!on_loop_thread()) {
		e->dirty = true;
		return true;
	}
	r = entry_apply(e);
	if (r < 0 && r != -ESTALE)
		mg_error_errno(r, "event: cannot update %s %d",
			       e->kind == ENTRY_HANDLE ? "handle" : "timeout", e->id);
	if (e->deleted)
		reap_schedule();
	return false;
}

static int entry_update(enum entry_kind kind, int id, int value, bool remove)
{
	struct entry *e;
	bool wake = false;

	pthread_mutex_lock(&ev.lock);
	e = entry_find(kind, id);
	if (e) {
		if (remove)
			e->deleted = true;
		else if (kind == ENTRY_HANDLE)
			e->events = value;
		else
			e->timeout_ms = value < 0 ? -1 : value;
		wake = entry_changed(e);
	}
	pthread_mutex_unlock(&ev.lock);
	if (wake)
		(void)eventfd_write(ev.wake_fd, 1);
	return e ? 0 : -1;
}

int mg_event_add_handle(int fd, int events, void (*cb)(int watch, int fd, int events, void *opaque),
			void *opaque, void (*ff)(void *opaque))
{
	struct entry e = { .kind = ENTRY_HANDLE, .fd = fd, .events = events, .handle_cb = cb,
			   .opaque = opaque, .ff = ff };

	if (fd < 0 || !cb)
		return -1;
	return entry_add(&e);
}

void mg_event_update_handle(int watch, int events)
{
	if (entry_update(ENTRY_HANDLE, watch, events, false) < 0)
		mg_debug("event: update of unknown handle %d", watch);
}

int mg_event_remove_handle(int watch)
{
	return entry_update(ENTRY_HANDLE, watch, 0, true);
}

int mg_event_add_timeout(int timeout_ms, void (*cb)(int timer, void *opaque), void *opaque,
			 void (*ff)(void *opaque))
{
	struct entry e = { .kind = ENTRY_TIMEOUT, .fd = -1, .timeout_ms = timeout_ms < 0 ? -1 : timeout_ms,
			   .timeout_cb = cb, .opaque = opaque, .ff = ff };

	if (!cb)
		return -1;
	return entry_add(&e);
}

void mg_event_update_timeout(int timer, int timeout_ms)
{
	if (entry_update(ENTRY_TIMEOUT, timer, timeout_ms, false) < 0)
		mg_debug("event: update of unknown timeout %d", timer);
}

int mg_event_remove_timeout(int timer)
{
	return entry_update(ENTRY_TIMEOUT, timer, 0, true);
}

/* Drops the sources tied to the previous loop; the table must be empty. */
static void loop_detach(void)
{
	ev.wake_source = sd_event_source_unref(ev.wake_source);
	ev.reap_source = sd_event_source_unref(ev.reap_source);
	if (ev.wake_fd >= 0)
		close(MG_TAKE_FD(ev.wake_fd));
	ev.loop = sd_event_unref(ev.loop);
}

int mg_event_register(sd_event *loop)
{
	int r;

	pthread_mutex_lock(&ev.lock);
	if (ev.loop == loop) {
		r = 0;
		goto out;
	}
	/* Moving to another loop is allowed only while nothing is registered
	 * (the unit tests use one loop per test). */
	if (ev.loop && ev.n_entries) {
		r = -EBUSY;
		goto out;
	}
	loop_detach();
	ev.loop = sd_event_ref(loop);
	ev.loop_thread = pthread_self();
	ev.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ev.wake_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = sd_event_add_io(loop, &ev.wake_source, ev.wake_fd, EPOLLIN, on_wake, NULL);
	if (r < 0)
		goto fail;
	r = sd_event_add_defer(loop, &ev.reap_source, on_reap, NULL);
	if (r < 0)
		goto fail;
	r = sd_event_source_set_enabled(ev.reap_source, SD_EVENT_OFF);
	if (r < 0)
		goto fail;
	pthread_mutex_unlock(&ev.lock);
	if (!ev.told_libvirt)
		virEventRegisterImpl(mg_event_add_handle, mg_event_update_handle, mg_event_remove_handle,
				     mg_event_add_timeout, mg_event_update_timeout, mg_event_remove_timeout);
	ev.told_libvirt = true;
	return 0;
fail:
	loop_detach();
out:
	pthread_mutex_unlock(&ev.lock);
	return r;
}
