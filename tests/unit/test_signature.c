/* Unit tests of signature.c: the shipped files parse, errors carry
 * file:line, and matching / unmatchable decisions on hand-built stacks in
 * the shapes real builds give (tests/unit/fake_snapshot.h). */
#include "snapshot/lockgraph.h"
#include "snapshot/model.h"
#include "snapshot/signature.h"
#include "snapshot/symname.h"

#include "mgcheck.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_snapshot.h"
#include "util.h"

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

/* The shipped signatures matched against one shape of the seed's hang. */
static struct mg_snapshot *matched(enum mg_test_shape shape)
{
	struct mg_snapshot *s = mg_test_deadlock(shape);
	struct mg_signature *sigs;
	size_t n;

	ck_assert_int_eq(mg_signatures_load(MG_SIGNATURES_DIR, &sigs, &n), 0);
	ck_assert_int_eq(mg_signatures_match(sigs, n, s), 0);
	mg_signatures_free(sigs, n);
	return s;
}

START_TEST(test_seed_matches_build_with_debug_info)
{
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = matched(MG_TEST_DWARF);
	const struct mg_sig_result *r = result(s, "qemu-bfa36802d170");

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, MG_SIG_MATCH);
	ck_assert_str_eq(r->reason, "live_migration (11), IO iothread1 (12)");
	ck_assert_int_eq(result(s, "storage-stall-switchover")->status, MG_SIG_NO_MATCH);
}
END_TEST

START_TEST(test_seed_matches_stripped_build_without_inline_frames)
{
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = matched(MG_TEST_SYMTAB);
	const struct mg_sig_result *r = result(s, "qemu-bfa36802d170");

	/* bdrv_do_drained_begin.part.0, and no prepare_mmio_access at all */
	ck_assert_int_eq(r->status, MG_SIG_MATCH);
	ck_assert_str_eq(r->reason, "live_migration (11), IO iothread1 (12)");
}
END_TEST

START_TEST(test_seed_matches_stripped_build_on_host_with_libc_debuginfo)
{
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = matched(MG_TEST_SYMTAB_LIBC_DBG);

	/* libc's frames have lines, QEMU's none: prepare_mmio_access, inlined
	 * in QEMU, cannot show, so it may be missing. */
	ck_assert_int_eq(result(s, "qemu-bfa36802d170")->status, MG_SIG_MATCH);
}
END_TEST

START_TEST(test_seed_matches_stack_of_the_production_report)
{
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = matched(MG_TEST_REPORT);
	const struct mg_sig_result *r = result(s, "qemu-bfa36802d170");

	ck_assert_int_eq(r->status, MG_SIG_MATCH);
	ck_assert_str_eq(r->reason, "live_migration (11), IO iothread4 (12)");
}
END_TEST

START_TEST(test_inlined_frame_is_required_when_stack_has_debug_info)
{
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = matched(MG_TEST_DWARF_OTHER);

	/* The lock cycle is the same; the IOThread took the BQL elsewhere, and
	 * debug info would have shown prepare_mmio_access had it been there. */
	ck_assert_uint_eq(s->locks.n_cycles, 1);
	ck_assert_int_eq(result(s, "qemu-bfa36802d170")->status, MG_SIG_NO_MATCH);
}
END_TEST

START_TEST(test_lock_facts_decide_over_frames)
{
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = mg_test_deadlock(MG_TEST_DWARF);
	struct mg_signature *sigs;
	size_t n;

	/* Same frames, but live_migration's mutex is not the IOThread's. */
	s->threads[1].futex_owner_field = 13;
	mg_snap_locks_clear(&s->locks);
	mg_lockgraph_classify(s);
	mg_lockgraph_build(s, 0xb, 0);
	ck_assert_int_eq(mg_signatures_load(MG_SIGNATURES_DIR, &sigs, &n), 0);
	ck_assert_int_eq(mg_signatures_match(sigs, n, s), 0);
	mg_signatures_free(sigs, n);
	ck_assert_int_eq(result(s, "qemu-bfa36802d170")->status, MG_SIG_NO_MATCH);
}
END_TEST

