#!/usr/bin/env bash
# snapshot_qemu_storage_stall_iothread.sh - snapshot_qemu_storage_stall.sh
# with the disk on an IOThread (the drain then runs in
# virtio_blk_data_plane_stop and IOThread io1 polls the stalled NBD socket:
# io1 is on the hang's path through live_migration's drain, IO mon_iothread
# is not).
exec bash "$MG_SRCDIR/tests/integration/snapshot_qemu_storage_stall.sh" iothread
