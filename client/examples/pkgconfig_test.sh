#!/bin/sh
# pkgconfig_test.sh — installs libkeytrail (the cmake install component
# "libkeytrail") into a temporary prefix, compiles
# the example against the INSTALLED libkeytrail with pkg-config, runs it.
#   pkgconfig_test.sh BUILD_DIR WORK_DIR CC EXTRA_CFLAGS lookup.c
set -eu
build=$1 work=$2 cc=$3 extra=$4 src=$5
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" --component libkeytrail \
	>"$work/install.log"
pc=$(find "$work/prefix" -name keytrail.pc | head -n 1)
test -n "$pc" || { echo "keytrail.pc not installed"; exit 1; }
test -f "$work/prefix/include/keytrail/keytrail.h"
test -f "$work/prefix/include/keytrail/kt_err.h"
libdir=$(dirname "$(dirname "$pc")")
ls "$libdir"/libkeytrail.so.* >/dev/null
test -f "$libdir/libkeytrail.a"
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs keytrail)
echo "pkg-config: $flags"
# shellcheck disable=SC2086
"$cc" $extra -o "$work/lookup" "$src" $flags
LD_LIBRARY_PATH="$libdir" "$work/lookup" --help | grep -q "usage: lookup"
# The static flags must name every dependency (link check only).
sflags=$(pkg-config --static --libs keytrail)
echo "pkg-config --static: $sflags"
# shellcheck disable=SC2086
"$cc" $extra -o "$work/lookup-static" "$src" $(pkg-config --cflags keytrail) \
	"$libdir/libkeytrail.a" $(echo "$sflags" | sed 's/-lkeytrail//')
"$work/lookup-static" --help | grep -q "usage: lookup"
echo "ok"
