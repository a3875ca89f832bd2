#!/usr/bin/env bash
# Installs every Debian 12 package keytrail needs to build, test and run.
# Idempotent: does nothing when everything is already installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang
  libsodium-dev libcmocka-dev
  libgrpc-dev grpc-proto libprotobuf-c-dev protobuf-c-compiler
  librocksdb-dev libraft-dev libuv1-dev
  python3-grpcio
  # libcrypto headers: integration_tls makes its test CA and certificates at run time
  libssl-dev
  # systemd-analyze: ops_systemd_unit checks ops/systemd/ktd.service
  systemd
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
