# tests/integration: the tests on real parts (QEMU, libvirt), run by
# `make check-integration` (tests/run-integration.sh).

# The daemon and the guard: lifecycle, configuration, standalone guards on a
# real QEMU, and both hosts' guards end to end on the libvirt bed.
INTEGRATION_TESTS += tests/integration/daemon_config.sh tests/integration/daemon_lifecycle.sh
EXTRA_DIST += tests/lib/migguardd.sh
INTEGRATION_TESTS += tests/integration/guard_healthy_migration.sh \
	tests/integration/guard_pause_before_switchover.sh \
	tests/integration/guard_storage_stall.sh \
	tests/integration/guard_recover_unstick_storage_stall.sh
INTEGRATION_TESTS += tests/integration/e2e_storage_stall.sh
# Issue 15: many storage-stall hangs at once (also driven by bench/scale).
INTEGRATION_TESTS += tests/integration/e2e_many_hangs.sh
EXTRA_DIST += tests/lib/scale.sh tests/lib/scale_watch.py
EXTRA_DIST += tests/lib/e2e.sh
INTEGRATION_TESTS += tests/integration/e2e_healthy_migration.sh tests/integration/e2e_restart_mid_migration.sh \
	tests/integration/e2e_restart_refinds_healthy_migration.sh
INTEGRATION_TESTS += tests/integration/e2e_recover_unstick_direct_monitor.sh tests/integration/guard_action_cancel.sh tests/integration/e2e_recover_kill_restart.sh tests/integration/e2e_incoming_destroy.sh \
	tests/integration/e2e_recover_refuses_recycled_pid.sh tests/integration/e2e_recover_core_dump.sh \
	tests/integration/e2e_cancel_pre_switchover.sh
INTEGRATION_TESTS += tests/integration/guard_restart_does_not_act_twice.sh \
	tests/integration/guard_incident_on_full_disk.sh tests/integration/guard_exit_keeps_last_steps.sh \
	tests/integration/guard_stop_waits_for_incident_write.sh

# The QMP client and the BQL probe against a real QEMU.
INTEGRATION_TESTS += tests/integration/qmp_pause_before_switchover.sh \
	tests/integration/qmp_storage_stall_probe.sh \
	tests/integration/qmp_client_stall.sh
EXTRA_DIST += tests/lib/qemu.sh

# A scripted fake QMP monitor in front of the real guard: hostile input.
INTEGRATION_TESTS += tests/integration/guard_survives_malformed_migration_event.sh \
	tests/integration/guard_survives_malformed_blockstats.sh \
	tests/integration/guard_refuses_monitor_of_another_process.sh
EXTRA_DIST += tests/lib/fakeqmp.py tests/lib/fakeqmp.sh

# The snapshot (migguard snapshot) on the deadlock and inline targets and on
# real QEMU stalls; the CLI's untrusted files.
INTEGRATION_TESTS += tests/integration/snapshot_inline_frames.sh
INTEGRATION_TESTS += tests/integration/snapshot_deadlock.sh tests/integration/snapshot_robustness.sh \
	tests/integration/snapshot_qemu_storage_stall.sh \
	tests/integration/snapshot_qemu_storage_stall_iothread.sh
EXTRA_DIST += tests/lib/qemu_stall.sh tests/data/snapshot bench/snapshot bench/snapshot.md
INTEGRATION_TESTS += tests/integration/snapshot_escapes_thread_names.sh
INTEGRATION_TESTS += tests/integration/cli_incidents_lists_malformed_reports.sh \
	tests/integration/cli_status_ties_pid_to_daemon.sh


# The libvirt test bed: one private libvirt host, two hosts migrating a busy
# guest over shared NBD storage, and the storage-stall hang at switch-over.
INTEGRATION_TESTS += \
	tests/integration/testbed_one_host.sh \
	tests/integration/testbed_two_hosts_migrate.sh \
	tests/integration/testbed_storage_stall.sh \
	tests/integration/testbed_postcopy_recover_by_hand.sh
# The post-copy guard on that bed (issue 16).
INTEGRATION_TESTS += \
	tests/integration/e2e_postcopy_recover_link_cut.sh \
	tests/integration/e2e_postcopy_blackhole_pause_resume.sh \
	tests/integration/e2e_postcopy_none_then_source_lost.sh
