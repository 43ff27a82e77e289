#!/usr/bin/env bash
# Builds the Debian packages migguard and migguard-dev from the current
# source tree into OUTDIR (default /var/tmp/migguard-deb) and prints the
# .deb paths.  Quiet on success; on a failure prints the build log.
#
#   scripts/build-deb.sh [OUTDIR]
#
# The tree is copied first (the files git knows, as they are in the work
# tree, uncommitted edits and new files not ignored included): nothing is
# ever built in the tree itself.  Missing build dependencies (debian/control)
# are installed from Debian's archive, as scripts/deps.sh does.
# Environment:
#   MG_DEB_VERSION=V  build version V instead of debian/changelog's (an
#                     entry is added to the copy's changelog): a newer
#                     package for upgrade tests, e.g. 0.1.0+test1;
#   MG_DEB_LINTIAN=1  run lintian on the .debs too; any error or warning
#                     fails the build;
#   DEB_BUILD_OPTIONS as dpkg-buildpackage takes it (nocheck skips the
#                     unit tests; parallel=N is added as the CPU count);
#   MG_KEEP_TMP=1     keep the build directory.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/var/tmp/migguard-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /var/tmp/migguard-deb-build.XXXXXX)
log=$work/build.log
: >"$log"
cleanup() { [[ ${MG_KEEP_TMP:-0} == 1 ]] || rm -rf "$work"; }
trap cleanup EXIT
fail() {
	echo "build-deb: FAILED: $1; log follows ($log)" >&2
	sed 's/^/    | /' "$log" >&2
	MG_KEEP_TMP=1
	echo "build-deb: build directory kept: $work" >&2
	exit 1
}

# The tools of the build itself: dpkg-buildpackage (dpkg-dev), dh
# (debhelper), and git for the copy.  The package's own build dependencies
# come from debian/control below.
tools=(dpkg-dev debhelper git)
((${MG_DEB_LINTIAN:-0} == 1)) && tools+=(lintian)
missing=()
for p in "${tools[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
apt_install() {
	if ((EUID != 0)); then
		echo "build-deb: missing packages: $* (run as root to install them)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# The package lists may be absent on a fresh machine; refresh them once.
	if ! "$@" >>"$log" 2>&1; then
		apt-get update -q >>"$log" 2>&1
		"$@" >>"$log" 2>&1 || fail "apt-get"
	fi
}
if ((${#missing[@]})); then
	apt_install apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The copy: every file git tracks or would track, from the work tree.
# Files deleted in the work tree but not yet in git are skipped.
git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
	{ echo "build-deb: $src is not a git work tree" >&2; exit 1; }
version=${MG_DEB_VERSION:-$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)}
copy=$work/migguard-$version
mkdir -p "$copy"
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done |
	tar --null -T - -cf -) | tar -C "$copy" -xf - || fail "copying the tree"

if [[ -n ${MG_DEB_VERSION:-} ]]; then
	# A changelog entry of the same form as the first one (dch is not
	# needed for that).
	{
		printf 'migguard (%s) unstable; urgency=medium\n\n' "$MG_DEB_VERSION"
		printf '  * Rebuilt by scripts/build-deb.sh with MG_DEB_VERSION.\n\n'
		printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$src/debian/changelog" -S Maintainer)" "$(date -R)"
		cat "$src/debian/changelog"
	} >"$copy/debian/changelog"
fi

# The package's build dependencies, installed when missing.
if ! (cd "$copy" && dpkg-checkbuilddeps) >>"$log" 2>&1; then
	apt_install apt-get build-dep -y -q --no-install-recommends "$copy"
fi

# All CPUs unless the caller chose (nocheck and the like are kept).
[[ ${DEB_BUILD_OPTIONS:-} == *parallel=* ]] ||
	DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=$(nproc)"
export DEB_BUILD_OPTIONS
(cd "$copy" && dpkg-buildpackage -us -uc -b) >>"$log" 2>&1 || fail "dpkg-buildpackage"

arch=$(dpkg --print-architecture)
debs=()
for pkg in "migguard_${version}_$arch" "migguard-dev_${version}_all"; do
	[[ -f $work/$pkg.deb ]] || fail "$pkg.deb was not built"
	cp "$work/$pkg.deb" "$out/"
	debs+=("$out/$pkg.deb")
done
if ((${MG_DEB_LINTIAN:-0} == 1)); then
	lintian --info --fail-on error,warning "${debs[@]}" >>"$log" 2>&1 || fail "lintian"
fi
printf '%s\n' "${debs[@]}"
