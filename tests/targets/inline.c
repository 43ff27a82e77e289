/* inline.c - a process blocked inside code the compiler inlined, for the
 * snapshot's inline-frame tests (issue 11): built with -O2 -g, the thread
 * "IO iothread1" waits for the BQL in
 *
 *   iothread_run -> address_space_stl_le -> [prepare_mmio_access]
 *     -> [bql_lock] -> qemu_mutex_lock_impl -> pthread_mutex_lock
 *
 * where the bracketed functions are always_inline, as QEMU's
 * prepare_mmio_access is inlined into address_space_stl_le by GCC at -O2:
 * the symbol table has no entry for them, only DWARF's
 * DW_TAG_inlined_subroutine does.  The main thread holds the BQL and
 * waits in pthread_join.
 *
 * The lines the tests look for carry a marker comment ("LINE:name"): the
 * test reads the expected line numbers from this file, so editing it never
 * silently breaks them.  "ready" is printed once the waiting thread exists;
 * the test then waits for it to sit in futex(2). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MG_NOINLINE __attribute__((noinline))
#define MG_INLINE static inline __attribute__((always_inline))

/* Same name as QEMU's BQL so that the snapshot finds it by symbol too. */
pthread_mutex_t qemu_global_mutex = PTHREAD_MUTEX_INITIALIZER;
/* Written after each call so that no call is a tail call (the frame of
 * the caller must stay on the stack) and nothing is optimised away. */
volatile unsigned mmio_writes;

MG_NOINLINE void qemu_mutex_lock_impl(pthread_mutex_t *m)
{
	int r = pthread_mutex_lock(m);

	if (r) {
		fprintf(stderr, "inline: pthread_mutex_lock: %s\n", strerror(r));
		exit(1);
	}
	mmio_writes++;
}

MG_INLINE void bql_lock(void)
{
	qemu_mutex_lock_impl(&qemu_global_mutex);	/* LINE:bql_lock */
	mmio_writes++;
}

MG_INLINE void prepare_mmio_access(unsigned val)
{
	if (val != 0x5a)
		bql_lock();	/* LINE:prepare_mmio_access */
	mmio_writes++;
}

MG_NOINLINE void address_space_stl_le(unsigned val)
{
	prepare_mmio_access(val);	/* LINE:address_space_stl_le */
	mmio_writes += val;
}

static void *iothread_run(void *arg)
{
	address_space_stl_le((unsigned)(unsigned long)arg);
	mmio_writes++;
	return NULL;
}

int main(void)
{
	pthread_t t;
	int r;

	pthread_mutex_lock(&qemu_global_mutex);
	r = pthread_create(&t, NULL, iothread_run, (void *)1ul);
	if (r) {
		fprintf(stderr, "inline: pthread_create: %s\n", strerror(r));
		return 1;
	}
	pthread_setname_np(t, "IO iothread1");
	printf("ready\n");
	fflush(stdout);
	pthread_join(t, NULL);
	return 0;
}
