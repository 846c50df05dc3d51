#!/usr/bin/env bash
# bench/run.sh [SIZES...] — vigil against `opa eval` and the decode floor.
#
# For each size (10k, 100k, 1m, or a plain number; default: 100k 1m) it
# generates a deterministic inventory (bench/gen), then measures on the same
# files, with /usr/bin/time, the wall time, user+sys CPU time and peak RSS of:
#   (a) vigil scan, the built-in policies, JSON report;
#   (b) opa eval, the same built-in policies over the same normalized assets
#       through a wrapper query (OPA installed at the version in go.mod);
#   (c) the decode floor: the same files through encoding/json into
#       map[string]any, nothing else;
#   (p) planning a 100-step runbook against the sim provider;
#   (d) vigil check on a generated Terraform plan of PLAN_N (default 5000)
#       resource changes (bench/gen plan: the bundled example plan, AWS and
#       Google, with a module and unknown values, as many module stacks);
#   (e) opa eval, the same policies over the same planned resources;
#   (t) vigil triage of one instance of the inventory, with VIGIL_PHASES=1
#       for the time spent building the card index.
# The runs are interleaved (a b c p, a b c p, ...: RUNS rounds, default 3)
# (a b c p d e t, ...) so that the drift of a shared machine falls on all
# of them alike; each
# ratio is taken within a round and reported as the median over the rounds
# with the min and max, for wall time and for CPU time. The targets are
# judged on the medians. It checks that (a) and (b), and (d) and (e), found
# the same findings.
#
# Then (PROFILE=1, the default) it runs vigil once more with a CPU profile
# and splits it into the parts of a scan (bench/profile.sh); BASELINE=PATH
# profiles another vigil binary the same way (the "before" of a change).
#
# It writes the table, the targets, the profile breakdown and every raw run
# into the generated section of RESULTS (default bench/RESULTS.md; RESULTS=
# empty to leave it alone). Data is kept in bench/data (regenerate with
# FRESH=1); reports, raw runs and profiles go to bench/out.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
PLAN_N=${PLAN_N:-5000}
PROFILE=${PROFILE:-1}
BASELINE=${BASELINE:-}
RESULTS=${RESULTS-bench/RESULTS.md}
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(100k 1m)

if [ ! -x /usr/bin/time ]; then
  echo "bench: /usr/bin/time is missing (Debian: apt-get install time)" >&2
  exit 2
fi
if ! [[ $PLAN_N =~ ^[0-9]+$ ]] || [ "$PLAN_N" -lt 1 ]; then
  echo "bench: PLAN_N must be a number of resource changes, not \"$PLAN_N\"" >&2
  exit 2
fi
if ! [[ $RUNS =~ ^[0-9]+$ ]]; then
  echo "bench: RUNS must be a number (0: profile only), not \"$RUNS\"" >&2
  exit 2
fi
if [ -n "$BASELINE" ] && [ ! -x "$BASELINE" ]; then
  echo "bench: BASELINE $BASELINE is not an executable vigil binary" >&2
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
    *[!0-9]* | "") echo "bench: bad size \"$1\" (10k, 100k, 1m or a number)" >&2; exit 2 ;;
    *) echo "$s" ;;
  esac
}

# measure SIZE ROUND NAME CMD...: one run; appends "size round name wall
# user sys rss_kib" to $raw. Exit status 1 is vigil's "found something" and
# counts as success.
measure() {
  local size=$1 round=$2 name=$3; shift 3
  local log
  log=$(mktemp)
  if ! /usr/bin/time -f 'bench-time %e %U %S %M %x' "$@" 2>"$log" >/dev/null; then
    if ! grep -q '^bench-time .* 1$' "$log"; then
      echo "bench: $name failed:" >&2; tail -20 "$log" >&2; rm -f "$log"; exit 1
    fi
  fi
  read -r _ w u s r _ < <(grep '^bench-time ' "$log" | tail -1)
  # a command's own phase timings (vigil triage under VIGIL_PHASES=1)
  grep '^vigil: phases: ' "$log" | tail -1 | sed "s/^/$size\t$round\t$name\t/" >>"$phases" || true
  rm -f "$log"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$round" "$name" "$w" "$u" "$s" "$r" >>"$raw"
  echo "   $size round $round $name: ${w}s wall, $(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')s cpu, $((r / 1024)) MiB" >&2
}

