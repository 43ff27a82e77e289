#!/usr/bin/env bash
# Builds (once) the seeded QEMU the tests, the demo and the benchmarks run the
# deadlock of DESIGN.md section 1 on: Debian 12's own QEMU source, pinned,
# with tests/seed/qemu-7.2-seed-bfa36802d170.patch applied (a known upstream
# bug put back; never to be shipped), x86_64-softmmu only, with debug info.
#
# Usage: scripts/seeded-qemu.sh [--check]
#   Prints the cache directory on stdout; it holds
#     qemu-system-x86_64           the seeded binary with DWARF
#     qemu-system-x86_64.stripped  the same, symbol table only (no DWARF):
#                                  a distribution without debuginfo
#     build-info                   what it was built from, and the cost
#   --check: print the directory when it is built, else exit 1 (no build).
#
# The cache lives outside the clone ($MG_SEED_CACHE, default
# /var/cache/migguard/seeded-qemu/KEY), KEY hashing the pinned source version,
# the patch, the compiler flags and this script's build recipe, so a change
# to any of them builds anew and the old entry is left for `rm -rf`.  The
# build runs in KEY.tmp and is renamed into place only when complete: an
# interrupted build is thrown away and started again by the next call.
# Concurrent calls wait for one another (flock).
#
# Environment: MG_SEED_OPT (default "-O2"; e.g. "-O1" for an independent
# build), MG_SEED_JOBS (default nproc), MG_SEED_CACHE.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
version=1:7.2+dfsg-7+deb12u18
patch=$src/tests/seed/qemu-7.2-seed-bfa36802d170.patch
opt=${MG_SEED_OPT:--O2}
jobs=${MG_SEED_JOBS:-$(nproc)}
cache=${MG_SEED_CACHE:-/var/cache/migguard/seeded-qemu}

# QEMU 7.2 resolves every data path under its prefix relative to its own
# binary (util/cutils.c get_relocated_path): with --prefix=/usr it would look
# for firmware in CACHE/../share/qemu.  Paths outside the prefix are used as
# given, so the prefix is one nobody installs to and the firmware path is
# Debian's (the qemu-system-data, seabios and ipxe-qemu packages): libvirt
# can then run the binary as <emulator> with no -L.
configure_args=(
	--target-list=x86_64-softmmu --prefix=/opt/migguard-seeded-qemu
	--firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu --meson=meson
	--enable-debug-info --disable-werror --disable-docs --disable-tools
	--disable-guest-agent --disable-user --disable-gtk --disable-sdl
	--disable-opengl --disable-spice --disable-xen --disable-vnc
	--disable-capstone --disable-slirp
)
build_deps=(dpkg-dev build-essential meson ninja-build pkg-config python3
	libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev libseccomp-dev
	libcap-ng-dev qemu-system-data seabios ipxe-qemu)

key=$( { echo "$version"; cat "$patch"; echo "$opt"; echo "${configure_args[*]}"; } |
	sha256sum | cut -c1-16)
out=$cache/$key

if [[ -x $out/qemu-system-x86_64 && -x $out/qemu-system-x86_64.stripped ]]; then
	echo "$out"
	exit 0
fi
[[ ${1:-} == --check ]] && exit 1

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [[ -x $out/qemu-system-x86_64 && -x $out/qemu-system-x86_64.stripped ]]; then
	echo "$out"
	exit 0
fi

say() { echo "seeded-qemu: $*" >&2; }
t0=$SECONDS
log=$cache/build-$key.log
: >"$log"
trap 'say "FAILED; log: $log"; tail -n 40 "$log" >&2' ERR

missing=()
for p in "${build_deps[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends -t bookworm "${missing[@]}" >>"$log" 2>&1 || {
		apt-get update -q >>"$log" 2>&1
		apt-get install -y -q --no-install-recommends -t bookworm "${missing[@]}" >>"$log" 2>&1
	}
fi

# The source package: a deb-src entry for bookworm, then the pinned version.
dl=$cache/src-${version#*:}
if [[ ! -f $dl/.complete ]]; then
	if ! apt-cache showsrc qemu 2>/dev/null | grep -qx "Version: $version"; then
		say "adding a deb-src entry for bookworm"
		cat >/etc/apt/sources.list.d/migguard-deb-src.sources <<-'EOT'
		Types: deb-src
		URIs: http://deb.debian.org/debian
		Suites: bookworm bookworm-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOT
		apt-get update -q >>"$log" 2>&1
	fi
	rm -rf "$dl" && mkdir -p "$dl"
	say "downloading qemu $version source"
	(cd "$dl" && apt-get source -q --download-only "qemu=$version") >>"$log" 2>&1
	touch "$dl/.complete"
fi

tmp=$out.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
say "unpacking and seeding (patch $(basename "$patch"))"
(cd "$tmp" && dpkg-source -x -q "$dl"/qemu_*.dsc src) >>"$log" 2>&1
patch -d "$tmp/src" -p1 <"$patch" >>"$log"
say "building x86_64-softmmu with ${opt} -g on $jobs cores (about 4 min on 2 cores at -O2, once)"
mkdir "$tmp/src/build"
(cd "$tmp/src/build" &&
	../configure "${configure_args[@]}" --extra-cflags="$opt -g" >>"$log" 2>&1 &&
	ninja -j "$jobs" qemu-system-x86_64 >>"$log" 2>&1)
cp "$tmp/src/build/qemu-system-x86_64" "$tmp/qemu-system-x86_64"
objcopy --strip-debug "$tmp/qemu-system-x86_64" "$tmp/qemu-system-x86_64.stripped"
"$tmp/qemu-system-x86_64" -version >>"$log"
{
	echo "source: qemu $version (Debian bookworm)"
	echo "patch: $(basename "$patch") sha256 $(sha256sum "$patch" | cut -c1-16)"
	echo "cflags: $opt -g"
	echo "configure: ${configure_args[*]}"
	echo "built: $(date -u +%FT%TZ) in $((SECONDS - t0)) s on $(nproc) cores"
	echo "size: $(stat -c %s "$tmp/qemu-system-x86_64") bytes," \
		"stripped $(stat -c %s "$tmp/qemu-system-x86_64.stripped") bytes"
} >"$tmp/build-info"
rm -rf "$tmp/src"
mv "$tmp" "$out"
trap - ERR
say "built in $((SECONDS - t0)) s: $out"
echo "$out"
