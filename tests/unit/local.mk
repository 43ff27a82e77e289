# tests/unit: the Check unit tests, one program per module tested.
# Unit test programs (Check) for the core helpers, config and event loop.
# Fixture files live in tests/data/; the tests find them through
# MG_TEST_DATADIR, an absolute source path, so VPATH builds and distcheck work.
MG_UNIT_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS) $(CHECK_CFLAGS) \
	-DMG_TEST_DATADIR=\"$(abs_top_srcdir)/tests/data\"
MG_UNIT_LDADD = $(MG_DAEMON_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test_util tests/unit/test_conf tests/unit/test_event
TESTS += tests/unit/test_util tests/unit/test_conf tests/unit/test_event

tests_unit_test_util_SOURCES = tests/unit/test_util.c
tests_unit_test_util_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_util_LDADD = $(MG_UNIT_LDADD)

tests_unit_test_conf_SOURCES = tests/unit/test_conf.c
tests_unit_test_conf_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_conf_LDADD = $(MG_UNIT_LDADD)

tests_unit_test_event_SOURCES = tests/unit/test_event.c
tests_unit_test_event_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_event_LDADD = $(MG_UNIT_LDADD)

EXTRA_DIST += tests/unit/mgcheck.h
# A directory in EXTRA_DIST is copied whole into the tarball.
EXTRA_DIST += tests/data/conf

# The watch and the ladder on a scripted QMP peer (qmppeer.c) with the
# capturing sink: no QEMU, no libvirt.  The ladder lives in the daemon
# program, not in libmgcore: its source is built into its test.
check_PROGRAMS += tests/unit/test_watch tests/unit/test_ladder
TESTS += tests/unit/test_watch tests/unit/test_ladder
tests_unit_test_watch_SOURCES = tests/unit/test_watch.c tests/unit/qmppeer.c tests/unit/qmppeer.h \
	tests/unit/mgloop.h tests/unit/mgsink.h
tests_unit_test_watch_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_watch_LDADD = $(MG_UNIT_LDADD)
tests_unit_test_ladder_SOURCES = tests/unit/test_ladder.c tests/unit/qmppeer.c tests/unit/qmppeer.h \
	tests/unit/mgloop.h tests/unit/mgsink.h daemon/ladder.c daemon/ladder.h
tests_unit_test_ladder_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_ladder_LDADD = $(MG_UNIT_LDADD)

check_PROGRAMS += tests/unit/test_tracker
TESTS += tests/unit/test_tracker
tests_unit_test_tracker_SOURCES = tests/unit/test_tracker.c
tests_unit_test_tracker_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_tracker_LDADD = $(MG_UNIT_LDADD)

check_PROGRAMS += tests/unit/test_incident
TESTS += tests/unit/test_incident
tests_unit_test_incident_SOURCES = tests/unit/test_incident.c
tests_unit_test_incident_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_incident_LDADD = $(MG_UNIT_LDADD)

check_PROGRAMS += tests/unit/test_incwriter tests/unit/test_ledger
TESTS += tests/unit/test_incwriter tests/unit/test_ledger
tests_unit_test_incwriter_SOURCES = tests/unit/test_incwriter.c
tests_unit_test_incwriter_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_incwriter_LDADD = $(MG_UNIT_LDADD)
tests_unit_test_ledger_SOURCES = tests/unit/test_ledger.c
tests_unit_test_ledger_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_ledger_LDADD = $(MG_UNIT_LDADD)

check_PROGRAMS += tests/unit/test_procid
TESTS += tests/unit/test_procid
tests_unit_test_procid_SOURCES = tests/unit/test_procid.c
tests_unit_test_procid_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_procid_LDADD = $(MG_UNIT_LDADD)

check_PROGRAMS += tests/unit/test_coredump
TESTS += tests/unit/test_coredump
tests_unit_test_coredump_SOURCES = tests/unit/test_coredump.c
tests_unit_test_coredump_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_coredump_LDADD = $(MG_UNIT_LDADD)

check_PROGRAMS += tests/unit/test_metrics
TESTS += tests/unit/test_metrics
tests_unit_test_metrics_SOURCES = tests/unit/test_metrics.c
tests_unit_test_metrics_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_metrics_LDADD = $(MG_UNIT_LDADD)

# The fan-out, with the capturing sink the watch and ladder tests use.
check_PROGRAMS += tests/unit/test_notify
TESTS += tests/unit/test_notify
tests_unit_test_notify_SOURCES = tests/unit/test_notify.c tests/unit/mgsink.h
tests_unit_test_notify_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_notify_LDADD = $(MG_UNIT_LDADD)

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
tests_unit_probe_cli_LDADD = $(MG_DAEMON_LIBS)

# What a bare timer wake-up costs on this machine, for bench/detect.
check_PROGRAMS += tests/unit/wake_floor
tests_unit_wake_floor_SOURCES = tests/unit/wake_floor.c
tests_unit_wake_floor_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_unit_wake_floor_LDADD = $(MG_DAEMON_LIBS)

# Drives the QMP client against a real QEMU, for the same tests.
check_PROGRAMS += tests/unit/qmp_watch
tests_unit_qmp_watch_SOURCES = tests/unit/qmp_watch.c
tests_unit_qmp_watch_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_unit_qmp_watch_LDADD = $(MG_DAEMON_LIBS)

# The guard's verdict handling (report once, act once, the ledger, the
# policy) on a real watch of a sleeping child, with report.c and ladder.c
# replaced by the test's stubs.
check_PROGRAMS += tests/unit/test_guard
TESTS += tests/unit/test_guard
tests_unit_test_guard_SOURCES = tests/unit/test_guard.c tests/unit/mgsink.h daemon/guard.c daemon/guard.h
tests_unit_test_guard_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_guard_LDADD = $(MG_UNIT_LDADD)

MG_SNAPSHOT_TEST_CFLAGS = $(MG_UNIT_CFLAGS) \
	-DMG_SIGNATURES_DIR=\"$(abs_top_srcdir)/conf/signatures\"
MG_SNAPSHOT_TEST_LDADD = $(MG_UNIT_LDADD)

check_PROGRAMS += tests/unit/test_lockgraph tests/unit/test_signature
TESTS += tests/unit/test_lockgraph tests/unit/test_signature
tests_unit_test_lockgraph_SOURCES = tests/unit/test_lockgraph.c
tests_unit_test_lockgraph_CFLAGS = $(MG_SNAPSHOT_TEST_CFLAGS)
tests_unit_test_lockgraph_LDADD = $(MG_SNAPSHOT_TEST_LDADD)
tests_unit_test_signature_SOURCES = tests/unit/test_signature.c tests/unit/fake_snapshot.h
tests_unit_test_signature_CFLAGS = $(MG_SNAPSHOT_TEST_CFLAGS)
tests_unit_test_signature_LDADD = $(MG_SNAPSHOT_TEST_LDADD)

# The I/O-wait ranking (the hang's path, roles, order) and its text and
# JSON, on the hand-built storage stall and deadlock of fake_snapshot.h.
check_PROGRAMS += tests/unit/test_iowait
TESTS += tests/unit/test_iowait
tests_unit_test_iowait_SOURCES = tests/unit/test_iowait.c tests/unit/fake_snapshot.h
tests_unit_test_iowait_CFLAGS = $(MG_SNAPSHOT_TEST_CFLAGS)
tests_unit_test_iowait_LDADD = $(MG_SNAPSHOT_TEST_LDADD)

# Terminal-safe text (daemon/escape.h): one helper for the snapshot's text,
# stacks.txt and every line the CLI prints from a file.
check_PROGRAMS += tests/unit/test_escape
TESTS += tests/unit/test_escape
tests_unit_test_escape_SOURCES = tests/unit/test_escape.c
tests_unit_test_escape_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_escape_LDADD = $(MG_UNIT_LDADD)

# The unstick rung's checks and shutdown on real processes: the target
# tests/targets/stall hangs like QEMU at switch-over, its peer is a child.
check_PROGRAMS += tests/unit/test_unstick
TESTS += tests/unit/test_unstick
tests_unit_test_unstick_SOURCES = tests/unit/test_unstick.c tests/unit/fake_snapshot.h
tests_unit_test_unstick_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_unstick_LDADD = $(MG_UNIT_LDADD)

# The loop-lateness monitor on a real sd-event loop.
check_PROGRAMS += tests/unit/test_loopmon
TESTS += tests/unit/test_loopmon
tests_unit_test_loopmon_SOURCES = tests/unit/test_loopmon.c
tests_unit_test_loopmon_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_loopmon_LDADD = $(MG_UNIT_LDADD)

# The post-copy guard with stubbed libvirt calls on a real worker pool.
check_PROGRAMS += tests/unit/test_postcopy
TESTS += tests/unit/test_postcopy
tests_unit_test_postcopy_SOURCES = tests/unit/test_postcopy.c tests/unit/mgloop.h tests/unit/mgsink.h
tests_unit_test_postcopy_CFLAGS = $(MG_UNIT_CFLAGS)
tests_unit_test_postcopy_LDADD = $(MG_UNIT_LDADD)
