# qemu.sh - real QEMU processes for tests (source after common.sh).
#
# Every process started here is registered with mg_on_exit by pid; files go
# to $MG_TEST_TMP/NAME.*.  NAME must be a shell identifier ([A-Za-z0-9_]).
# QEMU runs with `-name NAME,debug-threads=on`: without it QEMU does not name
# its threads and `live_migration` cannot be found in /proc.
#
# mg_qemu_start NAME [QEMU ARGS...] : starts a bare q35 guest with 128 MiB
#     and no OS (KVM or TCG, see mg_accel), its QMP socket at
#     $(mg_qemu_qmp NAME), its stderr in $MG_TEST_TMP/NAME.log; sets
#     MG_QEMU_PID_NAME; returns once QMP answers.
# mg_qemu_start_incoming NAME URI [QEMU ARGS...] : same with `-incoming
#     defer`, then migrate-incoming URI (e.g. unix:$MG_TEST_TMP/mig.sock);
#     returns once the destination listens.
# mg_qemu_qmp NAME / mg_qemu_pid NAME : the QMP socket path / the pid.
# mg_qemu_guard_qmp NAME : a second QMP socket every QEMU gets, for the code
#     under test (as a domain's extra monitor for the guard): QEMU serves one
#     client per socket, so the shell helpers keep to the first.
# mg_qmp_cmd [-t SECONDS] SOCK JSON : one-shot QMP command on a fresh
#     connection (greeting, qmp_capabilities, JSON); prints the "return"
#     value as JSON.  Exit 1 on a QMP error (printed on stderr), 124 when no
#     answer came within SECONDS (default 10).  QEMU serves one client per
#     socket at a time, and a connection made while the main loop hangs gets
#     the greeting but no answer to qmp_capabilities: this then times out.
# mg_qmp_status SOCK : prints the run state ("running", "finish-migrate"...).
# mg_qmp_migration_status SOCK : prints query-migrate's status ("none" when
#     no migration ran).
# mg_qmp_wait_status SOCK TIMEOUT STATE : waits for run state STATE.
# mg_qmp_wait_migration SOCK TIMEOUT STATUS : waits for migration STATUS.
# mg_qemu_migrate SRC_SOCK URI : starts the outgoing migration.
# mg_nbd_start NAME FILE : serves the raw FILE with `qemu-nbd -e 4` (shared
#     by source and destination) on $(mg_nbd_sock NAME); sets MG_NBD_PID_NAME;
#     returns once the socket exists.  Teardown sends SIGCONT before killing.
# mg_nbd_sock NAME : the NBD socket path.
# mg_nbd_disk_args SOCK : sets the array MG_DISK_ARGS to a virtio-blk disk
#     on an IOThread served by the NBD socket (for source and destination).
# mg_storage_stall_start SRC DST : the storage stall at switch-over: NBD
#     server, source SRC and destination DST sharing the disk, then SIGSTOP
#     the server, one write in flight (HMP qemu-io aio_write), migrate.  The
#     source's live_migration thread then stops the VM holding the BQL and
#     waits forever in bdrv_drain_all for the write; query-status never
#     answers.  Returns at once (wait for the hang with the BQL probe); sets
#     MG_STALL_NBD_PID; teardown SIGCONTs the server first so both QEMUs can
#     exit normally.
# mg_storage_stall_prepare SRC DST / mg_storage_stall_trigger SRC DST : the
#     two halves of mg_storage_stall_start (processes up and sharing the
#     disk / stop the server, write, migrate), to connect a monitor client
#     to SRC in between.

mg_qemu_qmp() { echo "$MG_TEST_TMP/$1.qmp"; }
mg_qemu_guard_qmp() { echo "$MG_TEST_TMP/$1.guard.qmp"; }
mg_qemu_pid() { local v="MG_QEMU_PID_$1"; echo "${!v}"; }
mg_nbd_sock() { echo "$MG_TEST_TMP/$1.nbd"; }

