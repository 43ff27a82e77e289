/* worker.c - see worker.h.
 *
 * Split in two: `struct core` is shared with the threads (queue, finished
 * list, eventfd, under one mutex) and reference-counted, so a thread stuck
 * past mg_worker_pool_free() can still finish, free its job and leave.
 * Everything else (timers, callbacks, the stuck count) lives on the loop. */
#include "worker.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_FINISHED };

struct job {
	struct job *next;		/* in the queue or the finished list (core lock) */
	struct job *all_next;		/* every undelivered job (loop only) */
	struct mg_work w;
	char what[96];
	enum job_state state;		/* core lock */
	unsigned refs;			/* holders: the loop, the thread running it (core lock) */
	bool orphaned;			/* pool freed while running (core lock) */
	bool timed_out;			/* done(-ETIMEDOUT) delivered (loop only) */
	int result;
	uint64_t submitted;
	sd_event_source *timer;
	struct mg_worker_pool *pool;
};

struct core {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	unsigned n_ref;			/* the pool + each thread */
	int efd;
	struct job *queue, **queue_tail;
	size_t n_queued;
	struct job *finished, **finished_tail;
	unsigned n_threads, n_idle;
	bool closing;
};

struct mg_worker_pool {
	sd_event *loop;
	sd_event_source *io;
	struct core *core;
	struct job *jobs;		/* undelivered, for free */
	size_t n_pending;
	unsigned max_active, max_stuck, n_stuck;
	bool refusing;			/* the -EBUSY episode is logged */
};

static void job_free(struct job *j)
{
	sd_event_source_disable_unref(j->timer);
	if (j->w.free_arg)
		j->w.free_arg(j->w.arg);
	free(j);
}

/* Drops one holder of j; the last frees it.  Lock not held. */
static void job_release(struct core *c, struct job *j)
{
	bool last;

	pthread_mutex_lock(&c->lock);
	last = --j->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last)
		job_free(j);
}

/* Drops a reference; call with the lock held, returns with it released. */
static void core_unref_unlock(struct core *c)
{
	bool last = --c->n_ref == 0;

	pthread_mutex_unlock(&c->lock);
	if (!last)
		return;
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
	close(c->efd);
	free(c);
}

static void *worker_main(void *arg)
{
	struct core *c = arg;
	const uint64_t one = 1;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct job *j;

		while (!c->queue && !c->closing) {
			c->n_idle++;
			pthread_cond_wait(&c->wake, &c->lock);
			c->n_idle--;
		}
		if (!c->queue)
			break;
		j = c->queue;
		c->queue = j->next;
		if (!c->queue)
			c->queue_tail = &c->queue;
		c->n_queued--;
		j->next = NULL;
		j->state = JOB_RUNNING;
		j->refs++;
		pthread_mutex_unlock(&c->lock);

		int r = j->w.run(j->w.arg);

		pthread_mutex_lock(&c->lock);
		j->result = r;
		j->state = JOB_FINISHED;
		if (j->orphaned) {
			/* The pool is gone; whoever lets go last frees it. */
			pthread_mutex_unlock(&c->lock);
			job_release(c, j);
			pthread_mutex_lock(&c->lock);
			continue;
		}
		j->refs--;	/* the loop still holds it */
		*c->finished_tail = j;
		c->finished_tail = &j->next;
		/* Cannot fail short of a bug: the counter never nears overflow. */
		if (write(c->efd, &one, sizeof(one)) < 0)
			mg_warn_errno(errno, "worker: cannot wake the loop");
	}
	c->n_threads--;
	core_unref_unlock(c);
	return NULL;
}

/* Starts a thread when a job waits, none is idle and fewer than max_active
 * threads are within their deadline.  Call with the lock held. */
static void maybe_spawn_locked(struct mg_worker_pool *p)
{
	struct core *c = p->core;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (!c->queue || c->n_idle > 0 || c->n_threads - p->n_stuck >= p->max_active)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* libvirt's client needs little stack. */
	pthread_attr_setstacksize(&attr, 256 * 1024);
	r = pthread_create(&t, &attr, worker_main, c);
	pthread_attr_destroy(&attr);
	if (r) {
		/* Jobs wait for a running thread, or time out. */
		mg_warn_errno(r, "worker: cannot start a thread (%u running)", c->n_threads);
		return;
	}
	c->n_threads++;
	c->n_ref++;
}

static void unlink_job(struct mg_worker_pool *p, struct job *j)
{
	for (struct job **pp = &p->jobs; *pp; pp = &(*pp)->all_next)
		if (*pp == j) {
			*pp = j->all_next;
			p->n_pending--;
			return;
		}
}

