#!/usr/bin/env bash
# The journal catalog (conf/migguard.catalog) against the MESSAGE_IDs of
# the code (daemon/msgid.h), run by `make check`: no root, no network.
#  - every id of msgid.h has exactly one catalog entry and vice versa, so
#    `journalctl -x` explains every message that has an id;
#  - every id of msgid.h is used by some source file, and no source file
#    spells an id itself (one home for the ids);
#  - every entry has Subject:, Defined-By: and Support:;
#  - when journalctl is there, the catalog compiles in a scratch root
#    (`journalctl --root=DIR --update-catalog`) and --dump-catalog lists
#    every id: the check the systemd package's dpkg trigger runs.
set -euo pipefail
src=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
header=$src/daemon/msgid.h
catalog=$src/conf/migguard.catalog
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

code_ids=$(sed -nE 's/^#define (MG_MESSAGE_[A-Z_]+) "([0-9a-f]{32})"$/\2/p' "$header" | sort)
cat_ids=$(sed -nE 's/^-- ([0-9a-f]{32})$/\1/p' "$catalog" | sort)
[[ -n $code_ids ]] || bad "no MG_MESSAGE_* ids found in $header"
# A "-- " line that is not a well-formed id would be skipped above.
if grep -nE '^-- ' "$catalog" | grep -vE '^[0-9]+:-- [0-9a-f]{32}$'; then
	bad "malformed entry line(s) in $catalog (want '-- ' and 32 lower-case hex digits)"
fi
dups=$(printf '%s\n' "$code_ids" | uniq -d)
[[ -z $dups ]] || bad "ids defined twice in msgid.h: $dups"
dups=$(printf '%s\n' "$cat_ids" | uniq -d)
[[ -z $dups ]] || bad "ids with two catalog entries: $dups"
missing=$(comm -23 <(printf '%s\n' "$code_ids" | sort -u) <(printf '%s\n' "$cat_ids" | sort -u))
[[ -z $missing ]] || bad "ids of msgid.h without a catalog entry: $missing"
extra=$(comm -13 <(printf '%s\n' "$code_ids" | sort -u) <(printf '%s\n' "$cat_ids" | sort -u))
[[ -z $extra ]] || bad "catalog entries for ids the code does not define: $extra"

# Every constant is used; no id is spelled outside the header.
sources=$(find "$src/daemon" "$src/cli" "$src/plugins" -name '*.[ch]' ! -name msgid.h)
for name in $(sed -nE 's/^#define (MG_MESSAGE_[A-Z_]+) .*/\1/p' "$header"); do
	# shellcheck disable=SC2086 # word splitting of the file list is wanted
	grep -qw "$name" $sources || bad "$name is defined in msgid.h but never used"
done
# shellcheck disable=SC2086
if grep -nE '"[0-9a-f]{32}"' $sources; then
	bad "an id spelled outside daemon/msgid.h (above): define it there"
fi

# Each entry's headers (the lines up to the first blank one).
awk '
	/^-- / { if (id) check(); id = $2; hdr = 1; subj = def = sup = 0; next }
	hdr && /^$/ { hdr = 0; next }
	hdr && /^Subject: ./ { subj = 1 }
	hdr && /^Defined-By: ./ { def = 1 }
	hdr && /^Support: ./ { sup = 1 }
	function check() {
		if (!subj || !def || !sup) { print "FAIL: entry " id " lacks Subject:, Defined-By: or Support:"; bad = 1 }
	}
	END { if (id) check(); exit bad }
' "$catalog" >&2 || fail=1

if command -v journalctl >/dev/null 2>&1; then
	root=$(mktemp -d)
	trap 'rm -rf "$root"' EXIT
	mkdir -p "$root/usr/lib/systemd/catalog"
	cp "$catalog" "$root/usr/lib/systemd/catalog/migguard.catalog"
	if ! journalctl --root="$root" --update-catalog >"$root/update.log" 2>&1; then
		cat "$root/update.log" >&2
		bad "journalctl --update-catalog rejected the catalog"
	else
		# journalctl only warns (and drops the entry) on a malformed one.
		if grep -i "migguard.catalog" "$root/update.log" >&2; then
			bad "journalctl --update-catalog warned about the catalog (above)"
		fi
		journalctl --root="$root" --dump-catalog >"$root/dump" 2>&1 || true
		for id in $code_ids; do
			grep -q "^-- $id" "$root/dump" || bad "$id missing from journalctl --dump-catalog"
		done
	fi
else
	echo "journalctl not found: the compiled-catalog check is skipped" >&2
fi
exit $fail
