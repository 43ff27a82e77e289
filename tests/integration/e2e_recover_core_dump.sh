# action = recover with core_dump = yes on the storage-stall hang without a
# direct monitor: after recover_grace the guard aborts QEMU (SIGABRT, its
# soft core limit raised to the hard one first), waits for it to exit, and
# records where the core went; the core is a real ELF core of that QEMU.
# No restart: the domain stays shut off on the source and nothing is left on
# the destination.
source "$MG_SRCDIR/tests/lib/e2e.sh"

tb=$MG_TEST_TMP/tb
dom=busy
# libvirt gives QEMU a core limit of 0 unless qemu.conf says otherwise, and
# the guard keeps to libvirt's hard limit (it only raises the soft one).
MG_TESTBED_QEMU_CONF='max_core = "unlimited"'
mg_e2e_up "$tb"
mg_e2e_guard_conf --no-direct mg-src "$MG_TEST_TMP/src.conf" \
	guard.probe_interval=500ms guard.monitor_timeout=2s \
	guard.finish_timeout=5s guard.unstick=no guard.action=recover guard.recover_grace=3s guard.core_dump=yes
mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"

mg_e2e_define_busy "$tb" mg-src "$dom"
qpid=$(mg_libvirt_qemu_pid mg-src "$dom")
pattern=$(cat /proc/sys/kernel/core_pattern)
mg_log "QEMU pid $qpid, cwd $(readlink "/proc/$qpid/cwd"), core_pattern '$pattern'," \
	"core limit $(awk '/core file size/ { print $5 "/" $6 }' "/proc/$qpid/limits")"
mg_e2e_stall "$tb" "$dom"
mg_guard_wait_log gsrc 30 "domain $dom: migration HUNG"
mg_guard_wait_log gsrc 40 "domain $dom: action kill: ok: SIGABRT \(core dump\) to QEMU pid $qpid"
mg_guard_wait_log gsrc 40 "domain $dom: action kill-check: ok: QEMU pid $qpid has exited"
mg_guard_wait_log gsrc 5 "domain $dom: action core: "
log=$(mg_guard_log gsrc)
grep "domain $dom: action" "$log" | sed 's/^/    /' >&2
! grep -q "SIGKILL" "$log" || mg_fail "SIGKILL was needed: the core dump did not end QEMU in time"

if [[ $pattern == '|'* ]]; then
	grep -q "domain $dom: action core: ok: core piped by the kernel to ${pattern#|}" "$log" ||
		mg_fail "the piped core is not recorded"
else
	core=$(sed -n "s/.*domain $dom: action core: ok: core written to \(.*\) ([0-9]* bytes; core_pattern.*/\1/p" "$log")
	[[ -n $core ]] || mg_fail "no core recorded"
	# The path is in QEMU's mount namespace: read it from there.
	mg_libvirt_nsenter mg-src python3 - "$core" "$qpid" <<-'PY' || mg_fail "$core is not the core of QEMU $qpid"
		import struct, sys
		f = open(sys.argv[1], "rb")
		eh = f.read(64)
		assert eh[:4] == b"\x7fELF" and struct.unpack_from("<H", eh, 16)[0] == 4, "not an ELF core"
		phoff, = struct.unpack_from("<Q", eh, 32)
		phentsize, phnum = struct.unpack_from("<HH", eh, 54)
		f.seek(phoff)
		phdrs = f.read(phentsize * phnum)
		for k in range(phnum):
		    ptype, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", phdrs, k * phentsize)
		    if ptype == 4:	# PT_NOTE
		        f.seek(off)
		        notes = f.read(filesz)
		        break
		else:
		    raise SystemExit("no PT_NOTE")
		# Walk the notes for NT_PRPSINFO (3): pr_pid at 24, pr_fname at 40 (x86-64).
		i = 0
		while i < len(notes):
		    namesz, descsz, ntype = struct.unpack_from("<III", notes, i)
		    desc_at = i + 12 + (namesz + 3) // 4 * 4
		    if ntype == 3:
		        desc = notes[desc_at:desc_at + descsz]
		        pid = struct.unpack_from("<i", desc, 24)[0]
		        fname = desc[40:56].split(b"\0")[0].decode()
		        print("core of pid %d (%s)" % (pid, fname))
		        # comm is "qemu:NAME" with libvirt's set_process_name
		        assert pid == int(sys.argv[2]) and fname.startswith("qemu"), (pid, fname)
		        break
		    i = desc_at + (descsz + 3) // 4 * 4
		else:
		    raise SystemExit("no NT_PRPSINFO note")
	PY
	mg_libvirt_nsenter mg-src rm -f -- "$core"
fi
inc=$(mg_guard_incident gsrc "$dom")
python3 - "$inc/report.json" <<'PY' || mg_fail "the incident does not list the steps"
import json, sys
steps = [(a["step"], a["result"]) for a in json.load(open(sys.argv[1]))["actions"]]
print(steps)
d = dict(steps)
assert d.get("kill") == "ok" and d.get("kill-check") == "ok" and d.get("core") == "ok", steps
assert "restart" not in d, steps
PY
shut_off() { [[ "$(mg_libvirt_domstate mg-src "$dom")" == "shut off"* ]]; }
mg_wait_for 30 "$dom shut off on mg-src" shut_off
gone_on_dst() { ! timeout 5 virsh -q -c "$(mg_libvirt_uri mg-dst)" list --all | grep -qw "$dom"; }
mg_wait_for 30 "no leftover $dom on mg-dst" gone_on_dst
mg_log "source: $(mg_libvirt_domstate mg-src "$dom")"
