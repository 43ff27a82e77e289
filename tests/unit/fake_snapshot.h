/* fake_snapshot.h - hand-built snapshots for the tests of the signature
 * matcher and of the I/O-wait ranking (tests/unit/test_signature.c,
 * tests/unit/test_iowait.c, tests/fuzz/fuzz_signature.c): the deadlock of
 * DESIGN.md section 1 in the shapes real builds give it, and the storage
 * stall at switch-over as Debian's QEMU showed it. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/lockgraph.h"
#include "snapshot/snapshot.h"

#define MG_TEST_LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define MG_TEST_QEMU "/usr/bin/qemu-system-x86_64"

/* Gives t the frames syms, innermost first.  NULL is an unresolved frame;
 * "i:NAME" an inlined call (as DWARF shows it).  glibc's frames (names
 * starting "__", "pthread_", "futex_", "lll_", and start_thread) get libc
 * as their module, the others QEMU; with lines, every frame with a symbol
 * carries a source file, as with debug info for both. */
static inline void mg_test_set_frames_lines(struct mg_snap_thread *t, const char *const *syms, size_t n,
					    bool lines)
{
	t->frames = calloc(n, sizeof(*t->frames));
	t->n_frames = n;
	for (size_t i = 0; i < n; i++) {
		const char *s = syms[i];
		const char *nm = s && strncmp(s, "i:", 2) == 0 ? s + 2 : s;
		bool libc = nm && (strncmp(nm, "__", 2) == 0 || strncmp(nm, "pthread_", 8) == 0 ||
				  strncmp(nm, "futex_", 6) == 0 || strncmp(nm, "lll_", 4) == 0 ||
				  strcmp(nm, "start_thread") == 0);

		t->frames[i].pc = 0x1000 + i;
		if (s && strncmp(s, "i:", 2) == 0) {
			t->frames[i].inlined = true;
			s += 2;
		}
		t->frames[i].symbol = s ? strdup(s) : NULL;
		t->frames[i].module = strdup(libc ? MG_TEST_LIBC : MG_TEST_QEMU);
		if (s && (lines || t->frames[i].inlined)) {
			t->frames[i].file = strdup(libc ? "./nptl/pthread_mutex_lock.c" : "../softmmu/physmem.c");
			t->frames[i].line = 100 + (int)i;
		}
	}
}

static inline void mg_test_set_frames(struct mg_snap_thread *t, const char *const *syms, size_t n)
{
	mg_test_set_frames_lines(t, syms, n, false);
}

/* The shapes of one hang.  Frame lists come from the seeded QEMU of
 * scripts/seeded-qemu.sh (GCC 12, -O2) as migguard and gdb showed them. */
enum mg_test_shape {
	MG_TEST_DWARF,		/* the build with debug info: inline frames, lines */
	MG_TEST_SYMTAB,		/* the same build stripped of DWARF (symbol table) */
	MG_TEST_SYMTAB_LIBC_DBG,	/* that, on a host with libc's debug file (libc6-dbg) */
	MG_TEST_REPORT,		/* DESIGN.md section 1, as gdb printed production */
	MG_TEST_BARE,		/* QEMU without any symbol (only libc's names) */
	MG_TEST_DWARF_OTHER,	/* debug info, but the IOThread takes the BQL elsewhere */
};

#define MG_TEST_N(a) (sizeof(a) / sizeof((a)[0]))

/* main thread (10) and the IOThread (12) wait for the BQL 0xb held by
 * live_migration (11), which waits for 0xa held by the IOThread; a vCPU
 * (13) waits on its condition variable. */
