# scale.sh - many small domains on the two-host bed at once: the concurrent
# storage-stall outage of issue 15 (tests/integration/e2e_many_hangs.sh,
# bench/scale).  Source after e2e.sh.
#
# mg_scale_xml DIR DOM [MEM_MIB] [BALLAST] : a domain without a guest OS written the
#     way Nova writes one (no <qemu:commandline>, hence no direct monitor):
#     SeaBIOS only, its disk on the bed's shared NBD server (DIR/nbd.sock,
#     one export for all; cache='none' io='native', no IOThread), no NIC,
#     no balloon; type kvm when mg_accel says kvm (MIGGUARD_TEST_ACCEL).
#     MEM_MIB default 256.  With BALLAST (default: no) the guest's RAM holds
#     MG_SCALE_BALLAST_MIB (16) MiB of random bytes at 64 MiB (QEMU's
#     generic loader device, via <qemu:commandline>, which gives no
#     monitor): an empty guest migrates in ~2 s at 1 MiB/s, 20 of them
#     started at once on 2 cores were done before they could be throttled;
#     16 MiB that do not compress keep each busy ~16 s (bench/scale's
#     outage uses 64: at N=20 libvirt answered the domjobinfo that shows a
#     migration sending, MG_SCALE_THROTTLE_WAIT (60 s) at most, too late).
# mg_scale_define_start DIR HOST DOM... : defines (persistent: a recovery
#     that kills QEMU restarts it) and starts each domain on HOST, in
#     MG_SCALE_JOBS (default 1) virsh sessions at once; with MG_SCALE_BALLAST=1
#     they carry the ballast (for the ones that will migrate).
# mg_scale_migrate_all DIR DOM... : `virsh migrate` of every DOM from
#     mg-src to mg-dst started at once in the background (--bandwidth 1);
#     then, in parallel per domain, waits until the source sends memory and
#     lowers its rate to 1000 B/s (migrate-set-parameters through libvirt),
#     so all N stay in the active phase; returns once every one does and
#     every destination has opened the disk (NBD connections).
# mg_scale_stall DIR DOM... : the outage: SIGSTOPs the NBD server, puts one
#     4 KiB write in flight on every domain (HMP qemu-io aio_write through
#     libvirt), then opens every migration's bandwidth at once: each source
#     stops its guest and hangs in the drain holding the BQL.
# mg_scale_watch_hangs_start OUTDIR TIMEOUT DOM... : starts watching, in the
#     background (tests/lib/scale_watch.py hang), every DOM's source QEMU
#     for the hang, seen from outside the guard; start it before the stall.
# mg_scale_watch_hangs_wait OUTDIR DOM... : waits for that watcher; fails
#     naming each domain that did not hang within TIMEOUT and what was seen
#     instead.  OUTDIR/DOM.hang has start=, tid=, pid=, threads=.
# mg_scale_watch_recovered OUTDIR TIMEOUT DOM... : waits until every DOM
#     runs again on mg-src and answers (scale_watch.py recovered); fails
#     naming the domains that did not.  OUTDIR/DOM.recovered has at=, pid=.
# mg_scale_kv FILE KEY : the value of KEY= in FILE.
# mg_scale_check_incidents GUARD STATE_DIR HANGDIR DOM... : for every DOM,
#     exactly one HUNG verdict, one "incident written to" and one ladder
#     (one cancel record) in the guard's log, one incident directory for it
#     in STATE_DIR, and a complete report.json naming DOM, ITS QEMU's pid,
#     a BQL owner that is its live_migration (HANGDIR/DOM.hang) and only
#     threads of that QEMU.  Prints "DOM incident_at" lines (the log time
#     the guard wrote the incident, from the log's timestamps).
# mg_scale_guard_start src|dst KEY=VALUE... : starts that host's guard (as
#     below) and returns at once.
# mg_scale_guards_up KEY=VALUE... : one guard per host (gsrc for mg-src,
#     gdst for mg-dst), libvirt's monitor only (no direct monitor: the
#     domains are Nova-shaped), metrics in $MG_TEST_TMP/{src,dst}.prom, the
#     given keys; each log line stamped with the time it was read
#     (mgb_guard_start of bench/lib.sh), so mgb_log_time gives when the
#     guard said something.
# mg_scale_names N : instance-00000101 ... (N names, Nova's pattern).
# mg_scale_outage DIR N OUT : the whole outage with the guards up: N
#     domains (instance-00000101...) started on mg-src, migrated at once,
#     the NBD server stopped under them, every hang seen from outside,
#     every domain running again (waited for up to $MG_SCALE_RECOVER_WAIT
#     s, default 60), every `virsh migrate` returned, the incidents checked
#     (mg_scale_check_incidents).  Writes OUT: one line per domain,
#     "DOM INCIDENT_MS RECOVERED_MS HOW" (ms after that domain's own hang
#     start; HOW "same-qemu" or "new-qemu").  The per-domain files are in
#     $MG_TEST_TMP/hangs.
# mg_scale_lateness_ms PROMFILE [METRIC] : the guard's loop lateness maximum in ms
#     (METRIC, default migguard_loop_lateness_max_seconds; the daemon's own:
#     migguard_loop_lateness_own_max_seconds), or nothing when the metric is
#     not exported.

