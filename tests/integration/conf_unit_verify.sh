# The installed files of conf/ and man/ are right: `make install DESTDIR=`
# puts the unit, the tmpfiles entry, the configuration and the man pages in
# place; systemd-analyze verify accepts the unit as installed (its ExecStart
# exists, its Documentation= pages are found by man), which keeps only the
# capabilities it explains; the shipped
# configuration is valid and documents exactly the defaults; the tmpfiles
# entry creates the directories; every man page is clean under
# `groff -man -ww -z` and renders with `man -l` in 80 columns; the journal
# catalog is installed where journalctl finds it, compiles, and explains
# every MESSAGE_ID of daemon/msgid.h.
# Needs no running systemd (PID 1 may be anything) and no libvirt.
source "$MG_SRCDIR/tests/lib/common.sh"

for tool in systemd-analyze systemd-tmpfiles journalctl groff man; do
	command -v "$tool" >/dev/null || mg_fail "$tool is missing (packages systemd, groff-base, man-db)"
done

root=$MG_TEST_TMP/root
mg_log "make install DESTDIR=$root"
make -C "$MG_BUILDDIR" install DESTDIR="$root" >"$MG_TEST_TMP/install.log" 2>&1 ||
	{ tail -n 30 "$MG_TEST_TMP/install.log" >&2; mg_fail "make install failed"; }

