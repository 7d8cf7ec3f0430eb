#!/usr/bin/env bash
# mpi.sh - scaling figures of `batchnn train` under mpirun on this machine, and the inputs of
# the scaling model (bench/mpi_model.py). Writes markdown.
#
# usage: bench/mpi.sh [--bin build/src/batchnn] [--pingpong build/bench/mpi_pingpong]
#                     [--runs R] [--epochs E] [--quick] [--out DIR]
#   --runs    runs of each configuration; the figure is the median (default 5; --quick: 1)
#   --epochs  timed epochs of each run, after one warm-up epoch (default 5; --quick: 2)
#   --quick   small n (W4 2^16, W5 4096, W6 1024 samples), one run, ping-pong to 2 MiB: a
#             smoke test of the whole pipeline (tests/mpi_bench_test.sh)
#   --out     write DIR/mpi.md (this table), DIR/mpi_model.md and DIR/mpi_model.svg (the model,
#             from the figures measured here); default: print mpi.md to stdout only
#   --baseline FILE.json  with --out, also DIR/mpi_model_baseline.md and .svg: the model with
#             the epoch times of `batchnn bench --json` FILE (e.g. bench/baselines/*.json,
#             recorded on a quiet machine) and the alpha, beta measured here
#
# For each workload W4, W5, W6 (bench/workloads.sh) and K ranks x T threads in 1x1, 1x2, 2x1:
#   BATCHNN_MPI_STATS=1 mpirun -np K batchnn train ARGS --threads T --epochs 1+E --log L
# the epoch time is the median of the timed epochs of L (seconds column), then the median over
# the runs; the reduction's time per step, messages and bytes per step and the parameter count
# come from rank 0's stats line on stderr:
#   mpi: ranks K threads T steps N reduce_s X per_step_us Y msgs_per_step M bytes_per_step B params P
# Then K = 4 (oversubscribed on 2 cores: correctness only, not timed): the saved model and the
# loss column of the log must be byte-identical to the 1x1 run's (cmp).
#
# Needs a batchnn built with MPI (`batchnn --version` says "mpi: built in") and mpirun;
# exits 1 with a message otherwise. As root, mpirun gets --allow-run-as-root. Every run uses
# --oversubscribe (2 ranks x 1 thread fit 2 cores; 4 ranks do not) and --bind-to none: by
# default Open MPI binds each rank to one core when it starts 2 ranks or fewer, which puts a
# rank's 2 threads on one core (1x2 then runs at 1x1's speed).
# Wall-clock figures on a shared machine are noisy: re-run when the machine is quiet.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=build/src/batchnn
PP=
RUNS=
EPOCHS=
QUICK=0
OUTDIR=
BASELINE=
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=${2:?}; shift 2 ;;
    --pingpong) PP=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --epochs) EPOCHS=${2:?}; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --out) OUTDIR=${2:?}; shift 2 ;;
    --baseline) BASELINE=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "mpi.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
die() { echo "mpi.sh: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "$BIN: not an executable (build first: ninja -C build)"
if ! "$BIN" --version 2>/dev/null | grep -q "mpi: built in"; then
  die "$BIN has no MPI built in (\`$BIN --version\` does not say \"mpi: built in\"): install libopenmpi-dev and openmpi-bin, then meson setup --wipe build -Dmpi=enabled"
fi
command -v mpirun >/dev/null 2>&1 || die "no mpirun on PATH (Debian: openmpi-bin)"
[ -z "$PP" ] && PP=$(dirname "$(dirname "$BIN")")/bench/mpi_pingpong
case "${RUNS:-x}" in x) RUNS=$([ $QUICK = 1 ] && echo 1 || echo 5) ;; esac
case "${EPOCHS:-x}" in x) EPOCHS=$([ $QUICK = 1 ] && echo 2 || echo 5) ;; esac
# shellcheck source=workloads.sh
. "$HERE/workloads.sh"
export BNN_WL_BIN=${BNN_WL_BIN:-$BIN} # the workloads' definitions: the binary measured
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
MPIRUN=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
export OPENBLAS_NUM_THREADS=1

args_of() { # the workload's train arguments, with a smaller n under --quick
  local a
  a=$(bnn_workload_args "$1") || die "unknown workload $1"
  if [ $QUICK = 1 ]; then
    case "$1" in
      W4) a=${a/--samples 1048576/--samples 65536} ;;
      W5) a=${a/--samples 60000/--samples 4096} ;;
      W6) a=${a/--samples 16384/--samples 1024} ;;
    esac
  fi
  echo "$a"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1
  printf "%.6f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
raw() { # raw NAME: the value after NAME in the stats line ($T/stats), whatever the run did
  awk -v k="$1" '{ for (i = 1; i < NF; i++) { v[$i] = $(i + 1) } } END { print v[k] }' "$T/stats"
}
field() { # field NAME: the value after NAME in the stats line ($T/stats); "n/a" when the
  # run made no cross-rank reduction step (steps 0 with more than one rank)
  awk -v k="$1" '{ for (i = 1; i < NF; i++) { v[$i] = $(i + 1) } }
    END { if (v["ranks"] > 1 && v["steps"] == 0) print "n/a"
          else if (v[k] ~ /^[0-9.]+e\+[0-9]+$/) printf "%.0f\n", v[k]; else print v[k] }' "$T/stats"
}

