#!/usr/bin/env bash
# streamed.sh - a synthetic set too large to keep, generated chunk by chunk every epoch,
# against the same set kept in memory: the streamed workloads S1 and S2, in one run.
#
# usage: bench/streamed.sh [--bin build/src/batchnn] [--rounds R] [--epochs E]
#                          [--threads T] [--limit KiB] [--shift S] [S1,S2]
#   S1  W1's net (1,1 identity, no bias) on 2^26 samples of synth:linear; target: the
#       streamed epoch at most 3x the in-memory one
#   S2  W4's net (2,16,16,1 sigmoid) on 2^25 samples of synth:uniform; target: at most 1.5x
#   --rounds  rounds (default 5); each round runs the streamed and the in-memory training
#             one after the other, so a spell of a busier machine weighs on both alike
#   --epochs  epochs per run (default 8; the first is a warm-up and is not counted)
#   --limit   ulimit -v of the streamed runs, KiB (default 1048576 = 1 GiB): batchnn keeps a
#             synthetic set in memory when it fits a quarter of what the process may use, so
#             the limit makes both sets stream; the in-memory runs have no limit
#   --shift   n / 2^S samples instead (quick checks of the script: sets that small are kept
#             in memory under any limit, so both runs then measure the same thing)
#
# Each run: batchnn train <net> --data synth:<set> --samples n --epochs E --log FILE; its
# figure is the median of the per-epoch seconds of the log (epochs 2..E). Printed per
# workload: the medians over the rounds of both figures, the median of the rounds' ratios,
# and the target met or MISSED. A benchmark, not a test: on a shared machine, rerun.
set -u
BIN=build/src/batchnn
ROUNDS=5
EPOCHS=8
THREADS=
LIMIT=1048576
LIST=S1,S2
SHIFT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=${2:?}; shift 2 ;;
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --epochs) EPOCHS=${2:?}; shift 2 ;;
    --threads) THREADS=${2:?}; shift 2 ;;
    --limit) LIMIT=${2:?}; shift 2 ;;
    --shift) SHIFT=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    S*) LIST=$1; shift ;;
    *) echo "streamed.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ ! -x "$BIN" ]; then echo "streamed.sh: $BIN: not an executable (build first)" >&2; exit 1; fi
if [ "$EPOCHS" -lt 2 ]; then echo "streamed.sh: --epochs must be at least 2" >&2; exit 2; fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=1 # OpenBLAS's own buffers under ulimit -v (tests/memory_test.sh)

# the training options of workload $1
args() {
  case "$1" in
    S1) echo "--arch 1,1 --act identity --no-bias --data synth:linear --samples $((67108864 >> SHIFT)) --lr 1e-3" ;;
    S2) echo "--arch 2,16,16,1 --data synth:uniform --samples $((33554432 >> SHIFT)) --lr 0.1" ;;
    *) return 1 ;;
  esac
}
target() { case "$1" in S1) echo 3 ;; S2) echo 1.5 ;; esac; }

# median of the numbers on stdin
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) exit 1;
  print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# run ID MODE (stream|memory): prints the median seconds of epochs 2.. of one training and,
# after a space, the peak RSS of its summary line (streamed: a few MiB whatever n)
run() {
  local a threads=()
  a=$(args "$1")
  [ -n "$THREADS" ] && threads=(--threads "$THREADS")
  rm -f "$T/log.csv"
  # shellcheck disable=SC2086 # $a: the options, split on purpose
  if ! ( if [ "$2" = stream ] && [ "$LIMIT" != 0 ]; then ulimit -v "$LIMIT" || exit 125; fi
         exec "$BIN" train $a --epochs "$EPOCHS" "${threads[@]}" --log "$T/log.csv" \
       ) >"$T/out" 2>"$T/err"; then
    echo "streamed.sh: $1 ($2) failed:" >&2; sed 's/^/  | /' "$T/err" | tail -5 >&2; return 1
  fi
  local sec rss
  sec=$(awk -F, 'NR > 2 {print $3}' "$T/log.csv" | median) || return 1
  rss=$(sed -n 's/.*peak RSS \([0-9.]*\) \([KMG]iB\).*/\1\2/p' "$T/out" | head -1)
  echo "$sec ${rss:-?}"
}

IFS=, read -r -a IDS <<<"$LIST"
for id in "${IDS[@]}"; do # every name checked before minutes of runs
  if ! args "$id" >/dev/null; then echo "streamed.sh: unknown workload $id (S1, S2)" >&2; exit 2; fi
done
printf '%-4s %-28s %10s %12s %12s %8s  %s\n' id net n "memory ms" "streamed ms" ratio target
for id in "${IDS[@]}"; do
  : >"$T/mem"; : >"$T/str"; : >"$T/ratio"
  for r in $(seq 1 "$ROUNDS"); do
    read -r s srss <<<"$(run "$id" stream)" && [ -n "${s:-}" ] || exit 1
    read -r m mrss <<<"$(run "$id" memory)" && [ -n "${m:-}" ] || exit 1
    echo "$s" >>"$T/str"; echo "$m" >>"$T/mem"
    awk -v s="$s" -v m="$m" 'BEGIN {print s / m}' >>"$T/ratio"
    echo "streamed.sh: $id round $r of $ROUNDS: streamed $s s (peak RSS $srss)," \
         "in memory $m s (peak RSS $mrss)" >&2
  done
  a=$(args "$id")
  net=$(echo "$a" | awk '{print $2}')
  n=${a#*--samples }
  n=${n%% *}
  ms=$(median <"$T/mem"); ss=$(median <"$T/str"); q=$(median <"$T/ratio")
  tg=$(target "$id")
  verdict=$(awk -v q="$q" -v t="$tg" 'BEGIN {print (q <= t) ? "met" : "MISSED"}')
  printf '%-4s %-28s %10s %12.2f %12.2f %7.2fx  streamed <= %sx in memory: %s\n' "$id" "$net" \
    "$n" "$(awk -v x="$ms" 'BEGIN {print 1e3 * x}')" "$(awk -v x="$ss" 'BEGIN {print 1e3 * x}')" \
    "$q" "$tg" "$verdict"
done
