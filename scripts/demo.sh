#!/usr/bin/env bash
# The main job, from a fresh checkout: install what is missing, configure and
# build `build/`, then run the ring demo: a producer process and an exec'd
# consumer process exchange 1,000,000 checksummed messages (single writes and
# batches) and 20,000 latency probes through one shared-memory ring under
# /dev/shm (removed at the end). Exit status 0 means every message arrived
# intact and in order. SHMQ_BUILD_DIR picks another build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${SHMQ_BUILD_DIR:-build}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

scripts/setup.sh

if [ ! -f "$B/build.ninja" ]; then
  echo "demo: configuring $B/ (meson setup $B)" >&2
  meson setup "$B" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi
echo "demo: building the demo (ninja -C $B shm/shmq-ring-demo)" >&2
ninja -C "$B" shm/shmq-ring-demo >"$log" 2>&1 || { cat "$log" >&2; exit 1; }

"$B/shm/shmq-ring-demo" "$@"