EXTRA_DIST += \
	tests/lib/libvirt.sh \
	tests/lib/postcopy.sh \
	tests/lib/pcguard.sh \
	tests/lib/proxy.sh \
	tests/lib/proxy.py \
	tests/testbed/FACTS-postcopy.md \
	tests/lib/guest.sh \
	tests/testbed/up.sh \
	tests/testbed/down.sh \
	tests/testbed/busy-guest.xml.in \
	scripts/testbed-deps.sh

# The seed's own deadlock (DESIGN.md section 1) on a bare seeded QEMU pair,
# no libvirt: built or reused by scripts/seeded-qemu.sh (skipped, exit 77,
# only when it is not built and MG_SEED_BUILD=0).
INTEGRATION_TESTS += tests/integration/snapshot_qemu_seed_deadlock.sh
EXTRA_DIST += tests/lib/qemu_seed.sh

# The seed's own deadlock end to end on the bed, on the seeded QEMU
# (scripts/seeded-qemu.sh; scripts/test.sh builds or reuses it first).
INTEGRATION_TESTS += tests/integration/e2e_seed_deadlock_recover.sh

# The ladder on a real lock cycle without the seeded QEMU: a fake monitor in
# a deadlocked process (unstick refuses: no socket to shut; then the kill).
INTEGRATION_TESTS += tests/integration/guard_recover_unstick_refuses_lock_cycle.sh
EXTRA_DIST += tests/lib/fakeqmp_deadlock.py

# Issue 13's "unstick" rung end to end on the bed, with domains written the
# way Nova writes them (no direct monitor): storage stall over unix and TCP
# NBD, the migration channel stalled at switch-over, and a refusal (peer not
# stalled) after which the ladder goes on to kill.
INTEGRATION_TESTS += tests/integration/e2e_unstick_storage_unix.sh \
	tests/integration/e2e_unstick_storage_tcp.sh \
	tests/integration/e2e_unstick_channel.sh \
	tests/integration/e2e_unstick_refuses_peer.sh \
	tests/integration/e2e_recover_yank_channel_direct_monitor.sh
EXTRA_DIST += tests/lib/unstick.sh tests/testbed/nova-guest.xml.in \
	tests/testbed/unstick.py tests/testbed/unstick-experiment.sh \
	tests/testbed/unstick-tests-by-hand.sh tests/testbed/FACTS-unstick.md

# The hypervisor bed (tests/hvbed/, README.md there): two Debian 12 hosts
# booted by systemd-nspawn with systemd as PID 1 and Debian's libvirtd.service,
# from a base rootfs built once and cached (tests/hvbed/base.sh).
INTEGRATION_TESTS += tests/integration/hvbed_two_hypervisors_migrate.sh
EXTRA_DIST += tests/hvbed/base.sh tests/hvbed/hvbed.sh tests/hvbed/README.md \
	tests/hvbed/up.sh tests/hvbed/down.sh tests/hvbed/exec.sh
# migguard's .debs (scripts/build-deb.sh, or MG_DEB_DIR) installed on both
# hosts: enabled and started by the package, connected to libvirt.
INTEGRATION_TESTS += tests/integration/hvbed_package_installs.sh
# The package's life on one hypervisor of the bed: install, upgrade keeping
# the conffile and incidents, remove, purge, reinstall
# (tests/hvbed/PACKAGE-CHECKS.md).
INTEGRATION_TESTS += tests/integration/hvbed_package_lifecycle.sh
EXTRA_DIST += tests/hvbed/PACKAGE-CHECKS.md
# End to end with migguardd under its real unit (tests/hvbed/guard.sh): the
# storage stall caught and recovered in place; reload with a broken config,
# the watchdog restarting a SIGSTOPped guard (the hang still caught, once);
# systemctl stop during a hang.
INTEGRATION_TESTS += tests/integration/hvbed_storage_stall_recover.sh tests/integration/hvbed_unit_reload_watchdog.sh \
	tests/integration/hvbed_unit_stop_during_hang.sh
EXTRA_DIST += tests/hvbed/guard.sh
