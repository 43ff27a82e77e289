/* fuzz_signature - the known-issue signature loader
 * (daemon/snapshot/signature.c; format in conf/signatures/README): the
 * input is one .sig file in a signatures directory, loaded by
 * mg_signatures_load() as `migguard snapshot` and the daemon do, then
 * matched against two hand-built snapshots (the lock cycle of
 * tests/unit/test_signature.c, symbolized and stripped) and rendered into
 * the summary and the JSON an incident carries. */
#include "snapshot/lockgraph.h"
#include "snapshot/signature.h"
#include "../unit/fake_snapshot.h"
#include "util.h"
#include "fuzz.h"

static char dir[PATH_MAX], path[PATH_MAX + 16];
static struct mg_snapshot *snaps[2];
static FILE *devnull;

/* live_migration (11) holds the BQL 0xb and waits for 0xa held by
 * IO iothread4 (12), which waits for 0xb; a fourth thread waits on I/O. */
static struct mg_snapshot *deadlock(bool stripped)
{
	static const char *const mig[] = { "__lll_lock_wait", "pthread_mutex_lock", "bdrv_do_drained_begin",
		"blk_drain", "virtio_blk_data_plane_stop", "vm_state_notify", "vm_stop", "migration_thread" };
	static const char *const io[] = { "__lll_lock_wait", "pthread_mutex_lock", "prepare_mmio_access",
		"address_space_stl_le", "virtio_blk_rw_complete", "aio_poll" };
	static const char *const bare[] = { "__lll_lock_wait", "pthread_mutex_lock", NULL, NULL, NULL, NULL };
	static const char *const poll[] = { "ppoll", "qemu_poll_ns", "aio_poll", "bdrv_drain_all_begin",
		"bdrv_drain_all", "do_vm_stop", "vm_stop" };
	struct mg_snapshot *s = calloc(1, sizeof(*s));

	s->pid = 10;
	s->n_threads = 4;
	s->threads = calloc(4, sizeof(*s->threads));
	for (int i = 0; i < 4; i++) {
		struct mg_snap_thread *t = &s->threads[i];

		t->tid = 10 + i;
		t->state = 'S';
		t->in_syscall = t->futex_wait = t->word_valid = i < 3;
		t->syscall_nr = i < 3 ? 202 : 271;
		t->futex_val = 2;
	}
	snprintf(s->threads[0].name, sizeof(s->threads[0].name), "qemu-system-x86");
	snprintf(s->threads[1].name, sizeof(s->threads[1].name), "live_migration");
	snprintf(s->threads[2].name, sizeof(s->threads[2].name), "IO iothread4");
	snprintf(s->threads[3].name, sizeof(s->threads[3].name), "CPU 0/KVM");
	s->threads[0].futex_addr = 0xb, s->threads[0].futex_owner_field = 11;
	s->threads[1].futex_addr = 0xa, s->threads[1].futex_owner_field = 12;
	s->threads[2].futex_addr = 0xb, s->threads[2].futex_owner_field = 11;
	mg_test_set_frames(&s->threads[1], stripped ? bare : mig, stripped ? 6 : MG_ARRAY_SIZE(mig));
	mg_test_set_frames(&s->threads[2], stripped ? bare : io, 6);
	mg_test_set_frames(&s->threads[3], poll, MG_ARRAY_SIZE(poll));
	mg_lockgraph_classify(s);
	mg_lockgraph_build(s, 0, 0);
	return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(dir, sizeof(dir), "%s", fuzz_setup("signature"));
	snprintf(path, sizeof(path), "%s/fuzz.sig", dir);
	snaps[0] = deadlock(false);
	snaps[1] = deadlock(true);
	devnull = fopen("/dev/null", "we");
	if (!devnull)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_signature *sigs = NULL;
	size_t n = 0;

	fuzz_write_file(path, data, size);
	if (mg_signatures_load(dir, &sigs, &n) == 0) {
		for (size_t i = 0; i < MG_ARRAY_SIZE(snaps); i++) {
			json_object *j;

			mg_signatures_match(sigs, n, snaps[i]);
			mg_snapshot_write_summary(snaps[i], devnull);
			mg_snapshot_write_text(snaps[i], devnull);
			j = mg_snapshot_to_json(snaps[i]);
			json_object_to_json_string(j);
			json_object_put(j);
			mg_sig_results_clear(snaps[i]);
		}
	}
	mg_signatures_free(sigs, n);
	return 0;
}
