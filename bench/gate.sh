#!/usr/bin/env bash
# The performance regression gate. A baseline is a property of a CPU and a CPU path, so the
# gate picks bench/baselines/<cpu>-<isa>.json, where <cpu> is the CPU's model name (the
# first "model name" of /proc/cpuinfo) in lower case without "(r)" and "(tm)", every run of
# other characters than a-z and 0-9 turned into one '-' ("AMD EPYC" -> amd-epyc), then
# -f<family>m<model> from the first "cpu family" and "model" lines (virtual machines name Zen 3
# and Zen 4 alike "AMD EPYC": amd-epyc-f25m1, amd-epyc-f25m17), and <isa> the path batchnn
# uses (`batchnn --version`: avx512, avx2, scalar; BATCHNN_ISA changes it).
# A batchnn whose bench has --baseline-id names the file itself (the same rule).
#
#  - Baseline form, when that file exists: reruns the workloads with `batchnn bench
#    --baseline FILE` and compares efficiency (floor / time) and the speedup over the
#    reference engine, ratios measured within one run, so they survive a noisy machine; it
#    fails when one fell below (1 - tolerance) x its baseline. A run that regresses is
#    repeated once, and the gate fails only when both runs regress.
#  - A/B form, when no baseline matches (it says so) or with --ab: bench/compare.sh runs the
#    previous commit (HEAD~1, built in build-compare/) and this batchnn interleaved, and the
#    gate fails when a workload's speed fell below (1 - tolerance) x the previous commit's at
#    the 95% level (B/A time ratio with its bootstrap interval above 1 / (1 - tolerance));
#    the interval already rules noise out, so one measurement decides. The BATCHNN_* variables of the environment (e.g.
#    BATCHNN_ISA, BATCHNN_PATH) describe the build under test: they apply to it only, the
#    previous commit runs without them.
#
# usage: bench/gate.sh [--ab] [--rounds R] [batchnn] [tolerance, default 0.5] [workloads, default W1,W3,W4]
#        bench/gate.sh --which [batchnn]   prints the baseline the gate would use (exit 1: none)
#        bench/gate.sh --record [batchnn]  records it: `batchnn bench --json` of all workloads
#                                          into that file (run it on a quiet machine, commit it)
# --rounds: the A/B form's rounds (default 5).
# Exit status: 0 passed, 1 regression, 2 bad command line, 3 no reference to compare with
# (no baseline for this CPU and path, and no previous commit that builds).
# BATCHNN_GATE_CPU replaces the model name (to try the choice, or the A/B fallback).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
AB=0 WHICH=0 RECORD=0 ROUNDS=5 POS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ab) AB=1; shift ;;
    --which) WHICH=1; shift ;;
    --record) RECORD=1; shift ;;
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) echo "gate.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) POS+=("$1"); shift ;;
  esac
done
BNN=${POS[0]:-build/src/batchnn}
TOL=${POS[1]:-0.5}
WL=${POS[2]:-W1,W3,W4}
[ -x "$BNN" ] || { echo "gate.sh: no batchnn binary at '$BNN'" >&2; exit 2; }
awk -v t="$TOL" 'BEGIN { exit !(t + 0 > 0 && t + 0 < 1) }' ||
  { echo "gate.sh: tolerance '$TOL' is not a fraction between 0 and 1" >&2; exit 2; }

cpu_model() { # the CPU's model name: batchnn's own report when it gives one, else /proc/cpuinfo
  local m
  m=$("$BNN" --version 2>/dev/null | sed -n 's/^cpu: *//p' | head -1)
  [ -n "$m" ] || m=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -1)
  echo "${m:-unknown}"
}
MODEL=${BATCHNN_GATE_CPU:-$(cpu_model)}
ISA=$("$BNN" --version 2>/dev/null | awk '/^isa:/ { print $2; exit }')
ID=
[ -n "${BATCHNN_GATE_CPU:-}" ] || ID=$("$BNN" bench --baseline-id 2>/dev/null)
if [ -z "$ID" ]; then
  FM=
  if [ -z "${BATCHNN_GATE_CPU:-}" ]; then
    FM=$(awk -F: '/^cpu family/ && f == "" { f = $2 + 0 } /^model[[:space:]]*:/ && m == "" { m = $2 + 0 }
                  END { if (f != "" && m != "") printf "-f%dm%d", f, m }' /proc/cpuinfo 2>/dev/null)
  fi
  ID=$(printf '%s' "$MODEL" | tr 'A-Z' 'a-z' |
       sed -E 's/\((r|tm)\)//g; s/[^a-z0-9]+/-/g; s/^-+//; s/-+$//')$FM-${ISA:-unknown}
fi
BASE=$HERE/baselines/$ID.json

if [ $WHICH = 1 ]; then
  [ -f "$BASE" ] && { echo "$BASE"; exit 0; }
  echo "gate: no baseline for CPU '$MODEL' on path $ISA (bench/baselines/${BASE##*/})" >&2; exit 1
fi
if [ $RECORD = 1 ]; then
  mkdir -p "$HERE/baselines" || exit 1
  echo "gate: recording the baseline of CPU '$MODEL', path $ISA: bench/baselines/${BASE##*/}"
  exec "$BNN" bench --json "$BASE"
fi
gate_baseline() {
  "$BNN" bench --workloads "$WL" --repeat 3 --baseline "$BASE" --tolerance "$TOL"
}
gate_ab() {
  # the environment's BATCHNN_* settings go to B (the build under test) only
  local unset=() envb=() v
  for v in $(compgen -e | grep '^BATCHNN_' | grep -v '^BATCHNN_GATE_'); do
    unset+=(-u "$v"); envb+=(--env-b "$v=${!v}")
  done
  local slow
  slow=$(awk -v t="$TOL" 'BEGIN { printf "%.4g", 1 / (1 - t) - 1 }')
  env ${unset[@]+"${unset[@]}"} bash "$HERE/compare.sh" --bnn "$BNN" ${envb[@]+"${envb[@]}"} \
    --max-slowdown "$slow" HEAD~1 "$WL" "$ROUNDS"
}

if [ $AB = 0 ] && [ -f "$BASE" ]; then
  echo "gate: CPU '$MODEL', path $ISA: baseline bench/baselines/${BASE##*/}"
  run=gate_baseline
else
  if [ $AB = 1 ]; then
    echo "gate: A/B form (--ab): this batchnn against the previous commit (HEAD~1)"
  else
    echo "gate: no baseline for CPU '$MODEL' on path $ISA (bench/baselines/${BASE##*/});" \
         "falling back to an A/B run against the previous commit (HEAD~1)"
  fi
  run=gate_ab
fi
for attempt in 1 2; do
  $run; rc=$?
  case $rc in
    0) exit 0 ;;
    1) [ $run = gate_ab ] && break
       [ "$attempt" = 1 ] && echo "gate: regression seen; measuring again to rule out noise" ;;
    *) [ $run = gate_ab ] && { echo "gate: no reference to compare with: no baseline for this CPU and path, and the previous commit could not be run (exit $rc)"; exit 3; }
       exit "$rc" ;;
  esac
done
[ $run = gate_ab ] && echo "gate: failed: slower than the previous commit" ||
  echo "gate: failed: a regression in both measurements"
exit 1
