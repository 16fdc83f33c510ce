#!/usr/bin/env bash
# Installs the Debian 12 packages shmq builds and tests with, when missing.
# Needs root only when something is missing. Safe to run repeatedly.
set -euo pipefail

PKGS=(
  build-essential pkg-config meson ninja-build python3
  clang llvm libclang-rt-14-dev      # libFuzzer targets, llvm-symbolizer
  libdpdk-dev dpdk                   # rte_ring reference, dpdk_net
  libsodium-dev                      # dpdk_net session HMAC (HMAC-SHA256)
  libbpf-dev bpftool                 # ebpf/
  libmicrohttpd-dev                  # ebpf/: shmq-probe's /metrics
  prometheus                         # tests/ebpf: a real server scrapes shmq-probe
  liburcu-dev libcmocka-dev
  libiniparser-dev libjson-c-dev     # broker config (INI), topic metadata (JSON)
  libzmq3-dev                        # shmq-bench e2e: ZeroMQ ipc peer
  systemtap-sdt-dev                  # USDT probes
  util-linux procps                  # mount (disk-full tests), pgrep
  iproute2                           # ip netns / veth pairs of the DPDK and remote tests
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "setup: run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
