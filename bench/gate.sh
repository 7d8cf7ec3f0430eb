#!/usr/bin/env bash
# The performance regression gate: reruns a suite of workloads and compares it with a
# committed baseline (bench/baseline.json, written by 'batchnn bench --json'). It compares
# efficiency (floor / time) and the speedup over the reference engine, ratios measured in the
# same run, so they survive a noisy machine; a run that regresses is repeated once, and the
# gate fails only when both runs regress.
# usage: bench/gate.sh [batchnn] [tolerance, default 0.5] [workloads, default W1,W3,W4]
set -u
BNN=${1:-build/src/batchnn}
TOL=${2:-0.5}
WL=${3:-W1,W3,W4}
BASE=$(dirname "$0")/baseline.json
for attempt in 1 2; do
  if "$BNN" bench --workloads "$WL" --repeat 3 --baseline "$BASE" --tolerance "$TOL"; then
    exit 0
  fi
  [ "$attempt" = 1 ] && echo "gate: regression seen; measuring again to rule out noise"
done
exit 1
