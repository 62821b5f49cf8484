#!/bin/sh
# check_symbols.sh LIBDKV_SO INCLUDE_DIR
# libdkv exports exactly the functions its public headers mark DKV_API:
# nothing of the layers linked into it (map, RESP codec, ...) leaks out.
set -eu
so=$1
inc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Declared: "DKV_API <type> [*]name(" in the installed headers.
cat "$inc/dkv.h" "$inc/dkv_err.h" |
	grep -o 'DKV_API[^(;]*(' |
	sed 's/($//; s/.*[ *]//' | sort -u >"$tmp/declared"
# Exported: defined dynamic symbols (functions and data).
nm -D --defined-only "$so" | awk '{print $3}' | sort -u >"$tmp/exported"

status=0
if ! [ -s "$tmp/declared" ]; then
	echo "no DKV_API declarations found in $inc" >&2
	exit 1
fi
extra=$(comm -13 "$tmp/declared" "$tmp/exported")
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
if [ -n "$extra" ]; then
	echo "exported but not declared DKV_API:" >&2
	echo "$extra" >&2
	status=1
fi
if [ -n "$missing" ]; then
	echo "declared DKV_API but not exported:" >&2
	echo "$missing" >&2
	status=1
fi
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" != "libdkv.so.0" ]; then
	echo "SONAME is '$soname', expected libdkv.so.0" >&2
	status=1
fi
[ $status -eq 0 ] && echo "ok: $(wc -l <"$tmp/exported") symbols, SONAME $soname"
exit $status
