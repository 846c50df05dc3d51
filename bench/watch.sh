#!/usr/bin/env bash
# bench/watch.sh [EVENTS] [RATE] [KILLS] — vigil watch under load, end to end.
#
# bench/watchload serves the AWS fake with EVENTS security groups (default
# 1000), records their inventory, opens port 22 to the internet on all of
# them, and publishes one AuthorizeSecurityGroupIngress event per group to
# goaws (an SQS emulator, built from the Go module proxy) at RATE per second
# (default 200), timing each from publication to the VGL-NET-001
# notification the webhook receives. Delivery is at least once, made
# idempotent by the Idempotency-Key; the webhook dedupes nothing and counts
# (a) events published, (b) distinct notifications by Idempotency-Key,
# (c) raw posts, (d) redeliveries (posts whose key it had received before)
# and (e) lost events (expected, never notified). Runs:
#
#   steady   nothing interrupts the watcher: p50/p90/p99 latency (target
#            p99 <= 1 s), no redelivery;
#   TERM     SIGTERM half-way through, then a restart: the events in flight
#            finish, the rest wait on the queue; none lost, none in doubt;
#   KILL     SIGKILL half-way through, then a restart, KILLS times (default
#            3): none lost (events in flight come back when their
#            visibility timeout ends). A post the webhook received in the
#            instant before the kill, before vigil read the answer, is in
#            doubt: the killed watcher's in-flight log says which, the
#            restart says "redelivering N in-doubt notifications" and sends
#            them again with the same key. Those redeliveries are printed,
#            never hidden; a receiver deduplicating by the key sees each
#            event once. A random kill rarely lands in that window (it is
#            one write(2) wide), so
#   killpost has the webhook itself SIGKILL the watcher while it holds
#            the first post after EVENTS/2, before answering: exactly one
#            post in doubt, redelivered once after the restart.
#
# A run FAILs when an event is lost, when a key is received twice that was
# not in doubt at a kill (vigil notifying twice by itself), when an event
# is notified under two keys, when vigil's redelivery count disagrees with
# its in-flight log, or (steady) when p99 > 1 s.
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
echo "== SIGKILL by the webhook while it holds the first post after $half events, before it answers; restart" >&2
bench/bin/watchload -events "$EVENTS" -rate "$RATE" -kill-at "$half" -signal KILL -kill-in-post > bench/out/watch-killpost.json || status=1
runs="$runs killpost"
uptime >&2

field() { grep -o "\"$2\": -\?[0-9.]*" "$1" | head -1 | awk '{print $2}'; }
printf '\n%-7s %6s %8s %6s %9s %8s %5s %7s %7s %7s %7s %8s\n' run events distinct posts redeliv in_doubt lost p50_ms p90_ms p99_ms max_ms restart
for run in $runs; do
  f=bench/out/watch-$run.json
  [ -s "$f" ] || { printf '%-7s (failed, see above)\n' "$run"; continue; }
  printf '%-7s %6s %8s %6s %9s %8s %5s %7.0f %7.0f %7.0f %7.0f %8s\n' "$run" "$(field "$f" events)" "$(field "$f" distinct_notifications)" \
    "$(field "$f" raw_posts)" "$(field "$f" redeliveries)" "$(field "$f" in_doubt_count)" "$(field "$f" lost)" \
    "$(field "$f" p50_ms)" "$(field "$f" p90_ms)" "$(field "$f" p99_ms)" "$(field "$f" max_ms)" "$(field "$f" down_ms)ms"
done
echo
for run in $runs; do
  f=bench/out/watch-$run.json
  [ -s "$f" ] || continue
  said=$(field "$f" vigil_said_redelivering)
  [ "$said" = -1 ] && said="nothing"
  if ! grep -q '"kill"' "$f"; then
    echo "$run: no kill; redeliveries: $(field "$f" redeliveries)"
    continue
  fi
  echo "$run: redeliveries: $(field "$f" redeliveries) (posts repeating a key already received; $(field "$f" redeliveries_not_in_doubt) of them not in doubt at a kill);" \
    "in doubt at the kill: $(field "$f" in_doubt_count), of which the webhook had received $(field "$f" in_doubt_received_before_kill);" \
    "the restarted watcher said: redelivering $said"
done
echo
if [ $status -eq 0 ]; then
  echo "PASS: p99 <= 1000 ms steady; no event lost; every redelivery was a post in doubt at a kill, sent again with its Idempotency-Key (steady, SIGTERM, $KILLS x SIGKILL, SIGKILL in a post)"
else
  echo "FAIL: a target was missed (the watchload FAIL lines above say which)"
fi
exit $status
