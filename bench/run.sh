#!/usr/bin/env bash
# bench/run.sh [SIZES...] — vigil against `opa eval` and the decode floor.
#
# For each size (10k, 100k, 1m, or a plain number; default: 100k 1m) it
# generates a deterministic inventory (bench/gen), then measures on the same
# files, with /usr/bin/time -v, the wall time and peak RSS of:
#   (a) vigil scan, the built-in policies, JSON report;
#   (b) opa eval, the same built-in policies over the same normalized assets
#       through a wrapper query (OPA installed at the version in go.mod);
#   (c) the decode floor: the same files through encoding/json into
#       map[string]any, nothing else;
# checks that (a) and (b) found the same findings, times planning a 100-step
# runbook against the sim provider, and prints the table and the targets.
#
# Each measurement is the best of RUNS runs (default 3): on a shared
# machine the noise is one-sided. Data is kept in bench/data (regenerate
# with FRESH=1); reports go to bench/out.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(100k 1m)

if [ ! -x /usr/bin/time ]; then
  echo "bench: /usr/bin/time is missing (Debian: apt-get install time)" >&2
  exit 2
fi

bin=bench/bin
mkdir -p "$bin" bench/data bench/out
echo "== building vigil, gen, decode" >&2
go build -o "$bin/vigil" ./cmd/vigil
go build -o "$bin/gen" ./bench/gen
go build -o "$bin/decode" ./bench/decode
opa_version=$(go list -m -f '{{.Version}}' github.com/open-policy-agent/opa)
if ! "$bin/opa" version 2>/dev/null | grep -q "^Version: ${opa_version#v}$"; then
  echo "== installing opa $opa_version" >&2
  GOBIN="$PWD/$bin" go install "github.com/open-policy-agent/opa@$opa_version"
fi

count() { # 10k -> 10000, 1m -> 1000000
  local s=${1,,}
  case $s in
    *k) echo $(( ${s%k} * 1000 )) ;;
    *m) echo $(( ${s%m} * 1000000 )) ;;
    *) echo "$s" ;;
  esac
}

# measure NAME CMD...: best wall time of RUNS runs, and the peak RSS of the
# runs; sets wall (seconds) and rss (MiB). Exit status 1 is vigil's "found
# something" and counts as success.
measure() {
  local name=$1; shift
  local best="" peak=0 i log w r
  for ((i = 1; i <= RUNS; i++)); do
    log=$(mktemp)
    if ! /usr/bin/time -v "$@" 2>"$log" >/dev/null; then
      if ! grep -q "Exit status: 1$" "$log"; then
        echo "bench: $name failed:" >&2; tail -20 "$log" >&2; exit 1
      fi
    fi
    w=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (j = 1; j <= n; j++) s = s * 60 + p[j]; print s}' "$log")
    r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
    rm -f "$log"
    if [ -z "$best" ] || awk -v a="$w" -v b="$best" 'BEGIN {exit !(a < b)}'; then best=$w; fi
    [ "$r" -gt "$peak" ] && peak=$r
    echo "   $name run $i: ${w}s, $((r / 1024)) MiB" >&2
  done
  wall=$best
  rss=$((peak / 1024))
}

rows=()
checks=()
fail=0
check() { # check DESCRIPTION CONDITION(awk expression)
  if awk "BEGIN {exit !($2)}"; then
    checks+=("  ok    $1")
  else
    checks+=("  FAIL  $1")
    fail=1
  fi
}