mg_qmp_cmd() {
	local timeout=10
	if [[ $1 == -t ]]; then timeout=$2; shift 2; fi
	python3 - "$1" "$2" "$timeout" <<'EOF'
import json, socket, sys, time
path, cmd, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
deadline = time.monotonic() + timeout
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
dec = json.JSONDecoder()
buf = ""
def message():
    global buf
    while True:
        buf = buf.lstrip()
        if buf:
            try:
                obj, end = dec.raw_decode(buf)
                buf = buf[end:]
                return obj
            except ValueError:
                pass
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        s.settimeout(left)
        data = s.recv(65536)
        if not data:
            sys.exit("qmp: connection closed by QEMU")
        buf += data.decode()
def execute(req):
    req = dict(req, id="sh")
    s.sendall(json.dumps(req).encode() + b"\n")
    while True:
        m = message()
        if m.get("id") != "sh":
            continue        # events
        if "error" in m:
            print(json.dumps(m["error"]), file=sys.stderr)
            sys.exit(1)
        return m["return"]
try:
    s.settimeout(timeout)
    s.connect(path)
    if "QMP" not in message():
        sys.exit("qmp: no greeting")
    execute({"execute": "qmp_capabilities"})
    print(json.dumps(execute(json.loads(cmd))))
except (TimeoutError, socket.timeout):
    print("qmp: no answer within %gs" % timeout, file=sys.stderr)
    sys.exit(124)
EOF
}

mg_qmp_status() {
	mg_qmp_cmd "$@" '{"execute":"query-status"}' |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'
}

mg_qmp_migration_status() {
	mg_qmp_cmd "$@" '{"execute":"query-migrate"}' |
		python3 -c 'import json,sys; print(json.load(sys.stdin).get("status", "none"))'
}

mg__qmp_status_is() { [[ "$(mg_qmp_status -t 2 "$1")" == "$2" ]]; }
mg__qmp_migration_is() { [[ "$(mg_qmp_migration_status -t 2 "$1")" == "$2" ]]; }

mg_qmp_wait_status() {
	mg_wait_for "$2" "run state $3 on $1" mg__qmp_status_is "$1" "$3"
}

mg_qmp_wait_migration() {
	mg_wait_for "$2" "migration status $3 on $1" mg__qmp_migration_is "$1" "$3"
}

mg_qemu_start() {
	local name=$1; shift
	local sock; sock=$(mg_qemu_qmp "$name")
	local accel; accel=$(mg_accel)
	rm -f "$sock" "$(mg_qemu_guard_qmp "$name")"
	qemu-system-x86_64 -nodefaults -display none -no-user-config \
		-name "$name,debug-threads=on" -machine "q35,accel=$accel" -m 128 \
		-qmp "unix:$sock,server=on,wait=off" \
		-qmp "unix:$(mg_qemu_guard_qmp "$name"),server=on,wait=off" \
		-pidfile "$MG_TEST_TMP/$name.pid" "$@" >>"$MG_TEST_TMP/$name.log" 2>&1 &
	local pid=$!
	printf -v "MG_QEMU_PID_$name" '%s' "$pid"
	mg_on_exit "mg_kill_pid $pid"
	mg_log "qemu $name: pid $pid, accel $accel"
	mg_wait_for 20 "QMP socket of qemu $name" test -S "$sock"
	mg_wait_for 20 "QMP answer from qemu $name" mg_qmp_cmd -t 2 "$sock" '{"execute":"query-status"}'
}

mg_qemu_start_incoming() {
	local name=$1 uri=$2; shift 2
	mg_qemu_start "$name" -incoming defer "$@"
	mg_qmp_cmd "$(mg_qemu_qmp "$name")" \
		"{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"$uri\"}}" >/dev/null
	if [[ $uri == unix:* ]]; then
		mg_wait_for 10 "incoming socket ${uri#unix:}" test -S "${uri#unix:}"
	fi
}

mg_qemu_migrate() {
	mg_qmp_cmd "$1" "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"$2\"}}" >/dev/null
}

