# qemu_stall.sh - the storage stall at switch-over for the snapshot tests,
# made deterministic (source after common.sh and qemu.sh, whose QEMU, QMP
# and NBD helpers it uses).
#
# mg_stall_launch SRC DST VARIANT : NBD server (qemu-nbd -e 4) on a small raw
#     file, source SRC and incoming destination DST sharing it, then the
#     stall (server SIGSTOPped, one write in flight, migrate to DST over a
#     unix socket).  VARIANT "main": virtio-blk without IOThread, the drain
#     runs in the main AioContext (vm_stop -> bdrv_drain_all -> aio_poll in
#     live_migration, which polls the NBD socket itself); "iothread": the
#     disk on IOThread io1 (the drain happens in virtio_blk_data_plane_stop
#     and io1 polls the NBD socket).  Sets MG_STALL_NBD_PID.
#
# Why it waits for SeaBIOS: the BIOS probes and resets the virtio-blk disk
# while it boots; if the server is stopped before that ends, a vCPU thread
# blocks in virtio_reset -> blk_drain holding the BQL, and the HMP write
# and the migrate command never get an answer.  SeaBIOS's debug console
# (port 0x402) says when it has given up booting ("No bootable device",
# then it waits 60 s before rebooting - longer than these tests run).

mg__seabios_done() { grep -q 'No bootable device' "$1"; }

mg_stall_launch() {
	local src=$1 dst=$2 variant=$3
	local uri="unix:$MG_TEST_TMP/$src-migrate.sock" sock disk=()
	truncate -s 16M "$MG_TEST_TMP/stall-disk.raw"
	mg_nbd_start stall_nbd "$MG_TEST_TMP/stall-disk.raw"
	MG_STALL_NBD_PID=$MG_NBD_PID_stall_nbd
	sock=$(mg_nbd_sock stall_nbd)
	disk=(-drive "if=none,id=drive0,format=raw,cache=none,file.driver=nbd,file.server.type=unix,file.server.path=$sock")
	case $variant in
	main) disk+=(-device virtio-blk-pci,drive=drive0) ;;
	iothread) disk+=(-object iothread,id=io1 -device virtio-blk-pci,drive=drive0,iothread=io1) ;;
	*) mg_fail "mg_stall_launch: unknown variant $variant" ;;
	esac
	mg_qemu_start "$src" "${disk[@]}" \
		-chardev "file,id=bioslog,path=$MG_TEST_TMP/$src.seabios" \
		-device isa-debugcon,iobase=0x402,chardev=bioslog
	mg_qemu_start_incoming "$dst" "$uri" "${disk[@]}"
	mg_wait_for 30 "SeaBIOS of $src done with the disk" mg__seabios_done "$MG_TEST_TMP/$src.seabios"
	# Runs before the QEMUs' own teardown: unstick them so SIGTERM works.
	mg_on_exit "kill -CONT $MG_STALL_NBD_PID"
	mg_storage_stall_trigger "$src" "$dst"
}
