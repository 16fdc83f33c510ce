#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. build (-Werror) and run the unit, stress, crash and integration suites;
#   2. the same suites again under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. every libFuzzer target (clang) for a bounded time, from its seed corpus.
# Ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1

SUITES=(--suite unit --suite stress --suite crash --suite integration)
FUZZ_SECONDS=${SHMQ_FUZZ_SECONDS:-60}
logs=()
status=0

run() { # run <builddir> <meson setup args...> -- <meson test args...>
  local dir=$1; shift
  local setup=() testargs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do setup+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  testargs=("$@")
  echo "=== $dir: meson setup ${setup[*]}"
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "${setup[@]}" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; status=1; return; }
  else
    meson setup "$dir" "${setup[@]}" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; status=1; return; }
  fi
  ninja -C "$dir" || { status=1; return; }
  echo "=== $dir: meson test ${testargs[*]}"
  meson test -C "$dir" --print-errorlogs "${testargs[@]}" || status=1
  logs+=("$dir/meson-logs/testlog.json")
}

run build -- "${SUITES[@]}"
run build-asan -Db_sanitize=address,undefined -Db_lundef=false -- "${SUITES[@]}"
SHMQ_FUZZ_SECONDS=$FUZZ_SECONDS CC=clang run build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
  -Db_lundef=false -- --suite fuzz

python3 - "${logs[@]}" <<'PY'
import json, sys
p = f = s = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"): p += 1
        elif r == "SKIP": s += 1
        else: f += 1
print(f"{p} passed, {f} failed, {s} skipped")
PY
exit $status
