#!/bin/sh
# install_test.sh BUILD_DIR CC SANITIZE(0|1)
# Installs the build into a temporary prefix and builds a small program
# against it with `pkg-config --cflags --libs dkv`, as a user would; the
# program must run against the installed library, not the build tree.
set -eu
build=$1
cc=$2
san=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log" >&2
	exit 1
}
pc=$(find "$tmp/prefix" -name dkv.pc | head -n 1)
[ -n "$pc" ] || { echo "dkv.pc not installed" >&2; exit 1; }
for h in dkv.h dkv_err.h dkv_api.h dkv_shardfn.h; do
	[ -f "$tmp/prefix/include/$h" ] || { echo "$h not installed" >&2; exit 1; }
done
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
unset PKG_CONFIG_LIBDIR || true
libdir=$(pkg-config --variable=libdir dkv)
cflags=$(pkg-config --cflags dkv)
libs=$(pkg-config --libs dkv)
case "$cflags" in *"$tmp/prefix"*) ;; *) echo "bad cflags: $cflags" >&2; exit 1 ;; esac

cat >"$tmp/prog.c" <<'PROG'
#include <dkv.h>
#include <stdio.h>
#include <string.h>

static int cb(void *arg, const void *k, size_t kl, const void *v, size_t vl,
	      uint64_t e)
{
	(void)arg; (void)k; (void)kl; (void)v; (void)vl; (void)e;
	return 0;
}

int main(void)
{
	struct dkv_connect_opts o = { 0 };
	struct dkv_anchor a = DKV_ANCHOR_INIT;
	dkv_client_t *c = NULL;
	dkv_range_cb f = cb;
	int rc;

	o.connect_timeout_ms = 500;
	rc = dkv_connect("127.0.0.1:1", &o, &c);
	if (rc != DKV_ERR_IO || c != NULL)
		return 1;
	(void)f;
	dkv_anchor_fini(&a);
	printf("libdkv %s: %s (%s): %s\n", dkv_version(), dkv_strerror(rc),
	       dkv_errname(rc), dkv_last_error());
	return strcmp(dkv_version(), "") == 0;
}
PROG
sanflags=""
if [ "$san" = "1" ]; then
	sanflags="-fsanitize=address,undefined"
	ASAN_OPTIONS=detect_leaks=0
	export ASAN_OPTIONS
fi
# shellcheck disable=SC2086
"$cc" -std=c99 -Wall -Wextra -Werror -pedantic $sanflags $cflags \
	-o "$tmp/prog" "$tmp/prog.c" $libs -Wl,-rpath,"$libdir"
if command -v c++ >/dev/null 2>&1; then
	# The header is usable from C++ too.
	cat >"$tmp/prog.cc" <<'PROG'
#include <dkv.h>
int main()
{
	dkv_connect_opts o{};
	dkv_anchor a = DKV_ANCHOR_INIT;
	dkv_client_t *c = nullptr;
	int rc = dkv_connect("127.0.0.1:1", &o, &c);
	dkv_anchor_fini(&a);
	return rc == DKV_ERR_IO ? 0 : 1;
}
PROG
	# shellcheck disable=SC2086
	c++ -std=c++11 -fsyntax-only -Wall -Wextra -Werror $cflags "$tmp/prog.cc"
fi
ldd "$tmp/prog" | grep -q "$tmp/prefix/.*libdkv.so.0" || {
	echo "the program does not use the installed libdkv:" >&2
	ldd "$tmp/prog" >&2
	exit 1
}
"$tmp/prog"
