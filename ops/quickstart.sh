#!/usr/bin/env bash
# keytrail quickstart: installs the dependencies, builds ktd and ktctl
# (Release, build/quickstart), (re)starts a development node in the
# background and walks through the escrow story with ktctl:
#
#   1. Alice enrols her phone (a dev registrar token) and adds her laptop;
#   2. Bob looks Alice up and gets a VERIFIED answer (checkpoint signature,
#      consistency, VRF, map proof, commitment);
#   3. the operator inserts a forwarding device into Alice's account
#      through the Admin service, with a reason;
#   4. Bob's lookup shows that device with provenance "operator";
#   5. Alice's monitor flags it (ktctl exit code 4).
#
# Run it again at will: the node is restarted on the same data directory
# and every run uses fresh demo accounts.  The node keeps running after the
# script; it prints how to stop it.  Needs root or sudo only to install
# missing Debian packages (ops/install-deps.sh).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build/quickstart
data=$build/data
pidfile=$build/ktd.pid
outfile=$build/ktd.out
logfile=$build/ktd.log
port=7600
jobs=$(nproc 2>/dev/null || echo 2)

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

# ---- dependencies and build ---------------------------------------------

say "installing dependencies (ops/install-deps.sh)"
"$top/ops/install-deps.sh"

say "building ktd and ktctl (Release, $build)"
mkdir -p "$build"
if ! cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKT_BUILD_TESTS=OFF \
     >"$build/configure.log" 2>&1; then
  tail -n 40 "$build/configure.log"
  die "cmake configure failed (full log: $build/configure.log)"
fi
if ! cmake --build "$build" --target ktd ktctl -j"$jobs" >"$build/build.log" 2>&1; then
  tail -n 60 "$build/build.log"
  die "build failed (full log: $build/build.log)"
fi
ktd=$build/server/ktd
ktctl=$build/client/ktctl/ktctl
if [ ! -x "$ktd" ] || [ ! -x "$ktctl" ]; then
  die "ktd or ktctl missing after the build"
fi

# ---- the development node -------------------------------------------------

# A pid file is ours only if that process is a ktd on our data directory.
our_node() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--data-dir $data"
}

stop_node() {
  local pid=$1 _
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "ktd (pid $pid) did not stop within 30 s"
}

# Starts ktd on $1 and waits for its start lines; prints the address it
# listens on.  Returns 1 if it exited (e.g. the address is in use).
start_node() {
  local listen=$1 pid _
  : >"$outfile"
  nohup "$ktd" --dev --listen "$listen" --data-dir "$data" \
    >"$outfile" 2>>"$logfile" </dev/null &
  pid=$!
  for _ in $(seq 1 300); do
    if grep -q '^ktd: dev admin token file: ' "$outfile"; then
      echo "$pid" >"$pidfile"
      sed -n 's/^ktd: listening on //p' "$outfile"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.1
  done
  kill -TERM "$pid" 2>/dev/null || true
  die "ktd did not start within 30 s (log: $logfile)"
}

if [ -f "$pidfile" ]; then
  old=$(cat "$pidfile" 2>/dev/null || true)
  if our_node "$old"; then
    say "restarting the running dev node (pid $old) with the new build"
    stop_node "$old"
  fi
  rm -f "$pidfile"
fi

listen=127.0.0.1:$port
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "port $port is taken: letting the kernel pick a free one"
  listen=127.0.0.1:0
fi
say "starting ktd --dev --listen $listen --data-dir $data"
if ! addr=$(start_node "$listen"); then
  addr=
  if [ "$listen" != 127.0.0.1:0 ]; then
    tail -n 1 "$logfile"
    echo "ktd could not start on $listen: trying 127.0.0.1:0 (a free port)"
    addr=$(start_node 127.0.0.1:0) || addr=
  fi
  [ -n "$addr" ] || { tail -n 20 "$logfile" >&2; die "ktd failed to start (log: $logfile)"; }
fi
pid=$(cat "$pidfile")
echo "ktd (pid $pid) is listening on $addr; its stdout:"
sed 's/^/    /' "$outfile"

trap 'echo "quickstart: failed; the node is still running: kill \$(cat $pidfile)" >&2' ERR

# ---- the demo ------------------------------------------------------------------

export KEYTRAIL_CONFIG=$data/client.conf      # written by ktd --dev
stamp=$(date +%Y%m%d-%H%M%S)-$$
demo=$build/demo-$stamp
mkdir -p "$demo"
alice="mailto:alice-$stamp@example.org"
# Shows the command (arguments with blanks or shell characters quoted), runs it.
run() {
  local a q="'"
  printf '\n$ ktctl'
  for a in "$@"; do
    if [[ $a =~ [^A-Za-z0-9_./:@+=,-] ]]; then
      printf " '%s'" "${a//$q/$q\\$q$q}"
    else
      printf ' %s' "$a"
    fi
  done
  printf '\n'
  "$ktctl" "$@"
}

say "Alice creates keys for her phone and her laptop (in $demo)"
cd "$demo"
run keygen --id alice-phone --out alice-phone.key
run keygen --id alice-laptop --out alice-laptop.key

say "Alice enrols her phone as $alice (dev registrar token)"
run --state alice.state enroll --account "$alice" --keys alice-phone.key \
  --push apns:alice-phone --registrar-key "$data/registrar.key"

say "Bob pins the directory's current checkpoint"
run --state bob.state checkpoint

say "Alice's phone adds her laptop"
run --state alice.state add-device --account "$alice" --keys alice-phone.key \
  --device alice-laptop.key --push fcm:alice-laptop

say "Bob looks Alice up: every proof is checked before anything is shown"
run --state bob.state lookup --account "$alice"

say "Alice's monitor: every version so far was authorised by her own devices"
run --state alice.state monitor --account "$alice" --keys alice-phone.key \
  --own alice-laptop.key

say "The operator adds a forwarding device to Alice's account (Admin service)"
run keygen --id forwarder-1 --out forwarder.key
run --state operator.state admin-update --account "$alice" \
  --add-device forwarder.key --kind forwarding \
  --reason "lawful access request #4711 (demo)"

say "Bob's next lookup shows the new device, with provenance operator"
run --state bob.state lookup --account "$alice"

say "Alice's monitor flags it"
rc=0
run --state alice.state monitor --account "$alice" --keys alice-phone.key \
  --own alice-laptop.key || rc=$?
if [ "$rc" -ne 4 ]; then
  die "expected the monitor to exit 4 (alert), it exited $rc"
fi
echo
echo "ktctl monitor exit code: $rc (4 = a version not authorised by Alice's own devices)"

say "Alice changes her phone's push address (a change of her own)"
run --state alice.state set-push --account "$alice" --keys alice-phone.key \
  --push apns:alice-phone-2

say "Bob's lookup still names the forwarding device 'added by: operator'"
out=$(run --state bob.state lookup --account "$alice")
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q 'added by: operator' ||
  die "expected Bob's lookup to show the device added by the operator"

trap - ERR
say "done"
cat <<EOF
The development node keeps running:
  pid        $pid (in $pidfile)
  listening  $addr
  data       $data
             (client.conf, dev keys: registrar.key, admin.token, log.key, vrf.key)
  log        $logfile
  demo files $demo (device keys, trust state files)
Try: KEYTRAIL_CONFIG=$data/client.conf $ktctl --help
Stop the node:
  kill \$(cat $pidfile)
EOF
