#!/usr/bin/env bash
# bench/watch.sh [EVENTS] [RATE] [KILLS] — vigil watch under load, end to end.
#
# bench/watchload serves the AWS fake with EVENTS security groups (default
# 1000), records their inventory, opens port 22 to the internet on all of
# them, and publishes one AuthorizeSecurityGroupIngress event per group to
# goaws (an SQS emulator, built from the Go module proxy) at RATE per second
# (default 200), timing each from publication to the VGL-NET-001
# notification the webhook receives. The webhook counts raw deliveries per
# notification key (policy and asset) and dedupes nothing. Runs:
#
#   steady   nothing interrupts the watcher: p50/p90/p99 latency (target
#            p99 <= 1 s) and exactly one delivery per event;
#   TERM     SIGTERM half-way through, then a restart: the events in flight
#            finish, the rest wait on the queue; none lost, none twice;
#   KILL     SIGKILL half-way through, then a restart, KILLS times (default
#            3): none lost (events in flight come back when their
#            visibility timeout ends), none delivered twice. A post the
#            webhook accepted in the instant before the kill, before vigil
#            recorded that it did, is sent again: that is a duplicate and
#            fails the run; the table also says how many of the extra
#            deliveries carried the Idempotency-Key of the first (what a
#            receiver honouring the key would drop).
#
# Results go to bench/out/watch-*.json; every missed target prints a FAIL
# line, and the exit code is non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-1000}
RATE=${2:-200}
KILLS=${3:-3}
mkdir -p bench/bin bench/out
echo "== building vigil and bench/watchload" >&2
go build -o bench/bin/vigil ./cmd/vigil
go build -o bench/bin/watchload ./bench/watchload
half=$((EVENTS / 2))
status=0
uptime >&2
echo "== steady: $EVENTS events at $RATE/s" >&2
bench/bin/watchload -events "$EVENTS" -rate "$RATE" -max-p99 1000 > bench/out/watch-steady.json || status=1
echo "== SIGTERM after $half events, restart" >&2
bench/bin/watchload -events "$EVENTS" -rate "$RATE" -kill-at "$half" -signal TERM > bench/out/watch-term.json || status=1
runs="steady term"
for k in $(seq 1 "$KILLS"); do
  echo "== SIGKILL after $half events, restart ($k of $KILLS)" >&2
  bench/bin/watchload -events "$EVENTS" -rate "$RATE" -kill-at "$half" -signal KILL > "bench/out/watch-kill$k.json" || status=1
  runs="$runs kill$k"
done
uptime >&2

field() { grep -o "\"$2\": [0-9.]*" "$1" | head -1 | awk '{print $2}'; }
printf '\n%-8s %7s %8s %8s %8s %8s %5s %6s %6s %8s %8s\n' run events p50_ms p90_ms p99_ms max_ms lost twice extra samekey restart
for run in $runs; do
  f=bench/out/watch-$run.json
  [ -s "$f" ] || { printf '%-8s (failed, see above)\n' "$run"; continue; }
  printf '%-8s %7s %8.0f %8.0f %8.0f %8.0f %5s %6s %6s %8s %8s\n' "$run" "$(field "$f" events)" "$(field "$f" p50_ms)" "$(field "$f" p90_ms)" \
    "$(field "$f" p99_ms)" "$(field "$f" max_ms)" "$(field "$f" lost)" "$(field "$f" notified_twice)" "$(field "$f" extra_deliveries)" \
    "$(field "$f" extra_with_same_idempotency_key)" "$(field "$f" down_ms)ms"
done
echo
if [ $status -eq 0 ]; then
  echo "PASS: p99 <= 1000 ms steady; no event lost; none delivered twice (steady, SIGTERM, $KILLS x SIGKILL)"
else
  echo "FAIL: a target was missed (the watchload FAIL lines above say which)"
fi
exit $status
