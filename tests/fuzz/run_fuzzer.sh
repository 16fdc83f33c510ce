#!/usr/bin/env bash
# run_fuzzer.sh <fuzzer> <seed corpus dir>: fuzz for SHMQ_FUZZ_SECONDS from a
# scratch copy of the corpus (the checked-in corpus is never modified).
set -euo pipefail
exe=$(realpath "$1") seeds=$(realpath "$2")
secs=${SHMQ_FUZZ_SECONDS:-30}
work=$(mktemp -d /tmp/shmq-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds"/. "$work/"
cd "$work"
exec "$exe" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$work"