: "${MG_SCALE_MEM:=256}"
: "${MG_SCALE_BALLAST_MIB:=16}"
: "${MG_SCALE_THROTTLE_WAIT:=60}"
# Each poll is a virsh process: 20 pollers every 200 ms took more CPU
# than the 2 cores had (bench/scale's outage polls every N/10 s).
: "${MG_SCALE_POLL_S:=0.2}"
declare -F mgb_guard_start >/dev/null || source "$MG_SRCDIR/bench/lib.sh"

mg_scale_xml() {
	local dir=$1 dom=$2 mem=${3:-$MG_SCALE_MEM} ballast=${4:-} type=qemu extra=""
	[[ "$(mg_accel)" == kvm ]] && type=kvm
	if [[ -n $ballast ]]; then
		[[ -s $dir/ballast.bin ]] ||
			head -c $((MG_SCALE_BALLAST_MIB << 20)) /dev/urandom >"$dir/ballast.bin"
		extra="<qemu:commandline><qemu:arg value='-device'/><qemu:arg value='loader,file=$dir/ballast.bin,addr=0x4000000,force-raw=on'/></qemu:commandline>"
	fi
	cat <<-EOF
		<domain type='$type' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
		  <name>$dom</name>
		  <memory unit='MiB'>$mem</memory>
		  <vcpu placement='static'>1</vcpu>
		  <os><type arch='x86_64' machine='pc'>hvm</type><bios rebootTimeout='-1'/></os>
		  <features><acpi/><apic/></features>
		  <on_poweroff>destroy</on_poweroff>
		  <on_reboot>restart</on_reboot>
		  <on_crash>destroy</on_crash>
		  <devices>
		    <disk type='network' device='disk'>
		      <driver name='qemu' type='raw' cache='none' io='native'/>
		      <source protocol='nbd'><host transport='unix' socket='$dir/nbd.sock'/></source>
		      <target dev='vda' bus='virtio'/>
		    </disk>
		    <controller type='usb' model='none'/>
		    <memballoon model='none'/>
		  </devices>
		  $extra
		</domain>
	EOF
}

