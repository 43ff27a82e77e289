/* deadlock.c - a process deadlocked in the shape of the production failure
 * in DESIGN.md section 1, for the snapshot tests and the bench.
 *
 * Threads are named as QEMU names them; functions on the two deadlocked
 * stacks are named as in the seed's gdb output and are noinline so that
 * every one of them is a frame:
 *
 *   live_migration: holds the BQL (qemu_global_mutex), vm_stop ->
 *     vm_state_notify -> virtio_blk_data_plane_stop -> blk_drain ->
 *     bdrv_do_drained_begin -> waits for IOThread 4's AioContext lock;
 *   IO iothread4: holds its AioContext lock, virtio_blk_rw_complete ->
 *     address_space_stl_le -> prepare_mmio_access -> waits for the BQL;
 *   CPU n/KVM: pthread_cond_wait on their halt condvar with the BQL;
 *   main: main_loop_wait -> qemu_mutex_lock_iothread -> waits for the BQL;
 *   IO iothread1..3: idle in ppoll on an eventfd (aio_poll);
 *   vnc_worker: pthread_cond_wait on its own queue; call_rcu: a raw futex
 *   wait like qemu_event_wait (not a mutex);
 *   worker-N: extra idle threads (--threads N sets the total);
 *   vfork_wait (with --d-state): a thread in uninterruptible sleep (D):
 *     it vforked a child that never execs nor exits; the child writes
 *     "vfork-child PID" on stdout so the test can clean it up.
 *
 * Set-up is ordered with semaphores and a condvar, never with sleeps, so
 * the final state is always the same.  "ready" is printed on stdout when
 * every thread has been created and the deadlock is armed; the last step
 * (the main thread blocking on the BQL) follows immediately. */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MG_NOINLINE __attribute__((noinline))
#define N_CPUS 8
#define N_IOTHREADS 4
/* main + CPUs + iothreads + live_migration + vnc_worker + call_rcu */
#define BASE_THREADS (1 + N_CPUS + N_IOTHREADS + 3)

/* Same name as QEMU's BQL so that the snapshot finds it by symbol too. */
pthread_mutex_t qemu_global_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t aio_context_lock[N_IOTHREADS];
static pthread_cond_t halt_cond[N_CPUS];
static pthread_cond_t setup_cond = PTHREAD_COND_INITIALIZER;
static unsigned cpus_halted;		/* under the BQL */
static pthread_mutex_t vnc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t vnc_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static sem_t ctx_held, bql_held, thread_started, armed;
static int iothread_event[N_IOTHREADS];
/* qemu_event_wait's futex word; EV_BUSY (-1) means "not set". */
static int rcu_event = -1;
/* A flag never set, so every wait below is forever. */
static volatile int never;

static void die(const char *what, int err)
{
	fprintf(stderr, "deadlock: %s: %s\n", what, strerror(err));
	exit(1);
}

static void spawn(const char *name, void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int r = pthread_create(&t, NULL, fn, arg);

	if (r)
		die("pthread_create", r);
	pthread_setname_np(t, name);
	sem_wait(&thread_started);
}

/* --- IO iothread4: the AioContext holder that needs the BQL ------------ */

MG_NOINLINE void prepare_mmio_access(void)
{
	pthread_mutex_lock(&qemu_global_mutex);
}

MG_NOINLINE void address_space_stl_le(void)
{
	prepare_mmio_access();
	__asm__ volatile("" ::: "memory");	/* keep the call a call */
}

MG_NOINLINE void virtio_blk_rw_complete(void)
{
	address_space_stl_le();
	__asm__ volatile("" ::: "memory");
}

static void *iothread_busy(void *arg)
{
	int idx = (int)(intptr_t)arg;

	pthread_mutex_lock(&aio_context_lock[idx]);
	sem_post(&thread_started);
	sem_post(&ctx_held);
	sem_wait(&bql_held);
	sem_post(&armed);
	virtio_blk_rw_complete();
	return NULL;
}

/* --- live_migration: holds the BQL, drains the IOThread's context ------ */

MG_NOINLINE void bdrv_do_drained_begin(void)
{
	pthread_mutex_lock(&aio_context_lock[N_IOTHREADS - 1]);
}

MG_NOINLINE void blk_drain(void)
{
	bdrv_do_drained_begin();
	__asm__ volatile("" ::: "memory");
}

MG_NOINLINE void virtio_blk_data_plane_stop(void)
{
	blk_drain();
	__asm__ volatile("" ::: "memory");
}

MG_NOINLINE void vm_state_notify(void)
{
	virtio_blk_data_plane_stop();
	__asm__ volatile("" ::: "memory");
}

MG_NOINLINE void vm_stop(void)
{
	vm_state_notify();
	__asm__ volatile("" ::: "memory");
}

static void *migration_thread(void *arg)
{
	sem_post(&thread_started);
	sem_wait(&ctx_held);
	pthread_mutex_lock(&qemu_global_mutex);
	sem_post(&bql_held);
	vm_stop();
	return NULL;
}