mg_nbd_start() {
	local name=$1 file=$2
	local sock; sock=$(mg_nbd_sock "$name")
	rm -f "$sock"
	# MG_NBD_OPTS: e.g. -t (keep serving when the last client goes: a
	# client that reconnects finds it).
	qemu-nbd -e 4 ${MG_NBD_OPTS:-} -f raw -k "$sock" "$file" 2>>"$MG_TEST_TMP/$name.log" &
	local pid=$!
	printf -v "MG_NBD_PID_$name" '%s' "$pid"
	mg_on_exit "mg_kill_pid $pid"
	mg_wait_for 10 "NBD socket $sock" test -S "$sock"
}

mg_nbd_disk_args() {
	MG_DISK_ARGS=(-object iothread,id=io1
		-drive "if=none,id=drive0,format=raw,cache=none,file.driver=nbd,file.server.type=unix,file.server.path=$1"
		-device virtio-blk-pci,id=vblk0,drive=drive0,iothread=io1)
}

mg_storage_stall_start() {
	mg_storage_stall_prepare "$@"
	mg_storage_stall_trigger "$@"
}

mg_storage_stall_prepare() {
	local src=$1 dst=$2
	local uri="unix:$MG_TEST_TMP/$src-migrate.sock"
	truncate -s 64M "$MG_TEST_TMP/disk.raw"
	mg_nbd_start stall_nbd "$MG_TEST_TMP/disk.raw"
	MG_STALL_NBD_PID=$MG_NBD_PID_stall_nbd
	mg_nbd_disk_args "$(mg_nbd_sock stall_nbd)"
	mg_qemu_start "$src" "${MG_DISK_ARGS[@]}"
	# The firmware (SeaBIOS) drives virtio-blk while it looks for a boot
	# disk: starting the device moves it to the IOThread, which drains it
	# from a vCPU thread holding the BQL.  With the server stopped that
	# drain hangs first (seen 2 in ~20 runs), so let it finish before.
	mg_wait_for 20 "firmware done with the disk of qemu $src" mg__virtio_started "$src" vblk0
	# The destination opens the disk at start-up: it must be up before
	# the server stops.
	mg_qemu_start_incoming "$dst" "$uri" "${MG_DISK_ARGS[@]}"
	# Runs before the QEMUs' own teardown: unstick them so SIGTERM works.
	mg_on_exit "kill -CONT $MG_STALL_NBD_PID"
}

mg_storage_stall_trigger() {
	local src=$1 dst=$2
	local uri="unix:$MG_TEST_TMP/$src-migrate.sock"
	kill -STOP "$MG_STALL_NBD_PID"
	mg_qmp_cmd -t 5 "$(mg_qemu_qmp "$src")" '{"execute":"human-monitor-command",
		"arguments":{"command-line":"qemu-io drive0 \"aio_write 0 4k\""}}' >/dev/null ||
		mg__stall_trigger_failed "$src" "the in-flight write (HMP qemu-io)"
	mg_qmp_cmd -t 5 "$(mg_qemu_qmp "$src")" \
		"{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"$uri\"}}" >/dev/null ||
		mg__stall_trigger_failed "$src" "migrate"
	mg_log "storage stall: nbd $MG_STALL_NBD_PID stopped, write in flight, migrating $src -> $dst"
}

# Whether the guest (here the firmware) has started virtio device $2.
mg__virtio_started() {
	mg_qmp_cmd -t 2 "$(mg_qemu_qmp "$1")" "{\"execute\":\"x-query-virtio-status\",
		\"arguments\":{\"path\":\"/machine/peripheral/$2/virtio-backend\"}}" |
		grep -q '"started": true'
}

# Should not happen any more (see mg__virtio_started); if a step above gets
# no answer, keeps the stacks for whoever looks at the failure.
mg__stall_trigger_failed() {
	local pid; pid=$(mg_qemu_pid "$1")
	command -v eu-stack >/dev/null && eu-stack -p "$pid" >"$MG_TEST_TMP/$1.stacks" 2>&1
	mg_fail "storage stall: no answer to $2 from qemu $1 (stacks in $MG_TEST_TMP/$1.stacks)"
}
