/* Unit tests of the I/O-wait ranking (iowait.c: the hang's path, the roles
 * and the order) and of how render.c shows it, on hand-built snapshots of
 * the storage stall and the seed's deadlock (fake_snapshot.h). */
#include "snapshot/iowait.h"

#include "mgcheck.h"
#include <stdlib.h>
#include <string.h>

#include "fake_snapshot.h"
#include "snapshot/model.h"
#include "util.h"

static void free_snap(struct mg_snapshot **s)
{
	mg_snapshot_free(*s);
}
#define _cleanup_snap_ _cleanup_(free_snap)

static void assert_wait(const struct mg_snapshot *s, size_t i, pid_t tid, int fd, enum mg_io_role role)
{
	ck_assert_uint_lt(i, s->n_io_waits);
	ck_assert_msg(s->io_waits[i].tid == tid && s->io_waits[i].fd == fd && s->io_waits[i].role == role,
		      "io_waits[%zu]: tid %d fd %d role %d, want tid %d fd %d role %d", i, s->io_waits[i].tid,
		      s->io_waits[i].fd, s->io_waits[i].role, tid, fd, role);
}

/* Drops the waits of tid, keeping the others in order. */
static void drop_waits_of(struct mg_snapshot *s, pid_t tid)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n_io_waits; i++) {
		if (s->io_waits[i].tid == tid) {
			free(s->io_waits[i].target);
			free(s->io_waits[i].detail);
			continue;
		}
		s->io_waits[k++] = s->io_waits[i];
	}
	s->n_io_waits = k;
}

/* The text render puts in buf (caller frees). */
static char *render(const struct mg_snapshot *s, bool text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	if (text)
		mg_snapshot_write_text(s, f);
	else
		mg_snapshot_write_summary(s, f);
	fclose(f);
	return buf;
}

/* Where needle starts in hay (asserted present). */
static size_t at(const char *hay, const char *needle)
{
	const char *p = strstr(hay, needle);

	ck_assert_msg(p, "\"%s\" missing from:\n%s", needle, hay);
	return (size_t)(p - hay);
}

static const char *role_of(json_object *doc, size_t i)
{
	json_object *io, *w, *role;

	ck_assert(json_object_object_get_ex(doc, "io_waits", &io));
	w = json_object_array_get_idx(io, i);
	ck_assert_ptr_nonnull(w);
	return json_object_object_get_ex(w, "role", &role) ? json_object_get_string(role) : NULL;
}

#define NBD_LINE_MAIN "I/O wait: live_migration (14) fd 12 socket:[1012] (unix, peer socket:[2012]) -> " \
	"qemu-nbd (400) T (stopped)\n"
#define MON_LINES "I/O wait: IO mon_iothread (12) fd 3 socket:[1003] (unix, peer socket:[2003]) -> " \
	"libvirtd (500) S (sleeping)\n" \
	"I/O wait: IO mon_iothread (12) fd 9 socket:[1009] (unix, peer socket:[2009]) -> " \
	"migguardd (600) S (sleeping)\n"
#define HANG_HEADING "I/O waits on the hang's path (the BQL holder and the threads it waits for):\n"
#define IDLE_HEADING "I/O waits not on the hang's path (idle):\n"

START_TEST(test_storage_stall_ranks_nbd_wait_first_as_hang_and_monitor_sockets_idle)
{
	_cleanup_snap_ struct mg_snapshot *s = mg_test_storage_stall(MG_TEST_STALL_MAIN);

	ck_assert_int_eq(s->locks.bql_owner, 14);
	ck_assert_int_eq(mg_iowait_rank(s), 0);
	ck_assert_uint_eq(s->n_io_waits, 6);
	assert_wait(s, 0, 14, 12, MG_IO_HANG);
	ck_assert_int_eq(s->io_waits[0].peer_pid, MG_TEST_NBD_PID);
	assert_wait(s, 1, 14, 8, MG_IO_HANG);
	/* the monitor thread's, in the order they were found */
	assert_wait(s, 2, 12, 3, MG_IO_IDLE);
	assert_wait(s, 3, 12, 9, MG_IO_IDLE);
	assert_wait(s, 4, 12, 16, MG_IO_IDLE);
	assert_wait(s, 5, 12, 17, MG_IO_IDLE);
}
END_TEST

