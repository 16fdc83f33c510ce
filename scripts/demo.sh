#!/usr/bin/env bash
# The main job, from a fresh checkout: install what is missing, configure and
# build `build/`, then the quickstart:
#   1. start the broker `shmqd` on its embedded default config, except that its
#      base directory (store, control socket) is a fresh temporary directory and
#      its rings live in a fresh directory under /dev/shm;
#   2. wait until it answers (`shmqctl status`), create topic `demo` (4 queues)
#      with `shmqctl topic create`;
#   3. run a consumer process and a producer process (`shmq-demo`, the public
#      libshmq API): the producer sends SHMQ_DEMO_MESSAGES (default 50000)
#      messages at SHMQ_DEMO_RATE per second (default 50000), each carrying its
#      send time; the consumer prints how many it got, the first and last one
#      and the one-way latency it saw (p50/p99/p99.9/max);
#   4. show the group's progress (`shmqctl group progress`), stop the broker
#      with SIGTERM by its PID, check that it exited 0, remove both directories.
# Exit status 0 means every message arrived once, in order per queue, and the
# broker stopped cleanly.
#
#   scripts/demo.sh --ring [ARGS]   the earlier ring-only demo (shmq-ring-demo:
#                                   two processes, one shared-memory ring, no broker)
# SHMQ_BUILD_DIR picks another build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${SHMQ_BUILD_DIR:-build}
N=${SHMQ_DEMO_MESSAGES:-50000}
RATE=${SHMQ_DEMO_RATE:-50000}
log=$(mktemp)
tmp=""
rings=""
broker_pid=""
consumer_pid=""

cleanup() {
  # Only the processes this script started, by their PIDs.
  [ -n "$consumer_pid" ] && kill "$consumer_pid" 2>/dev/null || true
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$broker_pid" 2>/dev/null || true
  fi
  rm -f "$log"
  [ -n "$tmp" ] && rm -rf "$tmp"
  [ -n "$rings" ] && rm -rf "$rings"
  return 0
}
trap cleanup EXIT

scripts/setup.sh

if [ ! -f "$B/build.ninja" ]; then
  echo "demo: configuring $B/ (meson setup $B)" >&2
  meson setup "$B" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi

if [ "${1:-}" = "--ring" ]; then
  shift
  echo "demo: building the ring demo (ninja -C $B shm/shmq-ring-demo)" >&2
  ninja -C "$B" shm/shmq-ring-demo >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  "$B/shm/shmq-ring-demo" "$@"
  exit $?
fi
if [ $# -gt 0 ]; then
  echo "usage: scripts/demo.sh [--ring [ARGS]]" >&2
  exit 2
fi

echo "demo: building shmqd, shmqctl and shmq-demo (ninja -C $B)" >&2
ninja -C "$B" broker/shmqd client/shmqctl client/shmq-demo >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
SHMQD=$B/broker/shmqd
CTL=$B/client/shmqctl
DEMO=$B/client/shmq-demo

tmp=$(mktemp -d /tmp/shmq-demo.XXXXXX)
rings=$(mktemp -d /dev/shm/shmq-demo.XXXXXX)
sock=$tmp/shmqd.sock

echo "demo: starting the broker: $SHMQD --base-dir $tmp --ring-dir $rings (log: $tmp/shmqd.log)"
"$SHMQD" --base-dir "$tmp" --ring-dir "$rings" 2>"$tmp/shmqd.log" &
broker_pid=$!
for i in $(seq 100); do
  if "$CTL" --socket "$sock" status >/dev/null 2>&1; then break; fi
  if ! kill -0 "$broker_pid" 2>/dev/null; then
    echo "demo: the broker exited; its log:" >&2; cat "$tmp/shmqd.log" >&2; broker_pid=""; exit 1
  fi
  if [ "$i" = 100 ]; then
    echo "demo: the broker did not answer within 10 s; its log:" >&2; cat "$tmp/shmqd.log" >&2; exit 1
  fi
  sleep 0.1
done
echo "demo: broker pid $broker_pid answers on $sock"

echo "demo: \$ shmqctl topic create demo --queues 4"
"$CTL" --socket "$sock" topic create demo --queues 4

echo "demo: starting the consumer process, then the producer process ($N messages at $RATE/s)"
"$DEMO" consume --socket "$sock" --topic demo --group demo-group --count "$N" \
  --ready-file "$tmp/consumer.ready" >"$tmp/consumer.out" 2>&1 &
consumer_pid=$!
for i in $(seq 100); do
  [ -f "$tmp/consumer.ready" ] && break
  if ! kill -0 "$consumer_pid" 2>/dev/null || [ "$i" = 100 ]; then
    echo "demo: the consumer did not join its group:" >&2; cat "$tmp/consumer.out" >&2; exit 1
  fi
  sleep 0.1
done
status=0
"$DEMO" produce --socket "$sock" --topic demo --count "$N" --rate "$RATE" || status=1
wait "$consumer_pid" || status=1
consumer_pid=""
cat "$tmp/consumer.out"

echo "demo: \$ shmqctl group progress demo-group demo"
"$CTL" --socket "$sock" group progress demo-group demo || status=1

echo "demo: stopping the broker (SIGTERM to pid $broker_pid)"
kill -TERM "$broker_pid"
broker_status=0
wait "$broker_pid" || broker_status=$?
broker_pid=""
if [ "$broker_status" != 0 ]; then
  echo "demo: the broker exited with status $broker_status; its log:" >&2
  cat "$tmp/shmqd.log" >&2
  status=1
else
  echo "demo: the broker exited cleanly (status 0)"
fi
if [ "$status" = 0 ]; then
  echo "demo: OK"
else
  echo "demo: FAILED" >&2
fi
exit "$status"
