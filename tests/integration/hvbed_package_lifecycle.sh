# timeout: 600
# migguard's Debian package through its whole life on a hypervisor of the
# bed (tests/hvbed/, checklist in tests/hvbed/PACKAGE-CHECKS.md), under the
# host's real systemd and dpkg:
#   install  - enabled and started by the package's own maintainer scripts
#              (Type=notify: active once READY=1), state and runtime dirs,
#              the conffile, the journal catalog compiled by systemd's
#              trigger, the CLI, the man pages, the plugin header;
#   upgrade  - to a rebuilt .deb with a higher version: a locally modified
#              conffile kept without a prompt, an incident kept byte for
#              byte, the daemon restarted on the new binary;
#   remove   - the daemon gone, incidents and conffile kept;
#   purge    - /var/lib/migguard, /etc/migguard and the enablement gone;
#   reinstall- enabled and active again with a fresh default config.
# v1 comes from mg_hvbed_debs (MG_DEB_DIR, or built here); v2 is always
# built here (MG_DEB_VERSION=...+test1, nocheck).
source "$MG_SRCDIR/tests/lib/common.sh"
source "$MG_SRCDIR/tests/hvbed/hvbed.sh"

mg_hvbed_debs
v1dir=$MG_HVBED_DEB_DIR
v1=$(dpkg-deb -f "$(ls "$v1dir"/migguard_*.deb | head -1)" Version)
v2=$v1+test1
DEB_BUILD_OPTIONS=nocheck MG_DEB_VERSION=$v2 "$MG_SRCDIR/scripts/build-deb.sh" "$MG_TEST_TMP/v2" >/dev/null ||
	mg_fail "building v2 ($v2)"

bed=$MG_TEST_TMP/hvbed
mg_hvbed_up "$bed"
h=hv-src
x() { mg_hvbed_exec "$h" "$@"; }
root=$(mg_hvbed_root "$h")
active() { [[ "$(x systemctl is-active migguardd.service)" == active ]]; }
status_of() { x dpkg-query -W -f='${Status}' migguard 2>/dev/null || true; }
main_pid() { x systemctl show -p MainPID --value migguardd.service; }

# 1. Install.
mg_hvbed_install_deb "$h" "$v1dir"/migguard_*.deb "$v1dir"/migguard-dev_*.deb
[[ "$(status_of)" == "install ok installed" ]] || mg_fail "install: status '$(status_of)'"
[[ "$(x systemctl is-enabled migguardd.service)" == enabled ]] || mg_fail "install: the unit is not enabled"
mg_wait_for 10 "migguardd.service active after install" active
[[ -n "$(x systemctl show -p StatusText --value migguardd.service)" ]] || mg_fail "install: no StatusText (READY/STATUS)"
for d in /var/lib/migguard /var/lib/migguard/incidents; do
	[[ "$(x stat -c '%a %U' "$d")" == "700 root" ]] || mg_fail "install: $d is $(x stat -c '%a %U' "$d" 2>&1)"
done
x test -d /run/migguard/qmp || mg_fail "install: no /run/migguard/qmp"
x dpkg-query -W -f='${Conffiles}' migguard | grep -q '/etc/migguard/migguard.conf' ||
	mg_fail "install: /etc/migguard/migguard.conf is not a conffile"
hung_id=$(sed -n 's/.*MG_MESSAGE_HUNG "\([0-9a-f]\{32\}\)".*/\1/p' "$MG_SRCDIR/daemon/msgid.h" | head -1)
[[ -n $hung_id ]] || mg_fail "no MG_MESSAGE_HUNG in daemon/msgid.h"
# Read whole first: under pipefail, grep -q leaving at the match made
# journalctl die of SIGPIPE and the pipeline fail (seen in CI).
x journalctl --dump-catalog >"$MG_TEST_TMP/catalog.txt" ||
	mg_fail "install: journalctl --dump-catalog failed"
grep -q "^-- $hung_id" "$MG_TEST_TMP/catalog.txt" ||
	mg_fail "install: the journal catalog was not compiled (no entry $hung_id in journalctl --dump-catalog)"
