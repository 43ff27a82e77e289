#!/usr/bin/env bash
# cli_incidents_lists_malformed_reports.sh - `migguard incidents` on a state
# directory where some report.json files are hostile or broken (members of
# the wrong type, nulls, deep nesting, not JSON, not an object, a FIFO, a
# missing file, control bytes): every incident is still listed, a bad one
# as "(malformed)" or "(unreadable)" with its name and the reason on
# stderr; `incidents show` prints what it can and exits 65 (EX_DATAERR)
# naming the bad member; no raw control byte reaches the terminal.
source "$MG_SRCDIR/tests/lib/common.sh"

MG=$MG_BUILDDIR/migguard
state=$MG_TEST_TMP/state
inc=$state/incidents
mkdir -p "$inc"

report() { mkdir -p "$inc/$1"; printf '%s' "$2" >"$inc/$1/report.json"; }
report 20261101T000000Z-good '{"domain":"good","verdict":"hung","pid":12,
	"timeline":[{"at":"2026-11-01T00:00:00.000Z","t_s":1.5,"phase":"finishing","text":"in finish-migrate"}],
	"actions":[{"step":"cancel","at":"2026-11-01T00:00:01.000Z","result":"ok","detail":"migrate_cancel"}],
	"summary":"first line\nsecond line"}'
report 20261102T000000Z-timeline5 '{"domain":"tl","verdict":"hung","pid":1,"timeline":5,"actions":[]}'
report 20261103T000000Z-actionsx '{"domain":"ax","verdict":"hung","pid":1,"actions":"x"}'
report 20261104T000000Z-actionsobj '{"domain":"ao","verdict":"hung","pid":1,"actions":{}}'
report 20261105T000000Z-nulls '{"domain":null,"verdict":null,"pid":null,"actions":null,"timeline":[null,5,{"t_s":"x","text":7}]}'
report 20261106T000000Z-types '{"domain":5,"verdict":["hung"],"pid":"12","actions":[1,"a"]}'
report 20261107T000000Z-deep "$(printf '{"a":%.0s' {1..20000})1$(printf '}%.0s' {1..20000})"
report 20261108T000000Z-notjson 'garbage'
report 20261109T000000Z-array '[1,2]'
report 20261110T000000Z-esc$'\e[31m' '{"domain":"d\u001b]0;x\u0007","verdict":"hung","pid":1,"actions":[],
	"summary":"a\u001b[2Jb","evidence":"\u009b1m","timeline":[{"at":"x","t_s":0,"phase":"p","text":"t\u001bc"}]}'
mkdir "$inc/20261111T000000Z-fifo" && mkfifo "$inc/20261111T000000Z-fifo/report.json"
mkdir "$inc/20261112T000000Z-missing"