# find_one PATTERN: the single installed file whose path matches PATTERN.
find_one() {
	local found
	mapfile -t found < <(find "$root" -path "$1" \( -type f -o -type l \))
	((${#found[@]} == 1)) || mg_fail "expected one installed $1, found ${#found[@]}: ${found[*]}"
	echo "${found[0]}"
}
unit=$(find_one '*/system/migguardd.service')
tmpfiles=$(find_one '*/tmpfiles.d/migguard.conf')
conf=$(find_one '*/migguard/migguard.conf')
man8=$(find_one '*/man8/migguardd.8')
man5=$(find_one '*/man5/migguard.conf.5')
mandir=$(dirname "$(dirname "$man8")")
mg_log "unit $unit"

# --- the unit ------------------------------------------------------------
if grep -n '@[a-z_]*@' "$unit"; then mg_fail "unsubstituted @...@ in $unit"; fi
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
daemon=${exec_start%% *}
[[ $daemon == /*/migguardd ]] || mg_fail "ExecStart is not an absolute path to migguardd: $exec_start"
[[ -x $root$daemon ]] || mg_fail "ExecStart $daemon is not installed under $root"
"$root$daemon" --version | grep -q '^migguardd ' || mg_fail "$root$daemon --version does not run"
grep -qx 'Type=notify' "$unit" || mg_fail "the unit is not Type=notify"
# The guard's job is to ptrace, read /proc of and signal QEMU processes:
# these tempting settings would break it silently.  (PrivateDevices=yes and
# ProtectProc=ptraceable do not: the guard opens no device node and may
# ptrace every process; the hypervisor bed's end-to-end tests run under
# them.)
if grep -nE '^(ProtectProc=(invisible|noaccess)|ProcSubset=pid|PrivateUsers=yes|PrivateNetwork=yes|DynamicUser=yes|User=)' "$unit"; then
	mg_fail "the unit hides other processes or the host from the guard"
fi
grep -E '^CapabilityBoundingSet=' "$unit" | grep -q CAP_SYS_PTRACE ||
	mg_fail "the unit drops CAP_SYS_PTRACE"
# Least privilege: no capability that another one already covers
# (CAP_DAC_OVERRIDE covers CAP_DAC_READ_SEARCH's reads), and the comment
# says why each one stays.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
if grep -qw CAP_DAC_READ_SEARCH <<<"$caps"; then
	mg_fail "CAP_DAC_READ_SEARCH is redundant next to CAP_DAC_OVERRIDE: $caps"
fi
for cap in $caps; do
	grep -qE "^#  (CAP_[A-Z_]+ )*$cap " "$unit" || mg_fail "the unit does not say why $cap stays"
done
if grep -nE '^(Wants|Requires|BindsTo)=.*(libvirtd|virtqemud)' "$unit"; then
	mg_fail "the unit must not pull libvirt in"
fi

# systemd-analyze verify --root loads the unit from the DESTDIR tree and
# checks ExecStart there; it needs the host's targets (sysinit.target,
# ...) in that tree.  It runs `man` for Documentation=, found via MANPATH.
unit_dir=${unit%/*}
unit_dir_rel=${unit_dir#"$root"}
if ! systemd-analyze unit-paths 2>/dev/null | grep -qxF "$unit_dir_rel"; then
	# Installed outside systemd's search path (e.g. a custom
	# --with-systemdsystemunitdir): verify it as if placed in /etc.
	mkdir -p "$root/etc/systemd/system"
	cp "$unit" "$root/etc/systemd/system/"
fi
host_units=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)
host_units=${host_units:-/lib/systemd/system}
mkdir -p "$root/usr/lib/systemd/system"
cp -an "$host_units/." "$root/usr/lib/systemd/system/" 2>/dev/null || true
rc=0
out=$(MANPATH=$mandir systemd-analyze verify --root="$root" migguardd.service 2>&1) || rc=$?
if ((rc != 0)) || grep -q migguard <<<"$out"; then
	printf '%s\n' "$out" >&2
	mg_fail "systemd-analyze verify failed on $unit (exit $rc)"
fi
[[ -z $out ]] || mg_log "systemd-analyze verify, about other units: $out"
# Informational: the exposure score of the sandbox.
systemd-analyze security --offline=yes --root="$root" migguardd.service 2>/dev/null |
	tail -n 1 >&2 || true

# --- the tmpfiles entry --------------------------------------------------
out=$(systemd-tmpfiles --root="$root" --create "$tmpfiles" 2>&1) ||
	mg_fail "systemd-tmpfiles --create failed: $out"
[[ -z $out ]] || mg_fail "systemd-tmpfiles complained: $out"
for d in var/lib/migguard var/lib/migguard/incidents; do
	[[ $(stat -c %a "$root/$d" 2>/dev/null) == 700 ]] || mg_fail "$d is not a 0700 directory"
done
[[ -d $root/run/migguard/qmp ]] || mg_fail "run/migguard/qmp not created"

# --- the shipped configuration --------------------------------------------
out=$("$root$daemon" --check-config="$conf" 2>&1) || mg_fail "shipped $conf rejected: $out"
# Uncommenting every key of the built-in sections changes nothing: the
# documented defaults are the real ones.
sed -E '/^#\[plugin /q; s/^#([a-z_]+ =.*)$/\1/' "$conf" >"$MG_TEST_TMP/uncommented.conf"
: >"$MG_TEST_TMP/empty.conf"
dump() { "$root$daemon" -v --check-config="$1" 2>&1 | grep -v 'configuration is valid'; }
defaults=$(dump "$MG_TEST_TMP/empty.conf") || mg_fail "empty config rejected: $defaults"
documented=$(dump "$MG_TEST_TMP/uncommented.conf") ||
	mg_fail "the uncommented defaults of $conf are rejected: $documented"
if [[ $defaults != "$documented" ]]; then
	diff <(echo "$defaults") <(echo "$documented") >&2 || true
	mg_fail "the defaults written in $conf differ from the real ones"
fi
# Every key the daemon knows is in the shipped file and in migguard.conf(5).
keys=$(sed -nE 's/^([a-z_]+) =.*/\1/p' <<<"$defaults")
[[ -n $keys ]] || mg_fail "--check-config -v printed no keys: $defaults"
for key in $keys; do
	grep -qE "^#$key =" "$conf" || mg_fail "key $key is not in the shipped $conf"
	grep -qE "^\.BI $key \"" "$man5" || mg_fail "key $key is not described in migguard.conf(5)"
done

# --- the journal catalog --------------------------------------------------
# journalctl --root compiles the catalogs of ROOT/usr/lib/systemd/catalog
# (and /usr/local/...) into ROOT/var/lib/systemd/catalog/database, as the
# systemd package's dpkg trigger does on a real host.
catalog=$(find_one '*/catalog/migguard.catalog')
out=$(journalctl --root="$root" --update-catalog 2>&1) || mg_fail "journalctl --update-catalog failed: $out"
if grep -i migguard <<<"$out"; then mg_fail "journalctl --update-catalog complained about $catalog"; fi
journalctl --root="$root" --dump-catalog >"$MG_TEST_TMP/catalog.dump" 2>&1 ||
	mg_fail "journalctl --dump-catalog failed: $(cat "$MG_TEST_TMP/catalog.dump")"
ids=$(sed -nE 's/^#define MG_MESSAGE_[A-Z_]+ "([0-9a-f]{32})"$/\1/p' "$MG_SRCDIR/daemon/msgid.h")
[[ -n $ids ]] || mg_fail "no MESSAGE_IDs in daemon/msgid.h"
for id in $ids; do
	grep -q "^-- $id" "$MG_TEST_TMP/catalog.dump" || mg_fail "MESSAGE_ID $id is not in the compiled catalog"
done
mg_log "catalog $catalog: $(wc -w <<<"$ids") ids compiled"

# --- the man pages --------------------------------------------------------
mapfile -t pages < <(find "$root" -path '*/man/man[1-9]/*' -type f)
((${#pages[@]} >= 2)) || mg_fail "man pages not installed: ${pages[*]}"
for page in "${pages[@]}"; do
	out=$(groff -man -ww -z "$page" 2>&1)
	[[ -z $out ]] || mg_fail "groff -man -ww -z $page: $out"
	rc=0
	MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$page" >"$MG_TEST_TMP/page.txt" 2>"$MG_TEST_TMP/page.err" || rc=$?
	((rc == 0)) || mg_fail "man -l $page: exit $rc: $(cat "$MG_TEST_TMP/page.err")"
	[[ ! -s $MG_TEST_TMP/page.err ]] || mg_fail "man -l $page: $(cat "$MG_TEST_TMP/page.err")"
	grep -q '^NAME' "$MG_TEST_TMP/page.txt" || mg_fail "man -l $page: no NAME section"
	width=$(LC_ALL=C.UTF-8 wc -L <"$MG_TEST_TMP/page.txt")
	((width <= 80)) || mg_fail "man -l $page: a line is $width columns wide"
	mg_log "ok: $page"
done
mg_log "unit, tmpfiles entry, configuration, catalog and man pages verified"