static void unqueue_locked(struct core *c, struct job *j)
{
	for (struct job **pp = &c->queue; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			if (c->queue_tail == &j->next)
				c->queue_tail = pp;
			c->n_queued--;
			return;
		}
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct job *j = userdata;
	struct mg_worker_pool *p = j->pool;
	struct core *c = p->core;
	enum job_state state;

	j->timer = sd_event_source_disable_unref(j->timer);
	pthread_mutex_lock(&c->lock);
	state = j->state;
	if (state == JOB_QUEUED)
		unqueue_locked(c, j);
	pthread_mutex_unlock(&c->lock);

	switch (state) {
	case JOB_QUEUED:
		mg_warn("worker: %s waited %.3fs for a thread; timed out", j->what,
			(double)j->w.timeout_usec / 1e6);
		unlink_job(p, j);
		j->w.done(-ETIMEDOUT, j->w.arg);
		job_free(j);
		break;
	case JOB_RUNNING:
		j->timed_out = true;
		p->n_stuck++;
		mg_warn("worker: %s still running after %.3fs; its thread is stuck (%u of at most %u)",
			j->what, (double)j->w.timeout_usec / 1e6, p->n_stuck, p->max_stuck);
		pthread_mutex_lock(&c->lock);
		maybe_spawn_locked(p);
		pthread_mutex_unlock(&c->lock);
		j->w.done(-ETIMEDOUT, j->w.arg);
		break;
	case JOB_FINISHED:
		break;		/* the eventfd delivers the real result */
	}
	return 0;
}

static int on_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct mg_worker_pool *p = userdata;
	struct core *c = p->core;
	struct job *list;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return mg_error_errno(errno, "worker: cannot read the eventfd");
	pthread_mutex_lock(&c->lock);
	list = c->finished;
	c->finished = NULL;
	c->finished_tail = &c->finished;
	pthread_mutex_unlock(&c->lock);

	while (list) {
		struct job *j = list;

		list = j->next;
		unlink_job(p, j);
		if (j->timed_out) {
			p->n_stuck--;
			mg_notice("worker: %s returned %d after %.3fs, past its deadline; result dropped "
				  "(%u thread(s) still stuck)", j->what, j->result,
				  (double)(mg_now_mono() - j->submitted) / 1e6, p->n_stuck);
		} else {
			j->timer = sd_event_source_disable_unref(j->timer);
			j->w.done(j->result, j->w.arg);
		}
		job_free(j);
	}
	if (p->n_stuck < p->max_stuck)
		p->refusing = false;
	return 0;
}

int mg_worker_pool_new(sd_event *loop, unsigned max_active, unsigned max_stuck,
		       struct mg_worker_pool **out)
{
	_cleanup_(mg_worker_pool_freep) struct mg_worker_pool *p = calloc(1, sizeof(*p));
	struct core *c;
	int r;

	if (!p)
		return -ENOMEM;
	p->loop = sd_event_ref(loop);
	p->max_active = max_active ? max_active : MG_WORKER_MAX_ACTIVE;
	p->max_stuck = max_stuck ? max_stuck : MG_WORKER_MAX_STUCK;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->efd < 0) {
		r = -errno;
		free(c);
		return r;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	c->n_ref = 1;
	c->queue_tail = &c->queue;
	c->finished_tail = &c->finished;
	p->core = c;
	r = sd_event_add_io(loop, &p->io, c->efd, EPOLLIN, on_finished, p);
	if (r < 0)
		return r;
	*out = MG_TAKE_PTR(p);
	return 0;
}

struct mg_worker_pool *mg_worker_pool_free(struct mg_worker_pool *p)
{
	struct core *c;
	struct job *cancel = NULL;

	if (!p)
		return NULL;
	c = p->core;
	p->io = sd_event_source_disable_unref(p->io);
	if (c) {
		pthread_mutex_lock(&c->lock);
		c->closing = true;
		/* Queued and finished jobs are ours to free; running ones
		 * belong to their thread from now on. */
		for (struct job *j = p->jobs; j; j = j->all_next)
			if (j->state == JOB_RUNNING)
				j->orphaned = true;
		c->queue = c->finished = NULL;
		c->queue_tail = &c->queue;
		c->finished_tail = &c->finished;
		c->n_queued = 0;
		pthread_cond_broadcast(&c->wake);
		cancel = p->jobs;
		p->jobs = NULL;
		pthread_mutex_unlock(&c->lock);
	}
	while (cancel) {
		struct job *j = cancel;

		cancel = j->all_next;
		j->timer = sd_event_source_disable_unref(j->timer);
		if (!j->timed_out)
			j->w.done(-ECANCELED, j->w.arg);
		/* A running job is also held by its thread, which frees it
		 * if it returns after this. */
		job_release(c, j);
	}
	if (c) {
		pthread_mutex_lock(&c->lock);
		core_unref_unlock(c);
	}
	sd_event_unref(p->loop);
	free(p);
	return NULL;
}