static inline struct mg_snapshot *mg_test_deadlock(enum mg_test_shape shape)
{
	/* As migguard showed them on the seeded QEMU, GCC 12 -O2, with libc6-dbg. */
	static const char *const mig_dwarf[] = { "i:futex_wait", "__GI___lll_lock_wait",
		"i:lll_mutex_lock_optimized", "__pthread_mutex_lock@GLIBC_2.2.5", "qemu_mutex_lock_impl",
		"bdrv_do_drained_begin.part.0", "blk_drain", "virtio_blk_data_plane_stop",
		"virtio_bus_stop_ioeventfd.part.0", "virtio_vmstate_change", "vm_state_notify", "i:do_vm_stop",
		"vm_stop", "i:migration_completion", "i:migration_iteration_run", "migration_thread",
		"qemu_thread_start", "start_thread", "__clone3" };
	static const char *const io_dwarf[] = { "i:futex_wait", "__GI___lll_lock_wait",
		"i:lll_mutex_lock_optimized", "__pthread_mutex_lock@GLIBC_2.2.5", "qemu_mutex_lock_impl",
		"qemu_mutex_lock_iothread_impl", "i:prepare_mmio_access", "i:address_space_stl_internal",
		"address_space_stl_le", "virtio_blk_rw_complete", "i:blk_aio_complete", "i:blk_aio_complete",
		"blk_aio_write_entry", "coroutine_trampoline", NULL };
	static const char *const io_other[] = { "i:futex_wait", "__GI___lll_lock_wait",
		"i:lll_mutex_lock_optimized", "__pthread_mutex_lock@GLIBC_2.2.5", "qemu_mutex_lock_impl",
		"qemu_mutex_lock_iothread_impl", "i:flatview_write_continue", "i:address_space_stl_internal",
		"address_space_stl_le", "virtio_blk_rw_complete", "i:blk_aio_complete", "blk_aio_write_entry",
		"coroutine_trampoline", NULL };
	/* The same binary after objcopy --strip-debug (libc without debug info). */
	static const char *const mig_symtab[] = { "__lll_lock_wait", "pthread_mutex_lock", "qemu_mutex_lock_impl",
		"bdrv_do_drained_begin.part.0", "blk_drain", "virtio_blk_data_plane_stop",
		"virtio_bus_stop_ioeventfd.part.0", "virtio_vmstate_change", "vm_state_notify", "vm_stop",
		"migration_thread", "qemu_thread_start", "start_thread", "__clone3" };
	static const char *const io_symtab[] = { "__lll_lock_wait", "pthread_mutex_lock", "qemu_mutex_lock_impl",
		"qemu_mutex_lock_iothread_impl", "address_space_stl_le", "virtio_blk_rw_complete",
		"blk_aio_write_entry", "coroutine_trampoline", NULL };
	/* DESIGN.md section 1: the production report (gdb, with debuginfo). */
	static const char *const mig_report[] = { "__lll_lock_wait", "pthread_mutex_lock", "qemu_mutex_lock_impl",
		"bdrv_do_drained_begin", "blk_drain", "virtio_blk_data_plane_stop", "vm_state_notify", "vm_stop",
		"migration_thread" };
	static const char *const io_report[] = { "__lll_lock_wait", "pthread_mutex_lock", "qemu_mutex_lock_impl",
		"qemu_mutex_lock_iothread_impl", "prepare_mmio_access", "address_space_stl_le",
		"virtio_blk_rw_complete", "blk_aio_complete", "aio_poll" };
	static const char *const bare[] = { "__lll_lock_wait", "pthread_mutex_lock", NULL, NULL, NULL, NULL };
	static const char *const main_loop[] = { "__lll_lock_wait", "pthread_mutex_lock", "qemu_mutex_lock_impl",
		"qemu_mutex_lock_iothread_impl", "main_loop_wait", "qemu_main_loop", "qemu_default_main" };
	static const char *const vcpu[] = { "__futex_abstimed_wait_common", "pthread_cond_wait",
		"qemu_cond_wait_impl", "qemu_wait_io_event", "mttcg_cpu_thread_fn", "qemu_thread_start" };
	static const char *const names[] = { "qemu-system-x86", "live_migration", "IO iothread1", "CPU 0/TCG" };
	struct mg_snapshot *s = calloc(1, sizeof(*s));
	bool lines = shape == MG_TEST_DWARF || shape == MG_TEST_DWARF_OTHER;

	s->pid = 10;
	s->n_threads = 4;
	s->threads = calloc(4, sizeof(*s->threads));
	for (int i = 0; i < 4; i++) {
		struct mg_snap_thread *t = &s->threads[i];

		t->tid = 10 + i;
		t->state = 'S';
		t->in_syscall = t->futex_wait = t->word_valid = true;
		t->syscall_nr = 202;
		t->futex_val = i < 3 ? 2 : 0;
		snprintf(t->name, sizeof(t->name), "%s", names[i]);
	}
	if (shape == MG_TEST_REPORT)
		snprintf(s->threads[2].name, sizeof(s->threads[2].name), "IO iothread4");
	s->threads[0].futex_addr = 0xb, s->threads[0].futex_owner_field = 11;
	s->threads[1].futex_addr = 0xa, s->threads[1].futex_owner_field = 12;
	s->threads[2].futex_addr = 0xb, s->threads[2].futex_owner_field = 11;
	s->threads[3].futex_addr = 0xc;
	mg_test_set_frames_lines(&s->threads[0], main_loop, MG_TEST_N(main_loop), lines);
	mg_test_set_frames_lines(&s->threads[3], vcpu, MG_TEST_N(vcpu), lines);
	switch (shape) {
	case MG_TEST_DWARF:
		mg_test_set_frames_lines(&s->threads[1], mig_dwarf, MG_TEST_N(mig_dwarf), true);
		mg_test_set_frames_lines(&s->threads[2], io_dwarf, MG_TEST_N(io_dwarf), true);
		break;
	case MG_TEST_DWARF_OTHER:
		mg_test_set_frames_lines(&s->threads[1], mig_dwarf, MG_TEST_N(mig_dwarf), true);
		mg_test_set_frames_lines(&s->threads[2], io_other, MG_TEST_N(io_other), true);
		break;
	case MG_TEST_SYMTAB:
	case MG_TEST_SYMTAB_LIBC_DBG:
		mg_test_set_frames(&s->threads[1], mig_symtab, MG_TEST_N(mig_symtab));
		mg_test_set_frames(&s->threads[2], io_symtab, MG_TEST_N(io_symtab));
		if (shape == MG_TEST_SYMTAB)
			break;
		for (int i = 0; i < 4; i++)
			for (size_t k = 0; k < s->threads[i].n_frames; k++)
				if (strcmp(s->threads[i].frames[k].module, MG_TEST_LIBC) == 0)
					s->threads[i].frames[k].file = strdup("./nptl/pthread_mutex_lock.c");
		break;
	case MG_TEST_REPORT:
		mg_test_set_frames(&s->threads[1], mig_report, MG_TEST_N(mig_report));
		mg_test_set_frames(&s->threads[2], io_report, MG_TEST_N(io_report));
		break;
	case MG_TEST_BARE:
		mg_test_set_frames(&s->threads[1], bare, MG_TEST_N(bare));
		mg_test_set_frames(&s->threads[2], bare, MG_TEST_N(bare));
		break;
	}
	mg_lockgraph_classify(s);
	mg_lockgraph_build(s, shape == MG_TEST_BARE ? 0 : 0xb, 0);
	return s;
}

