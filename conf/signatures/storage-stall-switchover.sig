# A storage stall at switch-over: any network or shared storage (NFS, iSCSI,
# NBD, Ceph) that stops answering while the migration thread drains.
id: storage-stall-switchover
title: migration switch-over blocked draining storage that does not answer (BQL held by live_migration)
explanation: live_migration called vm_stop with the BQL held and waits in bdrv_drain_all or
explanation: bdrv_flush_all for in-flight I/O that never completes; the main loop, QMP and the
explanation: vCPUs wait for the BQL.  The I/O-wait chain names the storage peer.
fix: Make the storage answer again, or yank the stalled block node / cancel the migration
fix: (migguard action=recover); configure storage timeouts (e.g. NBD reconnect-delay, NFS soft/timeo).

thread: live_migration
  frames: vm_stop > bdrv_drain_all*|bdrv_flush_all|bdrv_drain_all_begin* > aio_poll
  wait: io
  holds: bql
