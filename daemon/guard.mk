# daemon build rules (owned by the area's author)

# The probes' transports: QMP client, the /proc reader and the BQL probe,
# worker pool for blocking libvirt calls.
libmgcore_la_SOURCES += daemon/qmp.c daemon/qmp.h daemon/probe.c daemon/probe.h \
	daemon/procfs.c daemon/procfs.h \
	daemon/worker.c daemon/worker.h

check_PROGRAMS += tests/unit/test_qmp tests/unit/test_probe tests/unit/test_worker
TESTS += tests/unit/test_qmp tests/unit/test_probe tests/unit/test_worker
tests_unit_test_qmp_SOURCES = tests/unit/test_qmp.c tests/unit/qmppeer.c tests/unit/qmppeer.h tests/unit/mgloop.h
tests_unit_test_qmp_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_qmp_LDADD = $(MG_UNIT_LDADD)
tests_unit_test_probe_SOURCES = tests/unit/test_probe.c
tests_unit_test_probe_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_probe_LDADD = $(MG_UNIT_LDADD)
tests_unit_test_worker_SOURCES = tests/unit/test_worker.c tests/unit/mgloop.h
tests_unit_test_worker_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_worker_LDADD = $(MG_UNIT_LDADD)

# The /proc reader on the test's own threads and on children that exit.
check_PROGRAMS += tests/unit/test_procfs
TESTS += tests/unit/test_procfs
tests_unit_test_procfs_SOURCES = tests/unit/test_procfs.c
tests_unit_test_procfs_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_procfs_LDADD = $(MG_UNIT_LDADD)

# Runs the BQL probe once on a pid, for the QEMU integration tests.
check_PROGRAMS += tests/unit/probe_cli
tests_unit_probe_cli_SOURCES = tests/unit/probe_cli.c
tests_unit_probe_cli_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_unit_probe_cli_LDADD = libmgcore.la $(DEPS_LIBS)

# Drives the QMP client against a real QEMU, for the same tests.
check_PROGRAMS += tests/unit/qmp_watch
tests_unit_qmp_watch_SOURCES = tests/unit/qmp_watch.c
tests_unit_qmp_watch_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_unit_qmp_watch_LDADD = libmgcore.la $(DEPS_LIBS)

INTEGRATION_TESTS += tests/integration/qmp_pause_before_switchover.sh \
	tests/integration/qmp_storage_stall_probe.sh \
	tests/integration/qmp_client_stall.sh
EXTRA_DIST += tests/lib/qemu.sh
# A scripted fake QMP monitor in front of the real guard: hostile input.
INTEGRATION_TESTS += tests/integration/guard_survives_malformed_migration_event.sh \
	tests/integration/guard_survives_malformed_query_yank.sh \
	tests/integration/guard_refuses_monitor_of_another_process.sh
EXTRA_DIST += tests/lib/fakeqmp.py tests/lib/fakeqmp.sh

# The guard's verdict handling (report once, act once, the ledger, the
# policy) on a real watch of a sleeping child, with report.c and ladder.c
# replaced by the test's stubs.
check_PROGRAMS += tests/unit/test_guard
TESTS += tests/unit/test_guard
tests_unit_test_guard_SOURCES = tests/unit/test_guard.c tests/unit/mgsink.h daemon/guard.c daemon/guard.h
tests_unit_test_guard_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_guard_LDADD = $(MG_UNIT_LDADD)
