#!/usr/bin/env bash
# Install the Debian packages dkv needs to build and test, if any is missing.
# Idempotent: when everything is present it changes nothing and asks no
# registry. Debian's apt-get is the only source.
set -euo pipefail

packages=(
  build-essential cmake pkg-config  # compiler, build system
  librocksdb-dev                    # the versioned store engine (user-defined timestamps)
  libcmocka-dev                     # unit test framework
  libxxhash-dev                     # xxh3: hashing keys to shards
  libjansson-dev                    # JSON: the cluster map, --output json
  libinih-dev                       # dkvd's INI configuration file
  libuv1-dev                        # dkvd's event loop
  libedit-dev                       # the dkv shell's line editing
  python3 python3-redis             # integration tests (a Redis client)
  redis-server redis-tools          # compatibility tests, benchmarks
  etcd-server etcd-client           # the transaction benchmark's comparison
  golang-go golang-etcd-server-dev  # the etcd driver of make bench (Go, etcd's own client)
  gnuplot-nox                       # make bench's charts
  fiu-utils                         # fault tests: failing fsync and write (libfiu)
  faketime                          # fault tests: skewed clocks (libfaketime)
  iproute2 iptables                 # fault tests: partitions in network namespaces
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
