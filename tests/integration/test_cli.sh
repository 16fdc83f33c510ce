#!/usr/bin/env bash
# shmqctl against a real shmqd (suite `integration`): every command checked
# against what was produced. Env: SHMQD, SHMQCTL (set by meson). Exit 77 =
# skipped (binaries missing). Each check prints "ok" or "FAIL <what>"; the
# first failure dumps the broker log and exits 1.
set -uo pipefail

if [ -z "${SHMQD:-}" ] || [ -z "${SHMQCTL:-}" ] || [ ! -x "$SHMQD" ] || [ ! -x "$SHMQCTL" ]; then
  echo "SHMQD/SHMQCTL not set or not executable: skipped"
  exit 77
fi
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }

tmp=$(mktemp -d /tmp/shmq-cli-test.XXXXXX)
rings=$(mktemp -d /dev/shm/shmq-cli-test.XXXXXX)
broker_pid=""
fpid=""
cleanup() {
  [ -n "$fpid" ] && kill -KILL "$fpid" 2>/dev/null
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -KILL "$broker_pid" 2>/dev/null
    wait "$broker_pid" 2>/dev/null
  fi
  rm -rf "$tmp" "$rings"
}
trap cleanup EXIT

sock=$tmp/shmqd.sock
checks=0
fail() {
  echo "FAIL: $*"
  echo "--- broker log (tail) ---"
  tail -n 40 "$tmp/shmqd.log" 2>/dev/null
  exit 1
}
ok() { checks=$((checks + 1)); echo "ok $checks - $*"; }
ctl() { "$SHMQCTL" --socket "$sock" "$@"; }
# py EXPR < json: evaluate a python expression over the parsed document `d`
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
expect_exit() { # expect_exit CODE what -- cmd...
  local want=$1 what=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" = "$want" ] || { cat "$tmp/out" "$tmp/err"; fail "$what: exit $got, want $want"; }
  ok "$what (exit $want)"
}
now_ms() { python3 -c 'import time; print(int(time.time()*1000))'; }

"$SHMQD" --base-dir "$tmp" --ring-dir "$rings" --segment-size 16M --ring-capacity 1M \
  --max-message-size 64K --offset-persist-interval-ms 100 2>"$tmp/shmqd.log" &
broker_pid=$!
for i in $(seq 100); do
  ctl status >/dev/null 2>&1 && break
  kill -0 "$broker_pid" 2>/dev/null || { broker_pid=""; fail "the broker exited at start"; }
  [ "$i" = 100 ] && fail "the broker did not answer in 10 s"
  sleep 0.1
done
ok "broker $broker_pid answers"

# --- usage errors: exit 1, nothing asked of the broker ---
expect_exit 1 "no command" -- "$SHMQCTL"
expect_exit 1 "unknown command" -- ctl frobnicate
expect_exit 1 "topic create without a name" -- ctl topic create
expect_exit 1 "topic create --queues 0" -- ctl topic create x --queues 0
expect_exit 1 "consume without --group" -- ctl consume t1
expect_exit 1 "send --delivery bogus" -- ctl send t1 --delivery bogus m
expect_exit 1 "group reset without --to" -- ctl group reset g t1
expect_exit 1 "group reset --to not-a-time" -- ctl group reset g t1 --to 2026-13-01
expect_exit 1 "query with neither --id nor --key" -- ctl query t1
expect_exit 0 "--help" -- ctl --help
expect_exit 0 "send --help" -- ctl send --help
grep -q -- '--sharding-key' "$tmp/out" || fail "send --help does not document --sharding-key"
expect_exit 2 "no broker at the socket" -- "$SHMQCTL" --socket "$tmp/nobody.sock" status

# --- topics ---
expect_exit 0 "topic create t1 --queues 3" -- ctl topic create t1 --queues 3
expect_exit 0 "topic create t1 again, same count" -- ctl topic create t1 --queues 3
expect_exit 2 "topic create t1 with another count" -- ctl topic create t1 --queues 5
expect_exit 2 "topic describe of a missing topic" -- ctl topic describe nosuch
expect_exit 2 "send to a missing topic" -- ctl send nosuch hello
ctl topic create t2 --queues 1 >/dev/null || fail "topic create t2"
q=$(ctl --json topic list | py '",".join("%s:%d" % (t["name"], t["queues"]) for t in d["topics"])') ||
  fail "topic list --json"
