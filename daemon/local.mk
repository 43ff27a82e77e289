# The guard logic: tracker (pure state machine).
libmgcore_la_SOURCES += daemon/tracker.c daemon/tracker.h daemon/incident.c daemon/incident.h \
	daemon/domxml.c daemon/domxml.h daemon/procid.c daemon/procid.h daemon/coredump.c daemon/coredump.h \
	daemon/notify.c daemon/notify.h \
	daemon/metrics.c daemon/metrics.h daemon/plugin.c daemon/plugin.h \
	daemon/status.c daemon/status.h daemon/textfile.c daemon/textfile.h \
	daemon/watch.c daemon/watch.h daemon/monitor.c daemon/monitor.h daemon/backoff.c daemon/backoff.h
# Incidents written off the loop, and what the guard did across its restarts.
libmgcore_la_SOURCES += daemon/incwriter.c daemon/incwriter.h daemon/ledger.c daemon/ledger.h

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

INTEGRATION_TESTS += tests/integration/daemon_config.sh tests/integration/daemon_lifecycle.sh
EXTRA_DIST += tests/lib/migguardd.sh
INTEGRATION_TESTS += tests/integration/guard_healthy_migration.sh \
	tests/integration/guard_pause_before_switchover.sh \
	tests/integration/guard_storage_stall.sh
INTEGRATION_TESTS += tests/integration/e2e_storage_stall.sh
EXTRA_DIST += tests/lib/e2e.sh
INTEGRATION_TESTS += tests/integration/e2e_healthy_migration.sh tests/integration/e2e_restart_mid_migration.sh
INTEGRATION_TESTS += tests/integration/e2e_recover_yank.sh tests/integration/guard_action_cancel.sh tests/integration/e2e_recover_kill_restart.sh tests/integration/e2e_incoming_destroy.sh \
	tests/integration/e2e_recover_refuses_recycled_pid.sh tests/integration/e2e_recover_core_dump.sh \
	tests/integration/e2e_cancel_pre_switchover.sh
INTEGRATION_TESTS += tests/integration/guard_restart_does_not_act_twice.sh \
	tests/integration/guard_incident_on_full_disk.sh tests/integration/guard_exit_keeps_last_steps.sh \
	tests/integration/guard_stop_waits_for_incident_write.sh
