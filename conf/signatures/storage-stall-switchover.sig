# A storage stall at switch-over: any network or shared storage (NFS, iSCSI,
# NBD, Ceph) that stops answering while the migration thread drains it.
# Seen on QEMU 7.2 (Debian) with an NBD server SIGSTOPped and a write in
# flight, two shapes depending on whether the guest had started the
# virtio-blk dataplane:
#   vm_stop -> do_vm_stop -> bdrv_drain_all -> ... -> aio_poll   (no dataplane)
#   vm_stop -> vm_state_notify -> virtio_blk_data_plane_stop -> blk_set_aio_context
#     -> bdrv_try_change_aio_context -> (drain) -> aio_poll          (dataplane on)
# In the second the NBD socket is polled by the IOThread, not by live_migration.
id: storage-stall-switchover
title: migration switch-over blocked draining storage that does not answer (BQL held by live_migration)
explanation: live_migration called vm_stop with the BQL held and waits in a block-layer drain
explanation: (bdrv_drain_all, bdrv_flush_all, or the virtio-blk dataplane stop) for in-flight I/O
explanation: that never completes; the main loop, QMP and the vCPUs wait for the BQL.  The
explanation: I/O-wait chains name the storage peer (a stopped or unreachable server).
fix: Make the storage answer again, or shut the stalled NBD connection from outside QEMU
fix: (migguard action=recover: unstick; QEMU's NBD client reconnects by itself, whereas a yanked
fix: block node fails every later I/O); configure storage timeouts (e.g. NBD reconnect-delay, NFS soft/timeo).

thread: live_migration
  frames: vm_stop > bdrv_drain_all*|bdrv_flush_all|bdrv_drained_begin*|bdrv_do_drained_begin*|blk_drain*|virtio_blk_data_plane_stop|bdrv_try_change_aio_context > aio_poll
  wait: io
  holds: bql
