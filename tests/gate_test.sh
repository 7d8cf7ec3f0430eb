#!/usr/bin/env bash
# Shows that the regression gate passes on this build and fails when the SIMD path is switched
# off (BATCHNN_ISA=scalar) or a slower code path is injected (BATCHNN_PATH=gemm sends the
# notes' thin nets through one sgemm call per layer instead of the fused narrow path), in
# both of its forms: against this CPU's baseline (bench/baselines/, when one matches) and A/B
# against the previous commit (when no baseline matches: BATCHNN_GATE_CPU names a CPU that
# has none). The A/B cases need the previous commit (git history); without it they are
# skipped with a note. The A/B form has a tolerance of its own (default 0.5: the gate fails
# when a workload is 2x slower at the 95% level): its interval already rules noise out, and
# on a loaded machine a neighbour's load, added to both sides, shrinks the ratios it sees.
# usage: tests/gate_test.sh path/to/batchnn [tolerance, default 0.7] [A/B tolerance, default 0.5]
set -u
BNN=${1:?usage: gate_test.sh path/to/batchnn [tolerance] [A/B tolerance]}
TOL=${2:-0.7}
TOL_AB=${3:-0.5}
GATE="$(dirname "$0")/../bench/gate.sh"
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
pass=0; fail=0
expect() { # expect STATUS NAME FORM ENV...: FORM is the line the gate must print (a regex)
  local want=$1 name=$2 form=$3; shift 3
  local tol=$TOL
  [ "$form" = "$FALLBACK" ] && tol=$TOL_AB
  env "$@" bash "$GATE" "$BNN" "$tol" W3,W4 >"$OUT" 2>&1; local got=$?
  if [ "$got" -eq "$want" ] && grep -qE "$form" "$OUT"; then pass=$((pass + 1)); echo "ok   $name (exit $got)"
  else fail=$((fail + 1)); echo "FAIL $name: exit $got, want $want, with a line /$form/"; sed 's/^/  | /' "$OUT"; fi
  grep -E '^(gate|compare)|REGRESSION' "$OUT" | sed 's/^/     /'
}
BASELINE='^gate: CPU .*: baseline bench/baselines/'
FALLBACK='^gate: no baseline for CPU .*falling back to an A/B run against the previous commit'
HAVE_BASE=0
bash "$GATE" --which "$BNN" >/dev/null 2>&1 && HAVE_BASE=1
HAVE_PREV=0
git -C "$(dirname "$0")/.." rev-parse --verify --quiet 'HEAD~1^{commit}' >/dev/null && HAVE_PREV=1

if [ $HAVE_BASE = 1 ]; then
  expect 0 "gate passes on this build (this CPU's baseline)" "$BASELINE" BATCHNN_GATE_TEST=1
  expect 1 "gate catches an injected slowdown (baseline)" "$BASELINE" BATCHNN_PATH=gemm
else
  echo "note: no baseline in bench/baselines/ for this CPU and path: baseline cases skipped"
fi
if [ $HAVE_PREV = 1 ]; then
  # no baseline exists for the scalar path: the gate falls back to A/B by itself
  expect 1 "gate catches the scalar path (A/B fallback)" "$FALLBACK" BATCHNN_ISA=scalar
  expect 0 "gate passes on this build (A/B fallback)" "$FALLBACK" BATCHNN_GATE_CPU="No Such CPU 9000"
  expect 1 "gate catches an injected slowdown (A/B fallback)" "$FALLBACK" \
    BATCHNN_GATE_CPU="No Such CPU 9000" BATCHNN_PATH=gemm
else
  echo "note: no previous commit (git history) to build: A/B cases skipped"
fi
echo "gate: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
