/* Unit tests of signature.c: the shipped files parse, errors carry
 * file:line, and matching / unmatchable decisions on hand-built stacks. */
#include "snapshot/lockgraph.h"
#include "snapshot/signature.h"

#include "mgcheck.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_snapshot.h"
#include "util.h"

/* live_migration (11) holds the BQL 0xb and waits for 0xa held by
 * IO iothread4 (12), which waits for 0xb; frames innermost first. */
static struct mg_snapshot *deadlock(bool stripped)
{
	static const char *const mig[] = { "__lll_lock_wait", "pthread_mutex_lock", "bdrv_do_drained_begin",
		"blk_drain", "virtio_blk_data_plane_stop", "vm_state_notify", "vm_stop", "migration_thread" };
	static const char *const io[] = { "__lll_lock_wait", "pthread_mutex_lock", "prepare_mmio_access",
		"address_space_stl_le", "virtio_blk_rw_complete", "aio_poll" };
	static const char *const bare[] = { "__lll_lock_wait", "pthread_mutex_lock", NULL, NULL, NULL, NULL };
	struct mg_snapshot *s = calloc(1, sizeof(*s));

	s->pid = 10;
	s->n_threads = 3;
	s->threads = calloc(3, sizeof(*s->threads));
	for (int i = 0; i < 3; i++) {
		struct mg_snap_thread *t = &s->threads[i];

		t->tid = 10 + i;
		t->state = 'S';
		t->in_syscall = t->futex_wait = t->word_valid = true;
		t->syscall_nr = 202;
		t->futex_val = 2;
	}
	snprintf(s->threads[0].name, sizeof(s->threads[0].name), "qemu-system-x86");
	snprintf(s->threads[1].name, sizeof(s->threads[1].name), "live_migration");
	snprintf(s->threads[2].name, sizeof(s->threads[2].name), "IO iothread4");
	s->threads[0].futex_addr = 0xb, s->threads[0].futex_owner_field = 11;
	s->threads[1].futex_addr = 0xa, s->threads[1].futex_owner_field = 12;
	s->threads[2].futex_addr = 0xb, s->threads[2].futex_owner_field = 11;
	mg_test_set_frames(&s->threads[1], stripped ? bare : mig, stripped ? 6 : MG_ARRAY_SIZE(mig));
	mg_test_set_frames(&s->threads[2], stripped ? bare : io, 6);
	mg_lockgraph_classify(s);
	mg_lockgraph_build(s, 0, 0);
	return s;
}

static const struct mg_sig_result *result(const struct mg_snapshot *s, const char *id)
{
	for (size_t i = 0; i < s->n_sigs; i++)
		if (strcmp(s->sigs[i].id, id) == 0)
			return &s->sigs[i];
	return NULL;
}

START_TEST(test_shipped_signatures_parse)
{
	struct mg_signature *sigs;
	size_t n;

	ck_assert_int_eq(mg_signatures_load(MG_SIGNATURES_DIR, &sigs, &n), 0);
	ck_assert_uint_ge(n, 2);
	mg_signatures_free(sigs, n);
}
END_TEST

START_TEST(test_virtio_blk_deadlock_matches_with_symbols)
{
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = deadlock(false);
	struct mg_signature *sigs;
	size_t n;
	const struct mg_sig_result *r;

	ck_assert_int_eq(mg_signatures_load(MG_SIGNATURES_DIR, &sigs, &n), 0);
	ck_assert_int_eq(mg_signatures_match(sigs, n, s), 0);
	mg_signatures_free(sigs, n);
	r = result(s, "qemu-bfa36802d170");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, MG_SIG_MATCH);
	ck_assert_str_eq(r->reason, "live_migration (11), IO iothread4 (12)");
	ck_assert_int_eq(result(s, "storage-stall-switchover")->status, MG_SIG_NO_MATCH);
}
END_TEST

START_TEST(test_stripped_stacks_are_unmatchable_with_reason)
{
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = deadlock(true);
	struct mg_signature *sigs;
	size_t n;
	const struct mg_sig_result *r;

	ck_assert_int_eq(mg_signatures_load(MG_SIGNATURES_DIR, &sigs, &n), 0);
	ck_assert_int_eq(mg_signatures_match(sigs, n, s), 0);
	mg_signatures_free(sigs, n);
	r = result(s, "qemu-bfa36802d170");
	ck_assert_int_eq(r->status, MG_SIG_UNMATCHABLE);
	ck_assert_ptr_nonnull(strstr(r->reason, "have no symbol"));
}
END_TEST

START_TEST(test_bad_line_is_einval)
{
	struct mg_signature *sigs = NULL;
	size_t n = 0;

	ck_assert_int_eq(mg_signatures_parse("t.sig", "id: x\ntitle: t\nframes: a > b\n", &sigs, &n), -EINVAL);
	mg_signatures_free(sigs, n);
	sigs = NULL, n = 0;
	ck_assert_int_eq(mg_signatures_parse("t.sig", "id: x\nthread: a\n", &sigs, &n), -EINVAL);
	mg_signatures_free(sigs, n);
	sigs = NULL, n = 0;
	ck_assert_int_eq(mg_signatures_parse("t.sig", "id: x\ntitle: t\nthread: a\n  wait: sleepy\n", &sigs, &n),
			 -EINVAL);
	mg_signatures_free(sigs, n);
}
END_TEST

static Suite *signature_suite(void)
{
	Suite *s = suite_create("signature");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_shipped_signatures_parse);
	tcase_add_test(tc, test_virtio_blk_deadlock_matches_with_symbols);
	tcase_add_test(tc, test_stripped_stacks_are_unmatchable_with_reason);
	tcase_add_test(tc, test_bad_line_is_einval);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(signature_suite());
}