mg_scale_define_start() {
	local dir=$1 host=$2 jobs=${MG_SCALE_JOBS:-1} dom i=0 j pids=() bad=""; shift 2
	for dom; do mg_scale_xml "$dir" "$dom" "" "${MG_SCALE_BALLAST:-}" >"$dir/$dom.xml"; done
	# JOBS virsh sessions, each defining and starting its share in turn
	# (one connection for many commands: 200 domains in ~1 min here).
	for ((j = 0; j < jobs; j++)); do
		: >"$dir/define.$j"
	done
	for dom; do
		printf 'define %s\nstart %s\n' "$dir/$dom.xml" "$dom" >>"$dir/define.$((i++ % jobs))"
	done
	for ((j = 0; j < jobs; j++)); do
		mg_virsh "$host" <"$dir/define.$j" >"$dir/define.$j.out" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	mg_virsh "$host" list --name --state-running >"$dir/running.txt" || true
	for dom; do
		grep -qxF -- "$dom" "$dir/running.txt" || bad+=" $dom"
	done
	[[ -z $bad ]] || { cat "$dir"/define.*.out >&2; mg_fail "not running on $host after define + start:$bad"; }
}

# mg__scale_each FN TAG DIR DOM... : runs `FN DOM DIR/TAG-DOM` for every DOM
# at once (FN leaves that file empty on success, writes why otherwise);
# prints " DOM: why" for each that failed, nothing when none did.
mg__scale_each() {
	local fn=$1 tag=$2 dir=$3 dom pids=() bad=""; shift 3
	for dom; do
		rm -f "$dir/$tag-$dom"
		"$fn" "$dom" "$dir/$tag-$dom" >/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	for dom; do
		[[ -f $dir/$tag-$dom && ! -s $dir/$tag-$dom ]] || bad+=" $(cat "$dir/$tag-$dom" 2>/dev/null || echo "$dom: ?")"
	done
	echo "$bad"
}

# One domain's throttle: in a background job of its own.
mg__scale_throttle() {
	local dom=$1 deadline=$((SECONDS + MG_SCALE_THROTTLE_WAIT))
	# Every 200 ms: N pollers at once must leave the 2 cores to QEMU.
	# Each poll is a domjobinfo, which libvirt answers after up to seconds
	# when 20 migrations start at once: the ballast (MG_SCALE_BALLAST_MIB
	# at 1 MiB/s) must outlast the polls.
	until mg__testbed_src_sending mg-src "$dom"; do
		((SECONDS < deadline)) || { echo "$dom: never sent memory" >"$2"; return 1; }
		sleep "$MG_SCALE_POLL_S"
	done
	mg_virsh mg-src qemu-monitor-command "$dom" \
		'{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":1000}}' >/dev/null ||
		{ echo "$dom: migrate-set-parameters failed" >"$2"; return 1; }
	: >"$2"
}