/* --- the idle threads -------------------------------------------------- */

MG_NOINLINE void qemu_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex)
{
	while (!never)
		pthread_cond_wait(cond, mutex);
}

static void *cpu_thread(void *arg)
{
	int idx = (int)(intptr_t)arg;

	sem_post(&thread_started);
	pthread_mutex_lock(&qemu_global_mutex);
	cpus_halted++;
	pthread_cond_signal(&setup_cond);
	qemu_cond_wait(&halt_cond[idx], &qemu_global_mutex);
	return NULL;
}

MG_NOINLINE void aio_poll(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (!never)
		ppoll(&pfd, 1, NULL, NULL);
}

static void *iothread_idle(void *arg)
{
	sem_post(&thread_started);
	aio_poll(iothread_event[(intptr_t)arg]);
	return NULL;
}

static void *vnc_worker(void *arg)
{
	sem_post(&thread_started);
	pthread_mutex_lock(&vnc_lock);
	qemu_cond_wait(&vnc_cond, &vnc_lock);
	return NULL;
}

MG_NOINLINE void qemu_event_wait(int *ev)
{
	while (!never)
		syscall(SYS_futex, ev, FUTEX_WAIT_PRIVATE, -1, NULL, NULL, 0);
}

static void *call_rcu_thread(void *arg)
{
	sem_post(&thread_started);
	qemu_event_wait(&rcu_event);
	return NULL;
}

static void *idle_worker(void *arg)
{
	sem_post(&thread_started);
	pthread_mutex_lock(&idle_lock);
	qemu_cond_wait(&idle_cond, &idle_lock);
	return NULL;
}

/* The vfork parent sleeps in D state until the child execs or exits. */
static void *vfork_wait(void *arg)
{
	pid_t child;

	sem_post(&thread_started);
	child = vfork();
	if (child == 0) {
		char line[64];
		int n = snprintf(line, sizeof(line), "vfork-child %d\n", (int)getpid());

		if (write(STDOUT_FILENO, line, (size_t)n) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	return NULL;
}

/* --- main -------------------------------------------------------------- */

MG_NOINLINE void qemu_mutex_lock_iothread(void)
{
	pthread_mutex_lock(&qemu_global_mutex);
}

MG_NOINLINE void main_loop_wait(void)
{
	qemu_mutex_lock_iothread();
	__asm__ volatile("" ::: "memory");
}

static void start_cpus(void)
{
	char name[16];

	for (int i = 0; i < N_CPUS; i++) {
		pthread_cond_init(&halt_cond[i], NULL);
		snprintf(name, sizeof(name), "CPU %d/KVM", i);
		spawn(name, cpu_thread, (void *)(intptr_t)i);
	}
	/* Every CPU thread has released the BQL into its condvar wait once
	 * this returns: they raise cpus_halted under the BQL. */
	pthread_mutex_lock(&qemu_global_mutex);
	while (cpus_halted < N_CPUS)
		pthread_cond_wait(&setup_cond, &qemu_global_mutex);
	pthread_mutex_unlock(&qemu_global_mutex);
}

int main(int argc, char **argv)
{
	int total = BASE_THREADS;
	bool d_state = false;
	char name[16];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
			total = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--d-state") == 0) {
			d_state = true;
		} else {
			fprintf(stderr, "usage: %s [--threads N] [--d-state]  (N >= %d, total threads)\n",
				argv[0], BASE_THREADS);
			return 2;
		}
	}
	if (total < BASE_THREADS)
		total = BASE_THREADS;
	if (total > 10000)
		total = 10000;
	sem_init(&ctx_held, 0, 0);
	sem_init(&bql_held, 0, 0);
	sem_init(&thread_started, 0, 0);
	sem_init(&armed, 0, 0);
	for (int i = 0; i < N_IOTHREADS; i++) {
		pthread_mutex_init(&aio_context_lock[i], NULL);
		iothread_event[i] = eventfd(0, EFD_CLOEXEC);
		if (iothread_event[i] < 0)
			die("eventfd", errno);
	}
	start_cpus();
	spawn("vnc_worker", vnc_worker, NULL);
	spawn("call_rcu", call_rcu_thread, NULL);
	for (int i = 0; i < N_IOTHREADS - 1; i++) {
		snprintf(name, sizeof(name), "IO iothread%d", i + 1);
		spawn(name, iothread_idle, (void *)(intptr_t)i);
	}
	for (int i = BASE_THREADS; i < total; i++) {
		snprintf(name, sizeof(name), "worker-%d", (i - BASE_THREADS) % 10000);
		spawn(name, idle_worker, NULL);
	}
	spawn("IO iothread4", iothread_busy, (void *)(intptr_t)(N_IOTHREADS - 1));
	spawn("live_migration", migration_thread, NULL);
	sem_wait(&armed);
	if (d_state)
		spawn("vfork_wait", vfork_wait, NULL);
	printf("ready\n");
	fflush(stdout);
	main_loop_wait();
	return 0;
}