START_TEST(test_bql_owner_without_symbols_has_its_own_waits_on_the_path)
{
	_cleanup_snap_ struct mg_snapshot *s = mg_test_storage_stall(MG_TEST_STALL_BARE);

	/* the BQL from the main thread's futex alone */
	ck_assert_int_eq(s->locks.bql_owner, 14);
	ck_assert_int_eq(mg_iowait_rank(s), 0);
	assert_wait(s, 0, 14, 12, MG_IO_HANG);
	assert_wait(s, 1, 14, 8, MG_IO_HANG);
	for (size_t i = 2; i < 6; i++)
		assert_wait(s, i, 12, s->io_waits[i].fd, MG_IO_IDLE);
}
END_TEST

START_TEST(test_drain_puts_iothreads_on_the_path_but_not_the_monitor_thread)
{
	_cleanup_snap_ struct mg_snapshot *s = mg_test_storage_stall(MG_TEST_STALL_IOTHREAD);

	ck_assert_int_eq(s->locks.bql_owner, 15);
	ck_assert_int_eq(mg_iowait_rank(s), 0);
	ck_assert_uint_eq(s->n_io_waits, 7);
	assert_wait(s, 0, 12, 14, MG_IO_HANG);	/* IO io1 on the NBD socket */
	ck_assert_int_eq(s->io_waits[0].peer_pid, MG_TEST_NBD_PID);
	assert_wait(s, 1, 12, 9, MG_IO_HANG);
	assert_wait(s, 2, 15, 8, MG_IO_HANG);	/* live_migration, found after the monitor's */
	assert_wait(s, 3, 13, 3, MG_IO_IDLE);
	assert_wait(s, 4, 13, 9, MG_IO_IDLE);
	assert_wait(s, 5, 13, 16, MG_IO_IDLE);
	assert_wait(s, 6, 13, 17, MG_IO_IDLE);
}
END_TEST

START_TEST(test_iothreads_stay_idle_when_no_thread_on_the_path_drains)
{
	_cleanup_snap_ struct mg_snapshot *s = mg_test_storage_stall(MG_TEST_STALL_IOTHREAD);
	struct mg_snap_thread *mig = &s->threads[5];

	/* live_migration polling outside any drain (its frames cut to the poll) */
	ck_assert_str_eq(mig->name, "live_migration");
	for (size_t i = 1; i < mig->n_frames; i++) {
		free(mig->frames[i].symbol);
		mig->frames[i].symbol = NULL;
	}
	ck_assert_int_eq(mg_iowait_rank(s), 0);
	assert_wait(s, 0, 15, 8, MG_IO_HANG);
	for (size_t i = 1; i < s->n_io_waits; i++)
		ck_assert_int_eq(s->io_waits[i].role, MG_IO_IDLE);
}
END_TEST

START_TEST(test_drain_frames_match_with_clone_suffixes)
{
	_cleanup_snap_ struct mg_snapshot *s = mg_test_storage_stall(MG_TEST_STALL_IOTHREAD);
	struct mg_snap_thread *mig = &s->threads[5];

	/* the only drain frame a GCC clone, as "bdrv_do_drained_begin.part.0" */
	for (size_t i = 1; i < mig->n_frames; i++) {
		free(mig->frames[i].symbol);
		mig->frames[i].symbol = NULL;
	}
	mig->frames[2].symbol = strdup("bdrv_try_change_aio_context.constprop.0");
	ck_assert_int_eq(mg_iowait_rank(s), 0);
	assert_wait(s, 0, 12, 14, MG_IO_HANG);
}
END_TEST

START_TEST(test_lock_cycle_threads_are_on_the_hang_path)
{
	/* the seed's deadlock without QEMU's symbols: the path follows the
	 * lock edges only (no drain frame): live_migration (11) holds the BQL
	 * and waits for IO iothread1 (12), which waits for the BQL */
	_cleanup_snap_ struct mg_snapshot *s = mg_test_deadlock(MG_TEST_BARE);
	bool on_path[4];

	ck_assert_int_eq(s->locks.bql_owner, 11);
	ck_assert_uint_eq(s->locks.n_cycles, 1);
	ck_assert(mg_iowait_hang_path(s, on_path));
	ck_assert(!on_path[0]);	/* main thread: waits for the BQL, a victim */
	ck_assert(on_path[1]);
	ck_assert(on_path[2]);
	ck_assert(!on_path[3]);	/* the vCPU on its condition variable */
}
END_TEST

