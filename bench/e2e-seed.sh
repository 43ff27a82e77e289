# bench/e2e-seed.sh - the --seed scenario of bench/e2e (sourced by it, after
# its option parsing, MG_TEST_TMP and bench_cleanup): the seed's deadlock
# on the seeded QEMU, hang start (outside the guard) to incident and to
# recovered.  See bench/e2e's header.
source "$MG_SRCDIR/tests/lib/qemu.sh"
RECOVER_GRACE_MS=3000

mg_e2e_seeded_qemu
export MG_TESTBED_EMULATOR=$MG_SEED_DIR/qemu-system-x86_64 MG_TESTBED_NBD_DELAY=200ms
tb=$MG_TEST_TMP/tb dom=seed
mg_log "bringing up the two-host test bed in $tb (artefacts kept on failure or with MGB_KEEP=1)"
mg_e2e_up "$tb"
mg_e2e_guard_conf mg-src "$MG_TEST_TMP/src.conf" guard.probe_interval=${PROBE_INTERVAL_MS}ms \
	guard.monitor_timeout=${MONITOR_TIMEOUT_MS}ms guard.finish_timeout=${FINISH_TIMEOUT_MS}ms \
	guard.action=recover guard.recover_grace=${RECOVER_GRACE_MS}ms guard.restart=yes
mg_e2e_guard_start mg-src gsrc "$MG_TEST_TMP/src.conf"
glog=$(mg_guard_log gsrc)
mg_e2e_define_busy "$tb" mg-src "$dom"
tq=$(mg_testbed_test_qmp mg-src "$dom")
count() { grep -c -- "$1" "$glog" 2>/dev/null || true; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 + 0.5 }'; }

inc_ms=() rec_ms=() nohang=0 attempts=0
while ((${#inc_ms[@]} < N)); do
	((attempts < 3 * N)) || mg_fail "only ${#inc_ms[@]} hangs in $attempts migrations"
	attempts=$((attempts + 1))
	qpid=$(mg_libvirt_qemu_pid mg-src "$dom")
	n_inc=$(count "domain $dom: incident written to")
	lines=$(mg_testbed_serial_lines mg-src "$dom")
	mg_testbed_migrate_bg "$tb" "$dom"
	mg_e2e_seed_watch "$qpid" "$tq" "$MG_MIGRATE_PID" 90
	case $MG_SEED_RESULT in
	completed)
		nohang=$((nohang + 1))
		mg_log "migration $attempts: completed (did not hang)"
		mg_virsh mg-dst destroy "$dom" >/dev/null || mg_fail "virsh destroy $dom on mg-dst"
		mg_virsh mg-src start "$dom" >/dev/null || mg_fail "virsh start $dom on mg-src"
		mg_testbed_wait_writing_after mg-src "$dom" "$lines" 90 "the guest writing again"
		continue ;;
	hung) ;;
	*) mg_fail "migration $attempts: $MG_SEED_RESULT ($MG_SEED_DETAIL)" ;;
	esac
	h0=$MG_SEED_HANG_START
	deadline=$((SECONDS + 60))
	until (($(count "domain $dom: incident written to") > n_inc)); do
		((SECONDS < deadline)) || { tail -n 40 "$glog" >&2; mg_fail "no incident within 60 s of the hang"; }
		sleep 0.02
	done
	t_inc=$EPOCHREALTIME
	running_again() {
		local p; p=$(mg_libvirt_qemu_pid mg-src "$dom")
		[[ -n $p && $p != "$qpid" && "$(mg_libvirt_domstate mg-src "$dom")" == running* ]]
	}
	deadline=$((SECONDS + 60))
	until running_again; do
		((SECONDS < deadline)) || { tail -n 40 "$glog" >&2; mg_fail "not running again 60 s after the hang"; }
		sleep 0.02
	done
	t_rec=$EPOCHREALTIME
	inc_ms+=("$(ms "$h0" "$t_inc")") rec_ms+=("$(ms "$h0" "$t_rec")")
	mg_log "hang ${#inc_ms[@]}: incident +${inc_ms[-1]} ms, running again +${rec_ms[-1]} ms"
	mg_wait_for 30 "virsh migrate to end" eval "! kill -0 $MG_MIGRATE_PID 2>/dev/null"
	mg_testbed_wait_writing_after mg-src "$dom" "$lines" 90 "the restarted guest writing"
done

stats() { sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2 + 0.5); printf "min %d  median %d  max %d", a[1], m, a[NR] }'; }
echo
echo "end-to-end, the seed's deadlock (lock cycle BQL <-> AioContext lock), two libvirt hosts"
echo "guard: probe_interval=${PROBE_INTERVAL_MS}ms monitor_timeout=${MONITOR_TIMEOUT_MS}ms finish_timeout=${FINISH_TIMEOUT_MS}ms action=recover recover_grace=${RECOVER_GRACE_MS}ms restart=yes"
echo "QEMU: $MG_SEED_DIR ($(sed -n 's/^cflags: //p' "$MG_SEED_DIR/build-info")); $(nproc) CPUs; TCG guest"
echo "hang start = first sample, polled every 50 ms from outside the guard, of live_migration and IO iothread1 in futex without running"
echo
printf '%5s  %12s  %14s\n' hang "incident ms" "recovered ms"
for ((i = 0; i < N; i++)); do printf '%5d  %12d  %14d\n' $((i + 1)) "${inc_ms[$i]}" "${rec_ms[$i]}"; done
echo
echo "hang -> incident:  $(printf '%s\n' "${inc_ms[@]}" | stats) ms   (N=$N)"
echo "hang -> recovered: $(printf '%s\n' "${rec_ms[@]}" | stats) ms"
echo "migrations: $attempts, of which $nohang completed without hanging"
bound=$((FINISH_TIMEOUT_MS + PROBE_INTERVAL_MS + 1000))
rbound=$((FINISH_TIMEOUT_MS + RECOVER_GRACE_MS + 10000))
BENCH_OK=1
maxi=$(printf '%s\n' "${inc_ms[@]}" | sort -n | tail -1) maxr=$(printf '%s\n' "${rec_ms[@]}" | sort -n | tail -1)
echo "bounds: incident <= finish_timeout + probe_interval + 1 s = $bound ms; recovered <= finish_timeout + recover_grace + 10 s = $rbound ms"
if ((maxi <= bound && maxr <= rbound)); then echo "PASS"; else echo "FAIL"; exit 1; fi
