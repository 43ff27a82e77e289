# guard.sh - migguard's package under its real unit on the hypervisor bed,
# for the end-to-end tests (tests/integration/hvbed_*.sh).  Source after
# tests/lib/e2e.sh and tests/hvbed/hvbed.sh.
#
# (mg_hvbed_debs, which finds or builds the .debs, is in hvbed.sh.)
# mg_hvbed_guard_conf HOST KEY=VALUE... : writes HOST's
#     /etc/migguard/migguard.conf (the package's conffile) with these keys
#     (section.key=value, as mg_guard_conf).
# mg_hvbed_guard_dropin HOST TEXT [NAME] : writes TEXT as the drop-in
#     /etc/systemd/system/migguardd.service.d/NAME.conf (default mg-test)
#     and runs systemctl daemon-reload.
# mg_hvbed_guards_up KEY=VALUE... : installs the package on both hosts
#     (its maintainer scripts start the unit), writes both configs with
#     these keys, restarts migguardd.service and waits until each is
#     active and connected to qemu:///system (its STATUS=).  With
#     MG_HVBED_GUARD_DROPIN=TEXT set, TEXT is a drop-in (mg-try.conf) on
#     both hosts first: the end-to-end tests under a changed unit, e.g. to
#     try a sandbox directive (tests/hvbed/PACKAGE-CHECKS.md, "Sandbox").
# mg_hvbed_guard_connected HOST : 0 when the unit is active and its status
#     says connected.
# mg_hvbed_glog HOST [ARGS...] : migguardd's journal on HOST, -o cat.
# mg_hvbed_guard_wait_log HOST TIMEOUT ERE : waits for a line of it.
# mg_hvbed_incident HOST DOM : the incident directory (inside HOST) of the
#     "domain DOM: incident written to DIR" line.
# mg_hvbed_guard_pid HOST : the unit's MainPID as the machine sees it.
# mg_hvbed_stall DOM : the storage stall of mg_e2e_stall on the bed: the
#     migration hv-src -> hv-dst started throttled (--bandwidth 1) in the
#     background (MG_MIGRATE_PID, MG_MIGRATE_LOG), once the destination
#     opened the disk and memory flows the NBD server (on the machine) is
#     SIGSTOPped and the bandwidth opened: the source hangs at switch-over.
#     The exit hooks resume the server and end the migration client.
#     In two halves, for a test that acts between them:
#     mg_hvbed_stall_start DOM (the throttled migration, memory flowing)
#     and mg_hvbed_stall_now DOM (server stopped, bandwidth opened).
# mg_hvbed_wait_hang_shape PID : waits (50 ms polls, 30 s) for the first
#     sample of the drain hang's shape (main thread in futex, live_migration
#     in ppoll/poll), without confirming it (mg_e2e_hang_watch does that).
# mg_hvbed_list_fast HOST : `virsh list --all` answers within 5 s; logs
#     the time it took.

mg_hvbed_guard_conf() {
	local h=$1 r; shift
	r=$(mg_hvbed_root "$h") || mg_fail "hypervisor $h is not running"
	mg_guard_conf "$MG_TEST_TMP/$h.conf" "$@"
	install -m 0644 "$MG_TEST_TMP/$h.conf" "$r/etc/migguard/migguard.conf"
}

mg_hvbed_guard_dropin() {
	local h=$1 text=$2 name=${3:-mg-test} r
	r=$(mg_hvbed_root "$h") || mg_fail "hypervisor $h is not running"
	mkdir -p "$r/etc/systemd/system/migguardd.service.d"
	printf '%s\n' "$text" >"$r/etc/systemd/system/migguardd.service.d/$name.conf"
	mg_hvbed_exec "$h" systemctl daemon-reload || mg_fail "$h: systemctl daemon-reload"
}

mg_hvbed_guard_connected() {
	[[ "$(mg_hvbed_exec "$1" systemctl show -p ActiveState --value migguardd.service)" == active ]] &&
		[[ "$(mg_hvbed_exec "$1" systemctl show -p StatusText --value migguardd.service)" == *"connected to qemu:///system"* ]]
}

mg_hvbed_guards_up() {
	local h
	for h in hv-src hv-dst; do
		mg_hvbed_install_deb "$h" "${MG_HVBED_DEBS[@]}"
		mg_hvbed_guard_conf "$h" "$@"
		if [[ -n ${MG_HVBED_GUARD_DROPIN:-} ]]; then
			mg_hvbed_guard_dropin "$h" "$MG_HVBED_GUARD_DROPIN" mg-try
			mg_log "$h: migguardd.service with the drop-in: $(tr '\n' ' ' <<<"$MG_HVBED_GUARD_DROPIN")"
		fi
		mg_hvbed_exec "$h" systemctl restart migguardd.service || {
			mg_hvbed_dump "$h"
			mg_fail "$h: systemctl restart migguardd.service failed"
		}
	done
	for h in hv-src hv-dst; do
		mg_wait_for 15 "migguardd.service on $h active and connected to libvirt" mg_hvbed_guard_connected "$h"
	done
}