START_TEST(test_path_follows_lock_edges_transitively_into_a_cycle)
{
	/* the BQL owner waits for 12, which is in a cycle with 13 */
	static const char *const names[] = { "qemu-system-x86", "live_migration", "worker", "worker",
		"IO mon_iothread" };
	static const struct { uint64_t addr; pid_t owner; } waits[] = {
		{ 0xb, 11 }, { 0xa, 12 }, { 0xd, 13 }, { 0xe, 12 },
	};
	_cleanup_snap_ struct mg_snapshot *s = calloc(1, sizeof(*s));
	bool on_path[5];

	s->pid = 10;
	s->n_threads = 5;
	s->threads = calloc(5, sizeof(*s->threads));
	for (size_t i = 0; i < 5; i++) {
		struct mg_snap_thread *t = &s->threads[i];

		t->tid = 10 + (pid_t)i;
		t->state = 'S';
		t->in_syscall = true;
		snprintf(t->name, sizeof(t->name), "%s", names[i]);
		if (i == 4) {
			t->syscall_nr = 7;
			continue;
		}
		t->syscall_nr = 202;
		t->futex_wait = t->word_valid = true;
		t->futex_val = 2;
		t->futex_addr = waits[i].addr;
		t->futex_owner_field = waits[i].owner;
	}
	mg_lockgraph_classify(s);
	ck_assert_int_eq(mg_lockgraph_build(s, 0xb, 0), 0);
	ck_assert_uint_eq(s->locks.n_cycles, 1);
	ck_assert(mg_iowait_hang_path(s, on_path));
	ck_assert(!on_path[0] && on_path[1] && on_path[2] && on_path[3] && !on_path[4]);
}
END_TEST

START_TEST(test_without_bql_owner_waits_stay_unranked_in_their_order)
{
	_cleanup_snap_ struct mg_snapshot *s = mg_test_storage_stall(MG_TEST_STALL_MAIN);
	_cleanup_free_ char *text = NULL;
	bool on_path[5] = { true, true, true, true, true };
	json_object *doc;

	s->locks.bql_owner = 0;	/* e.g. the BQL free or its owner field unreadable */
	ck_assert(!mg_iowait_hang_path(s, on_path));
	for (size_t i = 0; i < 5; i++)
		ck_assert(!on_path[i]);
	s->io_waits[0].role = MG_IO_IDLE;	/* a stale role is reset */
	ck_assert_int_eq(mg_iowait_rank(s), 0);
	assert_wait(s, 0, 12, 3, MG_IO_UNRANKED);
	assert_wait(s, 1, 12, 9, MG_IO_UNRANKED);
	assert_wait(s, 2, 12, 16, MG_IO_UNRANKED);
	assert_wait(s, 3, 12, 17, MG_IO_UNRANKED);
	assert_wait(s, 4, 14, 12, MG_IO_UNRANKED);
	assert_wait(s, 5, 14, 8, MG_IO_UNRANKED);
	doc = mg_snapshot_to_json(s);
	for (size_t i = 0; i < 6; i++)
		ck_assert_ptr_null(role_of(doc, i));
	json_object_put(doc);
	/* the text as before ranking existed: every chain, no heading */
	text = render(s, true);
	ck_assert_ptr_nonnull(strstr(text, "no lock cycle\n" MON_LINES NBD_LINE_MAIN "target stopped"));
	ck_assert_ptr_null(strstr(text, "hang's path"));
}
END_TEST

START_TEST(test_json_carries_role_per_io_wait)
{
	_cleanup_snap_ struct mg_snapshot *s = mg_test_storage_stall(MG_TEST_STALL_MAIN);
	json_object *doc;

	ck_assert_int_eq(mg_iowait_rank(s), 0);
	doc = mg_snapshot_to_json(s);
	ck_assert_str_eq(role_of(doc, 0), "hang");
	ck_assert_str_eq(role_of(doc, 1), "hang");
	for (size_t i = 2; i < 6; i++)
		ck_assert_str_eq(role_of(doc, i), "idle");
	json_object_put(doc);
}
END_TEST