/* Appends an I/O wait of tid on fd (peer_pid 0: no peer process). */
static inline void mg_test_add_io_wait(struct mg_snapshot *s, pid_t tid, int fd, const char *target,
				       const char *detail, pid_t peer_pid, const char *comm, const char *state)
{
	struct mg_io_wait *w;

	s->io_waits = realloc(s->io_waits, (s->n_io_waits + 1) * sizeof(*s->io_waits));
	w = &s->io_waits[s->n_io_waits++];
	memset(w, 0, sizeof(*w));
	w->tid = tid;
	w->fd = fd;
	w->target = strdup(target);
	w->detail = detail ? strdup(detail) : NULL;
	w->peer_pid = peer_pid;
	snprintf(w->peer_comm, sizeof(w->peer_comm), "%s", comm ? comm : "");
	snprintf(w->peer_state, sizeof(w->peer_state), "%s", state ? state : "");
}

enum mg_test_stall {
	MG_TEST_STALL_MAIN,	/* disk in the main AioContext: live_migration polls the NBD socket */
	MG_TEST_STALL_IOTHREAD,	/* disk on IOThread io1: io1 polls it, live_migration drains */
	MG_TEST_STALL_BARE,	/* MAIN without any frame (no symbols, no unwind) */
};

#define MG_TEST_NBD_PID 400