mg_hvbed_glog() { local h=$1; shift; mg_hvbed_journal "$h" -u migguardd.service -o cat "$@"; }
mg__hv_glog_has() { mg_hvbed_glog "$1" | grep -E -- "$2" >/dev/null; }
mg_hvbed_guard_wait_log() {
	mg_wait_for "$2" "migguardd on $1 to log /$3/" mg__hv_glog_has "$1" "$3"
}

mg_hvbed_incident() {
	mg_hvbed_glog "$1" | sed -n "s/.*domain $2: incident written to \([^ ]*\) .*/\1/p" | head -1
}

mg_hvbed_guard_pid() {
	local h=$1 inner pid
	inner=$(mg_hvbed_exec "$h" systemctl show -p MainPID --value migguardd.service) || return 1
	[[ -n $inner && $inner != 0 ]] || return 1
	for pid in $(mg__hv_cg_pids "$h"); do
		grep -qE "^NSpid:[[:space:]]+${pid}[[:space:]]+${inner}$" "/proc/$pid/status" 2>/dev/null && { echo "$pid"; return 0; }
	done
	return 1
}

mg__hv_src_sending() {
	timeout 5 virsh -q -c "$(mg_hvbed_uri hv-src)" domjobinfo "$1" 2>/dev/null |
		grep -Eq '^Memory processed: +[0-9.]*[1-9]'
}

mg_hvbed_stall() {
	mg_hvbed_stall_start "$1"
	mg_hvbed_stall_now "$1"
}

mg_hvbed_stall_start() {
	local dom=$1 st=$MG_HVBED_DIR/storage base port
	base=$(mg_nbd_connections "$st")
	port=$(mg__hv_free_port)
	MG_MIGRATE_LOG=$MG_TEST_TMP/migrate-$dom.log
	setsid timeout -k 5 "${MG_MIGRATE_TIMEOUT:-300}" virsh -c "$(mg_hvbed_uri hv-src)" migrate --live --p2p "$dom" \
		"$(mg_hvbed_uri hv-dst)" --migrateuri "tcp://127.0.0.1:$port" --listen-address 127.0.0.1 \
		--bandwidth 1 </dev/null >"$MG_MIGRATE_LOG" 2>&1 &
	MG_MIGRATE_PID=$!
	mg_on_exit "mg_kill_pid $MG_MIGRATE_PID"
	mg_on_exit "mg_nbd_resume $st"
	mg_nbd_wait_connections "$st" $((base + 1)) 60
	mg_wait_for 30 "$dom migrating out of hv-src (memory processed)" mg__hv_src_sending "$dom"
}

# The stall the unstick rung can prove from inside a container: a guest
# request queued unread at the stopped server.  The guard cannot see a
# process of the host's pid namespace (its state T), so when nbdkit is
# stopped after reading the request and before answering (its queue empty)
# the peer looks slow, not stalled, and the rung rightly refuses (seen once
# in CI).  So the server is stopped again until a request waits in its
# queue: the guest writes all the time.
mg__hvbed_nbd_queued() {
	ss -Htn state established "( sport = :$(mg_nbd_port "$1") )" 2>/dev/null | awk '$1 > 0 { q = 1 } END { exit !q }'
}

mg_hvbed_stall_now() {
	local dom=$1 st=$MG_HVBED_DIR/storage tries=0
	while :; do
		mg_nbd_pause "$st"
		tries=$((tries + 1))
		mg_wait_for_quiet 1 mg__hvbed_nbd_queued "$st" && break
		((tries < 20)) || mg_fail "the scenario did not happen: no guest request queued at the stopped NBD server in 20 tries"
		mg_nbd_resume "$st"
	done
	mg_hvbed_virsh hv-src migrate-setspeed "$dom" 100000 || mg_fail "migrate-setspeed"
	mg_log "storage stalled under the migration of $dom (nbdkit $(mg_nbd_pid "$st") stopped with a request queued, try $tries)"
}

mg__hv_hang_shape() {
	local pid=$1 lm t sc
	read -r sc _ <"/proc/$pid/task/$pid/syscall" 2>/dev/null || return 1
	[[ $sc == 202 ]] || return 1
	lm=$(mg__e2e_tid "$pid" live_migration) || return 1
	read -r sc _ <"/proc/$pid/task/$lm/syscall" 2>/dev/null || return 1
	[[ $sc == 271 || $sc == 7 ]]
}
mg_hvbed_wait_hang_shape() {
	mg_wait_for_quiet 30 mg__hv_hang_shape "$1" ||
		mg_fail "the scenario did not happen: QEMU $1 never showed the drain hang (main thread in futex, live_migration in ppoll) within 30 s"
}

mg_hvbed_list_fast() {
	local h=$1 t0
	t0=${EPOCHREALTIME/,/.}
	timeout 5 virsh -q -c "$(mg_hvbed_uri "$h")" list --all >"$MG_TEST_TMP/list-$h" ||
		mg_fail "virsh list --all on $h did not answer within 5 s"
	mg_log "$h: virsh list --all answered in $(mg__hv_el "$t0") s"
}
