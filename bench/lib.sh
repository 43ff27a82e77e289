# bench/lib.sh - helpers shared by the benchmarks (source after
# tests/lib/common.sh, qemu.sh and migguardd.sh).  Every timestamp is wall
# clock (CLOCK_REALTIME) in seconds since the epoch with a fraction, so the
# figures of different observers (this shell, python3, the guard's
# report.json) can be subtracted.
#
# mgb_guard_start NAME CONF [ARGS...] : like mg_guard_start, but each stderr
#     line of migguardd is prefixed with the time it was read ("EPOCH LINE"),
#     as it arrives.  Sets MG_GUARD_PID_<NAME>; mg_guard_wait_log works on it.
# mgb_log_time NAME ERE : the timestamp of the first log line matching ERE.
# mgb_qmp_migrate_observe SOCK URI OUT [TIMEOUT] : on ONE persistent QMP
#     connection (QEMU serves one client per socket): sets the capabilities
#     pause-before-switchover and events, starts the migration to URI, then
#     polls query-status every 20 ms; writes to OUT `phase_start=` (the send
#     time of the first query-status that read finish-migrate),
#     `prev_poll=` (the reply time of the poll before it, the earliest the
#     phase can have begun), `stop_event=` (QEMU's STOP event, for
#     reference).  Exits 1 when the state is not seen within TIMEOUT (30 s).
# mgb_bql_observe_start PID OUT [TIMEOUT] : in the background, runs
#     probe_cli PID every 20 ms until it reports the main thread blocked on
#     a mutex owned by live_migration; writes `phase_start=` (the time that
#     probe_cli run began) and `prev_poll=` (when the previous, negative, run
#     ended) to OUT.  Registered with mg_on_exit.
# mgb_cpu_ns PID : prints "STAT_NS SCHED_NS": utime+stime of the process
#     from /proc/PID/stat (clock ticks, all threads ever, in ns) and the sum
#     of the on-CPU time of its live threads from /proc/PID/task/*/schedstat
#     (ns resolution).
# mgb_ctx_switches PID : the voluntary context switches of the process's
#     live threads so far (each one a sleep, so the wake-ups that follow).
# mgb_report_times REPORT_JSON : prints `finishing_since=`, `verdict_at=` and
#     `evidence=` from an incident's report.json.

mgb__stamp() {
	local l
	while IFS= read -r l; do
		printf '%s %s\n' "$EPOCHREALTIME" "$l"
	done
}

mgb_guard_start() {
	local name=$1 conf=$2; shift 2
	local log; log=$(mg_guard_log "$name")
	"$MG_BUILDDIR/migguardd" -f -v --config "$conf" "$@" 2> >(mgb__stamp >>"$log") &
	local pid=$!
	printf -v "MG_GUARD_PID_$name" '%s' "$pid"
	mg_on_exit "mg_kill_pid $pid"
	mg_wait_for 5 "migguardd $name running" kill -0 "$pid"
}

mgb_log_time() {
	grep -E -m1 -- "$2" "$(mg_guard_log "$1")" | cut -d' ' -f1
}

mgb_qmp_migrate_observe() {
	python3 - "$1" "$2" "$3" "${4:-30}" <<'EOF'
import json, os, socket, sys, time
path, uri, out, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(path)
dec = json.JSONDecoder()
buf = ""
stop_event = None
def message():
    global buf, stop_event
    while True:
        buf = buf.lstrip()
        if buf:
            try:
                obj, end = dec.raw_decode(buf)
                buf = buf[end:]
                if obj.get("event") == "STOP" and stop_event is None:
                    stop_event = time.time()
                return obj
            except ValueError:
                pass
        data = s.recv(65536)
        if not data:
            sys.exit("qmp: connection closed by QEMU")
        buf += data.decode()
seq = 0
def execute(cmd, args=None):
    global seq
    seq += 1
    req = {"execute": cmd, "id": seq}
    if args is not None:
        req["arguments"] = args
    s.sendall(json.dumps(req).encode() + b"\n")
    while True:
        m = message()
        if m.get("id") != seq:
            continue
        if "error" in m:
            sys.exit("qmp %s: %s" % (cmd, m["error"]))
        return m["return"]
if "QMP" not in message():
    sys.exit("qmp: no greeting")
execute("qmp_capabilities")
execute("migrate-set-capabilities", {"capabilities": [
    {"capability": "pause-before-switchover", "state": True},
    {"capability": "events", "state": True}]})
execute("migrate", {"uri": uri})
deadline = time.monotonic() + timeout
prev = time.time()
nxt = time.monotonic()
while time.monotonic() < deadline:
    sent = time.time()
    st = execute("query-status")["status"]
    if st == "finish-migrate":
        with open(out + ".tmp", "w") as f:
            f.write("phase_start=%.6f\nprev_poll=%.6f\n" % (sent, prev))
            if stop_event is not None:
                f.write("stop_event=%.6f\n" % stop_event)
        os.rename(out + ".tmp", out)
        sys.exit(0)
    prev = time.time()
    nxt += 0.020
    time.sleep(max(0.0, nxt - time.monotonic()))
sys.exit("finish-migrate not seen within %gs" % timeout)
EOF
}

mgb_bql_observe_start() {
	python3 - "$MG_BUILDDIR/tests/unit/probe_cli" "$1" "$2" "${3:-60}" <<'EOF' &
import os, subprocess, sys, time
probe, pid, out, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
deadline = time.monotonic() + timeout
prev = time.time()
nxt = time.monotonic()
while time.monotonic() < deadline:
    t = time.time()
    r = subprocess.run([probe, pid], capture_output=True, text=True)
    kv = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
    if kv.get("main_blocked") == "1" and kv.get("owner_comm") == "live_migration":
        with open(out + ".tmp", "w") as f:
            f.write("phase_start=%.6f\nprev_poll=%.6f\nowner_tid=%s\n" % (t, prev, kv.get("owner_tid")))
        os.rename(out + ".tmp", out)
        sys.exit(0)
    prev = time.time()
    nxt += 0.020
    time.sleep(max(0.0, nxt - time.monotonic()))
sys.exit("BQL held by live_migration not seen within %gs" % timeout)
EOF
	mg_on_exit "mg_kill_pid $!"
}

mgb_cpu_ns() {
	local pid=$1 tck stat f f2 sched=0 ns
	tck=$(getconf CLK_TCK)
	# Fields 14 and 15 (utime, stime) after the ")" that ends comm.
	stat=$(<"/proc/$pid/stat")
	stat=${stat##*) }
	read -r -a f <<<"$stat"
	for f2 in /proc/"$pid"/task/*/schedstat; do
		read -r ns _ <"$f2" && sched=$((sched + ns))
	done
	printf '%s %s\n' "$(((f[11] + f[12]) * 1000000000 / tck))" "$sched"
}

mgb_ctx_switches() {
	local f n sum=0
	for f in /proc/"$1"/task/*/status; do
		n=$(awk '/^voluntary_ctxt_switches:/ {print $2}' "$f" 2>/dev/null) && sum=$((sum + ${n:-0}))
	done
	echo "$sum"
}

mgb_report_times() {
	python3 - "$1" <<'EOF'
import datetime, json, sys
r = json.load(open(sys.argv[1]))
def epoch(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
t = r["timing"]
print("finishing_since=%.3f" % epoch(t["finishing_since"]))
print("verdict_at=%.3f" % epoch(t["verdict_at"]))
print("evidence=%s" % r["evidence"].replace("\n", " "))
EOF
}
