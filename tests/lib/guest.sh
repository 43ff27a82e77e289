# guest.sh - a tiny Linux guest that keeps its virtio-blk disk busy.
#
# mg_guest_build [DIR]   builds once (cached; default
#     $MG_TESTBED_CACHE/guest, i.e. /var/tmp/migguard-testbed-cache/guest):
#       * a Debian kernel taken from its .deb (`apt-get download` of what
#         linux-image-amd64 depends on, unpacked with dpkg-deb -x, never
#         installed): DIR/vmlinuz;
#       * a busybox-static initramfs (cpio, newc, gzip): DIR/initrd.img, whose
#         /init mounts proc/sys/dev, insmods the virtio modules (virtio_blk and
#         its dependencies, in dependency order, copied from the kernel's
#         modules), prints "MIGGUARD-GUEST: disk vda" on the serial console,
#         then loops `dd if=/dev/zero of=/dev/vda bs=4k count=1 oflag=direct`
#         forever, printing "MIGGUARD-GUEST: writing N" after the 1st write
#         and every 100th.  With no disk it prints "MIGGUARD-GUEST: no disk"
#         and idles.  With `migguard.mode=mem` on the kernel command line
#         (MG_GUEST_EXTRA_CMDLINE for mg_testbed_busy_xml) the disk writer
#         runs in the background and the init rewrites MEM MiB of RAM
#         (`migguard.mem_mib=MEM`, default 32; a tmpfs file, non-zero bytes)
#         forever, printing "MIGGUARD-GUEST: dirtying MEM MiB" once, then
#         "MIGGUARD-GUEST: mem pass N" after each pass: memory that stays
#         dirty, so a post-copy migration has pages left to pull.
#     Sets and exports MG_GUEST_KERNEL, MG_GUEST_INITRD, MG_GUEST_CMDLINE and
#     MG_GUEST_DIR, and prints DIR.  Rebuilds when the init script changes.
#     Serialised with flock, so concurrent tests build it once.
#     MG_GUEST_BUILD_DIR overrides the default DIR (a branch whose init
#     differs builds apart from the shared one).
#   Boot it with <domain type='qemu'> (TCG): see TESTBED-NOTES, KVM here
#   cannot boot Linux.

: "${MG_TESTBED_CACHE:=/var/tmp/migguard-testbed-cache}"

MG_GUEST_CMDLINE="console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off nokaslr"

# The modules /init loads, with their dependencies first.
MG_GUEST_MODULES="virtio_pci virtio_blk"

mg__guest_init() {
	cat <<-'EOF'
		#!/bin/sh
		# migguard busy guest: write 4 KiB to /dev/vda forever.
		/bin/busybox --install -s /bin
		export PATH=/bin
		mount -t proc proc /proc
		mount -t sysfs sysfs /sys
		mount -t devtmpfs devtmpfs /dev
		for m in $(cat /lib/modules/order); do
			insmod /lib/modules/$m.ko || echo "MIGGUARD-GUEST: insmod $m failed"
		done
		i=0
		while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do usleep 50000; i=$((i + 1)); done
		if [ ! -b /dev/vda ]; then
			echo "MIGGUARD-GUEST: no disk"
			while :; do sleep 3600; done
		fi
		echo "MIGGUARD-GUEST: disk vda"
		disk_loop() {
			n=0
			while :; do
				dd if=/dev/zero of=/dev/vda bs=4k count=1 seek=$((n % 1024)) oflag=direct conv=notrunc 2>/dev/null ||
					echo "MIGGUARD-GUEST: write $n failed"
				n=$((n + 1))
				[ $((n % 100)) -eq 1 ] && echo "MIGGUARD-GUEST: writing $n"
			done
		}
		mode=disk mem=32 disk=on
		for a in $(cat /proc/cmdline); do
			case $a in
			migguard.mode=*) mode=${a#*=} ;;
			migguard.mem_mib=*) mem=${a#*=} ;;
			migguard.disk=*) disk=${a#*=} ;;
			esac
		done
		[ "$mode" = mem ] || disk_loop
		# mode mem: the disk writer in the background (unless
		# migguard.disk=off), and MEM MiB of RAM (a file in the initramfs'
		# tmpfs) rewritten with non-zero bytes (zero pages cross a
		# migration as markers, nearly free) forever.
		[ "$disk" = off ] || disk_loop &
		yes MIGGUARD | head -c 1048576 >/pattern
		echo "MIGGUARD-GUEST: dirtying $mem MiB"
		p=0
		while :; do
			i=0
			while [ $i -lt $mem ]; do
				dd if=/pattern of=/dirty bs=1M seek=$i count=1 conv=notrunc 2>/dev/null ||
					echo "MIGGUARD-GUEST: dirty $i failed"
				i=$((i + 1))
			done
			p=$((p + 1))
			echo "MIGGUARD-GUEST: mem pass $p"
		done
	EOF
}