# one K T WID ARGS...: one run; leaves $T/log, $T/model, $T/stats; prints the median epoch ms
one() {
  local k=$1 t=$2 w=$3; shift 3
  rm -f "$T/log" "$T/model" "$T/stats"
  if ! BATCHNN_MPI_STATS=1 "${MPIRUN[@]}" -np "$k" "$BIN" train "$@" --threads "$t" --seed 1 \
      --epochs $((EPOCHS + 1)) --log "$T/log" --save "$T/model" --quiet >"$T/out" 2>"$T/err"; then
    echo "mpi.sh: $w with $k x $t failed:" >&2; sed 's/^/  | /' "$T/err" | tail -5 >&2; return 1
  fi
  grep '^mpi: ranks ' "$T/err" | tail -1 >"$T/stats"
  [ -s "$T/stats" ] || { echo "mpi.sh: $w $k x $t: no 'mpi: ranks ...' line on stderr (BATCHNN_MPI_STATS=1)" >&2; return 1; }
  awk -F, 'NR > 2 { print $3 }' "$T/log" | median | awk '{ printf "%.3f\n", 1e3 * $1 }'
}

PPLINE=
{
  echo "# MPI scaling on this machine"
  echo
  echo "$(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'), $(mpirun --version 2>/dev/null | head -1); $(date -u +%Y-%m-%d)."
  echo "Epoch: median of $EPOCHS timed epochs (after a warm-up epoch), median of $RUNS run(s)."
  echo "Reduction: rank 0's time in the cross-rank reduction per step (BATCHNN_MPI_STATS)."
  [ $QUICK = 1 ] && echo "**--quick: small n, one run: a smoke test, not figures.**"
  echo
  if [ -x "$PP" ]; then
    "${MPIRUN[@]}" -np 2 "$PP" $([ $QUICK = 1 ] && echo --quick) >"$T/pp" 2>"$T/pperr" ||
      die "$PP failed: $(tail -3 "$T/pperr")"
    PPLINE=$(grep '^fit: ' "$T/pp")
    sed '/^fit: /d' "$T/pp" | sed 's/^## /### /'
    echo
  else
    echo "(no $PP: alpha and beta not measured; build with MPI found)"
    echo
  fi
  echo "### Epoch time"
  echo
  echo "| workload | params | K x T | epoch ms | vs 1x1 | reduce us/step | msgs/step | bytes/step | model = 1x1 |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---|"
  for w in W4 W5 W6; do
    read -r -a A <<<"$(args_of $w)"
    n=$(printf '%s\n' "${A[@]}" | awk 'p { print; exit } $0 == "--samples" { p = 1 }')
    # parameters: weights and biases of every layer (the W workloads have biases)
    np=$(printf '%s\n' "${A[@]}" | awk 'p { m = split($0, w, ","); s = 0
      for (i = 1; i < m; i++) s += w[i] * w[i + 1] + w[i + 1]; print s; exit } $0 == "--arch" { p = 1 }')
    base=
    for kt in 1x1 1x2 2x1; do
      k=${kt%x*}; t=${kt#*x}
      ms=()
      for _ in $(seq "$RUNS"); do
        m=$(one "$k" "$t" "$w" "${A[@]}") || exit 1
        ms+=("$m")
      done
      med=$(printf '%s\n' "${ms[@]}" | median)
      same=ref
      if [ "$kt" = 1x1 ]; then
        base=$med
        cp "$T/model" "$T/ref-$w.model"
        cut -d, -f1,2 "$T/log" >"$T/ref-$w.loss"
      else
        same=yes
        cmp -s "$T/model" "$T/ref-$w.model" || same="**NO (model)**"
        cut -d, -f1,2 "$T/log" | cmp -s - "$T/ref-$w.loss" || same="**NO (loss log)**"
      fi
      ratio=$(awk -v b="$base" -v m="$med" 'BEGIN { printf "%.2f", (m > 0 ? b / m : 0) }')
      printf '| %s | %s | %s | %.3f | %sx | %s | %s | %s | %s |\n' "$w" "$np" "$kt" \
        "$med" "$ratio" "$(field per_step_us)" "$(field msgs_per_step)" \
        "$(field bytes_per_step)" "$same"
      echo "$w $n $np $kt $med" >>"$T/data"
    done
    # 4 ranks on 2 cores: correctness, not speed
    one 4 1 "$w" "${A[@]}" >/dev/null || exit 1
    same=yes
    cmp -s "$T/model" "$T/ref-$w.model" || same="**NO (model)**"
    cut -d, -f1,2 "$T/log" | cmp -s - "$T/ref-$w.loss" || same="**NO (loss log)**"
    printf '| %s | %s | 4x1 (oversubscribed) | not timed | | %s | %s | %s | %s |\n' "$w" \
      "$np" "$(field per_step_us)" "$(field msgs_per_step)" \
      "$(field bytes_per_step)" "$same"
  done
  echo
  echo "\"model = 1x1\": the saved model and the loss column of the log are byte-identical to"
  echo "the single-rank, single-thread run's (cmp)."
  echo
  # mini-batches: W5's net at a batch computed whole by every rank (256) and at one cut into
  # pieces the ranks share (1024: 4 pieces of 256)
  echo "### Mini-batches (W5's net)"
  echo
  echo "| batch | K x T | epoch ms | vs 1x1 | CPU s per rank (median, most) | CPU vs 1x1 | reduce us/step | model = 1x1 |"
  echo "|---:|---|---:|---:|---:|---:|---:|---|"
  read -r -a A <<<"$(args_of W5)"
  for b in 256 1024; do
    base= cbase=
    for kt in 1x1 1x2 2x1; do
      k=${kt%x*}; t=${kt#*x}
      ms=() cs=() cm=()
      for _ in $(seq "$RUNS"); do
        m=$(one "$k" "$t" "W5 --batch $b" "${A[@]}" --batch "$b") || exit 1
        ms+=("$m"); cs+=("$(raw cpu_s_max)"); cm+=("$(raw cpu_s_median)")
      done
      med=$(printf '%s\n' "${ms[@]}" | median)
      cmax=$(printf '%s\n' "${cs[@]}" | median | awk '{ printf "%.2f", $1 }')
      cmed=$(printf '%s\n' "${cm[@]}" | median | awk '{ printf "%.2f", $1 }')
      same=ref
      if [ "$kt" = 1x1 ]; then
        base=$med cbase=$cmax
        cp "$T/model" "$T/ref-b$b.model"
      else
        same=yes
        cmp -s "$T/model" "$T/ref-b$b.model" || same="**NO (model)**"
      fi
      printf '| %s | %s | %.3f | %sx | %s, %s | %s | %s | %s |\n' "$b" "$kt" "$med" \
        "$(awk -v b="$base" -v m="$med" 'BEGIN { printf "%.2f", (m > 0 ? b / m : 0) }')" \
        "$cmed" "$cmax" \
        "$(awk -v b="$cbase" -v m="$cmax" 'BEGIN { printf "%.2f", (b > 0 ? m / b : 0) }')" \
        "$(field per_step_us)" "$same"
    done
  done
  echo
  echo "CPU: each rank's user + system time, start to end, all its threads (the stats line's"
  echo "cpu_s_median and cpu_s_max over the ranks, each the median over runs); \"CPU vs 1x1\":"
  echo "the busiest rank's time against the one process's. A batch of 256 is computed whole by"
  echo "every rank (the command says so); one of 1024 is 4 pieces the ranks share."
} >"$T/mpi.md" || exit 1
cat "$T/mpi.md"
if grep -q '\*\*NO' "$T/mpi.md"; then echo "mpi.sh: a run differs from the 1x1 run" >&2; fi

# the model, from these figures
if [ -n "$OUTDIR" ]; then
  mkdir -p "$OUTDIR" || exit 1
  cp "$T/mpi.md" "$OUTDIR/mpi.md.tmp" && mv "$OUTDIR/mpi.md.tmp" "$OUTDIR/mpi.md"
  margs=()
  if [ -n "$PPLINE" ]; then
    a=$(awk '{ for (i = 1; i < NF; i++) if ($i == "alpha_us") print $(i + 1) }' <<<"$PPLINE")
    b=$(awk '{ for (i = 1; i < NF; i++) if ($i == "beta_ns_per_byte") print $(i + 1) }' <<<"$PPLINE")
    margs+=(--alpha-us "$a" --beta-ns "$b")
  fi
  # one node's epoch: this machine as one process, the faster of 1 and 2 threads (on a
  # loaded machine the second thread may not help)
  for w in W4 W5 W6; do
    spec=$(awk -v w="$w" '$1 == w && ($4 == "1x1" || $4 == "1x2") {
      if (best == "" || $5 < best) { best = $5; n = $2; p = $3 } }
      END { if (best != "") print w ":" n ":" p ":" best }' "$T/data")
    [ -n "$spec" ] && margs+=(--workload "$spec")
  done
  python3 "$HERE/mpi_model.py" "${margs[@]}" --md "$OUTDIR/mpi_model.md" \
    --svg "$OUTDIR/mpi_model.svg" || die "mpi_model.py failed"
  if [ -n "$BASELINE" ]; then
    ab=()
    [ -n "$PPLINE" ] && ab=(--alpha-us "$a" --beta-ns "$b")
    python3 "$HERE/mpi_model.py" "${ab[@]}" --baseline "$BASELINE" \
      --md "$OUTDIR/mpi_model_baseline.md" --svg "$OUTDIR/mpi_model_baseline.svg" ||
      die "mpi_model.py --baseline $BASELINE failed"
  fi
fi
grep -q '\*\*NO' "$T/mpi.md" && exit 1
exit 0