[ "$q" = "t1:3,t2:1" ] || fail "topic list: '$q'"
ok "topic list --json: $q"
ctl topic list | grep -Eq '^t1 +3 ' || fail "topic list (text) lacks t1"
ok "topic list (text)"
q=$(ctl topic describe t1 --json | py '(d["name"], d["queues"])') || fail "topic describe --json"
[ "$q" = "('t1', 3)" ] || fail "topic describe: $q"
ok "topic describe --json"

# --- send from arguments (keys, tag, property), then from stdin ---
ctl send t1 --key k1 --tag tagA --prop color=red --prop size=L --json m1 m2 m3 >"$tmp/sendA.json" ||
  fail "send from arguments"
n=$(py 'len([s for s in d["sent"] if s["msg_id"] and s["queue_offset"] is not None])' <"$tmp/sendA.json")
[ "$n" = 3 ] || fail "send from arguments: $n results with id and offset"
ok "send from arguments: 3 ids and offsets"
sleep 0.05
t_mid=$(now_ms)
sleep 0.05
printf 'line one\nline two\n\xc3\xa9t\xc3\xa9\nline four\n' | ctl send t1 --json >"$tmp/sendB.json" ||
  fail "send from stdin"
n=$(py 'len(d["sent"])' <"$tmp/sendB.json")
[ "$n" = 4 ] || fail "send from stdin sent $n, want 4"
ok "send from stdin: 4 lines, 4 messages"
out=$(ctl send t1 --sharding-key user7 s1 s2 s3 s4) || fail "send --sharding-key"
nq=$(echo "$out" | awk '{print $2}' | sort -u | wc -l)
[ "$nq" = 1 ] || fail "one sharding key went to $nq queues: $out"
echo "$out" | grep -Eq '^queue [0-9]+ offset [0-9]+ id [0-9A-F]{32}$' || fail "send text output: $out"
ok "send --sharding-key: one queue, text output"
ctl send t1 --delivery ring r1 >"$tmp/out" || fail "send --delivery ring"
ok "send --delivery ring"
ctl send t1 --delivery durable d1 >"$tmp/out" || fail "send --delivery durable"
ok "send --delivery durable"

# everything sent to t1, as "queue offset body" lines (ring-delivery message: offset unknown)
python3 - "$tmp" <<'PY' >"$tmp/sent.txt" || fail "collect sent"
import json, sys
t = sys.argv[1]
for f, bodies in (("sendA.json", ["m1", "m2", "m3"]), ("sendB.json", ["line one", "line two", "été", "line four"])):
    d = json.load(open(f"{t}/{f}"))
    for s, b in zip(d["sent"], bodies):
        print(s["queue"], s["queue_offset"], b)
PY

# --- consume: everything from the earliest, compare with what was sent ---
ctl consume t1 --group g1 --from earliest --json --timeout 1500 >"$tmp/c1.json" || fail "consume g1"
python3 - "$tmp" <<'PY' || fail "consume g1 does not match what was sent"
import json, sys
t = sys.argv[1]
d = json.load(open(f"{t}/c1.json"))
got = d["messages"]
bodies = [m["body"] for m in got]
want = ["m1", "m2", "m3", "line one", "line two", "été", "line four", "s1", "s2", "s3", "s4", "r1", "d1"]
assert sorted(bodies) == sorted(want), (bodies, want)
assert d["count"] == len(want)
by = {(m["queue"], m["queue_offset"]): m["body"] for m in got}
for line in open(f"{t}/sent.txt"):
    q, off, body = line.rstrip("\n").split(" ", 2)
    assert by[(int(q), int(off))] == body, (q, off, body)
for q in {m["queue"] for m in got}:          # per queue: offsets 0.. in order
    offs = [m["queue_offset"] for m in got if m["queue"] == q]
    assert offs == list(range(len(offs))), (q, offs)
