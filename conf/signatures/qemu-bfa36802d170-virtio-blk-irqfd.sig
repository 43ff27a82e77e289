# The deadlock of DESIGN.md section 1 (QEMU 8.2, virtio-blk with IOThreads).
id: qemu-bfa36802d170
title: virtio-blk dataplane stop deadlocks with an IOThread completing a request (ABBA on BQL and AioContext lock)
explanation: live_migration stops the VM holding the BQL; virtio_blk_data_plane_stop drains the
explanation: block backend and waits for the IOThread's AioContext lock, while that IOThread,
explanation: holding it, completes a request and notifies the guest through an MMIO/irqfd path
explanation: that needs the BQL (virtio_blk_rw_complete -> address_space_stl_le -> prepare_mmio_access).
explanation: QMP, the main loop and all vCPUs then wait for the BQL; virsh hangs on both hosts.
fix: QEMU commit bfa36802d170 "virtio-blk: avoid using ioeventfd state in irqfd conditional"
fix: (QEMU 9.0; stable backports exist).  Recovery: kill QEMU (migguard action=recover).

thread: live_migration
  frames: vm_stop > vm_state_notify > virtio_blk_data_plane_stop > blk_drain > bdrv_do_drained_begin
  wait: mutex
  holds: bql
  owner: 2
thread: IO *
  frames: virtio_blk_rw_complete > address_space_stl_le > (prepare_mmio_access)
  wait: bql