mg_scale_migrate_all() {
	local dir=$1 dom base bad; shift
	base=$(mg_nbd_connections "$dir")
	for dom; do
		mg_testbed_migrate_bg "$dir" "$dom" --bandwidth 1
		echo "$MG_MIGRATE_PID" >"$dir/migrate-$dom.pid"
	done
	bad=$(mg__scale_each mg__scale_throttle throttle "$dir" "$@")
	for dom; do
		kill -0 "$(cat "$dir/migrate-$dom.pid")" 2>/dev/null ||
			bad+=" $dom: virsh migrate already ended ($(tr '\n' ' ' <"$dir/migrate-$dom.log"))"
	done
	[[ -z $bad ]] || mg_fail "the migrations did not all stay active:$bad"
	mg_nbd_wait_connections "$dir" $((base + $#)) 60
	mg_log "$# migrations active, each trickling at 1000 B/s"
}

# One domain's half of the outage: the write in flight, then the bandwidth.
mg__scale_stall_one() {
	local dom=$1
	mg_virsh mg-src qemu-monitor-command --hmp "$dom" 'qemu-io -d virtio-disk0 "aio_write 0 4k"' >/dev/null ||
		{ echo "$dom: HMP qemu-io aio_write failed" >"$2"; return 1; }
	mg_virsh mg-src migrate-setspeed "$dom" 100000 ||
		{ echo "$dom: migrate-setspeed failed" >"$2"; return 1; }
	: >"$2"
}

mg_scale_stall() {
	local dir=$1 bad; shift
	mg_nbd_pause "$dir"
	bad=$(mg__scale_each mg__scale_stall_one stall "$dir" "$@")
	[[ -z $bad ]] || mg_fail "the outage was not set up on every domain:$bad"
	mg_log "storage stalled (NBD server $(mg_nbd_pid "$dir") stopped) under $# migrations, a write in flight on each"
}

mg_scale_kv() { sed -n "s/^$2=//p" "$1" 2>/dev/null | head -1; }

mg_scale_watch_hangs_start() {
	local out=$1 timeout=$2 dom pairs=(); shift 2
	mkdir -p "$out"
	for dom; do pairs+=("$dom=$(mg_libvirt_qemu_pid mg-src "$dom")"); done
	python3 "$MG_SRCDIR/tests/lib/scale_watch.py" hang "$out" "$(mg_libvirt_uri mg-src)" "$timeout" "${pairs[@]}" &
	MG_SCALE_HANG_WATCH=$!
	mg_on_exit "mg_kill_pid $MG_SCALE_HANG_WATCH"
}

mg_scale_watch_hangs_wait() {
	local out=$1 dom missing=""; shift
	wait "$MG_SCALE_HANG_WATCH" || true
	for dom; do
		[[ -s $out/$dom.hang ]] || missing+=" $dom ($(cat "$out/$dom.seen" 2>/dev/null || echo 'not watched'))"
	done
	[[ -z $missing ]] || mg_fail "the scenario did not happen: no storage-stall hang seen from outside on:$missing"
	mg_log "all $# sources hung (seen from /proc; libvirt's query-status unanswered)"
}

mg_scale_watch_recovered() {
	local out=$1 timeout=$2 dom missing=""; shift 2
	python3 "$MG_SRCDIR/tests/lib/scale_watch.py" recovered "$out" "$(mg_libvirt_uri mg-src)" \
		"$(mg_libvirt_run_dir mg-src)" "$timeout" "$@" || true
	for dom; do
		[[ -s $out/$dom.recovered ]] || missing+=" $dom ($(mg_libvirt_domstate mg-src "$dom" 2>&1 | head -1 || true))"
	done
	[[ -z $missing ]] || mg_fail "not running and answering on mg-src again within $timeout s:$missing"
}

mg_scale_check_incidents() {
	local g=$1 state=$2 hangs=$3 log dom n what inc; shift 3
	log=$(mg_guard_log "$g")
	for dom; do
		for what in "migration HUNG" "incident written to" "action cancel:"; do
			n=$(grep -c -- "domain $dom: $what" "$log") || n=0
			((n == 1)) || mg_fail "$dom: $n '$what' lines in $g's log, expected exactly 1"
		done
		inc=$(mg_guard_incident "$g" "$dom")
		[[ -f $inc/report.json ]] || mg_fail "$dom: incident $inc has no report.json"
		python3 - "$inc/report.json" "$dom" "$(mg_scale_kv "$hangs/$dom.hang" pid)" \
			"$(mg_scale_kv "$hangs/$dom.hang" tid)" "$(mg_scale_kv "$hangs/$dom.hang" threads)" <<-'PY' ||
			import json, sys
			r = json.load(open(sys.argv[1]))
			dom, pid, lm = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
			threads = {int(t) for t in sys.argv[5].split(",")}
			bad = []
			if r.get("verdict") != "hung":
			    bad.append("verdict %r" % r.get("verdict"))
			if dom not in json.dumps(r.get("domain", r.get("target", ""))) and r.get("domain") != dom:
			    bad.append("domain %r" % r.get("domain"))
			s = r.get("snapshot") or {}
			if s.get("pid") != pid:
			    bad.append("snapshot of pid %s, not its QEMU %d" % (s.get("pid"), pid))
			tids = {t["tid"] for t in s.get("threads", [])}
			if not tids:
			    bad.append("no threads in the snapshot")
			elif not tids <= threads:
			    bad.append("threads %s are not its QEMU's" % sorted(tids - threads))
			if (s.get("locks") or {}).get("bql_owner") != lm:
			    bad.append("BQL owner %s, not its live_migration %d" % ((s.get("locks") or {}).get("bql_owner"), lm))
			for b in bad:
			    print("%s: %s" % (dom, b), file=sys.stderr)
			sys.exit(1 if bad else 0)
		PY
			mg_fail "$dom: incident $inc is not complete and correct (above)"
	done
	n=$(find "$state" -name report.json | wc -l)
	(($# == n)) || mg_fail "$n incident reports in $state for $# hung domains"
}

mg_scale_lateness_ms() {
	local metric=${2:-migguard_loop_lateness_max_seconds}
	awk -v m="$metric" '$1 == m { v = $NF } END { if (v != "") printf "%.1f\n", v * 1000 }' "$1" 2>/dev/null
}

mg_scale_guard_start() {
	local h=$1; shift
	mg_e2e_guard_conf --no-direct mg-$h "$MG_TEST_TMP/$h.conf" "$@" \
		"metrics.textfile=$MG_TEST_TMP/$h.prom"
	MIGGUARD_LIBVIRT_RUN_DIR=$(mg_libvirt_run_dir mg-$h)/qemu \
	MIGGUARD_LIBVIRT_LOG_DIR=$(mg_libvirt_log_dir mg-$h)/qemu \
	MIGGUARD_SIGNATURES_DIR=$MG_SRCDIR/conf/signatures \
		mgb_guard_start g$h "$MG_TEST_TMP/$h.conf"
}

mg_scale_guards_up() {
	local h
	for h in src dst; do
		mg_scale_guard_start $h "$@"
		mg_guard_wait_log g$h 10 "libvirt .*: connected"
	done
}

mg_scale_names() {
	local i
	for ((i = 1; i <= $1; i++)); do printf 'instance-%08x\n' $((0x100 + i)); done
}

mg_scale_outage() {
	local tb=$1 n=$2 out=$3 hangs=$MG_TEST_TMP/hangs d start inc rec how
	local -a doms
	mapfile -t doms < <(mg_scale_names "$n")
	MG_SCALE_BALLAST=1 mg_scale_define_start "$tb" mg-src "${doms[@]}"
	mg_scale_migrate_all "$tb" "${doms[@]}"
	mg_guard_wait_log gsrc 30 "domain instance-[0-9a-f]+: outgoing migration tracked" "$n"
	mg_scale_watch_hangs_start "$hangs" 60 "${doms[@]}"
	mg_scale_stall "$tb" "${doms[@]}"
	mg_scale_watch_hangs_wait "$hangs" "${doms[@]}"
	mg_scale_watch_recovered "$hangs" "${MG_SCALE_RECOVER_WAIT:-60}" "${doms[@]}"
	# Every `virsh migrate` returns (libvirt's jobs end) before the count
	# of verdicts, incidents and ladders: a second one would come no later.
	for d in "${doms[@]}"; do
		mg_wait_for 60 "virsh migrate of $d to return" eval "! kill -0 $(cat "$tb/migrate-$d.pid") 2>/dev/null"
	done
	mg_scale_check_incidents gsrc "$MG_TEST_TMP/state-mg-src" "$hangs" "${doms[@]}"
	: >"$out"
	for d in "${doms[@]}"; do
		start=$(mg_scale_kv "$hangs/$d.hang" start)
		inc=$(mgb_log_time gsrc "domain $d: incident written to")
		rec=$(mg_scale_kv "$hangs/$d.recovered" at)
		how=same-qemu
		[[ "$(mg_scale_kv "$hangs/$d.recovered" pid)" == "$(mg_scale_kv "$hangs/$d.hang" pid)" ]] || how=new-qemu
		awk -v d="$d" -v s="$start" -v i="$inc" -v r="$rec" -v h="$how" \
			'BEGIN { printf "%s %d %d %s\n", d, (i - s) * 1000, (r - s) * 1000, h }' >>"$out"
	done
}