has_control() { LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$1"; }

rc=0
timeout 10 "$MG" incidents --state-dir "$state" >"$MG_TEST_TMP/list.out" 2>"$MG_TEST_TMP/list.err" || rc=$?
cat "$MG_TEST_TMP/list.out" "$MG_TEST_TMP/list.err" >&2
((rc == 0)) || mg_fail "incidents list exited $rc"
row() { mg_assert_grep "^20261$1 +$2 +$3 +$4 +$5\$" "$MG_TEST_TMP/list.out"; }
row 101T000000Z-good good hung 12 1
row 102T000000Z-timeline5 tl hung 1 0
row 103T000000Z-actionsx ax '\(malformed\)' 1 '\?'
row 104T000000Z-actionsobj ao '\(malformed\)' 1 '\?'
row 105T000000Z-nulls '\?' '\?' '\?' 0
row 106T000000Z-types '\?' '\(malformed\)' '\?' 2
row 107T000000Z-deep '\?' '\(malformed\)' '\?' '\?'
row 108T000000Z-notjson '\?' '\(malformed\)' '\?' '\?'
row 109T000000Z-array '\?' '\(malformed\)' '\?' '\?'
row '110T000000Z-esc\\x1b\[31m' 'd\\x1b\]0;x\\x07' hung 1 0
row 111T000000Z-fifo '\?' '\(unreadable\)' '\?' '\?'
row 112T000000Z-missing '\?' '\(unreadable\)' '\?' '\?'
mg_assert_grep '^migguard: incident 20261103T000000Z-actionsx: report.json: malformed: "actions" is string, not an array$' "$MG_TEST_TMP/list.err"
mg_assert_grep '^migguard: incident 20261106T000000Z-types: report.json: malformed: "domain" is int, not a string$' "$MG_TEST_TMP/list.err"
mg_assert_grep '^migguard: incident 20261111T000000Z-fifo: report.json: not a regular file$' "$MG_TEST_TMP/list.err"
mg_assert_grep '^migguard: incident 20261112T000000Z-missing: report.json: No such file' "$MG_TEST_TMP/list.err"
for f in list.out list.err; do
	! has_control "$MG_TEST_TMP/$f" || { cat -v "$MG_TEST_TMP/$f" >&2; mg_fail "$f holds a raw control byte"; }
done

# show ID: exit status, the bad member named, the rest still printed.
show() {
	local id=$1 want=$2 rc=0
	timeout 10 "$MG" incidents --state-dir "$state" show "$id" >"$MG_TEST_TMP/show.out" 2>"$MG_TEST_TMP/show.err" || rc=$?
	cat "$MG_TEST_TMP/show.out" "$MG_TEST_TMP/show.err" >&2
	((rc == want)) || mg_fail "incidents show $id exited $rc, not $want"
	! has_control "$MG_TEST_TMP/show.out" && ! has_control "$MG_TEST_TMP/show.err" ||
		mg_fail "incidents show $id printed a raw control byte"
}
show 20261101T000000Z-good 0
mg_assert_grep '^  2026-11-01T00:00:00.000Z  \+   1.50s  finishing  in finish-migrate$' "$MG_TEST_TMP/show.out"
mg_assert_grep '^  2026-11-01T00:00:01.000Z  cancel +ok +migrate_cancel$' "$MG_TEST_TMP/show.out"
mg_assert_grep '^second line$' "$MG_TEST_TMP/show.out"
show 20261102T000000Z-timeline5 65
mg_assert_grep '^Timeline: \(malformed\)$' "$MG_TEST_TMP/show.out"
mg_assert_grep '^  verdict    hung$' "$MG_TEST_TMP/show.out"
mg_assert_grep 'report.json: malformed: "timeline" is int, not an array$' "$MG_TEST_TMP/show.err"
show 20261103T000000Z-actionsx 65
mg_assert_grep '^Actions: \(malformed\)$' "$MG_TEST_TMP/show.out"
show 20261105T000000Z-nulls 65
mg_assert_grep 'malformed: "timeline\[0\]" is null, not an object$' "$MG_TEST_TMP/show.err"
show 20261106T000000Z-types 65
show 20261104T000000Z-actionsobj 65
show 20261108T000000Z-notjson 65
mg_assert_grep 'report.json: malformed \(not a JSON object\)$' "$MG_TEST_TMP/show.err"
show 20261107T000000Z-deep 65
show 20261111T000000Z-fifo 1
mg_assert_grep 'report.json: not a regular file$' "$MG_TEST_TMP/show.err"
show 20261110T000000Z-esc 0
mg_assert_grep '^  domain     d\\x1b\]0;x\\x07 \(uuid -\)$' "$MG_TEST_TMP/show.out"
mg_assert_grep '^  evidence   \\xc2\\x9b1m$' "$MG_TEST_TMP/show.out"
mg_assert_grep '^a\\x1b\[2Jb$' "$MG_TEST_TMP/show.out"
mg_assert_grep ' p +t\\x1bc$' "$MG_TEST_TMP/show.out"