m1 = next(m for m in got if m["body"] == "m1")
assert m1["keys"] == "k1" and m1["tags"] == "tagA", m1
assert m1["properties"] == {"color": "red", "size": "L"}, m1["properties"]
s = [m for m in got if m["body"].startswith("s")]
assert [m["body"] for m in s] == ["s1", "s2", "s3", "s4"], s   # one queue, in order
PY
ok "consume --from earliest --json: 13 messages match queue/offset/body, keys, tags, properties"
n=$(ctl consume t1 --group g1 --json --timeout 500 | py 'd["count"]') || fail "consume g1 again"
[ "$n" = 0 ] || fail "group g1 resumed with $n messages, want 0 (all committed)"
ok "consume resumes from the committed offsets (nothing new)"
n=$(ctl consume t1 --group g2 --from earliest --count 2 --json | py 'd["count"]') || fail "consume --count"
[ "$n" = 2 ] || fail "consume --count 2 gave $n"
ok "consume --count 2"
ctl consume t1 --group g3 --from earliest --body --timeout 800 >"$tmp/bodies.txt" || fail "consume --body"
grep -qx 'été' "$tmp/bodies.txt" && grep -qx 'line four' "$tmp/bodies.txt" || fail "consume --body output"
ok "consume --body"

# --- query by id and by key ---
id2=$(py 'd["sent"][1]["msg_id"]' <"$tmp/sendA.json")
q=$(ctl query --id "$id2" --json | py '(d["body"], d["keys"], d["tags"], d["properties"]["color"], d["msg_id"])') ||
  fail "query --id"
[ "$q" = "('m2', 'k1', 'tagA', 'red', '$id2')" ] || fail "query --id: $q"
ok "query --id"
ctl query --id "$id2" | grep -q 'keys k1' || fail "query --id (text)"
ok "query --id (text)"
expect_exit 1 "query --id of a malformed id" -- ctl query --id 0123456789
expect_exit 1 "query --id with a wrong check" -- ctl query --id "${id2:0:31}$(printf %X $(( (16#${id2:31:1} + 1) % 16 )))"
q=$(ctl query t1 --key k1 --json | py 'sorted(m["body"] for m in d["messages"])') || fail "query --key"
[ "$q" = "['m1', 'm2', 'm3']" ] || fail "query --key k1: $q"
ok "query --key"
q=$(ctl query t1 --key k1 --begin "$t_mid" --json | py 'len(d["messages"])') || fail "query --key --begin"
[ "$q" = 0 ] || fail "query --key --begin after the sends: $q messages"
ok "query --key --begin excludes older messages"

# --- group progress and reset to a timestamp ---
ctl group progress g1 t1 --json >"$tmp/p1.json" || fail "group progress"
python3 - "$tmp" <<'PY' || fail "group progress g1"
import json, sys
d = json.load(open(f"{sys.argv[1]}/p1.json"))
c1 = json.load(open(f"{sys.argv[1]}/c1.json"))["messages"]
assert len(d["queues"]) == 3, d
for q in d["queues"]:
    n = len([m for m in c1 if m["queue"] == q["queue"]])
    assert q["max_offset"] == n and q["committed"] == n and q["lag"] == 0, (q, n)
assert d["total_lag"] == 0
PY
ok "group progress: committed = max, lag 0 on every queue"
ctl send t1 lag1 lag2 >/dev/null || fail "send lag"
n=$(ctl group progress g1 t1 --json | py 'd["total_lag"]') || fail "group progress (lag)"
[ "$n" = 2 ] || fail "total lag $n after two more sends, want 2"
ok "group progress: lag 2 after two more sends"
ctl group progress g1 t1 | grep -q '^ *QUEUE' || fail "group progress (text)"
ok "group progress (text)"

