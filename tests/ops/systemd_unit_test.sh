#!/bin/sh
# Checks ops/systemd/ktd.service offline with systemd-analyze (no running
# systemd needed): `verify` must print nothing at all (an unknown or
# misspelt key is only a warning there, so any message fails the test),
# and `security --offline` must rate the sandbox at most 2.0 ("OK").
#
# usage: systemd_unit_test.sh UNIT KTD [twin]
#   UNIT  the unit file; KTD  the built ktd, substituted for ExecStart's
#   binary (verify checks that it exists and is executable).
#   twin  first adds a misspelt key to the copy: the test must then fail
#         (ctest runs it with WILL_FAIL).
set -eu
unit=$1 ktd=$2 mode=${3:-}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing (ops/install-deps.sh installs systemd)"; exit 1; }
sed "s#^ExecStart=/usr/local/bin/ktd #ExecStart=$ktd #" "$unit" > "$dir/ktd.service"
grep -q "^ExecStart=$ktd " "$dir/ktd.service" || { echo "no ExecStart=/usr/local/bin/ktd line"; exit 1; }
if [ "$mode" = twin ]; then
  sed -i 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/' "$dir/ktd.service"
fi
out=$(cd "$dir" && systemd-analyze verify ./ktd.service 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
  echo "systemd-analyze verify printed:"; echo "$out"; exit 1
fi
score=$(cd "$dir" && systemd-analyze security --offline=yes ./ktd.service 2>&1 |
        sed -n 's/.*Overall exposure level for ktd.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || { echo "no exposure level"; exit 1; }
echo "exposure level $score"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { echo "exposure $score > 2.0"; exit 1; }
echo ok
