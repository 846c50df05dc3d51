#!/usr/bin/env bash
# bench/profile.sh BINARY PROFILE — where a vigil scan's CPU time went.
#
# Splits the samples of a CPU profile (VIGIL_CPUPROFILE) into the parts of a
# scan, each sample counted once, in this order (a sample goes to the first
# part whose functions are on its stack):
#   gc            the collector's own work: background marking, sweeping,
#                 scavenging, and the marking allocations are made to assist
#   splitting     reading files and cutting them into records
#   preparing     loading the policies, partial evaluation, query compiles
#   guards        the guards that skip policies (engine/policy/guard.go)
#   evaluating    the Rego evaluator (topdown, rego), built-ins included
#   input         building the Rego input value of an asset
#   index         the cross-asset index (scan.Index)
#   decoding      JSON decoding under engine/inventory
#   normalizing   the rest of engine/inventory and engine/asset: the asset
#                 model, facets
#   findings      the rest of engine/scan, engine/policy and the CLI:
#                 findings, the spool, the report
#   other         the runtime's scheduler, allocation outside the above...
# and prints one "part seconds percent" line each, then the total.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: bench/profile.sh BINARY PROFILE" >&2
  exit 2
fi
bin=$1 prof=$2

# seconds PROFILE [pprof flags...]: the CPU seconds of the samples kept.
seconds() {
  local p=$1; shift
  go tool pprof -top -nodefraction=0 -edgefraction=0 -nodecount=1000000 "$@" "$bin" "$p" 2>/dev/null |
    awk '
      function secs(s) { if (s ~ /ms$/) return substr(s, 1, length(s) - 2) / 1000; if (s ~ /us$/) return substr(s, 1, length(s) - 2) / 1e6; sub(/s$/, "", s); return s + 0 }
      /^Showing nodes accounting for/ { v = $5; sub(/,$/, "", v); print secs(v); found = 1; exit }
      END { if (!found) print 0 }'
}

parts=(gc splitting preparing guards evaluating input index)
declare -A re=(
  [gc]='runtime\.(gcBgMarkWorker|bgsweep|bgscavenge|gcAssistAlloc)'
  [splitting]='engine/inventory\.(readRecords|visitRecords|readLines|readValues|visitMarkedLines|splitObjects|\(\*byteScanner\))'
  [preparing]='engine/policy\.(Load|\(\*Engine\)\.(prepare|Prepare|analyze))'
  [guards]='engine/policy\.\(\*(guardEnv|queryGuards)\)'
  [evaluating]='open-policy-agent/opa/v1/(topdown|rego)\.'
  [input]='engine/policy\.(inputValue|InputValue|facetsValue)'
  [index]='engine/scan\.\(\*Index\)'
)

total=$(seconds "$prof")
ignore=""
declare -A got
for p in "${parts[@]}"; do
  if [ -z "$ignore" ]; then
    got[$p]=$(seconds "$prof" -focus="${re[$p]}")
  else
    got[$p]=$(seconds "$prof" -focus="${re[$p]}" -ignore="$ignore")
  fi
  ignore=${ignore:+$ignore|}${re[$p]}
done

# decoding and normalizing: of what is left under engine/inventory and
# engine/asset, the JSON decoder's part is decoding.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
go tool pprof -proto -focus='engine/(inventory|asset)\.' -ignore="$ignore" "$bin" "$prof" >"$tmp" 2>/dev/null
inv=$(seconds "$tmp")
got[decoding]=$(seconds "$tmp" -focus='goccy/go-json|encoding/json|engine/inventory\.decodeJSON')
got[normalizing]=$(awk -v a="$inv" -v b="${got[decoding]}" 'BEGIN {print a - b}')
ignore="$ignore|engine/(inventory|asset)\."
got[findings]=$(seconds "$prof" -focus='engine/(scan|policy)\.|internal/cli\.' -ignore="$ignore")

sum=0
for p in "${parts[@]}" decoding normalizing findings; do
  sum=$(awk -v a="$sum" -v b="${got[$p]}" 'BEGIN {print a + b}')
done
got[other]=$(awk -v t="$total" -v s="$sum" 'BEGIN {print t - s}')

for p in "${parts[@]}" decoding normalizing findings other; do
  awk -v p="$p" -v s="${got[$p]}" -v t="$total" 'BEGIN {printf "%-12s %7.2f s %5.1f%%\n", p, s, (t > 0 ? 100 * s / t : 0)}'
done
awk -v t="$total" 'BEGIN {printf "%-12s %7.2f s\n", "total", t}'