ctl group reset g1 t1 --to "$t_mid" --json >"$tmp/r1.json" || fail "group reset --to TIME"
# after the reset the group gets exactly what was stored after t_mid
ctl consume t1 --group g1 --json --timeout 1500 >"$tmp/c2.json" || fail "consume after reset"
python3 - "$tmp" <<'PY' || fail "consume after reset to the timestamp"
import json, sys
d = json.load(open(f"{sys.argv[1]}/c2.json"))
bodies = sorted(m["body"] for m in d["messages"])
want = sorted(["line one", "line two", "été", "line four", "s1", "s2", "s3", "s4", "r1", "d1", "lag1", "lag2"])
assert bodies == want, (bodies, want)
PY
ok "group reset --to TIME: the group re-reads exactly the messages stored after it"
ctl group reset g1 t1 --to earliest >/dev/null || fail "group reset --to earliest"
n=$(ctl group progress g1 t1 --json | py 'd["total_lag"]') || fail "progress after reset earliest"
[ "$n" = 15 ] || fail "lag after reset to earliest: $n, want 15"
ok "group reset --to earliest: lag 15"
ctl group reset g1 t1 --to latest >/dev/null || fail "group reset --to latest"
n=$(ctl group progress g1 t1 --json | py 'd["total_lag"]') || fail "progress after reset latest"
[ "$n" = 0 ] || fail "lag after reset to latest: $n"
ok "group reset --to latest: lag 0"

# --- access rules: another uid has no rights (the broker's default is none) ---
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chmod 755 "$tmp"
  nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$SHMQCTL" --socket "$sock" "$@"; }
  expect_exit 2 "send as another uid" -- nobody send t1 intruder
  grep -q 'Permission denied (broker: .*no produce right' "$tmp/err" || fail "no broker reason: $(cat "$tmp/err")"
  expect_exit 2 "consume as another uid" -- nobody consume t1 --group g9 --from earliest
  expect_exit 2 "group reset as another uid" -- nobody group reset g1 t1 --to earliest
  expect_exit 0 "status as another uid (no right needed)" -- nobody status
else
  echo "# not root or no setpriv: access-rule checks skipped"
fi

# --- status ---
ctl status --json >"$tmp/status.json" || fail "status --json"
python3 -m json.tool "$tmp/status.json" >/dev/null || fail "status --json does not parse"
q=$(py '(d["broker"]["pid"], d["commitlog"]["max_offset"] > 0, d["disk"]["total"] > 0)' <"$tmp/status.json")
[ "$q" = "($broker_pid, True, True)" ] || fail "status: $q"
q=$(py 'sorted(r["queue"] for r in d["rings"] if r["topic"] == "t1")' <"$tmp/status.json")
[ "$q" = "[0, 1, 2]" ] || fail "status rings of t1: $q"
q=$(py 'all(r["persisted"] <= r["tail"] and r["flushed"] <= r["persisted"] for r in d["rings"])' <"$tmp/status.json")
[ "$q" = True ] || fail "status: flushed <= persisted <= tail"
ok "status --json parses; pid, commitlog, disk, rings of t1"
ctl status | grep -q '^commitlog' || fail "status (text)"
ok "status (text)"

# --- follow mode stops on SIGTERM and prints JSON lines ---
"$SHMQCTL" --socket "$sock" consume t2 --group gf --from earliest --follow --json >"$tmp/follow.out" 2>"$tmp/follow.err" &
fpid=$!
sleep 0.5
ctl send t2 f1 f2 >/dev/null || fail "send t2"
for _ in $(seq 50); do [ "$(wc -l <"$tmp/follow.out")" -ge 2 ] && break; sleep 0.1; done
kill -TERM "$fpid"
wait "$fpid"; st=$?
fpid=""
[ "$st" = 0 ] || fail "consume --follow exit $st after SIGTERM"
q=$(python3 -c 'import json,sys; print([json.loads(l)["body"] for l in open(sys.argv[1])])' "$tmp/follow.out")
[ "$q" = "['f1', 'f2']" ] || fail "consume --follow --json lines: $q"
ok "consume --follow --json: JSON lines, stops on SIGTERM"

# --- clean stop ---
kill -TERM "$broker_pid"
wait "$broker_pid"; st=$?
broker_pid=""
[ "$st" = 0 ] || fail "broker exit status $st after SIGTERM"
ok "broker stopped cleanly"
echo "all $checks checks passed"
