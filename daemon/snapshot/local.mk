# daemon/snapshot build rules (owned by the area's author): the snapshot
# library (linked by migguard and, later, migguardd), the `migguard`
# command, the deadlocked test target, unit and integration tests.

noinst_LTLIBRARIES += libmgsnapshot.la
libmgsnapshot_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
libmgsnapshot_la_SOURCES = \
	daemon/snapshot/snapshot.c daemon/snapshot/snapshot.h \
	daemon/snapshot/model.c daemon/snapshot/model.h \
	daemon/snapshot/procfacts.c daemon/snapshot/procfacts.h \
	daemon/snapshot/unwind.c daemon/snapshot/unwind.h \
	daemon/snapshot/inline.c daemon/snapshot/inline.h \
	daemon/snapshot/lockgraph.c daemon/snapshot/lockgraph.h \
	daemon/snapshot/iowait.c daemon/snapshot/iowait.h \
	daemon/snapshot/signature.c daemon/snapshot/signature.h \
	daemon/snapshot/symname.c daemon/snapshot/symname.h \
	daemon/snapshot/render.c

bin_PROGRAMS += migguard
migguard_SOURCES = cli/main.c cli/snapshot_cmd.c cli/snapshot_cmd.h \
	cli/incidents_cmd.c cli/incidents_cmd.h cli/status_cmd.c cli/status_cmd.h cli/common.c cli/common.h
migguard_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
migguard_LDADD = libmgsnapshot.la libmgcore.la $(DEPS_LIBS)

# Known-issue signatures (format: conf/signatures/README).
signaturesdir = $(pkgdatadir)/signatures
dist_signatures_DATA = conf/signatures/README \
	conf/signatures/qemu-bfa36802d170-virtio-blk-irqfd.sig \
	conf/signatures/storage-stall-switchover.sig

dist_man_MANS += man/migguard.1

# The deadlocked process of DESIGN.md section 1.  Its frames must survive
# any CFLAGS the user gives (which come last): no inlining, no tail calls.
check_PROGRAMS += tests/targets/deadlock
tests_targets_deadlock_SOURCES = tests/targets/deadlock.c
tests_targets_deadlock_CFLAGS = -std=gnu11 -g -O0 -fno-omit-frame-pointer -fno-inline \
	-fno-optimize-sibling-calls -pthread -Wall -Wextra -Wno-unused-parameter $(WERROR_CFLAGS)
tests_targets_deadlock_LDFLAGS = -pthread

# The same program without symbols, as shipped binaries often are.
tests/targets/deadlock-stripped: tests/targets/deadlock$(EXEEXT)
	$(AM_V_GEN)strip_cmd='$(STRIP)'; $${strip_cmd:-strip} -o $@ tests/targets/deadlock$(EXEEXT)
CLEANFILES += tests/targets/deadlock-stripped
check-integration: tests/targets/deadlock-stripped
check_SCRIPTS = tests/targets/deadlock-stripped

# A thread blocked inside always_inline functions (issue 11): at -O2 -g
# they exist only in DWARF, as QEMU's prepare_mmio_access does.  No tail
# calls, so every caller stays a frame whatever CFLAGS the user adds.
check_PROGRAMS += tests/targets/inline
tests_targets_inline_SOURCES = tests/targets/inline.c
tests_targets_inline_CFLAGS = -std=gnu11 -g -O2 -fno-optimize-sibling-calls -pthread \
	-Wall -Wextra $(WERROR_CFLAGS)
tests_targets_inline_LDFLAGS = -pthread
INTEGRATION_TESTS += tests/integration/snapshot_inline_frames.sh

MG_SNAPSHOT_TEST_CFLAGS = $(MG_UNIT_CFLAGS) \
	-DMG_SIGNATURES_DIR=\"$(abs_top_srcdir)/conf/signatures\"
MG_SNAPSHOT_TEST_LDADD = libmgsnapshot.la $(MG_UNIT_LDADD)

check_PROGRAMS += tests/unit/test_lockgraph tests/unit/test_signature
TESTS += tests/unit/test_lockgraph tests/unit/test_signature
tests_unit_test_lockgraph_SOURCES = tests/unit/test_lockgraph.c
tests_unit_test_lockgraph_CFLAGS = $(MG_SNAPSHOT_TEST_CFLAGS)
tests_unit_test_lockgraph_LDADD = $(MG_SNAPSHOT_TEST_LDADD)
tests_unit_test_signature_SOURCES = tests/unit/test_signature.c tests/unit/fake_snapshot.h
tests_unit_test_signature_CFLAGS = $(MG_SNAPSHOT_TEST_CFLAGS)
tests_unit_test_signature_LDADD = $(MG_SNAPSHOT_TEST_LDADD)

INTEGRATION_TESTS += tests/integration/snapshot_deadlock.sh tests/integration/snapshot_robustness.sh \
	tests/integration/snapshot_qemu_storage_stall.sh \
	tests/integration/snapshot_qemu_storage_stall_iothread.sh
EXTRA_DIST += tests/lib/qemu_stall.sh tests/data/snapshot bench/snapshot bench/snapshot.md

# Terminal-safe text (daemon/escape.h): one helper for the snapshot's text,
# stacks.txt and every line the CLI prints from a file.
libmgcore_la_SOURCES += daemon/escape.c daemon/escape.h
check_PROGRAMS += tests/unit/test_escape
TESTS += tests/unit/test_escape
tests_unit_test_escape_SOURCES = tests/unit/test_escape.c
tests_unit_test_escape_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_escape_LDADD = $(MG_UNIT_LDADD)
INTEGRATION_TESTS += tests/integration/snapshot_escapes_thread_names.sh
INTEGRATION_TESTS += tests/integration/cli_incidents_lists_malformed_reports.sh \
	tests/integration/cli_status_ties_pid_to_daemon.sh
