#!/usr/bin/env bash
# bench/watch.sh [EVENTS] [RATE] — vigil watch under load, end to end.
#
# bench/watchload serves the AWS fake with EVENTS security groups (default
# 1000), records their inventory, opens port 22 to the internet on all of
# them, and publishes one AuthorizeSecurityGroupIngress event per group to
# goaws (an SQS emulator, built from the Go module proxy) at RATE per second
# (default 200), timing each from publication to the VGL-NET-001
# notification the webhook receives. Three runs:
#
#   steady   nothing interrupts the watcher: p50/p90/p99 latency (target
#            p99 <= 1 s) and exactly one notification per event;
#   TERM     SIGTERM half-way through, then a restart: the events in flight
#            finish, the rest wait on the queue; none lost, none twice;
#   KILL     SIGKILL half-way through, then a restart: none lost (events in
#            flight come back when their visibility timeout ends); a webhook
#            batch accepted in the instant before the kill may be sent again
#            (reported as notified_twice: the finding key identifies it).
#
# Results go to bench/out/watch-*.json; the exit code is non-zero when a
# target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-1000}
RATE=${2:-200}
mkdir -p bench/bin bench/out
echo "== building vigil and bench/watchload" >&2
go build -o bench/bin/vigil ./cmd/vigil
go build -o bench/bin/watchload ./bench/watchload
half=$((EVENTS / 2))
status=0
echo "== steady: $EVENTS events at $RATE/s" >&2
bench/bin/watchload -events "$EVENTS" -rate "$RATE" -max-p99 1000 -exactly-once > bench/out/watch-steady.json || status=1
echo "== SIGTERM after $half events, restart" >&2
bench/bin/watchload -events "$EVENTS" -rate "$RATE" -kill-at "$half" -signal TERM -exactly-once > bench/out/watch-term.json || status=1
echo "== SIGKILL after $half events, restart" >&2
bench/bin/watchload -events "$EVENTS" -rate "$RATE" -kill-at "$half" -signal KILL > bench/out/watch-kill.json || status=1

field() { grep -o "\"$2\": [0-9.]*" "$1" | head -1 | awk '{print $2}'; }
printf '\n%-8s %7s %9s %9s %9s %9s %6s %8s %9s\n' run events p50_ms p90_ms p99_ms max_ms lost twice restart
for run in steady term kill; do
  f=bench/out/watch-$run.json
  [ -s "$f" ] || { printf '%-8s (failed, see above)\n' "$run"; continue; }
  printf '%-8s %7s %9.0f %9.0f %9.0f %9.0f %6s %8s %9s\n' "$run" "$(field "$f" events)" "$(field "$f" p50_ms)" "$(field "$f" p90_ms)" \
    "$(field "$f" p99_ms)" "$(field "$f" max_ms)" "$(field "$f" lost)" "$(field "$f" notified_twice)" "$(field "$f" down_ms)ms"
done
echo
[ $status -eq 0 ] && echo "targets met: p99 <= 1000 ms steady; no event lost; none notified twice (steady, SIGTERM)" || echo "a target was missed (see above)"
exit $status
