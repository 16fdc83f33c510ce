#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The pictures of docs/observability.md from a real run (root, BPF): a
# scratch shmqd, shmq-probe attached to it and to libshmq.so, a shmq-demo
# consumer and producer (default 200000 messages at 50000/s, persisted
# delivery, 4 queues, sampling 1 in 64), then one /metrics scrape rendered by
# ebpf/metrics_to_svg.py. Everything it starts is stopped by its PID; the
# scratch directories are removed.
#
#   ebpf/demo_capture.sh BUILD_DIR OUT_DIR     (e.g. build docs/img)
# writes OUT_DIR/metrics-sample.txt, OUT_DIR/histograms.svg, OUT_DIR/histograms.txt
set -euo pipefail
build=$(realpath "$1")
out=$(realpath "$2")
count=${COUNT:-200000}
# denser histograms than the default 1 in 512 for a short run
export SHMQ_PROBE_SAMPLE=${SHMQ_PROBE_SAMPLE:-64}
rate=${RATE:-50000}
here=$(dirname "$(realpath "$0")")

base=$(mktemp -d /tmp/shmq-capture-XXXXXX)
rings=$(mktemp -d /dev/shm/shmq-capture-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$base" "$rings"
}
trap cleanup EXIT

sock=$base/shmqd.sock
"$build/broker/shmqd" --base-dir "$base" --store-dir "$base/store" --ring-dir "$rings" \
	--control-socket "$sock" --flush-mode async --segment-size 64M 2>"$base/shmqd.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
"$build/client/shmqctl" --socket "$sock" topic create demo --queues 4 >/dev/null

exec 3< <("$build/ebpf/shmq-probe" --binary "$build/broker/shmqd" \
	--binary "$(realpath "$build/client/libshmq.so")" --broker capture \
	--socket "$sock" --group demo-group --port 0 --cleanup)
pids+=($!)
read -r -t 30 ready <&3
port=$(sed -n 's/^ready port=\([0-9]*\).*/\1/p' <<<"$ready")
[ -n "$port" ] || { echo "shmq-probe did not start: $ready" >&2; exit 1; }

"$build/client/shmq-demo" consume --socket "$sock" --topic demo --group demo-group \
	--count "$count" --timeout-s 60 --ready-file "$base/joined" >/dev/null &
cons=$!
pids+=($cons)
for _ in $(seq 100); do [ -e "$base/joined" ] && break; sleep 0.1; done
"$build/client/shmq-demo" produce --socket "$sock" --topic demo --count "$count" \
	--rate "$rate" --delivery persisted >/dev/null
wait "$cons"
sleep 1 # the last flush
curl -s "http://127.0.0.1:$port/metrics" >"$out/metrics-sample.txt"
python3 "$here/metrics_to_svg.py" "$out/metrics-sample.txt" \
	--title "shmq-probe: $count msgs at $rate/s, persisted, 4 queues (log2 buckets)" >"$out/histograms.svg"
python3 "$here/metrics_to_svg.py" --text "$out/metrics-sample.txt" >"$out/histograms.txt"
echo "wrote $out/metrics-sample.txt, histograms.svg, histograms.txt"