# stat SIZE NAME FIELD: "median min max" of a measurement's field over the
# rounds (FIELD: wall, cpu, rss in MiB).
stat() {
  awk -F'\t' -v size="$1" -v name="$2" -v field="$3" '
    $1 == size && $3 == name {
      v = field == "wall" ? $4 : field == "cpu" ? $5 + $6 : $7 / 1024
      print v
    }' "$raw" | sort -g | awk '{v[NR] = $1} END {
      if (NR == 0) { print "0 0 0"; exit }
      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      print m, v[1], v[NR]
    }'
}

# ratio SIZE NUM DEN FIELD: "median min max" of NUM/DEN taken round by round.
ratio() {
  awk -F'\t' -v size="$1" -v num="$2" -v den="$3" -v field="$4" '
    $1 == size && ($3 == num || $3 == den) {
      v = field == "wall" ? $4 : $5 + $6
      x[$2, $3] = v; rounds[$2] = 1
    }
    END { for (r in rounds) if (x[r, den] > 0) print x[r, num] / x[r, den] }' "$raw" |
    sort -g | awk '{v[NR] = $1} END {
      if (NR == 0) { print "0 0 0"; exit }
      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      print m, v[1], v[NR]
    }'
}

rows=()
checks=()
profiles=()
fail=0
check() { # check DESCRIPTION CONDITION(awk expression)
  if awk "BEGIN {exit !($2)}"; then
    checks+=("  ok    $1")
  else
    checks+=("  FAIL  $1")
    fail=1
  fi
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw=bench/out/runs-$stamp.tsv
printf 'size\tround\tmeasurement\twall_s\tuser_s\tsys_s\tmax_rss_kib\n' >"$raw"
phases=bench/out/phases-$stamp.tsv
: >"$phases"
columns=$(printf '%-6s %9s  %-24s %-22s %-22s %9s %8s' size assets measurement "wall s median [min-max]" "cpu s median [min-max]" "assets/s" "RSS MiB")

# section SIZE ROWS... -- CHECKS... -- PROFILE LINES...: the RESULTS.md
# section of one size, between its markers.
section() {
  local size=$1; shift
  local -a r=() c=() p=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do r+=("$1"); shift; done; shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do c+=("$1"); shift; done; shift
  p=("$@")
  echo "<!-- bench/run.sh $size: begin -->"
  echo
  echo "### $size: \`bench/run.sh $size\`, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(go version | cut -d' ' -f3), $RUNS interleaved rounds;"
  echo "load average $load_before when the script started, $(cut -d' ' -f1-3 /proc/loadavg) when this size ended."
  if [ ${#r[@]} -gt 0 ]; then
    echo
    echo '```'
    echo "$columns"
    printf '%s\n' "${r[@]}"
    echo
    echo "targets (on the medians of the interleaved rounds):"
    printf '%s\n' "${c[@]}"
    echo '```'
  else
    echo
    echo "No measurement rounds (RUNS=0): the profile only."
  fi
  if [ ${#p[@]} -gt 0 ]; then
    echo
    echo "Where vigil's CPU time goes (one more run with VIGIL_CPUPROFILE, split by \`bench/profile.sh\`;"
    echo "each sample counted once, in the order listed):"
    echo
    echo '```'
    printf '%s\n' "${p[@]}"
    echo '```'
  fi
  echo
  echo "Raw runs (\`$raw\`):"
  echo
  echo '```'
  awk -F'\t' -v s="$size" 'NR == 1 || $1 == s' "$raw" | column -t -s$'\t'
  if grep -q "^$size"$'\t' "$phases"; then
    echo
    awk -F'\t' -v s="$size" '$1 == s {print s, "round " $2, $3 ":", substr($4, 8)}' "$phases"
  fi
  echo '```'
  echo
  echo "<!-- bench/run.sh $size: end -->"
}

for size in "${SIZES[@]}"; do
  n=$(count "$size")
  data=bench/data/$size
  out=bench/out/$size
  mkdir -p "$out"
  # The OPA side holds a copy of the policies: data made before a policy
  # changed would compare vigil with a stale library, so it is remade.
  hash=$(cat $(git ls-files 'policies/*.rego' 'bench/gen/*.go') | sha256sum | cut -c1-16)
  if [ -n "${FRESH:-}" ] || [ ! -f "$data/inventory/aws-collected.ndjson" ] || [ "$(cat "$data/stamp" 2>/dev/null)" != "$hash" ]; then
    echo "== $size: generating $n assets" >&2
    rm -rf "$data"
    "$bin/gen" inventory -n "$n" -out "$data/inventory" >&2
    "$bin/gen" opa -in "$data/inventory" -out "$data/opa"
    echo "$hash" > "$data/stamp"
  fi
  inv=$data/inventory
  # the plan for vigil check: one per PLAN_N, shared by the sizes; its opa
  # side is remade each time, from this size's vigil.hcl
  plandir=bench/data/plan-$PLAN_N
  phash=$(cat $(git ls-files 'bench/gen/*.go') examples/terraform/plan.json | sha256sum | cut -c1-16)
  if [ -n "${FRESH:-}" ] || [ ! -f "$plandir/plan.json" ] || [ "$(cat "$plandir/stamp" 2>/dev/null)" != "$phash" ]; then
    echo "== plan: generating $PLAN_N resource changes" >&2
    rm -rf "$plandir"
    "$bin/gen" plan -n "$PLAN_N" -template examples/terraform/plan.json -out "$plandir" >&2
    echo "$phash" > "$plandir/stamp"
  fi
  rm -rf "$data/opa-plan"
  "$bin/gen" opa -plan "$plandir/plan.json" -config "$inv/vigil.hcl" -out "$data/opa-plan"
  check_cmd=("$bin/vigil" check "$plandir/plan.json" --config "$inv/vigil.hcl" --as-of 2026-11-27T09:00:00Z --format json --output "$out/check.json")
  # one card for the first instance the runbook benchmark acts on
  card=$(grep -o -m1 '"//compute.googleapis.com/[^"]*/instances/[^"]*"' "$inv/runbook/bench-100.hcl" | tr -d '"')
  if [ -z "$card" ]; then
    echo "bench: $size: no instance in $inv/runbook/bench-100.hcl to triage" >&2
    exit 1
  fi
  row0=${#rows[@]} check0=${#checks[@]} prof0=${#profiles[@]}
  files=("$inv/gcp-resources.ndjson" "$inv/gcp-iam.ndjson" "$inv/aws-config.json" "$inv/aws-collected.ndjson")
  # --as-of: the clock gen opa gives opa eval (key ages must agree)
  scan=("$bin/vigil" scan --config "$inv/vigil.hcl" --as-of 2026-11-27T09:00:00Z --format json --output "$out/vigil.json" "${files[@]}")
  triage=(env VIGIL_PHASES=1 "$bin/vigil" triage "$card" --config "$inv/vigil.hcl" --format json -q)
  for f in "${files[@]}"; do triage+=(-i "$f"); done

  for ((round = 1; round <= RUNS; round++)); do
    echo "== $size: round $round of $RUNS" >&2
    measure "$size" "$round" vigil "${scan[@]}"
    measure "$size" "$round" opa sh -c "cd '$data/opa' && exec '$PWD/$bin/opa' eval --format json -d policies -d wrapper.rego -d data.json -i input.json data.bench.findings > '$PWD/$out/opa.json'"
    measure "$size" "$round" decode "$bin/decode" "${files[@]}"
    measure "$size" "$round" plan "$bin/vigil" runbook plan "$inv/runbook/bench-100.hcl" --provider sim -i "$inv/runbook/inventory.ndjson" --format json
    measure "$size" "$round" check "${check_cmd[@]}"
    measure "$size" "$round" opacheck sh -c "cd '$data/opa-plan' && exec '$PWD/$bin/opa' eval --format json -d policies -d wrapper.rego -d data.json -i input.json data.bench.findings > '$PWD/$out/opa-check.json'"
    measure "$size" "$round" triage "${triage[@]}"
  done

  if [ "$RUNS" -gt 0 ]; then
    same=$("$bin/gen" compare "$out/vigil.json" "$out/opa.json" 2>&1) || { echo "bench: $size: $same" >&2; fail=1; }
    csame=$("$bin/gen" compare "$out/check.json" "$out/opa-check.json" 2>&1) || { echo "bench: $size: plan: $csame" >&2; fail=1; }
    eval "$("$bin/gen" summary "$out/check.json" | sed 's/\([a-z_]*\)=/check_\1=/g')" # check_assets check_findings ...
    eval "$("$bin/gen" summary "$out/vigil.json")" # assets findings index_bytes read_s cross_asset_s sort_s
    index_mib=$(awk -v b="$index_bytes" 'BEGIN {printf "%.1f", b / 1048576}')

    fmt3() { awk -v m="$1" -v lo="$2" -v hi="$3" -v p="$4" 'BEGIN {printf "%" p "f [%" p "f-%" p "f]", m, lo, hi}'; }
    col_size=$size col_assets=$assets
    for m in vigil opa decode plan check opacheck triage; do
      read -r wm wl wh < <(stat "$size" "$m" wall)
      read -r cm cl ch < <(stat "$size" "$m" cpu)
      read -r _ _ rh < <(stat "$size" "$m" rss)
      case $m in
        vigil) label="(a) vigil scan" ;; opa) label="(b) opa eval" ;;
        decode) label="(c) decode floor" ;; plan) label="runbook plan, 100 steps" ;;
        check) label="(d) vigil check, plan" ;; opacheck) label="(e) opa eval, plan" ;;
        triage) label="(t) vigil triage, 1 card" ;;
      esac
      if [ "$m" = vigil ]; then a_rss=$rh a_wall=$wm; fi
      if [ "$m" = plan ]; then p_wall=$wm; fi
      if [ "$m" = check ]; then d_wall=$wm; fi
      if [ "$m" = triage ]; then t_wall=$wm; fi
      per=$assets
      case $m in check | opacheck) per=$check_assets ;; esac
      rate=$(awk -v n="$per" -v s="$wm" 'BEGIN {printf "%.0f", (s > 0 ? n / s : 0)}')
      [ "$m" = plan ] && rate=-
      rows+=("$(printf '%-6s %9s  %-24s %-22s %-22s %9s %8.0f' "$col_size" "$col_assets" "$label" "$(fmt3 "$wm" "$wl" "$wh" .2)" "$(fmt3 "$cm" "$cl" "$ch" .2)" "$rate" "$rh")")
      col_size="" col_assets=""
    done
    read -r bw bwl bwh < <(ratio "$size" opa vigil wall)
    read -r bc bcl bch < <(ratio "$size" opa vigil cpu)
    read -r aw awl awh < <(ratio "$size" vigil decode wall)
    read -r ac acl ach < <(ratio "$size" vigil decode cpu)
    bw2=$(printf '%.2f' "$bw") aw2=$(printf '%.2f' "$aw")
    rows+=("$(printf '%-6s %9s  %-24s %-22s %-22s' "" "" "(b)/(a) times faster" "$(fmt3 "$bw" "$bwl" "$bwh" .2)" "$(fmt3 "$bc" "$bcl" "$bch" .2)")")
    rows+=("$(printf '%-6s %9s  %-24s %-22s %-22s' "" "" "(a)/(c) decode floor" "$(fmt3 "$aw" "$awl" "$awh" .2)" "$(fmt3 "$ac" "$acl" "$ach" .2)")")
    rows+=("$(printf '%-6s %9s  %s' "" "" "$findings findings, ${same:-findings differ}; index $index_mib MiB")")
    read -r ew ewl ewh < <(ratio "$size" opacheck check wall)
    read -r ec ecl ech < <(ratio "$size" opacheck check cpu)
    ew2=$(printf '%.2f' "$ew")
    rows+=("$(printf '%-6s %9s  %-24s %-22s %-22s' "" "" "(e)/(d) times faster" "$(fmt3 "$ew" "$ewl" "$ewh" .2)" "$(fmt3 "$ec" "$ecl" "$ech" .2)")")
    rows+=("$(printf '%-6s %9s  %s' "" "" "plan: $check_assets planned resources judged, $check_findings findings, ${csame:-findings differ}")")
    # triage's own phases, median over the rounds (seconds)
    tphase() {
      awk -F'\t' -v size="$size" -v p="$1" '$1 == size && $3 == "triage" {
        n = split(substr($4, 16), part, ", ")
        for (i = 1; i <= n; i++) { split(part[i], kv, " "); if (kv[1] == p) { sub(/s$/, "", kv[2]); print kv[2] } }
      }' "$phases" | sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) { print "?"; exit }
        printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      }'
    }
    rows+=("$(printf '%-6s %9s  %s' "" "" "triage phases (median s): load $(tphase load), policies $(tphase policies), index $(tphase index), findings $(tphase findings), card $(tphase cards)")")

    check "$size: same findings as opa eval" "\"$same\" ~ /^identical/"
    if [ "$n" -ge 1000000 ]; then
      check "$size: vigil at least 5x faster than opa eval (median ${bw2}x, wall)" "$bw >= 5"
      check "$size: vigil within 1.25x of the decode floor (median ${aw2}x, wall)" "$aw <= 1.25"
      check "$size: peak RSS at most 300 MiB (highest of the rounds: ${a_rss} MiB)" "$a_rss <= 300"
    elif [ "$n" -ge 100000 ]; then
      check "$size: vigil at least 5x faster than opa eval (median ${bw2}x, wall)" "$bw >= 5"
      check "$size: vigil within 1.0x of the decode floor (median ${aw2}x, wall)" "$aw <= 1.0"
    fi
    check "$size: 100-step runbook planned in under a second (median ${p_wall}s)" "$p_wall < 1"
    check "$size: plan: same findings as opa eval" "\"$csame\" ~ /^identical/"
    check "$size: vigil check of $check_assets planned resources in at most 2 s (median ${d_wall}s)" "$d_wall <= 2"
    check "$size: vigil check at least 3x faster than opa eval (median ${ew2}x, wall)" "$ew >= 3"
    if [ "$n" -ge 1000000 ]; then
      check "$size: vigil triage of one card in at most 5 s (median ${t_wall}s; index $(tphase index)s)" "$t_wall <= 5"
    fi

  fi

  if [ "$PROFILE" = 1 ]; then
    for who in vigil ${BASELINE:+baseline}; do
      exe=$bin/vigil
      [ "$who" = baseline ] && exe=$BASELINE
      prof=$out/cpu-$who.prof
      echo "== $size: CPU profile of $who" >&2
      log=$(mktemp)
      # without --as-of: the summary's phases are timed by the scan's clock
      VIGIL_CPUPROFILE=$prof /usr/bin/time -f 'bench-time %e %U %S %M %x' "$exe" scan --config "$inv/vigil.hcl" --format json --output "$out/profiled-$who.json" "${files[@]}" >/dev/null 2>"$log" || true
      read -r _ w u s r _ < <(grep '^bench-time ' "$log" | tail -1)
      rm -f "$log"
      printf '%s\tprofile\t%s\t%s\t%s\t%s\t%s\n' "$size" "$who" "$w" "$u" "$s" "$r" >>"$raw"
      what="this tree's vigil"
      [ "$who" = baseline ] && what="the baseline, $BASELINE"
      eval "$("$bin/gen" summary "$out/profiled-$who.json")"
      profiles+=("$size, $what: ${w}s wall, $(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')s cpu; phases: read ${read_s}s, cross-asset ${cross_asset_s}s, sort ${sort_s}s")
      while IFS= read -r line; do profiles+=("  $line"); done < <(bench/profile.sh "$exe" "$prof")
    done
  fi
  section "$size" "${rows[@]:row0}" -- "${checks[@]:check0}" -- "${profiles[@]:prof0}" >"$out/section.md"
