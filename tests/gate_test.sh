#!/usr/bin/env bash
# Shows that the regression gate passes on this build and fails when the SIMD path is switched
# off (BATCHNN_ISA=scalar) or a slower code path is injected (BATCHNN_PATH=gemm sends the
# notes' thin nets through one sgemm call per layer instead of the fused narrow path).
# usage: tests/gate_test.sh path/to/batchnn [tolerance]
set -u
BNN=${1:?usage: gate_test.sh path/to/batchnn [tolerance]}
TOL=${2:-0.7}
GATE="$(dirname "$0")/../bench/gate.sh"
pass=0; fail=0
expect() { # expect STATUS NAME ENV...
  local want=$1 name=$2; shift 2
  env "$@" bash "$GATE" "$BNN" "$TOL" W3,W4 >/tmp/gate_test.$$ 2>&1; local got=$?
  if [ "$got" -eq "$want" ]; then pass=$((pass + 1)); echo "ok   $name (exit $got)"
  else fail=$((fail + 1)); echo "FAIL $name: exit $got, want $want"; sed 's/^/  | /' /tmp/gate_test.$$; fi
  grep '^gate' /tmp/gate_test.$$ | sed 's/^/     /'
  rm -f /tmp/gate_test.$$
}
expect 0 "gate passes on this build" BATCHNN_GATE_TEST=1
expect 1 "gate catches the scalar path" BATCHNN_ISA=scalar
expect 1 "gate catches an injected slowdown" BATCHNN_PATH=gemm
echo "gate: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
