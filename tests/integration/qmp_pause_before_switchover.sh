#!/usr/bin/env bash
# A migration held in finish-migrate by the pause-before-switchover
# capability, on two real QEMUs: the source's run state reads
# finish-migrate while query-migrate reads pre-switchover (the main loop
# still answers), and migrate_cancel gives the source back: running again.
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/lib/qemu.sh"

uri="unix:$MG_TEST_TMP/migrate.sock"
mg_qemu_start_incoming dst "$uri"
mg_qemu_start src
src=$(mg_qemu_qmp src)

mg_qmp_cmd "$src" '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[
	{"capability":"pause-before-switchover","state":true}]}}' >/dev/null
mg_qemu_migrate "$src" "$uri"

mg_qmp_wait_migration "$src" 30 pre-switchover
[[ "$(mg_qmp_status "$src")" == finish-migrate ]] || mg_fail "source not in finish-migrate at pre-switchover"
# It stays there: nothing continues it.
mg_qmp_cmd -t 2 "$src" '{"execute":"query-migrate"}' | grep -q '"pre-switchover"' ||
	mg_fail "migration left pre-switchover on its own"
[[ "$(mg_qmp_status "$src")" == finish-migrate ]] || mg_fail "source left finish-migrate on its own"

mg_qmp_cmd "$src" '{"execute":"migrate_cancel"}' >/dev/null
mg_qmp_wait_migration "$src" 10 cancelled
mg_qmp_wait_status "$src" 10 running
mg_log "pause-before-switchover: finish-migrate/pre-switchover held, cancelled, source running"
