# timeout: 300
# Issue 13, unstick on stalled storage, NBD over TCP on 127.0.0.1
# (MG_TESTBED_NBD_TCP=1), the Nova-shaped guest's disk on an IOThread (the
# other shape that occurs; here the hang comes before QEMU's STOP event, so
# libvirt says "running" during the hang and only the main thread's futex
# wait tells it apart).  Same scenario and assertions as
# e2e_unstick_storage_unix.sh: running again on the source within
# finish_timeout + 2 s, never rebooted, the unstick records, libvirt's job
# ended, the disk working once the server resumes, a second migration.
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/unstick.sh"
mg_unstick_storage_test tcp "${MG_UNSTICK_SHAPE-iothread}"
