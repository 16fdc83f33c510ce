#!/usr/bin/env bash
# docs/examples/example.c (the program of docs/api.md) against a real shmqd
# (suite `integration`). Env: SHMQD, SHMQCTL, SHMQ_EXAMPLE (set by meson). 77 = skipped.
# The program must send 30 messages three ways, consume all 30 and exit 0 —
# twice, since its consumer starts at LATEST and the topic already exists the
# second time.
set -uo pipefail
if [ -z "${SHMQD:-}" ] || [ -z "${SHMQCTL:-}" ] || [ -z "${SHMQ_EXAMPLE:-}" ] ||
   [ ! -x "$SHMQD" ] || [ ! -x "$SHMQCTL" ] || [ ! -x "$SHMQ_EXAMPLE" ]; then
  echo "SHMQD/SHMQCTL/SHMQ_EXAMPLE not set or not executable: skipped"
  exit 77
fi
tmp=$(mktemp -d /tmp/shmq-example-test.XXXXXX)
rings=$(mktemp -d /dev/shm/shmq-example-test.XXXXXX)
broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -KILL "$broker_pid" 2>/dev/null
    wait "$broker_pid" 2>/dev/null
  fi
  rm -rf "$tmp" "$rings"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -n 40 "$tmp/shmqd.log" 2>/dev/null; exit 1; }

# docs/api.md shows the program verbatim: keep the two the same.
if [ -n "${SHMQ_EXAMPLE_SRC:-}" ] && [ -n "${SHMQ_API_MD:-}" ]; then
  python3 - "$SHMQ_EXAMPLE_SRC" "$SHMQ_API_MD" <<'PY' || fail "docs/api.md does not hold docs/examples/example.c verbatim"
import sys
src, md = (open(p, encoding="utf-8").read() for p in sys.argv[1:3])
sys.exit(0 if "```c\n" + src + "```" in md else 1)
PY
  echo "ok - docs/api.md holds the example verbatim"
fi

"$SHMQD" --base-dir "$tmp" --ring-dir "$rings" --segment-size 16M --ring-capacity 1M \
  --max-message-size 64K 2>"$tmp/shmqd.log" &
broker_pid=$!
for i in $(seq 100); do
  "$SHMQCTL" --socket "$tmp/shmqd.sock" status >/dev/null 2>&1 && break
  kill -0 "$broker_pid" 2>/dev/null || { broker_pid=""; fail "the broker exited at start"; }
  [ "$i" = 100 ] && fail "the broker did not answer in 10 s"
  sleep 0.1
done
for run in 1 2; do
  timeout 60 "$SHMQ_EXAMPLE" "$tmp/shmqd.sock" example >"$tmp/run$run.out" 2>&1
  st=$?
  cat "$tmp/run$run.out"
  [ "$st" = 0 ] || fail "run $run: exit $st"
  grep -q '^consumed 30 of 30 messages$' "$tmp/run$run.out" || fail "run $run: not every message came back"
  [ "$(grep -c '^sent: queue [0-9]* offset [0-9]* id [0-9A-F]\{32\}$' "$tmp/run$run.out")" = 10 ] ||
    fail "run $run: 10 'sent:' lines with offset and id expected"
  [ "$(grep -c '^async: ' "$tmp/run$run.out")" = 10 ] || fail "run $run: 10 async completions expected"
  awk '/^batch: 10 messages to queue [0-9]+, offsets [0-9]+\.\.[0-9]+$/ { split($NF, o, /\.\./); ok = (o[2] - o[1] == 9) }
       END { exit !ok }' "$tmp/run$run.out" || fail "run $run: batch offsets are not 10 consecutive ones"
  [ "$(grep -c 'origin=example' "$tmp/run$run.out")" = 10 ] || fail "run $run: the property came back 10 times"
  echo "ok - run $run"
done
kill -TERM "$broker_pid"
wait "$broker_pid"; st=$?
broker_pid=""
[ "$st" = 0 ] || fail "broker exit status $st"
echo "ok - example program, twice; broker stopped cleanly"