START_TEST(test_text_lists_hang_waits_under_their_heading_then_idle_ones)
{
	_cleanup_snap_ struct mg_snapshot *s = mg_test_storage_stall(MG_TEST_STALL_MAIN);
	_cleanup_free_ char *text = NULL;

	ck_assert_int_eq(mg_iowait_rank(s), 0);
	text = render(s, true);
	/* eventfds lead nowhere: not shown, in either group */
	ck_assert_ptr_nonnull(strstr(text, "no lock cycle\n" HANG_HEADING NBD_LINE_MAIN IDLE_HEADING MON_LINES
					   "target stopped"));
}
END_TEST

START_TEST(test_summary_names_only_hang_chains_and_counts_idle_ones)
{
	_cleanup_snap_ struct mg_snapshot *s = mg_test_storage_stall(MG_TEST_STALL_MAIN);
	_cleanup_free_ char *sum = NULL;

	ck_assert_int_eq(mg_iowait_rank(s), 0);
	sum = render(s, false);
	ck_assert_uint_lt(at(sum, "no lock cycle\n" NBD_LINE_MAIN "(+2 idle I/O waits not on the hang's path)\n"),
			  at(sum, "target stopped"));
	ck_assert_ptr_null(strstr(sum, "mon_iothread"));
	ck_assert_ptr_null(strstr(sum, HANG_HEADING));
	ck_assert_ptr_null(strstr(sum, IDLE_HEADING));
}
END_TEST

START_TEST(test_summary_says_when_no_wait_is_on_the_hang_path)
{
	_cleanup_snap_ struct mg_snapshot *s = mg_test_storage_stall(MG_TEST_STALL_MAIN);
	_cleanup_free_ char *sum = NULL, *text = NULL;

	drop_waits_of(s, 14);	/* live_migration blocked elsewhere than in I/O */
	ck_assert_int_eq(mg_iowait_rank(s), 0);
	sum = render(s, false);
	ck_assert_ptr_nonnull(strstr(sum, "no lock cycle\nno I/O wait on the hang's path\n"
					  "(+2 idle I/O waits not on the hang's path)\ntarget stopped"));
	text = render(s, true);
	ck_assert_ptr_nonnull(strstr(text, "no lock cycle\nno I/O wait on the hang's path\n" IDLE_HEADING MON_LINES
					   "target stopped"));
	/* one idle wait: the count in the singular */
	drop_waits_of(s, 12);
	mg_test_add_io_wait(s, 12, 3, "socket:[1003]", NULL, 0, NULL, NULL);
	ck_assert_int_eq(mg_iowait_rank(s), 0);
	free(sum);
	sum = render(s, false);
	ck_assert_ptr_nonnull(strstr(sum, "(+1 idle I/O wait not on the hang's path)\n"));
}
END_TEST

static Suite *iowait_suite(void)
{
	Suite *s = suite_create("iowait");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_storage_stall_ranks_nbd_wait_first_as_hang_and_monitor_sockets_idle);
	tcase_add_test(tc, test_bql_owner_without_symbols_has_its_own_waits_on_the_path);
	tcase_add_test(tc, test_drain_puts_iothreads_on_the_path_but_not_the_monitor_thread);
	tcase_add_test(tc, test_iothreads_stay_idle_when_no_thread_on_the_path_drains);
	tcase_add_test(tc, test_drain_frames_match_with_clone_suffixes);
	tcase_add_test(tc, test_lock_cycle_threads_are_on_the_hang_path);
	tcase_add_test(tc, test_path_follows_lock_edges_transitively_into_a_cycle);
	tcase_add_test(tc, test_without_bql_owner_waits_stay_unranked_in_their_order);
	tcase_add_test(tc, test_json_carries_role_per_io_wait);
	tcase_add_test(tc, test_text_lists_hang_waits_under_their_heading_then_idle_ones);
	tcase_add_test(tc, test_summary_names_only_hang_chains_and_counts_idle_ones);
	tcase_add_test(tc, test_summary_says_when_no_wait_is_on_the_hang_path);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(iowait_suite());
}
