# shellcheck shell=bash
# workloads.sh - the benchmark workloads as `batchnn train` arguments, for the scripts that
# time whole training runs (compare.sh, report.sh). Source it; it defines no side effects.
# The workloads are defined once, in bench/workloads.h; these functions ask a batchnn binary
# for them (`batchnn bench --print-args ID`, `--list-workloads`): the binary in BNN_WL_BIN,
# set by the caller (default: build/src/batchnn of this tree). W1-W6 are full-batch epochs,
# M1-M3 mini-batch ones (plain SGD, batches in data order).
#
#   bnn_workload_args ID   prints the train arguments of workload ID (one line), or fails
#   bnn_workload_ids       the known IDs, comma-separated
#   bnn_epoch_ms BIN LOG EPOCHS ARGS...   runs BIN train ARGS for 1 + EPOCHS epochs, writing
#                          LOG, and prints the median of the timed epochs' seconds (the warm-up
#                          epoch excluded) in milliseconds

bnn_wl_bin() {
  local bin=${BNN_WL_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/src/batchnn}
  [ -x "$bin" ] || { echo "workloads.sh: no batchnn binary at '$bin' to read the workloads from (build it, or set BNN_WL_BIN)" >&2; return 2; }
  "$bin" bench --list-workloads >/dev/null 2>&1 ||
    { echo "workloads.sh: '$bin' predates 'batchnn bench --print-args' (build this tree)" >&2; return 2; }
  echo "$bin"
}

bnn_workload_ids() { local bin; bin=$(bnn_wl_bin) && "$bin" bench --list-workloads; }

bnn_workload_args() {
  local bin; bin=$(bnn_wl_bin) || return 1
  "$bin" bench --print-args "$1" 2>/dev/null
}

bnn_epoch_ms() {
  local bin=$1 log=$2 epochs=$3; shift 3
  "$bin" train "$@" --seed 1 --epochs $((epochs + 1)) --log "$log" --quiet || return 1
  awk -F, 'NR > 2 { print $3 }' "$log" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) exit 1
          m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.6f\n", 1e3 * m }'
}
