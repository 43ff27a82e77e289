/* Unit tests of lockgraph.c: wait classification from futex facts, edges,
 * cycles and the BQL, on hand-built thread tables (no processes). */
#include "snapshot/lockgraph.h"

#include "mgcheck.h"
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "util.h"

#define PID 100

/* A thread blocked in a glibc mutex wait on addr held by owner. */
static void mutex_wait(struct mg_snap_thread *t, uint64_t addr, pid_t owner)
{
	t->in_syscall = true;
	t->syscall_nr = SYS_futex;
	t->futex_wait = true;
	t->futex_addr = addr;
	t->futex_op = FUTEX_WAIT;
	t->futex_val = 2;
	t->word_valid = true;
	t->futex_word = 2;
	t->futex_owner_field = owner;
}

static void cond_wait(struct mg_snap_thread *t, uint64_t addr)
{
	t->in_syscall = true;
	t->syscall_nr = SYS_futex;
	t->futex_wait = true;
	t->futex_addr = addr;
	t->futex_op = FUTEX_WAIT_BITSET;
	t->futex_val = 0;
	t->word_valid = true;
	t->futex_owner_field = 3;	/* a signal count, not a live tid */
}

/* Gives t the logical frames syms, innermost first; a leading '+' marks a
 * frame inlined into the next one without it (snapshot.h). */
static void frames(struct mg_snap_thread *t, const char *const *syms, size_t n)
{
	size_t physical = 0;

	t->frames = calloc(n, sizeof(*t->frames));
	t->n_frames = n;
	for (size_t i = 0; i < n; i++) {
		t->frames[i].inlined = syms[i][0] == '+';
		t->frames[i].symbol = strdup(syms[i] + t->frames[i].inlined);
		t->frames[i].pc = 0x1000 + physical;
		if (!t->frames[i].inlined)
			physical++;
	}
}

static struct mg_snapshot *make(size_t n, const char *const *names)
{
	struct mg_snapshot *s = calloc(1, sizeof(*s));

	s->pid = PID;
	s->threads = calloc(n, sizeof(*s->threads));
	s->n_threads = n;
	for (size_t i = 0; i < n; i++) {
		s->threads[i].tid = PID + (pid_t)i;
		s->threads[i].state = 'S';
		snprintf(s->threads[i].name, sizeof(s->threads[i].name), "%s", names[i]);
	}
	return s;
}

static struct mg_snap_thread *T(struct mg_snapshot *s, pid_t tid)
{
	return &s->threads[tid - PID];
}

START_TEST(test_abba_cycle_names_both_threads_and_addresses)
{
	static const char *const names[] = { "qemu", "CPU 0/KVM", "live_migration", "IO iothread4" };
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = make(4, names);
	char buf[512];

	mutex_wait(T(s, 100), 0x1000, 102);	/* main waits for the BQL */
	cond_wait(T(s, 101), 0x3000);		/* CPU in pthread_cond_wait */
	mutex_wait(T(s, 102), 0x2000, 103);	/* migration waits for AioContext */
	mutex_wait(T(s, 103), 0x1000, 102);	/* iothread waits for the BQL */
	mg_lockgraph_classify(s);
	ck_assert_int_eq(T(s, 101)->wait, MG_WAIT_CONDVAR);
	ck_assert_int_eq(T(s, 101)->owner, 0);
	ck_assert_int_eq(mg_lockgraph_build(s, 0, 0), 0);
	ck_assert_uint_eq(s->locks.n_edges, 3);
	ck_assert_uint_eq(s->locks.bql, 0x1000);
	ck_assert_int_eq(s->locks.bql_owner, 102);
	ck_assert_uint_eq(s->locks.n_cycles, 1);
	ck_assert_uint_eq(s->locks.cycles[0].n, 2);
	/* starts at the BQL holder */
	ck_assert_int_eq(s->locks.cycles[0].tids[0], 102);
	ck_assert_int_eq(s->locks.cycles[0].tids[1], 103);
	ck_assert_uint_eq(s->locks.cycles[0].addrs[0], 0x2000);
	ck_assert_uint_eq(s->locks.cycles[0].addrs[1], 0x1000);
	ck_assert_str_eq(mg_snapshot_cycle_sentence(s, 0, buf, sizeof(buf)),
			 "deadlock: live_migration (102) holds the BQL and waits for mutex 0x2000 held by "
			 "IO iothread4 (103), which waits for the BQL");
}
END_TEST