done

header="vigil bench, $started, $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(go version | cut -d' ' -f3), $RUNS interleaved rounds, load average $load_before at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
table=$(
  echo "$header"
  echo "$columns"
  printf '%s\n' "${rows[@]}"
  echo
  echo "targets (on the medians of the interleaved rounds):"
  printf '%s\n' "${checks[@]}"
)
if [ ${#rows[@]} -gt 0 ]; then
  echo
  echo "$table"
fi
if [ ${#profiles[@]} -gt 0 ]; then
  echo
  echo "CPU profile breakdown (bench/profile.sh):"
  printf '%s\n' "${profiles[@]}"
fi

if [ -n "$RESULTS" ]; then
  touch "$RESULTS"
  for size in "${SIZES[@]}"; do
    begin="<!-- bench/run.sh $size: begin -->" end="<!-- bench/run.sh $size: end -->"
    f=bench/out/$size/section.md
    if grep -qF "$begin" "$RESULTS" && grep -qF "$end" "$RESULTS"; then
      # replace this size's section
      awk -v b="$begin" -v e="$end" -v f="$f" '
        $0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
        $0 == e { skip = 0; next }
        !skip' "$RESULTS" >"$RESULTS.tmp"
    else
      # a new size: after the last generated section, else at the end
      awk -v f="$f" -v m='<!-- bench/run.sh sections end -->' '
        $0 == m { while ((getline l < f) > 0) print l; print ""; done = 1 }
        { print }
        END { if (!done) { print ""; while ((getline l < f) > 0) print l } }' "$RESULTS" >"$RESULTS.tmp"
    fi
    mv "$RESULTS.tmp" "$RESULTS"
  done
  echo "bench: wrote $RESULTS" >&2
fi
exit $fail
