#!/bin/sh
# Kept histories (tests/chaos/cases/): each must get the verdict its name
# gives. register-lost-update-*: real runs of the register workload under
# kill+pause and pause where dkv (before the fix in src/server/rcache.h,
# rule 4) let a compare-and-set succeed over a concurrent
# acknowledged SET (tests/chaos/README.md, "Found"); the checker must keep
# flagging them (exit 1 of dkv-lincheck).
# Usage: check_cases.sh BINDIR
set -u
bindir=$1
dir=$(dirname "$0")/cases
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
rc=0
for f in "$dir"/register-*.json.gz; do
	zcat "$f" > "$tmp" || exit 2
	"$bindir/dkv-lincheck" "$tmp" > /dev/null
	got=$?
	case "$f" in
	*lost-update*) want=1 ;;
	*) want=0 ;;
	esac
	if [ "$got" -ne "$want" ]; then
		echo "$f: dkv-lincheck exited $got, expected $want"
		rc=1
	else
		echo "$f: exit $got as expected"
	fi
done
exit $rc