START_TEST(test_chain_without_cycle_has_no_cycle)
{
	static const char *const names[] = { "qemu", "a", "b", "c" };
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = make(4, names);

	mutex_wait(T(s, 100), 0x1000, 101);
	mutex_wait(T(s, 101), 0x2000, 102);
	mutex_wait(T(s, 102), 0x3000, 103);
	mg_lockgraph_classify(s);
	ck_assert_int_eq(mg_lockgraph_build(s, 0, 0), 0);
	ck_assert_uint_eq(s->locks.n_edges, 3);
	ck_assert_uint_eq(s->locks.n_cycles, 0);
}
END_TEST

START_TEST(test_two_disjoint_cycles_and_a_tail_are_each_found_once)
{
	static const char *const names[] = { "qemu", "a", "b", "c", "d", "e", "f" };
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = make(7, names);

	mutex_wait(T(s, 101), 0xa, 102);
	mutex_wait(T(s, 102), 0xb, 103);
	mutex_wait(T(s, 103), 0xc, 101);	/* a -> b -> c -> a */
	mutex_wait(T(s, 104), 0xd, 105);
	mutex_wait(T(s, 105), 0xe, 104);	/* d <-> e */
	mutex_wait(T(s, 106), 0xa, 102);	/* f waits into the first cycle */
	mg_lockgraph_classify(s);
	ck_assert_int_eq(mg_lockgraph_build(s, 0, 0), 0);
	ck_assert_uint_eq(s->locks.n_cycles, 2);
	ck_assert_uint_eq(s->locks.cycles[0].n + s->locks.cycles[1].n, 5);
}
END_TEST

START_TEST(test_owner_field_not_a_live_thread_is_not_a_mutex)
{
	static const char *const names[] = { "qemu", "call_rcu" };
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = make(2, names);

	/* qemu_event_wait: FUTEX_WAIT on a word whose neighbour is no tid */
	mutex_wait(T(s, 101), 0x5000, 4242);
	T(s, 101)->futex_val = (uint32_t)-1;
	mg_lockgraph_classify(s);
	ck_assert_int_eq(T(s, 101)->wait, MG_WAIT_FUTEX);
	ck_assert_int_eq(mg_lockgraph_build(s, 0, 0), 0);
	ck_assert_uint_eq(s->locks.n_edges, 0);
	ck_assert_uint_eq(s->locks.bql, 0);
}
END_TEST

START_TEST(test_bql_from_symbol_and_owner_hint_when_nobody_waits)
{
	static const char *const names[] = { "qemu", "live_migration" };
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = make(2, names);

	mg_lockgraph_classify(s);
	ck_assert_int_eq(mg_lockgraph_build(s, 0x7000, 101), 0);
	ck_assert_uint_eq(s->locks.bql, 0x7000);
	ck_assert_int_eq(s->locks.bql_owner, 101);
	ck_assert_str_eq(s->locks.bql_source, "symbol qemu_global_mutex");
}
END_TEST

START_TEST(test_bql_guessed_from_cpu_threads_when_main_is_not_waiting)
{
	static const char *const names[] = { "qemu", "CPU 0/KVM", "CPU 1/KVM", "worker", "holder" };
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = make(5, names);

	mutex_wait(T(s, 101), 0x1000, 104);
	mutex_wait(T(s, 102), 0x1000, 104);
	mutex_wait(T(s, 103), 0x2000, 104);
	mg_lockgraph_classify(s);
	ck_assert_int_eq(mg_lockgraph_build(s, 0, 0), 0);
	ck_assert_uint_eq(s->locks.bql, 0x1000);
	ck_assert_int_eq(s->locks.bql_owner, 104);
}
END_TEST