for size in "${SIZES[@]}"; do
  n=$(count "$size")
  data=bench/data/$size
  out=bench/out/$size
  mkdir -p "$out"
  # The OPA side holds a copy of the policies: data made before a policy
  # changed would compare vigil with a stale library, so it is remade.
  stamp=$(cat $(git ls-files 'policies/*.rego' 'bench/gen/*.go') | sha256sum | cut -c1-16)
  if [ -n "${FRESH:-}" ] || [ ! -f "$data/inventory/aws-collected.ndjson" ] || [ "$(cat "$data/stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "== $size: generating $n assets" >&2
    rm -rf "$data"
    "$bin/gen" inventory -n "$n" -out "$data/inventory" >&2
    "$bin/gen" opa -in "$data/inventory" -out "$data/opa"
    echo "$stamp" > "$data/stamp"
  fi
  inv=$data/inventory
  files=("$inv/gcp-resources.ndjson" "$inv/gcp-iam.ndjson" "$inv/aws-config.json" "$inv/aws-collected.ndjson")

  echo "== $size: (a) vigil scan" >&2
  # --as-of: the clock gen opa gives opa eval (key ages must agree)
  measure vigil "$bin/vigil" scan --config "$inv/vigil.hcl" --as-of 2026-11-27T09:00:00Z --format json --output "$out/vigil.json" "${files[@]}"
  a_wall=$wall a_rss=$rss
  echo "== $size: (b) opa eval" >&2
  measure opa sh -c "cd '$data/opa' && exec '$PWD/$bin/opa' eval --format json -d policies -d wrapper.rego -d data.json -i input.json data.bench.findings > '$PWD/$out/opa.json'"
  b_wall=$wall b_rss=$rss
  echo "== $size: (c) decode floor" >&2
  measure decode "$bin/decode" "${files[@]}"
  c_wall=$wall c_rss=$rss
  echo "== $size: runbook plan, 100 steps, sim provider" >&2
  measure plan "$bin/vigil" runbook plan "$inv/runbook/bench-100.hcl" --provider sim -i "$inv/runbook/inventory.ndjson" --format json
  p_wall=$wall

  same=$("$bin/gen" compare "$out/vigil.json" "$out/opa.json" 2>&1) || { echo "bench: $size: $same" >&2; fail=1; }
  eval "$("$bin/gen" summary "$out/vigil.json")" # assets findings index_bytes read_s cross_asset_s sort_s
  index_mib=$(awk -v b="$index_bytes" 'BEGIN {printf "%.1f", b / 1048576}')

  rate() { awk -v n="$assets" -v s="$1" 'BEGIN {printf "%.0f", n / s}'; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
  rows+=("$(printf '%-6s %9s  %-22s %8.2f %10s %8s' "$size" "$assets" "(a) vigil scan" "$a_wall" "$(rate "$a_wall")" "$a_rss")")
  rows+=("$(printf '%-6s %9s  %-22s %8.2f %10s %8s' "" "" "(b) opa eval" "$b_wall" "$(rate "$b_wall")" "$b_rss")")
  rows+=("$(printf '%-6s %9s  %-22s %8.2f %10s %8s' "" "" "(c) decode floor" "$c_wall" "$(rate "$c_wall")" "$c_rss")")
  rows+=("$(printf '%-6s %9s  %-22s (b)/(a) %sx faster, (a)/(c) %s; %s findings, %s; index %s MiB; phases: read %ss, cross-asset %ss, sort %ss' \
    "" "" "" "$(ratio "$b_wall" "$a_wall")" "$(ratio "$a_wall" "$c_wall")" "$findings" "${same:-findings differ}" "$index_mib" "$read_s" "$cross_asset_s" "$sort_s")")
  rows+=("$(printf '%-6s %9s  %-22s %8.2f' "" "" "runbook plan, 100 steps" "$p_wall")")

  check "$size: same findings as opa eval" "\"$same\" ~ /^identical/"
  if [ "$n" -ge 100000 ]; then # the speed targets hold from 100k assets
    check "$size: vigil at least 3x faster than opa eval ($(ratio "$b_wall" "$a_wall")x)" "$b_wall / $a_wall >= 3"
    check "$size: vigil within 1.5x of the decode floor ($(ratio "$a_wall" "$c_wall")x)" "$a_wall / $c_wall <= 1.5"
  fi
  check "$size: 100-step runbook planned in under a second (${p_wall}s)" "$p_wall < 1"
  if [ "$n" -ge 1000000 ]; then
    check "$size: peak RSS under 300 MiB plus the index (${a_rss} MiB, index ${index_mib} MiB)" "$a_rss < 300 + $index_mib"
  fi
done

echo
echo "vigil bench, $(date -u +%Y-%m-%d), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(go version | cut -d' ' -f3), best of $RUNS"
printf '%-6s %9s  %-22s %8s %10s %8s\n' size assets measurement "wall s" "assets/s" "RSS MiB"
printf '%s\n' "${rows[@]}"
echo
echo "targets:"
printf '%s\n' "${checks[@]}"
exit $fail