START_TEST(test_stripped_stacks_are_unmatchable_with_reason)
{
	_cleanup_(mg_snapshot_freep) struct mg_snapshot *s = matched(MG_TEST_BARE);
	const struct mg_sig_result *r = result(s, "qemu-bfa36802d170");

	ck_assert_int_eq(r->status, MG_SIG_UNMATCHABLE);
	ck_assert_ptr_nonnull(strstr(r->reason, "have no symbol"));
}
END_TEST

START_TEST(test_clone_suffixes_are_stripped_for_matching)
{
	static const struct {
		const char *sym;
		size_t base;
	} cases[] = {
		{ "bdrv_do_drained_begin.part.0", 21 }, { "f.isra.12", 1 }, { "f.constprop.0.isra.0", 1 },
		{ "f.cold", 1 }, { "f.part.0.cold", 1 }, { "f.lto_priv.3", 1 }, { "f.llvm.1234567", 1 },
		{ "plain", 5 }, { "f.unknown.0", 11 }, { ".part.0", 7 }, { "f.", 2 }, { "f.part.", 7 },
		{ "f.part.x", 8 },
	};

	for (size_t i = 0; i < MG_ARRAY_SIZE(cases); i++)
		ck_assert_msg(mg_symname_base_len(cases[i].sym) == cases[i].base, "%s: %zu, want %zu",
			      cases[i].sym, mg_symname_base_len(cases[i].sym), cases[i].base);
	ck_assert(mg_symname_match("bdrv_do_drained_begin", "bdrv_do_drained_begin.part.0"));
	ck_assert(mg_symname_match("bdrv_do_drained_begin.part.*", "bdrv_do_drained_begin.part.0"));
	ck_assert(!mg_symname_match("bdrv_do_drained_begin", "bdrv_do_drained_begin_quiesce"));
	ck_assert(!mg_symname_match("f", "f.unknown.0"));
}
END_TEST

START_TEST(test_may_inline_item_parses_and_rejects_bad_parentheses)
{
	static const char *const bad[] = {
		"id: x\ntitle: t\nthread: a\n  frames: ()\n",
		"id: x\ntitle: t\nthread: a\n  frames: (a\n",
		"id: x\ntitle: t\nthread: a\n  frames: ((a))\n",
		"id: x\ntitle: t\nthread: a\n  frames: a > b)\n",
	};
	struct mg_signature *sigs = NULL;
	size_t n = 0;

	ck_assert_int_eq(mg_signatures_parse("t.sig", "id: x\ntitle: t\nthread: a\n  frames: a > ( b|c ) > d\n",
					     &sigs, &n), 0);
	mg_signatures_free(sigs, n);
	for (size_t i = 0; i < MG_ARRAY_SIZE(bad); i++) {
		sigs = NULL, n = 0;
		ck_assert_int_eq(mg_signatures_parse("t.sig", bad[i], &sigs, &n), -EINVAL);
		mg_signatures_free(sigs, n);
	}
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
	tcase_add_test(tc, test_seed_matches_build_with_debug_info);
	tcase_add_test(tc, test_seed_matches_stripped_build_without_inline_frames);
	tcase_add_test(tc, test_seed_matches_stripped_build_on_host_with_libc_debuginfo);
	tcase_add_test(tc, test_seed_matches_stack_of_the_production_report);
	tcase_add_test(tc, test_inlined_frame_is_required_when_stack_has_debug_info);
	tcase_add_test(tc, test_lock_facts_decide_over_frames);
	tcase_add_test(tc, test_stripped_stacks_are_unmatchable_with_reason);
	tcase_add_test(tc, test_clone_suffixes_are_stripped_for_matching);
	tcase_add_test(tc, test_may_inline_item_parses_and_rejects_bad_parentheses);
	tcase_add_test(tc, test_bad_line_is_einval);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mg_check_run(signature_suite());
}