START_TEST(test_pi_mutex_owner_is_in_the_word)
{
	static const char *const names[] = { "qemu", "a", "b" };
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = make(3, names);

	mutex_wait(T(s, 101), 0x1000, 0);
	T(s, 101)->futex_op = FUTEX_LOCK_PI;
	T(s, 101)->futex_word = FUTEX_WAITERS | 102;
	mg_lockgraph_classify(s);
	ck_assert_int_eq(T(s, 101)->wait, MG_WAIT_MUTEX_PI);
	ck_assert_int_eq(T(s, 101)->owner, 102);
}
END_TEST

/* glibc with debuginfo: the condvar wait is the 5th logical frame but the
 * 2nd physical one; its kind must not change when inline frames appear. */
START_TEST(test_inlined_frames_do_not_push_the_wait_call_out_of_depth)
{
	static const char *const names[] = { "qemu", "vnc_worker" };
	static const char *const syms[] = {
		"+futex_wait", "+__futex_abstimed_wait_common64", "+__futex_abstimed_wait_common",
		"__futex_abstimed_wait_cancelable64", "+__pthread_cond_wait_common", "___pthread_cond_wait",
		"vnc_worker_thread_loop",
	};
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = make(2, names);

	mutex_wait(T(s, 101), 0x3000, 0);
	T(s, 101)->futex_val = 0;	/* a plain FUTEX_WAIT: only the frames tell */
	frames(T(s, 101), syms, MG_ARRAY_SIZE(syms));
	mg_lockgraph_classify(s);
	ck_assert_int_eq(T(s, 101)->wait, MG_WAIT_CONDVAR);
}
END_TEST

/* QEMU with debuginfo: bql_lock_impl is the 8th logical frame, the 5th
 * physical one; the BQL is still the mutex it waits for. */
START_TEST(test_bql_lock_below_inlined_frames_still_names_the_bql)
{
	static const char *const names[] = { "qemu", "IO iothread1", "holder" };
	static const char *const syms[] = {
		"+futex_wait", "__lll_lock_wait", "+lll_mutex_lock_optimized", "___pthread_mutex_lock",
		"qemu_mutex_lock_impl", "+qemu_mutex_lock", "+bql_do_lock", "bql_lock_impl",
		"+prepare_mmio_access", "address_space_stl_le",
	};
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = make(3, names);

	mutex_wait(T(s, 101), 0x5000, 102);
	frames(T(s, 101), syms, MG_ARRAY_SIZE(syms));
	mg_lockgraph_classify(s);
	ck_assert_int_eq(mg_lockgraph_build(s, 0, 0), 0);
	ck_assert_uint_eq(s->locks.bql, 0x5000);
	ck_assert_str_eq(s->locks.bql_source, "the mutex taken by qemu_mutex_lock_iothread/bql_lock");
}
END_TEST

static Suite *lockgraph_suite(void)
{
	Suite *s = suite_create("lockgraph");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_abba_cycle_names_both_threads_and_addresses);
	tcase_add_test(tc, test_chain_without_cycle_has_no_cycle);
	tcase_add_test(tc, test_two_disjoint_cycles_and_a_tail_are_each_found_once);
	tcase_add_test(tc, test_owner_field_not_a_live_thread_is_not_a_mutex);
	tcase_add_test(tc, test_bql_from_symbol_and_owner_hint_when_nobody_waits);
	tcase_add_test(tc, test_bql_guessed_from_cpu_threads_when_main_is_not_waiting);
	tcase_add_test(tc, test_pi_mutex_owner_is_in_the_word);
	tcase_add_test(tc, test_inlined_frames_do_not_push_the_wait_call_out_of_depth);
	tcase_add_test(tc, test_bql_lock_below_inlined_frames_still_names_the_bql);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(lockgraph_suite());
}