/* The storage stall at switch-over (tests/lib/qemu_stall.sh): qemu-nbd
 * (MG_TEST_NBD_PID) stopped with a write in flight; live_migration holds
 * the BQL in vm_stop's drain, polling; the main thread and call_rcu wait
 * for the BQL; IO mon_iothread polls its monitor sockets to libvirtd and
 * migguardd; a vCPU waits on its condition variable.  Thread order, frames
 * and the order of the I/O waits (by thread, then pollfd) are those of
 * snapshot_qemu_storage_stall.sh on Debian's QEMU 7.2: live_migration,
 * started last, has the highest tid, so its waits come last.  Tids from 10
 * in the order of the threads; the BQL is 0xb. */
static inline struct mg_snapshot *mg_test_storage_stall(enum mg_test_stall v)
{
	static const char *const main_loop[] = { "futex_wait", "__GI___lll_lock_wait",
		"lll_mutex_lock_optimized", "__pthread_mutex_lock@GLIBC_2.2.5", "qemu_mutex_lock_impl",
		"qemu_mutex_lock_iothread_impl", "main_loop_wait", "qemu_main_loop", "qemu_default_main",
		"__libc_start_call_main", "__libc_start_main@@GLIBC_2.34", "_start" };
	static const char *const call_rcu[] = { "futex_wait", "__GI___lll_lock_wait",
		"lll_mutex_lock_optimized", "__pthread_mutex_lock@GLIBC_2.2.5", "qemu_mutex_lock_impl",
		"qemu_mutex_lock_iothread_impl", NULL, NULL, "start_thread", "__clone3" };
	static const char *const iothread[] = { "ppoll", NULL, "aio_poll", NULL, NULL, "start_thread", "__clone3" };
	static const char *const mon[] = { "__poll", NULL, "g_main_loop_run", NULL, NULL, "start_thread",
		"__clone3" };
	static const char *const vcpu[] = { "__futex_abstimed_wait_common64", "__futex_abstimed_wait_common",
		"__pthread_cond_wait_common", "pthread_cond_wait@@GLIBC_2.3.2", "qemu_cond_wait_impl",
		"qemu_wait_io_event", NULL, NULL, "start_thread", "__clone3" };
	static const char *const mig_main[] = { "ppoll", NULL, "aio_poll", "bdrv_drain_all_begin",
		"bdrv_drain_all", "vm_stop", NULL, NULL, "start_thread", "__clone3" };
	static const char *const mig_io[] = { "ppoll", NULL, "aio_poll", NULL, NULL, NULL,
		"bdrv_try_change_aio_context", "blk_set_aio_context", "virtio_blk_data_plane_stop", NULL, NULL,
		"vm_state_notify", "vm_stop", NULL, NULL, "start_thread", "__clone3" };
	static const char *const names_main[] = { "qemu-system-x86", "call_rcu", "IO mon_iothread", "CPU 0/KVM",
		"live_migration" };
	static const char *const names_io[] = { "qemu-system-x86", "call_rcu", "IO io1", "IO mon_iothread",
		"CPU 0/KVM", "live_migration" };
	bool io = v == MG_TEST_STALL_IOTHREAD;
	const char *const *names = io ? names_io : names_main;
	size_t n = io ? MG_TEST_N(names_io) : MG_TEST_N(names_main);
	struct mg_snapshot *s = calloc(1, sizeof(*s));
	pid_t mig = 10 + (pid_t)n - 1, mon_tid = io ? 13 : 12;

	s->pid = 10;
	s->n_threads = n;
	s->threads = calloc(n, sizeof(*s->threads));
	for (size_t i = 0; i < n; i++) {
		struct mg_snap_thread *t = &s->threads[i];
		const char *nm = names[i];

		t->tid = 10 + (pid_t)i;
		t->state = 'S';
		t->in_syscall = true;
		snprintf(t->name, sizeof(t->name), "%s", nm);
		if (strcmp(nm, "qemu-system-x86") == 0 || strcmp(nm, "call_rcu") == 0 ||
		    strcmp(nm, "CPU 0/KVM") == 0) {
			bool bql = nm[0] != 'C';

			t->syscall_nr = 202;
			t->futex_wait = t->word_valid = true;
			t->futex_addr = bql ? 0xb : 0xc;
			t->futex_val = bql ? 2 : 0;
			t->futex_owner_field = bql ? mig : 0;
		} else {
			t->syscall_nr = strcmp(nm, "IO mon_iothread") == 0 ? 7 : 271;	/* poll, ppoll */
		}
		if (v == MG_TEST_STALL_BARE)
			continue;
		if (strcmp(nm, "qemu-system-x86") == 0)
			mg_test_set_frames(t, main_loop, MG_TEST_N(main_loop));
		else if (strcmp(nm, "call_rcu") == 0)
			mg_test_set_frames(t, call_rcu, MG_TEST_N(call_rcu));
		else if (strcmp(nm, "IO io1") == 0)
			mg_test_set_frames(t, iothread, MG_TEST_N(iothread));
		else if (strcmp(nm, "IO mon_iothread") == 0)
			mg_test_set_frames(t, mon, MG_TEST_N(mon));
		else if (strcmp(nm, "CPU 0/KVM") == 0)
			mg_test_set_frames(t, vcpu, MG_TEST_N(vcpu));
		else if (io)
			mg_test_set_frames(t, mig_io, MG_TEST_N(mig_io));
		else
			mg_test_set_frames(t, mig_main, MG_TEST_N(mig_main));
	}
	mg_lockgraph_classify(s);
	mg_lockgraph_build(s, v == MG_TEST_STALL_BARE ? 0 : 0xb, 0);
	if (io) {
		mg_test_add_io_wait(s, 12, 14, "socket:[1014]", "unix, peer socket:[2014]", MG_TEST_NBD_PID,
				    "qemu-nbd", "T (stopped)");
		mg_test_add_io_wait(s, 12, 9, "anon_inode:[eventfd]", NULL, 0, NULL, NULL);
	}
	mg_test_add_io_wait(s, mon_tid, 3, "socket:[1003]", "unix, peer socket:[2003]", 500, "libvirtd",
			    "S (sleeping)");
	mg_test_add_io_wait(s, mon_tid, 9, "socket:[1009]", "unix, peer socket:[2009]", 600, "migguardd",
			    "S (sleeping)");
	mg_test_add_io_wait(s, mon_tid, 16, "anon_inode:[eventfd]", NULL, 0, NULL, NULL);
	mg_test_add_io_wait(s, mon_tid, 17, "anon_inode:[eventfd]", NULL, 0, NULL, NULL);
	if (!io)
		mg_test_add_io_wait(s, mig, 12, "socket:[1012]", "unix, peer socket:[2012]", MG_TEST_NBD_PID,
				    "qemu-nbd", "T (stopped)");
	mg_test_add_io_wait(s, mig, 8, "anon_inode:[eventfd]", NULL, 0, NULL, NULL);
	return s;
}
