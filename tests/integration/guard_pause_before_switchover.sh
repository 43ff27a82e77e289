# A migration held in finish-migrate (pause-before-switchover, never
# continued) while QEMU still answers: the guard times the phase with
# query-status and declares HUNG at finish_timeout, within one probe
# interval, with the evidence "run state finish-migrate", and writes an
# incident; after migrate_cancel the source runs again and the guard sees
# the migration end.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"
source "$MG_SRCDIR/tests/lib/migguardd.sh"

uri="unix:$MG_TEST_TMP/mig.sock"
mg_qemu_start src
mg_qemu_start_incoming dst "$uri"
src_qmp=$(mg_qemu_qmp src)
conf=$MG_TEST_TMP/g.conf
mg_guard_conf "$conf" "daemon.state_dir=$MG_TEST_TMP/state" "guard.probe_interval=500ms" \
	"guard.monitor_timeout=1s" "guard.finish_timeout=3s"
export MIGGUARD_SIGNATURES_DIR=$MG_SRCDIR/conf/signatures
mg_guard_start g "$conf" --qmp "$(mg_qemu_guard_qmp src)" --pid "$(mg_qemu_pid src)" --name src
mg_guard_wait_log g 10 "direct monitor .* connected"

mg_qmp_cmd "$src_qmp" '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"pause-before-switchover","state":true},{"capability":"events","state":true}]}}' >/dev/null
mg_qemu_migrate "$src_qmp" "$uri"
mg_qmp_wait_migration "$src_qmp" 60 pre-switchover
[[ "$(mg_qmp_status "$src_qmp")" == finish-migrate ]] || mg_fail "source not in finish-migrate"
phase_start=$(date +%s.%N)

mg_guard_wait_log g 15 "migration HUNG: HUNG: finishing for"
detected=$(date +%s.%N)
log=$(mg_guard_log g)
mg_assert_grep "migration finishing: finishing: run state finish-migrate" "$log"
# Seen within one probe interval of the phase start, HUNG at finish_timeout:
# the reported finishing time is finish_timeout plus less than one interval.
secs=$(grep -Eo 'HUNG: finishing for [0-9.]+ s' "$log" | grep -Eo '[0-9.]+' | head -1)
awk -v s="$secs" 'BEGIN { exit !(s >= 3.0 && s < 3.0 + 0.5 + 0.2) }' ||
	mg_fail "HUNG after $secs s in finish-migrate, expected 3 s + < 1 probe interval"
awk -v a="$phase_start" -v b="$detected" 'BEGIN { exit !(b - a < 3.0 + 0.5 + 1.0) }' ||
	mg_fail "HUNG seen $(awk -v a="$phase_start" -v b="$detected" 'BEGIN{print b-a}') s after the phase began"
mg_guard_wait_log g 20 "incident written to"
inc=$(sed -n 's/.*incident written to \([^ ]*\) .*/\1/p' "$log" | head -1)
[[ -f $inc/report.json ]] || mg_fail "no report.json in $inc"
python3 - "$inc/report.json" <<'PY' || mg_fail "report.json lacks the verdict or evidence"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "hung", r["verdict"]
assert "finish-migrate" in r["evidence"], r["evidence"]
assert any("HUNG" in e["text"] for e in r["timeline"])
PY

mg_qmp_cmd "$src_qmp" '{"execute":"migrate_cancel"}' >/dev/null
mg_qmp_wait_status "$src_qmp" 20 running
mg_guard_wait_log g 10 "migration cancelled after"
grep -c "migration HUNG" "$log" | grep -qx 1 || mg_fail "HUNG reported more than once"
mg_guard_stop g