int mg_worker_submit(struct mg_worker_pool *p, const struct mg_work *w)
{
	struct core *c = p->core;
	struct job *j;
	int r;

	size_t n_queued;

	if (!w->run || !w->done)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	n_queued = c->n_queued;
	pthread_mutex_unlock(&c->lock);
	if (p->n_stuck >= p->max_stuck || n_queued >= MG_WORKER_MAX_QUEUED) {
		if (!p->refusing)
			mg_warn("worker: refusing %s: %u thread(s) stuck (bound %u), %zu queued",
				w->what ? w->what : "job", p->n_stuck, p->max_stuck, n_queued);
		p->refusing = true;
		return -EBUSY;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->w = *w;
	j->pool = p;
	j->refs = 1;
	j->submitted = mg_now_mono();
	snprintf(j->what, sizeof(j->what), "%s", w->what ? w->what : "job");
	if (w->timeout_usec) {
		r = sd_event_add_time(p->loop, &j->timer, CLOCK_MONOTONIC,
				      j->submitted + w->timeout_usec, MG_USEC_PER_MSEC, on_timeout, j);
		if (r < 0) {
			free(j);
			return r;
		}
	}
	j->all_next = p->jobs;
	p->jobs = j;
	p->n_pending++;
	pthread_mutex_lock(&c->lock);
	*c->queue_tail = j;
	c->queue_tail = &j->next;
	c->n_queued++;
	maybe_spawn_locked(p);
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void mg_worker_pool_set_max_stuck(struct mg_worker_pool *p, unsigned max_stuck)
{
	p->max_stuck = max_stuck ? max_stuck : MG_WORKER_MAX_STUCK;
	if (p->n_stuck < p->max_stuck)
		p->refusing = false;
}

unsigned mg_worker_pool_n_stuck(const struct mg_worker_pool *p) { return p->n_stuck; }
size_t mg_worker_pool_n_pending(const struct mg_worker_pool *p) { return p->n_pending; }

/* --- a call for an owner that may go away first ---------------------------
 * Two holders: the owner (until mg_worker_call_cancel) and the job (until
 * its free_arg, which may run on a worker thread when the pool went while
 * the call was stuck): hence the atomics. */
struct mg_worker_call {
	atomic_uint refs;
	atomic_bool busy;		/* run has not returned */
	bool cancelled, delivered;	/* loop only */
	struct mg_worker_call_spec s;
};

static void call_unref(struct mg_worker_call *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1)
		free(c);
}

static int call_run(void *arg)
{
	struct mg_worker_call *c = arg;

	return c->s.run(c->s.arg);
}

static void call_done(int result, void *arg)
{
	struct mg_worker_call *c = arg;

	if (c->cancelled)
		return;
	c->delivered = true;
	c->s.done(result, c->s.arg, c->s.userdata);
}

static void call_free(void *arg)
{
	struct mg_worker_call *c = arg;

	if (c->s.free_arg)
		c->s.free_arg(c->s.arg);
	atomic_store(&c->busy, false);
	call_unref(c);
}

int mg_worker_call(struct mg_worker_pool *p, const struct mg_worker_call_spec *s,
		   struct mg_worker_call **out)
{
	struct mg_worker_call *c = calloc(1, sizeof(*c));
	struct mg_work w;
	int r;

	if (!c || !s->run || !s->done) {
		free(c);
		if (s->free_arg)
			s->free_arg(s->arg);
		return c ? -EINVAL : -ENOMEM;
	}
	c->s = *s;
	atomic_init(&c->refs, 2);
	atomic_init(&c->busy, true);
	w = (struct mg_work){ .what = s->what, .run = call_run, .done = call_done, .free_arg = call_free,
			      .arg = c, .timeout_usec = s->timeout_usec };
	r = mg_worker_submit(p, &w);
	if (r < 0) {
		call_free(c);
		call_unref(c);
		return r;
	}
	*out = c;
	return 0;
}

bool mg_worker_call_busy(const struct mg_worker_call *c) { return atomic_load(&c->busy); }
bool mg_worker_call_delivered(const struct mg_worker_call *c) { return c->delivered; }

struct mg_worker_call *mg_worker_call_cancel(struct mg_worker_call *c)
{
	if (c) {
		c->cancelled = true;
		call_unref(c);
	}
	return NULL;
}