status_ok() { x migguard status >/dev/null 2>&1; }
mg_wait_for_quiet 10 status_ok || mg_fail "install: migguard status: $(x migguard status 2>&1; echo "exit $?")"
x test -f /usr/share/man/man8/migguardd.8.gz || mg_fail "install: no migguardd(8)"
x test -f /usr/include/migguard/plugin.h || mg_fail "install: no plugin header (migguard-dev)"

# 2. Upgrade, with a local change to the conffile and an incident.
x sh -c 'echo "# local change kept across upgrades" >>/etc/migguard/migguard.conf'
x mkdir -p /var/lib/migguard/incidents/keep-me
x sh -c 'echo "{\"kept\": true}" >/var/lib/migguard/incidents/keep-me/report.json'
before=$(x sha256sum /var/lib/migguard/incidents/keep-me/report.json)
pid1=$(main_pid)
mg_hvbed_install_deb "$h" "$MG_TEST_TMP/v2"/migguard_*.deb "$MG_TEST_TMP/v2"/migguard-dev_*.deb
[[ "$(x dpkg-query -W -f='${Version}' migguard)" == "$v2" ]] || mg_fail "upgrade: version is not $v2"
x grep -q '^# local change kept across upgrades$' /etc/migguard/migguard.conf || mg_fail "upgrade: the local conffile change is gone"
! x sh -c 'ls /etc/migguard/migguard.conf.dpkg-* 2>/dev/null' | grep -q . || mg_fail "upgrade: dpkg left a conffile copy"
[[ "$(x sha256sum /var/lib/migguard/incidents/keep-me/report.json)" == "$before" ]] || mg_fail "upgrade: the incident changed"
mg_wait_for 10 "migguardd.service active after upgrade" active
[[ "$(main_pid)" != "$pid1" ]] || mg_fail "upgrade: the daemon was not restarted (MainPID still $pid1)"
[[ "$(x systemctl is-enabled migguardd.service)" == enabled ]] || mg_fail "upgrade: the unit is no longer enabled"

# 3. Remove.
x env DEBIAN_FRONTEND=noninteractive apt-get remove -y migguard-dev migguard >"$MG_TEST_TMP/remove.out" 2>&1 ||
	{ cat "$MG_TEST_TMP/remove.out" >&2; mg_fail "apt-get remove failed"; }
[[ "$(status_of)" == "deinstall ok config-files" ]] || mg_fail "remove: status '$(status_of)'"
! x pgrep -x migguardd >/dev/null || mg_fail "remove: migguardd still runs"
x test -f /var/lib/migguard/incidents/keep-me/report.json || mg_fail "remove: the incidents are gone"
x grep -q '^# local change' /etc/migguard/migguard.conf || mg_fail "remove: the conffile is gone"

# 4. Purge.
x env DEBIAN_FRONTEND=noninteractive apt-get purge -y migguard >"$MG_TEST_TMP/purge.out" 2>&1 ||
	{ cat "$MG_TEST_TMP/purge.out" >&2; mg_fail "apt-get purge failed"; }
! x test -e /var/lib/migguard || mg_fail "purge: /var/lib/migguard is still there"
! x test -e /etc/migguard || mg_fail "purge: /etc/migguard is still there"
[[ -z "$(status_of)" || "$(status_of)" == "unknown ok not-installed" ]] || mg_fail "purge: status '$(status_of)'"
! x test -e /etc/systemd/system/multi-user.target.wants/migguardd.service || mg_fail "purge: the unit is still enabled"

# 5. Reinstall after purge.
mg_hvbed_install_deb "$h" "$v1dir"/migguard_*.deb
mg_wait_for 10 "migguardd.service active after reinstall" active
! x grep -q '^# local change' /etc/migguard/migguard.conf || mg_fail "reinstall: the purged local change came back"
[[ -z "$(x ls -A /var/lib/migguard/incidents)" ]] || mg_fail "reinstall: old incidents came back"
mg_log "ok: install, upgrade ($v1 -> $v2), remove, purge, reinstall"
