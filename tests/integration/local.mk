# tests/integration build rules (owned by the area's author)

# The libvirt test bed: one private libvirt host, two hosts migrating a busy
# guest over shared NBD storage, and the storage-stall hang at switch-over.
INTEGRATION_TESTS += \
	tests/integration/testbed_one_host.sh \
	tests/integration/testbed_two_hosts_migrate.sh \
	tests/integration/testbed_storage_stall.sh
EXTRA_DIST += \
	tests/lib/libvirt.sh \
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
# a deadlocked process (yank recorded as unable to end it, then yank-check).
INTEGRATION_TESTS += tests/integration/guard_recover_yank_check_on_lock_cycle.sh
EXTRA_DIST += tests/lib/fakeqmp_deadlock.py
