/* worker.h - a small bounded pool of threads for calls that may block
 * forever (libvirt calls that enter a stuck QEMU monitor: libvirt has no
 * reply timeout), reporting back to the sd-event loop through an eventfd.
 *
 * Each job has a deadline.  At the deadline its done callback runs with
 * -ETIMEDOUT on the loop and the loop moves on; the thread may stay stuck
 * inside the call.  Stuck threads are counted and logged; at max_stuck the
 * pool refuses new jobs (-EBUSY) instead of growing without bound.  A stuck
 * thread that finally returns is reused, and its late result is discarded
 * (logged). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define MG_WORKER_MAX_ACTIVE 4		/* threads running jobs within their deadline */
#define MG_WORKER_MAX_STUCK 4		/* threads left inside a job past its deadline */
#define MG_WORKER_MAX_QUEUED 64		/* jobs waiting for a thread */

struct mg_worker_pool;

struct mg_work {
	const char *what;		/* for logs (copied), e.g. "virDomainAbortJob vm1" */
	/* Runs on a worker thread; returns >= 0 or a negative errno. */
	int (*run)(void *arg);
	/* Runs on the loop exactly once: with run's result, with -ETIMEDOUT at
	 * the deadline (run may still be using arg: read nothing it writes),
	 * or with -ECANCELED when the pool is freed first. */
	void (*done)(int result, void *arg);
	/* Frees arg once run has returned (or never ran) and done has run;
	 * may be NULL.  Runs on the loop, or on the worker thread when the
	 * pool was freed while run was still inside its call. */
	void (*free_arg)(void *arg);
	void *arg;
	uint64_t timeout_usec;		/* from submission; 0 = no deadline */
};

/* A pool on loop; max_active / max_stuck of 0 take the defaults above.
 * Threads start on demand.  0 or -errno. */
int mg_worker_pool_new(sd_event *loop, unsigned max_active, unsigned max_stuck,
		       struct mg_worker_pool **out);
/* Completes every job not yet delivered with -ECANCELED, lets idle threads
 * exit and leaves stuck ones to finish on their own.  Not from a done
 * callback.  Returns NULL. */
struct mg_worker_pool *mg_worker_pool_free(struct mg_worker_pool *p);
static inline void mg_worker_pool_freep(struct mg_worker_pool **p) { if (*p) mg_worker_pool_free(*p); }

/* Queues a job.  0 (done will run exactly once, never from inside this
 * call), -EINVAL, -EBUSY when max_stuck threads are stuck or the queue is
 * full (logged here, once per episode), -ENOMEM / -errno. */
int mg_worker_submit(struct mg_worker_pool *p, const struct mg_work *w);

/* A new bound on stuck threads (0: the default).  For a pool whose owners
 * each keep at most one call in flight (a watch, a ladder), the bound
 * follows their number: during a storage outage every hung QEMU's
 * monitor call is stuck at once, and a fixed bound would refuse the
 * ladders' calls.  Threads already stuck are not touched. */
void mg_worker_pool_set_max_stuck(struct mg_worker_pool *p, unsigned max_stuck);
/* Threads currently inside a job past its deadline. */
unsigned mg_worker_pool_n_stuck(const struct mg_worker_pool *p);
/* Jobs submitted and not yet delivered to done. */
size_t mg_worker_pool_n_pending(const struct mg_worker_pool *p);

/* --- a call for an owner that may go away first ----------------------------
 * What the watch (qemu-monitor-command) and the ladder (abort, destroy,
 * create) need from the pool: a blocking call whose owner can be freed
 * while the call is still inside libvirt.  The handle is the owner's;
 * mg_worker_call_cancel() lets go of it, after which done never runs and
 * a late result is dropped.  arg belongs to the call from submission on
 * and is freed (free_arg) once run has returned or never ran: a call stuck
 * past its deadline, or past its owner, still has its buffers. */
struct mg_worker_call;

struct mg_worker_call_spec {
	const char *what;		/* for logs (copied) */
	int (*run)(void *arg);		/* on a worker thread */
	void *arg;
	void (*free_arg)(void *arg);	/* may be NULL; see above for where it runs */
	uint64_t timeout_usec;		/* from submission; 0 = no deadline */
	/* On the loop, at most once, never after mg_worker_call_cancel: with
	 * run's result, -ETIMEDOUT at the deadline (run may still be using
	 * arg: read nothing it writes) or -ECANCELED when the pool goes.  It
	 * may cancel (release) its own handle. */
	void (*done)(int result, void *arg, void *userdata);
	void *userdata;
};

/* Submits the call; *out is the owner's handle, to be released with
 * mg_worker_call_cancel() (also after done ran).  0 or as mg_worker_submit;
 * on failure free_arg has run and *out is untouched. */
int mg_worker_call(struct mg_worker_pool *p, const struct mg_worker_call_spec *s,
		   struct mg_worker_call **out);
/* True while run has not returned (queued, running, or stuck past the
 * deadline): an owner that must not pile calls onto a stuck QEMU waits
 * for false before the next one. */
bool mg_worker_call_busy(const struct mg_worker_call *c);
/* True once done has run. */
bool mg_worker_call_delivered(const struct mg_worker_call *c);
/* The owner lets go: done does not run from now on; the call finishes (or
 * stays stuck) on its own and frees itself.  NULL is fine.  Returns NULL. */
struct mg_worker_call *mg_worker_call_cancel(struct mg_worker_call *c);
