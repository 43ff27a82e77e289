# timeout: 300
# Issue 13, unstick on stalled storage, NBD over a unix socket: a domain
# written the way Nova writes it (no direct monitor, disk cache='none'
# io='native', no IOThread) migrates; at switch-over the NBD server is
# SIGSTOPped with a guest write in flight and the source's live_migration
# hangs in vm_stop's drain holding the BQL.  The hang is proved from outside
# the guard (mg_e2e_hang_watch: main thread in futex, live_migration in
# ppoll, neither running, libvirt's query-status unanswered) or the test
# fails saying the scenario did not happen.  Guards on both hosts with
# action = recover.  Asserts: the source is running again within
# finish_timeout + 2 s of the hang start, with the same QEMU pid and no new
# boot in the serial log; the incident records cancel not sent, the five
# unstick checks ok, one "shut down fd" ok, unstick-check ok, no kill;
# `virsh migrate` returned (failed), domjobinfo says no job, a later
# domjobabort finds none, `virsh list` answers on both hosts, nothing left
# on the destination.  Then the NBD server resumes: the guest writes again,
# the incident's disk-check is ok, a second migration completes.
source "$MG_SRCDIR/tests/lib/e2e.sh"
source "$MG_SRCDIR/tests/lib/unstick.sh"
mg_unstick_storage_test unix "${MG_UNSTICK_SHAPE:-}"