# Prints module names in load order: each module after its dependencies.
mg__guest_modorder() {
	local moddir=$1; shift
	local -A path=() seen=()
	local f m
	while IFS= read -r f; do
		m=${f##*/}; m=${m%.ko}; path[$m]=$f
	done < <(find "$moddir" -name '*.ko')
	mg__guest_visit() {
		local m=$1 dep deps
		[[ -n ${seen[$m]:-} ]] && return 0
		[[ -n ${path[$m]:-} ]] || { echo "guest: module $m not found" >&2; return 1; }
		seen[$m]=1
		deps=$(tr '\0' '\n' <"${path[$m]}" | sed -n 's/^depends=//p' | head -n 1)
		for dep in ${deps//,/ }; do mg__guest_visit "$dep" || return 1; done
		echo "$m ${path[$m]}"
	}
	for m in "$@"; do mg__guest_visit "$m" || return 1; done
}

mg__guest_kernel_deb() {
	local dl=$1 pkg deb
	mkdir -p "$dl"
	deb=$(ls "$dl"/linux-image-*-amd64_*.deb 2>/dev/null | head -n 1 || true)
	if [[ -z $deb ]]; then
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
		if [[ -z $pkg ]]; then
			apt-get update -q >/dev/null 2>&1 || true
			pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
		fi
		[[ -n $pkg ]] || { echo "guest: cannot resolve linux-image-amd64" >&2; return 1; }
		(cd "$dl" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
			{ echo "guest: apt-get download $pkg failed" >&2; return 1; }
		deb=$(ls "$dl"/linux-image-*-amd64_*.deb | head -n 1)
	fi
	echo "$deb"
}

mg__guest_build_locked() {
	local dir=$1 stamp want deb x root m f
	want=$( { mg__guest_init; echo "$MG_GUEST_MODULES"; } | sha256sum | cut -c1-16)
	stamp=$dir/stamp
	if [[ -s $dir/vmlinuz && -s $dir/initrd.img && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
		return 0
	fi
	command -v busybox >/dev/null && command -v cpio >/dev/null ||
		{ echo "guest: needs busybox-static and cpio (scripts/testbed-deps.sh)" >&2; return 1; }
	deb=$(mg__guest_kernel_deb "$dir/dl") || return 1
	x=$dir/kernel.tmp
	rm -rf "$x" "$dir/root.tmp"
	mkdir -p "$x"
	# Only the kernel image and the modules we need.
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$x" --wildcards './boot/vmlinuz-*' './lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/drivers/block/virtio_blk.ko' ||
		{ echo "guest: cannot unpack $deb" >&2; return 1; }
	root=$dir/root.tmp
	mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
	cp "$(command -v busybox)" "$root/bin/busybox"
	file "$root/bin/busybox" 2>/dev/null | grep -q 'dynamically' &&
		{ echo "guest: busybox is not static (install busybox-static)" >&2; return 1; }
	ln -s busybox "$root/bin/sh"
	: >"$root/lib/modules/order"
	while read -r m f; do
		cp "$f" "$root/lib/modules/$m.ko"
		echo "$m" >>"$root/lib/modules/order"
	done < <(mg__guest_modorder "$x/lib/modules" $MG_GUEST_MODULES)
	[[ -s $root/lib/modules/order ]] || return 1
	mg__guest_init >"$root/init"
	chmod 755 "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$dir/initrd.img.tmp"
	cp "$x"/boot/vmlinuz-* "$dir/vmlinuz.tmp"
	mv -f "$dir/vmlinuz.tmp" "$dir/vmlinuz"
	mv -f "$dir/initrd.img.tmp" "$dir/initrd.img"
	echo "$want" >"$stamp"
	rm -rf "$x" "$root"
}

mg_guest_build() {
	local dir=${1:-${MG_GUEST_BUILD_DIR:-$MG_TESTBED_CACHE/guest}} rc=0
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	{
		flock 9
		mg__guest_build_locked "$dir" || rc=1
	} 9>"$dir/.lock"
	((rc == 0)) || { declare -F mg_fail >/dev/null && mg_fail "guest build failed"; return 1; }
	export MG_GUEST_DIR=$dir MG_GUEST_KERNEL=$dir/vmlinuz MG_GUEST_INITRD=$dir/initrd.img MG_GUEST_CMDLINE
	echo "$dir"
}
